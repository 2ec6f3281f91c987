package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/node"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one kills the process as usual,
	// should shutting down ever take too long.
	context.AfterFunc(ctx, stop)
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "upisim:", err)
		os.Exit(1)
	}
}

// common flags
type globals struct {
	data   string
	output string
}

func (g *globals) out() (cli.Output, error) { return cli.ParseOutput(g.output) }

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "upisim",
		Short:         "A local, multi-node model of India's UPI message network",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.data, "data", ".upisim", "data folder of the network (bbolt files and network.json)")
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	root.AddCommand(upCmd(g), nodeCmd(g), payCmd(g), collectCmd(g), approveCmd(g), collectsCmd(g),
		txnCmd(g), traceCmd(g), balanceCmd(g), benchCmd(g), auditCmd(g), checkCmd(g))
	return root
}

func logger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func upCmd(g *globals) *cobra.Command {
	var o cli.UpOptions
	var level string
	c := &cobra.Command{
		Use:   "up",
		Short: "Run the whole network in this process (each node on its own ports and bbolt file)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logger(level)
			if err != nil {
				return err
			}
			o.DataDir, o.Logger = g.data, log
			return cli.Up(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	c.Flags().StringVar(&o.NetworkFile, "network", "", "network file (YAML); the embedded default network when empty")
	c.Flags().IntVar(&o.PortBase, "port-base", 7000, "TPAP REST on this port, other ports after it; 0 lets the OS choose")
	c.Flags().BoolVar(&o.NoSync, "no-sync", false, "skip fsync (benchmark comparison only: loses data on a crash)")
	c.Flags().StringVar(&level, "log-level", "warn", "log level: debug, info, warn, error")
	c.Flags().StringVar(&o.PprofAddr, "pprof", "", "serve the Go profiler on this loopback address, e.g. 127.0.0.1:6060")
	c.Flags().DurationVar(&o.ResponseTimeout, "response-timeout", 0, "replace every switch and PSP response timeout (auth details, debit, credit, check status, reversal, ValAdd), e.g. 2s")
	c.Flags().IntVar(&o.MaxInFlight, "max-in-flight", node.DefaultMaxInFlight, maxInFlightHelp)
	return c
}

const maxInFlightHelp = "requests (network messages, app calls) each node works on at once; more are answered RESOURCE_EXHAUSTED (HTTP 429) at once, for the sender to retry; negative for no bound"

func nodeCmd(g *globals) *cobra.Command {
	var o cli.NodeOptions
	var level string
	c := &cobra.Command{
		Use:   "node",
		Short: "Run one node of a network file as this process",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logger(level)
			if err != nil {
				return err
			}
			o.DataDir, o.Logger = g.data, log
			return cli.Node(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	c.Flags().StringVar(&o.NetworkFile, "network", "", "network file (YAML); the embedded default network when empty")
	c.Flags().StringVar(&o.Name, "name", "", "the node to run")
	c.Flags().IntVar(&o.PortBase, "port-base", 7000, "ports for nodes the file gives no address (same for every process)")
	c.Flags().BoolVar(&o.NoSync, "no-sync", false, "skip fsync (benchmark comparison only)")
	c.Flags().DurationVar(&o.ResponseTimeout, "response-timeout", 0, "replace every switch and PSP response timeout, e.g. 2s (give every process the same)")
	c.Flags().StringVar(&level, "log-level", "warn", "log level: debug, info, warn, error")
	c.Flags().IntVar(&o.MaxInFlight, "max-in-flight", node.DefaultMaxInFlight, maxInFlightHelp)
	return c
}

func payCmd(g *globals) *cobra.Command {
	var o cli.PayOptions
	c := &cobra.Command{
		Use:     "pay",
		Short:   "Pay from one VPA to another and wait for the final status",
		Example: "  upisim pay --from alice@alpha --to bob@beta --amount 150.00 --pin 1234",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if o.Output, err = g.out(); err != nil {
				return err
			}
			o.DataDir = g.data
			_, err = cli.Pay(cmd.Context(), cmd.OutOrStdout(), o)
			return err
		},
	}
	c.Flags().StringVar(&o.From, "from", "", "payer VPA")
	c.Flags().StringVar(&o.To, "to", "", "payee VPA")
	c.Flags().StringVar(&o.Amount, "amount", "", "amount in rupees, e.g. 150.00")
	c.Flags().StringVar(&o.Note, "note", "", "note shown to both parties")
	c.Flags().StringVar(&o.PIN, "pin", "", "payer's UPI PIN")
	c.Flags().BoolVar(&o.NoWait, "no-wait", false, "return at once with the PENDING transaction")
	c.Flags().DurationVar(&o.Timeout, "timeout", time.Minute, "how long to wait for the final status")
	return c
}

func collectCmd(g *globals) *cobra.Command {
	var o cli.CollectOptions
	c := &cobra.Command{
		Use:     "collect",
		Short:   "Ask a payer for money (a collect request); the payer approves with `upisim approve`",
		Example: "  upisim collect --from alice@alpha --to bob@beta --amount 50.00",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if o.Output, err = g.out(); err != nil {
				return err
			}
			o.DataDir = g.data
			_, err = cli.Collect(cmd.Context(), cmd.OutOrStdout(), o)
			return err
		},
	}
	c.Flags().StringVar(&o.From, "from", "", "payer VPA (who is asked)")
	c.Flags().StringVar(&o.To, "to", "", "payee VPA (who asks)")
	c.Flags().StringVar(&o.Amount, "amount", "", "amount in rupees")
	c.Flags().StringVar(&o.Note, "note", "", "note")
	c.Flags().IntVar(&o.ExpireMinutes, "expire", 30, "minutes before the request expires (U69)")
	return c
}

func approveCmd(g *globals) *cobra.Command {
	var o cli.ApproveOptions
	c := &cobra.Command{
		Use:     "approve TXN_ID",
		Short:   "Approve (or --decline) a collect request waiting for the payer",
		Example: "  upisim approve ALP0123... --pin 1234\n  upisim approve ALP0123... --decline",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			if o.Output, err = g.out(); err != nil {
				return err
			}
			o.DataDir, o.TxnID = g.data, args[0]
			_, err = cli.Approve(cmd.Context(), cmd.OutOrStdout(), o)
			return err
		},
	}
	c.Flags().StringVar(&o.PIN, "pin", "", "payer's UPI PIN")
	c.Flags().BoolVar(&o.Decline, "decline", false, "decline instead (ZA)")
	c.Flags().BoolVar(&o.NoWait, "no-wait", false, "do not wait for the final status")
	c.Flags().DurationVar(&o.Timeout, "timeout", time.Minute, "how long to wait for the final status")
	return c
}

func collectsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "collects VPA",
		Short: "List the collect requests waiting for a payer",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := g.out()
			if err != nil {
				return err
			}
			return cli.Collects(cmd.Context(), cmd.OutOrStdout(), cli.CollectsOptions{DataDir: g.data, VPA: args[0], Output: out})
		},
	}
}

