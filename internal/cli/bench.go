package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cluster"
)

// The defaults of `upisim bench` where an option is left 0.
const (
	DefaultBenchFlows       = 10000
	DefaultBenchConcurrency = 64
	DefaultBenchMaxInFlight = 10000
)

// BenchOptions are the options of `upisim bench`.
//
// Without Rate the bench is a closed loop: Concurrency flows at once, each
// started when one ends, until Flows have completed; its latencies are
// what a client that waits sees, and a slow network slows the arrivals
// with it. With Rate it is an open loop: flow i starts at i/Rate seconds
// whatever the others do, Flows of them (or Duration's worth: Rate ×
// Duration), and each flow's latency counts from its scheduled start, so
// a stall shows as the latency of every flow it delayed rather than as
// fewer samples (no coordinated omission). Flows in flight are as many as
// the rate takes, up to MaxInFlight; a flow due beyond that is dropped
// (counted, never queued).
type BenchOptions struct {
	DataDir string
	// Flows is the closed loop's flows to complete, the open loop's to
	// start (0: DefaultBenchFlows, or Duration's worth with Rate).
	Flows int
	// Concurrency is the closed loop's flows at once (0:
	// DefaultBenchConcurrency); with Echo, the echo calls'.
	Concurrency int
	// Rate, flows (or with Echo, calls) a second, makes an open loop.
	Rate float64
	// Duration, with Rate, is how long flows are started for, in place of
	// Flows.
	Duration time.Duration
	// MaxInFlight bounds the open loop's flows in flight (0:
	// DefaultBenchMaxInFlight).
	MaxInFlight int
	// Echo: measure only the bare gRPC echo (BenchEcho); no network.
	Echo bool
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
	// after the flows (0: no baseline), or with Echo, the closed loop's.
	EchoCalls int
	// Progress, if set, is a terminal: every second Bench rewrites one
	// line there ("\r") with the flows done so far, and clears it before
	// the summary.
	Progress io.Writer
	// ticks, if set, replaces the one-second ticker of Progress (tests).
	ticks <-chan time.Time
}

// normalize fills in the defaults of o and checks that its options make
// one bench: a closed loop (Flows, Concurrency) or an open one (Rate with
// Flows or Duration).
func (o *BenchOptions) normalize() error {
	switch {
	case o.Flows < 0:
		return errors.New("--flows must be positive")
	case o.Concurrency < 0:
		return errors.New("--concurrency must be positive")
	case o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0):
		return errors.New("--rate must be a positive number of flows a second (or none, for the closed loop)")
	case o.Duration < 0:
		return errors.New("--duration must be positive")
	case o.MaxInFlight < 0:
		return errors.New("--max-in-flight must be positive")
	case o.EchoCalls < 0:
		return errors.New("--echo-calls must not be negative")
	}
	if o.Rate == 0 {
		if o.Duration > 0 {
			return errors.New("--duration needs --rate: the closed loop runs --flows")
		}
		if o.MaxInFlight > 0 {
			return errors.New("--max-in-flight needs --rate: the closed loop has --concurrency flows in flight")
		}
		if o.Flows == 0 {
			o.Flows = DefaultBenchFlows
		}
		if o.Concurrency == 0 {
			o.Concurrency = DefaultBenchConcurrency
		}
		return nil
	}
	if o.Concurrency > 0 && !o.Echo {
		return errors.New("--concurrency is the closed loop's: with --rate, flows start on the rate's schedule, as many in flight as that takes, up to --max-in-flight")
	}
	if o.Concurrency == 0 && o.Echo {
		o.Concurrency = DefaultBenchConcurrency
	}
	if o.Flows > 0 && o.Duration > 0 {
		return errors.New("give --flows or --duration with --rate, not both")
	}
	if o.Duration > 0 {
		n := math.Round(o.Rate * o.Duration.Seconds())
		if n < 1 {
			return fmt.Errorf("--rate %g for --duration %s starts no flow", o.Rate, o.Duration)
		}
		if n > math.MaxInt32 {
			return fmt.Errorf("--rate %g for --duration %s is too many flows", o.Rate, o.Duration)
		}
		o.Flows = int(n)
	}
	if o.Flows == 0 {
		o.Flows = DefaultBenchFlows
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultBenchMaxInFlight
	}
	return nil
}

