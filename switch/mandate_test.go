package upiswitch

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/store"
)

func mandateUMN() string { return "ALP" + ids.NewTxnID("ALP")[3:32] + "@alpha" }

// reqMandateMsg is alphapsp's ReqMandate CREATE for alice, payee payee.
func reqMandateMsg(e *env, txnID, umn, payee string) *upiv1.ReqMandate {
	return &upiv1.ReqMandate{
		Head: e.head("alphapsp"),
		Txn:  &upiv1.Txn{Id: txnID, Type: upiv1.Txn_CREATE, Purpose: "87"},
		Mandate: &upiv1.Mandate{Umn: umn, AmountPaise: 1_500_000, AmountRule: upiv1.Mandate_MAX,
			Recurrence: upiv1.Mandate_ASPRESENTED, ValidityStart: "01012026", ValidityEnd: "01012027", Revokeable: true},
		Payer: &upiv1.Party{Addr: alice, Name: "Alice", Ac: &upiv1.Account{AcNum: aliceAc, Ifsc: aliceIFSC},
			Creds: []*upiv1.Cred{pintest.Opaque(pin, txnID)}},
		Payee: &upiv1.Party{Addr: payee},
	}
}

func (e *env) mandateRecord(id string) *mandateRec {
	e.t.Helper()
	var r *mandateRec
	require.NoError(e.t, e.n.View(func(tx *store.Tx) (err error) { r, err = loadMandate(tx, id); return err }))
	require.NotNil(e.t, r)
	return r
}

func TestMandateFlow(t *testing.T) {
	e := newEnv(t, nil)
	id, umn := ids.NewTxnID("ALP"), mandateUMN()
	e.accept(upiv1.SwitchService_ReqMandate_FullMethodName, reqMandateMsg(e, id, umn, carol))

	auth := e.await(upiv1.PspService_ReqAuthMandate_FullMethodName, id, upiv1.Txn_CREATE, 1)
	assert.Equal(t, "betapsp", auth.To)
	assert.Empty(t, auth.Msg.(*upiv1.ReqAuthMandate).GetPayer().GetCreds(), "PSP(S) never sees the PIN block")
	e.accept(upiv1.SwitchService_RespAuthMandate_FullMethodName, &upiv1.RespAuthMandate{
		Head: e.head("betapsp"), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_CREATE},
		Payee: &upiv1.Party{Addr: carol, Name: "Carol"}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	})

	rem := e.await(upiv1.RemitterService_ReqMandate_FullMethodName, id, upiv1.Txn_CREATE, 1)
	assert.Equal(t, "abank", rem.To)
	rm := rem.Msg.(*upiv1.ReqMandate)
	assert.NotEmpty(t, rm.GetPayer().GetCreds())
	assert.Equal(t, aliceAc, rm.GetPayer().GetAc().GetAcNum())
	assert.Nil(t, rm.GetPayee().GetAc())
	assert.Equal(t, "Carol", rm.GetPayee().GetName())
	req, err := reqOf(e.mandateRecord(id))
	require.NoError(t, err)
	assert.Empty(t, req.GetPayer().GetCreds(), "the switch forgets the PIN block once sent")

	signed := cloneMandate(rm.GetMandate())
	signed.Signature = "c2lnbmF0dXJl"
	e.accept(upiv1.SwitchService_RespMandate_FullMethodName, &upiv1.RespMandate{
		Head: e.head("abank"), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_CREATE}, Mandate: signed,
		Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	})
	out := e.await(upiv1.PspService_RespMandate_FullMethodName, id, upiv1.Txn_CREATE, 1)
	assert.Equal(t, "alphapsp", out.To)
	assert.Equal(t, "c2lnbmF0dXJl", out.Msg.(*upiv1.RespMandate).GetMandate().GetSignature())
	assert.Equal(t, upiv1.Resp_SUCCESS, out.Msg.(*upiv1.RespMandate).GetResp().GetResult())
	conf := e.await(upiv1.PspService_ReqMandateConfirmation_FullMethodName, id, upiv1.Txn_CREATE, 1)
	assert.Equal(t, "betapsp", conf.To)
	assert.Empty(t, conf.Msg.(*upiv1.ReqMandateConfirmation).GetMandate().GetSignature())
	assert.Equal(t, umn, conf.Msg.(*upiv1.ReqMandateConfirmation).GetMandate().GetUmn())
	e.accept(upiv1.SwitchService_RespMandateConfirmation_FullMethodName, &upiv1.RespMandateConfirmation{
		Head: e.head("betapsp"), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_CREATE}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	})
	e.eventually(func() bool { return e.mandateRecord(id).State == StateClosed }, "closed")
	assert.Equal(t, "SUCCESS", e.mandateRecord(id).Status)

	// The same id again is refused.
	ack := e.receive(upiv1.SwitchService_ReqMandate_FullMethodName, reqMandateMsg(e, id, umn, carol))
	assert.Contains(t, ack.GetErr(), "already has a ReqMandate")
}

