package node

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/store"
)

// outboxEntry is one queued outbound message.
type outboxEntry struct {
	Seq      uint64
	To       string
	Method   string
	TraceKey []byte
	// Body is not stored in the outbox: the trace entry at TraceKey holds
	// it (decodeOutbox leaves it empty for Start to fill in).
	Body []byte
}

// encode: len(To) To len(Method) Method len(TraceKey) TraceKey, lengths as
// uvarints. Entries written before the body moved to the trace have the
// body after TraceKey; decodeOutbox returns it.
func (e outboxEntry) encode() []byte {
	b := make([]byte, 0, len(e.To)+len(e.Method)+len(e.TraceKey)+3)
	b = binary.AppendUvarint(b, uint64(len(e.To)))
	b = append(b, e.To...)
	b = binary.AppendUvarint(b, uint64(len(e.Method)))
	b = append(b, e.Method...)
	b = binary.AppendUvarint(b, uint64(len(e.TraceKey)))
	return append(b, e.TraceKey...)
}

var errCorrupt = errors.New("node: corrupt outbox entry")

func decodeOutbox(k, v []byte) (outboxEntry, error) {
	e := outboxEntry{Seq: store.ParseU64(k)}
	var parts [3][]byte
	for i := range parts {
		l, n := binary.Uvarint(v)
		if n <= 0 || uint64(len(v)-n) < l {
			return e, errCorrupt
		}
		parts[i] = append([]byte(nil), v[n:n+int(l)]...)
		v = v[n+int(l):]
	}
	e.To, e.Method, e.TraceKey = string(parts[0]), string(parts[1]), parts[2]
	if len(v) > 0 { // an entry from before the body moved to the trace
		e.Body = append([]byte(nil), v...)
	}
	return e, nil
}

// deliver sends e until its receiver acks it (or the node stops), then
// records the ack and removes e from the outbox.
//
// An idle one of the node's sender goroutines (sendWorkers, started by
// Start) makes the first attempt, so that a message does not cost a new
// goroutine whose stack grows anew in the gRPC client. When none is idle
// (sendQ is unbuffered: nothing waits behind a slow send), or an attempt
// fails, the message gets its own goroutine that retries with backoff.
func (n *Node) deliver(e outboxEntry) {
	n.stopMu.Lock()
	if n.stopped { // e stays in the outbox; the next Start sends it
		n.stopMu.Unlock()
		return
	}
	n.wg.Add(1)
	n.stopMu.Unlock()
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
			if n.attempt(e, 1) {
				n.wg.Done()
			} else {
				go n.retry(e, 1)
			}
		case <-n.ctx.Done():
			return
		}
	}
}

// retry sends e, after tried failed attempts, until it is acked or the node
// stops, backing off between attempts.
func (n *Node) retry(e outboxEntry, tried int) {
	defer n.wg.Done()
	select {
	case n.sendSem <- struct{}{}:
	case <-n.ctx.Done():
		return
	}
	defer func() { <-n.sendSem }()
	backoff := n.cfg.RetryMin
	for attempt := tried + 1; ; attempt++ {
		if attempt > 1 {
			select {
			case <-time.After(backoff):
			case <-n.ctx.Done():
				return
			}
			backoff = min(backoff*2, n.cfg.RetryMax)
		}
		if n.attempt(e, attempt) {
			return
		}
	}
}

// attempt sends e once. It reports whether e is done with: acked (the ack
// is recorded) or the node is stopping.
func (n *Node) attempt(e outboxEntry, attempt int) bool {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.SendTimeout)
	ack, err := n.tr.Send(ctx, Outgoing{From: n.name, To: e.To, Method: e.Method, Body: e.Body})
	cancel()
	if err == nil {
		if ack.GetErr() != "" {
			n.log.Warn("refused", "to", e.To, "method", e.Method, "err", ack.GetErr())
		}
		n.recordAck(e, ack)
		return true
	}
	if n.ctx.Err() != nil {
		return true
	}
	if attempt == 1 || attempt%10 == 0 {
		n.log.Debug("send failed, will retry", "to", e.To, "method", e.Method, "attempt", attempt, "err", err)
	}
	return false
}

// recordAck removes e from the outbox and notes the ack of its trace entry.
// The write rides on the node's next commit (UpdateLazy): if a crash loses
// it, the entry is resent after restart and the receiver answers the resend
// from its inbox, so nothing is applied twice.
func (n *Node) recordAck(e outboxEntry, ack *upiv1.Ack) {
	acked := n.now()
	err := n.db.UpdateLazy(func(tx *store.Tx) error {
		if err := tx.Delete(store.Outbox, store.U64(e.Seq)); err != nil {
			return err
		}
		return putTraceAck(tx, e.TraceKey, acked, ack.GetErr())
	})
	if err != nil && !errors.Is(err, store.ErrClosed) {
		n.log.Error("record ack", "err", err)
	}
}

// OutboxLen is the number of messages not yet acked by their receivers.
func (n *Node) OutboxLen() (int, error) {
	var c int
	err := n.db.View(func(tx *store.Tx) error { c = tx.Count(store.Outbox); return nil })
	return c, err
}
