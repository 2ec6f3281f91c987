package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/fault"
)

// linkedFull links alice@alpha → carol@beta fully for limit and waits
// until both PSPs have it LINKED.
func (n *net) linkedFull(alice, carol, limit string) cli.LinkResult {
	n.t.Helper()
	l := n.circleLinkFull(alice, carol, limit, "1234")
	eventually(n.t, func() bool { return findLink(n.circleList(carol, true), l.LinkID) != nil }, "carol's invite")
	_, err := cli.CircleAccept(context.Background(), &bytes.Buffer{}, cli.CircleRefOptions{DataDir: n.dir, LinkID: l.LinkID, Output: cli.JSON})
	require.NoError(n.t, err)
	n.linkStatus(l.LinkID, "LINKED")
	eventually(n.t, func() bool {
		s := findLink(n.circleList(carol, false), l.LinkID)
		return s != nil && s.Status == "LINKED"
	}, "LINKED at PSP(S)")
	return n.circleShow(l.LinkID)
}

// mandateCmd is `upisim mandate show|revoke UMN -o json`, decoded.
func (n *net) mandateCmd(revoke bool, umn string) (cli.MandateResult, error) {
	n.t.Helper()
	f := cli.MandateShow
	if revoke {
		f = cli.MandateRevoke
	}
	var out bytes.Buffer
	r, err := f(context.Background(), &out, cli.MandateOptions{DataDir: n.dir, UMN: umn, Output: cli.JSON})
	if err != nil {
		return r, err
	}
	var printed cli.MandateResult
	require.NoError(n.t, json.Unmarshal(out.Bytes(), &printed), out.String())
	assert.Equal(n.t, r, printed, "-o json prints the mandate")
	return r, nil
}

// revoked revokes umn on its own and waits until PSP(P) and the remitter
// have it REVOKED.
func (n *net) revoked(umn string) {
	n.t.Helper()
	r, err := n.mandateCmd(true, umn)
	require.NoError(n.t, err)
	assert.Equal(n.t, "REVOKE", r.PendingType)
	eventually(n.t, func() bool {
		r, err := n.mandateCmd(false, umn)
		return err == nil && r.Status == "REVOKED" && r.PendingType == ""
	}, "the mandate REVOKED at PSP(P)")
	assert.Equal(n.t, "REVOKED", n.bankMandate(umn).GetStatus(), "and at the remitter")
}

