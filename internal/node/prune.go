package node

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/store"
)

// Retention (ARCHITECTURE.md, "Retention"): with Config.Retain set, a
// background pruner drops the trace of every transaction the node has
// nothing outstanding for (no outbox entry among its trace entries, no
// timer naming it) and whose newest trace entry is older than Retain. The
// transaction's Trace entries (record, method, body), their TraceAcks and
// their TraceByTxn index entries go; one small TraceByTxn entry, the
// transaction's pruned marker, takes their place. It keeps how many
// messages were dropped, when the first and last were stored, when they
// were dropped, and a hash of the msg_id and receiver of every message the
// node sent (what sentTo needs to admit a late answer). The roles' records are never
// pruned, nor is any Inbox entry (the dedup key, the sha256 a repeat must
// match and the stored ack): the entries of the messages dropped are only
// rewritten without what a repeat brings itself (shrinkInbox).

// PrunedAPI is the Api of the TraceRecord that Trace lists for a pruned
// transaction's dropped messages (its Note says how many and when).
const PrunedAPI = "PRUNED"

// tracePruned starts the value of a transaction's pruned marker: the
// TraceByTxn entry txn_id "\x00" prunedSeq.
const tracePruned = 'P'

// prunedSeq is the marker's key after txn_id "\x00": sequence 0, which
// NextSeq never gives a trace entry, so the marker sorts before them.
var prunedSeq = make([]byte, 8)

// The bounds of one prune round, which is one read-only scan and one
// update: small enough that the update does not hold the commit loop (and
// the hot path's commits that share it) for long.
const (
	// maxPruneKeys bounds the keys one round deletes or rewrites (three a
	// message: its Trace, TraceAcks and TraceByTxn entries; and the inbox
	// entry of one received). A single transaction with more is still
	// pruned whole, alone in its round.
	maxPruneKeys = 1000
	// maxPruneRounds bounds the rounds of one tick of pruneLoop.
	maxPruneRounds = 50
	// offlinePruneKeys is maxPruneKeys of PruneStore, for a store no node
	// runs on (`upisim compact --retain`): with no hot path to share the
	// commits with, larger rounds spend fewer fsyncs on a long history.
	offlinePruneKeys = 32 * maxPruneKeys
)

// PruneStats is what pruning did.
type PruneStats struct {
	// Txns counts the transactions whose messages were dropped (one
	// pruned again, for messages that came after its last prune, counts
	// again).
	Txns int
	// Messages counts the trace entries dropped.
	Messages int
}

func (s *PruneStats) add(o PruneStats) { s.Txns += o.Txns; s.Messages += o.Messages }

// pruner prunes one store, round after round. after is the Trace key its
// last round stopped after (nil: start from the oldest entry); maxKeys
// bounds the keys a round deletes, and four times as many the trace
// entries it reads.
type pruner struct {
	db      *store.DB
	after   []byte
	maxKeys int
}

// Prune drops, now, the trace of every transaction that Config.Retain
// lets go (see Retention above), in rounds of bounded size, and returns
// what it dropped. It does nothing when Retain is not set. The node's
// background pruner does the same on a ticker; Prune is for tests and
// tools that want it done at a point in time (the node's clock).
func (n *Node) Prune() (PruneStats, error) {
	if n.cfg.Retain <= 0 {
		return PruneStats{}, nil
	}
	n.pruneMu.Lock()
	defer n.pruneMu.Unlock()
	st, err := pruneAll(&pruner{db: n.db, maxKeys: maxPruneKeys}, n.now(), n.cfg.Retain)
	n.pruned.Add(int64(st.Messages))
	return st, err
}

// Pruned is the number of trace entries the node dropped under retention
// since it started.
func (n *Node) Pruned() int64 { return n.pruned.Load() }

