package tpap

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// TestBusyAppRefusesAtOnce: an app working on its limit of requests
// refuses a payment with RESOURCE_EXHAUSTED (HTTP 429) before it asks the
// PSP anything, so nothing is half done; with room again it pays.
func TestBusyAppRefusesAtOnce(t *testing.T) {
	e := newEnv(t)
	_, limit := e.n.InFlight()
	for range limit {
		require.NoError(t, e.n.Acquire())
	}
	req := &upiv1.CreatePaymentRequest{PayerVpa: "alice@alpha", PayeeVpa: "bob@beta", AmountPaise: 100, Pin: "1234"}
	_, err := e.x.CreatePayment(t.Context(), req)
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	_, err = e.x.CreateCollect(t.Context(), &upiv1.CreateCollectRequest{PayerVpa: "bob@beta", PayeeVpa: "alice@alpha", AmountPaise: 100})
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	for name, p := range e.psps {
		assert.Empty(t, p.Calls(), "PSP %s was not asked", name)
	}

	for range limit {
		e.n.Release()
	}
	r, err := e.x.CreatePayment(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_PENDING, r.GetStatus())
	now, _ := e.n.InFlight()
	assert.Zero(t, now)
}
