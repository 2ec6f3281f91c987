package upiswitch

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/keys"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/upi"
)

// liteResp is the RespPay of id to alphapsp.
func (e *env) liteResp(id string) *upiv1.RespPay {
	e.t.Helper()
	s := e.await(pspRespPay, id, upiv1.Txn_PAY, 1)
	require.Equal(e.t, "alphapsp", s.To)
	return s.Msg.(*upiv1.RespPay)
}

// topUpReq is alphapsp's ReqPay of a top-up of lrn by alice.
func topUpReq(e *env, id, lrn, purpose string, amount int64) *upiv1.ReqPay {
	m := pay(e, id, lrn+"@lite", amount)
	m.Txn.Purpose = purpose
	m.Lite = &upiv1.LiteInfo{Lrn: lrn, DeviceId: liteDevice}
	return m
}

// topUp tops lrn up by amount: with code "" both legs succeed; else the
// switch must decide code before any DEBIT.
func (e *env) topUp(lrn, purpose string, amount int64, code string) *upiv1.RespPay {
	e.t.Helper()
	id := ids.NewTxnID("ALP")
	e.accept(methodReqPay, topUpReq(e, id, lrn, purpose, amount))
	if code == "" {
		e.answerLeg(id, upiv1.Txn_DEBIT, "")
		e.answerLeg(id, upiv1.Txn_CREDIT, "")
	}
	resp := e.liteResp(id)
	if code == "" {
		assert.Equal(e.t, upiv1.Resp_SUCCESS, resp.GetResp().GetResult(), resp.GetResp().GetErrCode())
	} else {
		assert.Equal(e.t, upiv1.Resp_FAILURE, resp.GetResp().GetResult())
		assert.Equal(e.t, code, resp.GetResp().GetErrCode())
		assert.Empty(e.t, e.sent(remitterReqPay, id, upiv1.Txn_DEBIT), "nothing moves: no DEBIT")
	}
	e.book.check(e.t, id)
	return resp
}

// enable registers dev-1 with key and tops its LRN up by amount (41).
func (e *env) enable(key ed25519.PrivateKey, amount int64) string {
	e.t.Helper()
	resp := e.register(getLite(e, liteDevice, key.Public().(ed25519.PublicKey), aliceIFSC))
	require.Equal(e.t, upiv1.Resp_SUCCESS, resp.GetResp().GetResult())
	lrn := resp.GetLite().GetLrn()
	e.topUp(lrn, lite.PurposeInitialTopUp, amount, "")
	return lrn
}

// payLite sends alphapsp's ReqPay 44 from lrn to payee, signed by key at
// counter with the device's balance devBal; it returns the txn id.
func (e *env) payLite(key ed25519.PrivateKey, lrn string, counter uint64, devBal int64, payee string, amount int64) string {
	e.t.Helper()
	id := ids.NewTxnID("ALP")
	e.accept(methodReqPay, liteReq(e, key, id, lite.PurposeOnlinePay, lrn, counter, devBal, alice, payee, amount))
	return id
}

// liteReq is a ReqPay signed by the device: 44 from the user, 46 and 43
// from "<lrn>@lite" to the user.
func liteReq(e *env, key ed25519.PrivateKey, id, purpose, lrn string, counter uint64, devBal int64, payer, payee string, amount int64) *upiv1.ReqPay {
	a := lite.ARQC{TxnID: id, LRN: lrn, Counter: counter, AmountPaise: amount, Payee: payee, DeviceBalance: devBal}
	return &upiv1.ReqPay{
		Head:  e.head("alphapsp"),
		Txn:   &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY, Purpose: purpose, Ts: timestamppb.Now()},
		Payer: &upiv1.Party{Addr: payer, Ac: &upiv1.Account{AcNum: lrn}, AmountPaise: amount},
		Payee: &upiv1.Party{Addr: payee},
		Lite:  &upiv1.LiteInfo{Lrn: lrn, DeviceId: liteDevice, Counter: counter, DeviceBalancePaise: devBal, Arqc: a.Sign(key)},
	}
}

