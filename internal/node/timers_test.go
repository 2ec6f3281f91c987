package node_test

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/store"
)

func setTimer(t *testing.T, n *node.Node, name string, at time.Time, payload string) {
	t.Helper()
	require.NoError(t, n.Update(func(c *node.Ctx) error {
		if err := c.SetTimer(name, at, []byte(payload)); err != nil {
			return err
		}
		assert.True(t, c.HasTimer(name))
		return nil
	}))
}

func TestTimerFiresOnce(t *testing.T) {
	rec := nodetest.NewRecorder()
	h := &counter{fireTo: "psp", fired: make(chan node.Timer, 10)}
	clock := nodetest.NewClock(epoch)
	n := nodetest.New(t, "npci", h, rec, nodetest.WithClock(clock))
	txnID := ids.NewTxnID("NPC")
	due := epoch.Add(20 * time.Millisecond)
	setTimer(t, n, "expire/"+txnID, due, txnID)
	assert.Equal(t, 1, timersLen(t, n))
	clock.Advance(20 * time.Millisecond)

	select {
	case got := <-h.fired:
		assert.Equal(t, "expire/"+txnID, got.Name)
		assert.Equal(t, []byte(txnID), got.Payload)
		assert.Equal(t, due.UnixNano(), got.Due.UnixNano())
		assert.False(t, clock.Now().Before(due), "fired early")
	case <-time.After(waitFor):
		t.Fatal("timer did not fire")
	}
	// What Fire sent goes out like any other message.
	rec.WaitFor(t, reqHbt, txnID)
	clock.Advance(time.Hour)
	nodetest.Quiesce(t, n)
	assert.EqualValues(t, 1, count(t, n, "fired/expire/"+txnID))
	assert.Equal(t, 1, rec.Count(reqHbt, txnID))
	assert.Equal(t, 0, timersLen(t, n))
	require.NoError(t, n.Update(func(c *node.Ctx) error {
		assert.False(t, c.HasTimer("expire/"+txnID))
		return nil
	}))
}

func TestTimerCancel(t *testing.T) {
	h := &counter{}
	clock := nodetest.NewClock(epoch)
	n := nodetest.New(t, "npci", h, nodetest.NewRecorder(), nodetest.WithClock(clock))
	setTimer(t, n, "t", epoch.Add(30*time.Millisecond), "p")
	setTimer(t, n, "kept", epoch.Add(30*time.Millisecond), "p")
	require.NoError(t, n.Update(func(c *node.Ctx) error {
		if err := c.CancelTimer("t"); err != nil {
			return err
		}
		assert.False(t, c.HasTimer("t"))
		return c.CancelTimer("never-set") // a no-op
	}))
	clock.Advance(30 * time.Millisecond)
	require.Eventually(t, func() bool { return count(t, n, "fired/kept") == 1 }, waitFor, tick)
	clock.Advance(time.Hour)
	nodetest.Quiesce(t, n)
	assert.EqualValues(t, 0, count(t, n, "fired/t"))
	assert.Equal(t, 0, timersLen(t, n))
}

// A timer set in a step that fails is not set.
func TestTimerRolledBack(t *testing.T) {
	clock := nodetest.NewClock(epoch)
	n := nodetest.New(t, "npci", &counter{}, nodetest.NewRecorder(), nodetest.WithClock(clock))
	err := n.Update(func(c *node.Ctx) error {
		if err := c.SetTimer("t", epoch, nil); err != nil {
			return err
		}
		return fmt.Errorf("changed my mind")
	})
	require.Error(t, err)
	assert.Equal(t, 0, timersLen(t, n))
	clock.Advance(time.Hour)
	nodetest.Quiesce(t, n)
	assert.EqualValues(t, 0, count(t, n, "fired/t"))
}

func TestTimerMove(t *testing.T) {
	t.Run("earlier", func(t *testing.T) {
		h := &counter{fired: make(chan node.Timer, 10)}
		clock := nodetest.NewClock(epoch)
		n := nodetest.New(t, "npci", h, nodetest.NewRecorder(), nodetest.WithClock(clock))
		setTimer(t, n, "t", epoch.Add(time.Hour), "first")
		due := epoch.Add(10 * time.Millisecond)
		setTimer(t, n, "t", due, "second")
		assert.Equal(t, 1, timersLen(t, n), "moving replaces")
		clock.Advance(10 * time.Millisecond)
		select {
		case got := <-h.fired:
			assert.Equal(t, "second", string(got.Payload))
			assert.Equal(t, due.UnixNano(), got.Due.UnixNano())
		case <-time.After(waitFor):
			t.Fatal("moved timer did not fire")
		}
		clock.Advance(2 * time.Hour) // past the old due time
		nodetest.Quiesce(t, n)
		assert.EqualValues(t, 1, count(t, n, "fired/t"))
		assert.Equal(t, 0, timersLen(t, n), "the old due time is gone too")
	})
	t.Run("later", func(t *testing.T) {
		clock := nodetest.NewClock(epoch)
		n := nodetest.New(t, "npci", &counter{}, nodetest.NewRecorder(), nodetest.WithClock(clock))
		setTimer(t, n, "t", epoch.Add(10*time.Millisecond), "first")
		setTimer(t, n, "t", epoch.Add(time.Hour), "second")
		clock.Advance(60 * time.Millisecond) // past the old due time
		nodetest.Quiesce(t, n)
		assert.EqualValues(t, 0, count(t, n, "fired/t"))
		assert.Equal(t, 1, timersLen(t, n))
	})
}

