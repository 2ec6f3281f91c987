package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// `upisim bench lite`: how fast the network reconciles offline UPI Lite
// records (docs/FLOWS.md, UPI Lite and Lite X, Sync).
//
// The records are made first, untimed: a device makes at most the
// network's offline_count offline payments before it must sync, so the
// bench enables ceil(N / offline_count) payer devices of --payer (each
// topped up with exactly what its records need), takes them offline, and
// has each pay its offline_count records to receive-only POS devices of
// --payee (AddLiteDevice, offline too), B records to each POS. Then the
// clock runs while every POS comes online at once (or --concurrency at a
// time) and syncs its B records as one batch; a POS whose answer leaves
// records PENDING syncs again, and the clock stops when every record is
// answered SUCCESS or FAILURE. The payer devices stay offline: their SENT
// records are posted already, and their next sync learns so.

// BenchLiteOptions are the options of `upisim bench lite`.
type BenchLiteOptions struct {
	DataDir string
	Records int
	Batch   int
	// Concurrency is how many batches sync at once; 0 for all of them.
	Concurrency int
	// Setup is how many setup calls (enable, pay offline) run at once.
	Setup        int
	Payer, Payee string
	PIN          string
	// Amount of each record, rupees.
	Amount string
	// EchoCalls is how many unary gRPC echo calls the baseline makes (0:
	// no baseline).
	EchoCalls int
	Output    Output
	// Progress, if set, is a terminal: every second the bench rewrites
	// one line there with what it is doing.
	Progress io.Writer
	// Timed, if set, is called when the clock starts (the records made),
	// and the func it returns when it stops: a Go benchmark's hook
	// (BenchmarkLiteSync) to measure only the sync.
	Timed func() func()
	// ticks, if set, replaces Progress's one-second ticker (tests).
	ticks <-chan time.Time
}

// BenchLiteResult is what `upisim bench lite` prints.
type BenchLiteResult struct {
	Records      int            `json:"records"`
	Batch        int            `json:"batch"`
	Batches      int            `json:"batches"`
	Concurrency  int            `json:"concurrency"`
	PayerDevices int            `json:"payer_devices"`
	SetupSeconds float64        `json:"setup_seconds"`
	Seconds      float64        `json:"seconds"`
	RecordsPerS  float64        `json:"records_per_s"`
	P50Ms        float64        `json:"batch_p50_ms"`
	P99Ms        float64        `json:"batch_p99_ms"`
	Success      int            `json:"success"`
	Failed       map[string]int `json:"failed"`
	// Resyncs is the syncs beyond one per batch (records left PENDING).
	Resyncs int `json:"resyncs"`
	// The baseline: unary gRPC echo calls per second on loopback at the
	// same concurrency, and RecordsPerS over it.
	EchoPerS float64 `json:"echo_calls_per_s"`
	Ratio    float64 `json:"ratio"`
}

const benchLiteWait = 30 * time.Second

