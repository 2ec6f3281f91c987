package node_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/store"
)

// downFor is a Transport that cannot deliver the messages of the txns in
// down (their receiver is unreachable) and hands the rest to next.
type downFor struct {
	next node.Transport
	mu   sync.Mutex
	down map[string]bool
}

func (d *downFor) Send(ctx context.Context, m node.Outgoing) (*upiv1.Ack, error) {
	msg, err := node.DecodeFor(m.Method, m.Body)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	down := d.down[msg.GetTxn().GetId()]
	d.mu.Unlock()
	if down {
		return nil, errors.New("connection refused")
	}
	return d.next.Send(ctx, m)
}

// inboxLen is the size of n's inbox entry of the message with head h.
func inboxLen(t *testing.T, n *node.Node, h *upiv1.Head) int {
	t.Helper()
	var l int
	require.NoError(t, n.View(func(tx *store.Tx) error {
		l = len(tx.Get(store.Inbox, []byte(h.GetOrgId()+"\x00"+h.GetMsgId())))
		return nil
	}))
	require.NotZero(t, l)
	return l
}

// traceOf is n's trace of txn.
func traceOf(t *testing.T, n *node.Node, txn string) []*upiv1.TraceRecord {
	t.Helper()
	recs, err := n.Trace(txn)
	require.NoError(t, err)
	return recs
}

