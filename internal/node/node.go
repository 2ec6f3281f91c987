package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/fault"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/store"
)

// Message is a network message: every one carries a Head and a Txn.
type Message interface {
	proto.Message
	GetHead() *upiv1.Head
	GetTxn() *upiv1.Txn
}

// Inbound is a network message as a handler receives it.
type Inbound struct {
	// Method is the full gRPC method it arrived on, e.g.
	// "/upi.v1.SwitchService/ReqPay".
	Method string
	// API is the method's last part, e.g. "ReqPay".
	API string
	// From is the sender's node name (Head.org_id; with mutual TLS, also
	// the name in the sender's certificate, which Receive checked).
	From string
	// Role is the sender's role as its certificate says, when the
	// transport authenticated it (Config.RequirePeer); "" when it did not.
	Role string
	Msg  Message
	// Prepared is what the handler's Prepare returned for Msg (nil when the
	// handler is no Preparer or prepared nothing).
	Prepared any
}

// Handler is a role's logic. The runtime calls it with the node's state
// locked in one transaction; everything it does goes through the Ctx, so
// that state changes, outbound messages and timers commit together or not at
// all.
//
// Implementations must not call the network or block; they may be called
// more than once for the same message when a transaction is retried (only the
// last call's effects are kept), so they must not keep effects outside the
// Ctx.
type Handler interface {
	// Handle applies one inbound message. Returning a *Refusal refuses the
	// message: nothing Handle wrote is kept and the sender gets an Ack whose
	// err is the refusal's text. Any other error is internal: the message is
	// not acked and the sender will retry.
	Handle(c *Ctx, in *Inbound) error
	// Fire handles a durable timer that came due. When it returns an
	// error, or its step does not commit (a full disk), the timer stays
	// set and Fire is called for it again later, backing off from
	// Config.RetryMin to Config.RetryMax.
	Fire(c *Ctx, t Timer) error
}

// RefusalHandler is implemented by handlers that act when a receiver
// refuses (Ack.err) a message they sent, such as a PSP ending a payment the
// switch would not take, or an HTTP POST they queued (Ctx.Post) is
// answered with a 4xx status other than 408 and 429. Refused runs in a step of its own, which also
// removes the message from the outbox; if that step fails (Refused's
// error, a full disk) or the node crashes before it commits, the message is
// sent again, the receiver answers from its inbox with the same refusal,
// and Refused runs again.
type RefusalHandler interface {
	Refused(c *Ctx, r Refused) error
}

// Refused is a message this node sent that its receiver refused.
//
// For an HTTP POST (Ctx.Post) To is the URL, Method and API are "POST"
// (PostMethod), Msg is nil, Body is the request's body and Status the
// answer's. A Once post (PostOptions) is refused by any answer but a 2xx,
// and by none (Status 0, Reason "no answer: " and the error).
type Refused struct {
	To, Method, API string
	Msg             Message
	// TxnID is the transaction the message was about (Msg's txn.id, or
	// the one given to Ctx.Post).
	TxnID string
	// Reason is the receiver's Ack.err; for an HTTP POST, the status and
	// the start of the answer's body (httpRefusal).
	Reason string
	// Status and Body are an HTTP POST's answer status (0 when a Once
	// post got no answer) and request body.
	Status int
	Body   []byte
	// Tag is an HTTP POST's PostOptions.Tag.
	Tag string
}

// Validator is implemented by handlers that check messages before any
// transaction (stateless checks: required fields, formats, amounts).
type Validator interface {
	Validate(in *Inbound) error
}

// Preparer is implemented by handlers that have slow work to do for a
// message that must not run inside the step: Handle runs in the store's
// single commit goroutine, so a 40 ms hash there would stall every
// message of the node. Receive calls Prepare after Admit and before the
// step's transaction, for a message not yet in the inbox and not ignored
// by a rule, and hands its result to Handle in Inbound.Prepared.
//
// Prepare may read state through view (a read-only transaction; it must
// not hold one while it computes, or the commit loop may wait for it when
// the file grows), must bound its own concurrency, and must change
// nothing: what it read may have changed by the time Handle runs, so
// Handle checks that its result still applies. Prepare does not decide
// outcomes or refuse; an error (ctx ended, a read failed) is internal: the
// message is not stored or acked, and the sender retries it.
type Preparer interface {
	Prepare(ctx context.Context, view func(func(*store.Tx) error) error, in *Inbound) (any, error)
}

