package cluster

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/metadata"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	merchantv1 "github.com/upisim/upisim/gen/go/upisim/merchant/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/psp"
)

// A PSP node's OnLiteCredit is its merchant layer's: the switch's
// LITE_SYNC confirmation of a record naming chai@beta's order pays it.
func TestPSPNodeLiteCreditPaysOrder(t *testing.T) {
	net := config.Default()
	net.Heartbeat = 0
	self, ok := net.NodeByName("betapsp")
	require.True(t, ok)
	var cfg psp.Config
	p, err := newPSPNode(net, self, nil, func(c *psp.Config) { cfg = *c })
	require.NoError(t, err)
	require.NotNil(t, cfg.OnLiteCredit, "the PSP's Lite credit hook is set")
	n := nodetest.New(t, "betapsp", p.PSP, nodetest.NewRecorder())
	p.Attach(n)
	require.NoError(t, p.Seed())

	ctx := metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", "Bearer sk_test_chai_4f9b2c7e1d8a"))
	o, err := p.Merchant.CreateOrder(ctx, &merchantv1.CreateOrderRequest{AmountCents: 15000})
	require.NoError(t, err)
	rec := &upiv1.LiteRecordResult{
		Counter: 1, ProvisionalUtr: "P12345678901", Result: upiv1.Resp_SUCCESS, Utr: "612345678901", Lrn: "LRN0000000001",
		PayerAddr: "alice@alpha", PayeeAddr: "chai@beta", AmountPaise: 15000, OrderId: o.GetOrderId(), PayeeDeviceId: "chai-pos",
	}
	require.NoError(t, n.Update(func(c *node.Ctx) error { return cfg.OnLiteCredit(c, []*upiv1.LiteRecordResult{rec}) }))
	got, err := p.Merchant.GetOrder(ctx, &merchantv1.GetOrderRequest{OrderId: o.GetOrderId()})
	require.NoError(t, err)
	assert.Equal(t, "SUCCESS", got.GetTransactionStatus())
	require.Len(t, got.GetAttempts(), 1)
	assert.Equal(t, "612345678901", got.GetAttempts()[0].GetRrn())
}
