package audit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/upi"
)

// UPI Lite's reconciliation (`upisim lite reconcile`) and its audit checks
// (docs/FLOWS.md, UPI Lite, "Reconciliation" and "What `upisim audit`
// checks of it").

// The mismatches of a reconciliation (docs/FLOWS.md, "Reconciliation").
// UNCONFIRMED and UNSYNCED are money on its way (a confirmation not yet
// answered, a record not yet synced): informational, they leave the
// report OK; every other kind makes it not OK.
const (
	LiteUnconfirmed    = "UNCONFIRMED"
	LiteUnsynced       = "UNSYNCED"
	LiteDeviceStale    = "DEVICE_STALE"
	LiteSwitchMismatch = "SWITCH_MISMATCH"
	LitePoolMismatch   = "POOL_MISMATCH"
	LiteDoubleSpend    = "DOUBLE_SPEND"
)

// The audit's violations of UPI Lite.
const (
	// ViolationLitePool: a bank's Lite pool account is not the sum of
	// its LRNs' balances (on a quiet network).
	ViolationLitePool = "LITE_POOL_MISMATCH"
	// ViolationLiteBalance: an LRN's balance at its bank is not what the
	// bank's postings on the pool for it add up to (top-ups in, confirmed
	// online payments, posted records and transfers out, reversals back),
	// or a pool posting names no LRN.
	ViolationLiteBalance = "LITE_BALANCE"
	// ViolationLiteUnsynced: an LRN's bank balance is not its device's
	// wallet plus the device's unsynced SENT records (on a quiet network).
	ViolationLiteUnsynced = "LITE_UNSYNCED"
	// ViolationLiteDoublePost: an offline record posted other than once:
	// two LITEDEBITs (or LITECREDITs, LITEREVERSALs) of one LRN and
	// counter, a credit and a reversal of it, a credit or reversal with no
	// debit, a posting the switch has no such record for, or of another
	// amount or payee, a SUCCESS record not posted, a credited one the
	// switch failed or a reversed one it calls SUCCESS.
	ViolationLiteDoublePost = "LITE_DOUBLE_POST"
	// ViolationLiteSwitchMismatch: the switch's LRN balance is not the
	// bank's less the online payments not yet confirmed (on a quiet
	// network).
	ViolationLiteSwitchMismatch = "LITE_SWITCH_MISMATCH"
	// ViolationLiteUnconfirmed: an online payment (44) the switch decided
	// SUCCESS more than MaxAge ago has no DEBIT:<txn> out of the
	// remitter's Lite pool.
	ViolationLiteUnconfirmed = "LITE_UNCONFIRMED"
)

// Posting refs of offline records: "<REF>:<LRN>:<counter>".
const (
	refLiteDebit    = "LITEDEBIT"
	refLiteCredit   = "LITECREDIT"
	refLiteReversal = "LITEREVERSAL"
)

func init() { Register(Check{Name: "lite", Run: (*Auditor).lite}) }

// liteView is what the nodes keep of UPI Lite, by LRN.
type liteView struct {
	// sw is the switch's auth engine, bank each bank's LRN balances (the
	// truth), dev the TPAP's devices that have an LRN.
	sw, bank, dev map[string]*upiv1.LiteAccount
	// listed counts the nodes that listed their Lite accounts.
	listed int
}

