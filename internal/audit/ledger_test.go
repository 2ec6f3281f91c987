package audit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
)

// paid makes c's payment txnA of ₹5.00 from alice (1001 at abank) to bob
// (2001 at bbank) as the switch lists it with status, with the legs it
// sent, and the banks' ledgers and records as the legs in posted moved
// money.
func (c *auditCase) paid(st upiv1.Resp_Result, posted ...upiv1.Txn_Type) *upiv1.TxnSummary {
	fin := st == upiv1.Resp_SUCCESS || st == upiv1.Resp_FAILURE
	psp := st
	if !fin {
		psp = upiv1.Resp_PENDING
	}
	t := c.payment(txnA, st, psp, psp, "", "")
	t.Legs = []*upiv1.TxnLeg{
		{Type: upiv1.Txn_DEBIT, Bank: "abank", AcNum: "1001", AmountPaise: 500, Result: upiv1.Resp_SUCCESS},
		{Type: upiv1.Txn_CREDIT, Bank: "bbank", AcNum: "2001", AmountPaise: 500, Result: upiv1.Resp_SUCCESS},
	}
	legs := map[string]string{}
	for _, l := range posted {
		switch l {
		case upiv1.Txn_DEBIT:
			c.post(0, "DEBIT:"+txnA, "1001", "SETTLEMENT-ABNK0000001", 500)
			legs["abank"] += "+DEBITED"
		case upiv1.Txn_CREDIT:
			c.post(1, "CREDIT:"+txnA, "SETTLEMENT-BBNK0000001", "2001", 500)
			legs["bbank"] += "+CREDITED"
		case upiv1.Txn_REVERSAL:
			t.Legs = append(t.Legs, &upiv1.TxnLeg{Type: upiv1.Txn_REVERSAL, Bank: "abank", AcNum: "1001", AmountPaise: 500, Result: upiv1.Resp_SUCCESS})
			c.post(0, "REVERSAL:"+txnA, "SETTLEMENT-ABNK0000001", "1001", 500)
			legs["abank"] += "+REVERSED"
		}
	}
	for bank, l := range legs {
		c.snap.txns[bank][txnA] = &upiv1.TxnSummary{TxnId: txnA, State: l[1:], Created: t.Created}
	}
	return t
}

// post adds a posting to bank i's ledger and moves its balances.
func (c *auditCase) post(i int, ref, from, to string, amount int64) {
	b := &c.snap.banks[i]
	b.postings = append(b.postings, &upiv1.Posting{Ref: ref, FromAcNum: from, ToAcNum: to, AmountPaise: amount})
	for _, ac := range b.accounts {
		switch ac.GetAcNum() {
		case from:
			ac.BalancePaise -= amount
		case to:
			ac.BalancePaise += amount
		}
	}
}

