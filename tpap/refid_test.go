package tpap

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// A payment from a merchant's intent carries the order id (the intent's tr)
// to the payer's PSP as ref_id, and it is part of what a repeat must match.
func TestCreatePaymentPassesRefID(t *testing.T) {
	e := newEnv(t)
	req := withKey(pay("alice@alpha", "chai@beta", 15_000, "1234"), "intent-1")
	req.RefId = "order_7"
	resp, err := e.x.CreatePayment(t.Context(), req)
	require.NoError(t, err)
	calls := e.psps["alphapsp"].Calls()
	require.Len(t, calls, 1)
	got, ok := calls[0].(*upiv1.InitiatePayRequest)
	require.True(t, ok, "InitiatePay, got %T", calls[0])
	assert.Equal(t, "order_7", got.GetRefId())
	assert.Equal(t, resp.GetTxnId(), got.GetTxnId())

	other := withKey(pay("alice@alpha", "chai@beta", 15_000, "1234"), "intent-1")
	other.RefId = "order_8"
	_, err = e.x.CreatePayment(t.Context(), other)
	requireCode(t, err, codes.AlreadyExists, `idempotency key "intent-1" was used for a different request`)

	long := pay("alice@alpha", "chai@beta", 15_000, "1234")
	long.RefId = "bad\x01id"
	_, err = e.x.CreatePayment(t.Context(), long)
	requireCode(t, err, codes.InvalidArgument, "ref_id")
	assert.Len(t, e.psps["alphapsp"].Calls(), 1, "refused requests reach no PSP")
}
