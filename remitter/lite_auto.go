package remitter

// UPI Lite auto top-up, a Lite mandate at the remitter (docs/FLOWS.md,
// "Auto top-up (Lite mandate)"). The user sets it up with the PIN: a
// top-up of purpose 71 whose DEBIT carries lite{lrn, umn,
// auto_threshold_paise, auto_amount_paise}; when that DEBIT posts (its PIN
// checked like any DEBIT's) the bank keeps the LRN's mandate
// (recordsv1.BankLiteMandate, by LRN in store.LiteMandates; a new set-up
// replaces the old one). A later top-up (42) whose DEBIT carries lite.umn
// and no PIN is debited under it: the mandate must be the LRN's, of this
// account, ACTIVE (VF, QC), the amount at most the mandate's (QK), and
// fewer than lite.auto_topup_per_day of its top-ups posted this IST day
// (LA); a REVERSAL of it gives the day's count back. A ReqTxnConfirmation
// purpose 71 with lite{lrn, umn, state REVOKED} revokes it.

import (
	"errors"
	"fmt"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// LiteMandate is an LRN's Lite mandate at its remitter.
type LiteMandate = recordsv1.BankLiteMandate

// LiteMandates is the bank's table of Lite mandates, by LRN.
var LiteMandates = store.NewTable[LiteMandate](store.LiteMandates)

// States of a Lite mandate at the remitter.
const (
	LiteMandateActive  = "ACTIVE"
	LiteMandateRevoked = "REVOKED"
)

// isLiteSetupDebit reports whether m is the DEBIT of a Lite mandate's
// set-up (71): with the PIN, naming the mandate.
func isLiteSetupDebit(m *upiv1.ReqPay) bool {
	return m.GetTxn().GetType() == upiv1.Txn_DEBIT && m.GetTxn().GetPurpose() == lite.PurposeAutoTopUpSetup &&
		m.GetLite().GetUmn() != ""
}

// isLiteAutoDebit reports whether m is the DEBIT of a top-up (42) under
// a Lite mandate: lite.umn and no PIN.
func isLiteAutoDebit(m *upiv1.ReqPay) bool {
	return m.GetTxn().GetType() == upiv1.Txn_DEBIT && m.GetTxn().GetPurpose() == lite.PurposeTopUp &&
		m.GetLite().GetUmn() != "" && pinBlock(m.GetPayer()) == ""
}

// validateLiteAutoDebit checks a top-up's DEBIT under a Lite mandate.
func validateLiteAutoDebit(m *upiv1.ReqPay) error {
	if m.GetLite().GetLrn() == "" {
		return node.Refuse("DEBIT under Lite mandate %s needs lite.lrn", m.GetLite().GetUmn())
	}
	return nil
}

// validateLiteSetupDebit checks a set-up's (71) DEBIT: the mandate's
// threshold and amount are both above zero.
func validateLiteSetupDebit(m *upiv1.ReqPay) error {
	l := m.GetLite()
	switch {
	case l.GetLrn() == "":
		return node.Refuse("DEBIT of a Lite mandate's set-up (71) needs lite.lrn")
	case l.GetAutoThresholdPaise() <= 0 || l.GetAutoAmountPaise() <= 0:
		return node.Refuse("DEBIT of a Lite mandate's set-up (71) needs lite.auto_threshold_paise and lite.auto_amount_paise > 0, got %d and %d",
			l.GetAutoThresholdPaise(), l.GetAutoAmountPaise())
	}
	return nil
}

// istDay is the IST day of t, as YYYYMMDD.
func istDay(t time.Time) string { return t.In(ist).Format("20060102") }

// autoToday counts rec's top-ups posted on now's IST day.
func autoToday(rec *LiteMandate, now time.Time) int {
	n, day := 0, istDay(now)
	for _, e := range rec.Executions {
		if istDay(store.FromNanos(e.At)) == day {
			n++
		}
	}
	return n
}

// registerLiteMandate keeps the mandate of a set-up whose DEBIT just
// posted (71, its PIN checked), replacing the LRN's earlier one.
func (r *Remitter) registerLiteMandate(c *node.Ctx, m *upiv1.ReqPay) error {
	l, now := m.GetLite(), store.Nanos(c.Now())
	rec := &LiteMandate{
		Lrn: l.GetLrn(), Umn: l.GetUmn(), AcNum: m.GetPayer().GetAc().GetAcNum(),
		ThresholdPaise: l.GetAutoThresholdPaise(), AmountPaise: l.GetAutoAmountPaise(), State: LiteMandateActive,
		SetupTxnId: m.GetTxn().GetId(), Created: now, Updated: now,
	}
	r.log.Info("Lite mandate set up", "lrn", rec.Lrn, "umn", rec.Umn, "threshold", rec.ThresholdPaise, "amount", rec.AmountPaise)
	return LiteMandates.Put(c.Tx, rec.Lrn, rec)
}

// checkLiteAuto is the mandate's check of a top-up's DEBIT of amount from
// acNum under umn for lrn: VF (no such mandate of this LRN and account),
// QC (revoked), QK (over the mandate's amount), LA (the day's top-ups are
// made). It returns the mandate to count the debit on.
func (r *Remitter) checkLiteAuto(c *node.Ctx, lrn, umn, acNum string, amount int64) (*LiteMandate, string, error) {
	rec, ok, err := LiteMandates.Get(c.Tx, lrn)
	switch {
	case err != nil:
		return nil, "", err
	case !ok || rec.Umn != umn || rec.AcNum != acNum:
		return nil, upi.CodeMandateUnknown, nil
	case rec.State != LiteMandateActive:
		return nil, upi.CodeMandateRevoked, nil
	case amount > rec.AmountPaise:
		return nil, upi.CodeMandateLimit, nil
	}
	if perDay := r.net.Lite.AutoTopUpPerDay; perDay > 0 && autoToday(rec, c.Now()) >= perDay {
		return nil, upi.CodeLiteAutoTopUpCount, nil
	}
	return rec, "", nil
}

// tryLiteAutoDebit runs a top-up's DEBIT under a Lite mandate: tryDebit's
// checks with the mandate's in place of the PIN, then the debit, counted
// on the mandate in this step.
func (r *Remitter) tryLiteAutoDebit(c *node.Ctx, m *upiv1.ReqPay, rec *ledger.TxnRecord) (string, error) {
	t, p, l := m.GetTxn(), m.GetPayer(), m.GetLite()
	if rec.Reversal != nil {
		return upi.CodeDebitFailed, nil
	}
	if code := c.Decline(); code != "" {
		return code, nil
	}
	acNum, amount := p.GetAc().GetAcNum(), p.GetAmountPaise()
	if code, err := r.checkPayerAccount(c, p); code != "" || err != nil {
		return code, err
	}
	md, code, err := r.checkLiteAuto(c, l.GetLrn(), l.GetUmn(), acNum, amount)
	if code != "" || err != nil {
		if code != "" {
			r.log.Info("auto top-up declined", "txn", t.GetId(), "lrn", l.GetLrn(), "umn", l.GetUmn(), "code", code)
		}
		return code, err
	}
	if limit := r.net.Limits.PerTxn; limit > 0 && amount > limit {
		return upi.CodeLimitExceeded, nil
	}
	err = ledger.PostAt(c.Tx, c.Now(), ledger.PostingRef(ledger.LegDebit, t.GetId()), acNum, r.settlement, amount)
	switch {
	case errors.Is(err, ledger.ErrInsufficientFunds):
		return upi.CodeInsufficientFunds, nil
	case errors.Is(err, ledger.ErrOverflow):
		return upi.CodeDebitFailed, nil
	case err != nil:
		return "", fmt.Errorf("auto top-up debit %s: %w", t.GetId(), err)
	}
	now := c.Now()
	kept := md.Executions[:0]
	for _, e := range md.Executions {
		if now.Sub(store.FromNanos(e.At)) < 48*time.Hour {
			kept = append(kept, e)
		}
	}
	md.Executions = append(kept, &recordsv1.LiteAutoExecution{TxnId: t.GetId(), AmountPaise: amount, At: store.Nanos(now)})
	md.Updated = store.Nanos(now)
	return "", LiteMandates.Put(c.Tx, md.Lrn, md)
}

// uncountLiteAuto gives a reversed top-up under a Lite mandate back to
// the day's count: the REVERSAL of a top-up names the LRN in lite.lrn.
func uncountLiteAuto(c *node.Ctx, m *upiv1.ReqPay, txnID string) error {
	lrn := m.GetLite().GetLrn()
	if lrn == "" {
		return nil
	}
	md, ok, err := LiteMandates.Get(c.Tx, lrn)
	if err != nil || !ok {
		return err
	}
	kept := md.Executions[:0]
	for _, e := range md.Executions {
		if e.TxnId != txnID {
			kept = append(kept, e)
		}
	}
	if len(kept) == len(md.Executions) {
		return nil
	}
	md.Executions, md.Updated = kept, store.Nanos(c.Now())
	return LiteMandates.Put(c.Tx, md.Lrn, md)
}

// revokeLiteMandate revokes the LRN's mandate umn (ReqTxnConfirmation
// purpose 71): "" when done (a repeat, or a mandate already revoked, too),
// VF when the LRN has no such mandate.
func (r *Remitter) revokeLiteMandate(c *node.Ctx, t *upiv1.Txn, l *upiv1.LiteInfo) (string, error) {
	md, ok, err := LiteMandates.Get(c.Tx, l.GetLrn())
	if err != nil {
		return "", err
	}
	if !ok || md.Umn != l.GetUmn() {
		return upi.CodeMandateUnknown, nil
	}
	if md.State == LiteMandateRevoked {
		return "", nil
	}
	now := store.Nanos(c.Now())
	md.State, md.RevokeTxnId, md.Revoked, md.Updated = LiteMandateRevoked, t.GetId(), now, now
	r.log.Info("Lite mandate revoked", "lrn", md.Lrn, "umn", md.Umn)
	return "", LiteMandates.Put(c.Tx, md.Lrn, md)
}

// validateLiteRevoke checks a ReqTxnConfirmation purpose 71.
func validateLiteRevoke(l *upiv1.LiteInfo) error {
	if l.GetUmn() == "" || l.GetState() != LiteMandateRevoked {
		return node.Refuse("ReqTxnConfirmation of a Lite mandate's revocation (71) needs lite.umn and lite.state REVOKED, got %q and %q",
			l.GetUmn(), l.GetState())
	}
	return nil
}
