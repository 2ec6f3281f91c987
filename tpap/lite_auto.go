package tpap

// UPI Lite auto top-up, a Lite mandate on the device (docs/FLOWS.md,
// "Auto top-up (Lite mandate)").
//
//   - SetLiteAutoTopUp (and EnableLite with auto_threshold_paise and
//     auto_amount_paise) sets the mandate up with the PIN: a top-up of
//     purpose 71 carrying lite{umn, auto_threshold_paise,
//     auto_amount_paise}, of the mandate's amount or of what fits under
//     the balance limit; the remitter keeps the mandate once its DEBIT
//     posts. The device's record (recordsv1.TpapLiteMandate, by device id
//     in store.LiteMandates) is PENDING until the answer, then ACTIVE or
//     FAILED.
//   - When a payment's outcome (44) or a sync's answer leaves an online,
//     ACTIVE wallet below the threshold, the step that learns it marks a
//     top-up DUE and, once committed, starts it: a 42 with lite.umn and no
//     PIN, of the mandate's amount or what fits (the balance limit less
//     the wallet and its unsynced payments; nothing when nothing fits).
//     One at a time; its own outcome starts none (a declined one, LA after
//     auto_topup_per_day, waits for the next dip). A DUE top-up a crash
//     left unsent is started by the next dip or sync.
//   - RevokeLiteAutoTopUp stops them at once on the device (REVOKED) and
//     revokes the mandate at the remitter (DisableLite with umn: ReqChkTxn
//     LITE_SYNC purpose 71).