// remitterConfirms answers the switch's Lite ReqTxnConfirmation of id
// from abank with result.
func (e *env) remitterConfirms(id string, result upiv1.Resp_Result) *upiv1.ReqTxnConfirmation {
	e.t.Helper()
	s := e.await(remitterReqConfirm, id, upiv1.Txn_PAY, 1)
	require.Equal(e.t, "abank", s.To)
	m := s.Msg.(*upiv1.ReqTxnConfirmation)
	resp := &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: result}
	if result == upiv1.Resp_FAILURE {
		resp.ErrCode = "U30"
	}
	e.accept(methodRespConfirm, &upiv1.RespTxnConfirmation{Head: e.head("abank"), Txn: m.GetTxn(), Resp: resp})
	return m
}

// verifyARPC checks the ARPC of a Lite RespPay with the switch's key.
func verifyARPC(t *testing.T, k *keys.Keys, id string, resp *upiv1.RespPay) {
	t.Helper()
	l := resp.GetLite()
	a := lite.ARPC{TxnID: id, LRN: l.GetLrn(), Counter: l.GetCounter(), Result: resp.GetResp().GetResult().String(), Balance: l.GetBalancePaise()}
	assert.True(t, a.Verify(k.Sign.Public().(ed25519.PublicKey), l.GetArpc()), "the ARPC verifies with the switch's key")
	a.Balance++
	assert.False(t, a.Verify(k.Sign.Public().(ed25519.PublicKey), l.GetArpc()), "over another balance it does not")
}