// PruneStore drops from db the trace of every transaction with nothing
// outstanding whose newest trace entry is older than now - retain, as a
// node with Config.Retain does (`upisim compact --retain` runs it on the
// files of a stopped network).
//
// Its rounds are larger than a running node's (offlinePruneKeys): call it
// on a store no node runs on.
func PruneStore(db *store.DB, now time.Time, retain time.Duration) (PruneStats, error) {
	if retain <= 0 {
		return PruneStats{}, errors.New("node: prune: retain must be positive")
	}
	return pruneAll(&pruner{db: db, maxKeys: offlinePruneKeys}, now, retain)
}

// pruneAll runs p's rounds until one reaches the horizon or the end.
func pruneAll(p *pruner, now time.Time, retain time.Duration) (PruneStats, error) {
	var total PruneStats
	for {
		st, more, err := p.round(now.Add(-retain), now)
		total.add(st)
		if err != nil || !more {
			return total, err
		}
	}
}

// pruneLoop prunes on a ticker until the node stops, each tick as many
// rounds as there is work (up to maxPruneRounds). It runs beside the hot
// path: each round is one bounded update (maxPruneKeys) in the store's
// group commit.
func (n *Node) pruneLoop() {
	defer n.wg.Done()
	t := time.NewTicker(pruneEvery(n.cfg.Retain))
	defer t.Stop()
	p := &pruner{db: n.db, maxKeys: maxPruneKeys}
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		for range maxPruneRounds {
			n.pruneMu.Lock()
			now := n.now()
			st, more, err := p.round(now.Add(-n.cfg.Retain), now)
			n.pruned.Add(int64(st.Messages))
			n.pruneMu.Unlock()
			if err != nil {
				if !errors.Is(err, store.ErrClosed) {
					n.log.Error("prune under retention; will try again", "err", err)
				}
				break
			}
			if !more || n.ctx.Err() != nil {
				break
			}
		}
	}
}

// pruneEvery is how often pruneLoop looks for work: a quarter of the
// retention, between 10ms and 1s.
func pruneEvery(retain time.Duration) time.Duration {
	return min(max(retain/4, 10*time.Millisecond), time.Second)
}

// prunePlan is a transaction a round found prunable when it looked.
type prunePlan struct{ txn string }

// round looks at the trace from after the last round's stopping point, in
// the order stored (oldest first), and drops the transactions it finds
// prunable, within the round's bounds. It reports whether it stopped at a
// bound (more: call it again at once); when it reached the horizon or the
// end of the trace, the next round starts again from the oldest entry,
// where the transactions that were outstanding wait.
func (p *pruner) round(horizon, now time.Time) (PruneStats, bool, error) {
	var plans []prunePlan
	var last []byte
	var seen uint64 // the last trace entry's sequence number in the view
	bounded := false
	err := p.db.View(func(tx *store.Tx) error {
		seen = tx.Seq(store.Trace)
		busy, err := outboxTraceKeys(tx)
		if err != nil {
			return err
		}
		timed := timerTxns(tx)
		looked := map[string]bool{}
		keys, scanned := 0, 0
		return tx.ScanAfter(store.Trace, p.after, func(k, v []byte) (bool, error) {
			rec, _, _, err := decodeLog(v)
			if err != nil {
				return false, fmt.Errorf("trace entry %d: %w", store.ParseU64(k), err)
			}
			if !store.Time(rec.GetTs()).Before(horizon) {
				return false, nil // the rest is newer (within clock skew): next time
			}
			txn := rec.GetTxnId()
			if !looked[txn] && !timed[txn] {
				n, ok, err := prunable(tx, txn, horizon, busy)
				if err != nil {
					return false, err
				}
				if ok && keys > 0 && keys+n > p.maxKeys {
					bounded = true // it goes first in the next round
					return false, nil
				}
				if ok {
					plans = append(plans, prunePlan{txn: txn})
					keys += n
				}
			}
			looked[txn] = true
			last = append(last[:0], k...)
			scanned++
			if scanned >= 4*p.maxKeys || keys >= p.maxKeys {
				bounded = true
				return false, nil
			}
			return true, nil
		})
	})
	if err != nil {
		return PruneStats{}, false, err
	}
	if bounded {
		p.after = last
	} else {
		p.after = nil
	}
	if len(plans) == 0 {
		return PruneStats{}, bounded, nil
	}
	var st PruneStats
	err = p.db.Update(func(tx *store.Tx) error {
		st = PruneStats{}
		for _, pl := range plans {
			n, err := pruneTxn(tx, pl.txn, horizon, now, seen)
			if err != nil {
				return fmt.Errorf("prune txn %s: %w", pl.txn, err)
			}
			if n > 0 {
				st.Txns++
				st.Messages += n
			}
		}
		return nil
	})
	if err != nil {
		return PruneStats{}, false, err
	}
	return st, bounded, nil
}

