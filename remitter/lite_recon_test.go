package remitter_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/remitter"
)

const (
	reqLiteSync  = upiv1.RemitterService_ReqLiteSync_FullMethodName
	respLiteSync = upiv1.SwitchService_RespLiteSync_FullMethodName
)

// withLRNs opens the Lite pool and puts LRNs with their balances, the
// pool funded from settlement by their sum plus poolExtra (a pool that is
// not the sum of its LRNs' when poolExtra is not zero).
func (f *fixture) withLRNs(poolExtra int64, balances map[string]int64) {
	f.t.Helper()
	require.NoError(f.t, f.n.Update(func(c *node.Ctx) error {
		if err := ledger.Open(c.Tx, &ledger.Account{AcNum: remitter.LitePool, Ifsc: ifsc, Kind: ledger.KindLitePool}); err != nil {
			return err
		}
		sum := poolExtra
		for lrn, b := range balances {
			sum += b
			a := &remitter.LiteAccount{Lrn: lrn, Vpa: "alice@alpha", DeviceId: "dev-" + lrn, State: lite.StateActive, BalancePaise: b, TopupsPaise: b, Counter: 3}
			if err := remitter.LiteAccounts.Put(c.Tx, lrn, a); err != nil {
				return err
			}
		}
		return ledger.PostAt(c.Tx, c.Now(), "CREDIT:"+ids.NewTxnID("NPC"), settle, remitter.LitePool, sum)
	}))
}

// recon sends a reconciliation page and returns the remitter's answer.
func (f *fixture) recon(after string, last bool, views ...*upiv1.LiteBalance) *upiv1.RespLiteSync {
	f.t.Helper()
	id := ids.NewTxnID("NPC")
	m := &upiv1.ReqLiteSync{
		Head: nodetest.Head("npci", "NPC"), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_LITE_SYNC, SubType: upiv1.Txn_CHK_STATUS},
		Recon: views, ReconAfter: after, ReconLast: last,
	}
	require.Empty(f.t, f.send(reqLiteSync, m))
	s := f.answers(respLiteSync, id, 1)[0]
	assert.Equal(f.t, "npci", s.To)
	r := s.Msg.(*upiv1.RespLiteSync)
	assert.Equal(f.t, upiv1.Txn_CHK_STATUS, r.GetTxn().GetSubType())
	assert.Equal(f.t, m.GetHead().GetMsgId(), r.GetResp().GetReqMsgId())
	return r
}

func kinds(ms []*upiv1.LiteReconMismatch) map[string][]string {
	out := map[string][]string{}
	for _, m := range ms {
		out[m.GetLrn()] = append(out[m.GetLrn()], m.GetKind())
	}
	return out
}

