package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"regexp"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
)

// TestBench runs bench against the default network with fsync on: every
// flow SUCCESS and the balances back where they were (A and B pay each
// other in turn); the bytes on disk a flow and the echo baseline with its
// ratio, in JSON and text.
func TestBench(t *testing.T) {
	data := t.TempDir()
	netw := config.Default()
	netw.Heartbeat = 0
	nw, err := cluster.Up(cluster.UpOptions{Network: netw, DataDir: data})
	require.NoError(t, err)
	defer nw.Close()
	bal := func(vpa string) int64 {
		r, err := Balance(t.Context(), io.Discard, BalanceOptions{DataDir: data, VPA: vpa})
		require.NoError(t, err)
		return r.BalancePaise
	}
	alice0, bob0 := bal("alice@alpha"), bal("bob@beta")
	o := BenchOptions{DataDir: data, Flows: 40, Concurrency: 8, A: "alice@alpha", B: "bob@beta", PIN: "1234",
		Amount: "1.00", EchoCalls: 200, Output: JSON}
	var out bytes.Buffer
	disk0 := storeBytes(data)
	require.Positive(t, disk0, "the nodes' *.db files are in the data folder")
	res, err := Bench(t.Context(), &out, o)
	require.NoError(t, err, out.String())
	var got map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	assert.Equal(t, []string{"concurrency", "disk_bytes_per_flow", "echo_calls_per_s", "failed", "flows", "flows_per_s",
		"max_ms", "p50_ms", "p90_ms", "p99_9_ms", "p99_ms", "ratio", "seconds", "success"}, keys)
	assert.Equal(t, 40, res.Success, out.String())
	assertOrdered(t, res.Percentiles)
	assert.Positive(t, res.EchoPerS)
	assert.InDelta(t, res.FlowsPerSec*MessagesPerFlow/res.EchoPerS, res.Ratio, 1e-9)
	assert.InDelta(t, float64(storeBytes(data)-disk0)/40, res.DiskBytesPerFlow, 1e-9, "the files' growth over the flows")
	assert.Equal(t, alice0, bal("alice@alpha"))
	assert.Equal(t, bob0, bal("bob@beta"))

	o.Output, o.Flows = Text, 10
	out.Reset()
	_, err = Bench(t.Context(), &out, o)
	require.NoError(t, err, out.String())
	assert.Regexp(t, regexp.MustCompile(`^10 flows at concurrency 8 in [0-9.]+s: [0-9]+ flows/s, 10 succeeded
latency: p50 [0-9.]+ ms, p90 [0-9.]+ ms, p99 [0-9.]+ ms, p99.9 [0-9.]+ ms, max [0-9.]+ ms
on disk: -?[0-9]+ bytes a flow \(the nodes' files grew -?[0-9.]+ MB\)
baseline: [0-9]+ unary gRPC echo calls/s on loopback at concurrency 8; flows/s × 14 is [0-9.]+ of it
$`), out.String())
}

// assertOrdered checks that the percentiles are positive and in order.
func assertOrdered(t *testing.T, p Percentiles) {
	t.Helper()
	assert.Positive(t, p.P50Ms)
	assert.True(t, p.P50Ms <= p.P90Ms && p.P90Ms <= p.P99Ms && p.P99Ms <= p.P999Ms && p.P999Ms <= p.MaxMs, "%+v", p)
}

