package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/console"
	"github.com/upisim/upisim/internal/node"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one kills the process as usual,
	// should shutting down ever take too long.
	context.AfterFunc(ctx, stop)
	os.Exit(execute(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// execute runs the command line args and returns its exit code
// (cli.ExitCodesHelp), having written the reason of a non-zero one to
// stderr: as text, or as JSON under -o json.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root, g := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return cli.ExitOK
	}
	out, perr := cli.ParseOutput(g.output)
	if perr != nil {
		out = cli.Text
	}
	cli.ReportError(stderr, out, err)
	return cli.ExitCode(err)
}

// common flags
type globals struct {
	data   string
	output string
}

func newRoot() (*cobra.Command, *globals) {
	g := &globals{}
	root := &cobra.Command{
		Use:           "upisim",
		Short:         "A local, multi-node model of India's UPI message network",
		Long:          "A local, multi-node model of India's UPI message network.\n\n" + cli.ExitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.data, "data", ".upisim", "data folder of the network (bbolt files and network.json)")
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	// Many hosts (issue 13, item 7): manifests and probe, in hosts.go.
	for _, s := range append(commands(), hostsCommands()...) {
		root.AddCommand(g.command(s))
	}
	return root, g
}

// A spec is what one subcommand states of its own: its name and help, where
// its argument and the global flags go, its flags, and the call into
// internal/cli. g.command adds what every command shares.
type spec struct {
	use, short, long, example string
	// arg, if set, takes the one argument the command requires (named in
	// use); a command without arg takes none.
	arg *string
	// data takes --data.
	data *string
	// output, if set, takes -o, checked before the call; a command that
	// prints no result (up, node) has none and does not check it.
	output *cli.Output
	// logger, if set, gives the command a --log-level flag and takes the
	// logger it selects.
	logger **slog.Logger
	flags  func(*pflag.FlagSet)
	run    func(context.Context, io.Writer) error
	// subs, if set, make the command a group of these subcommands
	// (upisim pki init, ...), with no run of its own.
	subs []spec
}

