package upiswitch

import (
	"strings"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// Refunds (docs/FLOWS.md, Refund): the payee's PSP of a credit (a PAY or
// COLLECT that ended SUCCESS) sends ReqPay REFUND with txn.org_txn_id the
// credit. It runs as a pay of its own, type REFUND, with the credit's payee
// as payer and its payer as payee: DEBIT (no PIN) to the payee's bank,
// CREDIT to the payer's, the same timeouts, DEEMED and reversals. Its
// record's OrgTxnId is the credit; the credit's record counts its refunds
// not FAILED in RefundedPaise (and lists them in RefundTxnIds), which is
// what keeps the refunds of a credit within it.

// validateRefund checks a ReqPay REFUND without looking at state: the
// credit it names, the parties, the amount, and the refund's payer (the
// credit's payee) one of the sender's users, with an account.
func (s *Switch) validateRefund(from string, m *upiv1.ReqPay) error {
	t := m.GetTxn()
	switch org, rrn := t.GetOrgTxnId(), t.GetOrgRrn(); {
	case org == "" && rrn == "":
		return node.Refuse("ReqPay REFUND needs txn.org_txn_id, the credit it refunds (or txn.org_rrn, the UTR of an offline Lite payment)")
	case org != "" && rrn != "":
		return node.Refuse("ReqPay REFUND names its credit by txn.org_txn_id or by txn.org_rrn (an offline Lite payment's UTR), not both")
	case rrn != "" && !ids.ValidRRN(rrn):
		return node.Refuse("ReqPay REFUND txn.org_rrn %q is not an RRN (12 digits)", rrn)
	case rrn == "" && !ids.ValidID(org):
		return node.Refuse("ReqPay REFUND txn.org_txn_id %q is not 3 letters and 32 hex digits", org)
	case org != "" && org == t.GetId():
		return node.Refuse("ReqPay REFUND %s cannot refund itself", org)
	case m.GetMandate() != nil:
		return node.Refuse("ReqPay REFUND takes no mandate")
	case t.GetExpireAfterMinutes() != 0:
		return node.Refuse("ReqPay REFUND takes no txn.expire_after_minutes")
	}
	if err := checkParties(m); err != nil {
		return err
	}
	if _, err := amountOf(m.GetPayer(), m.GetPayee()); err != nil {
		return err
	}
	payer := m.GetPayer().GetAddr()
	if psp, ok := s.net.PSPForVPA(payer); !ok || psp.Name != from {
		return node.Refuse("payer %s of a REFUND is not a user of %s (handle @%s)", payer, from, ids.HandleOf(payer))
	}
	return nil
}

// creditPSPs are the payer's and the payee's PSP of a credit's record.
func creditPSPs(credit *record) (payerPSP, payeePSP string) {
	if credit.Type == upiv1.Txn_COLLECT.String() {
		return credit.Counterparty, credit.Originator
	}
	return credit.Originator, credit.Counterparty
}

// refundable checks the refund m of amount from PSP from against the
// credit it names, and returns the credit's record.
func refundable(c *node.Ctx, from string, m *upiv1.ReqPay, amount int64) (*record, error) {
	org := m.GetTxn().GetOrgTxnId()
	credit, err := loadRecord(c.Tx, org)
	if err != nil {
		return nil, err
	}
	if credit == nil {
		return nil, node.Refuse("REFUND of %s: the switch has no transaction %s", org, org)
	}
	if credit.Type != upiv1.Txn_PAY.String() && credit.Type != upiv1.Txn_COLLECT.String() ||
		credit.Parent != nil && credit.Parent.Kind != flowDelegateAuth {
		return nil, node.Refuse("REFUND of %s: it is a %s, not a PAY or COLLECT", org, orLeg(credit))
	}
	if credit.Status != upiv1.Resp_SUCCESS.String() {
		return nil, node.Refuse("REFUND of %s: it is %s, only a SUCCESS can be refunded", org, credit.Status)
	}
	if _, payeePSP := creditPSPs(credit); payeePSP != from {
		return nil, node.Refuse("REFUND of %s: only its payee's PSP %s may refund it, not %s", org, orDash(payeePSP), from)
	}
	payer, payee := m.GetPayer(), m.GetPayee()
	if !strings.EqualFold(payer.GetAddr(), credit.GetPayee().GetAddr()) || !strings.EqualFold(payee.GetAddr(), credit.GetPayer().GetAddr()) {
		return nil, node.Refuse("REFUND of %s must be from its payee %s to its payer %s, not from %s to %s",
			org, credit.GetPayee().GetAddr(), credit.GetPayer().GetAddr(), payer.GetAddr(), payee.GetAddr())
	}
	if ac := payer.GetAc(); ac.GetAcNum() != "" && (ac.GetAcNum() != credit.GetPayee().GetAcNum() || !strings.EqualFold(ac.GetIfsc(), credit.GetPayee().GetIfsc())) {
		return nil, node.Refuse("REFUND of %s: payer.ac %s/%s is not the account %s credited", org, ac.GetAcNum(), ac.GetIfsc(), org)
	}
	if left := credit.AmountPaise - credit.RefundedPaise; amount > left {
		return nil, node.Refuse("REFUND of %s asks %s, more than is left to refund of it: %s of %s (refunds not failed: %s)",
			org, upi.FormatPaise(amount), upi.FormatPaise(left), upi.FormatPaise(credit.AmountPaise), upi.FormatPaise(credit.RefundedPaise))
	}
	return credit, nil
}

// reqRefund starts a REFUND the switch has not seen (amount is its
// amount): refuse it when its credit does not allow it (refundable), else
// count it on the credit's record and send the DEBIT to the credit's
// payee's bank.
func (s *Switch) reqRefund(c *node.Ctx, in *node.Inbound, m *upiv1.ReqPay, amount int64) error {
	if m.GetTxn().GetOrgRrn() != "" {
		return s.reqLiteRefund(c, in, m, amount) // lite_refund.go
	}
	credit, err := refundable(c, in.From, m, amount)
	if err != nil {
		return err
	}
	rrn, err := issueRRN(c, m.GetTxn().GetId())
	if err != nil {
		return err
	}
	id := m.GetTxn().GetId()
	// The accounts are the credit's, as the switch recorded them: the
	// money goes back the way it came.
	payer, payee := partyFrom(m.GetPayer()), accountParty(credit.Payer)
	payer.Creds, payer.Device = nil, nil
	payer.AcNum, payer.Ifsc, payer.AcType = credit.Payee.AcNum, credit.Payee.Ifsc, credit.Payee.AcType
	if payer.Name == "" {
		payer.Name = credit.Payee.Name
	}
	r := &record{
		Id: id, Type: upiv1.Txn_REFUND.String(), Status: upiv1.Resp_PENDING.String(), Rrn: rrn, AmountPaise: amount,
		Info: infoFrom(m.GetTxn()), Payer: payer, Payee: payee, OrgTxnId: credit.Id,
		Originator: in.From, OrigMsgId: m.GetHead().GetMsgId(), Created: store.Nanos(c.Now()),
	}
	// Counted before anything can end it: finish gives a FAILURE back.
	credit.RefundedPaise += amount
	credit.RefundTxnIds = append(credit.RefundTxnIds, id)
	if err := putRecord(c.Tx, credit); err != nil { // its Updated stays its decision's
		return err
	}
	if code := c.Decline(); code != "" {
		r.Reason = "declined by a rule of the network file"
		return s.finish(c, r, upiv1.Resp_FAILURE, code)
	}
	r.Counterparty, _ = creditPSPs(credit)
	return s.debit(c, r)
}

// accountParty is p's name, type and account, without credentials.
func accountParty(p *party) *party {
	return &party{Addr: p.GetAddr(), Name: p.GetName(), Type: p.GetType(), Code: p.GetCode(),
		AcNum: p.GetAcNum(), Ifsc: p.GetIfsc(), AcType: p.GetAcType()}
}

// refundFailed gives the amount of refund r, ending FAILURE now, back to
// what is left to refund of its credit.
func refundFailed(c *node.Ctx, r *record) error {
	if r.OrgRrn != "" {
		return liteRefundFailed(c, r) // lite_refund.go
	}
	credit, err := loadRecord(c.Tx, r.OrgTxnId)
	if err != nil || credit == nil {
		return err
	}
	credit.RefundedPaise = max(0, credit.RefundedPaise-r.AmountPaise)
	return putRecord(c.Tx, credit)
}

func orLeg(r *record) string {
	if r.Parent != nil {
		return "leg of a " + r.Parent.Kind + " flow"
	}
	return r.Type
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
