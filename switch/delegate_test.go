package upiswitch

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

const carol = "carol@beta"

// delegateAdd is PSP(P)'s (alphapsp's) ReqDelegateAdd ADD PARTIAL of
// primary → secondary.
func delegateAdd(e *env, linkID, primary, secondary string) *upiv1.ReqDelegateAdd {
	return &upiv1.ReqDelegateAdd{
		Head: e.head("alphapsp"),
		Txn:  &upiv1.Txn{Id: linkID, Type: upiv1.Txn_DELEGATE, Purpose: "87", Ts: timestamppb.Now()},
		Delegate: &upiv1.Delegate{Type: upiv1.Delegate_ADD, SubType: upiv1.Delegate_PARTIAL,
			PrimaryAddr: primary, SecondaryAddr: secondary},
		Payer: &upiv1.Party{Addr: primary},
		Payee: &upiv1.Party{Addr: secondary},
	}
}

func delegateResp(e *env, from string, fwd *upiv1.ReqDelegateAdd, result upiv1.Resp_Result, code string) *upiv1.RespDelegateAdd {
	return &upiv1.RespDelegateAdd{
		Head: e.head(from), Txn: fwd.GetTxn(), Delegate: fwd.GetDelegate(),
		Resp: &upiv1.Resp{ReqMsgId: fwd.GetHead().GetMsgId(), Result: result, ErrCode: code},
	}
}

func (e *env) link(id string) *linkReg {
	e.t.Helper()
	var l *linkReg
	require.NoError(e.t, e.n.View(func(tx *store.Tx) error {
		var err error
		l, _, err = links.Get(tx, id)
		return err
	}))
	return l
}

func (e *env) delegateRecord(id string) *delegate {
	e.t.Helper()
	var r *delegate
	require.NoError(e.t, e.n.View(func(tx *store.Tx) error {
		var err error
		r, err = loadFlow[delegate](tx, flowDelegate, id)
		return err
	}))
	require.NotNil(e.t, r)
	return r
}

const (
	reqDelegateAdd  = "/upi.v1.PspService/ReqDelegateAdd"
	respDelegateAdd = "/upi.v1.PspService/RespDelegateAdd"
	reqTxnConfirm   = "/upi.v1.PspService/ReqTxnConfirmation"
)

