package metrics

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/store"
)

// scrape GETs h's /metrics and parses it; it also returns the text.
func scrape(t *testing.T, h http.Handler) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	body, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err, "%s", body)
	return mfs, body
}

// value is the value of family name's metric whose labels include want
// (a histogram's sample count); ok is false when there is none.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (v float64, ok bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, w := range want {
			if got[k] != w {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func openStore(t *testing.T, m *Metrics) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "n.db"), store.Options{Committed: m.Committed})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestCountsWhatTheNodeIsTold(t *testing.T) {
	m := New("upiswitch")
	m.Received("ReqPay", "stored", 2*time.Millisecond)
	m.Received("ReqPay", "stored", 3*time.Millisecond)
	m.Received("ReqPay", "duplicate", time.Millisecond)
	m.Received("ReqPay", "refused", time.Millisecond)
	m.Received("ReqPay", "busy", 0)
	m.Sent("RespPay", "acked")
	m.Sent("RespPay", "retry")
	m.Sent("POST", "refused")
	m.Decided("SUCCESS", "00")
	m.Decided("SUCCESS", "00")
	m.Decided("FAILURE", "U30")

	mfs, _ := scrape(t, m.Handler())
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"upisim_messages_received_total", map[string]string{"node": "upiswitch", "api": "ReqPay", "outcome": "stored"}, 2},
		{"upisim_messages_received_total", map[string]string{"api": "ReqPay", "outcome": "duplicate"}, 1},
		{"upisim_messages_received_total", map[string]string{"api": "ReqPay", "outcome": "refused"}, 1},
		{"upisim_messages_received_total", map[string]string{"api": "ReqPay", "outcome": "busy"}, 1},
		// Busy messages were not acked: no ack latency for them.
		{"upisim_ack_seconds", map[string]string{"node": "upiswitch", "api": "ReqPay"}, 4},
		{"upisim_messages_sent_total", map[string]string{"api": "RespPay", "outcome": "acked"}, 1},
		{"upisim_messages_sent_total", map[string]string{"api": "RespPay", "outcome": "retry"}, 1},
		{"upisim_messages_sent_total", map[string]string{"api": "POST", "outcome": "refused"}, 1},
		{"upisim_transactions_total", map[string]string{"node": "upiswitch", "status": "SUCCESS", "code": "00"}, 2},
		{"upisim_transactions_total", map[string]string{"status": "FAILURE", "code": "U30"}, 1},
	} {
		got, ok := value(mfs, c.name, c.labels)
		assert.True(t, ok, "%s%v missing", c.name, c.labels)
		assert.Equal(t, c.want, got, "%s%v", c.name, c.labels)
	}
	// An API's children are resolved once: counting allocates nothing.
	allocs := testing.AllocsPerRun(100, func() {
		m.Received("ReqPay", "stored", time.Millisecond)
		m.Sent("RespPay", "acked")
		m.Decided("SUCCESS", "00")
	})
	assert.Zero(t, allocs, "allocations per counted message")
}

func TestStoreGaugesAndCommits(t *testing.T) {
	m := New("abank")
	db := openStore(t, m)
	require.NoError(t, m.WatchStore(db, nil))
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		for i := range uint64(3) {
			if err := tx.Put(store.Outbox, store.U64(i+1), []byte("x")); err != nil {
				return err
			}
		}
		return tx.Put(store.Timers, store.U64(42), []byte("t"))
	}))
	mfs, _ := scrape(t, m.Handler())
	got, _ := value(mfs, "upisim_outbox_depth", map[string]string{"node": "abank"})
	assert.Equal(t, 3.0, got)
	got, _ = value(mfs, "upisim_timers_pending", nil)
	assert.Equal(t, 1.0, got)
	commits, ok := value(mfs, "upisim_store_commit_seconds", nil)
	assert.True(t, ok)
	assert.GreaterOrEqual(t, commits, 1.0, "the commit of the update above")
	batches, _ := value(mfs, "upisim_store_commit_batch_size", nil)
	assert.Equal(t, commits, batches, "one batch size per commit")

	require.NoError(t, db.Update(func(tx *store.Tx) error { return tx.Delete(store.Outbox, store.U64(1)) }))
	mfs, _ = scrape(t, m.Handler())
	got, _ = value(mfs, "upisim_outbox_depth", nil)
	assert.Equal(t, 2.0, got, "read again at each scrape")
}

