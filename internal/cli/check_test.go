package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
)

// stoppedNetwork runs the default network once in a new folder and stops
// it, leaving its six files.
func stoppedNetwork(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	netw := config.Default()
	netw.Heartbeat = 0
	nw, err := cluster.Up(cluster.UpOptions{Network: netw, DataDir: data, NoSync: true})
	require.NoError(t, err)
	require.NoError(t, nw.Close())
	return data
}

func TestCheck(t *testing.T) {
	data := stoppedNetwork(t)
	var out bytes.Buffer
	res, err := Check(t.Context(), &out, CheckOptions{DataDir: data})
	require.NoError(t, err, out.String())
	assert.Len(t, res.Files, 6)
	assert.Contains(t, out.String(), "abank.db: ok\n")
	assert.Contains(t, out.String(), "npci.db: ok\n")

	// Junk over the early pages of one file, after its two meta pages.
	f, err := os.OpenFile(filepath.Join(data, "abank.db"), os.O_RDWR, 0)
	require.NoError(t, err)
	fi, err := f.Stat()
	require.NoError(t, err)
	page := int64(os.Getpagesize())
	junk := bytes.Repeat([]byte{0xa5, 0x17, 0xe3, 0x5c}, int(min(fi.Size()-2*page, 6*page))/4)
	_, err = f.WriteAt(junk, 2*page)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	out.Reset()
	_, err = Check(t.Context(), &out, CheckOptions{DataDir: data})
	assert.ErrorContains(t, err, "1 of 6 files in "+data+" have problems")
	assert.Contains(t, out.String(), "abank.db: 1 problem(s)\n  ")
	assert.Contains(t, out.String(), "bbank.db: ok\n")

	out.Reset()
	_, err = Check(t.Context(), &out, CheckOptions{DataDir: data, Output: JSON})
	require.Error(t, err)
	var got CheckResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &got))
	for _, f := range got.Files {
		assert.Equal(t, f.File != "abank.db", f.OK, f.File)
	}

	// Starting the network on it names the file instead of panicking.
	netw := config.Default()
	netw.Heartbeat = 0
	_, err = cluster.Up(cluster.UpOptions{Network: netw, DataDir: data, NoSync: true})
	assert.ErrorContains(t, err, filepath.Join(data, "abank.db")+": corrupt")
	assert.NoFileExists(t, filepath.Join(data, config.DirectoryFile))
}

func TestCheckRefusesARunningNetwork(t *testing.T) {
	data := t.TempDir()
	netw := config.Default()
	netw.Heartbeat = 0
	nw, err := cluster.Up(cluster.UpOptions{Network: netw, DataDir: data, NoSync: true})
	require.NoError(t, err)
	defer nw.Close()
	_, err = Check(t.Context(), &bytes.Buffer{}, CheckOptions{DataDir: data})
	assert.ErrorContains(t, err, "6 of 6 files")
}

func TestCheckEmptyFolder(t *testing.T) {
	_, err := Check(t.Context(), &bytes.Buffer{}, CheckOptions{DataDir: t.TempDir()})
	assert.ErrorContains(t, err, "no node files")
}
