package node_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/store"
)

func TestReceiveAppliesAndAcks(t *testing.T) {
	rec := nodetest.NewRecorder()
	h := &counter{replyTo: "psp"}
	n := nodetest.New(t, "npci", h, rec)
	m := hbt("psp", "")

	ack, err := n.Receive(context.Background(), reqHbt, m)
	require.NoError(t, err)
	assert.Empty(t, ack.GetErr())
	assert.Equal(t, "ReqHbt", ack.GetApi())
	assert.Equal(t, m.GetHead().GetMsgId(), ack.GetReqMsgId())
	assert.NotNil(t, ack.GetTs())
	assert.EqualValues(t, 1, count(t, n, "applied"))

	reply := rec.WaitFor(t, respHbt, m.GetTxn().GetId())
	assert.Equal(t, "psp", reply.To)
	head := reply.Msg.GetHead()
	require.NotNil(t, head, "Send fills in the head")
	assert.Equal(t, "npci", head.GetOrgId())
	assert.True(t, ids.ValidID(head.GetMsgId()))
	assert.Equal(t, "NPC", ids.PrefixOf(head.GetMsgId()))
	assert.Equal(t, "2.0", head.GetVer())
	assert.Equal(t, m.GetHead().GetMsgId(), reply.Msg.(*upiv1.RespHbt).GetResp().GetReqMsgId())
	require.Eventually(t, func() bool { return outboxLen(t, n) == 0 }, waitFor, tick)
}

