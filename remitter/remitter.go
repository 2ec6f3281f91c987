package remitter

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
)

// NPCI codes the remitter decides.
const (
	// ErrInvalidPIN (ZM): the PIN block does not match the customer's PIN.
	ErrInvalidPIN = "ZM"
	// ErrLimit (Z8): the amount is above the network's per-transaction limit.
	ErrLimit = "Z8"
	// ErrFunds (Z9): the payer's balance is below the amount.
	ErrFunds = "Z9"
	// ErrDebitFailed (U30): no such account at this bank (or not a customer
	// account), or the transaction was already reversed when its DEBIT came.
	ErrDebitFailed = "U30"
)

// Config configures a Remitter.
type Config struct {
	Network *config.Network
	// Self is the bank node.
	Self   *config.Node
	Logger *slog.Logger
}

// Remitter is the remitter role of one bank node.
type Remitter struct {
	net        *config.Network
	self       *config.Node
	settlement string
	log        *slog.Logger
}

// New returns the remitter role of cfg.Self.
func New(cfg Config) *Remitter {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Remitter{
		net: cfg.Network, self: cfg.Self, log: log.With("role", "remitter"),
		settlement: ledger.SettlementAccount(cfg.Self.IFSC),
	}
}

// Customer is what the remitter keeps about an account holder
// (store.Customers, JSON, keyed by account number).
type Customer struct {
	// PIN is the UPI PIN the PIN blocks are checked against.
	PIN    string `json:"pin"`
	Mobile string `json:"mobile,omitempty"`
}

// PutCustomer stores the customer behind account acNum.
func PutCustomer(tx *store.Tx, acNum string, c Customer) error {
	return tx.PutJSON(store.Customers, acNum, c)
}

// GetCustomer returns the customer behind account acNum and whether there
// is one.
func GetCustomer(tx *store.Tx, acNum string) (Customer, bool, error) {
	var c Customer
	ok, err := tx.GetJSON(store.Customers, acNum, &c)
	return c, ok, err
}

// OrgTxnID is the transaction a reversal or status check is about:
// txn.org_txn_id when set, else txn.id.
func OrgTxnID(t *upiv1.Txn) string {
	if id := t.GetOrgTxnId(); id != "" {
		return id
	}
	return t.GetId()
}

// pinBlock returns the data of the payer's PIN credential, or "".
func pinBlock(p *upiv1.Party) string {
	for _, c := range p.GetCreds() {
		if strings.EqualFold(c.GetType(), "PIN") {
			return c.GetData()
		}
	}
	return ""
}

// Validate checks a RemitterService message before it is stored: the
// fields each request needs, without looking at state.
func (r *Remitter) Validate(in *node.Inbound) error {
	switch in.Method {
	case upiv1.RemitterService_ReqPay_FullMethodName:
		m, ok := in.Msg.(*upiv1.ReqPay)
		if !ok {
			return node.Refuse("%s carries %T, not ReqPay", in.Method, in.Msg)
		}
		return validateReqPay(m)
	case upiv1.RemitterService_ReqChkTxn_FullMethodName:
		return validateChkTxn(in.Msg.GetTxn())
	case upiv1.RemitterService_ReqMandate_FullMethodName, upiv1.RemitterService_ReqLiteSync_FullMethodName:
		return node.Refuse("%s is not supported yet by this bank", in.API)
	}
	return node.Refuse("RemitterService has no method %s", in.Method)
}

func validateReqPay(m *upiv1.ReqPay) error {
	t, p := m.GetTxn(), m.GetPayer()
	switch t.GetType() {
	case upiv1.Txn_DEBIT:
		switch {
		case p == nil:
			return node.Refuse("DEBIT needs payer")
		case p.GetAc().GetAcNum() == "":
			return node.Refuse("DEBIT needs payer.ac.ac_num")
		case p.GetAc().GetIfsc() == "":
			return node.Refuse("DEBIT needs payer.ac.ifsc")
		case p.GetAmountPaise() <= 0:
			return node.Refuse("DEBIT needs payer.amount_paise > 0, got %d", p.GetAmountPaise())
		case pinBlock(p) == "":
			return node.Refuse("DEBIT needs the PIN block in payer.creds (type PIN)")
		}
	case upiv1.Txn_REVERSAL:
		if id := t.GetOrgTxnId(); id != "" && !ids.ValidID(id) {
			return node.Refuse("txn.org_txn_id %q is not 3 letters and 32 hex digits", id)
		}
		if p.GetAmountPaise() < 0 {
			return node.Refuse("REVERSAL payer.amount_paise must not be negative, got %d", p.GetAmountPaise())
		}
	default:
		return node.Refuse("RemitterService/ReqPay takes txn.type DEBIT or REVERSAL, not %s", t.GetType())
	}
	return nil
}