// Refusal is a rule a message broke; it is answered in the Ack.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return r.Reason }

// Refuse returns a *Refusal with a formatted reason.
func Refuse(format string, args ...any) error {
	return &Refusal{Reason: fmt.Sprintf(format, args...)}
}

// Config configures a Node.
type Config struct {
	// Name is the node's name in the network (and Head.org_id of what it
	// sends).
	Name string
	// Role is the node's role, for Health.
	Role string
	// Prefix is the 3-letter prefix of its message ids; default
	// ids.PrefixFor(Name).
	Prefix    string
	DB        *store.DB
	Handler   Handler
	Transport Transport
	Logger    *slog.Logger
	// Clock is the node's time: steps, timers, outbox backoff and delays,
	// timestamps (see Clock); default RealClock.
	Clock Clock
	// RetryMin and RetryMax bound the backoff of the outbox's deliveries
	// and of the timer steps that failed; RetryMax is also how long an
	// ack's lazy write may take before it is written again. Defaults 20ms
	// and 2s.
	RetryMin, RetryMax time.Duration
	// SendTimeout bounds one delivery attempt, an HTTP POST's included;
	// default 5s.
	SendTimeout time.Duration
	// Rules are the network file's rules that act at this node (nil for
	// none): Receive applies their declines, ignores and answer faults,
	// Ctx.Send their send faults.
	Rules *fault.Set
	// MaxInFlight bounds the requests the node works on at once: network
	// messages in Receive and app calls that took a slot (Acquire). One
	// more is refused at once with gRPC RESOURCE_EXHAUSTED (HTTP 429
	// through the gateway), which a sender's outbox retries with backoff;
	// the node never queues without bound. 0 means DefaultMaxInFlight; a
	// negative value means no bound.
	MaxInFlight int
	// StallAfter is how long the store may have updates pending without
	// committing before Health says the node is not ok; default
	// DefaultStallAfter.
	StallAfter time.Duration
	// RequirePeer makes every network message need an authenticated
	// sender (PeerFrom its context: mutual TLS, internal/pki): Receive
	// answers one without with gRPC UNAUTHENTICATED. When false (the
	// --insecure mode), a message's head.org_id is taken as its sender.
	// With or without it, a sender the transport did authenticate must be
	// the node head.org_id names, must have a role the route takes, and
	// may send a response only to a request this node sent it
	// (checkAnswer); an unauthenticated sender is trusted as today.
	RequirePeer bool
	// Faults, if set, is asked for the fault of every message the node
	// sends, beside the rules (tests: seeded random drops, duplicates,
	// delays). It is called inside the step's transaction, which may run
	// more than once, so it should decide from the message alone.
	Faults func(Outbound) fault.Fault
	// Throttle, if set, is asked about every message Receive admitted,
	// before it takes an in-flight slot, with the sender's name and the
	// API ("ReqPay"); an error (a RESOURCE_EXHAUSTED status: see
	// PeerThrottle) is the call's answer: nothing is stored, and the
	// sender's outbox retries with backoff. The switch's is the network
	// file's limits.throttle.
	Throttle func(from, api string) error
	// Observer, if set, is told of every network message the node
	// receives and every delivery attempt it makes, for its metrics
	// (internal/metrics); nil for none.
	Observer Observer
	// Retain, if positive, is how long the trace of a transaction the
	// node has nothing outstanding for is kept after its last message:
	// a background pruner then drops its messages' bodies, keeping the
	// roles' records, the inbox's dedup keys and what checkAnswer needs
	// (prune.go; ARCHITECTURE.md, "Retention"). 0 keeps everything.
	Retain time.Duration
}

