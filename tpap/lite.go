// UPI Lite's money calls at the TPAP (docs/FLOWS.md, UPI Lite and Lite
// X): enable (GetLite and the initial top-up), top-up, online payment
// with the device's ARQC, offline (Lite X) records, transfer-out and
// disable. A device checks what it can before anything is sent; each call
// to the PSP is recorded on the device as a pending call by txn id, and
// the PSP's notification (tpap.go's Notify step, applyLite) answers it.

package tpap

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/keydir"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// refusal is a device-side refusal: a LiteResult FAILURE with the code,
// nothing moved.
type refusal struct{ code, reason string }

func (r *refusal) Error() string { return r.code + ": " + r.reason }

func refuse(code, format string, a ...any) *refusal {
	return &refusal{code: code, reason: fmt.Sprintf(format, a...)}
}

// refused is the LiteResult of err when it is a refusal.
func (x *TPAP) refused(err error, devID string) (*upiv1.LiteResult, bool) {
	var r *refusal
	if !errors.As(err, &r) {
		return nil, false
	}
	out := &upiv1.LiteResult{Status: upiv1.Resp_FAILURE, ErrCode: r.code, Reason: r.reason}
	if d, derr := x.loadDevice(devID); derr == nil {
		out.Lrn, out.DeviceBalancePaise, out.Wallet = d.GetLrn(), d.GetBalancePaise(), x.wallet(d)
	}
	return out, true
}

func checkAmount(a int64) error {
	if a <= 0 {
		return status.Errorf(codes.InvalidArgument, "amount_paise must be greater than 0, got %d", a)
	}
	if a > upi.MaxAmountPaise {
		return status.Errorf(codes.InvalidArgument, "amount_paise %d is more than the largest amount", a)
	}
	return nil
}

// EnableLite registers a Lite wallet for vpa on device_id (RegisterLite,
// then LITE_STATUS with the LRN) and tops it up (purpose 41).
func (x *TPAP) EnableLite(ctx context.Context, r *upiv1.EnableLiteRequest) (*upiv1.LiteResult, error) {
	if err := validDeviceID(r.GetDeviceId()); err != nil {
		return nil, err
	}
	if err := ids.ValidateVPA(r.GetVpa()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "vpa: %v", err)
	}
	if err := checkAmount(r.GetAmountPaise()); err != nil {
		return nil, err
	}
	if err := ids.ValidatePIN(r.GetPin()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "pin: %v", err)
	}
	auto, err := x.enableAuto(r) // lite_auto.go
	if err != nil {
		return nil, err
	}
	deadline, err := deadlineOf(r.GetWaitMs())
	if err != nil {
		return nil, err
	}
	if _, err := x.bankOf(r.GetVpa()); err != nil {
		return nil, err
	}
	psp, cl, err := x.litePSP(r.GetVpa())
	if err != nil {
		return nil, err
	}
	key, err := x.deviceKey(r.GetDeviceId())
	if err != nil {
		return nil, err
	}
	vpa := ids.NormalizeVPA(r.GetVpa())
	if err := x.n.Acquire(); err != nil {
		return nil, err
	}
	regID := ids.NewTxnID(psp.Prefix)
	err = x.n.Update(func(c *node.Ctx) error {
		d, found, err := liteDevices.Get(c.Tx, r.GetDeviceId())
		if err != nil {
			return err
		}
		now := store.Nanos(c.Now())
		if found {
			st := devState(d)
			if st == upiv1.LiteState_LITE_ACTIVE || st == upiv1.LiteState_LITE_RECEIVE_ONLY || (d.GetVpa() != vpa && st != upiv1.LiteState_LITE_DISABLED) {
				return status.Errorf(codes.AlreadyExists, "Lite device %s is already %s for %s", d.GetDeviceId(), stateName(d), d.GetVpa())
			}
		} else {
			d = &liteDevice{DeviceId: r.GetDeviceId(), Created: now}
		}
		// A new registration: a PENDING LRN is replaced, a DISABLED one
		// left behind.
		d.Vpa, d.Psp, d.Lrn, d.State = vpa, psp.Name, "", upiv1.LiteState_LITE_PENDING.String()
		d.BalancePaise, d.ReportedBalancePaise, d.ReportedAt, d.Counter, d.OfflineSinceSync = 0, 0, 0, 0, 0
		d.RebaseVersion = 0 // a new LRN's versions start again
		d.Untrusted, d.UntrustedReason, d.Updated = false, "", now
		// An earlier registration's late answer must not bring back the
		// LRN this one replaces.
		out := d.Pending[:0]
		for _, p := range d.Pending {
			if p.GetKind() != kindRegister {
				out = append(out, p)
			}
		}
		d.Pending = append(out, &litePending{TxnId: regID, Kind: kindRegister, AmountPaise: r.GetAmountPaise(), Created: now})
		return liteDevices.Put(c.Tx, d.DeviceId, d)
	})
	if err != nil {
		x.n.Release()
		return nil, storeErr(err)
	}
	_, err = callPSP(ctx, psp.Name, func(ctx context.Context) (*upiv1.RegisterLiteResponse, error) {
		return cl.RegisterLite(ctx, &upiv1.RegisterLiteRequest{TxnId: regID, PayerVpa: vpa, DeviceId: r.GetDeviceId(),
			DeviceKey: []byte(key.Public().(ed25519.PublicKey))})
	})
	x.n.Release()
	if err != nil {
		x.undoCall(r.GetDeviceId(), regID, false)
		return nil, err
	}
	d, p, err := x.waitCall(ctx, r.GetDeviceId(), regID, deadline)
	if err != nil {
		return nil, err
	}
	if p == nil || !p.GetDone() {
		return &upiv1.LiteResult{TxnId: regID, Status: upiv1.Resp_PENDING, Reason: "the registration is not answered yet",
			Wallet: x.wallet(d)}, nil
	}
	if res := resultOf(p); res != upiv1.Resp_SUCCESS {
		return &upiv1.LiteResult{TxnId: regID, Status: res, ErrCode: p.GetErrCode(),
			Reason: "the switch refused the registration", Wallet: x.wallet(d)}, nil
	}
	if auto { // the initial top-up sets up the mandate (71)
		return x.setUpAuto(ctx, r.GetDeviceId(), r.GetAutoThresholdPaise(), r.GetAutoAmountPaise(), r.GetAmountPaise(), r.GetPin(), deadline)
	}
	return x.topUp(ctx, r.GetDeviceId(), r.GetAmountPaise(), r.GetPin(), deadline)
}

