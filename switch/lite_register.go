package upiswitch

// UPI Lite registration and zero-balance disable at the switch's auth
// engine (docs/FLOWS.md, UPI Lite, "Enable (GetLite) and the initial
// top-up (41)" and "Top-up (42), transfer-out (46), disable (43, 50)"): a
// PSP's ReqListKeys type GetLite issues an LRN (PENDING, balance 0) for a
// user's account and device; a ReqChkTxn sub_type LITE_SYNC purpose 50
// disables an LRN whose balance is zero and tells its remitter.

import (
	"fmt"
	"strings"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// devicePrefix starts the key of the device index in store.LiteAccounts:
// "dev/<device id>" → a SwitchLiteAccount carrying only the LRN the device
// holds now (its latest). LRNs never hold a "/", so whatever lists the
// accounts skips every key with one (isLRNKey).
const devicePrefix = "dev/"

// isLRNKey reports whether a store.LiteAccounts key is an LRN's (not the
// device index's).
func isLRNKey(k string) bool { return !strings.Contains(k, "/") }

// deviceLRN is the LRN device holds now, "" when it never registered.
func deviceLRN(tx *store.Tx, device string) (string, error) {
	a, ok, err := liteAccounts.Get(tx, devicePrefix+device)
	if err != nil || !ok {
		return "", err
	}
	return a.GetLrn(), nil
}

// lrnFor issues a new LRN at the bank of ifsc: the IFSC's first 4 letters,
// "L", and 12 digits of the switch's counter (store.MetaLiteLRN).
func lrnFor(c *node.Ctx, ifsc string) (string, error) {
	seq, err := store.MetaLiteLRN.Next(c.Tx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%sL%012d", strings.ToUpper(ifsc[:4]), seq), nil
}

// validateGetLite refuses a malformed registration.
func (s *Switch) validateGetLite(in *node.Inbound, m *upiv1.ReqListKeys) error {
	p, l := m.GetPayer(), m.GetLite()
	switch {
	case m.GetTxn().GetId() == "":
		return node.Refuse("ReqListKeys GetLite needs txn.id")
	case ids.ValidateVPA(p.GetAddr()) != nil:
		return node.Refuse("ReqListKeys GetLite: payer.addr %q is not a VPA", p.GetAddr())
	case p.GetAc().GetAcNum() == "" || len(p.GetAc().GetIfsc()) < 4:
		return node.Refuse("ReqListKeys GetLite needs payer.ac with ac_num and ifsc (the account behind the LRN)")
	case l.GetDeviceId() == "":
		return node.Refuse("ReqListKeys GetLite needs lite.device_id")
	case len(l.GetDeviceKey()) != 32:
		return node.Refuse("ReqListKeys GetLite: lite.device_key has %d bytes, an ed25519 public key has 32", len(l.GetDeviceKey()))
	}
	if psp, ok := s.net.PSPForVPA(p.GetAddr()); !ok || psp.Name != in.From {
		return node.Refuse("ReqListKeys GetLite: payer %s is not a user of %s (handle @%s)", p.GetAddr(), in.From, ids.HandleOf(p.GetAddr()))
	}
	return nil
}

// liteRegister takes a GetLite registration: a device with an LRN PENDING
// gets the same LRN again (a repeat), one ACTIVE is LC; otherwise a new LRN,
// PENDING at balance 0, for the account and device key given.
func (s *Switch) liteRegister(c *node.Ctx, in *node.Inbound, m *upiv1.ReqListKeys) error {
	if err := s.validateGetLite(in, m); err != nil {
		return err
	}
	p, l := m.GetPayer(), m.GetLite()
	ifsc := strings.ToUpper(p.GetAc().GetIfsc())
	resp := &upiv1.RespListKeys{
		Txn:  m.GetTxn(),
		Resp: &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
		Lite: &upiv1.LiteInfo{DeviceId: l.GetDeviceId()},
	}
	reply := func() error { return c.Send(in.From, upiv1.NodeKeyService_RespListKeys_FullMethodName, resp) }
	fail := func(code, why string) error {
		resp.Resp.Result, resp.Resp.ErrCode = upiv1.Resp_FAILURE, code
		if err := c.NoteReceived(why); err != nil {
			return err
		}
		return reply()
	}
	bank, ok := s.net.BankForIFSC(ifsc)
	if !ok {
		return fail(upi.CodeDebitFailed, "no bank has the IFSC "+ifsc+": U30")
	}
	lrn, err := deviceLRN(c.Tx, l.GetDeviceId())
	if err != nil {
		return err
	}
	var acc *liteAccount
	if lrn != "" {
		if acc, err = loadLite(c.Tx, lrn); err != nil {
			return err
		}
	}
	switch {
	case acc != nil && acc.State == lite.StateActive:
		return fail(upi.CodeLiteReplay, "device "+l.GetDeviceId()+" already has the ACTIVE LRN "+acc.Lrn+": LC")
	case acc != nil && acc.State == lite.StatePending && acc.Bank == bank.Name:
		// A repeat, or the device registering anew before its first
		// top-up: the same LRN, with what this registration says.
	default:
		if acc != nil && acc.State == lite.StatePending {
			// Registered again at another bank: the PENDING one (no money
			// in it) is done with.
			acc.State = lite.StateDisabled
			if err := saveLite(c, acc); err != nil {
				return err
			}
		}
		if lrn, err = lrnFor(c, ifsc); err != nil {
			return err
		}
		acc = &liteAccount{Lrn: lrn, State: lite.StatePending}
	}
	acc.Vpa, acc.Psp, acc.DeviceId, acc.DeviceKey = ids.NormalizeVPA(p.GetAddr()), in.From, l.GetDeviceId(), l.GetDeviceKey()
	acc.Bank, acc.AcNum, acc.Ifsc = bank.Name, p.GetAc().GetAcNum(), ifsc
	acc.RegisteredTxnId = m.GetTxn().GetId()
	if err := saveLite(c, acc); err != nil {
		return err
	}
	if err := liteAccounts.Put(c.Tx, devicePrefix+acc.DeviceId, &liteAccount{Lrn: acc.Lrn, DeviceId: acc.DeviceId}); err != nil {
		return err
	}
	resp.Lite.Lrn, resp.Lite.State = acc.Lrn, acc.State
	return reply()
}

// validateLiteChkTxn: a zero-balance disable is CHK_STATUS sub_type
// LITE_SYNC, purpose 50, naming lite.lrn.
func validateLiteChkTxn(m *upiv1.ReqChkTxn) error {
	t := m.GetTxn()
	switch {
	case t.GetType() != upiv1.Txn_CHK_STATUS:
		return node.Refuse("ReqChkTxn LITE_SYNC: txn.type must be CHK_STATUS, not %s", t.GetType())
	case t.GetPurpose() == lite.PurposeAutoTopUpSetup:
		return validateLiteRevoke(m) // lite_auto.go
	case t.GetPurpose() != lite.PurposeZeroDisable:
		return node.Refuse("ReqChkTxn LITE_SYNC: txn.purpose must be %s (zero-balance disable), not %q", lite.PurposeZeroDisable, t.GetPurpose())
	case t.GetId() == "":
		return node.Refuse("ReqChkTxn LITE_SYNC needs txn.id")
	case m.GetLite().GetLrn() == "":
		return node.Refuse("ReqChkTxn LITE_SYNC purpose 50 needs lite.lrn")
	}
	return nil
}

// liteZeroDisable disables an ACTIVE LRN of the sender's user whose
// balance is zero with nothing unconfirmed or in flight (else LZ; LR for
// an LRN unknown, not ACTIVE or not the sender's), tells its remitter in a
// ReqTxnConfirmation purpose 50, and answers RespChkTxn at once.
func (s *Switch) liteZeroDisable(c *node.Ctx, in *node.Inbound, m *upiv1.ReqChkTxn) error {
	asked := m.GetTxn()
	lrn := strings.ToUpper(m.GetLite().GetLrn())
	acc, err := loadLite(c.Tx, lrn)
	if err != nil {
		return err
	}
	txn := &upiv1.Txn{Id: asked.GetId(), Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_LITE_SYNC, Purpose: lite.PurposeZeroDisable}
	resp := &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}
	info := &upiv1.LiteInfo{Lrn: lrn}
	var why string
	switch {
	case acc == nil || !s.ownsLRN(acc, in.From):
		resp.Result, resp.ErrCode, why = upiv1.Resp_FAILURE, upi.CodeLiteUnknown, "no LRN "+lrn+" of this PSP's users: LR"
	case acc.State != lite.StateActive:
		resp.Result, resp.ErrCode, why = upiv1.Resp_FAILURE, upi.CodeLiteUnknown, "LRN "+lrn+" is "+acc.State+": LR"
	case acc.BalancePaise != 0 || acc.UnconfirmedPaise != 0 || acc.TopupsInFlightPaise != 0:
		resp.Result, resp.ErrCode = upiv1.Resp_FAILURE, upi.CodeLiteNotZero
		why = fmt.Sprintf("LRN %s holds %s (%s unconfirmed, %s of top-ups in flight): LZ", lrn,
			upi.FormatPaise(acc.BalancePaise), upi.FormatPaise(acc.UnconfirmedPaise), upi.FormatPaise(acc.TopupsInFlightPaise))
	default:
		acc.State = lite.StateDisabled
		if err := saveLite(c, acc); err != nil {
			return err
		}
		if err := c.Send(acc.Bank, upiv1.RemitterService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{
			Txn:  &upiv1.Txn{Id: asked.GetId(), Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_LITE_SYNC, Purpose: lite.PurposeZeroDisable},
			Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
			Lite: &upiv1.LiteInfo{Lrn: lrn, State: lite.StateDisabled},
		}); err != nil {
			return err
		}
	}
	if acc != nil && s.ownsLRN(acc, in.From) {
		info.State, info.BalancePaise = acc.State, acc.BalancePaise
	}
	if why != "" {
		if err := c.NoteReceived(why); err != nil {
			return err
		}
	}
	return c.Send(in.From, upiv1.PspService_RespChkTxn_FullMethodName, &upiv1.RespChkTxn{Txn: txn, Resp: resp, Lite: info})
}

// ownsLRN reports whether psp holds acc's user: the PSP of its VPA.
func (s *Switch) ownsLRN(acc *liteAccount, psp string) bool {
	p, ok := s.net.PSPForVPA(acc.Vpa)
	return ok && p.Name == psp
}
