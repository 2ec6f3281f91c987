package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/upisim/upisim/internal/store"
)

// CheckOptions are the options of `upisim check`.
type CheckOptions struct {
	DataDir string
	Output  Output
}

// CheckFile is what `upisim check` found in one node's file.
type CheckFile struct {
	File string `json:"file"`
	OK   bool   `json:"ok"`
	// Problems are bbolt's consistency errors, or why the file could not
	// be read.
	Problems []string `json:"problems,omitempty"`
}

// CheckResult is what `upisim check` prints.
type CheckResult struct {
	DataDir string      `json:"data_dir"`
	Files   []CheckFile `json:"files"`
}

func (res CheckResult) print(w io.Writer) error {
	for _, f := range res.Files {
		if f.OK {
			fmt.Fprintf(w, "%s: ok\n", f.File)
			continue
		}
		fmt.Fprintf(w, "%s: %d problem(s)\n", f.File, len(f.Problems))
		for _, p := range f.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	return nil
}

// Check runs bbolt's consistency check on every node's file (NAME.db) in
// the data folder, which no running node may hold. The error says how many
// files have problems.
func Check(_ context.Context, w io.Writer, o CheckOptions) (CheckResult, error) {
	res := CheckResult{DataDir: o.DataDir}
	if o.DataDir == "" {
		return res, errors.New("missing --data")
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
	bad := 0
	for _, p := range paths {
		r, err := store.Check(p)
		f := CheckFile{File: filepath.Base(p), OK: err == nil && r.OK(), Problems: r.Problems}
		if err != nil {
			f.Problems = append(f.Problems, err.Error())
		}
		if !f.OK {
			bad++
		}
		res.Files = append(res.Files, f)
	}
	if err := o.Output.print(w, res, res.print); err != nil {
		return res, err
	}
	if bad > 0 {
		return res, fmt.Errorf("%d of %d files in %s have problems", bad, len(res.Files), o.DataDir)
	}
	return res, nil
}
