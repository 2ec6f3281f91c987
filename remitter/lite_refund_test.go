package remitter_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/upi"
	"github.com/upisim/upisim/remitter"
)

// liteRefundDebit is the switch's DEBIT of a REFUND of amount from acNum of
// the offline record lrn/counter: no PIN, no org_txn_id, the record's UTR
// and lite{lrn, counter}.
func liteRefundDebit(txnID, lrn string, counter uint64, acNum string, amount int64) *upiv1.ReqPay {
	return &upiv1.ReqPay{
		Head: nodetest.Head("npci", "NPC"),
		Txn: &upiv1.Txn{Id: txnID, Type: upiv1.Txn_DEBIT, SubType: upiv1.Txn_REFUND, OrgRrn: "512345000009",
			CustRef: "512345000010"},
		Payer: &upiv1.Party{Addr: "alice@alpha", Ac: &upiv1.Account{AcNum: acNum, Ifsc: ifsc}, AmountPaise: amount},
		Payee: &upiv1.Party{Addr: "bob@beta"},
		Lite:  &upiv1.LiteInfo{Lrn: lrn, Counter: counter},
	}
}

// TestLiteRefundDebit: a refund's DEBIT of an offline record is checked
// against the bank's own LITECREDIT posting of that record: to the very
// account debited, and at most that credit in total (U10 otherwise); a
// reversed refund leaves its amount refundable again.
func TestLiteRefundDebit(t *testing.T) {
	f := newFixture(t)
	const lrn = "BBNKL000000000007"
	other := config.Default().AccountsOfBank("abank")[1].Number
	require.NotEqual(t, aliceAc, other)
	// The beneficiary's credit of the record, as beneficiary/lite.go posts it.
	require.NoError(t, f.n.Update(func(c *node.Ctx) error {
		return ledger.PostAt(c.Tx, time.Now(), remitter.LiteRef(remitter.RefLiteCredit, lrn, 3), settle, aliceAc, 10_000)
	}))
	refund := func(counter uint64, acNum string, amount int64) (string, *upiv1.Resp) {
		t.Helper()
		id := ids.NewTxnID("BET")
		require.Empty(t, f.send(reqPay, liteRefundDebit(id, lrn, counter, acNum, amount)))
		return id, f.respPay(id, 1).GetResp()
	}
	id, resp := refund(3, aliceAc, 4_000)
	require.Equal(t, upiv1.Resp_SUCCESS, resp.GetResult(), "err %s", resp.GetErrCode())
	assert.Equal(t, opening+6_000, f.balance(aliceAc))

	for _, tc := range []struct {
		name    string
		counter uint64
		acNum   string
		amount  int64
	}{
		{"more than is left", 3, aliceAc, 6_001},
		{"another account", 3, other, 100},
		{"a record never credited", 4, aliceAc, 100},
	} {
		_, resp := refund(tc.counter, tc.acNum, tc.amount)
		assert.Equal(t, upiv1.Resp_FAILURE, resp.GetResult(), tc.name)
		assert.Equal(t, upi.CodeRefundNoCredit, resp.GetErrCode(), tc.name)
	}
	assert.Equal(t, opening+6_000, f.balance(aliceAc), "nothing moved")

	// The first refund reversed: all 100.00 is refundable again.
	require.Empty(t, f.send(reqPay, &upiv1.ReqPay{
		Head:  nodetest.Head("npci", "NPC"),
		Txn:   &upiv1.Txn{Id: id, Type: upiv1.Txn_REVERSAL, OrgTxnId: id},
		Payer: &upiv1.Party{Addr: "alice@alpha", Ac: &upiv1.Account{AcNum: aliceAc, Ifsc: ifsc}, AmountPaise: 4_000},
	}))
	require.Equal(t, upiv1.Resp_SUCCESS, f.respPay(id, 2).GetResp().GetResult())
	assert.Equal(t, opening+10_000, f.balance(aliceAc))
	_, resp = refund(3, aliceAc, 10_000)
	require.Equal(t, upiv1.Resp_SUCCESS, resp.GetResult(), "err %s", resp.GetErrCode())
	assert.Equal(t, opening, f.balance(aliceAc))
	_, resp = refund(3, aliceAc, 1)
	assert.Equal(t, upi.CodeRefundNoCredit, resp.GetErrCode(), "nothing is left")

	// Without the record's counter or UTR the DEBIT is refused.
	m := liteRefundDebit(ids.NewTxnID("BET"), lrn, 0, aliceAc, 100)
	assert.Contains(t, f.send(reqPay, m), "lite.counter")
	m = liteRefundDebit(ids.NewTxnID("BET"), lrn, 3, aliceAc, 100)
	m.Txn.OrgRrn = ""
	assert.Contains(t, f.send(reqPay, m), "txn.org_rrn")
}
