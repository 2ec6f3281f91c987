package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cluster"
)

// BenchOptions are the options of `upisim bench`.
type BenchOptions struct {
	DataDir     string
	Flows       int
	Concurrency int
	// A and B pay each other in turn, so balances stay where they were.
	A, B   string
	PIN    string
	Amount string
	Output Output
	// CompareTLS: instead of driving a running network, start the default
	// network in a temporary folder twice, with mutual TLS and then
	// insecure, and compare (BenchTLS).
	CompareTLS bool
	// NoSync turns fsync off in the networks CompareTLS starts.
	NoSync bool
	// EchoCalls is how many unary gRPC echo calls the baseline makes
	// after the flows (0: no baseline).
	EchoCalls int
	// Progress, if set, is a terminal: every second Bench rewrites one
	// line there ("\r") with the flows done so far, and clears it before
	// the summary.
	Progress io.Writer
	// ticks, if set, replaces the one-second ticker of Progress (tests).
	ticks <-chan time.Time
}

// BenchResult is what `upisim bench` prints.
type BenchResult struct {
	Flows       int            `json:"flows"`
	Concurrency int            `json:"concurrency"`
	Seconds     float64        `json:"seconds"`
	FlowsPerSec float64        `json:"flows_per_s"`
	P50Ms       float64        `json:"p50_ms"`
	P99Ms       float64        `json:"p99_ms"`
	Success     int            `json:"success"`
	Failed      map[string]int `json:"failed"`
	// DiskBytesPerFlow is how much the nodes' bbolt files in the data
	// folder grew, over the flows that succeeded (bbolt grows its file in
	// steps, so it is coarse for few flows).
	DiskBytesPerFlow float64 `json:"disk_bytes_per_flow"`
	// The baseline: unary gRPC echo calls per second on loopback at the
	// same concurrency, in the same run, and flows/s × MessagesPerFlow
	// over it.
	EchoPerS float64 `json:"echo_calls_per_s,omitempty"`
	Ratio    float64 `json:"ratio,omitempty"`
}

// MessagesPerFlow is the gRPC calls one pay flow makes between the nodes
// and the app (requests, answers and confirmations), the factor of bench's
// ratio to a bare echo call.
const MessagesPerFlow = 14

// storeBytes is the size of the bbolt files (*.db) in dir.
func storeBytes(dir string) int64 {
	files, _ := filepath.Glob(filepath.Join(dir, "*.db"))
	var n int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// Bench drives Flows complete pay flows (each: CreatePayment, then a long
// poll until the final status) with Concurrency at once, against a running
// network, and reports throughput and end-to-end latency.
func Bench(ctx context.Context, w io.Writer, o BenchOptions) (BenchResult, error) {
	if o.Flows <= 0 || o.Concurrency <= 0 {
		return BenchResult{}, errors.New("--flows and --concurrency must be positive")
	}
	amount, err := checkTransfer(o.A, o.B, o.Amount)
	if err != nil {
		return BenchResult{}, err
	}
	tp, closeConn, err := connectTPAP(o.DataDir)
	if err != nil {
		return BenchResult{}, err
	}
	defer closeConn()
	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, o.Flows)
		res       = BenchResult{Flows: o.Flows, Concurrency: o.Concurrency, Failed: map[string]int{}}
		firstErr  error
		wg        sync.WaitGroup
	)
	var done, ok atomic.Int64
	disk0 := storeBytes(o.DataDir)
	start := time.Now()
	stopProgress := startProgress(o, start, &done, &ok)
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(o.Flows) || ctx.Err() != nil {
					return
				}
				from, to := o.A, o.B
				if i%2 == 1 {
					from, to = to, from
				}
				t0 := time.Now()
				st, code, err := oneFlow(ctx, tp, from, to, amount, o.PIN)
				d := time.Since(t0)
				done.Add(1)
				if err == nil && st == upiv1.Resp_SUCCESS {
					ok.Add(1)
				}
				mu.Lock()
				switch {
				case err != nil:
					if firstErr == nil {
						firstErr = err
					}
					res.Failed["error"]++
				case st == upiv1.Resp_SUCCESS:
					res.Success++
					latencies = append(latencies, d)
				default:
					res.Failed[statusName(st)+" "+code]++
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
	res.P50Ms = pct(latencies, 0.50)
	res.P99Ms = pct(latencies, 0.99)
	if firstErr != nil && res.Success == 0 {
		return res, fmt.Errorf("every flow failed; first error: %w", rpcError(firstErr))
	}
	if res.Success > 0 {
		res.DiskBytesPerFlow = float64(storeBytes(o.DataDir)-disk0) / float64(res.Success)
	}
	if o.EchoCalls > 0 {
		if res.EchoPerS, err = echoRate(ctx, o.EchoCalls, o.Concurrency); err != nil {
			return res, fmt.Errorf("echo baseline: %w", err)
		}
		res.Ratio = res.FlowsPerSec * MessagesPerFlow / res.EchoPerS
	}
	return res, o.Output.print(w, res, func(w io.Writer) error {
		fmt.Fprintf(w, "%d flows at concurrency %d in %.2fs: %.0f flows/s, p50 %.1f ms, p99 %.1f ms, %d succeeded",
			o.Flows, o.Concurrency, res.Seconds, res.FlowsPerSec, res.P50Ms, res.P99Ms, res.Success)
		for _, k := range sortedKeys(res.Failed) {
			fmt.Fprintf(w, ", %d %s", res.Failed[k], k)
		}
		fmt.Fprintln(w)
		if firstErr != nil {
			fmt.Fprintf(w, "first error: %v\n", rpcError(firstErr))
		}
		fmt.Fprintf(w, "on disk: %.0f bytes a flow (the nodes' files grew %.1f MB)\n",
			res.DiskBytesPerFlow, res.DiskBytesPerFlow*float64(res.Success)/1e6)
		if res.EchoPerS > 0 {
			fmt.Fprintf(w, "baseline: %.0f unary gRPC echo calls/s on loopback at concurrency %d; flows/s × %d is %.2f of it\n",
				res.EchoPerS, o.Concurrency, MessagesPerFlow, res.Ratio)
		}
		return nil
	})
}