// TopUpLite adds to the wallet (purpose 42; 41 for a registered wallet
// that never had its initial top-up).
func (x *TPAP) TopUpLite(ctx context.Context, r *upiv1.TopUpLiteRequest) (*upiv1.LiteResult, error) {
	if err := validDeviceID(r.GetDeviceId()); err != nil {
		return nil, err
	}
	if err := checkAmount(r.GetAmountPaise()); err != nil {
		return nil, err
	}
	if err := ids.ValidatePIN(r.GetPin()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "pin: %v", err)
	}
	deadline, err := deadlineOf(r.GetWaitMs())
	if err != nil {
		return nil, err
	}
	if _, err := x.loadDevice(r.GetDeviceId()); err != nil {
		return nil, err
	}
	return x.topUp(ctx, r.GetDeviceId(), r.GetAmountPaise(), r.GetPin(), deadline)
}

func (x *TPAP) topUp(ctx context.Context, devID string, amount int64, pinValue string, deadline time.Time) (*upiv1.LiteResult, error) {
	d, err := x.loadDevice(devID)
	if err != nil {
		return nil, err
	}
	seal, err := x.newSealer(ctx, d.GetVpa(), pinValue)
	if err != nil {
		return nil, err
	}
	defer seal.forget()
	var devKey []byte
	purpose := lite.PurposeTopUp
	if devState(d) == upiv1.LiteState_LITE_PENDING {
		purpose = lite.PurposeInitialTopUp
		k, err := x.deviceKey(devID)
		if err != nil {
			return nil, err
		}
		devKey = []byte(k.Public().(ed25519.PublicKey))
	}
	return x.litePay(ctx, devID, litePayment{
		purpose: purpose, amount: amount, online: true, seal: seal,
		check: func(d *liteDevice) error {
			switch {
			case d.GetOffline():
				return refuse(upi.CodeLiteOffline, "device %s is offline: a top-up needs the network", devID)
			case d.GetLrn() == "" || (devState(d) != upiv1.LiteState_LITE_ACTIVE && devState(d) != upiv1.LiteState_LITE_PENDING):
				return refuse(upi.CodeLiteUnknown, "device %s has no Lite wallet to top up (%s)", devID, stateName(d))
			}
			return nil
		},
		info: func(d *liteDevice, _ *litePending) *upiv1.LiteInfo {
			return &upiv1.LiteInfo{Lrn: d.GetLrn(), DeviceId: devID, DeviceKey: devKey}
		},
	}, deadline)
}