// readLite reads every node's Lite accounts with their records: the
// switch first, then the banks, then the TPAP. A node that keeps none
// (Unimplemented: an older upisim) leaves Lite unchecked, with a note,
// unless no node keeps any: a network without UPI Lite has nothing of it
// to check.
func readLite(ctx context.Context, c Source) (v *liteView, note string, err error) {
	v = &liteView{sw: map[string]*upiv1.LiteAccount{}, bank: map[string]*upiv1.LiteAccount{}, dev: map[string]*upiv1.LiteAccount{}}
	var missing []string
	for _, g := range []struct {
		role string
		into map[string]*upiv1.LiteAccount
	}{{config.RoleSwitch, v.sw}, {config.RoleBank, v.bank}, {config.RoleTPAP, v.dev}} {
		for _, nd := range c.Dir.ByRole(g.role) {
			a, err := c.Admin(nd.Name)
			if err != nil {
				return nil, "", err
			}
			r, err := a.ListLiteAccounts(ctx, &upiv1.ListLiteAccountsRequest{WithRecords: true})
			if status.Code(err) == codes.Unimplemented {
				missing = append(missing, fmt.Sprintf("node %s does not list UPI Lite accounts (%s)", nd.Name, status.Convert(err).Message()))
				continue
			}
			if err != nil {
				return nil, "", nodeError(nd, err)
			}
			v.listed++
			for _, la := range r.GetAccounts() {
				if la.GetLrn() == "" {
					continue // a receive-only device holds no money
				}
				if la.GetNode() == "" {
					la.Node = nd.Name
				}
				if g.role == config.RoleBank && la.GetBank() == "" {
					la.Bank = nd.Name
				}
				g.into[la.GetLrn()] = la
			}
		}
	}
	switch {
	case len(missing) == 0:
		return v, "", nil
	case v.listed == 0:
		return v, "", nil // no node keeps UPI Lite
	}
	return nil, strings.Join(missing, "; ") + ": UPI Lite was not checked", nil
}

// empty reports whether no node keeps any LRN.
func (v *liteView) empty() bool { return len(v.sw)+len(v.bank)+len(v.dev) == 0 }

// LiteMismatch is one mismatch of a reconciliation.
type LiteMismatch struct {
	LRN  string `json:"lrn,omitempty"`
	Bank string `json:"bank"`
	Kind string `json:"kind"`
	// The balances of the LRN at each (a pool mismatch: the pool account
	// as bank, the sum of the LRNs as switch).
	DevicePaise int64  `json:"device_balance_paise"`
	BankPaise   int64  `json:"bank_balance_paise"`
	SwitchPaise int64  `json:"switch_balance_paise"`
	Detail      string `json:"detail"`
}

// LiteAccountRow is one LRN beside itself at each node.
type LiteAccountRow struct {
	LRN      string `json:"lrn"`
	Bank     string `json:"bank"`
	VPA      string `json:"vpa"`
	DeviceID string `json:"device_id"`
	State    string `json:"state"`
	// The device's wallet, the remitter's balance (the truth), the
	// switch's auth engine.
	DevicePaise int64 `json:"device_balance_paise"`
	BankPaise   int64 `json:"bank_balance_paise"`
	SwitchPaise int64 `json:"switch_balance_paise"`
	// The device's SENT records not yet posted, and the switch's online
	// payments not yet confirmed to the remitter.
	UnsyncedPaise    int64 `json:"unsynced_paise"`
	UnsyncedRecords  int32 `json:"unsynced_records"`
	UnconfirmedPaise int64 `json:"unconfirmed_paise"`
}

// LitePool is one bank's Lite pool account beside its LRNs.
type LitePool struct {
	Bank      string `json:"bank"`
	PoolPaise int64  `json:"pool_paise"`
	LRNsPaise int64  `json:"lrns_paise"`
}

// LiteReconciliation is what `upisim lite reconcile` prints.
type LiteReconciliation struct {
	// OK: no mismatch but UNSYNCED and UNCONFIRMED (money on its way).
	OK         bool             `json:"ok"`
	Banks      []string         `json:"banks"`
	Accounts   []LiteAccountRow `json:"accounts"`
	Pools      []LitePool       `json:"pools"`
	Mismatches []LiteMismatch   `json:"mismatches"`
}

