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
