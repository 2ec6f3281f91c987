package node

import (
	"bytes"
	"errors"
	"sync"
	"time"

	"github.com/upisim/upisim/internal/store"
)

// maxFiring bounds the timer steps one round of the timer loop starts at
// once; the rest fire in the next rounds. Each is an Update that waits for
// its commit, so a backlog (a node that was down while hundreds of timers
// came due) does not queue hundreds of updates and goroutines at once.
const maxFiring = 64

// timerRetry is what the timer loop remembers, in memory, of a timer whose
// step failed: the timer stays in store.Timers, and fires again at `at`.
type timerRetry struct {
	at      time.Time
	backoff time.Duration
	fails   int
	// scan is the last scan that saw the timer still set (dueTimers).
	scan uint64
}

// timerState is the timer loop's own: only its goroutine touches it.
type timerState struct {
	retries map[string]timerRetry // by timer key
	scans   uint64
}

func (n *Node) wakeTimers() {
	select {
	case n.timerWake <- struct{}{}:
	default:
	}
}

// timerLoop fires due timers, sleeping until the earliest one otherwise
// (or until a failed one is to be tried again).
func (n *Node) timerLoop() {
	defer n.wg.Done()
	st := &timerState{retries: make(map[string]timerRetry)}
	t := n.clock.NewTimer()
	defer t.Stop()
	for {
		now := n.now()
		due, next, err := n.dueTimers(st, now)
		if err != nil {
			n.log.Error("timers", "err", err)
			next = now.Add(n.cfg.RetryMax)
		}
		if len(due) > 0 {
			n.fireDue(st, due)
			if n.ctx.Err() != nil {
				return
			}
			continue
		}
		if next.IsZero() {
			next = now.Add(time.Hour)
		}
		t.Reset(next)
		select {
		case <-n.ctx.Done():
			return
		case <-n.timerWake:
		case <-t.C():
		}
		t.Stop()
	}
}

// dueTimers returns the keys of up to maxFiring timers due at now, in due
// order, leaving out those whose last step failed and whose retry is not
// yet due; and, when there are none, when the next timer or retry is due
// (zero when none is set). It forgets the retries of timers no longer set.
func (n *Node) dueTimers(st *timerState, now time.Time) (due [][]byte, next time.Time, err error) {
	st.scans++
	var last []byte // the last key looked at; nil when the scan went past every due one
	err = n.db.View(func(tx *store.Tx) error {
		return tx.Scan(store.Timers, nil, func(k, _ []byte) (bool, error) {
			at := timerDue(k)
			if at.After(now) {
				if next.IsZero() || at.Before(next) {
					next = at
				}
				return false, nil
			}
			if r, ok := st.retries[string(k)]; ok {
				r.scan = st.scans
				st.retries[string(k)] = r
				if r.at.After(now) {
					if next.IsZero() || r.at.Before(next) {
						next = r.at
					}
					return true, nil
				}
			}
			due = append(due, append([]byte(nil), k...))
			if len(due) == maxFiring {
				last = due[len(due)-1]
				return false, nil
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	// A retry whose timer the scan would have seen but did not was
	// cancelled or moved by another step.
	for k, r := range st.retries {
		if r.scan != st.scans && (last == nil || bytes.Compare([]byte(k), last) <= 0) {
			delete(st.retries, k)
		}
	}
	return due, next, nil
}

// fireDue fires the timers at keys, each in its own step so that they
// share group commits and one failing handler cannot block the rest. A
// step that fails (a full disk, a handler's error) keeps its timer, which
// is tried again after a backoff that doubles from Config.RetryMin up to
// Config.RetryMax; after a restart it fires again at once.
func (n *Node) fireDue(st *timerState, keys [][]byte) {
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.Update(func(c *Ctx) error {
				payload := c.Tx.Get(store.Timers, k)
				if payload == nil {
					return nil // cancelled or moved meanwhile
				}
				name := string(k[8:])
				if err := c.Tx.Delete(store.Timers, k); err != nil {
					return err
				}
				if err := c.Tx.Delete(store.TimerNames, []byte(name)); err != nil {
					return err
				}
				return safeFire(n.h, c, Timer{Name: name, Due: timerDue(k), Payload: payload})
			})
		}()
	}
	wg.Wait()
	now := n.now()
	for i, k := range keys {
		err := errs[i]
		switch {
		case err == nil:
			delete(st.retries, string(k))
			continue
		case errors.Is(err, store.ErrClosed):
			return // stopping; the timer is still set for the next start
		}
		r := st.retries[string(k)]
		r.fails++
		r.backoff = n.nextBackoff(r.backoff)
		r.at, r.scan = now.Add(r.backoff), st.scans
		st.retries[string(k)] = r
		if r.fails <= 3 || r.fails%10 == 0 {
			n.log.Error("timer step failed; the timer is kept and tried again",
				"timer", string(k[8:]), "failures", r.fails, "retry_in", r.backoff, "err", err)
		}
	}
}

// TimersLen is the number of durable timers waiting to fire.
func (n *Node) TimersLen() (int, error) {
	var c int
	err := n.db.View(func(tx *store.Tx) error { c = tx.Count(store.Timers); return nil })
	return c, err
}
