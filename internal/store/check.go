package store

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrInUse is the error of Open and Check on a file another process has
// open (bbolt locks the file while it is open for writing).
var ErrInUse = errors.New("in use by another process")

// ErrCorrupt is the error of Open on a file whose pages bbolt cannot read.
var ErrCorrupt = errors.New("corrupt")

// openTimeout is how long Open waits for another process's lock on the
// file before it gives up with ErrInUse.
const openTimeout = 2 * time.Second

// openError names path and says what is wrong in err, a bbolt open error.
func openError(path string, err error) error {
	switch {
	case errors.Is(err, bolt.ErrTimeout):
		return fmt.Errorf("store: open %s: %w (a running node holds it; stop it first)", path, ErrInUse)
	case errors.Is(err, ErrCorrupt):
		return fmt.Errorf("store: open %s: %w; restore the file from a backup or start with a new data folder (`upisim check` shows what is wrong)", path, err)
	case errors.Is(err, bolt.ErrInvalid), errors.Is(err, bolt.ErrChecksum), errors.Is(err, bolt.ErrVersionMismatch):
		return fmt.Errorf("store: open %s: %w: %w; restore the file from a backup or start with a new data folder", path, ErrCorrupt, err)
	}
	return fmt.Errorf("store: open %s: %w", path, err)
}

// safely runs fn, turning a panic (or a fault reading the memory-mapped
// file) into an ErrCorrupt error. bbolt panics on pages that do not hold
// what their parents say, instead of returning an error.
func safely(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, p)
		}
	}()
	return fn()
}

// verify reads every page of the bbolt file at path, when it has any, in
// this goroutine, so that a corrupt page is an error rather than a panic.
// bolt.Open of a file without a synced freelist (Options.NoFreelistSync)
// walks every page to rebuild the freelist in a goroutine of its own,
// where bbolt's panic on a corrupt page cannot be recovered and kills the
// process with a stack trace; verify walks them first. It costs one more
// read of the file, which that walk makes anyway.
func verify(path string) error {
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		return nil // bolt.Open creates or initializes it
	}
	var b *bolt.DB
	err := safely(func() (err error) {
		b, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: openTimeout})
		return err
	})
	if err != nil {
		return err
	}
	defer b.Close()
	return b.View(func(tx *bolt.Tx) error { return safely(func() error { return walk(tx) }) })
}

// walk visits every key of every bucket of tx, so every branch and leaf
// page.
func walk(tx *bolt.Tx) error {
	return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walkBucket(b) })
}

func walkBucket(b *bolt.Bucket) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				if err := walkBucket(nb); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// CheckResult is what Check found in one file.
type CheckResult struct {
	Path string
	// Problems are bbolt's consistency errors (tx.Check) or the reason the
	// file cannot be read at all; empty when the file is sound.
	Problems []string
}

// OK reports whether the file is sound.
func (r CheckResult) OK() bool { return len(r.Problems) == 0 }

// maxProblems caps the problems Check reports for one file.
const maxProblems = 100

// Check runs bbolt's consistency check (tx.Check: every page reachable
// once, freed or in use, keys in order) on the file at path, read-only.
// The error is for a file Check could not look at: missing, or in use by a
// running node (ErrInUse); a file bbolt cannot open or read is a result
// with that problem.
func Check(path string) (CheckResult, error) {
	res := CheckResult{Path: path}
	if _, err := os.Stat(path); err != nil {
		return res, err
	}
	var b *bolt.DB
	err := safely(func() (err error) {
		b, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
		return err
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return res, fmt.Errorf("store: check %s: %w (stop the network first)", path, ErrInUse)
	}
	if err != nil {
		res.Problems = append(res.Problems, err.Error())
		return res, nil
	}
	defer b.Close()
	err = b.View(func(tx *bolt.Tx) error {
		// Walk first, in this goroutine: tx.Check rebuilds the freelist
		// in a goroutine where a corrupt page panics beyond recovery.
		if err := safely(func() error { return walk(tx) }); err != nil {
			return err
		}
		for err := range tx.Check() {
			if len(res.Problems) < maxProblems {
				res.Problems = append(res.Problems, err.Error())
			}
		}
		return nil
	})
	if err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	return res, nil
}
