package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/npmtest"
	"github.com/upisim/upisim/internal/webhook"
)

// chai is the default network's merchant: its VPA and its test webhook
// secret (internal/config/default.yaml).
const (
	chai       = "chai@beta"
	chaiSecret = "whsec_YNAghTrVAgz/F3KkGjlLf+19MBSMKoD14ipegZP7ZTs="
)

// mOrder and mAttempt are what `upisim order show -o json` prints (the
// merchant API's JSON: int64 fields are strings, as protojson writes them).
type mOrder struct {
	OrderID           string     `json:"order_id"`
	Merchant          string     `json:"merchant_vpa"`
	AmountCents       int64      `json:"amount_cents,string"`
	TransactionStatus string     `json:"transaction_status"`
	Intent            string     `json:"intent"`
	ExpiresAt         time.Time  `json:"expires_at"`
	Attempts          []mAttempt `json:"attempts"`
	Refunds           []mRefund  `json:"refunds"`
}

type mAttempt struct {
	AttemptID     string `json:"attempt_id"`
	OrderID       string `json:"order_id"`
	AttemptStatus string `json:"transaction_attempt_status"`
	Action        string `json:"action"`
	AmountCents   int64  `json:"amount_cents,string"`
	PayerVPA      string `json:"payer_vpa"`
	RRN           string `json:"rrn"`
	Method        string `json:"method"`
	TxnID         string `json:"txn_id"`
	EdgeCase      string `json:"edge_case"`
}

type mRefund struct {
	RefundID     string `json:"refund_id"`
	OrderID      string `json:"order_id"`
	AttemptID    string `json:"attempt_id"`
	RefundStatus string `json:"refund_status"`
	AmountCents  int64  `json:"amount_cents,string"`
	Source       string `json:"source"`
}

// hook is one webhook as `upisim listen -o json` prints it.
type hook struct {
	ID        string `json:"webhook-id"`
	Verified  bool   `json:"verified"`
	Error     string `json:"error"`
	Forwarded int    `json:"forwarded_status"`
	Status    int    `json:"status"`
	Body      struct {
		Type string    `json:"type"`
		Data hookData  `json:"data"`
		At   time.Time `json:"timestamp"`
	} `json:"body"`
}

type hookData struct {
	OrderID           string `json:"order_id"`
	TransactionStatus string `json:"transaction_status"`
	AttemptID         string `json:"attempt_id"`
	AttemptStatus     string `json:"transaction_attempt_status"`
	Action            string `json:"action"`
	RefundID          string `json:"refund_id"`
	RefundStatus      string `json:"refund_status"`
	RefundAmountCents int64  `json:"refund_amount_cents,string"`
	Sequence          int64  `json:"sequence,string"`
	Terminal          bool   `json:"terminal"`
}

// jsonOut runs the binary with -o json and decodes its stdout into v,
// failing the test on a non-zero exit or output that is not JSON.
func jsonOut(t *testing.T, bin string, v any, args ...string) {
	t.Helper()
	out := run(t, bin, append(args, "-o", "json")...)
	require.NoError(t, json.Unmarshal([]byte(out), v), "upisim %s -o json printed:\n%s", strings.Join(args, " "), out)
}

// lines reads a process's stdout line by line as it prints them.
type lines struct {
	mu   sync.Mutex
	all  []string
	more chan struct{} // closed and replaced at each new line, and at EOF
	eof  bool
}

func readLines(r io.Reader) *lines {
	l := &lines{more: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			l.mu.Lock()
			l.all = append(l.all, sc.Text())
			close(l.more)
			l.more = make(chan struct{})
			l.mu.Unlock()
		}
		l.mu.Lock()
		l.eof = true
		close(l.more)
		l.mu.Unlock()
	}()
	return l
}

func (l *lines) snapshot() ([]string, bool, chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all), l.eof, l.more
}

