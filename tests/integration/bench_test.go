package integration

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
)

// BenchmarkPayFlows runs the default network in this process (fsync on),
// as `upisim up` does, and completes b.N pay flows, 64 at a time, through the TPAP's API. It
// reports flows/s, end-to-end p50/p90/p99/p99.9, the CPU time the whole process spent
// per flow, which varies far less than wall time on a shared machine, the heap
// allocations per flow, which vary less still, and the bytes the nodes' bbolt
// files grew per flow (coarse for few flows: bbolt grows a file in steps), the
// figures `upisim bench` prints:
//
//	go test -run '^$' -bench PayFlows -benchtime 5000x -count 5 ./tests/integration
func BenchmarkPayFlows(b *testing.B) {
	// The nodes run in this process as under `upisim up`, with its garbage
	// collector setting (GOGC, when set, wins as it does there).
	defer cli.TuneGC()()
	cfg := config.Default()
	cfg.Heartbeat = 0
	dir := b.TempDir()
	nw, err := cluster.Up(cluster.UpOptions{Network: cfg, DataDir: dir})
	require.NoError(b, err)
	defer nw.Close()
	c, err := cli.Connect(dir)
	require.NoError(b, err)
	defer c.Close()
	tp, err := c.TPAP()
	require.NoError(b, err)

	const conc = 64
	var (
		next atomic.Int64
		mu   sync.Mutex
		lat  []time.Duration
		wg   sync.WaitGroup
	)
	var ms0, ms1 runtime.MemStats
	disk0 := dbBytes(b, dir)
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				from, to := "alice@alpha", "bob@beta"
				if i%2 == 1 {
					from, to = to, from
				}
				t0 := time.Now()
				cr, err := tp.CreatePayment(context.Background(), &upiv1.CreatePaymentRequest{PayerVpa: from, PayeeVpa: to, AmountPaise: 100, Pin: "1234"})
				if err != nil {
					b.Error(err)
					return
				}
				g, err := tp.GetPayment(context.Background(), &upiv1.GetPaymentRequest{TxnId: cr.GetTxnId(), WaitMs: 30000})
				if err != nil || g.GetStatus() != upiv1.Resp_SUCCESS {
					b.Errorf("flow %s: %v %v %s", cr.GetTxnId(), err, g.GetStatus(), g.GetErrCode())
					return
				}
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&ms1)
	disk := dbBytes(b, dir) - disk0
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(len(lat))/el.Seconds(), "flows/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*90/100].Microseconds())/1000, "p90-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)*999/1000].Microseconds())/1000, "p99.9-ms")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(len(lat)), "cpu-ms/flow")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(len(lat)), "allocs/flow")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/1024/float64(len(lat)), "KiB/flow")
	b.ReportMetric(float64(disk)/float64(len(lat)), "disk-B/flow")
}

// dbBytes is the size of the nodes' bbolt files (*.db) in the network's
// data folder dir, as `upisim bench` measures it.
func dbBytes(b *testing.B, dir string) int64 {
	files, err := filepath.Glob(filepath.Join(dir, "*.db"))
	require.NoError(b, err)
	require.NotEmpty(b, files, "the nodes' files are in %s", dir)
	var n int64
	for _, f := range files {
		fi, err := os.Stat(f)
		require.NoError(b, err)
		n += fi.Size()
	}
	return n
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
