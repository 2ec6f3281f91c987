package node

import (
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/fault"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/store"
)

// Ctx is what a handler works with: the node's transaction and the ways to
// queue messages, set timers and wake waiters, all committed with it.
type Ctx struct {
	// Tx is the node's state. Handlers read and write their buckets here.
	Tx  *store.Tx
	n   *Node
	now time.Time
	// cause is the received message being handled (nil for a timer or an
	// app call) and act what the node's receive rules say about it.
	cause    *Inbound
	act      fault.Action
	declined bool
	// inTrace is the key of cause's trace record.
	inTrace []byte
}

func (n *Node) newCtx(tx *store.Tx) *Ctx { return &Ctx{Tx: tx, n: n, now: n.now()} }

// Node is the node the handler runs on.
func (c *Ctx) Node() string { return c.n.name }

// Memo is the node's value for key, made by mk at its first use: what a
// role keeps in memory for as long as this node runs (a cache of its
// committed state), gone when it stops. Its value must be safe for
// concurrent use; what it caches of the state is the role's to keep true
// (store.Tx.OnCommit).
func (c *Ctx) Memo(key any, mk func() any) any {
	if v, ok := c.n.memos.Load(key); ok {
		return v
	}
	v, _ := c.n.memos.LoadOrStore(key, mk())
	return v
}

// Now is the time the step started, on the node's clock (Config.Clock).
func (c *Ctx) Now() time.Time { return c.now }

// NewMsgID returns a fresh message id with the node's prefix.
func (c *Ctx) NewMsgID() string { return ids.NewMsgID(c.n.prefix) }

// NewHead returns a Head for a message this node sends.
func (c *Ctx) NewHead() *upiv1.Head {
	return &upiv1.Head{Ver: "2.0", Ts: timestamppb.New(c.now), OrgId: c.n.name, MsgId: c.NewMsgID(), ProdType: "UPI"}
}

// Decline is the NPCI code a receive rule wants the message being handled
// declined with, or "". A role that decides the outcome of the request
// (a bank's DEBIT or CREDIT, a PSP's ReqAuthDetails, the switch's ReqPay)
// asks, and answers it as declined with the code instead of doing the work.
func (c *Ctx) Decline() string {
	if c.act.Decline != "" {
		c.declined = true
	}
	return c.act.Decline
}

// NoteReceived adds note to the trace record of the message being handled,
// so that the trace says what the node made of it (e.g. "late (U70):
// changes nothing"). It does nothing in a timer's or an app call's step.
func (c *Ctx) NoteReceived(note string) error {
	if c.inTrace == nil || note == "" {
		return nil
	}
	return updateTrace(c.Tx, c.inTrace, func(rec *upiv1.TraceRecord) {
		rec.Note = strings.TrimPrefix(rec.Note+"; "+note, "; ")
	})
}

// Send queues m for delivery to node `to` through method (a full gRPC method
// name such as upiv1.SwitchService_ReqPay_FullMethodName). A missing Head is
// filled in. The message is delivered after the transaction commits, and
// again after a restart until the receiver acks it.
//
// The fault layer acts here: the answer fault of the message being handled,
// the node's send rules and Config.Faults decide whether m is dropped
// (traced, never queued), delayed, duplicated or has its first sends or
// acks fail. The trace record says which.
func (c *Ctx) Send(to, method string, m Message) error {
	if m.GetHead() == nil || m.GetHead().GetMsgId() == "" {
		setHead(m, c.NewHead())
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return err
	}
	api := method[strings.LastIndexByte(method, '/')+1:]
	f := c.act.Fault.Merge(c.n.cfg.Rules.OnSend(api, to, m))
	if c.n.cfg.Faults != nil {
		f = f.Merge(c.n.cfg.Faults(Outbound{To: to, Method: method, API: api, Msg: m, TxnID: m.GetTxn().GetId(), Cause: c.cause}))
	}
	rec := &upiv1.TraceRecord{
		Node: c.n.name, Api: api, Direction: upiv1.TraceRecord_OUT, Peer: to,
		MsgId: m.GetHead().GetMsgId(), Ts: timestamppb.New(c.now),
		TxnId: m.GetTxn().GetId(), Note: f.String(), // Summary: made by Trace, from the body
	}
	traced, secret := redactedBody(m, body)
	traceKey, err := putTrace(c.Tx, rec, method, traced)
	if err != nil || f.Drop {
		return err
	}
	return c.queue(outboxEntry{To: to, Method: method, Body: body, OwnBody: secret, TraceKey: traceKey}, f)
}

// queue puts e in the outbox with the faults f (not a drop: Send and Post
// handle those) and has it delivered once the step commits.
func (c *Ctx) queue(e outboxEntry, f fault.Fault) error {
	seq, err := c.Tx.NextSeq(store.Outbox)
	if err != nil {
		return err
	}
	e.Seq, e.FailSends, e.LoseAcks, e.Duplicate = seq, f.FailSends, f.LoseAcks, f.Duplicate
	if f.Delay > 0 {
		e.NotBefore = c.now.Add(f.Delay)
	}
	if err := c.Tx.Put(store.Outbox, store.U64(seq), e.encode()); err != nil {
		return err
	}
	c.Tx.OnCommit(func() { c.n.deliver(e) })
	return nil
}

// setHead sets the head field of any network message.
func setHead(m Message, h *upiv1.Head) {
	f := m.ProtoReflect().Descriptor().Fields().ByName("head")
	m.ProtoReflect().Set(f, protoValueOf(h))
}

// Notify wakes everything waiting on key (Node.Watch) once the transaction
// commits.
func (c *Ctx) Notify(key string) {
	c.Tx.OnCommit(func() { c.n.waiters.notify(key) })
}

// Decided tells the node's Observer (Config.Observer), once the step
// commits, that the role decided a transaction with final status and
// code; a step that is retried or fails tells nothing.
func (c *Ctx) Decided(status, code string) {
	if obs := c.n.cfg.Observer; obs != nil {
		c.Tx.OnCommit(func() { obs.Decided(status, code) })
	}
}

// Timer is a durable timer as handed to Handler.Fire.
type Timer struct {
	Name    string
	Due     time.Time
	Payload []byte
}

// SetTimer sets (or moves) the timer called name to fire at `at` with
// payload. Timers survive restarts; one that came due while the node was
// down fires when it starts.
func (c *Ctx) SetTimer(name string, at time.Time, payload []byte) error {
	if err := c.CancelTimer(name); err != nil {
		return err
	}
	key := append(store.U64(uint64(at.UnixNano())), name...)
	if err := c.Tx.Put(store.Timers, key, payload); err != nil {
		return err
	}
	if err := c.Tx.Put(store.TimerNames, []byte(name), key); err != nil {
		return err
	}
	c.Tx.OnCommit(c.n.wakeTimers)
	return nil
}

// CancelTimer removes the timer called name, if set.
func (c *Ctx) CancelTimer(name string) error {
	old := c.Tx.Get(store.TimerNames, []byte(name))
	if old == nil {
		return nil
	}
	if err := c.Tx.Delete(store.Timers, old); err != nil {
		return err
	}
	return c.Tx.Delete(store.TimerNames, []byte(name))
}

// HasTimer reports whether the timer called name is set.
func (c *Ctx) HasTimer(name string) bool { return c.Tx.Has(store.TimerNames, []byte(name)) }
