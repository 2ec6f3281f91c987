//go:build !linux

package e2e

import "os/exec"

// dieWithTest is a no-op where the kernel has no parent-death signal; the
// tests' Cleanup still kills what they start.
func dieWithTest(cmd *exec.Cmd) *exec.Cmd { return cmd }
