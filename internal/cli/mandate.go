package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// MandateResult is a mandate as `upisim mandate show|revoke` print it.
type MandateResult struct {
	UMN           string `json:"umn"`
	TxnID         string `json:"txn_id"`
	Status        string `json:"status"`
	ErrCode       string `json:"err_code"`
	PayerVPA      string `json:"payer_vpa"`
	PayeeVPA      string `json:"payee_vpa"`
	AmountPaise   int64  `json:"amount_paise"`
	ValidityStart string `json:"validity_start"`
	ValidityEnd   string `json:"validity_end"`
	Signed        bool   `json:"signed"`
	// A change under way (UPDATE or REVOKE) and its txn id; the last
	// change's txn id and outcome.
	PendingType  string `json:"pending_type,omitempty"`
	PendingTxnID string `json:"pending_txn_id,omitempty"`
	LastTxnID    string `json:"last_txn_id,omitempty"`
	LastResult   string `json:"last_result,omitempty"`
}

func mandateResult(m *upiv1.MandateInfo) MandateResult {
	return MandateResult{
		UMN: m.GetUmn(), TxnID: m.GetTxnId(), Status: m.GetStatus(), ErrCode: m.GetErrCode(),
		PayerVPA: m.GetPayerVpa(), PayeeVPA: m.GetPayeeVpa(), AmountPaise: m.GetAmountPaise(),
		ValidityStart: m.GetValidityStart(), ValidityEnd: m.GetValidityEnd(), Signed: m.GetSignature() != "",
		PendingType: m.GetPendingType(), PendingTxnID: m.GetPendingTxnId(), LastTxnID: m.GetLastTxnId(), LastResult: m.GetLastResult(),
	}
}

func (r MandateResult) print(w io.Writer, o Output) error {
	return o.print(w, r, func(w io.Writer) error {
		f := []string{"umn", r.UMN, "txn_id", r.TxnID, "status", r.Status, "err_code", r.ErrCode,
			"payer_vpa", r.PayerVPA, "payee_vpa", r.PayeeVPA, "amount_paise", fmt.Sprint(r.AmountPaise),
			"validity", r.ValidityStart + ".." + r.ValidityEnd, "signed", fmt.Sprint(r.Signed)}
		if r.PendingType != "" {
			f = append(f, "pending_type", r.PendingType, "pending_txn_id", r.PendingTxnID)
		}
		if r.LastTxnID != "" {
			f = append(f, "last_txn_id", r.LastTxnID, "last_result", r.LastResult)
		}
		return printFields(w, f...)
	})
}

// MandateOptions are the options of `upisim mandate show|revoke`.
type MandateOptions struct {
	DataDir string
	UMN     string
	Output  Output
}

// MandateShow prints the mandate a UMN names, as its PSP(P) keeps it.
func MandateShow(ctx context.Context, w io.Writer, o MandateOptions) (MandateResult, error) {
	return mandateCall(o, w, func(tp upiv1.TpapAppServiceClient) (*upiv1.MandateInfo, error) {
		resp, err := tp.GetMandate(ctx, &upiv1.GetMandateRequest{Umn: o.UMN})
		return resp.GetMandate(), err
	})
}

// MandateRevoke revokes a mandate on its own; its link, if any, stays
// LINKED and its payments go to the primary for approval. It prints the
// mandate with the REVOKE under way (`mandate show` gives the outcome).
func MandateRevoke(ctx context.Context, w io.Writer, o MandateOptions) (MandateResult, error) {
	return mandateCall(o, w, func(tp upiv1.TpapAppServiceClient) (*upiv1.MandateInfo, error) {
		resp, err := tp.RevokeMandate(ctx, &upiv1.TpapAppServiceRevokeMandateRequest{Umn: o.UMN})
		return resp.GetMandate(), err
	})
}

func mandateCall(o MandateOptions, w io.Writer, f func(upiv1.TpapAppServiceClient) (*upiv1.MandateInfo, error)) (MandateResult, error) {
	if o.UMN == "" {
		return MandateResult{}, errors.New("missing UMN")
	}
	return withTPAP(o.DataDir, func(tp upiv1.TpapAppServiceClient) (MandateResult, error) {
		m, err := f(tp)
		if err != nil {
			return MandateResult{}, rpcError(err)
		}
		r := mandateResult(m)
		return r, r.print(w, o.Output)
	})
}
