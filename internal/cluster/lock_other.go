//go:build !unix

package cluster

import "os"

// tryLock does not lock where flock is missing; bbolt's own lock on the
// node's file still keeps a second process out (store.ErrInUse).
func tryLock(*os.File) (bool, error) { return true, nil }
