package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/cli"
)

// circlePay is `upisim circle pay --from SECONDARY --to PAYEE --amount A -o
// json`, decoded.
func (n *net) circlePay(from, to, amount string) (cli.TxnResult, error) {
	n.t.Helper()
	var out bytes.Buffer
	r, err := cli.CirclePay(context.Background(), &out, cli.CirclePayOptions{
		DataDir: n.dir, From: from, To: to, Amount: amount, Timeout: 20 * time.Second, Output: cli.JSON})
	if err != nil {
		return r, err
	}
	var printed cli.TxnResult
	require.NoError(n.t, json.Unmarshal(out.Bytes(), &printed), out.String())
	assert.Equal(n.t, r, printed, "-o json prints the payment")
	return r, nil
}

// A payment under full delegation: alice@alpha links carol@beta for
// ₹15,000; carol pays chai@beta ₹200 from alice's account without a PIN
// (SUCCESS with an RRN; alice ₹200 lower, carol unchanged; used 20000 at
// PSP(P)); ₹6,000 is over the per-txn limit (Z8); with the limit updated
// to ₹300 a run of payments ends QH; after the link is removed the app
// API refuses the payment.
func TestCirclePayFull(t *testing.T) {
	n := up(t, nil)
	ctx := context.Background()
	const alice, carol, chai = "alice@alpha", "carol@beta", "chai@beta"

	l := n.circleLinkFull(alice, carol, "15000.00", "1234")
	eventually(t, func() bool { return findLink(n.circleList(carol, true), l.LinkID) != nil }, "carol's invite")
	_, err := cli.CircleAccept(ctx, &bytes.Buffer{}, cli.CircleRefOptions{DataDir: n.dir, LinkID: l.LinkID, Output: cli.JSON})
	require.NoError(t, err)
	n.linkStatus(l.LinkID, "LINKED")
	eventually(t, func() bool {
		s := findLink(n.circleList(carol, false), l.LinkID)
		return s != nil && s.Status == "LINKED"
	}, "LINKED at PSP(S)")

	aliceBefore, carolBefore, chaiBefore := n.balance(alice), n.balance(carol), n.balance(chai)
	r, err := n.circlePay(carol, chai, "200.00")
	require.NoError(t, err)
	require.Equal(t, "SUCCESS", r.Status, "err_code %s", r.ErrCode)
	assert.Len(t, r.RRN, 12)
	assert.Empty(t, r.ErrCode)
	assert.Equal(t, "BET", r.TxnID[:3], "the txn id has PSP(S)'s prefix")
	msgs := received(n.trace(r.TxnID))
	lookedUpFirst(t, msgs)
	for _, want := range []string{"betapsp→npci ReqDelegateAuth", "npci→alphapsp ReqDelegateAuth", "alphapsp→npci ReqPay",
		"alphapsp→npci RespDelegateAuth", "npci→betapsp RespDelegateAuth", "npci→abank ReqPay", "npci→alphapsp RespPay"} {
		assert.Contains(t, msgs, want)
	}
	confirms := 0
	for _, m := range msgs {
		if m == "npci→betapsp ReqTxnConfirmation" {
			confirms++
		}
	}
	assert.Equal(t, 1, confirms, "betapsp is PSP(S) and chai's PSP: one confirmation")
	assert.Equal(t, aliceBefore-200_00, n.balance(alice), "from the primary's account")
	assert.Equal(t, carolBefore, n.balance(carol), "the secondary's account is untouched")
	assert.Equal(t, chaiBefore+200_00, n.balance(chai))
	got := n.circleShow(l.LinkID)
	assert.Equal(t, int64(200_00), got.UsedPaise)
	assert.Equal(t, int64(14_800_00), got.RemainingPaise)
	eventually(t, func() bool {
		s := findLink(n.circleList(carol, false), l.LinkID)
		return s != nil && s.UsedPaise == 200_00
	}, "PSP(S) counted it too")
	bm := n.bankMandate(got.UMN)
	require.Len(t, bm.GetDebits(), 1, "the remitter counted it")
	assert.Equal(t, int64(200_00), bm.GetDebits()[0].GetAmountPaise())

	r, err = n.circlePay(carol, chai, "6000.00")
	require.NoError(t, err)
	assert.Equal(t, "FAILURE", r.Status)
	assert.Equal(t, "Z8", r.ErrCode, "over circle.full.per_txn_limit")

	// A small limit: ₹300 in all this month.
	_, err = cli.CircleUpdate(ctx, &bytes.Buffer{}, cli.CircleUpdateOptions{DataDir: n.dir, LinkID: l.LinkID, Limit: "300.00", PIN: "1234", Output: cli.JSON})
	require.NoError(t, err)
	n.circleUpdated(l.LinkID)
	eventually(t, func() bool {
		s := findLink(n.circleList(carol, false), l.LinkID)
		return s != nil && s.LimitPaise == 300_00
	}, "the new limit at PSP(S)")
	r, err = n.circlePay(carol, chai, "60.00")
	require.NoError(t, err)
	require.Equal(t, "SUCCESS", r.Status, r.ErrCode)
	r, err = n.circlePay(carol, chai, "40.00")
	require.NoError(t, err)
	require.Equal(t, "SUCCESS", r.Status, r.ErrCode)
	r, err = n.circlePay(carol, chai, "0.01")
	require.NoError(t, err)
	assert.Equal(t, "FAILURE", r.Status)
	assert.Equal(t, "QH", r.ErrCode, "the month's use is the limit")
	got = n.circleShow(l.LinkID)
	assert.Equal(t, int64(300_00), got.UsedPaise)
	assert.Equal(t, int64(0), got.RemainingPaise)
	assert.Equal(t, aliceBefore-300_00, n.balance(alice))

	// Removed: the app API refuses the payment.
	_, err = cli.CircleRemove(ctx, &bytes.Buffer{}, cli.CircleRemoveOptions{DataDir: n.dir, LinkID: l.LinkID, PIN: "1234", Output: cli.JSON})
	require.NoError(t, err)
	n.linkStatus(l.LinkID, "DELINKED")
	eventually(t, func() bool {
		s := findLink(n.circleList(carol, false), l.LinkID)
		return s != nil && s.Status == "DELINKED"
	}, "DELINKED at PSP(S)")
	_, err = n.circlePay(carol, chai, "10.00")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no LINKED UPI Circle link")

	// The audit holds every node's view: the payments PSP(S) ended over a
	// limit (Z8, QH) without a message are no unknown transactions.
	waitQuiet(t, n)
	res, out, err := n.audit()
	require.NoError(t, err, out)
	assert.True(t, res.OK, out)
}

