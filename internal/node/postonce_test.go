package node_test

import (
	"errors"
	"fmt"
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

	"github.com/upisim/upisim/internal/fault"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
)

// oncePoster is a role whose PostMethod route hears the answers of its
// HTTP posts, each in a committed step (counted in the store).
type oncePoster struct {
	*node.Table
	mu      sync.Mutex
	acked   []node.Acked
	refused []node.Refused
}

func newOncePoster() *oncePoster {
	p := &oncePoster{}
	p.Table = node.NewTable(node.Routes{Who: "test", Routes: []node.Route{{
		Method: node.PostMethod,
		Acked: func(c *node.Ctx, a node.Acked) error {
			c.Tx.OnCommit(func() { p.mu.Lock(); p.acked = append(p.acked, a); p.mu.Unlock() })
			return incr(c.Tx, "acked/"+a.Tag)
		},
		Refused: func(c *node.Ctx, r node.Refused) error {
			c.Tx.OnCommit(func() { p.mu.Lock(); p.refused = append(p.refused, r); p.mu.Unlock() })
			return incr(c.Tx, "refused/"+r.Tag)
		},
	}}})
	return p
}

func (p *oncePoster) answers() ([]node.Acked, []node.Refused) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]node.Acked(nil), p.acked...), append([]node.Refused(nil), p.refused...)
}

// waitAnswered waits until p has heard of n answers.
func (p *oncePoster) waitAnswered(t *testing.T, n int) ([]node.Acked, []node.Refused) {
	t.Helper()
	require.Eventually(t, func() bool { a, r := p.answers(); return len(a)+len(r) >= n }, waitFor, tick, "no answer step ran")
	return p.answers()
}

// postOnce queues a Once POST tagged tag for a new txn, and returns the txn.
func postOnce(t *testing.T, n *node.Node, rawURL, body, tag string) string {
	t.Helper()
	txn := ids.NewTxnID(n.Prefix())
	hdr := map[string]string{"Content-Type": "application/json", "webhook-id": "evt_1"}
	require.NoError(t, n.Update(func(c *node.Ctx) error {
		return c.PostWith(rawURL, hdr, []byte(body), txn, node.PostOptions{Once: true, Tag: tag})
	}))
	return txn
}

// A 2xx to a Once post runs the route's Acked with the status and the tag,
// in the step that removes the entry; the trace notes the answer.
func TestPostOnceAcked(t *testing.T) {
	h := newHook(t, http.StatusAccepted)
	p := newOncePoster()
	a := startPoster(t, dbPath(t, "a"), p, nil)
	txn := postOnce(t, a.Node, h.URL+"/hook", `{"e":1}`, "dlv_1")
	acked, refused := p.waitAnswered(t, 1)
	require.Len(t, acked, 1)
	assert.Empty(t, refused)
	got := acked[0]
	assert.Equal(t, http.StatusAccepted, got.Status)
	assert.Equal(t, "dlv_1", got.Tag)
	assert.Equal(t, h.URL+"/hook", got.To)
	assert.Equal(t, node.PostMethod, got.Method)
	assert.Equal(t, "POST", got.API)
	assert.Nil(t, got.Msg)
	assert.EqualValues(t, 1, count(t, a.Node, "acked/dlv_1"), "Acked committed")
	assert.Equal(t, 0, outboxLen(t, a.Node), "the entry left the outbox in that step")
	assert.Equal(t, 1, h.requests())
	assert.Equal(t, "evt_1", h.got[0].Header.Get("webhook-id"))
	assert.Equal(t, `{"e":1}`, h.bodies[0])

	rec := outRecord(t, a.Node, txn)
	assert.Equal(t, "answered HTTP 202 Accepted", rec.GetNote())
	assert.NotNil(t, rec.GetAcked())
	assert.Empty(t, rec.GetAckErr())
}

