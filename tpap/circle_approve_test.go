package tpap

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/pin"
)

// delegatePay is PSP(P)'s DELEGATE_PAY notification: carol's payment
// txnID to chai@beta waits for the primary alice@alpha.
func delegatePay(txnID string, amount int64) *upiv1.Notification {
	return &upiv1.Notification{
		Txn:      &upiv1.Txn{Id: txnID, Type: upiv1.Txn_PAY, Note: "tea", Purpose: "87"},
		Kind:     upiv1.Notification_DELEGATE_PAY,
		UserAddr: "alice@alpha",
		Payer:    &upiv1.Party{Addr: "alice@alpha", AmountPaise: amount, Currency: "INR"},
		Payee:    &upiv1.Party{Addr: "chai@beta", Name: "Chai Point", AmountPaise: amount, Currency: "INR"},
		Resp:     &upiv1.Resp{Result: upiv1.Resp_PENDING},
	}
}

// approvals are the txn ids ListCircleApprovals lists for vpa.
func (e *env) approvals(t *testing.T, vpa string) []string {
	t.Helper()
	out, err := e.x.ListCircleApprovals(t.Context(), &upiv1.ListCircleApprovalsRequest{Vpa: vpa})
	require.NoError(t, err)
	var got []string
	for _, a := range out.GetApprovals() {
		got = append(got, a.GetTxnId())
	}
	return got
}

// respondCalls are the RespondDelegatedPay calls psp got.
func respondCalls(f *fakePSP) []*upiv1.RespondDelegatedPayRequest {
	var out []*upiv1.RespondDelegatedPayRequest
	for _, c := range f.Calls() {
		if r, ok := c.(*upiv1.RespondDelegatedPayRequest); ok {
			out = append(out, r)
		}
	}
	return out
}

// ListCircleApprovals lists the primary's waiting delegated payments,
// oldest first, with their parties and amount; not a collect, not another
// user's, not one that has ended; a bad VPA is InvalidArgument.
func TestListCircleApprovals(t *testing.T) {
	e := newEnv(t)
	first, second, ended := ids.NewTxnID("BET"), ids.NewTxnID("BET"), ids.NewTxnID("BET")
	require.Empty(t, e.notify(t, "alphapsp", delegatePay(first, 200_00)).GetErr())
	require.Empty(t, e.notify(t, "alphapsp", delegatePay(second, 50_00)).GetErr())
	require.Empty(t, e.notify(t, "alphapsp", delegatePay(ended, 10_00)).GetErr())
	require.Empty(t, e.notify(t, "alphapsp", txnStatus("alice@alpha", ended, upiv1.Resp_FAILURE, "U69", "")).GetErr())
	require.Empty(t, e.notify(t, "alphapsp", collectRequest("alice@alpha", "chai@beta", ids.NewTxnID("BET"), 100)).GetErr())
	other := delegatePay(ids.NewTxnID("BET"), 100)
	other.UserAddr, other.Payer.Addr = "dave@alpha", "dave@alpha"
	require.Empty(t, e.notify(t, "alphapsp", other).GetErr())

	out, err := e.x.ListCircleApprovals(t.Context(), &upiv1.ListCircleApprovalsRequest{Vpa: "alice@alpha"})
	require.NoError(t, err)
	require.Len(t, out.GetApprovals(), 2, "the two waiting, no collect, no ended one: %v", out.GetApprovals())
	a := out.GetApprovals()[0]
	assert.Equal(t, first, a.GetTxnId(), "oldest first")
	assert.Equal(t, second, out.GetApprovals()[1].GetTxnId())
	assert.Equal(t, upiv1.Txn_PAY, a.GetType())
	assert.Equal(t, upiv1.Resp_PENDING, a.GetStatus())
	assert.Equal(t, "alice@alpha", a.GetPayerVpa())
	assert.Equal(t, "chai@beta", a.GetPayeeVpa())
	assert.Equal(t, int64(200_00), a.GetAmountPaise())
	assert.Equal(t, "tea", a.GetNote())
	assert.Equal(t, []string{first, second}, e.approvals(t, "Alice@Alpha"), "the VPA as the user typed it")
	assert.Empty(t, e.approvals(t, "bob@beta"))
	assert.Len(t, e.approvals(t, "dave@alpha"), 1)

	_, err = e.x.ListCircleApprovals(t.Context(), &upiv1.ListCircleApprovalsRequest{Vpa: "alice"})
	requireCode(t, err, codes.InvalidArgument, "vpa")
}