// prunable reports whether txn may be pruned at horizon: every one of its
// trace entries is older than horizon and none is an outbox entry's
// (busy). n is about how many keys pruning it deletes.
func prunable(tx *store.Tx, txn string, horizon time.Time, busy map[string]bool) (n int, ok bool, err error) {
	prefix := txnPrefix(txn)
	ok = true
	err = tx.Scan(store.TraceByTxn, prefix, func(k, _ []byte) (bool, error) {
		seq := k[len(prefix):]
		if bytes.Equal(seq, prunedSeq) {
			return true, nil
		}
		if busy[string(seq)] {
			ok = false
			return false, nil
		}
		if raw := tx.Get(store.Trace, seq); raw != nil {
			rec, _, _, err := decodeLog(raw)
			if err != nil {
				return false, err
			}
			if !store.Time(rec.GetTs()).Before(horizon) {
				ok = false
				return false, nil
			}
			if rec.GetDirection() == upiv1.TraceRecord_IN {
				n++ // its inbox entry, rewritten
			}
		}
		n += 3
		return true, nil
	})
	return n, ok && n > 0, err
}

// pruneTxn drops the trace entries of txn (their Trace, TraceAcks and
// TraceByTxn entries) and folds them into its pruned marker, unless one of
// them is at or past horizon, or was stored after the round's view (its
// sequence number is past seen): a message came since the round looked,
// and it may be outstanding. It returns how many entries it dropped.
//
// Whether an entry is an outbox entry's need not be looked at again here:
// an outbox entry is only ever made in the commit that stores its trace
// entry, so the outbox entries of the entries the view held are those the
// round saw, and it did not plan their transactions.
func pruneTxn(tx *store.Tx, txn string, horizon, now time.Time, seen uint64) (int, error) {
	prefix := txnPrefix(txn)
	var m prunedMarker
	var drop [][]byte     // TraceByTxn keys
	var received [][]byte // Inbox keys of the messages received
	fresh := false
	err := tx.Scan(store.TraceByTxn, prefix, func(k, v []byte) (bool, error) {
		seq := k[len(prefix):]
		if bytes.Equal(seq, prunedSeq) {
			var err error
			m, err = decodePruned(v)
			return err == nil, err
		}
		if store.ParseU64(seq) > seen {
			fresh = true
			return false, nil
		}
		drop = append(drop, bytes.Clone(k))
		raw := tx.Get(store.Trace, seq)
		if raw == nil {
			return true, nil // an index entry without its entry: drop it too
		}
		rec, _, _, err := decodeLog(raw)
		if err != nil {
			return false, err
		}
		if !store.Time(rec.GetTs()).Before(horizon) {
			fresh = true
			return false, nil
		}
		m.add(rec)
		if rec.GetDirection() == upiv1.TraceRecord_IN {
			received = append(received, inboxKey(rec.GetPeer(), rec.GetMsgId()))
		}
		return true, nil
	})
	if err != nil || fresh || len(drop) == 0 {
		return 0, err
	}
	for _, k := range received {
		if err := shrinkInbox(tx, k); err != nil {
			return 0, err
		}
	}
	for _, k := range drop {
		seq := k[len(prefix):]
		if err := tx.Delete(store.Trace, seq); err != nil {
			return 0, err
		}
		if err := tx.Delete(store.TraceAcks, seq); err != nil {
			return 0, err
		}
		if err := tx.Delete(store.TraceByTxn, k); err != nil {
			return 0, err
		}
	}
	m.prunedAt = now
	mk := append(bytes.Clone(prefix), prunedSeq...)
	return len(drop), tx.Put(store.TraceByTxn, mk, m.encode())
}