// LiteReport reads every node's Lite accounts and the pool account of
// bank (every bank when ""), and reconciles each LRN of it: the device's
// wallet, the remitter's balance and the switch's (docs/FLOWS.md, UPI
// Lite, "Reconciliation").
func LiteReport(ctx context.Context, src Source, bank string) (LiteReconciliation, error) {
	banks := src.Dir.ByRole(config.RoleBank)
	if bank != "" {
		i := slices.IndexFunc(banks, func(n config.NodeAddr) bool { return n.Name == bank })
		if i < 0 {
			var names []string
			for _, n := range banks {
				names = append(names, n.Name)
			}
			return LiteReconciliation{}, fmt.Errorf("--bank %s: no such bank (the network's banks: %s)", bank, strings.Join(names, ", "))
		}
		banks = banks[i : i+1]
	}
	if len(src.Dir.ByRole(config.RoleSwitch)) != 1 {
		return LiteReconciliation{}, fmt.Errorf("network.json names %d switch nodes, want 1", len(src.Dir.ByRole(config.RoleSwitch)))
	}
	v, note, err := readLite(ctx, src)
	if err != nil {
		return LiteReconciliation{}, err
	}
	if note != "" {
		return LiteReconciliation{}, fmt.Errorf("%s", note)
	}
	if v.listed == 0 {
		return LiteReconciliation{}, errors.New("no node of the network lists UPI Lite accounts (an upisim without UPI Lite)")
	}
	pools := map[string]int64{}
	for _, nd := range banks {
		a, err := src.Admin(nd.Name)
		if err != nil {
			return LiteReconciliation{}, err
		}
		r, err := a.ListAccounts(ctx, &upiv1.ListAccountsRequest{})
		if err != nil {
			return LiteReconciliation{}, nodeError(nd, err)
		}
		pools[nd.Name] = poolOf(r.GetAccounts())
	}
	return reconcileLite(v, pools), nil
}

// poolOf is the sum of a bank's Lite pool accounts.
func poolOf(accounts []*upiv1.AccountBalance) int64 {
	var sum int64
	for _, ac := range accounts {
		if ac.GetKind() == string(ledger.KindLitePool) {
			sum += ac.GetBalancePaise()
		}
	}
	return sum
}

