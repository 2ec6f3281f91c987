package metrics

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/store"
)

// A storeCollector counts, on each scrape, what one read-only transaction
// of the node's store finds: the data is already there, so nothing on the
// hot path counts it. A scrape costs a scan of the buckets it reads.
type storeCollector struct {
	db    *store.DB
	log   *slog.Logger
	descs []*prometheus.Desc
	// collect reads tx and sends the metrics of descs.
	collect func(tx *store.Tx, ch chan<- prometheus.Metric) error
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	err := c.db.View(func(tx *store.Tx) error { return c.collect(tx, ch) })
	if err != nil {
		// The scrape lacks these metrics; the store's own error shows in
		// the node's health.
		c.log.Warn("metrics: read store", "err", err)
	}
}

// WatchStore registers the gauges of the runtime's buckets in db:
// upisim_outbox_depth (messages not yet acked) and upisim_timers_pending
// (timers set, due or not).
func (m *Metrics) WatchStore(db *store.DB, log *slog.Logger) error {
	outbox := prometheus.NewDesc("upisim_outbox_depth", "Messages in the node's outbox: sent or to send, not yet acked.", nil, nil)
	timers := prometheus.NewDesc("upisim_timers_pending", "Durable timers set at the node, due or not.", nil, nil)
	return m.Register(&storeCollector{db: db, log: orDiscard(log), descs: []*prometheus.Desc{outbox, timers},
		collect: func(tx *store.Tx, ch chan<- prometheus.Metric) error {
			ch <- prometheus.MustNewConstMetric(outbox, prometheus.GaugeValue, float64(tx.Count(store.Outbox)))
			ch <- prometheus.MustNewConstMetric(timers, prometheus.GaugeValue, float64(tx.Count(store.Timers)))
			return nil
		}})
}

var (
	pspLinks = store.NewTable[recordsv1.PspCircleLink](store.CircleLinks)
	pspTxns  = store.NewTable[recordsv1.PspTxn](store.Txns)
)

// WatchCircle registers a PSP's UPI Circle gauges, read from its records:
// upisim_circle_links{side,status} (the links this PSP keeps, as primary's
// PSP "P" or secondary's "S") and upisim_circle_payments{status} (the
// delegated payments in its transaction records, by status).
func (m *Metrics) WatchCircle(db *store.DB, log *slog.Logger) error {
	links := prometheus.NewDesc("upisim_circle_links", "UPI Circle links this PSP keeps, by side (P: the primary's PSP, S: the secondary's) and status.", []string{"side", "status"}, nil)
	pays := prometheus.NewDesc("upisim_circle_payments", "Delegated (UPI Circle) payments in this PSP's transaction records, by status.", []string{"status"}, nil)
	return m.Register(&storeCollector{db: db, log: orDiscard(log), descs: []*prometheus.Desc{links, pays},
		collect: func(tx *store.Tx, ch chan<- prometheus.Metric) error {
			byLink := map[[2]string]int{}
			err := pspLinks.Scan(tx, "", func(_ string, l *recordsv1.PspCircleLink) (bool, error) {
				byLink[[2]string{l.GetSide(), l.GetStatus()}]++
				return true, nil
			})
			if err != nil {
				return err
			}
			byPay := map[string]int{}
			err = pspTxns.Scan(tx, "", func(_ string, t *recordsv1.PspTxn) (bool, error) {
				if t.GetCircleLinkId() != "" {
					byPay[t.GetStatus()]++
				}
				return true, nil
			})
			if err != nil {
				return err
			}
			for k, n := range byLink {
				ch <- prometheus.MustNewConstMetric(links, prometheus.GaugeValue, float64(n), k[0], k[1])
			}
			for s, n := range byPay {
				ch <- prometheus.MustNewConstMetric(pays, prometheus.GaugeValue, float64(n), s)
			}
			return nil
		}})
}

var (
	merchantOrders     = store.NewTable[recordsv1.MerchantOrder](store.MerchantOrders)
	merchantDeliveries = store.NewTable[recordsv1.MerchantDelivery](store.MerchantDeliveries)
)

// WatchMerchant registers a PSP's merchant gauges, read from the merchant
// layer's records: upisim_merchant_orders{status},
// upisim_merchant_refunds{status} and
// upisim_merchant_webhook_deliveries{status}.
func (m *Metrics) WatchMerchant(db *store.DB, log *slog.Logger) error {
	orders := prometheus.NewDesc("upisim_merchant_orders", "Merchant orders at this PSP, by status.", []string{"status"}, nil)
	refunds := prometheus.NewDesc("upisim_merchant_refunds", "Merchant refunds at this PSP, by status.", []string{"status"}, nil)
	hooks := prometheus.NewDesc("upisim_merchant_webhook_deliveries", "Webhook deliveries of this PSP's merchants, by status.", []string{"status"}, nil)
	return m.Register(&storeCollector{db: db, log: orDiscard(log), descs: []*prometheus.Desc{orders, refunds, hooks},
		collect: func(tx *store.Tx, ch chan<- prometheus.Metric) error {
			byOrder, byRefund, byHook := map[string]int{}, map[string]int{}, map[string]int{}
			err := merchantOrders.Scan(tx, "", func(_ string, o *recordsv1.MerchantOrder) (bool, error) {
				byOrder[o.GetStatus()]++
				for _, r := range o.GetRefunds() {
					byRefund[r.GetStatus()]++
				}
				return true, nil
			})
			if err != nil {
				return err
			}
			err = merchantDeliveries.Scan(tx, "", func(_ string, d *recordsv1.MerchantDelivery) (bool, error) {
				byHook[d.GetStatus()]++
				return true, nil
			})
			if err != nil {
				return err
			}
			for _, g := range []struct {
				d  *prometheus.Desc
				by map[string]int
			}{{orders, byOrder}, {refunds, byRefund}, {hooks, byHook}} {
				for s, n := range g.by {
					ch <- prometheus.MustNewConstMetric(g.d, prometheus.GaugeValue, float64(n), s)
				}
			}
			return nil
		}})
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
