package sim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/audit"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/fault"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/pin"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/psp"
)

// Run it:
//
//	go test ./tests/sim -run TestSimulation                  # a random seed, CI size
//	go test ./tests/sim -run TestSimulation -sim.seed=N      # reproduce seed N
//	go test ./tests/sim -run TestSimulation -sim.long        # 2,000 flows, more restarts
//	go test ./tests/sim -run TestSimulation -sim.flows=500   # any size
//	go test ./tests/sim -run TestSimulation -sim.lite.reorder # banks' Lite answers delayed too
//
// A failure names its seed and the command that runs the same plan again.
var (
	seedFlag    = flag.Int64("sim.seed", 0, "seed of the simulation (0: from the clock)")
	flowsFlag   = flag.Int("sim.flows", 0, "number of flows (0: 250, or 2000 with -sim.long)")
	longFlag    = flag.Bool("sim.long", false, "a longer run: 2000 flows unless -sim.flows says otherwise")
	verboseFlag = flag.Bool("sim.v", false, "write the nodes' warnings and errors to stderr")
	strictFlag  = flag.Bool("sim.lite.strict", false, "fail on the switch's known Lite balance drift (LITE_SWITCH_MISMATCH) instead of logging it")
	reorderFlag = flag.Bool("sim.lite.reorder", false, "delay the banks' answers to Lite sync stages too (shows the switch re-basing an LRN on a stale balance)")
)

// Flows of a run by default and with -sim.long.
const (
	defaultFlows = 250
	longFlows    = 2000
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// simTimeouts are the switch's timers in the simulation: short, so that
// the faults make them fire often. A status check a fault or restart
// delays past its interval is followed by the next; the switch keeps
// checking until one is answered.
var simTimeouts = config.Timeouts{
	AuthDetails:      2 * time.Second,
	Debit:            200 * time.Millisecond,
	Credit:           200 * time.Millisecond,
	CheckStatus:      400 * time.Millisecond,
	Reversal:         300 * time.Millisecond,
	ValAdd:           time.Second,
	CollectExpiryMax: 3 * time.Second,
}

// TestSimulation runs a seeded plan of concurrent pays and collects over
// the default network with faults and restarts, UPI Circle's links and
// delegated payments, and merchant orders with their webhooks; checks each
// Circle step's outcome as it ends, and the invariants, every order's
// statuses and every webhook once every flow is final.
func TestSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("the simulation runs whole networks; skipped with -short")
	}
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	flows, extra := *flowsFlag, ""
	switch {
	case flows > 0:
		extra = fmt.Sprintf(" -sim.flows=%d", flows)
	case *longFlag:
		flows, extra = longFlows, " -sim.long"
	default:
		flows = defaultFlows
	}
	if *reorderFlag {
		extra += " -sim.lite.reorder"
	}
	repro := fmt.Sprintf("go test ./tests/sim -run TestSimulation -sim.seed=%d%s", seed, extra)
	t.Logf("seed %d, %d flows; reproduce with: %s", seed, flows, repro)
	s := &sim{t: t, seed: seed, repro: repro}
	s.run(flows)
}

// sim is one run.
type sim struct {
	t     *testing.T
	seed  int64
	repro string
	cfg   *config.Network
	plan  *plan
	nw    *network
	res   []*flowResult
	// byTxn maps a txn id to its flow.
	byTxn map[string]*flowPlan
	// circle is what became of the plan's UPI Circle lanes, merch of its
	// merchant lanes.
	circle circleRes
	merch  *merchantRes
	// lite is what became of its UPI Lite lanes.
	lite *liteRes
}

// flowResult is what became of a flow.
type flowResult struct {
	txnID string
	// at is the node whose status is the flow's outcome: the payer's PSP
	// (the initiator's when no PSP owns the payer's handle).
	at      string
	status  upiv1.Resp_Result
	errCode string
}

// failf fails the test with the seed and the command that reproduces it.
func (s *sim) failf(format string, args ...any) {
	s.t.Helper()
	s.t.Errorf("seed %d: %s\n    reproduce: %s", s.seed, fmt.Sprintf(format, args...), s.repro)
}