func TestLiteTopUp(t *testing.T) {
	e := newEnv(t, nil)
	key := deviceKey(t)
	resp := e.register(getLite(e, liteDevice, key.Public().(ed25519.PublicKey), aliceIFSC))
	lrn := resp.GetLite().GetLrn()

	// 41: DEBIT alice's account with the PIN, CREDIT the pool for the LRN.
	id := ids.NewTxnID("ALP")
	e.accept(methodReqPay, topUpReq(e, id, lrn, lite.PurposeInitialTopUp, 50000))
	debit := e.answerLeg(id, upiv1.Txn_DEBIT, "")
	dm := debit.Msg.(*upiv1.ReqPay)
	assert.Equal(t, "abank", debit.To)
	assert.Equal(t, lite.PurposeInitialTopUp, dm.GetTxn().GetPurpose())
	assert.Equal(t, aliceAc, dm.GetPayer().GetAc().GetAcNum())
	require.Len(t, dm.GetPayer().GetCreds(), 1, "a top-up is with the PIN")
	assert.Equal(t, lrn, dm.GetLite().GetLrn())
	assert.Empty(t, e.sent(pspReqAuth, id, upiv1.Txn_TYPE_UNSPECIFIED), "no ReqAuthDetails: no PSP has @lite")
	credit := e.answerLeg(id, upiv1.Txn_CREDIT, "")
	cm := credit.Msg.(*upiv1.ReqPay)
	assert.Equal(t, "abank", credit.To, "the CREDIT goes to the remitter's pool")
	assert.Equal(t, lite.PurposeInitialTopUp, cm.GetTxn().GetPurpose())
	assert.Equal(t, lrn, cm.GetPayee().GetAc().GetAcNum())
	assert.Equal(t, aliceIFSC, cm.GetPayee().GetAc().GetIfsc())
	assert.Equal(t, lrn, cm.GetLite().GetLrn())
	assert.Equal(t, []byte(key.Public().(ed25519.PublicKey)), cm.GetLite().GetDeviceKey())
	assert.Equal(t, aliceAc, cm.GetLite().GetAc().GetAcNum(), "the user's account")
	assert.Equal(t, liteDevice, cm.GetLite().GetDeviceId())
	rp := e.liteResp(id)
	assert.Equal(t, upiv1.Resp_SUCCESS, rp.GetResp().GetResult())
	assert.Equal(t, int64(50000), rp.GetLite().GetBalancePaise())
	assert.Equal(t, lite.StateActive, rp.GetLite().GetState())
	e.book.check(t, id)
	acc := e.liteAcc(lrn)
	assert.Equal(t, lite.StateActive, acc.State)
	assert.Equal(t, int64(50000), acc.BalancePaise)
	assert.Equal(t, int64(50000), acc.TopupsPaise)
	assert.Zero(t, acc.TopupsInFlightPaise)

	// 42 adds; over the balance limit (₹5,000) LB with nothing moved.
	e.topUp(lrn, lite.PurposeTopUp, 150000, "")
	assert.Equal(t, int64(200000), e.liteAcc(lrn).BalancePaise)
	e.topUp(lrn, lite.PurposeTopUp, 300001, upi.CodeLiteBalanceLimit)
	assert.Equal(t, int64(200000), e.liteAcc(lrn).BalancePaise)

	// A top-up in flight counts: 2,000 in flight + 1,000.01 more is over.
	flying := ids.NewTxnID("ALP")
	e.accept(methodReqPay, topUpReq(e, flying, lrn, lite.PurposeTopUp, 200000))
	e.await(remitterReqPay, flying, upiv1.Txn_DEBIT, 1)
	e.topUp(lrn, lite.PurposeTopUp, 100001, upi.CodeLiteBalanceLimit)
	// The one in flight fails at the DEBIT: only the in-flight total drops.
	e.answerLeg(flying, upiv1.Txn_DEBIT, "U30")
	assert.Equal(t, upi.CodeDebitFailed, e.liteResp(flying).GetResp().GetErrCode())
	acc = e.liteAcc(lrn)
	assert.Equal(t, int64(200000), acc.BalancePaise)
	assert.Zero(t, acc.TopupsInFlightPaise)
	e.topUp(lrn, lite.PurposeTopUp, 300000, "")
	assert.Equal(t, int64(500000), e.liteAcc(lrn).BalancePaise)

	// 42 of an LRN not ACTIVE: LR; of someone else's LRN: refused.
	other := e.register(getLite(e, "dev-2", key.Public().(ed25519.PublicKey), aliceIFSC)).GetLite().GetLrn()
	e.topUp(other, lite.PurposeTopUp, 100, upi.CodeLiteUnknown)
	e.topUp("ABNKL999999999999", lite.PurposeTopUp, 100, upi.CodeLiteUnknown)
	m := topUpReq(e, ids.NewTxnID("ALP"), lrn, lite.PurposeTopUp, 100)
	m.Payee.Addr = "abnkl000000000999@lite"
	assert.Contains(t, e.receive(methodReqPay, m).GetErr(), "payee.addr must be")
	m = topUpReq(e, ids.NewTxnID("ALP"), lrn, lite.PurposeTopUp, 100)
	m.Payer.Creds = nil
	assert.Contains(t, e.receive(methodReqPay, m).GetErr(), "PIN")
}

