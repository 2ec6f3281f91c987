package upiswitch

// The pay flow's UPI Lite purposes at the switch's auth engine
// (docs/FLOWS.md, UPI Lite: "Enable (GetLite) and the initial top-up
// (41)", "Top-up (42), transfer-out (46), disable (43, 50)", "Online
// payment (44)"):
//
//   - 41, 42 (top-up): the payee is "<LRN>@lite", whose account the switch
//     fills from its auth engine (no ReqAuthDetails); LB when the LRN would
//     go over the balance limit, counting the top-ups in flight; the DEBIT
//     and the CREDIT (to the remitter's Lite pool) carry lite; SUCCESS adds
//     the amount to the LRN, which is then ACTIVE.
//   - 44 (online payment): the usual ReqAuthDetails; in the step that takes
//     the payee's details the auth engine checks the LRN (LR), the ARQC
//     (LQ), the counter (LC) and the limits (Z8, Z9), takes the amount off
//     the LRN and sends the CREDIT (no DEBIT). A FAILURE gives it back; a
//     SUCCESS is confirmed to the remitter (ReqTxnConfirmation purpose 44),
//     the amount counted unconfirmed until it answers. The RespPay carries
//     the LRN's balance after it and the switch's ARPC.
//   - 46, 43 (transfer-out, disable): the payer is "<LRN>@lite", the payee
//     the LRN's own user, whose account the switch fills; the amount is
//     held off the LRN from the start (after LR, LQ, LC, Z9) and given back
//     if the pay fails; 43 SUCCESS disables the LRN here and, by a
//     ReqTxnConfirmation purpose 43, at the remitter.

import (
	"fmt"
	"strings"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/upi"
)

// liteHandle is the handle of an LRN's address, "<LRN>@lite".
const liteHandle = "lite"

// lrnOfAddr is the LRN of an address "<LRN>@lite", "" for another address.
func lrnOfAddr(addr string) string {
	local, handle, ok := strings.Cut(addr, "@")
	if !ok || !strings.EqualFold(handle, liteHandle) {
		return ""
	}
	return strings.ToUpper(local)
}

// validateLitePay checks a ReqPay of a Lite purpose: a PAY with lite.lrn;
// 41/42 from the payer's PSP with the PIN, paying "<lrn>@lite"; 44 from the
// payer's PSP with payer.ac the LRN and the ARQC; 46/43 from the PSP of the
// payee (the user), paid by "<lrn>@lite" with the ARQC.
func (s *Switch) validateLitePay(from string, m *upiv1.ReqPay) error {
	t, l := m.GetTxn(), m.GetLite()
	purpose := t.GetPurpose()
	switch {
	case t.GetType() != upiv1.Txn_PAY:
		return node.Refuse("a UPI Lite ReqPay (purpose %s) must be type PAY, not %s", purpose, t.GetType())
	case m.GetMandate() != nil:
		return node.Refuse("a UPI Lite ReqPay (purpose %s) takes no mandate", purpose)
	case l.GetLrn() == "":
		return node.Refuse("a UPI Lite ReqPay (purpose %s) needs lite.lrn", purpose)
	}
	if err := checkParties(m); err != nil {
		return err
	}
	if _, err := amountOf(m.GetPayer(), m.GetPayee()); err != nil {
		return err
	}
	lrn := strings.ToUpper(l.GetLrn())
	userOf := func(role string, p *upiv1.Party) error {
		if psp, ok := s.net.PSPForVPA(p.GetAddr()); !ok || psp.Name != from {
			return node.Refuse("%s %s of a UPI Lite purpose %s is not a user of %s (handle @%s)", role, p.GetAddr(), purpose, from, ids.HandleOf(p.GetAddr()))
		}
		return nil
	}
	signed := func() error {
		if l.GetCounter() == 0 || len(l.GetArqc()) == 0 {
			return node.Refuse("a UPI Lite ReqPay purpose %s needs lite.counter and lite.arqc (the device's cryptogram)", purpose)
		}
		return nil
	}
	switch purpose {
	case lite.PurposeInitialTopUp, lite.PurposeTopUp, lite.PurposeAutoTopUpSetup:
		if err := userOf("payer", m.GetPayer()); err != nil {
			return err
		}
		if err := checkAc("payer", m.GetPayer().GetAc()); err != nil {
			return err
		}
		if err := validateLiteMandatePart(purpose, l, hasPIN(m.GetPayer())); err != nil { // lite_auto.go
			return err
		}
		if lrnOfAddr(m.GetPayee().GetAddr()) != lrn {
			return node.Refuse("a UPI Lite top-up pays the LRN: payee.addr must be %s@%s, not %s", lrn, liteHandle, m.GetPayee().GetAddr())
		}
	case lite.PurposeOnlinePay:
		if err := userOf("payer", m.GetPayer()); err != nil {
			return err
		}
		if !strings.EqualFold(m.GetPayer().GetAc().GetAcNum(), lrn) {
			return node.Refuse("a UPI Lite payment (purpose 44) pays from the LRN: payer.ac.ac_num must be %s", lrn)
		}
		if err := signed(); err != nil {
			return err
		}
	case lite.PurposeTransferOut, lite.PurposeDisable:
		if lrnOfAddr(m.GetPayer().GetAddr()) != lrn {
			return node.Refuse("a UPI Lite purpose %s is paid by the LRN: payer.addr must be %s@%s, not %s", purpose, lrn, liteHandle, m.GetPayer().GetAddr())
		}
		if ac := m.GetPayer().GetAc().GetAcNum(); ac != "" && !strings.EqualFold(ac, lrn) {
			return node.Refuse("a UPI Lite purpose %s: payer.ac.ac_num must be the LRN %s, not %s", purpose, lrn, ac)
		}
		if err := userOf("payee", m.GetPayee()); err != nil {
			return err
		}
		if err := signed(); err != nil {
			return err
		}
	default:
		return node.Refuse("txn.purpose %s is not a ReqPay's: an offline payment (45) is synced by ReqLiteSync, a zero-balance disable (50) is a ReqChkTxn", purpose)
	}
	if e := t.GetExpireAfterMinutes(); e < 0 || e > maxExpireMinutes {
		return node.Refuse("txn.expire_after_minutes %d is out of range 0..%d", e, maxExpireMinutes)
	}
	return nil
}

