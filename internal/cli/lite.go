package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/audit"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/upi"
)

// `upisim lite ...`: UPI Lite and Lite X through the TPAP's app API
// (docs/FLOWS.md, UPI Lite and Lite X), and the reconciliation of the
// nodes' views of each LRN (internal/audit, LiteReport).

// LiteTxnResult is what lite enable, topup, pay, transfer-out and disable
// print.
type LiteTxnResult struct {
	TxnID   string `json:"txn_id"`
	Status  string `json:"status"`
	ErrCode string `json:"err_code"`
	// Reason says why it failed, in words (a device-side refusal moves
	// nothing).
	Reason string `json:"reason,omitempty"`
	// RRN is an online payment's UTR; ProvisionalUTR an offline one's
	// (Lite X), whose official UTR comes with its sync.
	RRN                string `json:"rrn,omitempty"`
	ProvisionalUTR     string `json:"provisional_utr,omitempty"`
	LRN                string `json:"lrn"`
	DeviceBalancePaise int64  `json:"device_balance_paise"`
	// Offline is an offline payment, whose normal outcome is PENDING.
	Offline bool `json:"-"`
}

func liteTxnResult(r *upiv1.LiteResult) LiteTxnResult {
	lrn := r.GetLrn()
	if lrn == "" {
		lrn = r.GetWallet().GetLrn()
	}
	bal := r.GetDeviceBalancePaise()
	if bal == 0 && r.GetWallet() != nil {
		bal = r.GetWallet().GetDeviceBalancePaise()
	}
	return LiteTxnResult{TxnID: r.GetTxnId(), Status: statusName(r.GetStatus()), ErrCode: r.GetErrCode(), Reason: r.GetReason(),
		RRN: r.GetRrn(), ProvisionalUTR: r.GetProvisionalUtr(), LRN: lrn, DeviceBalancePaise: bal}
}

func (r LiteTxnResult) print(w io.Writer, o Output) error {
	return o.print(w, r, func(w io.Writer) error {
		kv := []string{"txn_id", r.TxnID, "status", r.Status}
		if r.ErrCode != "" || r.Reason != "" {
			kv = append(kv, "err_code", strings.TrimSpace(r.ErrCode+" "+r.Reason))
		}
		if r.Offline || r.ProvisionalUTR != "" {
			kv = append(kv, "provisional_utr", r.ProvisionalUTR)
		} else {
			kv = append(kv, "rrn", r.RRN)
		}
		kv = append(kv, "lrn", r.LRN, "wallet", upi.FormatRupeesIndian(r.DeviceBalancePaise))
		return printFields(w, kv...)
	})
}

// LiteOutcome is the error that gives a Lite payment's exit code, as
// Outcome does for pay: nil for SUCCESS, ExitFailure for FAILURE,
// ExitPending for PENDING or DEEMED, except an offline payment (Lite X),
// whose normal outcome is PENDING until a device syncs it: nil.
func LiteOutcome(r LiteTxnResult) error {
	t := TxnResult{TxnID: r.TxnID, Status: r.Status, RRN: r.RRN, ErrCode: r.ErrCode}
	switch {
	case r.Status == "SUCCESS", r.Offline && r.Status == "PENDING":
		return nil
	case r.Status == "FAILURE":
		msg := "the Lite payment ended FAILURE"
		if r.TxnID != "" {
			msg = fmt.Sprintf("transaction %s ended FAILURE", r.TxnID)
		}
		if code := strings.TrimSpace(r.ErrCode + " " + r.Reason); code != "" {
			msg += " (" + code + ")"
		}
		return &OutcomeError{Result: t, Code: ExitFailure, msg: msg}
	}
	return stillPending(t, "transaction %s still %s when the wait ended; `upisim txn %s` or `upisim lite balance` shows it later", r.TxnID, r.Status, r.TxnID)
}

// LiteWait is how a Lite command waits: NoWait returns at once, else up
// to Timeout (a minute when 0).
type LiteWait struct {
	NoWait  bool
	Timeout time.Duration
}

func (lw LiteWait) ms() int32 {
	if lw.NoWait {
		return 0
	}
	t := lw.Timeout
	if t <= 0 {
		t = time.Minute
	}
	return int32(min(t/time.Millisecond, math.MaxInt32))
}

