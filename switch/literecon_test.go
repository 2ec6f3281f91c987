package upiswitch

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/store/recordtest"
)

// reconPages is every reconciliation page the switch sent bank, in order.
func (e *env) reconPages(bank string) []*upiv1.ReqLiteSync {
	var out []*upiv1.ReqLiteSync
	for _, s := range e.rec.All() {
		if m, ok := s.Msg.(*upiv1.ReqLiteSync); ok && s.To == bank && s.Method == mRemSync && m.GetTxn().GetSubType() == upiv1.Txn_CHK_STATUS {
			out = append(out, m)
		}
	}
	return out
}

// answerRecon answers page m as its bank with balances, mismatches and
// pool.
func (e *env) answerRecon(bank string, m *upiv1.ReqLiteSync, pool int64, balances []*upiv1.LiteBalance, mm ...*upiv1.LiteReconMismatch) {
	e.t.Helper()
	e.accept(mRspSync, &upiv1.RespLiteSync{
		Head: e.head(bank), Txn: m.GetTxn(),
		Resp:     &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
		Balances: balances, Mismatches: mm, PoolPaise: pool,
	})
}

func (e *env) recons(bank string, limit int) []*upiv1.LiteRecon {
	e.t.Helper()
	out, err := e.sw.ListLiteRecons(bank, limit)
	require.NoError(e.t, err)
	return out
}

// The switch reconciles every remitter once a day (lite.recon_every, on
// the fake clock), sending its view of the bank's LRNs; the remitter's
// answer makes the report, listed newest first; a page not answered is
// sent again after timeouts.debit, under the same txn id.
func TestLiteReconDaily(t *testing.T) {
	l := newLiteSync(t, 10_000, nil)
	require.NoError(t, l.sw.Seed())
	require.NoError(t, l.sw.Seed(), "a second start keeps the timers it has")
	nodetest.Quiesce(t, l.n)
	assert.Empty(t, l.reconPages("abank"), "nothing before a day passed")

	l.advance(24*time.Hour + time.Second)
	pages := l.reconPages("abank")
	require.Len(t, pages, 1, "one a day")
	m := pages[0]
	assert.True(t, ids.ValidID(m.GetTxn().GetId()))
	assert.Equal(t, upiv1.Txn_LITE_SYNC, m.GetTxn().GetType())
	assert.True(t, m.GetReconLast())
	require.Len(t, m.GetRecon(), 1)
	v := m.GetRecon()[0]
	assert.Equal(t, testLRN, v.GetLrn())
	assert.Equal(t, int64(10_000), v.GetBalancePaise())
	assert.Equal(t, lite.StateActive, v.GetState())
	assert.False(t, v.GetDeviceKnown(), "the device never reported")
	require.NotEmpty(t, l.reconPages("bbank"), "every bank")
	assert.Empty(t, l.reconPages("bbank")[0].GetRecon(), "bbank has no LRN: one empty last page")
	assert.True(t, l.reconPages("bbank")[0].GetReconLast())

	// abank answers with a mismatch; bbank does not answer.
	l.answerRecon("abank", m, 10_000, []*upiv1.LiteBalance{{Lrn: testLRN, BalancePaise: 13_000, State: lite.StateActive, Counter: 4}},
		&upiv1.LiteReconMismatch{Lrn: testLRN, Kind: ReconSwitchMismatch, SwitchBalancePaise: 10_000, BankBalancePaise: 13_000, AmountPaise: 3_000, Cause: "off"},
		&upiv1.LiteReconMismatch{Kind: ReconPoolMismatch, BankBalancePaise: 10_000, SwitchBalancePaise: 13_000, AmountPaise: 3_000, Cause: "pool"})
	got := l.recons("abank", 0)
	require.Len(t, got, 1)
	r := got[0]
	assert.Equal(t, m.GetTxn().GetId(), r.GetTxnId())
	assert.Equal(t, reconDone, r.GetState())
	assert.False(t, r.GetOnDemand())
	assert.NotNil(t, r.GetAnswered())
	assert.Equal(t, int64(10_000), r.GetPoolPaise())
	assert.Equal(t, int64(13_000), r.GetLrnsPaise())
	require.Len(t, r.GetLines(), 1)
	assert.Equal(t, int64(10_000), r.GetLines()[0].GetSwitchBalancePaise())
	assert.Equal(t, int64(13_000), r.GetLines()[0].GetBankBalancePaise())
	assert.Equal(t, uint64(4), r.GetLines()[0].GetBankCounter())
	require.Len(t, r.GetMismatches(), 2)
	assert.Equal(t, ReconPoolMismatch, r.GetMismatches()[0].GetKind(), "the pool (no LRN) first")
	assert.Equal(t, ReconSwitchMismatch, r.GetMismatches()[1].GetKind())

	// A repeated answer changes nothing; an answer to no page is refused.
	l.answerRecon("abank", m, 0, nil)
	assert.Len(t, l.recons("abank", 0)[0].GetMismatches(), 2)
	ack := l.receive(mRspSync, &upiv1.RespLiteSync{Head: l.head("abank"), Txn: &upiv1.Txn{Id: ids.NewTxnID("NPC"), Type: upiv1.Txn_LITE_SYNC, SubType: upiv1.Txn_CHK_STATUS},
		Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}})
	assert.Contains(t, ack.GetErr(), "no Lite reconciliation")
	ack = l.receive(mRspSync, &upiv1.RespLiteSync{Head: l.head("bbank"), Txn: m.GetTxn(), Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}})
	assert.Contains(t, ack.GetErr(), "must come from abank")

	// bbank's page is resent, the same txn id each time.
	l.advance(3 * l.net.Timeouts.Debit)
	b := l.reconPages("bbank")
	require.Greater(t, len(b), 1, "resent until answered")
	for _, p := range b[1:] {
		assert.Equal(t, b[0].GetTxn().GetId(), p.GetTxn().GetId())
	}
	br := l.recons("bbank", 0)
	require.Len(t, br, 1)
	assert.Equal(t, reconSent, br[0].GetState())
	assert.Equal(t, int32(len(b)), br[0].GetAttempts())
	l.answerRecon("bbank", b[len(b)-1], 0, nil)
	assert.Equal(t, reconDone, l.recons("bbank", 0)[0].GetState())
	assert.Empty(t, l.recons("bbank", 0)[0].GetMismatches())

	// The next day: a second report, listed first.
	l.advance(24 * time.Hour)
	pages = l.reconPages("abank")
	var runs []string
	for _, p := range pages {
		if id := p.GetTxn().GetId(); !slices.Contains(runs, id) {
			runs = append(runs, id)
		}
	}
	require.Len(t, runs, 2, "a run a day (the second resent, not answered)")
	assert.Equal(t, m.GetTxn().GetId(), runs[0])
	got = l.recons("abank", 1)
	require.Len(t, got, 1)
	assert.Equal(t, runs[1], got[0].GetTxnId(), "newest first")
	assert.Len(t, l.recons("", 0), 4)
}