// litePayment is one InitiatePay of a device.
type litePayment struct {
	purpose          string
	amount           int64
	payee, note, ref string
	online           bool
	seal             *sealer
	// arqc: the device signs the payment (44, 46, 43) with the next
	// counter, paying arqcPayee, and debits its wallet provisionally.
	arqc      bool
	arqcPayee string
	// check refuses what the device must not send.
	check func(d *liteDevice) error
	info  func(d *liteDevice, p *litePending) *upiv1.LiteInfo
	// inStep, if set, runs in the step that records the call (a Lite
	// mandate's record, lite_auto.go).
	inStep func(c *node.Ctx, d *liteDevice, p *litePending) error
}

// litePay makes one Lite payment through the device's PSP and waits for
// its outcome.
func (x *TPAP) litePay(ctx context.Context, devID string, lp litePayment, deadline time.Time) (*upiv1.LiteResult, error) {
	d, err := x.loadDevice(devID)
	if err != nil {
		return nil, err
	}
	psp, cl, err := x.litePSP(d.GetVpa())
	if err != nil {
		return nil, err
	}
	key, err := x.deviceKey(devID)
	if err != nil {
		return nil, err
	}
	if err := x.n.Acquire(); err != nil {
		return nil, err
	}
	txnID := ids.NewTxnID(psp.Prefix)
	var info *upiv1.LiteInfo
	err = x.n.Update(func(c *node.Ctx) error {
		d, found, err := liteDevices.Get(c.Tx, devID)
		if err != nil {
			return err
		}
		if !found {
			return status.Errorf(codes.NotFound, "no Lite device %s", devID)
		}
		if err := lp.check(d); err != nil {
			return err
		}
		p := &litePending{TxnId: txnID, Kind: lp.purpose, AmountPaise: lp.amount, Payee: lp.payee, Created: store.Nanos(c.Now())}
		if lp.arqc {
			d.Counter++
			p.Counter, p.BalanceBefore = d.Counter, d.BalancePaise
			d.BalancePaise -= lp.amount
		}
		d.Pending = append(d.Pending, p)
		d.Updated = store.Nanos(c.Now())
		if lp.inStep != nil {
			if err := lp.inStep(c, d, p); err != nil {
				return err
			}
		}
		info = lp.info(d, p)
		if lp.arqc {
			info.Counter, info.DeviceBalancePaise = p.Counter, p.BalanceBefore
			info.Arqc = lite.ARQC{TxnID: txnID, LRN: d.GetLrn(), Counter: p.Counter, AmountPaise: lp.amount,
				Payee: lp.arqcPayee, DeviceBalance: p.BalanceBefore}.Sign(key)
		}
		return liteDevices.Put(c.Tx, devID, d)
	})
	if err != nil {
		x.n.Release()
		if out, ok := x.refused(err, devID); ok {
			return out, nil
		}
		return nil, storeErr(err)
	}
	req := &upiv1.InitiatePayRequest{PayerVpa: d.GetVpa(), PayeeVpa: lp.payee, AmountPaise: lp.amount, Note: lp.note,
		DeviceId: devID, RefId: lp.ref, Purpose: lp.purpose, TxnId: txnID, Lite: info}
	if lp.seal != nil {
		if req.Cred, err = lp.seal.cred(txnID); err != nil {
			x.n.Release()
			x.undoCall(devID, txnID, lp.arqc)
			return nil, err
		}
	}
	resp, err := callPSP(ctx, psp.Name, func(ctx context.Context) (*upiv1.InitiatePayResponse, error) {
		return cl.InitiatePay(ctx, req)
	})
	if err != nil {
		x.n.Release()
		if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded && c != codes.Canceled {
			// The PSP refused it: nothing was sent, the debit goes back.
			x.undoCall(devID, txnID, lp.arqc)
		}
		return nil, err
	}
	payee := lp.payee
	if payee == "" {
		payee = d.GetLrn() + "@lite"
	}
	_, err = x.recordStarted(psp.Name, txnID, resp.GetTransaction(), &txnRecord{Type: upiv1.Txn_PAY.String(),
		Payer: d.GetVpa(), Payee: payee, AmountPaise: lp.amount, Note: lp.note})
	x.n.Release()
	if err != nil {
		return nil, err
	}
	d, p, err := x.waitCall(ctx, devID, txnID, deadline)
	if err != nil {
		return nil, err
	}
	out := &upiv1.LiteResult{TxnId: txnID, Status: upiv1.Resp_PENDING, Lrn: d.GetLrn(),
		DeviceBalancePaise: d.GetBalancePaise(), Wallet: x.wallet(d)}
	if p != nil {
		out.Status, out.ErrCode, out.Rrn = resultOf(p), p.GetErrCode(), p.GetRrn()
	}
	if d.GetUntrusted() {
		out.Reason = d.GetUntrustedReason()
	}
	return out, nil
}