// LiteEnableOptions are the options of `upisim lite enable`.
type LiteEnableOptions struct {
	DataDir  string
	VPA      string
	DeviceID string
	// Amount is the initial top-up (41) in rupees.
	Amount string
	PIN    string
	// AutoThreshold and AutoAmount (rupees), both or neither: set up a
	// Lite mandate with the enablement, whose initial top-up is then
	// purpose 71.
	AutoThreshold string
	AutoAmount    string
	LiteWait
	Output Output
}

func needDevice(d string) error {
	if strings.TrimSpace(d) == "" {
		return errors.New("missing device: pass --device")
	}
	return nil
}

func liteAmount(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("missing amount: pass --amount")
	}
	p, err := upi.ParseRupees(s)
	if err != nil {
		return 0, fmt.Errorf("--amount: %w", err)
	}
	return p, nil
}

// LiteEnable registers a Lite wallet (an LRN) for VPA on DeviceID and tops
// it up with Amount (purpose 41).
func LiteEnable(ctx context.Context, w io.Writer, o LiteEnableOptions) (LiteTxnResult, error) {
	if err := ids.ValidateVPA(o.VPA); err != nil {
		return LiteTxnResult{}, fmt.Errorf("--vpa: %w", err)
	}
	if err := needDevice(o.DeviceID); err != nil {
		return LiteTxnResult{}, err
	}
	amount, err := liteAmount(o.Amount)
	if err != nil {
		return LiteTxnResult{}, err
	}
	if err := checkPIN(o.PIN, "missing PIN: pass --pin"); err != nil {
		return LiteTxnResult{}, err
	}
	var autoT, autoA int64
	if o.AutoThreshold != "" || o.AutoAmount != "" {
		if o.AutoThreshold == "" || o.AutoAmount == "" {
			return LiteTxnResult{}, errors.New("an auto top-up needs both --auto-threshold and --auto-amount")
		}
		if autoT, err = upi.ParseRupees(o.AutoThreshold); err != nil {
			return LiteTxnResult{}, fmt.Errorf("--auto-threshold: %w", err)
		}
		if autoA, err = upi.ParseRupees(o.AutoAmount); err != nil {
			return LiteTxnResult{}, fmt.Errorf("--auto-amount: %w", err)
		}
	}
	return liteCall(ctx, o.DataDir, w, o.Output, liteCallOf{device: o.DeviceID, wait: o.LiteWait}, func(tp upiv1.TpapAppServiceClient) (*upiv1.LiteResult, error) {
		return tp.EnableLite(ctx, &upiv1.EnableLiteRequest{Vpa: o.VPA, DeviceId: o.DeviceID, AmountPaise: amount, Pin: o.PIN, WaitMs: o.ms(),
			AutoThresholdPaise: autoT, AutoAmountPaise: autoA})
	})
}

// LiteTopUpOptions are the options of `upisim lite topup`.
type LiteTopUpOptions struct {
	DataDir  string
	DeviceID string
	Amount   string
	PIN      string
	LiteWait
	Output Output
}

// LiteTopUp adds Amount to the device's wallet from its account (42).
func LiteTopUp(ctx context.Context, w io.Writer, o LiteTopUpOptions) (LiteTxnResult, error) {
	if err := needDevice(o.DeviceID); err != nil {
		return LiteTxnResult{}, err
	}
	amount, err := liteAmount(o.Amount)
	if err != nil {
		return LiteTxnResult{}, err
	}
	if err := checkPIN(o.PIN, "missing PIN: pass --pin"); err != nil {
		return LiteTxnResult{}, err
	}
	return liteCall(ctx, o.DataDir, w, o.Output, liteCallOf{device: o.DeviceID, wait: o.LiteWait}, func(tp upiv1.TpapAppServiceClient) (*upiv1.LiteResult, error) {
		return tp.TopUpLite(ctx, &upiv1.TopUpLiteRequest{DeviceId: o.DeviceID, AmountPaise: amount, Pin: o.PIN, WaitMs: o.ms()})
	})
}

// LitePayOptions are the options of `upisim lite pay`.
type LitePayOptions struct {
	DataDir  string
	DeviceID string
	To       string
	Amount   string
	// Intent is a merchant's upi://pay link in place of To and Amount (as
	// pay's): its tr is the order the payment (or the record) names.
	Intent string
	// ToDevice pays offline (Lite X, 45) to that device of the payee.
	ToDevice string
	Note     string
	LiteWait
	Output Output
}

