package node

import (
	"context"
	"time"
)

// Clock is the time a node runs on: the time of its steps (Ctx.Now), when
// its timers are due, the backoff and delays of its outbox, the ack and
// trace timestamps it writes, and so the ledger's posting times at a bank.
// The store's own clock (its stall detection, Health) is always the real
// one.
//
// RealClock is the default. nodetest.Clock is a fake one a test moves by
// hand, for tests that run real gRPC and bbolt where testing/synctest
// cannot be used.
//
// Implementations must be safe for concurrent use. Now is called once per
// step and per delivery, so it should be cheap and not allocate.
type Clock interface {
	Now() time.Time
	// NewTimer returns a stopped timer on this clock.
	NewTimer() ClockTimer
}

// ClockTimer is a one-shot timer on a Clock, armed at an absolute time of that
// clock (so that a fake clock moved between reading Now and arming the
// timer still fires it). Only one goroutine uses a Timer.
type ClockTimer interface {
	// C receives once the clock has reached the time of the last Reset.
	C() <-chan time.Time
	// Reset arms the timer for at, at once if the clock is past it; a value
	// of an earlier arming is not received after Reset returns.
	Reset(at time.Time)
	// Stop disarms the timer; no value is received after Stop returns.
	Stop()
}

// RealClock is the wall clock (time.Now, time.Timer).
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// NewTimer returns a stopped time.Timer.
func (RealClock) NewTimer() ClockTimer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return realTimer{t}
}

// realTimer relies on Go 1.23 timers: Reset and Stop discard a value not
// yet received.
type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Reset(at time.Time)  { r.t.Reset(time.Until(at)) }
func (r realTimer) Stop()               { r.t.Stop() }

// sleepUntil waits until the node's clock reaches at, and reports whether
// it did (false: ctx ended first).
func (n *Node) sleepUntil(ctx context.Context, at time.Time) bool {
	if !at.After(n.now()) {
		return ctx.Err() == nil
	}
	t := n.clock.NewTimer()
	defer t.Stop()
	t.Reset(at)
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}
