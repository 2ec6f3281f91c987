package node

import (
	"bytes"
	"strings"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/store"
)

// checkAnswer refuses a response (a Resp* message: one with a resp) that
// does not answer a request this node sent to its sender: resp.req_msg_id
// must name a message of the same transaction that the trace says went to
// in.From. So a node accepts an answer only from the node it asked, and
// only to a question it asked; a forged or misrouted answer is refused in
// the Ack with nothing stored. Receive checks it for senders the transport
// authenticated (Peer), as it is the same-network insider with a valid
// certificate that it guards against.
func (n *Node) checkAnswer(in *Inbound) error {
	if !strings.HasPrefix(in.API, "Resp") {
		return nil
	}
	rg, ok := in.Msg.(respGetter)
	if !ok {
		return nil
	}
	req := rg.GetResp().GetReqMsgId()
	if req == "" {
		return Refuse("%s from %s: resp.req_msg_id is required: it names the request this answers", in.API, in.From)
	}
	var sent bool
	err := n.db.View(func(tx *store.Tx) error {
		var err error
		sent, err = sentTo(tx, in.Msg.GetTxn().GetId(), req, in.From)
		return err
	})
	if err != nil {
		return err
	}
	if !sent {
		return Refuse("%s from %s: resp.req_msg_id %s names no request this node sent to %s in txn %s", in.API, in.From, req, in.From, in.Msg.GetTxn().GetId())
	}
	return nil
}

// The values of TraceByTxn's entries (putTrace): an outbound message's
// says whom it went to, so sentTo need not decode the trace records.
const (
	traceIdxIn  = 'I' // 'I'
	traceIdxOut = 'O' // 'O' ‖ msg_id ‖ 0 ‖ peer
)

// traceIndexValue is rec's TraceByTxn value.
func traceIndexValue(rec *upiv1.TraceRecord) []byte {
	if rec.GetDirection() != upiv1.TraceRecord_OUT {
		return []byte{traceIdxIn}
	}
	v := make([]byte, 0, 2+len(rec.GetMsgId())+len(rec.GetPeer()))
	v = append(v, traceIdxOut)
	v = append(v, rec.GetMsgId()...)
	v = append(v, 0)
	return append(v, rec.GetPeer()...)
}

// sentTo reports whether the trace of txn has a message with msgID that
// this node sent to peer. An index entry of an older file has no value:
// its trace record is read instead. The messages dropped under retention
// are looked up in the transaction's pruned marker, which keeps a hash of
// the msg_id and receiver of each one sent (prune.go), so a late answer to
// a pruned transaction is admitted as before.
func sentTo(tx *store.Tx, txn, msgID, peer string) (bool, error) {
	prefix := make([]byte, 0, len(txn)+1)
	prefix = append(append(prefix, txn...), 0)
	want := make([]byte, 0, 2+len(msgID)+len(peer))
	want = append(append(append(append(want, traceIdxOut), msgID...), 0), peer...)
	var found bool
	err := tx.Scan(store.TraceByTxn, prefix, func(k, v []byte) (bool, error) {
		switch {
		case len(v) > 0 && v[0] == tracePruned: // dropped under retention
			var err error
			found, err = sentPruned(v, msgID, peer)
			if err != nil {
				return false, err
			}
		case len(v) > 0:
			found = bytes.Equal(v, want)
		default:
			raw := tx.Get(store.Trace, k[len(prefix):])
			if raw == nil {
				return true, nil
			}
			rec, _, _, err := decodeLog(raw)
			if err != nil {
				return false, err
			}
			found = rec.GetDirection() == upiv1.TraceRecord_OUT && rec.GetMsgId() == msgID && rec.GetPeer() == peer
		}
		return !found, nil
	})
	return found, err
}
