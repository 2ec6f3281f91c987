package upiswitch

import (
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/lite"
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
		{Method: upiv1.SwitchService_RespTxnConfirmation_FullMethodName, From: []string{config.RolePSP, config.RoleBank},
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
	t := m.GetTxn().GetType()
	if t == upiv1.Txn_REFUND {
		return s.reqRefund(c, in, m, amount) // refund.go
	}
	rrn, err := issueRRN(c, id)
	if err != nil {
		return err
	}
	r := &record{
		Id: id, Type: t.String(), Status: upiv1.Resp_PENDING.String(), Rrn: rrn, AmountPaise: amount,
		Info: infoFrom(m.GetTxn()), Payer: partyFrom(m.GetPayer()), Payee: partyFrom(m.GetPayee()),
		Originator: in.From, OrigMsgId: m.GetHead().GetMsgId(), Created: store.Nanos(c.Now()),
	}
	if lite.IsPurpose(r.Info.Purpose) {
		if done, err := s.liteStart(c, m, r); done || err != nil { // lite_pay.go
			return err
		}
	}
	if m.GetMandate() != nil || c.Tx.Has(store.Txns, []byte(flowKey(flowDelegateAuth, id))) {
		if err := s.delegatedPay(c, in, m, r); err != nil {
			return err
		}
	}
	other := r.Payee.Addr
	if t == upiv1.Txn_COLLECT {
		other = r.Payer.Addr
		r.Info.ExpireAfterMinutes = m.GetTxn().GetExpireAfterMinutes()
		if r.Info.ExpireAfterMinutes == 0 {
			r.Info.ExpireAfterMinutes = defaultExpireMinutes
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
		d := time.Duration(r.Info.ExpireAfterMinutes) * time.Minute
		if limit := s.net.Timeouts.CollectExpiryMax; limit > 0 && d > limit {
			d = limit
		}
		expires := c.Now().Add(d)
		r.Expires = store.Nanos(expires)
		if err := c.SetTimer(timerName(timerExpire, id), expires, []byte(id)); err != nil {
			return err
		}
	}
	// The counter-party sees both parties as sent, but never the creds.
	ad := &upiv1.ReqAuthDetails{
		Txn:   txnOf(r, t),
		Payer: partyProto(r.Payer, amount, withAc),
		Payee: partyProto(r.Payee, amount, withAc),
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
	return saveRecord(r, c)
}

// respAuthDetails takes the counter-party PSP's answer: its party's details
// (then debit), or a decline.
func (s *Switch) respAuthDetails(c *node.Ctx, in *node.Inbound, m *upiv1.RespAuthDetails) error {
	if isLiteAuth(c.Tx, m) {
		return s.liteAuthDetails(c, in, m) // a Lite sync batch's payee (litesync.go)
	}
	r, err := loadFor(c, in, flowPay, "ReqAuthDetails", func(r *record) *exchange { return r.Auth })
	if err != nil || r == nil {
		return err
	}
	if r.State != StateAuthSent {
		if err := noteLate(r, c, in, "", m.GetResp(), r.Auth); err != nil {
			return err
		}
		return saveRecord(r, c)
	}
	resp := m.GetResp()
	if resp.GetResult() == upiv1.Resp_SUCCESS {
		if err := takeAuthDetails(r, m); err != nil {
			return err
		}
	}
	answerExchange(r.Auth, c.Now(), resp)
	for _, kind := range []string{timerExpire, timerAuth} {
		if err := c.CancelTimer(timerName(kind, r.Id)); err != nil {
			return err
		}
	}
	if resp.GetResult() == upiv1.Resp_FAILURE {
		r.Reason = "declined by " + in.From
		return s.finish(c, r, upiv1.Resp_FAILURE, resp.GetErrCode())
	}
	if r.Lite != nil {
		return s.liteAuth(c, r) // a 44: the auth engine takes it off the LRN, no DEBIT (lite_pay.go)
	}
	return s.debit(c, r)
}

// takeAuthDetails merges the resolved party of a SUCCESS RespAuthDetails:
// the payee (with its account) for PAY, the approving payer (with account
// and PIN block) for COLLECT.
func takeAuthDetails(r *record, m *upiv1.RespAuthDetails) error {
	if r.Type == upiv1.Txn_PAY.String() {
		p := m.GetPayee()
		if p.GetAddr() != "" && !strings.EqualFold(p.GetAddr(), r.Payee.Addr) {
			return node.Refuse("RespAuthDetails payee.addr %s is not the payee %s of transaction %s", p.GetAddr(), r.Payee.Addr, r.Id)
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
		return node.Refuse("RespAuthDetails payer.addr %s is not the payer %s of transaction %s", p.GetAddr(), r.Payer.Addr, r.Id)
	}
	if a := p.GetAmountPaise(); a != 0 && a != r.AmountPaise {
		return node.Refuse("RespAuthDetails payer.amount_paise %d is not the collect's amount %d", a, r.AmountPaise)
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
	bank, ok := s.net.BankForIFSC(r.Payer.Ifsc)
	if !ok {
		r.Reason = "no bank has the payer's IFSC " + r.Payer.Ifsc
		return s.finish(c, r, upiv1.Resp_FAILURE, upi.CodeDebitFailed)
	}
	r.Remitter = bank.Name
	m := &upiv1.ReqPay{
		Txn:   txnOf(r, upiv1.Txn_DEBIT),
		Payer: partyProto(r.Payer, r.AmountPaise, withAc|withCreds|withDevice),
		Payee: partyProto(r.Payee, r.AmountPaise, 0),
	}
	if r.MandateUmn != "" { // a delegated payment: the mandate stands for the PIN
		m.Mandate = &upiv1.Mandate{Umn: r.MandateUmn, Signature: r.MandateSignature}
	}
	var err error
	if m.Lite, err = s.liteLeg(c, r, upiv1.Txn_DEBIT); err != nil {
		return err
	}
	if isRefundRec(r) { // a refund's: no PIN, the credit it refunds instead
		m.Txn.SubType = upiv1.Txn_REFUND
		if m.Lite, err = liteRefundLeg(c, r); err != nil { // a Lite record's: its LRN and counter (lite_refund.go)
			return err
		}
	}
	r.Debit, err = send(c, bank.Name, upiv1.RemitterService_ReqPay_FullMethodName, m)
	if err != nil {
		return err
	}
	r.Payer.Creds = nil
	r.State = StateDebitSent
	if err := s.startTimer(c, timerDebit, r.Id, s.net.Timeouts.Debit); err != nil {
		return err
	}
	return saveRecord(r, c)
}

// credit routes the payee's IFSC and sends the CREDIT; an IFSC no bank has
// fails the credit at once, so the debit is reversed.
func (s *Switch) credit(c *node.Ctx, r *record) error {
	bank, ok := s.net.BankForIFSC(r.Payee.Ifsc)
	if !ok {
		r.Reason = "no bank has the payee's IFSC " + r.Payee.Ifsc
		return s.reverse(c, r, upi.CodeCreditFailed)
	}
	r.Beneficiary = bank.Name
	m := &upiv1.ReqPay{
		Txn:   txnOf(r, upiv1.Txn_CREDIT),
		Payer: partyProto(r.Payer, r.AmountPaise, 0),
		Payee: partyProto(r.Payee, r.AmountPaise, withAc),
	}
	var err error
	if m.Lite, err = s.liteLeg(c, r, upiv1.Txn_CREDIT); err != nil {
		return err
	}
	r.Credit, err = send(c, bank.Name, upiv1.BeneficiaryService_ReqPay_FullMethodName, m)
	if err != nil {
		return err
	}
	r.State = StateCreditSent
	if err := s.startTimer(c, timerCredit, r.Id, s.net.Timeouts.Credit); err != nil {
		return err
	}
	return saveRecord(r, c)
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
		if err := c.CancelTimer(timerName(kind, r.Id)); err != nil {
			return err
		}
	}
	if err := s.startTimer(c, timerReversal, r.Id, s.net.Timeouts.Reversal); err != nil {
		return err
	}
	return saveRecord(r, c)
}

// sendReversal queues one ReqPay REVERSAL of r to the remitter.
func (s *Switch) sendReversal(c *node.Ctx, r *record) (*exchange, error) {
	t := txnOf(r, upiv1.Txn_REVERSAL)
	t.OrgTxnId = r.Id
	m := &upiv1.ReqPay{
		Txn:   t,
		Payer: partyProto(r.Payer, r.AmountPaise, withAc),
		Payee: partyProto(r.Payee, r.AmountPaise, 0),
	}
	var err error
	if m.Lite, err = s.liteLeg(c, r, upiv1.Txn_REVERSAL); err != nil {
		return nil, err
	}
	return send(c, r.Remitter, upiv1.RemitterService_ReqPay_FullMethodName, m)
}

// leg maps a bank leg's type to its exchange, the state that waits for
// its answer, and its timer's kind.
func legOf(r *record, t upiv1.Txn_Type) (**exchange, State, string) {
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
	r, err := loadFor(c, in, flowPay, "ReqPay "+t.String(), func(r *record) *exchange { e, _, _ := legOf(r, t); return *e })
	if err != nil || r == nil {
		return err
	}
	e, waiting, timer := legOf(r, t)
	if t == upiv1.Txn_CREDIT && isDeemed(r) {
		return s.lateCredit(c, in, r, m.GetResp())
	}
	if r.State != waiting {
		if t == upiv1.Txn_REVERSAL {
			lateReversal(r, c, m.GetResp())
		}
		if err := noteLate(r, c, in, t.String(), m.GetResp(), *e); err != nil {
			return err
		}
		return saveRecord(r, c)
	}
	if err := c.CancelTimer(timerName(timer, r.Id)); err != nil {
		return err
	}
	resp := m.GetResp()
	leg := *e
	answerExchange(leg, c.Now(), resp)
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
		takeReversal(leg, resp)
		if !ok {
			r.Reason += "; the reversal was declined by " + in.From + " (" + resp.GetErrCode() + ")"
		}
		return s.finish(c, r, upiv1.Resp_FAILURE, r.ReversalCode)
	}
}

// takeReversal records the reversal_resp_code and approval number of a
// RespPay REVERSAL on e (already answered with resp): the bank's
// reversal_resp_code, else "00" or the error code.
func takeReversal(e *exchange, resp *upiv1.Resp) {
	e.ReversalRespCode = respCode(e)
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
	if isRefundRec(r) && result == upiv1.Resp_FAILURE && r.Status != upiv1.Resp_FAILURE.String() {
		if err := refundFailed(c, r); err != nil { // refund.go
			return err
		}
	}
	r.Status, r.ErrCode = result.String(), code
	r.State = StateClosed
	if err := s.liteFinish(c, r, result); err != nil { // lite_pay.go
		return err
	}
	if err := s.tellOutcome(c, r); err != nil {
		return err
	}
	for _, kind := range s.timerKinds {
		if err := c.CancelTimer(timerName(kind, r.Id)); err != nil {
			return err
		}
	}
	c.Decided(r.Status, code) // the node's metrics: upisim_transactions_total
	id, rrn, reason := r.Id, r.Rrn, r.Reason
	ms := (store.Nanos(c.Now()) - r.Created) / int64(time.Millisecond)
	c.Tx.OnCommit(func() {
		// The one line of a decided transaction (the logger names the node).
		s.log.Info("decided", "txn", id, "status", result.String(), "code", code, "ms", ms, "rrn", rrn, "reason", reason)
	})
	return saveRecord(r, c)
}

// answer sends r's outcome (decided, or DEEMED) to the originator in a
// RespPay and to each PSP to tell in a ReqTxnConfirmation, recorded in
// Confirms (DeemedConfirms for DEEMED); a decided r is CONFIRM_SENT when
// there is one.
func (s *Switch) answer(c *node.Ctx, r *record) error {
	resp := finalResp(r)
	t := txnType(r)
	lt, err := s.liteResp(c, r) // lite_pay.go
	if err != nil {
		return err
	}
	if _, err := send(c, r.Originator, upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{Txn: txnOf(r, t), Resp: resp, Lite: lt}); err != nil {
		return err
	}
	deemed := r.Status == upiv1.Resp_DEEMED.String()
	for _, psp := range tell(r) {
		cm := &upiv1.ReqTxnConfirmation{Txn: txnOf(r, t), Resp: proto.Clone(resp).(*upiv1.Resp)}
		if err := c.Send(psp, upiv1.PspService_ReqTxnConfirmation_FullMethodName, cm); err != nil {
			return err
		}
		var e *exchange
		if deemed {
			r.DeemedConfirms, e = newExchange(r.DeemedConfirms)
		} else {
			r.Confirms, e = newExchange(r.Confirms)
			r.State = StateConfirmSent
		}
		e.To, e.MsgId, e.Sent = psp, cm.GetHead().GetMsgId(), store.Nanos(c.Now())
	}
	return nil
}

// respTxnConfirmation closes a transaction once the counter-party PSP has
// the outcome. The answer to a DEEMED confirmation (resp.req_msg_id its
// msg id) is recorded and closes nothing.
func (s *Switch) respTxnConfirmation(c *node.Ctx, in *node.Inbound, m *upiv1.RespTxnConfirmation) error {
	if m.GetTxn().GetType() == upiv1.Txn_DELEGATE {
		return s.delegateConfirmed(c, in, m)
	}
	if isLiteTxn(c.Tx, m.GetTxn()) {
		return s.liteSyncConfirmed(c, in, m) // a payee PSP's, of a sync batch (litesync.go)
	}
	if nd, ok := s.net.NodeByName(in.From); ok && nd.Role == config.RoleBank {
		return s.liteConfirmed(c, in, m) // a remitter's, of a Lite confirmation (lite_pay.go)
	}
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
	if d := exchangeTo(r.DeemedConfirms, in.From); d != nil && d.To == in.From && d.Answered == 0 &&
		(reqID == d.MsgId || reqID == "" && confirm == nil) {
		answerExchange(d, c.Now(), m.GetResp())
		return saveRecord(r, c)
	}
	if r.State != StateConfirmSent || confirm == nil || confirm.To != in.From || confirm.Answered != 0 || reqID != "" && reqID != confirm.MsgId {
		if err := note(r, c, in, "", m.GetResp()); err != nil {
			return err
		}
		return saveRecord(r, c)
	}
	answerExchange(confirm, c.Now(), m.GetResp())
	if confirmed(r) {
		r.State = StateClosed
	}
	return saveRecord(r, c)
}

// confirmed reports whether every PSP told of r's outcome answered.
func confirmed(r *record) bool {
	for _, e := range r.Confirms {
		if e.Answered == 0 {
			return false
		}
	}
	return true
}
