package cluster_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
)

// upIn starts the default network on data, OS-chosen ports.
func upIn(t *testing.T, data string) (*cluster.Network, error) {
	t.Helper()
	netw := config.Default()
	netw.Heartbeat = 0
	nw, err := cluster.Up(cluster.UpOptions{Network: netw, DataDir: data, NoSync: true})
	if err == nil {
		t.Cleanup(func() { nw.Close() })
	}
	return nw, err
}

func balance(t *testing.T, data, vpa string) int64 {
	t.Helper()
	r, err := cli.Balance(t.Context(), &bytes.Buffer{}, cli.BalanceOptions{DataDir: data, VPA: vpa})
	require.NoError(t, err)
	return r.BalancePaise
}

// A node whose file of an earlier run is missing or empty refuses to start
// instead of seeding a new one; restored, it has the balances it had.
func TestLostFileIsNotSeededAgain(t *testing.T) {
	data := t.TempDir()
	nw, err := upIn(t, data)
	require.NoError(t, err)
	opening := balance(t, data, "alice@alpha")
	r, err := cli.Pay(t.Context(), &bytes.Buffer{}, cli.PayOptions{DataDir: data, From: "alice@alpha", To: "bob@beta", Amount: "150.00", PIN: "1234", Timeout: 20 * time.Second})
	require.NoError(t, err)
	require.Equal(t, "SUCCESS", r.Status)
	after := balance(t, data, "alice@alpha")
	require.Equal(t, opening-15000, after)
	require.NoError(t, nw.Close())

	file := filepath.Join(data, "abank.db")
	saved, err := os.ReadFile(file)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		lose func()
		want string
	}{
		{"missing", func() { require.NoError(t, os.Remove(file)) }, "abank.db is missing"},
		{"empty", func() { require.NoError(t, os.WriteFile(file, nil, 0o600)) }, "abank.db is empty (0 bytes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.lose()
			_, err := upIn(t, data)
			require.ErrorIs(t, err, cluster.ErrDataMissing)
			assert.ErrorContains(t, err, "data folder "+data+" was used by an earlier network")
			assert.ErrorContains(t, err, tc.want)
			assert.ErrorContains(t, err, "restore it from a backup, or start with a new --data folder")
			fi, statErr := os.Stat(file)
			if statErr == nil {
				assert.Zero(t, fi.Size(), "nothing was seeded into the file")
			}
			assert.NoFileExists(t, filepath.Join(data, config.DirectoryFile))
		})
	}

	require.NoError(t, os.WriteFile(file, saved, 0o600))
	_, err = upIn(t, data)
	require.NoError(t, err, "restored, the network starts")
	assert.Equal(t, after, balance(t, data, "alice@alpha"), "with the balance it had, not the opening one")
}

// A second network on a folder in use stops at once with a message that
// says so, and leaves the running network (and its network.json) alone.
func TestSecondUpOnAFolderInUse(t *testing.T) {
	data := t.TempDir()
	_, err := upIn(t, data)
	require.NoError(t, err)
	dir := filepath.Join(data, config.DirectoryFile)
	before, err := os.ReadFile(dir)
	require.NoError(t, err)

	start := time.Now()
	_, err = upIn(t, data)
	require.ErrorIs(t, err, cluster.ErrFolderInUse)
	assert.Less(t, time.Since(start), time.Second, "it does not wait for a lock")
	assert.ErrorContains(t, err, "data folder "+data+" is in use by another process")
	assert.Regexp(t, `^another upisim holds `+regexp.QuoteMeta(data)+` \([a-z]+\.lock: pid `+strconv.Itoa(os.Getpid())+`\)`, err.Error(),
		"it names the lock file and the process that holds it")

	now, err := os.ReadFile(dir)
	require.NoError(t, err, "the running network's network.json is still there")
	assert.Equal(t, before, now)
	assert.Positive(t, balance(t, data, "alice@alpha"), "the running network still answers")
}

// A node in a folder shared with nodes of the same network seeds its own
// new file: the rules are per node.
func TestNewNodeInASharedFolderSeeds(t *testing.T) {
	data := t.TempDir()
	netw := config.Default()
	netw.Heartbeat = 0
	netw.AssignAddrs(0)
	for _, name := range []string{"abank", "bbank"} {
		n, err := cluster.StartNode(cluster.NodeOptions{Network: netw, Name: name, DataDir: data, NoSync: true})
		require.NoError(t, err)
		require.NoError(t, n.Close())
		assert.FileExists(t, filepath.Join(data, name+".seeded"))
	}
	// The same node twice in one folder: the second is refused.
	n, err := cluster.StartNode(cluster.NodeOptions{Network: netw, Name: "abank", DataDir: data, NoSync: true})
	require.NoError(t, err)
	defer n.Close()
	_, err = cluster.StartNode(cluster.NodeOptions{Network: netw, Name: "abank", DataDir: data, NoSync: true})
	assert.ErrorIs(t, err, cluster.ErrFolderInUse)
}
