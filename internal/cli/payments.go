package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/upi"
)

// TxnResult is what pay, collect, approve and txn print.
type TxnResult struct {
	TxnID   string `json:"txn_id"`
	Status  string `json:"status"`
	RRN     string `json:"rrn"`
	ErrCode string `json:"err_code"`
}

func (r TxnResult) print(w io.Writer, o Output) error {
	return o.print(w, r, func(w io.Writer) error {
		return printFields(w, "txn_id", r.TxnID, "status", r.Status, "rrn", r.RRN, "err_code", r.ErrCode)
	})
}

// txnResult is what the TPAP says of a transaction.
func txnResult(txnID string, g *upiv1.GetPaymentResponse) TxnResult {
	return TxnResult{TxnID: txnID, Status: statusName(g.GetStatus()), RRN: g.GetRrn(), ErrCode: g.GetErrCode()}
}

// checkPIN checks a PIN given on the command line; missing is the error
// when there is none.
func checkPIN(pin, missing string) error {
	if pin == "" {
		return errors.New(missing)
	}
	return ids.ValidatePIN(pin)
}

// PayOptions are the options of `upisim pay`.
type PayOptions struct {
	DataDir  string
	From, To string
	// Amount in rupees, e.g. "150.00".
	Amount string
	Note   string
	PIN    string
	// NoWait returns as soon as the payment is accepted (PENDING).
	NoWait bool
	// Timeout bounds the wait for a final status.
	Timeout time.Duration
	Output  Output
	// Intent, if set, is a merchant's upi://pay link (upi.ParseIntent): pa
	// is the payee (To, if given, must be the same), am the amount unless
	// Amount is given (paying another amount on purpose), tr the order id
	// the payment carries (ref_id), tn the note unless Note is given.
	Intent string
}

// Pay pays To from From through the network and, unless NoWait, waits for
// the final status.
func Pay(ctx context.Context, w io.Writer, o PayOptions) (TxnResult, error) {
	var in upi.Intent
	if o.Intent != "" {
		var err error
		if o, in, err = applyIntent(o); err != nil {
			return TxnResult{}, err
		}
	}
	amount, err := checkTransfer(o.From, o.To, o.Amount)
	if err != nil {
		return TxnResult{}, err
	}
	if err := checkPIN(o.PIN, "missing PIN: pass --pin"); err != nil {
		return TxnResult{}, err
	}
	if o.Intent != "" && o.Output != JSON {
		if err := showIntent(w, in, amount); err != nil {
			return TxnResult{}, err
		}
	}
	return withTPAP(o.DataDir, func(tp upiv1.TpapAppServiceClient) (TxnResult, error) {
		r, err := started(tp.CreatePayment(ctx, &upiv1.CreatePaymentRequest{
			PayerVpa: o.From, PayeeVpa: o.To, AmountPaise: amount, Note: o.Note, Pin: o.PIN, RefId: in.RefID,
		}))
		if err != nil {
			return r, err
		}
		return finish(ctx, w, tp, r, !o.NoWait, o.Timeout, o.Output)
	})
}

// applyIntent reads o.Intent into o's payee, amount and note, as a
// payer's app fills its pay screen from the link.
func applyIntent(o PayOptions) (PayOptions, upi.Intent, error) {
	in, err := upi.ParseIntent(o.Intent)
	if err != nil {
		return o, in, fmt.Errorf("--intent: %w", err)
	}
	if o.To != "" && ids.NormalizeVPA(o.To) != in.PayeeVPA {
		return o, in, fmt.Errorf("--to %s and the intent's payee (pa) %s differ: give one of them", o.To, in.PayeeVPA)
	}
	o.To = in.PayeeVPA
	if o.Amount == "" {
		if in.AmountPaise == 0 {
			return o, in, errors.New("the intent gives no amount (am): pass --amount")
		}
		o.Amount = upi.FormatPaise(in.AmountPaise)
	}
	if o.Note == "" {
		o.Note = in.Note
	}
	return o, in, nil
}

