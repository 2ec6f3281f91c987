package upiswitch

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

const (
	testLRN  = "LRNABNK000001" // alice's device dev-1, at abank
	carolAc  = "2000000002"
	mReqSync = upiv1.SwitchService_ReqLiteSync_FullMethodName
	mRspSync = upiv1.SwitchService_RespLiteSync_FullMethodName
	mRemSync = upiv1.RemitterService_ReqLiteSync_FullMethodName
	mBenSync = upiv1.BeneficiaryService_ReqLiteSync_FullMethodName
	mPspSync = upiv1.PspService_RespLiteSync_FullMethodName
	mAuth    = upiv1.PspService_ReqAuthDetails_FullMethodName
	mConfirm = upiv1.PspService_ReqTxnConfirmation_FullMethodName
)

// liteSync is a switch with alice's LRN at its auth engine, and what the
// tests play with it: her device's key, and the bank balance of the LRN as
// the remitter (the test) posts it.
type liteSync struct {
	*env
	key  ed25519.PrivateKey
	bank int64 // the LRN's balance at the remitter
	// posts counts what the banks (the test) posted per counter and kind:
	// like a real bank, a repeat of a posted record is answered from what
	// was posted, not posted again.
	posts map[uint64]map[upiv1.Txn_Type]int
	topup int64
}

func newLiteSync(t *testing.T, balance int64, tweak func(*config.Network)) *liteSync {
	t.Helper()
	e := newEnv(t, tweak)
	key, err := lite.DeviceKey([]byte("test"), "dev-1")
	require.NoError(t, err)
	l := &liteSync{env: e, key: key, bank: balance, topup: balance, posts: map[uint64]map[upiv1.Txn_Type]int{}}
	t.Cleanup(l.checkExactlyOnce)
	l.putLRN(testLRN, balance)
	return l
}

// putLRN puts an ACTIVE LRN of alice's dev-1 at abank on the auth engine.
func (l *liteSync) putLRN(lrn string, balance int64) {
	l.t.Helper()
	require.NoError(l.t, l.n.Update(func(c *node.Ctx) error {
		return saveLite(c, &liteAccount{
			Lrn: lrn, Vpa: alice, Psp: "alphapsp", DeviceId: "dev-1", DeviceKey: l.key.Public().(ed25519.PublicKey),
			Bank: "abank", AcNum: aliceAc, Ifsc: aliceIFSC, State: lite.StateActive, BalancePaise: balance, TopupsPaise: balance,
		})
	}))
}

// rec is dev-1's signed offline record of counter to payee.
func (l *liteSync) record(counter uint64, payee string, amount int64) *upiv1.LiteRecord {
	r := &upiv1.LiteRecord{
		Lrn: testLRN, DeviceId: "dev-1", Counter: counter, ProvisionalUtr: lite.ProvisionalUTR(testLRN, counter),
		PayerAddr: alice, PayeeAddr: payee, AmountPaise: amount, Ts: timestamppb.New(l.clock.Now().Add(-time.Hour)),
		OrderId: "order-" + payee, PayeeDeviceId: "pos-1",
	}
	lite.SignRecord(l.key, r)
	return r
}

// sync sends alice's PSP's batch id with recs and returns its id.
func (l *liteSync) sync(recs ...*upiv1.LiteRecord) string {
	l.t.Helper()
	id := ids.NewTxnID("ALP")
	l.accept(mReqSync, &upiv1.ReqLiteSync{
		Head: l.head("alphapsp"), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_LITE_SYNC},
		Lrn: testLRN, DeviceId: "dev-1", Records: recs, UserAddr: alice, DeviceBalancePaise: 4242,
	})
	return id
}

// awaitWhere waits for the k-th message (1-based) the switch sent with
// method about batch that matches ok, moving the fake clock as await does.
func (l *liteSync) awaitWhere(method, batch string, k int, ok func(nodetest.Sent) bool) nodetest.Sent {
	l.t.Helper()
	horizon := l.clock.Now().Add(awaitHorizon)
	for {
		quiet, err := l.n.Quiet()
		require.NoError(l.t, err)
		var got []nodetest.Sent
		for _, s := range l.sent(method, batch, upiv1.Txn_TYPE_UNSPECIFIED) {
			if ok == nil || ok(s) {
				got = append(got, s)
			}
		}
		if len(got) >= k {
			return got[k-1]
		}
		if quiet {
			at, has, err := l.n.NextTimer()
			require.NoError(l.t, err)
			if !has || at.After(horizon) {
				l.t.Fatalf("switch sent no %s #%d for %s; trace %v", method, k, batch, l.trace(batch))
			}
			if at.After(l.clock.Now()) {
				l.clock.Set(at)
			}
			continue
		}
		nodetest.Quiesce(l.t, l.n)
	}
}

func sub(t upiv1.Txn_Type) func(nodetest.Sent) bool {
	return func(s nodetest.Sent) bool { return s.Msg.GetTxn().GetSubType() == t }
}

