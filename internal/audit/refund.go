package audit

import (
	"maps"
	"slices"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/upi"
)

// Refunds (docs/FLOWS.md, Refund). A REFUND is a transaction of its own at
// the switch, with its own DEBIT (from the credit's payee) and CREDIT (to
// its payer): the ledger, transaction and record checks take it as any
// payment. This check adds what holds across a credit's refunds.

// ViolationRefundExceedsCredit: the refunds not FAILED of one credit add up
// to more than the credit (or refund a transaction that is no SUCCESS
// PAY or COLLECT at the switch).
const ViolationRefundExceedsCredit = "REFUND_EXCEEDS_CREDIT"

func init() { Register(Check{Name: "refunds", Run: (*Auditor).refunds}) }

// refunds sums, per credit, the refunds the switch has not ended FAILURE
// (as listed after every other node, so the latest) and reports a credit
// they exceed.
func (a *Auditor) refunds() {
	sums := map[string]int64{}
	ids := map[string][]string{}
	lite := map[string][]*upiv1.TxnSummary{}
	for _, t := range a.after {
		if t.GetType() != upiv1.Txn_REFUND || t.GetStatus() == upiv1.Resp_FAILURE {
			continue
		}
		if t.GetOrgTxnId() == "" && t.GetOrgRrn() != "" {
			lite[t.GetOrgRrn()] = append(lite[t.GetOrgRrn()], t) // of an offline Lite record
			continue
		}
		sums[t.GetOrgTxnId()] += t.GetAmountPaise()
		ids[t.GetOrgTxnId()] = append(ids[t.GetOrgTxnId()], t.GetTxnId())
	}
	for _, org := range slices.Sorted(maps.Keys(sums)) {
		refunds := ids[org]
		slices.Sort(refunds)
		credit := a.after[org]
		switch {
		case org == "" || credit == nil:
			a.add(ViolationRefundExceedsCredit, org, "", "refunds %v (%s) name a credit %q the switch does not know", refunds, upi.FormatRupeesIndian(sums[org]), org)
		case !isCredit(credit):
			a.add(ViolationRefundExceedsCredit, org, "", "refunds %v (%s) refund %s, which is %s: only a SUCCESS PAY or COLLECT can be refunded",
				refunds, upi.FormatRupeesIndian(sums[org]), describe(credit), outcome(credit.GetStatus(), credit.GetErrCode()))
		case sums[org] > credit.GetAmountPaise():
			a.add(ViolationRefundExceedsCredit, org, "", "refunds %v not failed add up to %s, more than %s",
				refunds, upi.FormatRupeesIndian(sums[org]), describe(credit))
		}
	}
	a.liteRefunds(lite)
}

// liteRefunds checks the refunds not FAILED of offline Lite records, by
// the record's official UTR: each names a record the switch posted
// (SUCCESS), and they add up to at most its amount. Unchecked when the
// nodes' Lite accounts were not read (the lite check's note says why).
func (a *Auditor) liteRefunds(byUTR map[string][]*upiv1.TxnSummary) {
	if len(byUTR) == 0 || a.liteAccts == nil {
		return
	}
	recs := map[string]*upiv1.LiteRecordResult{}
	for _, la := range a.liteAccts.sw {
		for _, r := range la.GetRecords() {
			if r.GetUtr() != "" {
				recs[r.GetUtr()] = r
			}
		}
	}
	for _, utr := range slices.Sorted(maps.Keys(byUTR)) {
		var sum int64
		var refunds []string
		for _, t := range byUTR[utr] {
			sum += t.GetAmountPaise()
			refunds = append(refunds, t.GetTxnId())
		}
		slices.Sort(refunds)
		r := recs[utr]
		switch {
		case r == nil:
			a.add(ViolationRefundExceedsCredit, refunds[0], "", "refunds %v (%s) name UTR %s, which is no offline Lite record at the switch", refunds, upi.FormatRupeesIndian(sum), utr)
		case r.GetResult() != upiv1.Resp_SUCCESS:
			a.add(ViolationRefundExceedsCredit, refunds[0], "", "refunds %v (%s) refund the Lite record %s:%d (UTR %s), which is %s: only a posted record can be refunded",
				refunds, upi.FormatRupeesIndian(sum), r.GetLrn(), r.GetCounter(), utr, outcome(r.GetResult(), r.GetErrCode()))
		case sum > r.GetAmountPaise():
			a.add(ViolationRefundExceedsCredit, refunds[0], "", "refunds %v not failed add up to %s, more than the Lite record %s:%d (UTR %s) of %s",
				refunds, upi.FormatRupeesIndian(sum), r.GetLrn(), r.GetCounter(), utr, upi.FormatRupeesIndian(r.GetAmountPaise()))
		}
	}
}

// isCredit: a PAY or COLLECT that ended SUCCESS, which can be refunded.
func isCredit(t *upiv1.TxnSummary) bool {
	return (t.GetType() == upiv1.Txn_PAY || t.GetType() == upiv1.Txn_COLLECT) && t.GetStatus() == upiv1.Resp_SUCCESS
}
