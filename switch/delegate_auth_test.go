package upiswitch

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/store"
)

const testUMN = "ALP0123456789ABCDEF0123456789A@alpha"

// linkedInRegistry puts a LINKED FULL link alice → carol in the registry.
func (e *env) linkedInRegistry(status string) string {
	e.t.Helper()
	id := ids.NewTxnID("ALP")
	require.NoError(e.t, e.n.Update(func(c *node.Ctx) error {
		return links.Put(c.Tx, id, &linkReg{LinkId: id, Primary: alice, Secondary: carol, Mode: "FULL", Status: status,
			Umn: testUMN, PrimaryPsp: "alphapsp", SecondaryPsp: "betapsp", Created: store.Nanos(c.Now())})
	}))
	return id
}

// delegateAuth is PSP(S)'s (betapsp's) ReqDelegateAuth: carol pays payee
// from alice's account.
func delegateAuth(e *env, txnID, payee string, amount int64) *upiv1.ReqDelegateAuth {
	return &upiv1.ReqDelegateAuth{
		Head:     e.head("betapsp"),
		Txn:      &upiv1.Txn{Id: txnID, Type: upiv1.Txn_PAY, Purpose: "87", Ts: timestamppb.Now()},
		Delegate: &upiv1.Delegate{SubType: upiv1.Delegate_FULL, Umn: testUMN, PrimaryAddr: alice, SecondaryAddr: carol},
		Payer:    &upiv1.Party{Addr: alice, AmountPaise: amount},
		Payee:    &upiv1.Party{Addr: payee},
	}
}

// delegatedReqPay is PSP(P)'s ReqPay under the mandate.
func delegatedReqPay(e *env, txnID, payee string, amount int64) *upiv1.ReqPay {
	m := pay(e, txnID, payee, amount)
	m.Payer.Creds = nil
	m.Txn.Purpose = "87"
	m.Mandate = &upiv1.Mandate{Umn: testUMN, Signature: "c2ln"}
	return m
}

const (
	reqDelegateAuth  = "/upi.v1.PspService/ReqDelegateAuth"
	respDelegateAuth = "/upi.v1.PspService/RespDelegateAuth"
)

// A delegated payment: ReqDelegateAuth forwarded to PSP(P), the ReqPay
// under the mandate (no PIN block) takes it as its parent, the DEBIT
// carries the mandate, RespDelegateAuth goes back to PSP(S), and the end
// of the pay is RespPay to PSP(P) and one ReqTxnConfirmation to betapsp,
// which is PSP(S) and the payee's PSP.
func TestDelegatedPay(t *testing.T) {
	e := newEnv(t, nil)
	e.linkedInRegistry(linkLinked)
	id := ids.NewTxnID("BET")
	e.accept(upiv1.SwitchService_ReqDelegateAuth_FullMethodName, delegateAuth(e, id, bob, 200_00))
	fwd := e.await(reqDelegateAuth, id, upiv1.Txn_TYPE_UNSPECIFIED, 1)
	assert.Equal(t, "alphapsp", fwd.To)

	// A PIN-less ReqPay needs the flow, from PSP(P), for its amount.
	other := delegatedReqPay(e, ids.NewTxnID("BET"), bob, 200_00)
	assert.Contains(t, e.receive(upiv1.SwitchService_ReqPay_FullMethodName, other).GetErr(), "no ReqDelegateAuth")
	wrong := delegatedReqPay(e, id, bob, 300_00)
	assert.Contains(t, e.receive(upiv1.SwitchService_ReqPay_FullMethodName, wrong).GetErr(), "amount")
	noPurpose := delegatedReqPay(e, id, bob, 200_00)
	noPurpose.Txn.Purpose = "00"
	assert.Contains(t, e.receive(upiv1.SwitchService_ReqPay_FullMethodName, noPurpose).GetErr(), "purpose 87 or 59")

	e.accept(upiv1.SwitchService_ReqPay_FullMethodName, delegatedReqPay(e, id, bob, 200_00))
	e.accept(upiv1.SwitchService_RespDelegateAuth_FullMethodName, &upiv1.RespDelegateAuth{
		Head: e.head("alphapsp"), Txn: fwd.Msg.GetTxn(),
		Resp: &upiv1.Resp{ReqMsgId: fwd.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}})
	ans := e.await(respDelegateAuth, id, upiv1.Txn_TYPE_UNSPECIFIED, 1)
	assert.Equal(t, "betapsp", ans.To)
	assert.Equal(t, upiv1.Resp_SUCCESS, ans.Msg.(*upiv1.RespDelegateAuth).GetResp().GetResult())

	e.await(upiv1.PspService_ReqAuthDetails_FullMethodName, id, upiv1.Txn_PAY, 1)
	e.accept(upiv1.SwitchService_RespAuthDetails_FullMethodName, payeeDetails(e, id, bob, bobAc, bobIFSC))
	debit := e.answerLeg(id, upiv1.Txn_DEBIT, "")
	dm := debit.Msg.(*upiv1.ReqPay)
	assert.Equal(t, testUMN, dm.GetMandate().GetUmn())
	assert.Equal(t, "c2ln", dm.GetMandate().GetSignature())
	assert.Empty(t, dm.GetPayer().GetCreds())
	e.answerLeg(id, upiv1.Txn_CREDIT, "")
	rp := e.await(upiv1.PspService_RespPay_FullMethodName, id, upiv1.Txn_PAY, 1)
	assert.Equal(t, "alphapsp", rp.To)
	cm := e.await(upiv1.PspService_ReqTxnConfirmation_FullMethodName, id, upiv1.Txn_TYPE_UNSPECIFIED, 1)
	assert.Equal(t, "betapsp", cm.To)
	assert.Len(t, e.sent(upiv1.PspService_ReqTxnConfirmation_FullMethodName, id, upiv1.Txn_TYPE_UNSPECIFIED), 1, "one node, one confirmation")
	e.confirm(id)
	e.eventually(func() bool { return e.record(id).GetState() == StateClosed }, "pay closed")
	var da *delegate
	require.NoError(t, e.n.View(func(tx *store.Tx) (err error) { da, err = loadFlow[delegate](tx, flowDelegateAuth, id); return err }))
	assert.Equal(t, StateClosed, da.GetState())
	assert.Equal(t, "SUCCESS", da.GetStatus())
}