// liteStart takes a Lite ReqPay in the step that records it: r is new,
// with its RRN. For 44 it keeps the device's part and returns false (the
// pay goes on to ReqAuthDetails); for the others it decides or sends the
// DEBIT and returns true.
func (s *Switch) liteStart(c *node.Ctx, m *upiv1.ReqPay, r *record) (bool, error) {
	l, purpose := m.GetLite(), r.GetInfo().GetPurpose()
	lrn := strings.ToUpper(l.GetLrn())
	r.Lite = &recordsv1.SwitchTxnLite{Lrn: lrn, DeviceId: l.GetDeviceId(), Counter: l.GetCounter(),
		DeviceBalancePaise: l.GetDeviceBalancePaise(), Arqc: l.GetArqc()}
	acc, err := loadLite(c.Tx, lrn)
	if err != nil {
		return true, err
	}
	user := r.Payer.Addr // 41, 42, 44: the payer; 46, 43: the payee
	if purpose == lite.PurposeTransferOut || purpose == lite.PurposeDisable {
		user = r.Payee.Addr
	}
	if acc != nil && !strings.EqualFold(acc.Vpa, user) {
		return true, node.Refuse("LRN %s is not %s's", lrn, user)
	}
	if purpose == lite.PurposeOnlinePay {
		return false, nil
	}
	if code := c.Decline(); code != "" {
		r.Reason = "declined by a rule of the network file"
		return true, s.finish(c, r, upiv1.Resp_FAILURE, code)
	}
	fail := func(code, why string) (bool, error) {
		r.Reason = why
		return true, s.finish(c, r, upiv1.Resp_FAILURE, code)
	}
	if acc == nil {
		return fail(upi.CodeLiteUnknown, "no LRN "+lrn)
	}
	bankIFSC := s.bankIFSC(acc)
	amount := r.AmountPaise
	switch purpose {
	case lite.PurposeInitialTopUp, lite.PurposeTopUp, lite.PurposeAutoTopUpSetup:
		if acc.State != lite.StateActive && (purpose == lite.PurposeTopUp || acc.State != lite.StatePending) {
			return fail(upi.CodeLiteUnknown, "LRN "+lrn+" is "+acc.State)
		}
		if limit := s.net.Lite.At(c.Now()).Balance; acc.BalancePaise+acc.TopupsInFlightPaise+amount > limit {
			return fail(upi.CodeLiteBalanceLimit, fmt.Sprintf("LRN %s holds %s with %s of top-ups in flight: %s more is over the balance limit %s",
				lrn, upi.FormatPaise(acc.BalancePaise), upi.FormatPaise(acc.TopupsInFlightPaise), upi.FormatPaise(amount), upi.FormatPaise(limit)))
		}
		acc.TopupsInFlightPaise += amount
		r.Lite.InFlight = true
		if err := keepLiteMandate(c, r, l); err != nil { // lite_auto.go
			return true, err
		}
		r.Payee = &party{Addr: r.Payee.Addr, Name: "Lite " + lrn, AcNum: lrn, Ifsc: bankIFSC}
	default: // 46, 43
		if acc.State != lite.StateActive {
			return fail(upi.CodeLiteUnknown, "LRN "+lrn+" is "+acc.State)
		}
		if code, why, err := s.liteCheckARQC(c, acc, r, r.Payee.Addr); err != nil || code != "" {
			if err != nil {
				return true, err
			}
			return fail(code, why)
		}
		if purpose == lite.PurposeDisable && amount < acc.BalancePaise {
			return true, node.Refuse("a UPI Lite disable (43) takes the whole balance of %s, %s, not %s", lrn, upi.FormatPaise(acc.BalancePaise), upi.FormatPaise(amount))
		}
		if amount > acc.BalancePaise {
			return fail(upi.CodeInsufficientFunds, fmt.Sprintf("LRN %s holds %s, less than %s", lrn, upi.FormatPaise(acc.BalancePaise), upi.FormatPaise(amount)))
		}
		if err := s.liteTake(c, acc, r); err != nil {
			return true, err
		}
		r.Payer.AcNum, r.Payer.Ifsc = lrn, bankIFSC
		r.Payee.AcNum, r.Payee.Ifsc = acc.AcNum, acc.Ifsc
	}
	if err := saveLite(c, acc); err != nil {
		return true, err
	}
	return true, s.debit(c, r)
}