// await waits up to within until done(every line so far) is true.
func (l *lines) await(t *testing.T, within time.Duration, what string, done func([]string) bool) []string {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		all, eof, more := l.snapshot()
		if done(all) {
			return all
		}
		if eof {
			require.FailNow(t, "the output ended before "+what, "%s", strings.Join(all, "\n"))
		}
		select {
		case <-more:
		case <-deadline.C:
			require.FailNow(t, "waited "+within.String()+" for "+what, "%s", strings.Join(all, "\n"))
		}
	}
}

// hooks decodes listen's webhook lines (every line but the first and
// last, which say where it listens and what it put back).
func hooks(t *testing.T, all []string) []hook {
	t.Helper()
	var hs []hook
	for _, ln := range all {
		if !strings.Contains(ln, `"webhook-id"`) {
			continue
		}
		var h hook
		require.NoError(t, json.Unmarshal([]byte(ln), &h), "listen -o json printed %q", ln)
		hs = append(hs, h)
	}
	return hs
}

// ofOrder is the webhooks of order id of type typ, in their sequence (the
// deliveries of one step race one another).
func ofOrder(hs []hook, typ, id string) []hook {
	var out []hook
	for _, h := range hs {
		if h.Body.Type == typ && h.Body.Data.OrderID == id {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b hook) int { return int(a.Body.Data.Sequence - b.Body.Data.Sequence) })
	return out
}

// npmEndpoint is a merchant's Node.js server (internal/webhook/testdata/
// server.mjs) verifying each webhook with the standardwebhooks npm
// library; why says why it is not running (node or npm missing).
type npmEndpoint struct {
	url string
	out *lines
	why string
}

func startNPMEndpoint(t *testing.T, secret string) *npmEndpoint {
	t.Helper()
	if tool := npmtest.Missing(); tool != "" {
		return &npmEndpoint{why: tool + " is not installed: skipping the check of listen's forwarded webhooks with the standardwebhooks npm library (install nodejs and npm to run it; CI does)"}
	}
	src := filepath.Join("..", "..", "internal", "webhook", "testdata")
	dir := npmtest.Dir(t, src, filepath.Join("standardwebhooks", "package.json"), "package.json", "package-lock.json", "server.mjs")
	cmd := dieWithTest(exec.Command("node", "server.mjs", secret))
	cmd.Dir = dir
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("server.mjs stderr:\n%s", stderr.tail(8<<10))
		}
	})
	e := &npmEndpoint{out: readLines(stdout)}
	first := e.out.await(t, 30*time.Second, "server.mjs listening", func(all []string) bool { return len(all) > 0 })[0]
	var ready struct {
		Listening string `json:"listening"`
	}
	require.NoError(t, json.Unmarshal([]byte(first), &ready), "server.mjs printed %q (stderr: %s)", first, stderr.tail(4<<10))
	require.NotEmpty(t, ready.Listening)
	e.url = ready.Listening
	return e
}

// npmSeen is one line of server.mjs: a webhook it verified or refused.
type npmSeen struct {
	Verified bool     `json:"verified"`
	ID       string   `json:"id"`
	Type     string   `json:"type"`
	Error    string   `json:"error"`
	Data     hookData `json:"data"`
}

func (e *npmEndpoint) seen(t *testing.T, all []string) []npmSeen {
	t.Helper()
	var out []npmSeen
	for _, ln := range all[1:] {
		var s npmSeen
		require.NoError(t, json.Unmarshal([]byte(ln), &s), "server.mjs printed %q", ln)
		out = append(out, s)
	}
	return out
}

