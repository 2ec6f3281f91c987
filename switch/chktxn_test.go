package upiswitch

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/store"
)

const (
	methodReqChk = upiv1.SwitchService_ReqChkTxn_FullMethodName
	pspRespChk   = upiv1.PspService_RespChkTxn_FullMethodName
)

// paid runs a pay of amount from alice to chai to SUCCESS and returns its
// txn id and RRN.
func paid(e *env, refID string, amount int64) (string, string) {
	e.t.Helper()
	id := ids.NewTxnID("ALP")
	req := pay(e, id, chai, amount)
	req.Txn.RefId = refID
	e.accept(methodReqPay, req)
	rrn := e.await(pspReqAuth, id, upiv1.Txn_PAY, 1).Msg.GetTxn().GetCustRef()
	e.accept(methodRespAuth, payeeDetails(e, id, chai, chaiAc, bobIFSC))
	e.answerLeg(id, upiv1.Txn_DEBIT, "")
	e.answerLeg(id, upiv1.Txn_CREDIT, "")
	e.confirm(id)
	require.Equal(e.t, upiv1.Resp_SUCCESS, e.inspect(id).GetTransaction().GetStatus())
	return id, rrn
}

// check sends from's ReqChkTxn (by txn id or RRN) and returns the
// switch's answer.
func (e *env) check(from, orgTxnID, rrn string) *upiv1.RespChkTxn {
	e.t.Helper()
	nd, _ := e.net.NodeByName(from)
	id := ids.NewTxnID(nd.Prefix)
	req := &upiv1.ReqChkTxn{Head: e.head(from), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_PAY, OrgTxnId: orgTxnID, CustRef: rrn}}
	e.accept(methodReqChk, req)
	s := e.await(pspRespChk, id, upiv1.Txn_CHK_STATUS, 1)
	assert.Equal(e.t, from, s.To, "the answer goes to the PSP that asked")
	m := s.Msg.(*upiv1.RespChkTxn)
	assert.Equal(e.t, req.GetHead().GetMsgId(), m.GetResp().GetReqMsgId())
	assert.Equal(e.t, upiv1.Txn_PAY, m.GetTxn().GetSubType())
	return m
}

func TestReqChkTxnFound(t *testing.T) {
	e := newEnv(t, nil)
	id, rrn := paid(e, "order_1", 15_000)
	want := &upiv1.Resp{Result: upiv1.Resp_SUCCESS, Refs: []*upiv1.Ref{
		{Type: "PAYER", Addr: alice, RegName: "Alice", SettAmountPaise: 15_000, ApprovalNum: "APDEBIT", RespCode: "00"},
		{Type: "PAYEE", Addr: chai, RegName: "Bob", SettAmountPaise: 15_000, ApprovalNum: "APCREDIT", RespCode: "00"},
	}}
	for _, tc := range []struct {
		name, from, org, rrn string
	}{
		{"payer's PSP by txn id", "alphapsp", id, ""},
		{"payee's PSP by RRN", "betapsp", "", rrn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := e.check(tc.from, tc.org, tc.rrn)
			assert.Equal(t, id, got.GetTxn().GetOrgTxnId())
			assert.Equal(t, rrn, got.GetTxn().GetCustRef())
			assert.Equal(t, "order_1", got.GetTxn().GetRefId())
			assert.Equal(t, want.GetResult(), got.GetResp().GetResult())
			assert.Empty(t, got.GetResp().GetErrCode())
			require.Len(t, got.GetResp().GetRefs(), 2)
			for i, ref := range want.GetRefs() {
				assert.Equal(t, ref.String(), got.GetResp().GetRefs()[i].String())
			}
		})
	}
	assert.Equal(t, upiv1.Resp_SUCCESS, e.inspect(id).GetTransaction().GetStatus(), "a check changes nothing")
}