// undoCall drops a call the PSP did not take, giving back its
// provisional debit (the counter stays used).
func (x *TPAP) undoCall(devID, txnID string, debited bool) {
	err := x.n.Update(func(c *node.Ctx) error {
		d, found, err := liteDevices.Get(c.Tx, devID)
		if err != nil || !found {
			return err
		}
		p := pendingOf(d, txnID)
		if p == nil || p.GetDone() {
			return nil
		}
		if debited {
			d.BalancePaise += p.GetAmountPaise()
		}
		dropPending(d, txnID)
		return liteDevices.Put(c.Tx, devID, d)
	})
	if err != nil {
		x.log.Error("undo a Lite call", "device", devID, "txn_id", txnID, "err", err)
	}
}

func resultOf(p *litePending) upiv1.Resp_Result {
	if r := upiv1.Resp_Result(upiv1.Resp_Result_value[p.GetResult()]); upi.Rank(r) > 0 {
		return r
	}
	return upiv1.Resp_PENDING
}

// PayLite pays from a device's wallet: online (44) or, with
// payee_device_id, offline to that device (45, Lite X).
func (x *TPAP) PayLite(ctx context.Context, r *upiv1.PayLiteRequest) (*upiv1.LiteResult, error) {
	if err := validDeviceID(r.GetDeviceId()); err != nil {
		return nil, err
	}
	payee, amount, ref, note := r.GetPayeeVpa(), r.GetAmountPaise(), r.GetRefId(), r.GetNote()
	if r.GetIntent() != "" {
		in, err := upi.ParseIntent(r.GetIntent())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "intent: %v", err)
		}
		payee = in.PayeeVPA
		if amount == 0 {
			amount = in.AmountPaise
		}
		if ref == "" {
			ref = in.RefID
		}
		if note == "" {
			note = in.Note
		}
	}
	if err := ids.ValidateVPA(payee); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "payee_vpa: %v", err)
	}
	payee = ids.NormalizeVPA(payee)
	if err := checkAmount(amount); err != nil {
		return nil, err
	}
	if err := node.CheckText("ref_id", "upi.v1.Txn.ref_id", ref); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := node.CheckText("note", "upi.v1.Txn.note", note); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	deadline, err := deadlineOf(r.GetWaitMs())
	if err != nil {
		return nil, err
	}
	d, err := x.loadDevice(r.GetDeviceId())
	if err != nil {
		return nil, err
	}
	if payee == d.GetVpa() {
		return nil, status.Errorf(codes.InvalidArgument, "payee_vpa %s is the wallet's own user", payee)
	}
	if r.GetPayeeDeviceId() != "" {
		return x.payOffline(ctx, d.GetDeviceId(), r.GetPayeeDeviceId(), payee, amount, ref, deadline)
	}
	if _, ok := x.cfg.Network.PSPForVPA(payee); !ok {
		return nil, status.Errorf(codes.NotFound, "no PSP owns handle @%s", ids.HandleOf(payee))
	}
	devID := d.GetDeviceId()
	return x.litePay(ctx, devID, litePayment{
		purpose: lite.PurposeOnlinePay, amount: amount, payee: payee, note: note, ref: ref, online: true,
		arqc: true, arqcPayee: payee,
		check: func(d *liteDevice) error {
			lim := x.cfg.Network.Lite.At(x.n.Now())
			switch {
			case d.GetOffline():
				return refuse(upi.CodeLiteOffline, "device %s is offline: an online payment needs the network (pay offline with payee_device_id)", devID)
			case devState(d) != upiv1.LiteState_LITE_ACTIVE:
				return refuse(upi.CodeLiteUnknown, "device %s's Lite wallet is not active (%s)", devID, stateName(d))
			case amount > lim.PerTxn:
				return refuse(upi.CodeLimitExceeded, "%d paise is over the Lite limit of %d paise a payment", amount, lim.PerTxn)
			case amount > d.GetBalancePaise():
				return refuse(upi.CodeInsufficientFunds, "%d paise is more than the wallet's %d paise", amount, d.GetBalancePaise())
			}
			return nil
		},
		info: func(d *liteDevice, _ *litePending) *upiv1.LiteInfo {
			return &upiv1.LiteInfo{Lrn: d.GetLrn(), DeviceId: devID}
		},
	}, deadline)
}