// TestMerchantTour is the README's merchant tour (docs/FLOWS.md, Merchant
// payments) as a user runs it, with the real binary: `upisim up` as a
// process, `upisim listen` as another (its stdout read line by line), and
// each command a process of its own whose -o json is decoded. chai@beta's
// order paid by intent, the callbacks listen verifies, a wrong amount on
// HOLD and released (a refund through the switch), an order collected and
// approved in the payer's app, a partial refund that reaches alice's
// account, the failures a user makes, and Ctrl-C putting chai's endpoint
// back. listen forwards every webhook to a Node.js server that verifies it
// with the standardwebhooks npm library (skipped, and said, when node or
// npm is missing).
func TestMerchantTour(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and starts processes")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	up := newServer(t, "upisim up", bin, "up", "--data", data, "--port-base", "0", "--log-level", "warn")
	t.Cleanup(up.stop)
	nw := startUp(t, up, bin, data)
	npm := startNPMEndpoint(t, chaiSecret)

	// chai's settings: the test key and secret, no endpoint yet.
	var cfg struct {
		VPA, Name, Psp string
		APIKey         string `json:"api_key"`
		WebhookURL     string `json:"webhook_url"`
		WebhookSecret  string `json:"webhook_secret"`
		AutoRefund     bool   `json:"auto_refund"`
	}
	jsonOut(t, bin, &cfg, "merchant", "show", "--data", data, chai)
	assert.Equal(t, "betapsp", cfg.Psp)
	assert.Equal(t, "sk_test_chai_4f9b2c7e1d8a", cfg.APIKey)
	assert.Equal(t, chaiSecret, cfg.WebhookSecret)
	assert.Empty(t, cfg.WebhookURL)
	assert.False(t, cfg.AutoRefund, "chai puts an edge case on HOLD")

	// upisim listen, as a process.
	largs := []string{"listen", "--data", data, "--merchant", chai, "-o", "json"}
	if npm.url != "" {
		largs = append(largs, "--forward-to", npm.url)
	}
	listen := dieWithTest(exec.Command(bin, largs...))
	var lerr syncBuffer
	listen.Stderr = &lerr
	lout, err := listen.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, listen.Start())
	listenDone := make(chan error, 1)
	go func() { listenDone <- listen.Wait() }()
	listenStopped := false
	t.Cleanup(func() {
		if !listenStopped {
			_ = listen.Process.Kill()
			<-listenDone
		}
		if t.Failed() {
			t.Logf("upisim listen stderr:\n%s", lerr.tail(8<<10))
		}
	})
	lines := readLines(lout)
	first := lines.await(t, 30*time.Second, "listen ready", func(all []string) bool { return len(all) > 0 })[0]
	var ready struct {
		Listening string `json:"listening"`
		Merchant  string `json:"merchant"`
		PSP       string `json:"psp"`
		Replaced  string `json:"replaced_endpoint"`
		ForwardTo string `json:"forward_to"`
	}
	require.NoError(t, json.Unmarshal([]byte(first), &ready), "listen's first line %q", first)
	assert.Equal(t, chai, ready.Merchant)
	assert.Equal(t, "betapsp", ready.PSP)
	assert.Empty(t, ready.Replaced)
	assert.Equal(t, npm.url, ready.ForwardTo)
	jsonOut(t, bin, &cfg, "merchant", "show", "--data", data, chai)
	assert.Equal(t, ready.Listening, cfg.WebhookURL, "listen is chai's endpoint while it runs")

	balance := func(vpa string) int64 {
		var b struct {
			BalancePaise int64 `json:"balance_paise"`
		}
		jsonOut(t, bin, &b, "balance", "--data", data, vpa)
		return b.BalancePaise
	}
	show := func(id string) mOrder {
		var o mOrder
		jsonOut(t, bin, &o, "order", "show", "--data", data, id)
		return o
	}
	// settle polls `order show` until done says the order is there.
	settle := func(id, what string, done func(mOrder) bool) mOrder {
		t.Helper()
		var o mOrder
		pollUntil(t, 100*time.Millisecond, func() bool { o = show(id); return done(o) },
			func() string { return fmt.Sprintf("order %s: %s (last: %+v)", id, what, o) })
		return o
	}
	create := func() mOrder {
		var o mOrder
		jsonOut(t, bin, &o, "order", "create", "--data", data, "--merchant", chai, "--amount", "150.00", "--expire", "15m")
		require.NotEmpty(t, o.OrderID)
		assert.Equal(t, int64(150_00), o.AmountCents)
		assert.Equal(t, "PENDING", o.TransactionStatus)
		assert.Equal(t, "upi://pay?pa=chai@beta&pn=Chai%20Point&am=150.00&tr="+o.OrderID+"&cu=INR", o.Intent)
		assert.WithinDuration(t, time.Now().Add(15*time.Minute), o.ExpiresAt, time.Minute)
		return o
	}
	type payResult struct {
		TxnID   string `json:"txn_id"`
		Status  string `json:"status"`
		RRN     string `json:"rrn"`
		ErrCode string `json:"err_code"`
	}
	aliceStart := balance("alice@alpha")
	chaiStart := balance(chai)

	// 1. An order paid by its intent, as a payer's app reads the QR.
	o1 := create()
	var paid payResult
	jsonOut(t, bin, &paid, "pay", "--data", data, "--from", "alice@alpha", "--intent", o1.Intent, "--pin", "1234")
	require.Equal(t, "SUCCESS", paid.Status, "%+v", paid)
	got := settle(o1.OrderID, "SUCCESS with its attempt", func(o mOrder) bool { return o.TransactionStatus == "SUCCESS" })
	require.Len(t, got.Attempts, 1)
	a1 := got.Attempts[0]
	assert.Equal(t, "SUCCESS", a1.AttemptStatus)
	assert.Empty(t, a1.Action)
	assert.Equal(t, "upi_intent", a1.Method)
	assert.Equal(t, "alice@alpha", a1.PayerVPA)
	assert.Equal(t, paid.TxnID, a1.TxnID)
	assert.Equal(t, paid.RRN, a1.RRN)
	assert.Equal(t, int64(150_00), a1.AmountCents)
	// listen printed the callback, verified, terminal with the order's values.
	terminal := func(id string) func([]string) bool {
		return func(all []string) bool {
			for _, h := range ofOrder(hooks(t, all), "transaction.status", id) {
				if h.Body.Data.Terminal {
					return true
				}
			}
			return false
		}
	}
	hs := ofOrder(hooks(t, lines.await(t, time.Minute, "order 1's terminal callback", terminal(o1.OrderID))), "transaction.status", o1.OrderID)
	last := hs[len(hs)-1]
	assert.True(t, last.Verified, "listen verified the signature: %+v", last)
	assert.True(t, last.Body.Data.Terminal)
	assert.Equal(t, "SUCCESS", last.Body.Data.TransactionStatus)
	assert.Equal(t, "SUCCESS", last.Body.Data.AttemptStatus)
	assert.Equal(t, "", last.Body.Data.Action)
	assert.Equal(t, a1.AttemptID, last.Body.Data.AttemptID)
	if npm.url != "" {
		assert.Equal(t, http.StatusNoContent, last.Forwarded, "the merchant's server answered 204")
	}

	// 2. The wrong amount: paid, on HOLD (chai's auto_refund is off), and
	// released: the money goes back to alice as a refund.
	o2 := create()
	jsonOut(t, bin, &paid, "pay", "--data", data, "--from", "alice@alpha", "--intent", o2.Intent, "--amount", "140.00", "--pin", "1234")
	require.Equal(t, "SUCCESS", paid.Status, "the payment itself succeeds: %+v", paid)
	got = settle(o2.OrderID, "DISPUTED_AMOUNT", func(o mOrder) bool { return o.TransactionStatus == "DISPUTED_AMOUNT" })
	require.Len(t, got.Attempts, 1)
	a2 := got.Attempts[0]
	assert.Equal(t, "HOLD", a2.AttemptStatus)
	assert.Equal(t, int64(140_00), a2.AmountCents)
	assert.Equal(t, "AMOUNT_MISMATCH", a2.EdgeCase)
	lines.await(t, time.Minute, "order 2's HOLD callback", func(all []string) bool {
		for _, h := range ofOrder(hooks(t, all), "transaction.status", o2.OrderID) {
			if h.Verified && h.Body.Data.AttemptStatus == "HOLD" && h.Body.Data.TransactionStatus == "DISPUTED_AMOUNT" && !h.Body.Data.Terminal {
				return true
			}
		}
		return false
	})
	var acted mAttempt
	jsonOut(t, bin, &acted, "order", "action", "--data", data, a2.AttemptID, "--release")
	assert.Equal(t, "RELEASED", acted.Action)
	assert.Equal(t, a2.AttemptID, acted.AttemptID)
	got = settle(o2.OrderID, "its release REFUNDED", func(o mOrder) bool {
		return len(o.Refunds) == 1 && o.Refunds[0].RefundStatus == "REFUNDED"
	})
	assert.Equal(t, "SUCCESS", got.TransactionStatus, "seed 002: released, the order is SUCCESS")
	assert.Equal(t, "RELEASED", got.Attempts[0].Action)
	assert.Equal(t, int64(140_00), got.Refunds[0].AmountCents)
	assert.Equal(t, "RELEASE", got.Refunds[0].Source)
	lines.await(t, time.Minute, "order 2's REFUNDED refund callback and terminal status callback", func(all []string) bool {
		refunded := slices.ContainsFunc(ofOrder(hooks(t, all), "refund.status", o2.OrderID), func(h hook) bool {
			return h.Verified && h.Body.Data.RefundStatus == "REFUNDED" && h.Body.Data.RefundAmountCents == 140_00
		})
		return refunded && terminal(o2.OrderID)(all)
	})
	all, _, _ := lines.snapshot()
	hs = ofOrder(hooks(t, all), "transaction.status", o2.OrderID)
	last = hs[len(hs)-1]
	assert.True(t, last.Body.Data.Terminal)
	assert.Equal(t, "SUCCESS", last.Body.Data.TransactionStatus)
	assert.Equal(t, "SUCCESS", last.Body.Data.AttemptStatus)
	assert.Equal(t, "RELEASED", last.Body.Data.Action)
	assert.Equal(t, aliceStart-150_00, balance("alice@alpha"), "the wrong amount came back to alice")

	// 3. The other way in: a collect request that alice approves in her app.
	o3 := create()
	var col mAttempt
	jsonOut(t, bin, &col, "order", "collect", "--data", data, o3.OrderID, "--payer", "alice@alpha")
	assert.Equal(t, "PENDING", col.AttemptStatus)
	assert.Equal(t, "upi_collect", col.Method)
	require.NotEmpty(t, col.TxnID)
	pollUntil(t, 100*time.Millisecond, func() bool {
		var c struct {
			Collects []struct {
				TxnID       string `json:"txn_id"`
				PayeeVPA    string `json:"payee_vpa"`
				AmountPaise int64  `json:"amount_paise"`
			} `json:"collects"`
		}
		jsonOut(t, bin, &c, "collects", "--data", data, "alice@alpha")
		return slices.ContainsFunc(c.Collects, func(x struct {
			TxnID       string `json:"txn_id"`
			PayeeVPA    string `json:"payee_vpa"`
			AmountPaise int64  `json:"amount_paise"`
		}) bool {
			return x.TxnID == col.TxnID && x.PayeeVPA == chai && x.AmountPaise == 150_00
		})
	}, func() string { return "the collect request reaches alice's app" })
	var approved payResult
	jsonOut(t, bin, &approved, "approve", "--data", data, col.TxnID, "--pin", "1234")
	require.Equal(t, "SUCCESS", approved.Status, "%+v", approved)
	got = settle(o3.OrderID, "SUCCESS by collect", func(o mOrder) bool { return o.TransactionStatus == "SUCCESS" })
	require.Len(t, got.Attempts, 1)
	assert.Equal(t, "SUCCESS", got.Attempts[0].AttemptStatus)
	assert.Equal(t, col.AttemptID, got.Attempts[0].AttemptID)
	lines.await(t, time.Minute, "order 3's terminal callback", terminal(o3.OrderID))

	// 4. A refund of ₹50 of the first order reaches alice.
	before := balance("alice@alpha")
	var rf mRefund
	jsonOut(t, bin, &rf, "refund", "create", "--data", data, o1.OrderID, "--amount", "50.00")
	require.NotEmpty(t, rf.RefundID)
	assert.Equal(t, a1.AttemptID, rf.AttemptID)
	assert.Equal(t, int64(50_00), rf.AmountCents)
	assert.Contains(t, []string{"REFUND_INITIATED", "REFUNDED"}, rf.RefundStatus)
	got = settle(o1.OrderID, "its refund REFUNDED", func(o mOrder) bool {
		return len(o.Refunds) == 1 && o.Refunds[0].RefundStatus == "REFUNDED"
	})
	assert.Equal(t, rf.RefundID, got.Refunds[0].RefundID)
	assert.Equal(t, "SUCCESS", got.TransactionStatus, "a refund does not change the credit's status")
	assert.Equal(t, before+50_00, balance("alice@alpha"), "alice's balance is up by ₹50")
	assert.Equal(t, aliceStart-150_00-150_00+50_00, balance("alice@alpha"))
	assert.Equal(t, chaiStart+150_00+150_00-50_00, balance(chai), "chai keeps what was paid less what it refunded")
	lines.await(t, time.Minute, "the ₹50 refund's REFUNDED callback", func(all []string) bool {
		return slices.ContainsFunc(ofOrder(hooks(t, all), "refund.status", o1.OrderID), func(h hook) bool {
			return h.Verified && h.Body.Data.RefundID == rf.RefundID && h.Body.Data.RefundStatus == "REFUNDED"
		})
	})

	// An attempt's id names its order too: ₹10 of the collected payment,
	// refunded by its attempt id.
	before = balance("alice@alpha")
	var rf3 mRefund
	jsonOut(t, bin, &rf3, "refund", "create", "--data", data, col.AttemptID, "--amount", "10.00")
	assert.Equal(t, o3.OrderID, rf3.OrderID)
	assert.Equal(t, col.AttemptID, rf3.AttemptID)
	settle(o3.OrderID, "its refund REFUNDED", func(o mOrder) bool {
		return len(o.Refunds) == 1 && o.Refunds[0].RefundStatus == "REFUNDED" && o.Refunds[0].AmountCents == 10_00
	})
	assert.Equal(t, before+10_00, balance("alice@alpha"))

	// What a user gets wrong fails with a message and a non-zero exit.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"refund", "create", o1.OrderID, "--amount", "500.00"}, "more than is left to refund"},
		{[]string{"refund", "create", o2.OrderID, "--attempt", a2.AttemptID, "--amount", "1.00"}, "was RELEASED"},
		{[]string{"refund", "create", o2.OrderID, "--amount", "1.00"}, "has no attempt to refund: none is SUCCESS and not RELEASED"},
		{[]string{"order", "show", "ORDnosuchorder"}, "no PSP has an order, attempt or refund ORDnosuchorder"},
		{[]string{"order", "create", "--merchant", chai, "--amount", "0"}, "greater than zero"},
		{[]string{"order", "create", "--merchant", chai, "--amount", "1.234"}, "two decimal places"},
		{[]string{"order", "create", "--merchant", "bob@beta", "--amount", "1.00"}, "no merchant bob@beta"},
		{[]string{"order", "create", "--merchant", chai, "--amount", "1.00", "--expire", "1.5s"}, "whole seconds"},
		{[]string{"order", "action", a2.AttemptID, "--capture"}, "not on HOLD"},
		{[]string{"order", "action", a2.AttemptID}, "give one of --capture and --release"},
		{[]string{"order", "collect", o1.OrderID, "--payer", "alice@alpha"}, "is paid already"},
		{[]string{"order", "collect", col.AttemptID, "--payer", "alice@alpha"}, "order " + o3.OrderID + " is paid already"},
		{[]string{"listen", "--merchant", "chai"}, "--merchant"},
	} {
		msg := runFail(t, bin, 30*time.Second, append(tc.args, "--data", data, "-o", "json")...)
		assert.Contains(t, msg, `{"error":"`, "upisim %s says what went wrong, as JSON under -o json", strings.Join(tc.args, " "))
		assert.Contains(t, msg, `,"code":1}`, "upisim %s exits 1", strings.Join(tc.args, " "))
		assert.Contains(t, msg, tc.want, "upisim %s", strings.Join(tc.args, " "))
	}

	// Ctrl-C: listen puts chai's endpoint back (none) and exits 0.
	require.NoError(t, listen.Process.Signal(syscall.SIGINT))
	select {
	case err := <-listenDone:
		listenStopped = true
		require.NoError(t, err, "listen exits 0 on SIGINT: %s", lerr.tail(4<<10))
	case <-time.After(30 * time.Second):
		t.Fatal("listen did not stop on SIGINT")
	}
	all = lines.await(t, 10*time.Second, "listen's output to end", func([]string) bool { _, eof, _ := lines.snapshot(); return eof })
	var done struct {
		Restored *string `json:"restored_endpoint"`
	}
	require.NoError(t, json.Unmarshal([]byte(all[len(all)-1]), &done), "listen's last line %q", all[len(all)-1])
	require.NotNil(t, done.Restored, "listen's last line says what it put back: %q", all[len(all)-1])
	assert.Empty(t, *done.Restored)
	jsonOut(t, bin, &cfg, "merchant", "show", "--data", data, chai)
	assert.Empty(t, cfg.WebhookURL, "chai's endpoint is none again")
	for _, h := range hooks(t, all) {
		assert.True(t, h.Verified, "every webhook listen got verified: %+v", h)
		assert.True(t, h.Status >= 200 && h.Status <= 299, "listen answered 2xx: %+v", h)
	}

	rep := waitQuietAudit(t, nw)
	assert.Empty(t, rep.Violations)

	t.Run("standardwebhooks npm verifies the forwarded webhooks", func(t *testing.T) {
		if npm.url == "" {
			t.Skip(npm.why)
		}
		// Every webhook listen forwarded, the npm library verified.
		forwarded := map[string]bool{}
		for _, h := range hooks(t, all) {
			if h.Forwarded != 0 {
				assert.Equal(t, http.StatusNoContent, h.Forwarded, "%+v", h)
				forwarded[h.ID] = true
			}
		}
		require.NotEmpty(t, forwarded)
		seen := npm.seen(t, npm.out.await(t, 10*time.Second, "server.mjs to print every forwarded webhook", func(all []string) bool {
			return len(all) > len(forwarded)
		}))
		verified := map[string]npmSeen{}
		for _, s := range seen {
			assert.True(t, s.Verified, "the npm library refused a webhook: %+v", s)
			verified[s.ID] = s
		}
		for id := range forwarded {
			assert.Contains(t, verified, id)
		}
		for _, typ := range []string{"transaction.status", "refund.status"} {
			assert.True(t, slices.ContainsFunc(seen, func(s npmSeen) bool { return s.Type == typ && s.Verified }), "the server verified a %s", typ)
		}
		// And it is a real check: a webhook with a changed body is refused.
		sec, err := webhook.ParseSecret(chaiSecret)
		require.NoError(t, err)
		body := []byte(`{"type":"transaction.status","timestamp":"2026-01-02T03:04:05Z","data":{"order_id":"ORDx","transaction_status":"SUCCESS"}}`)
		h := sec.Headers("EVTtampered", time.Now(), body)
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, npm.url, bytes.NewReader(bytes.Replace(body, []byte("SUCCESS"), []byte("FAILED"), 1)))
		require.NoError(t, err)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		rest := npm.seen(t, npm.out.await(t, 10*time.Second, "server.mjs to refuse the tampered webhook", func(all []string) bool {
			return len(all) > len(seen)+1
		}))
		refused := rest[len(rest)-1]
		assert.False(t, refused.Verified)
		assert.Equal(t, "EVTtampered", refused.ID)
	})
}