// command builds the cobra command of s.
func (g *globals) command(s spec) *cobra.Command {
	if len(s.subs) > 0 && s.run == nil {
		c := &cobra.Command{Use: s.use, Short: s.short, Long: s.long, Example: s.example, Args: cobra.NoArgs}
		for _, sub := range s.subs {
			c.AddCommand(g.command(sub))
		}
		return c
	}
	var level, format string
	c := &cobra.Command{
		Use:     s.use,
		Short:   s.short,
		Long:    s.long,
		Example: s.example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			if s.output != nil {
				if *s.output, err = cli.ParseOutput(g.output); err != nil {
					return err
				}
			}
			if s.logger != nil {
				if *s.logger, err = cli.NewLogger(os.Stderr, level, format); err != nil {
					return err
				}
			}
			*s.data = g.data
			if s.arg != nil {
				*s.arg = args[0]
			}
			return s.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	if s.arg != nil {
		c.Args = cobra.ExactArgs(1)
	}
	if s.logger != nil {
		c.Flags().StringVar(&level, "log-level", "warn", "log level: debug, info, warn, error")
		c.Flags().StringVar(&format, "log-format", "text", "log format: text or json (one JSON object a line)")
	}
	if s.flags != nil {
		s.flags(c.Flags())
	}
	// A command that runs may have subcommands too (bench, bench lite).
	for _, sub := range s.subs {
		c.AddCommand(g.command(sub))
	}
	return c
}

// result adapts a cli function that returns its result, which its output
// has printed already, to a spec's run.
func result[O, R any](f func(context.Context, io.Writer, O) (R, error), o *O) func(context.Context, io.Writer) error {
	return func(ctx context.Context, w io.Writer) error {
		_, err := f(ctx, w, *o)
		return err
	}
}

// call adapts a cli function that returns only an error to a spec's run.
func call[O any](f func(context.Context, io.Writer, O) error, o *O) func(context.Context, io.Writer) error {
	return func(ctx context.Context, w io.Writer) error { return f(ctx, w, *o) }
}

// newConsole is the web console (internal/console) of the network in
// dataDir, for `up` and `node --console`; cli.Up and cli.Node close it.
func newConsole(dataDir string, log *slog.Logger) cli.WebConsole {
	return console.New(console.Options{DataDir: dataDir, Logger: log})
}

// outcome adapts a cli function that waits for a transaction's final
// status to a spec's run: when waited (the command's flags say it
// waited), a status other than SUCCESS is its exit code
// (cli.Outcome).
func outcome[O any](f func(context.Context, io.Writer, O) (cli.TxnResult, error), o *O, waited func() bool) func(context.Context, io.Writer) error {
	return func(ctx context.Context, w io.Writer) error {
		r, err := f(ctx, w, *o)
		if err != nil || !waited() {
			return err
		}
		return cli.Outcome(r)
	}
}

// isTerminal reports whether w is a terminal (a character device), where
// bench rewrites a progress line.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

const maxInFlightHelp = "requests (network messages, app calls) each node works on at once; more are answered RESOURCE_EXHAUSTED (HTTP 429) at once, for the sender to retry; negative for no bound"

const retainHelp = "drop the trace (message bodies) of transactions that ended longer ago than this, e.g. 1h, keeping their records and dedup keys; 0 keeps everything (ARCHITECTURE.md, Retention)"

// serverFlags are the flags up and node share to the letter.
func serverFlags(f *pflag.FlagSet, networkFile *string, maxInFlight *int, retain *time.Duration) {
	f.StringVar(networkFile, "network", "", "network file (YAML); the embedded default network when empty")
	f.IntVar(maxInFlight, "max-in-flight", node.DefaultMaxInFlight, maxInFlightHelp)
	f.DurationVar(retain, "retain", 0, retainHelp)
}

// insecureFlag is --insecure of up and node.
func insecureFlag(f *pflag.FlagSet, v *bool) {
	f.BoolVar(v, "insecure", false, "no TLS: nodes talk plaintext and trust the org_id a message claims (loopback only; as the network file's tls: off)")
}

// timeoutFlag is --timeout of the commands that wait for a final status.
func timeoutFlag(f *pflag.FlagSet, timeout *time.Duration) {
	f.DurationVar(timeout, "timeout", time.Minute, "how long to wait for the final status")
}

// commands is every subcommand: what each states of its own.
func commands() []spec {
	var (
		up        cli.UpOptions
		nd        cli.NodeOptions
		pay       cli.PayOptions
		collect   cli.CollectOptions
		approve   cli.ApproveOptions
		collects  cli.CollectsOptions
		txn       cli.TxnOptions
		trace     cli.TraceOptions
		balance   cli.BalanceOptions
		bench     cli.BenchOptions
		benchLite cli.BenchLiteOptions
		benchCirc cli.BenchCircleOptions
		benchMerc cli.BenchMerchantOptions
		audit     cli.AuditOptions
		check     cli.CheckOptions
		compact   cli.CompactOptions
		pkiInit   cli.PKIInitOptions
		pkiRot    cli.PKIRotateOptions
		pkiShow   cli.PKIShowOptions
		cLink     cli.CircleLinkOptions
		cInvites  cli.CircleListOptions
		cList     cli.CircleListOptions
		cAccept   cli.CircleRefOptions
		cDecline  cli.CircleRefOptions
		cShow     cli.CircleRefOptions
		mShow     cli.MandateOptions
		mRevoke   cli.MandateOptions
		cRemove   cli.CircleRemoveOptions
		cUpdate   cli.CircleUpdateOptions
		cPay      cli.CirclePayOptions
		cApprs    cli.CollectsOptions
		cApprove  cli.ApproveOptions
		merchant  cli.MerchantOptions
		oCreate   cli.OrderOptions
		oShow     cli.OrderOptions
		oCollect  cli.OrderOptions
		oAction   cli.OrderOptions
		rCreate   cli.RefundOptions
		listen    cli.ListenOptions
		// issue 13 (console): --no-console of up, --console of node.
		noConsole, nodeConsole bool
	)
	return append([]spec{{
		use:   "up",
		short: "Run the whole network in this process (each node on its own ports and bbolt file)",
		data:  &up.DataDir, logger: &up.Logger,
		flags: func(f *pflag.FlagSet) {
			serverFlags(f, &up.NetworkFile, &up.MaxInFlight, &up.Retain)
			f.IntVar(&up.PortBase, "port-base", 7000, "TPAP REST on this port, other ports after it; 0 lets the OS choose")
			f.BoolVar(&up.NoSync, "no-sync", false, "skip fsync (benchmark comparison only: loses data on a crash)")
			f.StringVar(&up.PprofAddr, "pprof", "", "serve the Go profiler on this loopback address, e.g. 127.0.0.1:6060")
			f.DurationVar(&up.ResponseTimeout, "response-timeout", 0, "replace every switch and PSP response timeout (auth details, debit, credit, check status, reversal, ValAdd), e.g. 2s")
			insecureFlag(f, &up.Insecure)
			f.BoolVar(&noConsole, "no-console", false, "do not serve the web console (on the TPAP's HTTP port under /console/)")
		},
		run: call(func(ctx context.Context, w io.Writer, o cli.UpOptions) error {
			if !noConsole {
				o.Console = newConsole(o.DataDir, o.Logger)
			}
			return cli.Up(ctx, w, o)
		}, &up),
	}, {
		use:   "node",
		short: "Run one node of a network file as this process",
		data:  &nd.DataDir, logger: &nd.Logger,
		flags: func(f *pflag.FlagSet) {
			serverFlags(f, &nd.NetworkFile, &nd.MaxInFlight, &nd.Retain)
			f.StringVar(&nd.Name, "name", "", "the node to run")
			f.IntVar(&nd.PortBase, "port-base", 7000, "ports for nodes the file gives no address (same for every process)")
			f.BoolVar(&nd.NoSync, "no-sync", false, "skip fsync (benchmark comparison only)")
			f.DurationVar(&nd.ResponseTimeout, "response-timeout", 0, "replace every switch and PSP response timeout, e.g. 2s (give every process the same)")
			insecureFlag(f, &nd.Insecure)
			f.BoolVar(&nodeConsole, "console", false, "serve the web console on this node's HTTP port under /console/ (it reaches the other nodes through DATA/network.json)")
		},
		run: call(func(ctx context.Context, w io.Writer, o cli.NodeOptions) error {
			if nodeConsole {
				o.Console = newConsole(o.DataDir, o.Logger)
			}
			return cli.Node(ctx, w, o)
		}, &nd),
	}, {
		use:   "pay",
		short: "Pay from one VPA to another and wait for the final status",
		example: "  upisim pay --from alice@alpha --to bob@beta --amount 150.00 --pin 1234\n" +
			"  upisim pay --from alice@alpha --intent 'upi://pay?pa=chai@beta&pn=Chai%20Point&am=150.00&tr=ORDER_ID&cu=INR' --pin 1234",
		data: &pay.DataDir, output: &pay.Output,
		flags: func(f *pflag.FlagSet) {
			f.StringVar(&pay.From, "from", "", "payer VPA")
			f.StringVar(&pay.To, "to", "", "payee VPA (or --intent)")
			f.StringVar(&pay.Amount, "amount", "", "amount in rupees, e.g. 150.00 (with --intent: pay this instead of its am)")
			f.StringVar(&pay.Note, "note", "", "note shown to both parties")
			f.StringVar(&pay.Intent, "intent", "", "a merchant's upi://pay link: pa the payee, am the amount, tr the order id (ref_id), tn the note")
			f.StringVar(&pay.PIN, "pin", "", "payer's UPI PIN")
			f.BoolVar(&pay.NoWait, "no-wait", false, "return at once with the PENDING transaction")
			timeoutFlag(f, &pay.Timeout)
		},
		run: outcome(cli.Pay, &pay, func() bool { return !pay.NoWait }),
	}, {
		use:     "collect",
		short:   "Ask a payer for money (a collect request); the payer approves with `upisim approve`",
		example: "  upisim collect --from alice@alpha --to bob@beta --amount 50.00",
		data:    &collect.DataDir, output: &collect.Output,
		flags: func(f *pflag.FlagSet) {
			f.StringVar(&collect.From, "from", "", "payer VPA (who is asked)")
			f.StringVar(&collect.To, "to", "", "payee VPA (who asks)")
			f.StringVar(&collect.Amount, "amount", "", "amount in rupees")
			f.StringVar(&collect.Note, "note", "", "note")
			f.IntVar(&collect.ExpireMinutes, "expire", 30, "minutes before the request expires (U69)")
			f.DurationVar(&collect.Timeout, "timeout", time.Minute, "how long to wait for the request to reach the payer's PSP (exit 3 if it has not)")
		},
		// A collect delivered is PENDING (exit 0); one that ended at once
		// ended FAILURE (exit 2).
		run: func(ctx context.Context, w io.Writer) error {
			r, err := cli.Collect(ctx, w, collect)
			if err != nil || r.Status != "FAILURE" {
				return err
			}
			return cli.Outcome(r)
		},
	}, {
		use:     "approve TXN_ID",
		short:   "Approve (or --decline) a collect request waiting for the payer",
		example: "  upisim approve ALP0123... --pin 1234\n  upisim approve ALP0123... --decline",
		arg:     &approve.TxnID, data: &approve.DataDir, output: &approve.Output,
		flags: func(f *pflag.FlagSet) {
			f.StringVar(&approve.PIN, "pin", "", "payer's UPI PIN")
			f.BoolVar(&approve.Decline, "decline", false, "decline instead (ZA)")
			f.BoolVar(&approve.NoWait, "no-wait", false, "do not wait for the final status")
			timeoutFlag(f, &approve.Timeout)
		},
		run: outcome(cli.Approve, &approve, func() bool { return !approve.NoWait }),
	}, {
		use:   "collects VPA",
		short: "List the collect requests waiting for a payer",
		arg:   &collects.VPA, data: &collects.DataDir, output: &collects.Output,
		run: call(cli.Collects, &collects),
	}, {
		use:   "txn TXN_ID",
		short: "Show a transaction's status, RRN and error code",
		arg:   &txn.TxnID, data: &txn.DataDir, output: &txn.Output,
		flags: func(f *pflag.FlagSet) {
			f.DurationVar(&txn.Wait, "wait", 0, "wait up to this long for a final status")
		},
		run: outcome(cli.Txn, &txn, func() bool { return txn.Wait > 0 }),
	}, {
		use:   "trace TXN_ID",
		short: "Draw every message of a transaction across all nodes, in order",
		arg:   &trace.TxnID, data: &trace.DataDir, output: &trace.Output,
		run: result(cli.Trace, &trace),
	}, {
		use:   "balance VPA",
		short: "Show the balance of the account behind a VPA",
		arg:   &balance.VPA, data: &balance.DataDir, output: &balance.Output,
		run: result(cli.Balance, &balance),
	}, {
		use:   "bench",
		short: "Drive pay flows against a running network; print flows/s, latency percentiles, bytes a flow",
		long: `Drive pay flows against the running network of --data and print flows/s, the
latency percentiles (p50, p90, p99, p99.9, max, from a full histogram), the
bytes the nodes' files grew by a flow, and a baseline: unary gRPC echo
calls/s on loopback at the same concurrency, with the ratio flows/s × 14 (the
calls of a flow) over it.

Without --rate it is a closed loop: --concurrency flows at once, each started
when one ends, until --flows have completed. With --rate R it is an open loop:
flow i starts at i/R seconds whatever the others do, --flows of them or
--duration's worth (R × duration; give one), and each flow's latency counts
from its scheduled start, so a stall shows in every flow it delayed (no
coordinated omission). Flows in flight are as many as that takes, up to
--max-in-flight; a flow due beyond it is dropped and counted, never queued.

With --echo, measure only the bare echo (no network; --data unused):
--echo-calls calls at --concurrency, and with --rate, --flows calls (or
--duration's worth) at that rate, open loop: a quick machine calibration.

With --compare-tls, start the default network in a temporary folder instead,
once with mutual TLS between nodes and once insecure, drive the same flows
against each, and print both and their ratio.`,
		example: `  upisim bench --data .upisim --flows 10000 --concurrency 64
  upisim bench --data .upisim --rate 300 --duration 20s
  upisim bench --echo --rate 1000 --duration 10s`,
		data: &bench.DataDir, output: &bench.Output,
		flags: func(f *pflag.FlagSet) {
			f.IntVar(&bench.Flows, "flows", 0, fmt.Sprintf("pay flows to complete (default %d); with --rate, flows to start, or give --duration", cli.DefaultBenchFlows))
			f.IntVar(&bench.Concurrency, "concurrency", 0, fmt.Sprintf("flows in flight at once, closed loop (default %d); with --echo, the echo calls'", cli.DefaultBenchConcurrency))
			f.Float64Var(&bench.Rate, "rate", 0, "flows started a second: an open loop (latency from each flow's scheduled start)")
			f.DurationVar(&bench.Duration, "duration", 0, "with --rate: start flows for this long, in place of --flows")
			f.IntVar(&bench.MaxInFlight, "max-in-flight", 0, fmt.Sprintf("with --rate: flows in flight beyond which one due is dropped and counted (default %d)", cli.DefaultBenchMaxInFlight))
			f.BoolVar(&bench.Echo, "echo", false, "measure only the bare gRPC echo (no network; --data unused)")
			f.StringVar(&bench.A, "a", "alice@alpha", "one of the two VPAs that pay each other in turn")
			f.StringVar(&bench.B, "b", "bob@beta", "the other VPA")
			f.StringVar(&bench.PIN, "pin", "1234", "the PIN of both VPAs")
			f.StringVar(&bench.Amount, "amount", "1.00", "amount of each payment, rupees")
			f.BoolVar(&bench.CompareTLS, "compare-tls", false, "run the default network in a temporary folder with mutual TLS, then insecure, and compare (--data is not used)")
			f.BoolVar(&bench.NoSync, "no-sync", false, "with --compare-tls: skip fsync in both networks")
			f.IntVar(&bench.EchoCalls, "echo-calls", 20000, "unary gRPC echo calls of the baseline, after the flows; 0 for none")
		},
		run: func(ctx context.Context, w io.Writer) error {
			if bench.Output == cli.Text && isTerminal(w) {
				bench.Progress = w
			}
			switch {
			case bench.Echo:
				_, err := cli.BenchEcho(ctx, w, bench)
				return err
			case bench.CompareTLS:
				_, err := cli.BenchTLS(ctx, w, bench)
				return err
			}
			_, err := cli.Bench(ctx, w, bench)
			return err
		},
		subs: []spec{{
			use:   "lite",
			short: "Make offline UPI Lite records over many devices, then time their sync; print records/s",
			long: `Make --records offline UPI Lite records against the running network of --data
(not timed): payer devices of --payer, each enabled and topped up with what its
records need and taken offline, pay the network's offline_count records each to
receive-only POS devices of --payee, --batch records to each POS. Then time the
sync: every POS comes online (--concurrency at once, 0 for all) and syncs its
records as one batch, again while any is PENDING, until every record is final.
Prints records/s, the batches' p50/p99 latency, and a baseline: unary gRPC echo
calls/s on loopback at the same concurrency, with the ratio.`,
			example: "  upisim bench lite --data /tmp/lb --records 20000 --batch 500",
			data:    &benchLite.DataDir, output: &benchLite.Output,
			flags: func(f *pflag.FlagSet) {
				f.IntVar(&benchLite.Records, "records", 20000, "offline records to make and sync")
				f.IntVar(&benchLite.Batch, "batch", 500, "records per sync batch (each POS device's)")
				f.IntVar(&benchLite.Concurrency, "concurrency", 0, "batches syncing at once; 0 for all")
				f.IntVar(&benchLite.Setup, "setup", 32, "setup calls (enable, offline pay) at once")
				f.StringVar(&benchLite.Payer, "payer", "alice@alpha", "the VPA whose devices pay")
				f.StringVar(&benchLite.Payee, "payee", "bob@beta", "the VPA whose POS devices receive")
				f.StringVar(&benchLite.PIN, "pin", "1234", "the payer's PIN (for the top-ups)")
				f.StringVar(&benchLite.Amount, "amount", "0.10", "amount of each record, rupees")
				f.IntVar(&benchLite.EchoCalls, "echo-calls", 20000, "unary gRPC echo calls of the baseline; 0 for none")
			},
			run: func(ctx context.Context, w io.Writer) error {
				if benchLite.Output == cli.Text && isTerminal(w) {
					benchLite.Progress = w
				}
				_, err := cli.BenchLite(ctx, w, benchLite)
				return err
			},
		}, {
			use:   "circle",
			short: "Time UPI Circle delegated payments under a full link; print flows/s and p50/p99 latency",
			long: `Time --flows delegated payments (UPI Circle, full delegation) against the
running network of --data, --concurrency at once: --secondary pays --to from
--primary's account, each to its final status, as ` + "`upisim circle pay`" + ` does.
Setup (not timed): the secondary's full link with the primary, made with the
primary's --pin and accepted for the secondary, or the one it has already
when that is LINKED to --primary with --flows × --amount left of its limit (a
secondary has one primary; remove another link first). The limits hold:
₹5,000 a payment, the link's limit a month, ₹5,000 in all in the first 24 h
after linking (FP). Prints flows/s, p50/p99 latency, the bytes the nodes'
files grew by a flow, and a baseline: unary gRPC echo calls/s on loopback at
the same concurrency, with the ratio flows/s × 23 (the calls of a delegated
payment) over it.`,
			example: "  upisim bench circle --data /tmp/bc --flows 2000 --concurrency 64",
			data:    &benchCirc.DataDir, output: &benchCirc.Output,
			flags: func(f *pflag.FlagSet) {
				f.IntVar(&benchCirc.Flows, "flows", 2000, "delegated payments to complete")
				f.IntVar(&benchCirc.Concurrency, "concurrency", 64, "payments in flight at once")
				f.StringVar(&benchCirc.Primary, "primary", "alice@alpha", "the VPA whose account pays")
				f.StringVar(&benchCirc.Secondary, "secondary", "carol@beta", "the VPA that makes the payments under the link")
				f.StringVar(&benchCirc.To, "to", "chai@beta", "the VPA paid")
				f.StringVar(&benchCirc.PIN, "pin", "1234", "the primary's PIN, for a new link's mandate")
				f.StringVar(&benchCirc.Amount, "amount", "0.10", "amount of each payment, rupees")
				f.StringVar(&benchCirc.Limit, "limit", "", "a new link's monthly limit, rupees (empty: circle.full.monthly_limit)")
				f.IntVar(&benchCirc.EchoCalls, "echo-calls", 20000, "unary gRPC echo calls of the baseline, after the flows; 0 for none")
			},
			run: func(ctx context.Context, w io.Writer) error {
				if benchCirc.Output == cli.Text && isTerminal(w) {
					benchCirc.Progress = w
				}
				_, err := cli.BenchCircle(ctx, w, benchCirc)
				return err
			},
		}, {
			use:   "merchant",
			short: "Time merchant orders from creation to their paid webhook; print flows/s and p50/p99 latency",
			long: `Time --flows merchant orders against the running network of --data,
--concurrency at once: each is created with the merchant API of --merchant,
paid by --payer as an app pays the order's intent, and done when its
"paid" webhook has reached the bench. Setup (not timed): the bench serves
HTTP on a loopback port the OS picks and makes it the merchant's webhook
endpoint, as ` + "`upisim listen`" + ` does, until it ends (then the endpoint it
replaced is back); it verifies each delivery's Standard Webhooks signature
with the merchant's secret and counts it. Prints flows/s, p50/p99 latency
(order create → paid webhook), the bytes the nodes' files grew by a flow,
the webhooks received, and a baseline: unary gRPC echo calls/s on loopback
at the same concurrency, with the ratio flows/s × 16 (the calls of a paid
order) over it.`,
			example: "  upisim bench merchant --data /tmp/bm --flows 2000 --concurrency 64",
			data:    &benchMerc.DataDir, output: &benchMerc.Output,
			flags: func(f *pflag.FlagSet) {
				f.IntVar(&benchMerc.Flows, "flows", 2000, "orders to create and have paid")
				f.IntVar(&benchMerc.Concurrency, "concurrency", 64, "orders in flight at once")
				f.StringVar(&benchMerc.Merchant, "merchant", "chai@beta", "the merchant whose orders are paid (its PSP's merchant API)")
				f.StringVar(&benchMerc.Payer, "payer", "alice@alpha", "the VPA that pays the orders")
				f.StringVar(&benchMerc.PIN, "pin", "1234", "the payer's PIN")
				f.StringVar(&benchMerc.Amount, "amount", "0.10", "amount of each order, rupees")
				f.IntVar(&benchMerc.EchoCalls, "echo-calls", 20000, "unary gRPC echo calls of the baseline, after the flows; 0 for none")
			},
			run: func(ctx context.Context, w io.Writer) error {
				if benchMerc.Output == cli.Text && isTerminal(w) {
					benchMerc.Progress = w
				}
				_, err := cli.BenchMerchant(ctx, w, benchMerc)
				return err
			},
		}},
	}, {
		use:   "audit",
		short: "Check a running network's money, balances and transaction outcomes; exit non-zero on any violation",
		long: `Check a running network against the invariants of ARCHITECTURE.md: every bank still
holds its opening total to the paisa, no customer account is below zero, every
payment the switch decided is agreed by both PSPs and closed at the banks (a
SUCCESS debited and credited, a FAILURE not debited or reversed), and none is
PENDING or DEEMED past --max-age.`,
		data: &audit.DataDir, output: &audit.Output,
		flags: func(f *pflag.FlagSet) {
			f.DurationVar(&audit.MaxAge, "max-age", cli.DefaultAuditMaxAge, "how long a transaction may stay PENDING or DEEMED (past its creation or collect expiry), and a decided one take to reach both PSPs")
		},
		run: result(cli.Audit, &audit),
	}, {
		use:   "check",
		short: "Check every node's bbolt file in --data for corruption (the network must be stopped); exit non-zero on any problem",
		data:  &check.DataDir, output: &check.Output,
		run: result(cli.Check, &check),
	}, {
		use:   "compact",
		short: "Rewrite every node's bbolt file in --data compactly, giving back unused pages (the network must be stopped); --retain prunes first",
		long: `Rewrite each node's file (NAME.db) in --data with bbolt's compaction: a copy
with every page filled, checked, synced and renamed over the file. bbolt never
shrinks a file by itself, so this is how the space that retention (--retain of
up and node) or anything else freed goes back to the disk. With --retain, first
drop the trace of the transactions that ended longer ago, as a running node with
--retain does. The network must be stopped: a running node makes it fail at once.
Prints each file's bytes before and after.`,
		example: "  upisim compact --data .upisim --retain 24h",
		data:    &compact.DataDir, output: &compact.Output,
		flags: func(f *pflag.FlagSet) {
			f.DurationVar(&compact.Retain, "retain", 0, "first prune the trace of transactions that ended longer ago than this, e.g. 24h; 0 prunes nothing")
		},
		run: result(cli.Compact, &compact),
	}, {
		use:   "pki",
		short: "The network's certificates: the CA and each node's, for mutual TLS between nodes",
		long: `upisim up and upisim node create the network's CA and every node's certificate in
DATA/pki on first start. For nodes on many hosts, create them ahead with
'pki init', then give each host ca.pem and its nodes' NODE.pem and NODE-key.pem.`,
		subs: []spec{{
			use:     "init",
			short:   "Create the CA and every node's certificate in DATA/pki, keeping what exists",
			example: "  upisim pki init --data .upisim --network net.yaml --host node1.example --host 10.0.0.7",
			data:    &pkiInit.DataDir, output: &pkiInit.Output,
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&pkiInit.NetworkFile, "network", "", "network file (YAML); the embedded default network when empty")
				f.StringSliceVar(&pkiInit.Hosts, "host", nil, "a further host name or IP address every node certificate names (repeat)")
			},
			run: result(cli.PKIInit, &pkiInit),
		}, {
			use:   "rotate NODE",
			short: "Give one node a new key and certificate from the same CA (used from the node's next start)",
			arg:   &pkiRot.Node, data: &pkiRot.DataDir, output: &pkiRot.Output,
			run: result(cli.PKIRotate, &pkiRot),
		}, {
			use:   "show",
			short: "List the certificates in DATA/pki: node, role, expiry, SHA-256 fingerprint",
			data:  &pkiShow.DataDir, output: &pkiShow.Output,
			run: result(cli.PKIShow, &pkiShow),
		}},
	}, {
		use:   "circle",
		short: "UPI Circle: link a secondary user to a primary's account (partial delegation: the primary approves each payment)",
		subs: []spec{{
			use:     "link",
			short:   "Ask for a link from a primary to a secondary; the secondary accepts with `upisim circle accept`",
			example: "  upisim circle link --primary alice@alpha --secondary carol@beta --mode partial",
			data:    &cLink.DataDir, output: &cLink.Output,
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&cLink.Primary, "primary", "", "primary VPA (whose account pays)")
				f.StringVar(&cLink.Secondary, "secondary", "", "secondary VPA (who pays from it)")
				f.StringVar(&cLink.Mode, "mode", "partial", "full or partial")
				f.StringVar(&cLink.Limit, "limit", "", "full: monthly limit in rupees (circle.full.monthly_limit when empty)")
				f.StringVar(&cLink.PIN, "pin", "", "primary's UPI PIN (full: for the mandate)")
			},
			run: result(cli.CircleLink, &cLink),
		}, {
			use:   "invites VPA",
			short: "List the link invites waiting for a secondary",
			arg:   &cInvites.VPA, data: &cInvites.DataDir, output: &cInvites.Output,
			run: result(cli.CircleInvites, &cInvites),
		}, {
			use:   "accept LINK_ID",
			short: "Accept a link invite, as the secondary",
			arg:   &cAccept.LinkID, data: &cAccept.DataDir, output: &cAccept.Output,
			run: result(cli.CircleAccept, &cAccept),
		}, {
			use:   "decline LINK_ID",
			short: "Decline a link invite (ZA), as the secondary",
			arg:   &cDecline.LinkID, data: &cDecline.DataDir, output: &cDecline.Output,
			run: result(cli.CircleDecline, &cDecline),
		}, {
			use:   "list VPA",
			short: "List a user's links, as primary or secondary",
			arg:   &cList.VPA, data: &cList.DataDir, output: &cList.Output,
			run: result(cli.CircleList, &cList),
		}, {
			use:   "show LINK_ID",
			short: "Show a link: status, mode, parties, limit, error code",
			arg:   &cShow.LinkID, data: &cShow.DataDir, output: &cShow.Output,
			run: result(cli.CircleShow, &cShow),
		}, {
			use:   "remove LINK_ID",
			short: "Remove a link (DELINKED), by the primary or, with --by, the secondary",
			arg:   &cRemove.LinkID, data: &cRemove.DataDir, output: &cRemove.Output,
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&cRemove.By, "by", "", "who removes: the secondary's VPA (the primary when empty)")
				f.StringVar(&cRemove.PIN, "pin", "", "primary's UPI PIN (full: for the mandate's revocation)")
			},
			run: result(cli.CircleRemove, &cRemove),
		}, {
			use:     "update LINK_ID",
			short:   "Change a full link's monthly limit, by the primary (the mandate is updated first)",
			example: "  upisim circle update ALP… --limit 10000.00 --pin 1234",
			arg:     &cUpdate.LinkID, data: &cUpdate.DataDir, output: &cUpdate.Output,
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&cUpdate.Limit, "limit", "", "the new monthly limit in rupees (up to circle.full.monthly_limit)")
				f.StringVar(&cUpdate.PIN, "pin", "", "primary's UPI PIN (for the mandate's update)")
			},
			run: result(cli.CircleUpdate, &cUpdate),
		}, {
			use:     "pay",
			short:   "Pay as a secondary from the primary's account under a full link (no PIN) and wait for the final status",
			example: "  upisim circle pay --from carol@beta --to chai@beta --amount 200.00",
			data:    &cPay.DataDir, output: &cPay.Output,
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&cPay.From, "from", "", "the secondary's VPA")
				f.StringVar(&cPay.To, "to", "", "payee VPA")
				f.StringVar(&cPay.Amount, "amount", "", "amount in rupees, e.g. 200.00")
				f.StringVar(&cPay.Note, "note", "", "note shown to both parties")
				f.BoolVar(&cPay.NoWait, "no-wait", false, "return at once with the PENDING transaction")
				timeoutFlag(f, &cPay.Timeout)
			},
			run: outcome(cli.CirclePay, &cPay, func() bool { return !cPay.NoWait }),
		}, {
			use:   "approvals VPA",
			short: "List the delegated payments (partial links) waiting for a primary to approve",
			arg:   &cApprs.VPA, data: &cApprs.DataDir, output: &cApprs.Output,
			run: call(cli.CircleApprovals, &cApprs),
		}, {
			use:     "approve TXN_ID",
			short:   "Approve with the primary's PIN (or --decline) a delegated payment waiting for them, and wait for the final status",
			example: "  upisim circle approve BET0123... --pin 1234\n  upisim circle approve BET0123... --decline",
			arg:     &cApprove.TxnID, data: &cApprove.DataDir, output: &cApprove.Output,
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&cApprove.PIN, "pin", "", "primary's UPI PIN")
				f.BoolVar(&cApprove.Decline, "decline", false, "decline instead (ZA)")
				f.BoolVar(&cApprove.NoWait, "no-wait", false, "do not wait for the final status")
				timeoutFlag(f, &cApprove.Timeout)
			},
			run: outcome(cli.CircleApprove, &cApprove, func() bool { return !cApprove.NoWait }),
		}},
	}, {
		use:   "mandate",
		short: "UPI Circle mandates: show one, or revoke it on its own (its full link's payments then wait for the primary's approval)",
		subs: []spec{{
			use:   "show UMN",
			short: "Show a mandate as the primary's PSP keeps it: status, amount, validity, a change under way",
			arg:   &mShow.UMN, data: &mShow.DataDir, output: &mShow.Output,
			run: result(cli.MandateShow, &mShow),
		}, {
			use:     "revoke UMN",
			short:   "Revoke a mandate (ReqMandate REVOKE) without removing its link; `mandate show` gives the outcome",
			example: "  upisim mandate revoke ALP…@alpha",
			arg:     &mRevoke.UMN, data: &mRevoke.DataDir, output: &mRevoke.Output,
			run: result(cli.MandateRevoke, &mRevoke),
		}},
	}}, append(merchantCommands(&merchant, &oCreate, &oShow, &oCollect, &oAction, &rCreate, &listen), liteCommand())...)
}

