package node

import (
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
