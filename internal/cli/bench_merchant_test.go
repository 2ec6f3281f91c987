package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/webhook"
)

// TestBenchMerchant runs bench merchant against the default network: each
// of chai@beta's orders paid by alice, each one's paid webhook verified at
// the bench's receiver (as many webhooks as orders), the money moved, and
// chai's webhook endpoint back to none afterwards; then a text run with a
// progress line.
func TestBenchMerchant(t *testing.T) {
	data, _ := upDefault(t)
	bal := func(vpa string) int64 { return balanceOf(t, data, vpa) }
	endpoint := func() string {
		m, err := MerchantShow(t.Context(), io.Discard, MerchantOptions{DataDir: data, VPA: "chai@beta"})
		require.NoError(t, err)
		return m.GetWebhookUrl()
	}
	require.Empty(t, endpoint(), "the default network's chai has no webhook endpoint")
	alice0, chai0 := bal("alice@alpha"), bal("chai@beta")
	o := BenchMerchantOptions{DataDir: data, Flows: 20, Concurrency: 4, Merchant: "chai@beta", Payer: "alice@alpha",
		PIN: "1234", Amount: "0.10", EchoCalls: 200, Output: JSON}

	var out bytes.Buffer
	res, err := BenchMerchant(t.Context(), &out, o)
	require.NoError(t, err, out.String())
	var got map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	assert.Equal(t, []string{"concurrency", "disk_bytes_per_flow", "echo_calls_per_s", "failed", "flows", "flows_per_s",
		"max_ms", "messages_per_flow", "other_webhooks", "p50_ms", "p90_ms", "p99_9_ms", "p99_ms", "paid_webhooks", "ratio", "seconds", "success",
		"unverified_webhooks", "webhook_url", "webhooks"}, keys)
	assert.Equal(t, 20, res.Success, "every order paid: %s", out.String())
	assert.Empty(t, res.Failed)
	assert.Equal(t, 20, res.Webhooks, "one verified webhook an order")
	assert.Equal(t, 20, res.Paid)
	assert.Zero(t, res.Unverified)
	assert.Zero(t, res.Others)
	assert.Regexp(t, `^http://127\.0\.0\.1:[0-9]+/webhooks$`, res.WebhookURL)
	assert.Positive(t, res.FlowsPerSec)
	assert.Positive(t, res.EchoPerS)
	assert.Equal(t, MerchantMessagesPerFlow, res.MessagesPerFlow)
	assert.InDelta(t, res.FlowsPerSec*MerchantMessagesPerFlow/res.EchoPerS, res.Ratio, 1e-9)
	assert.GreaterOrEqual(t, res.P99Ms, res.P50Ms)
	assert.Positive(t, res.P50Ms)
	assert.Equal(t, alice0-20*10, bal("alice@alpha"))
	assert.Equal(t, chai0+20*10, bal("chai@beta"))
	assert.Empty(t, endpoint(), "the endpoint the bench replaced is back")

	o.Output, o.Flows, o.EchoCalls = Text, 6, 0
	var prog syncBuf
	ticks := make(chan time.Time, 1)
	ticks <- time.Now().Add(time.Second)
	o.Progress, o.ticks = &prog, ticks
	out.Reset()
	res, err = BenchMerchant(t.Context(), &out, o)
	require.NoError(t, err, out.String())
	assert.Equal(t, 6, res.Success)
	assert.Regexp(t, regexp.MustCompile(`^6 orders paid at concurrency 4 in [0-9.]+s: [0-9]+ flows/s, p50 [0-9.]+ ms, p99 [0-9.]+ ms, 6 succeeded
on disk: -?[0-9]+ bytes a flow \(the nodes' files grew -?[0-9.]+ MB\)
webhooks: 6 verified of the 6 orders \(6 paid\) at http://127\.0\.0\.1:[0-9]+/webhooks, 0 unverified, 0 of other orders; p50/p99 are order create → paid webhook
$`), out.String())
	assert.True(t, strings.HasSuffix(prog.String(), "\r\033[K"), "the progress line is cleared: %q", prog.String())
	assert.Equal(t, chai0+26*10, bal("chai@beta"))

	// A payer who cannot pay (wrong PIN): each order FAILED by its
	// terminal webhook, no flow succeeds, and the endpoint is back.
	o.PIN, o.Flows, o.Concurrency = "9999", 2, 1
	res, err = BenchMerchant(t.Context(), io.Discard, o)
	require.Error(t, err)
	assert.Equal(t, map[string]int{"order FAILED ZM": 2}, res.Failed)
	assert.Equal(t, 2, res.Webhooks)
	assert.Zero(t, res.Paid)
	assert.Empty(t, endpoint())
}

// TestWebhookReceiver posts to bench merchant's receiver as a PSP would:
// a bad signature is answered 400 and counted unverified; a signed event
// of a run's order reaches its flow and counts once however often it is
// delivered; one of another order counts as other.
func TestWebhookReceiver(t *testing.T) {
	secret, err := webhook.ParseSecret("whsec_YNAghTrVAgz/F3KkGjlLf+19MBSMKoD14ipegZP7ZTs=")
	require.NoError(t, err)
	other, err := webhook.ParseSecret("whsec_UwsFeuoUoRu4tUIIgjG4zllZQz5iQSqVQm6BZmJbrko=")
	require.NoError(t, err)
	rcv := &webhookReceiver{secret: secret, orders: map[string]chan orderEvent{}, seen: map[string]bool{}}
	stop, url, err := rcv.serve()
	require.NoError(t, err)
	defer stop()
	post := func(s webhook.Secret, id, body string) int {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(body))
		require.NoError(t, err)
		for k, v := range s.Headers(id, time.Now(), []byte(body)) {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	events := rcv.expect("ORD1")
	paid := `{"type":"transaction.status","data":{"order_id":"ORD1","transaction_status":"SUCCESS","terminal":true}}`
	assert.Equal(t, http.StatusBadRequest, post(other, "EVT1", paid), "signed with another merchant's secret")
	assert.Equal(t, http.StatusOK, post(secret, "EVT1", paid))
	assert.Equal(t, http.StatusOK, post(secret, "EVT1", paid), "a repeat is answered 200 too")
	assert.Equal(t, http.StatusOK, post(secret, "EVT2", strings.ReplaceAll(paid, "ORD1", "ORD2")))
	select {
	case ev := <-events:
		assert.Equal(t, "SUCCESS", ev.status)
		assert.True(t, ev.terminal)
	default:
		t.Fatal("the order's event did not reach its flow")
	}
	rcv.done("ORD1")
	webhooks, paidN, unverified, others := rcv.counts()
	assert.Equal(t, []int{1, 1, 1, 1}, []int{webhooks, paidN, unverified, others})
}
