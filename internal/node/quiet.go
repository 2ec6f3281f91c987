package node

import (
	"time"

	"github.com/upisim/upisim/internal/store"
)

// Quiet reports whether the node has nothing left to do at the time on its
// clock: no message in its outbox (every one acked or refused and handled)
// and no timer due. A test that waits until its nodes are quiet
// (nodetest.Quiesce) has seen everything they do until their next timer,
// with no sleep that hopes to be long enough.
func (n *Node) Quiet() (bool, error) {
	now := n.now()
	var quiet bool
	err := n.db.View(func(tx *store.Tx) error {
		if k, _ := tx.First(store.Outbox); k != nil {
			return nil
		}
		k, _ := tx.First(store.Timers)
		quiet = k == nil || timerDue(k).After(now)
		return nil
	})
	return quiet, err
}

// NextTimer is when the node's earliest timer is due; ok is false when no
// timer is set.
func (n *Node) NextTimer() (at time.Time, ok bool, err error) {
	err = n.db.View(func(tx *store.Tx) error {
		if k, _ := tx.First(store.Timers); k != nil {
			at, ok = timerDue(k), true
		}
		return nil
	})
	return at, ok, err
}

// timerDue is the due time in a store.Timers key.
func timerDue(k []byte) time.Time { return time.Unix(0, int64(store.ParseU64(k))) }