// No LINKED link in the registry: FAILURE CN to PSP(S), nothing to PSP(P).
func TestDelegatedPayNoLink(t *testing.T) {
	e := newEnv(t, nil)
	e.linkedInRegistry(linkDelinked)
	id := ids.NewTxnID("BET")
	e.accept(upiv1.SwitchService_ReqDelegateAuth_FullMethodName, delegateAuth(e, id, bob, 200_00))
	ans := e.await(respDelegateAuth, id, upiv1.Txn_TYPE_UNSPECIFIED, 1)
	assert.Equal(t, "betapsp", ans.To)
	assert.Equal(t, "CN", ans.Msg.(*upiv1.RespDelegateAuth).GetResp().GetErrCode())
	assert.Empty(t, e.sent(reqDelegateAuth, id, upiv1.Txn_TYPE_UNSPECIFIED))
	// and the ReqPay that might follow is refused.
	assert.Contains(t, e.receive(upiv1.SwitchService_ReqPay_FullMethodName, delegatedReqPay(e, id, bob, 200_00)).GetErr(), "has ended")
}

// PSP(P) neither pays nor answers a forwarded ReqDelegateAuth: the switch
// ends it FAILURE U09 to PSP(S) after timeouts.auth_details; the ReqPay
// that comes after is refused and a RespDelegateAuth after is late, so
// PSP(S) never hears SUCCESS for it. Once the ReqPay came in time, the
// timer changes nothing: the pay decides.
func TestDelegatedPayPrimaryPSPSilent(t *testing.T) {
	e := newEnv(t, nil)
	e.linkedInRegistry(linkLinked)
	wait := e.net.Timeouts.AuthDetails
	id := ids.NewTxnID("BET")
	e.accept(upiv1.SwitchService_ReqDelegateAuth_FullMethodName, delegateAuth(e, id, bob, 200_00))
	fwd := e.await(reqDelegateAuth, id, upiv1.Txn_TYPE_UNSPECIFIED, 1)
	start := e.clock.Now()
	e.advance(wait - time.Millisecond)
	assert.Empty(t, e.sent(respDelegateAuth, id, upiv1.Txn_TYPE_UNSPECIFIED), "not before its time")
	ans := e.await(respDelegateAuth, id, upiv1.Txn_TYPE_UNSPECIFIED, 1)
	assert.Equal(t, wait, e.since(start), "at timeouts.auth_details")
	assert.Equal(t, "betapsp", ans.To)
	assert.Equal(t, upiv1.Resp_FAILURE, ans.Msg.(*upiv1.RespDelegateAuth).GetResp().GetResult())
	assert.Equal(t, "U09", ans.Msg.(*upiv1.RespDelegateAuth).GetResp().GetErrCode())

	assert.Contains(t, e.receive(upiv1.SwitchService_ReqPay_FullMethodName, delegatedReqPay(e, id, bob, 200_00)).GetErr(), "has ended")
	e.accept(upiv1.SwitchService_RespDelegateAuth_FullMethodName, &upiv1.RespDelegateAuth{
		Head: e.head("alphapsp"), Txn: fwd.Msg.GetTxn(),
		Resp: &upiv1.Resp{ReqMsgId: fwd.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}})
	nodetest.Quiesce(t, e.n)
	assert.Len(t, e.sent(respDelegateAuth, id, upiv1.Txn_TYPE_UNSPECIFIED), 1, "the late SUCCESS is not forwarded")

	// In time: the ReqPay starts the pay, and the timer leaves it be.
	id2 := ids.NewTxnID("BET")
	e.accept(upiv1.SwitchService_ReqDelegateAuth_FullMethodName, delegateAuth(e, id2, bob, 200_00))
	e.await(reqDelegateAuth, id2, upiv1.Txn_TYPE_UNSPECIFIED, 1)
	e.accept(upiv1.SwitchService_ReqPay_FullMethodName, delegatedReqPay(e, id2, bob, 200_00))
	e.advance(wait + time.Second)
	for _, s := range e.sent(respDelegateAuth, id2, upiv1.Txn_TYPE_UNSPECIFIED) {
		assert.NotEqual(t, "U09", s.Msg.(*upiv1.RespDelegateAuth).GetResp().GetErrCode(), "the pay decides, not the timer")
	}
}
