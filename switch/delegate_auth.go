// Delegated payments at the switch (docs/FLOWS.md, "Payment, full
// delegation" steps 4–13): the delegate-auth flow takes PSP(S)'s
// ReqDelegateAuth, checks the link LINKED in the registry (else FAILURE CN
// back to PSP(S)), forwards it to PSP(P) and forwards PSP(P)'s
// RespDelegateAuth back. The ReqPay PSP(P) sends for the same txn id is a
// pay flow whose parent is this flow: it carries the mandate to the
// remitter instead of a PIN block, is answered to PSP(P) as a pay is, and
// its outcome is confirmed to PSP(S) as well as to the payee's PSP.

package upiswitch

import (
	"strings"

	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// flowDelegateAuth is a ReqDelegateAuth: its record is a delegate
// (recordsv1.SwitchDelegate, type AUTH), keyed "delegateauth/<txn id>".
const flowDelegateAuth = "delegateauth"

// The delegate-auth flow's own state: PSP(P) answered SUCCESS, the pay
// goes on.
const StateAuthorised State = "AUTHORISED"

// delegatedPurpose reports whether a txn.purpose is a delegated payment's:
// 87 (UPI Circle), or 59 which PSP(P) may send under full delegation.
func delegatedPurpose(p string) bool { return p == "87" || p == "59" }

func (s *Switch) delegateAuthRoutes() []node.Route {
	return []node.Route{
		{Method: upiv1.SwitchService_ReqDelegateAuth_FullMethodName, From: fromPSP,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.ReqDelegateAuth) error { return s.validateReqDelegateAuth(in.From, m) }),
			Handle:   node.Handles(s.reqDelegateAuth)},
		{Method: upiv1.SwitchService_RespDelegateAuth_FullMethodName, From: fromPSP,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.RespDelegateAuth) error { return checkResp(in.API, m.GetResp()) }),
			Handle:   node.Handles(s.respDelegateAuth)},
	}
}

// validateReqDelegateAuth: a FULL delegate block with the UMN and both
// users, the secondary a user of the sender, the payer the primary, a
// payee and an amount.
func (s *Switch) validateReqDelegateAuth(from string, m *upiv1.ReqDelegateAuth) error {
	d := m.GetDelegate()
	if !ids.ValidID(m.GetTxn().GetId()) {
		return node.Refuse("ReqDelegateAuth needs txn.id, 3 letters and 32 hex digits")
	}
	switch d.GetSubType() {
	case upiv1.Delegate_FULL:
		if d.GetUmn() == "" {
			return node.Refuse("ReqDelegateAuth FULL needs delegate.umn")
		}
	case upiv1.Delegate_PARTIAL:
		if d.GetUmn() != "" {
			return node.Refuse("ReqDelegateAuth PARTIAL has no delegate.umn")
		}
	default:
		return node.Refuse("ReqDelegateAuth with delegate.sub_type %s is not supported by this switch (FULL or PARTIAL)", d.GetSubType())
	}
	for _, a := range []struct{ field, v string }{{"delegate.primary_addr", d.GetPrimaryAddr()}, {"delegate.secondary_addr", d.GetSecondaryAddr()}, {"payee.addr", m.GetPayee().GetAddr()}} {
		if err := ids.ValidateVPA(a.v); err != nil {
			return node.Refuse("%s: %v", a.field, err)
		}
	}
	if !strings.EqualFold(m.GetPayer().GetAddr(), d.GetPrimaryAddr()) {
		return node.Refuse("ReqDelegateAuth payer.addr %q is not the primary %s", m.GetPayer().GetAddr(), d.GetPrimaryAddr())
	}
	if m.GetPayer().GetAmountPaise() <= 0 {
		return node.Refuse("ReqDelegateAuth needs payer.amount_paise > 0")
	}
	if sp, ok := s.net.PSPForVPA(d.GetSecondaryAddr()); !ok || sp.Name != from {
		return node.Refuse("secondary %s of a ReqDelegateAuth is not a user of %s", d.GetSecondaryAddr(), from)
	}
	return nil
}

