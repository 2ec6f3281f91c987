package integration

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/audit"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/fault"
)

// flow lists the received messages of a trace as "from→to API TYPE", with
// the fault layer's notes (the sender's and the receiver's) in brackets.
func flow(msgs []cli.TraceMessage) []string {
	sent := map[string]string{}
	for _, m := range msgs {
		if m.Direction == "OUT" && m.Note != "" {
			sent[m.Node+"\x00"+m.MsgID] = m.Note
		}
	}
	var out []string
	for _, m := range msgs {
		if m.Direction != "IN" {
			continue
		}
		s := m.Peer + "→" + m.Node + " " + m.API
		if typ, _, _ := strings.Cut(m.Summary, " "); typ != "" {
			s += " " + typ
		}
		var notes []string
		for _, n := range []string{sent[m.Peer+"\x00"+m.MsgID], m.Note} {
			if n != "" {
				notes = append(notes, n)
			}
		}
		if len(notes) > 0 {
			s += " [" + strings.Join(notes, "; ") + "]"
		}
		out = append(out, s)
	}
	return out
}

// sentNotes lists the notes of messages sent and never received.
func sentNotes(msgs []cli.TraceMessage) []string {
	recv := map[string]bool{}
	for _, m := range msgs {
		if m.Direction == "IN" {
			recv[m.Peer+"\x00"+m.MsgID] = true
		}
	}
	var out []string
	for _, m := range msgs {
		if m.Direction == "OUT" && !recv[m.Node+"\x00"+m.MsgID] {
			out = append(out, m.Node+"→"+m.Peer+" "+m.API+" ["+m.Note+"]")
		}
	}
	return out
}

