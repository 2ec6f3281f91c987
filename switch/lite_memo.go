package upiswitch

import (
	"slices"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// recMemo is the switch's memory of the SwitchLiteRecords it committed, so
// that the steps of a sync batch (the claim, the payees' answer, the
// debit's, the credit's, the answer) do not each read and decode every
// record of the batch from bbolt again, and do not encode each record's
// body (the device's LiteRecord, which does not change once the payee's
// account is on it) again at every write: they were about a sixth of the
// CPU of a Lite sync (BenchmarkLiteSync's profile).
//
// It holds only what is durable. Every write of a record (saveCounter,
// freeCounter's delete) first puts a mark in its place, which a read
// takes for "not known" (it reads bbolt, where the transaction's own
// writes are); only when that transaction has committed does the record
// replace the mark, and only if no later write put another mark meanwhile.
// So a read finds either the last committed record or nothing, whatever
// commits fail or are retried. A record handed to a step is the step's
// own copy (copyRec), sharing only the body, which nothing changes once
// claimed (the payee's account is kept beside it, SwitchLiteRecord.payee_ac),
// so the body is encoded once, at the claim.
type recMemo struct {
	mu    sync.Mutex
	stamp uint64
	recs  map[recID]memoEntry
}

type memoEntry struct {
	stamp uint64      // the write whose record this is, or is to be
	rec   *liteRecord // nil: a write not committed yet (read bbolt)
	body  []byte      // rec.Record encoded
}

// memoCap bounds the records a switch keeps in memory (about 1 KB each):
// twice the records of 40 batches of 500 syncing at once.
const memoCap = 1 << 15

type memoKey struct{}

func memoOf(c *node.Ctx) *recMemo {
	return c.Memo(memoKey{}, func() any { return &recMemo{recs: map[recID]memoEntry{}} }).(*recMemo)
}

// get is a copy of the committed record id, or nil when the memo does
// not know it.
func (m *recMemo) get(id recID) *liteRecord {
	m.mu.Lock()
	e := m.recs[id]
	m.mu.Unlock()
	if e.rec == nil {
		return nil
	}
	return copyRec(e.rec)
}

// wrote marks id written by tx, and keeps rec (nil for a delete) with its
// encoded body once tx has committed, unless id was written again since.
// rec is the memo's: the caller does not change it after (saveCounter
// gives it a copy).
func (m *recMemo) wrote(tx *store.Tx, id recID, rec *liteRecord, body []byte) {
	m.mu.Lock()
	m.stamp++
	stamp := m.stamp
	if _, ok := m.recs[id]; !ok && len(m.recs) >= memoCap {
		for k := range m.recs { // any one: most are of batches done
			delete(m.recs, k)
			break
		}
	}
	m.recs[id] = memoEntry{stamp: stamp}
	m.mu.Unlock()
	if rec == nil {
		return
	}
	tx.OnCommit(func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if e, ok := m.recs[id]; ok && e.stamp == stamp {
			m.recs[id] = memoEntry{stamp: stamp, rec: rec, body: body}
		}
	})
}

// bodyOf is r's body encoded: the memo's when r carries the body the memo
// has for it (the record was read from the memo and its body not
// replaced), else encoded now.
func (m *recMemo) bodyOf(id recID, r *upiv1.LiteRecord) ([]byte, error) {
	m.mu.Lock()
	e := m.recs[id]
	m.mu.Unlock()
	if e.rec != nil && e.rec.Record == r && r != nil {
		return e.body, nil
	}
	return proto.Marshal(r)
}

// encodeRec is r as a SwitchLiteRecord's bytes, with its body's encoding
// body in place of the field (an embedded message and bytes are the same
// on the wire).
func encodeRec(r *liteRecord, body []byte) ([]byte, error) {
	rec := r.Record
	r.Record = nil
	defer func() { r.Record = rec }()
	size := proto.Size(r)
	if rec != nil {
		size += protowire.SizeTag(recordField) + protowire.SizeBytes(len(body))
	}
	raw, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(make([]byte, 0, size), r)
	if err != nil || rec == nil {
		return raw, err
	}
	raw = protowire.AppendTag(raw, recordField, protowire.BytesType)
	return protowire.AppendBytes(raw, body), nil
}

// recordField is SwitchLiteRecord.record's number.
var recordField = (&liteRecord{}).ProtoReflect().Descriptor().Fields().ByName("record").Number()

// copyRec is a copy of r a step may change: its own fields and slices,
// r's body (which is not changed in place). TestCopyRecCopiesEveryField
// fails when SwitchLiteRecord gains a field this does not copy.
func copyRec(r *liteRecord) *liteRecord {
	return &liteRecord{
		Lrn: r.Lrn, Counter: r.Counter, Hash: slices.Clip(r.Hash), Kind: r.Kind, TxnId: r.TxnId,
		State: r.State, Status: r.Status, ErrCode: r.ErrCode, Utr: r.Utr, Record: r.Record,
		Created: r.Created, Updated: r.Updated, DoubleSpends: slices.Clip(r.DoubleSpends), Reason: r.Reason,
		RefundedPaise: r.RefundedPaise, RefundTxnIds: slices.Clip(r.RefundTxnIds), PayeeAc: r.PayeeAc,
	}
}