// showIntent tells who is paid what, as a payer's app shows the link
// before the PIN: the payee's name (pn), the amount, the order (tr), and
// the amount the link asked when another is paid.
func showIntent(w io.Writer, in upi.Intent, amount int64) error {
	payee := in.PayeeVPA
	if in.PayeeName != "" {
		payee = in.PayeeName + " <" + in.PayeeVPA + ">"
	}
	line := "paying " + payee + " " + upi.FormatRupeesIndian(amount)
	if in.RefID != "" {
		line += " for order " + in.RefID
	}
	if in.AmountPaise != 0 && in.AmountPaise != amount {
		line += " (the intent asks " + upi.FormatRupeesIndian(in.AmountPaise) + ")"
	}
	_, err := fmt.Fprintln(w, line)
	return err
}

// withTPAP connects to the TPAP of the network running in dataDir, calls f
// with its app API, and closes the connection; when it cannot connect, the
// result is T's zero value and the error.
func withTPAP[T any](dataDir string, f func(upiv1.TpapAppServiceClient) (T, error)) (T, error) {
	tp, closeConn, err := connectTPAP(dataDir)
	if err != nil {
		var zero T
		return zero, err
	}
	defer closeConn()
	return f(tp)
}

// needTxnID is the error of a command given no transaction id.
func needTxnID(id string) error {
	if id == "" {
		return errors.New("missing transaction id")
	}
	return nil
}

// started is the transaction the TPAP's answer to CreatePayment or
// CreateCollect names, or the call's error as its message.
func started(resp interface {
	GetTxnId() string
	GetStatus() upiv1.Resp_Result
}, err error) (TxnResult, error) {
	if err != nil {
		return TxnResult{}, rpcError(err)
	}
	return TxnResult{TxnID: resp.GetTxnId(), Status: statusName(resp.GetStatus())}, nil
}

// finish prints r, a transaction the TPAP accepted, after waiting for its
// final status (waitFinal) when wait is set.
func finish(ctx context.Context, w io.Writer, tp upiv1.TpapAppServiceClient, r TxnResult, wait bool, timeout time.Duration, out Output) (TxnResult, error) {
	if wait {
		var err error
		if r, err = waitFinal(ctx, tp, r.TxnID, timeout); errors.Is(err, ErrStillPending) {
			// Still PENDING: print it, so a script has its id (exit 3).
			if perr := r.print(w, out); perr != nil {
				return r, perr
			}
			return r, err
		} else if err != nil {
			return r, err
		}
	}
	return r, r.print(w, out)
}

// cliFields names the flags of a pay or collect in upi.CheckParties' errors.
var cliFields = upi.Fields{Payer: "--from", Payee: "--to", Parties: "payer and payee"}

// checkTransfer validates the parties and parses the amount.
func checkTransfer(from, to, amount string) (int64, error) {
	if _, _, err := upi.CheckParties(cliFields, from, to); err != nil {
		return 0, err
	}
	p, err := upi.ParseRupees(amount)
	if err != nil {
		return 0, fmt.Errorf("--amount: %w", err)
	}
	return p, nil
}

// waitFinal long-polls the TPAP until the transaction is SUCCESS or
// FAILURE, or the timeout passes: then a DEEMED one is answered as it is
// (its final status comes later, `upisim txn` shows it), a PENDING one is
// an error.
func waitFinal(ctx context.Context, tp upiv1.TpapAppServiceClient, txnID string, timeout time.Duration) (TxnResult, error) {
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		wait := min(time.Until(deadline), 10*time.Second)
		g, err := tp.GetPayment(ctx, &upiv1.GetPaymentRequest{TxnId: txnID, WaitMs: int32(max(wait, 0) / time.Millisecond)})
		if err != nil {
			return TxnResult{TxnID: txnID}, rpcError(err)
		}
		r := txnResult(txnID, g)
		switch s := g.GetStatus(); {
		case s == upiv1.Resp_SUCCESS || s == upiv1.Resp_FAILURE:
			return r, nil
		case time.Until(deadline) > 0:
		case s == upiv1.Resp_DEEMED:
			return r, nil
		default:
			return r, stillPending(r, "transaction %s still %s after %s", txnID, r.Status, timeout)
		}
	}
}

// TxnOptions are the options of `upisim txn`.
type TxnOptions struct {
	DataDir string
	TxnID   string
	// Wait waits up to this long for a final status; 0 answers at once.
	Wait   time.Duration
	Output Output
}

