package upiswitch

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// partialInRegistry puts a LINKED PARTIAL link alice → carol (no UMN) in
// the registry.
func (e *env) partialInRegistry() {
	e.t.Helper()
	id := ids.NewTxnID("ALP")
	require.NoError(e.t, e.n.Update(func(c *node.Ctx) error {
		return links.Put(c.Tx, id, &linkReg{LinkId: id, Primary: alice, Secondary: carol, Mode: "PARTIAL", Status: linkLinked,
			PrimaryPsp: "alphapsp", SecondaryPsp: "betapsp", Created: store.Nanos(c.Now())})
	}))
}

func partialAuth(e *env, txnID string, amount int64) *upiv1.ReqDelegateAuth {
	m := delegateAuth(e, txnID, bob, amount)
	m.Delegate.SubType, m.Delegate.Umn = upiv1.Delegate_PARTIAL, ""
	return m
}

// Under partial delegation the switch forwards ReqDelegateAuth PARTIAL to
// PSP(P), takes the primary's ReqPay with its PIN block (no mandate) as
// the flow's child, and, when PSP(P) is silent, ends the flow U69 after
// circle.approval_expiry and timeouts.auth_details.
func TestDelegatedPayPartial(t *testing.T) {
	e := newEnv(t, nil)
	e.partialInRegistry()
	id := ids.NewTxnID("BET")
	e.accept(upiv1.SwitchService_ReqDelegateAuth_FullMethodName, partialAuth(e, id, 200_00))
	fwd := e.await(reqDelegateAuth, id, upiv1.Txn_TYPE_UNSPECIFIED, 1)
	assert.Equal(t, "alphapsp", fwd.To)
	assert.Equal(t, upiv1.Delegate_PARTIAL, fwd.Msg.(*upiv1.ReqDelegateAuth).GetDelegate().GetSubType())

	withMandate := delegatedReqPay(e, id, bob, 200_00)
	assert.Contains(t, e.receive(upiv1.SwitchService_ReqPay_FullMethodName, withMandate).GetErr(), "not a mandate")
	primary := pay(e, id, bob, 200_00) // the primary's own pay, with the PIN block
	primary.Txn.Purpose = "87"
	e.accept(upiv1.SwitchService_ReqPay_FullMethodName, primary)
	e.await(upiv1.PspService_ReqAuthDetails_FullMethodName, id, upiv1.Txn_PAY, 1)
	e.accept(upiv1.SwitchService_RespAuthDetails_FullMethodName, payeeDetails(e, id, bob, bobAc, bobIFSC))
	debit := e.answerLeg(id, upiv1.Txn_DEBIT, "")
	assert.NotEmpty(t, debit.Msg.(*upiv1.ReqPay).GetPayer().GetCreds(), "the primary's PIN block")
	assert.Nil(t, debit.Msg.(*upiv1.ReqPay).GetMandate())

	// Silent PSP(P): U69 at approval_expiry + auth_details.
	wait := e.net.Circle.ApprovalExpiry + e.net.Timeouts.AuthDetails
	id2 := ids.NewTxnID("BET")
	e.accept(upiv1.SwitchService_ReqDelegateAuth_FullMethodName, partialAuth(e, id2, 100_00))
	e.await(reqDelegateAuth, id2, upiv1.Txn_TYPE_UNSPECIFIED, 1)
	start := e.clock.Now()
	e.advance(wait - time.Millisecond)
	assert.Empty(t, e.sent(respDelegateAuth, id2, upiv1.Txn_TYPE_UNSPECIFIED), "not before its time")
	ans := e.await(respDelegateAuth, id2, upiv1.Txn_TYPE_UNSPECIFIED, 1)
	assert.Equal(t, wait, e.since(start))
	assert.Equal(t, "betapsp", ans.To)
	assert.Equal(t, "U69", ans.Msg.(*upiv1.RespDelegateAuth).GetResp().GetErrCode())
	late := pay(e, id2, bob, 100_00)
	late.Txn.Purpose = "87"
	assert.Contains(t, e.receive(upiv1.SwitchService_ReqPay_FullMethodName, late).GetErr(), "has ended")

	// Listed: the pay as itself, the payment with no pay as a PAY of its own.
	list, _, err := e.sw.ListTxns("", 100)
	require.NoError(t, err)
	byID := map[string]*upiv1.TxnSummary{}
	for _, s := range list {
		assert.NotContains(t, byID, s.GetTxnId(), "one summary per txn id")
		byID[s.GetTxnId()] = s
	}
	require.Contains(t, byID, id)
	assert.NotEmpty(t, byID[id].GetLegs(), "the pay's")
	require.Contains(t, byID, id2)
	assert.Equal(t, upiv1.Resp_FAILURE, byID[id2].GetStatus())
	assert.Equal(t, "U69", byID[id2].GetErrCode())
	assert.Equal(t, "betapsp", byID[id2].GetPayerPsp())
	assert.Equal(t, int64(100_00), byID[id2].GetAmountPaise())
}