// txnPrefix is the TraceByTxn prefix of txn's entries: txn_id "\x00".
func txnPrefix(txn string) []byte {
	p := make([]byte, 0, len(txn)+1)
	return append(append(p, txn...), 0)
}

// outboxTraceKeys is the set of the trace keys of the outbox's entries:
// the messages not yet acked, whose bodies the outbox still sends.
func outboxTraceKeys(tx *store.Tx) (map[string]bool, error) {
	busy := map[string]bool{}
	err := tx.Scan(store.Outbox, nil, func(k, v []byte) (bool, error) {
		e, err := decodeOutbox(k, v)
		if err != nil {
			return false, fmt.Errorf("outbox entry %d: %w", store.ParseU64(k), err)
		}
		busy[string(e.TraceKey)] = true
		return true, nil
	})
	return busy, err
}

// timerTxns is the set of transaction ids the node's timers name. The
// roles name a timer kind ":" id, or kind ":" id "/" stage (a UPI Lite
// batch's stage, a reconciliation's page), the id mostly a txn_id; their
// payload is often the txn_id too. Every well-formed id (ids.ValidID) in
// either counts: a merchant order's id that is not a transaction's only
// keeps nothing.
func timerTxns(tx *store.Tx) map[string]bool {
	named := map[string]bool{}
	_ = tx.Scan(store.Timers, nil, func(k, v []byte) (bool, error) {
		if len(k) > 8 {
			name := string(k[8:])
			if _, rest, ok := strings.Cut(name, ":"); ok {
				for _, part := range strings.Split(rest, "/") {
					if ids.ValidID(part) {
						named[part] = true
					}
				}
			}
		}
		if ids.ValidID(string(v)) {
			named[string(v)] = true
		}
		return true, nil
	})
	return named
}

// prunedMarker is a transaction's pruned marker: what is left of the
// messages pruning dropped. Its value is
//
//	'P' ‖ uvarint(count) ‖ uvarint(first) ‖ uvarint(last) ‖ uvarint(prunedAt)
//	    ‖ sentItem*
//
// times as Unix nanoseconds; the items (sentItemLen bytes each) are every
// message the node sent to another node (not an HTTP delivery's URL), for
// sentTo.
type prunedMarker struct {
	count                 int
	first, last, prunedAt time.Time
	sent                  [][]byte // sentItem
}

// sentItemLen is the length of a sentItem.
const sentItemLen = 8

// sentItem is a sent message in a pruned marker: the first 8 bytes of the
// sha256 of its msg_id, a 0 and its receiver. sentTo only asks whether a
// given msg_id went to a given node, which the hash answers, in a quarter
// of the room of the id and name. An answer to a message never sent
// matches one that was with a chance of one in 2^64 for each message the
// transaction sent: a forger who knows no msg_id of it does no better
// than guessing one.
func sentItem(msgID, peer string) []byte {
	h := sha256.New()
	h.Write([]byte(msgID))
	h.Write([]byte{0})
	h.Write([]byte(peer))
	return h.Sum(nil)[:sentItemLen]
}

func (m *prunedMarker) add(rec *upiv1.TraceRecord) {
	ts := store.Time(rec.GetTs())
	if m.count == 0 || ts.Before(m.first) {
		m.first = ts
	}
	if ts.After(m.last) {
		m.last = ts
	}
	m.count++
	if rec.GetDirection() == upiv1.TraceRecord_OUT && !strings.Contains(rec.GetPeer(), "://") {
		m.sent = append(m.sent, sentItem(rec.GetMsgId(), rec.GetPeer()))
	}
}

