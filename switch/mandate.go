package upiswitch

import (
	"time"

	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// The mandate flow (docs/FLOWS.md, UPI Circle, "Link, full delegation"
// steps 3-10, and "Update and remove"): a ReqMandate CREATE, UPDATE or
// REVOKE from PSP(P) goes as ReqAuthMandate to PSP(S), the PSP of the
// payee's handle, then as ReqMandate to the remitter (by the payer's
// IFSC); the remitter's RespMandate, signature included, goes to PSP(P),
// and ReqMandateConfirmation without the signature to PSP(S).
//
//	AUTH_SENT → REMIT_SENT → CONFIRM_SENT → CLOSED
//
// A decline or timeout before the remitter answers ends the flow with a
// RespMandate FAILURE to PSP(P): U29 for a payee handle no PSP has (PSP(S)
// never hears of it), PSP(S)'s own code, U09 when PSP(S) does not answer
// within timeouts.auth_details, U30 for a payer IFSC no bank has, U67 when
// the remitter does not answer within timeouts.debit (the simulator's
// choice: no source settles a mandate's timeouts). PSP(S) gets a
// ReqMandateConfirmation once it answered SUCCESS, whatever the outcome.

// flowMandate is the mandate flow's kind: its records are
// "mandate/<txn id>" in store.Txns.
const flowMandate = "mandate"

// The mandate flow's states (beside StateAuthSent, StateConfirmSent and
// StateClosed).
const (
	// StateRemitSent: ReqMandate is with the remitter.
	StateRemitSent State = "REMIT_SENT"
)

// The mandate flow's timers: "mandate-auth:<txn id>" while PSP(S) has the
// ReqAuthMandate, "mandate-remit:<txn id>" while the remitter has the
// ReqMandate.
const (
	timerMandateAuth  = "mandate-auth"
	timerMandateRemit = "mandate-remit"
)

type mandateRec = recordsv1.SwitchMandate

func loadMandate(tx *store.Tx, id string) (*mandateRec, error) {
	return loadFlow[mandateRec](tx, flowMandate, id)
}

func saveMandate(r *mandateRec, c *node.Ctx) error {
	r.Updated = store.Nanos(c.Now())
	return store.NewTable[mandateRec](store.Txns).Put(c.Tx, flowKey(flowMandate, r.Id), r)
}

func (s *Switch) mandateRoutes() []node.Route {
	return []node.Route{
		{Method: upiv1.SwitchService_ReqMandate_FullMethodName, From: fromPSP,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.ReqMandate) error { return s.validateReqMandate(in.From, m) }),
			Handle:   node.Handles(s.reqMandate)},
		{Method: upiv1.SwitchService_RespAuthMandate_FullMethodName, From: fromPSP,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.RespAuthMandate) error {
				if m.GetResp().GetResult() == upiv1.Resp_SUCCESS && m.GetPayee().GetAc() != nil {
					return node.Refuse("RespAuthMandate SUCCESS must carry no payee account details")
				}
				return checkResp(in.API, m.GetResp())
			}),
			Handle: node.Handles(s.respAuthMandate)},
		{Method: upiv1.SwitchService_RespMandate_FullMethodName, From: fromBank,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.RespMandate) error { return checkResp(in.API, m.GetResp()) }),
			Handle:   node.Handles(s.respMandate)},
		{Method: upiv1.SwitchService_RespMandateConfirmation_FullMethodName, From: fromPSP,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.RespMandateConfirmation) error { return checkResp(in.API, m.GetResp()) }),
			Handle:   node.Handles(s.respMandateConfirmation)},
	}
}

func (s *Switch) mandateTimers() []node.TimerKind {
	return []node.TimerKind{
		{Prefix: timerMandateAuth, Fire: byTxn(s.mandateAuthTimedOut)},
		{Prefix: timerMandateRemit, Fire: byTxn(s.mandateRemitTimedOut)},
	}
}

