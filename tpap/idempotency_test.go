package tpap

import (
	"github.com/upisim/upisim/internal/upi"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/gateway"
	"github.com/upisim/upisim/internal/store"
)

func requireCode(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	require.Error(t, err)
	assert.Equal(t, code, status.Code(err), "%v", err)
	assert.Contains(t, status.Convert(err).Message(), msg)
}

func TestCreatePaymentIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	req := withKey(pay("alice@alpha", "bob@beta", 12_345, "1234"), "order-42")
	first, err := e.x.CreatePayment(t.Context(), req)
	require.NoError(t, err)

	// The outcome arrives; a repeat answers the same transaction with its
	// current status, and the PSP is not asked again.
	require.Empty(t, e.notify(t, "alphapsp", txnStatus("alice@alpha", first.GetTxnId(), upiv1.Resp_SUCCESS, "", "512345678901")).GetErr())
	again, err := e.x.CreatePayment(t.Context(), withKey(pay("alice@alpha", "BOB@beta", 12_345, "1234"), "order-42"))
	require.NoError(t, err)
	assert.Equal(t, first.GetTxnId(), again.GetTxnId())
	assert.Equal(t, upiv1.Resp_SUCCESS, again.GetStatus())
	assert.Len(t, e.psps["alphapsp"].Calls(), 1, "a repeat does not call the PSP")

	// The same key for anything else is refused, and changes nothing.
	for name, other := range map[string]*upiv1.CreatePaymentRequest{
		"other amount": withKey(pay("alice@alpha", "bob@beta", 12_346, "1234"), "order-42"),
		"other payee":  withKey(pay("alice@alpha", "carol@beta", 12_345, "1234"), "order-42"),
		"other note":   withKey(withNote(pay("alice@alpha", "bob@beta", 12_345, "1234"), "lunch"), "order-42"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.x.CreatePayment(t.Context(), other)
			requireCode(t, err, codes.AlreadyExists, `idempotency key "order-42" was used for a different request (transaction `+first.GetTxnId())
		})
	}
	_, err = e.x.CreateCollect(t.Context(), &upiv1.CreateCollectRequest{PayeeVpa: "alice@alpha", PayerVpa: "bob@beta", AmountPaise: 12_345, Note: "dinner", IdempotencyKey: "order-42"})
	requireCode(t, err, codes.AlreadyExists, "order-42")
	assert.Len(t, e.psps["alphapsp"].Calls(), 1)

	// Another key is another payment.
	third, err := e.x.CreatePayment(t.Context(), withKey(pay("alice@alpha", "bob@beta", 12_345, "1234"), "order-43"))
	require.NoError(t, err)
	assert.NotEqual(t, first.GetTxnId(), third.GetTxnId())

	// The keys are kept in the app's store, so a restart keeps them.
	require.NoError(t, e.x.n.View(func(tx *store.Tx) error {
		assert.Equal(t, 2, tx.Count(store.IdempotencyKeys))
		return nil
	}))
}

func TestCreateCollectIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	req := &upiv1.CreateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "alice@alpha", AmountPaise: 2_000, Note: "tea", IdempotencyKey: "c-1"}
	first, err := e.x.CreateCollect(t.Context(), req)
	require.NoError(t, err)
	again, err := e.x.CreateCollect(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, first.GetTxnId(), again.GetTxnId())
	assert.Len(t, e.psps["betapsp"].Calls(), 1)

	other := &upiv1.CreateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "alice@alpha", AmountPaise: 2_000, Note: "tea", ExpireAfterMinutes: 5, IdempotencyKey: "c-1"}
	_, err = e.x.CreateCollect(t.Context(), other)
	requireCode(t, err, codes.AlreadyExists, "c-1")
}

// The header (gRPC metadata from the gateway) is the key when the field is
// empty, and must agree with the field when both are given.
func TestIdempotencyKeyFromMetadata(t *testing.T) {
	e := newEnv(t)
	ctx := metadata.NewIncomingContext(t.Context(), metadata.Pairs(gateway.IdempotencyKeyMD, "hdr-1"))
	first, err := e.x.CreatePayment(ctx, pay("alice@alpha", "bob@beta", 100, "1234"))
	require.NoError(t, err)
	again, err := e.x.CreatePayment(t.Context(), withKey(pay("alice@alpha", "bob@beta", 100, "1234"), "hdr-1"))
	require.NoError(t, err)
	assert.Equal(t, first.GetTxnId(), again.GetTxnId(), "header and field name the same key")

	_, err = e.x.CreatePayment(ctx, withKey(pay("alice@alpha", "bob@beta", 100, "1234"), "hdr-2"))
	requireCode(t, err, codes.InvalidArgument, `the Idempotency-Key header "hdr-1" and the body's idempotency_key "hdr-2" differ`)
	assert.Len(t, e.psps["alphapsp"].Calls(), 1)
}

// The app chooses the transaction id and sends it with every attempt, so
// when the PSP's answer is lost and the app calls again, the PSP starts one
// transaction, not two.
func TestPSPRetryCannotPayTwice(t *testing.T) {
	e := newEnv(t)
	psp := e.psps["alphapsp"]
	psp.lose = 2 // the PSP takes the first two calls, and their answers are lost
	resp, err := e.x.CreatePayment(t.Context(), pay("alice@alpha", "bob@beta", 500, "1234"))
	require.NoError(t, err)
	calls := psp.Calls()
	require.Len(t, calls, 3, "two attempts lost, the third answered")
	for _, c := range calls {
		assert.Equal(t, resp.GetTxnId(), c.(*upiv1.InitiatePayRequest).GetTxnId(), "every attempt carries the same txn_id")
	}
	assert.Equal(t, map[string]int{resp.GetTxnId(): 3}, psp.Started(), "one transaction")

	// When no attempt is answered, the client's repeat under its key goes
	// on with the same id.
	psp.lose = 3
	_, err = e.x.CreatePayment(t.Context(), withKey(pay("alice@alpha", "bob@beta", 600, "1234"), "k"))
	requireCode(t, err, codes.Unavailable, "answer was lost")
	again, err := e.x.CreatePayment(t.Context(), withKey(pay("alice@alpha", "bob@beta", 600, "1234"), "k"))
	require.NoError(t, err)
	assert.Equal(t, 4, psp.Started()[again.GetTxnId()], "the key's one id, asked four times")
	assert.Len(t, psp.Started(), 2)
}

// The same note and amount limits as the switch, at CreateCollect too.
func TestCreateCollectValidatesLikeTheSwitch(t *testing.T) {
	e := newEnv(t)
	for name, tc := range map[string]struct {
		req *upiv1.CreateCollectRequest
		msg string
	}{
		"note too long": {&upiv1.CreateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "alice@alpha", AmountPaise: 1, Note: strings.Repeat("x", 51)}, "note is 51 characters long"},
		"control char":  {&upiv1.CreateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "alice@alpha", AmountPaise: 1, Note: "\x1b[31m"}, "control character U+001B"},
		"huge amount":   {&upiv1.CreateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "alice@alpha", AmountPaise: upi.MaxAmountPaise + 1}, "more than the largest amount"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.x.CreateCollect(t.Context(), tc.req)
			requireCode(t, err, codes.InvalidArgument, tc.msg)
		})
	}
	assert.Empty(t, e.psps["betapsp"].Calls())
}
