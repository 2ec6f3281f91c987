package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/config"
)

// run is execute on args, with its exit code, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := execute(t.Context(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// jsonError is stderr's {"error", "code"} under -o json.
func jsonError(t *testing.T, stderr string) (string, int) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
		Code  *int   `json:"code"`
	}
	require.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
	require.NoError(t, json.Unmarshal([]byte(stderr), &e), stderr)
	require.NotNil(t, e.Code, stderr)
	return e.Error, *e.Code
}

func TestHelpListsExitCodes(t *testing.T) {
	code, out, _ := run(t, "--help")
	assert.Equal(t, 0, code)
	for _, want := range []string{"Exit codes", "2  the transaction waited for ended FAILURE", "3  the transaction was still PENDING or DEEMED", `{"error": "REASON", "code": N}`} {
		assert.Contains(t, out, want)
	}
}

func TestUsageErrors(t *testing.T) {
	code, out, errOut := run(t, "pay", "--nope")
	assert.Equal(t, cli.ExitError, code)
	assert.Empty(t, out)
	assert.Equal(t, "upisim: unknown flag: --nope\n", errOut)

	code, out, errOut = run(t, "-o", "json", "pay", "--from", "alice@alpha", "--to", "bob@beta", "--amount", "ten", "--pin", "1234")
	assert.Equal(t, cli.ExitError, code)
	assert.Empty(t, out, "stdout holds only results")
	msg, c := jsonError(t, errOut)
	assert.Equal(t, cli.ExitError, c)
	assert.Contains(t, msg, "--amount")

	code, _, errOut = run(t, "-o", "json", "txn")
	assert.Equal(t, cli.ExitError, code)
	msg, _ = jsonError(t, errOut)
	assert.Contains(t, msg, "accepts 1 arg(s)")

	code, _, errOut = run(t, "-o", "yaml", "balance", "alice@alpha")
	assert.Equal(t, cli.ExitError, code)
	assert.Equal(t, "upisim: unknown output \"yaml\": want text or json\n", errOut, "a bad -o is reported as text")

	code, _, errOut = run(t, "up", "--log-format", "xml", "--data", t.TempDir())
	assert.Equal(t, cli.ExitError, code)
	assert.Contains(t, errOut, `--log-format "xml": want text or json`)
}

func TestNoNetwork(t *testing.T) {
	data := t.TempDir()
	code, _, errOut := run(t, "-o", "json", "--data", data, "txn", "ALP1")
	assert.Equal(t, cli.ExitError, code)
	msg, c := jsonError(t, errOut)
	assert.Equal(t, cli.ExitError, c)
	assert.Contains(t, msg, "no network.json in "+data)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	require.NoError(t, config.WriteDirectory(data, config.Directory{Network: "default", Nodes: []config.NodeAddr{
		{Name: "tpap", Role: config.RoleTPAP, GRPCAddr: addr, HTTPAddr: addr},
	}}))
	for _, args := range [][]string{
		{"txn", "ALP1"},
		{"pay", "--from", "alice@alpha", "--to", "bob@beta", "--amount", "1.00", "--pin", "1234"},
		{"collect", "--from", "alice@alpha", "--to", "bob@beta", "--amount", "1.00"},
	} {
		code, out, errOut := run(t, append([]string{"--data", data}, args...)...)
		assert.Equal(t, cli.ExitError, code, args)
		assert.Empty(t, out)
		assert.Equal(t, fmt.Sprintf("upisim: network.json in %s names nodes that do not answer (tpap %s: connection refused); is `upisim up --data %s` running?\n", data, addr, data), errOut, args)
	}
}

// bench rewrites a progress line only on a terminal: not into a pipe, a
// file or a buffer.
func TestIsTerminal(t *testing.T) {
	assert.False(t, isTerminal(&bytes.Buffer{}))
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, isTerminal(f), "a file")
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	assert.False(t, isTerminal(w), "a pipe")
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		assert.True(t, isTerminal(tty), "a terminal")
	}
}
