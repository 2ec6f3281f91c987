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
