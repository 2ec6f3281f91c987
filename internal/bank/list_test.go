package bank_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

func TestOpeningTotal(t *testing.T) {
	bb := newBank(t, "bbank")
	l, err := bb.b.ListAccounts()
	require.NoError(t, err)
	require.NotNil(t, l.OpeningTotalPaise)
	assert.Equal(t, int64(600_000), l.GetOpeningTotalPaise())

	// A ledger seeded before the opening total was recorded gets it on its
	// next start while no money has moved...
	forget := func() {
		require.NoError(t, bb.n.Update(func(c *node.Ctx) error { return c.Tx.Delete(store.Meta, []byte("bank.opening_total")) }))
	}
	forget()
	l, err = bb.b.ListAccounts()
	require.NoError(t, err)
	assert.Nil(t, l.OpeningTotalPaise, "unknown, not zero")
	require.NoError(t, bb.b.Seed())
	l, err = bb.b.ListAccounts()
	require.NoError(t, err)
	assert.Equal(t, int64(600_000), l.GetOpeningTotalPaise())

	// ...and stays unknown once it has.
	txn := ids.NewTxnID("BET")
	require.Empty(t, bb.send(upiv1.RemitterService_ReqPay_FullMethodName, debit(txn, "bob@beta", bobAc, "BBNK0000001", 1000)))
	bb.respPay(txn, 1)
	forget()
	require.NoError(t, bb.b.Seed())
	l, err = bb.b.ListAccounts()
	require.NoError(t, err)
	assert.Nil(t, l.OpeningTotalPaise)
}

func TestListTxns(t *testing.T) {
	bb := newBank(t, "bbank")
	var want []string
	for i := range 5 {
		txn := ids.NewTxnID("BET")
		want = append(want, txn)
		require.Empty(t, bb.send(upiv1.RemitterService_ReqPay_FullMethodName, debit(txn, "bob@beta", bobAc, "BBNK0000001", 100)))
		bb.respPay(txn, 1)
		if i == 0 {
			require.Empty(t, bb.send(upiv1.BeneficiaryService_ReqPay_FullMethodName, credit(txn, "carol@beta", carolAc, "BBNK0000001", 100)))
			bb.respPay(txn, 2)
		}
	}
	var got []*upiv1.TxnSummary
	pages, after := 0, ""
	for {
		page, next, err := bb.b.ListTxns(after, 2)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), 2)
		got, pages = append(got, page...), pages+1
		if next == "" {
			break
		}
		after = next
	}
	assert.Equal(t, 3, pages)
	var listed []string
	for _, s := range got {
		listed = append(listed, s.GetTxnId())
		assert.Equal(t, "bbank", s.GetRemitter())
		assert.Equal(t, int64(100), s.GetAmountPaise())
	}
	assert.Equal(t, want, listed, "in txn id order, which is creation order")
	first := got[0]
	assert.Equal(t, "DEBITED+CREDITED", first.GetState())
	assert.Equal(t, "bbank", first.GetBeneficiary())
	assert.Equal(t, "carol@beta", first.GetPayeeVpa())
}

func TestListPostings(t *testing.T) {
	bb := newBank(t, "bbank")
	var txns []string
	for range 3 {
		txn := ids.NewTxnID("BET")
		txns = append(txns, txn)
		require.Empty(t, bb.send(upiv1.RemitterService_ReqPay_FullMethodName, debit(txn, "bob@beta", bobAc, "BBNK0000001", 100)))
		bb.respPay(txn, 1)
	}
	require.Empty(t, bb.send(upiv1.BeneficiaryService_ReqPay_FullMethodName, credit(txns[0], "carol@beta", carolAc, "BBNK0000001", 100)))
	bb.respPay(txns[0], 2)

	l, err := bb.b.ListAccounts()
	require.NoError(t, err)
	assert.Equal(t, int64(4), l.GetPostingCount(), "read with the balances")

	var got []*upiv1.Posting
	pages, after := 0, ""
	for {
		page, next, err := bb.b.ListPostings(after, 3)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), 3)
		got, pages = append(got, page...), pages+1
		if next == "" {
			break
		}
		after = next
	}
	assert.Equal(t, 2, pages)
	require.Len(t, got, 4)
	var refs []string
	for _, p := range got {
		refs = append(refs, p.GetRef())
		assert.Equal(t, int64(100), p.GetAmountPaise())
		assert.NotNil(t, p.GetTs())
	}
	assert.IsIncreasing(t, refs)
	assert.Equal(t, "CREDIT:"+txns[0], got[0].GetRef())
	assert.Equal(t, "SETTLEMENT-BBNK0000001", got[0].GetFromAcNum())
	assert.Equal(t, carolAc, got[0].GetToAcNum())
	assert.Equal(t, "DEBIT:"+txns[0], got[1].GetRef())
	assert.Equal(t, bobAc, got[1].GetFromAcNum())
	assert.Equal(t, "SETTLEMENT-BBNK0000001", got[1].GetToAcNum())
}
