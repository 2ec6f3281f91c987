// UPI Lite's devices at the TPAP (docs/FLOWS.md, UPI Lite and Lite X):
// the TPAP node stands for every phone and merchant POS. Each device is a
// TpapLiteDevice in store.LiteDevices by its id; its ed25519 key is
// derived from the TPAP's node key (lite.DeviceKey) whenever it signs, and
// never stored.

package tpap

import (
	"context"
	"crypto/ed25519"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

type (
	liteDevice  = recordsv1.TpapLiteDevice
	liteRecord  = recordsv1.TpapLiteRecord
	litePending = recordsv1.TpapLitePending
)

var liteDevices = store.NewTable[liteDevice](store.LiteDevices)

// Directions of a device's record.
const (
	dirSent     = "SENT"
	dirReceived = "RECEIVED"
)

// Kinds of a pending call that are not a pay purpose.
const (
	kindRegister = "REGISTER"
	kindSync     = "SYNC"
)

// maxSynced is how many answered records a device keeps; maxDone how many
// answered calls.
const (
	maxSynced = 100
	maxDone   = 20
)

// maxDeviceID bounds a device id's length.
const maxDeviceID = 64

func validDeviceID(id string) error {
	if id == "" {
		return status.Error(codes.InvalidArgument, "device_id is required")
	}
	if len(id) > maxDeviceID {
		return status.Errorf(codes.InvalidArgument, "device_id is %d characters long; at most %d are allowed", len(id), maxDeviceID)
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return status.Errorf(codes.InvalidArgument, "device_id %q: only letters, digits and - _ . : are allowed", id)
		}
	}
	return nil
}

func devState(d *liteDevice) upiv1.LiteState {
	return upiv1.LiteState(upiv1.LiteState_value[d.GetState()])
}

// stateName is a device state as the admin API names it (no LITE_).
func stateName(d *liteDevice) string { return strings.TrimPrefix(d.GetState(), "LITE_") }

// deviceKey is the device's signing key, derived from the TPAP's node key.
func (x *TPAP) deviceKey(deviceID string) (ed25519.PrivateKey, error) {
	if x.dir.Keys == nil || x.dir.Keys.Sign == nil {
		return nil, status.Error(codes.FailedPrecondition, "the TPAP has no node key to derive device keys from")
	}
	k, err := lite.DeviceKey(x.dir.Keys.Sign.Seed(), deviceID)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	return k, nil
}

// merchantOf is the network file's merchant with vpa, or nil.
func (x *TPAP) merchantOf(vpa string) *config.Merchant {
	v := ids.NormalizeVPA(vpa)
	for i := range x.cfg.Network.Merchants {
		if ids.NormalizeVPA(x.cfg.Network.Merchants[i].VPA) == v {
			return &x.cfg.Network.Merchants[i]
		}
	}
	return nil
}