// Observer is told what the node does, for its metrics. Its methods are
// called on the hot path, concurrently: they must be cheap and must not
// block. api is a method's last part ("ReqPay"; "POST" for an HTTP POST).
type Observer interface {
	// Received is a network message Receive answered: outcome is
	// ReceivedStored, ReceivedDuplicate, ReceivedRefused or ReceivedBusy;
	// took is how long Receive took (for busy, the refusal's time). An
	// internal error (not acked, the sender retries) is not told.
	Received(api, outcome string, took time.Duration)
	// Sent is one delivery attempt of the outbox: SentAcked, SentRefused
	// (the receiver's Ack.err, or an HTTP refusal) or SentRetry (no ack:
	// it is sent again).
	Sent(api, outcome string)
	// Decided is a transaction the node's role decided, with its final
	// status and code, after the step that decided it committed
	// (Ctx.Decided).
	Decided(status, code string)
}

// The outcomes Observer is told.
const (
	ReceivedStored    = "stored"
	ReceivedDuplicate = "duplicate"
	ReceivedRefused   = "refused"
	ReceivedBusy      = "busy"
	SentAcked         = "acked"
	SentRefused       = "refused"
	SentRetry         = "retry"
)

// DefaultMaxInFlight is Config.MaxInFlight's default: two of the store's
// batches. Requests in flight become updates queued for the commit loop,
// which commits at most store.DefaultMaxBatch in one transaction; with two
// batches' worth, one commits while the next fills, so the node runs at
// full speed, and more would only wait longer in the queue (whose
// store.QueueSize it stays below, leaving room for the node's own timers
// and refusals).
const DefaultMaxInFlight = 2 * store.DefaultMaxBatch

// DefaultStallAfter is Config.StallAfter's default: far longer than any
// commit takes, even of a full batch on a loaded machine.
const DefaultStallAfter = 5 * time.Second

// Outbound is a message a handler sends, as Config.Faults sees it.
//
// For an HTTP POST (Ctx.Post) To is the URL, Method and API are "POST",
// and Msg is nil.
type Outbound struct {
	To, Method, API string
	// Msg is the message; do not change it. Nil for an HTTP POST.
	Msg Message
	// TxnID is the transaction it is about.
	TxnID string
	// Cause is the received message whose processing sends it; nil for a
	// timer's or an app call's.
	Cause *Inbound
}

// Node is one network node.
type Node struct {
	cfg     Config
	name    string
	prefix  string
	db      *store.DB
	h       Handler
	tr      Transport
	httpc   *http.Client // delivers kindHTTP outbox entries (post)
	log     *slog.Logger
	clock   Clock
	waiters waiters
	acks    pendingAcks

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	timerWake chan struct{}
	sendSem   chan struct{}
	sendQ     chan outboxEntry

	// throttled counts the messages Config.Throttle refused.
	throttled atomic.Int64
	// pruned counts the trace entries dropped under Config.Retain.
	pruned atomic.Int64
	// pruneMu makes a round of the background pruner and a whole Prune
	// one after the other, so that when Prune returns, everything dropped
	// until then is in pruned.
	pruneMu sync.Mutex
	// inFlight counts the requests being worked on (Acquire); busy is the
	// refusal when maxInFlight are.
	inFlight    atomic.Int64
	maxInFlight int64
	busy        error

	// memos are the roles' in-memory state of the node's life (Ctx.Memo).
	memos sync.Map

	startOnce, stopOnce sync.Once
	// stopMu orders deliver's wg.Add before Stop's wg.Wait; after Stop,
	// deliver leaves messages in the outbox for the next start.
	stopMu  sync.Mutex
	stopped bool
}

// sendWorkers is the number of goroutines that make first delivery
// attempts (see deliver).
const sendWorkers = 64

