package upiswitch

import (
	"fmt"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// The switch's durable timers, named "<kind>:<txn id>" (docs/FLOWS.md, "Timeouts, DEEMED and reversals"):
//
//   - auth: the payee's PSP did not answer a PAY's ReqAuthDetails within
//     Timeouts.AuthDetails → FAILURE U09 (nothing was debited).
//   - debit: the DEBIT was not answered within Timeouts.Debit → REVERSAL,
//     then FAILURE U67.
//   - credit: the CREDIT was not answered within Timeouts.Credit → DEEMED
//     (RB) to both PSPs, and the "check" timer.
//   - check: DEEMED or one ReqChkTxn unanswered for Timeouts.CheckStatus →
//     the next ReqChkTxn; after maxChecks unanswered, the checks go on
//     further apart (see checkInterval) until the beneficiary answers. The
//     switch never reverses a debit whose credit may have happened.
//   - reversal: the REVERSAL was not answered within Timeouts.Reversal → sent
//     again, or, after maxReversals sends, FAILURE with reversal_resp_code
//     UT (unconfirmed).
//
// A timeout of 0 sets no timer: the switch then waits for the answer.
const (
	timerAuth     = "auth"
	timerDebit    = "debit"
	timerCredit   = "credit"
	timerCheck    = "check"
	timerReversal = "reversal"
)

// timeoutRoutes: the answers to status checks.
func (s *Switch) timeoutRoutes() []node.Route {
	return []node.Route{
		{Method: upiv1.SwitchService_RespChkTxn_FullMethodName, From: fromBank,
			Validate: node.Validates(validateRespChkTxn), Handle: node.Handles(s.respChkTxn)},
	}
}

// timeoutTimers: the response timeouts.
func (s *Switch) timeoutTimers() []node.TimerKind {
	return []node.TimerKind{
		{Prefix: timerAuth, Fire: byTxn(s.authTimedOut)},
		{Prefix: timerDebit, Fire: byTxn(s.debitTimedOut)},
		{Prefix: timerCredit, Fire: byTxn(s.creditTimedOut)},
		{Prefix: timerCheck, Fire: byTxn(s.checkDue)},
		{Prefix: timerReversal, Fire: byTxn(s.reversalTimedOut)},
	}
}

const (
	// maxChecks is how many ReqChkTxn a DEEMED transaction gets every
	// Timeouts.CheckStatus; later ones back off (checkInterval).
	maxChecks = 3
	// maxCheckBackoff bounds how far apart the later checks get, as a
	// multiple of Timeouts.CheckStatus.
	maxCheckBackoff = 32
	// keptChecks bounds the checks a record keeps; the count goes on.
	keptChecks = 8
	// maxReversals is how many times a REVERSAL is sent before the switch
	// ends the transaction with the reversal unconfirmed.
	maxReversals = 3
)

// isDeemed reports whether r timed out on its credit and is being checked.
func isDeemed(r *record) bool { return r.State == StateDeemed || r.State == StateCheckSent }

// lastCheck is the latest ReqChkTxn sent, or nil.
func lastCheck(r *record) *exchange {
	if len(r.Checks) == 0 {
		return nil
	}
	return r.Checks[len(r.Checks)-1]
}

// authTimedOut: the payee's PSP did not answer the ReqAuthDetails of a PAY
// in time. Nothing was debited yet, so the transaction simply fails (U09,
// "ReqAuth time out for PAY"); the PSP hears of it in a ReqTxnConfirmation, and
// its late answer is noted U70.
func (s *Switch) authTimedOut(c *node.Ctx, txnID string) error {
	r, err := timeoutFor[record](c, flowPay, txnID, StateAuthSent)
	if err != nil || r == nil {
		return err
	}
	r.Auth.TimedOut, r.Auth.ErrCode = store.Nanos(c.Now()), upi.CodeAuthTimeout
	r.Reason = fmt.Sprintf("no RespAuthDetails from %s within %s", r.Counterparty, s.net.Timeouts.AuthDetails)
	return s.finish(c, r, upiv1.Resp_FAILURE, upi.CodeAuthTimeout)
}

// debitTimedOut: the remitter did not answer the DEBIT in time. It may have
// debited, so the switch reverses (the remitter declines with U30 a DEBIT
// that arrives after its REVERSAL) and ends the transaction FAILURE U67.
func (s *Switch) debitTimedOut(c *node.Ctx, txnID string) error {
	r, err := timeoutFor[record](c, flowPay, txnID, StateDebitSent)
	if err != nil || r == nil {
		return err
	}
	r.Debit.TimedOut, r.Debit.ErrCode = store.Nanos(c.Now()), upi.CodeDebitTimeout
	r.Reason = fmt.Sprintf("no debit response from %s within %s", r.Remitter, s.net.Timeouts.Debit)
	return s.reverse(c, r, upi.CodeDebitTimeout)
}

// creditTimedOut: the beneficiary did not answer the CREDIT in time. The
// transaction is DEEMED: the originator gets RespPay DEEMED (RB), the
// counter-party a ReqTxnConfirmation DEEMED, and the status checks begin.
func (s *Switch) creditTimedOut(c *node.Ctx, txnID string) error {
	r, err := timeoutFor[record](c, flowPay, txnID, StateCreditSent)
	if err != nil || r == nil {
		return err
	}
	now := store.Nanos(c.Now())
	r.Credit.TimedOut, r.Credit.ErrCode = now, upi.CodeDeemed
	r.Deemed = now
	r.Status, r.ErrCode = upiv1.Resp_DEEMED.String(), upi.CodeDeemed
	r.Reason = fmt.Sprintf("no credit response from %s within %s", r.Beneficiary, s.net.Timeouts.Credit)
	if err := s.tellOutcome(c, r); err != nil {
		return err
	}
	r.State = StateDeemed
	if err := s.startTimer(c, timerCheck, r.Id, s.net.Timeouts.CheckStatus); err != nil {
		return err
	}
	id, rrn := r.Id, r.Rrn
	c.Tx.OnCommit(func() { s.log.Info("deemed", "txn", id, "rrn", rrn) })
	return saveRecord(r, c)
}

// checkDue sends the next ReqChkTxn of a DEEMED transaction. Checks the
// beneficiary does not answer go on, further apart after maxChecks: only
// its answer (or a late RespPay CREDIT) can tell whether the credit
// happened, and reversing the debit of a credit that did would create
// money. The audit reports a transaction DEEMED for too long.
func (s *Switch) checkDue(c *node.Ctx, txnID string) error {
	r, err := timeoutFor[record](c, flowPay, txnID, StateDeemed, StateCheckSent)
	if err != nil || r == nil {
		return err
	}
	if last := lastCheck(r); last != nil && last.Answered == 0 {
		last.TimedOut = store.Nanos(c.Now())
	}
	if r.ChecksSent == maxChecks {
		r.Reason += fmt.Sprintf("; %d status checks went unanswered, still checking", maxChecks)
	}
	t := txnOf(r, upiv1.Txn_CHK_STATUS)
	t.SubType, t.OrgTxnId = upiv1.Txn_CREDIT, r.Id
	e, err := send(c, r.Beneficiary, upiv1.BeneficiaryService_ReqChkTxn_FullMethodName, &upiv1.ReqChkTxn{Txn: t})
	if err != nil {
		return err
	}
	r.ChecksSent++
	r.Checks = append(r.Checks, e)
	if len(r.Checks) > keptChecks {
		r.Checks = append(r.Checks[:1], r.Checks[len(r.Checks)-keptChecks+1:]...)
	}
	r.State = StateCheckSent
	if err := s.startTimer(c, timerCheck, r.Id, checkInterval(s.net.Timeouts.CheckStatus, int(r.ChecksSent))); err != nil {
		return err
	}
	return saveRecord(r, c)
}

// checkInterval is how long the switch waits for the answer to the sent-th
// status check: every check's timeout for the first maxChecks, then twice
// as long each time, up to maxCheckBackoff times it.
func checkInterval(every time.Duration, sent int) time.Duration {
	if sent <= maxChecks {
		return every
	}
	return every * time.Duration(min(1<<min(sent-maxChecks, 6), maxCheckBackoff))
}

// respChkTxn takes the beneficiary's answer to a status check of the
// credit: SUCCESS ends the transaction SUCCESS; FAILURE reverses the debit
// and ends it FAILURE, U68 when the credit is not there (U48: it timed out
// and never happened; the beneficiary will decline it if it comes), else
// U31 (the credit's own decline). Any check's answer counts, not only the
// latest's.
func (s *Switch) respChkTxn(c *node.Ctx, in *node.Inbound, m *upiv1.RespChkTxn) error {
	r, err := loadFor(c, in, flowPay, "ReqChkTxn", func(r *record) *exchange { return lastCheck(r) })
	if err != nil || r == nil {
		return err
	}
	resp := m.GetResp()
	chk := lastCheck(r)
	for _, e := range r.Checks {
		if e.MsgId == resp.GetReqMsgId() {
			chk = e
		}
	}
	if !isDeemed(r) {
		if err := noteLate(r, c, in, upiv1.Txn_CHK_STATUS.String(), resp, chk); err != nil {
			return err
		}
		return saveRecord(r, c)
	}
	answerExchange(chk, c.Now(), resp)
	return s.resolveDeemed(c, in, r, resp, "status check")
}

// lateCredit takes a RespPay CREDIT that arrives after the credit timed
// out: it is noted as late (U70) and resolves the DEEMED transaction.
func (s *Switch) lateCredit(c *node.Ctx, in *node.Inbound, r *record, resp *upiv1.Resp) error {
	if err := noteLate(r, c, in, upiv1.Txn_CREDIT.String(), resp, r.Credit); err != nil {
		return err
	}
	return s.resolveDeemed(c, in, r, resp, "late credit response")
}

// resolveDeemed ends a DEEMED transaction with what the beneficiary said
// about the credit (resp, from a RespChkTxn or a late RespPay CREDIT).
func (s *Switch) resolveDeemed(c *node.Ctx, in *node.Inbound, r *record, resp *upiv1.Resp, how string) error {
	answerExchange(r.Credit, c.Now(), resp)
	if ref := bankRef(resp, "PAYEE"); ref != nil {
		r.Credit.ApprovalNum = ref.GetApprovalNum()
	}
	if resp.GetResult() == upiv1.Resp_SUCCESS {
		r.Reason += "; deemed, then the credit was confirmed by a " + how + " from " + in.From
		return s.finish(c, r, upiv1.Resp_SUCCESS, "")
	}
	r.Reason += fmt.Sprintf("; %s from %s: credit %s", how, in.From, resp.GetErrCode())
	code := upi.CodeCreditFailed
	if resp.GetErrCode() == upi.CodeTxnNotPresent {
		code = upi.CodeCreditTimeout
	}
	return s.reverse(c, r, code)
}

// reversalTimedOut sends an unanswered REVERSAL again (the remitter posts
// REVERSAL:<txn> at most once and answers a repeat from its record), and
// after maxReversals sends ends the transaction FAILURE with
// reversal_resp_code UT: the reversal is unconfirmed.
func (s *Switch) reversalTimedOut(c *node.Ctx, txnID string) error {
	r, err := timeoutFor[record](c, flowPay, txnID, StateReversalSent)
	if err != nil || r == nil {
		return err
	}
	v := r.Reversal
	v.TimedOut = store.Nanos(c.Now())
	if v.Attempts < maxReversals {
		again, err := s.sendReversal(c, r)
		if err != nil {
			return err
		}
		v.MsgId, v.Sent, v.Attempts = again.MsgId, again.Sent, max(v.Attempts, 1)+1
		if err := s.startTimer(c, timerReversal, r.Id, s.net.Timeouts.Reversal); err != nil {
			return err
		}
		return saveRecord(r, c)
	}
	v.ErrCode, v.ReversalRespCode = upi.CodeReversalUnconfirmed, upi.CodeReversalUnconfirmed
	r.Reason += fmt.Sprintf("; the reversal was not answered by %s after %d attempts (unconfirmed)", r.Remitter, v.Attempts)
	return s.finish(c, r, upiv1.Resp_FAILURE, r.ReversalCode)
}

// lateReversal records on r a RespPay REVERSAL that arrives after the
// switch gave up on it, so the record shows what the remitter did; the
// decided outcome does not change.
func lateReversal(r *record, c *node.Ctx, resp *upiv1.Resp) {
	v := r.Reversal
	if v == nil || v.Answered != 0 || v.ReversalRespCode != upi.CodeReversalUnconfirmed {
		return
	}
	answerExchange(v, c.Now(), resp)
	takeReversal(v, resp)
}
