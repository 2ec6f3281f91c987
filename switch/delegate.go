// UPI Circle links at the switch (docs/FLOWS.md, UPI Circle, steps 11–17
// of "Link, full delegation", "Link, partial delegation", "Update and
// remove"): the delegate flow forwards a ReqDelegateAdd from one PSP to
// the other, refuses an ADD over the registry's counts (CP, CS), decides
// the link (the answer, or U69 when none came by invite_expiry and a
// grace), answers the sender and confirms the decision to the other PSP.

package upiswitch

import (
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// flowDelegate is a ReqDelegateAdd (ADD, UPDATE or REMOVE): its record is
// a delegate (recordsv1.SwitchDelegate), keyed "delegate/<txn id>".
const flowDelegate = "delegate"

// timerDelegate is the wait for a RespDelegateAdd: "delegate:<txn id>".
const timerDelegate = "delegate"

type (
	delegate = recordsv1.SwitchDelegate
	linkReg  = recordsv1.SwitchCircleLink
)

// links is the switch's link registry: link_id → its status as the switch
// decided it.
var links = store.NewTable[linkReg](store.CircleLinks)

// Link statuses (upi.v1.CircleLink.Status names).
var (
	linkPending  = upiv1.CircleLink_LINK_PENDING.String()
	linkLinked   = upiv1.CircleLink_LINKED.String()
	linkDeclined = upiv1.CircleLink_DECLINED.String()
	linkExpired  = upiv1.CircleLink_EXPIRED.String()
	linkDelinked = upiv1.CircleLink_DELINKED.String()
	linkFailed   = upiv1.CircleLink_FAILED.String()
)

func (s *Switch) delegateRoutes() []node.Route {
	return []node.Route{
		{Method: upiv1.SwitchService_ReqDelegateAdd_FullMethodName, From: fromPSP,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.ReqDelegateAdd) error { return s.validateReqDelegateAdd(in.From, m) }),
			Handle:   node.Handles(s.reqDelegateAdd)},
		{Method: upiv1.SwitchService_RespDelegateAdd_FullMethodName, From: fromPSP,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.RespDelegateAdd) error { return checkResp(in.API, m.GetResp()) }),
			Handle:   node.Handles(s.respDelegateAdd)},
	}
}

func (s *Switch) delegateTimers() []node.TimerKind {
	return []node.TimerKind{
		{Prefix: timerDelegate, Fire: byTxn(s.delegateTimedOut)},
		{Prefix: timerDelegateAuth, Fire: byTxn(s.delegateAuthTimedOut)},
	}
}

// validateReqDelegateAdd checks a ReqDelegateAdd: a DELEGATE txn, a
// delegate block with its type and sub-type, two different valid
// addresses, the link id (org_txn_id) of an UPDATE or REMOVE, and a sender
// that owns the primary (ADD, UPDATE) or either side (REMOVE).
func (s *Switch) validateReqDelegateAdd(from string, m *upiv1.ReqDelegateAdd) error {
	t, d := m.GetTxn(), m.GetDelegate()
	if t.GetType() != upiv1.Txn_DELEGATE {
		return node.Refuse("ReqDelegateAdd must be txn.type DELEGATE, not %s", t.GetType())
	}
	if d == nil || d.GetType() == upiv1.Delegate_TYPE_UNSPECIFIED || d.GetSubType() == upiv1.Delegate_SUB_TYPE_UNSPECIFIED {
		return node.Refuse("ReqDelegateAdd needs delegate with type (ADD, UPDATE, REMOVE) and sub_type (FULL, PARTIAL)")
	}
	for _, a := range []struct{ field, v string }{{"delegate.primary_addr", d.GetPrimaryAddr()}, {"delegate.secondary_addr", d.GetSecondaryAddr()}} {
		if err := ids.ValidateVPA(a.v); err != nil {
			return node.Refuse("%s: %v", a.field, err)
		}
	}
	if ids.NormalizeVPA(d.GetPrimaryAddr()) == ids.NormalizeVPA(d.GetSecondaryAddr()) {
		return node.Refuse("delegate.primary_addr and secondary_addr are both %s: a link needs two users", d.GetPrimaryAddr())
	}
	if d.GetType() != upiv1.Delegate_ADD && !ids.ValidID(t.GetOrgTxnId()) {
		return node.Refuse("ReqDelegateAdd %s needs txn.org_txn_id, the link id", d.GetType())
	}
	if d.GetSubType() == upiv1.Delegate_FULL && d.GetType() != upiv1.Delegate_REMOVE && d.GetUmn() == "" {
		return node.Refuse("ReqDelegateAdd %s FULL needs delegate.umn", d.GetType())
	}
	pp, okP := s.net.PSPForVPA(d.GetPrimaryAddr())
	sp, okS := s.net.PSPForVPA(d.GetSecondaryAddr())
	if !okP {
		return node.Refuse("delegate.primary_addr %s: no PSP owns handle @%s", d.GetPrimaryAddr(), ids.HandleOf(d.GetPrimaryAddr()))
	}
	if pp.Name != from {
		if d.GetType() != upiv1.Delegate_REMOVE || !okS || sp.Name != from {
			return node.Refuse("primary %s of a ReqDelegateAdd %s is not a user of %s (handle @%s)",
				d.GetPrimaryAddr(), d.GetType(), from, ids.HandleOf(d.GetPrimaryAddr()))
		}
	}
	return nil
}

