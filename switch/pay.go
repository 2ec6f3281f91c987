package upiswitch

import (
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// defaultExpireMinutes is a collect's expiry when the request gives none.
const defaultExpireMinutes = 30

// ist is India Standard Time, the zone of the RRN's date and hour.
var ist = time.FixedZone("IST", 5*3600+1800)

// nextRRN issues the next RRN from the durable counter
// (store.MetaRRNSeq).
func nextRRN(c *node.Ctx) (string, error) {
	seq, err := store.MetaRRNSeq.Next(c.Tx)
	if err != nil {
		return "", err
	}
	return ids.FormatRRN(c.Now().In(ist), seq), nil
}

// payRoutes are the pay and collect messages (docs/FLOWS.md, Pay and
// Collect).
func (s *Switch) payRoutes() []node.Route {
	return []node.Route{
		{Method: upiv1.SwitchService_ReqPay_FullMethodName, From: fromPSP,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.ReqPay) error { return s.validateReqPay(in.From, m) }),
			Handle:   node.Handles(s.reqPay)},
		{Method: upiv1.SwitchService_RespAuthDetails_FullMethodName, From: fromPSP,
			Validate: node.Validates(validateRespAuthDetails), Handle: node.Handles(s.respAuthDetails)},
		{Method: upiv1.SwitchService_RespPay_FullMethodName, From: fromBank,
			Validate: node.Validates(validateRespPay), Handle: node.Handles(s.respPay)},
		{Method: upiv1.SwitchService_RespTxnConfirmation_FullMethodName, From: fromPSP,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.RespTxnConfirmation) error { return checkResp(in.API, m.GetResp()) }),
			Handle:   node.Handles(s.respTxnConfirmation)},
	}
}

// payTimers: a collect's expiry.
func (s *Switch) payTimers() []node.TimerKind {
	return []node.TimerKind{{Prefix: timerExpire, Fire: byTxn(s.expireCollect)}}
}

// reqPay starts a PAY or COLLECT: issue the RRN, route the counter-party's
// handle, and ask its PSP for the auth details.
func (s *Switch) reqPay(c *node.Ctx, in *node.Inbound, m *upiv1.ReqPay) error {
	id := m.GetTxn().GetId()
	amount, err := amountOf(m.GetPayer(), m.GetPayee())
	if err != nil {
		return err
	}
	if prev, err := loadRecord(c.Tx, id); err != nil || prev != nil {
		if err != nil {
			return err
		}
		return resubmitted(c, in, prev, m, amount)
	}
	rrn, err := nextRRN(c)
	if err != nil {
		return err
	}
	t := m.GetTxn().GetType()
	r := &record{
		ID: id, Type: t.String(), Status: upiv1.Resp_PENDING.String(), RRN: rrn, Amount: amount,
		Info: infoFrom(m.GetTxn()), Payer: partyFrom(m.GetPayer()), Payee: partyFrom(m.GetPayee()),
		Originator: in.From, OrigMsgID: m.GetHead().GetMsgId(), Created: c.Now(),
	}
	other := r.Payee.Addr
	if t == upiv1.Txn_COLLECT {
		other = r.Payer.Addr
		r.Info.ExpireMinutes = m.GetTxn().GetExpireAfterMinutes()
		if r.Info.ExpireMinutes == 0 {
			r.Info.ExpireMinutes = defaultExpireMinutes
		}
	}
	if code := c.Decline(); code != "" {
		// Before routing: the counter-party PSP never hears of it.
		r.Reason = "declined by a rule of the network file"
		return s.finish(c, r, upiv1.Resp_FAILURE, code)
	}
	psp, ok := s.net.PSPForVPA(other)
	if !ok {
		r.Reason = "no PSP owns handle @" + ids.HandleOf(other)
		return s.finish(c, r, upiv1.Resp_FAILURE, upi.CodeAddrResolution)
	}
	r.Counterparty = psp.Name

	if t == upiv1.Txn_COLLECT {
		d := time.Duration(r.Info.ExpireMinutes) * time.Minute
		if limit := s.net.Timeouts.CollectExpiryMax; limit > 0 && d > limit {
			d = limit
		}
		r.Expires = c.Now().Add(d)
		if err := c.SetTimer(timerName(timerExpire, id), r.Expires, []byte(id)); err != nil {
			return err
		}
	}
	// The counter-party sees both parties as sent, but never the creds.
	ad := &upiv1.ReqAuthDetails{
		Txn:   r.txn(t),
		Payer: r.Payer.proto(amount, withAc),
		Payee: r.Payee.proto(amount, withAc),
	}
	r.Auth, err = send(c, psp.Name, upiv1.PspService_ReqAuthDetails_FullMethodName, ad)
	if err != nil {
		return err
	}
	if t == upiv1.Txn_PAY { // a collect waits for its payer until it expires
		if err := s.startTimer(c, timerAuth, id, s.net.Timeouts.AuthDetails); err != nil {
			return err
		}
	}
	r.State = StateAuthSent
	return r.save(c)
}