// bankIFSC is the IFSC of acc's bank (its LRNs' ac_num's IFSC).
func (s *Switch) bankIFSC(acc *liteAccount) string {
	if b, ok := s.net.NodeByName(acc.Bank); ok && b.IFSC != "" {
		return strings.ToUpper(b.IFSC)
	}
	return acc.Ifsc
}

// liteCheckARQC checks the device's cryptogram of r against acc, payee
// being the address it signed: LQ when it does not verify, LC when the
// counter is not above the last online one or is an offline record's.
func (s *Switch) liteCheckARQC(c *node.Ctx, acc *liteAccount, r *record, payee string) (code, why string, err error) {
	l := r.Lite
	a := lite.ARQC{TxnID: r.Id, LRN: acc.Lrn, Counter: l.Counter, AmountPaise: r.AmountPaise, Payee: payee, DeviceBalance: l.DeviceBalancePaise}
	if !a.Verify(acc.DeviceKey, l.Arqc) {
		return upi.CodeLiteCryptogram, "the ARQC does not verify with the device key of " + acc.Lrn, nil
	}
	if l.Counter <= acc.Counter {
		return upi.CodeLiteReplay, fmt.Sprintf("counter %d of %s is not above its last online counter %d", l.Counter, acc.Lrn, acc.Counter), nil
	}
	prev, err := loadCounter(c.Tx, acc.Lrn, l.Counter)
	if err != nil {
		return "", "", err
	}
	if prev != nil {
		return upi.CodeLiteReplay, fmt.Sprintf("counter %d of %s was used before (%s %s)", l.Counter, acc.Lrn, prev.Kind, prev.TxnId), nil
	}
	return "", "", nil
}

// liteTake takes r's amount off acc (the caller saves acc) and records the
// counter r used.
func (s *Switch) liteTake(c *node.Ctx, acc *liteAccount, r *record) error {
	l := r.Lite
	acc.BalancePaise -= r.AmountPaise
	acc.Counter = l.Counter
	acc.DeviceReportedPaise = l.DeviceBalancePaise
	if err := noteDeviceReport(c, acc, r.Id); err != nil { // literecon.go
		return err
	}
	l.Held = true
	a := lite.ARQC{TxnID: r.Id, LRN: acc.Lrn, Counter: l.Counter, AmountPaise: r.AmountPaise, Payee: r.Payee.Addr, DeviceBalance: l.DeviceBalancePaise}
	return saveCounter(c, &liteRecord{Lrn: acc.Lrn, Counter: l.Counter, Hash: a.Hash(), Kind: lite.KindOnline,
		TxnId: r.Id, Status: upiv1.Resp_PENDING.String(),
		Record: &upiv1.LiteRecord{Lrn: acc.Lrn, DeviceId: l.DeviceId, Counter: l.Counter, PayerAddr: r.Payer.Addr,
			PayeeAddr: r.Payee.Addr, AmountPaise: r.AmountPaise, DeviceBalancePaise: l.DeviceBalancePaise}})
}

