package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/config"
)

// cliRun is one run of the binary: its exit code, stdout and stderr.
type cliRun struct {
	code           int
	stdout, stderr string
}

// runCode runs the binary to its end (within a minute) and returns its
// exit code and output, whatever the code.
func runCode(t *testing.T, bin string, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "upisim %v did not end within a minute", args)
	r := cliRun{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		r.code = exit.ExitCode()
	} else {
		require.NoError(t, err, "upisim %v", args)
	}
	return r
}

// txnOut is the -o json result of pay, approve, collect and txn.
type txnOut struct {
	TxnID   string `json:"txn_id"`
	Status  string `json:"status"`
	ErrCode string `json:"err_code"`
}

func (r cliRun) txn(t *testing.T) txnOut {
	t.Helper()
	var o txnOut
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &o), "stdout: %q stderr: %q", r.stdout, r.stderr)
	return o
}

// jsonErr is stderr's one line {"error", "code"} under -o json.
func (r cliRun) jsonErr(t *testing.T) (string, int) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
		Code  *int   `json:"code"`
	}
	require.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line on stderr: %q", r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stderr), &e), r.stderr)
	require.NotNil(t, e.Code, r.stderr)
	assert.Equal(t, r.code, *e.Code, "the JSON code is the exit code")
	return e.Error, *e.Code
}

