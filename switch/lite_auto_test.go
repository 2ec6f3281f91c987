package upiswitch

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// A Lite mandate's set-up (71) is a top-up with the PIN whose DEBIT
// carries the mandate; a top-up under it (42) carries its UMN and no PIN,
// and is held to LB like any other; a revocation reaches the remitter.
func TestLiteAutoTopUpCarriesTheMandate(t *testing.T) {
	e := newEnv(t, nil)
	key := deviceKey(t)
	lrn := e.enable(key, 10000)
	const umn = "LITEAUTO0001"

	// The set-up: 71 with the PIN, the threshold and the amount.
	id := ids.NewTxnID("ALP")
	m := topUpReq(e, id, lrn, lite.PurposeAutoTopUpSetup, 50000)
	m.Lite.Umn, m.Lite.AutoThresholdPaise, m.Lite.AutoAmountPaise = umn, 10000, 50000
	e.accept(methodReqPay, m)
	d := e.answerLeg(id, upiv1.Txn_DEBIT, "").Msg.(*upiv1.ReqPay)
	assert.Equal(t, umn, d.GetLite().GetUmn())
	assert.Equal(t, int64(10000), d.GetLite().GetAutoThresholdPaise())
	assert.Equal(t, int64(50000), d.GetLite().GetAutoAmountPaise())
	assert.NotEmpty(t, d.GetPayer().GetCreds(), "the set-up's DEBIT has the PIN")
	cr := e.answerLeg(id, upiv1.Txn_CREDIT, "").Msg.(*upiv1.ReqPay)
	assert.Empty(t, cr.GetLite().GetUmn(), "the CREDIT to the pool carries no mandate")
	require.Equal(t, upiv1.Resp_SUCCESS, e.liteResp(id).GetResp().GetResult())
	assert.Equal(t, int64(60000), e.liteAcc(lrn).BalancePaise)
	require.NoError(t, e.n.View(func(tx *store.Tx) error {
		assert.Zero(t, tx.Count(store.LiteMandates), "the mandate part is dropped once its DEBIT is sent")
		return nil
	}))

	// A top-up under the mandate: no PIN, the UMN on the DEBIT.
	id = ids.NewTxnID("ALP")
	m = topUpReq(e, id, lrn, lite.PurposeTopUp, 50000)
	m.Payer.Creds, m.Lite.Umn = nil, umn
	e.accept(methodReqPay, m)
	d = e.answerLeg(id, upiv1.Txn_DEBIT, "").Msg.(*upiv1.ReqPay)
	assert.Empty(t, d.GetPayer().GetCreds())
	assert.Equal(t, umn, d.GetLite().GetUmn())
	assert.Zero(t, d.GetLite().GetAutoAmountPaise())
	e.answerLeg(id, upiv1.Txn_CREDIT, "")
	require.Equal(t, upiv1.Resp_SUCCESS, e.liteResp(id).GetResp().GetResult())

	// Over the balance limit (₹5,000 by default): LB, no DEBIT.
	id = ids.NewTxnID("ALP")
	m = topUpReq(e, id, lrn, lite.PurposeTopUp, 400001)
	m.Payer.Creds, m.Lite.Umn = nil, umn
	e.accept(methodReqPay, m)
	resp := e.liteResp(id)
	assert.Equal(t, upi.CodeLiteBalanceLimit, resp.GetResp().GetErrCode())
	assert.Empty(t, e.sent(remitterReqPay, id, upiv1.Txn_DEBIT))

	// No PIN and no mandate: refused; a PIN and a mandate on a 42: refused.
	id = ids.NewTxnID("ALP")
	m = topUpReq(e, id, lrn, lite.PurposeTopUp, 100)
	m.Payer.Creds = nil
	assert.Contains(t, e.receive(methodReqPay, m).GetErr(), "lite.umn")
	m = topUpReq(e, ids.NewTxnID("ALP"), lrn, lite.PurposeTopUp, 100)
	m.Lite.Umn = umn
	assert.Contains(t, e.receive(methodReqPay, m).GetErr(), "no PIN")
	m = topUpReq(e, ids.NewTxnID("ALP"), lrn, lite.PurposeAutoTopUpSetup, 100)
	assert.Contains(t, e.receive(methodReqPay, m).GetErr(), "auto_threshold_paise")

	// The revocation: the remitter is told, the PSP answered at once.
	id = ids.NewTxnID("ALP")
	e.accept(upiv1.SwitchService_ReqChkTxn_FullMethodName, &upiv1.ReqChkTxn{
		Head: e.head("alphapsp"),
		Txn:  &upiv1.Txn{Id: id, Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_LITE_SYNC, Purpose: lite.PurposeAutoTopUpSetup},
		Lite: &upiv1.LiteInfo{Lrn: lrn, Umn: umn},
	})
	got := e.await(upiv1.PspService_RespChkTxn_FullMethodName, id, upiv1.Txn_CHK_STATUS, 1).Msg.(*upiv1.RespChkTxn)
	assert.Equal(t, upiv1.Resp_SUCCESS, got.GetResp().GetResult())
	assert.Equal(t, "REVOKED", got.GetLite().GetState())
	cm := e.await(remitterReqConfirm, id, upiv1.Txn_TYPE_UNSPECIFIED, 1)
	assert.Equal(t, "abank", cm.To)
	c := cm.Msg.(*upiv1.ReqTxnConfirmation)
	assert.Equal(t, lite.PurposeAutoTopUpSetup, c.GetTxn().GetPurpose())
	assert.Equal(t, umn, c.GetLite().GetUmn())
	assert.Equal(t, "REVOKED", c.GetLite().GetState())
	e.accept(methodRespConfirm, &upiv1.RespTxnConfirmation{Head: e.head("abank"), Txn: c.GetTxn(),
		Resp: &upiv1.Resp{ReqMsgId: c.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}})

	// Another PSP's LRN, or none: LR.
	id = ids.NewTxnID("ALP")
	e.accept(upiv1.SwitchService_ReqChkTxn_FullMethodName, &upiv1.ReqChkTxn{
		Head: e.head("alphapsp"),
		Txn:  &upiv1.Txn{Id: id, Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_LITE_SYNC, Purpose: lite.PurposeAutoTopUpSetup},
		Lite: &upiv1.LiteInfo{Lrn: "ABNKL999999999999", Umn: umn},
	})
	got = e.await(upiv1.PspService_RespChkTxn_FullMethodName, id, upiv1.Txn_CHK_STATUS, 1).Msg.(*upiv1.RespChkTxn)
	assert.Equal(t, upi.CodeLiteUnknown, got.GetResp().GetErrCode())
}