// liteAuth is the auth engine's step of an online payment (44), in the
// step that took the payee's details: the checks, then the amount off the
// LRN and the CREDIT.
func (s *Switch) liteAuth(c *node.Ctx, r *record) error {
	fail := func(code, why string) error {
		r.Reason = why
		return s.finish(c, r, upiv1.Resp_FAILURE, code)
	}
	acc, err := loadLite(c.Tx, r.Lite.Lrn)
	if err != nil {
		return err
	}
	switch {
	case acc == nil:
		return fail(upi.CodeLiteUnknown, "no LRN "+r.Lite.Lrn)
	case acc.State != lite.StateActive:
		return fail(upi.CodeLiteUnknown, "LRN "+acc.Lrn+" is "+acc.State)
	}
	if code, why, err := s.liteCheckARQC(c, acc, r, r.Payee.Addr); err != nil || code != "" {
		if err != nil {
			return err
		}
		return fail(code, why)
	}
	if limit := s.net.Lite.At(c.Now()).PerTxn; r.AmountPaise > limit {
		return fail(upi.CodeLimitExceeded, fmt.Sprintf("%s is over the Lite limit per payment %s", upi.FormatPaise(r.AmountPaise), upi.FormatPaise(limit)))
	}
	if r.AmountPaise > acc.BalancePaise {
		return fail(upi.CodeInsufficientFunds, fmt.Sprintf("LRN %s holds %s, less than %s", acc.Lrn, upi.FormatPaise(acc.BalancePaise), upi.FormatPaise(r.AmountPaise)))
	}
	if err := s.liteTake(c, acc, r); err != nil {
		return err
	}
	if err := saveLite(c, acc); err != nil {
		return err
	}
	r.Remitter = acc.Bank
	r.Payer.AcNum, r.Payer.Ifsc = acc.Lrn, s.bankIFSC(acc)
	return s.credit(c, r)
}

// liteFinish moves the LRN of a Lite pay r by its outcome, once, in the
// step that decides it (finish, before the answer): a top-up's SUCCESS
// adds the amount (the LRN ACTIVE), a FAILURE gives a held amount back; a
// SUCCESS 44 or 43 is confirmed to the remitter.
func (s *Switch) liteFinish(c *node.Ctx, r *record, result upiv1.Resp_Result) error {
	l := r.GetLite()
	if l == nil || l.Settled {
		return nil
	}
	acc, err := loadLite(c.Tx, l.Lrn)
	if err != nil || acc == nil {
		return err
	}
	l.Settled = true
	ok, amount, purpose := result == upiv1.Resp_SUCCESS, r.AmountPaise, r.GetInfo().GetPurpose()
	if l.InFlight {
		acc.TopupsInFlightPaise -= amount
		if ok {
			acc.BalancePaise += amount
			acc.TopupsPaise += amount
			if acc.State == lite.StatePending {
				acc.State = lite.StateActive
			}
		}
	}
	if l.Held {
		if !ok {
			acc.BalancePaise += amount
		}
		if err := s.liteCounterDecided(c, r, result); err != nil {
			return err
		}
	}
	if ok && l.Held {
		confirm := &upiv1.LiteInfo{Lrn: acc.Lrn}
		switch purpose {
		case lite.PurposeOnlinePay:
			acc.OnlinePaise += amount
			acc.UnconfirmedPaise += amount
			confirm.AmountPaise = amount
		case lite.PurposeTransferOut:
			acc.TransfersPaise += amount
			confirm = nil
		case lite.PurposeDisable:
			acc.TransfersPaise += amount
			acc.State = lite.StateDisabled
			confirm.State = lite.StateDisabled
		}
		if confirm != nil {
			m := &upiv1.ReqTxnConfirmation{Txn: txnOf(r, upiv1.Txn_PAY), Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}, Lite: confirm}
			if l.Confirm, err = send(c, acc.Bank, upiv1.RemitterService_ReqTxnConfirmation_FullMethodName, m); err != nil {
				return err
			}
		}
	}
	return saveLite(c, acc)
}

// liteCounterDecided records the outcome of r on the counter it used.
func (s *Switch) liteCounterDecided(c *node.Ctx, r *record, result upiv1.Resp_Result) error {
	rec, err := loadCounter(c.Tx, r.Lite.Lrn, r.Lite.Counter)
	if err != nil || rec == nil || rec.TxnId != r.Id {
		return err
	}
	rec.Status, rec.ErrCode, rec.Utr, rec.Reason = result.String(), r.ErrCode, r.Rrn, r.Reason
	return saveCounter(c, rec)
}