// Txn prints a transaction's status as the TPAP knows it.
func Txn(ctx context.Context, w io.Writer, o TxnOptions) (TxnResult, error) {
	if err := needTxnID(o.TxnID); err != nil {
		return TxnResult{}, err
	}
	return withTPAP(o.DataDir, func(tp upiv1.TpapAppServiceClient) (TxnResult, error) {
		g, err := tp.GetPayment(ctx, &upiv1.GetPaymentRequest{TxnId: o.TxnID, WaitMs: int32(o.Wait / time.Millisecond)})
		if err != nil {
			return TxnResult{}, rpcError(err)
		}
		r := txnResult(o.TxnID, g)
		return r, r.print(w, o.Output)
	})
}

// CollectOptions are the options of `upisim collect`: To asks From to pay.
type CollectOptions struct {
	DataDir  string
	From, To string
	Amount   string
	Note     string
	// ExpireMinutes is how long the request stays open (default 30).
	ExpireMinutes int
	// Timeout bounds the wait for the request to reach the payer's PSP
	// (a minute when 0).
	Timeout time.Duration
	Output  Output
}

// Collect sends a collect request and prints it (PENDING until the payer
// answers).
func Collect(ctx context.Context, w io.Writer, o CollectOptions) (TxnResult, error) {
	amount, err := checkTransfer(o.From, o.To, o.Amount)
	if err != nil {
		return TxnResult{}, err
	}
	if o.ExpireMinutes < 0 {
		return TxnResult{}, errors.New("--expire must not be negative")
	}
	return withTPAP(o.DataDir, func(tp upiv1.TpapAppServiceClient) (TxnResult, error) {
		r, err := started(tp.CreateCollect(ctx, &upiv1.CreateCollectRequest{
			PayerVpa: o.From, PayeeVpa: o.To, AmountPaise: amount, Note: o.Note, ExpireAfterMinutes: int32(o.ExpireMinutes),
		}))
		if err != nil {
			return r, err
		}
		if r, err = awaitDelivered(ctx, tp, o.From, r, o.Timeout); err != nil && !errors.Is(err, ErrStillPending) {
			return r, err
		}
		if perr := r.print(w, o.Output); perr != nil {
			return r, perr
		}
		return r, err
	})
}

// deliveryPoll is how often awaitDelivered asks the TPAP.
const deliveryPoll = 25 * time.Millisecond