func TestLiteOnlinePay(t *testing.T) {
	e := newEnv(t, nil)
	swk := pintest.Keys(t, e.net.Switch().Name)
	e.sw.SetKeys(swk)
	key := deviceKey(t)
	lrn := e.enable(key, 100000)

	id := e.payLite(key, lrn, 1, 100000, chai, 15000)
	ad := e.await(pspReqAuth, id, upiv1.Txn_PAY, 1)
	assert.Equal(t, "betapsp", ad.To)
	e.accept(methodRespAuth, payeeDetails(e, id, chai, chaiAc, bobIFSC))
	assert.Equal(t, int64(85000), e.liteAcc(lrn).BalancePaise, "taken off the LRN in the auth step")
	credit := e.answerLeg(id, upiv1.Txn_CREDIT, "")
	assert.Equal(t, "bbank", credit.To)
	assert.Equal(t, chaiAc, credit.Msg.(*upiv1.ReqPay).GetPayee().GetAc().GetAcNum())
	assert.Nil(t, credit.Msg.(*upiv1.ReqPay).GetLite(), "a normal credit: not a pool's")
	assert.Empty(t, e.sent(remitterReqPay, id, upiv1.Txn_DEBIT), "no DEBIT: the auth engine took it")

	rp := e.liteResp(id)
	assert.Equal(t, upiv1.Resp_SUCCESS, rp.GetResp().GetResult())
	assert.Equal(t, lrn, rp.GetLite().GetLrn())
	assert.Equal(t, uint64(1), rp.GetLite().GetCounter())
	assert.Equal(t, int64(85000), rp.GetLite().GetBalancePaise())
	verifyARPC(t, swk, id, rp)
	e.confirm(id) // the payee's PSP, as for any pay

	acc := e.liteAcc(lrn)
	assert.Equal(t, int64(15000), acc.OnlinePaise)
	assert.Equal(t, int64(15000), acc.UnconfirmedPaise)
	assert.Equal(t, uint64(1), acc.Counter)
	cm := e.remitterConfirms(id, upiv1.Resp_SUCCESS)
	assert.Equal(t, lite.PurposeOnlinePay, cm.GetTxn().GetPurpose())
	assert.Equal(t, upiv1.Txn_PAY, cm.GetTxn().GetType())
	assert.Equal(t, upiv1.Resp_SUCCESS, cm.GetResp().GetResult())
	assert.Equal(t, lrn, cm.GetLite().GetLrn())
	assert.Equal(t, int64(15000), cm.GetLite().GetAmountPaise())
	assert.Zero(t, e.liteAcc(lrn).UnconfirmedPaise, "the remitter's answer clears it")
	// The same answer again changes nothing.
	e.accept(methodRespConfirm, &upiv1.RespTxnConfirmation{Head: e.head("abank"), Txn: cm.GetTxn(),
		Resp: &upiv1.Resp{ReqMsgId: cm.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}})
	assert.Zero(t, e.liteAcc(lrn).UnconfirmedPaise)
	assert.Len(t, e.record(id).Late, 1)
	// From another bank: refused.
	ack := e.receive(methodRespConfirm, &upiv1.RespTxnConfirmation{Head: e.head("bbank"), Txn: cm.GetTxn(),
		Resp: &upiv1.Resp{ReqMsgId: cm.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}})
	assert.NotEmpty(t, ack.GetErr())
}

