package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/upi"
)

// `upisim lite autotopup`: a device's Lite mandate (docs/FLOWS.md, "Auto
// top-up (Lite mandate)").

// LiteAutoTopUpOptions are the options of `upisim lite autotopup`.
type LiteAutoTopUpOptions struct {
	DataDir  string
	DeviceID string
	// Threshold and Amount (rupees): below Threshold, top up Amount.
	Threshold string
	Amount    string
	PIN       string
	// Off revokes the device's mandate (no PIN).
	Off bool
	LiteWait
	Output Output
}

// LiteAutoTopUpOut is a device's Lite mandate as lite balance shows it.
type LiteAutoTopUpOut struct {
	UMN            string `json:"umn"`
	State          string `json:"state"`
	ThresholdPaise int64  `json:"threshold_paise"`
	AmountPaise    int64  `json:"amount_paise"`
	// Today counts the auto top-ups that succeeded this IST day.
	Today       int32  `json:"today"`
	LastTxnID   string `json:"last_txn_id,omitempty"`
	LastStatus  string `json:"last_status,omitempty"`
	LastErrCode string `json:"last_err_code,omitempty"`
	ErrCode     string `json:"err_code,omitempty"`
}

func liteAutoOut(a *upiv1.LiteAutoTopUp) *LiteAutoTopUpOut {
	if a == nil {
		return nil
	}
	return &LiteAutoTopUpOut{UMN: a.GetUmn(), State: a.GetState(), ThresholdPaise: a.GetThresholdPaise(), AmountPaise: a.GetAmountPaise(),
		Today: a.GetToday(), LastTxnID: a.GetLastTxnId(), LastStatus: a.GetLastStatus(), LastErrCode: a.GetLastErrCode(), ErrCode: a.GetErrCode()}
}

// describe is the mandate in one line.
func (a *LiteAutoTopUpOut) describe() string {
	s := fmt.Sprintf("%s %s below %s (%s; %d today)", a.State, upi.FormatRupeesIndian(a.AmountPaise), upi.FormatRupeesIndian(a.ThresholdPaise), a.UMN, a.Today)
	if a.LastStatus != "" {
		s += fmt.Sprintf(", last %s %s", a.LastStatus, a.LastErrCode)
	}
	return s
}

// LiteAutoTopUp sets up the device's Lite mandate with the PIN (a top-up
// of purpose 71), or with Off revokes it.
func LiteAutoTopUp(ctx context.Context, w io.Writer, o LiteAutoTopUpOptions) (LiteTxnResult, error) {
	if err := needDevice(o.DeviceID); err != nil {
		return LiteTxnResult{}, err
	}
	if o.Off {
		if o.Threshold != "" || o.Amount != "" || o.PIN != "" {
			return LiteTxnResult{}, errors.New("--off takes no --threshold, --amount or --pin")
		}
		return withTPAP(o.DataDir, func(tp upiv1.TpapAppServiceClient) (LiteTxnResult, error) {
			r, err := tp.RevokeLiteAutoTopUp(ctx, &upiv1.RevokeLiteAutoTopUpRequest{DeviceId: o.DeviceID, WaitMs: o.ms()})
			if err != nil {
				return LiteTxnResult{}, rpcError(err)
			}
			out := liteTxnResult(r)
			return out, out.print(w, o.Output)
		})
	}
	if o.Threshold == "" {
		return LiteTxnResult{}, errors.New("missing threshold: pass --threshold (or --off)")
	}
	threshold, err := upi.ParseRupees(o.Threshold)
	if err != nil {
		return LiteTxnResult{}, fmt.Errorf("--threshold: %w", err)
	}
	amount, err := liteAmount(o.Amount)
	if err != nil {
		return LiteTxnResult{}, err
	}
	if err := checkPIN(o.PIN, "missing PIN: pass --pin"); err != nil {
		return LiteTxnResult{}, err
	}
	return liteCall(ctx, o.DataDir, w, o.Output, liteCallOf{device: o.DeviceID, wait: o.LiteWait}, func(tp upiv1.TpapAppServiceClient) (*upiv1.LiteResult, error) {
		return tp.SetLiteAutoTopUp(ctx, &upiv1.SetLiteAutoTopUpRequest{DeviceId: o.DeviceID, ThresholdPaise: threshold, AmountPaise: amount, Pin: o.PIN, WaitMs: o.ms()})
	})
}
