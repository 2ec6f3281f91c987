package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"

	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
)

func TestOutcomeExitCodes(t *testing.T) {
	for _, c := range []struct {
		status string
		code   int
	}{{"SUCCESS", ExitOK}, {"FAILURE", ExitFailure}, {"PENDING", ExitPending}, {"DEEMED", ExitPending}} {
		err := Outcome(TxnResult{TxnID: "ALP1", Status: c.status, ErrCode: "ZM"})
		assert.Equal(t, c.code, ExitCode(err), c.status)
	}
	assert.ErrorContains(t, Outcome(TxnResult{TxnID: "ALP1", Status: "FAILURE", ErrCode: "ZM"}), "transaction ALP1 ended FAILURE (ZM)")
	assert.ErrorIs(t, Outcome(TxnResult{Status: "PENDING"}), ErrStillPending)
	assert.NotErrorIs(t, Outcome(TxnResult{Status: "FAILURE"}), ErrStillPending)
	assert.Equal(t, ExitError, ExitCode(errors.New("no network.json")))
	assert.Equal(t, ExitPending, ExitCode(fmt.Errorf("wrapped: %w", Outcome(TxnResult{Status: "DEEMED"}))), "a wrapped outcome keeps its code")
}

func TestReportError(t *testing.T) {
	var b bytes.Buffer
	ReportError(&b, JSON, Outcome(TxnResult{TxnID: "ALP1", Status: "FAILURE", ErrCode: "U30"}))
	assert.True(t, strings.HasSuffix(b.String(), "}\n") && strings.Count(b.String(), "\n") == 1, "one line: %q", b.String())
	var got struct {
		Error string `json:"error"`
		Code  int    `json:"code"`
	}
	require.NoError(t, json.Unmarshal(b.Bytes(), &got))
	assert.Equal(t, "transaction ALP1 ended FAILURE (U30)", got.Error)
	assert.Equal(t, ExitFailure, got.Code)

	b.Reset()
	ReportError(&b, Text, errors.New(`--amount: "x" is not an amount`))
	assert.Equal(t, "upisim: --amount: \"x\" is not an amount\n", b.String())
}

// keysOnce decodes one JSON object and fails on a key it repeats.
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
		_, dup := out[k.(string)]
		assert.False(t, dup, "key %q repeated in %s", k, line)
		out[k.(string)] = v
	}
	return out
}

func TestLoggerDropsRepeatedKeys(t *testing.T) {
	var b bytes.Buffer
	log, err := NewLogger(&b, "info", "json")
	require.NoError(t, err)
	// As psp.New does on a logger cluster gave node already.
	l := log.With("node", "alphapsp").With("role", "psp", "node", "alphapsp")
	l.Info("decided", "txn", "ALP1", "node", "again", "status", "SUCCESS")
	l.Debug("not at info")
	l.WithGroup("g").Info("grouped", "node", "inner")
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 2, b.String())
	first := keysOnce(t, lines[0])
	assert.Equal(t, "alphapsp", first["node"], "the first node given stays")
	assert.Equal(t, "psp", first["role"])
	assert.Equal(t, "ALP1", first["txn"])
	second := keysOnce(t, lines[1])
	assert.Equal(t, map[string]any{"node": "inner"}, second["g"])

	_, err = NewLogger(&b, "info", "xml")
	assert.ErrorContains(t, err, `--log-format "xml": want text or json`)
	_, err = NewLogger(&b, "loud", "json")
	assert.ErrorContains(t, err, "--log-level")
	b.Reset()
	log, err = NewLogger(&b, "info", "text")
	require.NoError(t, err)
	log.With("node", "npci").Info("decided", "node", "npci", "txn", "T1")
	assert.Equal(t, 1, strings.Count(b.String(), "node="), b.String())
}

// syncBuf is a bytes.Buffer the nodes' goroutines write while the test
// reads it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The whole network logs as JSON (at debug, for the most lines): every line has each key once,
// and a decided payment is one line at the switch with node, txn, status,
// code and ms.
func TestNetworkJSONLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a network")
	}
	var logs syncBuf
	log, err := NewLogger(&logs, "debug", "json")
	require.NoError(t, err)
	data := t.TempDir()
	netw := config.Default()
	netw.Heartbeat = 0
	nw, err := cluster.Up(cluster.UpOptions{Network: netw, DataDir: data, NoSync: true, Logger: log})
	require.NoError(t, err)
	defer nw.Close()

	ok, err := Pay(t.Context(), io.Discard, PayOptions{DataDir: data, From: "alice@alpha", To: "bob@beta", Amount: "1.00", PIN: "1234"})
	require.NoError(t, err)
	require.Equal(t, "SUCCESS", ok.Status)
	bad, err := Pay(t.Context(), io.Discard, PayOptions{DataDir: data, From: "alice@alpha", To: "bob@beta", Amount: "1.00", PIN: "9999"})
	require.NoError(t, err)
	require.Equal(t, "FAILURE", bad.Status)

	decided := map[string]map[string]any{}
	require.Eventually(t, func() bool {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, `"msg":"decided"`) {
				m := map[string]any{}
				if json.Unmarshal([]byte(line), &m) == nil {
					decided[m["txn"].(string)] = m
				}
			}
		}
		return decided[ok.TxnID] != nil && decided[bad.TxnID] != nil
	}, 10*time.Second, 10*time.Millisecond, "a decided line for each payment:\n%s", &logs)
	nw.Close()

	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	n := 0
	for sc.Scan() {
		keysOnce(t, sc.Text())
		n++
	}
	assert.Positive(t, n)
	for id, want := range map[string][2]string{ok.TxnID: {"SUCCESS", ""}, bad.TxnID: {"FAILURE", bad.ErrCode}} {
		m := decided[id]
		assert.Equal(t, "INFO", m["level"])
		assert.Equal(t, netw.Switch().Name, m["node"], "the switch decides")
		assert.Equal(t, want[0], m["status"])
		assert.Equal(t, want[1], m["code"])
		ms, isNum := m["ms"].(float64)
		assert.True(t, isNum && ms >= 0 && ms < 10000, "ms since its creation: %v", m["ms"])
	}
	assert.NotEmpty(t, bad.ErrCode)
}