// TransferOutLite returns part of the wallet to the user's account (46).
func (x *TPAP) TransferOutLite(ctx context.Context, r *upiv1.TransferOutLiteRequest) (*upiv1.LiteResult, error) {
	if err := validDeviceID(r.GetDeviceId()); err != nil {
		return nil, err
	}
	if err := checkAmount(r.GetAmountPaise()); err != nil {
		return nil, err
	}
	deadline, err := deadlineOf(r.GetWaitMs())
	if err != nil {
		return nil, err
	}
	d, err := x.loadDevice(r.GetDeviceId())
	if err != nil {
		return nil, err
	}
	return x.sendBack(ctx, d, lite.PurposeTransferOut, r.GetAmountPaise(), deadline)
}

// sendBack is a transfer-out (46) or a disable with a balance (43): the
// device signs it as a payment to its own user.
func (x *TPAP) sendBack(ctx context.Context, d *liteDevice, purpose string, amount int64, deadline time.Time) (*upiv1.LiteResult, error) {
	devID, vpa := d.GetDeviceId(), d.GetVpa()
	return x.litePay(ctx, devID, litePayment{
		purpose: purpose, amount: amount, online: true, arqc: true, arqcPayee: vpa,
		check: func(d *liteDevice) error {
			switch {
			case d.GetOffline():
				return refuse(upi.CodeLiteOffline, "device %s is offline", devID)
			case devState(d) != upiv1.LiteState_LITE_ACTIVE:
				return refuse(upi.CodeLiteUnknown, "device %s's Lite wallet is not active (%s)", devID, stateName(d))
			case purpose == lite.PurposeDisable && len(d.GetUnsynced()) > 0:
				return refuse(upi.CodeLiteUnsynced, "device %s holds %d records no sync answered", devID, len(d.GetUnsynced()))
			case amount > d.GetBalancePaise():
				return refuse(upi.CodeInsufficientFunds, "%d paise is more than the wallet's %d paise", amount, d.GetBalancePaise())
			}
			return nil
		},
		info: func(d *liteDevice, _ *litePending) *upiv1.LiteInfo {
			return &upiv1.LiteInfo{Lrn: d.GetLrn(), DeviceId: devID}
		},
	}, deadline)
}

// DisableLite disables a wallet: with a balance by sending it back (43),
// at zero by PspAppService.DisableLite (50). A device holding records no
// sync answered is refused (LU): it syncs first.
func (x *TPAP) DisableLite(ctx context.Context, r *upiv1.TpapAppServiceDisableLiteRequest) (*upiv1.LiteResult, error) {
	deadline, err := deadlineOf(r.GetWaitMs())
	if err != nil {
		return nil, err
	}
	d, err := x.loadDevice(r.GetDeviceId())
	if err != nil {
		return nil, err
	}
	if n := len(d.GetUnsynced()); n > 0 {
		return nil, status.Errorf(codes.FailedPrecondition, "%s: device %s holds %d records no sync answered; sync it first",
			upi.CodeLiteUnsynced, d.GetDeviceId(), n)
	}
	switch devState(d) {
	case upiv1.LiteState_LITE_DISABLED, upiv1.LiteState_LITE_RECEIVE_ONLY:
		return &upiv1.LiteResult{Status: upiv1.Resp_FAILURE, ErrCode: upi.CodeLiteUnknown,
			Reason: fmt.Sprintf("device %s has no wallet to disable (%s)", d.GetDeviceId(), stateName(d)), Wallet: x.wallet(d)}, nil
	}
	if d.GetOffline() {
		return &upiv1.LiteResult{Status: upiv1.Resp_FAILURE, ErrCode: upi.CodeLiteOffline, Lrn: d.GetLrn(),
			Reason: fmt.Sprintf("device %s is offline", d.GetDeviceId()), Wallet: x.wallet(d)}, nil
	}
	if d.GetBalancePaise() > 0 {
		return x.sendBack(ctx, d, lite.PurposeDisable, d.GetBalancePaise(), deadline)
	}
	if d.GetLrn() == "" {
		// Never registered: nothing at the network to disable.
		err := x.n.Update(func(c *node.Ctx) error {
			d, _, err := liteDevices.Get(c.Tx, r.GetDeviceId())
			if err != nil {
				return err
			}
			d.State, d.Updated = upiv1.LiteState_LITE_DISABLED.String(), store.Nanos(c.Now())
			return liteDevices.Put(c.Tx, d.DeviceId, d)
		})
		if err != nil {
			return nil, storeErr(err)
		}
		d, err := x.loadDevice(r.GetDeviceId())
		if err != nil {
			return nil, err
		}
		return &upiv1.LiteResult{Status: upiv1.Resp_SUCCESS, Wallet: x.wallet(d)}, nil
	}
	return x.zeroDisable(ctx, d, deadline)
}