// Any answer but a 2xx refuses a Once post: Refused with the status, the
// entry gone with that step, and no second request (what a plain Post
// retries, too).
func TestPostOnceRefusedByAnyAnswer(t *testing.T) {
	for _, tc := range []struct {
		status int
		reason string
	}{
		{http.StatusInternalServerError, "HTTP 500 Internal Server Error: down for lunch"},
		{http.StatusTooManyRequests, "HTTP 429 Too Many Requests: down for lunch"},
		{http.StatusFound, "HTTP 302 Found: down for lunch"},
		{http.StatusGone, "HTTP 410 Gone: down for lunch"},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			h := newHook(t, tc.status, http.StatusOK)
			h.answer = "down for lunch"
			p := newOncePoster()
			a := startPoster(t, dbPath(t, "a"), p, nil)
			txn := postOnce(t, a.Node, h.URL, `{"e":2}`, "dlv_2")
			acked, refused := p.waitAnswered(t, 1)
			assert.Empty(t, acked)
			require.Len(t, refused, 1)
			r := refused[0]
			assert.Equal(t, tc.status, r.Status)
			assert.Equal(t, "dlv_2", r.Tag)
			assert.Equal(t, tc.reason, r.Reason)
			assert.Equal(t, txn, r.TxnID)
			assert.Equal(t, node.PostMethod, r.Method)
			assert.Equal(t, `{"e":2}`, string(r.Body))
			assert.EqualValues(t, 1, count(t, a.Node, "refused/dlv_2"))
			assert.Equal(t, 0, outboxLen(t, a.Node), "nothing left to retry")
			assert.Equal(t, 1, h.requests())

			rec := outRecord(t, a.Node, txn)
			assert.Equal(t, fmt.Sprintf("answered HTTP %d %s", tc.status, http.StatusText(tc.status)), rec.GetNote())
			assert.Equal(t, tc.reason, rec.GetAckErr())
		})
	}
}

// No answer at all (nothing listens) refuses a Once post with Status 0.
func TestPostOnceConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	p := newOncePoster()
	a := startPoster(t, dbPath(t, "a"), p, nil)
	txn := postOnce(t, a.Node, "http://"+addr+"/hook", "{}", "dlv_3")
	acked, refused := p.waitAnswered(t, 1)
	assert.Empty(t, acked)
	require.Len(t, refused, 1)
	assert.Equal(t, 0, refused[0].Status)
	assert.Equal(t, "dlv_3", refused[0].Tag)
	assert.True(t, strings.HasPrefix(refused[0].Reason, "no answer: "), refused[0].Reason)
	assert.Contains(t, refused[0].Reason, "connection refused")
	assert.Equal(t, 0, outboxLen(t, a.Node))
	rec := outRecord(t, a.Node, txn)
	assert.Equal(t, refused[0].Reason, rec.GetAckErr())
	assert.NotContains(t, rec.GetNote(), "answered")
}

// A Once post queued while the node is down keeps its options: after the
// restart it is made once, and its refusal carries the tag.
func TestPostOnceKeptAcrossRestart(t *testing.T) {
	h := newHook(t, http.StatusBadGateway, http.StatusOK)
	path := dbPath(t, "a")
	a := startPoster(t, path, newOncePoster(), nil)
	a.Node.Stop() // delivery stopped; the store is still open
	postOnce(t, a.Node, h.URL, `{"e":4}`, "dlv_4")
	require.Equal(t, 1, outboxLen(t, a.Node))
	a.stop()
	require.Equal(t, 0, h.requests(), "a stopped node posts nothing")

	p := newOncePoster()
	a = startPoster(t, path, p, nil)
	acked, refused := p.waitAnswered(t, 1)
	assert.Empty(t, acked)
	require.Len(t, refused, 1)
	assert.Equal(t, http.StatusBadGateway, refused[0].Status)
	assert.Equal(t, "dlv_4", refused[0].Tag)
	assert.Equal(t, 0, outboxLen(t, a.Node))
	assert.Equal(t, 1, h.requests(), "Once: not retried after the restart either")
}

// A plain Post is as before even with the PostMethod route: a 500 is
// retried, the 2xx that follows runs no Acked, and a refusing 4xx runs
// Refused (with no tag).
func TestPostPlainUnchangedWithRoute(t *testing.T) {
	h := newHook(t, http.StatusInternalServerError, http.StatusOK)
	p := newOncePoster()
	a := startPoster(t, dbPath(t, "a"), p, nil)
	post(t, a.Node, h.URL, "{}")
	waitOutboxEmpty(t, a.Node)
	assert.Equal(t, 2, h.requests(), "the 500 was retried")

	h2 := newHook(t, http.StatusNotFound)
	txn := post(t, a.Node, h2.URL, "{}")
	_, refused := p.waitAnswered(t, 1)
	acked, _ := p.answers()
	assert.Empty(t, acked, "a plain Post's 2xx runs no step")
	require.Len(t, refused, 1)
	assert.Equal(t, txn, refused[0].TxnID)
	assert.Equal(t, http.StatusNotFound, refused[0].Status)
	assert.Empty(t, refused[0].Tag)
}

