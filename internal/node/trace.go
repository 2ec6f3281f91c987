package node

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
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
	if err := tx.Put(store.TraceByTxn, ik, traceIndexValue(rec)); err != nil {
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
	n := proto.Size(rec)
	v := make([]byte, 0, binary.MaxVarintLen64+n+len(method)+1+len(body))
	v = binary.AppendUvarint(v, uint64(n))
	v, _ = proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(v, rec) // a TraceRecord always marshals
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

// updateTrace changes the TraceRecord of the trace entry at key, rewriting
// the entry (for the rare notes a handler adds, Ctx.NoteReceived; acks go
// in store.TraceAcks).
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

// addTraceNote adds note to the record of the trace entry at key, unless it
// has it already (an ack written again by ackLoop).
func addTraceNote(tx *store.Tx, key []byte, note string) error {
	return updateTrace(tx, key, func(rec *upiv1.TraceRecord) {
		if !strings.Contains(rec.Note, note) {
			rec.Note = strings.TrimPrefix(rec.Note+"; "+note, "; ")
		}
	})
}

// putTraceAck notes that the message of the trace entry at key was acked
// at `at`, with the ack's err, in store.TraceAcks: a small entry appended
// rather than the rewrite of the trace entry (its record and body).
func putTraceAck(tx *store.Tx, key []byte, at time.Time, ackErr string) error {
	v := make([]byte, 8, 8+len(ackErr))
	binary.BigEndian.PutUint64(v, uint64(at.UnixNano()))
	return tx.Put(store.TraceAcks, key, append(v, ackErr...))
}

// applyTraceAck sets rec's Acked and AckErr from the store.TraceAcks entry
// of key, if there is one.
func applyTraceAck(tx *store.Tx, key []byte, rec *upiv1.TraceRecord) error {
	v := tx.Get(store.TraceAcks, key)
	if v == nil {
		return nil
	}
	if len(v) < 8 {
		return errCorruptLog
	}
	rec.Acked = timestamppb.New(time.Unix(0, int64(binary.BigEndian.Uint64(v))))
	rec.AckErr = string(v[8:])
	return nil
}

// Trace lists every message this node stored for a transaction, in the
// order stored. The messages dropped under retention (Config.Retain) are
// one record first, whose Api is PrunedAPI and whose Note says how many
// and when.
func (n *Node) Trace(txnID string) ([]*upiv1.TraceRecord, error) {
	var out []*upiv1.TraceRecord
	prefix := []byte(txnID + "\x00")
	err := n.db.View(func(tx *store.Tx) error {
		add := func(key, raw []byte) (bool, error) {
			rec, method, body, err := decodeLog(raw)
			if err != nil {
				return false, err
			}
			// The summary is made when the trace is read rather than
			// stored with every message (a repeat, stored without its
			// body, keeps its own).
			if rec.Summary == "" {
				if m, err := DecodeFor(method, body); err == nil {
					rec.Summary = Summarize(m)
				}
			}
			if err := applyTraceAck(tx, key, rec); err != nil {
				return false, err
			}
			out = append(out, rec)
			return true, nil
		}
		return tx.Scan(store.TraceByTxn, prefix, func(k, v []byte) (bool, error) {
			key := k[len(prefix):]
			if bytes.Equal(key, prunedSeq) { // dropped under retention
				m, err := decodePruned(v)
				if err != nil {
					return false, err
				}
				out = append(out, m.record(n.name, txnID))
				return true, nil
			}
			raw := tx.Get(store.Trace, key)
			if raw == nil {
				return false, errCorruptLog
			}
			return add(key, raw)
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
			parts = append(parts, upi.FormatPaise(amt))
		}
		if p.GetPayer().GetAddr() != "" || p.GetPayee().GetAddr() != "" {
			parts = append(parts, fmt.Sprintf("%s→%s", p.GetPayer().GetAddr(), p.GetPayee().GetAddr()))
		}
		if hasCreds(p.GetPayer()) || hasCreds(p.GetPayee()) {
			parts = append(parts, "creds redacted") // the trace never keeps them
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
