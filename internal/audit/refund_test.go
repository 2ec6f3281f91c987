package audit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
)

// refunded adds a REFUND of amount of credit org, from bob (2001 at
// bbank) back to alice (1001 at abank), as the switch lists it with
// status; SUCCESS posts both legs, FAILURE none (its DEBIT declined).
// Both PSPs show status.
func (c *auditCase) refunded(org string, amount int64, st upiv1.Resp_Result) string {
	id := ids.NewTxnID("BET")
	t := &upiv1.TxnSummary{
		TxnId: id, Type: upiv1.Txn_REFUND, State: "CLOSED", Status: st, AmountPaise: amount, OrgTxnId: org,
		PayerVpa: "bob@beta", PayeeVpa: "alice@alpha", PayerPsp: "betapsp", PayeePsp: "alphapsp",
		Remitter: "bbank", Created: ago(50 * time.Second), Updated: ago(40 * time.Second),
		Legs: []*upiv1.TxnLeg{{Type: upiv1.Txn_DEBIT, Bank: "bbank", AcNum: "2001", AmountPaise: amount, Result: st}},
	}
	c.snap.switchTxns = append(c.snap.switchTxns, t)
	if st == upiv1.Resp_SUCCESS {
		t.Beneficiary = "abank"
		t.Legs = append(t.Legs, &upiv1.TxnLeg{Type: upiv1.Txn_CREDIT, Bank: "abank", AcNum: "1001", AmountPaise: amount, Result: st})
		c.post(1, "DEBIT:"+id, "2001", "SETTLEMENT-BBNK0000001", amount)
		c.post(0, "CREDIT:"+id, "SETTLEMENT-ABNK0000001", "1001", amount)
		c.snap.txns["bbank"][id] = &upiv1.TxnSummary{TxnId: id, State: "DEBITED", Created: t.Created}
		c.snap.txns["abank"][id] = &upiv1.TxnSummary{TxnId: id, State: "CREDITED", Created: t.Created}
	} else {
		c.snap.txns["bbank"][id] = &upiv1.TxnSummary{TxnId: id, State: "DEBIT_FAILED", Created: t.Created}
	}
	for _, nd := range []string{"alphapsp", "betapsp"} {
		c.snap.txns[nd][id] = &upiv1.TxnSummary{TxnId: id, Type: upiv1.Txn_REFUND, Status: st, Created: t.Created}
	}
	return id
}

func TestAuditRefunds(t *testing.T) {
	ok, fail := upiv1.Resp_SUCCESS, upiv1.Resp_FAILURE
	debit, credit := upiv1.Txn_DEBIT, upiv1.Txn_CREDIT
	tests := []struct {
		name  string
		build func(c *auditCase)
		want  []string
		words []string // in the first violation's detail
	}{
		{name: "a refund's legs are the switch's", want: []string{},
			build: func(c *auditCase) { c.paid(ok, debit, credit); c.refunded(txnA, 200, ok) }},
		{name: "refunds up to the credit", want: []string{},
			build: func(c *auditCase) { c.paid(ok, debit, credit); c.refunded(txnA, 200, ok); c.refunded(txnA, 300, ok) }},
		{name: "a failed refund does not count", want: []string{},
			build: func(c *auditCase) { c.paid(ok, debit, credit); c.refunded(txnA, 400, ok); c.refunded(txnA, 400, fail) }},
		{name: "refunds above the credit", want: []string{ViolationRefundExceedsCredit},
			build: func(c *auditCase) { c.paid(ok, debit, credit); c.refunded(txnA, 300, ok); c.refunded(txnA, 201, ok) },
			words: []string{"add up to ₹5.01", "more than PAY of ₹5.00 from alice@alpha to bob@beta"}},
		{name: "a refund of a credit the switch does not know", want: []string{ViolationRefundExceedsCredit},
			build: func(c *auditCase) {
				c.paid(ok, debit, credit)
				c.refunded(txnB, 100, ok)
			},
			words: []string{"the switch does not know"}},
		{name: "a refund of a failed payment", want: []string{ViolationRefundExceedsCredit},
			build: func(c *auditCase) {
				c.paid(fail)
				c.refunded(txnA, 100, ok)
			},
			words: []string{"which is FAILURE", "only a SUCCESS PAY or COLLECT"}},
		{name: "a refund's posting the switch did not ask for", want: []string{ViolationStrayPosting, ViolationConservation},
			build: func(c *auditCase) {
				c.paid(ok, debit, credit)
				id := c.refunded(txnA, 200, fail)
				c.post(1, "DEBIT:"+id, "2001", "SETTLEMENT-BBNK0000001", 300)
			},
			words: []string{"DEBIT:", "is ₹2.00 from 2001 (bob@beta) to the settlement account"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newAuditCase()
			c.snap.psps = []string{"alphapsp", "betapsp"}
			for i := range c.snap.banks {
				c.snap.banks[i].ledgerRead = true
			}
			tt.build(c)
			r := c.snap.audit(now, maxAge)
			assert.ElementsMatch(t, tt.want, kinds(r), "violations: %+v", r.Violations)
			for _, w := range tt.words {
				if assert.NotEmpty(t, r.Violations) {
					assert.Contains(t, r.Violations[0].Detail, w)
				}
			}
		})
	}
}
