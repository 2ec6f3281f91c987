package audit

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	merchantv1 "github.com/upisim/upisim/gen/go/upisim/merchant/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/upi"
)

// Kinds of audit violation (ARCHITECTURE.md, "Invariants").
const (
	// ViolationConservation: a bank's total is not its opening total (or
	// the bank did not record one, so it cannot be checked), or across the
	// network customers hold other than the transfers leave them (the
	// settlement accounts do not sum to the money in flight).
	ViolationConservation = "CONSERVATION"
	// ViolationNegativeBalance: a customer or Lite pool account is below
	// zero.
	ViolationNegativeBalance = "NEGATIVE_BALANCE"
	// ViolationDisagreement: a PSP or a bank holds an outcome other than
	// the switch's final status.
	ViolationDisagreement = "DISAGREEMENT"
	// ViolationNotClosed: money or a party was left unresolved: a debit
	// neither credited nor reversed, a PSP never told the final status, a
	// bank posting for a transaction the switch does not know.
	ViolationNotClosed = "NOT_CLOSED"
	// ViolationStuck: a transaction is PENDING or DEEMED at the switch past
	// its deadline.
	ViolationStuck = "STUCK"
	// ViolationStrayPosting: a bank posting that no request of the switch
	// explains: its transaction is unknown to the switch, the switch sent
	// that bank no such leg, or the amount or an account differs from the
	// leg the switch sent.
	ViolationStrayPosting = "STRAY_POSTING"
	// ViolationUnknownTxn: a PSP or the TPAP shows its user a transaction
	// the switch has no record of.
	ViolationUnknownTxn = "UNKNOWN_TXN"

	// The merchant layer's (merchant.go; docs/FLOWS.md, "What `upisim
	// audit` checks of it"):
	//
	// ViolationMerchantMismatch: a PSP's order view disagrees with the
	// switch: an attempt paid (SUCCESS or HOLD) whose transaction is no
	// SUCCESS credit at the switch of its amount to the order's merchant, a
	// FAILED attempt whose transaction is SUCCESS, an attempt DEEMED (or
	// PENDING) whose transaction the switch decided past MaxAge ago, a
	// refund whose REFUND at the switch has another outcome, refunds
	// another transaction or another amount.
	ViolationMerchantMismatch = "MERCHANT_MISMATCH"
	// ViolationMerchantHoldOverdue: an attempt still on HOLD more than
	// MaxAge past its hold_until, or with none (the PSP's timer should have
	// captured it).
	ViolationMerchantHoldOverdue = "MERCHANT_HOLD_OVERDUE"
	// ViolationMerchantRefundAction: an attempt RELEASED or AUTO_REFUNDED
	// without a refund of that source for its whole amount, or an attempt
	// whose refunds not REFUND_FAILED add up to more than it.
	ViolationMerchantRefundAction = "MERCHANT_REFUND_ACTION"
	// ViolationMerchantBalance: the switch moved a merchant's money through
	// another account than the merchant's: a SUCCESS credit to the merchant
	// (or a SUCCESS refund from it) whose leg names another account, or a
	// leg on the merchant's account of a transaction the merchant is no
	// party to. With the ledger checks (every posting is a leg the switch
	// sent, every SUCCESS posted both legs) this makes the postings of a
	// merchant's account exactly its credits less its refunds and payments
	// as the switch lists them; a stray posting on it is a STRAY_POSTING
	// that names the merchant.
	ViolationMerchantBalance = "MERCHANT_BALANCE"
)

// DefaultMaxAge is how long a transaction may stay undecided at the
// switch, and how long a decided one may take to reach both PSPs, before
// the audit calls it a violation: past every switch timeout.
const DefaultMaxAge = 2 * time.Minute

// Violation is one broken invariant.
type Violation struct {
	Kind  string `json:"kind"`
	TxnID string `json:"txn_id,omitempty"`
	// Node is the node the violation was found at, when there is one.
	Node   string `json:"node,omitempty"`
	Detail string `json:"detail"`
}