func TestLiteOnlineDeclines(t *testing.T) {
	e := newEnv(t, nil)
	e.sw.SetKeys(pintest.Keys(t, e.net.Switch().Name))
	key := deviceKey(t)
	lrn := e.enable(key, 200000)
	e.topUp(lrn, lite.PurposeTopUp, 200000, "") // 4,000

	// A first payment takes counter 5.
	ok := e.payLite(key, lrn, 5, 400000, chai, 1000)
	e.accept(methodRespAuth, payeeDetails(e, ok, chai, chaiAc, bobIFSC))
	e.answerLeg(ok, upiv1.Txn_CREDIT, "")
	require.Equal(t, upiv1.Resp_SUCCESS, e.liteResp(ok).GetResp().GetResult())

	wrongKey, err := lite.DeviceKey([]byte("other"), liteDevice)
	require.NoError(t, err)
	for name, c := range map[string]struct {
		req  func(id string) *upiv1.ReqPay
		code string
	}{
		"a tampered ARQC (signed for another amount): LQ": {func(id string) *upiv1.ReqPay {
			m := liteReq(e, key, id, lite.PurposeOnlinePay, lrn, 6, 399000, alice, chai, 1000)
			m.Payer.AmountPaise = 2000
			return m
		}, upi.CodeLiteCryptogram},
		"another device's key: LQ": {func(id string) *upiv1.ReqPay {
			return liteReq(e, wrongKey, id, lite.PurposeOnlinePay, lrn, 6, 399000, alice, chai, 1000)
		}, upi.CodeLiteCryptogram},
		"the counter again: LC": {func(id string) *upiv1.ReqPay {
			return liteReq(e, key, id, lite.PurposeOnlinePay, lrn, 5, 399000, alice, chai, 1000)
		}, upi.CodeLiteReplay},
		"a counter below the last: LC": {func(id string) *upiv1.ReqPay {
			return liteReq(e, key, id, lite.PurposeOnlinePay, lrn, 3, 399000, alice, chai, 1000)
		}, upi.CodeLiteReplay},
		"over ₹1,000 a payment: Z8": {func(id string) *upiv1.ReqPay {
			return liteReq(e, key, id, lite.PurposeOnlinePay, lrn, 6, 399000, alice, chai, 100001)
		}, upi.CodeLimitExceeded},
		"an unknown LRN: LR": {func(id string) *upiv1.ReqPay {
			return liteReq(e, key, id, lite.PurposeOnlinePay, "ABNKL999999999999", 6, 399000, alice, chai, 1000)
		}, upi.CodeLiteUnknown},
	} {
		id := ids.NewTxnID("ALP")
		e.accept(methodReqPay, c.req(id))
		e.accept(methodRespAuth, payeeDetails(e, id, chai, chaiAc, bobIFSC))
		rp := e.liteResp(id)
		assert.Equal(t, upiv1.Resp_FAILURE, rp.GetResp().GetResult(), name)
		assert.Equal(t, c.code, rp.GetResp().GetErrCode(), name)
		assert.Empty(t, e.sent(beneficiaryReqPay, id, upiv1.Txn_CREDIT), "%s: no CREDIT", name)
		assert.Equal(t, int64(399000), e.liteAcc(lrn).BalancePaise, "%s: the LRN is untouched", name)
	}
	assert.Equal(t, uint64(5), e.liteAcc(lrn).Counter)

	// Z9: more than the LRN holds (after paying it down to 500).
	for i, amt := range []int64{100000, 100000, 100000, 98500} {
		id := e.payLite(key, lrn, uint64(6+i), 0, chai, amt)
		e.accept(methodRespAuth, payeeDetails(e, id, chai, chaiAc, bobIFSC))
		e.answerLeg(id, upiv1.Txn_CREDIT, "")
		require.Equal(t, upiv1.Resp_SUCCESS, e.liteResp(id).GetResp().GetResult())
	}
	require.Equal(t, int64(500), e.liteAcc(lrn).BalancePaise)
	id := e.payLite(key, lrn, 10, 500, chai, 501)
	e.accept(methodRespAuth, payeeDetails(e, id, chai, chaiAc, bobIFSC))
	rp := e.liteResp(id)
	assert.Equal(t, upi.CodeInsufficientFunds, rp.GetResp().GetErrCode())
	assert.Equal(t, int64(500), rp.GetLite().GetBalancePaise())

	// An LRN of another user: refused in the Ack.
	m := liteReq(e, key, ids.NewTxnID("ALP"), lite.PurposeOnlinePay, lrn, 11, 500, alice, chai, 100)
	m.Payer.Ac.AcNum = "1"
	assert.Contains(t, e.receive(methodReqPay, m).GetErr(), "payer.ac.ac_num must be")
	m = liteReq(e, key, ids.NewTxnID("ALP"), lite.PurposeOnlinePay, lrn, 11, 500, alice, chai, 100)
	m.Lite.Arqc = nil
	assert.Contains(t, e.receive(methodReqPay, m).GetErr(), "lite.arqc")
}

// A credit that fails gives the amount back to the LRN, and the ARPC says
// so; no confirmation goes to the remitter.
func TestLiteOnlineCreditFails(t *testing.T) {
	e := newEnv(t, nil)
	swk := pintest.Keys(t, e.net.Switch().Name)
	e.sw.SetKeys(swk)
	key := deviceKey(t)
	lrn := e.enable(key, 100000)
	id := e.payLite(key, lrn, 1, 100000, chai, 30000)
	e.accept(methodRespAuth, payeeDetails(e, id, chai, chaiAc, bobIFSC))
	e.answerLeg(id, upiv1.Txn_CREDIT, "U31")
	rp := e.liteResp(id)
	assert.Equal(t, upiv1.Resp_FAILURE, rp.GetResp().GetResult())
	assert.Equal(t, int64(100000), rp.GetLite().GetBalancePaise())
	verifyARPC(t, swk, id, rp)
	acc := e.liteAcc(lrn)
	assert.Equal(t, int64(100000), acc.BalancePaise)
	assert.Zero(t, acc.OnlinePaise)
	assert.Zero(t, acc.UnconfirmedPaise)
	assert.Empty(t, e.sent(remitterReqConfirm, id, upiv1.Txn_TYPE_UNSPECIFIED))
	assert.Empty(t, e.sent(remitterReqPay, id, upiv1.Txn_REVERSAL), "nothing to reverse: nothing was debited at a bank")
	// The counter is used: a retry must take the next one.
	again := e.payLite(key, lrn, 1, 100000, chai, 30000)
	e.accept(methodRespAuth, payeeDetails(e, again, chai, chaiAc, bobIFSC))
	assert.Equal(t, upi.CodeLiteReplay, e.liteResp(again).GetResp().GetErrCode())
}

