package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// compactTxSize bounds the bytes of keys and values one transaction of
// Compact's copy writes, so a large file is copied without holding it all
// in memory.
const compactTxSize = 64 << 20

// compactAllocSize is how much the copy's file grows at a time. bbolt's
// default (16 MiB) would round a small node's file up to the next 16 MiB.
const compactAllocSize = 1 << 20

// CompactResult is what Compact did to a file.
type CompactResult struct {
	// BytesBefore and BytesAfter are the file's sizes.
	BytesBefore, BytesAfter int64
}

// Compact rewrites the bbolt file at path with bbolt's compaction
// (bolt.Compact: every bucket, key, value and bucket sequence copied into
// a new file, pages filled), which gives back the pages the file no longer
// uses: bbolt never shrinks a file by itself. The copy is written to
// path.compact beside it, checked (Check), synced, given the file's mode
// and renamed over it, so a crash leaves either the old file or the new
// one, never half of one.
//
// No process may hold the file: one that does (a running node) makes it
// ErrInUse after a short wait. The caller keeps a node from opening the
// file meanwhile (cluster.LockNode).
func Compact(path string) (CompactResult, error) {
	var res CompactResult
	fi, err := os.Stat(path)
	if err != nil {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	res.BytesBefore = fi.Size()
	if err := verify(path); err != nil {
		return res, openError(path, err)
	}
	var src *bolt.DB
	err = safely(func() (err error) {
		src, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: openTimeout})
		return err
	})
	if err != nil {
		return res, openError(path, err)
	}
	defer src.Close()
	tmp := path + ".compact"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("store: compact %s: remove an earlier copy: %w", path, err)
	}
	if err := copyCompact(tmp, src, fi.Mode().Perm()); err != nil {
		os.Remove(tmp)
		return res, fmt.Errorf("store: compact %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return res, fmt.Errorf("store: compact %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return res, fmt.Errorf("store: compact %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil {
		res.BytesAfter = fi.Size()
	}
	return res, nil
}

// copyCompact writes src's compacted copy to the new file tmp with mode
// perm, checks it and syncs it to disk.
func copyCompact(tmp string, src *bolt.DB, perm os.FileMode) error {
	dst, err := bolt.Open(tmp, perm, &bolt.Options{NoSync: true, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return err
	}
	dst.AllocSize = compactAllocSize
	err = safely(func() error { return bolt.Compact(dst, src, compactTxSize) })
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	r, err := Check(tmp)
	if err != nil {
		return fmt.Errorf("check the copy: %w", err)
	}
	if !r.OK() {
		return fmt.Errorf("the copy has %d problem(s): %v", len(r.Problems), r.Problems)
	}
	if err := os.Chmod(tmp, perm); err != nil { // bbolt's mode is masked by umask
		return err
	}
	f, err := os.Open(tmp)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
