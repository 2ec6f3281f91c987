package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/pin/pintest"
)

// burstSize is how many calls each burst of TestBurst makes at once;
// the raw ReqPays go over burstConns connections.
const (
	burstSize  = 3000
	burstConns = 100
)

// TestBurst sends, at the same moment, burstSize ReqPay straight to the
// switch's gRPC port (as an outsider would: well-formed messages under
// alphapsp's org_id) and burstSize REST payments to the TPAP. Each call is
// either accepted or refused at once as busy (RESOURCE_EXHAUSTED, HTTP 429
// with Retry-After, or 503 with Retry-After for a connection beyond the
// REST listener's limit); nothing else. Then a fresh payment succeeds within
// seconds, every accepted payment ends final, `upisim audit` finds nothing
// half-applied and no money created or lost, and the network stops on
// SIGTERM. (A burst once wedged the switch's store for good: nothing
// committed again, and the process did not stop.)
func TestBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and starts processes")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	up := newServer(t, "upisim up", bin, "up", "--data", data, "--port-base", "0", "--log-level", "error")
	nw := startUp(t, up, bin, data)
	dir, err := config.ReadDirectory(data)
	require.NoError(t, err)
	tpapNode, _ := dir.Node("tpap")
	rest := "http://" + tpapNode.HTTPAddr
	open := defaultOpening(t)

	// Both bursts start together.
	start := make(chan struct{})
	var wg sync.WaitGroup
	raw := rawBurst(t, nw.dataDir, nw.npci, start, &wg)
	rb := restBurst(t, rest, start, &wg)
	began := time.Now()
	close(start)
	wg.Wait()
	t.Logf("bursts answered in %s: ReqPay to the switch %d accepted, %d refused as busy; REST payments %d accepted, %d refused with 429, %d connections refused with 503",
		time.Since(began).Round(time.Millisecond), len(raw.accepted), raw.busy.Load(), len(rb.accepted), rb.busy.Load(), rb.full.Load())
	require.Empty(t, raw.failed(), "every ReqPay is accepted or refused as busy")
	require.Empty(t, rb.failed(), "every REST payment is accepted, or refused at once with 429 or (its connection) 503")
	require.NotEmpty(t, raw.accepted, "the switch takes some of the burst")
	require.NotEmpty(t, rb.accepted, "the TPAP takes some of the burst")

	// A fresh payment goes through while the network works off the burst.
	fresh := time.Now()
	id := payREST(t, rest, `{"payer_vpa":"alice@alpha","payee_vpa":"bob@beta","amount_paise":200,"pin":"1234","note":"after the burst"}`)
	conn, err := grpc.NewClient(nw.tpap, appCreds(t, nw.dataDir))
	require.NoError(t, err)
	defer conn.Close()
	tp := upiv1.NewTpapAppServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	g, err := tp.GetPayment(ctx, &upiv1.GetPaymentRequest{TxnId: id, WaitMs: 60000})
	cancel()
	require.NoError(t, err)
	require.Equal(t, upiv1.Resp_SUCCESS, g.GetStatus(), "the fresh payment %s succeeds (err code %s)", id, g.GetErrCode())
	t.Logf("fresh payment SUCCESS %s after the bursts were answered", time.Since(fresh).Round(time.Millisecond))

	// Every accepted payment ends: at the switch for the raw ReqPays, at
	// the TPAP for the REST ones.
	settle, cancel := context.WithTimeout(context.Background(), settleWithin)
	defer cancel()
	sw := admin(t, nw.dataDir, nw.npci)
	eg, ectx := errgroup.WithContext(settle)
	eg.SetLimit(16)
	for _, id := range raw.accepted {
		eg.Go(func() error {
			for {
				r, err := sw.GetTransaction(ectx, &upiv1.GetTransactionRequest{TxnId: id})
				if err != nil {
					return fmt.Errorf("switch GetTransaction %s: %w", id, err)
				}
				if isFinal(r.GetTransaction().GetStatus()) {
					return nil
				}
				select {
				case <-ectx.Done():
					return fmt.Errorf("ReqPay %s still %s at the switch", id, r.GetTransaction().GetStatus())
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	}
	for _, id := range rb.accepted {
		eg.Go(func() error {
			for {
				r, err := tp.GetPayment(ectx, &upiv1.GetPaymentRequest{TxnId: id, WaitMs: 5000})
				if err != nil {
					return fmt.Errorf("TPAP GetPayment %s: %w", id, err)
				}
				if isFinal(r.GetStatus()) {
					return nil
				}
				select {
				case <-ectx.Done():
					return fmt.Errorf("payment %s still %s at the TPAP", id, r.GetStatus())
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	}
	require.NoError(t, eg.Wait(), "every accepted payment ends final")
	t.Logf("every accepted payment final %s after the bursts began", time.Since(began).Round(time.Millisecond))

	// Nothing half-applied: the switch has decided everything, banks and
	// PSPs agree with it, no money appeared or vanished. The raw ReqPays
	// were never initiated at alphapsp, which refuses their RespPay; the
	// audit counts them in flight there (until --max-age), not as wrong.
	var rep auditReport
	var out string
	for {
		rep, out = audit(t, bin, data)
		if rep.OK && rep.NonTerminal == 0 && rep.InFlight <= len(raw.accepted) {
			break
		}
		select {
		case <-settle.Done():
			t.Fatalf("audit not clean after %s:\n%s", settleWithin, out)
		case <-time.After(200 * time.Millisecond):
		}
	}
	assert.Empty(t, rep.Violations)
	assert.Equal(t, open.total, rep.OpeningTotalPaise)
	assert.Equal(t, open.total, rep.TotalPaise, "money is conserved: %s", out)
	t.Logf("audit clean: %d transactions, %d in flight at a PSP", rep.Transactions, rep.InFlight)

	// And the network stops.
	stopping := time.Now()
	up.stop()
	t.Logf("upisim up stopped %s after SIGTERM", time.Since(stopping).Round(time.Millisecond))
}

// TestStopDuringBurst stops `upisim up` with SIGTERM while it works off
// both bursts of TestBurst: it exits, cleanly and in bounded time (the
// servers' grace, then the store's queue). Started again on the same data
// it finishes every payment it took, and the audit is clean.
func TestStopDuringBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and starts processes")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	up := newServer(t, "upisim up", bin, "up", "--data", data, "--port-base", "0", "--log-level", "error")
	started := func() network { return startUp(t, up, bin, data) }
	nw := started()
	dir, err := config.ReadDirectory(data)
	require.NoError(t, err)
	tpapNode, _ := dir.Node("tpap")

	start := make(chan struct{})
	var wg sync.WaitGroup
	raw := rawBurst(t, nw.dataDir, nw.npci, start, &wg)
	restBurst(t, "http://"+tpapNode.HTTPAddr, start, &wg)
	close(start)
	// Stop once the switch has taken part of the burst.
	require.Eventually(t, func() bool { return raw.count() >= 100 }, time.Minute, time.Millisecond,
		"the switch took no 100 ReqPay of the burst within a minute")
	stopping := time.Now()
	up.stop() // requires a clean exit within 30s
	t.Logf("upisim up stopped %s after SIGTERM, with %d ReqPays of the burst accepted so far",
		time.Since(stopping).Round(time.Millisecond), raw.count())
	wg.Wait() // the rest of the burst fails: the network is gone

	// Again on the same data: everything it took ends, and nothing is half
	// applied.
	started()
	settle, cancel := context.WithTimeout(context.Background(), settleWithin)
	defer cancel()
	for {
		// The raw burst's payments are ones alphapsp never sent (the test
		// sent them in its name): alphapsp never learns of them, so they
		// stay on their way to it (in_flight) only while younger than
		// --max-age, then are NOT_CLOSED. A max-age beyond this wait keeps
		// them in flight however slowly a loaded machine settles the rest.
		rep, out := audit(t, bin, data, "--max-age", (2 * settleWithin).String())
		if rep.OK && rep.NonTerminal == 0 && rep.InFlight <= raw.count() {
			assert.Equal(t, defaultOpening(t).total, rep.TotalPaise, "money is conserved: %s", out)
			t.Logf("after the restart: audit clean, %d transactions", rep.Transactions)
			break
		}
		select {
		case <-settle.Done():
			t.Fatalf("audit not clean %s after the restart:\n%s", settleWithin, out)
		case <-time.After(200 * time.Millisecond):
		}
	}
	up.stop()
}

// burst is how one burst's calls were answered.
type burst struct {
	mu       sync.Mutex
	accepted []string // txn ids
	other    []string // answers that are neither accepted nor busy
	busy     atomic.Int64
	// full counts REST connections refused at once with 503 because the
	// listener held as many as it takes (cluster.ServerLimits.HTTPMaxConns).
	full atomic.Int64
}

func (b *burst) accept(id string) {
	b.mu.Lock()
	b.accepted = append(b.accepted, id)
	b.mu.Unlock()
}

// count is the number of calls accepted so far.
func (b *burst) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.accepted)
}

func (b *burst) fail(format string, args ...any) {
	b.mu.Lock()
	if len(b.other) < 10 {
		b.other = append(b.other, fmt.Sprintf(format, args...))
	}
	b.mu.Unlock()
}

func (b *burst) failed() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.other
}

// rawBurst starts burstSize goroutines that each send, once start is
// closed, one ReqPay of ₹1.00 from alice to bob to the switch at addr, as
// alphapsp builds them (psp.InitiatePay).
func rawBurst(t *testing.T, data, addr string, start <-chan struct{}, wg *sync.WaitGroup) *burst {
	t.Helper()
	netw := config.Default()
	psp, ok := netw.NodeByName("alphapsp")
	require.True(t, ok)
	prefix := psp.Prefix
	if prefix == "" {
		prefix = ids.PrefixFor(psp.Name)
	}
	var ac *upiv1.Account
	for _, u := range netw.Users {
		if u.VPA == alice {
			bank, ok := netw.NodeByName(u.Bank)
			require.True(t, ok)
			ac = &upiv1.Account{AcNum: u.Account, Ifsc: bank.IFSC}
		}
	}
	require.NotNil(t, ac)
	// Many connections, each connected before the burst, so that the
	// messages arrive at once rather than one after another as they would
	// through one connection's reader.
	clients := make([]upiv1.SwitchServiceClient, burstConns)
	for i := range clients {
		conn, err := grpc.NewClient(addr, nodeCreds(t, data, "alphapsp"))
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		conn.Connect()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		for s := conn.GetState(); s != connectivity.Ready; s = conn.GetState() {
			require.True(t, conn.WaitForStateChange(ctx, s), "connection %d to the switch: %s", i, s)
		}
		cancel()
		clients[i] = upiv1.NewSwitchServiceClient(conn)
	}
	b := &burst{}
	for i := range burstSize {
		sw := clients[i%burstConns]
		txnID := ids.NewTxnID(prefix)
		m := &upiv1.ReqPay{
			Head: &upiv1.Head{Ver: "2.0", Ts: timestamppb.Now(), OrgId: psp.Name, MsgId: ids.NewMsgID(prefix), ProdType: "UPI"},
			Txn: &upiv1.Txn{Id: txnID, Type: upiv1.Txn_PAY, Note: "burst", Purpose: "00", InitiationMode: "00",
				Ts: timestamppb.Now()},
			Payer: &upiv1.Party{
				Addr: alice, Name: "Alice", Type: upiv1.Party_PERSON, Ac: ac, AmountPaise: onePayment, Currency: "INR",
				Creds: []*upiv1.Cred{pintest.Opaque("1234", txnID)},
			},
			Payee: &upiv1.Party{Addr: bob},
		}
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ack, err := sw.ReqPay(ctx, m)
			switch {
			case status.Code(err) == codes.ResourceExhausted:
				b.busy.Add(1)
			case err != nil:
				b.fail("ReqPay %s: %v", txnID, err)
			case ack.GetErr() != "":
				b.fail("ReqPay %s refused: %s", txnID, ack.GetErr())
			default:
				b.accept(txnID)
			}
		})
	}
	return b
}

// restBurst starts burstSize goroutines that each POST, once start is
// closed, one payment of ₹1.00 from bob to alice to the TPAP's REST API at
// base, each on its own connection.
func restBurst(t *testing.T, base string, start <-chan struct{}, wg *sync.WaitGroup) *burst {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: burstSize, MaxConnsPerHost: burstSize}
	t.Cleanup(tr.CloseIdleConnections)
	cl := &http.Client{Transport: tr, Timeout: time.Minute}
	body := fmt.Sprintf(`{"payer_vpa":%q,"payee_vpa":%q,"amount_paise":%d,"pin":"1234","note":"burst"}`, bob, alice, onePayment)
	b := &burst{}
	for range burstSize {
		wg.Go(func() {
			<-start
			resp, err := cl.Post(base+"/v1/payments", "application/json", strings.NewReader(body))
			if err != nil {
				b.fail("POST /v1/payments: %v", err)
				return
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			switch resp.StatusCode {
			case http.StatusTooManyRequests, http.StatusServiceUnavailable:
				if resp.Header.Get("Retry-After") == "" {
					b.fail("%d without Retry-After: %s", resp.StatusCode, raw)
					return
				}
				if resp.StatusCode == http.StatusServiceUnavailable {
					b.full.Add(1)
				} else {
					b.busy.Add(1)
				}
			case http.StatusOK:
				var created struct {
					TxnID string `json:"txn_id"`
				}
				if err := json.Unmarshal(raw, &created); err != nil || created.TxnID == "" {
					b.fail("200 without a txn id: %s", raw)
					return
				}
				b.accept(created.TxnID)
			default:
				b.fail("POST /v1/payments: %d %s", resp.StatusCode, raw)
			}
		})
	}
	return b
}

// payREST posts body to base/v1/payments as a well-behaved client does:
// on 429 it waits Retry-After and tries again. It returns the txn id.
func payREST(t *testing.T, base, body string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Post(base+"/v1/payments", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) && time.Now().Before(deadline) {
			wait, err := time.ParseDuration(resp.Header.Get("Retry-After") + "s")
			require.NoError(t, err, "Retry-After %q", resp.Header.Get("Retry-After"))
			time.Sleep(wait)
			continue
		}
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", raw)
		var created struct {
			TxnID string `json:"txn_id"`
		}
		require.NoError(t, json.Unmarshal(raw, &created), "%s", raw)
		return created.TxnID
	}
}
