package psp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/pin/pintest"
)

// The switch tells the initiator DEEMED when the credit times out, and the
// final outcome once its status checks decide it: status only moves
// forward, PENDING → DEEMED → SUCCESS or FAILURE, whatever order the two
// RespPay arrive in.
func TestRespPayDeemed(t *testing.T) {
	deemed := &upiv1.Resp{Result: upiv1.Resp_DEEMED, ErrCode: "RB"}
	failed := &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: "U31", Refs: []*upiv1.Ref{{Type: "PAYER", ReversalRespCode: "00"}}}
	for _, tc := range []struct {
		name    string
		resps   []*upiv1.Resp
		status  string
		errCode string
		told    []upiv1.Resp_Result // the TXN_STATUS notifications, in order
	}{
		{"deemed, then reversed", []*upiv1.Resp{deemed, failed}, "FAILURE", "U31",
			[]upiv1.Resp_Result{upiv1.Resp_DEEMED, upiv1.Resp_FAILURE}},
		{"deemed twice", []*upiv1.Resp{deemed, deemed}, "DEEMED", "RB",
			[]upiv1.Resp_Result{upiv1.Resp_DEEMED}},
		{"final overtakes deemed", []*upiv1.Resp{failed, deemed}, "FAILURE", "U31",
			[]upiv1.Resp_Result{upiv1.Resp_FAILURE}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, alpha, nil)
			resp, err := f.p.InitiatePay(t.Context(), &upiv1.InitiatePayRequest{PayerVpa: "alice@alpha", PayeeVpa: "bob@beta", AmountPaise: 700, Cred: pintest.Opaque("1234", "")})
			require.NoError(t, err)
			id := resp.GetTransaction().GetTxnId()
			txn := &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY, CustRef: "512345000011"}
			for i, r := range tc.resps {
				f.accept(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{Head: swHead(), Txn: txn, Resp: r})
				if i == 0 && r.GetResult() == upiv1.Resp_DEEMED {
					assert.Equal(t, stateDeemed, f.record(id).State)
					got, err := f.p.InspectTxn(id)
					require.NoError(t, err)
					assert.Equal(t, upiv1.Resp_DEEMED, got.GetTransaction().GetStatus())
				}
			}
			r := f.record(id)
			assert.Equal(t, tc.status, r.Status)
			assert.Equal(t, tc.errCode, r.ErrCode)
			assert.Equal(t, "512345000011", r.Rrn)
			recs, err := f.n.Trace(id)
			require.NoError(t, err)
			var told []string
			for _, rec := range recs {
				if rec.GetDirection() == upiv1.TraceRecord_OUT && rec.GetApi() == "Notify" {
					told = append(told, rec.GetSummary())
				}
			}
			require.Len(t, told, len(tc.told))
			for i, want := range tc.told {
				assert.Contains(t, told[i], want.String(), "notification %d", i)
			}
		})
	}
}

// The payer of a collect hears DEEMED from the confirmation, then the
// final outcome.
func TestCollectConfirmationDeemedThenFailure(t *testing.T) {
	f := newFixture(t, alpha, nil)
	id := newTxnID("BET")
	f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, collectFromChai(id, "alice@alpha", 300))
	txn := &upiv1.Txn{Id: id, Type: upiv1.Txn_COLLECT, CustRef: "512345000001"}
	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{Head: swHead(), Txn: txn, Resp: &upiv1.Resp{Result: upiv1.Resp_DEEMED, ErrCode: "RB"}})
	assert.Equal(t, "DEEMED", f.record(id).Status)
	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{Head: swHead(), Txn: txn, Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: "U68"}})
	r := f.record(id)
	assert.Equal(t, "FAILURE", r.Status)
	assert.Equal(t, "U68", r.ErrCode)
	assert.Equal(t, 2, f.sent(id, "RespTxnConfirmation"))
	assert.Equal(t, 3, f.sent(id, "Notify"), "the collect request, DEEMED, FAILURE")
	assert.False(t, f.pending("alice@alpha", id))
}
