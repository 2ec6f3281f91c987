package psp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/upi"
)

const methodSwitchReqPay = upiv1.SwitchService_ReqPay_FullMethodName

// creditChai makes betapsp's record of a PAY of amount from alice to chai
// that ended result, and returns its id.
func (f *fixture) creditChai(amount int64, result upiv1.Resp_Result) string {
	f.t.Helper()
	id := newTxnID("ALP")
	f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, payTo(id, "alice@alpha", "chai@beta", amount))
	resp := &upiv1.Resp{Result: result}
	if result == upiv1.Resp_FAILURE {
		resp.ErrCode = upi.CodeInsufficientFunds
	}
	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY, CustRef: "512345000002"}, Resp: resp,
	})
	require.Equal(f.t, result.String(), f.record(id).Status)
	return id
}

// startRefund runs StartRefund in a step of its own.
func (f *fixture) startRefund(r RefundRequest) (string, error) {
	var id string
	err := f.n.Update(func(c *node.Ctx) (err error) {
		id, err = f.p.StartRefund(c, r)
		return err
	})
	return id, err
}

func TestStartRefund(t *testing.T) {
	hook := &outcomeHook{}
	f := newFixtureWith(t, beta, nil, Config{OnOutcome: hook.run})
	org := f.creditChai(10_000, upiv1.Resp_SUCCESS)
	before := len(hook.calls())

	id, err := f.startRefund(RefundRequest{OrgTxnID: org, AmountPaise: 4_000, Note: "sorry", RefID: "rfnd_1"})
	require.NoError(t, err)
	assert.Equal(t, "BET", id[:3], "a refund's id has this PSP's prefix")

	req := f.rec.WaitFor(t, methodSwitchReqPay, id).Msg.(*upiv1.ReqPay)
	assert.Equal(t, upiv1.Txn_REFUND, req.GetTxn().GetType())
	assert.Equal(t, org, req.GetTxn().GetOrgTxnId())
	assert.Equal(t, "rfnd_1", req.GetTxn().GetRefId())
	assert.Equal(t, "sorry", req.GetTxn().GetNote())
	assert.Equal(t, "chai@beta", req.GetPayer().GetAddr())
	assert.Equal(t, "2000000003", req.GetPayer().GetAc().GetAcNum())
	assert.Equal(t, int64(4_000), req.GetPayer().GetAmountPaise())
	assert.Empty(t, req.GetPayer().GetCreds(), "a refund carries no PIN")
	assert.Equal(t, "alice@alpha", req.GetPayee().GetAddr())

	r := f.record(id)
	assert.Equal(t, upiv1.Txn_REFUND.String(), r.Type)
	assert.Equal(t, upiv1.Resp_PENDING.String(), r.Status)
	assert.Equal(t, org, r.OrgTxnId)
	assert.Equal(t, "rfnd_1", r.RefId)

	// The switch's answer reaches the merchant layer.
	f.accept(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_REFUND, CustRef: "512345000009", OrgTxnId: org, RefId: "rfnd_1"},
		Resp: &upiv1.Resp{ReqMsgId: req.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
	})
	calls := hook.calls()[before:]
	require.Len(t, calls, 1)
	o := calls[0]
	assert.Equal(t, id, o.TxnID)
	assert.Equal(t, upiv1.Txn_REFUND, o.Type)
	assert.Equal(t, upiv1.Resp_SUCCESS, o.Result)
	assert.Equal(t, org, o.OrgTxnID)
	assert.Equal(t, "rfnd_1", o.RefID)
	assert.Equal(t, int64(4_000), o.AmountPaise)
	assert.Equal(t, "chai@beta", o.Payer.VPA)
	assert.True(t, o.Payer.Here && o.Payer.Initiator)
	assert.Equal(t, "alice@alpha", o.Payee.VPA)
	assert.Equal(t, upiv1.Resp_SUCCESS.String(), f.record(org).Status, "the credit's status does not change")
}

func TestStartRefundRefusedBySwitch(t *testing.T) {
	hook := &outcomeHook{}
	f := newFixtureWith(t, beta, nil, Config{OnOutcome: hook.run})
	org := f.creditChai(10_000, upiv1.Resp_SUCCESS)
	id, err := f.startRefund(RefundRequest{OrgTxnID: org, AmountPaise: 9_000, RefID: "rfnd_2"})
	require.NoError(t, err)
	req := f.rec.WaitFor(t, methodSwitchReqPay, id).Msg.(*upiv1.ReqPay)
	require.NoError(t, f.n.Update(func(c *node.Ctx) error {
		return f.p.reqPayRefused(c, node.Refused{Msg: req, TxnID: id, Reason: "more than is left to refund"})
	}))
	calls := hook.calls()
	require.NotEmpty(t, calls)
	o := calls[len(calls)-1]
	assert.Equal(t, id, o.TxnID)
	assert.Equal(t, upiv1.Txn_REFUND, o.Type)
	assert.Equal(t, upiv1.Resp_FAILURE, o.Result)
	assert.Equal(t, upi.CodeRefused, o.ErrCode)
	assert.Equal(t, org, o.OrgTxnID)
	assert.Equal(t, "rfnd_2", o.RefID)
}

