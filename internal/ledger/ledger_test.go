package ledger_test

import (
	"google.golang.org/protobuf/proto"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	settle = "SETTLEMENT-ABNK0000001"
	alice  = "1000000001"
	bob    = "1000000002"
	pool   = "LITE-1"
)

// newLedger opens a store with a settlement account, two customers (alice
// ₹100.00, bob ₹0) and a Lite pool (₹10.00).
func newLedger(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "bank.db"), store.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		for _, a := range []*ledger.Account{
			{AcNum: settle, Ifsc: "ABNK0000001", Name: "settlement", Kind: ledger.KindSettlement},
			{AcNum: alice, Ifsc: "ABNK0000001", Vpa: "alice@alpha", Name: "Alice", Kind: ledger.KindCustomer, BalancePaise: 10000},
			{AcNum: bob, Ifsc: "ABNK0000001", Vpa: "bob@alpha", Name: "Bob", Kind: ledger.KindCustomer},
			{AcNum: pool, Ifsc: "ABNK0000001", Name: "lite", Kind: ledger.KindLitePool, BalancePaise: 1000},
		} {
			if err := ledger.Open(tx, a); err != nil {
				return err
			}
		}
		return nil
	}))
	return db
}

func total(t *testing.T, db *store.DB) int64 {
	t.Helper()
	var sum int64
	require.NoError(t, db.View(func(tx *store.Tx) (err error) {
		sum, err = ledger.Total(tx)
		return err
	}))
	return sum
}

func balance(t *testing.T, db *store.DB, ac string) int64 {
	t.Helper()
	var a *ledger.Account
	require.NoError(t, db.View(func(tx *store.Tx) (err error) {
		a, err = ledger.Get(tx, ac)
		return err
	}))
	return a.BalancePaise
}

func post(db *store.DB, ref, from, to string, amount int64) error {
	return db.Update(func(tx *store.Tx) error { return ledger.PostAt(tx, time.Now(), ref, from, to, amount) })
}

func TestOpenGetByVPAList(t *testing.T) {
	db := newLedger(t)
	require.NoError(t, db.View(func(tx *store.Tx) error {
		a, err := ledger.Get(tx, alice)
		require.NoError(t, err)
		assertProto(t, &ledger.Account{AcNum: alice, Ifsc: "ABNK0000001", Vpa: "alice@alpha", Name: "Alice", Kind: ledger.KindCustomer, BalancePaise: 10000}, a)

		b, err := ledger.ByVPA(tx, "Alice@Alpha")
		require.NoError(t, err)
		assertProto(t, a, b)

		_, err = ledger.Get(tx, "nope")
		assert.ErrorIs(t, err, ledger.ErrNoAccount)
		_, err = ledger.ByVPA(tx, "nobody@alpha")
		assert.ErrorIs(t, err, ledger.ErrNoAccount)

		all, err := ledger.List(tx)
		require.NoError(t, err)
		var nums []string
		for _, a := range all {
			nums = append(nums, a.AcNum)
		}
		assert.Equal(t, []string{alice, bob, pool, settle}, nums)
		return nil
	}))
	assert.Equal(t, int64(11000), total(t, db))
}

func TestOpenRejects(t *testing.T) {
	db := newLedger(t)
	for _, tc := range []struct {
		name string
		a    *ledger.Account
		want error
	}{
		{"existing number", &ledger.Account{AcNum: alice, Kind: ledger.KindCustomer}, ledger.ErrExists},
		{"existing VPA", &ledger.Account{AcNum: "9", Vpa: "ALICE@alpha", Kind: ledger.KindCustomer}, ledger.ErrExists},
		{"empty number", &ledger.Account{Kind: ledger.KindCustomer}, ledger.ErrInvalid},
		{"bad kind", &ledger.Account{AcNum: "9", Kind: "SAVINGS"}, ledger.ErrInvalid},
		{"negative balance", &ledger.Account{AcNum: "9", Kind: ledger.KindSettlement, BalancePaise: -1}, ledger.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := db.Update(func(tx *store.Tx) error { return ledger.Open(tx, tc.a) })
			assert.ErrorIs(t, err, tc.want)
		})
	}
	assert.Equal(t, int64(11000), total(t, db))
}

