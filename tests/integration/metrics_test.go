package integration

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scrapeMetrics GETs a node's /metrics on its HTTP port and parses it; it
// also returns the text.
func scrapeMetrics(t *testing.T, httpAddr string) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+httpAddr+"/metrics", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err, "%s", body)
	return mfs, body
}

// metricSum sums family name's metrics whose labels include want (for a
// histogram, its sample counts).
func metricSum(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (sum float64) {
next:
	for _, m := range mfs[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, w := range want {
			if got[k] != w {
				continue next
			}
		}
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
	}
	return sum
}

// TestMetricsEveryNode pays once and scrapes every node's /metrics, as a
// user would with curl: the switch counted the ReqPay it stored and the
// SUCCESS it decided, every node committed, and a quiet network's outboxes
// are empty. Every scrape passes promlint: the linter `promtool check
// metrics` runs; TestPromtoolCheckMetrics (promtool_test.go) runs the real
// promtool, Debian's, on the same scrapes.
func TestMetricsEveryNode(t *testing.T) {
	n := up(t, nil)
	r := n.pay("alice@alpha", "bob@beta", "12.00", "1234")
	require.Equal(t, "SUCCESS", r.Status)

	sw, _ := n.c.Dir.Node("npci")
	eventually(t, func() bool {
		quiet := true
		for _, nd := range n.c.Dir.Nodes {
			mfs, _ := scrapeMetrics(t, nd.HTTPAddr)
			if metricSum(mfs, "upisim_outbox_depth", nil) != 0 {
				quiet = false
			}
		}
		return quiet
	}, "every node's upisim_outbox_depth is 0 once the network is quiet")

	for _, nd := range n.c.Dir.Nodes {
		mfs, body := scrapeMetrics(t, nd.HTTPAddr)
		node := map[string]string{"node": nd.Name}
		assert.Positive(t, metricSum(mfs, "upisim_store_commit_seconds", node), "%s: commits observed", nd.Name)
		assert.Positive(t, metricSum(mfs, "upisim_store_commit_batch_size", node), "%s: commit batch sizes observed", nd.Name)
		assert.Positive(t, metricSum(mfs, "upisim_messages_received_total", map[string]string{"node": nd.Name, "outcome": "stored"}), "%s: received messages", nd.Name)
		assert.Positive(t, metricSum(mfs, "upisim_messages_sent_total", map[string]string{"node": nd.Name, "outcome": "acked"}), "%s: sent messages acked", nd.Name)
		assert.Contains(t, mfs, "upisim_timers_pending", "%s", nd.Name)
		problems, err := promlint.New(bytes.NewReader(body)).Lint()
		require.NoError(t, err)
		assert.Empty(t, problems, "%s: promlint", nd.Name)
	}

	mfs, body := scrapeMetrics(t, sw.HTTPAddr)
	assert.GreaterOrEqual(t, metricSum(mfs, "upisim_messages_received_total", map[string]string{"node": "npci", "api": "ReqPay", "outcome": "stored"}), 1.0, "%s", body)
	assert.Equal(t, 1.0, metricSum(mfs, "upisim_transactions_total", map[string]string{"node": "npci", "status": "SUCCESS"}), "the one payment, decided SUCCESS")
	assert.Zero(t, metricSum(mfs, "upisim_transactions_total", map[string]string{"status": "FAILURE"}))
	assert.GreaterOrEqual(t, metricSum(mfs, "upisim_ack_seconds", map[string]string{"api": "ReqPay"}), 1.0, "ReqPay's ack latency observed")

	// The payer's PSP stored the switch's RespPay, and counted the
	// outcome it learnt from it.
	alpha, _ := n.c.Dir.Node("alphapsp")
	mfs, _ = scrapeMetrics(t, alpha.HTTPAddr)
	assert.GreaterOrEqual(t, metricSum(mfs, "upisim_messages_received_total", map[string]string{"api": "RespPay", "outcome": "stored"}), 1.0)
	assert.Equal(t, 1.0, metricSum(mfs, "upisim_transactions_total", map[string]string{"node": "alphapsp", "status": "SUCCESS"}))

	// /metrics is behind the gateway's Guard like the rest of the port.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+sw.HTTPAddr+"/metrics", nil)
	require.NoError(t, err)
	req.Host = "evil.example"
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode, "a foreign Host (DNS rebinding) is refused")
}
