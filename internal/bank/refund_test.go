package bank_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/upi"
)

const (
	chaiAc  = "2000000003"
	remPay  = upiv1.RemitterService_ReqPay_FullMethodName
	benPay  = upiv1.BeneficiaryService_ReqPay_FullMethodName
	bbIFSC  = "BBNK0000001"
	chaiVPA = "chai@beta"
)

// refundDebit is the switch's DEBIT of a REFUND of amount from acNum,
// refunding the credit org: no PIN.
func refundDebit(txnID, org, acNum string, amount int64) *upiv1.ReqPay {
	return &upiv1.ReqPay{
		Head:  nodetest.Head("npci", "NPC"),
		Txn:   &upiv1.Txn{Id: txnID, Type: upiv1.Txn_DEBIT, SubType: upiv1.Txn_REFUND, OrgTxnId: org, CustRef: "512345000004"},
		Payer: &upiv1.Party{Addr: chaiVPA, Ac: &upiv1.Account{AcNum: acNum, Ifsc: bbIFSC}, AmountPaise: amount},
	}
}

// credited credits chai with amount at bbank and returns the credit's id.
func credited(bb *bankNode, amount int64) string {
	bb.t.Helper()
	org := ids.NewTxnID("ALP")
	require.Empty(bb.t, bb.send(benPay, credit(org, chaiVPA, chaiAc, bbIFSC, amount)))
	require.Equal(bb.t, upiv1.Resp_SUCCESS, bb.respPay(org, 1).GetResp().GetResult())
	return org
}

// refunded sends a refund debit and returns its answer.
func refunded(bb *bankNode, org, acNum string, amount int64) (string, *upiv1.Resp) {
	bb.t.Helper()
	id := ids.NewTxnID("BET")
	require.Empty(bb.t, bb.send(remPay, refundDebit(id, org, acNum, amount)))
	return id, bb.respPay(id, 1).GetResp()
}

func TestRefundDebitNeedsNoPIN(t *testing.T) {
	bb := newBank(t, "bbank")
	org := credited(bb, 10_000)
	id, resp := refunded(bb, org, chaiAc, 4_000)
	require.Equal(t, upiv1.Resp_SUCCESS, resp.GetResult(), "err %s", resp.GetErrCode())
	assert.Equal(t, int64(6_000), bb.balance(chaiVPA))
	assert.Equal(t, "DEBITED", bb.state(id))
	assert.Equal(t, "CREDITED", bb.state(org), "the credit itself is unchanged")
}

func TestRefundDebitChecks(t *testing.T) {
	for _, tc := range []struct {
		name string
		// run sends the refund debit to check, given the credit of 100.00
		// to chai, and returns its answer.
		run  func(bb *bankNode, org string) *upiv1.Resp
		code string
		left int64 // chai's balance after
	}{
		{"no credit of org_txn_id", func(bb *bankNode, _ string) *upiv1.Resp {
			_, r := refunded(bb, ids.NewTxnID("ALP"), chaiAc, 100)
			return r
		}, upi.CodeRefundNoCredit, 10_000},
		{"a credit to another account", func(bb *bankNode, org string) *upiv1.Resp {
			_, r := refunded(bb, org, bobAc, 100)
			return r
		}, upi.CodeRefundNoCredit, 10_000},
		{"more than the credit", func(bb *bankNode, org string) *upiv1.Resp {
			_, r := refunded(bb, org, chaiAc, 10_001)
			return r
		}, upi.CodeRefundNoCredit, 10_000},
		{"refunds in total above the credit", func(bb *bankNode, org string) *upiv1.Resp {
			_, r := refunded(bb, org, chaiAc, 7_000)
			require.Equal(bb.t, upiv1.Resp_SUCCESS, r.GetResult())
			_, r = refunded(bb, org, chaiAc, 3_001)
			return r
		}, upi.CodeRefundNoCredit, 3_000},
		{"exactly the rest", func(bb *bankNode, org string) *upiv1.Resp {
			_, r := refunded(bb, org, chaiAc, 7_000)
			require.Equal(bb.t, upiv1.Resp_SUCCESS, r.GetResult())
			_, r = refunded(bb, org, chaiAc, 3_000)
			return r
		}, "", 0},
		{"a reversed refund gives its amount back", func(bb *bankNode, org string) *upiv1.Resp {
			id, r := refunded(bb, org, chaiAc, 10_000)
			require.Equal(bb.t, upiv1.Resp_SUCCESS, r.GetResult())
			require.Empty(bb.t, bb.send(remPay, reversal(id)))
			require.Equal(bb.t, "00", bb.respPay(id, 2).GetResp().GetRefs()[0].GetReversalRespCode())
			_, r = refunded(bb, org, chaiAc, 10_000)
			return r
		}, "", 0},
		{"the payee's balance is short", func(bb *bankNode, _ string) *upiv1.Resp {
			// bob is credited 100.00, then pays 5,050.00 of his 5,100.00
			// away (with his PIN): 50.00 left, under the refund.
			org := ids.NewTxnID("ALP")
			require.Empty(bb.t, bb.send(benPay, credit(org, "bob@beta", bobAc, bbIFSC, 10_000)))
			bb.respPay(org, 1)
			out := ids.NewTxnID("BET")
			require.Empty(bb.t, bb.send(remPay, debit(out, "bob@beta", bobAc, bbIFSC, 505_000)))
			require.Equal(bb.t, upiv1.Resp_SUCCESS, bb.respPay(out, 1).GetResp().GetResult())
			id := ids.NewTxnID("BET")
			m := refundDebit(id, org, bobAc, 6_000)
			m.Payer.Addr = "bob@beta"
			require.Empty(bb.t, bb.send(remPay, m))
			r := bb.respPay(id, 1).GetResp()
			assert.Equal(bb.t, int64(5_000), bb.balance("bob@beta"), "an account never goes below zero")
			return r
		}, upi.CodeInsufficientFunds, 10_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bb := newBank(t, "bbank")
			org := credited(bb, 10_000)
			r := tc.run(bb, org)
			if tc.code == "" {
				assert.Equal(t, upiv1.Resp_SUCCESS, r.GetResult(), "err %s", r.GetErrCode())
			} else {
				assert.Equal(t, upiv1.Resp_FAILURE, r.GetResult())
				assert.Equal(t, tc.code, r.GetErrCode())
			}
			assert.Equal(t, tc.left, bb.balance(chaiVPA))
		})
	}
}

func TestRefundDebitValidate(t *testing.T) {
	bb := newBank(t, "bbank")
	m := refundDebit(ids.NewTxnID("BET"), "", chaiAc, 100)
	assert.Contains(t, bb.send(remPay, m), "DEBIT of a REFUND needs txn.org_txn_id")
	m = refundDebit(ids.NewTxnID("BET"), ids.NewTxnID("ALP"), chaiAc, 100)
	m.Txn.SubType = upiv1.Txn_TYPE_UNSPECIFIED
	assert.Contains(t, bb.send(remPay, m), "needs the PIN block", "without sub_type REFUND a DEBIT needs its PIN")
}