// awaitDelivered waits until the collect r is waiting for its payer: the
// payer's PSP has it and told the payer's app (the TPAP lists it in
// ListCollects), so `upisim collects` and `upisim approve` find it at
// once. A collect that ended first (FAILURE: an unknown payer, say) is
// answered as it ended; one not delivered within timeout is answered
// PENDING with an ExitPending error.
func awaitDelivered(ctx context.Context, tp upiv1.TpapAppServiceClient, payer string, r TxnResult, timeout time.Duration) (TxnResult, error) {
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(deliveryPoll)
	defer tick.Stop()
	for {
		l, err := tp.ListCollects(ctx, &upiv1.ListCollectsRequest{Vpa: payer})
		if err == nil {
			for _, c := range l.GetCollects() {
				if c.GetTxnId() == r.TxnID {
					return r, nil
				}
			}
			g, gerr := tp.GetPayment(ctx, &upiv1.GetPaymentRequest{TxnId: r.TxnID})
			err = gerr
			if gerr == nil && g.GetStatus() != upiv1.Resp_PENDING {
				return txnResult(r.TxnID, g), nil
			}
		}
		if ctx.Err() != nil {
			return r, stillPending(r, "collect %s not yet delivered to %s's PSP after %s", r.TxnID, payer, timeout)
		}
		if err != nil {
			return r, rpcError(err)
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// ApproveOptions are the options of `upisim approve`.
type ApproveOptions struct {
	DataDir string
	TxnID   string
	PIN     string
	// Decline declines instead of approving.
	Decline bool
	NoWait  bool
	Timeout time.Duration
	Output  Output
}

// Approve approves (or declines) a collect request waiting at the payer and
// waits for the final status.
func Approve(ctx context.Context, w io.Writer, o ApproveOptions) (TxnResult, error) {
	if err := needTxnID(o.TxnID); err != nil {
		return TxnResult{}, err
	}
	if !o.Decline {
		if err := checkPIN(o.PIN, "missing PIN: pass --pin (or --decline)"); err != nil {
			return TxnResult{}, err
		}
	}
	return withTPAP(o.DataDir, func(tp upiv1.TpapAppServiceClient) (TxnResult, error) {
		var resp interface{ GetStatus() upiv1.Resp_Result }
		var err error
		if o.Decline {
			resp, err = tp.DeclineCollect(ctx, &upiv1.DeclineCollectRequest{TxnId: o.TxnID})
		} else {
			resp, err = tp.ApproveCollect(ctx, &upiv1.ApproveCollectRequest{TxnId: o.TxnID, Pin: o.PIN})
		}
		if err != nil {
			return TxnResult{}, rpcError(err)
		}
		r := TxnResult{TxnID: o.TxnID, Status: statusName(resp.GetStatus())}
		return finish(ctx, w, tp, r, !o.NoWait, o.Timeout, o.Output)
	})
}

// CollectsOptions are the options of `upisim collects`.
type CollectsOptions struct {
	DataDir string
	VPA     string
	Output  Output
}

// Collects lists the collect requests waiting for a payer.
func Collects(ctx context.Context, w io.Writer, o CollectsOptions) error {
	if err := ids.ValidateVPA(o.VPA); err != nil {
		return err
	}
	tp, closeConn, err := connectTPAP(o.DataDir)
	if err != nil {
		return err
	}
	defer closeConn()
	resp, err := tp.ListCollects(ctx, &upiv1.ListCollectsRequest{Vpa: o.VPA})
	if err != nil {
		return rpcError(err)
	}
	type item struct {
		TxnID       string `json:"txn_id"`
		Payee       string `json:"payee_vpa"`
		AmountPaise int64  `json:"amount_paise"`
		Note        string `json:"note"`
		Expires     string `json:"expires,omitempty"`
	}
	items := []item{}
	for _, t := range resp.GetCollects() {
		it := item{TxnID: t.GetTxnId(), Payee: t.GetPayeeVpa(), AmountPaise: t.GetAmountPaise(), Note: t.GetNote()}
		if t.GetExpires() != nil {
			it.Expires = t.GetExpires().AsTime().Format(time.RFC3339)
		}
		items = append(items, it)
	}
	return o.Output.print(w, map[string]any{"vpa": o.VPA, "collects": items}, func(w io.Writer) error {
		if len(items) == 0 {
			fmt.Fprintf(w, "no collect requests waiting for %s\n", o.VPA)
			return nil
		}
		for _, it := range items {
			fmt.Fprintf(w, "%s  %s asks %s  %s  expires %s\n", it.TxnID, it.Payee, upi.FormatRupeesIndian(it.AmountPaise), it.Note, it.Expires)
		}
		return nil
	})
}

// CirclePayOptions are the options of `upisim circle pay`: From is the
// secondary.
type CirclePayOptions struct {
	DataDir  string
	From, To string
	// Amount in rupees, e.g. "200.00".
	Amount string
	Note   string
	// NoWait returns as soon as the payment is accepted (PENDING).
	NoWait bool
	// Timeout bounds the wait for a final status.
	Timeout time.Duration
	Output  Output
}

// CirclePay pays To from the primary's account of the secondary From under
// their full UPI Circle link and, unless NoWait, waits for the final
// status.
func CirclePay(ctx context.Context, w io.Writer, o CirclePayOptions) (TxnResult, error) {
	amount, err := checkTransfer(o.From, o.To, o.Amount)
	if err != nil {
		return TxnResult{}, err
	}
	return withTPAP(o.DataDir, func(tp upiv1.TpapAppServiceClient) (TxnResult, error) {
		r, err := started(tp.CreateCirclePayment(ctx, &upiv1.CreateCirclePaymentRequest{
			SecondaryVpa: o.From, PayeeVpa: o.To, AmountPaise: amount, Note: o.Note,
		}))
		if err != nil {
			return r, err
		}
		// Under a partial link, or a full one whose mandate is not
		// ACTIVE, the payment waits for the primary's approval (upisim
		// circle approve): it answers PENDING at once.
		wait := !o.NoWait && !awaitsPrimary(ctx, tp, o.From)
		return finish(ctx, w, tp, r, wait, o.Timeout, o.Output)
	})
}

// CircleApprove approves (or declines) a delegated payment waiting for its
// primary under a partial link and waits for the final status.
func CircleApprove(ctx context.Context, w io.Writer, o ApproveOptions) (TxnResult, error) {
	if err := needTxnID(o.TxnID); err != nil {
		return TxnResult{}, err
	}
	if !o.Decline {
		if err := checkPIN(o.PIN, "missing PIN: pass --pin (or --decline)"); err != nil {
			return TxnResult{}, err
		}
	}
	return withTPAP(o.DataDir, func(tp upiv1.TpapAppServiceClient) (TxnResult, error) {
		var resp interface{ GetStatus() upiv1.Resp_Result }
		var err error
		if o.Decline {
			resp, err = tp.DeclineCirclePayment(ctx, &upiv1.DeclineCirclePaymentRequest{TxnId: o.TxnID})
		} else {
			resp, err = tp.ApproveCirclePayment(ctx, &upiv1.ApproveCirclePaymentRequest{TxnId: o.TxnID, Pin: o.PIN})
		}
		if err != nil {
			return TxnResult{}, rpcError(err)
		}
		r := TxnResult{TxnID: o.TxnID, Status: statusName(resp.GetStatus())}
		return finish(ctx, w, tp, r, !o.NoWait, o.Timeout, o.Output)
	})
}

// CircleApprovals lists the delegated payments waiting for a primary.
func CircleApprovals(ctx context.Context, w io.Writer, o CollectsOptions) error {
	if err := ids.ValidateVPA(o.VPA); err != nil {
		return err
	}
	tp, closeConn, err := connectTPAP(o.DataDir)
	if err != nil {
		return err
	}
	defer closeConn()
	resp, err := tp.ListCircleApprovals(ctx, &upiv1.ListCircleApprovalsRequest{Vpa: o.VPA})
	if err != nil {
		return rpcError(err)
	}
	type item struct {
		TxnID       string `json:"txn_id"`
		Payee       string `json:"payee_vpa"`
		AmountPaise int64  `json:"amount_paise"`
		Note        string `json:"note"`
	}
	items := []item{}
	for _, t := range resp.GetApprovals() {
		items = append(items, item{TxnID: t.GetTxnId(), Payee: t.GetPayeeVpa(), AmountPaise: t.GetAmountPaise(), Note: t.GetNote()})
	}
	return o.Output.print(w, map[string]any{"vpa": o.VPA, "approvals": items}, func(w io.Writer) error {
		if len(items) == 0 {
			fmt.Fprintf(w, "no delegated payments waiting for %s\n", o.VPA)
			return nil
		}
		for _, it := range items {
			fmt.Fprintf(w, "%s  pay %s %s  %s\n", it.TxnID, it.Payee, upi.FormatRupeesIndian(it.AmountPaise), it.Note)
		}
		return nil
	})
}

// awaitsPrimary reports whether the payments of vpa's LINKED UPI Circle
// link wait for the primary: a partial link, or a full one whose mandate
// is not ACTIVE (false when it cannot tell: then CirclePay waits as for
// any payment).
func awaitsPrimary(ctx context.Context, tp upiv1.TpapAppServiceClient, vpa string) bool {
	r, err := tp.ListCircleLinks(ctx, &upiv1.ListCircleLinksRequest{Vpa: vpa})
	if err != nil {
		return false
	}
	for _, l := range r.GetLinks() {
		if l.GetStatus() != upiv1.CircleLink_LINKED || !strings.EqualFold(l.GetSecondaryVpa(), vpa) {
			continue
		}
		if l.GetMode() == upiv1.Delegate_PARTIAL {
			return true
		}
		// A full link whose mandate is not ACTIVE falls back to the
		// primary's approval.
		md, err := tp.GetMandate(ctx, &upiv1.GetMandateRequest{Umn: l.GetUmn()})
		if err != nil {
			return false
		}
		m := md.GetMandate()
		return m.GetStatus() != "ACTIVE" || !upi.InMandateValidity(m.GetValidityStart(), m.GetValidityEnd(), time.Now())
	}
	return false
}
