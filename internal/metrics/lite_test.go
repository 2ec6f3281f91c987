package metrics

import (
	"bytes"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/remitter"
)

type want struct {
	name   string
	labels map[string]string
	v      float64
}

func checkScrape(t *testing.T, m *Metrics, wants []want) {
	t.Helper()
	mfs, body := scrape(t, m.Handler())
	for _, c := range wants {
		got, ok := value(mfs, c.name, c.labels)
		assert.True(t, ok, "%s%v missing:\n%s", c.name, c.labels, body)
		assert.Equal(t, c.v, got, "%s%v", c.name, c.labels)
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	require.NoError(t, err)
	assert.Empty(t, problems, "%s", body)
}

// The switch's Lite gauges count its LRNs by state (not the devices'
// index entries), its sync batches by state, its offline records by
// status (not the online payments' counters), and the mismatches of each
// bank's last finished reconciliation by kind, 0 for the kinds it had
// none of.
func TestLiteSwitchGauges(t *testing.T) {
	m := New("npci")
	db := openStore(t, m)
	require.NoError(t, m.WatchLite(db, "switch", nil))
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		for k, a := range map[string]*recordsv1.SwitchLiteAccount{
			"LRN1": {Lrn: "LRN1", State: "ACTIVE"}, "LRN2": {Lrn: "LRN2", State: "ACTIVE"}, "LRN3": {Lrn: "LRN3", State: "DISABLED"},
			"device/dev-1": {Lrn: "LRN1"},
		} {
			if err := liteSwitchAccounts.Put(tx, k, a); err != nil {
				return err
			}
		}
		for k, r := range map[string]*recordsv1.SwitchLiteRecord{
			"LRN1/1": {Kind: "OFFLINE", Status: "SUCCESS"}, "LRN1/2": {Kind: "OFFLINE", Status: "PENDING"},
			"LRN1/3": {Kind: "ONLINE", Status: "SUCCESS"}, "LRN2/1": {Kind: "OFFLINE", Status: "SUCCESS"},
		} {
			if err := liteSwitchRecords.Put(tx, k, r); err != nil {
				return err
			}
		}
		for k, b := range map[string]*recordsv1.SwitchLiteBatch{"litesync/B1": {State: "CLOSED"}, "litesync/B2": {State: "POSTING"}} {
			if err := liteSwitchBatches.Put(tx, k, b); err != nil {
				return err
			}
		}
		mm := func(kinds ...string) (out []*upiv1.LiteReconMismatch) {
			for _, k := range kinds {
				out = append(out, &upiv1.LiteReconMismatch{Kind: k})
			}
			return out
		}
		for k, r := range map[string]*recordsv1.SwitchLiteRecon{
			"recon/R1": {Bank: "abank", State: "DONE", Answered: 1, Mismatches: mm("UNCONFIRMED", "UNCONFIRMED", "POOL_MISMATCH")},
			"recon/R2": {Bank: "abank", State: "DONE", Answered: 2, Mismatches: mm("UNSYNCED")},
			"recon/R3": {Bank: "abank", State: "SENT"},
			"recon/R4": {Bank: "bbank", State: "DONE", Answered: 3},
		} {
			if err := liteSwitchRecons.Put(tx, k, r); err != nil {
				return err
			}
		}
		return nil
	}))
	checkScrape(t, m, []want{
		{"upisim_lite_lrns", map[string]string{"node": "npci", "state": "ACTIVE"}, 2},
		{"upisim_lite_lrns", map[string]string{"state": "DISABLED"}, 1},
		{"upisim_lite_sync_batches", map[string]string{"state": "CLOSED"}, 1},
		{"upisim_lite_sync_batches", map[string]string{"state": "POSTING"}, 1},
		{"upisim_lite_offline_records", map[string]string{"status": "SUCCESS"}, 2},
		{"upisim_lite_offline_records", map[string]string{"status": "PENDING"}, 1},
		{"upisim_lite_recon_mismatches", map[string]string{"bank": "abank", "kind": "UNSYNCED"}, 1},
		{"upisim_lite_recon_mismatches", map[string]string{"bank": "abank", "kind": "UNCONFIRMED"}, 0},
		{"upisim_lite_recon_mismatches", map[string]string{"bank": "abank", "kind": "POOL_MISMATCH"}, 0},
		{"upisim_lite_recon_mismatches", map[string]string{"bank": "bbank", "kind": "DEVICE_STALE"}, 0},
	})
}

// A bank's Lite gauges: its LRNs by state and its pool account; the
// TPAP's: the records its devices hold unsynced, by direction.
func TestLiteBankAndTPAPGauges(t *testing.T) {
	assert.Equal(t, remitter.LitePool, liteAccountPool)
	bank := New("abank")
	db := openStore(t, bank)
	require.NoError(t, bank.WatchLite(db, "bank", nil))
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		if err := ledger.Open(tx, &ledger.Account{AcNum: remitter.LitePool, Ifsc: "ABNK0000001", Kind: ledger.KindLitePool, BalancePaise: 12_345}); err != nil {
			return err
		}
		for k, a := range map[string]*recordsv1.BankLiteAccount{"LRN1": {State: "ACTIVE"}, "LRN2": {State: "DISABLED"}} {
			if err := liteBankAccounts.Put(tx, k, a); err != nil {
				return err
			}
		}
		return nil
	}))
	checkScrape(t, bank, []want{
		{"upisim_lite_lrns", map[string]string{"node": "abank", "state": "ACTIVE"}, 1},
		{"upisim_lite_lrns", map[string]string{"state": "DISABLED"}, 1},
		{"upisim_lite_pool_paise", nil, 12_345},
	})

	tp := New("tpap")
	db = openStore(t, tp)
	require.NoError(t, tp.WatchLite(db, "tpap", nil))
	require.NoError(t, tp.WatchLite(db, "psp", nil), "a PSP has no Lite gauges")
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		return liteDevices.Put(tx, "dev-1", &recordsv1.TpapLiteDevice{Unsynced: []*recordsv1.TpapLiteRecord{
			{Direction: "SENT"}, {Direction: "SENT"}, {Direction: "RECEIVED"},
		}, Synced: []*recordsv1.TpapLiteRecord{{Direction: "SENT"}}})
	}))
	checkScrape(t, tp, []want{
		{"upisim_lite_unsynced_records", map[string]string{"direction": "SENT"}, 2},
		{"upisim_lite_unsynced_records", map[string]string{"direction": "RECEIVED"}, 1},
	})
}
