package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/upi"
)

// txnRow is one transaction of the live list.
type txnRow struct {
	TxnID   string `json:"txn_id"`
	Type    string `json:"type"`
	Status  string `json:"status"`
	ErrCode string `json:"err_code,omitempty"`
	State   string `json:"state"`
	RRN     string `json:"rrn,omitempty"`
	Amount  string `json:"amount"`
	Payer   string `json:"payer"`
	Payee   string `json:"payee"`
	// Node is the node whose record this is: the switch's when it has
	// one (it sees every leg), else the TPAP's (a payment refused before
	// it reached the switch).
	Node    string    `json:"node"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// maxTxns bounds the transactions a list or the feed reads of a node.
const maxTxns = 5000

// listTxns is the switch's transactions, and the TPAP's the switch does not
// have, newest first.
func listTxns(ctx context.Context, c *cli.Client) ([]txnRow, error) {
	byID := map[string]txnRow{}
	for _, role := range []string{config.RoleTPAP, config.RoleSwitch} { // the switch's win
		for _, nd := range c.Dir.ByRole(role) {
			a, err := c.Admin(nd.Name)
			if err != nil {
				return nil, err
			}
			token := ""
			for n := 0; n < maxTxns; {
				r, err := a.ListTransactions(ctx, &upiv1.ListTransactionsRequest{Limit: 1000, PageToken: token})
				if err != nil {
					return nil, fmt.Errorf("node %s: %w", nd.Name, err)
				}
				for _, t := range r.GetTransactions() {
					byID[t.GetTxnId()] = rowOf(nd.Name, t)
				}
				n += len(r.GetTransactions())
				if token = r.GetNextPageToken(); token == "" {
					break
				}
			}
		}
	}
	rows := make([]txnRow, 0, len(byID))
	for _, r := range byID {
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool {
		if !rows[i].Created.Equal(rows[j].Created) {
			return rows[i].Created.After(rows[j].Created)
		}
		return rows[i].TxnID > rows[j].TxnID
	})
	return rows, nil
}

func rowOf(node string, t *upiv1.TxnSummary) txnRow {
	return txnRow{
		TxnID: t.GetTxnId(), Type: t.GetType().String(), Status: upi.ResultName(t.GetStatus()), ErrCode: t.GetErrCode(),
		State: t.GetState(), RRN: t.GetRrn(), Amount: upi.FormatPaise(t.GetAmountPaise()),
		Payer: t.GetPayerVpa(), Payee: t.GetPayeeVpa(), Node: node,
		Created: t.GetCreated().AsTime(), Updated: t.GetUpdated().AsTime(),
	}
}

// feed is the live transaction list: one poller, shared by every page that
// listens, asks the nodes for their transactions every tick while at
// least one listens, and sends each listener the rows that changed.
type feed struct {
	s         *Server
	poll      time.Duration
	max       int
	keepAlive time.Duration // Options.KeepAlive

	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	last    map[string]txnRow // the rows as last sent
	running bool
	kick    chan struct{}
	done    chan struct{}
	closed  bool
	// ctx ends with the feed, cutting a poll short.
	ctx    context.Context
	cancel context.CancelFunc
}

// subscriber is one listening page. Its channel is closed when the feed
// drops it: it read too slowly, or the feed closed.
type subscriber struct {
	ch chan []byte
}

// subBuffer is how many ticks' events a listener may fall behind by before
// it is dropped (its page reconnects and starts again from a snapshot).
const subBuffer = 16

func newFeed(s *Server, poll time.Duration, max int) *feed {
	ctx, cancel := context.WithCancel(context.Background())
	return &feed{s: s, poll: poll, max: max, subs: map[*subscriber]struct{}{}, kick: make(chan struct{}, 1), done: make(chan struct{}), ctx: ctx, cancel: cancel}
}

// poke has the poller look now (after an action of the page).
func (f *feed) poke() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

func (f *feed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	close(f.done)
	f.cancel()
	for s := range f.subs {
		close(s.ch)
		delete(f.subs, s)
	}
}

// subscribe adds a listener, or says why not.
func (f *feed) subscribe() (*subscriber, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, fmt.Errorf("the console is closing")
	}
	if len(f.subs) >= f.max {
		return nil, fmt.Errorf("%d pages listen to the transactions already, the most this console serves", f.max)
	}
	s := &subscriber{ch: make(chan []byte, subBuffer)}
	f.subs[s] = struct{}{}
	if !f.running {
		f.running = true
		f.last = nil
		go f.run()
	}
	return s, nil
}

func (f *feed) unsubscribe(s *subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[s]; ok {
		delete(f.subs, s)
		close(s.ch)
	}
}

// run polls until no one listens or the feed closes. It waits poll
// between two reads, or twice as long as the last read took when that is
// longer (a network with many transactions is not read back to back).
func (f *feed) run() {
	t := time.NewTimer(f.poll)
	defer t.Stop()
	for {
		start := time.Now()
		if !f.tick() {
			return
		}
		t.Reset(max(f.poll, 2*time.Since(start)))
		select {
		case <-f.done:
			return
		case <-t.C:
		case <-f.kick:
		}
	}
}

// tick reads the transactions once and sends the changes; false when no
// one listens any more (the poller then stops).
func (f *feed) tick() bool {
	f.mu.Lock()
	if len(f.subs) == 0 || f.closed {
		f.running = false
		f.mu.Unlock()
		return false
	}
	f.mu.Unlock()
	var events [][]byte
	c, err := f.s.cli()
	var rows []txnRow
	if err == nil {
		ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
		rows, err = listTxns(ctx, c)
		cancel()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		events = append(events, event("feed-error", map[string]string{"error": err.Error()}))
	} else {
		next := make(map[string]txnRow, len(rows))
		var changed []txnRow
		for i := len(rows) - 1; i >= 0; i-- { // oldest first
			r := rows[i]
			next[r.TxnID] = r
			if old, ok := f.last[r.TxnID]; !ok || old != r {
				changed = append(changed, r)
			}
		}
		if len(changed) > 0 {
			events = append(events, event("txns", changed))
		}
		f.last = next
	}
	for s := range f.subs {
		for _, e := range events {
			select {
			case s.ch <- e:
			default: // too slow: drop it; its page reconnects
				delete(f.subs, s)
				close(s.ch)
			}
			if _, ok := f.subs[s]; !ok {
				break
			}
		}
	}
	return true
}

// snapshot is the rows as last sent, for a new listener.
func (f *feed) snapshot() []txnRow {
	f.mu.Lock()
	defer f.mu.Unlock()
	rows := make([]txnRow, 0, len(f.last))
	for _, r := range f.last {
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Created.After(rows[j].Created) })
	return rows
}

func event(name string, v any) []byte {
	b, _ := json.Marshal(v)
	return fmt.Appendf(nil, "event: %s\ndata: %s\n\n", name, b)
}

// serve is GET /console/api/events: a text/event-stream of "snapshot" (the
// list so far, first), then "txns" (the rows new or changed since the last
// tick, oldest first) and "feed-error" events.
func (f *feed) serve(w http.ResponseWriter, r *http.Request) {
	if _, err := f.s.cli(); err != nil {
		apiError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	sub, err := f.subscribe()
	if err != nil {
		w.Header().Set("Retry-After", "5")
		apiError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	defer f.unsubscribe(sub)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		// Each write gets its own deadline: the node's server gives a
		// whole response its HTTP write timeout, which a stream outlives.
		rc.SetWriteDeadline(time.Now().Add(f.keepAlive + 10*time.Second))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(append([]byte("retry: 2000\n"), event("snapshot", f.snapshot())...)) {
		return
	}
	ka := time.NewTicker(f.keepAlive)
	defer ka.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case e, ok := <-sub.ch:
			if !ok {
				return
			}
			if !write(e) {
				return
			}
		case <-ka.C:
			if !write([]byte(": keep-alive\n\n")) {
				return
			}
		}
	}
}
