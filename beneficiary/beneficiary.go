package beneficiary

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// Config configures a Beneficiary.
type Config struct {
	Network *config.Network
	// Self is the bank node.
	Self   *config.Node
	Logger *slog.Logger
	// Lite takes the CREDITs of Lite top-ups (lite.go); nil: they are
	// plain CREDITs (of an account that does not exist: U31).
	Lite LiteCreditor
}

// Beneficiary is the beneficiary role of one bank node.
type Beneficiary struct {
	self       *config.Node
	settlement string
	log        *slog.Logger
	lite       LiteCreditor
}

// New returns the beneficiary role of cfg.Self.
func New(cfg Config) *Beneficiary {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Beneficiary{
		self: cfg.Self, log: log.With("role", "beneficiary"),
		settlement: ledger.SettlementAccount(cfg.Self.IFSC), lite: cfg.Lite,
	}
}

// Amount is the amount a CREDIT asks for: payee.amount_paise, or
// payer.amount_paise when the payee's is unset.
func Amount(m *upiv1.ReqPay) int64 {
	if a := m.GetPayee().GetAmountPaise(); a != 0 {
		return a
	}
	return m.GetPayer().GetAmountPaise()
}

// Routes are the BeneficiaryService requests (docs/FLOWS.md: CREDIT,
// status checks), taken only from the switch: the fields each needs,
// checked without looking at state, and the step that answers the switch.
func (b *Beneficiary) Routes() []node.Route {
	fromSwitch := []string{config.RoleSwitch}
	return []node.Route{
		{Method: upiv1.BeneficiaryService_ReqPay_FullMethodName, From: fromSwitch,
			Validate: node.Validates(func(_ *node.Inbound, m *upiv1.ReqPay) error {
				if err := validateReqPay(m); err != nil || b.lite == nil || !b.lite.IsLiteCredit(m) {
					return err
				}
				return b.lite.ValidateLiteCredit(m)
			}),
			Handle: node.Handles(func(c *node.Ctx, in *node.Inbound, m *upiv1.ReqPay) error {
				if b.lite != nil && b.lite.IsLiteCredit(m) {
					return b.lite.LiteCredit(c, in, m)
				}
				return b.credit(c, in, m)
			})},
		{Method: upiv1.BeneficiaryService_ReqChkTxn_FullMethodName, From: fromSwitch,
			Validate: func(in *node.Inbound) error { return validateChkTxn(in.Msg.GetTxn()) },
			Handle:   b.chkTxn},
		{Method: upiv1.BeneficiaryService_ReqLiteSync_FullMethodName, From: fromSwitch,
			Validate: node.Validates(validateLiteSync), Handle: node.Handles(b.liteSync)},
	}
}

func validateReqPay(m *upiv1.ReqPay) error {
	p := m.GetPayee()
	payee, payer := p.GetAmountPaise(), m.GetPayer().GetAmountPaise()
	switch {
	case m.GetTxn().GetType() != upiv1.Txn_CREDIT:
		return node.Refuse("BeneficiaryService/ReqPay takes txn.type CREDIT, not %s", m.GetTxn().GetType())
	case p == nil:
		return node.Refuse("CREDIT needs payee")
	case p.GetAc().GetAcNum() == "":
		return node.Refuse("CREDIT needs payee.ac.ac_num")
	case p.GetAc().GetIfsc() == "":
		return node.Refuse("CREDIT needs payee.ac.ifsc")
	case payee != 0 && payer != 0 && payee != payer:
		return node.Refuse("CREDIT payee.amount_paise %d differs from payer.amount_paise %d", payee, payer)
	case Amount(m) <= 0:
		return node.Refuse("CREDIT needs an amount > 0 in payee.amount_paise (or payer.amount_paise), got %d", Amount(m))
	}
	return nil
}

func validateChkTxn(t *upiv1.Txn) error {
	if ty := t.GetType(); ty != upiv1.Txn_CHK_STATUS && ty != upiv1.Txn_TYPE_UNSPECIFIED {
		return node.Refuse("ReqChkTxn takes txn.type CHK_STATUS, not %s", ty)
	}
	if st := t.GetSubType(); st != upiv1.Txn_CREDIT && st != upiv1.Txn_TYPE_UNSPECIFIED {
		return node.Refuse("the beneficiary answers status checks of CREDIT legs, not %s", st)
	}
	if id := t.GetOrgTxnId(); id != "" && !ids.ValidID(id) {
		return node.Refuse("txn.org_txn_id %q is not 3 letters and 32 hex digits", id)
	}
	return nil
}

