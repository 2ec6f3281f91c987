package integration

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/node"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// net is a running network for one test.
type net struct {
	t    *testing.T
	dir  string
	nw   *cluster.Network
	cfg  *config.Network
	c    *cli.Client
	base int64 // total money at start
	// clock is every node's clock; nil is the real one (upOn sets it).
	clock node.Clock
}

// up starts the network (the default one unless change edits it) in a
// temporary folder, and checks at the end of the test that money was
// conserved.
func up(t *testing.T, change func(*config.Network)) *net {
	t.Helper()
	return upOn(t, nil, change)
}

// upOn is up with every node on clock (nil: the real one), also after a
// restart.
func upOn(t *testing.T, clock node.Clock, change func(*config.Network)) *net {
	t.Helper()
	cfg := config.Default()
	cfg.Heartbeat = 0
	cfg.PIN.HashTime, cfg.PIN.HashMemoryKiB = 1, 64 // cheap PIN hashes: tests start many networks
	if change != nil {
		change(cfg)
	}
	n := &net{t: t, dir: t.TempDir(), cfg: cfg, clock: clock}
	n.start()
	n.base = n.total()
	t.Cleanup(func() {
		if n.nw == nil {
			return
		}
		waitQuiet(t, n)
		assert.Equal(t, n.base, n.total(), "money must be conserved across all banks")
		n.stop()
	})
	return n
}

func (n *net) start() {
	n.t.Helper()
	nw, err := cluster.Up(cluster.UpOptions{Network: n.cfg, DataDir: n.dir, PortBase: 0, NoSync: false, Clock: n.clock})
	require.NoError(n.t, err)
	n.nw = nw
	c, err := cli.Connect(n.dir)
	require.NoError(n.t, err)
	n.c = c
}

// nodes are the running nodes, for nodetest.Quiesce and nodetest.Step.
func (n *net) nodes() []*node.Node {
	var ns []*node.Node
	for _, nd := range n.nw.Nodes {
		ns = append(ns, nd.Node)
	}
	return ns
}

func (n *net) stop() {
	n.c.Close()
	require.NoError(n.t, n.nw.Close())
	n.nw = nil
}

// restart stops every node and starts them again on the same data.
func (n *net) restart() {
	n.stop()
	n.start()
}

// total sums every account of every bank.
func (n *net) total() int64 {
	n.t.Helper()
	var sum int64
	for _, b := range n.c.Dir.ByRole(config.RoleBank) {
		a, err := n.c.Admin(b.Name)
		require.NoError(n.t, err)
		r, err := a.ListAccounts(context.Background(), &upiv1.ListAccountsRequest{})
		require.NoError(n.t, err)
		var s int64
		for _, ac := range r.GetAccounts() {
			s += ac.GetBalancePaise()
		}
		require.Equal(n.t, s, r.GetTotalPaise(), "bank %s total_paise must be the sum of its accounts", b.Name)
		sum += s
	}
	return sum
}

// waitQuiet waits until no node has undelivered messages, so the end-of-test
// checks see a settled network.
func waitQuiet(t *testing.T, n *net) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		busy := false
		for _, nd := range n.c.Dir.Nodes {
			a, err := n.c.Admin(nd.Name)
			require.NoError(t, err)
			h, err := a.Health(context.Background(), &upiv1.HealthRequest{})
			require.NoError(t, err)
			if h.GetOutboxPending() > 0 {
				busy = true
			}
		}
		if !busy {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	var state []string
	for _, nd := range n.c.Dir.Nodes {
		a, err := n.c.Admin(nd.Name)
		require.NoError(t, err)
		h, err := a.Health(context.Background(), &upiv1.HealthRequest{})
		require.NoError(t, err)
		state = append(state, fmt.Sprintf("%s: outbox %d, timers %d, in flight %d/%d, store pending %d, ok %t %s",
			nd.Name, h.GetOutboxPending(), h.GetTimersPending(), h.GetInFlight(), h.GetMaxInFlight(), h.GetStorePending(), h.GetOk(), h.GetReason()))
	}
	t.Errorf("outboxes not empty after 10s:\n%s", strings.Join(state, "\n"))
}

func (n *net) balance(vpa string) int64 {
	n.t.Helper()
	r, err := cli.Balance(context.Background(), &bytes.Buffer{}, cli.BalanceOptions{DataDir: n.dir, VPA: vpa})
	require.NoError(n.t, err)
	return r.BalancePaise
}

func (n *net) pay(from, to, amount, pin string) cli.TxnResult {
	n.t.Helper()
	r, err := cli.Pay(context.Background(), &bytes.Buffer{}, cli.PayOptions{DataDir: n.dir, From: from, To: to, Amount: amount, PIN: pin, Timeout: 20 * time.Second})
	require.NoError(n.t, err)
	return r
}

// apis lists the trace's messages as "node direction api" in order.
func (n *net) trace(txnID string) []cli.TraceMessage {
	n.t.Helper()
	r, err := cli.CollectTrace(context.Background(), n.c, txnID)
	require.NoError(n.t, err)
	return r.Messages
}

// received lists "from→to API" for every received message of the txn, in
// order.
func received(msgs []cli.TraceMessage) []string {
	var out []string
	for _, m := range msgs {
		if m.Direction == "IN" {
			out = append(out, m.Peer+"→"+m.Node+" "+m.API)
		}
	}
	return out
}

// nodeTxn is a node's own view of a transaction.
func (n *net) nodeTxn(node, txnID string) *upiv1.GetTransactionResponse {
	n.t.Helper()
	a, err := n.c.Admin(node)
	require.NoError(n.t, err)
	r, err := a.GetTransaction(context.Background(), &upiv1.GetTransactionRequest{TxnId: txnID})
	require.NoError(n.t, err)
	return r
}

// eventually waits for cond, failing with msg after 10s.
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 10*time.Millisecond, msg)
}
