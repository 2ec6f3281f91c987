package audit

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	txnA   = "ALP0000000000000000000000000000000A"
	txnB   = "BET0000000000000000000000000000000B"
	maxAge = 2 * time.Minute
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(-d)) }

func opening(v int64) *int64 { return &v }

// auditCase builds a snapshot of the default network: abank and bbank each
// opened with ₹100.00 and still holding it.
type auditCase struct {
	snap *snapshot
}

func newAuditCase() *auditCase {
	return &auditCase{snap: &snapshot{
		switchListed: now,
		banks: []bankState{
			{name: "abank", opening: opening(10000), accounts: []*upiv1.AccountBalance{
				{AcNum: "SETTLEMENT-ABNK0000001", Kind: "SETTLEMENT", BalancePaise: 0},
				{AcNum: "1001", Vpa: "alice@alpha", Kind: "CUSTOMER", BalancePaise: 10000},
			}},
			{name: "bbank", opening: opening(10000), accounts: []*upiv1.AccountBalance{
				{AcNum: "SETTLEMENT-BBNK0000001", Kind: "SETTLEMENT", BalancePaise: 0},
				{AcNum: "2001", Vpa: "bob@beta", Kind: "CUSTOMER", BalancePaise: 10000},
			}},
		},
		txns: map[string]map[string]*upiv1.TxnSummary{"abank": {}, "bbank": {}, "alphapsp": {}, "betapsp": {}},
	}}
}

// payment adds a PAY from alice@alpha to bob@beta the switch decided 1m
// ago with status, and the given view at each other node ("" status: no
// record there). Bank views are leg states like "DEBITED+REVERSED".
func (c *auditCase) payment(id string, st upiv1.Resp_Result, payerPSP, payeePSP upiv1.Resp_Result, remLegs, benLegs string) *upiv1.TxnSummary {
	t := &upiv1.TxnSummary{
		TxnId: id, Type: upiv1.Txn_PAY, State: "CLOSED", Status: st, AmountPaise: 500,
		PayerVpa: "alice@alpha", PayeeVpa: "bob@beta", PayerPsp: "alphapsp", PayeePsp: "betapsp",
		Remitter: "abank", Beneficiary: "bbank", Created: ago(70 * time.Second), Updated: ago(time.Minute),
	}
	c.snap.switchTxns = append(c.snap.switchTxns, t)
	for nd, s := range map[string]upiv1.Resp_Result{"alphapsp": payerPSP, "betapsp": payeePSP} {
		if s != upiv1.Resp_RESULT_UNSPECIFIED {
			c.snap.txns[nd][id] = &upiv1.TxnSummary{TxnId: id, Status: s, State: "X", Created: t.Created}
		}
	}
	for nd, legs := range map[string]string{"abank": remLegs, "bbank": benLegs} {
		if legs != "" {
			c.snap.txns[nd][id] = &upiv1.TxnSummary{TxnId: id, State: legs, Created: t.Created}
		}
	}
	return t
}

func kinds(r Result) []string {
	out := []string{}
	for _, v := range r.Violations {
		out = append(out, v.Kind)
	}
	return out
}

