package remitter_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
)

// mandateDebit is a DEBIT of amount from alice's account under the mandate
// umn with signature sig: no PIN block.
func mandateDebit(txnID, umn, sig string, amount int64) *upiv1.ReqPay {
	m := debit(txnID, aliceAc, ifsc, "", amount)
	m.Payer.Creds = nil
	m.Txn.Purpose = "87"
	m.Mandate = &upiv1.Mandate{Umn: umn, Signature: sig}
	return m
}

func TestDebitUnderMandate(t *testing.T) {
	f := newFixture(t)
	txn, umn := ids.NewTxnID("ALP"), testUMN()
	require.Empty(t, f.send(reqMandate, mandateReq(upiv1.Txn_CREATE, txn, umn, aliceAc, alicePIN, 600_000)))
	resp := f.respMandate(txn, 1)
	require.Equal(t, upiv1.Resp_SUCCESS, resp.GetResp().GetResult(), resp.GetResp().GetErrCode())
	sig := resp.GetMandate().GetSignature()

	pay := func(umn, sig string, amount int64) (string, string) {
		t.Helper()
		id := ids.NewTxnID("BET")
		require.Empty(t, f.send(reqPay, mandateDebit(id, umn, sig, amount)))
		return id, f.respPay(id, 1).GetResp().GetErrCode()
	}
	first, code := pay(umn, sig, 200_000)
	require.Equal(t, "", code)
	assert.Equal(t, opening-200_000, f.balance(aliceAc))
	_, code = pay(umn, sig, 500_001)
	assert.Equal(t, "Z8", code, "over circle.full.per_txn_limit")
	_, code = pay(umn, sig, 300_001)
	assert.Equal(t, "FP", code, "over circle.cooling_limit in the first day")
	_, code = pay(testUMN(), sig, 1000)
	assert.Equal(t, "VF", code)
	_, code = pay(umn, "AAAA", 1000)
	assert.Equal(t, "VH", code)
	assert.Equal(t, opening-200_000, f.balance(aliceAc), "declines move no money")

	// A reversal gives its debit back to the count.
	require.Empty(t, f.send(reqPay, reversal(first)))
	assert.Equal(t, opening, f.balance(aliceAc))
	_, code = pay(umn, sig, 500_000)
	require.Equal(t, "", code, "the reversed 2000.00 no longer counts")
	_, code = pay(umn, sig, 100_001)
	assert.Equal(t, "QH", code, "over the mandate's amount in the month")
	rec, _ := f.mandate(umn)
	require.Len(t, rec.Debits, 1)
	assert.EqualValues(t, 500_000, rec.Debits[0].AmountPaise)

	// Revoked: QC.
	rv := ids.NewTxnID("ALP")
	require.Empty(t, f.send(reqMandate, mandateReq(upiv1.Txn_REVOKE, rv, umn, aliceAc, "", 0)))
	_, code = pay(umn, sig, 1000)
	assert.Equal(t, "QC", code)
}

func TestDebitUnderMandateNeedsSignature(t *testing.T) {
	f := newFixture(t)
	m := mandateDebit(ids.NewTxnID("BET"), testUMN(), "", 1000)
	assert.Contains(t, f.send(reqPay, m), "mandate.signature")
}
