package upiswitch

import (
	"crypto/ed25519"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

const (
	liteDevice         = "dev-1"
	nodeRespListKeys   = upiv1.NodeKeyService_RespListKeys_FullMethodName
	remitterReqConfirm = upiv1.RemitterService_ReqTxnConfirmation_FullMethodName
)

// deviceKey is dev-1's key, as the TPAP derives it.
func deviceKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	k, err := lite.DeviceKey([]byte("test"), liteDevice)
	require.NoError(t, err)
	return k
}

// getLite is alphapsp's GetLite registration of alice's account and
// device with the public key pub.
func getLite(e *env, device string, pub []byte, ifsc string) *upiv1.ReqListKeys {
	return &upiv1.ReqListKeys{
		Head: e.head("alphapsp"), Txn: &upiv1.Txn{Id: ids.NewTxnID("ALP"), Type: upiv1.Txn_LIST_KEYS},
		Type:  lite.GetLite,
		Payer: &upiv1.Party{Addr: alice, Ac: &upiv1.Account{AcNum: aliceAc, Ifsc: ifsc}},
		Lite:  &upiv1.LiteInfo{DeviceId: device, DeviceKey: pub},
	}
}

// register sends m and returns the switch's RespListKeys.
func (e *env) register(m *upiv1.ReqListKeys) *upiv1.RespListKeys {
	e.t.Helper()
	e.accept(upiv1.SwitchService_ReqListKeys_FullMethodName, m)
	got := e.await(nodeRespListKeys, m.GetTxn().GetId(), upiv1.Txn_LIST_KEYS, 1)
	assert.Equal(e.t, "alphapsp", got.To)
	return got.Msg.(*upiv1.RespListKeys)
}

// liteAcc is the auth engine's account of lrn (nil for none).
func (e *env) liteAcc(lrn string) *liteAccount {
	e.t.Helper()
	var a *liteAccount
	require.NoError(e.t, e.n.View(func(tx *store.Tx) error {
		var err error
		a, err = loadLite(tx, lrn)
		return err
	}))
	return a
}

func TestLiteRegister(t *testing.T) {
	e := newEnv(t, nil)
	pub := deviceKey(t).Public().(ed25519.PublicKey)

	first := e.register(getLite(e, liteDevice, pub, aliceIFSC))
	require.Equal(t, upiv1.Resp_SUCCESS, first.GetResp().GetResult(), first.GetResp().GetErrCode())
	lrn := first.GetLite().GetLrn()
	assert.Regexp(t, `^ABNKL\d{12}$`, lrn)
	assert.Equal(t, lite.StatePending, first.GetLite().GetState())
	assert.Equal(t, liteDevice, first.GetLite().GetDeviceId())
	acc := e.liteAcc(lrn)
	require.NotNil(t, acc)
	assert.Equal(t, "abank", acc.Bank)
	assert.Equal(t, aliceAc, acc.AcNum)
	assert.Equal(t, alice, acc.Vpa)
	assert.Equal(t, "alphapsp", acc.Psp)
	assert.Equal(t, []byte(pub), acc.DeviceKey)
	assert.Zero(t, acc.BalancePaise)

	again := e.register(getLite(e, liteDevice, pub, aliceIFSC))
	assert.Equal(t, upiv1.Resp_SUCCESS, again.GetResp().GetResult())
	assert.Equal(t, lrn, again.GetLite().GetLrn(), "a PENDING device registering again gets its LRN again")

	other := e.register(getLite(e, "dev-2", pub, aliceIFSC))
	assert.NotEqual(t, lrn, other.GetLite().GetLrn(), "another device, another LRN")

	bad := e.register(getLite(e, "dev-3", pub, "ZZZZ0000001"))
	assert.Equal(t, upiv1.Resp_FAILURE, bad.GetResp().GetResult())
	assert.Equal(t, upi.CodeDebitFailed, bad.GetResp().GetErrCode(), "no bank has the IFSC: U30")

	// ACTIVE (after a top-up): LC.
	e.topUp(lrn, lite.PurposeInitialTopUp, 10000, "")
	active := e.register(getLite(e, liteDevice, pub, aliceIFSC))
	assert.Equal(t, upiv1.Resp_FAILURE, active.GetResp().GetResult())
	assert.Equal(t, upi.CodeLiteReplay, active.GetResp().GetErrCode())
	assert.Empty(t, active.GetLite().GetLrn())

	for name, c := range map[string]struct {
		tweak func(*upiv1.ReqListKeys)
		want  string
	}{
		"no payer.addr":       {func(m *upiv1.ReqListKeys) { m.Payer.Addr = "" }, "payer.addr"},
		"no ac_num":           {func(m *upiv1.ReqListKeys) { m.Payer.Ac.AcNum = "" }, "ac_num and ifsc"},
		"no ifsc":             {func(m *upiv1.ReqListKeys) { m.Payer.Ac.Ifsc = "" }, "ac_num and ifsc"},
		"no device":           {func(m *upiv1.ReqListKeys) { m.Lite.DeviceId = "" }, "lite.device_id"},
		"a short key":         {func(m *upiv1.ReqListKeys) { m.Lite.DeviceKey = pub[:31] }, "31 bytes"},
		"another PSP's payer": {func(m *upiv1.ReqListKeys) { m.Payer.Addr = bob }, "not a user of alphapsp"},
	} {
		m := getLite(e, "dev-9", pub, aliceIFSC)
		c.tweak(m)
		ack := e.receive(upiv1.SwitchService_ReqListKeys_FullMethodName, m)
		assert.Contains(t, ack.GetErr(), c.want, name)
	}
}