// Each kind of mismatch is found and named from the switch's view and the
// bank's: a lost confirmation (UNCONFIRMED), records not yet posted or
// posted through another device (UNSYNCED), a device report that does not
// come to the bank's balance (DEVICE_STALE), a switch balance that is
// not the bank's (SWITCH_MISMATCH, and an LRN only one side has), and a
// pool that is not its LRNs' sum (POOL_MISMATCH). An LRN that agrees
// everywhere is named in no mismatch, and nothing moves.
func TestLiteReconKinds(t *testing.T) {
	f := newFixture(t)
	f.withLRNs(700, map[string]int64{
		"LRN1": 10_000, "LRN2": 10_000, "LRN3": 10_000, "LRN4": 10_000, "LRN5": 10_000, "LRN6": 10_000, "LRN8": 5_000,
	})
	ok := func(lrn string, bal int64) *upiv1.LiteBalance {
		return &upiv1.LiteBalance{Lrn: lrn, BalancePaise: bal, State: lite.StateActive, DeviceKnown: true, DeviceReportedPaise: bal}
	}
	unconfirmed := ok("LRN2", 7_000)
	unconfirmed.UnconfirmedPaise = 3_000 // bank 10,000 = switch 7,000 + 3,000 unconfirmed
	held := ok("LRN3", 8_000)
	held.HeldPaise = 2_000 // a record with the remitter: switch 8,000 + 2,000 held
	viaPayee := ok("LRN4", 10_000)
	viaPayee.UnsyncedPaise = 1_500 // posted through the payee's device
	stale := ok("LRN5", 10_000)
	stale.DeviceReportedPaise = 9_000 // a top-up's answer the device never got
	off := ok("LRN6", 9_900)
	ghost := ok("LRN7", 100) // the bank has no LRN7

	r := f.recon("", true, ok("LRN1", 10_000), unconfirmed, held, viaPayee, stale, off, ghost)
	got := kinds(r.GetMismatches())
	assert.NotContains(t, got, "LRN1", "an LRN that agrees")
	assert.Equal(t, []string{"UNCONFIRMED"}, got["LRN2"])
	assert.Equal(t, []string{"UNSYNCED"}, got["LRN3"])
	assert.Equal(t, []string{"UNSYNCED"}, got["LRN4"])
	assert.Equal(t, []string{"DEVICE_STALE"}, got["LRN5"])
	assert.Equal(t, []string{"SWITCH_MISMATCH", "DEVICE_STALE"}, got["LRN6"])
	assert.Equal(t, []string{"SWITCH_MISMATCH", "DEVICE_STALE"}, got["LRN7"])
	assert.Equal(t, []string{"SWITCH_MISMATCH"}, got["LRN8"], "the switch has no account of LRN8")
	assert.Equal(t, []string{"POOL_MISMATCH"}, got[""])
	assert.Equal(t, int64(65_700), r.GetPoolPaise())

	byKind := map[string]*upiv1.LiteReconMismatch{}
	for _, m := range r.GetMismatches() {
		byKind[m.GetLrn()+"/"+m.GetKind()] = m
	}
	assert.Equal(t, int64(3_000), byKind["LRN2/UNCONFIRMED"].GetAmountPaise())
	assert.Contains(t, byKind["LRN2/UNCONFIRMED"].GetCause(), "confirmation")
	assert.Equal(t, int64(2_000), byKind["LRN3/UNSYNCED"].GetAmountPaise())
	assert.Contains(t, byKind["LRN4/UNSYNCED"].GetCause(), "another device's sync")
	assert.Equal(t, int64(1_000), byKind["LRN5/DEVICE_STALE"].GetAmountPaise())
	assert.Contains(t, byKind["LRN5/DEVICE_STALE"].GetCause(), "never got")
	assert.Equal(t, int64(100), byKind["LRN6/SWITCH_MISMATCH"].GetAmountPaise())
	assert.Equal(t, int64(10_000), byKind["LRN6/SWITCH_MISMATCH"].GetBankBalancePaise())
	assert.Equal(t, int64(9_900), byKind["LRN6/SWITCH_MISMATCH"].GetSwitchBalancePaise())
	assert.Contains(t, byKind["LRN7/SWITCH_MISMATCH"].GetCause(), "bank has no account")
	assert.Contains(t, byKind["LRN8/SWITCH_MISMATCH"].GetCause(), "switch has no account")
	pool := byKind["/POOL_MISMATCH"]
	assert.Equal(t, int64(65_700), pool.GetBankBalancePaise())
	assert.Equal(t, int64(65_000), pool.GetSwitchBalancePaise())
	assert.Equal(t, int64(700), pool.GetAmountPaise())

	bal := map[string]*upiv1.LiteBalance{}
	for _, b := range r.GetBalances() {
		bal[b.GetLrn()] = b
	}
	assert.Len(t, bal, 7, "the bank's balances of its LRNs in the range")
	assert.Equal(t, int64(10_000), bal["LRN2"].GetBalancePaise())
	assert.Equal(t, uint64(3), bal["LRN2"].GetCounter())
}

// A page answers for its range only: the LRNs after recon_after up to its
// last, and names the pool only on the last page.
func TestLiteReconPages(t *testing.T) {
	f := newFixture(t)
	f.withLRNs(0, map[string]int64{"LRN1": 100, "LRN2": 200, "LRN3": 300, "LRN4": 400})
	v := func(lrn string, b int64) *upiv1.LiteBalance {
		return &upiv1.LiteBalance{Lrn: lrn, BalancePaise: b, State: lite.StateActive}
	}
	first := f.recon("", false, v("LRN1", 100), v("LRN3", 300))
	assert.Equal(t, map[string][]string{"LRN2": {"SWITCH_MISMATCH"}}, kinds(first.GetMismatches()), "LRN2 is in the first page's range")
	assert.Len(t, first.GetBalances(), 3)
	assert.Zero(t, first.GetPoolPaise(), "not the last page")
	last := f.recon("LRN3", true, v("LRN4", 400))
	assert.Empty(t, last.GetMismatches())
	assert.Len(t, last.GetBalances(), 1)
	assert.Equal(t, int64(1_000), last.GetPoolPaise())
}

func TestLiteReconValidate(t *testing.T) {
	f := newFixture(t)
	page := func(after string, recs []*upiv1.LiteRecord, lrns ...string) *upiv1.ReqLiteSync {
		m := &upiv1.ReqLiteSync{Head: nodetest.Head("npci", "NPC"), ReconAfter: after, Records: recs,
			Txn: &upiv1.Txn{Id: ids.NewTxnID("NPC"), Type: upiv1.Txn_LITE_SYNC, SubType: upiv1.Txn_CHK_STATUS}}
		for _, l := range lrns {
			m.Recon = append(m.Recon, &upiv1.LiteBalance{Lrn: l})
		}
		return m
	}
	assert.Contains(t, f.send(reqLiteSync, page("", nil, "B", "A")), "LRN order")
	assert.Contains(t, f.send(reqLiteSync, page("", nil, "A", "A")), "each once")
	assert.Contains(t, f.send(reqLiteSync, page("C", nil, "B")), "after \"C\"")
	assert.Contains(t, f.send(reqLiteSync, page("", []*upiv1.LiteRecord{{Lrn: "A", AmountPaise: 1}}, "A")), "carries no records")
	nodetest.Quiesce(t, f.n)
	assert.Empty(t, f.rec.All(), "a refused page is not answered")
}
