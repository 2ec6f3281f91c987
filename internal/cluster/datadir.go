package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A data folder holds, for each node that runs there, NAME.db (its bbolt
// file), NAME.lock (held while the node runs) and NAME.seeded (written
// once the node has seeded NAME.db from the network file). Nodes of one
// network may share a folder (`upisim node` processes) or use one each.
//
// The rules, so that a lost file is never silently replaced by a freshly
// seeded one (Alice back at her opening balance, the bank's history gone):
//   - a node seeds only a file it creates: NAME.db missing or empty and no
//     NAME.seeded. With NAME.seeded present, a missing or empty NAME.db is
//     an error that says so;
//   - a node runs only while it holds NAME.lock (an exclusive flock, which
//     the kernel drops when the process ends), taken before anything else,
//     so a second process on the same folder stops at once and says the
//     folder is in use, and touches nothing.

// seededSuffix and lockSuffix name a node's marker and lock files.
const (
	seededSuffix = ".seeded"
	lockSuffix   = ".lock"
)

// ErrDataMissing is the error of StartNode when the node's bbolt file of
// an earlier run is missing or empty.
var ErrDataMissing = errors.New("data missing")

// ErrFolderInUse is the error of StartNode and Up when another process
// runs the node on the same data folder.
var ErrFolderInUse = errors.New("in use by another process")

// nodeLock is a held NAME.lock.
type nodeLock struct{ f *os.File }

// lockNode takes the node's lock in dir, or fails at once with
// ErrFolderInUse naming the process that holds it.
func lockNode(dir, name string) (*nodeLock, error) {
	path := filepath.Join(dir, name+lockSuffix)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: lock %s: %w", name, path, err)
	}
	if !held {
		owner, _ := os.ReadFile(path)
		f.Close()
		pid := strings.TrimSpace(string(owner))
		if pid == "" {
			pid = "unknown"
		}
		return nil, fmt.Errorf("another upisim holds %s (%s: pid %s): data folder %s is %w (it runs node %s there); stop it, or use another --data folder",
			dir, name+lockSuffix, pid, dir, ErrFolderInUse, name)
	}
	// Say who holds it, for the next one's message.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &nodeLock{f: f}, nil
}

// release drops the lock. The file stays: removing it would let another
// process lock a new file of the same name while a third still holds the
// old one.
func (l *nodeLock) release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// checkSeeded refuses to start a node whose file of an earlier run is
// missing or empty: starting would seed a new one.
func checkSeeded(dir, name string) error {
	marker := filepath.Join(dir, name+seededSuffix)
	if _, err := os.Stat(marker); errors.Is(err, fs.ErrNotExist) {
		return nil // never seeded here: a new node, it may seed
	} else if err != nil {
		return err
	}
	file := name + ".db"
	what := "missing"
	if fi, err := os.Stat(filepath.Join(dir, file)); err == nil {
		if fi.Size() > 0 {
			return nil
		}
		what = "empty (0 bytes)"
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return dataMissing(fmt.Sprintf("data folder %s was used by an earlier network (node %s was seeded there, see %s), but %s is %s; restore it from a backup, or start with a new --data folder",
		dir, name, marker, file, what))
}

// dataMissing is an ErrDataMissing with its whole message.
type dataMissing string

func (e dataMissing) Error() string        { return string(e) }
func (e dataMissing) Is(target error) bool { return target == ErrDataMissing }

// markSeeded writes the node's NAME.seeded, once its file is seeded, and
// syncs it and the folder, so a later start can tell a lost file from a
// new node.
func markSeeded(dir, name, network string) error {
	marker := filepath.Join(dir, name+seededSuffix)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	body := fmt.Sprintf("node %s of network %q seeded %s.db here on %s.\n"+
		"While this file exists, the node refuses to start without %s.db\n"+
		"instead of seeding a new one.\n", name, network, name, time.Now().UTC().Format(time.RFC3339), name)
	tmp := marker + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, marker)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: mark seeded: %w", name, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// LockNode takes node name's lock in dir as a running node does, for an
// offline tool that rewrites the node's file (`upisim compact`): while it
// is held no node starts on the file, and a running node makes it fail at
// once with ErrFolderInUse. release drops it.
func LockNode(dir, name string) (release func(), err error) {
	l, err := lockNode(dir, name)
	if err != nil {
		return nil, err
	}
	return l.release, nil
}