// BenchLite makes o.Records offline records and times their sync in
// batches of o.Batch against the running network of o.DataDir.
func BenchLite(ctx context.Context, w io.Writer, o BenchLiteOptions) (BenchLiteResult, error) {
	if o.Records <= 0 || o.Batch <= 0 || o.Concurrency < 0 || o.Setup <= 0 {
		return BenchLiteResult{}, errors.New("--records, --batch and --setup must be positive, --concurrency not negative")
	}
	if o.Batch > 1000 {
		return BenchLiteResult{}, errors.New("--batch is at most 1000 (a sync batch's records)")
	}
	amount, err := liteAmount(o.Amount)
	if err != nil {
		return BenchLiteResult{}, err
	}
	tp, closeConn, err := connectTPAP(o.DataDir)
	if err != nil {
		return BenchLiteResult{}, err
	}
	defer closeConn()
	batches := (o.Records + o.Batch - 1) / o.Batch
	conc := o.Concurrency
	if conc == 0 || conc > batches {
		conc = batches
	}
	res := BenchLiteResult{Records: o.Records, Batch: o.Batch, Batches: batches, Concurrency: conc, Failed: map[string]int{}}
	var phase atomic.Value
	var done atomic.Int64
	phase.Store("setup")
	stop := liteProgress(o, func(el time.Duration) string {
		return fmt.Sprintf("%s: %d/%d records, %s", phase.Load(), done.Load(), o.Records, el.Round(time.Second))
	})
	defer stop()

	// Setup (untimed).
	t0 := time.Now()
	run := fmt.Sprintf("lb%x", time.Now().UnixNano()%(1<<40))
	pos := func(j int) string { return fmt.Sprintf("%s-pos%d", run, j) }
	payer := func(i int) string { return fmt.Sprintf("%s-p%d", run, i) }
	for j := range batches {
		if _, err := tp.AddLiteDevice(ctx, &upiv1.AddLiteDeviceRequest{DeviceId: pos(j), Vpa: o.Payee}); err != nil {
			return res, fmt.Errorf("add POS device %s: %w", pos(j), rpcError(err))
		}
		if _, err := tp.SetLiteOnline(ctx, &upiv1.SetLiteOnlineRequest{DeviceId: pos(j), Online: false}); err != nil {
			return res, fmt.Errorf("take %s offline: %w", pos(j), rpcError(err))
		}
	}
	// The first payer device, enabled online with one record's amount,
	// tells the network's offline_count.
	enable := func(i int, n int) (int, error) {
		r, err := tp.EnableLite(ctx, &upiv1.EnableLiteRequest{Vpa: o.Payer, DeviceId: payer(i), AmountPaise: int64(n) * amount,
			Pin: o.PIN, WaitMs: int32(benchLiteWait / time.Millisecond)})
		if err != nil {
			return 0, fmt.Errorf("enable %s: %w", payer(i), rpcError(err))
		}
		if r.GetStatus() != upiv1.Resp_SUCCESS {
			return 0, fmt.Errorf("enable %s: %s %s %s", payer(i), statusName(r.GetStatus()), r.GetErrCode(), r.GetReason())
		}
		return int(r.GetWallet().GetOfflineLimit()), nil
	}
	per, err := enable(0, 1)
	if err != nil {
		return res, err
	}
	if per <= 0 {
		return res, errors.New("the network allows no offline payments (lite.offline_count)")
	}
	payers := (o.Records + per - 1) / per
	res.PayerDevices = payers
	// Payer i pays records [i*per, min((i+1)*per, N)); record k goes to POS k/B.
	pay := func(i int, first bool) error {
		lo, hi := i*per, min((i+1)*per, o.Records)
		if first && hi-lo > 1 {
			r, err := tp.TopUpLite(ctx, &upiv1.TopUpLiteRequest{DeviceId: payer(i), AmountPaise: int64(hi-lo-1) * amount, Pin: o.PIN,
				WaitMs: int32(benchLiteWait / time.Millisecond)})
			if err != nil {
				return fmt.Errorf("top up %s: %w", payer(i), rpcError(err))
			}
			if r.GetStatus() != upiv1.Resp_SUCCESS {
				return fmt.Errorf("top up %s: %s %s %s", payer(i), statusName(r.GetStatus()), r.GetErrCode(), r.GetReason())
			}
		} else if !first {
			if _, err := enable(i, hi-lo); err != nil {
				return err
			}
		}
		if _, err := tp.SetLiteOnline(ctx, &upiv1.SetLiteOnlineRequest{DeviceId: payer(i), Online: false}); err != nil {
			return fmt.Errorf("take %s offline: %w", payer(i), rpcError(err))
		}
		for k := lo; k < hi; k++ {
			r, err := tp.PayLite(ctx, &upiv1.PayLiteRequest{DeviceId: payer(i), PayeeVpa: o.Payee, PayeeDeviceId: pos(k / o.Batch),
				AmountPaise: amount, Note: "bench lite"})
			if err != nil {
				return fmt.Errorf("offline payment of %s: %w", payer(i), rpcError(err))
			}
			if r.GetProvisionalUtr() == "" {
				return fmt.Errorf("offline payment of %s: %s %s %s", payer(i), statusName(r.GetStatus()), r.GetErrCode(), r.GetReason())
			}
			done.Add(1)
		}
		return nil
	}
	if err := forEach(ctx, payers, o.Setup, func(i int) error { return pay(i, i == 0) }); err != nil {
		return res, err
	}
	res.SetupSeconds = time.Since(t0).Seconds()

	// The timed part: every POS syncs its batch.
	phase.Store("sync")
	done.Store(0)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		resyncs   atomic.Int64
	)
	stopTimed := func() {}
	if o.Timed != nil {
		stopTimed = o.Timed()
	}
	start := time.Now()
	err = forEach(ctx, batches, conc, func(j int) error {
		b0 := time.Now()
		r, err := tp.SetLiteOnline(ctx, &upiv1.SetLiteOnlineRequest{DeviceId: pos(j), Online: true, WaitMs: int32(benchLiteWait / time.Millisecond)})
		final := map[string]*upiv1.LiteRecordResult{}
		for try := 0; ; try++ {
			if err != nil {
				return fmt.Errorf("sync %s: %w", pos(j), rpcError(err))
			}
			for _, s := range r.GetSynced() {
				if s.GetResult() == upiv1.Resp_SUCCESS || s.GetResult() == upiv1.Resp_FAILURE {
					if _, seen := final[s.GetProvisionalUtr()]; !seen {
						final[s.GetProvisionalUtr()] = s
						done.Add(1)
					}
				}
			}
			if len(r.GetWallet().GetUnsynced()) == 0 {
				break
			}
			if try == 20 {
				return fmt.Errorf("sync %s: %d records still not final after %d syncs", pos(j), len(r.GetWallet().GetUnsynced()), try+1)
			}
			resyncs.Add(1)
			r, err = tp.SyncLite(ctx, &upiv1.TpapAppServiceSyncLiteRequest{DeviceId: pos(j), WaitMs: int32(benchLiteWait / time.Millisecond)})
		}
		d := time.Since(b0)
		mu.Lock()
		defer mu.Unlock()
		latencies = append(latencies, d)
		for _, s := range final {
			if s.GetResult() == upiv1.Resp_SUCCESS {
				res.Success++
			} else {
				res.Failed["FAILURE "+s.GetErrCode()]++
			}
		}
		return nil
	})
	el := time.Since(start)
	stopTimed()
	if err != nil {
		return res, err
	}
	res.Seconds = el.Seconds()
	res.RecordsPerS = float64(res.Success) / el.Seconds()
	res.Resyncs = int(resyncs.Load())
	slices.Sort(latencies)
	res.P50Ms, res.P99Ms = pct(latencies, 0.50), pct(latencies, 0.99)
	if o.EchoCalls > 0 {
		phase.Store("echo baseline")
		if res.EchoPerS, err = echoRate(ctx, o.EchoCalls, conc); err != nil {
			return res, fmt.Errorf("echo baseline: %w", err)
		}
		res.Ratio = res.RecordsPerS / res.EchoPerS
	}
	stop()
	return res, o.Output.print(w, res, func(w io.Writer) error {
		fmt.Fprintf(w, "%d records in %d batches of %d (%d at once) synced in %.2fs: %.0f records/s, batch p50 %.1f ms, p99 %.1f ms, %d succeeded",
			res.Records, res.Batches, res.Batch, res.Concurrency, res.Seconds, res.RecordsPerS, res.P50Ms, res.P99Ms, res.Success)
		for _, k := range sortedKeys(res.Failed) {
			fmt.Fprintf(w, ", %d %s", res.Failed[k], k)
		}
		if res.Resyncs > 0 {
			fmt.Fprintf(w, ", %d resyncs", res.Resyncs)
		}
		fmt.Fprintf(w, "\nsetup: %d payer devices, %d offline payments in %.1fs (not timed)\n", res.PayerDevices, res.Records, res.SetupSeconds)
		if res.EchoPerS > 0 {
			fmt.Fprintf(w, "baseline: %.0f unary gRPC echo calls/s on loopback at concurrency %d; records/s is %.2f of it\n",
				res.EchoPerS, res.Concurrency, res.Ratio)
		}
		return nil
	})
}

