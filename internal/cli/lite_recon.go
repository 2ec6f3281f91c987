package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/upi"
)

// defaultReconWait is how long `lite reconcile --run` waits for a
// remitter's answer.
const defaultReconWait = 30 * time.Second

// LiteReconsResult is what `lite reconcile --daily` and `--run` print:
// the switch's reports (AdminService/ListLiteRecons, RunLiteRecon), one
// per bank.
type LiteReconsResult struct {
	Reports []*upiv1.LiteRecon `json:"reports"`
}

// MarshalJSON writes {"reports": [...]} with each report in the proto's
// JSON form (field names as in admin.proto, times RFC 3339).
func (r LiteReconsResult) MarshalJSON() ([]byte, error) {
	reports := make([]json.RawMessage, 0, len(r.Reports))
	for _, rep := range r.Reports {
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(rep)
		if err != nil {
			return nil, err
		}
		reports = append(reports, b)
	}
	return json.Marshal(map[string]any{"reports": reports})
}

// liteReconcileNetwork is `lite reconcile --daily` (the switch's last
// report of each bank, or of Bank) and `--run` (a reconciliation now, of
// each bank or Bank, waited for). It exits 1 when a report is not
// answered, or names a mismatch but UNSYNCED and UNCONFIRMED.
func liteReconcileNetwork(ctx context.Context, w io.Writer, o LiteReconcileOptions) (LiteReconsResult, error) {
	var out LiteReconsResult
	if o.Daily && o.Run {
		return out, fmt.Errorf("--daily and --run: give one (the last reports, or a reconciliation now)")
	}
	c, err := Connect(o.DataDir)
	if err != nil {
		return out, err
	}
	defer c.Close()
	var sw, banks []string
	for _, nd := range c.Dir.Nodes {
		switch nd.Role {
		case config.RoleSwitch:
			sw = append(sw, nd.Name)
		case config.RoleBank:
			if o.Bank == "" || nd.Name == o.Bank {
				banks = append(banks, nd.Name)
			}
		}
	}
	if len(sw) != 1 {
		return out, fmt.Errorf("the network has %d switches, want 1", len(sw))
	}
	if len(banks) == 0 {
		return out, fmt.Errorf("%q is no bank of the network", o.Bank)
	}
	admin, err := c.Admin(sw[0])
	if err != nil {
		return out, err
	}
	wait := o.Wait
	if wait <= 0 {
		wait = defaultReconWait
	}
	for _, b := range banks {
		var r *upiv1.LiteRecon
		if o.Run {
			resp, err := admin.RunLiteRecon(ctx, &upiv1.RunLiteReconRequest{Bank: b, WaitMs: wait.Milliseconds()})
			if err != nil {
				return out, fmt.Errorf("run the reconciliation of %s at %s: %w", b, sw[0], err)
			}
			r = resp.GetRecon()
		} else {
			resp, err := admin.ListLiteRecons(ctx, &upiv1.ListLiteReconsRequest{Bank: b, Limit: 1})
			if err != nil {
				return out, fmt.Errorf("list the reconciliations of %s at %s: %w", b, sw[0], err)
			}
			if len(resp.GetRecons()) == 0 {
				r = &upiv1.LiteRecon{Bank: b} // none yet
			} else {
				r = resp.GetRecons()[0]
			}
		}
		out.Reports = append(out.Reports, r)
	}
	if err := o.Output.print(w, out, func(w io.Writer) error { return printRecons(w, out) }); err != nil {
		return out, err
	}
	return out, reconsOutcome(out, o.Run)
}

// reconsOutcome is nil when every report is answered and names no
// mismatch but money on its way (UNSYNCED, UNCONFIRMED).
func reconsOutcome(r LiteReconsResult, run bool) error {
	var bad []string
	for _, rep := range r.Reports {
		switch {
		case rep.GetTxnId() == "":
			continue // no report yet (--daily before the first day)
		case rep.GetState() != "DONE":
			if run {
				bad = append(bad, fmt.Sprintf("%s: %s not answered", rep.GetBank(), rep.GetTxnId()))
			}
			continue
		}
		for _, m := range rep.GetMismatches() {
			if m.GetKind() != "UNSYNCED" && m.GetKind() != "UNCONFIRMED" {
				bad = append(bad, rep.GetBank()+": "+m.GetKind())
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("reconcile: %s", strings.Join(bad, "; "))
	}
	return nil
}

func printRecons(w io.Writer, r LiteReconsResult) error {
	for _, rep := range r.Reports {
		if rep.GetTxnId() == "" {
			if _, err := fmt.Fprintf(w, "%s: no reconciliation yet\n", rep.GetBank()); err != nil {
				return err
			}
			continue
		}
		how := "daily"
		if rep.GetOnDemand() {
			how = "on demand"
		}
		at := "-"
		if rep.GetAnswered() != nil {
			at = rep.GetAnswered().AsTime().UTC().Format(time.RFC3339)
		}
		if err := printFields(w, "bank", rep.GetBank(), "txn", rep.GetTxnId(), "state", rep.GetState()+" ("+how+")",
			"started", rep.GetStarted().AsTime().UTC().Format(time.RFC3339), "answered", at,
			"pool", fmt.Sprintf("%s (LRNs %s)", upi.FormatRupeesIndian(rep.GetPoolPaise()), upi.FormatRupeesIndian(rep.GetLrnsPaise())),
			"mismatches", fmt.Sprint(len(rep.GetMismatches()))); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		if len(rep.GetLines()) > 0 {
			fmt.Fprintln(tw, "  LRN\tSTATE\tSWITCH\tBANK\tDEVICE\tUNCONFIRMED\tHELD\tUNSYNCED")
		}
		for _, l := range rep.GetLines() {
			dev := "-"
			if l.GetDeviceKnown() {
				dev = upi.FormatRupeesIndian(l.GetDeviceReportedPaise())
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.GetLrn(), orDash(l.GetState()),
				upi.FormatRupeesIndian(l.GetSwitchBalancePaise()), upi.FormatRupeesIndian(l.GetBankBalancePaise()), dev,
				upi.FormatRupeesIndian(l.GetUnconfirmedPaise()), upi.FormatRupeesIndian(l.GetHeldPaise()), upi.FormatRupeesIndian(l.GetUnsyncedPaise()))
		}
		for _, m := range rep.GetMismatches() {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", m.GetKind(), orDash(m.GetLrn()), upi.FormatRupeesIndian(m.GetAmountPaise()), m.GetCause())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
