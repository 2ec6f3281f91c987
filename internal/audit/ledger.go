package audit

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/upi"
)

// The checks of money across the network, and of every record the switch
// should know. Two rules make them exact on a running network: each bank's
// postings are read with its balances (readLedger), and the switch is read
// again after every other node (snapshot.switchAfter), because a bank posts
// a leg and a PSP or the app shows an outcome only after the switch
// recorded the request or the decision that caused it.

// moved is what a transaction's postings that match the switch's legs
// moved: debited from the payer, credited to the payee, put back.
type moved struct {
	debit, credit, reversal int64
	// at names the postings, for a violation's detail.
	at []string
}

func (m *moved) inFlight() int64 { return m.debit - m.credit - m.reversal }

// ledgers checks every posting of every bank against the switch's legs
// (stray postings) and adds up, per transaction, what the legs posted
// were to move: a posting of a leg the switch sent counts for the leg's
// amount even when it differs, so that conservation shows the difference.
// A posting on a merchant's account names the merchant.
func (a *Auditor) ledgers() {
	a.moved = map[string]*moved{}
	a.stray = map[string]bool{}
	merchants := a.merchantAccounts()
	for _, b := range a.banks {
		settlement, names, pool := map[string]bool{}, map[string]string{}, pools(&b)
		for _, ac := range b.accounts {
			if ac.GetKind() == string(ledger.KindSettlement) {
				settlement[ac.GetAcNum()] = true
			}
			names[ac.GetAcNum()] = ac.GetVpa()
			if _, ok := merchants[b.name+"\x00"+ac.GetAcNum()]; ok {
				names[ac.GetAcNum()] = "merchant " + ac.GetVpa()
			}
		}
		for _, p := range b.postings {
			a.posting(b.name, p, settlement, pool, names)
		}
	}
}

// posting checks one posting of bank: it must be the leg "<LEG>:<txn>"
// the switch sent that bank, for the leg's amount, between the customer's
// account the leg names and the bank's settlement account, in the leg's
// direction. UPI Lite's postings (docs/FLOWS.md, UPI Lite) are legs too:
// a leg that names an LRN (a top-up's CREDIT, a transfer-out's DEBIT and
// its REVERSAL) posts on the bank's Lite pool account; an online payment's
// confirmation posts DEBIT:<txn> out of the pool for a payment the switch
// sent no DEBIT (isLiteOnline); an offline record's LITEDEBIT, LITECREDIT
// and LITEREVERSAL:<LRN>:<counter> are checked by litePosting (and by the
// lite check, lite.go).
func (a *Auditor) posting(bank string, p *upiv1.Posting, settlement, pool map[string]bool, names map[string]string) {
	acct := func(ac string) string {
		if v := names[ac]; v != "" {
			return ac + " (" + v + ")"
		}
		return ac
	}
	what := fmt.Sprintf("bank %s posted %s %s from %s to %s", bank, p.GetRef(), upi.FormatRupeesIndian(p.GetAmountPaise()), acct(p.GetFromAcNum()), acct(p.GetToAcNum()))
	if a.litePosting(bank, p, settlement, pool, what) {
		return
	}
	legName, id, ok := strings.Cut(p.GetRef(), ":")
	typ := upiv1.Txn_Type(upiv1.Txn_Type_value[legName])
	switch {
	case !ok || (typ != upiv1.Txn_DEBIT && typ != upiv1.Txn_CREDIT && typ != upiv1.Txn_REVERSAL):
		a.add(ViolationStrayPosting, "", bank, "%s: its ref is no leg of a transaction (DEBIT:, CREDIT: or REVERSAL:<txn>, or UPI Lite's LITEDEBIT:, LITECREDIT: or LITEREVERSAL:<LRN>:<counter>)", what)
		return
	}
	strayf := func(format string, args ...any) {
		a.stray[bank+"\x00"+id] = true
		a.add(ViolationStrayPosting, id, bank, "%s, "+format, append([]any{what}, args...)...)
	}
	t := a.after[id]
	if t == nil {
		strayf("for a transaction the switch does not know")
		return
	}
	var leg *upiv1.TxnLeg
	for _, l := range t.GetLegs() {
		if l.GetType() == typ && l.GetBank() == bank {
			leg = l
		}
	}
	if leg == nil && typ == upiv1.Txn_DEBIT && pool[p.GetFromAcNum()] && isLiteOnline(t) && (t.GetRemitter() == bank || t.GetRemitter() == "") {
		// An online Lite payment's confirmation: the remitter's own DEBIT
		// of the payment, out of its pool.
		leg = &upiv1.TxnLeg{Type: upiv1.Txn_DEBIT, Bank: bank, AcNum: p.GetFromAcNum(), AmountPaise: t.GetAmountPaise()}
	}
	if leg == nil {
		strayf("but the switch sent %s no %s of %s (%s)", bank, legName, describe(t), legsSent(t))
		return
	}
	// The customer's side: the leg's account, or the Lite pool for a leg
	// that names an LRN (no account of the bank).
	customer := func(ac string) bool {
		_, isAccount := names[leg.GetAcNum()]
		return ac == leg.GetAcNum() || (pool[ac] && !isAccount)
	}
	from, to := acct(leg.GetAcNum()), "the settlement account"
	okFrom, okTo := customer(p.GetFromAcNum()), settlement[p.GetToAcNum()]
	if typ != upiv1.Txn_DEBIT {
		from, to = to, from
		okFrom, okTo = settlement[p.GetFromAcNum()], customer(p.GetToAcNum())
	}
	if !okFrom || !okTo || p.GetAmountPaise() != leg.GetAmountPaise() {
		strayf("but the switch's %s of %s to %s is %s from %s to %s", legName, describe(t), bank, upi.FormatRupeesIndian(leg.GetAmountPaise()), from, to)
		// It is still that leg: count what the switch asked it to move,
		// so conservation names the difference in money.
	}
	m := a.moved[id]
	if m == nil {
		m = &moved{}
		a.moved[id] = m
	}
	switch typ {
	case upiv1.Txn_DEBIT:
		m.debit += leg.GetAmountPaise()
	case upiv1.Txn_CREDIT:
		m.credit += leg.GetAmountPaise()
	case upiv1.Txn_REVERSAL:
		m.reversal += leg.GetAmountPaise()
	}
	m.at = append(m.at, p.GetRef()+" at "+bank)
}

