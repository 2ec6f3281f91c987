// Package metrics is a node's Prometheus metrics: one registry per node
// (several nodes run in one process, so never the global default one),
// served in the standard exposition format by Handler at GET /metrics on
// the node's HTTP port (internal/cluster).
//
// It is the only package that imports Prometheus. The runtime reaches it
// through small hooks: Metrics is a node.Observer (node.Config.Observer:
// messages received and sent, ack latency, transactions decided) and
// Committed is a store.Options.Committed (group-commit batch size and
// latency). What the store already holds (outbox depth, timers pending,
// UPI Circle links and delegated payments, merchant orders, refunds and
// webhook deliveries, UPI Lite's LRNs, pool, batches, records and
// reconciliations) is counted on scrape by collectors that read it
// (WatchStore, WatchCircle, WatchMerchant, WatchLite), not by counters sprinkled
// where it is written.
//
// Labels are few-valued: the node (a constant label of the registry), an
// API name, an outcome or a status and code. Never a txn id or a VPA.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one node's registry and its metrics. Its methods are safe for
// concurrent use.
type Metrics struct {
	name string
	reg  *prometheus.Registry

	received *prometheus.CounterVec
	sent     *prometheus.CounterVec
	ack      *prometheus.HistogramVec
	decided  *prometheus.CounterVec
	batch    prometheus.Histogram
	commit   prometheus.Histogram

	// apis are the label children of each API, resolved once: the hot
	// path does a map read under a read lock, never a label lookup.
	mu   sync.RWMutex
	apis map[string]*apiMetrics
	txns map[[2]string]prometheus.Counter
}

// apiMetrics are one API's resolved children.
type apiMetrics struct {
	stored, duplicate, refused, busy prometheus.Counter
	acked, sentRefused, retry        prometheus.Counter
	ack                              prometheus.Observer
}

// The outcomes a node.Observer is told (the same strings as node's
// Received* and Sent* constants, which this package does not import).
const (
	outStored    = "stored"
	outDuplicate = "duplicate"
	outRefused   = "refused"
	outBusy      = "busy"
	outAcked     = "acked"
	outRetry     = "retry"
)

// New makes the registry of node name, with the Go runtime's and the
// process's collectors.
func New(name string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		name: name, reg: reg,
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "upisim_messages_received_total",
			Help: "Network messages received, by API and outcome: stored (new, stored and acked), duplicate (answered from the inbox), refused (acked with an error), busy (not taken: in-flight limit or throttle).",
		}, []string{"api", "outcome"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "upisim_messages_sent_total",
			Help: "Outbox delivery attempts, by API (POST for an HTTP POST) and outcome: acked, refused (the receiver's Ack.err or an HTTP refusal), retry (no ack: sent again).",
		}, []string{"api", "outcome"}),
		ack: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "upisim_ack_seconds",
			Help:    "Time from receiving a network message to its Ack (the group commit's fsync included), by API.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"api"}),
		decided: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "upisim_transactions_total",
			Help: "Transactions whose final status this node decided or learnt (the switch: each pay flow it finishes; a PSP: each pay, collect or refund of its users as it learns the outcome), by final status and code.",
		}, []string{"status", "code"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "upisim_store_commit_batch_size",
			Help:    "Updates per group commit of the node's store.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "upisim_store_commit_seconds",
			Help:    "Time of one group commit of the node's store, its fsyncs included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		apis: map[string]*apiMetrics{},
		txns: map[[2]string]prometheus.Counter{},
	}
	m.nodeRegisterer().MustRegister(m.received, m.sent, m.ack, m.decided, m.batch, m.commit)
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// Registry is the node's registry.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Register adds collectors to the node's registry, with its node label.
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	f := m.nodeRegisterer()
	for _, c := range cs {
		if err := f.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// nodeRegisterer registers with the node label.
func (m *Metrics) nodeRegisterer() prometheus.Registerer {
	return prometheus.WrapRegistererWith(prometheus.Labels{"node": m.name}, m.reg)
}

// Handler serves the registry in the exposition format (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// api returns the resolved children of api, making them the first time.
func (m *Metrics) api(api string) *apiMetrics {
	m.mu.RLock()
	a := m.apis[api]
	m.mu.RUnlock()
	if a != nil {
		return a
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if a = m.apis[api]; a == nil {
		a = &apiMetrics{
			stored:      m.received.WithLabelValues(api, outStored),
			duplicate:   m.received.WithLabelValues(api, outDuplicate),
			refused:     m.received.WithLabelValues(api, outRefused),
			busy:        m.received.WithLabelValues(api, outBusy),
			acked:       m.sent.WithLabelValues(api, outAcked),
			sentRefused: m.sent.WithLabelValues(api, outRefused),
			retry:       m.sent.WithLabelValues(api, outRetry),
			ack:         m.ack.WithLabelValues(api),
		}
		m.apis[api] = a
	}
	return a
}

// Received counts a network message the node answered (node.Observer).
func (m *Metrics) Received(api, outcome string, took time.Duration) {
	a := m.api(api)
	switch outcome {
	case outStored:
		a.stored.Inc()
	case outDuplicate:
		a.duplicate.Inc()
	case outRefused:
		a.refused.Inc()
	case outBusy:
		a.busy.Inc()
		return // not acked: no ack latency
	default:
		return
	}
	a.ack.Observe(took.Seconds())
}

// Sent counts one delivery attempt (node.Observer).
func (m *Metrics) Sent(api, outcome string) {
	a := m.api(api)
	switch outcome {
	case outAcked:
		a.acked.Inc()
	case outRefused:
		a.sentRefused.Inc()
	case outRetry:
		a.retry.Inc()
	}
}

// Decided counts a transaction decided with status and code
// (node.Observer).
func (m *Metrics) Decided(status, code string) {
	k := [2]string{status, code}
	m.mu.RLock()
	c := m.txns[k]
	m.mu.RUnlock()
	if c == nil {
		m.mu.Lock()
		if c = m.txns[k]; c == nil {
			c = m.decided.WithLabelValues(status, code)
			m.txns[k] = c
		}
		m.mu.Unlock()
	}
	c.Inc()
}

// Committed observes one group commit of the node's store
// (store.Options.Committed).
func (m *Metrics) Committed(batch int, took time.Duration) {
	m.batch.Observe(float64(batch))
	m.commit.Observe(took.Seconds())
}