// Result is what `upisim audit` prints.
type Result struct {
	OK bool `json:"ok"`
	// TotalPaise is the sum of every account of every bank, and
	// OpeningTotalPaise the sum of the banks' recorded opening totals.
	TotalPaise        int64 `json:"total_paise"`
	OpeningTotalPaise int64 `json:"opening_total_paise"`
	// SettlementPaise is the sum of the banks' settlement accounts (each
	// opened at zero): the money the network owes its customers' banks
	// minus what they owe it. MoneyInFlightPaise is what the postings the
	// switch asked for have debited and not yet credited or reversed; the
	// two are equal when customers hold exactly what the transfers leave
	// them.
	SettlementPaise    int64 `json:"settlement_paise"`
	MoneyInFlightPaise int64 `json:"money_in_flight_paise"`
	// Transactions counts the payments (PAY, COLLECT) the switch knows;
	// NonTerminal those of them PENDING or DEEMED at the switch.
	Transactions int `json:"transactions"`
	NonTerminal  int `json:"non_terminal"`
	// InFlight counts payments decided at the switch that a PSP does not
	// show final yet, within MaxAge of the decision: the outcome is on its
	// way.
	InFlight   int         `json:"in_flight"`
	Violations []Violation `json:"violations"`
	// Notes say what could not be checked, and why.
	Notes []string `json:"notes,omitempty"`
}

// Source is the network an audit reads: its nodes (name and role)
// and each node's AdminService. `upisim audit` reads a running network
// through network.json and gRPC; a test that runs the nodes itself can
// hand them over in process (node.LocalAdmin).
type Source struct {
	Dir   *config.Directory
	Admin func(name string) (upiv1.AdminServiceClient, error)
	// MerchantAdmin is each PSP's MerchantAdminService (with the admin
	// token), whose orders the merchant checks read; nil: the caller runs
	// no merchant layer, and those checks have nothing to check.
	MerchantAdmin func(name string) (merchantv1.MerchantAdminServiceClient, error)
}

// From reads every node of src and checks the invariants, as Audit
// does, without printing: a violation is in the result, not an error; an
// error means a node could not be read. A maxAge of 0 or less means
// DefaultMaxAge.
func From(ctx context.Context, src Source, maxAge time.Duration) (Result, error) {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	snap, err := takeSnapshot(ctx, src)
	if err != nil {
		return Result{}, err
	}
	return snap.audit(time.Now(), maxAge), nil
}

// bankState is what a bank showed the audit.
type bankState struct {
	name     string
	accounts []*upiv1.AccountBalance
	opening  *int64
	// postings is the bank's ledger; ledgerRead says it is the one behind
	// accounts' balances (read as many postings as the balances counted).
	postings   []*upiv1.Posting
	ledgerRead bool
}

// snapshot is what the audit read from the network. The switch is read
// first, so every other node's view is at least as recent as the switch's.
type snapshot struct {
	// switchTxns are the switch's transactions, listed from switchListed on.
	switchTxns   []*upiv1.TxnSummary
	switchListed time.Time
	// switchAfter is the switch listed again after every other node: a
	// bank posts a leg, and a PSP or the app shows an outcome, only after
	// the switch recorded it, so what is not here was not the switch's
	// doing. Nil means switchTxns (a snapshot built by hand).
	switchAfter map[string]*upiv1.TxnSummary
	banks       []bankState
	// psps and apps name the PSP and TPAP nodes.
	psps, apps []string
	// txns is node → txn id → that node's summary, for the PSPs, banks and
	// the TPAP.
	txns map[string]map[string]*upiv1.TxnSummary
	// circleRecs is node → its UPI Circle records (nil: not read, and
	// circleNote says why).
	circleRecs map[string][]*upiv1.CircleRecord
	circleNote string
	// orders is PSP node → its merchant layer's orders (merchant.go), read
	// with the PSPs' records; orderNotes say which PSPs could not list
	// them.
	orders     map[string][]*merchantv1.Order
	orderNotes []string
	// liteAccts is what the switch, the banks and the TPAP keep of UPI
	// Lite (lite.go; nil: not read, and liteNote says why).
	liteAccts *liteView
	liteNote  string
}