// merchantCommands are the merchant API's commands (docs/FLOWS.md,
// Merchant payments): a merchant's settings, orders, HOLD actions and
// refunds.
func merchantCommands(merchant *cli.MerchantOptions, oCreate, oShow, oCollect, oAction *cli.OrderOptions, rCreate *cli.RefundOptions, listen *cli.ListenOptions) []spec {
	return []spec{{
		use:   "merchant",
		short: "Merchants of the network: their API settings",
		subs: []spec{{
			use:   "show VPA",
			short: "Show a merchant's API key, webhook endpoint and secret, auto-refund, auto-retry and order expiry",
			arg:   &merchant.VPA, data: &merchant.DataDir, output: &merchant.Output,
			run: result(cli.MerchantShow, merchant),
		}},
	}, {
		use:   "order",
		short: "A merchant's orders: create one, show it with its attempts and refunds, collect it, act on a HOLD",
		subs: []spec{{
			use:     "create",
			short:   "Create an order; prints its order_id and upi://pay intent",
			example: "  upisim order create --merchant chai@beta --amount 150.00 --expire 15m",
			data:    &oCreate.DataDir, output: &oCreate.Output,
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&oCreate.Merchant, "merchant", "", "the merchant's VPA")
				f.StringVar(&oCreate.Amount, "amount", "", "amount in rupees, e.g. 150.00")
				f.DurationVar(&oCreate.Expire, "expire", 0, "how long the order takes payments (default: the merchant's)")
				f.StringVar(&oCreate.Receipt, "receipt", "", "the merchant's own reference")
				f.StringVar(&oCreate.Description, "description", "", "what the order is for (the intent's tn)")
				f.StringVar(&oCreate.AutoRefund, "auto-refund", "", "true or false (default: the merchant's)")
				f.StringVar(&oCreate.AutoRetry, "auto-retry", "", "true or false (default: the merchant's)")
			},
			run: result(cli.OrderCreate, oCreate),
		}, {
			use:   "show ORDER_ID",
			short: "Show an order: its transaction status, every attempt with its status and action, its refunds",
			arg:   &oShow.ID, data: &oShow.DataDir, output: &oShow.Output,
			run: result(cli.OrderShow, oShow),
		}, {
			use:   "collect ORDER_ID",
			short: "Send a collect request for the order to a payer (a new attempt)",
			arg:   &oCollect.ID, data: &oCollect.DataDir, output: &oCollect.Output,
			flags: func(f *pflag.FlagSet) { f.StringVar(&oCollect.Payer, "payer", "", "the payer's VPA") },
			run:   result(cli.OrderCollect, oCollect),
		}, {
			use:   "action ATTEMPT_ID",
			short: "Capture or release an attempt on HOLD",
			arg:   &oAction.ID, data: &oAction.DataDir, output: &oAction.Output,
			flags: func(f *pflag.FlagSet) {
				f.BoolVar(&oAction.Capture, "capture", false, "keep the money")
				f.BoolVar(&oAction.Release, "release", false, "give it back to the payer (a refund)")
			},
			run: result(cli.OrderAction, oAction),
		}},
	}, {
		use:   "refund",
		short: "Refunds of a merchant's orders",
		subs: []spec{{
			use:     "create ORDER_ID",
			short:   "Refund a SUCCESS attempt of an order, in part or in full (a ReqPay REFUND through the switch)",
			example: "  upisim refund create ORD… --amount 50.00 [--attempt ATT…]\n  upisim refund create ATT… --amount 50.00   # that attempt of its order",
			arg:     &rCreate.OrderID, data: &rCreate.DataDir, output: &rCreate.Output,
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&rCreate.Amount, "amount", "", "amount in rupees")
				f.StringVar(&rCreate.Attempt, "attempt", "", "the attempt to refund (needed when the order has several SUCCESS attempts)")
				f.StringVar(&rCreate.Note, "note", "", "a note")
			},
			run: result(cli.RefundCreate, rCreate),
		}},
	}, {
		use:   "listen",
		short: "Receive a merchant's webhooks on a local port, verify and print them (like `stripe listen`)",
		long: `Serve HTTP on a loopback port and point the merchant's webhook endpoint at it
(MerchantService.SetWebhookEndpoint at the merchant's PSP, with its API key,
which MerchantAdminService.GetMerchant gives with the admin token). Each
webhook is verified with the merchant's Standard Webhooks secret and printed:
answered 200 (with --forward-to: posted on with the same headers and body, and
answered with that answer's status) or, when it does not verify, 400 with why.
A webhook-id answered 2xx before is printed as a repeat and not forwarded again.
On Ctrl-C (or SIGTERM) the endpoint it replaced is put back.`,
		example: "  upisim listen --merchant chai@beta\n  upisim listen --merchant chai@beta --forward-to http://127.0.0.1:3000/upi/webhook -o json",
		data:    &listen.DataDir, output: &listen.Output,
		flags: func(f *pflag.FlagSet) {
			f.StringVar(&listen.Merchant, "merchant", "", "the merchant's VPA, e.g. chai@beta")
			f.StringVar(&listen.ForwardTo, "forward-to", "", "post each verified webhook on to this URL (your app)")
			f.StringVar(&listen.Listen, "listen", "127.0.0.1:0", "loopback address to serve on; port 0 lets the OS choose")
		},
		run: call(cli.Listen, listen),
	}}
}

