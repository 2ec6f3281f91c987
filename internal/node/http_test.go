package node_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/fault"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// hook is a webhook receiver on 127.0.0.1:0 that answers each POST with the
// next of its statuses (the last one again once they run out) and keeps
// what it got.
type hook struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	answer   string // body of every answer
	got      []*http.Request
	bodies   []string
	at       []time.Time
}

func newHook(t *testing.T, statuses ...int) *hook {
	t.Helper()
	h := &hook{statuses: statuses}
	h.Server = httptest.NewServer(h)
	t.Cleanup(h.Close)
	return h
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.got = append(h.got, r)
	h.bodies = append(h.bodies, string(body))
	h.at = append(h.at, time.Now())
	st := h.statuses[min(len(h.got), len(h.statuses))-1]
	answer := h.answer
	h.mu.Unlock()
	w.WriteHeader(st)
	_, _ = io.WriteString(w, answer)
}

func (h *hook) requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got)
}

func (h *hook) setStatuses(s ...int) {
	h.mu.Lock()
	h.statuses = s
	h.mu.Unlock()
}

// poster is a Handler that records the refusals of its HTTP posts.
type poster struct {
	mu      sync.Mutex
	refused []node.Refused
}

func (*poster) Handle(*node.Ctx, *node.Inbound) error { return nil }
func (*poster) Fire(*node.Ctx, node.Timer) error      { return nil }
func (p *poster) Refused(c *node.Ctx, r node.Refused) error {
	c.Tx.OnCommit(func() {
		p.mu.Lock()
		p.refused = append(p.refused, r)
		p.mu.Unlock()
	})
	return incr(c.Tx, "refused/"+r.TxnID)
}

func (p *poster) refusals() []node.Refused {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]node.Refused(nil), p.refused...)
}

// startPoster starts a node "a" on path with the test's usual timings,
// changed by mod.
func startPoster(t *testing.T, path string, h node.Handler, mod func(*node.Config)) *instance {
	t.Helper()
	db, err := store.Open(path, store.Options{NoSync: true})
	require.NoError(t, err)
	cfg := node.Config{
		Name: "a", Role: "test", DB: db, Handler: h, Transport: node.NewInmemTransport(),
		RetryMin: 2 * time.Millisecond, RetryMax: 20 * time.Millisecond, SendTimeout: 2 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	inst := &instance{db: db, Node: node.New(cfg)}
	t.Cleanup(inst.stop)
	require.NoError(t, inst.Start())
	return inst
}

// post queues a POST of body to rawURL for a new txn and returns the txn id.
func post(t *testing.T, n *node.Node, rawURL, body string) string {
	t.Helper()
	txn := ids.NewTxnID(n.Prefix())
	hdr := map[string]string{"Content-Type": "application/json", "X-Signature": "sig-1"}
	require.NoError(t, n.Update(func(c *node.Ctx) error { return c.Post(rawURL, hdr, []byte(body), txn) }))
	return txn
}

func waitOutboxEmpty(t *testing.T, n *node.Node) {
	t.Helper()
	require.Eventually(t, func() bool { return outboxLen(t, n) == 0 }, waitFor, tick, "outbox of %s never emptied", n.Name())
}

// outRecord is the one OUT record of txn's trace at n.
func outRecord(t *testing.T, n *node.Node, txn string) *upiv1.TraceRecord {
	t.Helper()
	trace, err := n.Trace(txn)
	require.NoError(t, err)
	require.Len(t, trace, 1)
	require.Equal(t, upiv1.TraceRecord_OUT, trace[0].GetDirection())
	return trace[0]
}

// A 2xx is the ack: one request, with the headers and body given, and the
// entry leaves the outbox; the trace shows the POST and its answer.
func TestPostDelivered(t *testing.T) {
	h := newHook(t, http.StatusNoContent)
	a := startPoster(t, dbPath(t, "a"), &poster{}, nil)
	txn := post(t, a.Node, h.URL+"/hook?shop=1", `{"event":"paid"}`)
	waitOutboxEmpty(t, a.Node)

	require.Equal(t, 1, h.requests())
	r := h.got[0]
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, "/hook?shop=1", r.URL.RequestURI())
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, "sig-1", r.Header.Get("X-Signature"))
	assert.Equal(t, "upisim/a", r.Header.Get("User-Agent"))
	assert.Equal(t, `{"event":"paid"}`, h.bodies[0])

	rec := outRecord(t, a.Node, txn)
	assert.Equal(t, "POST", rec.GetApi())
	assert.Equal(t, h.URL+"/hook?shop=1", rec.GetPeer())
	assert.Equal(t, "16 bytes application/json", rec.GetSummary())
	assert.NotNil(t, rec.GetAcked())
	assert.Empty(t, rec.GetAckErr())
	assert.Equal(t, "answered HTTP 204 No Content", rec.GetNote())
	assert.NotEmpty(t, rec.GetMsgId())
}