// forEach runs f(0..n-1), at most conc at once, and returns the first
// error (the rest are not started once one failed).
func forEach(ctx context.Context, n, conc int, f func(int) error) error {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
		failed   atomic.Bool
	)
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || failed.Load() || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { firstErr = err })
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// echoRate serves the gRPC health service on a loopback port and makes
// calls unary Check calls to it, conc at once: the calls per second are
// the cost of a bare gRPC round trip on this machine, the baseline (the
// closed loop of BenchEcho).
func echoRate(ctx context.Context, calls, conc int) (float64, error) {
	check, stop, err := startEcho(ctx)
	if err != nil {
		return 0, err
	}
	defer stop()
	st := closedLoop(ctx, calls, conc, new(atomic.Int64), new(atomic.Int64), check)
	if err := cmp.Or(st.firstErr, ctx.Err()); err != nil {
		return 0, err
	}
	return float64(st.success) / st.elapsed.Seconds(), nil
}

// startEcho serves the gRPC health service on a loopback port and returns
// a loadCall that makes one unary Check call to it, over one connection
// made and tried already, and the func that stops both.
func startEcho(ctx context.Context) (loadCall, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, health.NewServer())
	go func() { _ = s.Serve(l) }()
	cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.Stop()
		return nil, nil, err
	}
	stop := func() {
		_ = cc.Close()
		s.Stop()
	}
	hc := healthpb.NewHealthClient(cc)
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		stop()
		return nil, nil, err
	}
	check := func(ctx context.Context, _ int) (string, error) {
		if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			return "error", err
		}
		return "", nil
	}
	return check, stop, nil
}

// liteProgress rewrites o.Progress's line every second (or o.ticks) with
// line(time so far) until the returned func is called (again: nothing),
// which clears it; it does nothing without o.Progress.
func liteProgress(o BenchLiteOptions, line func(time.Duration) string) func() {
	if o.Progress == nil {
		return func() {}
	}
	ticks := o.ticks
	var ticker *time.Ticker
	if ticks == nil {
		ticker = time.NewTicker(time.Second)
		ticks = ticker.C
	}
	start := time.Now()
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-quit:
				fmt.Fprint(o.Progress, "\r\033[K")
				return
			case now := <-ticks:
				fmt.Fprint(o.Progress, "\r\033[K"+line(now.Sub(start)))
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			<-exited
			if ticker != nil {
				ticker.Stop()
			}
		})
	}
}