func TestPost(t *testing.T) {
	db := newLedger(t)
	before := total(t, db)
	ts := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		return ledger.PostAt(tx, ts, "DEBIT:T1", alice, settle, 2550)
	}))
	assert.Equal(t, int64(7450), balance(t, db, alice))
	assert.Equal(t, int64(2550), balance(t, db, settle))
	require.NoError(t, db.View(func(tx *store.Tx) error {
		p, ok, err := ledger.Posting(tx, "DEBIT:T1")
		require.NoError(t, err)
		require.True(t, ok)
		assertProto(t, &ledger.PostingRecord{Ref: "DEBIT:T1", From: alice, To: settle, AmountPaise: 2550, Ts: ts.UnixNano()}, p)
		_, ok, err = ledger.Posting(tx, "DEBIT:T2")
		require.NoError(t, err)
		assert.False(t, ok)
		return nil
	}))
	assert.Equal(t, before, total(t, db))
}

func TestPostDuplicateRef(t *testing.T) {
	db := newLedger(t)
	before := total(t, db)
	require.NoError(t, post(db, "DEBIT:T1", alice, settle, 100))
	for _, tc := range []struct {
		name     string
		from, to string
		amount   int64
	}{
		{"same posting", alice, settle, 100},
		{"other amount", alice, settle, 999},
		{"other accounts", bob, settle, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := post(db, "DEBIT:T1", tc.from, tc.to, tc.amount)
			assert.ErrorIs(t, err, ledger.ErrDuplicate)
		})
	}
	assert.Equal(t, int64(9900), balance(t, db, alice))
	assert.Equal(t, int64(100), balance(t, db, settle))
	assert.Equal(t, before, total(t, db))
}

func TestPostInsufficientFunds(t *testing.T) {
	db := newLedger(t)
	before := total(t, db)
	for _, tc := range []struct {
		name   string
		from   string
		amount int64
	}{
		{"customer", alice, 10001},
		{"empty customer", bob, 1},
		{"lite pool", pool, 1001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := post(db, "X:"+tc.name, tc.from, settle, tc.amount)
			require.ErrorIs(t, err, ledger.ErrInsufficientFunds)
			require.NoError(t, db.View(func(tx *store.Tx) error {
				_, ok, err := ledger.Posting(tx, "X:"+tc.name)
				assert.False(t, ok, "a refused posting is not recorded")
				return err
			}))
		})
	}
	// Exactly the balance is fine.
	require.NoError(t, post(db, "ALL", alice, bob, 10000))
	assert.Equal(t, int64(0), balance(t, db, alice))
	assert.Equal(t, int64(10000), balance(t, db, bob))
	assert.Equal(t, before, total(t, db))
}

func TestSettlementMayGoNegative(t *testing.T) {
	db := newLedger(t)
	before := total(t, db)
	require.NoError(t, post(db, "CREDIT:T1", settle, bob, 5000))
	assert.Equal(t, int64(-5000), balance(t, db, settle))
	assert.Equal(t, int64(5000), balance(t, db, bob))
	assert.Equal(t, before, total(t, db))
}

func TestPostInvalid(t *testing.T) {
	db := newLedger(t)
	before := total(t, db)
	for _, tc := range []struct {
		name, ref, from, to string
		amount              int64
		want                error
	}{
		{"zero amount", "R", alice, bob, 0, ledger.ErrInvalid},
		{"negative amount", "R", alice, bob, -5, ledger.ErrInvalid},
		{"empty ref", "", alice, bob, 5, ledger.ErrInvalid},
		{"same account", "R", alice, alice, 5, ledger.ErrInvalid},
		{"unknown from", "R", "nope", bob, 5, ledger.ErrNoAccount},
		{"unknown to", "R", alice, "nope", 5, ledger.ErrNoAccount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.ErrorIs(t, post(db, tc.ref, tc.from, tc.to, tc.amount), tc.want)
		})
	}
	assert.Equal(t, before, total(t, db))
}

func TestPostOverflow(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "bank.db"), store.Options{NoSync: true})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		for _, a := range []*ledger.Account{
			{AcNum: "rich", Kind: ledger.KindCustomer, BalancePaise: math.MaxInt64},
			{AcNum: "poor", Kind: ledger.KindCustomer},
			{AcNum: "other", Kind: ledger.KindCustomer},
			{AcNum: "s", Kind: ledger.KindSettlement},
		} {
			if err := ledger.Open(tx, a); err != nil {
				return err
			}
		}
		return nil
	}))
	assert.ErrorIs(t, post(db, "R1", "s", "rich", 1), ledger.ErrOverflow)
	// Settlement may go negative, but not below math.MinInt64.
	require.NoError(t, post(db, "R2", "s", "poor", math.MaxInt64))
	require.NoError(t, post(db, "R3", "s", "other", 1))
	assert.ErrorIs(t, post(db, "R4", "s", "other", 1), ledger.ErrOverflow)
	assert.Equal(t, int64(math.MinInt64), balance(t, db, "s"))
	err = db.View(func(tx *store.Tx) error { _, err := ledger.Total(tx); return err })
	assert.ErrorIs(t, err, ledger.ErrOverflow)
}

