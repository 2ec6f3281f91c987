package node_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/store"
)

// forwarder passes every ReqPay on to the node "bank", creds and all, as
// the switch does with a DEBIT. As a Preparer it counts its calls and
// hands Handle a value that Handle records in store.Meta.
type forwarder struct{ prepared atomic.Int32 }

func (f *forwarder) Prepare(_ context.Context, view func(func(*store.Tx) error) error, in *node.Inbound) (any, error) {
	f.prepared.Add(1)
	var meta int
	if err := view(func(tx *store.Tx) error { meta = tx.Count(store.Meta); return nil }); err != nil {
		return nil, err
	}
	return fmt.Sprintf("prepared %s (meta %d)", in.Msg.GetHead().GetMsgId(), meta), nil
}

func (f *forwarder) Handle(c *node.Ctx, in *node.Inbound) error {
	p, _ := in.Prepared.(string)
	if err := c.Tx.Put(store.Meta, []byte("prepared/"+in.Msg.GetHead().GetMsgId()), []byte(p)); err != nil {
		return err
	}
	m := in.Msg.(*upiv1.ReqPay)
	return c.Send("bank", upiv1.RemitterService_ReqPay_FullMethodName, &upiv1.ReqPay{
		Txn: m.GetTxn(), Payer: m.GetPayer(), Payee: m.GetPayee(),
	})
}

func (f *forwarder) Fire(*node.Ctx, node.Timer) error { return nil }

// A secret the test can look for in raw bytes.
const secretBlock = "0123SECRETPINBLOCK4567"

func payWithCreds() *upiv1.ReqPay {
	return &upiv1.ReqPay{
		Head: nodetest.Head("alphapsp", "ALP"),
		Txn:  &upiv1.Txn{Id: ids.NewTxnID("ALP"), Type: upiv1.Txn_PAY},
		Payer: &upiv1.Party{Addr: "alice@alpha", AmountPaise: 100,
			Creds: []*upiv1.Cred{{Type: "PIN", SubType: "MPIN", Data: secretBlock}}},
		Payee: &upiv1.Party{Addr: "bob@beta"},
	}
}

// rawBytes concatenates every key and value of the buckets.
func rawBytes(t testing.TB, db *store.DB, buckets ...store.Bucket) []byte {
	t.Helper()
	var all []byte
	require.NoError(t, db.View(func(tx *store.Tx) error {
		for _, b := range buckets {
			err := tx.Scan(b, nil, func(k, v []byte) (bool, error) {
				all = append(append(all, k...), v...)
				return true, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	}))
	return all
}

// A message's credentials are kept nowhere a body is stored for the
// record: not in the IN or OUT trace records nor in the inbox. The outbox
// entry of a message with credentials holds its own body until the
// receiver acks it, survives a restart with it, and is then deleted.
func TestCredsAreNotTraced(t *testing.T) {
	path := dbPath(t, "npci")
	down := &failing{next: nodetest.NewRecorder(), n: 1 << 30} // the bank is down
	f := &forwarder{}
	inst := start(t, path, "npci", f, down)
	m := payWithCreds()
	txnID := m.GetTxn().GetId()
	ack, err := inst.Receive(t.Context(), upiv1.SwitchService_ReqPay_FullMethodName, m)
	require.NoError(t, err)
	require.Empty(t, ack.GetErr())
	assert.EqualValues(t, 1, f.prepared.Load())

	records := rawBytes(t, inst.DB(), store.Inbox, store.Trace, store.TraceByTxn, store.TraceAcks)
	assert.False(t, bytes.Contains(records, []byte(secretBlock)), "inbox and trace hold no credential")
	assert.True(t, bytes.Contains(rawBytes(t, inst.DB(), store.Outbox), []byte(secretBlock)),
		"the undelivered message keeps its credentials in its own outbox entry")

	trace, err := inst.Trace(txnID)
	require.NoError(t, err)
	require.Len(t, trace, 2)
	for _, r := range trace {
		assert.Contains(t, r.GetSummary(), "creds redacted", "%s %s", r.GetDirection(), r.GetApi())
	}

	// A repeat is answered from the inbox: not prepared, not handled.
	ack, err = inst.Receive(t.Context(), upiv1.SwitchService_ReqPay_FullMethodName, m)
	require.NoError(t, err)
	require.Empty(t, ack.GetErr())
	assert.EqualValues(t, 1, f.prepared.Load(), "a repeat is not prepared again")

	// After a restart the bank is up: the message goes out whole.
	inst.stop()
	rec := nodetest.NewRecorder()
	inst = start(t, path, "npci", f, rec)
	got := rec.WaitFor(t, upiv1.RemitterService_ReqPay_FullMethodName, txnID)
	require.Len(t, got.Msg.(*upiv1.ReqPay).GetPayer().GetCreds(), 1)
	assert.Equal(t, secretBlock, got.Msg.(*upiv1.ReqPay).GetPayer().GetCreds()[0].GetData(), "delivered with its credentials")
	require.Eventually(t, func() bool { return outboxLen(t, inst.Node) == 0 }, 5*time.Second, 5*time.Millisecond)
	all := rawBytes(t, inst.DB(), store.Inbox, store.Outbox, store.Trace, store.TraceByTxn, store.TraceAcks, store.Meta)
	assert.False(t, bytes.Contains(all, []byte(secretBlock)), "once acked, no bucket holds the credential")

	var prepared []byte
	require.NoError(t, inst.DB().View(func(tx *store.Tx) error {
		prepared = bytes.Clone(tx.Get(store.Meta, []byte("prepared/"+m.GetHead().GetMsgId())))
		return nil
	}))
	assert.Equal(t, "prepared "+m.GetHead().GetMsgId()+" (meta 0)", string(prepared), "Handle gets what Prepare returned")
}