// The fault layer applies to Once posts: a Drop drops it (no step ever),
// failed sends make its one attempt fail (Refused, Status 0), a lost
// answer is no answer, a duplicate posts it twice but answers once.
func TestPostOnceFaults(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    fault.Fault
		requests int
		status   int // of the one answer step; -1: none (dropped)
	}{
		{"drop", fault.Fault{Drop: true}, 0, -1},
		{"failed send", fault.Fault{FailSends: 1}, 0, 0},
		{"lost answer", fault.Fault{LoseAcks: 1}, 1, 0},
		{"duplicate", fault.Fault{Duplicate: true}, 2, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHook(t, http.StatusOK)
			u, err := url.Parse(h.URL)
			require.NoError(t, err)
			rules := fault.For([]fault.Rule{{
				Name: "hooks", On: fault.OnSend, Match: fault.Match{API: "POST", Peer: u.Host}, Fault: tc.fault,
			}}, "a")
			p := newOncePoster()
			a := startPoster(t, dbPath(t, "a"), p, func(c *node.Config) { c.Rules = rules })
			postOnce(t, a.Node, h.URL, "{}", "dlv_f")
			if tc.status < 0 {
				assert.Equal(t, 0, outboxLen(t, a.Node), "a dropped post is never queued")
				return
			}
			acked, refused := p.waitAnswered(t, 1)
			require.Eventually(t, func() bool { return h.requests() == tc.requests }, waitFor, tick)
			require.Equal(t, 1, len(acked)+len(refused), "one answer step")
			if tc.status == http.StatusOK {
				require.Len(t, acked, 1)
				assert.Equal(t, http.StatusOK, acked[0].Status)
			} else {
				require.Len(t, refused, 1)
				assert.Equal(t, tc.status, refused[0].Status)
				assert.Contains(t, refused[0].Reason, "no answer: fault:")
			}
			assert.Equal(t, 0, outboxLen(t, a.Node))
		})
	}
}

// A Once post whose answer step fails runs the step again, without
// posting again.
func TestPostOnceStepRetriedNotReposted(t *testing.T) {
	h := newHook(t, http.StatusOK)
	var calls atomic.Int32
	tbl := node.NewTable(node.Routes{Who: "test", Routes: []node.Route{{
		Method: node.PostMethod,
		Acked: func(c *node.Ctx, a node.Acked) error {
			if calls.Add(1) == 1 {
				return errors.New("not now")
			}
			return incr(c.Tx, "acked/"+a.Tag)
		},
	}}})
	a := startPoster(t, dbPath(t, "a"), tbl, nil)
	postOnce(t, a.Node, h.URL, "{}", "dlv_s")
	require.Eventually(t, func() bool { return count(t, a.Node, "acked/dlv_s") == 1 }, waitFor, tick)
	assert.EqualValues(t, 2, calls.Load())
	assert.Equal(t, 1, h.requests(), "the step ran again; the post was made once")
	assert.Equal(t, 0, outboxLen(t, a.Node))
}

// A receiver that does not answer within SendTimeout is no answer:
// Refused with Status 0.
func TestPostOnceTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	p := newOncePoster()
	a := startPoster(t, dbPath(t, "a"), p, func(c *node.Config) { c.SendTimeout = 100 * time.Millisecond })
	postOnce(t, a.Node, slow.URL, "{}", "dlv_t")
	_, refused := p.waitAnswered(t, 1)
	require.Len(t, refused, 1)
	assert.Equal(t, 0, refused[0].Status)
	assert.Contains(t, refused[0].Reason, "no answer: ")
	// The client's own deadline (SendTimeout): "deadline exceeded" or
	// "timeout awaiting response headers", whichever fires first.
	assert.Regexp(t, `deadline exceeded|timeout awaiting response headers`, refused[0].Reason)
	assert.Equal(t, 0, outboxLen(t, a.Node))
}