// reqDelegateAdd starts the delegate flow: refuse an ADD the registry's
// counts forbid (CP, CS), or an UPDATE or REMOVE of no LINKED link (CN),
// with a RespDelegateAdd FAILURE to the sender; else forward the request
// to the other side's PSP and wait for its answer.
func (s *Switch) reqDelegateAdd(c *node.Ctx, in *node.Inbound, m *upiv1.ReqDelegateAdd) error {
	id := m.GetTxn().GetId()
	if c.Tx.Has(store.Txns, []byte(flowKey(flowDelegate, id))) {
		return node.Refuse("duplicate transaction id %s: the switch already has a ReqDelegateAdd with this id", id)
	}
	d := m.GetDelegate()
	fwd := &upiv1.ReqDelegateAdd{Txn: m.GetTxn(), Delegate: m.GetDelegate(), Payer: m.GetPayer(), Payee: m.GetPayee()}
	req, err := proto.Marshal(fwd)
	if err != nil {
		return err
	}
	r := &delegate{
		Id: id, LinkId: id, Type: d.GetType().String(), Status: upiv1.Resp_PENDING.String(),
		Originator: in.From, OrigMsgId: m.GetHead().GetMsgId(), Created: store.Nanos(c.Now()), Req: req,
	}
	if d.GetType() != upiv1.Delegate_ADD {
		r.LinkId = m.GetTxn().GetOrgTxnId()
	}
	primary, secondary := ids.NormalizeVPA(d.GetPrimaryAddr()), ids.NormalizeVPA(d.GetSecondaryAddr())
	pp, _ := s.net.PSPForVPA(primary)
	sp, ok := s.net.PSPForVPA(secondary)
	to := ""
	switch {
	case in.From == pp.Name && (d.GetType() != upiv1.Delegate_REMOVE || !ok || sp.Name != pp.Name):
		if ok {
			to = sp.Name
		}
	default: // a REMOVE by the secondary's PSP
		to = pp.Name
	}
	if ok && sp.Name == pp.Name && d.GetType() == upiv1.Delegate_REMOVE {
		// One PSP is both sides: the side the REMOVE is for is the one that
		// did not send it, which only the PSP knows; it gets it back.
		to = pp.Name
	}
	fail := func(code, reason string) error {
		r.Reason = reason
		return s.decideDelegate(c, r, &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: code}, false)
	}
	if to == "" {
		return fail(upi.CodeAddrResolution, "no PSP owns handle @"+ids.HandleOf(secondary))
	}
	if d.GetType() == upiv1.Delegate_ADD {
		if c.Tx.Has(store.CircleLinks, []byte(id)) {
			return node.Refuse("duplicate link id %s: the switch already has a link with this id", id)
		}
		var mine, taken int
		if err := links.Scan(c.Tx, "", func(_ string, l *linkReg) (bool, error) {
			if l.Status != linkPending && l.Status != linkLinked {
				return true, nil
			}
			if l.Primary == primary {
				mine++
			}
			if l.Secondary == secondary {
				taken++
			}
			return true, nil
		}); err != nil {
			return err
		}
		if max := s.net.Circle.MaxSecondaries; max > 0 && mine >= max {
			return fail(upi.CodeMaxSecondaries, "the primary already has circle.max_secondaries LINKED or LINK_PENDING secondaries")
		}
		if taken > 0 {
			return fail(upi.CodeHasPrimary, "the secondary is already LINKED or LINK_PENDING to a primary")
		}
		if err := links.Put(c.Tx, id, &linkReg{
			LinkId: id, Primary: primary, Secondary: secondary, Mode: d.GetSubType().String(), Status: linkPending,
			Umn: d.GetUmn(), PrimaryPsp: pp.Name, SecondaryPsp: to, Created: store.Nanos(c.Now()), Updated: store.Nanos(c.Now()),
		}); err != nil {
			return err
		}
	} else {
		l, ok, err := links.Get(c.Tx, r.LinkId)
		if err != nil {
			return err
		}
		if !ok || l.Status != linkLinked || l.Primary != primary || l.Secondary != secondary {
			return fail(upi.CodeNoLink, "no LINKED link "+r.LinkId+" between these users at the switch")
		}
	}
	r.Counterparty = to
	if r.Fwd, err = send(c, to, upiv1.PspService_ReqDelegateAdd_FullMethodName, fwd); err != nil {
		return err
	}
	r.State = StateFwdSent
	wait := s.net.Timeouts.AuthDetails
	if d.GetType() == upiv1.Delegate_ADD {
		wait += s.net.Circle.InviteExpiry
	}
	if err := s.startTimer(c, timerDelegate, id, wait); err != nil {
		return err
	}
	return saveDelegate(c, r)
}

