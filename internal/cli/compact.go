package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// CompactOptions are the options of `upisim compact`.
type CompactOptions struct {
	DataDir string
	// Retain, if positive, first prunes each file as a node with
	// --retain does (node.PruneStore), at the time Compact runs.
	Retain time.Duration
	Output Output
	// now is the time pruning goes by; time.Now when nil (tests).
	now func() time.Time
}

// CompactFile is what `upisim compact` did to one node's file.
type CompactFile struct {
	File        string `json:"file"`
	BytesBefore int64  `json:"bytes_before"`
	BytesAfter  int64  `json:"bytes_after"`
	// PrunedTxns and PrunedMessages are what --retain dropped.
	PrunedTxns     int `json:"pruned_txns,omitempty"`
	PrunedMessages int `json:"pruned_messages,omitempty"`
}

// CompactResult is what `upisim compact` prints.
type CompactResult struct {
	DataDir string        `json:"data_dir"`
	Files   []CompactFile `json:"files"`
}

func (res CompactResult) print(w io.Writer) error {
	var before, after int64
	for _, f := range res.Files {
		fmt.Fprintf(w, "%s: %d → %d bytes (%s)", f.File, f.BytesBefore, f.BytesAfter, shrunk(f.BytesBefore, f.BytesAfter))
		if f.PrunedMessages > 0 {
			fmt.Fprintf(w, ", %d messages of %d transactions pruned", f.PrunedMessages, f.PrunedTxns)
		}
		fmt.Fprintln(w)
		before += f.BytesBefore
		after += f.BytesAfter
	}
	fmt.Fprintf(w, "total: %d → %d bytes (%s)\n", before, after, shrunk(before, after))
	return nil
}

// shrunk says by how much a file of before bytes shrank to after.
func shrunk(before, after int64) string {
	if before <= 0 {
		return "empty"
	}
	return fmt.Sprintf("%.0f%% smaller", 100*float64(before-after)/float64(before))
}

// Compact rewrites every node's file (NAME.db) in the data folder with
// bbolt's compaction (store.Compact), which gives back the pages the file
// no longer uses, after pruning it under Retain if that is set. It is
// offline: it holds each node's lock (NAME.lock) while it works on its
// file, and a running node, which holds the lock and the file, makes it
// fail at once and leaves the files it did not reach as they were.
func Compact(_ context.Context, w io.Writer, o CompactOptions) (CompactResult, error) {
	res := CompactResult{DataDir: o.DataDir}
	if o.DataDir == "" {
		return res, errors.New("missing --data")
	}
	if o.Retain < 0 {
		return res, fmt.Errorf("--retain %s is negative", o.Retain)
	}
	if _, err := os.Stat(o.DataDir); err != nil {
		return res, fmt.Errorf("data folder: %w", err)
	}
	paths, err := filepath.Glob(filepath.Join(o.DataDir, "*.db"))
	if err != nil {
		return res, err
	}
	if len(paths) == 0 {
		return res, fmt.Errorf("no node files (NAME.db) in data folder %s", o.DataDir)
	}
	slices.Sort(paths)
	now := time.Now
	if o.now != nil {
		now = o.now
	}
	for _, p := range paths {
		f, err := compactFile(o.DataDir, p, o.Retain, now())
		if err != nil {
			return res, err
		}
		res.Files = append(res.Files, f)
	}
	return res, o.Output.print(w, res, res.print)
}

// compactFile prunes (when retain is set) and compacts one node's file,
// holding the node's lock.
func compactFile(dir, path string, retain time.Duration, now time.Time) (CompactFile, error) {
	f := CompactFile{File: filepath.Base(path)}
	release, err := cluster.LockNode(dir, strings.TrimSuffix(f.File, ".db"))
	if err != nil {
		return f, err
	}
	defer release()
	fi, err := os.Stat(path)
	if err != nil {
		return f, err
	}
	if retain > 0 {
		st, err := pruneFile(path, retain, now)
		if err != nil {
			return f, err
		}
		f.PrunedTxns, f.PrunedMessages = st.Txns, st.Messages
	}
	r, err := store.Compact(path)
	if err != nil {
		return f, err
	}
	f.BytesBefore, f.BytesAfter = fi.Size(), r.BytesAfter
	return f, nil
}

// pruneFile opens the file (adding no bucket: the runtime's are there
// already) and prunes it.
func pruneFile(path string, retain time.Duration, now time.Time) (node.PruneStats, error) {
	db, err := store.Open(path, store.Options{Buckets: []store.Bucket{}})
	if err != nil {
		return node.PruneStats{}, err
	}
	st, err := node.PruneStore(db, now, retain)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return st, fmt.Errorf("prune %s: %w", path, err)
	}
	return st, nil
}