// TestBenchOpenLoop runs an open-loop bench against the default network
// with fsync on, 20 flows a second for 2 s: 40 flows scheduled, every one
// started (none dropped) and SUCCESS, the counts adding up, the
// percentiles in order, the starts within a wide band of the rate asked
// (never above it: no flow starts before its time), and the same figures
// in text.
func TestBenchOpenLoop(t *testing.T) {
	data := t.TempDir()
	netw := config.Default()
	netw.Heartbeat = 0
	nw, err := cluster.Up(cluster.UpOptions{Network: netw, DataDir: data})
	require.NoError(t, err)
	defer nw.Close()
	o := BenchOptions{DataDir: data, Rate: 20, Duration: 2 * time.Second, A: "alice@alpha", B: "bob@beta", PIN: "1234",
		Amount: "1.00", EchoCalls: 200, Output: JSON}
	var out bytes.Buffer
	res, err := Bench(t.Context(), &out, o)
	require.NoError(t, err, out.String())
	var got BenchResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
	assert.Equal(t, res, got, "the JSON holds every figure")
	require.NotNil(t, res.OpenLoop, out.String())
	ol := *res.OpenLoop
	assert.Equal(t, 40, res.Flows, "rate × duration")
	assert.Zero(t, res.Concurrency)
	assert.Equal(t, 40, ol.Started)
	assert.Zero(t, ol.Dropped)
	assert.Equal(t, DefaultBenchMaxInFlight, ol.MaxInFlight)
	assert.Equal(t, 40, res.Success, out.String())
	assert.Empty(t, res.Failed)
	assert.EqualValues(t, 20, ol.Rate)
	assert.LessOrEqual(t, ol.AchievedRate, 20*1.0001, "no flow starts before its time")
	assert.Greater(t, ol.AchievedRate, 10.0, "the starts kept roughly to the schedule")
	assert.True(t, ol.InFlightPeak >= 1 && ol.InFlightPeak <= 40, "in flight at most: %d", ol.InFlightPeak)
	assert.GreaterOrEqual(t, res.Seconds, 39/20.0, "the last flow starts at 39/20 s")
	assertOrdered(t, res.Percentiles)
	assert.Positive(t, res.EchoPerS)
	assert.InDelta(t, res.FlowsPerSec*MessagesPerFlow/res.EchoPerS, res.Ratio, 1e-9)

	o.Output, o.Duration, o.Flows, o.EchoCalls = Text, 0, 6, 0
	out.Reset()
	_, err = Bench(t.Context(), &out, o)
	require.NoError(t, err, out.String())
	assert.Regexp(t, regexp.MustCompile(`^6 flows scheduled at 20/s \(open loop\): started at [0-9.]+/s, at most [0-9]+ in flight, done in [0-9.]+s: [0-9]+ flows/s, 6 succeeded
latency from the scheduled start: p50 [0-9.]+ ms, p90 [0-9.]+ ms, p99 [0-9.]+ ms, p99.9 [0-9.]+ ms, max [0-9.]+ ms
on disk: -?[0-9]+ bytes a flow \(the nodes' files grew -?[0-9.]+ MB\)
$`), out.String())
}

// TestOpenLoopDrops: with calls that do not end until released, an open
// loop at a high rate starts max-in-flight of them and drops every other
// one due, without queueing; once released, all started calls count, the
// latencies from their scheduled starts.
func TestOpenLoopDrops(t *testing.T) {
	const n, limit = 50, 3
	release := make(chan struct{})
	var done, ok atomic.Int64
	go func() {
		// Every call but the three in flight is dropped before any ends.
		assert.Eventually(t, func() bool { return done.Load() >= n-limit }, 30*time.Second, time.Millisecond)
		close(release)
	}()
	st := openLoop(t.Context(), n, 5000, limit, &done, &ok, func(_ context.Context, i int) (string, error) {
		<-release
		if i == 1 {
			return "FAILURE U30", nil
		}
		return "", nil
	})
	assert.Equal(t, limit, st.open.Started)
	assert.Equal(t, n-limit, st.open.Dropped)
	assert.Equal(t, limit, st.open.InFlightPeak)
	assert.Equal(t, map[string]int{droppedKey: n - limit, "FAILURE U30": 1}, st.failed)
	assert.Equal(t, limit-1, st.success)
	assert.EqualValues(t, limit-1, st.hist.Count())
	assert.EqualValues(t, n, done.Load())
	assert.EqualValues(t, limit-1, ok.Load())
	// The calls started at 0 and 0.4 ms and ended only after the last was
	// due (9.8 ms): each waited at least that long.
	assert.GreaterOrEqual(t, st.hist.Quantile(0.01), 9*time.Millisecond)
	assert.Positive(t, st.open.AchievedRate)
}