func (s *sim) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("seed %d: %s\n    reproduce: %s", s.seed, fmt.Sprintf(format, args...), s.repro)
}

func (s *sim) run(flows int) {
	t := s.t
	s.cfg = simConfig()
	if err := s.cfg.Validate(); err != nil {
		s.fatalf("the simulation's network: %v", err)
	}
	s.plan = newPlan(s.seed, flows, s.cfg)
	s.plan.liteReorder = *reorderFlag
	log := slog.New(slog.DiscardHandler)
	if *verboseFlag {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s.nw = newNetwork(s.cfg, t.TempDir(), log, func(from string) func(node.Outbound) fault.Fault {
		return func(o node.Outbound) fault.Fault { return s.plan.faultFor(from, o) }
	})
	if err := s.nw.start(); err != nil {
		s.fatalf("start the network: %v", err)
	}
	t.Cleanup(s.nw.stop)

	// Generous deadlines for a slow shared machine; none of them is an
	// assertion about speed.
	waitFor := 3 * time.Minute
	if flows > defaultFlows {
		waitFor = time.Duration(flows) * time.Minute / 100
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.plan.spread+2*waitFor)
	defer cancel()

	began := time.Now()
	s.res = make([]*flowResult, len(s.plan.flows))
	for i := range s.res {
		s.res[i] = &flowResult{}
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.restarts(ctx, began) })
	driving, stop := context.WithTimeout(ctx, s.plan.spread+waitFor)
	defer stop()
	for _, f := range s.plan.flows {
		wg.Go(func() {
			if !sleepUntil(driving, began.Add(f.start)) {
				return
			}
			s.drive(driving, f, s.res[f.idx])
		})
	}
	// The Circle lanes predict each step's outcome, and a remitter busy
	// with the Lite lanes' batches may let a mandate time out (U67): they
	// start once the Lite lanes have ended (later than planned by as much).
	liteDone := s.startLite(&wg, driving, began)
	wg.Go(func() {
		select {
		case <-liteDone:
		case <-driving.Done():
			return
		}
		late := max(0, time.Since(began)-s.plan.circle.start)
		s.startCircle(&wg, driving, began.Add(late))
	})
	s.startMerchant(&wg, driving, began)
	wg.Wait()
	if t.Failed() {
		return
	}
	// Every Lite device online and synced.
	if !s.finishLite(ctx, waitFor) {
		return
	}
	submitted := time.Since(began)

	if !s.waitSettled(ctx, waitFor) {
		return
	}
	settled := time.Since(began)
	// Every webhook not delivered (an endpoint's 410, its last retry
	// failed) again, to a calm endpoint: checkWebhooks wants each event
	// delivered once.
	s.resendWebhooks(ctx)
	if t.Failed() || !s.waitSettled(ctx, waitFor) {
		return
	}
	s.check(ctx)
	t.Logf("%d flows submitted in %s, all final and every outbox empty after %s; %d restarts", flows, submitted.Round(time.Millisecond), settled.Round(time.Millisecond), len(s.plan.restarts))
	t.Logf("outcomes: %s", s.histogram())
	t.Logf("UPI Circle: %s", s.circleSummary())
	t.Logf("merchants: %s", s.merchantSummary(ctx))
	t.Logf("UPI Lite: %s", s.liteSummary())
	t.Logf("network: %s", &s.plan.stats)
}

