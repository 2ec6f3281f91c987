package node

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/store"
)

// outboxEntry is one queued outbound message, with the faults the fault
// layer gave it (all zero for an ordinary message).
type outboxEntry struct {
	Seq uint64
	// Kind says who delivers the entry (send): kindGRPC, a network
	// message to the node To through the gRPC method Method; kindHTTP, an
	// HTTP request (Method "POST") to the URL To with Header and Body.
	Kind     deliveryKind
	To       string
	Method   string
	TraceKey []byte
	// Body is not stored in the outbox: the trace entry at TraceKey holds
	// it (decodeOutbox leaves it empty for Start to fill in). Unless
	// OwnBody: a message with credentials, whose trace entry keeps them
	// redacted, keeps its body in its entry until the entry is deleted
	// (acked or refused).
	Body    []byte
	OwnBody bool

	// NotBefore delays the first attempt (fault.Fault.Delay).
	NotBefore time.Time
	// FailSends and LoseAcks are how many attempts fail before sending and
	// how many acks are lost after; Duplicate delivers it once more after
	// its ack (fault.Fault). Attempts count them down.
	FailSends, LoseAcks int
	Duplicate           bool

	// Header is an HTTP entry's request headers (kindHTTP; it always
	// keeps its Body, OwnBody).
	Header map[string]string
	// status is the HTTP status of the last answer to an HTTP entry, in
	// memory only (for the trace and Refused).
	status int

	// Once and Tag are an HTTP entry's PostOptions (Ctx.PostWith).
	Once bool
	Tag  string
	// answered is the outcome of a Once entry's attempt whose step has
	// not committed yet, in memory only: the step runs again, and the
	// post is not made again.
	answered *onceAnswer
}

// deliveryKind is how an outbox entry is delivered. Its values are stored:
// never renumber them.
type deliveryKind byte

const (
	kindGRPC deliveryKind = 0 // a network message to a node (Transport)
	kindHTTP deliveryKind = 1 // an HTTP POST to a URL (Node.post)
)

// postOnce is the PostOptions flag byte's bit for Once. Stored: never
// renumber it.
const postOnce byte = 1

// send makes one delivery attempt of e, out, by the deliverer of its kind,
// and returns the receiver's answer: an Ack (whose err is a refusal) or an
// error, retried with backoff, when the outcome is unknown.
func (n *Node) send(ctx context.Context, e *outboxEntry, out Outgoing) (*upiv1.Ack, error) {
	if e.Kind == kindHTTP {
		return n.post(ctx, e)
	}
	return n.tr.Send(ctx, out)
}

