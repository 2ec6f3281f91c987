package integration

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/audit"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/store"
)

// Each test here puts into one node's store what a forged network message
// (or a forged record) would leave there, and checks that `upisim audit`
// names it: the transaction, the node, and what is wrong.

// forgedAt is the time the forged entries claim: well before the audit, so
// no check can take them for work still in flight.
var forgedAt = time.Now().Add(-time.Hour)

// account is the account number of vpa at bank.
func (n *net) account(bank, vpa string) string {
	n.t.Helper()
	var a *ledger.Account
	n.update(bank, func(tx *store.Tx) (err error) {
		a, err = ledger.ByVPA(tx, vpa)
		return err
	})
	return a.AcNum
}

// post makes a posting at bank under ref, from one account to another, as
// the bank's ledger would for a request it took.
func (n *net) post(bank, ref, from, to string, amount int64) {
	n.t.Helper()
	n.update(bank, func(tx *store.Tx) error { return ledger.PostAt(tx, forgedAt, ref, from, to, amount) })
}

// auditNames runs the audit and returns the violations that name txnID
// and node (either may be ""), failing when there is none.
func (n *net) auditNames(txnID, node string, words ...string) []audit.Violation {
	n.t.Helper()
	res, out, err := n.audit()
	require.Error(n.t, err, "the audit must fail: %s", out)
	assert.False(n.t, res.OK)
	var got []audit.Violation
	for _, v := range res.Violations {
		if (txnID == "" || v.TxnID == txnID) && (node == "" || v.Node == node) {
			text := v.Kind + " " + v.Detail
			all := true
			for _, w := range words {
				all = all && strings.Contains(text, w)
			}
			if all {
				got = append(got, v)
			}
		}
	}
	require.NotEmpty(n.t, got, "no violation names txn %q at %q with %q:\n%s", txnID, node, words, out)
	return got
}

const abankSettlement, bbankSettlement = "SETTLEMENT-ABNK0000001", "SETTLEMENT-BBNK0000001"

// A CREDIT posted at the payer's own bank under a real payment: abank's
// settlement account pays alice ₹2,199, so abank's total holds, and the
// switch never sent abank a CREDIT.
func TestAuditForgedCreditAtPayersBank(t *testing.T) {
	n := up(t, nil)
	paid := n.pay("alice@alpha", "bob@beta", "10.00", "1234")
	require.Equal(t, "SUCCESS", paid.Status)
	waitQuiet(t, n)
	n.post("abank", ledger.PostingRef(ledger.LegCredit, paid.TxnID), abankSettlement, n.account("abank", "alice@alpha"), 2_199_00)

	n.auditNames(paid.TxnID, "abank", audit.ViolationStrayPosting, "CREDIT", "₹2,199.00", "no CREDIT")
	n.auditNames("", "", audit.ViolationConservation, "₹2,199.00", "more")

	// The text form says the same, with the ids.
	var text bytes.Buffer
	_, err := cli.Audit(context.Background(), &text, cli.AuditOptions{DataDir: n.dir})
	require.Error(t, err)
	t.Logf("upisim audit:\n%s", text.String())
	for _, want := range []string{"ok            no", "STRAY_POSTING", "CREDIT:" + paid.TxnID, "CONSERVATION", "₹2,199.00"} {
		assert.Contains(t, text.String(), want)
	}
}

// Money moved without a posting: alice's balance goes up and abank's
// settlement account down by as much, so abank's total holds.
func TestAuditSettlementAbsorbsMoneyWithoutPosting(t *testing.T) {
	n := up(t, nil)
	n.update("abank", func(tx *store.Tx) error {
		for vpa, d := range map[string]int64{"alice@alpha": 2_199_00, "": -2_199_00} {
			var a *ledger.Account
			var err error
			if vpa == "" {
				a, err = ledger.Get(tx, abankSettlement)
			} else {
				a, err = ledger.ByVPA(tx, vpa)
			}
			require.NoError(t, err)
			a.BalancePaise += d
			require.NoError(t, ledger.Accounts.Put(tx, a.AcNum, a))
		}
		return nil
	})

	v := n.auditNames("", "", "₹2,199.00", "more")
	assert.Equal(t, audit.ViolationConservation, v[0].Kind)
	res, _, _ := n.audit()
	assert.Equal(t, int64(-2_199_00), res.SettlementPaise)
	assert.Zero(t, res.MoneyInFlightPaise)
}

