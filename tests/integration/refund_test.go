package integration

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/upi"
	"github.com/upisim/upisim/psp"
)

// refund is the test's merchant layer: it calls betapsp's StartRefund in
// a step of betapsp's node, as the merchant layer does in its own.
func (n *net) refund(r psp.RefundRequest) (string, error) {
	n.t.Helper()
	nd := n.clusterNode("betapsp")
	var id string
	err := nd.Node.Update(func(c *node.Ctx) (err error) {
		id, err = cluster.PSPOf(nd.Impl).StartRefund(c, r)
		return err
	})
	return id, err
}

// decided waits until node shows txnID SUCCESS or FAILURE and returns its
// view.
func (n *net) decided(node, txnID string) *upiv1.Transaction {
	n.t.Helper()
	a, err := n.c.Admin(node)
	require.NoError(n.t, err)
	var t *upiv1.Transaction
	eventually(n.t, func() bool {
		r, err := a.GetTransaction(context.Background(), &upiv1.GetTransactionRequest{TxnId: txnID})
		if status.Code(err) == codes.NotFound {
			return false // not there yet
		}
		require.NoError(n.t, err)
		t = r.GetTransaction()
		return upi.Final(t.GetStatus())
	}, node+" decides "+txnID)
	return t
}

func TestRefund(t *testing.T) {
	n := up(t, nil)
	alice0, chai0 := n.balance("alice@alpha"), n.balance("chai@beta")
	paid := n.pay("alice@alpha", "chai@beta", "100.00", "1234")
	require.Equal(t, "SUCCESS", paid.Status)
	require.Equal(t, chai0+10_000, n.balance("chai@beta"))

	// A part of it back: 30.00 from chai to alice.
	id, err := n.refund(psp.RefundRequest{OrgTxnID: paid.TxnID, AmountPaise: 3_000, Note: "one cup short", RefID: "rfnd_test_1"})
	require.NoError(t, err)
	sw := n.decided("npci", id)
	assert.Equal(t, upiv1.Resp_SUCCESS, sw.GetStatus(), "err %s", sw.GetErrCode())
	assert.Equal(t, upiv1.Txn_REFUND, sw.GetType())
	assert.Regexp(t, rrnRE, sw.GetRrn(), "a refund has its own RRN")
	assert.NotEqual(t, paid.RRN, sw.GetRrn())
	for _, nd := range []string{"betapsp", "alphapsp"} {
		v := n.decided(nd, id)
		assert.Equal(t, upiv1.Resp_SUCCESS, v.GetStatus(), "the refund at %s", nd)
	}
	assert.Equal(t, alice0-10_000+3_000, n.balance("alice@alpha"), "alice has 30.00 back")
	assert.Equal(t, chai0+10_000-3_000, n.balance("chai@beta"), "chai keeps 70.00")
	assert.Equal(t, upiv1.Resp_SUCCESS, n.nodeTxn("npci", paid.TxnID).GetTransaction().GetStatus(), "the credit's status does not change")
	got := received(n.trace(id))
	for _, want := range []string{
		"betapsp→npci ReqPay", "npci→bbank ReqPay", "bbank→npci RespPay", "npci→abank ReqPay", "abank→npci RespPay",
		"npci→betapsp RespPay", "npci→alphapsp ReqTxnConfirmation", "alphapsp→tpap Notify",
	} {
		assert.Contains(t, got, want)
	}
	assert.NotContains(t, got, "npci→betapsp ReqAuthDetails", "a refund asks no one for auth details")

	// A second refund above what is left (70.00) is refused by the switch:
	// it ends FAILURE U07 at chai's PSP and moves nothing.
	over, err := n.refund(psp.RefundRequest{OrgTxnID: paid.TxnID, AmountPaise: 7_001, RefID: "rfnd_test_2"})
	require.NoError(t, err, "within the credit's 100.00: the PSP sends it, the switch counts")
	v := n.decided("betapsp", over)
	assert.Equal(t, upiv1.Resp_FAILURE, v.GetStatus())
	assert.Equal(t, upi.CodeRefused, v.GetErrCode())
	// The rest, exactly, is still refundable.
	rest, err := n.refund(psp.RefundRequest{OrgTxnID: paid.TxnID, AmountPaise: 7_000, RefID: "rfnd_test_3"})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_SUCCESS, n.decided("npci", rest).GetStatus())
	n.decided("alphapsp", rest)
	assert.Equal(t, alice0, n.balance("alice@alpha"), "alice has it all back")
	assert.Equal(t, chai0, n.balance("chai@beta"))

	// Nothing is left: even a paisa is refused now.
	last, err := n.refund(psp.RefundRequest{OrgTxnID: paid.TxnID, AmountPaise: 1})
	require.NoError(t, err)
	assert.Equal(t, upi.CodeRefused, n.decided("betapsp", last).GetErrCode())

	// Bad input never leaves the PSP.
	_, err = n.refund(psp.RefundRequest{OrgTxnID: paid.TxnID, AmountPaise: 10_001})
	assert.ErrorContains(t, err, "more than the credit")

	waitQuiet(t, n)
	r, text := n.auditSettled()
	assert.True(t, r.OK, "the audit of a network with refunds must be clean:\n%s", text)
}