// TestCLIContract runs `upisim up` and checks, with the real binary, the
// exit codes of pay, txn --wait, collect and approve (0 SUCCESS, 2
// FAILURE, 3 still PENDING, 1 errors), the JSON errors of -o json, that a
// collect is listed for its payer as soon as collect returns, the JSON
// logs' decided line, a second up on the held folder, and a network.json
// left behind by a killed network.
func TestCLIContract(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and starts processes")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	up := newServer(t, "up", bin, "up", "--data", data, "--port-base", "0", "--log-level", "info", "--log-format", "json")
	startUp(t, up, bin, data)
	cmd := func(args ...string) cliRun { return runCode(t, bin, append([]string{"--data", data}, args...)...) }

	ok := cmd("pay", "--from", "alice@alpha", "--to", "bob@beta", "--amount", "1.00", "--pin", "1234", "-o", "json")
	assert.Equal(t, 0, ok.code, ok.stderr)
	assert.Equal(t, "SUCCESS", ok.txn(t).Status)
	assert.Empty(t, ok.stderr)

	declined := cmd("pay", "--from", "alice@alpha", "--to", "bob@beta", "--amount", "1.00", "--pin", "9999", "-o", "json")
	assert.Equal(t, 2, declined.code, "a FAILURE exits 2")
	d := declined.txn(t)
	assert.Equal(t, "FAILURE", d.Status, "the result is on stdout")
	msg, _ := declined.jsonErr(t)
	assert.Equal(t, "transaction "+d.TxnID+" ended FAILURE ("+d.ErrCode+")", msg)

	text := cmd("pay", "--from", "alice@alpha", "--to", "bob@beta", "--amount", "1.00", "--pin", "9999")
	assert.Equal(t, 2, text.code)
	assert.Contains(t, text.stdout, "FAILURE")
	assert.True(t, strings.HasPrefix(text.stderr, "upisim: transaction "), text.stderr)

	// slowdebit@beta's debit answers after 20s: still PENDING at 1s.
	slow := cmd("pay", "--from", "alice@alpha", "--to", "slowdebit@beta", "--amount", "1.00", "--pin", "1234", "--timeout", "1s", "-o", "json")
	assert.Equal(t, 3, slow.code, "still PENDING at the deadline exits 3: %s", slow.stderr)
	s := slow.txn(t)
	assert.Equal(t, "PENDING", s.Status)
	msg, _ = slow.jsonErr(t)
	assert.Contains(t, msg, "still PENDING after 1s")

	waited := cmd("txn", s.TxnID, "--wait", "200ms", "-o", "json")
	assert.Equal(t, 3, waited.code, "txn --wait on a PENDING one exits 3")
	assert.Equal(t, "PENDING", waited.txn(t).Status)
	asked := cmd("txn", s.TxnID)
	assert.Equal(t, 0, asked.code, "txn without --wait only shows it")
	assert.Equal(t, 0, cmd("txn", ok.txn(t).TxnID, "--wait", "1s").code)
	assert.Equal(t, 2, cmd("txn", d.TxnID, "--wait", "1s").code)

	// A collect is waiting at the payer once collect returns: collects
	// lists it and approve finds it at once, every time.
	for i := range 5 {
		c := cmd("collect", "--from", "alice@alpha", "--to", "bob@beta", "--amount", "1.00", "-o", "json")
		require.Equal(t, 0, c.code, c.stderr)
		id := c.txn(t).TxnID
		list := cmd("collects", "alice@alpha")
		require.Equal(t, 0, list.code, list.stderr)
		assert.Contains(t, list.stdout, id, "collect %d listed for the payer at once", i)
		a := cmd("approve", id, "--pin", "1234", "-o", "json")
		assert.Equal(t, 0, a.code, a.stderr)
		assert.Equal(t, "SUCCESS", a.txn(t).Status)
	}
	c := cmd("collect", "--from", "alice@alpha", "--to", "bob@beta", "--amount", "1.00")
	require.Equal(t, 0, c.code)
	id := strings.Fields(c.stdout)[1]
	dec := cmd("approve", id, "--decline", "-o", "json")
	assert.Equal(t, 2, dec.code, "a declined collect ends FAILURE: %s", dec.stdout)

	bad := cmd("-o", "json", "pay", "--from", "alice@alpha", "--to", "bob@beta", "--amount", "ten", "--pin", "1234")
	assert.Equal(t, 1, bad.code)
	assert.Empty(t, bad.stdout)
	msg, _ = bad.jsonErr(t)
	assert.Contains(t, msg, "--amount")

	// The decided lines of the JSON logs: one per payment, at the switch.
	var decided []map[string]any
	for _, line := range strings.Split(up.out.tail(1<<20), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		m := keysOnce(t, line)
		if m["msg"] == "decided" {
			decided = append(decided, m)
		}
	}
	var ids []string
	for _, m := range decided {
		assert.Equal(t, "npci", m["node"])
		for _, k := range []string{"txn", "status", "code", "ms"} {
			assert.Contains(t, m, k)
		}
		ids = append(ids, m["txn"].(string))
	}
	assert.Contains(t, ids, ok.txn(t).TxnID)
	assert.Contains(t, ids, d.TxnID)

	// A second up on the folder: named as held, with the pid.
	second := runCode(t, bin, "up", "--data", data, "--port-base", "0")
	assert.Equal(t, 1, second.code)
	assert.Regexp(t, `upisim: another upisim holds `+regexp.QuoteMeta(data)+` \([a-z]+\.lock: pid `+strconv.Itoa(up.cmd.Process.Pid)+`\)`, second.stderr)
	assert.NotContains(t, second.stderr, "timeout")

	// Killed, the network leaves network.json behind: named as stale.
	up.kill()
	require.FileExists(t, filepath.Join(data, config.DirectoryFile))
	dir, err := config.ReadDirectory(data)
	require.NoError(t, err)
	tp, _ := dir.Node("tpap")
	stale := cmd("-o", "json", "pay", "--from", "alice@alpha", "--to", "bob@beta", "--amount", "1.00", "--pin", "1234")
	assert.Equal(t, 1, stale.code)
	assert.Empty(t, stale.stdout)
	msg, _ = stale.jsonErr(t)
	assert.Equal(t, "network.json in "+data+" names nodes that do not answer (tpap "+tp.GRPCAddr+": connection refused); is `upisim up --data "+data+"` running?", msg)
	st := cmd("txn", s.TxnID)
	assert.Equal(t, 1, st.code)
	assert.Contains(t, st.stderr, "names nodes that do not answer")
	assert.NotContains(t, st.stderr, "Error while dialing")
}

// keysOnce decodes one JSON object (a log line) and fails the test on a
// key it gives twice.
func keysOnce(t *testing.T, line string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	tok, err := dec.Token()
	require.NoError(t, err, line)
	require.Equal(t, json.Delim('{'), tok, line)
	out := map[string]any{}
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err, line)
		var v any
		require.NoError(t, dec.Decode(&v), line)
		key := k.(string)
		_, dup := out[key]
		assert.False(t, dup, "key %q twice in %s", key, line)
		out[key] = v
	}
	return out
}