// TestBenchEcho: --echo alone, with no network, measures the closed loop
// at --concurrency and, with --rate, an open loop at that rate.
func TestBenchEcho(t *testing.T) {
	var out bytes.Buffer
	res, err := BenchEcho(t.Context(), &out, BenchOptions{EchoCalls: 500, Concurrency: 4, Rate: 200, Flows: 50, Output: JSON})
	require.NoError(t, err, out.String())
	var got EchoResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
	assert.Equal(t, res, got)
	assert.Equal(t, 500, res.Calls)
	assert.Equal(t, 4, res.Concurrency)
	assert.Positive(t, res.CallsPerS)
	assertOrdered(t, res.Percentiles)
	require.NotNil(t, res.Open)
	assert.Equal(t, 50, res.Open.Calls)
	assert.Equal(t, 50, res.Open.Started)
	assert.Equal(t, 50, res.Open.Success)
	assert.Zero(t, res.Open.Failed)
	assert.True(t, res.Open.AchievedRate > 100 && res.Open.AchievedRate <= 200*1.0001, "achieved %v/s", res.Open.AchievedRate)
	assertOrdered(t, res.Open.Percentiles)

	out.Reset()
	_, err = BenchEcho(t.Context(), &out, BenchOptions{EchoCalls: 100})
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`^echo: 100 unary gRPC calls on loopback at concurrency 64 in [0-9.]+s: [0-9]+ calls/s
echo latency: p50 [0-9.]+ ms, p90 [0-9.]+ ms, p99 [0-9.]+ ms, p99.9 [0-9.]+ ms, max [0-9.]+ ms
$`), out.String())
}

// TestBenchOptionsErrors: options that make no bench are refused, with
// what to give instead, before anything is dialled.
func TestBenchOptionsErrors(t *testing.T) {
	base := BenchOptions{DataDir: t.TempDir(), A: "alice@alpha", B: "bob@beta", PIN: "1234", Amount: "1.00"}
	for _, c := range []struct {
		name string
		set  func(*BenchOptions)
		want string
	}{
		{"negative rate", func(o *BenchOptions) { o.Rate = -1 }, "--rate must be a positive number"},
		{"NaN rate", func(o *BenchOptions) { o.Rate = math.NaN() }, "--rate must be a positive number"},
		{"concurrency with rate", func(o *BenchOptions) { o.Rate, o.Concurrency = 100, 8 }, "--concurrency is the closed loop's"},
		{"flows and duration", func(o *BenchOptions) { o.Rate, o.Flows, o.Duration = 100, 10, time.Second }, "give --flows or --duration with --rate, not both"},
		{"duration without rate", func(o *BenchOptions) { o.Duration = time.Second }, "--duration needs --rate"},
		{"max in flight without rate", func(o *BenchOptions) { o.MaxInFlight = 5 }, "--max-in-flight needs --rate"},
		{"no flow in the duration", func(o *BenchOptions) { o.Rate, o.Duration = 1, 100*time.Millisecond }, "starts no flow"},
		{"negative flows", func(o *BenchOptions) { o.Flows = -1 }, "--flows must be positive"},
		{"negative concurrency", func(o *BenchOptions) { o.Concurrency = -2 }, "--concurrency must be positive"},
		{"negative duration", func(o *BenchOptions) { o.Rate, o.Duration = 5, -time.Second }, "--duration must be positive"},
		{"negative max in flight", func(o *BenchOptions) { o.Rate, o.MaxInFlight = 5, -1 }, "--max-in-flight must be positive"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := base
			c.set(&o)
			_, err := Bench(t.Context(), io.Discard, o)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	_, err := BenchEcho(t.Context(), io.Discard, BenchOptions{EchoCalls: 0})
	assert.ErrorContains(t, err, "measures nothing")
	_, err = BenchEcho(t.Context(), io.Discard, BenchOptions{EchoCalls: 10, CompareTLS: true})
	assert.ErrorContains(t, err, "give one")
	_, err = BenchTLS(t.Context(), io.Discard, BenchOptions{Rate: 10})
	assert.ErrorContains(t, err, "--compare-tls runs the closed loop")
	_, err = Bench(t.Context(), io.Discard, BenchOptions{Echo: true})
	assert.Error(t, err)
}