// BenchResult is what `upisim bench` prints.
type BenchResult struct {
	// Flows is the flows asked for: the closed loop's to complete, the
	// open loop's scheduled.
	Flows int `json:"flows"`
	// Concurrency is the closed loop's (0 in an open loop).
	Concurrency int `json:"concurrency,omitempty"`
	// OpenLoop is the open loop's schedule and how it was kept (nil in a
	// closed loop).
	OpenLoop *OpenLoop `json:"open_loop,omitempty"`
	// Seconds is from the first flow's start to the last one's end, and
	// FlowsPerSec the flows that succeeded over it.
	Seconds     float64 `json:"seconds"`
	FlowsPerSec float64 `json:"flows_per_s"`
	// The latencies of the flows that succeeded, from a full histogram:
	// in the open loop, from each flow's scheduled start.
	Percentiles
	Success int            `json:"success"`
	Failed  map[string]int `json:"failed"`
	// DiskBytesPerFlow is how much the nodes' bbolt files in the data
	// folder grew, over the flows that succeeded (bbolt grows its file in
	// steps, so it is coarse for few flows).
	DiskBytesPerFlow float64 `json:"disk_bytes_per_flow"`
	// The baseline: unary gRPC echo calls per second on loopback at the
	// same concurrency (the closed loop's default in an open loop), in the
	// same run, and flows/s × MessagesPerFlow over it.
	EchoPerS float64 `json:"echo_calls_per_s,omitempty"`
	Ratio    float64 `json:"ratio,omitempty"`
}

// OpenLoop is what an open-loop run reports besides its latencies.
type OpenLoop struct {
	// Rate is the arrival rate asked for, a second.
	Rate float64 `json:"rate_per_s"`
	// AchievedRate is the rate the starts kept: Started over the time
	// from the first start to the last one, plus one interval (so Rate
	// when every start was on time, less when the generator fell behind
	// or dropped some).
	AchievedRate float64 `json:"achieved_rate_per_s"`
	Started      int     `json:"started"`
	// Dropped were due while MaxInFlight were in flight: not started, and
	// counted among the failed.
	Dropped      int `json:"dropped"`
	InFlightPeak int `json:"in_flight_peak"`
	MaxInFlight  int `json:"max_in_flight"`
}

// droppedKey is how Failed counts the open loop's dropped flows.
const droppedKey = "dropped (over --max-in-flight)"

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

