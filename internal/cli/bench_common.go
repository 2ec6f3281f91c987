package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/upi"
)

// What the flow benches of `upisim bench` share (circle, merchant): the
// timed loop of flows, its figures and the echo baseline, as Bench has
// them for the plain pay flow, so their ratios compare with its.

// flowBench is how a flow bench runs its timed flows.
type flowBench struct {
	DataDir     string
	Flows       int
	Concurrency int
	// EchoCalls is how many unary gRPC echo calls the baseline makes
	// after the flows (0: no baseline).
	EchoCalls int
	// PerFlow is the gRPC calls of one flow: the ratio is flows/s ×
	// PerFlow over echo calls/s.
	PerFlow int
	// Progress and ticks are BenchOptions' (startProgress).
	Progress io.Writer
	ticks    <-chan time.Time
}

// checkFlowFlags refuses flags no flow bench can run with.
func checkFlowFlags(flows, concurrency, echoCalls int) error {
	if flows <= 0 || concurrency <= 0 {
		return errors.New("--flows and --concurrency must be positive")
	}
	if echoCalls < 0 {
		return errors.New("--echo-calls must not be negative (0 for no baseline)")
	}
	return nil
}

// checkParties validates a flow bench's parties, named by its flags in
// f, and parses its --amount.
func checkParties(f upi.Fields, from, to, amount string) (int64, error) {
	if _, _, err := upi.CheckParties(f, from, to); err != nil {
		return 0, err
	}
	p, err := upi.ParseRupees(amount)
	if err != nil {
		return 0, fmt.Errorf("--amount: %w", err)
	}
	return p, nil
}

// flowFunc runs timed flow i to its end and says how long it took and how
// it ended: failed is "" for a success, else the key the flow counts under
// in BenchResult.Failed; err is a flow that could not be run or followed
// (it counts as "error").
type flowFunc func(ctx context.Context, i int) (took time.Duration, failed string, err error)

// flowRun is what runFlows measured, and the first error a flow met.
type flowRun struct {
	BenchResult
	firstErr error
}

// runFlows runs f for flows 0..o.Flows-1, o.Concurrency at once, with
// bench's progress line, and measures them as Bench does: flows/s of the
// successes, their p50/p99, how much the nodes' files grew a success, and
// then the echo baseline and the ratio. The error is for a run with no
// success at all, or a baseline that failed.
func runFlows(ctx context.Context, o flowBench, f flowFunc) (flowRun, error) {
	var (
		next      atomic.Int64
		done, ok  atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, o.Flows)
		run       = flowRun{BenchResult: BenchResult{Flows: o.Flows, Concurrency: o.Concurrency, Failed: map[string]int{}}}
		wg        sync.WaitGroup
	)
	res := &run.BenchResult
	disk0 := storeBytes(o.DataDir)
	start := time.Now()
	stopProgress := startProgress(BenchOptions{Flows: o.Flows, Progress: o.Progress, ticks: o.ticks}, start, &done, &ok)
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(o.Flows) || ctx.Err() != nil {
					return
				}
				d, failed, err := f(ctx, int(i))
				done.Add(1)
				if err == nil && failed == "" {
					ok.Add(1)
				}
				mu.Lock()
				switch {
				case err != nil:
					if run.firstErr == nil {
						run.firstErr = err
					}
					res.Failed["error"]++
				case failed == "":
					res.Success++
					latencies = append(latencies, d)
				default:
					res.Failed[failed]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	stopProgress()
	el := time.Since(start)
	res.Seconds = el.Seconds()
	res.FlowsPerSec = float64(res.Success) / el.Seconds()
	slices.Sort(latencies)
	res.P50Ms, res.P99Ms = pct(latencies, 0.50), pct(latencies, 0.99)
	if res.Success == 0 {
		if run.firstErr != nil {
			return run, fmt.Errorf("every flow failed; first error: %w", rpcError(run.firstErr))
		}
		if err := ctx.Err(); err != nil {
			return run, err
		}
		return run, fmt.Errorf("no flow succeeded: %v", res.Failed)
	}
	res.DiskBytesPerFlow = float64(storeBytes(o.DataDir)-disk0) / float64(res.Success)
	if o.EchoCalls > 0 {
		var err error
		if res.EchoPerS, err = echoRate(ctx, o.EchoCalls, o.Concurrency); err != nil {
			return run, fmt.Errorf("echo baseline: %w", err)
		}
		res.Ratio = res.FlowsPerSec * float64(o.PerFlow) / res.EchoPerS
	}
	return run, nil
}

// printFlows is the text of a flow bench's figures, as Bench prints its
// own: what names the flows ("delegated flows", "orders paid"), perFlow
// is the ratio's factor.
func printFlows(w io.Writer, run flowRun, what string, perFlow int) {
	r := run.BenchResult
	fmt.Fprintf(w, "%d %s at concurrency %d in %.2fs: %.0f flows/s, p50 %.1f ms, p99 %.1f ms, %d succeeded",
		r.Flows, what, r.Concurrency, r.Seconds, r.FlowsPerSec, r.P50Ms, r.P99Ms, r.Success)
	for _, k := range sortedKeys(r.Failed) {
		fmt.Fprintf(w, ", %d %s", r.Failed[k], k)
	}
	fmt.Fprintln(w)
	if run.firstErr != nil {
		fmt.Fprintf(w, "first error: %v\n", rpcError(run.firstErr))
	}
	fmt.Fprintf(w, "on disk: %.0f bytes a flow (the nodes' files grew %.1f MB)\n",
		r.DiskBytesPerFlow, r.DiskBytesPerFlow*float64(r.Success)/1e6)
	if r.EchoPerS > 0 {
		fmt.Fprintf(w, "baseline: %.0f unary gRPC echo calls/s on loopback at concurrency %d; flows/s × %d is %.2f of it\n",
			r.EchoPerS, r.Concurrency, perFlow, r.Ratio)
	}
}

// flowWait bounds one timed flow: its payment's final status (or, for an
// order, its webhook), as oneFlow waits 6 × 10 s.
const flowWait = 60 * time.Second

// finalStatus long-polls the TPAP until transaction txnID is no longer
// PENDING, for at most flowWait: its status and error code.
func finalStatus(ctx context.Context, tp upiv1.TpapAppServiceClient, txnID string) (upiv1.Resp_Result, string, error) {
	for range int(flowWait / (10 * time.Second)) {
		g, err := tp.GetPayment(ctx, &upiv1.GetPaymentRequest{TxnId: txnID, WaitMs: 10000})
		if err != nil {
			return 0, "", err
		}
		if g.GetStatus() != upiv1.Resp_PENDING {
			return g.GetStatus(), g.GetErrCode(), nil
		}
	}
	return upiv1.Resp_PENDING, "", fmt.Errorf("transaction %s still PENDING after %s", txnID, flowWait)
}

// pollUntil calls f every interval until it answers true or an error, or
// timeout passes (an error that says what was waited for).
func pollUntil(ctx context.Context, timeout, every time.Duration, what string, f func() (bool, error)) error {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		done, err := f()
		if err != nil || done {
			return err
		}
		select {
		case <-tctx.Done():
			if err := ctx.Err(); err != nil {
				return err
			}
			return fmt.Errorf("%s: not within %s", what, timeout)
		case <-t.C:
		}
	}
}