// zeroDisable is alphapsp's ReqChkTxn LITE_SYNC purpose 50 of lrn; it
// returns the switch's RespChkTxn.
func (e *env) zeroDisable(lrn string) *upiv1.RespChkTxn {
	e.t.Helper()
	id := ids.NewTxnID("ALP")
	e.accept(upiv1.SwitchService_ReqChkTxn_FullMethodName, &upiv1.ReqChkTxn{
		Head: e.head("alphapsp"),
		Txn:  &upiv1.Txn{Id: id, Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_LITE_SYNC, Purpose: lite.PurposeZeroDisable},
		Lite: &upiv1.LiteInfo{Lrn: lrn},
	})
	got := e.await(upiv1.PspService_RespChkTxn_FullMethodName, id, upiv1.Txn_CHK_STATUS, 1)
	assert.Equal(e.t, "alphapsp", got.To)
	return got.Msg.(*upiv1.RespChkTxn)
}

func TestLiteZeroDisable(t *testing.T) {
	e := newEnv(t, nil)
	key := deviceKey(t)
	lrn := e.enable(key, 20000)

	got := e.zeroDisable(lrn)
	assert.Equal(t, upiv1.Resp_FAILURE, got.GetResp().GetResult())
	assert.Equal(t, upi.CodeLiteNotZero, got.GetResp().GetErrCode(), "a balance: LZ")
	assert.Equal(t, lite.StateActive, e.liteAcc(lrn).State)
	assert.Equal(t, int64(20000), got.GetLite().GetBalancePaise())

	got = e.zeroDisable("ABNKL999999999999")
	assert.Equal(t, upi.CodeLiteUnknown, got.GetResp().GetErrCode())

	// Pay the whole balance online; confirmed; then the balance is zero.
	id := e.payLite(key, lrn, 1, 20000, chai, 20000)
	e.accept(methodRespAuth, payeeDetails(e, id, chai, chaiAc, bobIFSC))
	e.answerLeg(id, upiv1.Txn_CREDIT, "")
	e.remitterConfirms(id, upiv1.Resp_SUCCESS)

	got = e.zeroDisable(lrn)
	require.Equal(t, upiv1.Resp_SUCCESS, got.GetResp().GetResult(), got.GetResp().GetErrCode())
	assert.Equal(t, lite.StateDisabled, got.GetLite().GetState())
	assert.Equal(t, lrn, got.GetLite().GetLrn())
	assert.Equal(t, lite.StateDisabled, e.liteAcc(lrn).State)
	cm := e.await(remitterReqConfirm, got.GetTxn().GetId(), upiv1.Txn_TYPE_UNSPECIFIED, 1)
	assert.Equal(t, "abank", cm.To)
	c := cm.Msg.(*upiv1.ReqTxnConfirmation)
	assert.Equal(t, lite.PurposeZeroDisable, c.GetTxn().GetPurpose())
	assert.Equal(t, lrn, c.GetLite().GetLrn())
	assert.Equal(t, lite.StateDisabled, c.GetLite().GetState())
	e.accept(methodRespConfirm, &upiv1.RespTxnConfirmation{
		Head: e.head("abank"), Txn: c.GetTxn(),
		Resp: &upiv1.Resp{ReqMsgId: c.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
	})

	assert.Equal(t, upi.CodeLiteUnknown, e.zeroDisable(lrn).GetResp().GetErrCode(), "disabled: LR")
	// A top-up of a disabled LRN: LR, and the device may register anew.
	e.topUp(lrn, lite.PurposeTopUp, 100, upi.CodeLiteUnknown)
	fresh := e.register(getLite(e, liteDevice, key.Public().(ed25519.PublicKey), aliceIFSC))
	assert.Equal(t, upiv1.Resp_SUCCESS, fresh.GetResp().GetResult())
	assert.NotEqual(t, lrn, fresh.GetLite().GetLrn())
}
