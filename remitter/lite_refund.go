package remitter

import (
	"strconv"
	"strings"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// Refunds of offline Lite payments at the payee's bank (docs/FLOWS.md,
// Refund, "Refunds of offline Lite payments"): an offline record this bank
// credited has no CREDIT:<txn> posting but LITECREDIT:<lrn>:<counter>, so
// the switch's DEBIT of its refund (sub_type REFUND, txn.org_rrn the
// record's UTR, no org_txn_id) names it by lite{lrn, counter}. The bank
// checks it against that posting as it checks a refund of a credit: it
// must have credited the very account debited, and the refund debits of
// it not reversed (LiteRefunds) plus this one must stay within it; else
// U10. The refund's own record names the posting (BankTxn.org_txn_id the
// LITECREDIT ref), so that its reversal gives the amount back.

// LiteRefunds is what this bank refunded of an offline record it credited
// (store.LiteRecords at liteRefundsKey).
type LiteRefunds = recordsv1.BankLiteRefunds

var liteRefunds = store.NewTable[LiteRefunds](store.LiteRecords)

// liteRefundsKey is the key of the refunds of lrn's counter: apart from
// the LRN's own records (a key starting with the LRN), which a bank that
// is the record's remitter too keeps in the same bucket.
func liteRefundsKey(lrn string, counter uint64) string { return "refund/" + recordKey(lrn, counter) }

// isLiteRefund reports whether m is the DEBIT of a REFUND of an offline
// Lite record.
func isLiteRefund(m *upiv1.ReqPay) bool {
	return isRefund(m.GetTxn()) && m.GetTxn().GetOrgTxnId() == "" && m.GetLite() != nil
}

// validateLiteRefund checks a Lite refund's DEBIT: the record's LRN and
// counter, and its UTR.
func validateLiteRefund(m *upiv1.ReqPay) error {
	l := m.GetLite()
	switch {
	case l.GetLrn() == "" || l.GetCounter() == 0:
		return node.Refuse("DEBIT of a REFUND of a Lite record needs lite.lrn and lite.counter, the record it refunds")
	case m.GetTxn().GetOrgRrn() == "":
		return node.Refuse("DEBIT of a REFUND of a Lite record needs txn.org_rrn, the record's UTR")
	}
	return nil
}

// liteRefundDebit checks a Lite refund's DEBIT of amount from acNum
// against this bank's LITECREDIT posting of the record l names: U10
// (CodeRefundNoCredit) when there is none to acNum, or when the refunds of
// it would exceed it. It returns what was refunded of it, to count the
// debit on once it is posted.
func liteRefundDebit(c *node.Ctx, l *upiv1.LiteInfo, acNum string, amount int64) (*LiteRefunds, string, error) {
	p, ok, err := ledger.Posting(c.Tx, LiteRef(RefLiteCredit, l.GetLrn(), l.GetCounter()))
	if err != nil || !ok || p.To != acNum {
		return nil, upi.CodeRefundNoCredit, err
	}
	key := liteRefundsKey(l.GetLrn(), l.GetCounter())
	done, ok, err := liteRefunds.Get(c.Tx, key)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		done = &LiteRefunds{Lrn: l.GetLrn(), Counter: l.GetCounter()}
	}
	if done.RefundedPaise+amount > p.AmountPaise || done.RefundedPaise+amount < 0 {
		return nil, upi.CodeRefundNoCredit, nil
	}
	return done, "", nil
}

// countLiteRefund counts the refund debit txnID of amount, just posted,
// on its record's refunds, and names the LITECREDIT posting on the
// refund's record rec.
func countLiteRefund(c *node.Ctx, done *LiteRefunds, rec *ledger.TxnRecord, txnID string, amount int64) error {
	rec.OrgTxnId = LiteRef(RefLiteCredit, done.Lrn, done.Counter)
	done.RefundedPaise += amount
	done.RefundTxnIds = append(done.RefundTxnIds, txnID)
	done.Updated = store.Nanos(c.Now())
	if done.Created == 0 {
		done.Created = done.Updated
	}
	return liteRefunds.Put(c.Tx, liteRefundsKey(done.Lrn, done.Counter), done)
}

// uncountLiteRefund gives back to its record the amount of a Lite refund
// debit being reversed now (rec the refund's record); false when rec is
// no Lite refund's.
func uncountLiteRefund(c *node.Ctx, rec *ledger.TxnRecord, amount int64) (bool, error) {
	ref, ok := strings.CutPrefix(rec.OrgTxnId, RefLiteCredit+":")
	if !ok {
		return false, nil
	}
	i := strings.LastIndexByte(ref, ':')
	if i < 0 {
		return true, nil
	}
	counter, err := strconv.ParseUint(ref[i+1:], 10, 64)
	if err != nil {
		return true, nil
	}
	key := liteRefundsKey(ref[:i], counter)
	done, ok, err := liteRefunds.Get(c.Tx, key)
	if err != nil || !ok {
		return true, err
	}
	done.RefundedPaise = max(0, done.RefundedPaise-amount)
	done.Updated = store.Nanos(c.Now())
	return true, liteRefunds.Put(c.Tx, key, done)
}