// reqDelegateAuth starts the flow: FAILURE CN to PSP(S) when the registry
// has no LINKED link between the users, else the request to PSP(P).
func (s *Switch) reqDelegateAuth(c *node.Ctx, in *node.Inbound, m *upiv1.ReqDelegateAuth) error {
	id := m.GetTxn().GetId()
	if c.Tx.Has(store.Txns, []byte(flowKey(flowDelegateAuth, id))) || c.Tx.Has(store.Txns, []byte(flowKey(flowPay, id))) {
		return node.Refuse("duplicate transaction id %s: the switch already has a transaction with this id", id)
	}
	d := m.GetDelegate()
	fwd := &upiv1.ReqDelegateAuth{Txn: m.GetTxn(), Delegate: d, Payer: m.GetPayer(), Payee: m.GetPayee()}
	req, err := proto.Marshal(fwd)
	if err != nil {
		return err
	}
	r := &delegate{
		Id: id, Type: "AUTH", Status: upiv1.Resp_PENDING.String(),
		Originator: in.From, OrigMsgId: m.GetHead().GetMsgId(), Created: store.Nanos(c.Now()), Req: req,
	}
	primary, secondary := ids.NormalizeVPA(d.GetPrimaryAddr()), ids.NormalizeVPA(d.GetSecondaryAddr())
	var link *linkReg
	if err := links.Scan(c.Tx, "", func(_ string, l *linkReg) (bool, error) {
		if l.Status == linkLinked && l.Primary == primary && l.Secondary == secondary {
			link = l
			return false, nil
		}
		return true, nil
	}); err != nil {
		return err
	}
	partial := d.GetSubType() == upiv1.Delegate_PARTIAL
	if link == nil || (!partial && link.Umn != d.GetUmn()) {
		r.Reason = "no LINKED link between " + primary + " and " + secondary + " with this UMN at the switch"
		return s.endDelegateAuth(c, r, &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeNoLink})
	}
	r.LinkId, r.Counterparty = link.LinkId, link.PrimaryPsp
	if r.Fwd, err = send(c, link.PrimaryPsp, upiv1.PspService_ReqDelegateAuth_FullMethodName, fwd); err != nil {
		return err
	}
	r.State = StateFwdSent
	if !partial { // a mandate not ACTIVE: PSP(P) asks the primary
		active, err := mandateActiveAt(c.Tx, d.GetUmn(), c.Now())
		if err != nil {
			return err
		}
		r.AwaitsPrimary = !active
	}
	wait := s.net.Timeouts.AuthDetails
	if partial || r.AwaitsPrimary { // the primary has circle.approval_expiry to approve
		wait += s.net.Circle.ApprovalExpiry
	}
	if err := s.startTimer(c, timerDelegateAuth, id, wait); err != nil {
		return err
	}
	return saveDelegateAuth(c, r)
}

// timerDelegateAuth is the switch's wait for PSP(P) to act on a forwarded
// ReqDelegateAuth: its ReqPay or its RespDelegateAuth.
const timerDelegateAuth = "delegateauth"

// delegateAuthTimedOut ends a delegated payment that PSP(P) neither paid
// (no ReqPay) nor answered within timeouts.auth_details: FAILURE U09 to
// PSP(S), as a pay's unanswered ReqAuthDetails ends. A ReqPay after it is
// refused (the flow has ended) and a RespDelegateAuth after it is late.
// Once the ReqPay came, the pay decides, whatever the time.
func (s *Switch) delegateAuthTimedOut(c *node.Ctx, txnID string) error {
	r, err := timeoutFor[delegate](c, flowDelegateAuth, txnID, StateFwdSent)
	if err != nil || r == nil || c.Tx.Has(store.Txns, []byte(flowKey(flowPay, txnID))) {
		return err
	}
	req := &upiv1.ReqDelegateAuth{}
	if err := proto.Unmarshal(r.Req, req); err != nil {
		return err
	}
	code := upi.CodeAuthTimeout
	if req.GetDelegate().GetSubType() == upiv1.Delegate_PARTIAL || r.AwaitsPrimary {
		code = upi.CodeExpired // the primary did not approve in time
	}
	r.Fwd.TimedOut = store.Nanos(c.Now())
	r.Reason = "no ReqPay or RespDelegateAuth from " + r.Counterparty + " in time"
	return s.endDelegateAuth(c, r, &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: code})
}

// respDelegateAuth forwards PSP(P)'s answer to PSP(S): a FAILURE ends the
// flow, a SUCCESS leaves it to the pay.
func (s *Switch) respDelegateAuth(c *node.Ctx, in *node.Inbound, m *upiv1.RespDelegateAuth) error {
	r, err := loadFor(c, in, flowDelegateAuth, "ReqDelegateAuth", func(r *delegate) *exchange { return r.Fwd })
	if err != nil || r == nil {
		return err
	}
	if r.Fwd.Answered != 0 || r.Fwd.TimedOut != 0 {
		n, trace := lateNoteFor(c, in, r.State, "", m.GetResp(), r.Fwd)
		keepLate(&r.Late, &r.LateDropped, n)
		if err := c.NoteReceived(trace); err != nil {
			return err
		}
		return saveDelegateAuth(c, r)
	}
	answerExchange(r.Fwd, c.Now(), m.GetResp())
	if m.GetResp().GetResult() == upiv1.Resp_FAILURE {
		r.Reason = "declined by " + in.From
		if r.State == StateClosed { // the pay already ended
			return saveDelegateAuth(c, r)
		}
		return s.endDelegateAuth(c, r, m.GetResp())
	}
	if r.State == StateFwdSent {
		r.State = StateAuthorised
	}
	return s.answerDelegateAuth(c, r, m.GetResp(), false)
}

// endDelegateAuth ends the flow FAILURE with resp, told to PSP(S).
func (s *Switch) endDelegateAuth(c *node.Ctx, r *delegate, resp *upiv1.Resp) error {
	r.State = StateClosed
	return s.answerDelegateAuth(c, r, resp, true)
}