// liteWaitFlags are --no-wait and --timeout of the Lite commands that
// wait for an answer.
func liteWaitFlags(f *pflag.FlagSet, lw *cli.LiteWait) {
	f.BoolVar(&lw.NoWait, "no-wait", false, "return at once with the PENDING answer")
	timeoutFlag(f, &lw.Timeout)
}

// liteOutcome adapts a Lite command that moves money to a spec's run:
// when waited, a status other than SUCCESS is its exit code
// (cli.LiteOutcome: an offline payment's PENDING is exit 0); a FAILURE
// (a refusal on the device comes at once) is exit 2 even with --no-wait.
func liteOutcome[O any](f func(context.Context, io.Writer, O) (cli.LiteTxnResult, error), o *O, lw *cli.LiteWait) func(context.Context, io.Writer) error {
	return func(ctx context.Context, w io.Writer) error {
		r, err := f(ctx, w, *o)
		if err != nil || (lw.NoWait && r.Status != "FAILURE") {
			return err
		}
		return cli.LiteOutcome(r)
	}
}

// liteSyncOutcome adapts lite online and sync: exit 3 when the batch's
// answer did not come within the wait.
func liteSyncOutcome(f func(context.Context, io.Writer, cli.LiteDeviceOptions) (cli.LiteSyncOut, error), o *cli.LiteDeviceOptions) func(context.Context, io.Writer) error {
	return func(ctx context.Context, w io.Writer) error {
		r, err := f(ctx, w, *o)
		if err != nil || o.NoWait {
			return err
		}
		return cli.LiteSyncOutcome(r)
	}
}

