package upiswitch

import (
	"strings"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// Refunds of offline Lite payments (docs/FLOWS.md, Refund, "Refunds of
// offline Lite payments"): a posted offline record has no pay transaction
// of its own, so the payee's PSP names it by its official UTR,
// txn.org_rrn (the RRN index maps it to "lite:" + the record's key). The
// refund then runs as any refund (refund.go): a pay of its own, type
// REFUND, DEBIT (no PIN) of the account the record credited, CREDIT of
// the account behind the record's LRN (the auth engine's), the same
// timeouts, DEEMED and reversals. Its record's OrgRrn is the UTR; the
// Lite record counts its refunds not FAILED (RefundedPaise,
// RefundTxnIds). The DEBIT carries lite{lrn, counter}: the payee's bank
// checks it against its LITECREDIT:<lrn>:<counter> posting.

// isRefundRec reports whether r is a REFUND's pay record: of a credit
// (OrgTxnId) or of a Lite record (OrgRrn).
func isRefundRec(r *record) bool { return r.OrgTxnId != "" || r.OrgRrn != "" }

// liteRefunded is the posted Lite record whose official UTR is rrn, nil
// when the RRN names none (no RRN, or a pay transaction's).
func liteRefunded(tx *store.Tx, rrn string) (*liteRecord, error) {
	key, ok := strings.CutPrefix(string(tx.Get(store.RRNs, []byte(rrn))), liteRRNPrefix)
	if !ok {
		return nil, nil
	}
	lrn, counter, err := lite.ParseRecordKey([]byte(key))
	if err != nil {
		return nil, nil
	}
	return loadCounter(tx, lrn, counter)
}

// liteRefundable checks the refund m of amount from PSP from against the
// Lite record its org_rrn names, and returns the record and the auth
// engine's account of its LRN (whose account the refund credits).
func (s *Switch) liteRefundable(c *node.Ctx, from string, m *upiv1.ReqPay, amount int64) (*liteRecord, *liteAccount, error) {
	rrn := m.GetTxn().GetOrgRrn()
	rec, err := liteRefunded(c.Tx, rrn)
	if err != nil {
		return nil, nil, err
	}
	if rec == nil || rec.Kind != lite.KindOffline {
		return nil, nil, node.Refuse("REFUND of UTR %s: the switch has no offline Lite record with this UTR (a pay is refunded by its txn id, txn.org_txn_id)", rrn)
	}
	if rec.State != recFinal || rec.Status != upiv1.Resp_SUCCESS.String() {
		return nil, nil, node.Refuse("REFUND of UTR %s: the Lite record is %s, only a posted (SUCCESS) one can be refunded", rrn, orDash(rec.Status))
	}
	lr := rec.GetRecord()
	if p, ok := s.net.PSPForVPA(lr.GetPayeeAddr()); !ok || p.Name != from {
		return nil, nil, node.Refuse("REFUND of UTR %s: only its payee's PSP may refund it, not %s", rrn, from)
	}
	payer, payee := m.GetPayer(), m.GetPayee()
	if !strings.EqualFold(payer.GetAddr(), lr.GetPayeeAddr()) || !strings.EqualFold(payee.GetAddr(), lr.GetPayerAddr()) {
		return nil, nil, node.Refuse("REFUND of UTR %s must be from its payee %s to its payer %s, not from %s to %s",
			rrn, lr.GetPayeeAddr(), lr.GetPayerAddr(), payer.GetAddr(), payee.GetAddr())
	}
	credited := payeeAc(rec)
	if ac := payer.GetAc(); ac.GetAcNum() != "" && (ac.GetAcNum() != credited.GetAcNum() || !strings.EqualFold(ac.GetIfsc(), credited.GetIfsc())) {
		return nil, nil, node.Refuse("REFUND of UTR %s: payer.ac %s/%s is not the account the record credited", rrn, ac.GetAcNum(), ac.GetIfsc())
	}
	if left := lr.GetAmountPaise() - rec.RefundedPaise; amount > left {
		return nil, nil, node.Refuse("REFUND of UTR %s asks %s, more than is left to refund of it: %s of %s (refunds not failed: %s)",
			rrn, upi.FormatPaise(amount), upi.FormatPaise(left), upi.FormatPaise(lr.GetAmountPaise()), upi.FormatPaise(rec.RefundedPaise))
	}
	acc, err := loadLite(c.Tx, rec.Lrn)
	if err != nil {
		return nil, nil, err
	}
	if acc == nil || acc.AcNum == "" {
		return nil, nil, node.Refuse("REFUND of UTR %s: the switch has no account behind LRN %s", rrn, rec.Lrn)
	}
	return rec, acc, nil
}

// reqLiteRefund is reqRefund for a REFUND of a Lite record: refuse it when
// the record does not allow it (liteRefundable), else count it on the
// record and send the DEBIT to the bank the record credited.
func (s *Switch) reqLiteRefund(c *node.Ctx, in *node.Inbound, m *upiv1.ReqPay, amount int64) error {
	rec, acc, err := s.liteRefundable(c, in.From, m, amount)
	if err != nil {
		return err
	}
	id := m.GetTxn().GetId()
	rrn, err := issueRRN(c, id)
	if err != nil {
		return err
	}
	lr := rec.GetRecord()
	// The money goes back the way it came: from the account the record
	// credited to the account the LRN was topped up from.
	payer := partyFrom(m.GetPayer())
	payer.Creds, payer.Device = nil, nil
	payer.AcNum, payer.Ifsc, payer.AcType = payeeAc(rec).GetAcNum(), strings.ToUpper(payeeAc(rec).GetIfsc()), payeeAc(rec).GetAcType()
	payee := &party{Addr: lr.GetPayerAddr(), Name: m.GetPayee().GetName(), AcNum: acc.AcNum, Ifsc: strings.ToUpper(acc.Ifsc)}
	r := &record{
		Id: id, Type: upiv1.Txn_REFUND.String(), Status: upiv1.Resp_PENDING.String(), Rrn: rrn, AmountPaise: amount,
		Info: infoFrom(m.GetTxn()), Payer: payer, Payee: payee, OrgRrn: m.GetTxn().GetOrgRrn(),
		Originator: in.From, OrigMsgId: m.GetHead().GetMsgId(), Created: store.Nanos(c.Now()),
	}
	// Counted before anything can end it: finish gives a FAILURE back.
	rec.RefundedPaise += amount
	rec.RefundTxnIds = append(rec.RefundTxnIds, id)
	if err := saveCounter(c, rec); err != nil {
		return err
	}
	if code := c.Decline(); code != "" {
		r.Reason = "declined by a rule of the network file"
		return s.finish(c, r, upiv1.Resp_FAILURE, code)
	}
	if p, ok := s.net.PSPForVPA(lr.GetPayerAddr()); ok {
		r.Counterparty = p.Name // told the outcome (ReqTxnConfirmation)
	}
	return s.debit(c, r)
}

// liteRefundFailed gives the amount of the Lite refund r, ending FAILURE
// now, back to what is left to refund of its record.
func liteRefundFailed(c *node.Ctx, r *record) error {
	rec, err := liteRefunded(c.Tx, r.OrgRrn)
	if err != nil || rec == nil {
		return err
	}
	rec.RefundedPaise = max(0, rec.RefundedPaise-r.AmountPaise)
	return saveCounter(c, rec)
}

// liteRefundLeg is the lite block of a Lite refund's DEBIT: the record's
// LRN and counter, which name the bank's LITECREDIT:<lrn>:<counter>
// posting the refund is checked against; nil for any other record.
func liteRefundLeg(c *node.Ctx, r *record) (*upiv1.LiteInfo, error) {
	if r.OrgRrn == "" {
		return nil, nil
	}
	rec, err := liteRefunded(c.Tx, r.OrgRrn)
	if err != nil || rec == nil {
		return nil, err
	}
	return &upiv1.LiteInfo{Lrn: rec.Lrn, Counter: rec.Counter}, nil
}