// respAuthDetails takes the counter-party PSP's answer: its party's details
// (then debit), or a decline.
func (s *Switch) respAuthDetails(c *node.Ctx, in *node.Inbound, m *upiv1.RespAuthDetails) error {
	r, err := loadFor(c, in, flowPay, "ReqAuthDetails", func(r *record) *exchange { return r.Auth })
	if err != nil || r == nil {
		return err
	}
	if r.State != StateAuthSent {
		if err := r.noteLate(c, in, "", m.GetResp(), r.Auth); err != nil {
			return err
		}
		return r.save(c)
	}
	resp := m.GetResp()
	if resp.GetResult() == upiv1.Resp_SUCCESS {
		if err := r.takeAuthDetails(m); err != nil {
			return err
		}
	}
	r.Auth.answer(c.Now(), resp)
	for _, kind := range []string{timerExpire, timerAuth} {
		if err := c.CancelTimer(timerName(kind, r.ID)); err != nil {
			return err
		}
	}
	if resp.GetResult() == upiv1.Resp_FAILURE {
		r.Reason = "declined by " + in.From
		return s.finish(c, r, upiv1.Resp_FAILURE, resp.GetErrCode())
	}
	return s.debit(c, r)
}

// takeAuthDetails merges the resolved party of a SUCCESS RespAuthDetails:
// the payee (with its account) for PAY, the approving payer (with account
// and PIN block) for COLLECT.
func (r *record) takeAuthDetails(m *upiv1.RespAuthDetails) error {
	if r.Type == upiv1.Txn_PAY.String() {
		p := m.GetPayee()
		if p.GetAddr() != "" && !strings.EqualFold(p.GetAddr(), r.Payee.Addr) {
			return node.Refuse("RespAuthDetails payee.addr %s is not the payee %s of transaction %s", p.GetAddr(), r.Payee.Addr, r.ID)
		}
		if err := checkAc("payee", p.GetAc()); err != nil {
			return node.Refuse("RespAuthDetails SUCCESS for a PAY: %v", err)
		}
		addr := r.Payee.Addr
		r.Payee = partyFrom(p)
		r.Payee.Addr = addr
		r.Payee.Creds = nil
		return nil
	}
	p := m.GetPayer()
	if p.GetAddr() != "" && !strings.EqualFold(p.GetAddr(), r.Payer.Addr) {
		return node.Refuse("RespAuthDetails payer.addr %s is not the payer %s of transaction %s", p.GetAddr(), r.Payer.Addr, r.ID)
	}
	if a := p.GetAmountPaise(); a != 0 && a != r.Amount {
		return node.Refuse("RespAuthDetails payer.amount_paise %d is not the collect's amount %d", a, r.Amount)
	}
	if err := checkAc("payer", p.GetAc()); err != nil {
		return node.Refuse("RespAuthDetails approving a COLLECT: %v", err)
	}
	if !hasPIN(p) {
		return node.Refuse("RespAuthDetails approving a COLLECT needs payer.creds with a PIN block (type PIN)")
	}
	addr := r.Payer.Addr
	r.Payer = partyFrom(p)
	r.Payer.Addr = addr
	return nil
}

