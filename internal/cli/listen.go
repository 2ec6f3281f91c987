package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	merchantv1 "github.com/upisim/upisim/gen/go/upisim/merchant/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/webhook"
)

// ListenOptions are the options of `upisim listen`.
type ListenOptions struct {
	DataDir string
	// Merchant is the merchant's VPA; its handle names its PSP.
	Merchant string
	// ForwardTo, if set, is where each verified webhook is posted again,
	// with the same headers and body; its answer's status is the answer.
	ForwardTo string
	// Listen is the loopback address to serve on (127.0.0.1:0 when
	// empty: a port the OS chooses).
	Listen string
	Output Output
	// Ready, if set, is called with the webhook URL once the merchant's
	// endpoint points at it.
	Ready func(url string)
	// Now is the clock webhooks are verified against (time.Now when nil).
	Now func() time.Time
}

// listenPath is the path of the webhook URL listen serves.
const listenPath = "/webhooks"

// The bounds of listen's work: a webhook body it reads, a forward's
// answer, each gRPC call and the server's shutdown.
const (
	maxWebhookBody = 1 << 20
	forwardTimeout = 30 * time.Second
	listenCallWait = 10 * time.Second
)

// Listen is `upisim listen`: for a developer, like `stripe listen`. It
// gets the merchant's settings from its PSP (MerchantAdminService, with
// the admin token), serves HTTP on a loopback port, points the merchant's
// webhook endpoint at it (MerchantService, with the merchant's API key)
// and prints each webhook that comes: verified with the merchant's secret
// (answered 200, or with --forward-to the forward's status) or not
// (answered 400, with why). A webhook-id answered 2xx before is printed as
// a repeat and answered 200 again, not forwarded. When ctx ends (Ctrl-C,
// SIGTERM) it puts the endpoint it replaced back, stops serving and
// returns nil.
func Listen(ctx context.Context, w io.Writer, o ListenOptions) error {
	if o.Merchant == "" || ids.HandleOf(o.Merchant) == "" {
		return fmt.Errorf("--merchant: want the merchant's VPA, e.g. chai@beta")
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if err := checkLoopback(o.Listen); err != nil {
		return err
	}
	if o.ForwardTo != "" {
		if err := checkForwardURL(o.ForwardTo); err != nil {
			return err
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c, err := Connect(o.DataDir)
	if err != nil {
		return err
	}
	defer c.Close()
	callCtx, cancel := context.WithTimeout(ctx, listenCallWait)
	api, mctx, m, err := c.Merchant(callCtx, o.Merchant)
	cancel()
	if err != nil {
		return fmt.Errorf("--merchant %s: %w", o.Merchant, err)
	}
	psp := m.GetPsp()
	secret, err := webhook.ParseSecret(m.GetWebhookSecret())
	if err != nil {
		return fmt.Errorf("merchant %s: %w (the network file's webhook_secret)", o.Merchant, err)
	}
	// mctx's metadata is the merchant's API key; each call takes it, with
	// a bound of its own.
	key, _ := metadata.FromOutgoingContext(mctx)
	withKey := func(ctx context.Context) (context.Context, context.CancelFunc) {
		return context.WithTimeout(metadata.NewOutgoingContext(ctx, key), listenCallWait)
	}

	l, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	url := "http://" + l.Addr().String() + listenPath
	lh := &listener{
		o: o, w: w, secret: secret, seen: map[string]bool{},
		fwd: &http.Client{
			Timeout:       forwardTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport:     &http.Transport{Proxy: nil},
		},
	}
	mux := http.NewServeMux()
	mux.Handle(listenPath, lh)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close()
		}
		<-served
		lh.fwd.CloseIdleConnections()
	}()

	kctx, cancel := withKey(ctx)
	prev, err := api.GetWebhookEndpoint(kctx, &merchantv1.GetWebhookEndpointRequest{})
	cancel()
	if err != nil {
		return fmt.Errorf("the webhook endpoint of %s: %w", o.Merchant, rpcError(err))
	}
	kctx, cancel = withKey(ctx)
	_, err = api.SetWebhookEndpoint(kctx, &merchantv1.SetWebhookEndpointRequest{Url: url})
	cancel()
	if err != nil {
		return fmt.Errorf("set the webhook endpoint of %s: %w", o.Merchant, rpcError(err))
	}
	restore := func() error {
		kctx, cancel := withKey(context.WithoutCancel(ctx))
		defer cancel()
		if _, err := api.SetWebhookEndpoint(kctx, &merchantv1.SetWebhookEndpointRequest{Url: prev.GetUrl()}); err != nil {
			return fmt.Errorf("put back the webhook endpoint of %s (%s): %w", o.Merchant, orNone(prev.GetUrl()), rpcError(err))
		}
		return nil
	}

	lh.println(listenReady{Listening: url, Merchant: o.Merchant, PSP: psp, Replaced: prev.GetUrl(), ForwardTo: o.ForwardTo},
		func() string {
			s := fmt.Sprintf("Ready: webhooks of %s (%s) come to %s; its endpoint %s is put back on exit (Ctrl-C).", o.Merchant, psp, url, orNone(prev.GetUrl()))
			if o.ForwardTo != "" {
				s += " Forwarding to " + o.ForwardTo + "."
			}
			return s
		})
	if o.Ready != nil {
		o.Ready(url)
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		served <- err // for the deferred shutdown
		if rerr := restore(); rerr != nil {
			return errors.Join(fmt.Errorf("serving: %w", err), rerr)
		}
		return fmt.Errorf("serving: %w", err)
	}
	if err := restore(); err != nil {
		return err
	}
	lh.println(listenDone{Restored: prev.GetUrl()}, func() string {
		return "Stopped; the webhook endpoint of " + o.Merchant + " is " + orNone(prev.GetUrl()) + " again."
	})
	return nil
}

func orNone(url string) string {
	if url == "" {
		return "(none)"
	}
	return url
}

// checkLoopback refuses a --listen address that is not on loopback: the
// webhooks listen prints are a merchant's, and the nodes post only there.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen %q: want a loopback IP address and a port, e.g. 127.0.0.1:0", addr)
	}
	return nil
}