// The switch's view of an LRN: the records it holds for the remitter, the
// device's last report carried forward by what moved since, and the
// records posted through another device's sync, which its device still
// holds. An on-demand run waits for the answer.
func TestLiteReconView(t *testing.T) {
	l := newLiteSync(t, 10_000, nil)
	view := func() *upiv1.LiteBalance {
		t.Helper()
		r, err := l.sw.RunLiteRecon(t.Context(), "abank", 0)
		require.NoError(t, err)
		assert.True(t, r.GetOnDemand())
		assert.Equal(t, reconSent, r.GetState())
		nodetest.Quiesce(t, l.n)
		pages := l.reconPages("abank")
		require.NotEmpty(t, pages)
		p := pages[len(pages)-1]
		assert.Equal(t, r.GetTxnId(), p.GetTxn().GetId())
		require.Len(t, p.GetRecon(), 1)
		l.answerRecon("abank", p, 0, nil)
		return p.GetRecon()[0]
	}
	// Her device syncs a record of ₹10.00 reporting 4242 (its wallet, the
	// record off): held while the remitter has it.
	batch := l.sync(l.record(1, bob, 1_000))
	v := view()
	assert.Equal(t, int64(9_000), v.GetBalancePaise())
	assert.Equal(t, int64(1_000), v.GetHeldPaise())
	assert.True(t, v.GetDeviceKnown())
	assert.Equal(t, int64(4242), v.GetDeviceReportedPaise())
	assert.Equal(t, uint64(1), v.GetCounter())

	l.post(batch, map[string]string{bob: bobAc}, 1, 1)
	v = view()
	assert.Zero(t, v.GetHeldPaise())
	assert.Equal(t, int64(9_000), v.GetBalancePaise())
	assert.Equal(t, int64(4242), v.GetDeviceReportedPaise(), "its own record was off the report already")
	assert.Zero(t, v.GetUnsyncedPaise())

	// Bob's POS syncs her next record (₹5.00): posted, her device has not
	// synced it.
	id := ids.NewTxnID("BET")
	l.accept(mReqSync, &upiv1.ReqLiteSync{
		Head: l.head("betapsp"), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_LITE_SYNC},
		DeviceId: "pos-1", Records: []*upiv1.LiteRecord{l.record(2, bob, 500)}, UserAddr: bob,
	})
	l.post(id, map[string]string{bob: bobAc}, 1, 1)
	v = view()
	assert.Equal(t, int64(8_500), v.GetBalancePaise())
	assert.Equal(t, int64(500), v.GetUnsyncedPaise())
	assert.Equal(t, int64(4242-500), v.GetDeviceReportedPaise())
	assert.Equal(t, uint64(2), v.GetCounter())

	r, err := l.sw.RunLiteRecon(t.Context(), "nobank", 0)
	assert.Error(t, err)
	assert.Nil(t, r)
	assert.Len(t, l.recons("abank", 0), 3)
	for _, r := range l.recons("abank", 0) {
		assert.Equal(t, reconDone, r.GetState())
	}
}

// internal/metrics reads the switch's Lite records by these keys and
// values (it does not import the switch).
func TestLiteKeysTheMetricsRead(t *testing.T) {
	assert.Equal(t, "litesync/X", flowKey(flowLiteSync, "X"))
	assert.Equal(t, "recon/X", reconKey("X"))
	assert.Equal(t, "OFFLINE", lite.KindOffline)
	assert.Equal(t, "DONE", reconDone)
	assert.Equal(t, []string{"UNCONFIRMED", "UNSYNCED", "DEVICE_STALE", "SWITCH_MISMATCH", "POOL_MISMATCH"}, ReconKinds)
}

func TestLiteReconRecordsRoundTrip(t *testing.T) {
	t.Run("recon", func(t *testing.T) { recordtest.TableRoundTrip(t, liteRecons) })
	t.Run("report", func(t *testing.T) { recordtest.TableRoundTrip(t, liteReports) })
}