// The delegate flow's own state (the others are the pay record's).
const StateFwdSent State = "FWD_SENT"

// respDelegateAdd takes the other PSP's answer and decides the request; an
// answer that comes after the decision is noted (U70 when the switch had
// timed out waiting) and changes nothing.
func (s *Switch) respDelegateAdd(c *node.Ctx, in *node.Inbound, m *upiv1.RespDelegateAdd) error {
	r, err := loadFor(c, in, flowDelegate, "ReqDelegateAdd", func(r *delegate) *exchange { return r.Fwd })
	if err != nil || r == nil {
		return err
	}
	if r.State != StateFwdSent {
		n, trace := lateNoteFor(c, in, r.State, "", m.GetResp(), r.Fwd)
		keepLate(&r.Late, &r.LateDropped, n)
		if err := c.NoteReceived(trace); err != nil {
			return err
		}
		return saveDelegate(c, r)
	}
	answerExchange(r.Fwd, c.Now(), m.GetResp())
	return s.decideDelegate(c, r, m.GetResp(), true)
}

// delegateTimedOut decides a request no answer came for: an ADD or UPDATE
// FAILURE U69; a REMOVE SUCCESS, for a remove is never declined.
func (s *Switch) delegateTimedOut(c *node.Ctx, txnID string) error {
	r, err := timeoutFor[delegate](c, flowDelegate, txnID, StateFwdSent)
	if err != nil || r == nil {
		return err
	}
	r.Fwd.TimedOut = store.Nanos(c.Now())
	resp := &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeExpired}
	r.Reason = "no RespDelegateAdd from " + r.Counterparty + " in time"
	if r.Type == upiv1.Delegate_REMOVE.String() {
		resp = &upiv1.Resp{Result: upiv1.Resp_SUCCESS}
	}
	return s.decideDelegate(c, r, resp, true)
}