// A DEEMED 44 keeps the LRN debited (its ARPC says DEEMED with the balance
// after); a check that finds no credit gives it back.
func TestLiteOnlineDeemed(t *testing.T) {
	e := newEnv(t, timeouts(long, 100*time.Millisecond, 150*time.Millisecond, long))
	swk := pintest.Keys(t, e.net.Switch().Name)
	e.sw.SetKeys(swk)
	key := deviceKey(t)
	lrn := e.enable(key, 100000)
	id := e.payLite(key, lrn, 1, 100000, chai, 30000)
	e.accept(methodRespAuth, payeeDetails(e, id, chai, chaiAc, bobIFSC))
	e.await(beneficiaryReqPay, id, upiv1.Txn_CREDIT, 1)
	rp := e.liteResp(id)
	assert.Equal(t, upiv1.Resp_DEEMED, rp.GetResp().GetResult())
	assert.Equal(t, int64(70000), rp.GetLite().GetBalancePaise())
	verifyARPC(t, swk, id, rp)
	assert.Equal(t, int64(70000), e.liteAcc(lrn).BalancePaise)

	e.answerCheck(id, 1, "U48")
	final := e.await(pspRespPay, id, upiv1.Txn_PAY, 2).Msg.(*upiv1.RespPay)
	assert.Equal(t, upiv1.Resp_FAILURE, final.GetResp().GetResult())
	assert.Equal(t, int64(100000), final.GetLite().GetBalancePaise())
	assert.Equal(t, int64(100000), e.liteAcc(lrn).BalancePaise)
	assert.Empty(t, e.sent(remitterReqPay, id, upiv1.Txn_REVERSAL))
}

