package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/fault"
)

// TestCircleLostRespDelegateAdd is the lost RespDelegateAdd of
// docs/FLOWS.md, "Link, full delegation": carol@beta accepts alice's full
// link, so PSP(S) keeps the linkage and answers SUCCESS, but the answer
// does not reach the switch in time (a network-file rule at betapsp drops
// it, or delays it past the switch's wait). The switch decides U69 after
// circle.invite_expiry + timeouts.auth_details, tells PSP(P) (which
// revokes the mandate) and PSP(S) (which drops its linkage); a late answer
// is noted U70 and changes nothing. Every node ends with the link EXPIRED
// and the audit is clean. Six real processes.
func TestCircleLostRespDelegateAdd(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and starts processes")
	}
	const inviteExpiry, grace = 3 * time.Second, time.Second
	bin := buildBinary(t)
	for _, tc := range []struct {
		name  string
		fault fault.Fault
		trace string // what `upisim trace` says of PSP(S)'s RespDelegateAdd
	}{
		{"dropped", fault.Fault{Drop: true}, "dropped: never sent (rule lostanswer)"},
		// Delivered once the switch has decided: noted late, U70.
		{"late", fault.Fault{Delay: inviteExpiry + grace + 2*time.Second}, "late (U70)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			netw := config.Default()
			netw.Heartbeat = 0
			netw.Circle.InviteExpiry = inviteExpiry
			netw.Timeouts.AuthDetails = grace
			netw.Rules = append(netw.Rules, fault.Rule{
				Name: "lostanswer", Node: "betapsp", On: fault.OnSend,
				Match: fault.Match{API: "RespDelegateAdd"}, Fault: tc.fault,
			})
			n := startNodes(t, bin, netw)
			tp := app(t, n.nw)
			sw, bank := admin(t, n.nw.dataDir, n.nw.npci), admin(t, n.nw.dataDir, n.nw.abank)

			id := askLink(t, tp, "alice@alpha", "carol@beta", upiv1.Delegate_FULL, 100000, "1234")
			acceptInvite(t, tp, "carol@beta", id)
			// PSP(S) took the answer: the secondary's app sees LINKED while
			// the switch waits.
			s := secondaryLink(t, tp, "carol@beta", id)
			require.NotNil(t, s, "PSP(S) keeps the accepted link")
			assert.Contains(t, []upiv1.CircleLink_Status{upiv1.CircleLink_LINKED, upiv1.CircleLink_EXPIRED}, s.GetStatus())

			p := waitLink(t, tp, id, upiv1.CircleLink_EXPIRED)
			assert.Equal(t, "U69", p.GetErrCode(), "PSP(P): the switch decided U69")
			require.NotEmpty(t, p.GetUmn())
			require.Eventually(t, func() bool {
				s = secondaryLink(t, tp, "carol@beta", id)
				return s != nil && s.GetStatus() == upiv1.CircleLink_EXPIRED
			}, time.Minute, 20*time.Millisecond, "PSP(S) drops its linkage on the switch's ReqTxnConfirmation")
			assert.Equal(t, "U69", s.GetErrCode())
			inv, err := tp.ListCircleInvites(context.Background(), &upiv1.ListCircleInvitesRequest{Vpa: "carol@beta"})
			require.NoError(t, err)
			assert.Empty(t, inv.GetLinks(), "no invite left for carol")

			reg := circleRecord(t, sw, "LINK", "SWITCH", id)
			require.NotNil(t, reg, "the switch's registry has the link")
			assert.Equal(t, "EXPIRED", reg.GetStatus())
			assert.Equal(t, "U69", reg.GetErrCode())
			require.Eventually(t, func() bool {
				m := circleRecord(t, bank, "MANDATE", "remitter", id)
				return m != nil && m.GetStatus() == "REVOKED"
			}, time.Minute, 20*time.Millisecond, "PSP(P) revokes the mandate at the remitter")

			if tc.fault.Delay > 0 {
				// The late answer arrives after the decision; wait for it
				// before the checks that say it changed nothing.
				require.Eventually(t, func() bool {
					return strings.Contains(traceOf(n.nw, id), tc.trace)
				}, time.Minute, 100*time.Millisecond, "the switch notes the late RespDelegateAdd")
			}
			rep := waitQuietAudit(t, n.nw)
			assert.Empty(t, rep.Violations)

			tr := traceOf(n.nw, id)
			var answer string
			for _, line := range strings.Split(tr, "\n") {
				if strings.Contains(line, "RespDelegateAdd") && strings.Contains(line, "SUCCESS") {
					answer += line + "\n"
				}
			}
			assert.Contains(t, answer, tc.trace, "PSP(S)'s answer in the trace:\n%s", tr)
			// Nothing changed by the late answer: every view still EXPIRED.
			assert.Equal(t, upiv1.CircleLink_EXPIRED, waitLink(t, tp, id, upiv1.CircleLink_EXPIRED).GetStatus())
			assert.Equal(t, upiv1.CircleLink_EXPIRED, secondaryLink(t, tp, "carol@beta", id).GetStatus())
			assert.Equal(t, "EXPIRED", circleRecord(t, sw, "LINK", "SWITCH", id).GetStatus())
			assert.Equal(t, "REVOKED", circleRecord(t, bank, "MANDATE", "remitter", id).GetStatus())
			n.stop()
		})
	}
}