func checkForwardURL(raw string) error {
	if !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://") {
		return fmt.Errorf("--forward-to %q: want an http:// or https:// URL", raw)
	}
	if _, err := http.NewRequest(http.MethodPost, raw, nil); err != nil {
		return fmt.Errorf("--forward-to: %w", err)
	}
	return nil
}

// listener is listen's HTTP handler.
type listener struct {
	o      ListenOptions
	w      io.Writer
	secret webhook.Secret
	fwd    *http.Client

	mu   sync.Mutex // w and seen
	seen map[string]bool
}

// listenReady and listenDone are listen's first and last lines for -o json.
type listenReady struct {
	Listening string `json:"listening"`
	Merchant  string `json:"merchant"`
	PSP       string `json:"psp"`
	Replaced  string `json:"replaced_endpoint"`
	ForwardTo string `json:"forward_to,omitempty"`
}

type listenDone struct {
	Restored string `json:"restored_endpoint"`
}

// received is one webhook as -o json prints it.
type received struct {
	At        time.Time `json:"received_at"`
	ID        string    `json:"webhook-id"`
	Timestamp string    `json:"webhook-timestamp"`
	Verified  bool      `json:"verified"`
	// Error is why it did not verify.
	Error  string `json:"error,omitempty"`
	Repeat bool   `json:"repeat,omitempty"`
	// Forwarded is the forward's answer (0: not forwarded or no answer);
	// ForwardError why none came.
	Forwarded    int    `json:"forwarded_status,omitempty"`
	ForwardError string `json:"forward_error,omitempty"`
	// Status is listen's answer.
	Status int `json:"status"`
	// Body is the body as JSON, or as a string when it is not JSON.
	Body any `json:"body"`
}

func (l *listener) println(v any, text func() string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.o.Output == JSON {
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte(fmt.Sprintf(`{"error":%q}`, err.Error()))
		}
		fmt.Fprintf(l.w, "%s\n", b)
		return
	}
	fmt.Fprintln(l.w, text())
}