// ApproveCirclePayment sends PSP(P) the primary's PIN sealed to her bank
// for the txn id, and takes the payment off her list; bad input is
// InvalidArgument and sends nothing, an unknown txn NotFound, one answered
// already (or a collect) FailedPrecondition.
func TestApproveCirclePayment(t *testing.T) {
	e := newEnv(t)
	id := ids.NewTxnID("BET")
	require.Empty(t, e.notify(t, "alphapsp", delegatePay(id, 200_00)).GetErr())
	psp := e.psps["alphapsp"]

	for _, c := range []struct {
		req  *upiv1.ApproveCirclePaymentRequest
		want string
	}{
		{&upiv1.ApproveCirclePaymentRequest{Pin: "1234"}, "txn_id is required"},
		{&upiv1.ApproveCirclePaymentRequest{TxnId: id}, "pin"},
		{&upiv1.ApproveCirclePaymentRequest{TxnId: id, Pin: "12"}, "pin"},
		{&upiv1.ApproveCirclePaymentRequest{TxnId: id, Pin: "12ab"}, "pin"},
	} {
		_, err := e.x.ApproveCirclePayment(t.Context(), c.req)
		requireCode(t, err, codes.InvalidArgument, c.want)
	}
	_, err := e.x.ApproveCirclePayment(t.Context(), &upiv1.ApproveCirclePaymentRequest{TxnId: ids.NewTxnID("BET"), Pin: "1234"})
	requireCode(t, err, codes.NotFound, "no transaction")
	assert.Empty(t, respondCalls(psp), "nothing sent for bad input")
	assert.Equal(t, []string{id}, e.approvals(t, "alice@alpha"), "still waiting")

	got, err := e.x.ApproveCirclePayment(t.Context(), &upiv1.ApproveCirclePaymentRequest{TxnId: id, Pin: "1234"})
	require.NoError(t, err)
	assert.Equal(t, id, got.GetTxnId())
	assert.Equal(t, upiv1.Resp_PENDING, got.GetStatus(), "the payment goes on at PSP(P)")
	calls := respondCalls(psp)
	require.Len(t, calls, 1)
	assert.Equal(t, id, calls[0].GetTxnId())
	assert.True(t, calls[0].GetApprove())
	assert.Equal(t, "1234", e.openCred(t, "abank", calls[0].GetCred(), id), "sealed to alice's bank for the txn id")
	k := e.banks["abank"]
	_, err = pin.Open(k.HPKE, k.KeyID(), calls[0].GetCred(), ids.NewTxnID("BET"), e.n.Now())
	assert.Error(t, err, "the block opens for this txn id only")
	assert.NotContains(t, calls[0].GetCred().String(), "1234", "no PIN in the clear")
	assert.Empty(t, e.approvals(t, "alice@alpha"), "off her list")

	_, err = e.x.ApproveCirclePayment(t.Context(), &upiv1.ApproveCirclePaymentRequest{TxnId: id, Pin: "1234"})
	requireCode(t, err, codes.FailedPrecondition, "no delegated payment waiting")
	_, err = e.x.DeclineCirclePayment(t.Context(), &upiv1.DeclineCirclePaymentRequest{TxnId: id})
	requireCode(t, err, codes.FailedPrecondition, "no delegated payment waiting")
	assert.Len(t, respondCalls(psp), 1, "answered once")

	collect := ids.NewTxnID("BET")
	require.Empty(t, e.notify(t, "alphapsp", collectRequest("alice@alpha", "chai@beta", collect, 100)).GetErr())
	_, err = e.x.ApproveCirclePayment(t.Context(), &upiv1.ApproveCirclePaymentRequest{TxnId: collect, Pin: "1234"})
	requireCode(t, err, codes.FailedPrecondition, "no delegated payment")
}

// DeclineCirclePayment sends PSP(P) a decline without a PIN block and
// takes the payment off the list; a PSP that no longer waits
// (FailedPrecondition: expired at PSP(P)) also takes it off; one that
// cannot be reached leaves it listed, to answer again.
func TestDeclineCirclePayment(t *testing.T) {
	e := newEnv(t)
	id := ids.NewTxnID("BET")
	require.Empty(t, e.notify(t, "alphapsp", delegatePay(id, 50_00)).GetErr())
	psp := e.psps["alphapsp"]

	_, err := e.x.DeclineCirclePayment(t.Context(), &upiv1.DeclineCirclePaymentRequest{})
	requireCode(t, err, codes.InvalidArgument, "txn_id is required")
	_, err = e.x.DeclineCirclePayment(t.Context(), &upiv1.DeclineCirclePaymentRequest{TxnId: ids.NewTxnID("BET")})
	requireCode(t, err, codes.NotFound, "no transaction")

	psp.mu.Lock()
	psp.err = status.Error(codes.Unavailable, "PSP down")
	psp.mu.Unlock()
	_, err = e.x.DeclineCirclePayment(t.Context(), &upiv1.DeclineCirclePaymentRequest{TxnId: id})
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	assert.Equal(t, []string{id}, e.approvals(t, "alice@alpha"), "not answered: still listed")

	psp.mu.Lock()
	psp.err = nil
	psp.mu.Unlock()
	got, err := e.x.DeclineCirclePayment(t.Context(), &upiv1.DeclineCirclePaymentRequest{TxnId: id})
	require.NoError(t, err)
	assert.Equal(t, id, got.GetTxnId())
	calls := respondCalls(psp)
	require.NotEmpty(t, calls)
	last := calls[len(calls)-1]
	assert.Equal(t, id, last.GetTxnId())
	assert.False(t, last.GetApprove())
	assert.Nil(t, last.GetCred(), "a decline takes no PIN")
	assert.Empty(t, e.approvals(t, "alice@alpha"))
	_, err = e.x.DeclineCirclePayment(t.Context(), &upiv1.DeclineCirclePaymentRequest{TxnId: id})
	requireCode(t, err, codes.FailedPrecondition, "no delegated payment waiting")

	// PSP(P) no longer waits (the approval expired there): off the list,
	// the PSP's FailedPrecondition passed on.
	expired := ids.NewTxnID("BET")
	require.Empty(t, e.notify(t, "alphapsp", delegatePay(expired, 10_00)).GetErr())
	psp.mu.Lock()
	psp.err = status.Error(codes.FailedPrecondition, "delegated payment is no longer waiting for approval")
	psp.mu.Unlock()
	_, err = e.x.ApproveCirclePayment(t.Context(), &upiv1.ApproveCirclePaymentRequest{TxnId: expired, Pin: "1234"})
	requireCode(t, err, codes.FailedPrecondition, "no longer waiting")
	assert.Empty(t, e.approvals(t, "alice@alpha"), "taken off the list")
}

