package node_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/fault"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
)

// epoch is where the fake clocks of these tests start.
var epoch = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// received reports whether ch has a value, without waiting: a fake clock's
// timers fire inside Advance, so after it returns there is nothing to wait for.
func received(ch <-chan time.Time) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestFakeClockTimer(t *testing.T) {
	c := nodetest.NewClock(epoch)
	tm := c.NewTimer()
	assert.False(t, received(tm.C()), "a new timer is stopped")
	tm.Reset(epoch.Add(time.Second))
	assert.Equal(t, 1, c.Armed())

	c.Advance(999 * time.Millisecond)
	assert.False(t, received(tm.C()), "not before its time")
	c.Advance(time.Millisecond)
	assert.True(t, received(tm.C()), "at its time")
	assert.Equal(t, 0, c.Armed())
	c.Advance(time.Hour)
	assert.False(t, received(tm.C()), "once only")

	tm.Reset(c.Now().Add(-time.Second))
	assert.True(t, received(tm.C()), "armed in the past: at once")

	tm.Reset(c.Now().Add(time.Second))
	tm.Stop()
	c.Advance(time.Hour)
	assert.False(t, received(tm.C()), "stopped")
	assert.Equal(t, 0, c.Armed())

	tm.Reset(c.Now().Add(time.Minute))
	c.Set(c.Now().Add(time.Minute))
	tm.Reset(c.Now().Add(time.Minute))
	assert.False(t, received(tm.C()), "Reset discards the value of the arming before")
}

// Advancing the fake clock wakes the node's timer loop: a durable timer due
// at or before the new time fires, once; one due later does not.
func TestFakeClockFiresNodeTimers(t *testing.T) {
	c := nodetest.NewClock(epoch)
	h := &counter{fired: make(chan node.Timer, 10)}
	n := nodetest.New(t, "npci", h, nodetest.NewRecorder(), nodetest.WithClock(c))
	setTimer(t, n, "a", epoch.Add(time.Hour), "p")
	setTimer(t, n, "b", epoch.Add(2*time.Hour), "p")

	nodetest.Quiesce(t, n) // nothing is due: quiet at once
	assert.EqualValues(t, 0, count(t, n, "fired/a"))

	c.Advance(time.Hour - time.Nanosecond)
	nodetest.Quiesce(t, n)
	assert.EqualValues(t, 0, count(t, n, "fired/a"), "not before it is due")

	c.Advance(time.Nanosecond)
	nodetest.Quiesce(t, n)
	assert.EqualValues(t, 1, count(t, n, "fired/a"), "due at the new time")
	assert.EqualValues(t, 0, count(t, n, "fired/b"))
	got := <-h.fired
	assert.Equal(t, epoch.Add(time.Hour), got.Due.UTC())

	at, ok, err := n.NextTimer()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, epoch.Add(2*time.Hour), at.UTC())
	require.True(t, nodetest.Step(t, c, n))
	assert.Equal(t, epoch.Add(2*time.Hour), c.Now().UTC(), "Step moves to the next timer")
	nodetest.Quiesce(t, n)
	assert.EqualValues(t, 1, count(t, n, "fired/b"))
	assert.False(t, nodetest.Step(t, c, n), "no timer left")

	c.Advance(24 * time.Hour)
	nodetest.Quiesce(t, n)
	assert.EqualValues(t, 1, count(t, n, "fired/a"), "once only")
	assert.EqualValues(t, 1, count(t, n, "fired/b"), "once only")
}

// idleLoop waits until the node's timer loop, with no timer set, waits on
// c, and returns the number of c's armed timers then (the loop's one).
func idleLoop(t *testing.T, c *nodetest.Clock) int {
	t.Helper()
	require.Eventually(t, func() bool { return c.Armed() == 1 }, waitFor, tick, "the timer loop waits on the clock")
	return 1
}

