package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
)

// Crash-recovery tests (issue 3): SIGKILL a running network, or one node of
// it, while payments are in flight, start it again on the same data, and
// check that every payment ends final, the audit is clean and no payment
// moved money twice. UPI Circle payments under a full and a partial link
// (circlePays, circle_test.go) are in flight too, the partial ones
// approved by the test with the primary's PIN.
//
// The moments of the kills and the downtimes are random; the seed is logged
// and UPISIM_CRASH_SEED=N replays a run.

const (
	alice = "alice@alpha"
	bob   = "bob@beta"
	// onePayment is what every payment of the load moves: ₹1.00.
	onePayment = 100
	// maxDown is the longest a killed process stays down: often past the
	// switch's response timeouts (see responseTimeout), so debit timeouts,
	// reversals and DEEMED credits happen too, and sometimes past the last
	// status check of a DEEMED credit.
	maxDown = 3 * time.Second
	// settleWithin bounds the wait for every payment to end final and the
	// audit to come clean: far past every timeout the tests set, so it
	// only ends a test that would otherwise hang.
	settleWithin = 2 * time.Minute
)

// crashSeed returns the seed of the test's random choices and logs it.
func crashSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("UPISIM_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "UPISIM_CRASH_SEED")
		seed = v
	}
	t.Logf("seed %d (replay with UPISIM_CRASH_SEED=%d)", seed, seed)
	return seed
}

// crashRand is a random source for one part of a test, from the seed and
// the part's name, so a subtest run alone makes the same choices.
func crashRand(seed uint64, part string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(part))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// responseTimeout picks the switch's debit, credit, check-status and
// reversal timeout (--response-timeout) for one part of a test, and logs
// it. The shortest makes the switch send its last status check of a
// DEEMED credit (credit timeout + 3 checks) while a victim is still down.
func responseTimeout(t *testing.T, r *rand.Rand) time.Duration {
	t.Helper()
	d := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}[r.IntN(3)]
	t.Logf("--response-timeout %s", d)
	return d
}

// between returns a random duration in [lo, hi).
func between(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)))
}

// syncBuffer is a bytes.Buffer safe for a process writing and a test
// reading.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// tail is the last n bytes written.
func (s *syncBuffer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// server is an upisim server process (up or node) that the test kills and
// starts again with the same arguments. Cleanup kills it, so no process
// outlives its test.
type server struct {
	t    *testing.T
	name string
	bin  string
	args []string
	data string // the --data of args
	out  syncBuffer

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // of Wait, once exited is closed
}

func newServer(t *testing.T, name, bin string, args ...string) *server {
	s := &server{t: t, name: name, bin: bin, args: args}
	for i, a := range args[:len(args)-1] {
		if a == "--data" {
			s.data = args[i+1]
		}
	}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("%s output (last 32 KiB):\n%s", name, s.out.tail(32<<10))
		}
	})
	return s
}

func (s *server) start() {
	s.t.Helper()
	require.Nil(s.t, s.cmd, "%s already running", s.name)
	fmt.Fprintf(&s.out, "--- %s: start %s\n", time.Now().Format(time.StampMicro), strings.Join(s.args, " "))
	cmd := dieWithTest(exec.Command(s.bin, s.args...))
	cmd.Stdout, cmd.Stderr = &s.out, &s.out
	require.NoError(s.t, cmd.Start(), "start %s", s.name)
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { s.err = cmd.Wait(); close(done) }(s.exited)
}

// kill sends SIGKILL and waits for the process to be gone; it does nothing
// when the process is not running.
func (s *server) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	fmt.Fprintf(&s.out, "--- %s: killed\n", time.Now().Format(time.StampMicro))
	s.cmd = nil
}

// stop sends SIGTERM and requires a clean exit.
func (s *server) stop() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		s.cmd = nil
		assert.NoError(s.t, s.err, "%s exits cleanly on SIGTERM", s.name)
	case <-time.After(30 * time.Second):
		s.kill()
		s.t.Errorf("%s did not stop on SIGTERM", s.name)
	}
}

