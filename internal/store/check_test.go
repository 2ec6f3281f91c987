package store

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// filled makes a file of a few pages, closed.
func filled(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "abank.db")
	db, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	for i := range 200 {
		require.NoError(t, db.Update(func(tx *Tx) error { return tx.Put(Meta, []byte(fmt.Sprint(i)), make([]byte, 100)) }))
	}
	require.NoError(t, db.Close())
	return path
}

// scribble writes a page of random bytes over page pg of the file.
func scribble(t *testing.T, path string, pg int64, seed uint64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	r := rand.New(rand.NewPCG(seed, uint64(pg)))
	buf := make([]byte, os.Getpagesize())
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	_, err = f.WriteAt(buf, pg*int64(len(buf)))
	require.NoError(t, err)
}

// Random bytes over an early page are an error naming the file, not a
// panic (bbolt's own walk of the pages, in a goroutine of its own, killed
// the process with a stack trace).
func TestOpenCorruptFile(t *testing.T) {
	for _, pg := range []int64{2, 3, 4, 5} {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("page %d seed %d", pg, seed), func(t *testing.T) {
				path := filled(t)
				scribble(t, path, pg, seed)
				db, err := Open(path, Options{NoSync: true})
				if err == nil {
					// The page was free: the file is still sound.
					require.NoError(t, db.Close())
					res, err := Check(path)
					require.NoError(t, err)
					assert.True(t, res.OK(), "%v", res.Problems)
					return
				}
				assert.ErrorIs(t, err, ErrCorrupt)
				assert.ErrorContains(t, err, path)
				assert.ErrorContains(t, err, "restore the file from a backup")
			})
		}
	}
}

func TestOpenCorruptMetaPages(t *testing.T) {
	path := filled(t)
	scribble(t, path, 0, 1)
	scribble(t, path, 1, 1)
	_, err := Open(path, Options{NoSync: true})
	assert.ErrorIs(t, err, ErrCorrupt)
	assert.ErrorContains(t, err, path)
}

func TestCheck(t *testing.T) {
	path := filled(t)
	res, err := Check(path)
	require.NoError(t, err)
	assert.True(t, res.OK(), "%v", res.Problems)

	scribble(t, path, 3, 1)
	res, err = Check(path)
	require.NoError(t, err)
	assert.False(t, res.OK())
	t.Log(res.Problems)

	_, err = Check(filepath.Join(t.TempDir(), "none.db"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestCheckFileInUse(t *testing.T) {
	db := open(t, Options{NoSync: true})
	_, err := Check(db.Path())
	assert.ErrorIs(t, err, ErrInUse)
}