// seedLiteDevices adds the network file's merchants' devices as
// receive-only devices, once: a device already known is left as it is.
func (x *TPAP) seedLiteDevices() error {
	return x.n.Update(func(c *node.Ctx) error {
		for _, m := range x.cfg.Network.Merchants {
			psp, ok := x.cfg.Network.PSPForVPA(m.VPA)
			if !ok {
				continue
			}
			for _, id := range m.LiteDevices {
				if _, found, err := liteDevices.Get(c.Tx, id); err != nil || found {
					if err != nil {
						return err
					}
					continue
				}
				now := store.Nanos(c.Now())
				if err := liteDevices.Put(c.Tx, id, &liteDevice{DeviceId: id, Vpa: ids.NormalizeVPA(m.VPA), Psp: psp.Name,
					State: upiv1.LiteState_LITE_RECEIVE_ONLY.String(), Created: now, Updated: now}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// loadDevice reads a device, or NotFound.
func (x *TPAP) loadDevice(id string) (*liteDevice, error) {
	if err := validDeviceID(id); err != nil {
		return nil, err
	}
	var d *liteDevice
	var found bool
	err := x.n.View(func(tx *store.Tx) (err error) {
		d, found, err = liteDevices.Get(tx, id)
		return err
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read device %s: %v", id, err)
	}
	if !found {
		return nil, status.Errorf(codes.NotFound, "no Lite device %s", id)
	}
	return d, nil
}

// getDevice reads a device in a step, or NotFound.
func getDevice(tx *store.Tx, id string) (*liteDevice, error) {
	d, found, err := liteDevices.Get(tx, id)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, status.Errorf(codes.NotFound, "no Lite device %s", id)
	}
	return d, nil
}

// AddLiteDevice registers a receive-only device (a merchant's POS, or any
// device of a user that only takes offline payments).
func (x *TPAP) AddLiteDevice(_ context.Context, r *upiv1.AddLiteDeviceRequest) (*upiv1.LiteWallet, error) {
	if err := validDeviceID(r.GetDeviceId()); err != nil {
		return nil, err
	}
	if err := ids.ValidateVPA(r.GetVpa()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "vpa: %v", err)
	}
	if _, err := x.bankOf(r.GetVpa()); err != nil {
		return nil, err
	}
	psp, err := x.pspFor(r.GetVpa())
	if err != nil {
		return nil, err
	}
	var d *liteDevice
	err = x.n.Update(func(c *node.Ctx) error {
		_, found, err := liteDevices.Get(c.Tx, r.GetDeviceId())
		if err != nil {
			return err
		}
		if found {
			return status.Errorf(codes.AlreadyExists, "Lite device %s already exists", r.GetDeviceId())
		}
		now := store.Nanos(c.Now())
		d = &liteDevice{DeviceId: r.GetDeviceId(), Vpa: ids.NormalizeVPA(r.GetVpa()), Psp: psp.Name,
			State: upiv1.LiteState_LITE_RECEIVE_ONLY.String(), Created: now, Updated: now}
		return liteDevices.Put(c.Tx, d.DeviceId, d)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return x.wallet(d), nil
}

// GetLiteWallet is one device's view.
func (x *TPAP) GetLiteWallet(_ context.Context, r *upiv1.GetLiteWalletRequest) (*upiv1.LiteWallet, error) {
	id := r.GetDeviceId()
	if err := validDeviceID(id); err != nil {
		return nil, err
	}
	// The device and its Lite mandate (lite_auto.go) in one read: a step
	// changes both at once (an auto top-up's outcome), and two reads could
	// show one before it and one after.
	var (
		d          *liteDevice
		md         *liteMandate
		found, has bool
	)
	err := x.n.View(func(tx *store.Tx) (err error) {
		if d, found, err = liteDevices.Get(tx, id); err != nil || !found {
			return err
		}
		md, has, err = liteMandates.Get(tx, id)
		return err
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read device %s: %v", id, err)
	}
	if !found {
		return nil, status.Errorf(codes.NotFound, "no Lite device %s", id)
	}
	w := x.wallet(d)
	if has {
		w.AutoTopUp = x.autoView(md)
	}
	return w, nil
}

// ListLiteWallets lists the devices of vpa ("" for all) in id order.
func (x *TPAP) ListLiteWallets(_ context.Context, r *upiv1.ListLiteWalletsRequest) (*upiv1.ListLiteWalletsResponse, error) {
	if r.GetVpa() != "" {
		if err := ids.ValidateVPA(r.GetVpa()); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "vpa: %v", err)
		}
	}
	out := &upiv1.ListLiteWalletsResponse{}
	err := x.n.View(func(tx *store.Tx) error {
		return liteDevices.Scan(tx, "", func(_ string, d *liteDevice) (bool, error) {
			if r.GetVpa() == "" || d.GetVpa() == ids.NormalizeVPA(r.GetVpa()) {
				out.Wallets = append(out.Wallets, x.wallet(d))
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read devices: %v", err)
	}
	if err := x.addMandates(out.Wallets); err != nil { // lite_auto.go
		return nil, err
	}
	return out, nil
}

// wallet is the app's view of d, with the limits in force now.
func (x *TPAP) wallet(d *liteDevice) *upiv1.LiteWallet {
	lim := x.cfg.Network.Lite.At(x.n.Now())
	w := &upiv1.LiteWallet{
		DeviceId: d.GetDeviceId(), Vpa: d.GetVpa(), Lrn: d.GetLrn(), State: devState(d), Online: !d.GetOffline(),
		DeviceBalancePaise: d.GetBalancePaise(), ReportedBalancePaise: d.GetReportedBalancePaise(),
		ReportedAt: nanosTS(d.GetReportedAt()), Counter: d.GetCounter(),
		OfflineSinceSync: d.GetOfflineSinceSync(), OfflineLimit: int32(lim.OfflineCount),
		LastSync: nanosTS(d.GetLastSync()), PerTxnLimitPaise: lim.PerTxn, BalanceLimitPaise: lim.Balance,
		OfflinePerTxnLimitPaise: lim.OfflinePerTxn,
	}
	for _, r := range d.GetUnsynced() {
		w.Unsynced = append(w.Unsynced, deviceRecordProto(r))
	}
	for _, r := range d.GetSynced() {
		w.Synced = append(w.Synced, deviceRecordProto(r))
	}
	return w
}

func nanosTS(n int64) *timestamppb.Timestamp {
	if n == 0 {
		return nil
	}
	return timestamppb.New(store.FromNanos(n))
}

func deviceRecordProto(r *liteRecord) *upiv1.LiteDeviceRecord {
	return &upiv1.LiteDeviceRecord{Record: r.GetRecord(), Direction: r.GetDirection(),
		Status: upiv1.Resp_Result(upiv1.Resp_Result_value[r.GetStatus()]), Utr: r.GetUtr(),
		ErrCode: r.GetErrCode(), Reported: r.GetReported()}
}

// ListLite implements node.LiteLister: each device with an LRN.
func (x *TPAP) ListLite(lrn string, withRecords bool) ([]*upiv1.LiteAccount, error) {
	var out []*upiv1.LiteAccount
	err := x.n.View(func(tx *store.Tx) error {
		return liteDevices.Scan(tx, "", func(_ string, d *liteDevice) (bool, error) {
			if d.GetLrn() == "" || (lrn != "" && d.GetLrn() != lrn) {
				return true, nil
			}
			bank, _ := x.bankOf(d.GetVpa())
			a := &upiv1.LiteAccount{Lrn: d.GetLrn(), Node: x.n.Name(), Vpa: d.GetVpa(), DeviceId: d.GetDeviceId(),
				Bank: bank, State: stateName(d), BalancePaise: d.GetBalancePaise(),
				DeviceReportedPaise: d.GetReportedBalancePaise(), Counter: d.GetCounter()}
			for _, r := range d.GetUnsynced() {
				if r.GetDirection() == dirSent {
					a.UnsyncedPaise += r.GetRecord().GetAmountPaise()
					a.UnsyncedRecords++
				}
			}
			if withRecords {
				for _, r := range append(append([]*liteRecord(nil), d.GetUnsynced()...), d.GetSynced()...) {
					a.Records = append(a.Records, recordResult(r))
				}
			}
			out = append(out, a)
			return true, nil
		})
	})
	return out, err
}

func recordResult(r *liteRecord) *upiv1.LiteRecordResult {
	rec := r.GetRecord()
	return &upiv1.LiteRecordResult{Counter: rec.GetCounter(), ProvisionalUtr: rec.GetProvisionalUtr(),
		Result: upiv1.Resp_Result(upiv1.Resp_Result_value[r.GetStatus()]), ErrCode: r.GetErrCode(), Utr: r.GetUtr(),
		Lrn: rec.GetLrn(), PayerAddr: rec.GetPayerAddr(), PayeeAddr: rec.GetPayeeAddr(), AmountPaise: rec.GetAmountPaise(),
		OrderId: rec.GetOrderId(), PayeeDeviceId: rec.GetPayeeDeviceId()}
}

// storeErr passes a gRPC status a step returned, and makes anything else
// Internal.
func storeErr(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Errorf(codes.Internal, "store: %v", err)
}

// findPending is the device holding the call txnID, and the call.
func findPending(tx *store.Tx, txnID string) (*liteDevice, *litePending, error) {
	var dev *liteDevice
	var call *litePending
	err := liteDevices.Scan(tx, "", func(_ string, d *liteDevice) (bool, error) {
		for _, p := range d.GetPending() {
			if p.GetTxnId() == txnID {
				dev, call = d, p
				return false, nil
			}
		}
		return true, nil
	})
	return dev, call, err
}

// pendingOf is d's call txnID, or nil.
func pendingOf(d *liteDevice, txnID string) *litePending {
	for _, p := range d.GetPending() {
		if p.GetTxnId() == txnID {
			return p
		}
	}
	return nil
}

// dropPending removes call txnID from d.
func dropPending(d *liteDevice, txnID string) {
	out := d.Pending[:0]
	for _, p := range d.Pending {
		if p.GetTxnId() != txnID {
			out = append(out, p)
		}
	}
	d.Pending = out
}

// pruneDone keeps at most maxDone answered calls (the oldest go first).
func pruneDone(d *liteDevice) {
	n := 0
	for _, p := range d.Pending {
		if p.GetDone() {
			n++
		}
	}
	out := d.Pending[:0]
	for _, p := range d.Pending {
		if p.GetDone() && n > maxDone {
			n--
			continue
		}
		out = append(out, p)
	}
	d.Pending = out
}

// liteWatch is the Watch key of a device's call.
func liteWatch(txnID string) string { return "lite:" + txnID }

// waitCall waits, until deadline, for call txnID of device id to be
// answered, and returns the device as it then is and the call (nil if it
// is gone). A call expected before it was sent (x.waits) is handed its
// device by the step that decides it: it is read only when woken without
// one (or at the deadline), never before the first wake, since nothing can
// have decided it unseen.
func (x *TPAP) waitCall(ctx context.Context, id, txnID string, deadline time.Time) (*liteDevice, *litePending, error) {
	read := !x.waits.expecting(txnID)
	for {
		woken, cancel := x.n.Watch(liteWatch(txnID))
		d := x.waits.delivered(txnID)
		left := time.Until(deadline)
		if d == nil && (read || left <= 0) {
			var err error
			if d, err = x.loadDevice(id); err != nil {
				cancel()
				return nil, nil, err
			}
		}
		if d != nil {
			p := pendingOf(d, txnID)
			if p == nil || p.GetDone() || left <= 0 {
				cancel()
				return d, p, nil
			}
		}
		read = true
		t := time.NewTimer(left)
		select {
		case <-woken:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			cancel()
			return nil, nil, status.FromContextError(ctx.Err()).Err()
		}
		t.Stop()
		cancel()
	}
}

// deadlineOf is when an app call's wait (wait_ms, at most MaxWait) ends.
func deadlineOf(waitMs int32) (time.Time, error) {
	if waitMs < 0 {
		return time.Time{}, status.Errorf(codes.InvalidArgument, "wait_ms must not be negative, got %d", waitMs)
	}
	return time.Now().Add(min(time.Duration(waitMs)*time.Millisecond, MaxWait)), nil
}

// litePSP is the PSP of vpa and the TPAP's app client of it, for a Lite
// call.
func (x *TPAP) litePSP(vpa string) (*config.Node, upiv1.PspAppServiceClient, error) {
	psp, err := x.pspFor(vpa)
	if err != nil {
		return nil, nil, err
	}
	cl, err := x.pspClient(psp.Name)
	if err != nil {
		return nil, nil, err
	}
	return psp, cl, nil
}