// The REST routes of step 7: GET /v1/users/{vpa}/circle/approvals, POST
// /v1/circle/payments/{txn_id}/approve (body {"pin"}) and …/decline, with
// the gateway's status codes (400, 404, 409).
func TestCircleApprovalsREST(t *testing.T) {
	e, h := restEnv(t)
	approve, decline := ids.NewTxnID("BET"), ids.NewTxnID("BET")
	require.Empty(t, e.notify(t, "alphapsp", delegatePay(approve, 200_00)).GetErr())
	require.Empty(t, e.notify(t, "alphapsp", delegatePay(decline, 50_00)).GetErr())

	code, out := do(t, h, "GET", "/v1/users/alice@alpha/circle/approvals", "")
	require.Equal(t, 200, code, "%v", out)
	list, _ := out["approvals"].([]any)
	require.Len(t, list, 2, "%v", out)
	a, _ := list[0].(map[string]any)
	assert.Equal(t, approve, a["txn_id"])
	assert.Equal(t, "PENDING", a["status"])
	assert.Equal(t, "20000", a["amount_paise"])
	assert.Equal(t, "chai@beta", a["payee_vpa"])

	code, out = do(t, h, "GET", "/v1/users/alice/circle/approvals", "")
	assert.Equal(t, 400, code, "%v", out)

	code, out = do(t, h, "POST", "/v1/circle/payments/"+approve+"/approve", `{"pin":"12"}`)
	assert.Equal(t, 400, code, "%v", out)
	code, out = do(t, h, "POST", "/v1/circle/payments/"+ids.NewTxnID("BET")+"/approve", `{"pin":"1234"}`)
	assert.Equal(t, 404, code, "%v", out)

	code, out = do(t, h, "POST", "/v1/circle/payments/"+approve+"/approve", `{"pin":"1234"}`)
	require.Equal(t, 200, code, "%v", out)
	assert.Equal(t, approve, out["txn_id"])
	assert.Equal(t, "PENDING", out["status"])
	calls := respondCalls(e.psps["alphapsp"])
	require.Len(t, calls, 1)
	assert.True(t, calls[0].GetApprove())
	assert.Equal(t, "1234", e.openCred(t, "abank", calls[0].GetCred(), approve))

	code, out = do(t, h, "POST", "/v1/circle/payments/"+approve+"/approve", `{"pin":"1234"}`)
	assert.Equal(t, 409, code, "answered twice: %v", out)

	code, out = do(t, h, "POST", "/v1/circle/payments/"+decline+"/decline", `{}`)
	require.Equal(t, 200, code, "%v", out)
	assert.Equal(t, decline, out["txn_id"])
	calls = respondCalls(e.psps["alphapsp"])
	require.Len(t, calls, 2)
	assert.False(t, calls[1].GetApprove())
	code, out = do(t, h, "POST", "/v1/circle/payments/"+decline+"/decline", `{}`)
	assert.Equal(t, 409, code, "%v", out)

	// The primary's list is empty once both are answered; a PSP(P)
	// status later moves the payment on as any other.
	code, out = do(t, h, "GET", "/v1/users/alice@alpha/circle/approvals", "")
	require.Equal(t, 200, code, "%v", out)
	assert.Empty(t, out["approvals"])
	require.Empty(t, e.notify(t, "alphapsp", txnStatus("alice@alpha", approve, upiv1.Resp_SUCCESS, "", "612345000001")).GetErr())
	code, out = do(t, h, "GET", "/v1/payments/"+approve+"?wait_ms=500", "")
	require.Equal(t, 200, code, "%v", out)
	assert.Equal(t, "SUCCESS", out["status"])
	assert.Equal(t, "612345000001", out["rrn"])
}
