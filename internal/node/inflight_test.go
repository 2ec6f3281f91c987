package node_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// busyCounting is a Transport that counts, per message body, the attempts
// its receiver refused as busy (RESOURCE_EXHAUSTED).
type busyCounting struct {
	next node.Transport
	mu   sync.Mutex
	busy map[string]int
}

func (b *busyCounting) Send(ctx context.Context, m node.Outgoing) (*upiv1.Ack, error) {
	ack, err := b.next.Send(ctx, m)
	if status.Code(err) == codes.ResourceExhausted {
		b.mu.Lock()
		if b.busy == nil {
			b.busy = map[string]int{}
		}
		b.busy[string(m.Body)]++
		b.mu.Unlock()
	}
	return ack, err
}

// refusals is the number of busy answers so far, over all messages.
func (b *busyCounting) refusals() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	var s int
	for _, c := range b.busy {
		s += c
	}
	return s
}

// startWith starts a node on its own store with cfg (Name, Handler and
// Transport given; DB and short retries filled in), attached to net.
func startWith(t *testing.T, net *node.InmemTransport, cfg node.Config) *node.Node {
	t.Helper()
	db, err := store.Open(dbPath(t, cfg.Name), store.Options{NoSync: true})
	require.NoError(t, err)
	cfg.DB, cfg.Role = db, "test"
	cfg.RetryMin, cfg.RetryMax = 2*time.Millisecond, 20*time.Millisecond
	n := node.New(cfg)
	net.Attach(n)
	require.NoError(t, n.Start())
	t.Cleanup(func() { n.Stop(); _ = db.Close() })
	return n
}

// TestBusyNodeRefusesAtOnce: a node working on MaxInFlight requests
// answers one more at once with RESOURCE_EXHAUSTED, stores nothing of it
// and does not apply it; the sender's outbox keeps it and retries, and once
// the node has room the message is applied once and acked without an
// error (a busy answer is not a refusal, which would be final).
func TestBusyNodeRefusesAtOnce(t *testing.T) {
	net := node.NewInmemTransport()
	tr := &busyCounting{next: net}
	a := start(t, dbPath(t, "a"), "a", &counter{}, tr)
	b := startWith(t, net, node.Config{Name: "b", Handler: &counter{}, Transport: net, MaxInFlight: 2})

	// Fill b: two requests in flight, as two app calls would hold them.
	require.NoError(t, b.Acquire())
	require.NoError(t, b.Acquire())
	now, limit := b.InFlight()
	assert.Equal(t, []int{2, 2}, []int{now, limit})
	assert.Equal(t, codes.ResourceExhausted, status.Code(b.Acquire()), "a third app call is refused")

	// A message straight to b: refused at once, nothing stored.
	m := hbt("c", "")
	ack, err := b.Receive(context.Background(), reqHbt, m)
	require.Nil(t, ack)
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	assert.Contains(t, status.Convert(err).Message(), "node b is busy")
	assert.Zero(t, keys(t, b, store.Inbox), "a busy node stores nothing of what it refuses")

	// A message through a's outbox: refused, retried while b is full.
	sent := send(t, a.Node, "b")
	txnID := sent.GetTxn().GetId()
	require.Eventually(t, func() bool { return tr.refusals() >= 3 }, waitFor, tick,
		"a retries the message b refused as busy")
	assert.Equal(t, 1, outboxLen(t, a.Node), "the refused message stays in a's outbox")
	assert.Zero(t, count(t, b, "applied"))

	// b has room again: the next retry is applied, once, and acked.
	b.Release()
	b.Release()
	require.Eventually(t, func() bool { return count(t, b, "applied/"+txnID) == 1 }, waitFor, tick)
	requireAcked(t, a.Node, txnID, "")
	assert.EqualValues(t, 1, count(t, b, "applied"))
	now, _ = b.InFlight()
	assert.Zero(t, now, "every slot is given back")

	// And the message sent straight to b is taken now.
	ack, err = b.Receive(context.Background(), reqHbt, m)
	require.NoError(t, err)
	assert.Empty(t, ack.GetErr())
}

// TestNoInFlightBound: a negative MaxInFlight takes everything.
func TestNoInFlightBound(t *testing.T) {
	net := node.NewInmemTransport()
	b := startWith(t, net, node.Config{Name: "b", Handler: &counter{}, Transport: net, MaxInFlight: -1})
	for range 10 * node.DefaultMaxInFlight {
		require.NoError(t, b.Acquire())
	}
	for range 10 * node.DefaultMaxInFlight {
		b.Release()
	}
}

// TestHealthSaysStalledStore: a node whose store has had updates pending
// for longer than StallAfter without a commit is not ok, and says why; it
// is ok again once the store commits.
func TestHealthSaysStalledStore(t *testing.T) {
	net := node.NewInmemTransport()
	b := startWith(t, net, node.Config{Name: "b", Handler: &counter{}, Transport: net, StallAfter: 50 * time.Millisecond})
	admin := &node.AdminServer{Node: b, Role: "test"}
	health := func() *upiv1.HealthResponse {
		h, err := admin.Health(context.Background(), &upiv1.HealthRequest{})
		require.NoError(t, err)
		return h
	}
	h := health()
	require.True(t, h.GetOk(), h.GetReason())
	assert.Zero(t, h.GetStorePending())
	assert.EqualValues(t, node.DefaultMaxInFlight, h.GetMaxInFlight())

	// Wedge the commit loop with a step that does not return, and queue
	// another behind it.
	gate := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release) // before the node stops, should the test fail
	running := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		assert.NoError(t, b.Update(func(*node.Ctx) error { close(running); <-gate; return nil }))
	})
	<-running
	wg.Go(func() {
		_, err := b.Receive(context.Background(), reqHbt, hbt("c", ""))
		assert.NoError(t, err)
	})
	require.Eventually(t, func() bool { return !health().GetOk() }, waitFor, tick, "health sees the stalled store")
	h = health()
	assert.Contains(t, h.GetReason(), "store stalled")
	assert.EqualValues(t, 2, h.GetStorePending())
	assert.EqualValues(t, 1, h.GetInFlight(), "the message waiting for the store")

	release()
	wg.Wait()
	require.Eventually(t, func() bool { return health().GetOk() }, waitFor, tick, "ok once the store commits")
	assert.Empty(t, health().GetReason())
}
