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

// TestBenchCircle runs bench circle against the default network: the
// setup links carol@beta to alice@alpha (full, the network's monthly
// limit), every delegated payment SUCCESS, alice's account paid for them
// all and chai's credited; a second run reuses the link and prints text
// with a progress line; a link bench circle cannot use, a wrong PIN and
// bad flags are errors that say why.
func TestBenchCircle(t *testing.T) {
	data, _ := upDefault(t)
	bal := func(vpa string) int64 { return balanceOf(t, data, vpa) }
	alice0, chai0, carol0 := bal("alice@alpha"), bal("chai@beta"), bal("carol@beta")
	o := BenchCircleOptions{DataDir: data, Flows: 20, Concurrency: 4, Primary: "alice@alpha", Secondary: "carol@beta",
		To: "chai@beta", PIN: "1234", Amount: "0.10", EchoCalls: 200, Output: JSON}

	var out bytes.Buffer
	res, err := BenchCircle(t.Context(), &out, o)
	require.NoError(t, err, out.String())
	var got map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	assert.Equal(t, []string{"concurrency", "disk_bytes_per_flow", "echo_calls_per_s", "failed", "flows", "flows_per_s",
		"link_id", "max_ms", "messages_per_flow", "new_link", "p50_ms", "p90_ms", "p99_9_ms", "p99_ms", "ratio", "remaining_paise", "seconds", "setup_seconds", "success"}, keys)
	assert.Equal(t, 20, res.Success, "every delegated payment SUCCESS: %s", out.String())
	assert.Empty(t, res.Failed)
	assert.True(t, res.NewLink, "carol had no link: the setup made one")
	// PSP(P) counts a payment when its RespPay comes, which may be just
	// after the app has the final status: the run's count may lag.
	assert.LessOrEqual(t, res.RemainingPaise, int64(15_000_00), "the network's monthly limit, less the run's payments")
	assert.GreaterOrEqual(t, res.RemainingPaise, int64(15_000_00-20*10))
	assert.Positive(t, res.FlowsPerSec)
	assert.Positive(t, res.EchoPerS)
	assert.Equal(t, DelegatedMessagesPerFlow, res.MessagesPerFlow)
	assert.InDelta(t, res.FlowsPerSec*DelegatedMessagesPerFlow/res.EchoPerS, res.Ratio, 1e-9)
	assert.GreaterOrEqual(t, res.P99Ms, res.P50Ms)
	assert.Positive(t, res.P50Ms)
	assert.Equal(t, alice0-20*10, bal("alice@alpha"), "the primary's account paid")
	assert.Equal(t, chai0+20*10, bal("chai@beta"))
	assert.Equal(t, carol0, bal("carol@beta"), "the secondary's own account is not touched")
	link := res.LinkID
	var shown LinkResult
	require.Eventually(t, func() bool {
		shown, err = CircleShow(t.Context(), io.Discard, CircleRefOptions{DataDir: data, LinkID: link})
		return err == nil && shown.UsedPaise == 20*10
	}, 10*time.Second, 10*time.Millisecond, "PSP(P) counts the run's payments on the link: %+v, %v", shown, err)
	assert.Equal(t, "LINKED", shown.Status)
	assert.Equal(t, "FULL", shown.Mode)

	// Text, a second run: the same link, no baseline, a progress line on
	// the "terminal".
	o.Output, o.Flows, o.EchoCalls = Text, 6, 0
	var prog syncBuf
	ticks := make(chan time.Time, 1)
	ticks <- time.Now().Add(time.Second)
	o.Progress, o.ticks = &prog, ticks
	out.Reset()
	res, err = BenchCircle(t.Context(), &out, o)
	require.NoError(t, err, out.String())
	assert.Equal(t, 6, res.Success)
	assert.False(t, res.NewLink)
	assert.Equal(t, link, res.LinkID)
	assert.Regexp(t, regexp.MustCompile(`^6 delegated flows at concurrency 4 in [0-9.]+s: [0-9]+ flows/s, p50 [0-9.]+ ms, p99 [0-9.]+ ms, 6 succeeded
on disk: -?[0-9]+ bytes a flow \(the nodes' files grew -?[0-9.]+ MB\)
setup: link `+link+` of alice@alpha for carol@beta reused in [0-9.]+s \(not timed\); ₹14,99[78]\.[0-9]{2} of its limit left this month
$`), out.String())
	assert.True(t, strings.HasSuffix(prog.String(), "\r\033[K"), "the progress line is cleared: %q", prog.String())
	assert.Equal(t, alice0-26*10, bal("alice@alpha"))

	// carol's link is alice's: bench circle will not use it for another
	// primary, and says how to go on.
	bad := o
	bad.Primary = "bob@beta"
	_, err = BenchCircle(t.Context(), io.Discard, bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "carol@beta has circle link "+link)
	assert.Contains(t, err.Error(), "upisim circle remove "+link)

	// A new link with a wrong PIN: the remitter declines the mandate, the
	// link FAILED ZM, no payment made.
	bad = o
	bad.Secondary, bad.PIN = "bob@beta", "9999"
	_, err = BenchCircle(t.Context(), io.Discard, bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "FAILED ZM")
	assert.Equal(t, alice0-26*10, bal("alice@alpha"))
}

func TestBenchCircleArguments(t *testing.T) {
	ok := BenchCircleOptions{Flows: 10, Concurrency: 2, Primary: "alice@alpha", Secondary: "carol@beta", To: "chai@beta", PIN: "1234", Amount: "0.10"}
	for _, c := range []struct {
		edit func(*BenchCircleOptions)
		want string
	}{
		{func(o *BenchCircleOptions) { o.Flows = 0 }, "--flows and --concurrency must be positive"},
		{func(o *BenchCircleOptions) { o.Concurrency = -1 }, "--flows and --concurrency must be positive"},
		{func(o *BenchCircleOptions) { o.EchoCalls = -1 }, "--echo-calls"},
		{func(o *BenchCircleOptions) { o.Amount = "abc" }, "--amount"},
		{func(o *BenchCircleOptions) { o.Amount = "0" }, "--amount"},
		{func(o *BenchCircleOptions) { o.Secondary = "carol" }, "--secondary"},
		{func(o *BenchCircleOptions) { o.To = "carol@beta" }, "the same VPA"},
		{func(o *BenchCircleOptions) { o.Primary = "carol@beta" }, "--primary and --secondary are both"},
		{func(o *BenchCircleOptions) { o.Limit = "0.50" }, "above --limit"},
		{func(o *BenchCircleOptions) { o.Limit = "x" }, "--limit"},
	} {
		o := ok
		c.edit(&o)
		_, err := BenchCircle(t.Context(), io.Discard, o)
		if assert.Error(t, err, "%+v", o) {
			assert.Contains(t, err.Error(), c.want)
		}
	}
}
