package integration

import (
	"context"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
)

// BenchmarkLiteSync runs the default network in this process (fsync on),
// as `upisim up` does, makes b.N offline UPI Lite records (not timed) and
// syncs them in batches of 500, every batch at once, as `upisim bench
// lite` does. It reports records/s, the batches' p50/p99, and per record
// the CPU time of the whole process and its heap allocations during the
// sync:
//
//	go test -run '^$' -bench LiteSync -benchtime 20000x -count 3 ./tests/integration
//
// and LITE_SYNC_CPUPROFILE=file to profile the sync alone (-cpuprofile
// takes the making of the records too); LITE_SYNC_MEMPROFILE=file writes
// the allocations profile at the sync's end, and file.before at its
// start, for go tool pprof -sample_index=alloc_space -diff_base
// file.before file.
func BenchmarkLiteSync(b *testing.B) {
	defer cli.TuneGC()()
	cfg := config.Default()
	cfg.Heartbeat = 0
	dir := b.TempDir()
	nw, err := cluster.Up(cluster.UpOptions{Network: cfg, DataDir: dir})
	require.NoError(b, err)
	defer nw.Close()

	var ms0, ms1 runtime.MemStats
	var cpu time.Duration
	b.StopTimer()
	res, err := cli.BenchLite(context.Background(), io.Discard, cli.BenchLiteOptions{
		DataDir: dir, Records: b.N, Batch: 500, Setup: 32,
		Payer: "alice@alpha", Payee: "bob@beta", PIN: "1234", Amount: "0.01",
		Timed: func() func() {
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			cpu0 := cpuTime()
			stopProf := profileTo(b, os.Getenv("LITE_SYNC_CPUPROFILE"))
			allocsTo(b, os.Getenv("LITE_SYNC_MEMPROFILE"), ".before")
			b.StartTimer()
			return func() {
				b.StopTimer()
				stopProf()
				cpu = cpuTime() - cpu0
				runtime.ReadMemStats(&ms1)
				allocsTo(b, os.Getenv("LITE_SYNC_MEMPROFILE"), "")
			}
		},
	})
	require.NoError(b, err)
	require.Equal(b, b.N, res.Success, "every record SUCCESS: %+v", res)
	b.ReportMetric(res.RecordsPerS, "records/s")
	b.ReportMetric(res.P50Ms, "batch-p50-ms")
	b.ReportMetric(res.P99Ms, "batch-p99-ms")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/record")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N), "allocs/record")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/1024/float64(b.N), "KiB/record")
}

// profileTo starts a CPU profile into file (none when "") and returns
// what stops it.
func profileTo(b *testing.B, file string) func() {
	if file == "" {
		return func() {}
	}
	f, err := os.Create(file)
	require.NoError(b, err)
	require.NoError(b, pprof.StartCPUProfile(f))
	return func() {
		pprof.StopCPUProfile()
		require.NoError(b, f.Close())
	}
}

// allocsTo writes the allocations profile into file+suffix (none when
// file is "").
func allocsTo(b *testing.B, file, suffix string) {
	if file == "" {
		return
	}
	// The profile is as of the last collection: one now, so that it has
	// every allocation until this call.
	runtime.GC()
	f, err := os.Create(file + suffix)
	require.NoError(b, err)
	require.NoError(b, pprof.Lookup("allocs").WriteTo(f, 0))
	require.NoError(b, f.Close())
}
