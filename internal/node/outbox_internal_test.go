package node

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/store"
)

// An outbox entry keeps its faults on disk, so a restart delays, fails and
// duplicates it as the step that queued it asked.
func TestOutboxEntryRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 123, time.UTC)
	for _, e := range []outboxEntry{
		{Seq: 7, To: "npci", Method: "/upi.v1.SwitchService/ReqPay", TraceKey: []byte("k\x00\x01"), Body: []byte("body")},
		{Seq: 8, To: "bbank", Method: "/m", TraceKey: []byte("t"), Body: nil, NotBefore: at},
		{Seq: 9, To: "x", Method: "/m", TraceKey: nil, Body: []byte{0, 1, 2}, FailSends: 3, LoseAcks: 100, Duplicate: true},
		{Seq: 10, To: "x", Method: "/m", Duplicate: true},
	} {
		got, err := decodeOutbox(store.U64(e.Seq), e.encode())
		require.NoError(t, err)
		assert.Equal(t, e.To, got.To)
		assert.Equal(t, e.Method, got.Method)
		assert.Equal(t, string(e.TraceKey), string(got.TraceKey))
		assert.Empty(t, got.Body, "the body is kept in the trace, not the outbox")
		assert.True(t, e.NotBefore.Equal(got.NotBefore), "not before %v, got %v", e.NotBefore, got.NotBefore)
		assert.Equal(t, e.FailSends, got.FailSends)
		assert.Equal(t, e.LoseAcks, got.LoseAcks)
		assert.Equal(t, e.Duplicate, got.Duplicate)
		assert.Equal(t, e.Seq, got.Seq)
	}
	_, err := decodeOutbox(store.U64(1), []byte{1, 'a', 1, 'b', 0, 5, 1, 2})
	assert.ErrorIs(t, err, errCorrupt, "opts cut short")
	_, err = decodeOutbox(store.U64(1), []byte{1, 'a', 1, 'b', 0, 0, 9})
	assert.ErrorIs(t, err, errCorrupt, "trailing bytes")
}

// An ack whose lazy write did not commit (its commit failed: a full disk)
// is written again by ackLoop, so the entry leaves the outbox without a
// restart.
func TestLostAckWrittenAgain(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "a.db"), store.Options{NoSync: true})
	require.NoError(t, err)
	defer db.Close()
	n := New(Config{Name: "a", DB: db, Transport: NewInmemTransport(), RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond})
	require.NoError(t, n.Start())
	defer n.Stop()
	// An entry acked by its receiver, as left by a lazy write that failed:
	// still in the outbox, the ack noted only in memory.
	e := outboxEntry{Seq: 1, To: "b", Method: "/m", TraceKey: []byte("t")}
	require.NoError(t, db.Update(func(tx *store.Tx) error { return tx.Put(store.Outbox, store.U64(e.Seq), e.encode()) }))
	n.acks.add(pendingAck{seq: e.Seq, traceKey: e.TraceKey, at: n.now(), err: "refused"})

	require.Eventually(t, func() bool {
		l, err := n.OutboxLen()
		return err == nil && l == 0 && len(n.acks.older(n.now().Add(time.Hour))) == 0
	}, 5*time.Second, time.Millisecond, "the ack was not written again")
	require.NoError(t, db.View(func(tx *store.Tx) error {
		v := tx.Get(store.TraceAcks, []byte("t"))
		require.NotNil(t, v, "the ack is noted in the trace")
		assert.Equal(t, "refused", string(v[8:]))
		return nil
	}))
}