func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST webhooks here", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	now := l.o.Now()
	rec := received{
		At: now.UTC(), ID: r.Header.Get(webhook.HeaderID), Timestamp: r.Header.Get(webhook.HeaderTimestamp),
		Body: jsonBody(body),
	}
	var answer []byte
	if err := l.secret.Verify(r.Header, body, now); err != nil {
		rec.Error = err.Error()
		rec.Status = http.StatusBadRequest
		answer = []byte("webhook not verified: " + err.Error() + "\n")
	} else {
		rec.Verified = true
		l.mu.Lock()
		rec.Repeat = l.seen[rec.ID]
		l.mu.Unlock()
		switch {
		case rec.Repeat:
			rec.Status = http.StatusOK
		case l.o.ForwardTo != "":
			rec.Status, answer, rec.Forwarded, rec.ForwardError = l.forward(r, body)
		default:
			rec.Status = http.StatusOK
		}
		if rec.Status >= 200 && rec.Status <= 299 {
			l.mu.Lock()
			l.seen[rec.ID] = true
			l.mu.Unlock()
		}
	}
	l.println(rec, func() string { return rec.text(body) })
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(rec.Status)
	_, _ = w.Write(answer)
}

// forward posts the webhook to --forward-to with its headers and body; the
// answer is its status and body, or 502 when none came.
func (l *listener) forward(in *http.Request, body []byte) (status int, answer []byte, got int, why string) {
	ctx, cancel := context.WithTimeout(in.Context(), forwardTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.o.ForwardTo, bytes.NewReader(body))
	if err != nil {
		return http.StatusBadGateway, []byte(err.Error()), 0, err.Error()
	}
	for k, vs := range in.Header {
		switch k {
		case "Connection", "Content-Length", "Transfer-Encoding", "Te", "Trailer", "Upgrade", "Keep-Alive", "Proxy-Connection", "Accept-Encoding":
			continue
		}
		req.Header[k] = slices.Clone(vs)
	}
	resp, err := l.fwd.Do(req)
	if err != nil {
		return http.StatusBadGateway, []byte("forward: " + err.Error() + "\n"), 0, err.Error()
	}
	defer resp.Body.Close()
	answer, _ = io.ReadAll(io.LimitReader(resp.Body, maxWebhookBody))
	return resp.StatusCode, answer, resp.StatusCode, ""
}

// jsonBody is body as JSON to embed, or as a string when it is not JSON.
func jsonBody(body []byte) any {
	if json.Valid(body) {
		return json.RawMessage(body)
	}
	return string(body)
}

// text is rec's line: the time, the event, its statuses, the signature's
// verdict and what was answered.
func (rec received) text(body []byte) string {
	var b strings.Builder
	b.WriteString(rec.At.Local().Format("2006-01-02 15:04:05"))
	ev := &merchantv1.WebhookEvent{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, ev); err != nil {
		b.WriteString("  (body is not a webhook event)")
	} else {
		d := ev.GetData()
		fmt.Fprintf(&b, "  %s  order_id=%s", orDash(ev.GetType()), orDash(d.GetOrderId()))
		if d.GetRefundId() != "" || d.GetRefundStatus() != "" {
			fmt.Fprintf(&b, " refund_id=%s refund_status=%s", orDash(d.GetRefundId()), orDash(d.GetRefundStatus()))
		} else {
			fmt.Fprintf(&b, " transaction_status=%s transaction_attempt_status=%s action=%s",
				orDash(d.GetTransactionStatus()), orDash(d.GetTransactionAttemptStatus()), orDash(d.GetAction()))
		}
	}
	fmt.Fprintf(&b, "  webhook-id=%s", orDash(rec.ID))
	switch {
	case !rec.Verified:
		b.WriteString("  signature FAILED: " + rec.Error)
	case rec.Repeat:
		b.WriteString("  signature ok  repeat")
	default:
		b.WriteString("  signature ok")
	}
	switch {
	case rec.ForwardError != "":
		fmt.Fprintf(&b, "  forward failed: %s", rec.ForwardError)
	case rec.Forwarded != 0:
		fmt.Fprintf(&b, "  forwarded: %d", rec.Forwarded)
	}
	fmt.Fprintf(&b, "  -> %d", rec.Status)
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
