package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/net/http/httpguts"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/store"
)

// The outbox's second delivery kind: an HTTP POST to a URL outside the
// network (a merchant's webhook). It is queued by Ctx.Post in the step,
// kept in the outbox with its headers and body, and delivered by the same
// loop as network messages (deliver, retry, attempt) with the same
// backoff, faults and trace. An answer is classified as:
//
//   - 2xx: the ack; the entry is removed.
//   - 4xx but 408 and 429: a refusal; the entry is removed and a
//     RefusalHandler's Refused runs (Status, and the status with the start
//     of the answer's body as Reason).
//   - anything else (1xx, 3xx, 408, 429, 5xx), and a connection error or
//     a timeout: unknown, retried with backoff until the node stops.
//
// Redirects are never followed: a 3xx is retried at the URL given.
//
// A post made with PostOptions.Once is not retried: its one attempt,
// whatever its answer (or none), ends in a step that removes it from the
// outbox and runs the PostMethod route's Acked (a 2xx) or Refused
// (anything else). A caller with a retry schedule of its own (a Standard
// Webhooks delivery, signed afresh for each attempt) makes each attempt a
// post of its own.

// PostMethod is the Method of an HTTP delivery: a Route with this Method
// and Acked/Refused set hears the answers of posts made with Once.
const PostMethod = "POST"

// postAPI is what the trace, the fault rules (Match.API) and Refused call an
// HTTP delivery.
const postAPI = PostMethod

// PostOptions change how Ctx.PostWith delivers a post. The zero value is
// Ctx.Post's delivery.
type PostOptions struct {
	// Once: a single attempt. Whatever its answer, the entry leaves the
	// outbox in a step that runs the PostMethod route's Acked (a 2xx:
	// Acked.Status) or Refused (anything else: Refused.Status, 0 when no
	// HTTP answer came — connection error, timeout — and Reason). Without
	// Once, Post behaves as today.
	//
	// If the node stops after the attempt and before that step commits,
	// the post is made again when it starts (the receiver deduplicates, as
	// for any post); if the step fails (a full disk, the handler's error),
	// the step is run again with backoff, without posting again.
	Once bool
	// Tag is handed back as Acked.Tag / Refused.Tag (e.g. a delivery id).
	Tag string
}

// maxRefusalSnippet bounds how much of a refusing answer's body Reason
// keeps; maxDrain, how much of any answer is read so that the connection
// can be used again.
const (
	maxRefusalSnippet = 200
	maxDrain          = 64 << 10
)

// newHTTPClient is the client of a node's HTTP deliveries: each attempt is
// bounded by timeout (Config.SendTimeout), connections are kept for the
// next attempt, no proxy is used and redirects are not followed.
func newHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: timeout}).DialContext,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			IdleConnTimeout:       30 * time.Second,
			MaxIdleConnsPerHost:   16,
		},
	}
}

// httpMsg is what the fault rules see of an HTTP POST: its transaction.
type httpMsg struct{ txn *upiv1.Txn }

func (m httpMsg) GetTxn() *upiv1.Txn { return m.txn }

// Post queues an HTTP POST of body with headers to rawURL (http or https,
// no user info or fragment), about transaction txnID. Like Send, it
// commits with the step: the request is made after the transaction
// commits, and again, with backoff, until it is answered with a 2xx or a
// refusing 4xx, across restarts. The receiver may get it more than once
// (a lost answer, a duplicate fault): the body should carry an id it can
// deduplicate by.
//
// The trace gets an OUT record with API "POST", the URL as Peer and
// txnID; the trace entry keeps the headers and the body. The fault layer
// acts as for Send: the rules match API "POST" and the URL's host as Peer;
// Config.Faults gets an Outbound with a nil Msg.
//
// Host, Content-Length, Transfer-Encoding and Connection cannot be set;
// User-Agent defaults to "upisim/<node>".
func (c *Ctx) Post(rawURL string, headers map[string]string, body []byte, txnID string) error {
	return c.PostWith(rawURL, headers, body, txnID, PostOptions{})
}

// PostWith is Post with options: see PostOptions. The options are kept
// with the outbox entry, so a restart keeps them.
func (c *Ctx) PostWith(rawURL string, headers map[string]string, body []byte, txnID string, o PostOptions) error {
	u, err := checkPostURL(rawURL)
	if err != nil {
		return err
	}
	if err := checkPostHeaders(headers); err != nil {
		return err
	}
	if !ids.ValidID(txnID) {
		return fmt.Errorf("post %s: txn id %q is not 3 letters and 32 hex digits", rawURL, txnID)
	}
	txn := &upiv1.Txn{Id: txnID}
	f := c.act.Fault.Merge(c.n.cfg.Rules.OnSend(postAPI, u.Host, httpMsg{txn}))
	if c.n.cfg.Faults != nil {
		f = f.Merge(c.n.cfg.Faults(Outbound{To: rawURL, Method: postAPI, API: postAPI, TxnID: txnID, Cause: c.cause}))
	}
	summary := fmt.Sprintf("%d bytes", len(body))
	if ct := headerValue(headers, "Content-Type"); ct != "" {
		summary += " " + ct
	}
	rec := &upiv1.TraceRecord{
		Node: c.n.name, Api: postAPI, Direction: upiv1.TraceRecord_OUT, Peer: rawURL,
		MsgId: c.NewMsgID(), Ts: timestamppb.New(c.now), TxnId: txnID, Note: f.String(),
		Summary: summary, // Trace cannot make it from the body
	}
	traceKey, err := putTrace(c.Tx, rec, requestHead(rawURL, headers), body)
	if err != nil || f.Drop {
		return err
	}
	return c.queue(outboxEntry{
		Kind: kindHTTP, To: rawURL, Method: postAPI, TraceKey: traceKey,
		Body: bytes.Clone(body), OwnBody: true, Header: maps.Clone(headers),
		Once: o.Once, Tag: o.Tag,
	}, f)
}

func checkPostURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("post: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("post %s: the scheme must be http or https", rawURL)
	case u.Host == "":
		return nil, fmt.Errorf("post %s: no host", rawURL)
	case u.User != nil:
		return nil, fmt.Errorf("post: a URL with user info is not allowed (it would be kept in the trace)")
	case u.Fragment != "" || strings.Contains(rawURL, "#"):
		return nil, fmt.Errorf("post %s: a URL with a fragment is not allowed", rawURL)
	case strings.ContainsAny(rawURL, "\x00\r\n"):
		return nil, fmt.Errorf("post %q: control characters in the URL", rawURL)
	}
	return u, nil
}

func checkPostHeaders(h map[string]string) error {
	for k, v := range h {
		if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) || strings.ContainsRune(v, 0) {
			return fmt.Errorf("post: header %q: not a valid HTTP header", k)
		}
		switch http.CanonicalHeaderKey(k) {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection":
			return fmt.Errorf("post: header %s cannot be set", k)
		}
	}
	return nil
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// requestHead is what an HTTP POST's trace entry keeps in place of a gRPC
// method: the request line and the headers, as HTTP/1.1 writes them
// (sorted), so that the entry holds the whole request.
func requestHead(rawURL string, h map[string]string) string {
	var b strings.Builder
	b.WriteString("POST " + rawURL)
	for _, k := range slices.Sorted(maps.Keys(h)) {
		b.WriteString("\r\n" + k + ": " + h[k])
	}
	return b.String()
}

// post makes one attempt of the HTTP entry e: it returns an Ack for a 2xx
// (no err) or a refusing 4xx (err: httpRefusal), and an error for an
// answer to retry, or none. It notes the status in e.
func (n *Node) post(ctx context.Context, e *outboxEntry) (*upiv1.Ack, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.To, bytes.NewReader(e.Body))
	if err != nil {
		return nil, err
	}
	for k, v := range e.Header {
		req.Header.Set(k, v)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "upisim/"+n.name)
	}
	resp, err := n.httpc.Do(req)
	if err != nil {
		return nil, err
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxRefusalSnippet))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()
	e.status = resp.StatusCode
	ack := &upiv1.Ack{Api: postAPI, Ts: timestamppb.New(n.now())}
	switch c := resp.StatusCode; {
	case c >= 200 && c <= 299:
		return ack, nil
	case c >= 400 && c <= 499 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests:
		ack.Err = httpRefusal(c, snippet)
		return ack, nil
	default:
		return nil, errors.New(httpRefusal(c, snippet))
	}
}

