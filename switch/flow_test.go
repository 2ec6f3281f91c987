package upiswitch

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// flowTestBatch is the kind of testBatch, a parent flow for the tests only
// (the shape of a future UPI Lite sync batch): it starts credits and keeps,
// in its own record under (testbatch, batch id), a line per report.
const flowTestBatch = "testbatch"

type testBatch struct{}

func (testBatch) childReport(c *node.Ctx, parentID string, child *record) error {
	key := []byte(flowKey(flowTestBatch, parentID))
	lines := slices.Clone(c.Tx.Get(store.Txns, key))
	lines = append(lines, child.Id+" "+child.Status+" "+child.ErrCode+"\n"...)
	return c.Tx.Put(store.Txns, key, lines)
}

// newBatchEnv is a switch with the test batch flow.
func newBatchEnv(t *testing.T, tweak func(*config.Network)) *env {
	e := newEnv(t, tweak)
	e.sw.addParent(flowTestBatch, testBatch{})
	return e
}

// startCredit starts, for batch, a pay leg id at CREDIT paying amount to
// bob, as a Lite sync batch would a credit.
func (e *env) startCredit(batch, id string, amount int64) error {
	e.t.Helper()
	return e.n.Update(func(c *node.Ctx) error {
		return e.sw.startPayLeg(c, &record{
			Id: id, Type: upiv1.Txn_CREDIT.String(), AmountPaise: amount,
			Payer:  &party{Addr: alice, Name: "Alice"},
			Payee:  &party{Addr: bob, Name: "Bob", AcNum: bobAc, Ifsc: bobIFSC},
			Parent: &parentRef{Kind: flowTestBatch, Id: batch},
		}, StateCreditSent)
	})
}

// reports are the test batch's lines ("<txn> <status> <err_code>").
func (e *env) reports(batch string) []string {
	e.t.Helper()
	var out []string
	require.NoError(e.t, e.n.View(func(tx *store.Tx) error {
		out = strings.Split(strings.TrimSuffix(string(tx.Get(store.Txns, []byte(flowKey(flowTestBatch, batch)))), "\n"), "\n")
		return nil
	}))
	return out
}

// toPSPs is what the switch sent to any PSP about id.
func (e *env) toPSPs(id string) []string {
	var out []string
	for _, s := range e.rec.All() {
		if s.Msg.GetTxn().GetId() == id && strings.HasPrefix(s.Method, "/upi.v1.PspService/") {
			out = append(out, s.Method+"→"+s.To)
		}
	}
	return out
}

// A pay leg started at CREDIT with a parent reports its outcome to the
// parent in the step that decides it, and tells no PSP.
func TestPayLegStartedAtCreditReportsToParent(t *testing.T) {
	for _, tc := range []struct {
		name, bankCode string
		status         upiv1.Resp_Result
		code           string
	}{
		{"success", "", upiv1.Resp_SUCCESS, ""},
		// No debit was sent, so a declined credit has nothing to reverse.
		{"declined", "ZM", upiv1.Resp_FAILURE, upi.CodeCreditFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newBatchEnv(t, nil)
			batch, id := ids.NewTxnID("NPC"), ids.NewTxnID("NPC")
			require.NoError(t, e.startCredit(batch, id, 500))
			req := e.answerLeg(id, upiv1.Txn_CREDIT, tc.bankCode)
			assert.Equal(t, "bbank", req.To)
			assert.Equal(t, int64(500), req.Msg.(*upiv1.ReqPay).GetPayee().GetAmountPaise())

			assert.Equal(t, []string{id + " " + tc.status.String() + " " + tc.code}, e.reports(batch))
			assert.Empty(t, e.toPSPs(id))
			assert.Empty(t, e.sent(remitterReqPay, id, upiv1.Txn_TYPE_UNSPECIFIED), "no debit, no reversal")
			r := e.record(id)
			assert.Equal(t, StateClosed, r.State)
			assert.Equal(t, &parentRef{Kind: flowTestBatch, Id: batch}, r.Parent)
			assert.NotEmpty(t, r.Rrn)
			assert.Empty(t, r.Confirms)
		})
	}
}

// A pay leg started at DEBIT goes on to the CREDIT and reports once, when
// decided.
func TestPayLegStartedAtDebit(t *testing.T) {
	e := newBatchEnv(t, nil)
	batch, id := ids.NewTxnID("NPC"), ids.NewTxnID("NPC")
	require.NoError(t, e.n.Update(func(c *node.Ctx) error {
		return e.sw.startPayLeg(c, &record{
			Id: id, Type: upiv1.Txn_PAY.String(), AmountPaise: 300,
			Payer:  &party{Addr: alice, AcNum: aliceAc, Ifsc: aliceIFSC},
			Payee:  &party{Addr: bob, AcNum: bobAc, Ifsc: bobIFSC},
			Parent: &parentRef{Kind: flowTestBatch, Id: batch},
		}, StateDebitSent)
	}))
	assert.Equal(t, "abank", e.answerLeg(id, upiv1.Txn_DEBIT, "").To)
	assert.Equal(t, "bbank", e.answerLeg(id, upiv1.Txn_CREDIT, "").To)
	assert.Equal(t, []string{id + " SUCCESS "}, e.reports(batch))
	assert.Empty(t, e.toPSPs(id))
	legs := summary(e.record(id)).GetLegs()
	require.Len(t, legs, 2)
	assert.Equal(t, upiv1.Txn_DEBIT, legs[0].GetType())
	assert.Equal(t, upiv1.Txn_CREDIT, legs[1].GetType())
	e.book.check(t, id)
}