// A REVERSAL of a payment that succeeded, which the switch never sent: the
// remitter's settlement account absorbs it.
func TestAuditForgedReversal(t *testing.T) {
	n := up(t, nil)
	paid := n.pay("alice@alpha", "bob@beta", "10.00", "1234")
	require.Equal(t, "SUCCESS", paid.Status)
	waitQuiet(t, n)
	n.post("abank", ledger.PostingRef(ledger.LegReversal, paid.TxnID), abankSettlement, n.account("abank", "alice@alpha"), 10_00)

	n.auditNames(paid.TxnID, "abank", audit.ViolationStrayPosting, "REVERSAL", "₹10.00", "no REVERSAL")
	n.auditNames("", "", audit.ViolationConservation, "₹10.00", "more")
}

// A CREDIT under the id of a ReqValAdd (the switch knows it, but a name
// look-up moves no money) and one under the id of a heartbeat (the switch
// keeps no record of those).
func TestAuditForgedCreditUnderValAddAndHbt(t *testing.T) {
	n := up(t, nil)
	nd, ok := n.nw.Node("alphapsp")
	require.True(t, ok)
	r, err := cluster.PSPOf(nd.Impl).ResolveAddress(context.Background(), &upiv1.ResolveAddressRequest{Vpa: "bob@beta", RequesterVpa: "alice@alpha"})
	require.NoError(t, err)
	require.Equal(t, upiv1.Resp_SUCCESS, r.GetDetails().GetResult())
	var valAdd string
	for _, tx := range n.listAll("npci") {
		if tx.GetType() == upiv1.Txn_VAL_ADD {
			valAdd = tx.GetTxnId()
		}
	}
	require.NotEmpty(t, valAdd)
	hbt := ids.NewTxnID("ALP")
	waitQuiet(t, n)
	bob := n.account("bbank", "bob@beta")
	n.post("bbank", ledger.PostingRef(ledger.LegCredit, valAdd), bbankSettlement, bob, 500_00)
	n.post("bbank", ledger.PostingRef(ledger.LegCredit, hbt), bbankSettlement, bob, 700_00)

	n.auditNames(valAdd, "bbank", audit.ViolationStrayPosting, "CREDIT", "₹500.00", "it sent no bank any leg")
	n.auditNames(hbt, "bbank", audit.ViolationStrayPosting, "CREDIT", "₹700.00", "the switch does not know")
}

// A debit posted for less than the payment: alice keeps ₹9 of the ₹10 she
// paid, and abank's settlement account makes up for it.
func TestAuditPostingAmountDiffers(t *testing.T) {
	n := up(t, nil)
	paid := n.pay("alice@alpha", "bob@beta", "10.00", "1234")
	require.Equal(t, "SUCCESS", paid.Status)
	waitQuiet(t, n)
	ref := ledger.PostingRef(ledger.LegDebit, paid.TxnID)
	n.update("abank", func(tx *store.Tx) error {
		p, ok, err := ledger.Posting(tx, ref)
		require.NoError(t, err)
		require.True(t, ok)
		for ac, d := range map[string]int64{p.From: 9_00, p.To: -9_00} {
			a, err := ledger.Get(tx, ac)
			require.NoError(t, err)
			a.BalancePaise += d
			require.NoError(t, ledger.Accounts.Put(tx, ac, a))
		}
		p.AmountPaise = 1_00
		return ledger.Postings.Put(tx, ref, p)
	})

	n.auditNames(paid.TxnID, "abank", audit.ViolationStrayPosting, "DEBIT", "₹1.00", "₹10.00")
	n.auditNames("", "", audit.ViolationConservation, "₹9.00", "more")
}

// putRecord stores m, a record in its stored form, under id in node's
// transactions.
func (n *net) putRecord(node string, id string, m proto.Message) {
	n.t.Helper()
	b, err := proto.Marshal(m)
	require.NoError(n.t, err)
	n.update(node, func(tx *store.Tx) error { return tx.Put(store.Txns, []byte(id), b) })
}