// credit handles ReqPay CREDIT.
func (b *Beneficiary) credit(c *node.Ctx, in *node.Inbound, m *upiv1.ReqPay) error {
	t, p, amount := m.GetTxn(), m.GetPayee(), Amount(m)
	rec, err := ledger.LoadTxn(c.Tx, t.GetId(), t.GetCustRef(), c.Now())
	if err != nil {
		return err
	}
	if l := rec.Credit; l != nil {
		// A repeat under a new msg_id: the same answer again, no new credit.
		if l.AmountPaise != amount || l.AcNum != p.GetAc().GetAcNum() {
			return node.Refuse("txn %s was already credited for %s to account %s; this CREDIT asks %s to account %s",
				t.GetId(), upi.FormatPaise(l.AmountPaise), l.AcNum, upi.FormatPaise(amount), p.GetAc().GetAcNum())
		}
		return b.answer(c, in, t, l)
	}
	leg := &ledger.Leg{
		Type: ledger.LegCredit, AcNum: p.GetAc().GetAcNum(), Ifsc: p.GetAc().GetIfsc(), Addr: p.GetAddr(),
		AmountPaise: amount, ReqMsgId: in.Msg.GetHead().GetMsgId(), At: store.Nanos(c.Now()),
	}
	code := upi.CodeCreditFailed
	if rec.CreditAbsent {
		// This bank already told the switch the credit was not there; the
		// switch may have reversed the debit since, so crediting now would
		// create money.
		b.log.Debug("credit after a status check found none: declined", "txn", t.GetId())
	} else if code, err = b.tryCredit(c, t, p, amount); err != nil {
		return err
	}
	if code != "" {
		b.log.Debug("credit declined", "txn", t.GetId(), "code", code)
	}
	if err := ledger.Settle(c.Tx, rec, leg, code); err != nil {
		return err
	}
	return b.answer(c, in, t, leg)
}

// tryCredit checks the payee's account and posts the credit. It returns the
// NPCI code of a decline, or "".
func (b *Beneficiary) tryCredit(c *node.Ctx, t *upiv1.Txn, p *upiv1.Party, amount int64) (string, error) {
	if code := c.Decline(); code != "" { // a rule of the network file
		return code, nil
	}
	acNum := p.GetAc().GetAcNum()
	acct, err := ledger.Get(c.Tx, acNum)
	if errors.Is(err, ledger.ErrNoAccount) {
		return upi.CodeCreditFailed, nil
	}
	if err != nil {
		return "", err
	}
	if !strings.EqualFold(p.GetAc().GetIfsc(), b.self.IFSC) || acct.Kind != ledger.KindCustomer {
		return upi.CodeCreditFailed, nil
	}
	err = ledger.PostAt(c.Tx, c.Now(), ledger.PostingRef(ledger.LegCredit, t.GetId()), b.settlement, acNum, amount)
	switch {
	case errors.Is(err, ledger.ErrOverflow):
		return upi.CodeCreditFailed, nil
	case err != nil:
		return "", fmt.Errorf("credit %s: %w", t.GetId(), err)
	}
	return "", nil
}

// answer sends RespPay for leg to the sender of the request in.
func (b *Beneficiary) answer(c *node.Ctx, in *node.Inbound, t *upiv1.Txn, leg *ledger.Leg) error {
	return c.Send(in.From, upiv1.SwitchService_RespPay_FullMethodName, ledger.RespPay(leg, t, in.Msg.GetHead().GetMsgId()))
}

// chkTxn answers ReqChkTxn with the recorded outcome of the CREDIT leg of
// txn.org_txn_id (or txn.id).
func (b *Beneficiary) chkTxn(c *node.Ctx, in *node.Inbound) error {
	t := in.Msg.GetTxn()
	txnID := t.GetOrgTxnId()
	if txnID == "" {
		txnID = t.GetId()
	}
	rec, err := ledger.LoadTxn(c.Tx, txnID, t.GetCustRef(), c.Now())
	if err != nil {
		return err
	}
	if rec.Credit == nil && !rec.CreditAbsent {
		// Answering "not present" commits this bank: see credit.
		rec.CreditAbsent = true
		if err := ledger.PutTxn(c.Tx, rec); err != nil {
			return err
		}
	}
	resp, err := ledger.RespChkTxn(c.Tx, t, txnID, ledger.LegCredit, in.Msg.GetHead().GetMsgId())
	if err != nil {
		return err
	}
	return c.Send(in.From, upiv1.SwitchService_RespChkTxn_FullMethodName, resp)
}
