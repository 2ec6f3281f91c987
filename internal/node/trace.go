package node

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/store"
)

// putTrace stores a message in the node's trace, indexed by its
// transaction, and returns its key.
func putTrace(tx *store.Tx, rec *upiv1.TraceRecord, method string, body []byte) ([]byte, error) {
	seq, err := tx.NextSeq(store.Trace)
	if err != nil {
		return nil, err
	}
	key := store.U64(seq)
	if err := tx.Put(store.Trace, key, encodeLog(rec, method, body)); err != nil {
		return nil, err
	}
	txn := rec.GetTxnId()
	ik := make([]byte, 0, len(txn)+1+len(key))
	ik = append(append(append(ik, txn...), 0), key...)
	if err := tx.Put(store.TraceByTxn, ik, []byte{}); err != nil {
		return nil, err
	}
	return key, nil
}

// traceBody returns the body of the trace entry at key.
func traceBody(tx *store.Tx, key []byte) ([]byte, error) {
	raw := tx.Get(store.Trace, key)
	if raw == nil {
		return nil, errCorruptLog
	}
	_, _, body, err := decodeLog(raw)
	return body, err
}

// A trace entry is uvarint(len(record)) ‖ record ‖ method ‖ 0 ‖ body.
func encodeLog(rec *upiv1.TraceRecord, method string, body []byte) []byte {
	rb, _ := proto.Marshal(rec) // a TraceRecord always marshals
	v := make([]byte, 0, 10+len(rb)+len(method)+1+len(body))
	v = binary.AppendUvarint(v, uint64(len(rb)))
	v = append(v, rb...)
	v = append(v, method...)
	v = append(v, 0)
	return append(v, body...)
}

var errCorruptLog = errors.New("node: corrupt log entry")

func decodeLog(v []byte) (rec *upiv1.TraceRecord, method string, body []byte, err error) {
	l, n := binary.Uvarint(v)
	if n <= 0 || uint64(len(v)-n) < l {
		return nil, "", nil, errCorruptLog
	}
	rec = &upiv1.TraceRecord{}
	if err := proto.Unmarshal(v[n:n+int(l)], rec); err != nil {
		return nil, "", nil, err
	}
	rest := v[n+int(l):]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		return nil, "", nil, errCorruptLog
	}
	return rec, string(rest[:i]), rest[i+1:], nil
}

// updateTrace changes the TraceRecord of the trace entry at key.
func updateTrace(tx *store.Tx, key []byte, change func(*upiv1.TraceRecord)) error {
	raw := tx.Get(store.Trace, key)
	if raw == nil {
		return nil
	}
	rec, method, body, err := decodeLog(raw)
	if err != nil {
		return err
	}
	change(rec)
	return tx.Put(store.Trace, key, encodeLog(rec, method, body))
}

// Trace lists every message this node stored for a transaction, in the
// order stored.
func (n *Node) Trace(txnID string) ([]*upiv1.TraceRecord, error) {
	var out []*upiv1.TraceRecord
	prefix := []byte(txnID + "\x00")
	add := func(raw []byte) (bool, error) {
		rec, _, _, err := decodeLog(raw)
		if err != nil {
			return false, err
		}
		out = append(out, rec)
		return true, nil
	}
	err := n.db.View(func(tx *store.Tx) error {
		// Entries from before the index (keyed txn_id "\x00" seq in Trace
		// itself) come first: they were stored first.
		if err := tx.Scan(store.Trace, prefix, func(_, raw []byte) (bool, error) { return add(raw) }); err != nil {
			return err
		}
		return tx.Scan(store.TraceByTxn, prefix, func(k, _ []byte) (bool, error) {
			raw := tx.Get(store.Trace, k[len(prefix):])
			if raw == nil {
				return false, errCorruptLog
			}
			return add(raw)
		})
	})
	return out, err
}

type partyGetter interface {
	GetPayer() *upiv1.Party
	GetPayee() *upiv1.Party
}

type respGetter interface{ GetResp() *upiv1.Resp }

// Summarize describes a message in one line: the txn type, amount and
// parties of a request, the result and error code of a response.
func Summarize(m Message) string {
	var parts []string
	if t := m.GetTxn(); t.GetType() != upiv1.Txn_TYPE_UNSPECIFIED {
		parts = append(parts, t.GetType().String())
	}
	if p, ok := m.(partyGetter); ok {
		amt := p.GetPayer().GetAmountPaise()
		if amt == 0 {
			amt = p.GetPayee().GetAmountPaise()
		}
		if amt != 0 {
			parts = append(parts, ids.FormatPaise(amt))
		}
		if p.GetPayer().GetAddr() != "" || p.GetPayee().GetAddr() != "" {
			parts = append(parts, fmt.Sprintf("%s→%s", p.GetPayer().GetAddr(), p.GetPayee().GetAddr()))
		}
	}
	if r, ok := m.(respGetter); ok && r.GetResp() != nil {
		s := r.GetResp().GetResult().String()
		if c := r.GetResp().GetErrCode(); c != "" {
			s += " " + c
		}
		parts = append(parts, s)
	}
	if c := m.GetTxn().GetCustRef(); c != "" {
		parts = append(parts, "rrn "+c)
	}
	return strings.Join(parts, " ")
}