// A payment still waiting answers PENDING with its amount; a failed one
// FAILURE with its code.
func TestReqChkTxnPendingAndFailed(t *testing.T) {
	e := newEnv(t, nil)
	id := ids.NewTxnID("ALP")
	e.accept(methodReqPay, pay(e, id, bob, 700))
	e.await(pspReqAuth, id, upiv1.Txn_PAY, 1)
	got := e.check("betapsp", id, "")
	assert.Equal(t, upiv1.Resp_PENDING, got.GetResp().GetResult())
	require.Len(t, got.GetResp().GetRefs(), 2)
	assert.Equal(t, int64(700), got.GetResp().GetRefs()[0].GetSettAmountPaise())
	assert.Empty(t, got.GetResp().GetRefs()[0].GetRespCode(), "no leg answered yet")

	e.accept(methodRespAuth, declineAuth(e, "betapsp", id, "U29"))
	e.confirm(id)
	got = e.check("alphapsp", "", e.record(id).Rrn)
	assert.Equal(t, upiv1.Resp_FAILURE, got.GetResp().GetResult())
	assert.Equal(t, "U29", got.GetResp().GetErrCode())
	assert.Len(t, got.GetResp().GetRefs(), 2, "found: both refs")
}

// A PSP that is no side of the payment, and a payment the switch does
// not know, get the same U48 with no refs.
func TestReqChkTxnNotFound(t *testing.T) {
	e := newEnv(t, func(n *config.Network) {
		n.Nodes = append(n.Nodes, config.Node{Name: "gammapsp", Role: config.RolePSP, Prefix: "GAM", Handles: []string{"gamma"}})
	})
	id, rrn := paid(e, "", 100)
	for _, tc := range []struct {
		name, from, org, rrn string
	}{
		{"not a side, by id", "gammapsp", id, ""},
		{"not a side, by RRN", "gammapsp", "", rrn},
		{"unknown txn id", "alphapsp", ids.NewTxnID("ALP"), ""},
		{"unknown RRN", "betapsp", "", "999999999999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := e.check(tc.from, tc.org, tc.rrn)
			assert.Equal(t, upiv1.Resp_FAILURE, got.GetResp().GetResult())
			assert.Equal(t, "U48", got.GetResp().GetErrCode())
			assert.Empty(t, got.GetResp().GetRefs())
			assert.Equal(t, tc.org, got.GetTxn().GetOrgTxnId(), "the ref asked, echoed")
			assert.Equal(t, tc.rrn, got.GetTxn().GetCustRef())
			assert.Empty(t, got.GetTxn().GetRefId())
		})
	}
}

func TestReqChkTxnRefused(t *testing.T) {
	e := newEnv(t, nil)
	id := ids.NewTxnID("ALP")
	chk := func(edit func(*upiv1.Txn)) *upiv1.ReqChkTxn {
		txn := &upiv1.Txn{Id: ids.NewTxnID("ALP"), Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_PAY, OrgTxnId: id}
		edit(txn)
		return &upiv1.ReqChkTxn{Head: e.head("alphapsp"), Txn: txn}
	}
	for _, tc := range []struct {
		name string
		edit func(*upiv1.Txn)
		want string
	}{
		{"type", func(t *upiv1.Txn) { t.Type = upiv1.Txn_PAY }, "txn.type must be CHK_STATUS"},
		{"sub_type", func(t *upiv1.Txn) { t.SubType = upiv1.Txn_CREDIT }, "txn.sub_type must be PAY"},
		{"neither", func(t *upiv1.Txn) { t.OrgTxnId = "" }, "one of them"},
		{"both", func(t *upiv1.Txn) { t.CustRef = "512345000001" }, "one of them"},
		{"bad RRN", func(t *upiv1.Txn) { t.OrgTxnId, t.CustRef = "", "12345" }, "not an RRN"},
		{"bad id", func(t *upiv1.Txn) { t.OrgTxnId = "nope" }, "not a txn id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Contains(t, e.receive(methodReqChk, chk(tc.edit)).GetErr(), tc.want)
		})
	}
	// From a bank: not a PSP.
	m := chk(func(*upiv1.Txn) {})
	m.Head = e.head("abank")
	assert.NotEmpty(t, e.receive(methodReqChk, m).GetErr())
}

// Every RRN the switch issues is indexed to its pay record, in the same
// step.
func TestRRNIndexed(t *testing.T) {
	e := newEnv(t, nil)
	id := ids.NewTxnID("ALP")
	e.accept(methodReqPay, pay(e, id, bob, 100))
	rrn := e.record(id).Rrn
	require.NoError(t, e.n.View(func(tx *store.Tx) error {
		assert.Equal(t, id, string(tx.Get(store.RRNs, []byte(rrn))))
		return nil
	}))
}