// reconcileLite reconciles the LRNs of the banks in pools (bank → its pool
// account's balance).
func reconcileLite(v *liteView, pools map[string]int64) LiteReconciliation {
	r := LiteReconciliation{OK: true, Banks: slices.Sorted(maps.Keys(pools)), Accounts: []LiteAccountRow{}, Pools: []LitePool{}, Mismatches: []LiteMismatch{}}
	bankOf := func(lrn string) string {
		for _, m := range []map[string]*upiv1.LiteAccount{v.bank, v.sw, v.dev} {
			if a := m[lrn]; a.GetBank() != "" {
				return a.GetBank()
			}
		}
		return ""
	}
	lrns := map[string]bool{}
	for _, m := range []map[string]*upiv1.LiteAccount{v.bank, v.sw, v.dev} {
		for lrn := range m {
			if _, ok := pools[bankOf(lrn)]; ok {
				lrns[lrn] = true
			}
		}
	}
	sums := map[string]int64{}
	for _, lrn := range slices.Sorted(maps.Keys(lrns)) {
		b, s, d := v.bank[lrn], v.sw[lrn], v.dev[lrn]
		row := LiteAccountRow{LRN: lrn, Bank: bankOf(lrn), BankPaise: b.GetBalancePaise(), SwitchPaise: s.GetBalancePaise(),
			DevicePaise: d.GetBalancePaise(), UnsyncedPaise: d.GetUnsyncedPaise(), UnsyncedRecords: d.GetUnsyncedRecords(),
			UnconfirmedPaise: s.GetUnconfirmedPaise()}
		for _, a := range []*upiv1.LiteAccount{b, s, d} {
			row.VPA = cmp(row.VPA, a.GetVpa())
			row.DeviceID = cmp(row.DeviceID, a.GetDeviceId())
			row.State = cmp(row.State, a.GetState())
		}
		r.Accounts = append(r.Accounts, row)
		sums[row.Bank] += row.BankPaise
		add := func(kind, format string, args ...any) {
			r.Mismatches = append(r.Mismatches, LiteMismatch{LRN: lrn, Bank: row.Bank, Kind: kind, DevicePaise: row.DevicePaise,
				BankPaise: row.BankPaise, SwitchPaise: row.SwitchPaise, Detail: fmt.Sprintf(format, args...)})
		}
		rupees := upi.FormatRupeesIndian
		bankHas := "the bank's balance is " + rupees(row.BankPaise)
		if b == nil {
			bankHas = "the bank has no record of the LRN (₹0.00)"
		}
		if s != nil {
			switch want := row.BankPaise - row.UnconfirmedPaise; {
			case row.SwitchPaise != want:
				add(LiteSwitchMismatch, "the switch's balance %s is not the bank's less the %s of online payments not yet confirmed (%s); %s: %s unexplained",
					rupees(row.SwitchPaise), rupees(row.UnconfirmedPaise), rupees(want), bankHas, rupees(abs(row.SwitchPaise-want)))
			case row.UnconfirmedPaise > 0:
				add(LiteUnconfirmed, "the switch's balance is below the bank's by %s of online payments whose confirmation the remitter has not answered (a lost or late confirmation)",
					rupees(row.UnconfirmedPaise))
			}
		}
		if d != nil {
			// The device's wallet is what the switch answered it (the bank's
			// less the unconfirmed payments) less its records not yet posted.
			// A SENT record the payee's device synced is posted already.
			elsewhere := postedUnsynced(d, s)
			switch want := row.BankPaise - row.UnconfirmedPaise - row.UnsyncedPaise + elsewhere; {
			case row.DevicePaise != want:
				add(LiteDeviceStale, "the device's wallet %s differs from the bank's balance %s by more than its %d unsynced record(s) of %s and %s unconfirmed explain (%s expected): an answer the device never got (a lost ARPC or sync answer), or a record another device synced; its next sync re-bases it",
					rupees(row.DevicePaise), rupees(row.BankPaise), row.UnsyncedRecords, rupees(row.UnsyncedPaise), rupees(row.UnconfirmedPaise), rupees(want))
			case elsewhere > 0:
				add(LiteUnsynced, "the device holds %d SENT record(s) of %s unsynced, of which %s the payee's device synced already (the bank has it); its next sync learns it",
					row.UnsyncedRecords, rupees(row.UnsyncedPaise), rupees(elsewhere))
			case row.UnsyncedPaise > 0:
				add(LiteUnsynced, "the device's wallet is below the bank's by its %d SENT record(s) of %s not yet posted (the device has not synced)",
					row.UnsyncedRecords, rupees(row.UnsyncedPaise))
			}
		}
		for _, a := range []*upiv1.LiteAccount{s, b} {
			for _, rec := range a.GetRecords() {
				switch {
				case len(rec.GetDoubleSpends()) > 0:
					add(LiteDoubleSpend, "counter %d (at %s; %s %s to %s) was brought again with other content by %s: refused LC",
						rec.GetCounter(), a.GetNode(), orDash(rec.GetProvisionalUtr()), rupees(rec.GetAmountPaise()), orDash(rec.GetPayeeAddr()), strings.Join(rec.GetDoubleSpends(), ", "))
				case rec.GetErrCode() == upi.CodeLiteReplay:
					add(LiteDoubleSpend, "counter %d was brought with two contents (at %s; %s %s to %s): refused LC%s",
						rec.GetCounter(), a.GetNode(), orDash(rec.GetProvisionalUtr()), rupees(rec.GetAmountPaise()), orDash(rec.GetPayeeAddr()), because(rec.GetReason()))
				}
			}
			if len(a.GetRecords()) > 0 {
				break // the switch's records name every double spend it saw; the bank's only when the switch has none
			}
		}
	}
	for _, bank := range r.Banks {
		p := LitePool{Bank: bank, PoolPaise: pools[bank], LRNsPaise: sums[bank]}
		r.Pools = append(r.Pools, p)
		if p.PoolPaise != p.LRNsPaise {
			r.Mismatches = append(r.Mismatches, LiteMismatch{Bank: bank, Kind: LitePoolMismatch, BankPaise: p.PoolPaise, SwitchPaise: p.LRNsPaise,
				Detail: fmt.Sprintf("bank %s's Lite pool account holds %s, but its LRNs' balances sum to %s", bank, upi.FormatRupeesIndian(p.PoolPaise), upi.FormatRupeesIndian(p.LRNsPaise))})
		}
	}
	for _, m := range r.Mismatches {
		if m.Kind != LiteUnsynced && m.Kind != LiteUnconfirmed {
			r.OK = false
		}
	}
	return r
}