// With Config.Retain, a transaction that ended longer ago than Retain
// loses its messages' bodies (the trace, its acks) while its records and
// the inbox stay: a repeat is still answered from the inbox and not
// applied again, and a late answer to what it sent is still admitted. A
// transaction with an undelivered message, one a timer names, and one
// whose last message is recent keep their traces.
func TestPruneUnderRetention(t *testing.T) {
	clock := nodetest.NewClock(time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC))
	h := &counter{fireTo: "betapsp"}
	rec := nodetest.NewRecorder()
	tr := &downFor{next: rec, down: map[string]bool{}}
	const retain = time.Minute
	n := nodetest.New(t, "alphapsp", pspTable(h), tr, requirePeer, nodetest.WithClock(clock),
		func(c *node.Config) { c.Retain = retain })
	ctx := asPeer(t.Context(), "npci", "switch")

	// ended: a ReqHbt received, and one sent (by a timer) and acked.
	ended := hbt("npci", "")
	ack, err := n.Receive(ctx, upiv1.PspService_ReqHbt_FullMethodName, ended)
	require.NoError(t, err)
	require.Empty(t, ack.GetErr())
	endedTxn := ended.GetTxn().GetId()
	require.NoError(t, n.Update(func(c *node.Ctx) error { return c.SetTimer("tick:ask", c.Now(), []byte(endedTxn)) }))
	asked := rec.WaitFor(t, reqHbt, endedTxn)
	afterReceive := inboxLen(t, n, ended.GetHead())

	// outbox: a message its receiver never acks.
	outboxTxn := ids.NewTxnID("ALP")
	tr.mu.Lock()
	tr.down[outboxTxn] = true
	tr.mu.Unlock()
	require.NoError(t, n.Update(func(c *node.Ctx) error { return c.SetTimer("tick:send", c.Now(), []byte(outboxTxn)) }))

	// timed: a message received, and a timer naming the txn due later.
	timed := hbt("npci", "")
	_, err = n.Receive(ctx, upiv1.PspService_ReqHbt_FullMethodName, timed)
	require.NoError(t, err)
	timedTxn := timed.GetTxn().GetId()
	require.NoError(t, n.Update(func(c *node.Ctx) error {
		return c.SetTimer("tick:"+timedTxn, c.Now().Add(time.Hour), []byte("later"))
	}))

	// Everything sent that can be is acked, and the ack noted.
	require.Eventually(t, func() bool {
		recs := traceOf(t, n, endedTxn)
		return outboxLen(t, n) == 1 && len(recs) == 2 && recs[1].GetAcked() != nil
	}, 5*time.Second, time.Millisecond)
	before := keys(t, n, store.Trace)

	// Nothing is older than Retain yet: nothing goes.
	_, err = n.Prune()
	require.NoError(t, err)
	assert.Equal(t, before, keys(t, n, store.Trace))

	clock.Advance(retain + time.Second)
	// recent: a message received after the others aged.
	recent := hbt("npci", "")
	_, err = n.Receive(ctx, upiv1.PspService_ReqHbt_FullMethodName, recent)
	require.NoError(t, err)

	_, err = n.Prune()
	require.NoError(t, err)
	assert.EqualValues(t, 2, n.Pruned(), "ended's two messages (the background pruner counts in too)")
	assert.Equal(t, before+1-2, keys(t, n, store.Trace))

	recs := traceOf(t, n, endedTxn)
	require.Len(t, recs, 1)
	assert.Equal(t, node.PrunedAPI, recs[0].GetApi())
	assert.Contains(t, recs[0].GetNote(), "2 message(s) of this transaction")
	assert.Contains(t, recs[0].GetNote(), "were dropped")
	for _, txn := range []string{outboxTxn, timedTxn, recent.GetTxn().GetId()} {
		for _, r := range traceOf(t, n, txn) {
			assert.NotEqual(t, node.PrunedAPI, r.GetApi(), "txn %s is outstanding or recent", txn)
		}
	}
	assert.Len(t, traceOf(t, n, outboxTxn), 1)
	assert.Len(t, traceOf(t, n, timedTxn), 1)
	assert.Equal(t, 3, keys(t, n, store.Inbox), "the inbox keeps every dedup entry")
	assert.EqualValues(t, 1, count(t, n, "applied/"+endedTxn), "the role's state is kept")

	// A repeat of ended's ReqHbt is answered from the inbox, not applied.
	again, err := n.Receive(ctx, upiv1.PspService_ReqHbt_FullMethodName, proto.Clone(ended).(node.Message))
	require.NoError(t, err)
	assert.Empty(t, again.GetErr())
	assert.True(t, proto.Equal(ack, again), "the stored ack, whole: %v, first %v", again, ack)
	assert.Less(t, inboxLen(t, n, ended.GetHead()), afterReceive, "the inbox entry was shrunk")
	assert.EqualValues(t, 1, count(t, n, "applied/"+endedTxn))
	other := proto.Clone(ended).(*upiv1.ReqHbt)
	other.Txn.Note = "another body"
	clash, err := n.Receive(ctx, upiv1.PspService_ReqHbt_FullMethodName, other)
	require.NoError(t, err)
	assert.Contains(t, clash.GetErr(), "was already used for a different message")

	// A late answer to the ReqHbt ended sent is still admitted.
	late := respHbtFrom("betapsp")
	late.Txn.Id = endedTxn
	late.Resp.ReqMsgId = asked.Msg.GetHead().GetMsgId()
	lateAck, err := n.Receive(asPeer(t.Context(), "betapsp", "psp"), respHbt, late)
	require.NoError(t, err)
	assert.Empty(t, lateAck.GetErr())
	assert.EqualValues(t, 2, count(t, n, "applied/"+endedTxn))
	// An answer to a request never sent is still refused.
	forged := respHbtFrom("betapsp")
	forged.Txn.Id = endedTxn
	forged.Resp.ReqMsgId = ids.NewMsgID("ALP")
	forgedAck, err := n.Receive(asPeer(t.Context(), "betapsp", "psp"), respHbt, forged)
	require.NoError(t, err)
	assert.Contains(t, forgedAck.GetErr(), "names no request this node sent to betapsp")

	// What came after the prune shows after its record, and goes in the
	// next prune, folded into the same record.
	require.Eventually(t, func() bool { return len(traceOf(t, n, endedTxn)) == 4 }, 5*time.Second, time.Millisecond,
		"the repeats are traced lazily")
	recs = traceOf(t, n, endedTxn)
	assert.Equal(t, node.PrunedAPI, recs[0].GetApi())
	var notes, apis []string
	for _, r := range recs[1:] {
		notes, apis = append(notes, r.GetNote()), append(apis, r.GetApi())
	}
	assert.ElementsMatch(t, []string{"ReqHbt", "ReqHbt", "RespHbt"}, apis)
	assert.Contains(t, strings.Join(notes, "|"), "repeat of a message already received")
	assert.Contains(t, strings.Join(notes, "|"), "msg_id already used for a different message")
	clock.Advance(retain + time.Second)
	_, err = n.Prune()
	require.NoError(t, err)
	recs = traceOf(t, n, endedTxn)
	require.Len(t, recs, 1)
	assert.Contains(t, recs[0].GetNote(), "5 message(s) of this transaction")
	// ...and the first answer's request is still known.
	lateAck, err = n.Receive(asPeer(t.Context(), "betapsp", "psp"), respHbt, proto.Clone(late).(node.Message))
	require.NoError(t, err)
	assert.Empty(t, lateAck.GetErr(), "a repeat of the late answer")

	// The undelivered message goes once it is delivered and old enough.
	tr.mu.Lock()
	tr.down[outboxTxn] = false
	tr.mu.Unlock()
	clock.Advance(time.Second) // its backoff
	require.Eventually(t, func() bool { return outboxLen(t, n) == 0 }, 5*time.Second, time.Millisecond)
	clock.Advance(retain + time.Second)
	_, err = n.Prune()
	require.NoError(t, err)
	recs = traceOf(t, n, outboxTxn)
	require.Len(t, recs, 1)
	assert.Equal(t, node.PrunedAPI, recs[0].GetApi())
	assert.Len(t, traceOf(t, n, timedTxn), 1, "its timer is still set")
	assert.Equal(t, node.PrunedAPI, traceOf(t, n, recent.GetTxn().GetId())[0].GetApi())
	assert.Zero(t, keys(t, n, store.TraceAcks), "every ack noted went with its message")
	assert.Equal(t, 1, keys(t, n, store.Trace), "timed's message alone")
}

