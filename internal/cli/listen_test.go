package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	merchantv1 "github.com/upisim/upisim/gen/go/upisim/merchant/v1"
	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/webhook"
)

// fakeMerchantPSP serves the two merchant services as a PSP does, over
// real gRPC on loopback: GetMerchant with the admin token, the webhook
// endpoint with the merchant's API key.
type fakeMerchantPSP struct {
	merchantv1.UnimplementedMerchantServiceServer
	merchantv1.UnimplementedMerchantAdminServiceServer
	adminToken, apiKey, secret string

	mu       sync.Mutex
	endpoint string
	sets     []string
}

func (f *fakeMerchantPSP) bearer(ctx context.Context, want string) error {
	md, _ := metadata.FromIncomingContext(ctx)
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer "+want {
		return status.Error(codes.Unauthenticated, "wrong or no bearer token")
	}
	return nil
}

func (f *fakeMerchantPSP) GetMerchant(ctx context.Context, r *merchantv1.GetMerchantRequest) (*merchantv1.MerchantConfig, error) {
	if err := f.bearer(ctx, f.adminToken); err != nil {
		return nil, err
	}
	if r.GetVpa() != "chai@beta" {
		return nil, status.Errorf(codes.NotFound, "no merchant %s", r.GetVpa())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return &merchantv1.MerchantConfig{Vpa: "chai@beta", Psp: "betapsp", ApiKey: f.apiKey, WebhookSecret: f.secret, WebhookUrl: f.endpoint}, nil
}

func (f *fakeMerchantPSP) GetWebhookEndpoint(ctx context.Context, _ *merchantv1.GetWebhookEndpointRequest) (*merchantv1.WebhookEndpoint, error) {
	if err := f.bearer(ctx, f.apiKey); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return &merchantv1.WebhookEndpoint{Url: f.endpoint, Enabled: f.endpoint != ""}, nil
}

func (f *fakeMerchantPSP) SetWebhookEndpoint(ctx context.Context, r *merchantv1.SetWebhookEndpointRequest) (*merchantv1.WebhookEndpoint, error) {
	if err := f.bearer(ctx, f.apiKey); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.endpoint = r.GetUrl()
	f.sets = append(f.sets, r.GetUrl())
	return &merchantv1.WebhookEndpoint{Url: f.endpoint, Enabled: f.endpoint != ""}, nil
}

func (f *fakeMerchantPSP) state() (string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.endpoint, append([]string(nil), f.sets...)
}

// startFakePSP serves f on 127.0.0.1:0 and writes a data folder whose
// network.json (plaintext) names it betapsp, with the handle beta, and
// whose admin token f takes.
func startFakePSP(t *testing.T, f *fakeMerchantPSP) string {
	t.Helper()
	data := t.TempDir()
	tok, err := cluster.EnsureAdminToken(data)
	require.NoError(t, err)
	f.adminToken = tok
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := grpc.NewServer()
	merchantv1.RegisterMerchantServiceServer(s, f)
	merchantv1.RegisterMerchantAdminServiceServer(s, f)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	require.NoError(t, config.WriteDirectory(data, config.Directory{Network: "test", Nodes: []config.NodeAddr{
		{Name: "alphapsp", Role: config.RolePSP, GRPCAddr: "127.0.0.1:1", Handles: []string{"alpha"}},
		{Name: "betapsp", Role: config.RolePSP, GRPCAddr: l.Addr().String(), Handles: []string{"beta"}},
	}}))
	return data
}

// lockedBuffer is listen's output, read while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.b.String()), "\n")
}

// running is a listen in progress.
type running struct {
	url    string
	out    *lockedBuffer
	cancel context.CancelFunc
	done   chan error
}

