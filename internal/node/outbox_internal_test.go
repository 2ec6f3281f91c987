package node

import (
	"encoding/binary"
	"encoding/hex"
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

// Entries written before outbox entries had a kind still decode, as gRPC
// deliveries: these are the bytes the encoder wrote then.
func TestOutboxEntryOldEncoding(t *testing.T) {
	plain, err := hex.DecodeString("046e7063691c2f7570692e76312e537769746368536572766963652f52657150617908000000000000000300")
	require.NoError(t, err)
	e, err := decodeOutbox(store.U64(1), plain)
	require.NoError(t, err)
	assert.Equal(t, kindGRPC, e.Kind)
	assert.Equal(t, "npci", e.To)
	assert.Equal(t, "/upi.v1.SwitchService/ReqPay", e.Method)
	assert.Equal(t, store.U64(3), e.TraceKey)
	assert.Nil(t, e.Body, "the body is in the trace")
	assert.False(t, e.OwnBody)
	assert.Equal(t, plain, e.encode(), "today's encoder writes a gRPC entry as before")

	faulted, err := hex.DecodeString("056262616e6b1e2f7570692e76312e52656d6974746572536572766963652f5265715061790800000000000000040cfb80fde4a3e2c3be1802010106736563726574")
	require.NoError(t, err)
	e, err = decodeOutbox(store.U64(2), faulted)
	require.NoError(t, err)
	assert.Equal(t, kindGRPC, e.Kind)
	assert.Equal(t, "bbank", e.To)
	assert.Equal(t, "/upi.v1.RemitterService/ReqPay", e.Method)
	assert.Equal(t, store.U64(4), e.TraceKey)
	assert.Equal(t, "secret", string(e.Body))
	assert.True(t, e.OwnBody)
	assert.True(t, e.NotBefore.Equal(time.Unix(0, 1764583200000000123)))
	assert.Equal(t, 2, e.FailSends)
	assert.Equal(t, 1, e.LoseAcks)
	assert.True(t, e.Duplicate)
	assert.Equal(t, faulted, e.encode())
}

// An HTTP entry keeps its URL, headers and body, with or without faults.
func TestOutboxEntryHTTPRoundTrip(t *testing.T) {
	for _, e := range []outboxEntry{
		{Seq: 1, Kind: kindHTTP, To: "http://127.0.0.1:8080/hook?x=1", Method: "POST", TraceKey: []byte("t"), OwnBody: true,
			Body: []byte(`{"a":1}`), Header: map[string]string{"Content-Type": "application/json", "X-Sig": "abc"}},
		{Seq: 2, Kind: kindHTTP, To: "https://m.example/h", Method: "POST", OwnBody: true, Body: []byte{},
			Duplicate: true, LoseAcks: 2, NotBefore: time.Unix(0, 42)},
	} {
		got, err := decodeOutbox(store.U64(e.Seq), e.encode())
		require.NoError(t, err)
		assert.Equal(t, kindHTTP, got.Kind)
		assert.Equal(t, e.To, got.To)
		assert.Equal(t, e.Method, got.Method)
		assert.Equal(t, string(e.TraceKey), string(got.TraceKey))
		assert.Equal(t, string(e.Body), string(got.Body))
		assert.NotNil(t, got.Body, "an HTTP entry's body is never fetched from the trace")
		assert.True(t, got.OwnBody)
		assert.Equal(t, len(e.Header), len(got.Header))
		for k, v := range e.Header {
			assert.Equal(t, v, got.Header[k])
		}
		assert.Equal(t, e.Duplicate, got.Duplicate)
		assert.Equal(t, e.LoseAcks, got.LoseAcks)
		assert.True(t, e.NotBefore.Equal(got.NotBefore))
	}
	// An HTTP entry without its header part is corrupt, as is an unknown kind.
	e := outboxEntry{Kind: kindHTTP, To: "http://x/", Method: "POST", OwnBody: true, Body: []byte("b")}
	v := e.encode()
	_, err := decodeOutbox(store.U64(1), v[:len(v)-2])
	assert.ErrorIs(t, err, errCorrupt)
	e.Kind = 7
	_, err = decodeOutbox(store.U64(1), e.encode())
	assert.ErrorIs(t, err, errCorrupt)
}

// An HTTP entry keeps its PostOptions; one without them is written as
// before they existed, so older entries read as without them.
func TestOutboxEntryPostOptions(t *testing.T) {
	base := outboxEntry{Seq: 1, Kind: kindHTTP, To: "http://127.0.0.1:1/h", Method: "POST", TraceKey: []byte("t"),
		OwnBody: true, Body: []byte("{}"), Header: map[string]string{"webhook-id": "evt_1"}}
	for _, o := range []struct {
		once bool
		tag  string
	}{{true, "dlv_1"}, {true, ""}, {false, "t"}, {true, "a\x00b.c"}} {
		e := base
		e.Once, e.Tag, e.FailSends = o.once, o.tag, 1
		got, err := decodeOutbox(store.U64(1), e.encode())
		require.NoError(t, err)
		assert.Equal(t, o.once, got.Once)
		assert.Equal(t, o.tag, got.Tag)
		assert.Equal(t, 1, got.FailSends)
		assert.Equal(t, "{}", string(got.Body))
		assert.Equal(t, "evt_1", got.Header["webhook-id"])
	}

	// The bytes of this HTTP entry as written before PostOptions existed.
	old, err := hex.DecodeString("14687474703a2f2f3132372e302e302e313a312f6804504f53540174050000000001027b7d12010a776562686f6f6b2d6964056576745f31")
	require.NoError(t, err)
	got, err := decodeOutbox(store.U64(1), old)
	require.NoError(t, err)
	assert.False(t, got.Once)
	assert.Empty(t, got.Tag)
	assert.Equal(t, "evt_1", got.Header["webhook-id"])
	assert.Equal(t, old, base.encode(), "an entry without options is written as before")

	// Options on a gRPC entry, or unknown flags, are corrupt.
	raw := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = binary.AppendUvarint(b, uint64(len(p)))
			b = append(b, p...)
		}
		return b
	}
	hdr := encodeHeader(map[string]string{"a": "b"})
	_, err = decodeOutbox(store.U64(1), raw([]byte("http://x/"), []byte("POST"), []byte("t"), []byte{0, 0, 0, 0, 1, 1, 'x'}, []byte("{}"), hdr))
	require.NoError(t, err, "the well-formed one")
	_, err = decodeOutbox(store.U64(1), raw([]byte("http://x/"), []byte("POST"), []byte("t"), []byte{0, 0, 0, 0, 1, 3}, []byte("{}"), hdr))
	assert.ErrorIs(t, err, errCorrupt, "unknown flag")
	_, err = decodeOutbox(store.U64(1), raw([]byte("npci"), []byte("/x/Y"), []byte("t"), []byte{0, 0, 0, 0, 0, 1}))
	assert.ErrorIs(t, err, errCorrupt, "options on a gRPC entry")
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
