package cluster_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/node"
)

// A network whose nodes keep traces for a nanosecond (their pruners drop
// every transaction the moment nothing is outstanding for it) pays as any
// other: successes, a wrong PIN, an unknown payee. Afterwards every trace
// says it was dropped, `upisim audit` finds nothing wrong, and the
// balances and transactions are those the payments made; after `upisim
// compact` too, whose files check clean and restart.
func TestRetentionKeepsTheNetworkCorrect(t *testing.T) {
	data := t.TempDir()
	netw := config.Default()
	netw.Heartbeat = 0
	netw.PIN.HashTime, netw.PIN.HashMemoryKiB = 1, 64
	nw, err := cluster.Up(cluster.UpOptions{Network: netw, DataDir: data, NoSync: true, Retain: time.Nanosecond})
	require.NoError(t, err)
	closed := false
	t.Cleanup(func() {
		if !closed {
			nw.Close()
		}
	})
	alice, bob := balance(t, data, "alice@alpha"), balance(t, data, "bob@beta")
	pay := func(from, to, amount, pin string) cli.TxnResult {
		t.Helper()
		r, err := cli.Pay(t.Context(), &bytes.Buffer{}, cli.PayOptions{DataDir: data, From: from, To: to, Amount: amount, PIN: pin, Timeout: 20 * time.Second})
		require.NoError(t, err)
		return r
	}
	var paid []cli.TxnResult
	for range 5 {
		r := pay("alice@alpha", "bob@beta", "10.00", "1234")
		require.Equal(t, "SUCCESS", r.Status)
		paid = append(paid, r)
	}
	wrongPIN := pay("alice@alpha", "bob@beta", "10.00", "9999")
	assert.Equal(t, "ZM", wrongPIN.ErrCode)
	unknown := pay("alice@alpha", "nobody@beta", "10.00", "1234")
	assert.Equal(t, "U29", unknown.ErrCode)

	// The background pruners work on their own; what they have not
	// dropped yet goes now.
	for _, n := range nw.Nodes {
		require.Eventually(t, func() bool { return n.Node.Pruned() > 0 }, 10*time.Second, 5*time.Millisecond,
			"%s's pruner", n.Name)
	}
	for _, n := range nw.Nodes {
		require.Eventually(t, func() bool {
			out, err := n.Node.OutboxLen()
			require.NoError(t, err)
			return out == 0
		}, 10*time.Second, 5*time.Millisecond, "%s's outbox", n.Name)
		_, err := n.Node.Prune()
		require.NoError(t, err)
		assert.Positive(t, n.Node.Pruned(), n.Name)
	}
	c, err := cli.Connect(data)
	require.NoError(t, err)
	defer c.Close()
	for _, r := range append(paid, wrongPIN) {
		tr, err := cli.CollectTrace(t.Context(), c, r.TxnID)
		require.NoError(t, err)
		require.NotEmpty(t, tr.Messages)
		for _, m := range tr.Messages {
			assert.Equal(t, node.PrunedAPI, m.API, "%s at %s: %s %s", r.TxnID, m.Node, m.Direction, m.API)
		}
	}
	var text bytes.Buffer
	_, err = cli.Trace(t.Context(), &text, cli.TraceOptions{DataDir: data, TxnID: paid[0].TxnID})
	require.NoError(t, err)
	assert.Contains(t, text.String(), "npci: retention: ")
	assert.Contains(t, text.String(), "were dropped at")

	audited := func(stage string) {
		t.Helper()
		var out bytes.Buffer
		res, err := cli.Audit(t.Context(), &out, cli.AuditOptions{DataDir: data})
		require.NoError(t, err, "%s: %s", stage, out.String())
		assert.True(t, res.OK, "%s: %+v", stage, res.Violations)
		assert.Equal(t, 7, res.Transactions, stage)
		assert.Equal(t, alice-5000, balance(t, data, "alice@alpha"), stage)
		assert.Equal(t, bob+5000, balance(t, data, "bob@beta"), stage)
		for _, r := range paid {
			got, err := cli.Txn(t.Context(), &bytes.Buffer{}, cli.TxnOptions{DataDir: data, TxnID: r.TxnID})
			require.NoError(t, err, stage)
			assert.Equal(t, r, got, stage)
		}
	}
	audited("pruned")

	// The network goes on paying (and pruning).
	r := pay("bob@beta", "alice@alpha", "1.00", "1234")
	require.Equal(t, "SUCCESS", r.Status)
	r = pay("alice@alpha", "bob@beta", "1.00", "1234")
	require.Equal(t, "SUCCESS", r.Status)
	require.NoError(t, nw.Close())
	closed = true

	var out bytes.Buffer
	res, err := cli.Compact(t.Context(), &out, cli.CompactOptions{DataDir: data, Retain: time.Nanosecond})
	require.NoError(t, err, out.String())
	require.Len(t, res.Files, 6)
	var before, after int64
	for _, f := range res.Files {
		assert.LessOrEqual(t, f.BytesAfter, f.BytesBefore, f.File)
		before, after = before+f.BytesBefore, after+f.BytesAfter
	}
	assert.Less(t, after, before)
	assert.Contains(t, out.String(), "npci.db: ")
	_, err = cli.Check(t.Context(), &bytes.Buffer{}, cli.CheckOptions{DataDir: data})
	require.NoError(t, err)

	nw, err = cluster.Up(cluster.UpOptions{Network: netw, DataDir: data, NoSync: true})
	require.NoError(t, err)
	closed = false
	out.Reset()
	res2, err := cli.Audit(t.Context(), &out, cli.AuditOptions{DataDir: data})
	require.NoError(t, err, out.String())
	assert.True(t, res2.OK, "%+v", res2.Violations)
	assert.Equal(t, 9, res2.Transactions)
	assert.Equal(t, alice-5000, balance(t, data, "alice@alpha"))
	assert.Equal(t, bob+5000, balance(t, data, "bob@beta"))
	sw, ok := nw.Node("npci")
	require.True(t, ok)
	recs, err := sw.Node.Trace(paid[0].TxnID)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.True(t, strings.HasPrefix(recs[0].GetNote(), "retention: "), recs[0].GetNote())
	assert.Equal(t, upiv1.TraceRecord_DIRECTION_UNSPECIFIED, recs[0].GetDirection())
}
