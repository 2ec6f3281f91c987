package metrics

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ledger"
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

var (
	liteSwitchAccounts = store.NewTable[recordsv1.SwitchLiteAccount](store.LiteAccounts)
	liteSwitchRecords  = store.NewTable[recordsv1.SwitchLiteRecord](store.LiteRecords)
	liteSwitchBatches  = store.NewTable[recordsv1.SwitchLiteBatch](store.Txns)
	liteSwitchRecons   = store.NewTable[recordsv1.SwitchLiteRecon](store.LiteRecons)
	liteBankAccounts   = store.NewTable[recordsv1.BankLiteAccount](store.LiteAccounts)
	liteDevices        = store.NewTable[recordsv1.TpapLiteDevice](store.LiteDevices)
)

// The kinds of a Lite reconciliation's mismatches (switch/literecon.go).
var liteReconKinds = []string{"UNCONFIRMED", "UNSYNCED", "DEVICE_STALE", "SWITCH_MISMATCH", "POOL_MISMATCH"}

// WatchLite registers UPI Lite's gauges of a node of role, read from its
// records (docs/FLOWS.md, UPI Lite):
//   - the switch: upisim_lite_lrns{state} (its auth engine's LRNs),
//     upisim_lite_sync_batches{state} (the PSPs' ReqLiteSync batches),
//     upisim_lite_offline_records{status} (every offline record it knows)
//     and upisim_lite_recon_mismatches{bank,kind} (the mismatches of each
//     bank's last finished reconciliation, 0 for a kind it had none of);
//   - a bank: upisim_lite_lrns{state} and upisim_lite_pool_paise (its Lite
//     pool account's balance);
//   - the TPAP: upisim_lite_unsynced_records{direction} (records its devices
//     hold that no sync answered).
//
// Other roles have none.
func (m *Metrics) WatchLite(db *store.DB, role string, log *slog.Logger) error {
	lrns := prometheus.NewDesc("upisim_lite_lrns", "UPI Lite LRNs at this node, by state.", []string{"state"}, nil)
	switch role {
	case "switch":
		batches := prometheus.NewDesc("upisim_lite_sync_batches", "UPI Lite sync batches (ReqLiteSync) at the switch, by state.", []string{"state"}, nil)
		records := prometheus.NewDesc("upisim_lite_offline_records", "Offline UPI Lite records the switch knows, by status.", []string{"status"}, nil)
		recon := prometheus.NewDesc("upisim_lite_recon_mismatches", "Mismatches of each remitter bank's last finished UPI Lite reconciliation, by kind.", []string{"bank", "kind"}, nil)
		return m.Register(&storeCollector{db: db, log: orDiscard(log), descs: []*prometheus.Desc{lrns, batches, records, recon},
			collect: func(tx *store.Tx, ch chan<- prometheus.Metric) error {
				return collectLiteSwitch(tx, ch, lrns, batches, records, recon)
			}})
	case "bank":
		pool := prometheus.NewDesc("upisim_lite_pool_paise", "The balance of this bank's UPI Lite pool account, in paise.", nil, nil)
		return m.Register(&storeCollector{db: db, log: orDiscard(log), descs: []*prometheus.Desc{lrns, pool},
			collect: func(tx *store.Tx, ch chan<- prometheus.Metric) error {
				byState := map[string]int{}
				err := liteBankAccounts.Scan(tx, "", func(_ string, a *recordsv1.BankLiteAccount) (bool, error) {
					byState[a.GetState()]++
					return true, nil
				})
				if err != nil {
					return err
				}
				sendCounts(ch, lrns, byState)
				a, err := ledger.Get(tx, liteAccountPool)
				switch {
				case errors.Is(err, ledger.ErrNoAccount):
				case err != nil:
					return err
				default:
					ch <- prometheus.MustNewConstMetric(pool, prometheus.GaugeValue, float64(a.GetBalancePaise()))
				}
				return nil
			}})
	case "tpap":
		unsynced := prometheus.NewDesc("upisim_lite_unsynced_records", "Offline UPI Lite records the TPAP's devices hold that no sync answered, by direction (SENT, RECEIVED).", []string{"direction"}, nil)
		return m.Register(&storeCollector{db: db, log: orDiscard(log), descs: []*prometheus.Desc{unsynced},
			collect: func(tx *store.Tx, ch chan<- prometheus.Metric) error {
				byDir := map[string]int{"SENT": 0, "RECEIVED": 0}
				err := liteDevices.Scan(tx, "", func(_ string, d *recordsv1.TpapLiteDevice) (bool, error) {
					for _, r := range d.GetUnsynced() {
						byDir[r.GetDirection()]++
					}
					return true, nil
				})
				if err != nil {
					return err
				}
				sendCounts(ch, unsynced, byDir)
				return nil
			}})
	}
	return nil
}

// liteAccountPool is a bank's Lite pool account (remitter.LitePool).
const liteAccountPool = "LITEPOOL"

// liteBatchPrefix is the switch's store.Txns key prefix of its sync
// batches (switch/litesync.go's flowLiteSync).
const liteBatchPrefix = "litesync/"

func collectLiteSwitch(tx *store.Tx, ch chan<- prometheus.Metric, lrns, batches, records, recon *prometheus.Desc) error {
	byState := map[string]int{}
	err := liteSwitchAccounts.Scan(tx, "", func(k string, a *recordsv1.SwitchLiteAccount) (bool, error) {
		if !strings.Contains(k, "/") { // not a device's index entry
			byState[a.GetState()]++
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	sendCounts(ch, lrns, byState)
	byBatch := map[string]int{}
	err = liteSwitchBatches.Scan(tx, liteBatchPrefix, func(_ string, b *recordsv1.SwitchLiteBatch) (bool, error) {
		byBatch[b.GetState()]++
		return true, nil
	})
	if err != nil {
		return err
	}
	sendCounts(ch, batches, byBatch)
	byStatus := map[string]int{}
	err = liteSwitchRecords.Scan(tx, "", func(_ string, r *recordsv1.SwitchLiteRecord) (bool, error) {
		if r.GetKind() == "OFFLINE" {
			byStatus[r.GetStatus()]++
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	sendCounts(ch, records, byStatus)
	last := map[string]*recordsv1.SwitchLiteRecon{}
	err = liteSwitchRecons.Scan(tx, "recon/", func(_ string, r *recordsv1.SwitchLiteRecon) (bool, error) {
		if p := last[r.GetBank()]; r.GetState() == "DONE" && (p == nil || r.GetAnswered() > p.GetAnswered()) {
			last[r.GetBank()] = r
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for bank, r := range last {
		n := map[string]int{}
		for _, k := range liteReconKinds {
			n[k] = 0
		}
		for _, mm := range r.GetMismatches() {
			n[mm.GetKind()]++
		}
		for k, v := range n {
			ch <- prometheus.MustNewConstMetric(recon, prometheus.GaugeValue, float64(v), bank, k)
		}
	}
	return nil
}

func sendCounts(ch chan<- prometheus.Metric, d *prometheus.Desc, by map[string]int) {
	for label, n := range by {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(n), label)
	}
}