// litePayRequest checks o and makes its PayLiteRequest; in is the intent
// read, if any.
func litePayRequest(o LitePayOptions) (*upiv1.PayLiteRequest, upi.Intent, error) {
	var in upi.Intent
	if err := needDevice(o.DeviceID); err != nil {
		return nil, in, err
	}
	po := PayOptions{To: o.To, Amount: o.Amount, Note: o.Note, Intent: o.Intent}
	if o.Intent != "" {
		var err error
		if po, in, err = applyIntent(po); err != nil {
			return nil, in, err
		}
	}
	if po.To == "" {
		return nil, in, errors.New("missing payee: pass --to (or --intent)")
	}
	if err := ids.ValidateVPA(po.To); err != nil {
		return nil, in, fmt.Errorf("--to: %w", err)
	}
	amount, err := liteAmount(po.Amount)
	if err != nil {
		return nil, in, err
	}
	if o.ToDevice != "" && o.ToDevice == o.DeviceID {
		return nil, in, fmt.Errorf("--to-device %s is the paying device", o.ToDevice)
	}
	return &upiv1.PayLiteRequest{DeviceId: o.DeviceID, PayeeVpa: ids.NormalizeVPA(po.To), AmountPaise: amount, PayeeDeviceId: o.ToDevice,
		Note: po.Note, RefId: in.RefID, WaitMs: o.ms()}, in, nil
}

// LitePay pays from the device's wallet without a PIN: online (44), or
// with ToDevice offline (45, Lite X), which ends PENDING with a
// provisional UTR until a device syncs the record.
func LitePay(ctx context.Context, w io.Writer, o LitePayOptions) (LiteTxnResult, error) {
	req, in, err := litePayRequest(o)
	if err != nil {
		return LiteTxnResult{}, err
	}
	if o.Intent != "" && o.Output != JSON {
		if err := showIntent(w, in, req.GetAmountPaise()); err != nil {
			return LiteTxnResult{}, err
		}
	}
	return withTPAP(o.DataDir, func(tp upiv1.TpapAppServiceClient) (LiteTxnResult, error) {
		return liteDo(ctx, tp, w, o.Output, liteCallOf{device: o.DeviceID, wait: o.LiteWait, offline: req.GetPayeeDeviceId() != ""}, func(tp upiv1.TpapAppServiceClient) (*upiv1.LiteResult, error) {
			return tp.PayLite(ctx, req)
		})
	})
}

// LiteTransferOutOptions are the options of `upisim lite transfer-out`.
type LiteTransferOutOptions struct {
	DataDir  string
	DeviceID string
	Amount   string
	LiteWait
	Output Output
}

// LiteTransferOut returns Amount of the wallet to the account (46).
func LiteTransferOut(ctx context.Context, w io.Writer, o LiteTransferOutOptions) (LiteTxnResult, error) {
	if err := needDevice(o.DeviceID); err != nil {
		return LiteTxnResult{}, err
	}
	amount, err := liteAmount(o.Amount)
	if err != nil {
		return LiteTxnResult{}, err
	}
	return liteCall(ctx, o.DataDir, w, o.Output, liteCallOf{device: o.DeviceID, wait: o.LiteWait}, func(tp upiv1.TpapAppServiceClient) (*upiv1.LiteResult, error) {
		return tp.TransferOutLite(ctx, &upiv1.TransferOutLiteRequest{DeviceId: o.DeviceID, AmountPaise: amount, WaitMs: o.ms()})
	})
}

// LiteDeviceOptions name one device (lite disable, offline, online, sync,
// balance).
type LiteDeviceOptions struct {
	DataDir  string
	DeviceID string
	LiteWait
	Output Output
}

// LiteDisable returns the rest of the wallet to the account (43) or, at
// zero, disables it (50).
func LiteDisable(ctx context.Context, w io.Writer, o LiteDeviceOptions) (LiteTxnResult, error) {
	if err := needDevice(o.DeviceID); err != nil {
		return LiteTxnResult{}, err
	}
	return liteCall(ctx, o.DataDir, w, o.Output, liteCallOf{device: o.DeviceID, wait: o.LiteWait}, func(tp upiv1.TpapAppServiceClient) (*upiv1.LiteResult, error) {
		return tp.DisableLite(ctx, &upiv1.TpapAppServiceDisableLiteRequest{DeviceId: o.DeviceID, WaitMs: o.ms()})
	})
}

// liteCallOf is what liteDo needs of a Lite command: its device, its wait,
// and whether it is an offline payment.
type liteCallOf struct {
	device  string
	wait    LiteWait
	offline bool
}