// containsInOrder reports whether every want appears in got, in order.
func containsInOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// The magic payees of the default network take each failure branch on
// purpose (README, "Reaching every branch"), and the trace shows it.
func TestMagicPayees(t *testing.T) {
	n := up(t, func(c *config.Network) {
		shortTimeouts(300 * time.Millisecond)(c)
		for i := range c.Rules {
			if c.Rules[i].Name == "slowdebit" {
				c.Rules[i].Fault.Delay = time.Second // past the debit timeout
			}
		}
	})
	pay := func(t *testing.T, to string) (cli.TxnResult, int64) {
		before := n.balance("alice@alpha")
		r := n.pay("alice@alpha", to, "10.00", "1234")
		return r, before
	}
	agree := func(t *testing.T, id string, want upiv1.Resp_Result, code string) {
		t.Helper()
		for _, node := range []string{"alphapsp", "npci", "betapsp"} {
			eventually(t, func() bool {
				v := n.nodeTxn(node, id).GetTransaction()
				return v.GetStatus() == want && v.GetErrCode() == code
			}, node+" ends "+want.String()+" "+code)
		}
	}

	t.Run("creditfail: the credit is declined and the debit reversed", func(t *testing.T) {
		r, before := pay(t, "creditfail@beta")
		assert.Equal(t, "FAILURE", r.Status)
		assert.Equal(t, "U31", r.ErrCode)
		assert.Regexp(t, rrnRE, r.RRN)
		eventually(t, func() bool { return n.balance("alice@alpha") == before }, "alice's debit is reversed")
		assert.Zero(t, n.balance("creditfail@beta"))
		agree(t, r.TxnID, upiv1.Resp_FAILURE, "U31")
		got := flow(n.trace(r.TxnID))
		assert.True(t, containsInOrder(got, []string{
			"npci→abank ReqPay DEBIT",
			"abank→npci RespPay DEBIT",
			"npci→bbank ReqPay CREDIT [declined with U31 (rule creditfail)]",
			"bbank→npci RespPay CREDIT",
			"npci→abank ReqPay REVERSAL",
			"abank→npci RespPay REVERSAL",
			"npci→alphapsp RespPay PAY",
		}), "%s", strings.Join(got, "\n"))
	})

	t.Run("deemed: the credit's answer is lost, a status check finds it", func(t *testing.T) {
		r, before := pay(t, "deemed@beta")
		assert.Equal(t, "SUCCESS", r.Status, "pay waits through DEEMED for the final status")
		assert.Empty(t, r.ErrCode)
		assert.Equal(t, before-1000, n.balance("alice@alpha"))
		assert.EqualValues(t, 1000, n.balance("deemed@beta"))
		agree(t, r.TxnID, upiv1.Resp_SUCCESS, "")
		msgs := n.trace(r.TxnID)
		assert.Contains(t, sentNotes(msgs), "bbank→npci RespPay [dropped: never sent (rule deemed)]")
		got := flow(msgs)
		assert.True(t, containsInOrder(got, []string{
			"npci→bbank ReqPay CREDIT [its answer dropped: never sent (rule deemed)]",
			"npci→alphapsp RespPay PAY", // DEEMED
			"npci→bbank ReqChkTxn CHK_STATUS",
			"bbank→npci RespChkTxn CHK_STATUS",
			"npci→alphapsp RespPay PAY", // SUCCESS
		}), "%s", strings.Join(got, "\n"))
		var results []string
		for _, m := range msgs {
			if m.Direction == "IN" && m.Node == "alphapsp" && m.API == "RespPay" {
				results = append(results, m.Summary)
			}
		}
		require.Len(t, results, 2)
		assert.Contains(t, results[0], "DEEMED RB")
		assert.Contains(t, results[1], "SUCCESS")
	})

	t.Run("lost: no credit and no answer, the checks find nothing, reversed", func(t *testing.T) {
		r, before := pay(t, "lost@beta")
		assert.Equal(t, "FAILURE", r.Status)
		assert.Equal(t, "U68", r.ErrCode, "credit timeout, and the credit never happened")
		eventually(t, func() bool { return n.balance("alice@alpha") == before }, "alice's debit is reversed")
		assert.Zero(t, n.balance("lost@beta"))
		agree(t, r.TxnID, upiv1.Resp_FAILURE, "U68")
		got := flow(n.trace(r.TxnID))
		assert.True(t, containsInOrder(got, []string{
			"npci→bbank ReqPay CREDIT [ignored: never processed, never answered (rule lost)]",
			"npci→bbank ReqChkTxn CHK_STATUS",
			"bbank→npci RespChkTxn CHK_STATUS",
			"npci→abank ReqPay REVERSAL",
			"abank→npci RespPay REVERSAL",
		}), "%s", strings.Join(got, "\n"))
		for _, m := range n.trace(r.TxnID) {
			if m.API == "RespChkTxn" && m.Direction == "IN" {
				assert.Contains(t, m.Summary, "FAILURE U48", "the beneficiary has no such credit")
			}
		}
	})

	t.Run("slowdebit: the debit answers late, reversed, the late answer changes nothing", func(t *testing.T) {
		r, before := pay(t, "slowdebit@beta")
		assert.Equal(t, "FAILURE", r.Status)
		assert.Equal(t, "U67", r.ErrCode)
		eventually(t, func() bool { return n.balance("alice@alpha") == before }, "alice's debit is reversed")
		assert.Zero(t, n.balance("slowdebit@beta"))
		agree(t, r.TxnID, upiv1.Resp_FAILURE, "U67")
		var got []string
		eventually(t, func() bool {
			got = flow(n.trace(r.TxnID))
			return containsInOrder(got, []string{
				"npci→abank ReqPay DEBIT [its answer delayed 1s (rule slowdebit)]",
				"npci→abank ReqPay REVERSAL",
				"abank→npci RespPay REVERSAL",
				"npci→alphapsp RespPay PAY",
				"abank→npci RespPay DEBIT [delayed 1s (rule slowdebit); late (U70): its request had timed out; recorded, changes nothing]",
			})
		}, "the late debit answer arrives after the decision")
		// It changed nothing.
		agree(t, r.TxnID, upiv1.Resp_FAILURE, "U67")
		assert.Equal(t, before, n.balance("alice@alpha"))
	})

	t.Run("twice: the credit's answer is delivered twice, applied once", func(t *testing.T) {
		r, before := pay(t, "twice@beta")
		assert.Equal(t, "SUCCESS", r.Status)
		assert.Equal(t, before-1000, n.balance("alice@alpha"))
		assert.EqualValues(t, 1000, n.balance("twice@beta"))
		agree(t, r.TxnID, upiv1.Resp_SUCCESS, "")
		const answer = "bbank→npci RespPay CREDIT [sent twice (rule twice)"
		eventually(t, func() bool {
			return containsInOrder(flow(n.trace(r.TxnID)), []string{
				answer + "]",
				answer + "; repeat of a message already received: answered with its stored ack, not applied again]",
			})
		}, "both deliveries are in the trace, the second answered from the inbox")
	})

	waitQuiet(t, n)
	res, out, err := n.audit()
	require.NoError(t, err, out)
	assert.True(t, res.OK, out)
	assert.Empty(t, res.Violations)
	assert.Zero(t, res.NonTerminal)
}