// A leg decided in the step that starts it reports in that step.
func TestPayLegDecidedAtStart(t *testing.T) {
	e := newBatchEnv(t, nil)
	batch, id := ids.NewTxnID("NPC"), ids.NewTxnID("NPC")
	require.NoError(t, e.n.Update(func(c *node.Ctx) error {
		return e.sw.startPayLeg(c, &record{
			Id: id, Type: upiv1.Txn_CREDIT.String(), AmountPaise: 100,
			Payer: &party{Addr: alice}, Payee: &party{Addr: bob, AcNum: bobAc, Ifsc: "ZZZZ0000001"},
			Parent: &parentRef{Kind: flowTestBatch, Id: batch},
		}, StateCreditSent)
	}))
	assert.Equal(t, []string{id + " FAILURE " + upi.CodeCreditFailed}, e.reports(batch))
	assert.Empty(t, e.rec.All(), "nothing sent")
	assert.Contains(t, e.record(id).Reason, "no bank has the payee's IFSC")
}

// A parent must be known, and a leg starts at DEBIT or CREDIT only.
func TestPayLegNeedsParent(t *testing.T) {
	e := newBatchEnv(t, nil)
	start := func(p *parentRef, at State) error {
		return e.n.Update(func(c *node.Ctx) error {
			return e.sw.startPayLeg(c, &record{Id: ids.NewTxnID("NPC"), Parent: p}, at)
		})
	}
	assert.ErrorContains(t, start(nil, StateCreditSent), "no parent flow")
	assert.ErrorContains(t, start(&parentRef{Kind: "nosuch", Id: "x"}, StateCreditSent), "no parent flow")
	assert.ErrorContains(t, start(&parentRef{Kind: flowTestBatch, Id: "x"}, StateAuthSent), "cannot start at AUTH_SENT")
}

// A credit leg that times out reports DEEMED to its parent, goes on with
// its status checks, and reports again once they resolve it.
func TestPayLegDeemedReportsTwice(t *testing.T) {
	e := newBatchEnv(t, timeouts(long, time.Second, time.Second, long))
	batch, id := ids.NewTxnID("NPC"), ids.NewTxnID("NPC")
	require.NoError(t, e.startCredit(batch, id, 700))
	e.await(beneficiaryReqPay, id, upiv1.Txn_CREDIT, 1) // never answered
	e.answerCheck(id, 1, "")
	assert.Equal(t, []string{id + " DEEMED " + upi.CodeDeemed, id + " SUCCESS "}, e.reports(batch))
	assert.Empty(t, e.toPSPs(id))
	r := e.record(id)
	assert.Equal(t, StateClosed, r.State)
	assert.Empty(t, r.DeemedConfirms)
}

// The txn-id rule: a flow of another kind may share a txn id with a pay;
// each has its own record, and ListTransactions lists the pay records only.
// A pay leg may not reuse a pay's txn id.
func TestFlowsShareTxnID(t *testing.T) {
	e := newBatchEnv(t, nil)
	shared, leg := ids.NewTxnID("ALP"), ids.NewTxnID("NPC")
	e.accept(methodReqPay, pay(e, shared, bob, 100))
	require.NoError(t, e.startCredit(shared, leg, 200))
	e.answerLeg(leg, upiv1.Txn_CREDIT, "")

	assert.Equal(t, []string{leg + " SUCCESS "}, e.reports(shared))
	assert.Equal(t, StateAuthSent, e.record(shared).State, "the pay of the shared id is untouched")
	got, next, err := e.sw.ListTxns("", 10)
	require.NoError(t, err)
	assert.Empty(t, next)
	var listed []string
	for _, s := range got {
		listed = append(listed, s.GetTxnId())
	}
	assert.ElementsMatch(t, []string{shared, leg}, listed)

	err = e.startCredit(shared, shared, 300)
	require.ErrorContains(t, err, "already has a transaction with this id")
}

// A decided transaction with several PSPs to tell closes once each has
// answered its own ReqTxnConfirmation (a future delegated payment tells
// the secondary's PSP and the payee's); a repeat is noted.
func TestConfirmationsToSeveralPSPs(t *testing.T) {
	e := newEnv(t, nil)
	id := ids.NewTxnID("ALP")
	now := store.Nanos(e.clock.Now())
	require.NoError(t, e.n.Update(func(c *node.Ctx) error {
		r := &record{
			Id: id, Type: upiv1.Txn_PAY.String(), State: StateConfirmSent, Status: upiv1.Resp_SUCCESS.String(),
			Payer: &party{Addr: alice}, Payee: &party{Addr: bob}, Originator: "alphapsp", Counterparty: "betapsp",
			Auth: &exchange{To: "betapsp", MsgId: "MSG-auth", Sent: now, Answered: now},
			Confirms: []*exchange{
				{To: "betapsp", MsgId: ids.NewMsgID("NPC"), Sent: now},
				{To: "alphapsp", MsgId: ids.NewMsgID("NPC"), Sent: now},
			},
			Created: now,
		}
		return saveRecord(r, c)
	}))
	answer := func(from string) *upiv1.Ack {
		return e.receive(methodRespConfirm, &upiv1.RespTxnConfirmation{
			Head: e.head(from), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY},
			Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
		})
	}
	require.Empty(t, answer("betapsp").GetErr())
	assert.Equal(t, StateConfirmSent, e.record(id).State)
	require.Empty(t, answer("betapsp").GetErr())
	assert.Len(t, e.record(id).Late, 1, "a repeat is noted")
	require.Empty(t, answer("alphapsp").GetErr())
	r := e.record(id)
	assert.Equal(t, StateClosed, r.State)
	for _, c := range r.Confirms {
		assert.False(t, c.Answered == 0, c.To)
	}
}
