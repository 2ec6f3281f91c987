package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/store/recordtest"
)

// Compact rewrites each file smaller where it had room to give back,
// with the same buckets, keys, values and sequences, mode 0600, checking
// clean; and the network starts on the files again.
func TestCompact(t *testing.T) {
	data := stoppedNetwork(t)
	// Room to give back: 8 MiB written to abank's file and deleted.
	file := filepath.Join(data, "abank.db")
	db, err := store.Open(file, store.Options{NoSync: true, Buckets: []store.Bucket{}})
	require.NoError(t, err)
	junk := make([]byte, 4096)
	for i := range 2048 {
		rand.Read(junk)
		require.NoError(t, db.Update(func(tx *store.Tx) error {
			return tx.Put(store.Meta, fmt.Appendf(nil, "junk/%05d", i), junk)
		}))
	}
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		for i := range 2048 {
			if err := tx.Delete(store.Meta, fmt.Appendf(nil, "junk/%05d", i)); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.Close())
	before := map[string]map[string]map[string]string{}
	paths, err := filepath.Glob(filepath.Join(data, "*.db"))
	require.NoError(t, err)
	for _, p := range paths {
		before[filepath.Base(p)] = recordtest.Dump(t, p)
	}

	var out bytes.Buffer
	res, err := Compact(t.Context(), &out, CompactOptions{DataDir: data})
	require.NoError(t, err, out.String())
	require.Len(t, res.Files, 6)
	for _, f := range res.Files {
		p := filepath.Join(data, f.File)
		assert.Equal(t, before[f.File], recordtest.Dump(t, p), "%s: the same data", f.File)
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), f.File)
		assert.Equal(t, fi.Size(), f.BytesAfter, f.File)
		assert.LessOrEqual(t, f.BytesAfter, f.BytesBefore, f.File)
		if f.File == "abank.db" {
			assert.Less(t, f.BytesAfter, f.BytesBefore-8<<20, "the junk's pages are given back")
		}
		assert.Contains(t, out.String(), fmt.Sprintf("%s: %d → %d bytes (", f.File, f.BytesBefore, f.BytesAfter))
	}
	assert.Contains(t, out.String(), "total: ")
	left, err := filepath.Glob(filepath.Join(data, "*.compact"))
	require.NoError(t, err)
	assert.Empty(t, left, "no copy is left behind")
	_, err = Check(t.Context(), &bytes.Buffer{}, CheckOptions{DataDir: data})
	require.NoError(t, err)

	out.Reset()
	_, err = Compact(t.Context(), &out, CompactOptions{DataDir: data, Output: JSON})
	require.NoError(t, err)
	var got CompactResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &got))
	assert.Len(t, got.Files, 6)

	netw := config.Default()
	netw.Heartbeat = 0
	nw, err := cluster.Up(cluster.UpOptions{Network: netw, DataDir: data, NoSync: true})
	require.NoError(t, err)
	require.NoError(t, nw.Close())
}

// Compact refuses a folder a running network holds, at once and without
// touching a file; and one that is not a data folder.
func TestCompactRefuses(t *testing.T) {
	data := t.TempDir()
	netw := config.Default()
	netw.Heartbeat = 0
	nw, err := cluster.Up(cluster.UpOptions{Network: netw, DataDir: data, NoSync: true})
	require.NoError(t, err)
	defer nw.Close()
	_, err = Compact(t.Context(), &bytes.Buffer{}, CompactOptions{DataDir: data})
	require.ErrorIs(t, err, cluster.ErrFolderInUse)
	assert.ErrorContains(t, err, "stop it")

	// A file held by a process that took no node lock (bbolt's own lock).
	other := t.TempDir()
	db, err := store.Open(filepath.Join(other, "x.db"), store.Options{NoSync: true})
	require.NoError(t, err)
	defer db.Close()
	_, err = Compact(t.Context(), &bytes.Buffer{}, CompactOptions{DataDir: other})
	require.ErrorIs(t, err, store.ErrInUse)

	_, err = Compact(t.Context(), &bytes.Buffer{}, CompactOptions{DataDir: t.TempDir()})
	assert.ErrorContains(t, err, "no node files (NAME.db)")
	_, err = Compact(t.Context(), &bytes.Buffer{}, CompactOptions{DataDir: data, Retain: -1})
	assert.ErrorContains(t, err, "negative")
}
