package merchant

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	merchantv1 "github.com/upisim/upisim/gen/go/upisim/merchant/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node/nodetest"
)

// confirmed delivers the switch's LITE_SYNC ReqTxnConfirmation of recs to
// the PSP, which keeps the credits (what a refund of them is checked
// against) and runs the hook, as in a network.
func (f *liteFixture) confirmed(recs ...*upiv1.LiteRecordResult) {
	f.t.Helper()
	ack, err := f.n.Receive(f.t.Context(), upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{
		Head: nodetest.Head("npci", "NPC"), Txn: &upiv1.Txn{Id: ids.NewTxnID("ALP"), Type: upiv1.Txn_LITE_SYNC},
		Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}, LiteRecords: recs,
	})
	require.NoError(f.t, err)
	require.Empty(f.t, ack.GetErr())
	nodetest.Quiesce(f.t, f.n)
}

// refundSent is the PSP's ReqPay REFUND txnID to the switch.
func (f *liteFixture) refundSent(txnID string) *upiv1.ReqPay {
	f.t.Helper()
	require.NotEmpty(f.t, txnID, "the refund was sent")
	return f.rec.WaitFor(f.t, upiv1.SwitchService_ReqPay_FullMethodName, txnID).Msg.(*upiv1.ReqPay)
}

// refundAnswered is the switch's RespPay of the refund req.
func (f *liteFixture) refundAnswered(req *upiv1.ReqPay, result upiv1.Resp_Result) {
	f.t.Helper()
	resp := &upiv1.Resp{ReqMsgId: req.GetHead().GetMsgId(), Result: result}
	if result == upiv1.Resp_FAILURE {
		resp.ErrCode = "U10"
	}
	ack, err := f.n.Receive(f.t.Context(), upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{
		Head: nodetest.Head("npci", "NPC"),
		Txn: &upiv1.Txn{Id: req.GetTxn().GetId(), Type: upiv1.Txn_REFUND, CustRef: "612345000999",
			OrgRrn: req.GetTxn().GetOrgRrn(), RefId: req.GetTxn().GetRefId()},
		Resp: resp,
	})
	require.NoError(f.t, err)
	require.Empty(f.t, ack.GetErr())
	nodetest.Quiesce(f.t, f.n)
}

// TestLiteRefundByMerchant: the merchant's POST /refunds of an order paid
// offline is a ReqPay REFUND naming the record by its official UTR, to
// the record's payer; in part, then the rest, and no more.
func TestLiteRefundByMerchant(t *testing.T) {
	f := newLiteFixture(t)
	o := f.order(false)
	_, err := f.report(o.GetOrderId(), provUTR, 15000)
	require.NoError(t, err)
	f.confirmed(record(o.GetOrderId(), provUTR, officialUTR, 15000))
	got := f.get(o.GetOrderId())
	require.Equal(t, TxnSuccess, got.GetTransactionStatus())
	a := got.GetAttempts()[0]
	require.Empty(t, a.GetTxnId(), "an offline payment has no txn id")
	require.Equal(t, officialUTR, a.GetRrn())

	rf, err := f.l.CreateRefund(f.ctx("rf-1"), &merchantv1.CreateRefundRequest{OrderId: o.GetOrderId(), AmountCents: 5000, Note: "one cup less"})
	require.NoError(t, err)
	assert.Equal(t, RefundInitiated, rf.GetRefundStatus())
	req := f.refundSent(rf.GetTxnId())
	assert.Equal(t, upiv1.Txn_REFUND, req.GetTxn().GetType())
	assert.Equal(t, officialUTR, req.GetTxn().GetOrgRrn())
	assert.Empty(t, req.GetTxn().GetOrgTxnId())
	assert.Equal(t, rf.GetRefundId(), req.GetTxn().GetRefId())
	assert.Equal(t, "chai@beta", req.GetPayer().GetAddr())
	assert.Equal(t, "alice@alpha", req.GetPayee().GetAddr())
	assert.Equal(t, int64(5000), req.GetPayer().GetAmountPaise())
	f.refundAnswered(req, upiv1.Resp_SUCCESS)
	done, err := f.l.GetRefund(f.ctx(""), &merchantv1.GetRefundRequest{RefundId: rf.GetRefundId()})
	require.NoError(t, err)
	assert.Equal(t, RefundDone, done.GetRefundStatus())

	// A refund the switch declines fails; the rest is then refundable.
	rf2, err := f.l.CreateRefund(f.ctx("rf-2"), &merchantv1.CreateRefundRequest{AttemptId: a.GetAttemptId(), AmountCents: 10000})
	require.NoError(t, err)
	f.refundAnswered(f.refundSent(rf2.GetTxnId()), upiv1.Resp_FAILURE)
	failed, err := f.l.GetRefund(f.ctx(""), &merchantv1.GetRefundRequest{RefundId: rf2.GetRefundId()})
	require.NoError(t, err)
	assert.Equal(t, RefundFailed, failed.GetRefundStatus())
	assert.Equal(t, "U10", failed.GetErrCode())

	_, err = f.l.CreateRefund(f.ctx("rf-3"), &merchantv1.CreateRefundRequest{OrderId: o.GetOrderId(), AmountCents: 10001})
	assert.ErrorContains(t, err, "more than is left to refund")
	rest, err := f.l.CreateRefund(f.ctx("rf-4"), &merchantv1.CreateRefundRequest{OrderId: o.GetOrderId(), AmountCents: 10000})
	require.NoError(t, err)
	f.refundAnswered(f.refundSent(rest.GetTxnId()), upiv1.Resp_SUCCESS)
	var statuses []string
	for _, r := range f.get(o.GetOrderId()).GetRefunds() {
		statuses = append(statuses, r.GetRefundStatus())
	}
	assert.Equal(t, []string{RefundDone, RefundFailed, RefundDone}, statuses)
}

// TestLiteRefundUnknownToThePSP: a Lite attempt whose record the PSP was
// never confirmed (here: the hook alone ran) cannot be refunded there:
// REFUND_FAILED U07 at once, as for any credit the PSP will not refund.
func TestLiteRefundUnknownToThePSP(t *testing.T) {
	f := newLiteFixture(t)
	o := f.order(true)
	f.credit(record(o.GetOrderId(), provUTR, officialUTR, 14000))
	got := f.get(o.GetOrderId())
	require.Len(t, got.GetRefunds(), 1)
	assert.Equal(t, RefundFailed, got.GetRefunds()[0].GetRefundStatus())
	assert.Equal(t, "U07", got.GetRefunds()[0].GetErrCode())
}