func startListen(t *testing.T, o ListenOptions) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{out: &lockedBuffer{}, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	o.Ready = func(url string) { ready <- url }
	go func() { r.done <- Listen(ctx, r.out, o) }()
	select {
	case r.url = <-ready:
	case err := <-r.done:
		cancel()
		t.Fatalf("listen: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("listen never got ready")
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels listen (Ctrl-C) and returns its error.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("listen did not stop")
		return nil
	}
}

// send posts body with headers to url and returns the status and answer.
func send(t *testing.T, url string, headers map[string]string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func newFake(t *testing.T) (*fakeMerchantPSP, webhook.Secret) {
	t.Helper()
	raw, err := webhook.NewSecret()
	require.NoError(t, err)
	sec, err := webhook.ParseSecret(raw)
	require.NoError(t, err)
	return &fakeMerchantPSP{apiKey: "sk_test_chai", secret: raw, endpoint: "https://chai.example/hooks"}, sec
}

const paidEvent = `{"type":"transaction.status","timestamp":"2026-01-02T03:04:05Z","data":{"order_id":"ord_1","merchant_vpa":"chai@beta","transaction_status":"SUCCESS","attempt_id":"att_1","transaction_attempt_status":"SUCCESS","action":"CAPTURED","amount_cents":5000,"sequence":2,"terminal":true}}`
const refundEvent = `{"type":"refund.status","timestamp":"2026-01-02T03:05:05Z","data":{"order_id":"ord_1","refund_id":"rfd_1","refund_status":"REFUNDED","refund_amount_cents":5000,"sequence":3}}`

// listen points the merchant's endpoint at itself, verifies and prints
// what comes, refuses what does not verify, dedups by webhook-id, and puts
// the endpoint back on Ctrl-C.
func TestListen(t *testing.T) {
	f, sec := newFake(t)
	data := startFakePSP(t, f)
	r := startListen(t, ListenOptions{DataDir: data, Merchant: "chai@beta"})
	require.True(t, strings.HasPrefix(r.url, "http://127.0.0.1:"), r.url)
	require.True(t, strings.HasSuffix(r.url, "/webhooks"), r.url)
	ep, sets := f.state()
	assert.Equal(t, r.url, ep, "the merchant's endpoint points at listen")
	assert.Equal(t, []string{r.url}, sets)
	assert.Contains(t, r.out.lines()[0], "https://chai.example/hooks is put back on exit")

	now := time.Now()
	st, _ := send(t, r.url, sec.Headers("evt_1", now, []byte(paidEvent)), []byte(paidEvent))
	assert.Equal(t, http.StatusOK, st)
	st, _ = send(t, r.url, sec.Headers("evt_2", now, []byte(refundEvent)), []byte(refundEvent))
	assert.Equal(t, http.StatusOK, st)
	st, _ = send(t, r.url, sec.Headers("evt_1", now.Add(time.Second), []byte(paidEvent)), []byte(paidEvent))
	assert.Equal(t, http.StatusOK, st, "a repeat is answered 200 again")
	tampered := strings.Replace(paidEvent, "5000", "500000", 1)
	st, answer := send(t, r.url, sec.Headers("evt_3", now, []byte(paidEvent)), []byte(tampered))
	assert.Equal(t, http.StatusBadRequest, st)
	assert.Contains(t, answer, "no matching signature")
	st, _ = send(t, r.url, sec.Headers("evt_4", now.Add(-time.Hour), []byte(paidEvent)), []byte(paidEvent))
	assert.Equal(t, http.StatusBadRequest, st)
	st, _ = send(t, r.url, map[string]string{"Content-Type": "application/json"}, []byte(paidEvent))
	assert.Equal(t, http.StatusBadRequest, st)
	st, _ = send(t, r.url, sec.Headers("evt_3", now, []byte(paidEvent)), []byte(paidEvent))
	assert.Equal(t, http.StatusOK, st, "an id seen only unverified is not a repeat")

	lines := r.out.lines()
	require.Len(t, lines, 8, strings.Join(lines, "\n"))
	assert.Contains(t, lines[1], "transaction.status  order_id=ord_1 transaction_status=SUCCESS transaction_attempt_status=SUCCESS action=CAPTURED  webhook-id=evt_1  signature ok  -> 200")
	assert.Contains(t, lines[2], "refund.status  order_id=ord_1 refund_id=rfd_1 refund_status=REFUNDED  webhook-id=evt_2  signature ok  -> 200")
	assert.Contains(t, lines[3], "webhook-id=evt_1  signature ok  repeat  -> 200")
	assert.Contains(t, lines[4], "webhook-id=evt_3  signature FAILED: webhook: no matching signature  -> 400")
	assert.Contains(t, lines[5], "signature FAILED: webhook: timestamp too old")
	assert.Contains(t, lines[6], "signature FAILED: webhook: missing webhook-id")
	assert.Contains(t, lines[7], "webhook-id=evt_3  signature ok  -> 200")
	for _, l := range lines {
		assert.NotContains(t, l, f.secret[len("whsec_"):], "the secret is never printed")
		assert.NotContains(t, l, f.apiKey)
	}

	require.NoError(t, r.stop(t), "Ctrl-C is a clean exit")
	ep, sets = f.state()
	assert.Equal(t, "https://chai.example/hooks", ep, "the endpoint is put back")
	assert.Equal(t, []string{r.url, "https://chai.example/hooks"}, sets)
	lines = r.out.lines()
	assert.Contains(t, lines[len(lines)-1], "is https://chai.example/hooks again")
	_, err := http.Post(r.url, "application/json", strings.NewReader("{}"))
	assert.Error(t, err, "the server is closed")
}

// With -o json each line is one JSON object: the ready line, then per
// webhook its headers, verdict, answer and body.
func TestListenJSON(t *testing.T) {
	f, sec := newFake(t)
	f.endpoint = ""
	data := startFakePSP(t, f)
	r := startListen(t, ListenOptions{DataDir: data, Merchant: "chai@beta", Output: JSON})
	now := time.Now()
	h := sec.Headers("evt_1", now, []byte(paidEvent))
	st, _ := send(t, r.url, h, []byte(paidEvent))
	require.Equal(t, http.StatusOK, st)
	st, _ = send(t, r.url, h, []byte(refundEvent))
	require.Equal(t, http.StatusBadRequest, st)
	require.NoError(t, r.stop(t))
	ep, _ := f.state()
	assert.Empty(t, ep, "no endpoint before, none after")

	lines := r.out.lines()
	require.Len(t, lines, 4)
	var ready listenReady
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &ready))
	assert.Equal(t, listenReady{Listening: r.url, Merchant: "chai@beta", PSP: "betapsp"}, ready)

	var got []map[string]any
	for _, l := range lines[1:3] {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		got = append(got, m)
	}
	assert.Equal(t, "evt_1", got[0]["webhook-id"])
	assert.Equal(t, h["webhook-timestamp"], got[0]["webhook-timestamp"])
	assert.Equal(t, true, got[0]["verified"])
	assert.EqualValues(t, 200, got[0]["status"])
	body := got[0]["body"].(map[string]any)
	assert.Equal(t, "transaction.status", body["type"])
	assert.Equal(t, "CAPTURED", body["data"].(map[string]any)["action"])
	assert.Equal(t, false, got[1]["verified"])
	assert.Contains(t, got[1]["error"], "no matching signature")
	assert.EqualValues(t, 400, got[1]["status"])
	assert.Equal(t, "refund.status", got[1]["body"].(map[string]any)["type"])
	assert.JSONEq(t, `{"restored_endpoint":""}`, lines[3])
}

