package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"regexp"
	"sort"
	"testing"

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
		"p50_ms", "p99_ms", "ratio", "seconds", "success"}, keys)
	assert.Equal(t, 40, res.Success, out.String())
	assert.Positive(t, res.EchoPerS)
	assert.InDelta(t, res.FlowsPerSec*MessagesPerFlow/res.EchoPerS, res.Ratio, 1e-9)
	assert.InDelta(t, float64(storeBytes(data)-disk0)/40, res.DiskBytesPerFlow, 1e-9, "the files' growth over the flows")
	assert.Equal(t, alice0, bal("alice@alpha"))
	assert.Equal(t, bob0, bal("bob@beta"))

	o.Output, o.Flows = Text, 10
	out.Reset()
	_, err = Bench(t.Context(), &out, o)
	require.NoError(t, err, out.String())
	assert.Regexp(t, regexp.MustCompile(`^10 flows at concurrency 8 in [0-9.]+s: [0-9]+ flows/s, p50 [0-9.]+ ms, p99 [0-9.]+ ms, 10 succeeded
on disk: -?[0-9]+ bytes a flow \(the nodes' files grew -?[0-9.]+ MB\)
baseline: [0-9]+ unary gRPC echo calls/s on loopback at concurrency 8; flows/s × 14 is [0-9.]+ of it
$`), out.String())
}
