package node

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/store"
)

// collecting acks every message and keeps the bodies it was sent.
type collecting struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (c *collecting) Send(_ context.Context, m Outgoing) (*upiv1.Ack, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bodies = append(c.bodies, m.Body)
	return &upiv1.Ack{Api: "ReqHbt"}, nil
}

func (c *collecting) sent() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.bodies...)
}

type nopHandler struct{}

func (nopHandler) Handle(*Ctx, *Inbound) error { return nil }
func (nopHandler) Fire(*Ctx, Timer) error      { return nil }

// A file written before the trace was keyed by sequence number (trace keys
// txn_id "\x00" seq, outbox entries with the body inline) still works: its
// trace is listed, before what is stored since, and its queued message is
// delivered with its body and marked acked; an entry whose ack is in its
// record (as acks were noted then) keeps it.
func TestTraceAndOutboxOfTheOldLayout(t *testing.T) {
	const method = "/upi.v1.PspService/ReqHbt"
	db, err := store.Open(filepath.Join(t.TempDir(), "old.db"), store.Options{})
	require.NoError(t, err)
	defer db.Close()

	txnID := ids.NewTxnID("NPC")
	msg := &upiv1.ReqHbt{
		Head: &upiv1.Head{Ver: "2.0", Ts: timestamppb.Now(), OrgId: "npci", MsgId: ids.NewMsgID("NPC"), ProdType: "UPI"},
		Txn:  &upiv1.Txn{Id: txnID, Type: upiv1.Txn_HBT},
	}
	body, err := proto.Marshal(msg)
	require.NoError(t, err)
	rec := &upiv1.TraceRecord{Node: "npci", Api: "ReqHbt", Direction: upiv1.TraceRecord_OUT, Peer: "psp", MsgId: msg.GetHead().GetMsgId(), TxnId: txnID}
	oldKey := append([]byte(txnID+"\x00"), store.U64(1)...)
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		if err := tx.Put(store.Trace, oldKey, encodeLog(rec, method, body)); err != nil {
			return err
		}
		// The old outbox entry: To, Method and TraceKey with uvarint
		// lengths, then the body.
		var v []byte
		for _, s := range [][]byte{[]byte("psp"), []byte(method), oldKey} {
			v = binary.AppendUvarint(v, uint64(len(s)))
			v = append(v, s...)
		}
		if err := tx.Put(store.Outbox, store.U64(1), append(v, body...)); err != nil {
			return err
		}
		// An entry acked before: the ack is in its record.
		acked := proto.Clone(rec).(*upiv1.TraceRecord)
		acked.MsgId, acked.Acked, acked.AckErr = ids.NewMsgID("NPC"), timestamppb.Now(), "refused"
		return tx.Put(store.Trace, append([]byte(txnID+"\x00"), store.U64(2)...), encodeLog(acked, method, body))
	}))

	tr := &collecting{}
	n := New(Config{Name: "npci", DB: db, Handler: nopHandler{}, Transport: tr})
	require.NoError(t, n.Start())
	defer n.Stop()
	require.Eventually(t, func() bool { l, _ := n.OutboxLen(); return l == 0 && len(tr.sent()) == 1 }, 5*time.Second, 2*time.Millisecond)
	assert.Equal(t, body, tr.sent()[0], "the old entry's inline body is sent")

	// A message stored now for the same transaction is listed after it.
	require.NoError(t, n.Update(func(c *Ctx) error {
		return c.Send("psp", method, &upiv1.ReqHbt{Txn: &upiv1.Txn{Id: txnID, Type: upiv1.Txn_HBT}})
	}))
	require.Eventually(t, func() bool { l, _ := n.OutboxLen(); return l == 0 && len(tr.sent()) == 2 }, 5*time.Second, 2*time.Millisecond)
	trace, err := n.Trace(txnID)
	require.NoError(t, err)
	require.Len(t, trace, 3)
	assert.Equal(t, msg.GetHead().GetMsgId(), trace[0].GetMsgId(), "the old entries come first")
	assert.Equal(t, "refused", trace[1].GetAckErr(), "an old entry's own ack")
	for _, r := range trace {
		assert.NotNil(t, r.GetAcked(), "%s marked acked", r.GetMsgId())
	}
}