// debit routes the payer's IFSC and sends the DEBIT with the creds, which
// the switch then forgets.
func (s *Switch) debit(c *node.Ctx, r *record) error {
	bank, ok := s.net.BankForIFSC(r.Payer.IFSC)
	if !ok {
		r.Reason = "no bank has the payer's IFSC " + r.Payer.IFSC
		return s.finish(c, r, upiv1.Resp_FAILURE, upi.CodeDebitFailed)
	}
	r.Remitter = bank.Name
	m := &upiv1.ReqPay{
		Txn:   r.txn(upiv1.Txn_DEBIT),
		Payer: r.Payer.proto(r.Amount, withAc|withCreds|withDevice),
		Payee: r.Payee.proto(r.Amount, 0),
	}
	var err error
	r.Debit, err = send(c, bank.Name, upiv1.RemitterService_ReqPay_FullMethodName, m)
	if err != nil {
		return err
	}
	r.Payer.Creds = nil
	r.State = StateDebitSent
	if err := s.startTimer(c, timerDebit, r.ID, s.net.Timeouts.Debit); err != nil {
		return err
	}
	return r.save(c)
}

// credit routes the payee's IFSC and sends the CREDIT; an IFSC no bank has
// fails the credit at once, so the debit is reversed.
func (s *Switch) credit(c *node.Ctx, r *record) error {
	bank, ok := s.net.BankForIFSC(r.Payee.IFSC)
	if !ok {
		r.Reason = "no bank has the payee's IFSC " + r.Payee.IFSC
		return s.reverse(c, r, upi.CodeCreditFailed)
	}
	r.Beneficiary = bank.Name
	m := &upiv1.ReqPay{
		Txn:   r.txn(upiv1.Txn_CREDIT),
		Payer: r.Payer.proto(r.Amount, 0),
		Payee: r.Payee.proto(r.Amount, withAc),
	}
	var err error
	r.Credit, err = send(c, bank.Name, upiv1.BeneficiaryService_ReqPay_FullMethodName, m)
	if err != nil {
		return err
	}
	r.State = StateCreditSent
	if err := s.startTimer(c, timerCredit, r.ID, s.net.Timeouts.Credit); err != nil {
		return err
	}
	return r.save(c)
}

// reverse asks the remitter to put the debited money back; the transaction
// ends FAILURE with code when it answers (or when it never does, see
// reversalTimedOut).
//
// A pay leg started at CREDIT sent no debit: there is nothing to reverse,
// it ends FAILURE with code and its parent decides about the money.
func (s *Switch) reverse(c *node.Ctx, r *record, code string) error {
	if r.Debit == nil {
		return s.finish(c, r, upiv1.Resp_FAILURE, code)
	}
	r.ReversalCode = code
	var err error
	if r.Reversal, err = s.sendReversal(c, r); err != nil {
		return err
	}
	r.Reversal.Attempts = 1
	r.State = StateReversalSent
	for _, kind := range []string{timerDebit, timerCredit, timerCheck} {
		if err := c.CancelTimer(timerName(kind, r.ID)); err != nil {
			return err
		}
	}
	if err := s.startTimer(c, timerReversal, r.ID, s.net.Timeouts.Reversal); err != nil {
		return err
	}
	return r.save(c)
}

// sendReversal queues one ReqPay REVERSAL of r to the remitter.
func (s *Switch) sendReversal(c *node.Ctx, r *record) (*exchange, error) {
	t := r.txn(upiv1.Txn_REVERSAL)
	t.OrgTxnId = r.ID
	m := &upiv1.ReqPay{
		Txn:   t,
		Payer: r.Payer.proto(r.Amount, withAc),
		Payee: r.Payee.proto(r.Amount, 0),
	}
	return send(c, r.Remitter, upiv1.RemitterService_ReqPay_FullMethodName, m)
}