func TestDedup(t *testing.T) {
	ctx := context.Background()

	t.Run("same message twice is applied once with the same ack", func(t *testing.T) {
		rec := nodetest.NewRecorder()
		n := nodetest.New(t, "npci", &counter{replyTo: "psp"}, rec)
		m := hbt("psp", "")
		ack1, err := n.Receive(ctx, reqHbt, m)
		require.NoError(t, err)
		require.Empty(t, ack1.GetErr())
		// A fresh copy, as a retry over the wire would be.
		ack2, err := n.Receive(ctx, reqHbt, proto.Clone(m).(node.Message))
		require.NoError(t, err)
		assert.True(t, proto.Equal(ack1, ack2), "second ack %v differs from first %v", ack2, ack1)
		assert.EqualValues(t, 1, count(t, n, "applied"))
		assert.Equal(t, 1, keys(t, n, store.Inbox))

		trace, err := n.Trace(m.GetTxn().GetId())
		require.NoError(t, err)
		assert.Len(t, trace, 2, "one IN and one OUT")
		rec.WaitFor(t, respHbt, m.GetTxn().GetId())
		require.Eventually(t, func() bool { return outboxLen(t, n) == 0 }, waitFor, tick)
		assert.Equal(t, 1, rec.Count(respHbt, m.GetTxn().GetId()))
	})

	t.Run("same msg_id with a different body is refused", func(t *testing.T) {
		h := &counter{}
		n := nodetest.New(t, "npci", h, nodetest.NewRecorder())
		m := hbt("psp", "")
		ack1, err := n.Receive(ctx, reqHbt, m)
		require.NoError(t, err)
		require.Empty(t, ack1.GetErr())

		other := proto.Clone(m).(*upiv1.ReqHbt)
		other.Txn.Note = "something else"
		ack2, err := n.Receive(ctx, reqHbt, other)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("msg_id %s from psp was already used for a different message", m.GetHead().GetMsgId()), ack2.GetErr())
		assert.Equal(t, m.GetHead().GetMsgId(), ack2.GetReqMsgId())
		assert.Equal(t, "ReqHbt", ack2.GetApi())

		// Same body on another method is another message too.
		ack3, err := n.Receive(ctx, upiv1.PspService_ReqHbt_FullMethodName, m)
		require.NoError(t, err)
		assert.Contains(t, ack3.GetErr(), "already used for a different message")

		assert.EqualValues(t, 1, count(t, n, "applied"))
		assert.EqualValues(t, 1, h.calls.Load())
		assert.Equal(t, 1, keys(t, n, store.Inbox))
		// The refused copies are traced (lazily), each with why.
		var trace []*upiv1.TraceRecord
		require.Eventually(t, func() bool {
			trace, err = n.Trace(m.GetTxn().GetId())
			return err == nil && len(trace) == 3
		}, 5*time.Second, 5*time.Millisecond, "the original and the two refused copies")
		assert.Empty(t, trace[0].GetNote())
		for _, r := range trace[1:] {
			assert.Equal(t, "refused: msg_id already used for a different message", r.GetNote())
			assert.Contains(t, r.GetAckErr(), "already used for a different message")
		}

		// The original is still answered with its own ack.
		ack4, err := n.Receive(ctx, reqHbt, m)
		require.NoError(t, err)
		assert.True(t, proto.Equal(ack1, ack4))
	})

	t.Run("same msg_id from another sender is another message", func(t *testing.T) {
		n := nodetest.New(t, "npci", &counter{}, nodetest.NewRecorder())
		m := hbt("psp", "")
		other := proto.Clone(m).(*upiv1.ReqHbt)
		other.Head.OrgId = "otherpsp"
		for _, msg := range []*upiv1.ReqHbt{m, other} {
			ack, err := n.Receive(ctx, reqHbt, msg)
			require.NoError(t, err)
			require.Empty(t, ack.GetErr())
		}
		assert.EqualValues(t, 2, count(t, n, "applied"))
	})

	t.Run("concurrent duplicates are applied exactly once", func(t *testing.T) {
		rec := nodetest.NewRecorder()
		n := nodetest.New(t, "npci", &counter{replyTo: "psp"}, rec)
		m := hbt("psp", "")
		const copies = 20
		acks := make([]*upiv1.Ack, copies)
		errs := make([]error, copies)
		startGate := make(chan struct{})
		var wg sync.WaitGroup
		for i := range copies {
			msg := proto.Clone(m).(node.Message)
			wg.Go(func() {
				<-startGate
				acks[i], errs[i] = n.Receive(ctx, reqHbt, msg)
			})
		}
		close(startGate)
		wg.Wait()
		for i := range copies {
			require.NoError(t, errs[i])
			assert.Empty(t, acks[i].GetErr())
			assert.True(t, proto.Equal(acks[0], acks[i]), "ack %d differs", i)
		}
		assert.EqualValues(t, 1, count(t, n, "applied"))
		assert.Equal(t, 1, keys(t, n, store.Inbox))
		rec.WaitFor(t, respHbt, m.GetTxn().GetId())
		require.Eventually(t, func() bool { return outboxLen(t, n) == 0 }, waitFor, tick)
		assert.Equal(t, 1, rec.Count(respHbt, ""))
	})
}

func TestRefusal(t *testing.T) {
	ctx := context.Background()
	rec := nodetest.NewRecorder()
	h := &counter{replyTo: "psp"}
	n := nodetest.New(t, "npci", h, rec)

	m := hbt("psp", noteRefuse)
	ack, err := n.Receive(ctx, reqHbt, m)
	require.NoError(t, err)
	want := `ReqHbt refused: txn note says "refuse"`
	assert.Equal(t, want, ack.GetErr())
	assert.Equal(t, m.GetHead().GetMsgId(), ack.GetReqMsgId())
	assert.EqualValues(t, 0, count(t, n, "applied"))
	assert.EqualValues(t, 0, count(t, n, "applied/"+m.GetTxn().GetId()))
	assert.Equal(t, 0, outboxLen(t, n), "a refused step sends nothing")

	// A repeat is answered the same way without running the handler again.
	calls := h.calls.Load()
	ack2, err := n.Receive(ctx, reqHbt, proto.Clone(m).(node.Message))
	require.NoError(t, err)
	assert.True(t, proto.Equal(ack, ack2), "repeat ack %v differs from %v", ack2, ack)
	assert.Equal(t, calls, h.calls.Load())
	assert.EqualValues(t, 0, count(t, n, "applied"))

	// The refusal is in the trace.
	trace, err := n.Trace(m.GetTxn().GetId())
	require.NoError(t, err)
	require.Len(t, trace, 1)
	assert.Equal(t, upiv1.TraceRecord_IN, trace[0].GetDirection())
	assert.Equal(t, want, trace[0].GetAckErr())
	assert.Empty(t, rec.All())
}

