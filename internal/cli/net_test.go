package cli

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
)

// upDefault runs the default network (no heartbeat, fsync off) in a
// temporary data folder until the test ends, for the commands' tests to
// drive; it returns the folder and the network.
func upDefault(t *testing.T) (string, *cluster.Network) {
	t.Helper()
	data := t.TempDir()
	netw := config.Default()
	netw.Heartbeat = 0
	nw, err := cluster.Up(cluster.UpOptions{Network: netw, DataDir: data, NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { nw.Close() })
	return data, nw
}

// balanceOf is the balance of vpa's account, as upisim balance prints it.
func balanceOf(t *testing.T, data, vpa string) int64 {
	t.Helper()
	r, err := Balance(t.Context(), io.Discard, BalanceOptions{DataDir: data, VPA: vpa})
	require.NoError(t, err)
	return r.BalancePaise
}