func TestAuditLedgersAndRecords(t *testing.T) {
	const (
		ok   = upiv1.Resp_SUCCESS
		fail = upiv1.Resp_FAILURE
		pend = upiv1.Resp_PENDING
	)
	debit, credit, reversal := upiv1.Txn_DEBIT, upiv1.Txn_CREDIT, upiv1.Txn_REVERSAL
	record := func(c *auditCase, node, id string, st upiv1.Resp_Result, code string, age time.Duration) {
		c.snap.txns[node][id] = &upiv1.TxnSummary{TxnId: id, Type: upiv1.Txn_PAY, Status: st, ErrCode: code, AmountPaise: 700, Created: ago(age)}
	}
	tests := []struct {
		name  string
		build func(c *auditCase)
		want  []string
		words []string // in the first violation's detail
		notes int
	}{
		{name: "success posted both legs", want: []string{}, build: func(c *auditCase) { c.paid(ok, debit, credit) }},
		{name: "failure debited and reversed", want: []string{}, build: func(c *auditCase) { c.paid(fail, debit, reversal) }},
		{name: "debit in flight: the settlement accounts hold it", want: []string{},
			build: func(c *auditCase) { c.paid(pend, debit) }},
		{name: "credit at the payer's bank", want: []string{ViolationStrayPosting, ViolationConservation},
			build: func(c *auditCase) {
				c.paid(ok, debit, credit)
				c.post(0, "CREDIT:"+txnA, "SETTLEMENT-ABNK0000001", "1001", 219900)
			},
			words: []string{"bank abank posted CREDIT:" + txnA + " ₹2,199.00", "1001 (alice@alpha)", "sent abank no CREDIT", "it sent DEBIT to abank, CREDIT to bbank"}},
		{name: "posting for a transaction the switch does not know", want: []string{ViolationStrayPosting, ViolationConservation},
			build: func(c *auditCase) { c.post(1, "CREDIT:"+txnB, "SETTLEMENT-BBNK0000001", "2001", 700) },
			words: []string{"CREDIT:" + txnB, "₹7.00", "the switch does not know"}},
		{name: "posting under a ref that is no leg", want: []string{ViolationStrayPosting, ViolationConservation},
			build: func(c *auditCase) { c.post(1, "GIFT", "SETTLEMENT-BBNK0000001", "2001", 700) },
			words: []string{"GIFT", "no leg"}},
		{name: "credit to another account than the switch's", want: []string{ViolationStrayPosting},
			build: func(c *auditCase) {
				c.snap.banks[1].accounts = append(c.snap.banks[1].accounts, &upiv1.AccountBalance{AcNum: "2002", Vpa: "carol@beta", Kind: "CUSTOMER"})
				c.paid(ok, debit)
				c.post(1, "CREDIT:"+txnA, "SETTLEMENT-BBNK0000001", "2002", 500)
				c.snap.txns["bbank"][txnA] = &upiv1.TxnSummary{TxnId: txnA, State: "CREDITED", Created: ago(time.Minute)}
			},
			words: []string{"to 2002 (carol@beta)", "is ₹5.00 from the settlement account to 2001 (bob@beta)"}},
		{name: "success whose credit was never posted", want: []string{ViolationDisagreement},
			build: func(c *auditCase) {
				c.paid(ok, debit)
				c.snap.txns["bbank"][txnA] = &upiv1.TxnSummary{TxnId: txnA, State: "CREDITED", Created: ago(time.Minute)}
			},
			words: []string{"debited ₹5.00, credited ₹0.00"}},
		{name: "a bank that kept posting is noted, not judged", want: []string{}, notes: 1,
			build: func(c *auditCase) {
				c.paid(ok, debit, credit)
				c.snap.banks[0].ledgerRead = false
			}},
		{name: "PSP record the switch does not know", want: []string{ViolationUnknownTxn},
			build: func(c *auditCase) { record(c, "betapsp", txnB, ok, "", time.Minute) },
			words: []string{"PSP betapsp shows PAY of ₹7.00", "as SUCCESS", "no record"}},
		{name: "app record the switch does not know", want: []string{ViolationUnknownTxn},
			build: func(c *auditCase) { c.snap.apps = []string{"tpap"}; record(c, "tpap", txnB, fail, "U30", time.Minute) },
			words: []string{"the app at tpap", "FAILURE U30"}},
		{name: "a payment on its way to the switch, or refused by it", want: []string{},
			build: func(c *auditCase) {
				record(c, "alphapsp", txnA, pend, "", time.Minute)
				record(c, "betapsp", txnB, fail, "U07", time.Hour)
			}},
		{name: "a Circle payment PSP(S) ended over a limit, before any message", want: []string{},
			build: func(c *auditCase) {
				c.snap.apps = []string{"tpap"}
				for _, nd := range []string{"betapsp", "tpap"} {
					record(c, nd, txnB, fail, "Z8", time.Hour)
					c.snap.txns[nd][txnB].SecondaryVpa = "carol@beta"
				}
				record(c, "betapsp", txnA, fail, "QH", time.Hour)
				c.snap.txns["betapsp"][txnA].SecondaryVpa = "carol@beta"
			}},
		{name: "a Circle payment ended with a code PSP(S) does not decide alone", want: []string{ViolationUnknownTxn},
			build: func(c *auditCase) {
				record(c, "betapsp", txnB, fail, "U30", time.Hour)
				c.snap.txns["betapsp"][txnB].SecondaryVpa = "carol@beta"
			}},
		{name: "a Circle payment PSP(S) ended at its payee look-up, which the switch has", want: []string{},
			build: func(c *auditCase) {
				c.snap.apps = []string{"tpap"}
				for _, code := range []string{"U29", "U09"} {
					id := ids.NewTxnID("BET")
					c.snap.switchTxns = append(c.snap.switchTxns, &upiv1.TxnSummary{TxnId: ids.LookupTxnID(id), Type: upiv1.Txn_VAL_ADD,
						Status: upiv1.Resp_FAILURE, ErrCode: code, PayerPsp: "betapsp", Created: ago(time.Hour), Updated: ago(time.Hour)})
					for _, nd := range []string{"betapsp", "tpap"} {
						record(c, nd, id, fail, code, time.Hour)
						c.snap.txns[nd][id].SecondaryVpa = "carol@beta"
					}
				}
			}},
		{name: "a Circle payment ended U29 whose look-up the switch does not have", want: []string{ViolationUnknownTxn},
			build: func(c *auditCase) {
				id := ids.NewTxnID("BET")
				record(c, "betapsp", id, fail, "U29", time.Hour)
				c.snap.txns["betapsp"][id].SecondaryVpa = "carol@beta"
			}},
		{name: "a plain payment over a limit the switch never saw", want: []string{ViolationUnknownTxn},
			build: func(c *auditCase) { record(c, "betapsp", txnB, fail, "Z8", time.Hour) }},
		{name: "a payment that never reached the switch", want: []string{ViolationUnknownTxn},
			build: func(c *auditCase) { record(c, "alphapsp", txnA, pend, "", maxAge+time.Second) }},
		{name: "PSP final where the switch has not decided", want: []string{ViolationDisagreement},
			build: func(c *auditCase) {
				c.paid(upiv1.Resp_DEEMED, debit)
				c.snap.txns["betapsp"][txnA].Status = ok
			},
			words: []string{"DEEMED at the switch", "PSP betapsp says SUCCESS"}},
		{name: "app agrees, or is still to hear", want: []string{},
			build: func(c *auditCase) {
				c.snap.apps = []string{"tpap"}
				c.paid(ok, debit, credit)
				record(c, "tpap", txnA, pend, "", time.Minute)
			}},
		{name: "app says otherwise", want: []string{ViolationDisagreement},
			build: func(c *auditCase) {
				c.snap.apps = []string{"tpap"}
				c.paid(fail)
				record(c, "tpap", txnA, ok, "", time.Minute)
			},
			words: []string{"FAILURE at the switch", "the app at tpap shows its users SUCCESS"}},
		{name: "app never told", want: []string{ViolationNotClosed},
			build: func(c *auditCase) {
				c.snap.apps = []string{"tpap"}
				c.paid(fail).Updated = ago(maxAge + time.Second)
				c.snap.txns["alphapsp"][txnA].Status, c.snap.txns["betapsp"][txnA].Status = fail, fail
				record(c, "tpap", txnA, pend, "", time.Hour)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newAuditCase()
			c.snap.txns["tpap"] = map[string]*upiv1.TxnSummary{}
			c.snap.psps = []string{"alphapsp", "betapsp"}
			for i := range c.snap.banks {
				c.snap.banks[i].ledgerRead = true
			}
			tt.build(c)
			r := c.snap.audit(now, maxAge)
			assert.ElementsMatch(t, tt.want, kinds(r), "violations: %+v", r.Violations)
			assert.Len(t, r.Notes, tt.notes)
			for _, w := range tt.words {
				assert.Contains(t, r.Violations[0].Detail, w)
			}
		})
	}
}