func (x *TPAP) zeroDisable(ctx context.Context, d *liteDevice, deadline time.Time) (*upiv1.LiteResult, error) {
	psp, cl, err := x.litePSP(d.GetVpa())
	if err != nil {
		return nil, err
	}
	if err := x.n.Acquire(); err != nil {
		return nil, err
	}
	txnID := ids.NewTxnID(psp.Prefix)
	devID := d.GetDeviceId()
	err = x.n.Update(func(c *node.Ctx) error {
		d, _, err := liteDevices.Get(c.Tx, devID)
		if err != nil {
			return err
		}
		d.Pending = append(d.Pending, &litePending{TxnId: txnID, Kind: lite.PurposeZeroDisable, Created: store.Nanos(c.Now())})
		return liteDevices.Put(c.Tx, devID, d)
	})
	if err != nil {
		x.n.Release()
		return nil, storeErr(err)
	}
	_, err = callPSP(ctx, psp.Name, func(ctx context.Context) (*upiv1.DisableLiteResponse, error) {
		return cl.DisableLite(ctx, &upiv1.DisableLiteRequest{TxnId: txnID, UserVpa: d.GetVpa(), DeviceId: devID, Lrn: d.GetLrn()})
	})
	x.n.Release()
	if err != nil {
		x.undoCall(devID, txnID, false)
		return nil, err
	}
	d, p, err := x.waitCall(ctx, devID, txnID, deadline)
	if err != nil {
		return nil, err
	}
	out := &upiv1.LiteResult{TxnId: txnID, Status: upiv1.Resp_PENDING, Lrn: d.GetLrn(), DeviceBalancePaise: d.GetBalancePaise(), Wallet: x.wallet(d)}
	if p != nil {
		out.Status, out.ErrCode = resultOf(p), p.GetErrCode()
	}
	return out, nil
}