// sleepUntil sleeps until at, or returns false when ctx ends first.
func sleepUntil(ctx context.Context, at time.Time) bool {
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// restarts runs the plan's restarts, each at its time, so that two may
// overlap; a node restarted while it is down comes back once.
func (s *sim) restarts(ctx context.Context, began time.Time) {
	var wg sync.WaitGroup
	for _, r := range s.plan.restarts {
		wg.Go(func() {
			if !sleepUntil(ctx, began.Add(r.at)) {
				return
			}
			if err := s.nw.nodes[r.node].restart(r.down); err != nil {
				s.failf("restart %s: %v", r.node, err)
			}
		})
	}
	wg.Wait()
}

// pspOf is the simulated node of the PSP that owns vpa's handle, or nil.
func (s *sim) pspOf(vpa string) *simNode {
	nd, ok := s.cfg.PSPForVPA(vpa)
	if !ok {
		return nil
	}
	return s.nw.nodes[nd.Name]
}

// seal is the PIN block of pinValue for txnID sealed to payer's bank, as
// the TPAP makes it; one to no bank's key for a payer of no bank.
func (s *sim) seal(payer, pinValue, txnID string) *upiv1.Cred {
	for _, u := range s.cfg.Users {
		if ids.NormalizeVPA(u.VPA) == ids.NormalizeVPA(payer) {
			if b, ok := s.nw.nodes[u.Bank]; ok {
				c, err := pin.Seal(b.keys.HPKE.PublicKey(), b.keys.KeyID(), pinValue, txnID, time.Now())
				if err != nil {
					panic(err)
				}
				return c
			}
		}
	}
	return pintest.Opaque(pinValue, txnID)
}

// call calls fn on the PSP sn, again while sn is restarting.
func (s *sim) call(ctx context.Context, sn *simNode, fn func(p *psp.PSP) error) error {
	for {
		err := sn.withPSP(fn)
		if !errors.Is(err, errDown) {
			return err
		}
		if !sleepUntil(ctx, time.Now().Add(5*time.Millisecond)) {
			return ctx.Err()
		}
	}
}

// drive starts a flow at its PSP's app API (as the TPAP would) and, for a
// collect, answers it as the payer's app would.
func (s *sim) drive(ctx context.Context, f *flowPlan, res *flowResult) {
	if f.kind == kindPay {
		s.pay(ctx, f, res)
		return
	}
	s.collect(ctx, f, res)
}

func (s *sim) pay(ctx context.Context, f *flowPlan, res *flowResult) {
	sn := s.pspOf(f.payer)
	res.txnID, res.at = ids.NewTxnID(sn.self.Prefix), sn.self.Name
	req := &upiv1.InitiatePayRequest{
		TxnId: res.txnID, PayerVpa: f.payer, PayeeVpa: f.payee,
		AmountPaise: f.amount, Note: f.note(), Cred: s.seal(f.payer, f.pin, res.txnID),
	}
	times := 1
	if f.again {
		times = 2 // an app that retries: the same transaction, not a second one
	}
	for range times {
		err := s.call(ctx, sn, func(p *psp.PSP) error {
			r, err := p.InitiatePay(ctx, req)
			if err == nil && r.GetTransaction().GetTxnId() != res.txnID {
				return fmt.Errorf("InitiatePay answered txn %s, asked for %s", r.GetTransaction().GetTxnId(), res.txnID)
			}
			return err
		})
		if err != nil {
			s.failf("%s: InitiatePay at %s: %v", f, sn.self.Name, err)
			return
		}
	}
}

func (s *sim) collect(ctx context.Context, f *flowPlan, res *flowResult) {
	payee := s.pspOf(f.payee)
	err := s.call(ctx, payee, func(p *psp.PSP) error {
		r, err := p.InitiateCollect(ctx, &upiv1.InitiateCollectRequest{
			PayeeVpa: f.payee, PayerVpa: f.payer, AmountPaise: f.amount, Note: f.note(),
		})
		if err == nil {
			res.txnID = r.GetTransaction().GetTxnId()
		}
		return err
	})
	if err != nil {
		s.failf("%s: InitiateCollect at %s: %v", f, payee.self.Name, err)
		return
	}
	payer := s.pspOf(f.payer)
	res.at = payee.self.Name
	if payer == nil {
		return // no PSP has the payer's handle: the switch ends it (U29)
	}
	res.at = payer.self.Name
	if f.answer == answerIgnore || slices.Contains(unknownPayers, f.payer) {
		return
	}
	// Wait for the request to reach the payer's PSP, think, answer.
	for {
		var state string
		var final bool
		err := s.call(ctx, payer, func(p *psp.PSP) error {
			r, err := p.InspectTxn(res.txnID)
			if err == nil {
				state, final = r.GetState(), isFinal(r.GetTransaction().GetStatus())
			}
			return err
		})
		switch {
		case status.Code(err) == codes.NotFound:
		case err != nil:
			s.failf("%s: GetTransaction %s at %s: %v", f, res.txnID, payer.self.Name, err)
			return
		case final:
			return // expired, or ended otherwise, before it was answered
		case state == "AWAITING_APPROVAL":
			if !sleepUntil(ctx, time.Now().Add(f.think)) {
				return
			}
			err := s.call(ctx, payer, func(p *psp.PSP) error {
				_, err := p.RespondCollect(ctx, &upiv1.RespondCollectRequest{
					TxnId: res.txnID, Approve: f.answer == answerApprove, Cred: s.seal(f.payer, f.pin, res.txnID),
				})
				return err
			})
			if err != nil && status.Code(err) != codes.FailedPrecondition { // FailedPrecondition: it expired meanwhile
				s.failf("%s: RespondCollect %s at %s: %v", f, res.txnID, payer.self.Name, err)
			}
			return
		}
		if !sleepUntil(ctx, time.Now().Add(10*time.Millisecond)) {
			s.failf("%s: collect %s never reached the payer's PSP %s", f, res.txnID, payer.self.Name)
			return
		}
	}
}

func isFinal(r upiv1.Resp_Result) bool { return r == upiv1.Resp_SUCCESS || r == upiv1.Resp_FAILURE }

// waitSettled waits until every flow is final at its payer's PSP and no
// node has a message to deliver or a timer to fire.
func (s *sim) waitSettled(ctx context.Context, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	var open []int
	var busy []string
	for {
		open, busy = open[:0], busy[:0]
		for i, res := range s.res {
			if !isFinal(res.status) {
				s.readOutcome(ctx, res)
			}
			if !isFinal(res.status) {
				open = append(open, i)
			}
		}
		for _, name := range s.nw.order {
			a, err := s.nw.nodes[name].adminClient()
			if err != nil {
				s.fatalf("admin of %s: %v", name, err)
			}
			h, err := a.Health(ctx, &upiv1.HealthRequest{})
			if err != nil {
				s.fatalf("health of %s: %v", name, err)
			}
			if h.GetOutboxPending() > 0 || h.GetTimersPending() > 0 && s.timerSoon(name) {
				busy = append(busy, fmt.Sprintf("%s (outbox %d, timers %d)", name, h.GetOutboxPending(), h.GetTimersPending()))
			}
		}
		if len(open) == 0 && len(busy) == 0 {
			return true
		}
		if time.Now().After(deadline) || !sleepUntil(ctx, time.Now().Add(50*time.Millisecond)) {
			break
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "not settled after %s: %d flows not final, busy nodes: %s", limit, len(open), strings.Join(busy, ", "))
	for _, i := range open[:min(len(open), 5)] {
		b.WriteString("\n" + s.describe(ctx, i))
	}
	s.failf("%s", b.String())
	return false
}

// timerSoon reports whether node name has a timer due within the next
// hour: the switch's daily Lite reconciliation (one timer per bank, a day
// away) is no work the run waits for.
func (s *sim) timerSoon(name string) bool {
	nd := s.nw.nodes[name]
	nd.mu.RLock()
	n := nd.n
	nd.mu.RUnlock()
	if n == nil {
		return true
	}
	at, ok, err := n.NextTimer()
	return err != nil || ok && at.Before(time.Now().Add(time.Hour))
}

// readOutcome reads a flow's status at its payer's PSP.
func (s *sim) readOutcome(ctx context.Context, res *flowResult) {
	if res.txnID == "" {
		return
	}
	a, err := s.nw.nodes[res.at].adminClient()
	if err != nil {
		return
	}
	r, err := a.GetTransaction(ctx, &upiv1.GetTransactionRequest{TxnId: res.txnID})
	if err != nil {
		return // not there yet
	}
	res.status, res.errCode = r.GetTransaction().GetStatus(), r.GetTransaction().GetErrCode()
}

// check checks the invariants (ARCHITECTURE.md, "Invariants") on the settled network.
func (s *sim) check(ctx context.Context) {
	s.byTxn = map[string]*flowPlan{}
	for i, res := range s.res {
		s.byTxn[res.txnID] = s.plan.flows[i]
	}
	opening := s.openingBalances()
	var openingTotal int64
	for _, v := range opening {
		openingTotal += v
	}

	// Conservation, no negative balance, agreement of both PSPs and the
	// banks with the switch, closure, UPI Circle's links and mandates at
	// every side: the checks of `upisim audit`. The network is settled, so
	// nothing may be excused as in flight: a max age of a nanosecond (the
	// link checks skip what changed within it).
	a, err := audit.From(ctx, s.nw.auditSource(), time.Nanosecond)
	if err != nil {
		s.fatalf("audit: %v", err)
	}
	for _, n := range a.Notes {
		// A note says what the audit could not check: here, everything
		// must have been.
		s.failf("audit: %s", n)
	}
	var liteDrift []audit.Violation
	for _, v := range a.Violations {
		if v.Kind == audit.ViolationLiteSwitchMismatch || v.Kind == audit.ViolationLiteUnsynced {
			liteDrift = append(liteDrift, v) // checkLite judges them
			continue
		}
		detail := fmt.Sprintf("%s at %s: %s", v.Kind, orDash(v.Node), v.Detail)
		if f := s.byTxn[v.TxnID]; f != nil {
			detail += "\n" + s.describe(ctx, f.idx)
		}
		s.failf("audit: %s", detail)
	}
	if a.TotalPaise != openingTotal || a.OpeningTotalPaise != openingTotal {
		s.failf("money: the banks hold %d paise and opened with %d; the network file gives %d", a.TotalPaise, a.OpeningTotalPaise, openingTotal)
	}

	// Each flow: the switch agrees with the payer's PSP and is closed (the
	// counter-party confirmed); a flow that cannot succeed did not.
	sw, err := s.nw.nodes[s.cfg.Switch().Name].adminClient()
	if err != nil {
		s.fatalf("admin of the switch: %v", err)
	}
	delegated := s.checkCircle(ctx, sw)
	// The money the merchant lanes moved, as their orders say; the
	// balances below must agree.
	merchantMoved := map[string]int64{}
	merchantTxns := s.checkMerchant(ctx, sw, merchantMoved)
	// The money the Lite lanes moved, as their payments and records say.
	liteMoved := map[string]int64{}
	liteTxns := s.checkLite(ctx, sw, liteMoved)
	s.liteDrift(liteDrift)
	if want := len(s.plan.flows) + delegated + merchantTxns + liteTxns; a.Transactions != want || a.NonTerminal != 0 || a.InFlight != 0 {
		s.failf("the switch has %d payments (want %d: %d flows, %d delegated payments, %d of the merchant lanes, %d of the Lite lanes), %d not terminal, %d not final at a PSP (want 0 and 0)",
			a.Transactions, want, len(s.plan.flows), delegated, merchantTxns, liteTxns, a.NonTerminal, a.InFlight)
	}
	for i, res := range s.res {
		f := s.plan.flows[i]
		r, err := sw.GetTransaction(ctx, &upiv1.GetTransactionRequest{TxnId: res.txnID})
		if err != nil {
			s.failf("%s: the switch: %v", f, err)
			continue
		}
		got := r.GetTransaction()
		if got.GetStatus() != res.status || got.GetErrCode() != res.errCode {
			s.failf("%s: the switch says %s %s, the payer's PSP %s %s %s\n%s", f, got.GetStatus(), got.GetErrCode(), res.at, res.status, res.errCode, s.describe(ctx, i))
		}
		if r.GetState() != "CLOSED" {
			s.failf("%s: left in state %s at the switch\n%s", f, r.GetState(), s.describe(ctx, i))
		}
		if f.cannotSucceed != "" && res.status == upiv1.Resp_SUCCESS {
			s.failf("%s: succeeded, but %s\n%s", f, f.cannotSucceed, s.describe(ctx, i))
		}
	}

	// At most once: every account holds its opening balance plus what the
	// flows that succeeded paid it, less what they took from it.
	want := maps.Clone(opening)
	for i, res := range s.res {
		if res.status != upiv1.Resp_SUCCESS {
			continue
		}
		f := s.plan.flows[i]
		want[f.payer] -= f.amount
		want[f.payee] += f.amount
	}
	s.circleMoney(want)
	for vpa, d := range merchantMoved {
		want[vpa] += d
	}
	for vpa, d := range liteMoved {
		want[vpa] += d
	}
	got := map[string]int64{}
	for _, b := range s.cfg.NodesByRole(config.RoleBank) {
		ad, err := s.nw.nodes[b.Name].adminClient()
		if err != nil {
			s.fatalf("admin of %s: %v", b.Name, err)
		}
		r, err := ad.ListAccounts(ctx, &upiv1.ListAccountsRequest{})
		if err != nil {
			s.fatalf("accounts of %s: %v", b.Name, err)
		}
		for _, ac := range r.GetAccounts() {
			if ac.GetVpa() != "" {
				got[ac.GetVpa()] = ac.GetBalancePaise()
			}
		}
	}
	for _, vpa := range sortedKeys(want) {
		if got[vpa] != want[vpa] {
			s.failf("at most once: %s holds %d paise; its opening balance and the flows that succeeded make %d (%+d)", vpa, got[vpa], want[vpa], got[vpa]-want[vpa])
		}
	}
}

// openingBalances are the accounts' balances in the network file, by VPA.
func (s *sim) openingBalances() map[string]int64 {
	out := map[string]int64{}
	for _, b := range s.cfg.NodesByRole(config.RoleBank) {
		for _, a := range s.cfg.AccountsOfBank(b.Name) {
			out[a.VPA] = a.Balance
		}
	}
	return out
}

// describe is a flow's plan, outcome and merged trace, for a failure.
func (s *sim) describe(ctx context.Context, i int) string {
	f, res := s.plan.flows[i], s.res[i]
	var b strings.Builder
	fmt.Fprintf(&b, "    %s\n    txn %s: %s %s at %s", f, orDash(res.txnID), res.status, res.errCode, res.at)
	if res.txnID == "" {
		return b.String()
	}
	b.WriteString(s.traceOf(ctx, res.txnID))
	return b.String()
}

// traceOf is the merged trace of txnID at every node.
func (s *sim) traceOf(ctx context.Context, txnID string) string {
	var b strings.Builder
	var recs []*upiv1.TraceRecord
	for _, name := range s.nw.order {
		a, err := s.nw.nodes[name].adminClient()
		if err != nil {
			continue
		}
		r, err := a.ListMessages(ctx, &upiv1.ListMessagesRequest{TxnId: txnID})
		if err != nil {
			continue
		}
		recs = append(recs, r.GetMessages()...)
	}
	sort.SliceStable(recs, func(a, b int) bool { return recs[a].GetTs().AsTime().Before(recs[b].GetTs().AsTime()) })
	for _, r := range recs {
		if r.GetDirection() != upiv1.TraceRecord_IN {
			if r.GetNote() == "" {
				continue // its IN record at the receiver says it
			}
		}
		fmt.Fprintf(&b, "\n      %s %-8s %-3s %-8s %-20s %s", r.GetTs().AsTime().Format("15:04:05.000"), r.GetNode(), r.GetDirection().String(), r.GetPeer(), r.GetApi(), r.GetSummary())
		if r.GetNote() != "" {
			fmt.Fprintf(&b, " [%s]", r.GetNote())
		}
		if r.GetAckErr() != "" {
			fmt.Fprintf(&b, " (refused: %s)", r.GetAckErr())
		}
	}
	return b.String()
}

// histogram counts the outcomes: "SUCCESS 120, FAILURE Z9 31, ...".
func (s *sim) histogram() string {
	counts := map[string]int{}
	for _, res := range s.res {
		k := strings.TrimSpace(res.status.String() + " " + res.errCode)
		counts[k]++
	}
	keys := sortedKeys(counts)
	sort.SliceStable(keys, func(a, b int) bool { return counts[keys[a]] > counts[keys[b]] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