func (m prunedMarker) encode() []byte {
	v := []byte{tracePruned}
	v = binary.AppendUvarint(v, uint64(m.count))
	for _, t := range []time.Time{m.first, m.last, m.prunedAt} {
		v = binary.AppendUvarint(v, uint64(store.Nanos(t)))
	}
	for _, s := range m.sent {
		v = append(v, s...)
	}
	return v
}

func decodePruned(v []byte) (prunedMarker, error) {
	var m prunedMarker
	if len(v) == 0 || v[0] != tracePruned {
		return m, errCorruptLog
	}
	v = v[1:]
	var nums [4]uint64
	for i := range nums {
		x, n := binary.Uvarint(v)
		if n <= 0 {
			return m, errCorruptLog
		}
		nums[i], v = x, v[n:]
	}
	m.count = int(nums[0])
	m.first, m.last, m.prunedAt = store.FromNanos(int64(nums[1])), store.FromNanos(int64(nums[2])), store.FromNanos(int64(nums[3]))
	if len(v)%sentItemLen != 0 {
		return m, errCorruptLog
	}
	for ; len(v) > 0; v = v[sentItemLen:] {
		m.sent = append(m.sent, bytes.Clone(v[:sentItemLen]))
	}
	return m, nil
}

// sentPruned reports whether marker value v lists a message sent to peer
// with msgID.
func sentPruned(v []byte, msgID, peer string) (bool, error) {
	m, err := decodePruned(v)
	if err != nil {
		return false, err
	}
	want := sentItem(msgID, peer)
	for _, s := range m.sent {
		if bytes.Equal(s, want) {
			return true, nil
		}
	}
	return false, nil
}

// record is the TraceRecord Trace lists for the marker of txn at node.
func (m prunedMarker) record(node, txn string) *upiv1.TraceRecord {
	return &upiv1.TraceRecord{
		Node: node, Api: PrunedAPI, TxnId: txn, Ts: timestamppb.New(m.first),
		Note: fmt.Sprintf("retention: %d message(s) of this transaction stored from %s to %s were dropped at %s "+
			"(--retain); the node keeps its record of the transaction and the dedup keys of what it received",
			m.count, m.first.UTC().Format(time.RFC3339Nano), m.last.UTC().Format(time.RFC3339Nano),
			m.prunedAt.UTC().Format(time.RFC3339)),
	}
}

// inboxKey is the Inbox key of the message msgID from sender.
func inboxKey(sender, msgID string) []byte {
	k := make([]byte, 0, len(sender)+1+len(msgID))
	return append(append(append(k, sender...), 0), msgID...)
}

// shrinkInbox rewrites the inbox entry at key without the two fields of
// its stored Ack that a repeat's answer can take from the repeat itself
// (restoreAck): the api, which the sha256 of method and body it must
// match fixes, and the req_msg_id, which is the key's. That is about half
// of the entry, which retention keeps for good. An entry rewritten
// already, or missing, is left alone.
func shrinkInbox(tx *store.Tx, key []byte) error {
	v := tx.Get(store.Inbox, key)
	if len(v) < sha256.Size {
		return nil
	}
	ack := &upiv1.Ack{}
	if err := proto.Unmarshal(v[sha256.Size:], ack); err != nil {
		return fmt.Errorf("inbox entry %q: %w", key, err)
	}
	if ack.Api == "" && ack.ReqMsgId == "" {
		return nil
	}
	ack.Api, ack.ReqMsgId = "", ""
	nv, err := proto.MarshalOptions{}.MarshalAppend(v[:sha256.Size:sha256.Size], ack)
	if err != nil {
		return err
	}
	return tx.Put(store.Inbox, key, nv)
}

// restoreAck fills in what shrinkInbox took out of a stored Ack, for the
// repeat on api of the message msgID.
func restoreAck(ack *upiv1.Ack, api, msgID string) {
	if ack.Api == "" {
		ack.Api = api
	}
	if ack.ReqMsgId == "" {
		ack.ReqMsgId = msgID
	}
}