func TestStartRefundBadInput(t *testing.T) {
	f := newFixture(t, beta, nil)
	org := f.creditChai(10_000, upiv1.Resp_SUCCESS)
	failed := f.creditChai(500, upiv1.Resp_FAILURE)
	taken, err := f.startRefund(RefundRequest{OrgTxnID: org, AmountPaise: 100})
	require.NoError(t, err)
	f.rec.WaitFor(t, methodSwitchReqPay, taken)
	for _, tc := range []struct {
		name string
		r    RefundRequest
		code codes.Code
		want string
	}{
		{"no credit named", RefundRequest{AmountPaise: 100}, codes.InvalidArgument, "needs the txn id of the credit"},
		{"unknown credit", RefundRequest{OrgTxnID: newTxnID("ALP"), AmountPaise: 100}, codes.NotFound, "has no transaction"},
		{"a credit that failed", RefundRequest{OrgTxnID: failed, AmountPaise: 100}, codes.FailedPrecondition, "only a SUCCESS can be refunded"},
		{"a refund", RefundRequest{OrgTxnID: taken, AmountPaise: 50}, codes.FailedPrecondition, "only a PAY or COLLECT can be refunded"},
		{"amount zero", RefundRequest{OrgTxnID: org, AmountPaise: 0}, codes.InvalidArgument, "greater than zero"},
		{"amount negative", RefundRequest{OrgTxnID: org, AmountPaise: -1}, codes.InvalidArgument, "greater than zero"},
		{"more than the credit", RefundRequest{OrgTxnID: org, AmountPaise: 10_001}, codes.InvalidArgument, "more than the credit"},
		{"another PSP's prefix", RefundRequest{TxnID: newTxnID("ALP"), OrgTxnID: org, AmountPaise: 100}, codes.InvalidArgument, "this PSP's prefix"},
		{"a txn id taken", RefundRequest{TxnID: taken, OrgTxnID: org, AmountPaise: 100}, codes.AlreadyExists, "is already a REFUND"},
		{"a note too long", RefundRequest{OrgTxnID: org, AmountPaise: 100, Note: "0123456789012345678901234567890123456789012345678901"}, codes.InvalidArgument, "note"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := f.rec.Count(methodSwitchReqPay, "")
			id, err := f.startRefund(tc.r)
			requireCode(t, err, tc.code, tc.want)
			assert.Empty(t, id)
			nodetest.Quiesce(t, f.n)
			assert.Equal(t, n, f.rec.Count(methodSwitchReqPay, ""), "nothing is sent")
		})
	}
}

// The credit's payer's PSP first hears of a refund in its confirmation:
// it records it and tells its user, credited back.
func TestRefundConfirmedToThePayersPSP(t *testing.T) {
	f := newFixture(t, alpha, nil)
	id, org := newTxnID("BET"), newTxnID("ALP")
	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{
		Head: swHead(),
		Txn:  &upiv1.Txn{Id: id, Type: upiv1.Txn_REFUND, CustRef: "512345000010", OrgTxnId: org, Note: "sorry"},
		Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS, Refs: []*upiv1.Ref{
			{Type: "PAYER", Addr: "chai@beta", SettAmountPaise: 4_000},
			{Type: "PAYEE", Addr: "alice@alpha", SettAmountPaise: 4_000},
		}},
	})
	f.rec.WaitFor(t, upiv1.SwitchService_RespTxnConfirmation_FullMethodName, id)
	r := f.record(id)
	assert.Equal(t, upiv1.Txn_REFUND.String(), r.Type)
	assert.Equal(t, upiv1.Resp_SUCCESS.String(), r.Status)
	assert.Equal(t, org, r.OrgTxnId)
	assert.Equal(t, int64(4_000), r.AmountPaise)
	assert.True(t, r.PayeeHere)
	n := f.rec.WaitFor(t, upiv1.TpapService_Notify_FullMethodName, id).Msg.(*upiv1.Notification)
	assert.Equal(t, "alice@alpha", n.GetUserAddr())
	assert.Equal(t, upiv1.Txn_REFUND, n.GetTxn().GetType())
	assert.Equal(t, upiv1.Resp_SUCCESS, n.GetResp().GetResult())
}