import (
	"context"
	"crypto/ed25519"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

type liteMandate = recordsv1.TpapLiteMandate

var liteMandates = store.NewTable[liteMandate](store.LiteMandates)

// States of a device's Lite mandate, and its auto top-up's DUE.
const (
	autoPending = "PENDING"
	autoActive  = "ACTIVE"
	autoRevoked = "REVOKED"
	autoFailed  = "FAILED"
	autoDue     = "DUE"
)

// kindAutoRevoke is the litePending kind of a mandate's revocation.
const kindAutoRevoke = "REVOKE71"

// umnPrefix starts a Lite mandate's UMN (then 32 hex digits).
const umnPrefix = "LMD"

// SetLiteAutoTopUp sets up device_id's Lite mandate with the PIN.
func (x *TPAP) SetLiteAutoTopUp(ctx context.Context, r *upiv1.SetLiteAutoTopUpRequest) (*upiv1.LiteResult, error) {
	if err := validDeviceID(r.GetDeviceId()); err != nil {
		return nil, err
	}
	if err := x.checkAuto(r.GetThresholdPaise(), r.GetAmountPaise()); err != nil {
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
	return x.setUpAuto(ctx, r.GetDeviceId(), r.GetThresholdPaise(), r.GetAmountPaise(), 0, r.GetPin(), deadline)
}

// checkAuto checks a mandate's threshold and amount: both above zero,
// the threshold below the balance limit, the amount at most it.
func (x *TPAP) checkAuto(threshold, amount int64) error {
	limit := x.cfg.Network.Lite.At(x.n.Now()).Balance
	switch {
	case threshold <= 0 || amount <= 0:
		return status.Errorf(codes.InvalidArgument, "threshold_paise and amount_paise must be above zero, got %d and %d", threshold, amount)
	case threshold >= limit:
		return status.Errorf(codes.InvalidArgument, "threshold_paise %s is not below the Lite balance limit %s", upi.FormatPaise(threshold), upi.FormatPaise(limit))
	case amount > limit:
		return status.Errorf(codes.InvalidArgument, "amount_paise %s is over the Lite balance limit %s", upi.FormatPaise(amount), upi.FormatPaise(limit))
	}
	return nil
}

// room is what a top-up of d may add: the balance limit less the LRN's
// balance as the device knows it (its wallet and its unsynced payments).
func (x *TPAP) room(d *liteDevice) int64 {
	held := d.GetBalancePaise()
	for _, r := range d.GetUnsynced() {
		if r.GetDirection() == dirSent {
			held += r.GetRecord().GetAmountPaise()
		}
	}
	return max(0, x.cfg.Network.Lite.At(x.n.Now()).Balance-held)
}

// setUpAuto sends the set-up (71) of a mandate on devID: a top-up of
// first (the enablement's initial top-up), or of the mandate's amount or
// what fits under the balance limit (0).
func (x *TPAP) setUpAuto(ctx context.Context, devID string, threshold, amount, first int64, pinValue string, deadline time.Time) (*upiv1.LiteResult, error) {
	d, err := x.loadDevice(devID)
	if err != nil {
		return nil, err
	}
	topUp := first
	if topUp == 0 {
		topUp = min(amount, x.room(d))
	}
	if topUp <= 0 {
		return &upiv1.LiteResult{Status: upiv1.Resp_FAILURE, ErrCode: upi.CodeLiteBalanceLimit, Lrn: d.GetLrn(),
			Reason:             "the wallet is at its balance limit: the set-up (71) is a top-up, and none fits; set it up once it is lower",
			DeviceBalancePaise: d.GetBalancePaise(), Wallet: x.autoWallet(d)}, nil
	}
	seal, err := x.newSealer(ctx, d.GetVpa(), pinValue)
	if err != nil {
		return nil, err
	}
	defer seal.forget()
	var devKey []byte
	if devState(d) == upiv1.LiteState_LITE_PENDING {
		k, err := x.deviceKey(devID)
		if err != nil {
			return nil, err
		}
		devKey = []byte(k.Public().(ed25519.PublicKey))
	}
	umn := ids.NewTxnID(umnPrefix)
	out, err := x.litePay(ctx, devID, litePayment{
		purpose: lite.PurposeAutoTopUpSetup, amount: topUp, online: true, seal: seal,
		check: func(d *liteDevice) error {
			switch {
			case d.GetOffline():
				return refuse(upi.CodeLiteOffline, "device %s is offline: setting up an auto top-up needs the network", devID)
			case d.GetLrn() == "" || (devState(d) != upiv1.LiteState_LITE_ACTIVE && devState(d) != upiv1.LiteState_LITE_PENDING):
				return refuse(upi.CodeLiteUnknown, "device %s has no Lite wallet (%s)", devID, stateName(d))
			}
			return nil
		},
		info: func(d *liteDevice, _ *litePending) *upiv1.LiteInfo {
			return &upiv1.LiteInfo{Lrn: d.GetLrn(), DeviceId: devID, DeviceKey: devKey, Umn: umn,
				AutoThresholdPaise: threshold, AutoAmountPaise: amount}
		},
		inStep: func(c *node.Ctx, d *liteDevice, p *litePending) error {
			return liteMandates.Put(c.Tx, devID, &liteMandate{DeviceId: devID, Lrn: d.GetLrn(), Umn: umn,
				ThresholdPaise: threshold, AmountPaise: amount, State: autoPending, SetupTxnId: p.GetTxnId(),
				Updated: store.Nanos(c.Now())})
		},
	}, deadline)
	if err != nil {
		if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded && c != codes.Canceled {
			x.noteAuto(devID, func(md *liteMandate) { // the PSP refused it: nothing was sent
				if md.Umn == umn && md.State == autoPending {
					md.State, md.ErrCode = autoFailed, upi.CodeRefused
				}
			})
		}
		return nil, err
	}
	if md, _ := x.loadMandate(devID); md != nil && out.GetWallet() != nil {
		out.Wallet.AutoTopUp = x.autoView(md)
	}
	return out, nil
}

// RevokeLiteAutoTopUp revokes device_id's Lite mandate: no top-up starts
// from now on; the remitter's answer follows.
func (x *TPAP) RevokeLiteAutoTopUp(ctx context.Context, r *upiv1.RevokeLiteAutoTopUpRequest) (*upiv1.LiteResult, error) {
	if err := validDeviceID(r.GetDeviceId()); err != nil {
		return nil, err
	}
	deadline, err := deadlineOf(r.GetWaitMs())
	if err != nil {
		return nil, err
	}
	devID := r.GetDeviceId()
	d, err := x.loadDevice(devID)
	if err != nil {
		return nil, err
	}
	md, err := x.loadMandate(devID)
	if err != nil {
		return nil, err
	}
	if md == nil || md.GetState() == autoFailed {
		return nil, status.Errorf(codes.FailedPrecondition, "device %s has no Lite mandate to revoke", devID)
	}
	if md.GetState() == autoRevoked {
		return &upiv1.LiteResult{TxnId: md.GetRevokeTxnId(), Status: upiv1.Resp_SUCCESS, Lrn: d.GetLrn(),
			DeviceBalancePaise: d.GetBalancePaise(), Wallet: x.autoWallet(d)}, nil
	}
	psp, cl, err := x.litePSP(d.GetVpa())
	if err != nil {
		return nil, err
	}
	if err := x.n.Acquire(); err != nil {
		return nil, err
	}
	txnID := ids.NewTxnID(psp.Prefix)
	err = x.n.Update(func(c *node.Ctx) error {
		d, _, err := liteDevices.Get(c.Tx, devID)
		if err != nil {
			return err
		}
		md, _, err := liteMandates.Get(c.Tx, devID)
		if err != nil {
			return err
		}
		md.State, md.RevokeTxnId, md.ErrCode, md.Updated = autoRevoked, txnID, "", store.Nanos(c.Now())
		if err := liteMandates.Put(c.Tx, devID, md); err != nil {
			return err
		}
		d.Pending = append(d.Pending, &litePending{TxnId: txnID, Kind: kindAutoRevoke, Created: store.Nanos(c.Now())})
		return liteDevices.Put(c.Tx, devID, d)
	})
	if err != nil {
		x.n.Release()
		return nil, storeErr(err)
	}
	_, err = callPSP(ctx, psp.Name, func(ctx context.Context) (*upiv1.DisableLiteResponse, error) {
		return cl.DisableLite(ctx, &upiv1.DisableLiteRequest{TxnId: txnID, UserVpa: d.GetVpa(), DeviceId: devID, Lrn: md.GetLrn(), Umn: md.GetUmn()})
	})
	x.n.Release()
	if err != nil {
		// Not sent: the device keeps its mandate REVOKED (no top-up starts)
		// and says the remitter has not heard of it.
		x.undoCall(devID, txnID, false)
		x.noteAuto(devID, func(md *liteMandate) { md.ErrCode = upi.CodeRefused })
		return nil, err
	}
	d, p, err := x.waitCall(ctx, devID, txnID, deadline)
	if err != nil {
		return nil, err
	}
	out := &upiv1.LiteResult{TxnId: txnID, Status: upiv1.Resp_PENDING, Lrn: d.GetLrn(), DeviceBalancePaise: d.GetBalancePaise(), Wallet: x.autoWallet(d)}
	if p != nil {
		out.Status, out.ErrCode = resultOf(p), p.GetErrCode()
	}
	return out, nil
}

// loadMandate is devID's mandate, nil if it has none.
func (x *TPAP) loadMandate(devID string) (*liteMandate, error) {
	var md *liteMandate
	err := x.n.View(func(tx *store.Tx) error {
		m, ok, err := liteMandates.Get(tx, devID)
		if ok {
			md = m
		}
		return err
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read the Lite mandate of %s: %v", devID, err)
	}
	return md, nil
}

// noteAuto changes devID's mandate by f in a step of its own.
func (x *TPAP) noteAuto(devID string, f func(*liteMandate)) {
	err := x.n.Update(func(c *node.Ctx) error {
		md, ok, err := liteMandates.Get(c.Tx, devID)
		if err != nil || !ok {
			return err
		}
		f(md)
		md.Updated = store.Nanos(c.Now())
		return liteMandates.Put(c.Tx, devID, md)
	})
	if err != nil {
		x.log.Warn("Lite mandate not updated", "device", devID, "err", err)
	}
}

// autoWallet is x.wallet(d) with its mandate.
func (x *TPAP) autoWallet(d *liteDevice) *upiv1.LiteWallet {
	w := x.wallet(d)
	if md, err := x.loadMandate(d.GetDeviceId()); err == nil && md != nil {
		w.AutoTopUp = x.autoView(md)
	}
	return w
}

// addMandates adds each wallet's mandate, in a read of its own.
func (x *TPAP) addMandates(ws []*upiv1.LiteWallet) error {
	err := x.n.View(func(tx *store.Tx) error {
		for _, w := range ws {
			md, ok, err := liteMandates.Get(tx, w.GetDeviceId())
			if err != nil {
				return err
			}
			if ok {
				w.AutoTopUp = x.autoView(md)
			}
		}
		return nil
	})
	if err != nil {
		return status.Errorf(codes.Internal, "read the Lite mandates: %v", err)
	}
	return nil
}

// autoView is the app's view of md.
func (x *TPAP) autoView(md *liteMandate) *upiv1.LiteAutoTopUp {
	return &upiv1.LiteAutoTopUp{Umn: md.GetUmn(), ThresholdPaise: md.GetThresholdPaise(), AmountPaise: md.GetAmountPaise(),
		State: md.GetState(), LastTxnId: md.GetLastTxnId(), LastStatus: md.GetLastStatus(), LastErrCode: md.GetLastErrCode(),
		Today: int32(succeededToday(md, x.n.Now())), ErrCode: md.GetErrCode()}
}

// ist is India Standard Time: a mandate's day is an IST day.
var ist = time.FixedZone("IST", 5*3600+1800)

func istDay(t time.Time) string { return t.In(ist).Format("20060102") }

// succeededToday counts md's auto top-ups that succeeded on now's IST day.
func succeededToday(md *liteMandate, now time.Time) int {
	n, day := 0, istDay(now)
	for _, at := range md.GetSucceeded() {
		if istDay(store.FromNanos(at)) == day {
			n++
		}
	}
	return n
}

// autoAfter is the mandate's part of applying a Lite answer to device d's
// call p, in that step: a set-up's, an auto top-up's or a revocation's
// outcome is kept; an online payment's (44) or a sync's leaves the wallet
// where it may be below the threshold, and then a top-up is due.
func (x *TPAP) autoAfter(c *node.Ctx, d *liteDevice, p *litePending) error {
	if !p.GetDone() {
		return nil
	}
	md, ok, err := liteMandates.Get(c.Tx, d.GetDeviceId())
	if err != nil || !ok {
		return err
	}
	res, code, now := resultOf(p), p.GetErrCode(), c.Now()
	switch {
	case p.GetTxnId() == md.GetSetupTxnId() && md.GetState() == autoPending:
		md.State, md.ErrCode = autoActive, ""
		if res != upiv1.Resp_SUCCESS {
			md.State, md.ErrCode = autoFailed, code
		}
	case p.GetTxnId() == md.GetLastTxnId() && md.GetLastStatus() == upiv1.Resp_PENDING.String():
		md.LastStatus, md.LastErrCode = res.String(), code
		if res == upiv1.Resp_SUCCESS {
			kept := md.Succeeded[:0]
			for _, at := range md.Succeeded {
				if now.Sub(store.FromNanos(at)) < 48*time.Hour {
					kept = append(kept, at)
				}
			}
			md.Succeeded = append(kept, store.Nanos(now))
		} else {
			x.log.Info("auto top-up declined", "device", d.GetDeviceId(), "txn_id", p.GetTxnId(), "code", code)
		}
	case p.GetTxnId() == md.GetRevokeTxnId():
		if res != upiv1.Resp_SUCCESS {
			md.ErrCode = code
		}
	case (p.GetKind() == lite.PurposeOnlinePay && res == upiv1.Resp_SUCCESS) || p.GetKind() == kindSync:
		if md.GetState() != autoActive || d.GetOffline() || devState(d) != upiv1.LiteState_LITE_ACTIVE ||
			d.GetBalancePaise() >= md.GetThresholdPaise() || md.GetLastStatus() == upiv1.Resp_PENDING.String() {
			return nil
		}
		md.LastStatus, md.LastTxnId, md.LastErrCode = autoDue, "", ""
		devID := d.GetDeviceId()
		c.Tx.OnCommit(func() { go x.runAuto(devID) })
	default:
		return nil
	}
	md.Updated = store.Nanos(now)
	return liteMandates.Put(c.Tx, md.DeviceId, md)
}

// autoWait is how long runAuto's call waits for the PSP.
const autoWait = 10 * time.Second

// runAuto starts devID's due auto top-up: a 42 under the mandate, no PIN.
// It does not wait for the outcome, which autoAfter keeps.
func (x *TPAP) runAuto(devID string) {
	md, err := x.loadMandate(devID)
	if err != nil || md == nil || md.GetLastStatus() != autoDue || md.GetState() != autoActive {
		return
	}
	d, err := x.loadDevice(devID)
	if err != nil {
		return
	}
	amount := min(md.GetAmountPaise(), x.room(d))
	if amount <= 0 {
		x.noteAuto(devID, func(md *liteMandate) {
			if md.LastStatus == autoDue {
				md.LastStatus, md.LastErrCode = "", ""
			}
		})
		x.log.Info("auto top-up: nothing fits under the balance limit", "device", devID)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), autoWait)
	defer cancel()
	umn := md.GetUmn()
	_, err = x.litePay(ctx, devID, litePayment{
		purpose: lite.PurposeTopUp, amount: amount, online: true,
		check: func(d *liteDevice) error {
			switch {
			case d.GetOffline():
				return refuse(upi.CodeLiteOffline, "device %s went offline", devID)
			case devState(d) != upiv1.LiteState_LITE_ACTIVE:
				return refuse(upi.CodeLiteUnknown, "device %s is %s", devID, stateName(d))
			}
			return nil
		},
		info: func(d *liteDevice, _ *litePending) *upiv1.LiteInfo {
			return &upiv1.LiteInfo{Lrn: d.GetLrn(), DeviceId: devID, Umn: umn}
		},
		inStep: func(c *node.Ctx, _ *liteDevice, p *litePending) error {
			md, ok, err := liteMandates.Get(c.Tx, devID)
			switch {
			case err != nil:
				return err
			case !ok || md.LastStatus != autoDue || md.State != autoActive || md.Umn != umn:
				return refuse("", "the auto top-up of %s is no longer due", devID)
			}
			md.LastStatus, md.LastTxnId, md.Updated = upiv1.Resp_PENDING.String(), p.GetTxnId(), store.Nanos(c.Now())
			return liteMandates.Put(c.Tx, devID, md)
		},
	}, time.Now())
	if err != nil {
		x.log.Warn("auto top-up not sent", "device", devID, "err", err)
		if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded && c != codes.Canceled {
			x.noteAuto(devID, func(md *liteMandate) {
				md.LastStatus, md.LastErrCode = upiv1.Resp_FAILURE.String(), upi.CodeRefused
			})
		}
	}
}

// enableAuto is EnableLite's part with a mandate: its threshold and
// amount, checked.
func (x *TPAP) enableAuto(r *upiv1.EnableLiteRequest) (bool, error) {
	t, a := r.GetAutoThresholdPaise(), r.GetAutoAmountPaise()
	if t == 0 && a == 0 {
		return false, nil
	}
	if err := x.checkAuto(t, a); err != nil {
		return false, err
	}
	return true, nil
}