// With --forward-to a verified webhook goes on, with its headers and body,
// and the forward's answer is listen's; a failed forward is not a repeat
// when the sender tries again. Unverified ones are not forwarded.
func TestListenForwardTo(t *testing.T) {
	f, sec := newFake(t)
	data := startFakePSP(t, f)
	var mu sync.Mutex
	var got []*http.Request
	var bodies []string
	statuses := []int{http.StatusInternalServerError, http.StatusAccepted}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r)
		bodies = append(bodies, string(b))
		st := statuses[min(len(got), len(statuses))-1]
		mu.Unlock()
		w.WriteHeader(st)
		_, _ = io.WriteString(w, "app says hi")
	}))
	defer app.Close()

	r := startListen(t, ListenOptions{DataDir: data, Merchant: "chai@beta", ForwardTo: app.URL + "/upi/webhook"})
	h := sec.Headers("evt_9", time.Now(), []byte(paidEvent))
	st, answer := send(t, r.url, h, []byte(paidEvent))
	assert.Equal(t, http.StatusInternalServerError, st, "the app's answer")
	assert.Equal(t, "app says hi", answer)
	st, _ = send(t, r.url, h, []byte(paidEvent))
	assert.Equal(t, http.StatusAccepted, st, "sent again after the 500: forwarded again")
	st, _ = send(t, r.url, h, []byte(paidEvent))
	assert.Equal(t, http.StatusOK, st, "a repeat of a 2xx is not forwarded")
	st, _ = send(t, r.url, h, []byte(refundEvent))
	assert.Equal(t, http.StatusBadRequest, st)
	require.NoError(t, r.stop(t))

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 2)
	for i, req := range got {
		assert.Equal(t, "/upi/webhook", req.URL.Path)
		assert.Equal(t, paidEvent, bodies[i])
		for _, k := range []string{"webhook-id", "webhook-timestamp", "webhook-signature", "Content-Type"} {
			assert.Equal(t, h[k], req.Header.Get(k), k)
		}
	}
	lines := r.out.lines()
	assert.Contains(t, lines[1], "signature ok  forwarded: 500  -> 500")
	assert.Contains(t, lines[2], "signature ok  forwarded: 202  -> 202")
	assert.Contains(t, lines[3], "repeat  -> 200")
}

// What listen cannot work with is a clear error, before it changes
// anything.
func TestListenErrors(t *testing.T) {
	f, _ := newFake(t)
	data := startFakePSP(t, f)
	for _, tc := range []struct {
		name string
		o    ListenOptions
		want string
	}{
		{"no merchant", ListenOptions{DataDir: data}, "--merchant"},
		{"no handle", ListenOptions{DataDir: data, Merchant: "chai"}, "--merchant"},
		{"unknown handle", ListenOptions{DataDir: data, Merchant: "chai@gamma"}, "no PSP in network.json owns handle @gamma"},
		{"unknown merchant", ListenOptions{DataDir: data, Merchant: "tea@beta"}, "no merchant tea@beta"},
		{"not loopback", ListenOptions{DataDir: data, Merchant: "chai@beta", Listen: "0.0.0.0:0"}, "loopback"},
		{"bad forward", ListenOptions{DataDir: data, Merchant: "chai@beta", ForwardTo: "ftp://x"}, "--forward-to"},
		{"no network", ListenOptions{DataDir: t.TempDir(), Merchant: "chai@beta"}, "no network.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Listen(t.Context(), io.Discard, tc.o)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	f.secret = "whsec_short"
	err := Listen(t.Context(), io.Discard, ListenOptions{DataDir: data, Merchant: "chai@beta"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "webhook_secret")
	f.secret, f.apiKey = "", ""
	err = Listen(t.Context(), io.Discard, ListenOptions{DataDir: data, Merchant: "chai@beta"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "has no api_key")
	_, sets := f.state()
	assert.Empty(t, sets, "the endpoint was never touched")
}