func TestAuditChecks(t *testing.T) {
	const (
		ok   = upiv1.Resp_SUCCESS
		fail = upiv1.Resp_FAILURE
		pend = upiv1.Resp_PENDING
		none = upiv1.Resp_RESULT_UNSPECIFIED
	)
	tests := []struct {
		name  string
		build func(c *auditCase)
		want  []string
		check func(t *testing.T, r Result)
	}{
		{name: "empty network", build: func(*auditCase) {}, want: []string{}},
		{name: "success debited and credited, both PSPs agree", want: []string{},
			build: func(c *auditCase) { c.payment(txnA, ok, ok, ok, "DEBITED", "CREDITED") }},
		{name: "failure never debited", want: []string{},
			build: func(c *auditCase) { c.payment(txnA, fail, fail, fail, "DEBIT_FAILED", "") }},
		{name: "failure debited and reversed", want: []string{},
			build: func(c *auditCase) { c.payment(txnA, fail, fail, fail, "DEBITED+REVERSED", "CREDIT_FAILED") }},
		{name: "on-us at one bank and one PSP", want: []string{},
			build: func(c *auditCase) {
				tx := c.payment(txnA, ok, ok, none, "DEBITED+CREDITED", "")
				tx.PayeePsp, tx.Beneficiary = "alphapsp", "abank"
			}},
		{name: "money appeared at a bank", want: []string{ViolationConservation},
			build: func(c *auditCase) { c.snap.banks[0].accounts[1].BalancePaise += 1 },
			check: func(t *testing.T, r Result) {
				assert.Equal(t, int64(20001), r.TotalPaise)
				assert.Equal(t, int64(20000), r.OpeningTotalPaise)
				assert.Equal(t, "abank", r.Violations[0].Node)
				assert.Contains(t, r.Violations[0].Detail, "(1 paise) appeared")
			}},
		{name: "no opening total recorded", want: []string{ViolationConservation},
			build: func(c *auditCase) { c.snap.banks[1].opening = nil }},
		{name: "negative customer balance", want: []string{ViolationNegativeBalance, ViolationConservation},
			build: func(c *auditCase) { c.snap.banks[1].accounts[1].BalancePaise = -1 }},
		{name: "negative settlement is by design", want: []string{},
			build: func(c *auditCase) {
				c.snap.banks[1].accounts[0].BalancePaise = -500
				c.snap.banks[1].accounts[1].BalancePaise += 500
			}},
		{name: "negative lite pool", want: []string{ViolationNegativeBalance},
			build: func(c *auditCase) {
				c.snap.banks[0].accounts = append(c.snap.banks[0].accounts, &upiv1.AccountBalance{AcNum: "LITE", Kind: "LITE_POOL", BalancePaise: -5})
				c.snap.banks[0].accounts[1].BalancePaise += 5
			}},
		{name: "success with no credit", want: []string{ViolationDisagreement},
			build: func(c *auditCase) { c.payment(txnA, ok, ok, ok, "DEBITED", "") }},
		{name: "success with the debit reversed", want: []string{ViolationDisagreement},
			build: func(c *auditCase) { c.payment(txnA, ok, ok, ok, "DEBITED+REVERSED", "CREDITED") }},
		{name: "success with no debit", want: []string{ViolationDisagreement},
			build: func(c *auditCase) { c.payment(txnA, ok, ok, ok, "DEBIT_FAILED", "CREDITED") }},
		{name: "failure left debited", want: []string{ViolationNotClosed},
			build: func(c *auditCase) { c.payment(txnA, fail, fail, fail, "DEBITED", "CREDIT_FAILED") }},
		{name: "failure but credited", want: []string{ViolationDisagreement},
			build: func(c *auditCase) { c.payment(txnA, fail, fail, fail, "DEBITED+REVERSED", "CREDITED") }},
		{name: "payer PSP says otherwise", want: []string{ViolationDisagreement},
			build: func(c *auditCase) { c.payment(txnA, ok, fail, ok, "DEBITED", "CREDITED") },
			check: func(t *testing.T, r Result) {
				assert.Equal(t, "alphapsp", r.Violations[0].Node)
				assert.Equal(t, txnA, r.Violations[0].TxnID)
			}},
		{name: "payee PSP not told yet, recently decided", want: []string{},
			build: func(c *auditCase) { c.payment(txnA, ok, ok, pend, "DEBITED", "CREDITED") },
			check: func(t *testing.T, r Result) { assert.Equal(t, 1, r.InFlight) }},
		{name: "payee PSP never told", want: []string{ViolationNotClosed},
			build: func(c *auditCase) {
				c.payment(txnA, ok, ok, pend, "DEBITED", "CREDITED").Updated = ago(maxAge + time.Second)
			}},
		{name: "payer PSP has no record", want: []string{ViolationNotClosed},
			build: func(c *auditCase) {
				c.payment(txnA, fail, none, fail, "", "").Updated = ago(maxAge + time.Second)
			}},
		{name: "unknown payee handle: no payee PSP to ask", want: []string{},
			build: func(c *auditCase) {
				c.payment(txnA, fail, fail, none, "", "").PayeePsp = ""
			}},
		{name: "pending within max age", want: []string{},
			build: func(c *auditCase) { c.payment(txnA, pend, pend, pend, "DEBITED", "") },
			check: func(t *testing.T, r Result) { assert.Equal(t, 1, r.NonTerminal) }},
		{name: "deemed past max age", want: []string{ViolationStuck},
			build: func(c *auditCase) {
				c.payment(txnA, upiv1.Resp_DEEMED, pend, pend, "DEBITED", "").Created = ago(maxAge + time.Minute)
			},
			check: func(t *testing.T, r Result) { assert.Equal(t, 1, r.NonTerminal) }},
		{name: "collect waiting for its payer before expiry", want: []string{},
			build: func(c *auditCase) {
				tx := c.payment(txnB, pend, pend, pend, "", "")
				tx.Type, tx.Created, tx.Deadline = upiv1.Txn_COLLECT, ago(time.Hour), timestamppb.New(now.Add(time.Minute))
			}},
		{name: "collect undecided long after expiry", want: []string{ViolationStuck},
			build: func(c *auditCase) {
				tx := c.payment(txnB, pend, pend, pend, "", "")
				tx.Type, tx.Created, tx.Deadline = upiv1.Txn_COLLECT, ago(time.Hour), ago(maxAge+time.Second)
			}},
		{name: "val add and heartbeats are not payments", want: []string{},
			build: func(c *auditCase) {
				c.payment(txnA, pend, none, none, "", "").Type = upiv1.Txn_VAL_ADD
				tx := c.payment(txnB, pend, none, none, "", "")
				tx.Type, tx.Created = upiv1.Txn_HBT, ago(time.Hour)
			},
			check: func(t *testing.T, r Result) { assert.Zero(t, r.Transactions) }},
		{name: "bank debit for a transaction the switch does not know", want: []string{ViolationNotClosed},
			build: func(c *auditCase) {
				c.snap.txns["abank"][txnA] = &upiv1.TxnSummary{TxnId: txnA, State: "DEBITED", Created: ago(time.Minute)}
			}},
		{name: "bank record newer than the switch's listing", want: []string{},
			build: func(c *auditCase) {
				c.snap.txns["abank"][txnA] = &upiv1.TxnSummary{TxnId: txnA, State: "DEBITED", Created: timestamppb.New(now)}
			}},
		{name: "bank decline for a transaction the switch does not know moves nothing", want: []string{},
			build: func(c *auditCase) {
				c.snap.txns["abank"][txnA] = &upiv1.TxnSummary{TxnId: txnA, State: "DEBIT_FAILED", Created: ago(time.Minute)}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newAuditCase()
			tt.build(c)
			r := c.snap.audit(now, maxAge)
			assert.ElementsMatch(t, tt.want, kinds(r), "violations: %+v", r.Violations)
			assert.Equal(t, len(tt.want) == 0, r.OK)
			for _, v := range r.Violations {
				assert.NotEmpty(t, v.Detail)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

// TestAuditResultJSON checks the result's JSON form (what `upisim audit
// -o json` prints); internal/cli's TestAuditResultPrint checks its text.
func TestAuditResultJSON(t *testing.T) {
	c := newAuditCase()
	c.payment(txnA, upiv1.Resp_SUCCESS, upiv1.Resp_SUCCESS, upiv1.Resp_SUCCESS, "DEBITED", "")
	r := c.snap.audit(now, maxAge)
	require.Len(t, r.Violations, 1)
	assert.Equal(t, "PAY of ₹5.00 from alice@alpha to bob@beta is SUCCESS at the switch, but beneficiary bbank has no credit posted (no record)", r.Violations[0].Detail)

	js, err := json.MarshalIndent(r, "", "  ")
	require.NoError(t, err)
	var back map[string]any
	require.NoError(t, json.Unmarshal(js, &back))
	for _, k := range []string{"ok", "total_paise", "transactions", "non_terminal", "violations"} {
		assert.Contains(t, back, k)
	}
	v := back["violations"].([]any)[0].(map[string]any)
	assert.Equal(t, "DISAGREEMENT", v["kind"])
	assert.Equal(t, txnA, v["txn_id"])
}

func TestAuditCleanPrintsEmptyViolations(t *testing.T) {
	r := newAuditCase().snap.audit(now, maxAge)
	js, err := json.MarshalIndent(r, "", "  ")
	require.NoError(t, err)
	assert.Contains(t, string(js), `"violations": []`)
	assert.True(t, r.OK)
}

// TestRegisteredCheckRuns checks that a capability's check runs after the
// built-in ones and reports through Add.
func TestRegisteredCheckRuns(t *testing.T) {
	saved := registered()
	t.Cleanup(func() { checksMu.Lock(); checks = saved; checksMu.Unlock() })
	var sawTxns int
	Register(Check{Name: "test", Run: func(a *Auditor) {
		sawTxns = len(a.SwitchTxns())
		if a.Record("alphapsp", txnA) != nil && a.Now().Equal(now) && a.MaxAge() == maxAge {
			a.Add("TEST", txnA, "alphapsp", "seen %d", 1)
		}
	}})
	c := newAuditCase()
	c.payment(txnA, upiv1.Resp_SUCCESS, upiv1.Resp_SUCCESS, upiv1.Resp_SUCCESS, "DEBITED", "CREDITED")
	r := c.snap.audit(now, maxAge)
	assert.Equal(t, 1, sawTxns)
	assert.Equal(t, []Violation{{Kind: "TEST", TxnID: txnA, Node: "alphapsp", Detail: "seen 1"}}, r.Violations)
	assert.False(t, r.OK)
}
