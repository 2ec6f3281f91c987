package psp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/store"
)

// fill takes every in-flight slot of n and returns what gives them back.
func fill(t *testing.T, n *node.Node) (release func()) {
	t.Helper()
	_, limit := n.InFlight()
	for range limit {
		require.NoError(t, n.Acquire())
	}
	return func() {
		for range limit {
			n.Release()
		}
	}
}

// TestBusyPSPRefusesAppCalls: a PSP working on its limit of requests
// answers an app call that would write at once with RESOURCE_EXHAUSTED
// (HTTP 429), having stored and sent nothing; once it has room the same
// call goes through.
func TestBusyPSPRefusesAppCalls(t *testing.T) {
	f := newFixture(t, alpha, nil)
	release := fill(t, f.n)
	req := &upiv1.InitiatePayRequest{PayerVpa: "alice@alpha", PayeeVpa: "bob@beta", AmountPaise: 100, Cred: pintest.Opaque("1234", "")}
	_, err := f.p.InitiatePay(t.Context(), req)
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	_, err = f.p.InitiateCollect(t.Context(), &upiv1.InitiateCollectRequest{PayerVpa: "bob@beta", PayeeVpa: "alice@alpha", AmountPaise: 100})
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	_, err = f.p.ResolveAddress(t.Context(), &upiv1.ResolveAddressRequest{Vpa: "bob@beta", RequesterVpa: "alice@alpha"})
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	require.NoError(t, f.n.View(func(tx *store.Tx) error {
		assert.Zero(t, tx.Count(store.Txns), "a refused call stores nothing")
		return nil
	}))
	assert.Empty(t, f.rec.All(), "and sends nothing")

	release()
	resp, err := f.p.InitiatePay(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_PENDING, resp.GetTransaction().GetStatus())
	now, _ := f.n.InFlight()
	assert.Zero(t, now, "the call gave its slot back")
}