// New makes a node; Start starts its loops.
func New(cfg Config) *Node {
	if cfg.Prefix == "" {
		cfg.Prefix = ids.PrefixFor(cfg.Name)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.RetryMin == 0 {
		cfg.RetryMin = 20 * time.Millisecond
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = 2 * time.Second
	}
	if cfg.SendTimeout == 0 {
		cfg.SendTimeout = 5 * time.Second
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = DefaultStallAfter
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Node{
		maxInFlight: int64(cfg.MaxInFlight),
		busy: status.Errorf(codes.ResourceExhausted,
			"node %s is busy: it is already working on %d requests, its limit; retry later", cfg.Name, cfg.MaxInFlight),
		cfg: cfg, name: cfg.Name, prefix: cfg.Prefix, db: cfg.DB, h: cfg.Handler,
		tr: cfg.Transport, httpc: newHTTPClient(cfg.SendTimeout), log: cfg.Logger.With("node", cfg.Name), clock: cfg.Clock,
		ctx: ctx, cancel: cancel,
		timerWake: make(chan struct{}, 1),
		sendSem:   make(chan struct{}, 1024),
		sendQ:     make(chan outboxEntry),
	}
}

// Name is the node's name.
func (n *Node) Name() string { return n.name }

// Prefix is the node's 3-letter id prefix.
func (n *Node) Prefix() string { return n.prefix }

// DB is the node's store.
func (n *Node) DB() *store.DB { return n.db }

// Now is the time on the node's clock.
func (n *Node) Now() time.Time { return n.clock.Now() }

func (n *Node) now() time.Time { return n.clock.Now() }

// Clock is the node's clock (Config.Clock).
func (n *Node) Clock() Clock { return n.clock }

// Start resumes delivery of every queued outbound message and starts the
// timer loop.
func (n *Node) Start() error {
	var err error
	n.startOnce.Do(func() {
		var pending []outboxEntry
		err = n.db.View(func(tx *store.Tx) error {
			return tx.Scan(store.Outbox, nil, func(k, v []byte) (bool, error) {
				e, derr := decodeOutbox(k, v)
				if derr != nil {
					return false, derr
				}
				if e.Body == nil {
					if e.Body, derr = traceBody(tx, e.TraceKey); derr != nil {
						return false, fmt.Errorf("outbox entry %d: %w", e.Seq, derr)
					}
				}
				pending = append(pending, e)
				return true, nil
			})
		})
		if err != nil {
			return
		}
		n.wg.Add(sendWorkers)
		for range sendWorkers {
			go n.sendWorker()
		}
		for _, e := range pending {
			n.deliver(e)
		}
		n.wg.Add(2)
		go n.timerLoop()
		go n.ackLoop()
		if n.cfg.Retain > 0 {
			n.wg.Add(1)
			go n.pruneLoop()
		}
	})
	return err
}

// Acquire takes one of the node's in-flight slots (Config.MaxInFlight) for
// a request that starts at the node, such as an app API call, before it
// does anything. When all are taken it returns at once a RESOURCE_EXHAUSTED
// status, for the caller to answer: nothing was done, and the client may
// retry later. Otherwise the caller must call Release when the request is
// done. Receive takes a slot for each network message itself.
func (n *Node) Acquire() error {
	if n.maxInFlight < 0 {
		return nil
	}
	if n.inFlight.Add(1) > n.maxInFlight {
		n.inFlight.Add(-1)
		return n.busy
	}
	return nil
}

// throttle asks Config.Throttle about in, and counts its refusals.
func (n *Node) throttle(in *Inbound) error {
	if n.cfg.Throttle == nil {
		return nil
	}
	err := n.cfg.Throttle(in.From, in.API)
	if err != nil {
		n.throttled.Add(1)
	}
	return err
}

// Throttled is how many messages Config.Throttle refused since the node
// started.
func (n *Node) Throttled() int64 { return n.throttled.Load() }

// Release gives back a slot Acquire took.
func (n *Node) Release() {
	if n.maxInFlight >= 0 {
		n.inFlight.Add(-1)
	}
}

// InFlight is the number of requests the node is working on, and the most
// it takes at once (negative: no bound).
func (n *Node) InFlight() (now, limit int) { return int(n.inFlight.Load()), int(n.maxInFlight) }

// Stop stops delivery and timers and waits for them. It does not close the
// DB, which belongs to the caller.
func (n *Node) Stop() {
	n.stopOnce.Do(func() {
		n.stopMu.Lock()
		n.stopped = true
		n.stopMu.Unlock()
		n.cancel()
		n.wg.Wait()
		n.httpc.CloseIdleConnections()
	})
}

// Receive is the durable inbox: it stores m (sent to method) and applies it
// through the handler in one transaction, and only then returns the Ack.
//
// When the node already works on Config.MaxInFlight requests, an admitted
// message is refused at once with a RESOURCE_EXHAUSTED status, not an Ack:
// nothing is stored, and the sender's outbox retries it with backoff.
//
// A message that fails Admit (head, the handler's Validate, CheckLimits) is
// refused in the Ack with nothing stored. A handler that fails, or panics,
// on a message is an internal error: nothing of its step is kept and the
// sender retries.
//
// A message already received from the same sender with the same msg_id gets
// the stored Ack back and is not applied again; one with the same msg_id and
// a different body is refused. A refused message's Ack is stored too, so a
// repeat is answered the same way. Repeats are traced (lazily: losing such
// a record in a crash loses nothing else).
//
// "The same body" is the same bytes: a message that came through a gRPC
// server with ServerCodec (every node's, internal/cluster) is compared by
// the bytes it came in, one given to Receive by its deterministic
// marshalling (proto.MarshalOptions{Deterministic: true}). This project's
// senders send those very bytes and resend them unchanged (the outbox
// keeps them), so both agree. A sender of another implementation must
// resend a message's bytes as it first sent them; one that marshals the
// message again may only do so deterministically, in field-number order
// (as the Go implementation does), or its repeat is refused as a
// different message.
//
// The node's receive rules (Config.Rules) act here: an ignored message is
// stored, acked and traced but never handled; a declined one is handled
// with Ctx.Decline set; an answer fault applies to everything the handler
// sends.
func (n *Node) Receive(ctx context.Context, method string, m Message) (*upiv1.Ack, error) {
	return n.receiveWire(ctx, method, m, nil)
}

// receiveWire is Receive for m as it came in the bytes body (ServerCodec);
// nil body means m is marshalled for them.
func (n *Node) receiveWire(ctx context.Context, method string, m Message, body []byte) (*upiv1.Ack, error) {
	obs := n.cfg.Observer
	if obs == nil {
		return n.receive(ctx, method, m, body, nil)
	}
	start := time.Now()
	var dup bool
	ack, err := n.receive(ctx, method, m, body, &dup)
	api := method[strings.LastIndexByte(method, '/')+1:]
	switch {
	case err != nil:
		if status.Code(err) == codes.ResourceExhausted {
			obs.Received(api, ReceivedBusy, time.Since(start))
		}
	case ack.GetErr() != "":
		obs.Received(api, ReceivedRefused, time.Since(start))
	case dup:
		obs.Received(api, ReceivedDuplicate, time.Since(start))
	default:
		obs.Received(api, ReceivedStored, time.Since(start))
	}
	return ack, err
}

// receive is receiveWire; it sets *dup (when dup is not nil) when it
// answered a repeat from the inbox.
func (n *Node) receive(ctx context.Context, method string, m Message, body []byte, dup *bool) (*upiv1.Ack, error) {
	api := method[strings.LastIndexByte(method, '/')+1:]
	ack := &upiv1.Ack{Api: api, Ts: timestamppb.New(n.now())}
	if m != nil {
		ack.ReqMsgId = m.GetHead().GetMsgId()
	}
	var peer *Peer
	if p, ok := PeerFrom(ctx); ok {
		peer = &p
	} else if n.cfg.RequirePeer {
		return nil, status.Errorf(codes.Unauthenticated,
			"%s: node %s takes network messages only from nodes of its network, over mutual TLS with their certificate; this call came without one", api, n.name)
	}
	in, err := admitFrom(n.h, method, m, peer)
	if err == nil && peer != nil {
		err = n.checkAnswer(in)
	}
	var pe *panicError
	if errors.As(err, &pe) {
		n.log.Error("validate", "api", api, "msg_id", ack.GetReqMsgId(), "err", err, "stack", string(pe.stack))
		return nil, status.Errorf(codes.Internal, "%s: %v", api, err)
	}
	if err != nil {
		ack.Err = err.Error()
		return ack, nil
	}
	if err := n.throttle(in); err != nil {
		return nil, err
	}
	if err := n.Acquire(); err != nil {
		return nil, err
	}
	defer n.Release()
	head := m.GetHead()
	if body == nil {
		if body, err = (proto.MarshalOptions{Deterministic: true}).Marshal(m); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "marshal: %v", err)
		}
	}
	sum := bodySum(method, body)
	traced, _ := redactedBody(m, body) // what the trace keeps: no credentials
	key := make([]byte, 0, len(head.GetOrgId())+1+len(head.GetMsgId()))
	key = append(append(append(key, head.GetOrgId()...), 0), head.GetMsgId()...)
	act := n.cfg.Rules.OnReceive(api, in.From, m)
	if p, ok := n.h.(Preparer); ok && !act.Ignore {
		if in.Prepared, err = n.prepare(ctx, p, key, in); err != nil {
			if errors.As(err, &pe) {
				n.log.Error("prepare", "api", api, "msg_id", head.GetMsgId(), "err", err, "stack", string(pe.stack))
			}
			if ctx.Err() != nil {
				return nil, status.Errorf(codes.Unavailable, "%s: %v", api, err)
			}
			return nil, status.Errorf(codes.Internal, "%s: %v", api, err)
		}
	}

	var out *upiv1.Ack
	var refusal *Refusal
	var repeat string // why the message was answered from the inbox
	err = n.db.Update(func(tx *store.Tx) error {
		out, repeat = nil, ""
		if prev := tx.Get(store.Inbox, key); prev != nil {
			out = &upiv1.Ack{}
			if !bytes.Equal(prev[:32], sum[:]) {
				out = proto.Clone(ack).(*upiv1.Ack)
				out.Err = fmt.Sprintf("msg_id %s from %s was already used for a different message", head.GetMsgId(), head.GetOrgId())
				repeat = "refused: msg_id already used for a different message"
				return nil
			}
			repeat = "repeat of a message already received: answered with its stored ack, not applied again"
			if err := proto.Unmarshal(prev[32:], out); err != nil {
				return err
			}
			restoreAck(out, api, head.GetMsgId()) // pruned under retention: shrinkInbox
			return nil
		}
		// Store (and trace) the message before handling it, so that its
		// IN record comes before the OUT records of what the handler sends.
		traceKey, err := n.storeIn(tx, key, sum[:], in, traced, ack, act.Note())
		if err != nil {
			return err
		}
		out = ack
		if act.Ignore {
			return nil
		}
		c := n.newCtx(tx)
		c.cause, c.act, c.inTrace = in, act, traceKey
		if err := safeHandle(n.h, c, in); err != nil {
			return err
		}
		if act.Decline != "" && !c.declined {
			n.log.Warn("rule's decline not applicable here", "rule", act.Rule, "api", api)
		}
		return nil
	})
	if errors.As(err, &refusal) {
		ack.Err = refusal.Reason
		err = n.db.Update(func(tx *store.Tx) error {
			if tx.Has(store.Inbox, key) { // a concurrent copy won the race
				return nil
			}
			_, err := n.storeIn(tx, key, sum[:], in, traced, ack, act.Note())
			return err
		})
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "store: %v", err)
		}
		return ack, nil
	}
	if err != nil {
		if errors.As(err, &pe) {
			n.log.Error("handle", "api", api, "msg_id", head.GetMsgId(), "err", err, "stack", string(pe.stack))
		} else {
			n.log.Error("handle", "api", api, "msg_id", head.GetMsgId(), "err", err)
		}
		return nil, status.Errorf(codes.Internal, "%s: %v", api, err)
	}
	if repeat != "" {
		n.traceRepeat(in, out, repeat)
		if dup != nil {
			*dup = true
		}
	}
	return out, nil
}