// payOffline makes a Lite X record from payer's device to the payee's
// device: no message leaves the devices; an online device then syncs.
func (x *TPAP) payOffline(ctx context.Context, payerID, payeeID, payee string, amount int64, ref string, deadline time.Time) (*upiv1.LiteResult, error) {
	if payeeID == payerID {
		return nil, status.Errorf(codes.InvalidArgument, "payee_device_id %s is the paying device", payeeID)
	}
	if err := validDeviceID(payeeID); err != nil {
		return nil, err
	}
	key, err := x.deviceKey(payerID)
	if err != nil {
		return nil, err
	}
	txnID := ids.NewTxnID(x.n.Prefix())
	var rec *upiv1.LiteRecord
	var payerOnline, payeeOnline bool
	err = x.n.Update(func(c *node.Ctx) error {
		d, _, err := liteDevices.Get(c.Tx, payerID)
		if err != nil {
			return err
		}
		pd, found, err := liteDevices.Get(c.Tx, payeeID)
		if err != nil {
			return err
		}
		if !found {
			return status.Errorf(codes.NotFound, "no Lite device %s", payeeID)
		}
		if pd.GetVpa() != payee {
			return status.Errorf(codes.InvalidArgument, "device %s is %s's, not the payee %s's", payeeID, pd.GetVpa(), payee)
		}
		lim := x.cfg.Network.Lite.At(c.Now())
		switch {
		case devState(d) != upiv1.LiteState_LITE_ACTIVE:
			return refuse(upi.CodeLiteUnknown, "device %s's Lite wallet is not active (%s)", payerID, stateName(d))
		case amount > lim.OfflinePerTxn:
			return refuse(upi.CodeLimitExceeded, "%d paise is over the offline limit of %d paise a payment", amount, lim.OfflinePerTxn)
		case amount > d.GetBalancePaise():
			return refuse(upi.CodeInsufficientFunds, "%d paise is more than the wallet's %d paise", amount, d.GetBalancePaise())
		case int(d.GetOfflineSinceSync()) >= lim.OfflineCount:
			return refuse(upi.CodeLiteOfflineCount, "device %s made its %d offline payments since its last sync: sync first", payerID, lim.OfflineCount)
		}
		now := store.Nanos(c.Now())
		d.Counter++
		d.BalancePaise -= amount
		d.OfflineSinceSync++
		d.Updated = now
		rec = &upiv1.LiteRecord{Lrn: d.GetLrn(), DeviceId: payerID, Counter: d.Counter,
			ProvisionalUtr: lite.ProvisionalUTR(d.GetLrn(), d.Counter), PayerAddr: d.GetVpa(), PayeeAddr: payee,
			AmountPaise: amount, Ts: timestamppb.New(c.Now()), OrderId: ref, PayeeDeviceId: payeeID,
			DeviceBalancePaise: d.BalancePaise}
		lite.SignRecord(key, rec)
		d.Unsynced = append(d.Unsynced, &liteRecord{Record: rec, Direction: dirSent, Status: upiv1.Resp_PENDING.String(), TxnId: txnID})
		pd.Unsynced = append(pd.Unsynced, &liteRecord{Record: rec, Direction: dirReceived, Status: upiv1.Resp_PENDING.String(), TxnId: txnID})
		pd.Updated = now
		payerOnline, payeeOnline = !d.GetOffline(), !pd.GetOffline()
		if err := liteDevices.Put(c.Tx, payerID, d); err != nil {
			return err
		}
		return liteDevices.Put(c.Tx, payeeID, pd)
	})
	if err != nil {
		if out, ok := x.refused(err, payerID); ok {
			return out, nil
		}
		return nil, storeErr(err)
	}
	// An online device syncs at once; the payment is made whatever its
	// sync does.
	for _, s := range []struct {
		id     string
		online bool
	}{{payerID, payerOnline}, {payeeID, payeeOnline}} {
		if !s.online {
			continue
		}
		if _, err := x.syncDevice(ctx, s.id, deadline, false); err != nil {
			x.log.Warn("Lite sync after an offline payment", "device", s.id, "err", err)
		}
	}
	d, err := x.loadDevice(payerID)
	if err != nil {
		return nil, err
	}
	out := &upiv1.LiteResult{TxnId: txnID, Status: upiv1.Resp_PENDING, ProvisionalUtr: rec.GetProvisionalUtr(),
		Lrn: d.GetLrn(), DeviceBalancePaise: d.GetBalancePaise(), Wallet: x.wallet(d)}
	// The payer's own sync may already have answered it.
	for _, r := range d.GetSynced() {
		if r.GetRecord().GetCounter() == rec.GetCounter() && r.GetRecord().GetLrn() == rec.GetLrn() {
			out.Status = upiv1.Resp_Result(upiv1.Resp_Result_value[r.GetStatus()])
			out.ErrCode, out.Rrn = r.GetErrCode(), r.GetUtr()
		}
	}
	return out, nil
}

// applyLite applies a PSP's Lite notification to the device whose call it
// answers, in the Notify step. A notification that answers no call of a
// device (a payee's credit, a repeat) changes no device.
func (x *TPAP) applyLite(c *node.Ctx, m *upiv1.Notification) error {
	txnID := m.GetTxn().GetId()
	if m.GetKind() == upiv1.Notification_LITE_SYNC && txnID == "" {
		txnID = m.GetLite().GetTxn().GetId()
	}
	if txnID == "" {
		return nil
	}
	d, p, err := findPendingOf(c.Tx, pendingHint(m), txnID)
	if err != nil || d == nil || p.GetDone() {
		return err
	}
	now := store.Nanos(c.Now())
	res, code := m.GetResp().GetResult(), m.GetResp().GetErrCode()
	if m.GetKind() == upiv1.Notification_LITE_SYNC && upi.Rank(res) == 0 {
		res, code = m.GetLite().GetResp().GetResult(), m.GetLite().GetResp().GetErrCode()
	}
	info := m.GetLiteInfo()
	switch {
	case m.GetKind() == upiv1.Notification_LITE_STATUS && p.GetKind() == kindRegister:
		if res == upiv1.Resp_SUCCESS && info.GetLrn() != "" {
			d.Lrn, d.State, d.Counter = info.GetLrn(), upiv1.LiteState_LITE_PENDING.String(), 0
		}
		markDone(p, res, code, "")
	case m.GetKind() == upiv1.Notification_LITE_STATUS && p.GetKind() == lite.PurposeZeroDisable:
		if res == upiv1.Resp_SUCCESS {
			d.State = upiv1.LiteState_LITE_DISABLED.String()
		}
		markDone(p, res, code, "")
	case m.GetKind() == upiv1.Notification_LITE_SYNC && p.GetKind() == kindSync:
		applySync(d, p, m.GetLite(), now)
		markDone(p, upiv1.Resp_SUCCESS, "", "")
	case m.GetKind() == upiv1.Notification_LITE_STATUS && p.GetKind() == kindAutoRevoke:
		markDone(p, res, code, "")
	case m.GetKind() == upiv1.Notification_TXN_STATUS:
		if !upi.Final(res) {
			p.Result, p.ErrCode = res.String(), code
			break
		}
		if err := x.applyPayOutcome(c, d, p, res, info, now); err != nil {
			return err
		}
		markDone(p, res, code, m.GetTxn().GetCustRef())
	default:
		return nil
	}
	if err := x.autoAfter(c, d, p); err != nil { // lite_auto.go
		return err
	}
	d.Updated = now
	pruneDone(d)
	if err := liteDevices.Put(c.Tx, d.DeviceId, d); err != nil {
		return err
	}
	if p.GetDone() { // to its waiter before the wake (lite_waits.go)
		c.Tx.OnCommit(func() { x.waits.deliver(txnID, d) })
	}
	c.Notify(liteWatch(txnID))
	return nil
}