func txnCmd(g *globals) *cobra.Command {
	var wait time.Duration
	c := &cobra.Command{
		Use:   "txn TXN_ID",
		Short: "Show a transaction's status, RRN and error code",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := g.out()
			if err != nil {
				return err
			}
			_, err = cli.Txn(cmd.Context(), cmd.OutOrStdout(), cli.TxnOptions{DataDir: g.data, TxnID: args[0], Wait: wait, Output: out})
			return err
		},
	}
	c.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for a final status")
	return c
}

func traceCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "trace TXN_ID",
		Short: "Draw every message of a transaction across all nodes, in order",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := g.out()
			if err != nil {
				return err
			}
			_, err = cli.Trace(cmd.Context(), cmd.OutOrStdout(), cli.TraceOptions{DataDir: g.data, TxnID: args[0], Output: out})
			return err
		},
	}
}

func balanceCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "balance VPA",
		Short: "Show the balance of the account behind a VPA",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := g.out()
			if err != nil {
				return err
			}
			_, err = cli.Balance(cmd.Context(), cmd.OutOrStdout(), cli.BalanceOptions{DataDir: g.data, VPA: args[0], Output: out})
			return err
		},
	}
}

func auditCmd(g *globals) *cobra.Command {
	var o cli.AuditOptions
	c := &cobra.Command{
		Use:   "audit",
		Short: "Check a running network's money, balances and transaction outcomes; exit non-zero on any violation",
		Long: `Check a running network against the invariants of ARCHITECTURE.md: every bank still
holds its opening total to the paisa, no customer account is below zero, every
payment the switch decided is agreed by both PSPs and closed at the banks (a
SUCCESS debited and credited, a FAILURE not debited or reversed), and none is
PENDING or DEEMED past --max-age.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if o.Output, err = g.out(); err != nil {
				return err
			}
			o.DataDir = g.data
			_, err = cli.Audit(cmd.Context(), cmd.OutOrStdout(), o)
			return err
		},
	}
	c.Flags().DurationVar(&o.MaxAge, "max-age", cli.DefaultAuditMaxAge, "how long a transaction may stay PENDING or DEEMED (past its creation or collect expiry), and a decided one take to reach both PSPs")
	return c
}

func checkCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Check every node's bbolt file in --data for corruption (the network must be stopped); exit non-zero on any problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := g.out()
			if err != nil {
				return err
			}
			_, err = cli.Check(cmd.Context(), cmd.OutOrStdout(), cli.CheckOptions{DataDir: g.data, Output: out})
			return err
		},
	}
}

func benchCmd(g *globals) *cobra.Command {
	var o cli.BenchOptions
	c := &cobra.Command{
		Use:   "bench",
		Short: "Drive pay flows against a running network; print flows/s and p50/p99 latency",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if o.Output, err = g.out(); err != nil {
				return err
			}
			o.DataDir = g.data
			_, err = cli.Bench(cmd.Context(), cmd.OutOrStdout(), o)
			return err
		},
	}
	c.Flags().IntVar(&o.Flows, "flows", 10000, "pay flows to complete")
	c.Flags().IntVar(&o.Concurrency, "concurrency", 64, "flows in flight at once")
	c.Flags().StringVar(&o.A, "a", "alice@alpha", "one of the two VPAs that pay each other in turn")
	c.Flags().StringVar(&o.B, "b", "bob@beta", "the other VPA")
	c.Flags().StringVar(&o.PIN, "pin", "1234", "the PIN of both VPAs")
	c.Flags().StringVar(&o.Amount, "amount", "1.00", "amount of each payment, rupees")
	return c
}