// TLSComparison is what `upisim bench --compare-tls` prints.
type TLSComparison struct {
	TLS      BenchResult `json:"tls"`
	Insecure BenchResult `json:"insecure"`
	// Ratio is TLS flows/s over insecure flows/s.
	Ratio float64 `json:"ratio"`
}

// BenchTLS measures what mutual TLS between nodes costs: it starts the
// default network in a temporary folder (OS-chosen ports) with mutual
// TLS, drives the flows of o against it, stops it, does the same with an
// insecure network, and prints both throughputs and their ratio.
func BenchTLS(ctx context.Context, w io.Writer, o BenchOptions) (TLSComparison, error) {
	var cmp TLSComparison
	for _, run := range []struct {
		insecure bool
		res      *BenchResult
	}{{false, &cmp.TLS}, {true, &cmp.Insecure}} {
		r, err := benchIn(ctx, o, run.insecure)
		if err != nil {
			mode := "mutual TLS"
			if run.insecure {
				mode = "insecure"
			}
			return cmp, fmt.Errorf("%s: %w", mode, err)
		}
		*run.res = r
	}
	if cmp.Insecure.FlowsPerSec > 0 {
		cmp.Ratio = cmp.TLS.FlowsPerSec / cmp.Insecure.FlowsPerSec
	}
	return cmp, o.Output.print(w, cmp, func(w io.Writer) error {
		for _, r := range []struct {
			name string
			res  BenchResult
		}{{"mutual TLS", cmp.TLS}, {"insecure", cmp.Insecure}} {
			fmt.Fprintf(w, "%-10s  %d flows at concurrency %d in %.2fs: %.0f flows/s, p50 %.1f ms, p99 %.1f ms, %d succeeded\n",
				r.name, r.res.Flows, r.res.Concurrency, r.res.Seconds, r.res.FlowsPerSec, r.res.P50Ms, r.res.P99Ms, r.res.Success)
		}
		fmt.Fprintf(w, "mutual TLS runs at %.2f of insecure's flows/s\n", cmp.Ratio)
		return nil
	})
}

// benchIn runs Bench against the default network started for it in a
// temporary folder.
func benchIn(ctx context.Context, o BenchOptions, insecure bool) (BenchResult, error) {
	dir, err := os.MkdirTemp("", "upisim-bench-")
	if err != nil {
		return BenchResult{}, err
	}
	defer os.RemoveAll(dir)
	nw, err := cluster.Up(cluster.UpOptions{DataDir: dir, PortBase: 0, NoSync: o.NoSync, Insecure: insecure})
	if err != nil {
		return BenchResult{}, err
	}
	defer nw.Close()
	o.DataDir, o.Output, o.CompareTLS, o.EchoCalls = dir, Text, false, 0
	return Bench(ctx, io.Discard, o)
}

// startProgress starts rewriting o.Progress's line every second (or
// o.ticks) until the returned func is called, which clears the line; it
// does nothing without o.Progress.
func startProgress(o BenchOptions, start time.Time, done, ok *atomic.Int64) func() {
	if o.Progress == nil {
		return func() {}
	}
	ticks := o.ticks
	var ticker *time.Ticker
	if ticks == nil {
		ticker = time.NewTicker(time.Second)
		ticks = ticker.C
	}
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-quit:
				fmt.Fprint(o.Progress, "\r\033[K")
				return
			case now := <-ticks:
				fmt.Fprint(o.Progress, "\r\033[K"+progressLine(int(done.Load()), int(ok.Load()), o.Flows, now.Sub(start)))
			}
		}
	}()
	return func() {
		close(quit)
		<-exited
		if ticker != nil {
			ticker.Stop()
		}
	}
}

// progressLine is one line of bench's progress: flows done of all, how
// many succeeded, the time so far and the rate.
func progressLine(done, ok, flows int, el time.Duration) string {
	rate := 0.0
	if el > 0 {
		rate = float64(ok) / el.Seconds()
	}
	return fmt.Sprintf("%d/%d flows (%d%%), %d succeeded, %s, %.0f flows/s", done, flows, done*100/max(flows, 1), ok, el.Round(time.Second), rate)
}

func oneFlow(ctx context.Context, tp upiv1.TpapAppServiceClient, from, to string, amount int64, pin string) (upiv1.Resp_Result, string, error) {
	cr, err := tp.CreatePayment(ctx, &upiv1.CreatePaymentRequest{PayerVpa: from, PayeeVpa: to, AmountPaise: amount, Pin: pin, Note: "bench"})
	if err != nil {
		return 0, "", err
	}
	return finalStatus(ctx, tp, cr.GetTxnId())
}

func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return float64(sorted[i].Microseconds()) / 1000
}
