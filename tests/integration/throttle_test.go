package integration

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/config"
)

// A PSP that sends the switch more requests a second than its limit is
// throttled, not failed: the switch refuses the excess with
// RESOURCE_EXHAUSTED, alphapsp's outbox backs off and sends them again,
// and every payment ends SUCCESS, once, with the books in order.
func TestThrottledPSPPaymentsAllSucceed(t *testing.T) {
	const pays, tps, burst = 60, 10, 5
	n := up(t, func(c *config.Network) {
		c.Limits.Throttle = map[string]config.Throttle{"alphapsp": {TPS: tps, Burst: burst}}
	})
	alice, bob := n.balance("alice@alpha"), n.balance("bob@beta")

	results := make([]cli.TxnResult, pays)
	errs := make([]error, pays)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range pays {
		wg.Go(func() {
			results[i], errs[i] = cli.Pay(context.Background(), io.Discard, cli.PayOptions{
				DataDir: n.dir, From: "alice@alpha", To: "bob@beta", Amount: "1.00", PIN: "1234", Timeout: time.Minute,
			})
		})
	}
	wg.Wait()
	took := time.Since(start)
	seen := map[string]bool{}
	for i := range pays {
		require.NoError(t, errs[i], "payment %d", i)
		assert.Equal(t, "SUCCESS", results[i].Status, "payment %d (%s): err code %s", i, results[i].TxnID, results[i].ErrCode)
		assert.False(t, seen[results[i].TxnID], "txn id %s twice", results[i].TxnID)
		seen[results[i].TxnID] = true
	}

	sw, ok := n.nw.Node("npci")
	require.True(t, ok)
	refused := sw.Node.Throttled()
	assert.Positive(t, refused, "the switch refused some of alphapsp's ReqPays")
	t.Logf("%d payments in %s; the switch throttled %d ReqPays", pays, took.Round(time.Millisecond), refused)
	// The bucket lets burst through at once and tps a second after: the
	// last ReqPay cannot have been taken before (pays-burst)/tps seconds.
	assert.GreaterOrEqual(t, took, time.Duration(float64(time.Second)*(pays-burst)/tps)*9/10)
	for _, name := range []string{"betapsp", "abank", "bbank", "tpap"} {
		nd, ok := n.nw.Node(name)
		require.True(t, ok)
		assert.Zero(t, nd.Node.Throttled(), "only the switch throttles, and only alphapsp: %s", name)
	}

	// Each payment reached the switch once and was decided once.
	a, err := n.c.Admin("npci")
	require.NoError(t, err)
	h, err := a.Health(context.Background(), &upiv1.HealthRequest{})
	require.NoError(t, err)
	assert.Equal(t, sw.Node.Throttled(), h.GetThrottled(), "the switch's health says how many it throttled")
	list, err := a.ListTransactions(context.Background(), &upiv1.ListTransactionsRequest{})
	require.NoError(t, err)
	var paid int
	for _, tx := range list.GetTransactions() {
		if seen[tx.GetTxnId()] {
			paid++
			assert.Equal(t, upiv1.Resp_SUCCESS, tx.GetStatus(), tx.GetTxnId())
		}
	}
	assert.Equal(t, pays, paid, "the switch has every payment")
	assert.Equal(t, alice-pays*100, n.balance("alice@alpha"))
	assert.Equal(t, bob+pays*100, n.balance("bob@beta"))

	waitQuiet(t, n)
	res, out, err := n.audit()
	require.NoError(t, err, out)
	assert.True(t, res.OK, out)
}