// Rules of a network file reach the branches the magic payees do not
// (README, "Reaching every branch"), each selected here by its amount.
func TestRuleBranches(t *testing.T) {
	amount := func(paise int64) fault.Match { return fault.Match{MinAmount: paise, MaxAmount: paise} }
	with := func(m fault.Match, api, typ string) fault.Match { m.API, m.Type = api, typ; return m }
	n := up(t, func(c *config.Network) {
		shortTimeouts(200 * time.Millisecond)(c)
		c.Rules = []fault.Rule{
			// 2.01: the credit's answer and every check's are lost: DEEMED
			// while the switch keeps checking.
			{Name: "no-credit-answer", Node: "bbank", Match: with(amount(201), "ReqPay", "CREDIT"), Fault: fault.Fault{Drop: true}},
			{Name: "no-check-answer", Node: "bbank", Match: fault.Match{API: "ReqChkTxn"}, Fault: fault.Fault{Drop: true}},
			// 2.02: the credit is declined and the reversal's answers are
			// lost: the reversal is sent three times, then unconfirmed.
			{Name: "decline-credit", Node: "bbank", Match: with(amount(202), "ReqPay", "CREDIT"), Decline: "U31"},
			{Name: "no-reversal-answer", Node: "abank", Match: with(amount(202), "ReqPay", "REVERSAL"), Fault: fault.Fault{Drop: true}},
			// 2.03: the switch declines the payment (risk).
			{Name: "risk", Node: "npci", Match: with(amount(203), "ReqPay", "PAY"), Decline: "U16"},
			// 2.04: the payee's PSP declines it.
			{Name: "payee-psp", Node: "betapsp", Match: with(amount(204), "ReqAuthDetails", ""), Decline: "U16"},
			// 2.05: every message the switch sends fails once, loses its
			// first ack and arrives twice.
			{Name: "flaky", Node: "npci", On: fault.OnSend, Match: amount(205), Fault: fault.Fault{FailSends: 1, LoseAcks: 1, Duplicate: true}},
			// 2.06: the payee's PSP never answers ReqAuthDetails: U09.
			{Name: "silent-psp", Node: "betapsp", Match: with(amount(206), "ReqAuthDetails", ""), Ignore: true},
		}
	})
	alice, bob := n.balance("alice@alpha"), n.balance("bob@beta")
	count := func(got []string, want string) int {
		c := 0
		for _, g := range got {
			if strings.HasPrefix(g, want) {
				c++
			}
		}
		return c
	}

	deemed := n.payNoWait("alice@alpha", "bob@beta", "2.01")
	eventually(t, func() bool { return count(flow(n.trace(deemed)), "npci→bbank ReqChkTxn") > 3 }, "the checks go on past the first three")
	got := flow(n.trace(deemed))
	assert.Zero(t, count(got, "npci→abank ReqPay REVERSAL"), "a debit whose credit may have happened is not reversed: %s", strings.Join(got, "\n"))
	assert.Equal(t, upiv1.Resp_DEEMED, n.statusAt("npci", deemed))
	assert.Equal(t, upiv1.Resp_DEEMED, n.statusAt("alphapsp", deemed))

	r := n.pay("alice@alpha", "bob@beta", "2.02", "1234")
	assert.Equal(t, "FAILURE", r.Status)
	assert.Equal(t, "U31", r.ErrCode)
	got = flow(n.trace(r.TxnID))
	assert.Equal(t, 3, count(got, "npci→abank ReqPay REVERSAL [its answer dropped"), "the reversal is sent three times: %s", strings.Join(got, "\n"))
	assert.Zero(t, count(got, "abank→npci RespPay REVERSAL"))

	r = n.pay("alice@alpha", "bob@beta", "2.03", "1234")
	assert.Equal(t, "FAILURE", r.Status)
	assert.Equal(t, "U16", r.ErrCode)
	assert.Equal(t, []string{"alphapsp→npci ReqPay PAY [declined with U16 (rule risk)]", "npci→alphapsp RespPay PAY"}, flow(n.trace(r.TxnID))[:2])
	assert.Zero(t, count(flow(n.trace(r.TxnID)), "npci→abank"), "nothing is debited")

	r = n.pay("alice@alpha", "bob@beta", "2.04", "1234")
	assert.Equal(t, "FAILURE", r.Status)
	assert.Equal(t, "U16", r.ErrCode)
	got = flow(n.trace(r.TxnID))
	assert.Contains(t, got, "npci→betapsp ReqAuthDetails PAY [declined with U16 (rule payee-psp)]")
	assert.Zero(t, count(got, "npci→abank"), "nothing is debited")

	r = n.pay("alice@alpha", "bob@beta", "2.05", "1234")
	assert.Equal(t, "SUCCESS", r.Status, "transport faults change no outcome")
	eventually(t, func() bool {
		return count(flow(n.trace(r.TxnID)), "npci→bbank ReqPay CREDIT [first 1 send(s) fail, first 1 ack(s) lost, sent twice (rule flaky); repeat") == 2
	}, "the CREDIT arrives three times, the lost ack's resend and the duplicate answered from bbank's inbox")

	r = n.pay("alice@alpha", "bob@beta", "2.06", "1234")
	assert.Equal(t, "FAILURE", r.Status)
	assert.Equal(t, "U09", r.ErrCode, "the payee's PSP took too long")
	got = flow(n.trace(r.TxnID))
	assert.Contains(t, got, "npci→betapsp ReqAuthDetails PAY [ignored: never processed, never answered (rule silent-psp)]")
	assert.Contains(t, got, "npci→betapsp ReqTxnConfirmation PAY", "the payee's PSP is told it failed")
	assert.Zero(t, count(got, "npci→abank"), "nothing is debited")

	// 2.05 moved money; so did 2.01, which bbank credited, though the
	// switch does not know; the failures moved nothing or were reversed.
	eventually(t, func() bool { return n.balance("alice@alpha") == alice-201-205 }, "alice paid 2.01 and 2.05 once")
	assert.Equal(t, bob+201+205, n.balance("bob@beta"))
	waitQuiet(t, n)
	res, out, err := n.audit()
	require.NoError(t, err, out)
	assert.True(t, res.OK, out)
	assert.Equal(t, 1, res.NonTerminal, "2.01 is DEEMED")

	// Past --max-age the audit says so.
	var buf bytes.Buffer
	res, err = cli.Audit(context.Background(), &buf, cli.AuditOptions{DataDir: n.dir, Output: cli.JSON, MaxAge: time.Millisecond})
	require.Error(t, err)
	require.Len(t, res.Violations, 1, buf.String())
	assert.Equal(t, audit.ViolationStuck, res.Violations[0].Kind)
	assert.Equal(t, deemed, res.Violations[0].TxnID)

	// Once bbank answers a check, the switch ends it SUCCESS.
	n.nw.Config.Rules = nil
	require.NoError(t, n.nw.Restart("bbank"))
	assert.Equal(t, "SUCCESS", n.final(deemed).Status)
	res, out, err = n.audit()
	require.NoError(t, err, out)
	assert.Zero(t, res.NonTerminal)
}