func validateChkTxn(t *upiv1.Txn) error {
	if ty := t.GetType(); ty != upiv1.Txn_CHK_STATUS && ty != upiv1.Txn_TYPE_UNSPECIFIED {
		return node.Refuse("ReqChkTxn takes txn.type CHK_STATUS, not %s", ty)
	}
	if st := t.GetSubType(); st != upiv1.Txn_DEBIT && st != upiv1.Txn_REVERSAL && st != upiv1.Txn_TYPE_UNSPECIFIED {
		return node.Refuse("the remitter answers status checks of DEBIT and REVERSAL legs, not %s", st)
	}
	if id := t.GetOrgTxnId(); id != "" && !ids.ValidID(id) {
		return node.Refuse("txn.org_txn_id %q is not 3 letters and 32 hex digits", id)
	}
	return nil
}

// Handle applies a RemitterService message that passed Validate, answering
// the sender (the switch).
func (r *Remitter) Handle(c *node.Ctx, in *node.Inbound) error {
	switch in.Method {
	case upiv1.RemitterService_ReqPay_FullMethodName:
		m, ok := in.Msg.(*upiv1.ReqPay)
		if !ok {
			return node.Refuse("%s carries %T, not ReqPay", in.Method, in.Msg)
		}
		if m.GetTxn().GetType() == upiv1.Txn_REVERSAL {
			return r.reversal(c, in, m)
		}
		return r.debit(c, in, m)
	case upiv1.RemitterService_ReqChkTxn_FullMethodName:
		return r.chkTxn(c, in)
	}
	return r.Validate(in) // refuses everything else
}

// debit handles ReqPay DEBIT.
func (r *Remitter) debit(c *node.Ctx, in *node.Inbound, m *upiv1.ReqPay) error {
	t, p := m.GetTxn(), m.GetPayer()
	rec, err := ledger.LoadTxn(c.Tx, t.GetId(), t.GetCustRef(), c.Now())
	if err != nil {
		return err
	}
	if l := rec.Debit; l != nil {
		// A repeat under a new msg_id: the same answer again, no new debit.
		if l.AmountPaise != p.GetAmountPaise() || l.AcNum != p.GetAc().GetAcNum() {
			return node.Refuse("txn %s was already debited for %s from account %s; this DEBIT asks %s from account %s",
				t.GetId(), ids.FormatPaise(l.AmountPaise), l.AcNum, ids.FormatPaise(p.GetAmountPaise()), p.GetAc().GetAcNum())
		}
		return r.answer(c, in, t, l)
	}
	leg := &ledger.Leg{
		Type: ledger.LegDebit, AcNum: p.GetAc().GetAcNum(), IFSC: p.GetAc().GetIfsc(), Addr: p.GetAddr(),
		AmountPaise: p.GetAmountPaise(), ReqMsgID: in.Msg.GetHead().GetMsgId(), At: c.Now(),
	}
	code, err := r.tryDebit(c, t, p, rec)
	if err != nil {
		return err
	}
	if code != "" {
		r.log.Debug("debit declined", "txn", t.GetId(), "code", code)
	}
	if err := ledger.Settle(c.Tx, rec, leg, code); err != nil {
		return err
	}
	return r.answer(c, in, t, leg)
}