// A refused message in the same batch as accepted ones does not disturb them.
func TestRefusalAmongConcurrentMessages(t *testing.T) {
	ctx := context.Background()
	n := nodetest.New(t, "npci", &counter{}, nodetest.NewRecorder())
	const total = 60
	var wg sync.WaitGroup
	acks := make([]*upiv1.Ack, total)
	for i := range total {
		note := ""
		if i%3 == 0 {
			note = noteRefuse
		}
		m := hbt("psp", note)
		wg.Go(func() {
			var err error
			acks[i], err = n.Receive(ctx, reqHbt, m)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	for i, a := range acks {
		if i%3 == 0 {
			assert.NotEmpty(t, a.GetErr(), "message %d", i)
		} else {
			assert.Empty(t, a.GetErr(), "message %d", i)
		}
	}
	assert.EqualValues(t, total-total/3, count(t, n, "applied"))
	assert.Equal(t, total, keys(t, n, store.Inbox))
}

func TestReceiveBadMessages(t *testing.T) {
	ctx := context.Background()
	valid := func() *upiv1.ReqHbt { return hbt("psp", "") }
	tests := []struct {
		name    string
		mutate  func(m *upiv1.ReqHbt)
		wantErr string
	}{
		{"missing head", func(m *upiv1.ReqHbt) { m.Head = nil }, "missing head"},
		{"missing org_id", func(m *upiv1.ReqHbt) { m.Head.OrgId = "" }, "head.org_id is required"},
		{"missing msg_id", func(m *upiv1.ReqHbt) { m.Head.MsgId = "" }, "head.msg_id is required"},
		{"bad msg_id", func(m *upiv1.ReqHbt) { m.Head.MsgId = "PSP-1" }, `head.msg_id "PSP-1" is not 3 letters and 32 hex digits`},
		{"upper-case hex msg_id", func(m *upiv1.ReqHbt) { m.Head.MsgId = "PSP" + "0123456789ABCDEF0123456789ABCDEF" },
			`head.msg_id "PSP0123456789ABCDEF0123456789ABCDEF" is not 3 letters and 32 hex digits`},
		{"missing txn", func(m *upiv1.ReqHbt) { m.Txn = nil }, "txn.id is required"},
		{"missing txn id", func(m *upiv1.ReqHbt) { m.Txn.Id = "" }, "txn.id is required"},
		{"bad txn id", func(m *upiv1.ReqHbt) { m.Txn.Id = "t1" }, `txn.id "t1" is not 3 letters and 32 hex digits`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &counter{replyTo: "psp"}
			n := nodetest.New(t, "npci", h, nodetest.NewRecorder())
			m := valid()
			tc.mutate(m)
			ack, err := n.Receive(ctx, reqHbt, m)
			require.NoError(t, err)
			assert.Equal(t, tc.wantErr, ack.GetErr())
			assert.Equal(t, "ReqHbt", ack.GetApi())
			assert.Equal(t, m.GetHead().GetMsgId(), ack.GetReqMsgId())
			assert.EqualValues(t, 0, h.calls.Load(), "handler must not run")
			for _, b := range []store.Bucket{store.Inbox, store.Trace, store.TraceByTxn, store.TraceAcks, store.Meta, store.Outbox} {
				assert.Equal(t, 0, keys(t, n, b), "bucket %s", b)
			}
		})
	}
}

// validating refuses messages in Validate, before any transaction.
type validating struct{ counter }

func (v *validating) Validate(in *node.Inbound) error {
	if in.Msg.GetTxn().GetType() != upiv1.Txn_HBT {
		return node.Refuse("txn.type must be HBT, not %s", in.Msg.GetTxn().GetType())
	}
	return nil
}

func TestValidator(t *testing.T) {
	h := &validating{}
	n := nodetest.New(t, "npci", h, nodetest.NewRecorder())
	m := hbt("psp", "")
	m.Txn.Type = upiv1.Txn_PAY
	ack, err := n.Receive(context.Background(), reqHbt, m)
	require.NoError(t, err)
	assert.Equal(t, "txn.type must be HBT, not PAY", ack.GetErr())
	assert.EqualValues(t, 0, h.calls.Load())
	assert.Equal(t, 0, keys(t, n, store.Inbox))

	ack, err = n.Receive(context.Background(), reqHbt, hbt("psp", ""))
	require.NoError(t, err)
	assert.Empty(t, ack.GetErr())
	assert.EqualValues(t, 1, count(t, n, "applied"))
}

// An internal handler error is not an Ack: the sender retries, and nothing
// was stored, so the retry is applied.
func TestInternalErrorIsNotStored(t *testing.T) {
	ctx := context.Background()
	n := nodetest.New(t, "npci", &counter{}, nodetest.NewRecorder())
	m := hbt("psp", noteFail)
	ack, err := n.Receive(ctx, reqHbt, m)
	require.Error(t, err)
	assert.Nil(t, ack)
	assert.Equal(t, codes.Internal, status.Code(err))
	assert.Contains(t, err.Error(), "internal trouble")
	assert.Equal(t, 0, keys(t, n, store.Inbox))

	// Same msg_id, now acceptable (a different body, but the first was never
	// stored, so it is not a conflict).
	m.Txn.Note = ""
	ack, err = n.Receive(ctx, reqHbt, m)
	require.NoError(t, err)
	assert.Empty(t, ack.GetErr())
	assert.EqualValues(t, 1, count(t, n, "applied"))
}

func TestTrace(t *testing.T) {
	ctx := context.Background()
	rec := nodetest.NewRecorder()
	rec.Refuse = func(method string) string {
		if method == upiv1.PspService_RespPay_FullMethodName {
			return "no such txn"
		}
		return ""
	}
	n := nodetest.New(t, "npci", &counter{replyTo: "alphapsp"}, rec)

	pay := &upiv1.ReqPay{
		Head:  nodetest.Head("alphapsp", "ALP"),
		Txn:   &upiv1.Txn{Id: ids.NewTxnID("ALP"), Type: upiv1.Txn_PAY},
		Payer: &upiv1.Party{Addr: "alice@alpha", AmountPaise: 12345},
		Payee: &upiv1.Party{Addr: "bob@beta"},
	}
	txnID := pay.GetTxn().GetId()
	ack, err := n.Receive(ctx, upiv1.SwitchService_ReqPay_FullMethodName, pay)
	require.NoError(t, err)
	require.Empty(t, ack.GetErr())

	hb := hbt("alphapsp", "")
	hb.Txn.Id = txnID
	ack, err = n.Receive(ctx, reqHbt, hb)
	require.NoError(t, err)
	require.Empty(t, ack.GetErr())

	respPay := &upiv1.RespPay{Txn: &upiv1.Txn{Id: txnID, Type: upiv1.Txn_PAY, CustRef: "512312000001"},
		Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: "ZM"}}
	require.NoError(t, n.Update(func(c *node.Ctx) error {
		return c.Send("alphapsp", upiv1.PspService_RespPay_FullMethodName, respPay)
	}))

	// Another transaction's messages stay out of this one's trace.
	_, err = n.Receive(ctx, reqHbt, hbt("alphapsp", ""))
	require.NoError(t, err)

	rec.WaitFor(t, upiv1.PspService_RespPay_FullMethodName, txnID)
	rec.WaitFor(t, respHbt, txnID)
	require.Eventually(t, func() bool { return outboxLen(t, n) == 0 }, waitFor, tick)

	trace, err := n.Trace(txnID)
	require.NoError(t, err)
	require.Len(t, trace, 4)
	sentHbt := rec.WaitFor(t, respHbt, txnID).Msg
	type row struct {
		api     string
		dir     upiv1.TraceRecord_Direction
		peer    string
		msgID   string
		summary string
		ackErr  string
	}
	want := []row{
		{"ReqPay", upiv1.TraceRecord_IN, "alphapsp", pay.GetHead().GetMsgId(), "PAY 123.45 alice@alpha→bob@beta", ""},
		{"ReqHbt", upiv1.TraceRecord_IN, "alphapsp", hb.GetHead().GetMsgId(), "HBT", ""},
		{"RespHbt", upiv1.TraceRecord_OUT, "alphapsp", sentHbt.GetHead().GetMsgId(), "HBT SUCCESS", ""},
		{"RespPay", upiv1.TraceRecord_OUT, "alphapsp", respPay.GetHead().GetMsgId(), "PAY FAILURE ZM rrn 512312000001", "no such txn"},
	}
	for i, w := range want {
		r := trace[i]
		assert.Equal(t, w, row{r.GetApi(), r.GetDirection(), r.GetPeer(), r.GetMsgId(), r.GetSummary(), r.GetAckErr()}, "record %d", i)
		assert.Equal(t, "npci", r.GetNode())
		assert.Equal(t, txnID, r.GetTxnId())
		assert.NotNil(t, r.GetTs())
		if w.dir == upiv1.TraceRecord_OUT {
			assert.NotNil(t, r.GetAcked(), "OUT record %d acked", i)
		} else {
			assert.Nil(t, r.GetAcked())
		}
	}

	none, err := n.Trace(ids.NewTxnID("XYZ"))
	require.NoError(t, err)
	assert.Empty(t, none)

	// AdminService.ListMessages serves the same.
	admin := &node.AdminServer{Node: n, Role: "test"}
	resp, err := admin.ListMessages(ctx, &upiv1.ListMessagesRequest{TxnId: txnID})
	require.NoError(t, err)
	assert.Len(t, resp.GetMessages(), 4)
	_, err = admin.ListMessages(ctx, &upiv1.ListMessagesRequest{})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
}

func TestWatchNotify(t *testing.T) {
	ctx := context.Background()
	n := nodetest.New(t, "npci", &counter{}, nodetest.NewRecorder())
	m := hbt("psp", "")
	txnID := m.GetTxn().GetId()

	woken, cancel := n.Watch(txnID)
	defer cancel()
	other, cancelOther := n.Watch(ids.NewTxnID("PSP"))
	defer cancelOther()
	second, cancelSecond := n.Watch(txnID)
	cancelSecond() // a cancelled watcher is not woken

	// A refused message changes nothing and wakes nobody.
	refused := hbt("psp", noteRefuse)
	refused.Txn.Id = txnID
	ack, err := n.Receive(ctx, reqHbt, refused)
	require.NoError(t, err)
	require.NotEmpty(t, ack.GetErr())
	assertOpen(t, woken)

	ack, err = n.Receive(ctx, reqHbt, m)
	require.NoError(t, err)
	require.Empty(t, ack.GetErr())
	// Notify runs on commit, before Receive returns.
	assertClosed(t, woken)
	assertOpen(t, other)
	assertOpen(t, second)
	cancel() // cancelling after the wake-up is harmless

	// A watcher sees the change once woken, from another goroutine.
	m2 := hbt("psp", "")
	w2, cancel2 := n.Watch(m2.GetTxn().GetId())
	defer cancel2()
	got := make(chan uint64, 1)
	go func() {
		<-w2
		got <- count(t, n, "applied/"+m2.GetTxn().GetId())
	}()
	_, err = n.Receive(ctx, reqHbt, m2)
	require.NoError(t, err)
	assert.EqualValues(t, 1, <-got)

	// Node.Update notifies too.
	w3, cancel3 := n.Watch("app-key")
	defer cancel3()
	require.NoError(t, n.Update(func(c *node.Ctx) error { c.Notify("app-key"); return nil }))
	assertClosed(t, w3)
	// ... but not when its function fails.
	w4, cancel4 := n.Watch("app-key")
	defer cancel4()
	require.Error(t, n.Update(func(c *node.Ctx) error { c.Notify("app-key"); return errors.New("no") }))
	assertOpen(t, w4)
}

func assertClosed(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	default:
		t.Error("watcher was not woken")
	}
}

func assertOpen(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
		t.Error("watcher was woken")
	default:
	}
}
