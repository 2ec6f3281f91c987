package integration

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/cli"
)

// lookedUpFirst checks that the delegated payment of trace msgs (received
// messages, in order) resolved its payee with ReqValAdd, answered, before
// any ReqDelegateAuth.
func lookedUpFirst(t *testing.T, msgs []string) {
	t.Helper()
	answered := slices.Index(msgs, "npci→betapsp RespValAdd")
	require.GreaterOrEqual(t, answered, 0, "the payee's look-up is in the trace: %v", msgs)
	asked := slices.Index(msgs, "betapsp→npci ReqValAdd")
	require.GreaterOrEqual(t, asked, 0, "%v", msgs)
	assert.Less(t, asked, answered)
	for i, m := range msgs {
		if m == "betapsp→npci ReqDelegateAuth" || m == "npci→alphapsp ReqDelegateAuth" {
			assert.Greater(t, i, answered, "ReqDelegateAuth only after the RespValAdd: %v", msgs)
		}
	}
}

// A delegated payment to a payee nobody has ends FAILURE U29 at its
// look-up (betapsp does not know nobody@beta; no PSP has @nowhere): the
// trace has the ReqValAdd and its RespValAdd and no ReqDelegateAuth,
// no money moves, and the audit holds.
func TestCirclePayUnknownPayee(t *testing.T) {
	n := up(t, nil)
	const alice, carol = "alice@alpha", "carol@beta"

	l := n.circleLinkFull(alice, carol, "15000.00", "1234")
	eventually(t, func() bool { return findLink(n.circleList(carol, true), l.LinkID) != nil }, "carol's invite")
	_, err := cli.CircleAccept(context.Background(), &bytes.Buffer{}, cli.CircleRefOptions{DataDir: n.dir, LinkID: l.LinkID, Output: cli.JSON})
	require.NoError(t, err)
	n.linkStatus(l.LinkID, "LINKED")
	eventually(t, func() bool {
		s := findLink(n.circleList(carol, false), l.LinkID)
		return s != nil && s.Status == "LINKED"
	}, "LINKED at PSP(S)")

	aliceBefore := n.balance(alice)
	r, err := n.circlePay(carol, "nobody@beta", "20.00")
	require.NoError(t, err)
	assert.Equal(t, "FAILURE", r.Status)
	assert.Equal(t, "U29", r.ErrCode, "the payee's PSP does not know nobody@beta")
	msgs := received(n.trace(r.TxnID))
	for _, want := range []string{"betapsp→npci ReqValAdd", "npci→betapsp ReqValAdd", "betapsp→npci RespValAdd", "npci→betapsp RespValAdd"} {
		assert.Contains(t, msgs, want)
	}
	for _, m := range msgs {
		assert.NotContains(t, m, "ReqDelegateAuth", "the payment ended at its look-up: %v", msgs)
		assert.NotContains(t, m, "ReqPay")
	}

	r, err = n.circlePay(carol, "nobody@nowhere", "20.00")
	require.NoError(t, err)
	assert.Equal(t, "FAILURE", r.Status)
	assert.Equal(t, "U29", r.ErrCode, "no PSP has the handle: the switch answers")
	msgs = received(n.trace(r.TxnID))
	assert.Equal(t, []string{"betapsp→npci ReqValAdd", "npci→betapsp RespValAdd", "betapsp→tpap Notify"}, msgs, "carol is told")

	assert.Equal(t, aliceBefore, n.balance(alice), "no money moved")
	assert.Zero(t, n.circleShow(l.LinkID).UsedPaise)

	waitQuiet(t, n)
	res, out, err := n.audit()
	require.NoError(t, err, out)
	assert.True(t, res.OK, out)
}