// httpRefusal is the Reason of a refusing answer: its status and the
// start of its body, made printable on one line.
func httpRefusal(status int, body []byte) string {
	s := strings.ToValidUTF8(string(body), "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	reason := "HTTP " + strconv.Itoa(status) + " " + http.StatusText(status)
	if s != "" {
		reason += ": " + s
	}
	return reason
}

// httpAnswerNote is the trace note of an acked HTTP POST.
func httpAnswerNote(status int) string {
	return "answered HTTP " + strconv.Itoa(status) + " " + http.StatusText(status)
}

// refusedHTTP is refused for an HTTP entry: Refused, with the status and
// the body, in the step that removes e from the outbox.
func (n *Node) refusedHTTP(rh RefusalHandler, e outboxEntry, ack *upiv1.Ack) error {
	acked := n.now()
	return n.Update(func(c *Ctx) error {
		txnID, err := removeHTTPEntry(c, e)
		if err != nil {
			return err
		}
		if err := putTraceAck(c.Tx, e.TraceKey, acked, ack.GetErr()); err != nil {
			return err
		}
		return rh.Refused(c, Refused{
			To: e.To, Method: e.Method, API: postAPI, TxnID: txnID,
			Reason: ack.GetErr(), Status: e.status, Body: e.Body, Tag: e.Tag,
		})
	})
}

// onceAnswer is the outcome of the one attempt of a Once entry: the ack
// of a 2xx or a refusing 4xx, or the error of any other answer or of none.
// status is the answer's HTTP status, 0 when none came.
type onceAnswer struct {
	ack    *upiv1.Ack
	err    error
	status int
}

// attemptOnce makes the one attempt of a Once entry, unless it was made
// already (e.answered: its step failed), and runs its step. It reports
// whether e is done with, as attempt does: false only when the step
// failed, for the caller to run it again after a backoff.
func (n *Node) attemptOnce(e *outboxEntry, attempt int) bool {
	if e.answered == nil {
		var ack *upiv1.Ack
		var err error
		if e.FailSends > 0 {
			e.FailSends--
			err = errFaultSend
		} else {
			ctx, cancel := context.WithTimeout(n.ctx, n.cfg.SendTimeout)
			ack, err = n.post(ctx, e)
			cancel()
			if err == nil && e.LoseAcks > 0 {
				e.LoseAcks--
				ack, err, e.status = nil, errFaultAck, 0
			}
		}
		if err != nil && n.ctx.Err() != nil {
			return true // stopping: e is still in the outbox for the next start
		}
		e.answered = &onceAnswer{ack: ack, err: err, status: e.status}
		if err == nil && ack.GetErr() == "" {
			n.observeSent(e.Method, SentAcked)
		} else { // a one-shot POST is not sent again: anything else refuses it
			n.observeSent(e.Method, SentRefused)
		}
	}
	if err := n.onceStep(*e); err != nil {
		if n.ctx.Err() != nil || errors.Is(err, store.ErrClosed) {
			return true
		}
		n.log.Error("step of a one-shot POST failed; will run it again", "to", e.To, "attempt", attempt, "err", err)
		return false
	}
	if e.Duplicate {
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.SendTimeout)
		if _, err := n.post(ctx, e); err != nil && n.ctx.Err() == nil {
			n.log.Debug("duplicate not delivered", "to", e.To, "method", e.Method, "err", err)
		}
		cancel()
	}
	return true
}

// removeHTTPEntry removes the HTTP entry e from the outbox in step c and
// returns the txn id its trace entry names.
func removeHTTPEntry(c *Ctx, e outboxEntry) (string, error) {
	var txnID string
	if raw := c.Tx.Get(store.Trace, e.TraceKey); raw != nil {
		rec, _, _, err := decodeLog(raw)
		if err != nil {
			return "", err
		}
		txnID = rec.GetTxnId()
	}
	return txnID, c.Tx.Delete(store.Outbox, store.U64(e.Seq))
}

// onceStep is the step that ends a Once entry e after its attempt: it
// removes e from the outbox, notes the answer in the trace entry, and runs
// Acked (a 2xx) or Refused (anything else) of the PostMethod route.
func (n *Node) onceStep(e outboxEntry) error {
	a := e.answered
	at := n.now()
	var reason string
	switch {
	case a.err != nil && a.status == 0:
		reason = "no answer: " + a.err.Error()
	case a.err != nil:
		reason = a.err.Error()
	default:
		reason = a.ack.GetErr()
	}
	return n.Update(func(c *Ctx) error {
		txnID, err := removeHTTPEntry(c, e)
		if err != nil {
			return err
		}
		if a.status != 0 {
			if err := addTraceNote(c.Tx, e.TraceKey, httpAnswerNote(a.status)); err != nil {
				return err
			}
		}
		if err := putTraceAck(c.Tx, e.TraceKey, at, reason); err != nil {
			return err
		}
		if reason == "" {
			if ah, ok := n.h.(AckHandler); ok && ah.WantsAck(PostMethod) {
				return ah.Acked(c, Acked{
					To: e.To, Method: PostMethod, API: postAPI, Ack: a.ack, Status: a.status, Tag: e.Tag,
				})
			}
			return nil
		}
		if rh, ok := n.h.(RefusalHandler); ok {
			return rh.Refused(c, Refused{
				To: e.To, Method: PostMethod, API: postAPI, TxnID: txnID,
				Reason: reason, Status: a.status, Body: e.Body, Tag: e.Tag,
			})
		}
		return nil
	})
}

// encodeHeader: uvarint(count), then for each header, sorted by name,
// len(name) name len(value) value, lengths as uvarints.
func encodeHeader(h map[string]string) []byte {
	b := binary.AppendUvarint(nil, uint64(len(h)))
	for _, k := range slices.Sorted(maps.Keys(h)) {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(h[k])))
		b = append(b, h[k]...)
	}
	return b
}

func decodeHeader(b []byte) (map[string]string, error) {
	cnt, n := binary.Uvarint(b)
	if n <= 0 || cnt > uint64(len(b)) {
		return nil, errCorrupt
	}
	b = b[n:]
	var h map[string]string
	if cnt > 0 {
		h = make(map[string]string, cnt)
	}
	next := func() (string, bool) {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return "", false
		}
		s := string(b[n : n+int(l)])
		b = b[n+int(l):]
		return s, true
	}
	for range cnt {
		k, ok1 := next()
		v, ok2 := next()
		if !ok1 || !ok2 {
			return nil, errCorrupt
		}
		h[k] = v
	}
	if len(b) != 0 {
		return nil, errCorrupt
	}
	return h, nil
}