// legsSent says which legs the switch sent for t: "it sent DEBIT to
// abank, CREDIT to bbank".
func legsSent(t *upiv1.TxnSummary) string {
	if len(t.GetLegs()) == 0 {
		return "it sent no bank any leg of it"
	}
	var s []string
	for _, l := range t.GetLegs() {
		s = append(s, l.GetType().String()+" to "+l.GetBank())
	}
	return "it sent " + strings.Join(s, ", ")
}

// conservation checks money across the network. Each bank's settlement
// account opened at zero and holds its net position towards the network,
// and every posting the switch asked for moves money between a customer
// and a settlement account; so the settlement accounts sum to the money
// debited and not yet credited or reversed, and any other difference is
// money customers hold that no transfer explains. A bank whose total is
// off (money) is reported there, and not again here.
func (a *Auditor) conservation() {
	var settled, inFlight int64
	for _, b := range a.banks {
		if !b.ledgerRead {
			a.res.Notes = append(a.res.Notes, fmt.Sprintf("the postings of bank %s could not be read with its balances (it kept posting over %d reads), so money across the network was not checked; audit a quieter network", b.name, ledgerReads))
			return
		}
		for _, ac := range b.accounts {
			if ac.GetKind() == string(ledger.KindSettlement) {
				settled += ac.GetBalancePaise()
			}
		}
	}
	for _, m := range a.moved {
		inFlight += m.inFlight()
	}
	a.res.SettlementPaise, a.res.MoneyInFlightPaise = settled, inFlight
	if d := inFlight - settled; d != 0 {
		what := "more"
		if d < 0 {
			what, d = "less", -d
		}
		a.add(ViolationConservation, "", "", "customers hold %s (%d paise) %s than the transfers the switch asked for explain: the banks' settlement accounts sum to %s, and %s is debited and not yet credited or reversed",
			upi.FormatRupeesIndian(d), d, what, upi.FormatRupeesIndian(settled), upi.FormatRupeesIndian(inFlight))
	}
}

// closedByPostings checks a decided transaction's postings: a SUCCESS
// debited and credited the amount, a FAILURE left nothing debited and
// credited nothing. It runs when the banks' records agree (banksAgree),
// for the banks whose ledgers were read.
func (a *Auditor) closedByPostings(t *upiv1.TxnSummary) {
	for _, bank := range []string{t.GetRemitter(), t.GetBeneficiary()} {
		if b := a.bank(bank); b == nil || !b.ledgerRead {
			return
		}
	}
	id, m := t.GetTxnId(), a.moved[t.GetTxnId()]
	if m == nil {
		m = &moved{}
	}
	if isLiteOnline(t) && t.GetStatus() == upiv1.Resp_SUCCESS && m.debit == 0 && m.credit == t.GetAmountPaise() && m.reversal == 0 {
		// An online Lite payment whose confirmation the remitter has not
		// posted yet: its credit came from the switch's LRN balance
		// (LITE_UNCONFIRMED checks the confirmation).
		return
	}
	postings := "no posting"
	if len(m.at) > 0 {
		postings = strings.Join(m.at, ", ")
	}
	switch success := t.GetStatus() == upiv1.Resp_SUCCESS; {
	case success && (m.debit != t.GetAmountPaise() || m.credit != t.GetAmountPaise() || m.reversal != 0):
		a.add(ViolationDisagreement, id, "", "%s is SUCCESS at the switch, but the banks' postings debited %s, credited %s and reversed %s (%s)",
			describe(t), upi.FormatRupeesIndian(m.debit), upi.FormatRupeesIndian(m.credit), upi.FormatRupeesIndian(m.reversal), postings)
	case !success && m.credit != 0:
		a.add(ViolationDisagreement, id, "", "%s is FAILURE at the switch, but the banks' postings credited %s (%s)", describe(t), upi.FormatRupeesIndian(m.credit), postings)
	case !success && m.inFlight() != 0:
		a.add(ViolationNotClosed, id, "", "%s is FAILURE at the switch, but the banks' postings leave %s debited and not reversed (%s)", describe(t), upi.FormatRupeesIndian(m.inFlight()), postings)
	}
}

