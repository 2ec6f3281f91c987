package node_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
)

const (
	waitFor = 5 * time.Second
	tick    = 2 * time.Millisecond
)

// send makes n send a ReqHbt for a new txn to `to`, as an app call would,
// and returns the message (its head filled in by Send).
func send(t *testing.T, n *node.Node, to string) *upiv1.ReqHbt {
	t.Helper()
	m := &upiv1.ReqHbt{Txn: &upiv1.Txn{Id: ids.NewTxnID(n.Prefix()), Type: upiv1.Txn_HBT}}
	require.NoError(t, n.Update(func(c *node.Ctx) error { return c.Send(to, reqHbt, m) }))
	require.NotEmpty(t, m.GetHead().GetMsgId())
	return m
}

func requireAcked(t *testing.T, n *node.Node, txnID, wantErr string) {
	t.Helper()
	require.Eventually(t, func() bool { return outboxLen(t, n) == 0 }, waitFor, tick, "outbox of %s never emptied", n.Name())
	trace, err := n.Trace(txnID)
	require.NoError(t, err)
	var outs int
	for _, r := range trace {
		if r.GetDirection() == upiv1.TraceRecord_OUT {
			outs++
			assert.NotNil(t, r.GetAcked(), "OUT %s not marked acked", r.GetApi())
			assert.Equal(t, wantErr, r.GetAckErr())
		}
	}
	assert.Equal(t, 1, outs)
}

func TestOutboxRetry(t *testing.T) {
	tests := []struct {
		name         string
		fails        int32
		afterDeliver bool // the receiver got it but the ack was lost
	}{
		{"no failures", 0, false},
		{"refused connections", 5, false},
		{"lost acks", 5, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			net := node.NewInmemTransport()
			tr := &failing{next: net, n: tc.fails, afterDeliver: tc.afterDeliver}
			a := start(t, dbPath(t, "a"), "a", &counter{}, tr)
			b := start(t, dbPath(t, "b"), "b", &counter{replyTo: "a"}, tr)

			m := send(t, a.Node, "b")
			txnID := m.GetTxn().GetId()

			// b applied it once and replied once; a applied the reply once.
			require.Eventually(t, func() bool { return count(t, a.Node, "applied/"+txnID) == 1 }, waitFor, tick)
			requireAcked(t, a.Node, txnID, "")
			requireAcked(t, b.Node, txnID, "")
			assert.EqualValues(t, 1, count(t, b.Node, "applied/"+txnID))
			assert.EqualValues(t, 1, count(t, a.Node, "applied"))
			// Each message was tried fails+1 times.
			assert.EqualValues(t, 2*(tc.fails+1), tr.total())
			assert.EqualValues(t, 1, count(t, b.Node, "applied"))
		})
	}
}

func TestOutboxRetryIntercept(t *testing.T) {
	net := node.NewInmemTransport()
	var attempts atomic.Int32
	net.Intercept = func(m node.Outgoing) error {
		if m.To == "b" && attempts.Add(1) <= 3 {
			return errors.New("link down")
		}
		return nil
	}
	a := start(t, dbPath(t, "a"), "a", &counter{}, net)
	b := start(t, dbPath(t, "b"), "b", &counter{}, net)
	m := send(t, a.Node, "b")
	requireAcked(t, a.Node, m.GetTxn().GetId(), "")
	assert.EqualValues(t, 4, attempts.Load())
	assert.EqualValues(t, 1, count(t, b.Node, "applied"))
}

// A refusal is an answer: the message leaves the outbox with the refusal
// recorded, and is not retried.
func TestOutboxRefusedIsNotRetried(t *testing.T) {
	net := node.NewInmemTransport()
	var attempts atomic.Int32
	net.Intercept = func(node.Outgoing) error { attempts.Add(1); return nil }
	clock := nodetest.NewClock(epoch)
	a := start(t, dbPath(t, "a"), "a", &counter{}, net, nodetest.WithClock(clock))
	b := start(t, dbPath(t, "b"), "b", &counter{}, net, nodetest.WithClock(clock))
	m := &upiv1.ReqHbt{Txn: &upiv1.Txn{Id: ids.NewTxnID("AXX"), Type: upiv1.Txn_HBT, Note: noteRefuse}}
	require.NoError(t, a.Update(func(c *node.Ctx) error { return c.Send("b", reqHbt, m) }))
	requireAcked(t, a.Node, m.GetTxn().GetId(), `ReqHbt refused: txn note says "refuse"`)
	// Past every backoff: a retry would be due. Then only the two timer
	// loops wait on the clock.
	clock.Advance(time.Hour)
	require.Eventually(t, func() bool { return clock.Armed() == 2 }, waitFor, tick)
	nodetest.Quiesce(t, a.Node, b.Node)
	assert.EqualValues(t, 1, attempts.Load())
	assert.EqualValues(t, 0, count(t, b.Node, "applied"))
}

// refusals is a counter that implements node.RefusalHandler: Refused fails
// with the error of a full disk until it has failed fails times, then counts
// "refused/<txn id>".
type refusals struct {
	counter
	fails int32
	calls atomic.Int32
}

func (h *refusals) Refused(c *node.Ctx, r node.Refused) error {
	if h.calls.Add(1) <= h.fails {
		return errNoSpace
	}
	return incr(c.Tx, "refused/"+r.Msg.GetTxn().GetId())
}