// traceRepeat adds an IN record for a message answered from the inbox, so
// duplicates show in the trace. It rides on the next commit (UpdateLazy).
// The record keeps its summary, as it keeps no body.
func (n *Node) traceRepeat(in *Inbound, ack *upiv1.Ack, note string) {
	rec := n.inRecord(in, ack, note)
	rec.Summary = Summarize(in.Msg)
	err := n.db.UpdateLazy(func(tx *store.Tx) error {
		_, err := putTrace(tx, rec, in.Method, nil)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrClosed) {
		n.log.Error("trace repeat", "err", err)
	}
}

func (n *Node) inRecord(in *Inbound, ack *upiv1.Ack, note string) *upiv1.TraceRecord {
	return &upiv1.TraceRecord{
		Node: n.name, Api: in.API, Direction: upiv1.TraceRecord_IN, Peer: in.From,
		MsgId: in.Msg.GetHead().GetMsgId(), Ts: timestamppb.New(n.now()),
		AckErr: ack.GetErr(), TxnId: in.Msg.GetTxn().GetId(), Note: note, // Summary: made by Trace, from the body
	}
}

// prepare runs p.Prepare for in, unless the inbox already has the message
// (key): a repeat is answered from the inbox and never handled.
func (n *Node) prepare(ctx context.Context, p Preparer, key []byte, in *Inbound) (res any, err error) {
	var seen bool
	if err := n.db.View(func(tx *store.Tx) error { seen = tx.Has(store.Inbox, key); return nil }); err != nil {
		return nil, err
	}
	if seen {
		return nil, nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{what: "prepare " + in.API, value: r, stack: debug.Stack()}
		}
	}()
	return p.Prepare(ctx, n.db.View, in)
}

