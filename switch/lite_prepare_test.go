package upiswitch

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// A batch's records are hashed and encoded before its step (Prepare), and
// what the claim writes from those is byte for byte what it writes
// computing them itself.
func TestLiteSyncPreparedClaimIsTheStepsOwn(t *testing.T) {
	l := newLiteSync(t, 100000, nil)
	r1, r2 := l.record(1, bob, 10000), l.record(2, carol, 20000)
	m := &upiv1.ReqLiteSync{Txn: &upiv1.Txn{Id: "x", Type: upiv1.Txn_LITE_SYNC}, Records: []*upiv1.LiteRecord{r1, r2}}

	assert.True(t, l.sw.Prepares(&node.Inbound{Msg: m}))
	assert.False(t, l.sw.Prepares(&node.Inbound{Msg: &upiv1.ReqPay{}}), "a pay costs no read of the inbox before its step")
	got, err := l.sw.Prepare(context.Background(), nil, &node.Inbound{Msg: m})
	require.NoError(t, err)
	p := got.(*litePrepared)
	require.Len(t, p.recs, 2)
	for _, r := range m.Records {
		body, err := proto.Marshal(r)
		require.NoError(t, err)
		assert.Equal(t, body, p.recs[r].body)
		assert.Equal(t, lite.RecordHash(r), p.recs[r].hash)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = l.sw.Prepare(ctx, nil, &node.Inbound{Msg: m})
	assert.ErrorIs(t, err, context.Canceled, "a call given up on stops")

	batch := l.sync(r1, r2)
	for _, r := range []*upiv1.LiteRecord{r1, r2} {
		rec := l.counter(r.Counter)
		assert.Equal(t, batch, rec.TxnId)
		assert.Equal(t, lite.RecordHash(r), rec.Hash, "the claim kept the record's hash")
		assert.True(t, proto.Equal(r, rec.Record), "the body is the device's record")
		var raw []byte
		require.NoError(t, l.n.View(func(tx *store.Tx) error {
			raw = append(raw, tx.Get(store.LiteRecords, lite.RecordKey(testLRN, r.Counter))...)
			return nil
		}))
		body, err := proto.Marshal(r)
		require.NoError(t, err)
		want, err := encodeRec(copyRec(rec), body)
		require.NoError(t, err)
		assert.Equal(t, want, raw, "counter %d: written as the step would have", r.Counter)
	}
	l.resolve(batch, bob, bobAc)
	l.resolve(batch, carol, carolAc)
	l.bankAnswer(l.awaitWhere(mRemSync, batch, 1, sub(upiv1.Txn_DEBIT)), nil)
	l.bankAnswer(l.awaitWhere(mBenSync, batch, 1, sub(upiv1.Txn_CREDIT)), nil)
	assert.Equal(t, upiv1.Resp_SUCCESS.String(), l.counter(1).Status)
	assert.Equal(t, upiv1.Resp_SUCCESS.String(), l.counter(2).Status)
}