// validateReqMandate checks a ReqMandate from PSP(P): its type, a UMN, the
// payer one of the sender's users and, but for a REVOKE, the payer's
// account, PIN block and a positive amount.
func (s *Switch) validateReqMandate(from string, m *upiv1.ReqMandate) error {
	t := m.GetTxn().GetType()
	if t != upiv1.Txn_CREATE && t != upiv1.Txn_UPDATE && t != upiv1.Txn_REVOKE {
		return node.Refuse("ReqMandate must be type CREATE, UPDATE or REVOKE, not %s", t)
	}
	if m.GetMandate().GetUmn() == "" {
		return node.Refuse("ReqMandate needs mandate.umn")
	}
	if t != upiv1.Txn_CREATE && m.GetTxn().GetOrgTxnId() == "" {
		return node.Refuse("ReqMandate %s needs txn.org_txn_id (the mandate's link id)", t)
	}
	if err := ids.ValidateVPA(m.GetPayee().GetAddr()); err != nil {
		return node.Refuse("payee.addr: %v", err)
	}
	payer := m.GetPayer()
	if psp, ok := s.net.PSPForVPA(payer.GetAddr()); !ok || psp.Name != from {
		return node.Refuse("payer %s of a ReqMandate is not a user of %s (handle @%s)", payer.GetAddr(), from, ids.HandleOf(payer.GetAddr()))
	}
	if err := checkAc("payer", payer.GetAc()); err != nil {
		return err
	}
	if t == upiv1.Txn_REVOKE {
		return nil
	}
	if m.GetMandate().GetAmountPaise() <= 0 {
		return node.Refuse("ReqMandate %s needs mandate.amount_paise greater than zero", t)
	}
	if !hasPIN(payer) {
		return node.Refuse("ReqMandate %s needs payer.creds with a PIN block (type PIN)", t)
	}
	return nil
}

// reqMandate starts the flow: route the payee's handle and ask its PSP.
func (s *Switch) reqMandate(c *node.Ctx, in *node.Inbound, m *upiv1.ReqMandate) error {
	id := m.GetTxn().GetId()
	if prev, err := loadMandate(c.Tx, id); err != nil || prev != nil {
		if err != nil {
			return err
		}
		return node.Refuse("transaction %s: the switch already has a ReqMandate with this id (%s)", id, prev.Status)
	}
	req, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	r := &mandateRec{
		Id: id, Type: m.GetTxn().GetType().String(), Status: upiv1.Resp_PENDING.String(), Umn: m.GetMandate().GetUmn(),
		Originator: in.From, OrigMsgId: m.GetHead().GetMsgId(), Req: req, Created: store.Nanos(c.Now()),
	}
	if code := c.Decline(); code != "" {
		r.Reason = "declined by a rule of the network file"
		return s.finishMandate(c, r, nil, upiv1.Resp_FAILURE, code)
	}
	psp, ok := s.net.PSPForVPA(m.GetPayee().GetAddr())
	if !ok {
		r.Reason = "no PSP owns handle @" + ids.HandleOf(m.GetPayee().GetAddr())
		return s.finishMandate(c, r, nil, upiv1.Resp_FAILURE, upi.CodeAddrResolution)
	}
	r.Counterparty = psp.Name
	payer := proto.Clone(m.GetPayer()).(*upiv1.Party)
	payer.Creds = nil
	md := proto.Clone(m.GetMandate()).(*upiv1.Mandate)
	md.Signature = ""
	r.Auth, err = send(c, psp.Name, upiv1.PspService_ReqAuthMandate_FullMethodName, &upiv1.ReqAuthMandate{
		Txn: proto.Clone(m.GetTxn()).(*upiv1.Txn), Mandate: md, Payer: payer,
		Payee: &upiv1.Party{Addr: m.GetPayee().GetAddr()},
	})
	if err != nil {
		return err
	}
	r.State = StateAuthSent
	if err := s.startTimer(c, timerMandateAuth, id, s.net.Timeouts.AuthDetails); err != nil {
		return err
	}
	return saveMandate(r, c)
}

// reqOf is the ReqMandate r was started with.
func reqOf(r *mandateRec) (*upiv1.ReqMandate, error) {
	var m upiv1.ReqMandate
	return &m, proto.Unmarshal(r.Req, &m)
}