func takeSnapshot(ctx context.Context, c Source) (*snapshot, error) {
	sws := c.Dir.ByRole(config.RoleSwitch)
	if len(sws) != 1 {
		return nil, fmt.Errorf("network.json names %d switch nodes, want 1", len(sws))
	}
	s := &snapshot{switchListed: time.Now(), txns: map[string]map[string]*upiv1.TxnSummary{}}
	var err error
	if s.switchTxns, err = listAll(ctx, c, sws[0]); err != nil {
		return nil, err
	}
	if err := readCircle(ctx, c, s); err != nil {
		return nil, err
	}
	if s.liteAccts, s.liteNote, err = readLite(ctx, c); err != nil {
		return nil, err
	}
	banks := c.Dir.ByRole(config.RoleBank)
	psps := c.Dir.ByRole(config.RolePSP)
	apps := c.Dir.ByRole(config.RoleTPAP)
	s.banks = make([]bankState, len(banks))
	per := make([][]*upiv1.TxnSummary, len(banks)+len(psps)+len(apps))
	g, gctx := errgroup.WithContext(ctx)
	for i, nd := range banks {
		g.Go(func() (err error) {
			if s.banks[i], err = readLedger(gctx, c, nd); err != nil {
				return err
			}
			per[i], err = listAll(gctx, c, nd)
			return err
		})
	}
	for i, nd := range slices.Concat(psps, apps) {
		g.Go(func() (err error) {
			per[len(banks)+i], err = listAll(gctx, c, nd)
			return err
		})
	}
	orders, notes := make([][]*merchantv1.Order, len(psps)), make([]string, len(psps))
	if c.MerchantAdmin != nil {
		for i, nd := range psps {
			g.Go(func() (err error) {
				orders[i], notes[i], err = readOrders(gctx, c, nd)
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	s.orders = map[string][]*merchantv1.Order{}
	for i, nd := range psps {
		if notes[i] != "" {
			s.orderNotes = append(s.orderNotes, notes[i])
		} else if len(orders[i]) > 0 {
			s.orders[nd.Name] = orders[i]
		}
	}
	after, err := listAll(ctx, c, sws[0])
	if err != nil {
		return nil, err
	}
	s.switchAfter = make(map[string]*upiv1.TxnSummary, len(after))
	for _, t := range after {
		s.switchAfter[t.GetTxnId()] = t
	}
	for _, nd := range psps {
		s.psps = append(s.psps, nd.Name)
	}
	for _, nd := range apps {
		s.apps = append(s.apps, nd.Name)
	}
	for i, nd := range slices.Concat(banks, psps, apps) {
		m := make(map[string]*upiv1.TxnSummary, len(per[i]))
		for _, t := range per[i] {
			m[t.GetTxnId()] = t
		}
		s.txns[nd.Name] = m
	}
	return s, nil
}

// ledgerReads is how many times the audit reads a busy bank's balances and
// postings before it gives up on reading them at one moment.
const ledgerReads = 5

// readLedger reads a bank's accounts and postings. Postings are only ever
// added, and the balances come with the number of postings behind them, so
// a listing of exactly that many postings (taken after the balances) is
// the ledger the balances show; a bank that keeps posting is read again.
func readLedger(ctx context.Context, c Source, nd config.NodeAddr) (bankState, error) {
	a, err := c.Admin(nd.Name)
	if err != nil {
		return bankState{}, err
	}
	var b bankState
	for range ledgerReads {
		r, err := a.ListAccounts(ctx, &upiv1.ListAccountsRequest{})
		if err != nil {
			return bankState{}, nodeError(nd, err)
		}
		b = bankState{name: nd.Name, accounts: r.GetAccounts()}
		if r.OpeningTotalPaise != nil {
			v := r.GetOpeningTotalPaise()
			b.opening = &v
		}
		if b.postings, err = listPostings(ctx, a, nd); err != nil {
			return bankState{}, err
		}
		if b.ledgerRead = int64(len(b.postings)) == r.GetPostingCount(); b.ledgerRead {
			break
		}
	}
	return b, nil
}

// listPostings pages through a bank's ListPostings.
func listPostings(ctx context.Context, a upiv1.AdminServiceClient, nd config.NodeAddr) ([]*upiv1.Posting, error) {
	out := []*upiv1.Posting{}
	token := ""
	for {
		r, err := a.ListPostings(ctx, &upiv1.ListPostingsRequest{PageToken: token})
		if err != nil {
			return nil, nodeError(nd, err)
		}
		out = append(out, r.GetPostings()...)
		if r.GetNextPageToken() == "" {
			return out, nil
		}
		if r.GetNextPageToken() <= token {
			return nil, fmt.Errorf("node %s: ListPostings page token went back from %q to %q", nd.Name, token, r.GetNextPageToken())
		}
		token = r.GetNextPageToken()
	}
}

// listAll pages through a node's ListTransactions.
func listAll(ctx context.Context, c Source, nd config.NodeAddr) ([]*upiv1.TxnSummary, error) {
	a, err := c.Admin(nd.Name)
	if err != nil {
		return nil, err
	}
	var out []*upiv1.TxnSummary
	token := ""
	for {
		r, err := a.ListTransactions(ctx, &upiv1.ListTransactionsRequest{PageToken: token})
		if err != nil {
			return nil, nodeError(nd, err)
		}
		out = append(out, r.GetTransactions()...)
		if r.GetNextPageToken() == "" {
			return out, nil
		}
		if r.GetNextPageToken() <= token {
			return nil, fmt.Errorf("node %s: ListTransactions page token went back from %q to %q", nd.Name, token, r.GetNextPageToken())
		}
		token = r.GetNextPageToken()
	}
}

func nodeError(nd config.NodeAddr, err error) error {
	if status.Code(err) == codes.Unavailable {
		return fmt.Errorf("node %s is not reachable at %s", nd.Name, nd.GRPCAddr)
	}
	if s, ok := status.FromError(err); ok {
		return fmt.Errorf("node %s: %s", nd.Name, s.Message())
	}
	return fmt.Errorf("node %s: %w", nd.Name, err)
}

// orphanSlack is how much older than the switch's listing a bank's record
// must be before the audit expects the switch to have listed it: room for
// clocks of nodes on other hosts.
const orphanSlack = time.Second

// A Check is one of the audit's checks: it reads what the audit read
// through its Auditor and reports each broken invariant with Auditor.Add.
// Checks run in the order they were registered, one at a time, so a check
// may use what an earlier one found (the ledger check's matched postings).
type Check struct {
	// Name says what the check holds, for people reading the registry.
	Name string
	Run  func(*Auditor)
}

var (
	checksMu sync.Mutex
	checks   = []Check{
		{"money", (*Auditor).money},
		{"ledgers", (*Auditor).ledgers},
		{"transactions", (*Auditor).transactions},
		{"conservation", (*Auditor).conservation},
		{"records", (*Auditor).records},
		{"circle", (*Auditor).circle},
		{"circle payments", (*Auditor).circlePayments},
	}
)

// Register adds c to the checks every audit runs, after those already
// registered: a capability (a flow, a merchant layer) adds the invariants
// it brings, typically from an init function.
func Register(c Check) {
	checksMu.Lock()
	defer checksMu.Unlock()
	checks = append(checks, c)
}

func registered() []Check {
	checksMu.Lock()
	defer checksMu.Unlock()
	return slices.Clone(checks)
}

// audit runs every registered check on the snapshot at time now.
func (s *snapshot) audit(now time.Time, maxAge time.Duration) Result {
	a := &Auditor{snapshot: s, now: now, maxAge: maxAge, res: Result{Violations: []Violation{}}, after: s.switchAfter}
	if a.after == nil {
		a.after = make(map[string]*upiv1.TxnSummary, len(s.switchTxns))
		for _, t := range s.switchTxns {
			a.after[t.GetTxnId()] = t
		}
	}
	for _, c := range registered() {
		c.Run(a)
	}
	a.res.OK = len(a.res.Violations) == 0
	return a.res
}

// transactions checks each transaction the switch knows, then the banks'
// records of transactions it does not.
func (a *Auditor) transactions() {
	known := make(map[string]bool, len(a.switchTxns))
	for _, t := range a.switchTxns {
		known[t.GetTxnId()] = true
		a.txn(t)
	}
	a.orphans(known)
}

// Auditor is one audit's run over what it read from the network, as a
// Check sees it.
type Auditor struct {
	*snapshot
	now    time.Time
	maxAge time.Duration
	res    Result
	// after is the switch's second listing by txn id (snapshot.switchAfter).
	after map[string]*upiv1.TxnSummary
	// moved is, per txn id, what the postings that match the switch's legs
	// moved; stray marks "bank\x00txn" pairs with a stray posting.
	moved map[string]*moved
	stray map[string]bool
}

// Now is the time the audit judges ages against.
func (a *Auditor) Now() time.Time { return a.now }

// MaxAge is how long a transaction may stay undecided (Options' MaxAge).
func (a *Auditor) MaxAge() time.Duration { return a.maxAge }

// SwitchTxns are the switch's transactions as first listed: the outcomes
// it had decided then are final.
func (a *Auditor) SwitchTxns() []*upiv1.TxnSummary { return a.switchTxns }

// Record is node's summary of transaction txnID (a PSP, bank or TPAP
// node), or nil when it has none.
func (a *Auditor) Record(node, txnID string) *upiv1.TxnSummary { return a.txns[node][txnID] }

// Add reports a violation of kind (one of the Violation* kinds, or a
// check's own) about txnID at node (either may be ""), its detail
// formatted from format and args.
func (a *Auditor) Add(kind, txnID, node, format string, args ...any) {
	a.add(kind, txnID, node, format, args...)
}

func (a *Auditor) add(kind, txnID, node, format string, args ...any) {
	a.res.Violations = append(a.res.Violations, Violation{Kind: kind, TxnID: txnID, Node: node, Detail: fmt.Sprintf(format, args...)})
}

// money checks conservation at each bank (every posting moves money between
// two accounts of one bank, so each bank's total is constant) and that no
// account but a settlement account is below zero.
func (a *Auditor) money() {
	for _, b := range a.banks {
		var sum int64
		for _, ac := range b.accounts {
			sum += ac.GetBalancePaise()
			if ac.GetBalancePaise() < 0 && ac.GetKind() != string(ledger.KindSettlement) {
				a.add(ViolationNegativeBalance, "", b.name, "%s account %s (%s) at %s holds %s",
					strings.ToLower(ac.GetKind()), ac.GetAcNum(), orDash(ac.GetVpa()), b.name, upi.FormatRupeesIndian(ac.GetBalancePaise()))
			}
		}
		a.res.TotalPaise += sum
		if b.opening == nil {
			a.add(ViolationConservation, "", b.name, "bank %s recorded no opening total (seeded by an older upisim after money moved), so its total %s cannot be checked",
				b.name, upi.FormatRupeesIndian(sum))
			continue
		}
		a.res.OpeningTotalPaise += *b.opening
		if d := sum - *b.opening; d != 0 {
			what := "appeared"
			if d < 0 {
				what, d = "vanished", -d
			}
			a.add(ViolationConservation, "", b.name, "bank %s holds %s, opened with %s: %s (%d paise) %s",
				b.name, upi.FormatRupeesIndian(sum), upi.FormatRupeesIndian(*b.opening), upi.FormatRupeesIndian(d), d, what)
		}
	}
}

// txn checks one transaction the switch knows.
func (a *Auditor) txn(t *upiv1.TxnSummary) {
	switch t.GetType() {
	case upiv1.Txn_VAL_ADD, upiv1.Txn_HBT, upiv1.Txn_LITE_SYNC:
		return // no money, no final status to agree on (a Lite sync batch's records are lite.go's)
	}
	a.res.Transactions++
	id := t.GetTxnId()
	final := upi.Final(t.GetStatus())
	if !final {
		a.res.NonTerminal++
		since := t.GetCreated().AsTime()
		if d := t.GetDeadline(); d != nil && d.AsTime().After(since) {
			since = d.AsTime()
		}
		if age := a.now.Sub(since); age > a.maxAge {
			a.add(ViolationStuck, id, "", "%s is %s at the switch (state %s) %s after %s, past --max-age %s",
				describe(t), upi.ResultName(t.GetStatus()), t.GetState(), age.Round(time.Second), sinceWhat(t), a.maxAge)
		}
		return
	}
	n := len(a.res.Violations)
	a.banksAgree(t)
	if len(a.res.Violations) == n {
		a.closedByPostings(t) // the records agree: do the postings?
	}
	late := false
	for _, p := range []struct{ role, name string }{{"payer", t.GetPayerPsp()}, {"payee", t.GetPayeePsp()}} {
		if p.name == "" || (p.role == "payee" && p.name == t.GetPayerPsp()) {
			continue
		}
		late = a.pspAgrees(t, p.role, p.name) || late
	}
	for _, app := range a.apps {
		late = a.appAgrees(t, app) || late
	}
	if late {
		a.res.InFlight++
	}
}

func sinceWhat(t *upiv1.TxnSummary) string {
	if d := t.GetDeadline(); d != nil && d.AsTime().After(t.GetCreated().AsTime()) {
		return "its deadline"
	}
	return "it began"
}

// banksAgree checks the banks' records of their legs against the switch's
// final status: a SUCCESS has its debit posted and not reversed, and its
// credit posted; a FAILURE has no debit left standing and no credit.
func (a *Auditor) banksAgree(t *upiv1.TxnSummary) {
	id, success := t.GetTxnId(), t.GetStatus() == upiv1.Resp_SUCCESS
	rem, ben := t.GetRemitter(), t.GetBeneficiary()
	remLegs, benLegs := a.legs(rem, id), a.legs(ben, id)
	switch {
	case isLiteOnline(t):
		// An online Lite payment: the switch's auth engine debited the
		// LRN; the remitter posts only its confirmation (LITE_UNCONFIRMED).
	case success && rem == "":
		a.add(ViolationDisagreement, id, "", "%s is SUCCESS at the switch, which names no remitter bank", describe(t))
	case success && !remLegs["DEBITED"]:
		a.add(ViolationDisagreement, id, rem, "%s is SUCCESS at the switch, but remitter %s has no debit posted (%s)", describe(t), rem, legsOf(remLegs))
	case success && remLegs["REVERSED"]:
		a.add(ViolationDisagreement, id, rem, "%s is SUCCESS at the switch, but remitter %s reversed the debit (%s)", describe(t), rem, legsOf(remLegs))
	case !success && remLegs["DEBITED"] && !remLegs["REVERSED"]:
		a.add(ViolationNotClosed, id, rem, "%s is FAILURE at the switch, but remitter %s debited it and did not reverse (%s)", describe(t), rem, legsOf(remLegs))
	}
	switch {
	case success && ben == "":
		a.add(ViolationDisagreement, id, "", "%s is SUCCESS at the switch, which names no beneficiary bank", describe(t))
	case success && !benLegs["CREDITED"]:
		a.add(ViolationDisagreement, id, ben, "%s is SUCCESS at the switch, but beneficiary %s has no credit posted (%s)", describe(t), ben, legsOf(benLegs))
	case !success && benLegs["CREDITED"]:
		a.add(ViolationDisagreement, id, ben, "%s is FAILURE at the switch, but beneficiary %s credited it (%s)", describe(t), ben, legsOf(benLegs))
	}
}

// legs is the set of leg states ("DEBITED", "REVERSED", ...) a bank shows
// for a transaction; empty when it has no record.
func (a *Auditor) legs(bank, txnID string) map[string]bool {
	out := map[string]bool{}
	if t := a.txns[bank][txnID]; t != nil {
		for _, s := range strings.Split(t.GetState(), "+") {
			out[s] = true
		}
	}
	return out
}

func legsOf(legs map[string]bool) string {
	if len(legs) == 0 {
		return "no record"
	}
	return "legs " + strings.Join(slices.Sorted(maps.Keys(legs)), "+")
}

// pspAgrees checks a PSP's status of a transaction the switch decided. It
// reports whether the PSP does not show it final yet but may still hear
// (the switch decided it within maxAge).
func (a *Auditor) pspAgrees(t *upiv1.TxnSummary, role, psp string) (late bool) {
	id, want := t.GetTxnId(), t.GetStatus()
	p := a.txns[psp][id]
	got := p.GetStatus()
	if upi.Final(got) {
		if got != want {
			a.add(ViolationDisagreement, id, psp, "%s is %s at the switch, but %s PSP %s says %s", describe(t), outcome(want, t.GetErrCode()), role, psp, outcome(got, p.GetErrCode()))
		}
		return false
	}
	decided := t.GetUpdated().AsTime()
	if a.now.Sub(decided) <= a.maxAge {
		return true
	}
	has := "has no record of it"
	if p != nil {
		has = "still shows " + upi.ResultName(got) + " (state " + p.GetState() + ")"
	}
	a.add(ViolationNotClosed, id, psp, "%s is %s at the switch since %s, but %s PSP %s %s",
		describe(t), outcome(want, t.GetErrCode()), decided.Format(time.RFC3339), role, psp, has)
	return false
}

// appAgrees checks the app's status of a payment the switch decided, when
// the app has a record of it (a payment started at a PSP's own app API
// reaches the app only as its PSP's notifications). It reports whether the
// app does not show it final yet but may still hear, as pspAgrees does.
func (a *Auditor) appAgrees(t *upiv1.TxnSummary, app string) (late bool) {
	id, want := t.GetTxnId(), t.GetStatus()
	r := a.txns[app][id]
	if r == nil {
		return false
	}
	got := r.GetStatus()
	if upi.Final(got) {
		if got != want {
			a.add(ViolationDisagreement, id, app, "%s is %s at the switch, but the app at %s shows its users %s", describe(t), outcome(want, t.GetErrCode()), app, outcome(got, r.GetErrCode()))
		}
		return false
	}
	decided := t.GetUpdated().AsTime()
	if a.now.Sub(decided) <= a.maxAge {
		return true
	}
	a.add(ViolationNotClosed, id, app, "%s is %s at the switch since %s, but the app at %s still shows %s",
		describe(t), outcome(want, t.GetErrCode()), decided.Format(time.RFC3339), app, upi.ResultName(got))
	return false
}

// orphans checks that every bank record of a leg that moved money belongs
// to a transaction the switch knows (the postings themselves are checked
// by ledgers; a bank already named there is not named again). Records
// newer than the switch's listing are skipped: the switch may have made
// them after it was read.
func (a *Auditor) orphans(known map[string]bool) {
	for _, b := range a.banks {
		m := a.txns[b.name]
		for _, id := range slices.Sorted(maps.Keys(m)) {
			t := m[id]
			if known[id] || a.stray[b.name+"\x00"+id] || !t.GetCreated().AsTime().Before(a.switchListed.Add(-orphanSlack)) || t.GetType() == upiv1.Txn_LITE_SYNC {
				continue
			}
			legs := a.legs(b.name, id)
			if legs["DEBITED"] || legs["CREDITED"] || legs["REVERSED"] {
				a.add(ViolationNotClosed, id, b.name, "bank %s posted %s for a transaction the switch does not know", b.name, legsOf(legs))
			}
		}
	}
}

// describe names a transaction in a violation: "PAY of ₹10.00 from a@x to b@y".
func describe(t *upiv1.TxnSummary) string {
	return fmt.Sprintf("%s of %s from %s to %s", t.GetType(), upi.FormatRupeesIndian(t.GetAmountPaise()), orDash(t.GetPayerVpa()), orDash(t.GetPayeeVpa()))
}

func outcome(r upiv1.Resp_Result, errCode string) string {
	if errCode != "" && r == upiv1.Resp_FAILURE {
		return upi.ResultName(r) + " " + errCode
	}
	return upi.ResultName(r)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
