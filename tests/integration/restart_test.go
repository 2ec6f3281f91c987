package integration

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/fault"
)

// hold is a rule that keeps the answer node gives to a message of api and
// type for the payment of amount (paise) in its outbox for d, so a test can
// restart nodes at that point of the flow.
func hold(node string, on, api, typ string, peer string, amount int64, d time.Duration) fault.Rule {
	return fault.Rule{
		Name: "hold-" + node + "-" + api + "-" + typ, Node: node, On: on,
		Match: fault.Match{API: api, Type: typ, Peer: peer, MinAmount: amount, MaxAmount: amount},
		Fault: fault.Fault{Delay: d},
	}
}

// payNoWait starts a payment and returns its txn id.
func (n *net) payNoWait(from, to, amount string) string {
	n.t.Helper()
	r, err := cli.Pay(context.Background(), io.Discard, cli.PayOptions{DataDir: n.dir, From: from, To: to, Amount: amount, PIN: "1234", NoWait: true})
	require.NoError(n.t, err)
	require.Equal(n.t, "PENDING", r.Status)
	return r.TxnID
}

// final waits for the payer's view of txnID to be final.
func (n *net) final(txnID string) cli.TxnResult {
	n.t.Helper()
	r, err := cli.Txn(context.Background(), io.Discard, cli.TxnOptions{DataDir: n.dir, TxnID: txnID, Wait: 30 * time.Second})
	require.NoError(n.t, err)
	return r
}

// has reports whether node keeps a record of txnID.
func (n *net) has(node, txnID string) bool {
	return n.statusAt(node, txnID) != upiv1.Resp_RESULT_UNSPECIFIED
}

// statusAt is node's status of txnID; unspecified while it has none.
func (n *net) statusAt(node, txnID string) upiv1.Resp_Result {
	a, err := n.c.Admin(node)
	require.NoError(n.t, err)
	r, err := a.GetTransaction(context.Background(), &upiv1.GetTransactionRequest{TxnId: txnID})
	if status.Code(err) == codes.NotFound {
		return upiv1.Resp_RESULT_UNSPECIFIED
	}
	require.NoError(n.t, err)
	if s := r.GetTransaction().GetStatus(); s != upiv1.Resp_RESULT_UNSPECIFIED {
		return s
	}
	return upiv1.Resp_PENDING
}

// Nodes restarted at chosen points of a flow finish it: what each acked
// was on disk, its outbox and timers resume, and nothing is applied twice.
func TestRestartMidFlow(t *testing.T) {
	const held = 1500 * time.Millisecond
	n := up(t, func(c *config.Network) {
		c.Timeouts.Debit, c.Timeouts.Credit = 3*time.Second, 3*time.Second // longer than held
		c.Timeouts.CheckStatus = time.Second
		c.Rules = []fault.Rule{
			// 1.01: abank's DEBIT answer is held.
			hold("abank", fault.OnReceive, "ReqPay", "DEBIT", "", 101, held),
			// 1.02: bbank's CREDIT answer is held.
			hold("bbank", fault.OnReceive, "ReqPay", "CREDIT", "", 102, held),
			// 1.03: bbank's CREDIT answer is lost: DEEMED until a check.
			{Name: "lose-credit", Node: "bbank", Match: fault.Match{API: "ReqPay", Type: "CREDIT", MinAmount: 103, MaxAmount: 103}, Fault: fault.Fault{Drop: true}},
			// 1.04: the switch's final RespPay to alphapsp is held.
			hold("npci", fault.OnSend, "RespPay", "PAY", "alphapsp", 104, held),
			// 1.05: bbank's CREDIT answer is held, for a whole-network restart.
			hold("bbank", fault.OnReceive, "ReqPay", "CREDIT", "", 105, held),
		}
	})
	alice, bob := n.balance("alice@alpha"), n.balance("bob@beta")
	var paid int64
	for _, tt := range []struct {
		name    string
		amount  string
		paise   int64
		reached func(id string) bool // the flow is at the chosen point
		restart func()
	}{
		{"the switch, while the remitter's DEBIT answer is held", "1.01", 101,
			func(id string) bool { return n.has("abank", id) },
			func() { require.NoError(t, n.nw.Restart("npci")) }},
		{"the beneficiary, with its CREDIT answer in its outbox", "1.02", 102,
			func(id string) bool { return n.has("bbank", id) },
			func() { require.NoError(t, n.nw.Restart("bbank")) }},
		{"the switch, while the transaction is DEEMED", "1.03", 103,
			func(id string) bool { return n.statusAt("npci", id) == upiv1.Resp_DEEMED },
			func() { require.NoError(t, n.nw.Restart("npci")) }},
		{"the payer's PSP, while the final RespPay is on its way", "1.04", 104,
			func(id string) bool { return n.statusAt("npci", id) == upiv1.Resp_SUCCESS },
			func() { require.NoError(t, n.nw.Restart("alphapsp")) }},
		{"every node at once, with the CREDIT answer in bbank's outbox", "1.05", 105,
			func(id string) bool { return n.has("bbank", id) },
			func() { n.restart() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := n.payNoWait("alice@alpha", "bob@beta", tt.amount)
			eventually(t, func() bool { return tt.reached(id) }, "the flow reaches the chosen point")
			tt.restart()
			r := n.final(id)
			assert.Equal(t, "SUCCESS", r.Status, "err_code %s", r.ErrCode)
			paid += tt.paise
			assert.Equal(t, alice-paid, n.balance("alice@alpha"), "debited once")
			assert.Equal(t, bob+paid, n.balance("bob@beta"), "credited once")
			for _, node := range []string{"alphapsp", "npci", "betapsp"} {
				eventually(t, func() bool {
					return n.nodeTxn(node, id).GetTransaction().GetStatus() == upiv1.Resp_SUCCESS
				}, node+" agrees")
			}
		})
	}
	waitQuiet(t, n)
	res, out, err := n.audit()
	require.NoError(t, err, out)
	assert.True(t, res.OK, out)
	assert.Zero(t, res.NonTerminal)
}