// storeIn stores a received message in the inbox with its ack, and in the
// trace; it returns the trace record's key. body is what the trace keeps
// (redactedBody: no credentials).
func (n *Node) storeIn(tx *store.Tx, key, sum []byte, in *Inbound, body []byte, ack *upiv1.Ack, note string) ([]byte, error) {
	v := make([]byte, len(sum), len(sum)+64)
	copy(v, sum)
	v, err := proto.MarshalOptions{}.MarshalAppend(v, ack)
	if err != nil {
		return nil, err
	}
	if err := tx.Put(store.Inbox, key, v); err != nil {
		return nil, err
	}
	return putTrace(tx, n.inRecord(in, ack, note), in.Method, body)
}

// bodySum is the sha256 of method "\x00" body: what a repeat of a msg_id
// must match.
func bodySum(method string, body []byte) (sum [sha256.Size]byte) {
	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{0})
	h.Write(body)
	h.Sum(sum[:0])
	return sum
}

// checkHead checks what the runtime itself needs of every message.
func checkHead(h *upiv1.Head, t *upiv1.Txn) error {
	switch {
	case h.GetOrgId() == "":
		return errors.New("head.org_id is required")
	case !validOrgID(h.GetOrgId()):
		return fmt.Errorf("head.org_id %q is not a node name (1 to %d letters, digits, '-' or '_')", h.GetOrgId(), MaxOrgIDLen)
	case h.GetMsgId() == "":
		return errors.New("head.msg_id is required")
	case !ids.ValidID(h.GetMsgId()):
		return fmt.Errorf("head.msg_id %q is not 3 letters and 32 hex digits", h.GetMsgId())
	case t == nil || t.GetId() == "":
		return errors.New("txn.id is required")
	case !ids.ValidID(t.GetId()):
		return fmt.Errorf("txn.id %q is not 3 letters and 32 hex digits", t.GetId())
	}
	return nil
}

// validOrgID reports whether s is a node name as the network file allows
// them (config.Validate): 1 to MaxOrgIDLen letters, digits, '-' or '_'.
func validOrgID(s string) bool {
	if s == "" || len(s) > MaxOrgIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Update runs fn with a Ctx in one transaction, for changes that start at the
// node itself (an app API call, a seed) rather than from a message.
func (n *Node) Update(fn func(c *Ctx) error) error {
	return n.db.Update(func(tx *store.Tx) error { return fn(n.newCtx(tx)) })
}

// View runs fn in a read-only transaction.
func (n *Node) View(fn func(tx *store.Tx) error) error { return n.db.View(fn) }

// Watch returns a channel that is closed when key is notified (Ctx.Notify),
// and a func to stop watching. Call Watch before checking the condition you
// wait for, so a notification between the check and the wait is not lost.
func (n *Node) Watch(key string) (wait <-chan struct{}, cancel func()) {
	return n.waiters.watch(key)
}