// circlePayPartial is `upisim circle pay` under a partial link, without
// --no-wait: it answers PENDING at once, as the payment waits for the
// primary (a wait for the final status would time out instead).
func (n *net) circlePayPartial(from, to, amount string) cli.TxnResult {
	n.t.Helper()
	r, err := cli.CirclePay(context.Background(), &bytes.Buffer{}, cli.CirclePayOptions{
		DataDir: n.dir, From: from, To: to, Amount: amount, Timeout: 20 * time.Second, Output: cli.JSON})
	require.NoError(n.t, err)
	return r
}

// circleApprovals is `upisim circle approvals VPA -o json`: the txn ids.
func (n *net) circleApprovals(vpa string) []string {
	n.t.Helper()
	var out bytes.Buffer
	require.NoError(n.t, cli.CircleApprovals(context.Background(), &out, cli.CollectsOptions{DataDir: n.dir, VPA: vpa, Output: cli.JSON}))
	var got struct {
		Approvals []struct {
			TxnID string `json:"txn_id"`
		} `json:"approvals"`
	}
	require.NoError(n.t, json.Unmarshal(out.Bytes(), &got), out.String())
	var ids []string
	for _, a := range got.Approvals {
		ids = append(ids, a.TxnID)
	}
	return ids
}

// circleApprove is `upisim circle approve TXN_ID --pin PIN` (or
// --decline) -o json, waiting for the final status.
func (n *net) circleApprove(id, pin string, decline bool) cli.TxnResult {
	n.t.Helper()
	var out bytes.Buffer
	r, err := cli.CircleApprove(context.Background(), &out, cli.ApproveOptions{
		DataDir: n.dir, TxnID: id, PIN: pin, Decline: decline, Timeout: 20 * time.Second, Output: cli.JSON})
	require.NoError(n.t, err)
	var printed cli.TxnResult
	require.NoError(n.t, json.Unmarshal(out.Bytes(), &printed), out.String())
	assert.Equal(n.t, r, printed)
	return r
}

