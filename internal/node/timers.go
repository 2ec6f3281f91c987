package node

import (
	"errors"
	"sync"
	"time"

	"github.com/upisim/upisim/internal/store"
)

func (n *Node) wakeTimers() {
	select {
	case n.timerWake <- struct{}{}:
	default:
	}
}

// timerLoop fires due timers, sleeping until the earliest one otherwise.
func (n *Node) timerLoop() {
	defer n.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		var first []byte
		if err := n.db.View(func(tx *store.Tx) error { first, _ = tx.First(store.Timers); return nil }); err != nil {
			n.log.Error("timers", "err", err)
		}
		wait := time.Hour
		if first != nil {
			due := time.Unix(0, int64(store.ParseU64(first)))
			if wait = due.Sub(n.now()); wait <= 0 {
				n.fireDue()
				if n.ctx.Err() != nil {
					return
				}
				continue
			}
		}
		t.Reset(wait)
		select {
		case <-n.ctx.Done():
			return
		case <-n.timerWake:
		case <-t.C:
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
	}
}

// fireDue fires every timer due now, each in its own update so they share
// group commits and one failing handler cannot block the rest.
func (n *Node) fireDue() {
	now := n.now()
	var due [][]byte
	_ = n.db.View(func(tx *store.Tx) error {
		return tx.Scan(store.Timers, nil, func(k, _ []byte) (bool, error) {
			if int64(store.ParseU64(k)) > now.UnixNano() || len(due) >= 512 {
				return false, nil
			}
			due = append(due, append([]byte(nil), k...))
			return true, nil
		})
	})
	var wg sync.WaitGroup
	for _, k := range due {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := n.Update(func(c *Ctx) error {
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
				return n.h.Fire(c, Timer{Name: name, Due: time.Unix(0, int64(store.ParseU64(k))), Payload: payload})
			})
			if err != nil && !errors.Is(err, store.ErrClosed) {
				// A handler that cannot fire its timer would loop forever;
				// drop the timer and say so.
				n.log.Error("timer failed; dropped", "timer", string(k[8:]), "err", err)
				_ = n.db.Update(func(tx *store.Tx) error {
					if err := tx.Delete(store.Timers, k); err != nil {
						return err
					}
					return tx.Delete(store.TimerNames, k[8:])
				})
			}
		}()
	}
	wg.Wait()
}

// TimersLen is the number of durable timers waiting to fire.
func (n *Node) TimersLen() (int, error) {
	var c int
	err := n.db.View(func(tx *store.Tx) error { c = tx.Count(store.Timers); return nil })
	return c, err
}