// resolve answers the ReqAuthDetails of payee in batch with its account.
func (l *liteSync) resolve(batch, payee, acNum string) {
	l.t.Helper()
	req := l.awaitWhere(mAuth, batch, 1, func(s nodetest.Sent) bool {
		return s.Msg.(*upiv1.ReqAuthDetails).GetPayee().GetAddr() == payee
	})
	assert.Equal(l.t, upiv1.Txn_LITE_SYNC, req.Msg.GetTxn().GetType())
	l.accept(upiv1.SwitchService_RespAuthDetails_FullMethodName, &upiv1.RespAuthDetails{
		Head: l.head(req.To), Txn: &upiv1.Txn{Id: batch, Type: upiv1.Txn_LITE_SYNC},
		Payee: &upiv1.Party{Addr: payee, Ac: &upiv1.Account{AcNum: acNum, Ifsc: bobIFSC}},
		Resp:  &upiv1.Resp{ReqMsgId: req.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
	})
}

// bankAnswer answers the stage req as its bank: each record SUCCESS but
// those named in codes; a remitter posts (DEBIT) or returns (REVERSAL) the
// successful ones on the LRN and answers its balance.
func (l *liteSync) bankAnswer(req nodetest.Sent, codes map[uint64]string) {
	l.t.Helper()
	m := req.Msg.(*upiv1.ReqLiteSync)
	st := m.GetTxn().GetSubType()
	out := &upiv1.RespLiteSync{
		Head: l.head(req.To), Txn: &upiv1.Txn{Id: m.GetTxn().GetId(), Type: upiv1.Txn_LITE_SYNC, SubType: st},
		Resp: &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
	}
	for _, r := range m.GetRecords() {
		res := &upiv1.LiteRecordResult{Lrn: r.GetLrn(), Counter: r.GetCounter(), Result: upiv1.Resp_SUCCESS}
		if code := codes[r.GetCounter()]; code != "" {
			res.Result, res.ErrCode = upiv1.Resp_FAILURE, code
		} else if l.posts[r.GetCounter()][st] == 0 {
			if l.posts[r.GetCounter()] == nil {
				l.posts[r.GetCounter()] = map[upiv1.Txn_Type]int{}
			}
			l.posts[r.GetCounter()][st]++
			switch st {
			case upiv1.Txn_DEBIT:
				l.bank -= r.GetAmountPaise()
			case upiv1.Txn_REVERSAL:
				l.bank += r.GetAmountPaise()
			}
		}
		out.Results = append(out.Results, res)
	}
	if st != upiv1.Txn_CREDIT {
		out.Balances = []*upiv1.LiteBalance{{Lrn: testLRN, BalancePaise: l.bank, State: lite.StateActive}}
	}
	l.accept(mRspSync, out)
}

// answerOf is the k-th RespLiteSync to alice's PSP for batch.
func (l *liteSync) answerOf(batch string, k int) *upiv1.RespLiteSync {
	l.t.Helper()
	s := l.awaitWhere(mPspSync, batch, k, nil)
	assert.Equal(l.t, "alphapsp", s.To)
	return s.Msg.(*upiv1.RespLiteSync)
}

func (l *liteSync) account() *liteAccount {
	l.t.Helper()
	var a *liteAccount
	require.NoError(l.t, l.n.View(func(tx *store.Tx) error {
		var err error
		a, err = loadLite(tx, testLRN)
		return err
	}))
	require.NotNil(l.t, a)
	return a
}

func (l *liteSync) counter(c uint64) *liteRecord {
	l.t.Helper()
	var r *liteRecord
	require.NoError(l.t, l.n.View(func(tx *store.Tx) error {
		var err error
		r, err = loadCounter(tx, testLRN, c)
		return err
	}))
	require.NotNil(l.t, r, "no record of counter %d", c)
	return r
}

func (l *liteSync) batchState(id string) string {
	l.t.Helper()
	var b *liteBatch
	require.NoError(l.t, l.n.View(func(tx *store.Tx) error {
		var err error
		b, err = loadBatch(tx, id)
		return err
	}))
	require.NotNil(l.t, b)
	return b.State
}

func balanceOf(m *upiv1.RespLiteSync, lrn string) (int64, bool) {
	for _, b := range m.GetBalances() {
		if b.GetLrn() == lrn {
			return b.GetBalancePaise(), true
		}
	}
	return 0, false
}

// post runs a batch through every stage with every bank saying SUCCESS.
func (l *liteSync) post(batch string, payees map[string]string, nDebits, nCredits int) {
	l.t.Helper()
	for payee, ac := range payees {
		l.resolve(batch, payee, ac)
	}
	for k := 1; k <= nDebits; k++ {
		l.bankAnswer(l.awaitWhere(mRemSync, batch, k, sub(upiv1.Txn_DEBIT)), nil)
	}
	for k := 1; k <= nCredits; k++ {
		l.bankAnswer(l.awaitWhere(mBenSync, batch, k, sub(upiv1.Txn_CREDIT)), nil)
	}
}

func TestLiteSyncPostsABatch(t *testing.T) {
	l := newLiteSync(t, 100000, nil)
	r1, r2, r3 := l.record(1, bob, 10000), l.record(2, carol, 20000), l.record(3, bob, 5000)
	batch := l.sync(r1, r2, r3)

	// One ReqAuthDetails per payee, to the PSP owning the handle.
	l.resolve(batch, bob, bobAc)
	l.resolve(batch, carol, carolAc)
	assert.Len(t, l.sent(mAuth, batch, upiv1.Txn_LITE_SYNC), 2)

	// The remitter gets one DEBIT sub-batch of the three, with payee_ac.
	debit := l.awaitWhere(mRemSync, batch, 1, sub(upiv1.Txn_DEBIT))
	assert.Equal(t, "abank", debit.To)
	dm := debit.Msg.(*upiv1.ReqLiteSync)
	require.Len(t, dm.GetRecords(), 3)
	assert.Equal(t, carolAc, dm.GetRecords()[1].GetPayeeAc().GetAcNum())
	assert.Equal(t, int64(65000), l.account().BalancePaise, "the switch holds the records' amounts until the remitter answers")
	l.bankAnswer(debit, nil)

	credit := l.awaitWhere(mBenSync, batch, 1, sub(upiv1.Txn_CREDIT))
	assert.Equal(t, "bbank", credit.To)
	crecs := credit.Msg.(*upiv1.ReqLiteSync).GetRecords()
	require.Len(t, crecs, 3)
	for i, cr := range crecs {
		want := []*upiv1.LiteRecord{r1, r2, r3}[i]
		assert.Equal(t, want.GetAmountPaise(), cr.GetAmountPaise())
		assert.Equal(t, want.GetProvisionalUtr(), cr.GetProvisionalUtr())
		assert.NotEmpty(t, cr.GetPayeeAc().GetAcNum(), "the payee's account to credit")
		assert.Empty(t, cr.GetSignature(), "the beneficiary is not sent the payer device's signature")
		assert.Empty(t, cr.GetDeviceId())
	}
	assert.NotEmpty(t, dm.GetRecords()[0].GetSignature(), "the remitter is: it checks it")
	l.bankAnswer(credit, nil)

	ans := l.answerOf(batch, 1)
	assert.Equal(t, upiv1.Resp_SUCCESS, ans.GetResp().GetResult())
	require.Len(t, ans.GetResults(), 3)
	utrs := map[uint64]string{}
	for i, res := range ans.GetResults() {
		want := []*upiv1.LiteRecord{r1, r2, r3}[i]
		assert.Equal(t, want.GetCounter(), res.GetCounter(), "results in the request's order")
		assert.Equal(t, upiv1.Resp_SUCCESS, res.GetResult())
		assert.True(t, ids.ValidRRN(res.GetUtr()), "official UTR %q", res.GetUtr())
		assert.Equal(t, want.GetProvisionalUtr(), res.GetProvisionalUtr())
		assert.Equal(t, want.GetAmountPaise(), res.GetAmountPaise())
		assert.Equal(t, want.GetPayeeAddr(), res.GetPayeeAddr())
		assert.Equal(t, alice, res.GetPayerAddr())
		assert.Equal(t, want.GetOrderId(), res.GetOrderId())
		assert.Equal(t, "pos-1", res.GetPayeeDeviceId())
		assert.Equal(t, batch, res.GetBatchTxnId())
		utrs[res.GetCounter()] = res.GetUtr()
	}
	assert.Len(t, map[string]bool{utrs[1]: true, utrs[2]: true, utrs[3]: true}, 3, "one UTR per record")
	bal, ok := balanceOf(ans, testLRN)
	assert.True(t, ok)
	assert.Equal(t, int64(65000), bal)
	a := l.account()
	assert.Equal(t, int64(65000), a.BalancePaise)
	assert.Equal(t, int64(35000), a.OfflinePaise)
	assert.Equal(t, int64(4242), a.DeviceReportedPaise)

	// One confirmation to the payees' PSP with its users' records.
	conf := l.awaitWhere(mConfirm, batch, 1, nil)
	assert.Equal(t, "betapsp", conf.To)
	assert.Len(t, conf.Msg.(*upiv1.ReqTxnConfirmation).GetLiteRecords(), 3)
	l.confirm(batch)
	l.eventually(func() bool { return l.batchState(batch) == batchClosed }, "batch closed")

	// The same records again (a lost answer): the same UTRs, no bank asked.
	before := len(l.env.rec.All())
	again := l.sync(r3, r1, r2)
	ans2 := l.answerOf(again, 1)
	for _, res := range ans2.GetResults() {
		assert.Equal(t, upiv1.Resp_SUCCESS, res.GetResult())
		assert.Equal(t, utrs[res.GetCounter()], res.GetUtr())
		assert.Equal(t, batch, res.GetBatchTxnId(), "the batch that posted it")
	}
	nodetest.Quiesce(t, l.n)
	assert.Len(t, l.env.rec.All(), before+1, "only the answer: no ReqAuthDetails, stage or confirmation")
	assert.Equal(t, int64(65000), l.account().BalancePaise)

	// The official UTR answers a check by RRN from the payee's PSP, as a
	// pay record's: what psp/status.go reads of it.
	chkID := ids.NewTxnID("BET")
	l.accept(upiv1.SwitchService_ReqChkTxn_FullMethodName, &upiv1.ReqChkTxn{
		Head: l.head("betapsp"), Txn: &upiv1.Txn{Id: chkID, Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_PAY, CustRef: utrs[2]},
	})
	chk := l.await(upiv1.PspService_RespChkTxn_FullMethodName, chkID, upiv1.Txn_CHK_STATUS, 1).Msg.(*upiv1.RespChkTxn)
	assert.Equal(t, upiv1.Resp_SUCCESS, chk.GetResp().GetResult())
	assert.Equal(t, utrs[2], chk.GetTxn().GetCustRef())
	assert.Equal(t, "order-"+carol, chk.GetTxn().GetRefId())
	require.Len(t, chk.GetResp().GetRefs(), 2)
	assert.Equal(t, carol, chk.GetResp().GetRefs()[1].GetAddr())
	assert.Equal(t, int64(20000), chk.GetResp().GetRefs()[1].GetSettAmountPaise())
	// A PSP that is no side of it learns nothing (U48).
	chkID = ids.NewTxnID("GAM")
	l.accept(upiv1.SwitchService_ReqChkTxn_FullMethodName, &upiv1.ReqChkTxn{
		Head: l.head("alphapsp"), Txn: &upiv1.Txn{Id: chkID, Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_PAY, CustRef: utrs[2]},
	})
	chk = l.await(upiv1.PspService_RespChkTxn_FullMethodName, chkID, upiv1.Txn_CHK_STATUS, 1).Msg.(*upiv1.RespChkTxn)
	assert.Equal(t, upiv1.Resp_SUCCESS, chk.GetResp().GetResult(), "alice's PSP is the payer's")
}

func TestLiteSyncPendingWhileAnotherBatchPosts(t *testing.T) {
	l := newLiteSync(t, 100000, nil)
	r1 := l.record(1, bob, 10000)
	first := l.sync(r1)
	l.resolve(first, bob, bobAc)
	debit := l.awaitWhere(mRemSync, first, 1, sub(upiv1.Txn_DEBIT))

	// The other device (or a resend) brings the record meanwhile.
	second := l.sync(r1)
	ans := l.answerOf(second, 1)
	require.Len(t, ans.GetResults(), 1)
	assert.Equal(t, upiv1.Resp_PENDING, ans.GetResults()[0].GetResult())
	assert.Equal(t, first, ans.GetResults()[0].GetBatchTxnId())
	assert.Contains(t, ans.GetResults()[0].GetReason(), first)
	assert.Empty(t, l.sent(mAuth, second, upiv1.Txn_TYPE_UNSPECIFIED), "the second batch asks nothing")
	assert.Empty(t, l.sent(mRemSync, second, upiv1.Txn_TYPE_UNSPECIFIED))

	l.bankAnswer(debit, nil)
	l.bankAnswer(l.awaitWhere(mBenSync, first, 1, sub(upiv1.Txn_CREDIT)), nil)
	assert.Equal(t, upiv1.Resp_SUCCESS, l.answerOf(first, 1).GetResults()[0].GetResult())
	assert.Equal(t, int64(90000), l.account().BalancePaise, "posted once")
	assert.Len(t, l.sent(mRemSync, first, upiv1.Txn_TYPE_UNSPECIFIED), 1)
}

func TestLiteSyncRefusesAtTheSwitch(t *testing.T) {
	l := newLiteSync(t, 15000, nil)
	ok := l.record(1, bob, 10000)
	over := l.record(2, bob, 6000) // 10000 + 6000 > 15000: Z9 at the switch
	unknown := l.record(1, bob, 1000)
	unknown.Lrn = "LRNNOSUCH0001"
	lite.SignRecord(l.key, unknown)
	batch := l.sync(over, unknown, ok, ok) // out of counter order; a duplicate counts once

	l.resolve(batch, bob, bobAc)
	debit := l.awaitWhere(mRemSync, batch, 1, sub(upiv1.Txn_DEBIT))
	require.Len(t, debit.Msg.(*upiv1.ReqLiteSync).GetRecords(), 1, "only the good record goes to the remitter, once")
	assert.Equal(t, uint64(1), debit.Msg.(*upiv1.ReqLiteSync).GetRecords()[0].GetCounter())
	l.bankAnswer(debit, nil)
	l.bankAnswer(l.awaitWhere(mBenSync, batch, 1, sub(upiv1.Txn_CREDIT)), nil)

	ans := l.answerOf(batch, 1)
	require.Len(t, ans.GetResults(), 4)
	assert.Equal(t, upi.CodeInsufficientFunds, ans.GetResults()[0].GetErrCode())
	assert.Equal(t, upi.CodeLiteUnknown, ans.GetResults()[1].GetErrCode())
	assert.Equal(t, upiv1.Resp_SUCCESS, ans.GetResults()[2].GetResult())
	assert.Equal(t, ans.GetResults()[2].GetUtr(), ans.GetResults()[3].GetUtr(), "the duplicate is the same record")
	assert.Equal(t, int64(5000), l.account().BalancePaise)

	// The posted counter again with other content: a double spend, LC.
	spend := l.record(1, carolAc, 9000)
	spend.PayeeAddr = bob
	spend.AmountPaise = 9000
	lite.SignRecord(l.key, spend)
	ds := l.sync(spend)
	res := l.answerOf(ds, 1).GetResults()[0]
	assert.Equal(t, upiv1.Resp_FAILURE, res.GetResult())
	assert.Equal(t, upi.CodeLiteReplay, res.GetErrCode())
	assert.Contains(t, res.GetReason(), batch)
	assert.Equal(t, []string{ds}, l.counter(1).GetDoubleSpends())
	assert.Equal(t, upiv1.Resp_SUCCESS.String(), l.counter(1).GetStatus(), "the posted record stands")

	// An online payment's counter brought as a record: LC too.
	require.NoError(t, l.n.Update(func(c *node.Ctx) error {
		return saveCounter(c, &liteRecord{Lrn: testLRN, Counter: 7, Kind: lite.KindOnline, TxnId: "ALPonline", Hash: []byte{1}})
	}))
	on := l.sync(l.record(7, bob, 100))
	assert.Equal(t, upi.CodeLiteReplay, l.answerOf(on, 1).GetResults()[0].GetErrCode())
	assert.Equal(t, int64(5000), l.account().BalancePaise)
}

func TestLiteSyncRemitterCodesAndUnknownPayee(t *testing.T) {
	l := newLiteSync(t, 100000, nil)
	batch := l.sync(l.record(1, bob, 1000), l.record(2, bob, 2000), l.record(3, "x@nohandle", 3000), l.record(4, bob, 4000))
	l.resolve(batch, bob, bobAc)
	debit := l.awaitWhere(mRemSync, batch, 1, sub(upiv1.Txn_DEBIT))
	assert.Len(t, debit.Msg.(*upiv1.ReqLiteSync).GetRecords(), 3, "the U29 record is not debited")
	l.bankAnswer(debit, map[uint64]string{1: upi.CodeLiteCryptogram, 2: upi.CodeLiteDeadline})
	credit := l.awaitWhere(mBenSync, batch, 1, sub(upiv1.Txn_CREDIT))
	assert.Len(t, credit.Msg.(*upiv1.ReqLiteSync).GetRecords(), 1)
	l.bankAnswer(credit, nil)

	res := l.answerOf(batch, 1).GetResults()
	require.Len(t, res, 4)
	assert.Equal(t, upi.CodeLiteCryptogram, res[0].GetErrCode())
	assert.Equal(t, upi.CodeLiteDeadline, res[1].GetErrCode())
	assert.Equal(t, upi.CodeAddrResolution, res[2].GetErrCode())
	assert.Equal(t, upiv1.Resp_SUCCESS, res[3].GetResult())
	assert.Equal(t, int64(96000), l.account().BalancePaise, "only the posted record is off the LRN")
}

// A payee PSP that does not answer may only be down: the batch's records
// are let go, PENDING and their holds back, and the device's next sync
// brings them again and posts them.
func TestLiteSyncPayeePSPSilentLetsGo(t *testing.T) {
	l := newLiteSync(t, 100000, nil)
	r1 := l.record(1, bob, 1000)
	batch := l.sync(r1)
	l.awaitWhere(mAuth, batch, 1, nil)
	l.advance(l.net.Timeouts.AuthDetails)
	// sync_answer (10s) comes before auth_details (15s): PENDING first.
	assert.Equal(t, upiv1.Resp_PENDING, l.answerOf(batch, 1).GetResults()[0].GetResult())
	require.NoError(t, l.n.View(func(tx *store.Tx) error {
		r, err := loadCounter(tx, testLRN, 1)
		assert.Nil(t, r, "the counter is free again")
		return err
	}))
	assert.Empty(t, l.sent(mRemSync, batch, upiv1.Txn_TYPE_UNSPECIFIED))
	assert.Equal(t, int64(100000), l.account().BalancePaise, "the hold is given back")

	again := l.sync(r1)
	l.resolve(again, bob, bobAc)
	l.bankAnswer(l.awaitWhere(mRemSync, again, 1, sub(upiv1.Txn_DEBIT)), nil)
	l.bankAnswer(l.awaitWhere(mBenSync, again, 1, sub(upiv1.Txn_CREDIT)), nil)
	res := l.answerOf(again, 1).GetResults()
	require.Len(t, res, 1)
	assert.Equal(t, upiv1.Resp_SUCCESS, res[0].GetResult(), "the next sync posts it")
	assert.Equal(t, int64(99000), l.account().BalancePaise)
}

func TestLiteSyncResendsSilentStages(t *testing.T) {
	l := newLiteSync(t, 100000, nil)
	batch := l.sync(l.record(1, bob, 1000), l.record(2, bob, 2000))
	l.resolve(batch, bob, bobAc)
	first := l.awaitWhere(mRemSync, batch, 1, sub(upiv1.Txn_DEBIT))
	l.advance(l.net.Timeouts.Debit - time.Millisecond) // the remitter is silent
	assert.Len(t, l.sent(mRemSync, batch, upiv1.Txn_TYPE_UNSPECIFIED), 1, "not resent before the timeout")
	l.advance(time.Millisecond)
	again := l.awaitWhere(mRemSync, batch, 2, sub(upiv1.Txn_DEBIT))
	assert.Equal(t, first.Msg.(*upiv1.ReqLiteSync).GetRecords(), again.Msg.(*upiv1.ReqLiteSync).GetRecords(), "the same records")
	l.advance(l.net.Timeouts.Debit)
	assert.Len(t, l.sent(mRemSync, batch, upiv1.Txn_TYPE_UNSPECIFIED), 2, "backoff doubles: not again after one more timeout")
	l.advance(l.net.Timeouts.Debit)
	third := l.awaitWhere(mRemSync, batch, 3, sub(upiv1.Txn_DEBIT))
	// The remitter answers the latest; a late answer to the first changes nothing.
	l.bankAnswer(third, nil)
	credit := l.awaitWhere(mBenSync, batch, 1, sub(upiv1.Txn_CREDIT))
	late := &upiv1.RespLiteSync{
		Head: l.head("abank"), Txn: &upiv1.Txn{Id: batch, Type: upiv1.Txn_LITE_SYNC, SubType: upiv1.Txn_DEBIT},
		Resp: &upiv1.Resp{ReqMsgId: first.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
	}
	l.accept(mRspSync, late)
	// The beneficiary is silent once too.
	l.advance(l.net.Timeouts.Credit)
	credit2 := l.awaitWhere(mBenSync, batch, 2, sub(upiv1.Txn_CREDIT))
	assert.Equal(t, credit.Msg.(*upiv1.ReqLiteSync).GetRecords(), credit2.Msg.(*upiv1.ReqLiteSync).GetRecords())
	l.bankAnswer(credit2, nil)
	// Answered PENDING at sync_answer, long before; the records are
	// decided since.
	for _, r := range l.answerOf(batch, 1).GetResults() {
		assert.Equal(t, upiv1.Resp_PENDING, r.GetResult())
	}
	l.confirm(batch)
	for _, c := range []uint64{1, 2} {
		assert.Equal(t, upiv1.Resp_SUCCESS.String(), l.counter(c).GetStatus())
		assert.NotEmpty(t, l.counter(c).GetUtr())
	}
	assert.Equal(t, int64(97000), l.account().BalancePaise)
	assert.Equal(t, int64(3000), l.account().OfflinePaise, "posted once")
}

func TestLiteSyncCreditFailureReverses(t *testing.T) {
	l := newLiteSync(t, 100000, nil)
	batch := l.sync(l.record(1, bob, 1000), l.record(2, bob, 2000))
	l.post(batch, map[string]string{bob: bobAc}, 1, 0)
	credit := l.awaitWhere(mBenSync, batch, 1, sub(upiv1.Txn_CREDIT))
	assert.Equal(t, int64(97000), l.account().BalancePaise)
	l.bankAnswer(credit, map[uint64]string{2: upi.CodeCreditFailed})

	rev := l.awaitWhere(mRemSync, batch, 1, sub(upiv1.Txn_REVERSAL))
	require.Len(t, rev.Msg.(*upiv1.ReqLiteSync).GetRecords(), 1)
	assert.Equal(t, uint64(2), rev.Msg.(*upiv1.ReqLiteSync).GetRecords()[0].GetCounter())
	assert.Empty(t, l.sent(mPspSync, batch, upiv1.Txn_TYPE_UNSPECIFIED), "not answered before the reversal is")
	l.bankAnswer(rev, nil)

	res := l.answerOf(batch, 1).GetResults()
	assert.Equal(t, upiv1.Resp_SUCCESS, res[0].GetResult())
	assert.Equal(t, upiv1.Resp_FAILURE, res[1].GetResult())
	assert.Equal(t, upi.CodeCreditFailed, res[1].GetErrCode())
	assert.Empty(t, res[1].GetUtr())
	assert.Equal(t, int64(99000), l.account().BalancePaise, "the reversed money is back on the LRN")
	assert.Equal(t, int64(1000), l.account().OfflinePaise)
	conf := l.awaitWhere(mConfirm, batch, 1, nil).Msg.(*upiv1.ReqTxnConfirmation)
	require.Len(t, conf.GetLiteRecords(), 1, "only the SUCCESS record is confirmed")
	assert.Equal(t, uint64(1), conf.GetLiteRecords()[0].GetCounter())
}

func TestLiteSyncAnswersPendingAtTheDeadline(t *testing.T) {
	l := newLiteSync(t, 100000, nil)
	r1 := l.record(1, bob, 1000)
	batch := l.sync(r1)
	l.resolve(batch, bob, bobAc)
	debit := l.awaitWhere(mRemSync, batch, 1, sub(upiv1.Txn_DEBIT))
	l.advance(l.net.Lite.SyncAnswer)
	ans := l.answerOf(batch, 1)
	assert.Equal(t, upiv1.Resp_PENDING, ans.GetResults()[0].GetResult())

	l.bankAnswer(debit, nil)
	l.bankAnswer(l.awaitWhere(mBenSync, batch, 1, sub(upiv1.Txn_CREDIT)), nil)
	l.confirm(batch)
	l.eventually(func() bool { return l.batchState(batch) == batchClosed }, "batch closed")
	assert.Len(t, l.sent(mPspSync, batch, upiv1.Txn_TYPE_UNSPECIFIED), 1, "answered once")
	assert.Equal(t, upiv1.Resp_SUCCESS.String(), l.counter(1).GetStatus())

	// The device syncs its PENDING record again: SUCCESS now.
	res := l.answerOf(l.sync(r1), 1).GetResults()[0]
	assert.Equal(t, upiv1.Resp_SUCCESS, res.GetResult())
	assert.Equal(t, l.counter(1).GetUtr(), res.GetUtr())
}

func TestLiteSyncSplitAndReordered(t *testing.T) {
	l := newLiteSync(t, 100000, nil)
	r1, r2, r3 := l.record(1, bob, 1000), l.record(2, bob, 2000), l.record(3, bob, 3000)
	first := l.sync(r2, r1)
	l.post(first, map[string]string{bob: bobAc}, 1, 1)
	a1 := l.answerOf(first, 1).GetResults()

	second := l.sync(r3, r2)
	l.resolve(second, bob, bobAc)
	debit := l.awaitWhere(mRemSync, second, 1, sub(upiv1.Txn_DEBIT))
	require.Len(t, debit.Msg.(*upiv1.ReqLiteSync).GetRecords(), 1, "only the new record")
	assert.Equal(t, uint64(3), debit.Msg.(*upiv1.ReqLiteSync).GetRecords()[0].GetCounter())
	l.bankAnswer(debit, nil)
	l.bankAnswer(l.awaitWhere(mBenSync, second, 1, sub(upiv1.Txn_CREDIT)), nil)
	a2 := l.answerOf(second, 1).GetResults()
	assert.Equal(t, uint64(3), a2[0].GetCounter())
	assert.Equal(t, upiv1.Resp_SUCCESS, a2[0].GetResult())
	assert.Equal(t, a1[0].GetUtr(), a2[1].GetUtr(), "counter 2 keeps its UTR")
	assert.Equal(t, first, a2[1].GetBatchTxnId())
	assert.Equal(t, int64(94000), l.account().BalancePaise)

	// An empty batch is a resync: answered at once with the balance.
	resync := l.sync()
	ans := l.answerOf(resync, 1)
	assert.Empty(t, ans.GetResults())
	bal, ok := balanceOf(ans, testLRN)
	assert.True(t, ok)
	assert.Equal(t, int64(94000), bal)
}

// checkExactlyOnce asserts, once a test is done and the switch quiet, the
// sync flow's invariant: every offline record of testLRN is in one final
// state; a SUCCESS was debited and credited, with its UTR indexed; a U31
// was debited and reversed; any other FAILURE was never posted; and the
// switch's balance is the bank's, its offline_paise the records posted.
func (l *liteSync) checkExactlyOnce() {
	t := l.t
	nodetest.Quiesce(t, l.n)
	var posted int64
	require.NoError(t, l.n.View(func(tx *store.Tx) error {
		return liteRecords.Scan(tx, testLRN+"/", func(_ string, r *liteRecord) (bool, error) {
			if r.Kind != lite.KindOffline {
				return true, nil
			}
			p := l.posts[r.Counter]
			if r.State != recFinal {
				// Still being posted (a test that stops mid-way): at most
				// debited.
				assert.Zero(t, p[upiv1.Txn_CREDIT]+p[upiv1.Txn_REVERSAL], "counter %d not final but credited or reversed", r.Counter)
				return true, nil
			}
			switch {
			case r.Status == upiv1.Resp_SUCCESS.String():
				assert.Equal(t, map[upiv1.Txn_Type]int{upiv1.Txn_DEBIT: 1, upiv1.Txn_CREDIT: 1}, p, "counter %d SUCCESS", r.Counter)
				assert.Equal(t, liteRRNPrefix+recKey(r.Lrn, r.Counter), string(tx.Get(store.RRNs, []byte(r.Utr))), "counter %d's UTR", r.Counter)
				posted += r.GetRecord().GetAmountPaise()
			case r.ErrCode == upi.CodeCreditFailed:
				assert.Empty(t, r.Utr)
				assert.Equal(t, 1, p[upiv1.Txn_DEBIT], "counter %d U31 debited", r.Counter)
				assert.Equal(t, 1, p[upiv1.Txn_REVERSAL], "counter %d U31 reversed", r.Counter)
			default:
				assert.Empty(t, r.Utr)
				assert.Zero(t, p[upiv1.Txn_DEBIT]+p[upiv1.Txn_CREDIT], "counter %d FAILURE %s posted", r.Counter, r.ErrCode)
			}
			return true, nil
		})
	}))
	a := l.account()
	assert.Equal(t, posted, a.OfflinePaise, "offline_paise is what was posted")
	assert.Equal(t, l.topup-posted, l.bank, "the bank's balance is the top-up less what was posted")
	held := int64(0)
	require.NoError(t, l.n.View(func(tx *store.Tx) error {
		staged := newStaged(tx)
		return liteRecords.Scan(tx, testLRN+"/", func(_ string, r *liteRecord) (bool, error) {
			state, err := staged.state(r)
			if r.Kind == lite.KindOffline && (state == recClaimed || state == recDebitSent) {
				held += r.GetRecord().GetAmountPaise()
			}
			return err == nil, err
		})
	}))
	if held == 0 {
		assert.Equal(t, l.bank, a.BalancePaise, "the switch's balance is the bank's")
	}
}

func TestLiteSyncConfirmsEachPayeePSP(t *testing.T) {
	l := newLiteSync(t, 100000, nil)
	const nomandate, nomandateAc = "nomandate@alpha", "1000000901"
	batch := l.sync(l.record(1, bob, 1000), l.record(2, nomandate, 2000))
	l.resolve(batch, bob, bobAc)
	req := l.awaitWhere(mAuth, batch, 1, func(s nodetest.Sent) bool { return s.To == "alphapsp" })
	l.accept(upiv1.SwitchService_RespAuthDetails_FullMethodName, &upiv1.RespAuthDetails{
		Head: l.head("alphapsp"), Txn: &upiv1.Txn{Id: batch, Type: upiv1.Txn_LITE_SYNC},
		Payee: &upiv1.Party{Addr: nomandate, Ac: &upiv1.Account{AcNum: nomandateAc, Ifsc: aliceIFSC}},
		Resp:  &upiv1.Resp{ReqMsgId: req.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
	})
	l.bankAnswer(l.awaitWhere(mRemSync, batch, 1, sub(upiv1.Txn_DEBIT)), nil)
	credits := map[string]bool{}
	for k := 1; k <= 2; k++ {
		c := l.awaitWhere(mBenSync, batch, k, sub(upiv1.Txn_CREDIT))
		credits[c.To] = true
		l.bankAnswer(c, nil)
	}
	assert.Equal(t, map[string]bool{"abank": true, "bbank": true}, credits, "one CREDIT sub-batch per beneficiary")
	got := map[string]uint64{}
	for k := 1; k <= 2; k++ {
		c := l.awaitWhere(mConfirm, batch, k, nil)
		recs := c.Msg.(*upiv1.ReqTxnConfirmation).GetLiteRecords()
		require.Len(t, recs, 1)
		got[c.To] = recs[0].GetCounter()
		// A PSP leaving the type out of its answer is still heard.
		l.accept(upiv1.SwitchService_RespTxnConfirmation_FullMethodName, &upiv1.RespTxnConfirmation{
			Head: l.head(c.To), Txn: &upiv1.Txn{Id: batch},
			Resp: &upiv1.Resp{ReqMsgId: c.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
		})
	}
	assert.Equal(t, map[string]uint64{"betapsp": 1, "alphapsp": 2}, got)
	l.eventually(func() bool { return l.batchState(batch) == batchClosed }, "batch closed once both answered")
}

func TestLiteSyncRefusesBadBatches(t *testing.T) {
	l := newLiteSync(t, 100000, nil)
	good := func() *upiv1.ReqLiteSync {
		return &upiv1.ReqLiteSync{
			Head: l.head("alphapsp"), Txn: &upiv1.Txn{Id: ids.NewTxnID("ALP"), Type: upiv1.Txn_LITE_SYNC},
			Lrn: testLRN, UserAddr: alice, Records: []*upiv1.LiteRecord{l.record(1, bob, 100)},
		}
	}
	for name, tc := range map[string]struct {
		bad  func(*upiv1.ReqLiteSync)
		want string
	}{
		"type":      {func(m *upiv1.ReqLiteSync) { m.Txn.Type = upiv1.Txn_PAY }, "LITE_SYNC"},
		"user":      {func(m *upiv1.ReqLiteSync) { m.UserAddr = bob }, "not a user of alphapsp"},
		"no user":   {func(m *upiv1.ReqLiteSync) { m.UserAddr = "" }, "user_addr"},
		"signature": {func(m *upiv1.ReqLiteSync) { m.Records[0].Signature = nil }, "signature"},
		"counter":   {func(m *upiv1.ReqLiteSync) { m.Records[0].Counter = 0 }, "counter"},
		"amount":    {func(m *upiv1.ReqLiteSync) { m.Records[0].AmountPaise = -5 }, "amount_paise"},
		"ts":        {func(m *upiv1.ReqLiteSync) { m.Records[0].Ts = nil }, "ts"},
	} {
		m := good()
		tc.bad(m)
		ack := l.receive(mReqSync, m)
		assert.Contains(t, ack.GetErr(), tc.want, name)
	}
	// A stage answer the switch never asked for is refused.
	ack := l.receive(mRspSync, &upiv1.RespLiteSync{
		Head: l.head("abank"), Txn: &upiv1.Txn{Id: ids.NewTxnID("ALP"), Type: upiv1.Txn_LITE_SYNC, SubType: upiv1.Txn_DEBIT},
		Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	})
	assert.Contains(t, ack.GetErr(), "no Lite sync batch")
}

// A forged record that reaches the switch first does not take the
// counter from the device's own: while the remitter has not checked it,
// the genuine record waits (PENDING, not LC); once the remitter refuses
// the forgery (LQ) the counter is free and the genuine one is posted.
func TestLiteSyncForgeryTakesNoCounter(t *testing.T) {
	l := newLiteSync(t, 100000, nil)
	genuine := l.record(1, bob, 1000)
	forged := proto.Clone(genuine).(*upiv1.LiteRecord)
	forged.AmountPaise = 90000 // not re-signed: its signature fails at the remitter

	fb := l.sync(forged)
	l.resolve(fb, bob, bobAc)
	debit := l.awaitWhere(mRemSync, fb, 1, sub(upiv1.Txn_DEBIT))

	gb := l.sync(genuine) // while the forgery is with the remitter
	res := l.answerOf(gb, 1).GetResults()
	require.Len(t, res, 1)
	assert.Equal(t, upiv1.Resp_PENDING, res[0].GetResult(), "the genuine record waits: %v", res[0])
	assert.Contains(t, res[0].GetReason(), "not yet checked by the remitter")

	l.bankAnswer(debit, map[uint64]string{1: upi.CodeLiteCryptogram})
	fres := l.answerOf(fb, 1).GetResults()
	assert.Equal(t, upi.CodeLiteCryptogram, fres[0].GetErrCode())
	assert.Equal(t, int64(100000), l.account().BalancePaise, "the forgery's hold is back")

	again := l.sync(genuine)
	l.resolve(again, bob, bobAc)
	l.bankAnswer(l.awaitWhere(mRemSync, again, 1, sub(upiv1.Txn_DEBIT)), nil)
	l.bankAnswer(l.awaitWhere(mBenSync, again, 1, sub(upiv1.Txn_CREDIT)), nil)
	res = l.answerOf(again, 1).GetResults()
	assert.Equal(t, upiv1.Resp_SUCCESS, res[0].GetResult(), "the device's own record is posted")
	assert.Empty(t, l.counter(1).GetDoubleSpends())

	// The forgery again, now that the genuine record is posted: LC.
	res = l.answerOf(l.sync(forged), 1).GetResults()
	assert.Equal(t, upi.CodeLiteReplay, res[0].GetErrCode())
}

// A stage names its records by their items in the batch; a batch stored
// before stages had items (its stages' record keys) is resent and decided
// just the same.
func TestLiteSyncStagesNameItemsAndReadOldKeys(t *testing.T) {
	l := newLiteSync(t, 100000, nil)
	batch := l.sync(l.record(1, bob, 1000), l.record(2, bob, 2000))
	l.resolve(batch, bob, bobAc)
	first := l.awaitWhere(mRemSync, batch, 1, sub(upiv1.Txn_DEBIT))
	require.NoError(t, l.n.Update(func(c *node.Ctx) error {
		b, err := loadBatch(c.Tx, batch)
		if err != nil {
			return err
		}
		require.Len(t, b.Stages, 1)
		st := b.Stages[0]
		assert.Equal(t, []uint32{0, 1}, st.Items)
		assert.Empty(t, st.Keys)
		// As the switch stored it before items.
		for _, i := range st.Items {
			st.Keys = append(st.Keys, recKey(b.Items[i].Lrn, b.Items[i].Counter))
		}
		st.Items = nil
		return saveBatch(c, b)
	}))
	l.advance(l.net.Timeouts.Debit) // the remitter is silent
	again := l.awaitWhere(mRemSync, batch, 2, sub(upiv1.Txn_DEBIT))
	assert.Equal(t, first.Msg.(*upiv1.ReqLiteSync).GetRecords(), again.Msg.(*upiv1.ReqLiteSync).GetRecords(), "the same records")
	l.bankAnswer(again, nil)
	l.bankAnswer(l.awaitWhere(mBenSync, batch, 1, sub(upiv1.Txn_CREDIT)), nil)
	l.confirm(batch)
	for _, c := range []uint64{1, 2} {
		assert.Equal(t, upiv1.Resp_SUCCESS.String(), l.counter(c).GetStatus())
	}
	assert.Equal(t, int64(3000), l.account().OfflinePaise, "posted once")
}