// A full link whose mandate is revoked on its own stays LINKED, and its
// payments fall back to the primary's approval (the seed's "inactive
// mandate → notify primary"): `circle pay` answers PENDING at once, alice
// approves with her PIN and the payment ends SUCCESS from her account,
// carried by her PIN block, not the mandate (the remitter counts nothing
// against it); a declined one ends ZA. `mandate revoke` of a mandate not
// ACTIVE is FailedPrecondition. The audit agrees.
func TestCircleFullLinkMandateRevoked(t *testing.T) {
	n := up(t, nil)
	const alice, carol, chai = "alice@alpha", "carol@beta", "chai@beta"
	l := n.linkedFull(alice, carol, "15000.00")

	md, err := n.mandateCmd(false, l.UMN)
	require.NoError(t, err)
	assert.Equal(t, "ACTIVE", md.Status)
	assert.Equal(t, l.LinkID, md.TxnID)
	assert.True(t, md.Signed)
	n.revoked(l.UMN)
	assert.Equal(t, "LINKED", n.circleShow(l.LinkID).Status, "the link stays")
	_, err = n.mandateCmd(true, l.UMN)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not ACTIVE")

	// The same over REST.
	tp, _ := n.c.Dir.Node("tpap")
	base := "http://" + tp.HTTPAddr
	code, _, body := rest(t, "GET", base+"/v1/mandates/"+l.UMN, "", nil)
	require.Equal(t, 200, code, body)
	assert.Equal(t, "REVOKED", body["mandate"].(map[string]any)["status"])
	code, _, body = rest(t, "POST", base+"/v1/mandates/"+l.UMN+"/revoke", "{}", jsonType)
	assert.Equal(t, 409, code, body)
	code, _, _ = rest(t, "GET", base+"/v1/mandates/ZZZ0123@alpha", "", nil)
	assert.Equal(t, 404, code)

	aliceBefore, carolBefore := n.balance(alice), n.balance(carol)
	r := n.circlePayPartial(carol, chai, "200.00")
	require.Equal(t, "PENDING", r.Status, "waits for alice: %s", r.ErrCode)
	eventually(t, func() bool { return slices.Contains(n.circleApprovals(alice), r.TxnID) }, "alice's approval")
	done := n.circleApprove(r.TxnID, "1234", false)
	require.Equal(t, "SUCCESS", done.Status, "err_code %s", done.ErrCode)
	assert.Equal(t, aliceBefore-200_00, n.balance(alice))
	assert.Equal(t, carolBefore, n.balance(carol))
	assert.Empty(t, n.bankMandate(l.UMN).GetDebits(), "no debit under the revoked mandate")
	assert.Equal(t, int64(200_00), n.circleShow(l.LinkID).UsedPaise, "it counts on the link")
	msgs := received(n.trace(r.TxnID))
	for _, want := range []string{"npci→alphapsp ReqDelegateAuth", "alphapsp→npci ReqPay", "npci→abank ReqPay"} {
		assert.Contains(t, msgs, want)
	}

	r = n.circlePayPartial(carol, chai, "20.00")
	eventually(t, func() bool { return slices.Contains(n.circleApprovals(alice), r.TxnID) }, "the second approval")
	done = n.circleApprove(r.TxnID, "", true)
	assert.Equal(t, "FAILURE", done.Status)
	assert.Equal(t, "ZA", done.ErrCode)

	waitQuiet(t, n)
	res, out := n.auditSettled()
	assert.True(t, res.OK, out)

	// Removed later: the link ends DELINKED though its mandate was revoked
	// already.
	_, err = cli.CircleRemove(context.Background(), &bytes.Buffer{}, cli.CircleRemoveOptions{DataDir: n.dir, LinkID: l.LinkID, PIN: "1234", Output: cli.JSON})
	require.NoError(t, err)
	n.linkStatus(l.LinkID, "DELINKED")
	eventually(t, func() bool {
		s := findLink(n.circleList(carol, false), l.LinkID)
		return s != nil && s.Status == "DELINKED"
	}, "DELINKED at PSP(S)")
	waitQuiet(t, n)
	res, out = n.auditSettled()
	assert.True(t, res.OK, out)
	assert.Equal(t, "REVOKED", n.bankMandate(l.UMN).GetStatus())
}

// A mandate revoked between ReqDelegateAuth and the debit: PSP(P) sent the
// ReqPay under the mandate, the switch's DEBIT to abank is held by a rule
// (delay), and meanwhile alice revokes the mandate; the DEBIT then finds it
// REVOKED and abank declines it QC. No money moves, the link counts
// nothing, and the audit agrees.
func TestCircleMandateRevokedBeforeDebit(t *testing.T) {
	const hold = 5 * time.Second
	n := up(t, func(c *config.Network) {
		c.Rules = []fault.Rule{{Name: "slow-delegated-debit", Node: "npci", On: fault.OnSend,
			Match: fault.Match{API: "ReqPay", Type: "DEBIT", MinAmount: 123_45, MaxAmount: 123_45},
			Fault: fault.Fault{Delay: hold}}}
	})
	const alice, carol, chai = "alice@alpha", "carol@beta", "chai@beta"
	l := n.linkedFull(alice, carol, "15000.00")
	aliceBefore := n.balance(alice)

	var out bytes.Buffer
	r, err := cli.CirclePay(context.Background(), &out, cli.CirclePayOptions{
		DataDir: n.dir, From: carol, To: chai, Amount: "123.45", NoWait: true, Output: cli.JSON})
	require.NoError(t, err)
	start := time.Now()
	eventually(t, func() bool {
		return slices.ContainsFunc(n.trace(r.TxnID), func(m cli.TraceMessage) bool {
			return m.Direction == "OUT" && m.Node == "npci" && m.Peer == "abank" && m.API == "ReqPay"
		})
	}, "the DEBIT held at the switch")
	n.revoked(l.UMN)
	require.Less(t, time.Since(start), hold, "the revoke must beat the held DEBIT; the machine was too slow for this test's hold")

	done := n.final(r.TxnID)
	assert.Equal(t, "FAILURE", done.Status)
	assert.Equal(t, "QC", done.ErrCode, "the remitter: the mandate has been revoked")
	assert.Equal(t, aliceBefore, n.balance(alice))
	assert.Zero(t, n.circleShow(l.LinkID).UsedPaise)
	waitQuiet(t, n)
	res, audited := n.auditSettled()
	assert.True(t, res.OK, audited)
}