// decideDelegate decides r with resp: the registry takes the outcome, the
// sender gets RespDelegateAdd, and, when the request was forwarded
// (confirm), the other PSP gets a ReqTxnConfirmation of the decision.
func (s *Switch) decideDelegate(c *node.Ctx, r *delegate, resp *upiv1.Resp, confirm bool) error {
	req := &upiv1.ReqDelegateAdd{}
	if err := proto.Unmarshal(r.Req, req); err != nil {
		return err
	}
	r.Status, r.ErrCode = resp.GetResult().String(), resp.GetErrCode()
	if err := c.CancelTimer(timerName(timerDelegate, r.Id)); err != nil {
		return err
	}
	if confirm { // a refused request never reached the registry
		if err := s.registerOutcome(c, r, req.GetDelegate()); err != nil {
			return err
		}
	}
	ans := &upiv1.RespDelegateAdd{
		Txn: req.GetTxn(), Delegate: req.GetDelegate(),
		Resp: &upiv1.Resp{ReqMsgId: r.OrigMsgId, Result: resp.GetResult(), ErrCode: resp.GetErrCode()},
	}
	if err := c.Send(r.Originator, upiv1.PspService_RespDelegateAdd_FullMethodName, ans); err != nil {
		return err
	}
	r.State = StateClosed
	if confirm {
		cm := &upiv1.ReqTxnConfirmation{
			Txn:  proto.Clone(req.GetTxn()).(*upiv1.Txn),
			Resp: &upiv1.Resp{ReqMsgId: r.Fwd.GetMsgId(), Result: resp.GetResult(), ErrCode: resp.GetErrCode()},
		}
		var err error
		if r.Confirm, err = send(c, r.Counterparty, upiv1.PspService_ReqTxnConfirmation_FullMethodName, cm); err != nil {
			return err
		}
		r.State = StateConfirmSent
	}
	id, result, code, reason := r.Id, r.Status, r.ErrCode, r.Reason
	c.Tx.OnCommit(func() {
		s.log.Info("delegate decided", "txn", id, "result", result, "err_code", code, "reason", reason)
	})
	return saveDelegate(c, r)
}

// registerOutcome applies a decided request to the link registry.
func (s *Switch) registerOutcome(c *node.Ctx, r *delegate, d *upiv1.Delegate) error {
	l, ok, err := links.Get(c.Tx, r.LinkId)
	if err != nil || !ok {
		return err
	}
	ok = r.Status == upiv1.Resp_SUCCESS.String()
	switch d.GetType() {
	case upiv1.Delegate_ADD:
		if l.Status != linkPending {
			return nil
		}
		l.Status = addStatus(ok, r.ErrCode)
		if !ok {
			l.ErrCode = r.ErrCode
		}
	case upiv1.Delegate_UPDATE:
		if ok && d.GetUmn() != "" {
			l.Umn = d.GetUmn()
		}
	case upiv1.Delegate_REMOVE:
		if ok {
			l.Status = linkDelinked
		}
	}
	l.Updated = store.Nanos(c.Now())
	return links.Put(c.Tx, l.LinkId, l)
}

// addStatus is a link's status, as this node records it, after its ADD
// was decided.
func addStatus(ok bool, code string) string { return upi.LinkStatusAfterAdd(ok, code).String() }

// delegateConfirmed closes a delegate flow once the other PSP answered its
// ReqTxnConfirmation (RespTxnConfirmation for a DELEGATE txn).
func (s *Switch) delegateConfirmed(c *node.Ctx, in *node.Inbound, m *upiv1.RespTxnConfirmation) error {
	r, err := loadFor(c, in, flowDelegate, "ReqTxnConfirmation", func(r *delegate) *exchange { return r.Confirm })
	if err != nil || r == nil {
		return err
	}
	if r.State != StateConfirmSent || r.Confirm.Answered != 0 {
		n, trace := lateNoteFor(c, in, r.State, "", m.GetResp(), nil)
		keepLate(&r.Late, &r.LateDropped, n)
		if err := c.NoteReceived(trace); err != nil {
			return err
		}
		return saveDelegate(c, r)
	}
	answerExchange(r.Confirm, c.Now(), m.GetResp())
	r.State = StateClosed
	return saveDelegate(c, r)
}

func saveDelegate(c *node.Ctx, r *delegate) error {
	return store.NewTable[delegate](store.Txns).Put(c.Tx, flowKey(flowDelegate, r.Id), r)
}