// A refusal whose step fails (a full disk) leaves the message in the
// outbox; it is sent again, refused again from the receiver's inbox, and
// the step retried until it commits.
func TestOutboxRefusalStepRetried(t *testing.T) {
	rec := nodetest.NewRecorder()
	rec.Refuse = func(string) string { return "no" }
	h := &refusals{fails: 3}
	n := nodetest.New(t, "a", h, rec)
	m := send(t, n, "b")
	txnID := m.GetTxn().GetId()
	require.Eventually(t, func() bool { return count(t, n, "refused/"+txnID) == 1 }, waitFor, tick, "Refused never committed")
	requireAcked(t, n, txnID, "no")
	assert.EqualValues(t, 4, h.calls.Load())
	assert.Equal(t, 4, rec.Count(reqHbt, txnID), "sent again after each failed step")
}

// A message queued while its receiver is down is delivered after the sender
// restarts, once.
func TestOutboxReplayAfterRestart(t *testing.T) {
	net := node.NewInmemTransport()
	pathA := dbPath(t, "a")
	clock := nodetest.NewClock(epoch)
	a := start(t, pathA, "a", &counter{}, net, nodetest.WithClock(clock))
	net.Detach("b") // not there yet

	m := send(t, a.Node, "b")
	txnID := m.GetTxn().GetId()
	for range 3 { // a few failed attempts, each followed by a backoff on the clock
		require.Eventually(t, func() bool { return clock.Armed() == 2 }, waitFor, tick, "a retry waits on the clock")
		clock.Advance(20 * time.Millisecond) // RetryMax
	}
	require.Eventually(t, func() bool { return clock.Armed() == 2 }, waitFor, tick, "a retry waits on the clock")
	assert.Equal(t, 1, outboxLen(t, a.Node))
	a.stop()

	hb := &counter{}
	b := start(t, dbPath(t, "b"), "b", hb, net)
	nodetest.Quiesce(t, b.Node)
	assert.EqualValues(t, 0, count(t, b.Node, "applied"), "a is down; nothing can arrive")

	a2 := open(t, pathA, "a", &counter{}, net, nodetest.WithClock(clock))
	assert.Equal(t, 1, outboxLen(t, a2.Node), "the outbox survived the restart")
	require.NoError(t, a2.Start())
	require.Eventually(t, func() bool { return count(t, b.Node, "applied/"+txnID) == 1 }, waitFor, tick)
	requireAcked(t, a2.Node, txnID, "")

	trace, err := b.Trace(txnID)
	require.NoError(t, err)
	require.Len(t, trace, 1)
	assert.Equal(t, m.GetHead().GetMsgId(), trace[0].GetMsgId(), "the replay is the same message")
	clock.Advance(time.Hour)
	nodetest.Quiesce(t, a2.Node, b.Node)
	assert.EqualValues(t, 1, count(t, b.Node, "applied"))
	assert.EqualValues(t, 1, hb.calls.Load())
}

// A message the receiver stored but whose ack the sender never saw is sent
// again after the sender restarts; the receiver answers from its inbox.
func TestOutboxReplayAfterLostAck(t *testing.T) {
	net := node.NewInmemTransport()
	lossy := &failing{next: net, n: 1 << 30, afterDeliver: true}
	pathA := dbPath(t, "a")
	a := start(t, pathA, "a", &counter{}, lossy)
	hb := &counter{}
	b := start(t, dbPath(t, "b"), "b", hb, net)

	m := send(t, a.Node, "b")
	txnID := m.GetTxn().GetId()
	require.Eventually(t, func() bool { return lossy.total() >= 3 }, waitFor, tick)
	a.stop()
	assert.EqualValues(t, 1, count(t, b.Node, "applied/"+txnID))

	a2 := start(t, pathA, "a", &counter{}, net)
	requireAcked(t, a2.Node, txnID, "")
	assert.EqualValues(t, 1, count(t, b.Node, "applied"))
	assert.EqualValues(t, 1, hb.calls.Load())
}

// Stop returns while a delivery is still failing, and ends its goroutine.
func TestStopEndsDeliveries(t *testing.T) {
	net := node.NewInmemTransport()
	a := start(t, dbPath(t, "a"), "a", &counter{}, net)
	for range 10 {
		send(t, a.Node, "nowhere")
	}
	time.Sleep(20 * time.Millisecond)
	done := make(chan struct{})
	go func() { a.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Stop hangs")
	}
	assert.Equal(t, 10, outboxLen(t, a.Node))
}

// blackhole is a Transport whose sends hang until their context ends.
type blackhole struct{}

func (blackhole) Send(ctx context.Context, _ node.Outgoing) (*upiv1.Ack, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// Messages received while the node stops are kept (Stop must not race with
// the deliveries their steps start), and sent after the next start.
func TestReceiveDuringStop(t *testing.T) {
	for i := range 10 {
		path := dbPath(t, fmt.Sprintf("npci%d", i))
		n := start(t, path, "npci", &counter{replyTo: "psp"}, blackhole{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 10 {
					_, err := n.Receive(context.Background(), reqHbt, hbt("psp", ""))
					assert.NoError(t, err)
				}
			})
		}
		time.Sleep(time.Duration(i) * time.Millisecond)
		n.Stop()
		wg.Wait()
		n.stop()

		rec := nodetest.NewRecorder()
		n2 := start(t, path, "npci", &counter{}, rec)
		applied := count(t, n2.Node, "applied")
		assert.EqualValues(t, 80, applied)
		require.Eventually(t, func() bool { return outboxLen(t, n2.Node) == 0 }, waitFor, tick)
		assert.EqualValues(t, applied, rec.Count(respHbt, ""))
		n2.stop()
	}
}