// leg maps a bank leg's type to its exchange, the state that waits for
// its answer, and its timer's kind.
func (r *record) leg(t upiv1.Txn_Type) (**exchange, State, string) {
	switch t {
	case upiv1.Txn_DEBIT:
		return &r.Debit, StateDebitSent, timerDebit
	case upiv1.Txn_CREDIT:
		return &r.Credit, StateCreditSent, timerCredit
	default:
		return &r.Reversal, StateReversalSent, timerReversal
	}
}

// respPay takes a bank's answer to a DEBIT, CREDIT or REVERSAL.
func (s *Switch) respPay(c *node.Ctx, in *node.Inbound, m *upiv1.RespPay) error {
	t := m.GetTxn().GetType()
	r, err := loadFor(c, in, flowPay, "ReqPay "+t.String(), func(r *record) *exchange { e, _, _ := r.leg(t); return *e })
	if err != nil || r == nil {
		return err
	}
	e, waiting, timer := r.leg(t)
	if t == upiv1.Txn_CREDIT && r.isDeemed() {
		return s.lateCredit(c, in, r, m.GetResp())
	}
	if r.State != waiting {
		if t == upiv1.Txn_REVERSAL {
			r.lateReversal(c, m.GetResp())
		}
		if err := r.noteLate(c, in, t.String(), m.GetResp(), *e); err != nil {
			return err
		}
		return r.save(c)
	}
	if err := c.CancelTimer(timerName(timer, r.ID)); err != nil {
		return err
	}
	resp := m.GetResp()
	leg := *e
	leg.answer(c.Now(), resp)
	ok := resp.GetResult() == upiv1.Resp_SUCCESS
	switch t {
	case upiv1.Txn_DEBIT:
		if ref := bankRef(resp, "PAYER"); ref != nil {
			leg.ApprovalNum = ref.GetApprovalNum()
		}
		if !ok {
			r.Reason = "debit declined by " + in.From
			return s.finish(c, r, upiv1.Resp_FAILURE, resp.GetErrCode())
		}
		return s.credit(c, r)
	case upiv1.Txn_CREDIT:
		if ref := bankRef(resp, "PAYEE"); ref != nil {
			leg.ApprovalNum = ref.GetApprovalNum()
		}
		if !ok {
			r.Reason = "credit declined by " + in.From
			return s.reverse(c, r, upi.CodeCreditFailed)
		}
		return s.finish(c, r, upiv1.Resp_SUCCESS, "")
	default: // REVERSAL
		leg.takeReversal(resp)
		if !ok {
			r.Reason += "; the reversal was declined by " + in.From + " (" + resp.GetErrCode() + ")"
		}
		return s.finish(c, r, upiv1.Resp_FAILURE, r.ReversalCode)
	}
}

// takeReversal records the reversal_resp_code and approval number of a
// RespPay REVERSAL on e (already answered with resp): the bank's
// reversal_resp_code, else "00" or the error code.
func (e *exchange) takeReversal(resp *upiv1.Resp) {
	e.ReversalRespCode = e.respCode()
	if ref := bankRef(resp, "PAYER"); ref != nil {
		e.ApprovalNum = ref.GetApprovalNum()
		if ref.GetReversalRespCode() != "" {
			e.ReversalRespCode = ref.GetReversalRespCode()
		}
	}
}

// expireCollect ends a collect nobody answered in time with U69.
func (s *Switch) expireCollect(c *node.Ctx, txnID string) error {
	r, err := loadRecord(c.Tx, txnID)
	if err != nil || r == nil || r.State != StateAuthSent {
		return err
	}
	r.Reason = "collect expired before the payer answered"
	return s.finish(c, r, upiv1.Resp_FAILURE, upi.CodeCollectExpired)
}