func TestMandateUnknownHandle(t *testing.T) {
	e := newEnv(t, nil)
	id := ids.NewTxnID("ALP")
	e.accept(upiv1.SwitchService_ReqMandate_FullMethodName, reqMandateMsg(e, id, mandateUMN(), "carol@nowhere"))
	out := e.await(upiv1.PspService_RespMandate_FullMethodName, id, upiv1.Txn_CREATE, 1)
	assert.Equal(t, "U29", out.Msg.(*upiv1.RespMandate).GetResp().GetErrCode())
	assert.Empty(t, e.sent(upiv1.PspService_ReqAuthMandate_FullMethodName, id, 0))
	assert.Empty(t, e.sent(upiv1.PspService_ReqMandateConfirmation_FullMethodName, id, 0))
}

func TestMandatePayeePSPDeclines(t *testing.T) {
	e := newEnv(t, nil)
	id := ids.NewTxnID("ALP")
	e.accept(upiv1.SwitchService_ReqMandate_FullMethodName, reqMandateMsg(e, id, mandateUMN(), "nobody@beta"))
	e.await(upiv1.PspService_ReqAuthMandate_FullMethodName, id, 0, 1)
	e.accept(upiv1.SwitchService_RespAuthMandate_FullMethodName, &upiv1.RespAuthMandate{
		Head: e.head("betapsp"), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_CREATE},
		Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: "U29"},
	})
	out := e.await(upiv1.PspService_RespMandate_FullMethodName, id, 0, 1)
	assert.Equal(t, "U29", out.Msg.(*upiv1.RespMandate).GetResp().GetErrCode())
	assert.Empty(t, e.sent(upiv1.RemitterService_ReqMandate_FullMethodName, id, 0))
}

func TestMandateTimeouts(t *testing.T) {
	t.Run("PSP(S) silent", func(t *testing.T) {
		e := newEnv(t, nil)
		id := ids.NewTxnID("ALP")
		e.accept(upiv1.SwitchService_ReqMandate_FullMethodName, reqMandateMsg(e, id, mandateUMN(), carol))
		e.await(upiv1.PspService_ReqAuthMandate_FullMethodName, id, 0, 1)
		e.advance(e.net.Timeouts.AuthDetails)
		out := e.await(upiv1.PspService_RespMandate_FullMethodName, id, 0, 1)
		assert.Equal(t, "U09", out.Msg.(*upiv1.RespMandate).GetResp().GetErrCode())
	})
	t.Run("remitter silent", func(t *testing.T) {
		e := newEnv(t, nil)
		id := ids.NewTxnID("ALP")
		e.accept(upiv1.SwitchService_ReqMandate_FullMethodName, reqMandateMsg(e, id, mandateUMN(), carol))
		e.await(upiv1.PspService_ReqAuthMandate_FullMethodName, id, 0, 1)
		e.accept(upiv1.SwitchService_RespAuthMandate_FullMethodName, &upiv1.RespAuthMandate{
			Head: e.head("betapsp"), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_CREATE},
			Payee: &upiv1.Party{Addr: carol, Name: "Carol"}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
		})
		e.await(upiv1.RemitterService_ReqMandate_FullMethodName, id, 0, 1)
		e.advance(e.net.Timeouts.Debit)
		out := e.await(upiv1.PspService_RespMandate_FullMethodName, id, 0, 1)
		assert.Equal(t, "U67", out.Msg.(*upiv1.RespMandate).GetResp().GetErrCode())
		conf := e.await(upiv1.PspService_ReqMandateConfirmation_FullMethodName, id, 0, 1)
		assert.Equal(t, "U67", conf.Msg.(*upiv1.ReqMandateConfirmation).GetResp().GetErrCode())
		// A late answer changes nothing.
		e.accept(upiv1.SwitchService_RespMandate_FullMethodName, &upiv1.RespMandate{
			Head: e.head("abank"), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_CREATE}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
		})
		r := e.mandateRecord(id)
		assert.Equal(t, "FAILURE", r.Status)
		require.Len(t, r.Late, 1)
		assert.Equal(t, "U70", r.Late[0].Code)
	})
}

func cloneMandate(m *upiv1.Mandate) *upiv1.Mandate { return proto.Clone(m).(*upiv1.Mandate) }