// getRecord reads node's record of id into m.
func (n *net) getRecord(node string, id string, m proto.Message) {
	n.t.Helper()
	n.update(node, func(tx *store.Tx) error {
		v := tx.Get(store.Txns, []byte(id))
		require.NotNil(n.t, v, "%s has no record of %s", node, id)
		return proto.Unmarshal(v, m)
	})
}

// A PSP that tells its user about a payment the switch never saw, and one
// that says SUCCESS where the switch said FAILURE.
func TestAuditForgedPSPRecords(t *testing.T) {
	n := up(t, nil)
	failed := n.pay("alice@alpha", "bob@beta", "10.00", "9999")
	require.Equal(t, "ZM", failed.ErrCode)
	waitQuiet(t, n)

	made := ids.NewTxnID("BET")
	n.putRecord("betapsp", made, &recordsv1.PspTxn{
		Id: made, Type: "PAY", Role: "payee", State: "CONFIRMED", Status: "SUCCESS", Rrn: "512345678901",
		PayerVpa: "alice@alpha", PayeeVpa: "chai@beta", AmountPaise: 5000_00,
		Created: forgedAt.UnixNano(), Updated: forgedAt.UnixNano(), PayeeHere: true, Confirmed: true,
	})
	var rec recordsv1.PspTxn
	n.getRecord("betapsp", failed.TxnID, &rec)
	rec.Status, rec.ErrCode = "SUCCESS", ""
	n.putRecord("betapsp", failed.TxnID, &rec)

	n.auditNames(made, "betapsp", audit.ViolationUnknownTxn, "₹5,000.00", "no record")
	n.auditNames(failed.TxnID, "betapsp", audit.ViolationDisagreement, "FAILURE ZM", "says SUCCESS")
}

// The app shows a payment the switch never saw, and another as SUCCESS
// that the switch declined.
func TestAuditForgedTPAPRecords(t *testing.T) {
	n := up(t, nil)
	failed := n.pay("alice@alpha", "bob@beta", "10.00", "9999")
	require.Equal(t, "ZM", failed.ErrCode)
	waitQuiet(t, n)

	made := ids.NewTxnID("ALP")
	n.putRecord("tpap", made, &recordsv1.AppTxn{
		TxnId: made, Type: "PAY", Status: "SUCCESS", Rrn: "512345678902", Payer: "alice@alpha", Payee: "bob@beta",
		AmountPaise: 300_00, Psp: "alphapsp", Created: forgedAt.UnixNano(), Updated: forgedAt.UnixNano(),
	})
	var rec recordsv1.AppTxn
	n.getRecord("tpap", failed.TxnID, &rec)
	rec.Status, rec.ErrCode = "SUCCESS", ""
	n.putRecord("tpap", failed.TxnID, &rec)

	n.auditNames(made, "tpap", audit.ViolationUnknownTxn, "₹300.00", "no record")
	n.auditNames(failed.TxnID, "tpap", audit.ViolationDisagreement, "FAILURE ZM", "shows its users SUCCESS")
}

// listAll lists every transaction of a node.
func (n *net) listAll(node string) []*upiv1.TxnSummary {
	n.t.Helper()
	a, err := n.c.Admin(node)
	require.NoError(n.t, err)
	var out []*upiv1.TxnSummary
	token := ""
	for {
		p, err := a.ListTransactions(context.Background(), &upiv1.ListTransactionsRequest{PageToken: token})
		require.NoError(n.t, err)
		out = append(out, p.GetTransactions()...)
		if token = p.GetNextPageToken(); token == "" {
			return out
		}
	}
}

