package integration

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
)

func (n *net) collect(from, to, amount string) cli.TxnResult {
	n.t.Helper()
	r, err := cli.Collect(context.Background(), io.Discard, cli.CollectOptions{DataDir: n.dir, From: from, To: to, Amount: amount})
	require.NoError(n.t, err)
	require.Equal(n.t, "PENDING", r.Status)
	return r
}

// waitPrompt waits until the payer's app shows the collect request.
func (n *net) waitPrompt(payer, txnID string) {
	n.t.Helper()
	tp, err := n.c.TPAP()
	require.NoError(n.t, err)
	eventually(n.t, func() bool {
		r, err := tp.ListCollects(context.Background(), &upiv1.ListCollectsRequest{Vpa: payer})
		require.NoError(n.t, err)
		for _, c := range r.GetCollects() {
			if c.GetTxnId() == txnID {
				return true
			}
		}
		return false
	}, "collect request reaches the payer's app")
}

func TestCollectApprove(t *testing.T) {
	n := up(t, nil)
	c := n.collect("alice@alpha", "bob@beta", "50.00")
	n.waitPrompt("alice@alpha", c.TxnID)
	r, err := cli.Approve(context.Background(), io.Discard, cli.ApproveOptions{DataDir: n.dir, TxnID: c.TxnID, PIN: "1234", Timeout: 20 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, "SUCCESS", r.Status)
	assert.Regexp(t, rrnRE, r.RRN)
	assert.Equal(t, int64(995000), n.balance("alice@alpha"))
	assert.Equal(t, int64(505000), n.balance("bob@beta"))
	waitQuiet(t, n)
	got := received(n.trace(c.TxnID))
	assert.Equal(t, []string{"betapsp→npci ReqPay", "npci→alphapsp ReqAuthDetails"}, got[:2])
	for _, want := range []string{"alphapsp→tpap Notify", "alphapsp→npci RespAuthDetails", "npci→abank ReqPay", "npci→bbank ReqPay", "npci→betapsp RespPay", "npci→alphapsp ReqTxnConfirmation"} {
		assert.Contains(t, got, want)
	}
	// The payer's app no longer lists it.
	tp, _ := n.c.TPAP()
	lc, err := tp.ListCollects(context.Background(), &upiv1.ListCollectsRequest{Vpa: "alice@alpha"})
	require.NoError(t, err)
	assert.Empty(t, lc.GetCollects())
	// Approving again is refused with a clear error.
	_, err = cli.Approve(context.Background(), io.Discard, cli.ApproveOptions{DataDir: n.dir, TxnID: c.TxnID, PIN: "1234", NoWait: true})
	assert.Error(t, err)
}

func TestCollectDecline(t *testing.T) {
	n := up(t, nil)
	c := n.collect("alice@alpha", "bob@beta", "50.00")
	n.waitPrompt("alice@alpha", c.TxnID)
	r, err := cli.Approve(context.Background(), io.Discard, cli.ApproveOptions{DataDir: n.dir, TxnID: c.TxnID, Decline: true, Timeout: 20 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, "FAILURE", r.Status)
	assert.Equal(t, "ZA", r.ErrCode)
	assert.Equal(t, int64(1000000), n.balance("alice@alpha"))
}

func TestCollectWrongPIN(t *testing.T) {
	n := up(t, nil)
	c := n.collect("alice@alpha", "bob@beta", "50.00")
	n.waitPrompt("alice@alpha", c.TxnID)
	r, err := cli.Approve(context.Background(), io.Discard, cli.ApproveOptions{DataDir: n.dir, TxnID: c.TxnID, PIN: "0000", Timeout: 20 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, "FAILURE", r.Status)
	assert.Equal(t, "ZM", r.ErrCode)
}

// On a fake clock: the collect's expiry passes when the test moves the
// network's clock to its timers, not after a wait of real time.
func TestCollectExpires(t *testing.T) {
	clk := nodetest.NewClock(time.Now())
	n := upOn(t, clk, func(c *config.Network) { c.Timeouts.CollectExpiryMax = 300 * time.Millisecond })
	c := n.collect("alice@alpha", "bob@beta", "50.00")
	n.waitPrompt("alice@alpha", c.TxnID)
	before := clk.Now()
	// Up to 30 minutes on: the switch's daily Lite reconciliation (a day
	// on) is no timer of the collect's.
	for steps := 0; stepBefore(t, clk, before.Add(30*time.Minute), n.nodes()...); steps++ {
		require.Less(t, steps, 10, "the timers of one collect run out")
	}
	moved := clk.Now().Sub(before)
	require.GreaterOrEqual(t, moved, 300*time.Millisecond, "the clock went past the capped expiry")
	require.Less(t, moved, 30*time.Minute, "the cap, not the default 30 minutes, set the expiry")
	tp, err := n.c.TPAP()
	require.NoError(t, err)
	g, err := tp.GetPayment(context.Background(), &upiv1.GetPaymentRequest{TxnId: c.TxnID, WaitMs: 10000})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_FAILURE, g.GetStatus())
	assert.Equal(t, "U69", g.GetErrCode())
	// The payer hears of it too, and a late approval changes nothing.
	eventually(t, func() bool {
		return n.nodeTxn("alphapsp", c.TxnID).GetTransaction().GetStatus() == upiv1.Resp_FAILURE
	}, "payer PSP learns the collect expired")
	_, err = cli.Approve(context.Background(), io.Discard, cli.ApproveOptions{DataDir: n.dir, TxnID: c.TxnID, PIN: "1234", NoWait: true})
	assert.Error(t, err, "approving an expired collect is refused")
	assert.Equal(t, int64(1000000), n.balance("alice@alpha"))
}

// stepBefore is nodetest.Step for the timers due before horizon only: it
// reports false, moving nothing, when the nodes have none.
func stepBefore(t *testing.T, clk *nodetest.Clock, horizon time.Time, nodes ...*node.Node) bool {
	t.Helper()
	nodetest.Quiesce(t, nodes...)
	for _, nd := range nodes {
		at, ok, err := nd.NextTimer()
		require.NoError(t, err)
		if ok && at.Before(horizon) {
			return nodetest.Step(t, clk, nodes...)
		}
	}
	return false
}

func TestValAdd(t *testing.T) {
	n := up(t, nil)
	tp, err := n.c.TPAP()
	require.NoError(t, err)
	r, err := tp.ValidateAddress(context.Background(), &upiv1.ValidateAddressRequest{Vpa: "chai@beta", RequesterVpa: "alice@alpha"})
	require.NoError(t, err)
	d := r.GetDetails()
	assert.Equal(t, upiv1.Resp_SUCCESS, d.GetResult())
	assert.Equal(t, "Chai Point", d.GetName())
	assert.Equal(t, "5812", d.GetCode())
	assert.Equal(t, upiv1.Party_ENTITY, d.GetType())

	r, err = tp.ValidateAddress(context.Background(), &upiv1.ValidateAddressRequest{Vpa: "nobody@beta", RequesterVpa: "alice@alpha"})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_FAILURE, r.GetDetails().GetResult())
	assert.Equal(t, "U29", r.GetDetails().GetErrCode())
}

func TestHeartbeat(t *testing.T) {
	n := up(t, func(c *config.Network) { c.Heartbeat = 50 * time.Millisecond })
	for _, psp := range []string{"alphapsp", "betapsp"} {
		a, err := n.c.Admin(psp)
		require.NoError(t, err)
		eventually(t, func() bool {
			h, err := a.Health(context.Background(), &upiv1.HealthRequest{})
			require.NoError(t, err)
			return h.GetLastHeartbeat() != nil
		}, psp+" gets RespHbt from the switch")
	}
}