func TestLiteTransferOut(t *testing.T) {
	e := newEnv(t, nil)
	key := deviceKey(t)
	lrn := e.enable(key, 100000)

	id := ids.NewTxnID("ALP")
	e.accept(methodReqPay, liteReq(e, key, id, lite.PurposeTransferOut, lrn, 1, 100000, lrn+"@lite", alice, 40000))
	debit := e.await(remitterReqPay, id, upiv1.Txn_DEBIT, 1)
	assert.Equal(t, int64(60000), e.liteAcc(lrn).BalancePaise, "held from the start")
	dm := debit.Msg.(*upiv1.ReqPay)
	assert.Equal(t, "abank", debit.To)
	assert.Equal(t, lrn, dm.GetPayer().GetAc().GetAcNum())
	assert.Equal(t, lite.PurposeTransferOut, dm.GetTxn().GetPurpose())
	assert.Equal(t, lrn, dm.GetLite().GetLrn())
	assert.Empty(t, e.sent(pspReqAuth, id, upiv1.Txn_TYPE_UNSPECIFIED))
	e.answerLeg(id, upiv1.Txn_DEBIT, "")
	credit := e.answerLeg(id, upiv1.Txn_CREDIT, "")
	assert.Equal(t, aliceAc, credit.Msg.(*upiv1.ReqPay).GetPayee().GetAc().GetAcNum(), "back to the user's account")
	assert.Equal(t, "abank", credit.To)
	rp := e.liteResp(id)
	assert.Equal(t, upiv1.Resp_SUCCESS, rp.GetResp().GetResult())
	assert.Equal(t, int64(60000), rp.GetLite().GetBalancePaise())
	e.book.check(t, id)
	acc := e.liteAcc(lrn)
	assert.Equal(t, int64(40000), acc.TransfersPaise)
	assert.Equal(t, lite.StateActive, acc.State)
	assert.Empty(t, e.sent(remitterReqConfirm, id, upiv1.Txn_TYPE_UNSPECIFIED), "46: nothing to confirm")

	// A DEBIT the remitter declines gives the hold back.
	failed := ids.NewTxnID("ALP")
	e.accept(methodReqPay, liteReq(e, key, failed, lite.PurposeTransferOut, lrn, 2, 60000, lrn+"@lite", alice, 10000))
	e.await(remitterReqPay, failed, upiv1.Txn_DEBIT, 1)
	assert.Equal(t, int64(50000), e.liteAcc(lrn).BalancePaise)
	e.answerLeg(failed, upiv1.Txn_DEBIT, "Z9")
	assert.Equal(t, upiv1.Resp_FAILURE, e.liteResp(failed).GetResp().GetResult())
	assert.Equal(t, int64(60000), e.liteAcc(lrn).BalancePaise)

	// More than it holds: Z9, nothing sent; to someone else: refused.
	over := ids.NewTxnID("ALP")
	e.accept(methodReqPay, liteReq(e, key, over, lite.PurposeTransferOut, lrn, 3, 60000, lrn+"@lite", alice, 60001))
	assert.Equal(t, upi.CodeInsufficientFunds, e.liteResp(over).GetResp().GetErrCode())
	assert.Empty(t, e.sent(remitterReqPay, over, upiv1.Txn_DEBIT))
	m := liteReq(e, key, ids.NewTxnID("ALP"), lite.PurposeTransferOut, lrn, 4, 60000, lrn+"@lite", bob, 100)
	assert.NotEmpty(t, e.receive(methodReqPay, m).GetErr(), "bob is not a user of alphapsp")
}

func TestLiteDisable(t *testing.T) {
	e := newEnv(t, nil)
	key := deviceKey(t)
	lrn := e.enable(key, 100000)

	less := liteReq(e, key, ids.NewTxnID("ALP"), lite.PurposeDisable, lrn, 1, 100000, lrn+"@lite", alice, 99999)
	assert.Contains(t, e.receive(methodReqPay, less).GetErr(), "the whole balance")

	id := ids.NewTxnID("ALP")
	e.accept(methodReqPay, liteReq(e, key, id, lite.PurposeDisable, lrn, 1, 100000, lrn+"@lite", alice, 100000))
	e.answerLeg(id, upiv1.Txn_DEBIT, "")
	e.answerLeg(id, upiv1.Txn_CREDIT, "")
	rp := e.liteResp(id)
	assert.Equal(t, upiv1.Resp_SUCCESS, rp.GetResp().GetResult())
	assert.Equal(t, lite.StateDisabled, rp.GetLite().GetState())
	assert.Zero(t, rp.GetLite().GetBalancePaise())
	e.book.check(t, id)
	acc := e.liteAcc(lrn)
	assert.Equal(t, lite.StateDisabled, acc.State)
	assert.Zero(t, acc.BalancePaise)
	assert.Equal(t, int64(100000), acc.TransfersPaise)
	cm := e.remitterConfirms(id, upiv1.Resp_SUCCESS)
	assert.Equal(t, lite.PurposeDisable, cm.GetTxn().GetPurpose())
	assert.Equal(t, lrn, cm.GetLite().GetLrn())
	assert.Equal(t, lite.StateDisabled, cm.GetLite().GetState())

	// Disabled: a payment is LR.
	pid := e.payLite(key, lrn, 2, 0, chai, 100)
	e.accept(methodRespAuth, payeeDetails(e, pid, chai, chaiAc, bobIFSC))
	assert.Equal(t, upi.CodeLiteUnknown, e.liteResp(pid).GetResp().GetErrCode())
}