// A delivery that failed is tried again when the fake clock has moved past
// its backoff, and not before.
func TestFakeClockOutboxBackoff(t *testing.T) {
	c := nodetest.NewClock(epoch)
	tr := &failing{next: nodetest.NewRecorder(), n: 2}
	n := nodetest.New(t, "a", &counter{}, tr, nodetest.WithClock(c), func(cfg *node.Config) {
		cfg.RetryMin, cfg.RetryMax = time.Second, time.Minute
	})
	loop := idleLoop(t, c)
	m := send(t, n, "b")

	// The first attempt failed; the retry waits jitter(RetryMin), in
	// [RetryMin/2, RetryMin], on the fake clock.
	waitArmed := func(attempts int32) {
		t.Helper()
		require.Eventually(t, func() bool { return tr.total() == attempts && c.Armed() == loop+1 }, waitFor, tick)
	}
	waitArmed(1)
	c.Advance(time.Second/2 - time.Nanosecond)
	assert.Equal(t, loop+1, c.Armed(), "the backoff has not elapsed: still waiting")
	assert.EqualValues(t, 1, tr.total())
	c.Advance(time.Second / 2)
	waitArmed(2) // tried again, failed again; now jitter(2*RetryMin)
	c.Advance(time.Second - time.Nanosecond)
	assert.Equal(t, loop+1, c.Armed(), "the doubled backoff has not elapsed")
	assert.EqualValues(t, 2, tr.total())
	c.Advance(time.Second)
	requireAcked(t, n, m.GetTxn().GetId(), "")
	assert.EqualValues(t, 3, tr.total())
	nodetest.Quiesce(t, n)
}

// A delayed message (fault.Fault.Delay) waits for the fake clock, then goes.
func TestFakeClockOutboxDelay(t *testing.T) {
	c := nodetest.NewClock(epoch)
	rec := nodetest.NewRecorder()
	n := nodetest.New(t, "a", &counter{}, rec, nodetest.WithClock(c), func(cfg *node.Config) {
		cfg.Faults = func(node.Outbound) fault.Fault { return fault.Fault{Delay: time.Minute} }
	})
	loop := idleLoop(t, c)
	m := send(t, n, "b")
	require.Eventually(t, func() bool { return c.Armed() == loop+1 }, waitFor, tick, "the delayed delivery waits on the clock")
	c.Advance(time.Minute - time.Nanosecond)
	assert.Equal(t, loop+1, c.Armed(), "still delayed")
	assert.Equal(t, 0, rec.Count(reqHbt, ""))
	q, err := n.Quiet()
	require.NoError(t, err)
	assert.False(t, q, "a node with a message in its outbox is not quiet")
	c.Advance(time.Nanosecond)
	rec.WaitFor(t, reqHbt, m.GetTxn().GetId())
	nodetest.Quiesce(t, n)
}

// Step time, ack times and trace times are the fake clock's.
func TestFakeClockStepTime(t *testing.T) {
	c := nodetest.NewClock(epoch)
	n := nodetest.New(t, "a", &counter{}, nodetest.NewRecorder(), nodetest.WithClock(c))
	require.NoError(t, n.Update(func(cx *node.Ctx) error {
		assert.Equal(t, epoch, cx.Now())
		return nil
	}))
	ack, err := n.Receive(t.Context(), reqHbt, hbt("psp", ""))
	require.NoError(t, err)
	assert.Equal(t, epoch, ack.GetTs().AsTime())
	c.Advance(time.Hour)
	m := send(t, n, "b")
	nodetest.Quiesce(t, n)
	trace, err := n.Trace(m.GetTxn().GetId())
	require.NoError(t, err)
	require.Len(t, trace, 1)
	assert.Equal(t, epoch.Add(time.Hour), trace[0].GetAcked().AsTime())
}

// The real clock costs a node's hot path no allocation.
func TestRealClockNowAllocatesNothing(t *testing.T) {
	var c node.Clock = node.RealClock{}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = c.Now() }))
}