// respAuthMandate takes PSP(S)'s answer: on SUCCESS the ReqMandate goes
// to the remitter, with the creds, which the switch then forgets.
func (s *Switch) respAuthMandate(c *node.Ctx, in *node.Inbound, m *upiv1.RespAuthMandate) error {
	r, err := loadFor(c, in, flowMandate, "ReqAuthMandate", func(r *mandateRec) *exchange { return r.Auth })
	if err != nil || r == nil {
		return err
	}
	if r.State != StateAuthSent {
		return s.lateMandate(c, in, r, m.GetResp(), r.Auth)
	}
	if err := c.CancelTimer(timerName(timerMandateAuth, r.Id)); err != nil {
		return err
	}
	answerExchange(r.Auth, c.Now(), m.GetResp())
	if m.GetResp().GetResult() == upiv1.Resp_FAILURE {
		r.Reason = "declined by " + in.From
		return s.finishMandate(c, r, nil, upiv1.Resp_FAILURE, m.GetResp().GetErrCode())
	}
	req, err := reqOf(r)
	if err != nil {
		return err
	}
	r.PayeeName = m.GetPayee().GetName()
	bank, ok := s.net.BankForIFSC(req.GetPayer().GetAc().GetIfsc())
	if !ok {
		r.Reason = "no bank has the payer's IFSC " + req.GetPayer().GetAc().GetIfsc()
		return s.finishMandate(c, r, nil, upiv1.Resp_FAILURE, upi.CodeDebitFailed)
	}
	r.Remitter = bank.Name
	md := proto.Clone(req.GetMandate()).(*upiv1.Mandate)
	md.Signature = ""
	r.Remit, err = send(c, bank.Name, upiv1.RemitterService_ReqMandate_FullMethodName, &upiv1.ReqMandate{
		Txn: proto.Clone(req.GetTxn()).(*upiv1.Txn), Mandate: md, Payer: proto.Clone(req.GetPayer()).(*upiv1.Party),
		Payee: &upiv1.Party{Addr: req.GetPayee().GetAddr(), Name: r.PayeeName},
	})
	if err != nil {
		return err
	}
	req.Payer.Creds = nil // kept only until sent to the remitter
	if r.Req, err = proto.Marshal(req); err != nil {
		return err
	}
	r.State = StateRemitSent
	if err := s.startTimer(c, timerMandateRemit, r.Id, s.net.Timeouts.Debit); err != nil {
		return err
	}
	return saveMandate(r, c)
}

// respMandate takes the remitter's answer and decides the flow with it.
func (s *Switch) respMandate(c *node.Ctx, in *node.Inbound, m *upiv1.RespMandate) error {
	r, err := loadFor(c, in, flowMandate, "ReqMandate", func(r *mandateRec) *exchange { return r.Remit })
	if err != nil || r == nil {
		return err
	}
	if r.State != StateRemitSent {
		return s.lateMandate(c, in, r, m.GetResp(), r.Remit)
	}
	if u := m.GetMandate().GetUmn(); u != "" && u != r.Umn {
		return node.Refuse("RespMandate for transaction %s names mandate %s, not %s", r.Id, u, r.Umn)
	}
	if err := c.CancelTimer(timerName(timerMandateRemit, r.Id)); err != nil {
		return err
	}
	answerExchange(r.Remit, c.Now(), m.GetResp())
	if m.GetResp().GetResult() == upiv1.Resp_FAILURE {
		r.Reason = "declined by " + in.From
	}
	return s.finishMandate(c, r, m.GetMandate(), m.GetResp().GetResult(), m.GetResp().GetErrCode())
}

// finishMandate decides r: RespMandate to PSP(P) with md (the remitter's,
// signature included; else the request's), and ReqMandateConfirmation
// without the signature to PSP(S) when it answered SUCCESS.
func (s *Switch) finishMandate(c *node.Ctx, r *mandateRec, md *upiv1.Mandate, result upiv1.Resp_Result, code string) error {
	r.Status, r.ErrCode, r.State = result.String(), code, StateClosed
	req, err := reqOf(r)
	if err != nil {
		return err
	}
	if md == nil {
		md = proto.Clone(req.GetMandate()).(*upiv1.Mandate)
		md.Signature = ""
	}
	if r.Mandate, err = proto.Marshal(md); err != nil {
		return err
	}
	resp := &upiv1.Resp{ReqMsgId: r.OrigMsgId, Result: result, ErrCode: code}
	if r.Resp, err = send(c, r.Originator, upiv1.PspService_RespMandate_FullMethodName, &upiv1.RespMandate{
		Txn: proto.Clone(req.GetTxn()).(*upiv1.Txn), Mandate: md, Resp: resp,
	}); err != nil {
		return err
	}
	if r.Auth != nil && r.Auth.Result == upiv1.Resp_SUCCESS.String() {
		unsigned := proto.Clone(md).(*upiv1.Mandate)
		unsigned.Signature = ""
		if r.Confirm, err = send(c, r.Counterparty, upiv1.PspService_ReqMandateConfirmation_FullMethodName, &upiv1.ReqMandateConfirmation{
			Txn: proto.Clone(req.GetTxn()).(*upiv1.Txn), Mandate: unsigned,
			Resp: &upiv1.Resp{Result: result, ErrCode: code},
		}); err != nil {
			return err
		}
		r.State = StateConfirmSent
	}
	if result == upiv1.Resp_SUCCESS {
		if err := noteMandate(c, r, req, md); err != nil {
			return err
		}
	}
	id, umn, reason := r.Id, r.Umn, r.Reason
	c.Tx.OnCommit(func() {
		s.log.Info("mandate decided", "txn", id, "umn", umn, "result", result.String(), "err_code", code, "reason", reason)
	})
	return saveMandate(r, c)
}

