package nodetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upisim/upisim/internal/node"
)

// Clock is a fake node.Clock that moves only when a test moves it (Advance,
// Set). Moving it fires, once each, the timers armed for the new time or
// before it: the node's timer loop wakes and fires the durable timers then
// due, and outbox entries whose backoff or delay has elapsed are sent
// again. It is for tests that run real gRPC or bbolt, where
// testing/synctest cannot be used.
type Clock struct {
	mu    sync.Mutex
	now   time.Time
	armed map[*clockTimer]struct{}
}

// NewClock returns a Clock at start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, armed: make(map[*clockTimer]struct{})}
}

// Now implements node.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer implements node.Clock.
func (c *Clock) NewTimer() node.ClockTimer {
	return &clockTimer{c: c, ch: make(chan time.Time, 1)}
}

// Advance moves the clock d forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(c.now.Add(d))
}

// Set moves the clock to t (it may go back: a node's wall clock can), and
// fires the timers armed at t or before.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(t)
}

func (c *Clock) setLocked(t time.Time) {
	c.now = t
	for ct := range c.armed {
		if !ct.at.After(t) {
			ct.fireLocked()
		}
	}
}

// Armed is the number of timers armed on the clock and not yet fired: the
// goroutines waiting for it to move (a node's timer loop, each outbox
// entry backing off or delayed).
func (c *Clock) Armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.armed)
}

// clockTimer is a node.ClockTimer on a Clock.
type clockTimer struct {
	c  *Clock
	ch chan time.Time // holds at most the one value of its arming
	at time.Time
}

func (t *clockTimer) C() <-chan time.Time { return t.ch }

func (t *clockTimer) Reset(at time.Time) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.drainLocked()
	t.at = at
	t.c.armed[t] = struct{}{}
	if !at.After(t.c.now) {
		t.fireLocked()
	}
}

func (t *clockTimer) Stop() {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	delete(t.c.armed, t)
	t.drainLocked()
}

func (t *clockTimer) fireLocked() {
	delete(t.c.armed, t)
	t.ch <- t.c.now // never blocks: drained at every arming
}

func (t *clockTimer) drainLocked() {
	select {
	case <-t.ch:
	default:
	}
}

// WithClock makes New's node run on c.
func WithClock(c node.Clock) func(*node.Config) {
	return func(cfg *node.Config) { cfg.Clock = c }
}

// Quiesce waits (up to 5s of real time) until every node is quiet
// (node.Node.Quiet): all it sent acked, no timer due on its clock. What a
// test checks afterwards is all the nodes did until their next timer.
func Quiesce(t testing.TB, nodes ...*node.Node) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		all := true
		for _, n := range nodes {
			q, err := n.Quiet()
			if err != nil {
				t.Fatalf("quiesce %s: %v", n.Name(), err)
			}
			if !q {
				all = false
				break
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			var why []string
			for _, n := range nodes {
				if q, _ := n.Quiet(); !q {
					out, _ := n.OutboxLen()
					next, _, _ := n.NextTimer()
					why = append(why, fmt.Sprintf("%s: %d in the outbox, next timer %s, clock %s",
						n.Name(), out, next.Format(time.RFC3339Nano), n.Now().Format(time.RFC3339Nano)))
				}
			}
			t.Fatalf("not quiet after 5s: %s", strings.Join(why, "; "))
		}
		time.Sleep(time.Millisecond)
	}
}

// Step waits until the nodes are quiet, then moves c to the earliest timer
// any of them has set, so that it fires. It reports false, moving nothing,
// when none is set: the nodes will do nothing more on their own.
func Step(t testing.TB, c *Clock, nodes ...*node.Node) bool {
	t.Helper()
	Quiesce(t, nodes...)
	var next time.Time
	for _, n := range nodes {
		at, ok, err := n.NextTimer()
		if err != nil {
			t.Fatalf("next timer of %s: %v", n.Name(), err)
		}
		if ok && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	if next.IsZero() {
		return false
	}
	if next.After(c.Now()) {
		c.Set(next)
	}
	return true
}