// waitHealthy waits until the node at addr answers Health, failing at once
// if the process exits instead.
func (s *server) waitHealthy(addr string) {
	s.t.Helper()
	conn, err := grpc.NewClient(addr, appCreds(s.t, s.data), fastReconnect)
	require.NoError(s.t, err)
	defer conn.Close()
	a := upiv1.NewAdminServiceClient(conn)
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-s.exited:
			s.t.Fatalf("%s exited while starting (%v):\n%s", s.name, s.err, s.out.tail(8<<10))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		h, err := a.Health(ctx, &upiv1.HealthRequest{})
		cancel()
		if err == nil && h.GetOk() {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s at %s not healthy after a minute: %v", s.name, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fastReconnect makes test clients reconnect to a restarted node within a
// fraction of a second rather than gRPC's default backoff of up to two
// minutes.
var fastReconnect = grpc.WithConnectParams(grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 200 * time.Millisecond},
	MinConnectTimeout: time.Second,
})

// payment is one payment the TPAP accepted.
type payment struct {
	id, from, to string
}

// load is a set of workers paying ₹1.00 between alice and bob through the
// TPAP's app API, each waiting for its payment's outcome (briefly) before
// the next, so the network always has payments in flight. It records every
// transaction id the TPAP accepted. Errors (the TPAP or a PSP is down) are
// expected during a crash and only counted.
type load struct {
	t    *testing.T
	data string // the network's data folder, with pki/ca.pem
	tpap atomic.Pointer[upiv1.TpapAppServiceClient]

	mu       sync.Mutex
	conns    []*grpc.ClientConn
	accepted []payment
	newOne   chan struct{} // closed and replaced when a payment is accepted

	errs    atomic.Int64
	lastErr atomic.Value // string
	// seenFinal counts the accepted payments whose worker saw them end.
	seenFinal atomic.Int64
	stopped   chan struct{}
	wg        sync.WaitGroup
}

func startLoad(t *testing.T, data, tpapAddr string, workers int) *load {
	l := &load{t: t, data: data, newOne: make(chan struct{}), stopped: make(chan struct{})}
	l.retarget(tpapAddr)
	for i := range workers {
		l.wg.Add(1)
		go l.work(i)
	}
	t.Cleanup(l.stop)
	return l
}

// retarget points the workers at the TPAP at addr (after a restart on
// OS-chosen ports).
func (l *load) retarget(addr string) {
	conn, err := grpc.NewClient(addr, appCreds(l.t, l.data), fastReconnect)
	require.NoError(l.t, err)
	cl := upiv1.NewTpapAppServiceClient(conn)
	l.mu.Lock()
	l.conns = append(l.conns, conn)
	l.mu.Unlock()
	l.tpap.Store(&cl)
}

func (l *load) work(i int) {
	defer l.wg.Done()
	for n := i; ; n++ {
		select {
		case <-l.stopped:
			return
		default:
		}
		from, to := alice, bob
		if n%2 == 1 {
			from, to = bob, alice
		}
		tp := *l.tpap.Load()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, err := tp.CreatePayment(ctx, &upiv1.CreatePaymentRequest{
			PayerVpa: from, PayeeVpa: to, AmountPaise: onePayment, Pin: "1234", Note: "crash test",
		})
		cancel()
		if err != nil {
			// The payment may exist even so (the answer was lost); the
			// final checks count every payment the PSPs know.
			l.errs.Add(1)
			l.lastErr.Store(err.Error())
			select {
			case <-l.stopped:
				return
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		l.mu.Lock()
		l.accepted = append(l.accepted, payment{id: r.GetTxnId(), from: from, to: to})
		close(l.newOne)
		l.newOne = make(chan struct{})
		l.mu.Unlock()
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		g, err := tp.GetPayment(ctx, &upiv1.GetPaymentRequest{TxnId: r.GetTxnId(), WaitMs: 3000})
		cancel()
		if err == nil && isFinal(g.GetStatus()) {
			l.seenFinal.Add(1)
		}
	}
}

// open is how many accepted payments the workers have not seen end: at
// least that many are in flight, unless they ended unseen.
func (l *load) open() int64 { return int64(l.count()) - l.seenFinal.Load() }

// count is the number of payments accepted so far.
func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accepted)
}

// waitAccepted waits until more than n payments were accepted.
func (l *load) waitAccepted(n int) {
	l.t.Helper()
	deadline := time.After(time.Minute)
	for {
		l.mu.Lock()
		got, ch := len(l.accepted), l.newOne
		l.mu.Unlock()
		if got > n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			l.t.Fatalf("the TPAP accepted no payment for a minute (%d accepted, %d errors)", got, l.errs.Load())
		}
	}
}