func TestDelegateAddForwardedAndLinked(t *testing.T) {
	e := newEnv(t, nil)
	id := ids.NewTxnID("ALP")
	e.accept(upiv1.SwitchService_ReqDelegateAdd_FullMethodName, delegateAdd(e, id, alice, carol))
	fwd := e.await(reqDelegateAdd, id, upiv1.Txn_DELEGATE, 1)
	assert.Equal(t, "betapsp", fwd.To)
	assert.Equal(t, linkPending, e.link(id).GetStatus())

	e.accept(upiv1.SwitchService_RespDelegateAdd_FullMethodName,
		delegateResp(e, "betapsp", fwd.Msg.(*upiv1.ReqDelegateAdd), upiv1.Resp_SUCCESS, ""))
	ans := e.await(respDelegateAdd, id, upiv1.Txn_DELEGATE, 1)
	assert.Equal(t, "alphapsp", ans.To)
	assert.Equal(t, upiv1.Resp_SUCCESS, ans.Msg.(*upiv1.RespDelegateAdd).GetResp().GetResult())
	cm := e.await(reqTxnConfirm, id, upiv1.Txn_DELEGATE, 1)
	assert.Equal(t, "betapsp", cm.To)
	assert.Equal(t, upiv1.Resp_SUCCESS, cm.Msg.(*upiv1.ReqTxnConfirmation).GetResp().GetResult())
	assert.Equal(t, linkLinked, e.link(id).GetStatus())

	e.accept(upiv1.SwitchService_RespTxnConfirmation_FullMethodName, &upiv1.RespTxnConfirmation{
		Head: e.head("betapsp"), Txn: cm.Msg.GetTxn(),
		Resp: &upiv1.Resp{ReqMsgId: cm.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
	})
	e.eventually(func() bool { return e.delegateRecord(id).GetState() == StateClosed }, "delegate closed")

	// A second primary for carol: CS, nothing to betapsp.
	id2 := ids.NewTxnID("ALP")
	e.accept(upiv1.SwitchService_ReqDelegateAdd_FullMethodName, delegateAdd(e, id2, "dave@alpha", carol))
	ans2 := e.await(respDelegateAdd, id2, upiv1.Txn_DELEGATE, 1)
	assert.Equal(t, upi.CodeHasPrimary, ans2.Msg.(*upiv1.RespDelegateAdd).GetResp().GetErrCode())
	assert.Empty(t, e.sent(reqDelegateAdd, id2, upiv1.Txn_TYPE_UNSPECIFIED))
	assert.Nil(t, e.link(id2))

	// The primary removes it: forwarded, DELINKED.
	rm := ids.NewTxnID("ALP")
	req := delegateAdd(e, rm, alice, carol)
	req.Txn.OrgTxnId = id
	req.Delegate.Type = upiv1.Delegate_REMOVE
	e.accept(upiv1.SwitchService_ReqDelegateAdd_FullMethodName, req)
	fwdRm := e.await(reqDelegateAdd, rm, upiv1.Txn_DELEGATE, 1)
	assert.Equal(t, "betapsp", fwdRm.To)
	e.accept(upiv1.SwitchService_RespDelegateAdd_FullMethodName,
		delegateResp(e, "betapsp", fwdRm.Msg.(*upiv1.ReqDelegateAdd), upiv1.Resp_SUCCESS, ""))
	e.await(respDelegateAdd, rm, upiv1.Txn_DELEGATE, 1)
	e.eventually(func() bool { return e.link(id).GetStatus() == linkDelinked }, "link delinked")
}

func TestDelegateAddDeclinedByTheSecondary(t *testing.T) {
	e := newEnv(t, nil)
	id := ids.NewTxnID("ALP")
	e.accept(upiv1.SwitchService_ReqDelegateAdd_FullMethodName, delegateAdd(e, id, alice, carol))
	fwd := e.await(reqDelegateAdd, id, upiv1.Txn_DELEGATE, 1)
	e.accept(upiv1.SwitchService_RespDelegateAdd_FullMethodName,
		delegateResp(e, "betapsp", fwd.Msg.(*upiv1.ReqDelegateAdd), upiv1.Resp_FAILURE, upi.CodeDeclinedByPayer))
	ans := e.await(respDelegateAdd, id, upiv1.Txn_DELEGATE, 1)
	assert.Equal(t, upi.CodeDeclinedByPayer, ans.Msg.(*upiv1.RespDelegateAdd).GetResp().GetErrCode())
	assert.Equal(t, linkDeclined, e.link(id).GetStatus())
	// carol is free again.
	id2 := ids.NewTxnID("ALP")
	e.accept(upiv1.SwitchService_ReqDelegateAdd_FullMethodName, delegateAdd(e, id2, alice, carol))
	e.await(reqDelegateAdd, id2, upiv1.Txn_DELEGATE, 1)
}

func TestDelegateAddMaxSecondaries(t *testing.T) {
	e := newEnv(t, func(n *config.Network) { n.Circle.MaxSecondaries = 2 })
	for _, sec := range []string{carol, bob} {
		id := ids.NewTxnID("ALP")
		e.accept(upiv1.SwitchService_ReqDelegateAdd_FullMethodName, delegateAdd(e, id, alice, sec))
		e.await(reqDelegateAdd, id, upiv1.Txn_DELEGATE, 1) // LINK_PENDING counts
	}
	id := ids.NewTxnID("ALP")
	e.accept(upiv1.SwitchService_ReqDelegateAdd_FullMethodName, delegateAdd(e, id, alice, "deemed@beta"))
	ans := e.await(respDelegateAdd, id, upiv1.Txn_DELEGATE, 1)
	assert.Equal(t, upiv1.Resp_FAILURE, ans.Msg.(*upiv1.RespDelegateAdd).GetResp().GetResult())
	assert.Equal(t, upi.CodeMaxSecondaries, ans.Msg.(*upiv1.RespDelegateAdd).GetResp().GetErrCode())
	assert.Empty(t, e.sent(reqDelegateAdd, id, upiv1.Txn_TYPE_UNSPECIFIED))
}

// The switch decides an unanswered invite U69 at invite_expiry + the
// grace, confirms it to PSP(S), and notes a late SUCCESS U70.
func TestDelegateAddExpiresAtTheSwitch(t *testing.T) {
	e := newEnv(t, nil)
	start := e.clock.Now()
	id := ids.NewTxnID("ALP")
	e.accept(upiv1.SwitchService_ReqDelegateAdd_FullMethodName, delegateAdd(e, id, alice, carol))
	fwd := e.await(reqDelegateAdd, id, upiv1.Txn_DELEGATE, 1)

	e.advance(e.net.Circle.InviteExpiry + e.net.Timeouts.AuthDetails - time.Second)
	assert.Empty(t, e.sent(respDelegateAdd, id, upiv1.Txn_TYPE_UNSPECIFIED), "decided before its time")
	e.advance(2 * time.Second)
	ans := e.await(respDelegateAdd, id, upiv1.Txn_DELEGATE, 1)
	assert.GreaterOrEqual(t, e.since(start), e.net.Circle.InviteExpiry+e.net.Timeouts.AuthDetails)
	assert.Equal(t, upi.CodeExpired, ans.Msg.(*upiv1.RespDelegateAdd).GetResp().GetErrCode())
	cm := e.await(reqTxnConfirm, id, upiv1.Txn_DELEGATE, 1)
	assert.Equal(t, "betapsp", cm.To)
	assert.Equal(t, upi.CodeExpired, cm.Msg.(*upiv1.ReqTxnConfirmation).GetResp().GetErrCode())
	assert.Equal(t, linkExpired, e.link(id).GetStatus())

	e.accept(upiv1.SwitchService_RespDelegateAdd_FullMethodName,
		delegateResp(e, "betapsp", fwd.Msg.(*upiv1.ReqDelegateAdd), upiv1.Resp_SUCCESS, ""))
	e.eventually(func() bool { return len(e.delegateRecord(id).GetLate()) == 1 }, "late note")
	assert.Equal(t, upi.CodeLate, e.delegateRecord(id).GetLate()[0].GetCode())
	assert.Equal(t, linkExpired, e.link(id).GetStatus(), "a late answer changes nothing")
	assert.Len(t, e.sent(respDelegateAdd, id, upiv1.Txn_TYPE_UNSPECIFIED), 1)
}

func TestDelegateAddRefusals(t *testing.T) {
	e := newEnv(t, nil)
	// betapsp may not add a link for alice's account.
	m := delegateAdd(e, ids.NewTxnID("BET"), alice, carol)
	m.Head = e.head("betapsp")
	assert.Contains(t, e.receive(upiv1.SwitchService_ReqDelegateAdd_FullMethodName, m).GetErr(), "not a user of betapsp")
	m = delegateAdd(e, ids.NewTxnID("ALP"), alice, alice)
	assert.Contains(t, e.receive(upiv1.SwitchService_ReqDelegateAdd_FullMethodName, m).GetErr(), "two users")
	// A REMOVE of no link: CN.
	rm := delegateAdd(e, ids.NewTxnID("ALP"), alice, carol)
	rm.Delegate.Type, rm.Txn.OrgTxnId = upiv1.Delegate_REMOVE, ids.NewTxnID("ALP")
	e.accept(upiv1.SwitchService_ReqDelegateAdd_FullMethodName, rm)
	ans := e.await(respDelegateAdd, rm.Txn.Id, upiv1.Txn_DELEGATE, 1)
	assert.Equal(t, upi.CodeNoLink, ans.Msg.(*upiv1.RespDelegateAdd).GetResp().GetErrCode())
}
