package upiswitch

import (
	"fmt"
	"slices"

	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// UPI Lite at the switch (docs/FLOWS.md, UPI Lite): the auth engine's
// account of each LRN (liteAccounts) and every counter of every LRN
// (liteRecords). The pay flow's Lite purposes (41-46) are in lite_pay.go,
// the registration (ReqListKeys GetLite) and the zero-balance disable in
// lite_register.go, the sync batches in litesync.go.

type (
	liteAccount = recordsv1.SwitchLiteAccount
	liteRecord  = recordsv1.SwitchLiteRecord
)

var (
	liteAccounts = store.NewTable[liteAccount](store.LiteAccounts)
	liteRecords  = store.NewTable[liteRecord](store.LiteRecords)
)

// loadLite is the auth engine's account of lrn, nil when it has none.
func loadLite(tx *store.Tx, lrn string) (*liteAccount, error) {
	a, ok, err := liteAccounts.Get(tx, lrn)
	if err != nil || !ok {
		return nil, err
	}
	return a, nil
}

// saveLite stores a, stamped with the step's time and its next version
// (what a sync answer's balance carries, for the device to order them).
func saveLite(c *node.Ctx, a *liteAccount) error {
	a.Updated = store.Nanos(c.Now())
	a.Version++
	if a.Created == 0 {
		a.Created = a.Updated
	}
	return liteAccounts.Put(c.Tx, a.Lrn, a)
}

// loadCounter is what the switch knows of lrn's counter, nil for nothing.
func loadCounter(tx *store.Tx, lrn string, counter uint64) (*liteRecord, error) {
	r, ok, err := liteRecords.Get(tx, lite.RecordKeyString(lrn, counter))
	if err != nil || !ok {
		return nil, err
	}
	return r, nil
}

// saveCounter stores r under its LRN and counter, stamped with the step's
// time. Every write of a record goes through it or freeCounter: they keep
// the switch's memo of its records true (recMemo).
func saveCounter(c *node.Ctx, r *liteRecord) error { return writeCounter(c, r, false) }

// writeCounter is saveCounter; given (true), r is the memo's from now on:
// the caller neither keeps nor changes it (a step's cache at its end), so
// the memo need not copy it.
func writeCounter(c *node.Ctx, r *liteRecord, given bool) error {
	r.Updated = store.Nanos(c.Now())
	if r.Created == 0 {
		r.Created = r.Updated
	}
	m, id, key := memoOf(c), recID{r.Lrn, r.Counter}, lite.RecordKeyString(r.Lrn, r.Counter)
	body, err := m.bodyOf(id, r.Record)
	var raw []byte
	if err == nil {
		raw, err = encodeRec(r, body)
	}
	if err != nil {
		return fmt.Errorf("store: encode %s/%s: %w", store.LiteRecords, key, err)
	}
	if err := c.Tx.Put(store.LiteRecords, []byte(key), raw); err != nil {
		return err
	}
	if !given {
		r = copyRec(r)
	}
	m.wrote(c.Tx, id, r, body)
	return nil
}

// sameContent reports whether a counter already recorded carries hash.
func sameContent(r *liteRecord, hash []byte) bool { return slices.Equal(r.Hash, hash) }
