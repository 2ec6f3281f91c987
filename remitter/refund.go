package remitter

import (
	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/upi"
)

// Refunds at the payee's bank (docs/FLOWS.md, Refund): the switch's DEBIT
// of a REFUND (txn.sub_type REFUND, txn.org_txn_id the credit refunded)
// carries no PIN. Instead this bank checks it against its own books: it
// must have posted the CREDIT of org_txn_id to the very account debited,
// and the refund debits of that credit not reversed, counted on its record
// of the credit (BankTxn.refunded_paise), must stay within it. The
// refund's own record names the credit (BankTxn.org_txn_id), so that its
// reversal gives the amount back.

// isRefund reports whether t is the DEBIT leg of a REFUND.
func isRefund(t *upiv1.Txn) bool { return t.GetSubType() == upiv1.Txn_REFUND }

// refundDebit checks a refund's DEBIT of amount from acNum against the
// credit org: U10 (CodeRefundNoCredit) when this bank posted no CREDIT of
// org to acNum, or when the refunds of it would exceed it. It returns the
// credit's record, to count the debit on once it is posted.
func refundDebit(c *node.Ctx, org, acNum string, amount int64) (*ledger.TxnRecord, string, error) {
	p, ok, err := ledger.Posting(c.Tx, ledger.PostingRef(ledger.LegCredit, org))
	if err != nil || !ok || p.To != acNum {
		return nil, upi.CodeRefundNoCredit, err
	}
	credit, ok, err := ledger.GetTxn(c.Tx, org)
	if err != nil || !ok {
		return nil, upi.CodeRefundNoCredit, err
	}
	if credit.RefundedPaise+amount > p.AmountPaise || credit.RefundedPaise+amount < 0 {
		return nil, upi.CodeRefundNoCredit, nil
	}
	return credit, "", nil
}

// countRefund counts a refund debit of amount, just posted, on its credit.
func countRefund(c *node.Ctx, credit *ledger.TxnRecord, amount int64) error {
	credit.RefundedPaise += amount
	return ledger.PutTxn(c.Tx, credit)
}

// uncountRefund gives back to its credit the amount of a refund debit
// being reversed now (rec the refund's record); any other reversal is no
// refund's and changes nothing.
func uncountRefund(c *node.Ctx, rec *ledger.TxnRecord, amount int64) error {
	if rec.OrgTxnId == "" {
		return nil
	}
	if lite, err := uncountLiteRefund(c, rec, amount); lite || err != nil { // lite_refund.go
		return err
	}
	credit, ok, err := ledger.GetTxn(c.Tx, rec.OrgTxnId)
	if err != nil || !ok {
		return err
	}
	credit.RefundedPaise = max(0, credit.RefundedPaise-amount)
	return ledger.PutTxn(c.Tx, credit)
}