// After every ordinary flow — pays on-us and across banks, declines,
// collects approved, declined and expired, a name look-up, and each magic
// payee's branch (a credit declined and reversed, DEEMED then found, DEEMED
// then reversed, a late debit, a doubled answer) — the audit finds the
// network clean: every posting is a leg the switch sent, the settlement
// accounts sum to zero, and every PSP and the app agree with the switch.
func TestAuditCleanAfterEveryFlow(t *testing.T) {
	n := up(t, func(c *config.Network) {
		shortTimeouts(300 * time.Millisecond)(c)
		c.Timeouts.CollectExpiryMax = 500 * time.Millisecond
		for i := range c.Rules {
			if c.Rules[i].Name == "slowdebit" {
				c.Rules[i].Fault.Delay = time.Second // past the debit timeout
			}
		}
	})
	want := map[string]string{
		"bob@beta": "SUCCESS", "chai@beta": "SUCCESS", "creditfail@beta": "FAILURE U31", "deemed@beta": "SUCCESS",
		"lost@beta": "FAILURE U68", "slowdebit@beta": "FAILURE U67", "twice@beta": "SUCCESS", "nobody@beta": "FAILURE U29",
	}
	for to, w := range want {
		r := n.pay("alice@alpha", to, "10.00", "1234")
		assert.Equal(t, w, strings.TrimSpace(r.Status+" "+r.ErrCode), "pay %s", to)
	}
	assert.Equal(t, "SUCCESS", n.pay("bob@beta", "carol@beta", "1.00", "1234").Status) // on-us
	assert.Equal(t, "ZM", n.pay("bob@beta", "alice@alpha", "1.00", "0000").ErrCode)

	nd, ok := n.nw.Node("alphapsp")
	require.True(t, ok)
	_, err := cluster.PSPOf(nd.Impl).ResolveAddress(context.Background(), &upiv1.ResolveAddressRequest{Vpa: "bob@beta", RequesterVpa: "alice@alpha"})
	require.NoError(t, err)

	approved := n.collect("alice@alpha", "bob@beta", "5.00")
	n.waitPrompt("alice@alpha", approved.TxnID)
	r, err := cli.Approve(context.Background(), io.Discard, cli.ApproveOptions{DataDir: n.dir, TxnID: approved.TxnID, PIN: "1234", Timeout: 20 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, "SUCCESS", r.Status)
	declined := n.collect("carol@beta", "alice@alpha", "5.00")
	n.waitPrompt("carol@beta", declined.TxnID)
	r, err = cli.Approve(context.Background(), io.Discard, cli.ApproveOptions{DataDir: n.dir, TxnID: declined.TxnID, Decline: true, Timeout: 20 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, "ZA", r.ErrCode)
	expired := n.collect("alice@alpha", "carol@beta", "2.00")
	// The collect is answered before its ReqPay reaches the switch, so
	// the switch may not know it yet at first.
	sw, err := n.c.Admin("npci")
	require.NoError(t, err)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		r, err := sw.GetTransaction(context.Background(), &upiv1.GetTransactionRequest{TxnId: expired.TxnID})
		if !assert.NoError(ct, err) {
			return
		}
		tx := r.GetTransaction()
		assert.Equal(ct, "U69", tx.GetErrCode(), "the collect expires (now %s %s)", tx.GetStatus(), tx.GetErrCode())
	}, 10*time.Second, 10*time.Millisecond)
	waitQuiet(t, n)

	res, out, err := n.audit()
	require.NoError(t, err, out)
	assert.True(t, res.OK)
	assert.Empty(t, res.Violations)
	assert.Empty(t, res.Notes)
	assert.Equal(t, 13, res.Transactions)
	assert.Zero(t, res.NonTerminal)
	assert.Zero(t, res.InFlight)
	assert.Zero(t, res.SettlementPaise)
	assert.Zero(t, res.MoneyInFlightPaise)

	// The switch names the legs it sent: the reversal of the declined
	// credit among them.
	var reversed *upiv1.TxnSummary
	for _, tx := range n.listAll("npci") {
		if tx.GetPayeeVpa() == "creditfail@beta" {
			reversed = tx
		}
	}
	require.NotNil(t, reversed)
	var legs []string
	for _, l := range reversed.GetLegs() {
		legs = append(legs, l.GetType().String()+" "+l.GetBank()+" "+l.GetResult().String())
	}
	assert.Equal(t, []string{"DEBIT abank SUCCESS", "CREDIT bbank FAILURE", "REVERSAL abank SUCCESS"}, legs)
}
