package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/upisim/upisim/internal/audit"
	"github.com/upisim/upisim/internal/upi"
)

// DefaultAuditMaxAge is audit.DefaultMaxAge, the default of --max-age.
const DefaultAuditMaxAge = audit.DefaultMaxAge

// AuditResult is what `upisim audit` prints (audit.Result).
type AuditResult = audit.Result

// AuditOptions are the options of `upisim audit`.
type AuditOptions struct {
	DataDir string
	// MaxAge is how long past its creation (or its deadline, e.g. a
	// collect's expiry) a transaction may stay PENDING or DEEMED, and how
	// long after the switch decided it a PSP may not know yet; 0 means
	// DefaultAuditMaxAge.
	MaxAge time.Duration
	Output Output
}

// Audit checks a running network against the invariants of ARCHITECTURE.md ("Invariants"):
// conservation of money at every bank and across the network, no negative
// customer balance, every posting a leg the switch sent, every payment's
// final status at the switch agreed by both PSPs and the app and closed at
// the banks (a SUCCESS debited and credited, a FAILURE not debited or
// reversed), no PSP or app record the switch does not know, none left
// undecided past MaxAge, and every PSP's merchant orders agreeing with the
// switch and with themselves (internal/audit/merchant.go). It prints the result and returns an error when
// anything is violated.
func Audit(ctx context.Context, w io.Writer, o AuditOptions) (AuditResult, error) {
	if o.MaxAge < 0 {
		return AuditResult{}, fmt.Errorf("--max-age %s is negative", o.MaxAge)
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultAuditMaxAge
	}
	c, err := Connect(o.DataDir)
	if err != nil {
		return AuditResult{}, err
	}
	defer c.Close()
	res, err := audit.From(ctx, audit.Source{Dir: c.Dir, Admin: c.Admin, MerchantAdmin: c.MerchantAdmin}, o.MaxAge)
	if err != nil {
		return AuditResult{}, err
	}
	if err := o.Output.print(w, res, func(w io.Writer) error { return printAudit(w, res) }); err != nil {
		return res, err
	}
	if n := len(res.Violations); n > 0 {
		return res, fmt.Errorf("audit found %d violation%s", n, plural(n))
	}
	return res, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func printAudit(w io.Writer, r AuditResult) error {
	ok := "yes"
	if !r.OK {
		ok = "no"
	}
	err := printFields(w,
		"ok", ok,
		"total", fmt.Sprintf("%s (%d paise; opening %s)", upi.FormatRupeesIndian(r.TotalPaise), r.TotalPaise, upi.FormatRupeesIndian(r.OpeningTotalPaise)),
		"settlement", fmt.Sprintf("%s (money in flight %s)", upi.FormatRupeesIndian(r.SettlementPaise), upi.FormatRupeesIndian(r.MoneyInFlightPaise)),
		"transactions", fmt.Sprint(r.Transactions),
		"non_terminal", fmt.Sprint(r.NonTerminal),
		"in_flight", fmt.Sprint(r.InFlight),
		"violations", fmt.Sprint(len(r.Violations)),
	)
	if err != nil {
		return err
	}
	for _, n := range r.Notes {
		if _, err := fmt.Fprintf(w, "  note: %s\n", n); err != nil {
			return err
		}
	}
	if len(r.Violations) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, v := range r.Violations {
		txn := v.TxnID
		if txn == "" {
			txn = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Kind, txn, v.Detail)
	}
	return tw.Flush()
}
