package integration

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/npmtest"
)

// lintTools is the folder with the OpenAPI linters installed
// (testdata/openapi-lint, whose node_modules CI installs with npm ci), or
// a temporary copy npm ci installs them in. It skips the test only when
// node or npm is not installed.
func lintTools(t *testing.T) string {
	t.Helper()
	if tool := npmtest.Missing(); tool != "" {
		t.Skipf("%s is not installed: skipping the OpenAPI lint with @redocly/cli and @apidevtools/swagger-cli (install nodejs and npm to run it)", tool)
	}
	return npmtest.Dir(t, filepath.Join("testdata", "openapi-lint"), filepath.Join(".bin", "redocly"), "package.json", "package-lock.json", "redocly.yaml")
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