// liteCall calls f at the TPAP and prints its answer.
func liteCall(ctx context.Context, dataDir string, w io.Writer, out Output, c liteCallOf, f func(upiv1.TpapAppServiceClient) (*upiv1.LiteResult, error)) (LiteTxnResult, error) {
	return withTPAP(dataDir, func(tp upiv1.TpapAppServiceClient) (LiteTxnResult, error) {
		return liteDo(ctx, tp, w, out, c, f)
	})
}

// liteDo calls f at tp and prints its answer. An online one still PENDING
// when the TPAP answered (it bounds its own wait) is waited for as pay
// waits (GetPayment), for the rest of the wait, and the device's wallet
// read again once it is final.
func liteDo(ctx context.Context, tp upiv1.TpapAppServiceClient, w io.Writer, out Output, c liteCallOf, f func(upiv1.TpapAppServiceClient) (*upiv1.LiteResult, error)) (LiteTxnResult, error) {
	start := time.Now()
	resp, err := f(tp)
	if err != nil {
		return LiteTxnResult{}, rpcError(err)
	}
	r := liteTxnResult(resp)
	r.Offline = c.offline || r.ProvisionalUTR != ""
	timeout := c.wait.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	if left := timeout - time.Since(start); !c.wait.NoWait && !r.Offline && r.TxnID != "" && (r.Status == "PENDING" || r.Status == "DEEMED") && left > 0 {
		g, err := waitFinal(ctx, tp, r.TxnID, left)
		if err == nil || errors.Is(err, ErrStillPending) {
			r.Status, r.RRN, r.ErrCode = g.Status, g.RRN, g.ErrCode
			if wl, err := tp.GetLiteWallet(ctx, &upiv1.GetLiteWalletRequest{DeviceId: c.device}); err == nil {
				r.DeviceBalancePaise = wl.GetDeviceBalancePaise()
				r.LRN = cmpStr(r.LRN, wl.GetLrn())
			}
		}
		// Else the TPAP does not list it with the payments: its answer
		// stands.
	}
	return r, r.print(w, out)
}

func cmpStr(have, v string) string {
	if have != "" {
		return have
	}
	return v
}

