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

// When PSP(S)'s answer to CreateCirclePayment was lost (it crashed), its
// notification to the secondary is the app's first word of the payment: the
// record it makes still names the secondary, as an audit needs to find the
// payment's payee look-up at the switch. A notification to the payer names
// none.
func TestNotifyFirstWordOfDelegatedPayment(t *testing.T) {
	e := newEnv(t)
	n := txnStatus("Carol@beta", "BET000000000000000000000000000000c1", upiv1.Resp_FAILURE, "U09", "")
	n.Payer = &upiv1.Party{Addr: "alice@alpha", AmountPaise: 100}
	n.Payee = &upiv1.Party{Addr: "chai@beta", AmountPaise: 100}
	require.Empty(t, e.notify(t, "betapsp", n).GetErr())
	n = txnStatus("alice@alpha", "ALP000000000000000000000000000000a1", upiv1.Resp_SUCCESS, "", "512345678901")
	n.Payer = &upiv1.Party{Addr: "alice@alpha", AmountPaise: 100}
	n.Payee = &upiv1.Party{Addr: "chai@beta", AmountPaise: 100}
	require.Empty(t, e.notify(t, "alphapsp", n).GetErr())

	got, _, err := e.x.ListTxns("", 10)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, "ALP000000000000000000000000000000a1", got[0].GetTxnId())
	assert.Empty(t, got[0].GetSecondaryVpa())
	assert.Equal(t, "BET000000000000000000000000000000c1", got[1].GetTxnId())
	assert.Equal(t, "carol@beta", got[1].GetSecondaryVpa())
	assert.Equal(t, "alice@alpha", got[1].GetPayerVpa())
	assert.Equal(t, upiv1.Resp_FAILURE, got[1].GetStatus())
}