// encode: len(To) To len(Method) Method len(TraceKey) TraceKey len(opts)
// opts, lengths as uvarints; opts is empty for a gRPC entry without
// faults, else uvarint(NotBefore unix ns) uvarint(FailSends)
// uvarint(LoseAcks) byte(Duplicate), and byte(Kind) unless kindGRPC (so
// entries written before kinds existed decode as gRPC), and then, for an
// HTTP entry with PostOptions, byte(flags: 1 Once) and the Tag's bytes to
// the end of opts (so entries written before the options read as without
// them, and those without them are written as before); then, for OwnBody
// (always for kindHTTP), len(Body) Body; then, for kindHTTP, len(header)
// header (encodeHeader).
func (e outboxEntry) encode() []byte {
	var opts []byte
	if e.Kind != kindGRPC || !e.NotBefore.IsZero() || e.FailSends > 0 || e.LoseAcks > 0 || e.Duplicate {
		var nb uint64
		if !e.NotBefore.IsZero() {
			nb = uint64(e.NotBefore.UnixNano())
		}
		opts = binary.AppendUvarint(opts, nb)
		opts = binary.AppendUvarint(opts, uint64(e.FailSends))
		opts = binary.AppendUvarint(opts, uint64(e.LoseAcks))
		dup := byte(0)
		if e.Duplicate {
			dup = 1
		}
		opts = append(opts, dup)
		if e.Kind != kindGRPC {
			opts = append(opts, byte(e.Kind))
		}
		if e.Kind == kindHTTP && (e.Once || e.Tag != "") {
			flags := byte(0)
			if e.Once {
				flags |= postOnce
			}
			opts = append(opts, flags)
			opts = append(opts, e.Tag...)
		}
	}
	b := make([]byte, 0, len(e.To)+len(e.Method)+len(e.TraceKey)+len(opts)+4)
	parts := [][]byte{[]byte(e.To), []byte(e.Method), e.TraceKey, opts}
	if e.OwnBody || e.Kind == kindHTTP {
		parts = append(parts, e.Body)
	}
	if e.Kind == kindHTTP {
		parts = append(parts, encodeHeader(e.Header))
	}
	for _, s := range parts {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

var errCorrupt = errors.New("node: corrupt outbox entry")

func decodeOutbox(k, v []byte) (outboxEntry, error) {
	e := outboxEntry{Seq: store.ParseU64(k)}
	var parts [6][]byte // To, Method, TraceKey, opts, then Body and header if there
	np := 0
	for ; len(v) > 0 || np < 4; np++ {
		l, n := binary.Uvarint(v)
		if np == len(parts) || n <= 0 || uint64(len(v)-n) < l {
			return e, errCorrupt
		}
		parts[np] = append([]byte{}, v[n:n+int(l)]...)
		v = v[n+int(l):]
	}
	e.To, e.Method, e.TraceKey = string(parts[0]), string(parts[1]), parts[2]
	if opts := parts[3]; len(opts) > 0 {
		var vals [3]uint64
		for i := range vals {
			x, n := binary.Uvarint(opts)
			if n <= 0 {
				return e, errCorrupt
			}
			vals[i], opts = x, opts[n:]
		}
		if len(opts) < 1 || vals[1] > math.MaxInt32 || vals[2] > math.MaxInt32 {
			return e, errCorrupt
		}
		if vals[0] != 0 {
			e.NotBefore = time.Unix(0, int64(vals[0]))
		}
		e.FailSends, e.LoseAcks, e.Duplicate = int(vals[1]), int(vals[2]), opts[0] == 1
		if len(opts) >= 2 {
			e.Kind = deliveryKind(opts[1])
		}
		if len(opts) >= 3 { // PostOptions
			if e.Kind != kindHTTP || opts[2]&^postOnce != 0 {
				return e, errCorrupt
			}
			e.Once, e.Tag = opts[2]&postOnce != 0, string(opts[3:])
		}
	}
	switch {
	case e.Kind == kindGRPC && np == 5: // OwnBody
		e.Body, e.OwnBody = parts[4], true
	case e.Kind == kindGRPC && np == 4:
	case e.Kind == kindHTTP && np == 6:
		h, err := decodeHeader(parts[5])
		if err != nil {
			return e, err
		}
		e.Body, e.OwnBody, e.Header = parts[4], true, h
	default:
		return e, errCorrupt
	}
	return e, nil
}

// deliver sends e until its receiver acks it (or the node stops), then
// records the ack and removes e from the outbox. Its faults apply on the
// way: the delay, the failed sends, the lost acks, the duplicate; after a
// restart they apply again, from the start (a delay from when it was
// queued).
//
// An idle one of the node's sender goroutines (sendWorkers, started by
// Start) makes the first attempt, so that a message does not cost a new
// goroutine whose stack grows anew in the gRPC client. When none is idle
// (sendQ is unbuffered: nothing waits behind a slow send), an attempt
// fails, or e is delayed, the message gets its own goroutine that retries
// with backoff.
func (n *Node) deliver(e outboxEntry) {
	n.stopMu.Lock()
	if n.stopped { // e stays in the outbox; the next Start sends it
		n.stopMu.Unlock()
		return
	}
	n.wg.Add(1)
	n.stopMu.Unlock()
	if e.NotBefore.After(n.now()) {
		go n.retry(e, 0)
		return
	}
	select {
	case n.sendQ <- e:
	default:
		go n.retry(e, 0)
	}
}

// sendWorker makes first delivery attempts until the node stops.
func (n *Node) sendWorker() {
	defer n.wg.Done()
	for {
		select {
		case e := <-n.sendQ:
			if n.attempt(&e, 1) {
				n.wg.Done()
			} else {
				go n.retry(e, 1)
			}
		case <-n.ctx.Done():
			return
		}
	}
}

// retry sends e, after tried failed attempts (and its delay, if any), until
// it is acked or the node stops, backing off between attempts.
func (n *Node) retry(e outboxEntry, tried int) {
	defer n.wg.Done()
	if !n.sleepUntil(n.ctx, e.NotBefore) {
		return
	}
	select {
	case n.sendSem <- struct{}{}:
	case <-n.ctx.Done():
		return
	}
	defer func() { <-n.sendSem }()
	var backoff time.Duration
	for attempt := tried + 1; ; attempt++ {
		if attempt > 1 {
			backoff = n.nextBackoff(backoff)
			if !n.sleepUntil(n.ctx, n.now().Add(jitter(backoff))) {
				return
			}
		}
		if n.attempt(&e, attempt) {
			return
		}
	}
}

// nextBackoff is the backoff after one of prev (0 before the first):
// RetryMin, doubling up to RetryMax. The outbox's deliveries (jittered)
// and the timer steps that failed both back off by it.
func (n *Node) nextBackoff(prev time.Duration) time.Duration {
	return min(max(2*prev, n.cfg.RetryMin), n.cfg.RetryMax)
}

// jitter is a random wait in [d/2, d]: senders refused together (a busy
// receiver answers RESOURCE_EXHAUSTED to a burst, a restarted one finds
// every peer's backlog) come back spread out rather than all at once.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// attempt sends e once. It reports whether e is done with: acked (the ack
// is recorded, a refusal handled, a duplicate sent) or the node is
// stopping. A refusal whose step failed is not done with: the caller sends
// e again. A failed send or a lost ack that e's faults ask for counts
// down its FailSends or LoseAcks.
func (n *Node) attempt(e *outboxEntry, attempt int) bool {
	if e.Once && e.Kind == kindHTTP {
		return n.attemptOnce(e, attempt)
	}
	out := Outgoing{From: n.name, To: e.To, Method: e.Method, Body: e.Body}
	var ack *upiv1.Ack
	var err error
	if e.FailSends > 0 {
		e.FailSends--
		err = errFaultSend
	} else {
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.SendTimeout)
		ack, err = n.send(ctx, e, out)
		cancel()
		if err == nil && e.LoseAcks > 0 {
			e.LoseAcks--
			err = errFaultAck
		}
	}
	if err == nil {
		if ack.GetErr() != "" {
			n.log.Warn("refused", "to", e.To, "method", e.Method, "err", ack.GetErr())
			n.observeSent(e.Method, SentRefused)
		} else {
			n.observeSent(e.Method, SentAcked)
		}
		if step := n.ackStep(e.Method, ack); step != nil {
			if err := n.ackedStep(*e, ack, step); err != nil {
				if n.ctx.Err() != nil || errors.Is(err, store.ErrClosed) {
					return true // stopping: e is still in the outbox for the next start
				}
				// Send it again: the receiver answers from its inbox
				// with the same refusal, and Refused runs again.
				n.log.Error("ack step failed; will send again and retry it", "to", e.To, "method", e.Method, "attempt", attempt, "err", err)
				return false
			}
		} else {
			n.recordAck(*e, ack)
		}
		if e.Duplicate {
			ctx, cancel := context.WithTimeout(n.ctx, n.cfg.SendTimeout)
			if _, err := n.send(ctx, e, out); err != nil && n.ctx.Err() == nil {
				n.log.Debug("duplicate not delivered", "to", e.To, "method", e.Method, "err", err)
			}
			cancel()
		}
		return true
	}
	if n.ctx.Err() != nil {
		return true
	}
	n.observeSent(e.Method, SentRetry)
	if attempt == 1 || attempt%10 == 0 {
		n.log.Debug("send failed, will retry", "to", e.To, "method", e.Method, "attempt", attempt, "err", err)
	}
	return false
}

// observeSent tells Config.Observer of one delivery attempt of a message
// sent to method.
func (n *Node) observeSent(method, outcome string) {
	if n.cfg.Observer != nil {
		n.cfg.Observer.Sent(method[strings.LastIndexByte(method, '/')+1:], outcome)
	}
}

// The errors of attempts the fault layer fails on purpose.
var (
	errFaultSend = errors.New("fault: send failed before sending")
	errFaultAck  = errors.New("fault: ack lost after the receiver stored the message")
)

// recordAck removes e from the outbox and notes the ack of its trace entry.
// The write rides on the node's next commit (UpdateLazy): if a crash loses
// it, the entry is resent after restart and the receiver answers the resend
// from its inbox, so nothing is applied twice. If that commit fails (a full
// disk) no one hears of it, so the ack is also noted in memory until the
// write commits, and ackLoop writes it again if it has not after RetryMax.
func (n *Node) recordAck(e outboxEntry, ack *upiv1.Ack) {
	a := pendingAck{seq: e.Seq, traceKey: e.TraceKey, at: n.now(), err: ack.GetErr()}
	if e.Kind == kindHTTP {
		a.note = httpAnswerNote(e.status)
	}
	n.acks.add(a)
	err := n.db.UpdateLazy(func(tx *store.Tx) error {
		if err := a.write(tx); err != nil {
			return err
		}
		tx.OnCommit(func() { n.acks.done(a.seq) })
		return nil
	})
	if err != nil {
		n.acks.done(a.seq) // closed: the entry is resent after restart
		if !errors.Is(err, store.ErrClosed) {
			n.log.Error("record ack", "err", err)
		}
	}
}

// pendingAck is an ack recorded by a lazy write not yet known committed.
type pendingAck struct {
	seq      uint64
	traceKey []byte
	at       time.Time
	err      string
	// note, if set, is added to the trace record (an HTTP answer's status).
	note string
}

func (a pendingAck) write(tx *store.Tx) error {
	if err := tx.Delete(store.Outbox, store.U64(a.seq)); err != nil {
		return err
	}
	if a.note != "" {
		if err := addTraceNote(tx, a.traceKey, a.note); err != nil {
			return err
		}
	}
	return putTraceAck(tx, a.traceKey, a.at, a.err)
}

// pendingAcks are the acks whose lazy writes have not committed yet, by
// outbox sequence number.
type pendingAcks struct {
	mu sync.Mutex
	m  map[uint64]pendingAck
}

func (p *pendingAcks) add(a pendingAck) {
	p.mu.Lock()
	if p.m == nil {
		p.m = make(map[uint64]pendingAck)
	}
	p.m[a.seq] = a
	p.mu.Unlock()
}

func (p *pendingAcks) done(seq uint64) {
	p.mu.Lock()
	delete(p.m, seq)
	p.mu.Unlock()
}

// older returns the acks noted before t.
func (p *pendingAcks) older(t time.Time) []pendingAck {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []pendingAck
	for _, a := range p.m {
		if a.at.Before(t) {
			out = append(out, a)
		}
	}
	return out
}

// ackLoop writes again, every RetryMax, the acks whose lazy writes did not
// commit within RetryMax (their commit failed), in one ordinary update,
// until the node stops.
func (n *Node) ackLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.RetryMax)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		late := n.acks.older(n.now().Add(-n.cfg.RetryMax))
		if len(late) == 0 {
			continue
		}
		err := n.db.Update(func(tx *store.Tx) error {
			for _, a := range late {
				if err := a.write(tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			if !errors.Is(err, store.ErrClosed) {
				n.log.Error("record acks again; will retry", "acks", len(late), "err", err)
			}
			continue
		}
		for _, a := range late {
			n.acks.done(a.seq)
		}
	}
}

// ackStep is the step the handler runs when the receiver answers a
// message of method with ack (RefusalHandler, AckHandler), or nil when
// the ack is only recorded.
func (n *Node) ackStep(method string, ack *upiv1.Ack) func(c *Ctx, to, api string, msg Message) error {
	if ack.GetErr() != "" {
		if rh, ok := n.h.(RefusalHandler); ok {
			return func(c *Ctx, to, api string, msg Message) error {
				return rh.Refused(c, Refused{To: to, Method: method, API: api, Msg: msg, TxnID: msg.GetTxn().GetId(), Reason: ack.GetErr()})
			}
		}
		return nil
	}
	if ah, ok := n.h.(AckHandler); ok && ah.WantsAck(method) {
		return func(c *Ctx, to, api string, msg Message) error {
			return ah.Acked(c, Acked{To: to, Method: method, API: api, Msg: msg, Ack: ack})
		}
	}
	return nil
}

// ackedStep runs step for e, answered with ack, in the same step that
// removes e from the outbox. When the step fails (a full disk, or the
// handler's own error) e stays in the outbox and the caller retries; a
// message that does not decode is only logged, and its ack recorded.
//
// An HTTP delivery has no message to decode: its refusal goes to
// refusedHTTP, and its positive ack has no step (only a Once post's does:
// attemptOnce).
func (n *Node) ackedStep(e outboxEntry, ack *upiv1.Ack, step func(c *Ctx, to, api string, msg Message) error) error {
	if e.Kind == kindHTTP {
		if rh, ok := n.h.(RefusalHandler); ok && ack.GetErr() != "" {
			return n.refusedHTTP(rh, e, ack)
		}
		n.recordAck(e, ack)
		return nil
	}
	msg, err := DecodeFor(e.Method, e.Body)
	if err != nil {
		n.log.Error("acked message does not decode", "method", e.Method, "err", err)
		n.recordAck(e, ack)
		return nil
	}
	acked := n.now()
	return n.Update(func(c *Ctx) error {
		if err := c.Tx.Delete(store.Outbox, store.U64(e.Seq)); err != nil {
			return err
		}
		if err := putTraceAck(c.Tx, e.TraceKey, acked, ack.GetErr()); err != nil {
			return err
		}
		api := e.Method[strings.LastIndexByte(e.Method, '/')+1:]
		return step(c, e.To, api, msg)
	})
}

// OutboxLen is the number of messages not yet acked by their receivers.
func (n *Node) OutboxLen() (int, error) {
	var c int
	err := n.db.View(func(tx *store.Tx) error { c = tx.Count(store.Outbox); return nil })
	return c, err
}