// TestCircleOnePSPBothSides: the primary and the secondaries are users of
// the same PSP (alphapsp is PSP(P) and PSP(S)), as docs/FLOWS.md allows
// ("each side keeps its own record"). A full link (dave@alpha) and a
// partial one (erin@alpha) of alice@alpha link, and a payment under each
// ends SUCCESS: alice's account pays both, the secondaries' are unchanged,
// each link's use is its payment at both sides, each side's records
// (link P/ and S/, the payment's) are there, and the audit is clean. The
// payment is one record at alphapsp holding both sides' fields.
func TestCircleOnePSPBothSides(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and starts processes")
	}
	bin := buildBinary(t)
	netw := config.Default()
	netw.Heartbeat = 0
	netw.Timeouts.AuthDetails = 2 * time.Second // a lost step shows soon
	netw.Users = append(netw.Users,
		config.User{VPA: "dave@alpha", Name: "Dave", Bank: "abank", Account: "1000000101", Balance: 50000, PIN: "1234"},
		config.User{VPA: "erin@alpha", Name: "Erin", Bank: "abank", Account: "1000000102", Balance: 70000, PIN: "1234"})
	n := startNodes(t, bin, netw)
	nw, tp := n.nw, app(t, n.nw)
	psp, sw := admin(t, nw.dataDir, nw.alphapsp), admin(t, nw.dataDir, nw.npci)
	opening := map[string]int64{}
	for _, u := range []struct{ vpa, bank string }{{"alice@alpha", nw.abank}, {"dave@alpha", nw.abank}, {"erin@alpha", nw.abank}, {"chai@beta", nw.bbank}, {"bob@beta", nw.bbank}} {
		opening[u.vpa] = balance(t, nw.dataDir, u.bank, u.vpa)
	}

	full := linkUp(t, tp, "alice@alpha", "dave@alpha", upiv1.Delegate_FULL, 200000, "1234")
	partial := linkUp(t, tp, "alice@alpha", "erin@alpha", upiv1.Delegate_PARTIAL, 0, "1234")
	for _, l := range []*upiv1.CircleLink{full, partial} {
		for _, side := range []string{"P", "S"} {
			r := circleRecord(t, psp, "LINK", side, l.GetLinkId())
			if assert.NotNil(t, r, "alphapsp keeps side %s of link %s", side, l.GetLinkId()) {
				assert.Equal(t, "LINKED", r.GetStatus(), "side %s of %s", side, l.GetMode())
			}
		}
	}

	const fullPaise, partialPaise = 20000, 30000
	paid := func(id string) {
		t.Helper()
		r := finalPayment(t, tp, id)
		assert.Equal(t, upiv1.Resp_SUCCESS, r.GetStatus(), "payment %s: %s\n%s", id, r.GetErrCode(), traceOf(nw, id))
		assert.Len(t, r.GetRrn(), 12)
	}
	fullID := circlePay(t, tp, "dave@alpha", "chai@beta", fullPaise)
	paid(fullID)
	partialID := circlePay(t, tp, "erin@alpha", "bob@beta", partialPaise)
	approveWhenAsked(t, tp, "alice@alpha", partialID, "1234")
	paid(partialID)
	waitQuietAudit(t, nw)

	for _, p := range []struct {
		id, secondary string
		paise         int64
	}{{fullID, "dave@alpha", fullPaise}, {partialID, "erin@alpha", partialPaise}} {
		x := txnAt(t, sw, p.id)
		if assert.NotNil(t, x, "the switch has %s", p.id) {
			assert.Equal(t, upiv1.Resp_SUCCESS, x.GetStatus())
			assert.Equal(t, "alice@alpha", x.GetPayerVpa())
			assert.Equal(t, p.paise, x.GetAmountPaise())
		}
		x = txnAt(t, psp, p.id)
		if assert.NotNil(t, x, "alphapsp has %s", p.id) {
			assert.Equal(t, upiv1.Resp_SUCCESS, x.GetStatus())
		}
	}
	for vpa, want := range map[string]int64{
		"alice@alpha": opening["alice@alpha"] - fullPaise - partialPaise,
		"dave@alpha":  opening["dave@alpha"],
		"erin@alpha":  opening["erin@alpha"],
		"chai@beta":   opening["chai@beta"] + fullPaise,
		"bob@beta":    opening["bob@beta"] + partialPaise,
	} {
		bank := nw.abank
		if strings.HasSuffix(vpa, "@beta") {
			bank = nw.bbank
		}
		assert.Equal(t, want, balance(t, nw.dataDir, bank, vpa), vpa)
	}
	// Each side counts the link's use.
	for _, l := range []struct {
		link      *upiv1.CircleLink
		secondary string
		paise     int64
	}{{full, "dave@alpha", fullPaise}, {partial, "erin@alpha", partialPaise}} {
		p := waitLink(t, tp, l.link.GetLinkId(), upiv1.CircleLink_LINKED)
		assert.Equal(t, l.paise, p.GetUsedPaise(), "PSP(P)'s use of the %s link", p.GetMode())
		s := secondaryLink(t, tp, l.secondary, l.link.GetLinkId())
		if assert.NotNil(t, s) {
			assert.Equal(t, l.paise, s.GetUsedPaise(), "PSP(S)'s use of the %s link", p.GetMode())
		}
	}
	n.stop()
}