// answerDelegateAuth sends PSP(S) RespDelegateAuth with resp's outcome,
// and records it as the flow's when decided.
func (s *Switch) answerDelegateAuth(c *node.Ctx, r *delegate, resp *upiv1.Resp, decided bool) error {
	req := &upiv1.ReqDelegateAuth{}
	if err := proto.Unmarshal(r.Req, req); err != nil {
		return err
	}
	if decided {
		r.Status, r.ErrCode = resp.GetResult().String(), resp.GetErrCode()
	}
	ans := &upiv1.RespDelegateAuth{
		Txn:  req.GetTxn(),
		Resp: &upiv1.Resp{ReqMsgId: r.OrigMsgId, Result: resp.GetResult(), ErrCode: resp.GetErrCode()},
	}
	if err := c.Send(r.Originator, upiv1.PspService_RespDelegateAuth_FullMethodName, ans); err != nil {
		return err
	}
	return saveDelegateAuth(c, r)
}

// delegatedPay makes r, a new pay flow of a ReqPay with a mandate, the
// child of the delegate-auth flow of its txn id: refused unless PSP(P),
// the one asked, sends it for the users and UMN of that flow while it is
// open.
func (s *Switch) delegatedPay(c *node.Ctx, in *node.Inbound, m *upiv1.ReqPay, r *record) error {
	id := m.GetTxn().GetId()
	da, err := loadFlow[delegate](c.Tx, flowDelegateAuth, id)
	if err != nil {
		return err
	}
	if da == nil {
		return node.Refuse("ReqPay with a mandate for txn %s, which no ReqDelegateAuth at the switch named", id)
	}
	req := &upiv1.ReqDelegateAuth{}
	if err := proto.Unmarshal(da.Req, req); err != nil {
		return err
	}
	// The primary approves it with their PIN: a PARTIAL flow, or a FULL one
	// whose mandate is not ACTIVE (PSP(P) sends no mandate then).
	approved := req.GetDelegate().GetSubType() == upiv1.Delegate_PARTIAL || m.GetMandate() == nil
	switch {
	case req.GetDelegate().GetSubType() == upiv1.Delegate_PARTIAL && m.GetMandate() != nil:
		return node.Refuse("ReqPay for delegated txn %s under partial delegation carries the primary's PIN, not a mandate", id)
	case approved && m.GetTxn().GetPurpose() != "87":
		return node.Refuse("ReqPay for delegated txn %s needs txn.purpose 87, not %q", id, m.GetTxn().GetPurpose())
	case approved && len(m.GetPayer().GetCreds()) == 0:
		return node.Refuse("ReqPay for delegated txn %s approved by the primary needs the primary's PIN block (or, under full delegation, the mandate)", id)
	}
	switch {
	case da.State == StateClosed:
		return node.Refuse("delegated payment %s has ended (%s %s)", id, da.Status, da.ErrCode)
	case da.Counterparty != in.From:
		return node.Refuse("ReqPay for delegated txn %s must come from %s, the primary's PSP", id, da.Counterparty)
	case !approved && m.GetMandate().GetUmn() != req.GetDelegate().GetUmn():
		return node.Refuse("ReqPay mandate.umn %s is not the UMN %s of delegated txn %s", m.GetMandate().GetUmn(), req.GetDelegate().GetUmn(), id)
	case !strings.EqualFold(m.GetPayer().GetAddr(), req.GetDelegate().GetPrimaryAddr()):
		return node.Refuse("ReqPay payer %s is not the primary %s of delegated txn %s", m.GetPayer().GetAddr(), req.GetDelegate().GetPrimaryAddr(), id)
	case !strings.EqualFold(m.GetPayee().GetAddr(), req.GetPayee().GetAddr()):
		return node.Refuse("ReqPay payee %s is not the payee %s of delegated txn %s", m.GetPayee().GetAddr(), req.GetPayee().GetAddr(), id)
	case r.AmountPaise != req.GetPayer().GetAmountPaise():
		return node.Refuse("ReqPay amount %d is not the amount %d of delegated txn %s", r.AmountPaise, req.GetPayer().GetAmountPaise(), id)
	}
	r.Parent = &parentRef{Kind: flowDelegateAuth, Id: id}
	r.Delegator = da.Originator
	r.MandateUmn, r.MandateSignature = m.GetMandate().GetUmn(), m.GetMandate().GetSignature()
	return nil
}

// delegateAuthParent hears the outcome of a delegated payment's pay flow.
type delegateAuthParent struct{}

// childReport closes the delegate-auth flow with the pay's decided
// outcome (a DEEMED one leaves it open).
func (delegateAuthParent) childReport(c *node.Ctx, parentID string, child *record) error {
	if child.State != StateClosed {
		return nil
	}
	r, err := loadFlow[delegate](c.Tx, flowDelegateAuth, parentID)
	if err != nil || r == nil {
		return err
	}
	r.State, r.Status, r.ErrCode = StateClosed, child.Status, child.ErrCode
	return saveDelegateAuth(c, r)
}

func saveDelegateAuth(c *node.Ctx, r *delegate) error {
	return store.NewTable[delegate](store.Txns).Put(c.Tx, flowKey(flowDelegateAuth, r.Id), r)
}
