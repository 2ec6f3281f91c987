package audit

import (
	"testing"

	"github.com/stretchr/testify/assert"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// liteRefunded adds a REFUND of amount of the offline record whose UTR is
// utr (liteCase's record is ₹0.50 from alice to bob, UTR 512345678901),
// from bob back to alice, as the switch lists it: txn.org_rrn, no
// org_txn_id.
func (c *auditCase) liteRefunded(utr string, amount int64, st upiv1.Resp_Result) string {
	id := c.refunded("", amount, st)
	c.snap.switchTxns[len(c.snap.switchTxns)-1].OrgRrn = utr
	return id
}

func TestAuditLiteRefunds(t *testing.T) {
	const utr = "512345678901"
	ok, fail := upiv1.Resp_SUCCESS, upiv1.Resp_FAILURE
	tests := []struct {
		name  string
		build func(c *auditCase)
		want  []string
		words []string
	}{
		{name: "a refund of a posted record", want: []string{},
			build: func(c *auditCase) { c.liteRefunded(utr, 30, ok) }},
		{name: "refunds up to the record", want: []string{},
			build: func(c *auditCase) { c.liteRefunded(utr, 30, ok); c.liteRefunded(utr, 20, ok) }},
		{name: "a failed refund does not count", want: []string{},
			build: func(c *auditCase) { c.liteRefunded(utr, 50, ok); c.liteRefunded(utr, 50, fail) }},
		{name: "refunds above the record", want: []string{ViolationRefundExceedsCredit},
			build: func(c *auditCase) { c.liteRefunded(utr, 30, ok); c.liteRefunded(utr, 21, ok) },
			words: []string{"add up to ₹0.51", "more than the Lite record " + lrn1 + ":3 (UTR " + utr + ") of ₹0.50"}},
		{name: "a refund of a UTR no record has", want: []string{ViolationRefundExceedsCredit},
			build: func(c *auditCase) { c.liteRefunded("512345678999", 10, ok) },
			words: []string{"name UTR 512345678999, which is no offline Lite record at the switch"}},
		{name: "a refund of a record that failed", want: []string{ViolationRefundExceedsCredit},
			build: func(c *auditCase) {
				r := c.lite().sw[lrn1].Records[0]
				r.Result, r.ErrCode = fail, "U31"
				c.liteRefunded(utr, 10, ok)
			},
			words: []string{"which is FAILURE U31"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := liteCase(t, false)
			tt.build(c)
			r := c.snap.audit(now, maxAge)
			var got []string
			var details []string
			for _, v := range r.Violations {
				if v.Kind == ViolationRefundExceedsCredit {
					got = append(got, v.Kind)
					details = append(details, v.Detail)
				}
			}
			if len(tt.want) == 0 {
				assert.Empty(t, r.Violations, "violations: %+v", r.Violations)
			} else {
				assert.Equal(t, tt.want, got, "violations: %+v", r.Violations)
			}
			for _, w := range tt.words {
				if assert.NotEmpty(t, details) {
					assert.Contains(t, details[0], w)
				}
			}
		})
	}
}