// Bench drives complete pay flows (each: CreatePayment, then a long poll
// until the final status) against a running network, in a closed or an
// open loop (BenchOptions), and reports throughput, the latency
// histogram's percentiles, the bytes on disk a flow and the echo
// baseline.
func Bench(ctx context.Context, w io.Writer, o BenchOptions) (BenchResult, error) {
	if o.Echo {
		return BenchResult{}, errors.New("--echo is BenchEcho's")
	}
	if err := o.normalize(); err != nil {
		return BenchResult{}, err
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
	flow := func(ctx context.Context, i int) (string, error) {
		from, to := o.A, o.B
		if i%2 == 1 {
			from, to = to, from
		}
		st, code, err := oneFlow(ctx, tp, from, to, amount, o.PIN)
		switch {
		case err != nil:
			return "error", err
		case st == upiv1.Resp_SUCCESS:
			return "", nil
		default:
			return statusName(st) + " " + code, nil
		}
	}
	res := BenchResult{Flows: o.Flows}
	var done, ok atomic.Int64
	disk0 := storeBytes(o.DataDir)
	stopProgress := startProgress(o, time.Now(), &done, &ok)
	var st loadStats
	if o.Rate > 0 {
		st = openLoop(ctx, o.Flows, o.Rate, o.MaxInFlight, &done, &ok, flow)
		res.OpenLoop = &st.open
	} else {
		res.Concurrency = o.Concurrency
		st = closedLoop(ctx, o.Flows, o.Concurrency, &done, &ok, flow)
	}
	stopProgress()
	res.Seconds = st.elapsed.Seconds()
	res.Success, res.Failed = st.success, st.failed
	res.FlowsPerSec = float64(res.Success) / res.Seconds
	res.Percentiles = st.hist.Percentiles()
	if st.firstErr != nil && res.Success == 0 {
		return res, fmt.Errorf("every flow failed; first error: %w", rpcError(st.firstErr))
	}
	if res.Success > 0 {
		res.DiskBytesPerFlow = float64(storeBytes(o.DataDir)-disk0) / float64(res.Success)
	}
	if o.EchoCalls > 0 {
		conc := cmp.Or(o.Concurrency, DefaultBenchConcurrency)
		if res.EchoPerS, err = echoRate(ctx, o.EchoCalls, conc); err != nil {
			return res, fmt.Errorf("echo baseline: %w", err)
		}
		res.Ratio = res.FlowsPerSec * MessagesPerFlow / res.EchoPerS
	}
	return res, o.Output.print(w, res, func(w io.Writer) error {
		if ol := res.OpenLoop; ol != nil {
			fmt.Fprintf(w, "%d flows scheduled at %g/s (open loop): started at %.1f/s, at most %d in flight, done in %.2fs: %.0f flows/s, %d succeeded",
				res.Flows, ol.Rate, ol.AchievedRate, ol.InFlightPeak, res.Seconds, res.FlowsPerSec, res.Success)
		} else {
			fmt.Fprintf(w, "%d flows at concurrency %d in %.2fs: %.0f flows/s, %d succeeded",
				res.Flows, res.Concurrency, res.Seconds, res.FlowsPerSec, res.Success)
		}
		for _, k := range sortedKeys(res.Failed) {
			fmt.Fprintf(w, ", %d %s", res.Failed[k], k)
		}
		fmt.Fprintln(w)
		if st.firstErr != nil {
			fmt.Fprintf(w, "first error: %v\n", rpcError(st.firstErr))
		}
		from := ""
		if res.OpenLoop != nil {
			from = " from the scheduled start"
		}
		fmt.Fprintf(w, "latency%s: %s\n", from, res.Percentiles)
		fmt.Fprintf(w, "on disk: %.0f bytes a flow (the nodes' files grew %.1f MB)\n",
			res.DiskBytesPerFlow, res.DiskBytesPerFlow*float64(res.Success)/1e6)
		if res.EchoPerS > 0 {
			fmt.Fprintf(w, "baseline: %.0f unary gRPC echo calls/s on loopback at concurrency %d; flows/s × %d is %.2f of it\n",
				res.EchoPerS, cmp.Or(res.Concurrency, DefaultBenchConcurrency), MessagesPerFlow, res.Ratio)
		}
		return nil
	})
}

// EchoResult is what `upisim bench --echo` prints: the bare gRPC echo's
// closed loop, and its open loop with --rate.
type EchoResult struct {
	// Calls at Concurrency at once (none when EchoCalls is 0).
	Calls       int     `json:"calls"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"`
	CallsPerS   float64 `json:"calls_per_s"`
	Percentiles
	// Open is the open loop at --rate (nil without).
	Open *EchoOpenResult `json:"open_loop,omitempty"`
}

// EchoOpenResult is the echo's open loop: calls scheduled at Rate, their
// latencies from each call's scheduled start.
type EchoOpenResult struct {
	Calls int `json:"calls"`
	OpenLoop
	Seconds float64 `json:"seconds"`
	// Success are the calls answered, Failed the rest (with the dropped).
	Success int `json:"success"`
	Failed  int `json:"failed"`
	Percentiles
}

// BenchEcho measures only the bare gRPC echo that Bench's baseline is, a
// quick calibration of the machine with no network: o.EchoCalls unary
// calls at o.Concurrency at once, and with o.Rate, o.Flows calls (or
// o.Duration's worth) in an open loop at that rate.
func BenchEcho(ctx context.Context, w io.Writer, o BenchOptions) (EchoResult, error) {
	if o.CompareTLS {
		return EchoResult{}, errors.New("--echo and --compare-tls are two different benches: give one")
	}
	o.Echo = true
	if err := o.normalize(); err != nil {
		return EchoResult{}, err
	}
	if o.EchoCalls == 0 && o.Rate == 0 {
		return EchoResult{}, errors.New("--echo with --echo-calls 0 and no --rate measures nothing")
	}
	check, stop, err := startEcho(ctx)
	if err != nil {
		return EchoResult{}, fmt.Errorf("echo server: %w", err)
	}
	defer stop()
	res := EchoResult{Calls: o.EchoCalls, Concurrency: o.Concurrency}
	var done, ok atomic.Int64
	if o.EchoCalls > 0 {
		st := closedLoop(ctx, o.EchoCalls, o.Concurrency, &done, &ok, check)
		if err := cmp.Or(st.firstErr, ctx.Err()); err != nil {
			return res, fmt.Errorf("echo: %w", err)
		}
		res.Seconds = st.elapsed.Seconds()
		res.CallsPerS = float64(st.success) / res.Seconds
		res.Percentiles = st.hist.Percentiles()
	}
	if o.Rate > 0 {
		st := openLoop(ctx, o.Flows, o.Rate, o.MaxInFlight, &done, &ok, check)
		if st.success == 0 {
			return res, fmt.Errorf("echo open loop: no call succeeded: %w", cmp.Or(st.firstErr, ctx.Err()))
		}
		failed := 0
		for _, v := range st.failed {
			failed += v
		}
		res.Open = &EchoOpenResult{Calls: o.Flows, OpenLoop: st.open, Seconds: st.elapsed.Seconds(),
			Success: st.success, Failed: failed, Percentiles: st.hist.Percentiles()}
	}
	return res, o.Output.print(w, res, func(w io.Writer) error {
		if res.Calls > 0 {
			fmt.Fprintf(w, "echo: %d unary gRPC calls on loopback at concurrency %d in %.2fs: %.0f calls/s\n",
				res.Calls, res.Concurrency, res.Seconds, res.CallsPerS)
			fmt.Fprintf(w, "echo latency: %s\n", res.Percentiles)
		}
		if op := res.Open; op != nil {
			fmt.Fprintf(w, "echo open loop: %d calls scheduled at %g/s: started at %.1f/s, at most %d in flight, %d answered",
				op.Calls, op.Rate, op.AchievedRate, op.InFlightPeak, op.Success)
			if op.Failed > 0 {
				fmt.Fprintf(w, ", %d failed (%d dropped)", op.Failed, op.Dropped)
			}
			fmt.Fprintf(w, "\necho open-loop latency from the scheduled start: %s\n", op.Percentiles)
		}
		return nil
	})
}

// loadCall is one flow or echo call of a load run: its failure's name
// ("" when it succeeded) and the error, if it had one.
type loadCall func(ctx context.Context, i int) (fail string, err error)

// loadStats is what a closed or open load run counted.
type loadStats struct {
	// hist holds the latencies of the calls that succeeded.
	hist     Histogram
	success  int
	failed   map[string]int
	firstErr error
	elapsed  time.Duration
	open     OpenLoop
}

// add counts one call's outcome.
func (s *loadStats) add(d time.Duration, fail string, err error) {
	if err != nil && s.firstErr == nil {
		s.firstErr = err
	}
	if fail != "" {
		s.failed[fail]++
		return
	}
	s.success++
	s.hist.Record(d)
}

// merge adds o's counts to s.
func (s *loadStats) merge(o *loadStats) {
	s.hist.Merge(&o.hist)
	s.success += o.success
	for k, v := range o.failed {
		s.failed[k] += v
	}
	if s.firstErr == nil {
		s.firstErr = o.firstErr
	}
}

// closedLoop makes calls 0..n-1 of f, conc at once, each started when one
// ends, and times each from its start. Each worker keeps its own
// histogram, so the measuring shares no lock. done and ok count the calls
// ended and succeeded, for the progress line.
func closedLoop(ctx context.Context, n, conc int, done, ok *atomic.Int64, f loadCall) loadStats {
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		workers = make([]loadStats, min(conc, n))
	)
	start := time.Now()
	for k := range workers {
		ws := &workers[k]
		ws.failed = map[string]int{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				fail, err := f(ctx, int(i))
				ws.add(time.Since(t0), fail, err)
				done.Add(1)
				if fail == "" {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	st := loadStats{failed: map[string]int{}, elapsed: time.Since(start)}
	for k := range workers {
		st.merge(&workers[k])
	}
	return st
}

// openLoop starts call i of f at i/rate seconds (0 <= i < n), each in its
// own goroutine whatever the others do, and times each from that
// scheduled start: a generator that falls behind, or a network that
// stalls, shows in the latency of every call it delayed (no coordinated
// omission). A call due while maxInFlight are in flight is dropped:
// counted under droppedKey, never queued. It returns when every call
// started has ended, or early (not starting the rest) when ctx is done.
func openLoop(ctx context.Context, n int, rate float64, maxInFlight int, done, ok *atomic.Int64, f loadCall) loadStats {
	st := loadStats{failed: map[string]int{}, open: OpenLoop{Rate: rate, MaxInFlight: maxInFlight}}
	var (
		mu        sync.Mutex
		wg        sync.WaitGroup
		inFlight  atomic.Int64
		peak      int64
		lastStart time.Duration
	)
	interval := float64(time.Second) / rate
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := time.Now()
schedule:
	for i := range n {
		due := start.Add(time.Duration(float64(i) * interval))
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				break schedule
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			break
		}
		lastStart = time.Since(start)
		if inFlight.Load() >= int64(maxInFlight) {
			mu.Lock()
			st.open.Dropped++
			st.failed[droppedKey]++
			mu.Unlock()
			done.Add(1)
			continue
		}
		peak = max(peak, inFlight.Add(1))
		st.open.Started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			fail, err := f(ctx, i)
			d := time.Since(due)
			inFlight.Add(-1)
			mu.Lock()
			st.add(d, fail, err)
			mu.Unlock()
			done.Add(1)
			if fail == "" {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	st.elapsed = time.Since(start)
	st.open.InFlightPeak = int(peak)
	if st.open.Started > 0 {
		st.open.AchievedRate = float64(st.open.Started) / (lastStart.Seconds() + 1/rate)
	}
	return st
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
	if o.Rate > 0 || o.Echo {
		return cmp, errors.New("--compare-tls runs the closed loop: not with --rate or --echo")
	}
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