func (a *Auditor) bank(name string) *bankState {
	for i := range a.banks {
		if a.banks[i].name == name {
			return &a.banks[i]
		}
	}
	return nil
}

// records checks what the PSPs and the app show their users against the
// switch, read after them: a transaction the switch does not know, or an
// outcome it did not decide. (txn checks the outcomes the switch had
// decided when it was first read.)
func (a *Auditor) records() {
	first := make(map[string]*upiv1.TxnSummary, len(a.switchTxns))
	for _, t := range a.switchTxns {
		first[t.GetTxnId()] = t
	}
	for _, nd := range append(append([]string{}, a.psps...), a.apps...) {
		kind := "PSP"
		if a.isApp(nd) {
			kind = "the app at"
		}
		m := a.txns[nd]
		for _, id := range slices.Sorted(maps.Keys(m)) {
			r := m[id]
			t := a.after[id]
			if t == nil {
				a.unknown(kind, nd, r)
				continue
			}
			if f := first[id]; f != nil && upi.Final(f.GetStatus()) && isPayment(f) && (a.isApp(nd) || nd == f.GetPayerPsp() || nd == f.GetPayeePsp()) {
				continue // txn compared it with the switch's decision
			}
			switch {
			case !upi.Final(r.GetStatus()) || r.GetStatus() == t.GetStatus():
			case !upi.Final(t.GetStatus()) && r.GetStatus() == upiv1.Resp_FAILURE && r.GetErrCode() == upi.CodeRefused:
				// The switch refused this ReqPay: the id is another
				// payment's there.
			default:
				a.add(ViolationDisagreement, id, nd, "%s is %s at the switch, but %s %s says %s", describe(t), outcome(t.GetStatus(), t.GetErrCode()), kind, nd, outcome(r.GetStatus(), r.GetErrCode()))
			}
		}
	}
}

// unknown checks a record of a PSP or the app whose transaction the switch
// does not have: fine while it may still be on its way to the switch
// (PENDING, within maxAge), when the switch refused it (FAILURE U07), or
// when it is a UPI Circle payment PSP(S) ended before sending anything,
// over a limit of the link (FAILURE Z8, QH or FP: docs/FLOWS.md, "Payment,
// full delegation" step 2), or ended FAILURE at its payee look-up (step
// 3), which the switch has under the look-up's own id.
func (a *Auditor) unknown(kind, nd string, r *upiv1.TxnSummary) {
	st := r.GetStatus()
	switch {
	case st == upiv1.Resp_FAILURE && r.GetErrCode() == upi.CodeRefused:
		return
	case st == upiv1.Resp_FAILURE && r.GetSecondaryVpa() != "" && circleLimitCode(r.GetErrCode()):
		return
	case st == upiv1.Resp_FAILURE && r.GetSecondaryVpa() != "" && a.after[ids.LookupTxnID(r.GetTxnId())].GetType() == upiv1.Txn_VAL_ADD:
		return
	case st == upiv1.Resp_PENDING && a.now.Sub(r.GetCreated().AsTime()) <= a.maxAge:
		return
	}
	a.add(ViolationUnknownTxn, r.GetTxnId(), nd, "%s %s shows %s as %s (state %s, since %s), but the switch has no record of it",
		kind, nd, describe(r), outcome(st, r.GetErrCode()), orDash(r.GetState()), r.GetCreated().AsTime().Format(time.RFC3339))
}

func (a *Auditor) isApp(nd string) bool {
	for _, x := range a.apps {
		if x == nd {
			return true
		}
	}
	return false
}

// isPayment: a PAY, COLLECT or REFUND, whose outcome txn checks at every
// node.
func isPayment(t *upiv1.TxnSummary) bool {
	return t.GetType() == upiv1.Txn_PAY || t.GetType() == upiv1.Txn_COLLECT || t.GetType() == upiv1.Txn_REFUND
}

// circleLimitCode reports whether code is one PSP(S) ends a delegated
// payment with before it sends anything: a limit of the link.
func circleLimitCode(code string) bool {
	switch code {
	case upi.CodeLimitExceeded, upi.CodeCircleMonthly, upi.CodeCircleCooling:
		return true
	}
	return false
}