// 408, 429 and 5xx say nothing about the request: it is sent again, with
// backoff, until a 2xx.
func TestPostRetried(t *testing.T) {
	for _, tc := range []struct {
		name     string
		statuses []int
	}{
		{"500 then 200", []int{500, 200}},
		{"429", []int{429, 429, 200}},
		{"408", []int{408, 200}},
		{"503 and 302", []int{503, 302, 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHook(t, tc.statuses...)
			a := startPoster(t, dbPath(t, "a"), &poster{}, nil)
			txn := post(t, a.Node, h.URL, "{}")
			waitOutboxEmpty(t, a.Node)
			assert.Equal(t, len(tc.statuses), h.requests())
			for _, b := range h.bodies {
				assert.Equal(t, "{}", b)
			}
			rec := outRecord(t, a.Node, txn)
			assert.Empty(t, rec.GetAckErr())
			assert.Equal(t, "answered HTTP 200 OK", rec.GetNote())
		})
	}
}

// A 4xx other than 408 and 429 is a refusal: Refused runs with the status
// and the start of the answer, in the step that removes the entry, and the
// request is not sent again.
func TestPostRefused(t *testing.T) {
	h := newHook(t, http.StatusBadRequest)
	h.answer = "bad signature\n" + strings.Repeat("x", 1000)
	p := &poster{}
	a := startPoster(t, dbPath(t, "a"), p, nil)
	txn := post(t, a.Node, h.URL+"/hook", `{"event":"paid"}`)
	waitOutboxEmpty(t, a.Node)

	require.EqualValues(t, 1, count(t, a.Node, "refused/"+txn), "Refused committed with the removal")
	rs := p.refusals()
	require.Len(t, rs, 1)
	r := rs[0]
	assert.Equal(t, h.URL+"/hook", r.To)
	assert.Equal(t, "POST", r.API)
	assert.Equal(t, txn, r.TxnID)
	assert.Equal(t, http.StatusBadRequest, r.Status)
	assert.Equal(t, `{"event":"paid"}`, string(r.Body))
	assert.Nil(t, r.Msg)
	assert.True(t, strings.HasPrefix(r.Reason, "HTTP 400 Bad Request: bad signature x"), r.Reason)
	assert.LessOrEqual(t, len(r.Reason), 250, "the answer's body is cut short")
	assert.Equal(t, 1, h.requests())

	rec := outRecord(t, a.Node, txn)
	assert.Equal(t, r.Reason, rec.GetAckErr())
	assert.NotNil(t, rec.GetAcked())
}

// countLog counts the log records with a message.
type countLog struct {
	msg string
	n   atomic.Int32
}

func (l *countLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *countLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message == l.msg {
		l.n.Add(1)
	}
	return nil
}
func (l *countLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *countLog) WithGroup(string) slog.Handler      { return l }

// A refused connection is retried until the server comes up.
func TestPostConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	failed := &countLog{msg: "send failed, will retry"}
	a := startPoster(t, dbPath(t, "a"), &poster{}, func(c *node.Config) { c.Logger = slog.New(failed) })
	post(t, a.Node, "http://"+addr+"/hook", "{}")
	require.Eventually(t, func() bool { return failed.n.Load() > 0 }, waitFor, tick, "no attempt failed")
	assert.Equal(t, 1, outboxLen(t, a.Node))

	l, err = net.Listen("tcp", addr)
	require.NoError(t, err, "the port was taken meanwhile")
	h := &hook{statuses: []int{200}}
	h.Server = httptest.NewUnstartedServer(h)
	h.Listener = l
	h.Start()
	t.Cleanup(h.Close)
	waitOutboxEmpty(t, a.Node)
	assert.Equal(t, 1, h.requests())
}