func cmp(have, v string) string {
	if have != "" {
		return have
	}
	return v
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func because(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

// parseLiteRef splits "LITEDEBIT:<LRN>:<counter>".
func parseLiteRef(ref string) (kind, lrn string, counter uint64, ok bool) {
	kind, rest, ok := strings.Cut(ref, ":")
	if !ok || (kind != refLiteDebit && kind != refLiteCredit && kind != refLiteReversal) {
		return "", "", 0, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return "", "", 0, false
	}
	c, err := strconv.ParseUint(rest[i+1:], 10, 64)
	if err != nil {
		return "", "", 0, false
	}
	return kind, rest[:i], c, true
}

// isLiteOnline reports whether t is an online Lite payment (44): the
// switch sent its credit and no debit (the remitter learns of it by a
// confirmation, which posts DEBIT:<txn> out of its Lite pool).
func isLiteOnline(t *upiv1.TxnSummary) bool {
	credit, debit := false, false
	for _, l := range t.GetLegs() {
		switch l.GetType() {
		case upiv1.Txn_CREDIT:
			credit = true
		case upiv1.Txn_DEBIT:
			debit = true
		}
	}
	return credit && !debit
}

// pools are bank's Lite pool account numbers.
func pools(b *bankState) map[string]bool {
	out := map[string]bool{}
	for _, ac := range b.accounts {
		if ac.GetKind() == string(ledger.KindLitePool) {
			out[ac.GetAcNum()] = true
		}
	}
	return out
}

// litePosting checks a posting of an offline record (LITEDEBIT: the pool to
// settlement; LITECREDIT: settlement to the payee; LITEREVERSAL:
// settlement back to the pool) and counts it, under "LITE:<LRN>:<counter>",
// for conservation. It reports whether ref is one.
func (a *Auditor) litePosting(bank string, p *upiv1.Posting, settlement, pool map[string]bool, what string) bool {
	kind, lrn, counter, ok := parseLiteRef(p.GetRef())
	if !ok {
		return false
	}
	var okDir bool
	switch kind {
	case refLiteDebit:
		okDir = pool[p.GetFromAcNum()] && settlement[p.GetToAcNum()]
	case refLiteCredit:
		okDir = settlement[p.GetFromAcNum()] && !pool[p.GetToAcNum()] && !settlement[p.GetToAcNum()]
	case refLiteReversal:
		okDir = settlement[p.GetFromAcNum()] && pool[p.GetToAcNum()]
	}
	if !okDir {
		a.add(ViolationStrayPosting, "", bank, "%s: a %s moves money %s", what, kind, map[string]string{
			refLiteDebit: "from the Lite pool to the settlement account", refLiteCredit: "from the settlement account to a customer",
			refLiteReversal: "from the settlement account back to the Lite pool"}[kind])
	}
	key := fmt.Sprintf("LITE:%s:%d", lrn, counter)
	m := a.moved[key]
	if m == nil {
		m = &moved{}
		a.moved[key] = m
	}
	switch kind {
	case refLiteDebit:
		m.debit += p.GetAmountPaise()
	case refLiteCredit:
		m.credit += p.GetAmountPaise()
	case refLiteReversal:
		m.reversal += p.GetAmountPaise()
	}
	m.at = append(m.at, p.GetRef()+" at "+bank)
	return true
}

// liteQuiet reports whether nothing of Lite is on its way: every
// transaction the switch knows is final, and no record at the switch or a
// bank is PENDING. The balances of the nodes are read at different
// moments, so they are compared only then.
func (a *Auditor) liteQuiet() bool {
	for _, t := range a.switchTxns {
		if !upi.Final(t.GetStatus()) || t.GetStatus() == upiv1.Resp_DEEMED {
			return false
		}
	}
	for _, m := range []map[string]*upiv1.LiteAccount{a.liteAccts.sw, a.liteAccts.bank} {
		for _, la := range m {
			for _, r := range la.GetRecords() {
				if !upi.Final(r.GetResult()) {
					return false
				}
			}
		}
	}
	return true
}

// lite runs UPI Lite's checks.
func (a *Auditor) lite() {
	if a.liteNote != "" {
		a.res.Notes = append(a.res.Notes, a.liteNote)
	}
	if a.liteAccts == nil {
		return
	}
	if a.liteAccts.empty() {
		a.liteDoublePost() // no LRN: still, no LITE* posting may stand alone
		return
	}
	quiet := a.liteQuiet()
	if !quiet {
		a.res.Notes = append(a.res.Notes, "UPI Lite moved money while the audit read it (a payment or record undecided): its balances were not compared across nodes")
	}
	a.liteUnconfirmed()
	a.liteDoublePost()
	if quiet {
		a.liteBalances()
	}
}

// liteTxnLRN maps each Lite payment (top-ups, online payments, transfers
// out) to its LRN, from the txn ids the switch and the banks list.
func (a *Auditor) liteTxnLRN() map[string]string {
	out := map[string]string{}
	for _, m := range []map[string]*upiv1.LiteAccount{a.liteAccts.bank, a.liteAccts.sw} {
		for lrn, la := range m {
			for _, id := range la.GetTxnIds() {
				out[id] = lrn
			}
		}
	}
	return out
}

// liteBalances compares, per bank and LRN, the pool, the postings, the
// device and the switch (on a quiet network).
func (a *Auditor) liteBalances() {
	txnLRN := a.liteTxnLRN()
	rupees := upi.FormatRupeesIndian
	for i := range a.banks {
		b := &a.banks[i]
		pool := pools(b)
		var lrnSum int64
		lrns := []string{}
		for _, lrn := range slices.Sorted(maps.Keys(a.liteAccts.bank)) {
			if la := a.liteAccts.bank[lrn]; la.GetBank() == b.name || la.GetNode() == b.name {
				lrnSum += la.GetBalancePaise()
				lrns = append(lrns, lrn)
			}
		}
		if len(pool) == 0 && len(lrns) == 0 {
			continue
		}
		if p := poolOf(b.accounts); p != lrnSum {
			a.add(ViolationLitePool, "", b.name, "bank %s's Lite pool account holds %s, but its %d LRNs' balances sum to %s", b.name, rupees(p), len(lrns), rupees(lrnSum))
		}
		if b.ledgerRead {
			posted := map[string]int64{}
			for _, p := range b.postings {
				from, to := pool[p.GetFromAcNum()], pool[p.GetToAcNum()]
				if !from && !to {
					continue
				}
				lrn := a.postingLRN(b.name, p, txnLRN)
				if lrn == "" {
					a.add(ViolationLiteBalance, "", b.name, "bank %s posted %s %s on its Lite pool for no LRN it or the switch knows", b.name, p.GetRef(), rupees(p.GetAmountPaise()))
					continue
				}
				if to {
					posted[lrn] += p.GetAmountPaise()
				}
				if from {
					posted[lrn] -= p.GetAmountPaise()
				}
			}
			for _, lrn := range lrns {
				if la := a.liteAccts.bank[lrn]; la.GetBalancePaise() != posted[lrn] {
					a.add(ViolationLiteBalance, "", b.name, "LRN %s (%s) holds %s at bank %s, but its postings on the pool (top-ups less payments, records and transfers out) add up to %s",
						lrn, orDash(la.GetVpa()), rupees(la.GetBalancePaise()), b.name, rupees(posted[lrn]))
				}
			}
		}
	}
	for _, lrn := range slices.Sorted(maps.Keys(a.liteAccts.bank)) {
		bl := a.liteAccts.bank[lrn]
		if s := a.liteAccts.sw[lrn]; s != nil {
			if want := bl.GetBalancePaise() - s.GetUnconfirmedPaise(); s.GetBalancePaise() != want {
				a.add(ViolationLiteSwitchMismatch, "", s.GetNode(), "LRN %s (%s): the switch's balance %s is not bank %s's %s less %s of online payments not yet confirmed",
					lrn, orDash(bl.GetVpa()), rupees(s.GetBalancePaise()), bl.GetBank(), rupees(bl.GetBalancePaise()), rupees(s.GetUnconfirmedPaise()))
			}
		}
		if d := a.liteAccts.dev[lrn]; d != nil && bl.GetState() != "DISABLED" {
			// The device's wallet is what the switch answered it: the
			// bank's balance less the online payments not yet confirmed.
			unconfirmed := a.liteAccts.sw[lrn].GetUnconfirmedPaise()
			// A SENT record another device synced is posted though this
			// device still holds it unsynced: the bank has it already.
			postedElsewhere := postedUnsynced(d, a.liteAccts.sw[lrn])
			if got := d.GetBalancePaise() + d.GetUnsyncedPaise() - postedElsewhere + unconfirmed; got != bl.GetBalancePaise() {
				a.add(ViolationLiteUnsynced, "", d.GetNode(), "LRN %s (%s): device %s's wallet %s, its %d unsynced SENT record(s) of %s and %s of online payments not yet confirmed make %s, but bank %s holds %s",
					lrn, orDash(bl.GetVpa()), orDash(d.GetDeviceId()), rupees(d.GetBalancePaise()), d.GetUnsyncedRecords(), rupees(d.GetUnsyncedPaise()), rupees(unconfirmed), rupees(got), bl.GetBank(), rupees(bl.GetBalancePaise()))
			}
		}
	}
}

// postedUnsynced is what device d still holds as unsynced SENT records
// that the switch (sw) has posted SUCCESS: the payee's device synced them.
func postedUnsynced(d, sw *upiv1.LiteAccount) int64 {
	done := map[uint64]bool{}
	for _, r := range sw.GetRecords() {
		if r.GetResult() == upiv1.Resp_SUCCESS && r.GetKind() != lite.KindOnline {
			done[r.GetCounter()] = true
		}
	}
	var sum int64
	for _, r := range d.GetRecords() {
		if r.GetResult() == upiv1.Resp_PENDING && r.GetLrn() == d.GetLrn() && done[r.GetCounter()] {
			sum += r.GetAmountPaise()
		}
	}
	return sum
}

// postingLRN is the LRN a posting on bank's Lite pool is for: the ref's
// (an offline record), else the account the switch's leg names, else the
// LRN the switch or a bank lists the transaction under.
func (a *Auditor) postingLRN(bank string, p *upiv1.Posting, txnLRN map[string]string) string {
	if _, lrn, _, ok := parseLiteRef(p.GetRef()); ok {
		return lrn
	}
	legName, id, _ := strings.Cut(p.GetRef(), ":")
	typ := upiv1.Txn_Type(upiv1.Txn_Type_value[legName])
	if t := a.after[id]; t != nil {
		for _, l := range t.GetLegs() {
			if l.GetType() == typ && l.GetBank() == bank && a.liteAccts.bank[l.GetAcNum()] != nil {
				return l.GetAcNum()
			}
		}
	}
	return txnLRN[id]
}

// liteUnconfirmed checks that every online payment the switch decided
// SUCCESS more than MaxAge ago is confirmed at its remitter: a DEBIT:<txn>
// out of the Lite pool.
func (a *Auditor) liteUnconfirmed() {
	debited := map[string]bool{}
	for i := range a.banks {
		b := &a.banks[i]
		pool := pools(b)
		for _, p := range b.postings {
			if pool[p.GetFromAcNum()] && strings.HasPrefix(p.GetRef(), "DEBIT:") {
				debited[b.name+"\x00"+strings.TrimPrefix(p.GetRef(), "DEBIT:")] = true
			}
		}
	}
	for _, t := range a.switchTxns {
		if t.GetStatus() != upiv1.Resp_SUCCESS || !isLiteOnline(t) || a.now.Sub(t.GetUpdated().AsTime()) <= a.maxAge {
			continue
		}
		if b := a.bank(t.GetRemitter()); b == nil || !b.ledgerRead || debited[t.GetRemitter()+"\x00"+t.GetTxnId()] {
			continue
		}
		a.add(ViolationLiteUnconfirmed, t.GetTxnId(), t.GetRemitter(), "online Lite payment %s is SUCCESS at the switch since %s, but remitter %s posted no DEBIT:%s out of its Lite pool (its confirmation was never answered)",
			describe(t), t.GetUpdated().AsTime().Format("2006-01-02T15:04:05Z07:00"), orDash(t.GetRemitter()), t.GetTxnId())
	}
}

// litePosted is what the banks posted of one offline record.
type litePosted struct {
	debits, credits, reversals []*upiv1.Posting
	banks                      []string
	payees                     []string // the credited accounts' VPAs
}

// liteDoublePost checks that every offline record is posted at most once,
// as the switch decided it.
func (a *Auditor) liteDoublePost() {
	posted := map[string]*litePosted{}
	for i := range a.banks {
		b := &a.banks[i]
		names := map[string]string{}
		for _, ac := range b.accounts {
			names[ac.GetAcNum()] = ac.GetVpa()
		}
		for _, p := range b.postings {
			kind, lrn, counter, ok := parseLiteRef(p.GetRef())
			if !ok {
				continue
			}
			key := fmt.Sprintf("%s:%d", lrn, counter)
			lp := posted[key]
			if lp == nil {
				lp = &litePosted{}
				posted[key] = lp
			}
			lp.banks = append(lp.banks, b.name)
			switch kind {
			case refLiteDebit:
				lp.debits = append(lp.debits, p)
			case refLiteCredit:
				lp.credits = append(lp.credits, p)
				lp.payees = append(lp.payees, names[p.GetToAcNum()])
			case refLiteReversal:
				lp.reversals = append(lp.reversals, p)
			}
		}
	}
	records := map[string]*upiv1.LiteRecordResult{}
	for lrn, la := range a.liteAccts.sw {
		for _, r := range la.GetRecords() {
			if r.GetErrCode() == upi.CodeLiteReplay {
				continue // the other content, refused: the record is the first
			}
			if r.GetKind() == lite.KindOnline {
				continue // an online payment's counter: no offline posting
			}
			records[fmt.Sprintf("%s:%d", lrn, r.GetCounter())] = r
		}
	}
	rupees := upi.FormatRupeesIndian
	for _, key := range slices.Sorted(maps.Keys(posted)) {
		lp, r := posted[key], records[key]
		name := "offline record " + key
		if r != nil {
			name += fmt.Sprintf(" (%s, %s from %s to %s)", orDash(r.GetProvisionalUtr()), rupees(r.GetAmountPaise()), orDash(r.GetPayerAddr()), orDash(r.GetPayeeAddr()))
		}
		bad := func(format string, args ...any) {
			a.add(ViolationLiteDoublePost, "", strings.Join(slices.Compact(slices.Sorted(slices.Values(lp.banks))), ","), "%s: "+format, append([]any{name}, args...)...)
		}
		switch {
		case len(lp.debits) > 1 || len(lp.credits) > 1 || len(lp.reversals) > 1:
			bad("posted %d LITEDEBIT, %d LITECREDIT and %d LITEREVERSAL (at most one each)", len(lp.debits), len(lp.credits), len(lp.reversals))
		case len(lp.credits) > 0 && len(lp.reversals) > 0:
			bad("both credited to the payee and reversed to the pool")
		case len(lp.debits) == 0:
			bad("credited or reversed, but never debited from the pool")
		case r == nil:
			bad("posted, but the switch has no such record")
		case r.GetResult() == upiv1.Resp_FAILURE && len(lp.credits) > 0:
			bad("credited to the payee, but the switch ended it FAILURE %s", r.GetErrCode())
		case r.GetResult() == upiv1.Resp_SUCCESS && len(lp.reversals) > 0:
			bad("reversed to the pool, but the switch ended it SUCCESS (UTR %s)", orDash(r.GetUtr()))
		default:
			for _, p := range slices.Concat(lp.debits, lp.credits, lp.reversals) {
				if p.GetAmountPaise() != r.GetAmountPaise() {
					bad("%s is %s, but the switch's record is of %s", p.GetRef(), rupees(p.GetAmountPaise()), rupees(r.GetAmountPaise()))
					return
				}
			}
			for _, v := range lp.payees {
				if v != "" && r.GetPayeeAddr() != "" && v != r.GetPayeeAddr() {
					bad("credited to %s, but the switch's record pays %s", v, r.GetPayeeAddr())
				}
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(records)) {
		r := records[key]
		if r.GetResult() != upiv1.Resp_SUCCESS {
			continue
		}
		if lp := posted[key]; lp == nil || len(lp.debits) == 0 || len(lp.credits) == 0 {
			a.add(ViolationLiteDoublePost, "", "", "offline record %s (%s, %s to %s) is SUCCESS at the switch (UTR %s), but the banks did not post both its LITEDEBIT and LITECREDIT",
				key, orDash(r.GetProvisionalUtr()), rupees(r.GetAmountPaise()), orDash(r.GetPayeeAddr()), orDash(r.GetUtr()))
		}
	}
}
