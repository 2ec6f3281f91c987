package node

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/store"
)

func putTrace(tx *store.Tx, rec *upiv1.TraceRecord, method string, body []byte) ([]byte, error) {
	seq, err := tx.NextSeq(store.Trace)
	if err != nil {
		return nil, err
	}
	key := append([]byte(rec.GetTxnId()+"\x00"), store.U64(seq)...)
	b, err := proto.Marshal(rec)
	if err != nil {
		return nil, err
	}
	if err := tx.Put(store.Trace, key, b); err != nil {
		return nil, err
	}
	if err := tx.Put(store.Bodies, key, append([]byte(method+"\x00"), body...)); err != nil {
		return nil, err
	}
	return key, nil
}

// Trace lists every message this node stored for a transaction, in the
// order stored.
func (n *Node) Trace(txnID string) ([]*upiv1.TraceRecord, error) {
	var out []*upiv1.TraceRecord
	err := n.db.View(func(tx *store.Tx) error {
		return tx.Scan(store.Trace, []byte(txnID+"\x00"), func(_, v []byte) (bool, error) {
			rec := &upiv1.TraceRecord{}
			if err := proto.Unmarshal(v, rec); err != nil {
				return false, err
			}
			out = append(out, rec)
			return true, nil
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