// A POST still in the outbox when the node stops is made again, with its
// headers and body, when it starts.
func TestPostResumedAfterRestart(t *testing.T) {
	h := newHook(t, http.StatusServiceUnavailable)
	path := dbPath(t, "a")
	a := startPoster(t, path, &poster{}, nil)
	txn := post(t, a.Node, h.URL+"/hook", `{"n":1}`)
	require.Eventually(t, func() bool { return h.requests() > 0 }, waitFor, tick)
	a.stop()
	before := h.requests()

	h.setStatuses(http.StatusOK)
	a = startPoster(t, path, &poster{}, nil)
	waitOutboxEmpty(t, a.Node)
	require.Greater(t, h.requests(), before)
	last := h.requests() - 1
	assert.Equal(t, `{"n":1}`, h.bodies[last])
	assert.Equal(t, "sig-1", h.got[last].Header.Get("X-Signature"))
	assert.NotNil(t, outRecord(t, a.Node, txn).GetAcked())
}

// The fault rules act on POSTs as on network messages (API "POST", the
// URL's host as peer).
func TestPostFaults(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    fault.Fault
		requests int
		note     string
	}{
		{"drop", fault.Fault{Drop: true}, 0, "dropped: never sent"},
		{"duplicate", fault.Fault{Duplicate: true}, 2, "sent twice"},
		{"lost answers", fault.Fault{LoseAcks: 2}, 3, "first 2 ack(s) lost"},
		{"failed sends", fault.Fault{FailSends: 2}, 1, "first 2 send(s) fail"},
		{"delay", fault.Fault{Delay: 30 * time.Millisecond}, 1, "delayed 30ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHook(t, http.StatusOK)
			u, err := url.Parse(h.URL)
			require.NoError(t, err)
			rules := fault.For([]fault.Rule{{
				Name: "hooks", On: fault.OnSend, Match: fault.Match{API: "POST", Peer: u.Host}, Fault: tc.fault,
			}}, "a")
			a := startPoster(t, dbPath(t, "a"), &poster{}, func(c *node.Config) { c.Rules = rules })
			queued := time.Now()
			txn := post(t, a.Node, h.URL, "{}")
			if tc.fault.Drop {
				assert.Equal(t, 0, outboxLen(t, a.Node), "a dropped POST is never queued")
			} else {
				require.Eventually(t, func() bool { return outboxLen(t, a.Node) == 0 && h.requests() == tc.requests }, waitFor, tick)
			}
			assert.Equal(t, tc.requests, h.requests())
			if tc.fault.Delay > 0 {
				assert.GreaterOrEqual(t, h.at[0].Sub(queued), tc.fault.Delay)
			}
			rec := outRecord(t, a.Node, txn)
			assert.Contains(t, rec.GetNote(), tc.note)
			assert.Contains(t, rec.GetNote(), "rule hooks")
		})
	}
}

// Post refuses what it cannot send as given.
func TestPostChecks(t *testing.T) {
	a := startPoster(t, dbPath(t, "a"), &poster{}, nil)
	txn := ids.NewTxnID("AXX")
	for _, tc := range []struct {
		url  string
		hdr  map[string]string
		txn  string
		want string
	}{
		{"ftp://127.0.0.1/x", nil, txn, "scheme"},
		{"http:///x", nil, txn, "no host"},
		{"http://u:p@127.0.0.1/x", nil, txn, "user info"},
		{"http://127.0.0.1/x#f", nil, txn, "fragment"},
		{"http://127.0.0.1/x", map[string]string{"Host": "evil"}, txn, "cannot be set"},
		{"http://127.0.0.1/x", map[string]string{"X-A": "a\r\nX-B: b"}, txn, "not a valid"},
		{"http://127.0.0.1/x", nil, "nope", "txn id"},
	} {
		err := a.Update(func(c *node.Ctx) error { return c.Post(tc.url, tc.hdr, nil, tc.txn) })
		require.Error(t, err, tc.url)
		assert.Contains(t, err.Error(), tc.want)
	}
	assert.Equal(t, 0, outboxLen(t, a.Node))
}