// respMandateConfirmation closes the flow once PSP(S) has the outcome.
func (s *Switch) respMandateConfirmation(c *node.Ctx, in *node.Inbound, m *upiv1.RespMandateConfirmation) error {
	r, err := loadFor(c, in, flowMandate, "ReqMandateConfirmation", func(r *mandateRec) *exchange { return r.Confirm })
	if err != nil || r == nil {
		return err
	}
	if r.State != StateConfirmSent {
		return s.lateMandate(c, in, r, m.GetResp(), nil)
	}
	answerExchange(r.Confirm, c.Now(), m.GetResp())
	r.State = StateClosed
	return saveMandate(r, c)
}

// lateMandate notes an answer the flow no longer waits for (U70 when its
// request had timed out); it changes nothing.
func (s *Switch) lateMandate(c *node.Ctx, in *node.Inbound, r *mandateRec, resp *upiv1.Resp, answered *exchange) error {
	n, text := lateNoteFor(c, in, r.State, "", resp, answered)
	keepLate(&r.Late, &r.LateDropped, n)
	if err := c.NoteReceived(text); err != nil {
		return err
	}
	return saveMandate(r, c)
}

// mandateAuthTimedOut: PSP(S) did not answer the ReqAuthMandate (U09).
func (s *Switch) mandateAuthTimedOut(c *node.Ctx, txnID string) error {
	r, err := timeoutFor[mandateRec](c, flowMandate, txnID, StateAuthSent)
	if err != nil || r == nil {
		return err
	}
	r.Auth.TimedOut, r.Auth.ErrCode = store.Nanos(c.Now()), upi.CodeAuthTimeout
	r.Reason = r.Counterparty + " did not answer ReqAuthMandate in time"
	return s.finishMandate(c, r, nil, upiv1.Resp_FAILURE, upi.CodeAuthTimeout)
}

// mandateRemitTimedOut: the remitter did not answer the ReqMandate (U67).
// A SUCCESS that comes later is noted U70 and changes nothing: PSP(P) never
// gets that signature, so the mandate is never presented.
func (s *Switch) mandateRemitTimedOut(c *node.Ctx, txnID string) error {
	r, err := timeoutFor[mandateRec](c, flowMandate, txnID, StateRemitSent)
	if err != nil || r == nil {
		return err
	}
	r.Remit.TimedOut, r.Remit.ErrCode = store.Nanos(c.Now()), upi.CodeDebitTimeout
	r.Reason = r.Remitter + " did not answer ReqMandate in time"
	return s.finishMandate(c, r, nil, upiv1.Resp_FAILURE, upi.CodeDebitTimeout)
}

// mandates is the switch's mandate registry: UMN → what the last mandate
// flow it decided SUCCESS left (docs/FLOWS.md, "Payment, partial
// delegation (and full with a mandate not ACTIVE)").
var mandates = store.NewTable[recordsv1.SwitchMandateState](store.Mandates)

// noteMandate keeps in the registry the mandate flow r that ended SUCCESS:
// a CREATE or UPDATE leaves md ACTIVE with its validity, a REVOKE leaves it
// REVOKED.
func noteMandate(c *node.Ctx, r *mandateRec, req *upiv1.ReqMandate, md *upiv1.Mandate) error {
	st := &recordsv1.SwitchMandateState{
		Umn: r.Umn, Status: mandateActive, TxnId: r.Id, Updated: store.Nanos(c.Now()),
		ValidityStart: md.GetValidityStart(), ValidityEnd: md.GetValidityEnd(),
	}
	if st.ValidityStart == "" && st.ValidityEnd == "" {
		st.ValidityStart, st.ValidityEnd = req.GetMandate().GetValidityStart(), req.GetMandate().GetValidityEnd()
	}
	if req.GetTxn().GetType() == upiv1.Txn_REVOKE {
		prev, ok, err := mandates.Get(c.Tx, r.Umn)
		if err != nil {
			return err
		}
		if ok {
			st.ValidityStart, st.ValidityEnd = prev.ValidityStart, prev.ValidityEnd
		}
		st.Status = mandateRevoked
	}
	return mandates.Put(c.Tx, r.Umn, st)
}

// The statuses of the mandate registry.
const (
	mandateActive  = "ACTIVE"
	mandateRevoked = "REVOKED"
)

// mandateActiveAt reports whether the registry has umn ACTIVE and within
// its validity at now. A UMN the switch never decided is taken as active:
// PSP(P), which issued it, decides.
func mandateActiveAt(tx *store.Tx, umn string, now time.Time) (bool, error) {
	st, ok, err := mandates.Get(tx, umn)
	if err != nil || !ok {
		return true, err
	}
	return st.Status == mandateActive && upi.InMandateValidity(st.ValidityStart, st.ValidityEnd, now), nil
}