// tryDebit runs the DEBIT checks in order and, when they pass, posts the
// debit. It returns the NPCI code of a decline, or "".
func (r *Remitter) tryDebit(c *node.Ctx, t *upiv1.Txn, p *upiv1.Party, rec *ledger.TxnRecord) (string, error) {
	if rec.Reversal != nil {
		// The switch already gave up on this debit and reversed it; taking
		// the money now would leave it debited with no reversal to come.
		return ErrDebitFailed, nil
	}
	if code := c.Decline(); code != "" { // a rule of the network file
		return code, nil
	}
	acNum, amount := p.GetAc().GetAcNum(), p.GetAmountPaise()
	acct, err := ledger.Get(c.Tx, acNum)
	if errors.Is(err, ledger.ErrNoAccount) {
		return ErrDebitFailed, nil
	}
	if err != nil {
		return "", err
	}
	if !strings.EqualFold(p.GetAc().GetIfsc(), r.self.IFSC) || acct.Kind != ledger.KindCustomer {
		return ErrDebitFailed, nil
	}
	cust, ok, err := GetCustomer(c.Tx, acNum)
	if err != nil {
		return "", err
	}
	if !ok || cust.PIN == "" || !ids.CheckPINBlock(pinBlock(p), cust.PIN, t.GetId()) {
		return ErrInvalidPIN, nil
	}
	if limit := r.net.Limits.PerTxn; limit > 0 && amount > limit {
		return ErrLimit, nil
	}
	err = ledger.PostAt(c.Tx, c.Now(), ledger.PostingRef(ledger.LegDebit, t.GetId()), acNum, r.settlement, amount)
	switch {
	case errors.Is(err, ledger.ErrInsufficientFunds):
		return ErrFunds, nil
	case errors.Is(err, ledger.ErrOverflow):
		return ErrDebitFailed, nil
	case err != nil:
		return "", fmt.Errorf("debit %s: %w", t.GetId(), err)
	}
	return "", nil
}

// reversal handles ReqPay REVERSAL: the debit of the transaction, if any,
// is put back once.
func (r *Remitter) reversal(c *node.Ctx, in *node.Inbound, m *upiv1.ReqPay) error {
	t, p := m.GetTxn(), m.GetPayer()
	txnID := OrgTxnID(t)
	rec, err := ledger.LoadTxn(c.Tx, txnID, t.GetCustRef(), c.Now())
	if err != nil {
		return err
	}
	if l := rec.Reversal; l != nil {
		return r.answer(c, in, t, l) // a repeat: same answer, no money moves
	}
	leg := &ledger.Leg{
		Type: ledger.LegReversal, Result: ledger.ResultSuccess,
		AcNum: p.GetAc().GetAcNum(), IFSC: p.GetAc().GetIfsc(), Addr: p.GetAddr(),
		ReqMsgID: in.Msg.GetHead().GetMsgId(), At: c.Now(),
	}
	debit, debited, err := ledger.Posting(c.Tx, ledger.PostingRef(ledger.LegDebit, txnID))
	if err != nil {
		return err
	}
	if !debited {
		leg.ReversalRespCode = ledger.ReversalNothing
	} else {
		ref := ledger.PostingRef(ledger.LegReversal, txnID)
		if err := ledger.PostAt(c.Tx, c.Now(), ref, debit.To, debit.From, debit.AmountPaise); err != nil {
			return fmt.Errorf("reversal %s: %w", txnID, err)
		}
		num, err := ledger.NextApprovalNum(c.Tx)
		if err != nil {
			return err
		}
		leg.ReversalRespCode, leg.Ref, leg.ApprovalNum = ledger.RespCodeOK, ref, num
		leg.AmountPaise, leg.AcNum, leg.IFSC = debit.AmountPaise, debit.From, r.self.IFSC
		if d := rec.Debit; d != nil && d.Addr != "" {
			leg.Addr = d.Addr
		}
	}
	rec.SetLeg(leg)
	if err := ledger.PutTxn(c.Tx, rec); err != nil {
		return err
	}
	return r.answer(c, in, t, leg)
}

// answer sends RespPay for leg to the sender of the request in: the
// request's txn (type set to the leg's) and the leg's outcome.
func (r *Remitter) answer(c *node.Ctx, in *node.Inbound, t *upiv1.Txn, leg *ledger.Leg) error {
	return c.Send(in.From, upiv1.SwitchService_RespPay_FullMethodName, leg.RespPay(t, in.Msg.GetHead().GetMsgId()))
}

// chkTxn answers ReqChkTxn with the recorded outcome of the leg named in
// txn.sub_type (DEBIT when unset).
func (r *Remitter) chkTxn(c *node.Ctx, in *node.Inbound) error {
	t := in.Msg.GetTxn()
	legType := ledger.LegDebit
	if t.GetSubType() == upiv1.Txn_REVERSAL {
		legType = ledger.LegReversal
	}
	resp, err := ledger.RespChkTxn(c.Tx, t, OrgTxnID(t), legType, in.Msg.GetHead().GetMsgId())
	if err != nil {
		return err
	}
	return c.Send(in.From, upiv1.SwitchService_RespChkTxn_FullMethodName, resp)
}
