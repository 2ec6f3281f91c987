// Package npmtest gives tests the npm packages they check upisim with
// (the standardwebhooks library, the OpenAPI linters): each test folder
// has a package.json and package-lock.json, and CI runs `npm ci` in it
// (.ci/run). Tests elsewhere get a temporary copy with the locked
// versions installed.
package npmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Missing names the first of node and npm that is not installed, or "".
func Missing() string {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool
		}
	}
	return ""
}

// Dir is a folder with src's npm packages installed: src itself when
// src/node_modules/marker exists, else a temporary copy of files (which
// must include package.json and package-lock.json) in which `npm ci`
// installs the locked versions. The caller checks Missing first.
func Dir(t testing.TB, src, marker string, files ...string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(src, "node_modules", marker)); err == nil {
		return src
	}
	dir := t.TempDir()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatalf("npmtest: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatalf("npmtest: %v", err)
		}
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in a copy of %s: %v\n%s", src, err, out)
	}
	return dir
}