func TestManyTimersFireOnceEach(t *testing.T) {
	clock := nodetest.NewClock(epoch)
	n := nodetest.New(t, "npci", &counter{}, nodetest.NewRecorder(), nodetest.WithClock(clock))
	const total = 300
	due := epoch.Add(20 * time.Millisecond)
	require.NoError(t, n.Update(func(c *node.Ctx) error {
		for i := range total {
			// Several share a due time.
			if err := c.SetTimer(fmt.Sprintf("t%03d", i), due.Add(time.Duration(i%7)*time.Millisecond), nil); err != nil {
				return err
			}
		}
		return nil
	}))
	clock.Advance(30 * time.Millisecond)
	require.Eventually(t, func() bool { return timersLen(t, n) == 0 }, waitFor, tick)
	clock.Advance(time.Hour)
	nodetest.Quiesce(t, n)
	for i := range total {
		require.EqualValues(t, 1, count(t, n, fmt.Sprintf("fired/t%03d", i)), "timer %d", i)
	}
}

// flaky fails the Fire of each timer whose payload is "flaky" with an I/O
// error (a full disk) until it has failed fails times, or for ever when
// fails < 0, and notes when each attempt started. Other timers fire as
// counter's do.
type flaky struct {
	counter
	fails    int
	panics   bool // fail by panicking rather than by returning errNoSpace
	mu       sync.Mutex
	attempts map[string][]time.Time
}

var errNoSpace = &os.PathError{Op: "write", Path: "npci.db", Err: syscall.ENOSPC}

func (h *flaky) Fire(c *node.Ctx, t node.Timer) error {
	if string(t.Payload) != "flaky" {
		return h.counter.Fire(c, t)
	}
	h.mu.Lock()
	if h.attempts == nil {
		h.attempts = make(map[string][]time.Time)
	}
	h.attempts[t.Name] = append(h.attempts[t.Name], c.Now())
	a := len(h.attempts[t.Name])
	h.mu.Unlock()
	if h.fails < 0 || a <= h.fails {
		if h.panics {
			panic("handler bug")
		}
		return errNoSpace
	}
	return h.counter.Fire(c, t)
}

func (h *flaky) tries(name string) []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Time(nil), h.attempts[name]...)
}

// waitUntil polls cond in a synctest bubble, where time.Sleep only moves the
// fake clock, and fails once d of it has passed.
func waitUntil(t *testing.T, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, msg)
		}
	}
}

// A timer whose step fails (here Fire, with the error of a full disk) is
// kept and fired again, backing off from RetryMin, until its step commits.
func TestTimerRetriedAfterFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &flaky{fails: 4}
		n := nodetest.New(t, "npci", h, nodetest.NewRecorder()) // RetryMin 5ms, RetryMax 50ms
		due := time.Now().Add(10 * time.Millisecond)
		setTimer(t, n, "t", due, "flaky")
		waitUntil(t, time.Minute, func() bool { return count(t, n, "fired/t") == 1 }, "the timer never fired")
		assert.Equal(t, 0, timersLen(t, n))
		tries := h.tries("t")
		require.Len(t, tries, 5)
		assert.Equal(t, due, tries[0], "first attempt when due")
		var gaps []time.Duration
		for i := 1; i < len(tries); i++ {
			gaps = append(gaps, tries[i].Sub(tries[i-1]))
		}
		assert.Equal(t, []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}, gaps)
		require.NoError(t, n.View(func(tx *store.Tx) error {
			assert.Equal(t, "flaky", string(tx.Get(store.Meta, []byte("payload/t"))), "the payload survives the failures")
			return nil
		}))
	})
}

