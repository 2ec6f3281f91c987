package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPromtoolCheckMetrics runs the real `promtool check metrics` (from
// Debian's prometheus package, which .ci/run installs) on every node's
// /metrics after a payment, so the payment's counters and histograms are
// there: any complaint of promtool fails the test. Where promtool is
// missing the test skips with how to install it, except under CI=true,
// where a missing promtool is a failure.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found: .ci/run installs it (apt-get install prometheus)")
		}
		t.Skip("promtool not found: install it with `apt-get install prometheus` (Debian ships /usr/bin/promtool)")
	}
	n := up(t, nil)
	r := n.pay("alice@alpha", "bob@beta", "12.00", "1234")
	require.Equal(t, "SUCCESS", r.Status)

	for _, nd := range n.c.Dir.Nodes {
		mfs, body := scrapeMetrics(t, nd.HTTPAddr)
		require.NotEmpty(t, mfs["upisim_messages_sent_total"].GetMetric(), "%s: the scrape has the payment's message counters", nd.Name)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		out, err := cmd.CombinedOutput()
		cancel()
		require.NoError(t, err, "promtool check metrics on %s's /metrics: %s", nd.Name, out)
		require.Empty(t, bytes.TrimSpace(out), "promtool check metrics on %s's /metrics has complaints", nd.Name)
	}
}