// Pruning goes in bounded rounds (maxPruneKeys) and gets through a
// backlog larger than one round, oldest first.
func TestPruneBacklog(t *testing.T) {
	clock := nodetest.NewClock(time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC))
	n := nodetest.New(t, "alphapsp", pspTable(&counter{}), nodetest.NewRecorder(), nodetest.WithClock(clock),
		func(c *node.Config) { c.Retain = time.Second })
	const txns = 1200 // two messages each: more than two rounds' keys
	var first string
	for i := range txns {
		m := hbt("npci", "")
		if i == 0 {
			first = m.GetTxn().GetId()
		}
		_, err := n.Receive(t.Context(), upiv1.PspService_ReqHbt_FullMethodName, m)
		require.NoError(t, err)
		_, err = n.Receive(t.Context(), upiv1.PspService_ReqHbt_FullMethodName, &upiv1.ReqHbt{
			Head: nodetest.Head("npci", "NPC"), Txn: m.GetTxn()})
		require.NoError(t, err)
	}
	require.Equal(t, 2*txns, keys(t, n, store.Trace))
	clock.Advance(2 * time.Second)
	_, err := n.Prune()
	require.NoError(t, err)
	assert.Zero(t, keys(t, n, store.Trace))
	assert.Equal(t, txns, keys(t, n, store.TraceByTxn), "one marker a txn")
	assert.EqualValues(t, 2*txns, n.Pruned())
	recs := traceOf(t, n, first)
	require.Len(t, recs, 1)
	assert.True(t, strings.HasPrefix(recs[0].GetNote(), "retention: 2 message(s)"), recs[0].GetNote())
}

// PruneStore refuses a retention that is not positive, and without one a
// node's Prune does nothing.
func TestPruneNeedsRetain(t *testing.T) {
	n := nodetest.New(t, "alphapsp", pspTable(&counter{}), nodetest.NewRecorder())
	_, err := n.Receive(t.Context(), upiv1.PspService_ReqHbt_FullMethodName, hbt("npci", ""))
	require.NoError(t, err)
	st, err := n.Prune()
	require.NoError(t, err)
	assert.Zero(t, st.Messages)
	assert.Equal(t, 1, keys(t, n, store.Trace))
	_, err = node.PruneStore(n.DB(), time.Now(), 0)
	assert.ErrorContains(t, err, "retain must be positive")
}