// A payment under partial delegation: alice@alpha links carol@beta
// (partial); carol's payment waits PENDING for alice, listed in her
// approvals; approved with her PIN it ends SUCCESS from her account; a
// declined one ends ZA and a wrong PIN ZM, moving no money.
func TestCirclePayPartial(t *testing.T) {
	n := up(t, nil)
	ctx := context.Background()
	const alice, carol, chai = "alice@alpha", "carol@beta", "chai@beta"

	l := n.circleLink(alice, carol)
	eventually(t, func() bool { return findLink(n.circleList(carol, true), l.LinkID) != nil }, "carol's invite")
	_, err := cli.CircleAccept(ctx, &bytes.Buffer{}, cli.CircleRefOptions{DataDir: n.dir, LinkID: l.LinkID, Output: cli.JSON})
	require.NoError(t, err)
	n.linkStatus(l.LinkID, "LINKED")
	eventually(t, func() bool {
		s := findLink(n.circleList(carol, false), l.LinkID)
		return s != nil && s.Status == "LINKED"
	}, "LINKED at PSP(S)")

	aliceBefore, carolBefore, chaiBefore := n.balance(alice), n.balance(carol), n.balance(chai)
	r := n.circlePayPartial(carol, chai, "200.00")
	require.Equal(t, "PENDING", r.Status, r.ErrCode)
	eventually(t, func() bool { ids := n.circleApprovals(alice); return len(ids) == 1 && ids[0] == r.TxnID }, "alice's approval")
	done := n.circleApprove(r.TxnID, "1234", false)
	require.Equal(t, "SUCCESS", done.Status, "err_code %s", done.ErrCode)
	assert.Len(t, done.RRN, 12)
	assert.Equal(t, aliceBefore-200_00, n.balance(alice), "from the primary's account")
	assert.Equal(t, carolBefore, n.balance(carol))
	assert.Equal(t, chaiBefore+200_00, n.balance(chai))
	assert.Empty(t, n.circleApprovals(alice))
	msgs := received(n.trace(r.TxnID))
	lookedUpFirst(t, msgs)
	for _, want := range []string{"npci→alphapsp ReqDelegateAuth", "alphapsp→npci ReqPay", "npci→betapsp RespDelegateAuth"} {
		assert.Contains(t, msgs, want)
	}

	// Declined: ZA, nothing moved.
	r = n.circlePayPartial(carol, chai, "50.00")
	eventually(t, func() bool { return len(n.circleApprovals(alice)) == 1 }, "the second approval")
	done = n.circleApprove(r.TxnID, "", true)
	assert.Equal(t, "FAILURE", done.Status)
	assert.Equal(t, "ZA", done.ErrCode)

	// A wrong PIN: the remitter says ZM.
	r = n.circlePayPartial(carol, chai, "30.00")
	eventually(t, func() bool { return len(n.circleApprovals(alice)) == 1 }, "the third approval")
	done = n.circleApprove(r.TxnID, "9999", false)
	assert.Equal(t, "FAILURE", done.Status)
	assert.Equal(t, "ZM", done.ErrCode)
	assert.Equal(t, aliceBefore-200_00, n.balance(alice), "no money moved")
	assert.Equal(t, chaiBefore+200_00, n.balance(chai))

	waitQuiet(t, n)
	res, out, err := n.audit()
	require.NoError(t, err, out)
	assert.True(t, res.OK, out)
}
