package integration

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// lintTools is the folder with the OpenAPI linters installed
// (testdata/openapi-lint, whose node_modules CI installs with npm ci), or
// a temporary copy npm ci installs them in. It skips the test only when
// node or npm is not installed.
func lintTools(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: skipping the OpenAPI lint with @redocly/cli and @apidevtools/swagger-cli (install nodejs and npm to run it)", tool)
		}
	}
	src := filepath.Join("testdata", "openapi-lint")
	if _, err := os.Stat(filepath.Join(src, "node_modules", ".bin", "redocly")); err == nil {
		return src
	}
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "redocly.yaml"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "npm ci: %s", out)
	return dir
}

// Every node's OpenAPI document passes `redocly lint` with the
// recommended rules (no error, no warning) and `swagger-cli validate`.
func TestOpenAPILint(t *testing.T) {
	tools := lintTools(t)
	n := up(t, nil)
	docs := t.TempDir()
	for _, nd := range n.c.Dir.Nodes {
		resp, err := http.Get("http://" + nd.HTTPAddr + "/openapi.json")
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		file := filepath.Join(docs, nd.Name+".json")
		require.NoError(t, os.WriteFile(file, b, 0o644))

		abs, err := filepath.Abs(filepath.Join(tools, "redocly.yaml"))
		require.NoError(t, err)
		lint := exec.Command(filepath.Join(tools, "node_modules", ".bin", "redocly"), "lint", "--config", abs, "--max-problems", "20", "--format", "stylish", file)
		out, err := lint.CombinedOutput()
		require.NoError(t, err, "redocly lint %s:\n%s", nd.Name, out)
		require.NotContains(t, string(out), "warning", "redocly lint %s:\n%s", nd.Name, out)

		validate := exec.Command(filepath.Join(tools, "node_modules", ".bin", "swagger-cli"), "validate", file)
		out, err = validate.CombinedOutput()
		require.NoError(t, err, "swagger-cli validate %s:\n%s", nd.Name, out)
		require.Contains(t, string(out), "is valid", nd.Name)
	}
}
