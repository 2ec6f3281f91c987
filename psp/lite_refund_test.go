package psp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/lite"
)

// TestStartRefundOfALiteRecord: an offline Lite record credited to chai
// (a LITE_SYNC confirmation) is refunded by its official UTR: the ReqPay
// REFUND carries txn.org_rrn and no org_txn_id, from chai to the record's
// payer; a UTR no record credited here has, or too much, is refused.
func TestStartRefundOfALiteRecord(t *testing.T) {
	hook := &outcomeHook{}
	f := newFixtureWith(t, beta, nil, Config{OnOutcome: hook.run})
	const utr = "512345000107"
	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{
		Head: swHead(), Txn: &upiv1.Txn{Id: newTxnID("ALP"), Type: upiv1.Txn_LITE_SYNC}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
		LiteRecords: []*upiv1.LiteRecordResult{{Lrn: testLRN, Counter: 7, ProvisionalUtr: lite.ProvisionalUTR(testLRN, 7),
			Result: upiv1.Resp_SUCCESS, Utr: utr, PayerAddr: "alice@alpha", PayeeAddr: "chai@beta", AmountPaise: 10_000}},
	})

	id, err := f.startRefund(RefundRequest{OrgRRN: utr, OrgPayerVPA: "Alice@Alpha", AmountPaise: 4_000, RefID: "rfnd_1"})
	require.NoError(t, err)
	req := f.rec.WaitFor(t, methodSwitchReqPay, id).Msg.(*upiv1.ReqPay)
	assert.Equal(t, upiv1.Txn_REFUND, req.GetTxn().GetType())
	assert.Equal(t, utr, req.GetTxn().GetOrgRrn())
	assert.Empty(t, req.GetTxn().GetOrgTxnId())
	assert.Equal(t, "chai@beta", req.GetPayer().GetAddr())
	assert.Equal(t, int64(4_000), req.GetPayer().GetAmountPaise())
	assert.NotEmpty(t, req.GetPayer().GetAc().GetAcNum(), "the merchant's account")
	assert.Empty(t, req.GetPayer().GetCreds(), "a refund carries no PIN")
	assert.Equal(t, "alice@alpha", req.GetPayee().GetAddr())
	r := f.record(id)
	assert.Equal(t, upiv1.Txn_REFUND.String(), r.Type)
	assert.Equal(t, "alice@alpha", r.PayeeVpa)
	assert.Equal(t, "rfnd_1", r.RefId)

	for _, tc := range []struct {
		name string
		req  RefundRequest
		code codes.Code
	}{
		{"a UTR no record credited here has", RefundRequest{OrgRRN: "512345000999", OrgPayerVPA: "alice@alpha", AmountPaise: 100}, codes.NotFound},
		{"not a UTR", RefundRequest{OrgRRN: "P1234", OrgPayerVPA: "alice@alpha", AmountPaise: 100}, codes.InvalidArgument},
		{"no payer", RefundRequest{OrgRRN: utr, AmountPaise: 100}, codes.InvalidArgument},
		{"more than the record", RefundRequest{OrgRRN: utr, OrgPayerVPA: "alice@alpha", AmountPaise: 10_001}, codes.InvalidArgument},
		{"nothing", RefundRequest{OrgRRN: utr, OrgPayerVPA: "alice@alpha"}, codes.InvalidArgument},
	} {
		_, err := f.startRefund(tc.req)
		assert.Equal(t, tc.code, status.Code(err), "%s: %v", tc.name, err)
	}
}