// stop stops the workers and closes their connections.
func (l *load) stop() {
	select {
	case <-l.stopped:
		return
	default:
	}
	close(l.stopped)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

// summary says how the load went.
func (l *load) summary() string {
	s := fmt.Sprintf("%d payments accepted, %d calls failed during the crashes", l.count(), l.errs.Load())
	if e, ok := l.lastErr.Load().(string); ok {
		s += " (the last: " + e + ")"
	}
	return s
}

// payments is every payment the TPAP accepted.
func (l *load) payments() []payment {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]payment(nil), l.accepted...)
}

// admin dials the AdminService of the node at addr.
func admin(t *testing.T, data, addr string) upiv1.AdminServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, appCreds(t, data), fastReconnect, withAdminToken(t, data))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return upiv1.NewAdminServiceClient(conn)
}

// listTxns pages through a node's ListTransactions.
func listTxns(ctx context.Context, a upiv1.AdminServiceClient) ([]*upiv1.TxnSummary, error) {
	var out []*upiv1.TxnSummary
	token := ""
	for {
		r, err := a.ListTransactions(ctx, &upiv1.ListTransactionsRequest{PageToken: token})
		if err != nil {
			return nil, err
		}
		out = append(out, r.GetTransactions()...)
		if token = r.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
}

func isFinal(s upiv1.Resp_Result) bool { return s == upiv1.Resp_SUCCESS || s == upiv1.Resp_FAILURE }

// auditReport is the part of `upisim audit -o json` the tests read.
type auditReport struct {
	OK                bool  `json:"ok"`
	TotalPaise        int64 `json:"total_paise"`
	OpeningTotalPaise int64 `json:"opening_total_paise"`
	Transactions      int   `json:"transactions"`
	NonTerminal       int   `json:"non_terminal"`
	InFlight          int   `json:"in_flight"`
	Violations        []struct {
		Kind   string `json:"kind"`
		TxnID  string `json:"txn_id"`
		Node   string `json:"node"`
		Detail string `json:"detail"`
	} `json:"violations"`
}

// audit runs `upisim audit --data dir -o json` and args; it exits non-zero when it
// finds violations, so the exit status is not an error here.
func audit(t *testing.T, bin, dir string, args ...string) (auditReport, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"audit", "--data", dir, "-o", "json"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var rep auditReport
	if jerr := json.Unmarshal(stdout.Bytes(), &rep); jerr != nil {
		require.NoError(t, err, "upisim audit: %s", stderr.String())
		require.NoError(t, jerr, "upisim audit -o json: %s", stdout.String())
	}
	return rep, stdout.String()
}

// network is how the checks reach a running network.
type network struct {
	bin, dataDir string // dataDir holds network.json
	tpap         string // gRPC addresses
	alphapsp     string
	betapsp      string
	npci         string
	abank, bbank string
}

func networkOf(t *testing.T, bin, dataDir string) network {
	t.Helper()
	d, err := config.ReadDirectory(dataDir)
	require.NoError(t, err)
	addr := func(name string) string {
		nd, ok := d.Node(name)
		require.True(t, ok, "node %s in network.json", name)
		return nd.GRPCAddr
	}
	return network{
		bin: bin, dataDir: dataDir, tpap: addr("tpap"), alphapsp: addr("alphapsp"), betapsp: addr("betapsp"),
		npci: addr("npci"), abank: addr("abank"), bbank: addr("bbank"),
	}
}

// opening is a network's seeded money: every account's, alice's and
// bob's, and each user's.
type opening struct {
	alice, bob, total int64
	users             map[string]int64
}

// defaultOpening is the default network's.
func defaultOpening(t *testing.T) opening { return openingOf(t, config.Default()) }

func openingOf(t *testing.T, netw *config.Network) opening {
	t.Helper()
	o := opening{users: map[string]int64{}}
	for _, u := range netw.Users {
		o.total += u.Balance
		o.users[u.VPA] = u.Balance
	}
	o.alice, o.bob = o.users[alice], o.users[bob]
	for _, m := range netw.Merchants {
		o.total += m.Balance
		o.users[m.VPA] = m.Balance
	}
	require.Positive(t, o.alice)
	require.Positive(t, o.bob)
	return o
}

// checkSettled waits until every payment the TPAP accepted is final at the
// TPAP, every payment any PSP knows is final there, and `upisim audit`
// finds nothing open and no violation; then it checks the audit's totals
// and that alice's and bob's balances moved by exactly the successful
// payments: at most once, and every FAILURE moved nothing. With cp, it
// checks its delegated payments too (circlePays.check), which it has
// drained first.
func checkSettled(t *testing.T, nw network, accepted []payment, open opening, cp *circlePays) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), settleWithin)
	defer cancel()
	began := time.Now()
	if cp != nil {
		cp.drain(t, nw)
	}

	// 1. Every accepted payment ends SUCCESS or FAILURE at the TPAP.
	conn, err := grpc.NewClient(nw.tpap, appCreds(t, nw.dataDir), fastReconnect)
	require.NoError(t, err)
	defer conn.Close()
	tp := upiv1.NewTpapAppServiceClient(conn)
	atTPAP := make([]upiv1.Resp_Result, len(accepted))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, p := range accepted {
		g.Go(func() error {
			for {
				r, err := tp.GetPayment(gctx, &upiv1.GetPaymentRequest{TxnId: p.id, WaitMs: 5000})
				if err != nil {
					return fmt.Errorf("GetPayment %s: %w", p.id, err)
				}
				if isFinal(r.GetStatus()) {
					atTPAP[i] = r.GetStatus()
					return nil
				}
				// PENDING past the wait, or DEEMED (GetPayment answers it
				// at once): the outcome is still coming.
				select {
				case <-gctx.Done():
					return fmt.Errorf("payment %s still %s at the TPAP after %s", p.id, r.GetStatus(), settleWithin)
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	}
	require.NoError(t, g.Wait(), "every payment the TPAP accepted ends final")
	t.Logf("every accepted payment final at the TPAP after %s", time.Since(began).Round(time.Millisecond))

	// 2. Every payment the PSPs know is final there (this covers payments
	// whose CreatePayment answer was lost in a crash), and the audit finds
	// nothing open: no violation, nothing undecided, nothing in flight.
	psps := map[string]upiv1.AdminServiceClient{"alphapsp": admin(t, nw.dataDir, nw.alphapsp), "betapsp": admin(t, nw.dataDir, nw.betapsp)}
	var rep auditReport
	var raw, open1 string
	for {
		open1 = ""
		for name, a := range psps {
			txns, err := listTxns(ctx, a)
			require.NoError(t, err, "list %s", name)
			for _, x := range txns {
				if x.GetType() == upiv1.Txn_PAY && !isFinal(x.GetStatus()) {
					open1 = fmt.Sprintf("%s at %s is %s (state %s)", x.GetTxnId(), name, x.GetStatus(), x.GetState())
				}
			}
		}
		if open1 == "" {
			rep, raw = audit(t, nw.bin, nw.dataDir)
			if rep.OK && rep.NonTerminal == 0 && rep.InFlight == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			if open1 != "" {
				t.Fatalf("payments still open at a PSP after %s: %s", settleWithin, open1)
			}
			for i, v := range rep.Violations {
				if i == 3 {
					break
				}
				if v.TxnID != "" {
					t.Logf("trace of %s (%s):\n%s", v.TxnID, v.Kind, traceOf(nw, v.TxnID))
				}
			}
			t.Fatalf("audit not clean after %s:\n%s", settleWithin, raw)
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Logf("audit clean after %s", time.Since(began).Round(time.Millisecond))
	assert.Empty(t, rep.Violations)
	assert.Equal(t, open.total, rep.OpeningTotalPaise, "the banks recorded the seeded total as their opening")
	assert.Equal(t, open.total, rep.TotalPaise, "money is conserved: %s", raw)

	// 3. The switch's outcomes: every accepted payment is there with the
	// TPAP's status, and the balances moved by exactly the successes.
	txns, err := listTxns(ctx, admin(t, nw.dataDir, nw.npci))
	require.NoError(t, err)
	atSwitch := map[string]*upiv1.TxnSummary{}
	var success, failure int
	var aliceWant, bobWant = open.alice, open.bob
	codes := map[string]int{}
	for _, x := range txns {
		if x.GetType() != upiv1.Txn_PAY || cp != nil && x.GetPayerVpa() == circlePrimary {
			continue // delegated payments: cp.check
		}
		if x.GetPayerVpa() == shopper {
			continue // orders' payments: orderPays.check
		}
		atSwitch[x.GetTxnId()] = x
		require.True(t, isFinal(x.GetStatus()), "%s is %s at the switch", x.GetTxnId(), x.GetStatus())
		if x.GetStatus() == upiv1.Resp_FAILURE {
			failure++
			codes[x.GetErrCode()]++
			// The PINs are right and the funds ample: only the timeouts
			// the crashes cause fail a payment (U09 the payee's PSP did
			// not answer in time, U67 a debit timeout, U68 a credit the
			// beneficiary had not posted when checked, U31 a CREDIT it
			// declined because it arrived after that check).
			assert.Contains(t, []string{"U09", "U67", "U68", "U31"}, x.GetErrCode(), "%s failed for another reason than a timeout", x.GetTxnId())
			continue
		}
		success++
		amt := x.GetAmountPaise()
		switch {
		case x.GetPayerVpa() == alice && x.GetPayeeVpa() == bob:
			aliceWant, bobWant = aliceWant-amt, bobWant+amt
		case x.GetPayerVpa() == bob && x.GetPayeeVpa() == alice:
			aliceWant, bobWant = aliceWant+amt, bobWant-amt
		default:
			t.Errorf("unexpected payment %s from %s to %s", x.GetTxnId(), x.GetPayerVpa(), x.GetPayeeVpa())
		}
	}
	for i, p := range accepted {
		x, ok := atSwitch[p.id]
		if !assert.True(t, ok, "accepted payment %s is known at the switch", p.id) {
			continue
		}
		assert.Equal(t, x.GetStatus(), atTPAP[i], "payment %s: the TPAP and the switch agree", p.id)
		assert.Equal(t, p.from, x.GetPayerVpa(), p.id)
		assert.Equal(t, int64(onePayment), x.GetAmountPaise(), p.id)
	}
	t.Logf("%d payments accepted by the TPAP, %d at the switch: %d SUCCESS, %d FAILURE %v",
		len(accepted), len(atSwitch), success, failure, codes)
	assert.Equal(t, aliceWant, balance(t, nw.dataDir, nw.abank, alice), "alice moved by exactly the successful payments")
	assert.Equal(t, bobWant, balance(t, nw.dataDir, nw.bbank, bob), "bob moved by exactly the successful payments")
	if cp != nil {
		cp.check(t, nw, txns, open)
	}
}

// traceOf is `upisim trace ID`, to explain a failure.
func traceOf(nw network, txnID string) string {
	out, err := exec.Command(nw.bin, "trace", "--data", nw.dataDir, txnID).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%s(upisim trace: %v)", out, err)
	}
	return string(out)
}

func balance(t *testing.T, data, bankAddr, vpa string) int64 {
	t.Helper()
	r, err := admin(t, data, bankAddr).GetBalance(context.Background(), &upiv1.GetBalanceRequest{Vpa: vpa})
	require.NoError(t, err, "balance of %s", vpa)
	return r.GetBalancePaise()
}

// startUp starts up, the `upisim up` server of data, and waits until every
// node of the network it writes is healthy. A network.json left behind (a
// killed network leaves its own, with the old ports) is removed first.
func startUp(t *testing.T, up *server, bin, data string) network {
	t.Helper()
	require.NoError(t, os.RemoveAll(filepath.Join(data, config.DirectoryFile)))
	up.start()
	waitDirectory(t, up, data)
	nw := networkOf(t, bin, data)
	for _, addr := range []string{nw.tpap, nw.alphapsp, nw.betapsp, nw.npci, nw.abank, nw.bbank} {
		up.waitHealthy(addr)
	}
	return nw
}

// waitDirectory waits for dir/network.json, which `upisim up` writes once
// every node listens.
func waitDirectory(t *testing.T, s *server, dir string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(dir, config.DirectoryFile)); err == nil {
			return
		} else if !errors.Is(err, os.ErrNotExist) {
			require.NoError(t, err)
		}
		select {
		case <-s.exited:
			t.Fatalf("%s exited while starting (%v):\n%s", s.name, s.err, s.out.tail(8<<10))
		default:
		}
		require.True(t, time.Now().Before(deadline), "%s wrote no network.json within a minute", s.name)
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCrashWholeNetwork kills `upisim up` with SIGKILL several times while
// payments (plain and delegated) are in flight and starts it again on the same data, after a
// random downtime that is sometimes past the switch's response timeouts
// (so timers that came due while it was down fire as it recovers, racing
// the resent messages); every other round it is killed once more while it
// recovers.
func TestCrashWholeNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and starts processes")
	}
	rng := crashRand(crashSeed(t), "whole network")
	bin := buildBinary(t)
	data := t.TempDir()
	netw := config.Default()
	addCircleUsers(netw)
	raw, err := netw.Marshal()
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "network.yaml")
	require.NoError(t, os.WriteFile(file, raw, 0o644))
	up := newServer(t, "upisim up", bin, "up", "--network", file, "--data", data, "--port-base", "0",
		"--response-timeout", responseTimeout(t, rng).String(), "--log-level", "warn")

	upStarted := func() network { return startUp(t, up, bin, data) }
	nw := upStarted()
	cp := startCirclePays(t, nw.dataDir, nw.tpap)
	ld := startLoad(t, nw.dataDir, nw.tpap, 32)
	const rounds = 4
	for round := 1; round <= rounds; round++ {
		ld.waitAccepted(ld.count() + 16) // payments are flowing again
		wait := between(rng, 50*time.Millisecond, 500*time.Millisecond)
		time.Sleep(wait)
		up.kill()
		down := between(rng, 0, maxDown)
		t.Logf("round %d: SIGKILL %s after it accepted payments for %s, down for %s: %d accepted so far, %d not seen to end",
			round, up.name, wait, down, ld.count(), ld.open())
		time.Sleep(down)
		if round%2 == 0 {
			up.start()
			again := between(rng, 0, 300*time.Millisecond)
			time.Sleep(again)
			up.kill()
			t.Logf("round %d: SIGKILL %s again %s after its restart", round, up.name, again)
		}
		nw = upStarted()
		ld.retarget(nw.tpap)
		cp.retarget(nw.tpap)
	}
	// Some payments go through the restarted network before the load
	// stops.
	ld.waitAccepted(ld.count() + 32)
	ld.stop()
	t.Logf("load: %s", ld.summary())
	checkSettled(t, nw, ld.payments(), openingOf(t, netw), cp)
	up.stop()
}

// TestCrashOneNode runs the default network as six `upisim node` processes
// and, while payments, UPI Circle links and delegated payments are in
// flight, kills one of them with SIGKILL, keeps
// it down a random while (sometimes past the switch's response timeouts,
// so debit timeouts, reversals and DEEMED credits happen too), and starts
// it again on the same data; twice for each victim, the second time
// killing it once more while it recovers. The victims are the switch, one
// of the banks and one of the PSPs (which ones the seed decides), and the
// TPAP.
func TestCrashOneNode(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and starts processes")
	}
	seed := crashSeed(t)
	rng := crashRand(seed, "victims")
	bin := buildBinary(t)
	victims := []string{"npci", []string{"abank", "bbank"}[rng.IntN(2)], []string{"alphapsp", "betapsp"}[rng.IntN(2)], "tpap"}
	for _, victim := range victims {
		t.Run(victim, func(t *testing.T) {
			rng := crashRand(seed, victim)
			netw := config.Default()
			addCircleUsers(netw)
			addShopper(netw) // crash_merchant_test.go
			n := startNodes(t, bin, netw, "--response-timeout", responseTimeout(t, rng).String())
			nw := n.nw
			v := n.procs[victim]
			vnode, _ := netw.NodeByName(victim)
			cp := startCirclePays(t, nw.dataDir, nw.tpap)
			op := startOrderPays(t, netw, nw.dataDir, nw.tpap, nw.betapsp)
			ld := startLoad(t, nw.dataDir, nw.tpap, 32)
			links := startLinks(t, nw.dataDir, nw.tpap)
			for round := 1; round <= 2; round++ {
				ld.waitAccepted(ld.count() + 16)
				wait := between(rng, 50*time.Millisecond, 500*time.Millisecond)
				time.Sleep(wait)
				v.kill()
				down := between(rng, 0, maxDown)
				t.Logf("round %d: SIGKILL %s after %s of load, down for %s: %d accepted so far, %d not seen to end",
					round, victim, wait, down, ld.count(), ld.open())
				time.Sleep(down)
				v.start()
				if round == 2 {
					// Again while it resumes its outbox and timers.
					again := between(rng, 0, 300*time.Millisecond)
					time.Sleep(again)
					v.kill()
					t.Logf("round %d: SIGKILL %s again %s after its restart", round, victim, again)
					v.start()
				}
				v.waitHealthy(vnode.GRPCAddr)
			}
			ld.waitAccepted(ld.count() + 32)
			ld.stop()
			t.Logf("load: %s", ld.summary())
			links.checkLinks(t)
			op.stop()
			checkSettled(t, nw, ld.payments(), openingOf(t, netw), cp)
			op.check(t, nw, openingOf(t, netw))
			n.stop()
		})
	}
}