// A network.json whose nodes do not answer is named as such, with the node
// and why, instead of gRPC's dial error.
func TestStaleNetworkJSON(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now
	data := t.TempDir()
	require.NoError(t, config.WriteDirectory(data, config.Directory{Network: "default", Nodes: []config.NodeAddr{
		{Name: "tpap", Role: config.RoleTPAP, GRPCAddr: addr, HTTPAddr: addr},
	}}))
	_, err = Txn(t.Context(), io.Discard, TxnOptions{DataDir: data, TxnID: "ALP1"})
	require.Error(t, err)
	assert.Equal(t, fmt.Sprintf("network.json in %s names nodes that do not answer (tpap %s: connection refused); is `upisim up --data %s` running?", data, addr, data), err.Error())
	assert.Equal(t, ExitError, ExitCode(err))
	_, statErr := os.Stat(filepath.Join(data, config.DirectoryFile))
	assert.NoError(t, statErr, "network.json is left for the user to see")
}

func TestBenchProgress(t *testing.T) {
	assert.Equal(t, "50/200 flows (25%), 48 succeeded, 2s, 24 flows/s", progressLine(50, 48, 200, 2*time.Second))
	assert.Equal(t, "0/10 flows (0%), 0 succeeded, 0s, 0 flows/s", progressLine(0, 0, 10, 0))

	var out syncBuf
	ticks := make(chan time.Time)
	start := time.Now()
	var done, ok atomic.Int64
	stop := startProgress(BenchOptions{Flows: 10, Progress: &out, ticks: ticks}, start, &done, &ok)
	done.Store(4)
	ok.Store(3)
	ticks <- start.Add(time.Second)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "succeeded") }, 5*time.Second, time.Millisecond)
	done.Store(10)
	ok.Store(10)
	ticks <- start.Add(2 * time.Second)
	stop()
	assert.Equal(t, "\r\033[K4/10 flows (40%), 3 succeeded, 1s, 3 flows/s"+
		"\r\033[K10/10 flows (100%), 10 succeeded, 2s, 5 flows/s"+
		"\r\033[K", out.String(), "one line rewritten in place, cleared before the summary")

	assert.NotPanics(t, func() { startProgress(BenchOptions{Flows: 1}, start, &done, &ok)() }, "no Progress: nothing")
}

// fakeTPAP answers ListCollects and GetPayment as a TPAP whose payer's PSP
// delivers the collect at the listed-th ListCollects (never when 0), or
// whose collect ends with status.
type fakeTPAP struct {
	upiv1.TpapAppServiceClient
	listed, lists int
	status        upiv1.Resp_Result
	code          string
}

func (f *fakeTPAP) ListCollects(context.Context, *upiv1.ListCollectsRequest, ...grpc.CallOption) (*upiv1.ListCollectsResponse, error) {
	f.lists++
	r := &upiv1.ListCollectsResponse{}
	if f.listed > 0 && f.lists >= f.listed {
		r.Collects = append(r.Collects, &upiv1.Transaction{TxnId: "BET1"})
	}
	return r, nil
}

func (f *fakeTPAP) GetPayment(context.Context, *upiv1.GetPaymentRequest, ...grpc.CallOption) (*upiv1.GetPaymentResponse, error) {
	return &upiv1.GetPaymentResponse{Status: f.status, ErrCode: f.code}, nil
}

func TestCollectAwaitsDelivery(t *testing.T) {
	pending := TxnResult{TxnID: "BET1", Status: "PENDING"}
	f := &fakeTPAP{listed: 3, status: upiv1.Resp_PENDING}
	r, err := awaitDelivered(t.Context(), f, "alice@alpha", pending, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, pending, r)
	assert.Equal(t, 3, f.lists, "it asks until the payer's app lists it")

	r, err = awaitDelivered(t.Context(), &fakeTPAP{status: upiv1.Resp_FAILURE, code: "U29"}, "nobody@alpha", pending, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, TxnResult{TxnID: "BET1", Status: "FAILURE", ErrCode: "U29"}, r, "a collect that ended is answered as it ended")

	r, err = awaitDelivered(t.Context(), &fakeTPAP{status: upiv1.Resp_PENDING}, "alice@alpha", pending, 100*time.Millisecond)
	assert.Equal(t, pending, r)
	assert.EqualError(t, err, "collect BET1 not yet delivered to alice@alpha's PSP after 100ms")
	assert.Equal(t, ExitPending, ExitCode(err))
}