func TestCircleAndMerchantGaugesReadTheRecords(t *testing.T) {
	m := New("alphapsp")
	db := openStore(t, m)
	require.NoError(t, m.WatchCircle(db, nil))
	require.NoError(t, m.WatchMerchant(db, nil))
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		for k, l := range map[string]*recordsv1.PspCircleLink{
			"P/L1": {LinkId: "L1", Side: "P", Status: "ACTIVE"},
			"P/L2": {LinkId: "L2", Side: "P", Status: "ACTIVE"},
			"S/L3": {LinkId: "L3", Side: "S", Status: "REVOKED"},
		} {
			if err := pspLinks.Put(tx, k, l); err != nil {
				return err
			}
		}
		for k, p := range map[string]*recordsv1.PspTxn{
			"T1": {Id: "T1", Status: "SUCCESS", CircleLinkId: "L1"},
			"T2": {Id: "T2", Status: "FAILURE", CircleLinkId: "L1"},
			"T3": {Id: "T3", Status: "SUCCESS"}, // not delegated
		} {
			if err := pspTxns.Put(tx, k, p); err != nil {
				return err
			}
		}
		for k, o := range map[string]*recordsv1.MerchantOrder{
			"O1": {Status: "PAID", Refunds: []*recordsv1.MerchantRefund{{Status: "SUCCESS"}, {Status: "PENDING"}}},
			"O2": {Status: "PAID"},
			"O3": {Status: "CREATED"},
		} {
			if err := merchantOrders.Put(tx, k, o); err != nil {
				return err
			}
		}
		return merchantDeliveries.Put(tx, "W1", &recordsv1.MerchantDelivery{Status: "DELIVERED"})
	}))
	mfs, body := scrape(t, m.Handler())
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"upisim_circle_links", map[string]string{"node": "alphapsp", "side": "P", "status": "ACTIVE"}, 2},
		{"upisim_circle_links", map[string]string{"side": "S", "status": "REVOKED"}, 1},
		{"upisim_circle_payments", map[string]string{"status": "SUCCESS"}, 1},
		{"upisim_circle_payments", map[string]string{"status": "FAILURE"}, 1},
		{"upisim_merchant_orders", map[string]string{"status": "PAID"}, 2},
		{"upisim_merchant_orders", map[string]string{"status": "CREATED"}, 1},
		{"upisim_merchant_refunds", map[string]string{"status": "SUCCESS"}, 1},
		{"upisim_merchant_refunds", map[string]string{"status": "PENDING"}, 1},
		{"upisim_merchant_webhook_deliveries", map[string]string{"status": "DELIVERED"}, 1},
	} {
		got, ok := value(mfs, c.name, c.labels)
		assert.True(t, ok, "%s%v missing:\n%s", c.name, c.labels, body)
		assert.Equal(t, c.want, got, "%s%v", c.name, c.labels)
	}
}

// TestExpositionPassesPromlint lints a full scrape with promlint, the
// linter `promtool check metrics` runs (the integration test's
// TestMetricsEveryNode lints real nodes' scrapes the same way).
func TestExpositionPassesPromlint(t *testing.T) {
	m := New("betapsp")
	db := openStore(t, m)
	require.NoError(t, m.WatchStore(db, nil))
	require.NoError(t, m.WatchCircle(db, nil))
	require.NoError(t, m.WatchMerchant(db, nil))
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		return merchantOrders.Put(tx, "O1", &recordsv1.MerchantOrder{Status: "PAID", Refunds: []*recordsv1.MerchantRefund{{Status: "SUCCESS"}}})
	}))
	m.Received("ReqPay", "stored", time.Millisecond)
	m.Sent("RespPay", "acked")
	m.Decided("SUCCESS", "00")
	_, body := scrape(t, m.Handler())
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	require.NoError(t, err)
	assert.Empty(t, problems, "%s", body)
}