// liteCommand is `upisim lite ...` (docs/FLOWS.md, UPI Lite and Lite X).
func liteCommand() spec {
	var (
		enable   cli.LiteEnableOptions
		topup    cli.LiteTopUpOptions
		pay      cli.LitePayOptions
		offline  cli.LiteDeviceOptions
		online   cli.LiteDeviceOptions
		sync     cli.LiteDeviceOptions
		balance  cli.LiteDeviceOptions
		devices  cli.LiteDevicesOptions
		add      cli.LiteDeviceAddOptions
		out      cli.LiteTransferOutOptions
		disable  cli.LiteDeviceOptions
		reconcle cli.LiteReconcileOptions
		auto     cli.LiteAutoTopUpOptions
	)
	device := func(f *pflag.FlagSet, d *string) { f.StringVar(d, "device", "", "the device id, e.g. alice-phone") }
	return spec{
		use:   "lite",
		short: "UPI Lite and Lite X: a small wallet on a device, paid from without a PIN, online or offline, synced through the switch",
		subs: []spec{{
			use:     "enable",
			short:   "Register a Lite wallet (an LRN) for a user's account on a device, with its initial top-up (purpose 41)",
			example: "  upisim lite enable --vpa alice@alpha --device alice-phone --amount 500.00 --pin 1234",
			data:    &enable.DataDir, output: &enable.Output,
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&enable.VPA, "vpa", "", "the user's VPA, whose account funds the wallet")
				device(f, &enable.DeviceID)
				f.StringVar(&enable.Amount, "amount", "", "the initial top-up in rupees, e.g. 500.00")
				f.StringVar(&enable.PIN, "pin", "", "the user's UPI PIN")
				f.StringVar(&enable.AutoThreshold, "auto-threshold", "", "with --auto-amount: set up an auto top-up (a Lite mandate); the initial top-up is then purpose 71")
				f.StringVar(&enable.AutoAmount, "auto-amount", "", "the auto top-up's amount in rupees")
				liteWaitFlags(f, &enable.LiteWait)
			},
			run: liteOutcome(cli.LiteEnable, &enable, &enable.LiteWait),
		}, {
			use:   "autotopup",
			short: "Set up a device's auto top-up (a Lite mandate, purpose 71, with the PIN), or revoke it with --off",
			long: `Set up a device's auto top-up with the PIN: a Lite mandate at the bank, set
up by a top-up of purpose 71 (of --amount, or what fits under the balance
limit). Whenever a payment (or a sync) leaves the wallet below --threshold,
the device tops it up by --amount without a PIN (never over the balance
limit), at most auto_topup_per_day (5) times an IST day; the bank declines
more (LA). --off revokes the mandate. ` + "`upisim lite balance`" + ` shows it.`,
			example: "  upisim lite autotopup --device alice-phone --threshold 100.00 --amount 500.00 --pin 1234\n" +
				"  upisim lite autotopup --device alice-phone --off",
			data: &auto.DataDir, output: &auto.Output,
			flags: func(f *pflag.FlagSet) {
				device(f, &auto.DeviceID)
				f.StringVar(&auto.Threshold, "threshold", "", "top up when the wallet falls below this, in rupees")
				f.StringVar(&auto.Amount, "amount", "", "the top-up's amount in rupees")
				f.StringVar(&auto.PIN, "pin", "", "the user's UPI PIN")
				f.BoolVar(&auto.Off, "off", false, "revoke the device's auto top-up")
				liteWaitFlags(f, &auto.LiteWait)
			},
			run: liteOutcome(cli.LiteAutoTopUp, &auto, &auto.LiteWait),
		}, {
			use:     "topup",
			short:   "Add to a device's wallet from the account (purpose 42)",
			example: "  upisim lite topup --device alice-phone --amount 1000.00 --pin 1234",
			data:    &topup.DataDir, output: &topup.Output,
			flags: func(f *pflag.FlagSet) {
				device(f, &topup.DeviceID)
				f.StringVar(&topup.Amount, "amount", "", "amount in rupees")
				f.StringVar(&topup.PIN, "pin", "", "the user's UPI PIN")
				liteWaitFlags(f, &topup.LiteWait)
			},
			run: liteOutcome(cli.LiteTopUp, &topup, &topup.LiteWait),
		}, {
			use:   "pay",
			short: "Pay from a device's wallet without a PIN: online (44), or with --to-device offline (45, Lite X)",
			long: `Pay from a device's wallet without a PIN. Online (purpose 44) the switch
debits the LRN and answers with the RRN: exit 0 SUCCESS, 2 FAILURE, 3 still
PENDING or DEEMED when the wait ends. With --to-device the payment is
offline (Lite X, purpose 45): no message leaves the devices, the answer is
PENDING with a provisional UTR, and that is its normal outcome: exit 0 (a
refusal on the device is FAILURE, exit 2). The official UTR comes when a
device syncs (` + "`upisim lite online`" + `, ` + "`upisim lite sync`" + `).`,
			example: "  upisim lite pay --device alice-phone --to chai@beta --amount 150.00\n" +
				"  upisim lite pay --device alice-phone --to chai@beta --to-device chai-pos --amount 150.00\n" +
				"  upisim lite pay --device alice-phone --intent 'upi://pay?pa=chai@beta&am=150.00&tr=ORDER_ID' --to-device chai-pos",
			data: &pay.DataDir, output: &pay.Output,
			flags: func(f *pflag.FlagSet) {
				device(f, &pay.DeviceID)
				f.StringVar(&pay.To, "to", "", "payee VPA (or --intent)")
				f.StringVar(&pay.Amount, "amount", "", "amount in rupees (with --intent: pay this instead of its am)")
				f.StringVar(&pay.Intent, "intent", "", "a merchant's upi://pay link: pa the payee, am the amount, tr the order the payment names")
				f.StringVar(&pay.ToDevice, "to-device", "", "pay offline (Lite X) to this device of the payee, e.g. chai-pos")
				f.StringVar(&pay.Note, "note", "", "note")
				liteWaitFlags(f, &pay.LiteWait)
			},
			run: liteOutcome(cli.LitePay, &pay, &pay.LiteWait),
		}, {
			use:   "offline",
			short: "Take a device offline: it pays and takes payments only offline (Lite X)",
			data:  &offline.DataDir, output: &offline.Output,
			flags: func(f *pflag.FlagSet) { device(f, &offline.DeviceID) },
			run:   result(cli.LiteOffline, &offline),
		}, {
			use:   "online",
			short: "Bring a device online: it syncs its offline records (one ReqLiteSync) and prints each record's official UTR",
			long: `Bring a device online: it syncs its unsynced offline records as one
ReqLiteSync batch through its PSP and the switch, and prints each record's
outcome (the official UTR, or FAILURE and its code). Exit 0 once the batch
is answered (whatever each record's outcome), 3 if the answer did not come
within --timeout.`,
			data: &online.DataDir, output: &online.Output,
			flags: func(f *pflag.FlagSet) {
				device(f, &online.DeviceID)
				liteWaitFlags(f, &online.LiteWait)
			},
			run: liteSyncOutcome(cli.LiteOnline, &online),
		}, {
			use:   "sync",
			short: "Sync an online device's offline records now (with none, ask only for the balance)",
			data:  &sync.DataDir, output: &sync.Output,
			flags: func(f *pflag.FlagSet) {
				device(f, &sync.DeviceID)
				liteWaitFlags(f, &sync.LiteWait)
			},
			run: liteSyncOutcome(cli.LiteSync, &sync),
		}, {
			use:   "balance",
			short: "A device's wallet beside its LRN's balance at the bank (the truth) and at the switch, with its unsynced records",
			data:  &balance.DataDir, output: &balance.Output,
			flags: func(f *pflag.FlagSet) { device(f, &balance.DeviceID) },
			run:   result(cli.LiteBalance, &balance),
		}, {
			use:   "devices",
			short: "List the Lite devices (of --vpa, or all)",
			data:  &devices.DataDir, output: &devices.Output,
			flags: func(f *pflag.FlagSet) { f.StringVar(&devices.VPA, "vpa", "", "only this user's devices") },
			run:   result(cli.LiteDevices, &devices),
		}, {
			use:   "device",
			short: "Lite devices of a user",
			subs: []spec{{
				use:     "add",
				short:   "Register a receive-only device (a merchant's POS) that takes offline payments",
				example: "  upisim lite device add --vpa chai@beta --device chai-pos",
				data:    &add.DataDir, output: &add.Output,
				flags: func(f *pflag.FlagSet) {
					f.StringVar(&add.VPA, "vpa", "", "the device's owner")
					device(f, &add.DeviceID)
				},
				run: result(cli.LiteDeviceAdd, &add),
			}},
		}, {
			use:     "transfer-out",
			short:   "Return part of a device's wallet to the account (purpose 46); Lite stays enabled",
			example: "  upisim lite transfer-out --device alice-phone --amount 100.00",
			data:    &out.DataDir, output: &out.Output,
			flags: func(f *pflag.FlagSet) {
				device(f, &out.DeviceID)
				f.StringVar(&out.Amount, "amount", "", "amount in rupees")
				liteWaitFlags(f, &out.LiteWait)
			},
			run: liteOutcome(cli.LiteTransferOut, &out, &out.LiteWait),
		}, {
			use:   "disable",
			short: "Disable a device's wallet: the rest goes back to the account (43), or at zero a zero-balance disable (50)",
			data:  &disable.DataDir, output: &disable.Output,
			flags: func(f *pflag.FlagSet) {
				device(f, &disable.DeviceID)
				liteWaitFlags(f, &disable.LiteWait)
			},
			run: liteOutcome(cli.LiteDisable, &disable, &disable.LiteWait),
		}, {
			use:   "reconcile",
			short: "Compare each LRN's device wallet, bank balance and switch balance, and name every mismatch with its cause",
			long: `Compare, per LRN of --bank (every bank when omitted), the device's wallet
(the TPAP), the remitter's balance (the truth) and the switch's, and the
bank's Lite pool with its LRNs. Mismatches: UNCONFIRMED and UNSYNCED are
money on its way (a confirmation not yet answered, records not yet synced)
and leave ok true; DEVICE_STALE, SWITCH_MISMATCH, POOL_MISMATCH and
DOUBLE_SPEND make ok false and the exit code 1.

--daily prints instead the switch's own last reconciliation of each bank
(lite.recon_every, a day by default): per LRN the switch's, the bank's and
the device's last reported balance, and each mismatch with its cause;
--run has the switch reconcile now and waits (--wait) for each remitter.
A mismatch but UNSYNCED and UNCONFIRMED, or (--run) a report not answered,
is exit code 1.`,
			example: "  upisim lite reconcile --bank abank\n  upisim lite reconcile --daily\n  upisim lite reconcile --run --bank abank",
			data:    &reconcle.DataDir, output: &reconcle.Output,
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&reconcle.Bank, "bank", "", "the remitter bank (all banks when empty)")
				f.BoolVar(&reconcle.Daily, "daily", false, "print the switch's last daily reconciliation of each bank")
				f.BoolVar(&reconcle.Run, "run", false, "have the switch reconcile now, and wait for each remitter")
				f.DurationVar(&reconcle.Wait, "wait", 0, "with --run: how long to wait for each remitter (default 30s)")
			},
			run: result(cli.LiteReconcile, &reconcle),
		}},
	}
}
