package tpap

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// CreateCirclePayment goes to the secondary's PSP (PSP(S)) with a txn id
// of its prefix and no PIN; GetPayment follows it from PSP(S)'s
// notification to the secondary.
func TestCreateCirclePayment(t *testing.T) {
	e := newEnv(t)
	got, err := e.x.CreateCirclePayment(t.Context(), &upiv1.CreateCirclePaymentRequest{
		SecondaryVpa: "carol@beta", PayeeVpa: "chai@beta", AmountPaise: 200_00, Note: "tea"})
	require.NoError(t, err)
	assert.Equal(t, "BET", got.GetTxnId()[:3])
	assert.Equal(t, upiv1.Resp_PENDING, got.GetStatus())
	calls := e.psps["betapsp"].Calls()
	require.Len(t, calls, 1)
	req, ok := calls[0].(*upiv1.InitiateDelegatedPayRequest)
	require.True(t, ok, "%T", calls[0])
	assert.Equal(t, "carol@beta", req.GetSecondaryVpa())
	assert.Equal(t, got.GetTxnId(), req.GetTxnId())

	require.Empty(t, e.notify(t, "betapsp", txnStatus("carol@beta", got.GetTxnId(), upiv1.Resp_SUCCESS, "", "512345678901")).GetErr())
	p, err := e.x.GetPayment(t.Context(), &upiv1.GetPaymentRequest{TxnId: got.GetTxnId()})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_SUCCESS, p.GetStatus())
	assert.Equal(t, "512345678901", p.GetRrn())

	_, err = e.x.CreateCirclePayment(t.Context(), &upiv1.CreateCirclePaymentRequest{
		SecondaryVpa: "carol@beta", PayeeVpa: "chai@beta", AmountPaise: 0})
	requireCode(t, err, codes.InvalidArgument, "amount_paise")
	// Errors name the request's own fields: the secondary, not a payer.
	_, err = e.x.CreateCirclePayment(t.Context(), &upiv1.CreateCirclePaymentRequest{
		SecondaryVpa: "carol", PayeeVpa: "chai@beta", AmountPaise: 100})
	requireCode(t, err, codes.InvalidArgument, "secondary_vpa")
	_, err = e.x.CreateCirclePayment(t.Context(), &upiv1.CreateCirclePaymentRequest{
		SecondaryVpa: "carol@beta", PayeeVpa: "carol@beta", AmountPaise: 100})
	requireCode(t, err, codes.InvalidArgument, "secondary_vpa and payee_vpa")
}
