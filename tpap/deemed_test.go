package tpap

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// A waiting GetPayment waits through DEEMED for the final status the PSP
// reports once the switch decided; one whose wait ends first answers
// DEEMED.
func TestGetPaymentDeemedThenFinal(t *testing.T) {
	e := newEnv(t)
	resp, err := e.x.CreatePayment(t.Context(), pay("alice@alpha", "bob@beta", 500, "1234"))
	require.NoError(t, err)
	id := resp.GetTxnId()

	done := make(chan *upiv1.GetPaymentResponse, 1)
	go func() {
		r, err := e.x.GetPayment(context.Background(), &upiv1.GetPaymentRequest{TxnId: id, WaitMs: 10_000})
		assert.NoError(t, err)
		done <- r
	}()
	require.Empty(t, e.notify(t, "alphapsp", txnStatus("alice@alpha", id, upiv1.Resp_DEEMED, "RB", "512345678901")).GetErr())

	// Not final: a short wait answers DEEMED, the long one keeps waiting.
	got, err := e.x.GetPayment(t.Context(), &upiv1.GetPaymentRequest{TxnId: id, WaitMs: 20})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_DEEMED, got.GetStatus())
	assert.Equal(t, "RB", got.GetErrCode())
	select {
	case r := <-done:
		t.Fatalf("GetPayment returned %s before the final status", r.GetStatus())
	default:
	}

	require.Empty(t, e.notify(t, "alphapsp", txnStatus("alice@alpha", id, upiv1.Resp_SUCCESS, "", "512345678901")).GetErr())
	select {
	case r := <-done:
		assert.Equal(t, upiv1.Resp_SUCCESS, r.GetStatus())
		assert.Empty(t, r.GetErrCode())
		assert.Equal(t, "512345678901", r.GetRrn())
	case <-time.After(5 * time.Second):
		t.Fatal("GetPayment did not return on the final status")
	}
}