// liteResp is the lite block of the RespPay of a Lite pay r: the LRN's
// state and balance at the switch now and, for a payment the device
// signed, its counter and the switch's ARPC over the outcome.
func (s *Switch) liteResp(c *node.Ctx, r *record) (*upiv1.LiteInfo, error) {
	l := r.GetLite()
	if l == nil {
		return nil, nil
	}
	out := &upiv1.LiteInfo{Lrn: l.Lrn, DeviceId: l.DeviceId, Counter: l.Counter}
	acc, err := loadLite(c.Tx, l.Lrn)
	if err != nil || acc == nil {
		return out, err
	}
	out.BalancePaise, out.State = acc.BalancePaise, acc.State
	if l.Counter != 0 && s.keys != nil {
		out.Arpc = lite.ARPC{TxnID: r.Id, LRN: l.Lrn, Counter: l.Counter, Result: r.Status, Balance: acc.BalancePaise}.Sign(s.keys.Sign)
	}
	return out, nil
}

// liteLeg is the lite block of r's leg of type leg to a bank: a top-up's
// DEBIT and CREDIT (the CREDIT goes to the remitter's Lite pool), and a
// transfer-out's or disable's DEBIT and REVERSAL (from and back to the
// pool) carry the LRN with its device and account; nil for any other leg.
func (s *Switch) liteLeg(c *node.Ctx, r *record, leg upiv1.Txn_Type) (*upiv1.LiteInfo, error) {
	l := r.GetLite()
	if l == nil {
		return nil, nil
	}
	switch purpose := r.GetInfo().GetPurpose(); {
	case lite.IsTopUp(purpose):
	case (purpose == lite.PurposeTransferOut || purpose == lite.PurposeDisable) && leg != upiv1.Txn_CREDIT:
	default:
		return nil, nil
	}
	acc, err := loadLite(c.Tx, l.Lrn)
	if err != nil || acc == nil {
		return nil, err
	}
	info := &upiv1.LiteInfo{Lrn: acc.Lrn, DeviceId: acc.DeviceId, DeviceKey: acc.DeviceKey, State: acc.State,
		Ac: &upiv1.Account{AcNum: acc.AcNum, Ifsc: acc.Ifsc}}
	return info, liteMandateLeg(c, r, leg, info) // lite_auto.go
}

// liteConfirmed takes the remitter's RespTxnConfirmation of a Lite
// confirmation: for a 44, the first SUCCESS takes the amount off the LRN's
// unconfirmed_paise. A zero-balance disable's (50) has no pay record: the
// runtime bound the answer to the request, and it changes nothing.
func (s *Switch) liteConfirmed(c *node.Ctx, in *node.Inbound, m *upiv1.RespTxnConfirmation) error {
	id := m.GetTxn().GetId()
	r, err := loadRecord(c.Tx, id)
	if err != nil {
		return err
	}
	if r == nil || r.GetLite().GetConfirm() == nil {
		if m.GetTxn().GetPurpose() == lite.PurposeZeroDisable {
			return c.NoteReceived("the remitter has the zero-balance disable")
		}
		if m.GetTxn().GetPurpose() == lite.PurposeAutoTopUpSetup {
			return c.NoteReceived("the remitter answered the Lite mandate's revocation " + m.GetResp().GetResult().String() + " " + m.GetResp().GetErrCode())
		}
		return node.Refuse("RespTxnConfirmation for transaction %s answers nothing: the switch sent %s no Lite confirmation for it", id, in.From)
	}
	l := r.Lite
	if l.Confirm.To != in.From {
		return node.Refuse("RespTxnConfirmation for transaction %s must come from %s, not %s", id, l.Confirm.To, in.From)
	}
	if l.Confirm.Answered != 0 || l.Confirmed {
		if err := note(r, c, in, "", m.GetResp()); err != nil {
			return err
		}
		return saveRecord(r, c)
	}
	answerExchange(l.Confirm, c.Now(), m.GetResp())
	if m.GetResp().GetResult() == upiv1.Resp_SUCCESS && r.GetInfo().GetPurpose() == lite.PurposeOnlinePay {
		acc, err := loadLite(c.Tx, l.Lrn)
		if err != nil {
			return err
		}
		if acc != nil {
			acc.UnconfirmedPaise -= r.AmountPaise
			if err := saveLite(c, acc); err != nil {
				return err
			}
		}
		l.Confirmed = true
	} else if err := c.NoteReceived("the remitter answered the Lite confirmation " + m.GetResp().GetResult().String() + " " + m.GetResp().GetErrCode()); err != nil {
		return err
	}
	return saveRecord(r, c)
}