// LiteRecordOut is one offline record as lite online, sync and balance
// print it.
type LiteRecordOut struct {
	Counter        uint64 `json:"counter"`
	ProvisionalUTR string `json:"provisional_utr"`
	UTR            string `json:"utr"`
	Status         string `json:"status"`
	ErrCode        string `json:"err_code"`
	AmountPaise    int64  `json:"amount_paise"`
	Payer          string `json:"payer,omitempty"`
	Payee          string `json:"payee,omitempty"`
	OrderID        string `json:"order_id,omitempty"`
	// Direction is SENT or RECEIVED (the device's records).
	Direction string `json:"direction,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// LiteSyncOut is what lite offline, online and sync print.
type LiteSyncOut struct {
	DeviceID string `json:"device_id"`
	Online   bool   `json:"online"`
	// TxnID is the sync batch's ("" when nothing was sent).
	TxnID              string          `json:"txn_id"`
	Status             string          `json:"status"`
	Synced             []LiteRecordOut `json:"synced"`
	DeviceBalancePaise int64           `json:"device_balance_paise"`
	Unsynced           int             `json:"unsynced"`
}

func liteSyncOut(device string, r *upiv1.LiteSyncResult) LiteSyncOut {
	out := LiteSyncOut{DeviceID: device, Online: r.GetWallet().GetOnline(), TxnID: r.GetTxnId(), Status: statusName(r.GetStatus()),
		Synced: []LiteRecordOut{}, DeviceBalancePaise: r.GetWallet().GetDeviceBalancePaise(), Unsynced: len(r.GetWallet().GetUnsynced())}
	if r.GetTxnId() == "" && r.GetStatus() == upiv1.Resp_RESULT_UNSPECIFIED {
		out.Status = "-"
	}
	for _, s := range r.GetSynced() {
		out.Synced = append(out.Synced, LiteRecordOut{Counter: s.GetCounter(), ProvisionalUTR: s.GetProvisionalUtr(), UTR: s.GetUtr(),
			Status: statusName(s.GetResult()), ErrCode: s.GetErrCode(), AmountPaise: s.GetAmountPaise(), Payer: s.GetPayerAddr(),
			Payee: s.GetPayeeAddr(), OrderID: s.GetOrderId(), Reason: s.GetReason()})
	}
	return out
}

func (r LiteSyncOut) print(w io.Writer, o Output) error {
	return o.print(w, r, func(w io.Writer) error {
		conn := "offline"
		if r.Online {
			conn = "online"
		}
		if err := printFields(w, "device", r.DeviceID+" ("+conn+")", "sync", r.TxnID, "status", r.Status,
			"wallet", upi.FormatRupeesIndian(r.DeviceBalancePaise), "unsynced", fmt.Sprintf("%d record(s)", r.Unsynced)); err != nil {
			return err
		}
		return printRecords(w, r.Synced)
	})
}

func printRecords(w io.Writer, recs []LiteRecordOut) error {
	if len(recs) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range recs {
		outcome := s.Status
		if s.ErrCode != "" {
			outcome += " " + s.ErrCode
		}
		utr := s.UTR
		if utr == "" {
			utr = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s → %s\n", orDash(s.ProvisionalUTR), utr, outcome, upi.FormatRupeesIndian(s.AmountPaise), orDash(s.Payer), orDash(s.Payee))
	}
	return tw.Flush()
}

// LiteSyncOutcome is the error that gives a sync's exit code: nil once the
// batch was answered (each record has its own status in synced) or when
// nothing was sent, ExitPending when the answer did not come within the
// wait.
func LiteSyncOutcome(r LiteSyncOut) error {
	if r.Status != "PENDING" {
		return nil
	}
	return stillPending(TxnResult{TxnID: r.TxnID, Status: r.Status}, "sync %s of %s not answered when the wait ended; `upisim lite balance --device %s` shows it later", r.TxnID, r.DeviceID, r.DeviceID)
}

// LiteOffline takes the device offline.
func LiteOffline(ctx context.Context, w io.Writer, o LiteDeviceOptions) (LiteSyncOut, error) {
	return liteConnectivity(ctx, w, o, false)
}

// LiteOnline brings the device online: it syncs its records and prints
// each record's official UTR or failure.
func LiteOnline(ctx context.Context, w io.Writer, o LiteDeviceOptions) (LiteSyncOut, error) {
	return liteConnectivity(ctx, w, o, true)
}

func liteConnectivity(ctx context.Context, w io.Writer, o LiteDeviceOptions, online bool) (LiteSyncOut, error) {
	if err := needDevice(o.DeviceID); err != nil {
		return LiteSyncOut{}, err
	}
	return liteSync(o, w, func(tp upiv1.TpapAppServiceClient) (*upiv1.LiteSyncResult, error) {
		return tp.SetLiteOnline(ctx, &upiv1.SetLiteOnlineRequest{DeviceId: o.DeviceID, Online: online, WaitMs: o.ms()})
	})
}

// LiteSync syncs an online device's unsynced records now.
func LiteSync(ctx context.Context, w io.Writer, o LiteDeviceOptions) (LiteSyncOut, error) {
	if err := needDevice(o.DeviceID); err != nil {
		return LiteSyncOut{}, err
	}
	return liteSync(o, w, func(tp upiv1.TpapAppServiceClient) (*upiv1.LiteSyncResult, error) {
		return tp.SyncLite(ctx, &upiv1.TpapAppServiceSyncLiteRequest{DeviceId: o.DeviceID, WaitMs: o.ms()})
	})
}

func liteSync(o LiteDeviceOptions, w io.Writer, f func(upiv1.TpapAppServiceClient) (*upiv1.LiteSyncResult, error)) (LiteSyncOut, error) {
	return withTPAP(o.DataDir, func(tp upiv1.TpapAppServiceClient) (LiteSyncOut, error) {
		r, err := f(tp)
		if err != nil {
			return LiteSyncOut{}, rpcError(err)
		}
		out := liteSyncOut(o.DeviceID, r)
		return out, out.print(w, o.Output)
	})
}

// LiteWalletOut is one device as lite devices and device add print it.
type LiteWalletOut struct {
	DeviceID           string `json:"device_id"`
	VPA                string `json:"vpa"`
	LRN                string `json:"lrn"`
	State              string `json:"state"`
	Online             bool   `json:"online"`
	DeviceBalancePaise int64  `json:"device_balance_paise"`
	Unsynced           int    `json:"unsynced"`
	OfflineSinceSync   int32  `json:"offline_since_sync"`
	OfflineLimit       int32  `json:"offline_limit"`
}

func liteState(s upiv1.LiteState) string {
	return strings.TrimPrefix(s.String(), "LITE_")
}

func liteWalletOut(wl *upiv1.LiteWallet) LiteWalletOut {
	return LiteWalletOut{DeviceID: wl.GetDeviceId(), VPA: wl.GetVpa(), LRN: wl.GetLrn(), State: liteState(wl.GetState()), Online: wl.GetOnline(),
		DeviceBalancePaise: wl.GetDeviceBalancePaise(), Unsynced: len(wl.GetUnsynced()), OfflineSinceSync: wl.GetOfflineSinceSync(), OfflineLimit: wl.GetOfflineLimit()}
}

func printWallets(w io.Writer, ws []LiteWalletOut) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tVPA\tLRN\tSTATE\tONLINE\tWALLET\tUNSYNCED\tOFFLINE PAYS")
	for _, x := range ws {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\t%d\t%d/%d\n", x.DeviceID, x.VPA, orDash(x.LRN), x.State, x.Online,
			upi.FormatRupeesIndian(x.DeviceBalancePaise), x.Unsynced, x.OfflineSinceSync, x.OfflineLimit)
	}
	return tw.Flush()
}

// LiteDevicesOptions are the options of `upisim lite devices`.
type LiteDevicesOptions struct {
	DataDir string
	VPA     string
	Output  Output
}

// LiteDevicesResult is what lite devices prints.
type LiteDevicesResult struct {
	Devices []LiteWalletOut `json:"devices"`
}

// LiteDevices lists the Lite devices (of VPA, or all).
func LiteDevices(ctx context.Context, w io.Writer, o LiteDevicesOptions) (LiteDevicesResult, error) {
	if o.VPA != "" {
		if err := ids.ValidateVPA(o.VPA); err != nil {
			return LiteDevicesResult{}, fmt.Errorf("--vpa: %w", err)
		}
	}
	return withTPAP(o.DataDir, func(tp upiv1.TpapAppServiceClient) (LiteDevicesResult, error) {
		r, err := tp.ListLiteWallets(ctx, &upiv1.ListLiteWalletsRequest{Vpa: o.VPA})
		if err != nil {
			return LiteDevicesResult{}, rpcError(err)
		}
		out := LiteDevicesResult{Devices: []LiteWalletOut{}}
		for _, wl := range r.GetWallets() {
			out.Devices = append(out.Devices, liteWalletOut(wl))
		}
		return out, o.Output.print(w, out, func(w io.Writer) error { return printWallets(w, out.Devices) })
	})
}

// LiteDeviceAddOptions are the options of `upisim lite device add`.
type LiteDeviceAddOptions struct {
	DataDir  string
	VPA      string
	DeviceID string
	Output   Output
}

// LiteDeviceAdd registers a receive-only device (a merchant's POS) for VPA.
func LiteDeviceAdd(ctx context.Context, w io.Writer, o LiteDeviceAddOptions) (LiteWalletOut, error) {
	if err := ids.ValidateVPA(o.VPA); err != nil {
		return LiteWalletOut{}, fmt.Errorf("--vpa: %w", err)
	}
	if err := needDevice(o.DeviceID); err != nil {
		return LiteWalletOut{}, err
	}
	return withTPAP(o.DataDir, func(tp upiv1.TpapAppServiceClient) (LiteWalletOut, error) {
		wl, err := tp.AddLiteDevice(ctx, &upiv1.AddLiteDeviceRequest{DeviceId: o.DeviceID, Vpa: o.VPA})
		if err != nil {
			return LiteWalletOut{}, rpcError(err)
		}
		out := liteWalletOut(wl)
		return out, o.Output.print(w, out, func(w io.Writer) error { return printWallets(w, []LiteWalletOut{out}) })
	})
}

// LiteBalanceResult is what lite balance prints: the device's view beside
// the remitter's (the truth) and the switch's.
type LiteBalanceResult struct {
	DeviceID string `json:"device_id"`
	VPA      string `json:"vpa"`
	LRN      string `json:"lrn"`
	State    string `json:"state"`
	Online   bool   `json:"online"`
	// Bank is the LRN's remitter.
	Bank               string `json:"bank"`
	DeviceBalancePaise int64  `json:"device_balance_paise"`
	BankBalancePaise   int64  `json:"bank_balance_paise"`
	SwitchBalancePaise int64  `json:"switch_balance_paise"`
	// UnconfirmedPaise are the online payments the switch has not yet
	// confirmed to the remitter.
	UnconfirmedPaise int64 `json:"unconfirmed_paise"`
	// Unsynced are the device's records not yet posted.
	Unsynced []LiteRecordOut `json:"unsynced"`
	// AutoTopUp is the device's Lite mandate, if any (lite_auto.go).
	AutoTopUp *LiteAutoTopUpOut `json:"auto_top_up,omitempty"`
}

// LiteBalance shows the device's wallet and, for its LRN, the remitter's
// balance and the switch's.
func LiteBalance(ctx context.Context, w io.Writer, o LiteDeviceOptions) (LiteBalanceResult, error) {
	if err := needDevice(o.DeviceID); err != nil {
		return LiteBalanceResult{}, err
	}
	c, err := Connect(o.DataDir)
	if err != nil {
		return LiteBalanceResult{}, err
	}
	defer c.Close()
	tp, err := c.TPAP()
	if err != nil {
		return LiteBalanceResult{}, err
	}
	r, err := liteBalance(ctx, tp, c.Dir, c.Admin, o.DeviceID)
	if err != nil {
		return r, err
	}
	return r, r.print(w, o.Output)
}

func liteBalance(ctx context.Context, tp upiv1.TpapAppServiceClient, dir *config.Directory, admin func(string) (upiv1.AdminServiceClient, error), device string) (LiteBalanceResult, error) {
	wl, err := tp.GetLiteWallet(ctx, &upiv1.GetLiteWalletRequest{DeviceId: device})
	if err != nil {
		return LiteBalanceResult{}, rpcError(err)
	}
	r := LiteBalanceResult{DeviceID: wl.GetDeviceId(), VPA: wl.GetVpa(), LRN: wl.GetLrn(), State: liteState(wl.GetState()), Online: wl.GetOnline(),
		DeviceBalancePaise: wl.GetDeviceBalancePaise(), Unsynced: []LiteRecordOut{}, AutoTopUp: liteAutoOut(wl.GetAutoTopUp())}
	if r.DeviceID == "" {
		r.DeviceID = device
	}
	for _, u := range wl.GetUnsynced() {
		rec := u.GetRecord()
		r.Unsynced = append(r.Unsynced, LiteRecordOut{Counter: rec.GetCounter(), ProvisionalUTR: rec.GetProvisionalUtr(), UTR: u.GetUtr(),
			Status: statusName(u.GetStatus()), ErrCode: u.GetErrCode(), AmountPaise: rec.GetAmountPaise(), Payer: rec.GetPayerAddr(),
			Payee: rec.GetPayeeAddr(), OrderID: rec.GetOrderId(), Direction: u.GetDirection()})
	}
	if r.LRN == "" {
		return r, nil // a receive-only device holds no money of its own
	}
	one := func(nd config.NodeAddr) (*upiv1.LiteAccount, error) {
		a, err := admin(nd.Name)
		if err != nil {
			return nil, err
		}
		l, err := a.ListLiteAccounts(ctx, &upiv1.ListLiteAccountsRequest{Lrn: r.LRN})
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", nd.Name, rpcError(err))
		}
		for _, la := range l.GetAccounts() {
			if la.GetLrn() == r.LRN {
				return la, nil
			}
		}
		return nil, nil
	}
	sws := dir.ByRole(config.RoleSwitch)
	if len(sws) != 1 {
		return r, fmt.Errorf("network.json names %d switch nodes, want 1", len(sws))
	}
	sw, err := one(sws[0])
	if err != nil {
		return r, err
	}
	r.SwitchBalancePaise, r.UnconfirmedPaise, r.Bank = sw.GetBalancePaise(), sw.GetUnconfirmedPaise(), sw.GetBank()
	for _, nd := range dir.ByRole(config.RoleBank) {
		if r.Bank != "" && nd.Name != r.Bank {
			continue
		}
		b, err := one(nd)
		if err != nil {
			return r, err
		}
		if b != nil {
			r.Bank, r.BankBalancePaise = nd.Name, b.GetBalancePaise()
			break
		}
	}
	return r, nil
}

func (r LiteBalanceResult) print(w io.Writer, o Output) error {
	return o.print(w, r, func(w io.Writer) error {
		conn := "offline"
		if r.Online {
			conn = "online"
		}
		var unsyncedPaise int64
		for _, u := range r.Unsynced {
			if u.Direction != "RECEIVED" {
				unsyncedPaise += u.AmountPaise
			}
		}
		kv := []string{"device", fmt.Sprintf("%s (%s, %s, %s)", r.DeviceID, r.VPA, r.State, conn), "lrn", r.LRN,
			"device wallet", upi.FormatRupeesIndian(r.DeviceBalancePaise)}
		if r.LRN != "" {
			kv = append(kv, "bank ("+orDash(r.Bank)+")", upi.FormatRupeesIndian(r.BankBalancePaise),
				"switch", fmt.Sprintf("%s (unconfirmed %s)", upi.FormatRupeesIndian(r.SwitchBalancePaise), upi.FormatRupeesIndian(r.UnconfirmedPaise)))
		}
		kv = append(kv, "unsynced", fmt.Sprintf("%d record(s), %s sent", len(r.Unsynced), upi.FormatRupeesIndian(unsyncedPaise)))
		if r.AutoTopUp != nil {
			kv = append(kv, "auto top-up", r.AutoTopUp.describe())
		}
		if err := printFields(w, kv...); err != nil {
			return err
		}
		return printRecords(w, r.Unsynced)
	})
}

// LiteReconcileOptions are the options of `upisim lite reconcile`.
type LiteReconcileOptions struct {
	DataDir string
	// Bank is the remitter whose LRNs are reconciled ("" for every bank).
	Bank   string
	Output Output
	// Daily prints the switch's last daily reconciliation of each bank,
	// Run has the switch reconcile now and waits up to Wait (default 30s)
	// for each remitter (lite_recon.go); neither: the view from outside.
	Daily, Run bool
	Wait       time.Duration
}

// LiteReconcileResult is what lite reconcile prints (audit.LiteReport).
type LiteReconcileResult = audit.LiteReconciliation

// LiteReconcile compares, per LRN of Bank, the device's wallet, the
// remitter's balance and the switch's, and names every mismatch with its
// cause. It returns an error (exit 1) when the report is not OK: a
// mismatch other than UNSYNCED and UNCONFIRMED, money on its way.
func LiteReconcile(ctx context.Context, w io.Writer, o LiteReconcileOptions) (LiteReconcileResult, error) {
	if o.Daily || o.Run {
		_, err := liteReconcileNetwork(ctx, w, o) // lite_recon.go
		return LiteReconcileResult{}, err
	}
	c, err := Connect(o.DataDir)
	if err != nil {
		return LiteReconcileResult{}, err
	}
	defer c.Close()
	r, err := audit.LiteReport(ctx, audit.Source{Dir: c.Dir, Admin: c.Admin}, o.Bank)
	if err != nil {
		return r, err
	}
	return r, printReconcile(w, o.Output, r)
}

func printReconcile(w io.Writer, o Output, r LiteReconcileResult) error {
	if err := o.print(w, r, func(w io.Writer) error { return printReconcileText(w, r) }); err != nil {
		return err
	}
	if !r.OK {
		n := 0
		for _, m := range r.Mismatches {
			if m.Kind != audit.LiteUnsynced && m.Kind != audit.LiteUnconfirmed {
				n++
			}
		}
		return fmt.Errorf("reconcile found %d mismatch%s that no money on its way explains", n, map[bool]string{true: "", false: "es"}[n == 1])
	}
	return nil
}

func printReconcileText(w io.Writer, r LiteReconcileResult) error {
	ok := "yes"
	if !r.OK {
		ok = "no"
	}
	if err := printFields(w, "ok", ok, "banks", strings.Join(r.Banks, ", "), "lrns", fmt.Sprint(len(r.Accounts)), "mismatches", fmt.Sprint(len(r.Mismatches))); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, p := range r.Pools {
		fmt.Fprintf(tw, "  pool %s\t%s\t(LRNs %s)\n", p.Bank, upi.FormatRupeesIndian(p.PoolPaise), upi.FormatRupeesIndian(p.LRNsPaise))
	}
	if len(r.Accounts) > 0 {
		fmt.Fprintln(tw, "  LRN\tVPA\tDEVICE\tBANK\tSWITCH\tUNSYNCED\tUNCONFIRMED")
	}
	for _, a := range r.Accounts {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s (%d)\t%s\n", a.LRN, orDash(a.VPA), upi.FormatRupeesIndian(a.DevicePaise), upi.FormatRupeesIndian(a.BankPaise),
			upi.FormatRupeesIndian(a.SwitchPaise), upi.FormatRupeesIndian(a.UnsyncedPaise), a.UnsyncedRecords, upi.FormatRupeesIndian(a.UnconfirmedPaise))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, m := range r.Mismatches {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", m.Kind, orDash(m.LRN), m.Detail)
	}
	return tw.Flush()
}
