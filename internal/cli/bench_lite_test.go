package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBenchLite runs bench lite against the default network: 25 records
// (offline_count 10: three payer devices, the last with 5) in batches of
// 10 (three POS devices, the last with 5), each record SUCCESS, and the
// payee's account up by all of them; JSON and text say so.
func TestBenchLite(t *testing.T) {
	data, _ := upDefault(t)
	bal := func(vpa string) int64 { return balanceOf(t, data, vpa) }
	bob0, alice0 := bal("bob@beta"), bal("alice@alpha")
	o := BenchLiteOptions{DataDir: data, Records: 25, Batch: 10, Setup: 4, Payer: "alice@alpha", Payee: "bob@beta",
		PIN: "1234", Amount: "0.10", EchoCalls: 200, Output: JSON}

	var out bytes.Buffer
	res, err := BenchLite(t.Context(), &out, o)
	require.NoError(t, err, out.String())
	var got map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	assert.Equal(t, []string{"batch", "batch_p50_ms", "batch_p99_ms", "batches", "concurrency", "echo_calls_per_s", "failed",
		"payer_devices", "ratio", "records", "records_per_s", "resyncs", "seconds", "setup_seconds", "success"}, keys)
	assert.Equal(t, 25, res.Success, "every record SUCCESS: %s", out.String())
	assert.Empty(t, res.Failed)
	assert.Equal(t, 3, res.Batches)
	assert.Equal(t, 3, res.Concurrency, "every batch at once by default")
	assert.Equal(t, 3, res.PayerDevices)
	assert.Positive(t, res.RecordsPerS)
	assert.Positive(t, res.EchoPerS)
	assert.InDelta(t, res.RecordsPerS/res.EchoPerS, res.Ratio, 1e-9)
	assert.GreaterOrEqual(t, res.P99Ms, res.P50Ms)
	assert.Equal(t, bob0+25*10, bal("bob@beta"), "the payee got every record")
	assert.Equal(t, alice0-25*10, bal("alice@alpha"), "the payer's account paid for the top-ups, exactly what the records took")

	// Text, a second run on the same network (new devices), at one batch
	// at a time and no baseline; a progress line on the "terminal".
	o.Output, o.Concurrency, o.EchoCalls, o.Records = Text, 1, 0, 12
	var prog syncBuf
	ticks := make(chan time.Time, 1)
	ticks <- time.Now().Add(time.Second)
	o.Progress, o.ticks = &prog, ticks
	out.Reset()
	res, err = BenchLite(t.Context(), &out, o)
	require.NoError(t, err, out.String())
	assert.Equal(t, 12, res.Success)
	assert.Regexp(t, regexp.MustCompile(`^12 records in 2 batches of 10 \(1 at once\) synced in [0-9.]+s: [0-9]+ records/s, batch p50 [0-9.]+ ms, p99 [0-9.]+ ms, 12 succeeded
setup: 2 payer devices, 12 offline payments in [0-9.]+s \(not timed\)
$`), out.String())
	assert.True(t, strings.HasSuffix(prog.String(), "\r\033[K"), "the progress line is cleared: %q", prog.String())
	assert.Equal(t, bob0+37*10, bal("bob@beta"))
}

func TestBenchLiteArguments(t *testing.T) {
	for _, o := range []BenchLiteOptions{
		{Records: 0, Batch: 10, Setup: 1, Amount: "1.00"},
		{Records: 10, Batch: 0, Setup: 1, Amount: "1.00"},
		{Records: 10, Batch: 1001, Setup: 1, Amount: "1.00"},
		{Records: 10, Batch: 10, Setup: 1, Concurrency: -1, Amount: "1.00"},
		{Records: 10, Batch: 10, Setup: 1, Amount: "abc"},
	} {
		_, err := BenchLite(t.Context(), io.Discard, o)
		assert.Error(t, err, "%+v", o)
	}
}