func markDone(p *litePending, res upiv1.Resp_Result, code, rrn string) {
	p.Result, p.ErrCode, p.Rrn, p.Done = res.String(), code, rrn, true
}

// applyPayOutcome sets the wallet from a Lite payment's final outcome. A
// top-up adds its amount; a payment the device signed (44, 46, 43) was
// debited when sent, and a FAILURE puts it back — when the switch's ARPC
// over the outcome verifies. A bad ARPC is not trusted: the provisional
// debit stays and the wallet is marked until a sync re-bases it.
func (x *TPAP) applyPayOutcome(c *node.Ctx, d *liteDevice, p *litePending, res upiv1.Resp_Result, info *upiv1.LiteInfo, now int64) error {
	switch p.GetKind() {
	case lite.PurposeInitialTopUp, lite.PurposeTopUp, lite.PurposeAutoTopUpSetup:
		if res == upiv1.Resp_SUCCESS {
			d.BalancePaise += p.GetAmountPaise()
			d.State = upiv1.LiteState_LITE_ACTIVE.String()
			if info != nil {
				d.ReportedBalancePaise, d.ReportedAt = info.GetBalancePaise(), now
			}
		}
		return nil
	}
	// 44 needs the ARPC; 46 and 43 are checked by one when they carry it.
	if len(info.GetArpc()) > 0 || p.GetKind() == lite.PurposeOnlinePay {
		ok, why, err := x.verifyARPC(c, d, p, res, info)
		if err != nil {
			return err
		}
		if !ok {
			d.Untrusted = true
			d.UntrustedReason = fmt.Sprintf("the switch's ARPC for %s %s: %s; the wallet keeps the provisional debit of %d paise until a sync re-bases it",
				p.GetTxnId(), res, why, p.GetAmountPaise())
			x.log.Warn("Lite ARPC rejected", "device", d.GetDeviceId(), "txn_id", p.GetTxnId(), "why", why)
			return nil
		}
		d.ReportedBalancePaise, d.ReportedAt = info.GetBalancePaise(), now
		d.Untrusted, d.UntrustedReason = false, ""
	}
	if res == upiv1.Resp_FAILURE {
		d.BalancePaise += p.GetAmountPaise()
		return nil
	}
	if p.GetKind() == lite.PurposeDisable {
		d.State = upiv1.LiteState_LITE_DISABLED.String()
	}
	return nil
}

// verifyARPC checks the switch's ARPC with its key from the cached list.
func (x *TPAP) verifyARPC(c *node.Ctx, d *liteDevice, p *litePending, res upiv1.Resp_Result, info *upiv1.LiteInfo) (bool, string, error) {
	if len(info.GetArpc()) == 0 {
		return false, "no ARPC", nil
	}
	sw := x.cfg.Network.Switch()
	if sw == nil {
		return false, "no switch in the network", nil
	}
	k, found, err := keydir.Lookup(c.Tx, sw.Name)
	if err != nil {
		return false, "", err
	}
	if !found {
		return false, "no key of the switch in the key list", nil
	}
	a := lite.ARPC{TxnID: p.GetTxnId(), LRN: d.GetLrn(), Counter: p.GetCounter(), Result: res.String(), Balance: info.GetBalancePaise()}
	if !a.Verify(k.GetSignKey(), info.GetArpc()) {
		return false, "the ARPC does not verify with the switch's key", nil
	}
	return true, "", nil
}