func TestTxnRecord(t *testing.T) {
	db := newLedger(t)
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		_, ok, err := ledger.GetTxn(tx, "T1")
		require.NoError(t, err)
		require.False(t, ok)
		r := &ledger.TxnRecord{TxnId: "T1", Created: store.Nanos(at)}
		ledger.SetLeg(r, &ledger.Leg{Type: ledger.LegDebit, Result: ledger.ResultSuccess, Ref: ledger.PostingRef(ledger.LegDebit, "T1"), AmountPaise: 5, At: store.Nanos(at)})
		return ledger.PutTxn(tx, r)
	}))
	require.NoError(t, db.View(func(tx *store.Tx) error {
		r, ok, err := ledger.GetTxn(tx, "T1")
		require.NoError(t, err)
		require.True(t, ok)
		assert.True(t, ledger.Posted(ledger.LegOf(r, ledger.LegDebit)))
		assert.Equal(t, "DEBIT:T1", r.Debit.Ref)
		assert.Nil(t, ledger.LegOf(r, ledger.LegCredit))
		assert.False(t, ledger.Posted(ledger.LegOf(r, ledger.LegReversal)))
		assert.Equal(t, at, store.FromNanos(r.Updated))
		return nil
	}))
}

func TestNextApprovalNum(t *testing.T) {
	db := newLedger(t)
	var got []string
	for range 3 {
		require.NoError(t, db.Update(func(tx *store.Tx) error {
			n, err := ledger.NextApprovalNum(tx)
			got = append(got, n)
			return err
		}))
	}
	assert.Equal(t, []string{"000001", "000002", "000003"}, got)
}

func assertProto(t *testing.T, want, got proto.Message) {
	t.Helper()
	assert.True(t, proto.Equal(want, got), "want %v\ngot  %v", want, got)
}

// A Batch posts as PostAt does, one posting after another: the same
// balances and postings, the same refusals (nothing of a refused posting
// changes), each account written once by Flush.
func TestBatch(t *testing.T) {
	db := newLedger(t)
	before := total(t, db)
	ts := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		b := ledger.NewBatch(tx)
		for i := range 10 {
			require.NoError(t, b.PostAt(ts, "LITEDEBIT:"+string(rune('A'+i)), pool, settle, 100))
		}
		assert.ErrorIs(t, b.PostAt(ts, "LITEDEBIT:K", pool, settle, 1), ledger.ErrInsufficientFunds, "the pool is empty now")
		assert.ErrorIs(t, b.PostAt(ts, "LITEDEBIT:A", alice, settle, 1), ledger.ErrDuplicate)
		assert.ErrorIs(t, b.PostAt(ts, "", alice, settle, 1), ledger.ErrInvalid)
		assert.ErrorIs(t, b.PostAt(ts, "SAME", alice, alice, 1), ledger.ErrInvalid)
		_, err := b.Get("nope")
		assert.ErrorIs(t, err, ledger.ErrNoAccount)
		require.NoError(t, b.PostAt(ts, "LITECREDIT:A", settle, bob, 250))
		a, err := b.Get(bob)
		require.NoError(t, err)
		assert.Equal(t, int64(250), a.BalancePaise, "Get reads through the batch")
		stored, err := ledger.Get(tx, bob)
		require.NoError(t, err)
		assert.Zero(t, stored.BalancePaise, "written by Flush only")
		return b.Flush()
	}))
	assert.Equal(t, int64(0), balance(t, db, pool))
	assert.Equal(t, int64(1000-250), balance(t, db, settle))
	assert.Equal(t, int64(250), balance(t, db, bob))
	assert.Equal(t, int64(10000), balance(t, db, alice))
	assert.Equal(t, before, total(t, db))
	require.NoError(t, db.View(func(tx *store.Tx) error {
		p, ok, err := ledger.Posting(tx, "LITEDEBIT:J")
		require.True(t, ok)
		assertProto(t, &ledger.PostingRecord{Ref: "LITEDEBIT:J", From: pool, To: settle, AmountPaise: 100, Ts: ts.UnixNano()}, p)
		for _, ref := range []string{"LITEDEBIT:K", "SAME", ""} {
			_, ok, _ := ledger.Posting(tx, ref)
			assert.False(t, ok, "refused %q not recorded", ref)
		}
		return err
	}))
}