// A handler that panics in Fire does not take the node down: the step is
// rolled back and the timer tried again, like any failed step.
func TestTimerPanicRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &flaky{fails: 2, panics: true}
		n := nodetest.New(t, "npci", h, nodetest.NewRecorder())
		setTimer(t, n, "t", time.Now().Add(time.Millisecond), "flaky")
		waitUntil(t, time.Minute, func() bool { return count(t, n, "fired/t") == 1 }, "the timer never fired")
		assert.Len(t, h.tries("t"), 3, "two panics, then the step that fired it")
		assert.Equal(t, 0, timersLen(t, n))
	})
}

// A timer whose step always fails is kept and tried again every RetryMax,
// not in a busy loop, and does not hold up the other timers.
func TestTimerFailingForEverBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &flaky{fails: -1}
		n := nodetest.New(t, "npci", h, nodetest.NewRecorder()) // RetryMin 5ms, RetryMax 50ms
		start := time.Now()
		setTimer(t, n, "bad", start, "flaky")
		// Timers that come due while the bad one is backing off fire on time.
		for i := range 3 {
			setTimer(t, n, fmt.Sprintf("good%d", i), start.Add(time.Duration(i+1)*time.Second), "p")
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		for i := range 3 {
			assert.EqualValues(t, 1, count(t, n, fmt.Sprintf("fired/good%d", i)))
		}
		tries := h.tries("bad")
		// 5, 10, 20, 40ms, then every 50ms: 4 + 10s/50ms attempts, give or
		// take one at either end.
		assert.InDelta(t, 4+200, len(tries), 2)
		assert.Equal(t, 1, timersLen(t, n), "the failing timer is kept")
		require.NoError(t, n.View(func(tx *store.Tx) error {
			assert.True(t, tx.Has(store.TimerNames, []byte("bad")))
			return nil
		}))
	})
}

// A timer that came due while the node was down fires when it starts again.
func TestTimerSurvivesRestart(t *testing.T) {
	net := node.NewInmemTransport()
	path := dbPath(t, "npci")
	clock := nodetest.NewClock(epoch)
	n := start(t, path, "npci", &counter{}, net, nodetest.WithClock(clock))
	due := epoch.Add(40 * time.Millisecond)
	setTimer(t, n.Node, "t", due, "p")
	n.stop()
	clock.Advance(60 * time.Millisecond)

	h := &counter{fired: make(chan node.Timer, 1)}
	n2 := open(t, path, "npci", h, net, nodetest.WithClock(clock))
	assert.Equal(t, 1, timersLen(t, n2.Node))
	assert.EqualValues(t, 0, count(t, n2.Node, "fired/t"), "nothing fires while the node is down")
	require.NoError(t, n2.Start())
	select {
	case got := <-h.fired:
		assert.Equal(t, "t", got.Name)
		assert.Equal(t, due.UnixNano(), got.Due.UnixNano())
	case <-time.After(waitFor):
		t.Fatal("overdue timer did not fire after restart")
	}
	require.Eventually(t, func() bool { return timersLen(t, n2.Node) == 0 }, waitFor, tick)
	assert.EqualValues(t, 1, count(t, n2.Node, "fired/t"))
}

// Start also picks up a timer that is not yet due, and fires it on time.
func TestTimerPendingAcrossRestart(t *testing.T) {
	net := node.NewInmemTransport()
	path := dbPath(t, "npci")
	clock := nodetest.NewClock(epoch)
	n := start(t, path, "npci", &counter{}, net, nodetest.WithClock(clock))
	due := epoch.Add(80 * time.Millisecond)
	setTimer(t, n.Node, "t", due, "p")
	n.stop()

	h := &counter{fired: make(chan node.Timer, 1)}
	n2 := start(t, path, "npci", h, net, nodetest.WithClock(clock))
	clock.Advance(40 * time.Millisecond)
	nodetest.Quiesce(t, n2.Node)
	assert.EqualValues(t, 0, count(t, n2.Node, "fired/t"), "not due yet")
	clock.Advance(40 * time.Millisecond)
	select {
	case got := <-h.fired:
		assert.False(t, clock.Now().Before(due), "fired early")
		assert.Equal(t, "t", got.Name)
	case <-time.After(waitFor):
		t.Fatal("timer did not fire after restart")
	}
}

// A timer set again by its own Fire (a periodic job) keeps firing.
func TestTimerRearmedByFire(t *testing.T) {
	clock := nodetest.NewClock(epoch)
	n := nodetest.New(t, "npci", &counter{}, nodetest.NewRecorder(), nodetest.WithClock(clock))
	setTimer(t, n, "tick", epoch, "rearm")
	for nodetest.Step(t, clock, n) {
	}
	assert.EqualValues(t, 3, count(t, n, "fired/tick"))
	assert.Equal(t, 0, timersLen(t, n))
	clock.Advance(time.Hour)
	nodetest.Quiesce(t, n)
	assert.EqualValues(t, 3, count(t, n, "fired/tick"))
}
