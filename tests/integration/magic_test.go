package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/config"
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
		assert.Equal(t, "U31", r.ErrCode)
		eventually(t, func() bool { return n.balance("alice@alpha") == before }, "alice's debit is reversed")
		assert.Zero(t, n.balance("lost@beta"))
		agree(t, r.TxnID, upiv1.Resp_FAILURE, "U31")
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