// finish decides r: RespPay to the originator, and ReqTxnConfirmation to
// each PSP to tell (the counter-party, when the transaction ever reached
// it); a child flow reports to its parent instead.
func (s *Switch) finish(c *node.Ctx, r *record, result upiv1.Resp_Result, code string) error {
	r.Status, r.ErrCode = result.String(), code
	r.State = StateClosed
	if r.Parent != nil {
		if err := s.report(c, r); err != nil {
			return err
		}
	} else if err := s.answer(c, r); err != nil {
		return err
	}
	for _, kind := range s.timerKinds {
		if err := c.CancelTimer(timerName(kind, r.ID)); err != nil {
			return err
		}
	}
	id, rrn, reason := r.ID, r.RRN, r.Reason
	c.Tx.OnCommit(func() {
		s.log.Info("decided", "txn", id, "rrn", rrn, "result", result.String(), "err_code", code, "reason", reason)
	})
	return r.save(c)
}

// answer sends r's outcome (decided, or DEEMED) to the originator in a
// RespPay and to each PSP to tell in a ReqTxnConfirmation, recorded in
// Confirms (DeemedConfirms for DEEMED); a decided r is CONFIRM_SENT when
// there is one.
func (s *Switch) answer(c *node.Ctx, r *record) error {
	resp := r.finalResp()
	t := r.txnType()
	if _, err := send(c, r.Originator, upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{Txn: r.txn(t), Resp: resp}); err != nil {
		return err
	}
	deemed := r.Status == upiv1.Resp_DEEMED.String()
	for _, psp := range r.tell() {
		cm := &upiv1.ReqTxnConfirmation{Txn: r.txn(t), Resp: proto.Clone(resp).(*upiv1.Resp)}
		if err := c.Send(psp, upiv1.PspService_ReqTxnConfirmation_FullMethodName, cm); err != nil {
			return err
		}
		e := exchange{To: psp, MsgID: cm.GetHead().GetMsgId(), Sent: c.Now()}
		if deemed {
			r.DeemedConfirms = appendExchange(r.DeemedConfirms, e)
		} else {
			r.Confirms = appendExchange(r.Confirms, e)
			r.State = StateConfirmSent
		}
	}
	return nil
}

// respTxnConfirmation closes a transaction once the counter-party PSP has
// the outcome. The answer to a DEEMED confirmation (resp.req_msg_id its
// msg id) is recorded and closes nothing.
func (s *Switch) respTxnConfirmation(c *node.Ctx, in *node.Inbound, m *upiv1.RespTxnConfirmation) error {
	r, err := loadFor(c, in, flowPay, "ReqTxnConfirmation", func(r *record) *exchange {
		if e := exchangeTo(r.Confirms, in.From); e != nil {
			return e
		}
		return exchangeTo(r.DeemedConfirms, in.From)
	})
	if err != nil || r == nil {
		return err
	}
	reqID := m.GetResp().GetReqMsgId()
	confirm := exchangeTo(r.Confirms, in.From)
	if d := exchangeTo(r.DeemedConfirms, in.From); d != nil && d.To == in.From && d.Answered.IsZero() &&
		(reqID == d.MsgID || reqID == "" && confirm == nil) {
		d.answer(c.Now(), m.GetResp())
		return r.save(c)
	}
	if r.State != StateConfirmSent || confirm == nil || confirm.To != in.From || !confirm.Answered.IsZero() || reqID != "" && reqID != confirm.MsgID {
		if err := r.note(c, in, "", m.GetResp()); err != nil {
			return err
		}
		return r.save(c)
	}
	confirm.answer(c.Now(), m.GetResp())
	if r.confirmed() {
		r.State = StateClosed
	}
	return r.save(c)
}

// confirmed reports whether every PSP told of r's outcome answered.
func (r *record) confirmed() bool {
	for _, e := range r.Confirms {
		if e.Answered.IsZero() {
			return false
		}
	}
	return true
}
