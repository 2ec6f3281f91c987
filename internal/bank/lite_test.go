package bank_test

import (
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/remitter"
)

const (
	lrn1        = "LRN0000000001"
	liteIFSC    = "ABNK0000001"
	remSync     = upiv1.RemitterService_ReqLiteSync_FullMethodName
	benSync     = upiv1.BeneficiaryService_ReqLiteSync_FullMethodName
	remConfirm  = upiv1.RemitterService_ReqTxnConfirmation_FullMethodName
	respSync    = upiv1.SwitchService_RespLiteSync_FullMethodName
	respConfirm = upiv1.SwitchService_RespTxnConfirmation_FullMethodName
)

// devKey is the device dev-1's key, as the TPAP derives it.
var devKey = func() ed25519.PrivateKey {
	k, err := lite.DeviceKey([]byte("test"), "dev-1")
	if err != nil {
		panic(err)
	}
	return k
}()

// newLiteBank is abank on clock, with the pool's invariant checked at the
// end of the test too.
func newLiteBank(t *testing.T, clock *nodetest.Clock) *bankNode {
	t.Helper()
	ab := newBank(t, "abank", nodetest.WithClock(clock))
	t.Cleanup(func() { ab.checkPool() })
	return ab
}

// topUpCredit is the switch's CREDIT of a top-up (purpose 41 or 42) of lrn.
func topUpCredit(txnID, purpose, lrn string, amount int64) *upiv1.ReqPay {
	return &upiv1.ReqPay{
		Head:  nodetest.Head("npci", "NPC"),
		Txn:   &upiv1.Txn{Id: txnID, Type: upiv1.Txn_CREDIT, Purpose: purpose, CustRef: "512345000009"},
		Payer: &upiv1.Party{Addr: "alice@alpha", Ac: &upiv1.Account{AcNum: aliceAc, Ifsc: liteIFSC}, AmountPaise: amount},
		Payee: &upiv1.Party{Addr: lrn + "@lite", Ac: &upiv1.Account{AcNum: lrn, Ifsc: liteIFSC}, AmountPaise: amount},
		Lite: &upiv1.LiteInfo{Lrn: lrn, DeviceId: "dev-1", DeviceKey: devKey.Public().(ed25519.PublicKey),
			Ac: &upiv1.Account{AcNum: aliceAc, Ifsc: liteIFSC}},
	}
}

// transferOut is the switch's DEBIT of a transfer-out (46) from lrn: no PIN.
func transferOut(txnID, lrn string, amount int64) *upiv1.ReqPay {
	return &upiv1.ReqPay{
		Head:  nodetest.Head("npci", "NPC"),
		Txn:   &upiv1.Txn{Id: txnID, Type: upiv1.Txn_DEBIT, Purpose: lite.PurposeTransferOut, CustRef: "512345000010"},
		Payer: &upiv1.Party{Addr: lrn + "@lite", Ac: &upiv1.Account{AcNum: lrn, Ifsc: liteIFSC}, AmountPaise: amount},
		Payee: &upiv1.Party{Addr: "alice@alpha", Ac: &upiv1.Account{AcNum: aliceAc, Ifsc: liteIFSC}},
		Lite:  &upiv1.LiteInfo{Lrn: lrn, DeviceId: "dev-1", Counter: 1},
	}
}

// topUp credits lrn with amount (41 the first time) and checks it.
func (bn *bankNode) topUp(purpose, lrn string, amount int64) string {
	bn.t.Helper()
	txn := ids.NewTxnID("ALP")
	require.Empty(bn.t, bn.send(benPay, topUpCredit(txn, purpose, lrn, amount)))
	r := bn.respPay(txn, 1)
	require.Equal(bn.t, upiv1.Resp_SUCCESS, r.GetResp().GetResult(), r.GetResp().GetErrCode())
	bn.checkPool()
	return txn
}

// account is the bank's record of LRN lrn.
func (bn *bankNode) liteAccount(lrn string) *upiv1.LiteAccount {
	bn.t.Helper()
	l, err := bn.b.ListLite(lrn, true)
	require.NoError(bn.t, err)
	require.Len(bn.t, l, 1, "LRN %s", lrn)
	return l[0]
}

func (bn *bankNode) pool() int64 {
	bn.t.Helper()
	l, err := bn.b.ListAccounts()
	require.NoError(bn.t, err)
	for _, a := range l.GetAccounts() {
		if a.GetAcNum() == remitter.LitePool {
			require.Equal(bn.t, "LITE_POOL", a.GetKind())
			return a.GetBalancePaise()
		}
	}
	bn.t.Fatal("no Lite pool")
	return 0
}

// checkPool checks that the Lite pool holds the sum of the LRNs' balances.
func (bn *bankNode) checkPool() {
	bn.t.Helper()
	l, err := bn.b.ListLite("", false)
	require.NoError(bn.t, err)
	var sum int64
	for _, a := range l {
		sum += a.GetBalancePaise()
	}
	assert.Equal(bn.t, sum, bn.pool(), "the Lite pool is the sum of the LRNs' balances")
}

// postings is every posting of the bank by ref.
func (bn *bankNode) postings() map[string]*upiv1.Posting {
	bn.t.Helper()
	ps, _, err := bn.b.ListPostings("", 10_000)
	require.NoError(bn.t, err)
	out := map[string]*upiv1.Posting{}
	for _, p := range ps {
		out[p.GetRef()] = p
	}
	return out
}

// answer waits for the n-th message on method for txnID.
func (bn *bankNode) answer(method, txnID string, n int) node.Message {
	bn.t.Helper()
	require.Eventually(bn.t, func() bool { return bn.rec.Count(method, txnID) >= n }, 5*time.Second, 5*time.Millisecond)
	var out []node.Message
	for _, s := range bn.rec.All() {
		if s.Method == method && s.Msg.GetTxn().GetId() == txnID {
			out = append(out, s.Msg)
		}
	}
	return out[n-1]
}

// record is counter of LRN lrn, amount to bob at ts, signed by key.
func record(key ed25519.PrivateKey, lrn string, counter uint64, amount int64, ts time.Time) *upiv1.LiteRecord {
	r := &upiv1.LiteRecord{
		Lrn: lrn, DeviceId: "dev-1", Counter: counter, ProvisionalUtr: lite.ProvisionalUTR(lrn, counter),
		PayerAddr: "alice@alpha", PayeeAddr: "bob@beta", AmountPaise: amount, Ts: timestamppb.New(ts),
		PayeeDeviceId: "pos-1",
	}
	lite.SignRecord(key, r)
	return r
}

func syncBatch(sub upiv1.Txn_Type, lrn string, recs ...*upiv1.LiteRecord) *upiv1.ReqLiteSync {
	return &upiv1.ReqLiteSync{
		Head: nodetest.Head("npci", "NPC"),
		Txn:  &upiv1.Txn{Id: ids.NewTxnID("NPC"), Type: upiv1.Txn_LITE_SYNC, SubType: sub},
		Lrn:  lrn, DeviceId: "dev-1", Records: recs,
	}
}

// sync sends m and returns the bank's answer.
func (bn *bankNode) sync(method string, m *upiv1.ReqLiteSync, n int) *upiv1.RespLiteSync {
	bn.t.Helper()
	require.Empty(bn.t, bn.send(method, m))
	r := bn.answer(respSync, m.GetTxn().GetId(), n).(*upiv1.RespLiteSync)
	assert.Equal(bn.t, m.GetHead().GetMsgId(), r.GetResp().GetReqMsgId())
	assert.Equal(bn.t, upiv1.Resp_SUCCESS, r.GetResp().GetResult())
	require.Len(bn.t, r.GetResults(), len(m.GetRecords()))
	for i, res := range r.GetResults() {
		rec := m.GetRecords()[i]
		assert.Equal(bn.t, rec.GetLrn(), res.GetLrn(), "results[%d] names its record", i)
		assert.Equal(bn.t, rec.GetCounter(), res.GetCounter(), "results[%d] names its record", i)
		lean := &upiv1.LiteRecordResult{Lrn: res.Lrn, Counter: res.Counter, Result: res.Result, ErrCode: res.ErrCode, Reason: res.Reason}
		assert.True(bn.t, proto.Equal(lean, res), "results[%d] carries only the record's identity and outcome: %v", i, res)
	}
	bn.checkPool()
	return r
}

// outcomes are the results of r: "SUCCESS" or the code of a FAILURE.
func outcomes(r *upiv1.RespLiteSync) []string {
	var out []string
	for _, x := range r.GetResults() {
		if x.GetResult() == upiv1.Resp_SUCCESS {
			out = append(out, "SUCCESS")
		} else {
			out = append(out, x.GetErrCode())
		}
	}
	return out
}

func TestLiteTopUp(t *testing.T) {
	ab := newLiteBank(t, nodetest.NewClock(time.Now()))
	settle0 := ab.balance("alice@alpha")
	assert.Zero(t, ab.pool(), "the pool opens at zero")

	// The initial top-up's DEBIT is an ordinary one, with the PIN; its
	// CREDIT goes into the pool and opens the LRN.
	txn := ids.NewTxnID("ALP")
	d := debit(txn, "alice@alpha", aliceAc, liteIFSC, 50_000)
	d.Txn.Purpose = lite.PurposeInitialTopUp
	require.Empty(t, ab.send(remPay, d))
	require.Equal(t, upiv1.Resp_SUCCESS, ab.respPay(txn, 1).GetResp().GetResult())
	c := topUpCredit(txn, lite.PurposeInitialTopUp, lrn1, 50_000)
	require.Empty(t, ab.send(benPay, c))
	r := ab.respPay(txn, 2)
	require.Equal(t, upiv1.Resp_SUCCESS, r.GetResp().GetResult())
	assert.Equal(t, "PAYEE", r.GetResp().GetRefs()[0].GetType())
	assert.Len(t, r.GetResp().GetRefs()[0].GetApprovalNum(), 6)
	assert.Equal(t, settle0-50_000, ab.balance("alice@alpha"))
	assert.Equal(t, int64(50_000), ab.pool())
	a := ab.liteAccount(lrn1)
	assert.Equal(t, "ACTIVE", a.GetState())
	assert.Equal(t, "alice@alpha", a.GetVpa())
	assert.Equal(t, "dev-1", a.GetDeviceId())
	assert.Equal(t, "abank", a.GetBank())
	assert.Equal(t, int64(50_000), a.GetBalancePaise())
	assert.Equal(t, int64(50_000), a.GetTopupsPaise())
	p := ab.postings()["CREDIT:"+txn]
	require.NotNil(t, p)
	assert.Equal(t, "SETTLEMENT-ABNK0000001", p.GetFromAcNum())
	assert.Equal(t, remitter.LitePool, p.GetToAcNum())
	assert.Equal(t, "DEBITED+CREDITED", ab.state(txn))

	// The CREDIT again (a new msg id): the same answer, nothing posted.
	c.Head = nodetest.Head("npci", "NPC")
	require.Empty(t, ab.send(benPay, c))
	assert.Equal(t, r.GetResp().GetRefs()[0].GetApprovalNum(), ab.respPay(txn, 3).GetResp().GetRefs()[0].GetApprovalNum())
	assert.Equal(t, int64(50_000), ab.pool())

	// A top-up (42) adds to it.
	ab.topUp(lite.PurposeTopUp, lrn1, 20_000)
	a = ab.liteAccount(lrn1)
	assert.Equal(t, int64(70_000), a.GetBalancePaise())
	assert.Equal(t, int64(70_000), a.GetTopupsPaise())
	assert.Len(t, a.GetTxnIds(), 2)

	// 42 of an LRN the bank does not have: FAILURE LR, nothing moves.
	txn = ids.NewTxnID("ALP")
	require.Empty(t, ab.send(benPay, topUpCredit(txn, lite.PurposeTopUp, "LRN0000000099", 10_000)))
	r = ab.respPay(txn, 1)
	assert.Equal(t, upiv1.Resp_FAILURE, r.GetResp().GetResult())
	assert.Equal(t, "LR", r.GetResp().GetErrCode())
	assert.Equal(t, int64(70_000), ab.pool())
	l, err := ab.b.ListLite("LRN0000000099", false)
	require.NoError(t, err)
	assert.Empty(t, l, "a failed 42 opens no LRN")

	// A 41 without the device's key is refused in the Ack.
	bad := topUpCredit(ids.NewTxnID("ALP"), lite.PurposeInitialTopUp, "LRN0000000002", 10_000)
	bad.Lite.DeviceKey = nil
	assert.Contains(t, ab.send(benPay, bad), "device_key")
	// So is a CREDIT whose lite.lrn is not the payee's account.
	bad = topUpCredit(ids.NewTxnID("ALP"), lite.PurposeTopUp, lrn1, 10_000)
	bad.Lite.Lrn = "LRN0000000003"
	assert.Contains(t, ab.send(benPay, bad), "differs from payee.ac.ac_num")
}

func TestLiteTransferOut(t *testing.T) {
	ab := newLiteBank(t, nodetest.NewClock(time.Now()))
	ab.topUp(lite.PurposeInitialTopUp, lrn1, 50_000)
	settlement := func() int64 { return ab.postingsBalance() }
	s0 := settlement()

	// 46: no PIN; the pool to settlement and off the LRN.
	txn := ids.NewTxnID("ALP")
	require.Empty(t, ab.send(remPay, transferOut(txn, lrn1, 20_000)))
	r := ab.respPay(txn, 1)
	require.Equal(t, upiv1.Resp_SUCCESS, r.GetResp().GetResult(), r.GetResp().GetErrCode())
	assert.Equal(t, lrn1, r.GetResp().GetRefs()[0].GetAc().GetAcNum())
	ab.checkPool()
	a := ab.liteAccount(lrn1)
	assert.Equal(t, int64(30_000), a.GetBalancePaise())
	assert.Equal(t, int64(20_000), a.GetTransfersPaise())
	p := ab.postings()["DEBIT:"+txn]
	require.NotNil(t, p)
	assert.Equal(t, remitter.LitePool, p.GetFromAcNum())
	assert.Equal(t, "SETTLEMENT-ABNK0000001", p.GetToAcNum())
	assert.Equal(t, s0+20_000, settlement())

	// Its status check answers as for any DEBIT.
	require.Empty(t, ab.send(upiv1.RemitterService_ReqChkTxn_FullMethodName, &upiv1.ReqChkTxn{
		Head: nodetest.Head("npci", "NPC"),
		Txn:  &upiv1.Txn{Id: txn, Type: upiv1.Txn_CHK_STATUS, OrgTxnId: txn, SubType: upiv1.Txn_DEBIT},
	}))
	chk := ab.answer(upiv1.SwitchService_RespChkTxn_FullMethodName, txn, 1).(*upiv1.RespChkTxn)
	assert.Equal(t, upiv1.Resp_SUCCESS, chk.GetResp().GetResult())
	assert.Equal(t, int64(20_000), chk.GetResp().GetRefs()[0].GetSettAmountPaise())

	// Its REVERSAL puts it back on the LRN, once.
	rev := reversal(txn)
	rev.Payer = &upiv1.Party{Addr: lrn1 + "@lite", Ac: &upiv1.Account{AcNum: lrn1, Ifsc: liteIFSC}}
	require.Empty(t, ab.send(remPay, rev))
	rr := ab.respPay(txn, 2)
	assert.Equal(t, "00", rr.GetResp().GetRefs()[0].GetReversalRespCode())
	assert.Equal(t, lrn1, rr.GetResp().GetRefs()[0].GetAc().GetAcNum())
	rev.Head = nodetest.Head("npci", "NPC")
	require.Empty(t, ab.send(remPay, rev))
	ab.respPay(txn, 3)
	ab.checkPool()
	a = ab.liteAccount(lrn1)
	assert.Equal(t, int64(50_000), a.GetBalancePaise())
	assert.Zero(t, a.GetTransfersPaise())
	p = ab.postings()["REVERSAL:"+txn]
	require.NotNil(t, p)
	assert.Equal(t, remitter.LitePool, p.GetToAcNum())
	assert.Equal(t, s0, settlement())
	assert.Equal(t, "DEBITED+REVERSED", ab.state(txn))

	// More than the LRN holds: Z9; an LRN the bank does not have: LR.
	for _, tc := range []struct {
		lrn    string
		amount int64
		code   string
	}{{lrn1, 50_001, "Z9"}, {"LRN0000000099", 100, "LR"}} {
		txn := ids.NewTxnID("ALP")
		require.Empty(t, ab.send(remPay, transferOut(txn, tc.lrn, tc.amount)))
		r := ab.respPay(txn, 1)
		assert.Equal(t, upiv1.Resp_FAILURE, r.GetResp().GetResult())
		assert.Equal(t, tc.code, r.GetResp().GetErrCode())
	}
	assert.Equal(t, int64(50_000), ab.pool())
	assert.Equal(t, s0, settlement())
}

// postingsBalance is the balance of abank's settlement account.
func (bn *bankNode) postingsBalance() int64 {
	bn.t.Helper()
	l, err := bn.b.ListAccounts()
	require.NoError(bn.t, err)
	for _, a := range l.GetAccounts() {
		if a.GetKind() == "SETTLEMENT" {
			return a.GetBalancePaise()
		}
	}
	bn.t.Fatal("no settlement account")
	return 0
}

func confirmation(txnID, purpose, lrn string, amount int64, state string) *upiv1.ReqTxnConfirmation {
	return &upiv1.ReqTxnConfirmation{
		Head: nodetest.Head("npci", "NPC"),
		Txn:  &upiv1.Txn{Id: txnID, Type: upiv1.Txn_PAY, Purpose: purpose},
		Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
		Lite: &upiv1.LiteInfo{Lrn: lrn, AmountPaise: amount, State: state},
	}
}

func (bn *bankNode) confirm(m *upiv1.ReqTxnConfirmation, n int) *upiv1.RespTxnConfirmation {
	bn.t.Helper()
	require.Empty(bn.t, bn.send(remConfirm, m))
	r := bn.answer(respConfirm, m.GetTxn().GetId(), n).(*upiv1.RespTxnConfirmation)
	assert.Equal(bn.t, m.GetHead().GetMsgId(), r.GetResp().GetReqMsgId())
	bn.checkPool()
	return r
}

func TestLiteConfirmation(t *testing.T) {
	ab := newLiteBank(t, nodetest.NewClock(time.Now()))
	ab.topUp(lite.PurposeInitialTopUp, lrn1, 50_000)
	s0 := ab.postingsBalance()

	// 44, sent twice: posted once.
	txn := ids.NewTxnID("ALP")
	for i := 1; i <= 2; i++ {
		r := ab.confirm(confirmation(txn, lite.PurposeOnlinePay, lrn1, 15_000, ""), i)
		assert.Equal(t, upiv1.Resp_SUCCESS, r.GetResp().GetResult())
	}
	a := ab.liteAccount(lrn1)
	assert.Equal(t, int64(35_000), a.GetBalancePaise())
	assert.Equal(t, int64(15_000), a.GetOnlinePaise())
	assert.Contains(t, a.GetTxnIds(), txn)
	p := ab.postings()["DEBIT:"+txn]
	require.NotNil(t, p)
	assert.Equal(t, remitter.LitePool, p.GetFromAcNum())
	assert.Equal(t, s0+15_000, ab.postingsBalance())

	// A REVERSAL of a confirmed online payment moves nothing (no DEBIT leg).
	rev := reversal(txn)
	require.Empty(t, ab.send(remPay, rev))
	assert.Equal(t, "NA", ab.respPay(txn, 1).GetResp().GetRefs()[0].GetReversalRespCode())
	assert.Equal(t, int64(35_000), ab.pool())

	// An unknown LRN: FAILURE LR; a malformed one is refused.
	r := ab.confirm(confirmation(ids.NewTxnID("ALP"), lite.PurposeOnlinePay, "LRN0000000099", 100, ""), 1)
	assert.Equal(t, upiv1.Resp_FAILURE, r.GetResp().GetResult())
	assert.Equal(t, "LR", r.GetResp().GetErrCode())
	assert.Contains(t, ab.send(remConfirm, confirmation(ids.NewTxnID("ALP"), lite.PurposeOnlinePay, lrn1, 0, "")), "amount_paise > 0")
	assert.Contains(t, ab.send(remConfirm, confirmation(ids.NewTxnID("ALP"), lite.PurposeZeroDisable, lrn1, 0, "")), "DISABLED")
	assert.Contains(t, ab.send(remConfirm, confirmation(ids.NewTxnID("ALP"), "00", lrn1, 0, "")), "purpose")

	// 43 and 50 disable the LRN; a top-up of it is then LR.
	for i, purpose := range []string{lite.PurposeDisable, lite.PurposeZeroDisable} {
		lrn := fmt.Sprintf("LRN00000001%02d", i)
		ab.topUp(lite.PurposeInitialTopUp, lrn, 100)
		r := ab.confirm(confirmation(ids.NewTxnID("ALP"), purpose, lrn, 0, lite.StateDisabled), 1)
		assert.Equal(t, upiv1.Resp_SUCCESS, r.GetResp().GetResult())
		assert.Equal(t, "DISABLED", ab.liteAccount(lrn).GetState())
		txn := ids.NewTxnID("ALP")
		require.Empty(t, ab.send(benPay, topUpCredit(txn, lite.PurposeTopUp, lrn, 100)))
		assert.Equal(t, "LR", ab.respPay(txn, 1).GetResp().GetErrCode())
		txn = ids.NewTxnID("ALP")
		require.Empty(t, ab.send(remPay, transferOut(txn, lrn, 100)))
		assert.Equal(t, "LR", ab.respPay(txn, 1).GetResp().GetErrCode())
	}
}

func TestLiteSync(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := nodetest.NewClock(now)
	ab := newLiteBank(t, clock)
	ab.topUp(lite.PurposeInitialTopUp, lrn1, 100_000)
	s0 := ab.postingsBalance()

	// Two good records: each posted once, the balance in the answer.
	r1, r2 := record(devKey, lrn1, 1, 10_000, now.Add(-time.Hour)), record(devKey, lrn1, 2, 20_000, now.Add(-time.Minute))
	m := syncBatch(upiv1.Txn_DEBIT, lrn1, r1, r2)
	resp := ab.sync(remSync, m, 1)
	assert.Equal(t, []string{"SUCCESS", "SUCCESS"}, outcomes(resp))
	assert.Equal(t, m.GetTxn().GetId(), resp.GetTxn().GetId())
	assert.Equal(t, []*upiv1.LiteBalance{{Lrn: lrn1, BalancePaise: 70_000, State: "ACTIVE"}}, resp.GetBalances())
	assert.Equal(t, int64(70_000), resp.GetLrnBalancePaise())
	ps := ab.postings()
	for _, ref := range []string{"LITEDEBIT:" + lrn1 + ":1", "LITEDEBIT:" + lrn1 + ":2"} {
		require.Contains(t, ps, ref)
		assert.Equal(t, remitter.LitePool, ps[ref].GetFromAcNum())
		assert.Equal(t, "SETTLEMENT-ABNK0000001", ps[ref].GetToAcNum())
	}
	assert.Equal(t, s0+30_000, ab.postingsBalance())
	a := ab.liteAccount(lrn1)
	assert.Equal(t, int64(30_000), a.GetOfflinePaise())
	assert.Equal(t, uint64(2), a.GetCounter())
	require.Len(t, a.GetRecords(), 2)
	posted := a.GetRecords()[1] // what the bank keeps of a posted record
	assert.Equal(t, r2.GetProvisionalUtr(), posted.GetProvisionalUtr())
	assert.Equal(t, int64(20_000), posted.GetAmountPaise())
	assert.Equal(t, "bob@beta", posted.GetPayeeAddr())
	assert.Equal(t, m.GetTxn().GetId(), posted.GetBatchTxnId())

	// The batch again, and in another batch reordered: the same answers,
	// nothing new posted.
	n := len(ab.postings())
	m.Head = nodetest.Head("npci", "NPC")
	assert.Equal(t, []string{"SUCCESS", "SUCCESS"}, outcomes(ab.sync(remSync, m, 2)))
	again := ab.sync(remSync, syncBatch(upiv1.Txn_DEBIT, "", r2, r1), 1)
	assert.Equal(t, []string{"SUCCESS", "SUCCESS"}, outcomes(again))
	assert.Contains(t, again.GetResults()[0].GetReason(), m.GetTxn().GetId(), "answered from the batch that posted it")
	assert.Len(t, ab.postings(), n)
	assert.Equal(t, int64(70_000), ab.liteAccount(lrn1).GetBalancePaise())

	// Each failure, in one batch: LQ a signature not the device's, LC a
	// counter brought with other content, LD too old, Z9 more than the
	// balance, LR an LRN the bank does not have.
	other, err := lite.DeviceKey([]byte("test"), "dev-2")
	require.NoError(t, err)
	forged := record(other, lrn1, 3, 1_000, now)
	spend := record(devKey, lrn1, 1, 10_001, now)
	old := record(devKey, lrn1, 4, 1_000, now.Add(-97*time.Hour))
	unknown := record(devKey, "LRN0000000099", 1, 1_000, now)
	bad := syncBatch(upiv1.Txn_DEBIT, lrn1, forged, spend, old, unknown)
	resp = ab.sync(remSync, bad, 1)
	assert.Equal(t, []string{"LQ", "LC", "LD", "LR"}, outcomes(resp))
	assert.Contains(t, resp.GetResults()[1].GetReason(), m.GetTxn().GetId(), "a double spend names the batch that decided the counter")
	assert.Len(t, ab.postings(), n, "nothing posted")
	var kept *remitter.LiteRecord
	require.NoError(t, ab.n.View(func(tx *store.Tx) (err error) {
		kept, _, err = remitter.LiteRecords.Get(tx, string(lite.RecordKey(lrn1, 1)))
		return err
	}))
	assert.Equal(t, []string{bad.GetTxn().GetId()}, kept.GetDoubleSpends())
	assert.Equal(t, "SUCCESS", kept.GetStatus(), "the first content stays posted")

	// The genuine record 3 after the forged one: the forgery took no
	// counter.
	genuine := record(devKey, lrn1, 3, 1_000, now)
	assert.Equal(t, []string{"SUCCESS"}, outcomes(ab.sync(remSync, syncBatch(upiv1.Txn_DEBIT, lrn1, genuine), 1)))

	// Z9: 69,000 left, less a transfer-out of 20,000; a record of ₹500.
	out := ids.NewTxnID("ALP")
	require.Empty(t, ab.send(remPay, transferOut(out, lrn1, 20_000)))
	require.Equal(t, upiv1.Resp_SUCCESS, ab.respPay(out, 1).GetResp().GetResult())
	ab.checkPool()
	require.Equal(t, int64(49_000), ab.liteAccount(lrn1).GetBalancePaise())
	tooMuch := record(devKey, lrn1, 6, 50_000, now)
	resp = ab.sync(remSync, syncBatch(upiv1.Txn_DEBIT, lrn1, tooMuch), 1)
	assert.Equal(t, []string{"Z9"}, outcomes(resp))
	assert.Equal(t, int64(49_000), resp.GetBalances()[0].GetBalancePaise())
	// Stored: a repeat answers Z9 again.
	assert.Equal(t, []string{"Z9"}, outcomes(ab.sync(remSync, syncBatch(upiv1.Txn_DEBIT, lrn1, tooMuch), 1)))

	// LD on the fake clock: a record of now, synced 96h and a second later.
	late := record(devKey, lrn1, 7, 1_000, clock.Now())
	clock.Advance(96*time.Hour + time.Second)
	assert.Equal(t, []string{"LD"}, outcomes(ab.sync(remSync, syncBatch(upiv1.Txn_DEBIT, lrn1, late), 1)))

	// REVERSAL of record 2 (its beneficiary could not credit it): back to
	// the pool and the LRN, once; the record ends FAILURE U31.
	before := ab.liteAccount(lrn1).GetBalancePaise()
	rev := syncBatch(upiv1.Txn_REVERSAL, lrn1, r2, record(devKey, lrn1, 99, 5, now))
	resp = ab.sync(remSync, rev, 1)
	assert.Equal(t, []string{"SUCCESS", "SUCCESS"}, outcomes(resp), "the unknown counter: nothing to reverse")
	p := ab.postings()["LITEREVERSAL:"+lrn1+":2"]
	require.NotNil(t, p)
	assert.Equal(t, "SETTLEMENT-ABNK0000001", p.GetFromAcNum())
	assert.Equal(t, remitter.LitePool, p.GetToAcNum())
	assert.Equal(t, before+20_000, ab.liteAccount(lrn1).GetBalancePaise())
	n = len(ab.postings())
	rev.Head = nodetest.Head("npci", "NPC")
	assert.Equal(t, []string{"SUCCESS", "SUCCESS"}, outcomes(ab.sync(remSync, rev, 2)))
	assert.Len(t, ab.postings(), n, "reversed once")
	assert.Equal(t, before+20_000, ab.liteAccount(lrn1).GetBalancePaise())
	assert.Equal(t, []string{"SUCCESS", "U31"}, outcomes(ab.sync(remSync, syncBatch(upiv1.Txn_DEBIT, lrn1, r1, r2), 1)))

	// A malformed batch is refused in the Ack.
	noTs := record(devKey, lrn1, 8, 100, now)
	noTs.Ts = nil
	assert.Contains(t, ab.send(remSync, syncBatch(upiv1.Txn_DEBIT, lrn1, noTs)), "needs ts")
	assert.Contains(t, ab.send(remSync, syncBatch(upiv1.Txn_CREDIT, lrn1, r1)), "sub_type")
	zero := record(devKey, lrn1, 8, 0, now)
	assert.Contains(t, ab.send(remSync, syncBatch(upiv1.Txn_DEBIT, lrn1, zero)), "amount_paise > 0")
}

// TestLiteSyncProfile: a record is held to the offline cap of the profile
// in force at its ts (₹200 in 2022), not at the sync.
func TestLiteSyncProfile(t *testing.T) {
	now := time.Date(2022, 6, 2, 12, 0, 0, 0, time.UTC)
	ab := newLiteBank(t, nodetest.NewClock(now))
	ab.topUp(lite.PurposeInitialTopUp, lrn1, 100_000)
	resp := ab.sync(remSync, syncBatch(upiv1.Txn_DEBIT, lrn1,
		record(devKey, lrn1, 1, 20_001, now.Add(-time.Hour)), record(devKey, lrn1, 2, 20_000, now.Add(-time.Hour))), 1)
	assert.Equal(t, []string{"Z8", "SUCCESS"}, outcomes(resp))
	assert.Contains(t, resp.GetResults()[0].GetReason(), "2022-03-01")
	assert.Equal(t, int64(80_000), ab.liteAccount(lrn1).GetBalancePaise())
}

func TestLiteBeneficiarySync(t *testing.T) {
	bb := newBank(t, "bbank")
	bob0 := bb.balance("bob@beta")
	credit := func(counter uint64, ac string, amount int64) *upiv1.LiteRecord {
		r := record(devKey, lrn1, counter, amount, time.Now())
		r.PayeeAc = &upiv1.Account{AcNum: ac, Ifsc: "BBNK0000001"}
		return r
	}
	m := syncBatch(upiv1.Txn_CREDIT, "", credit(1, bobAc, 10_000), credit(2, "2999999999", 500), credit(3, bobAc, 2_000))
	resp := bb.sync(benSync, m, 1)
	assert.Equal(t, []string{"SUCCESS", "U31", "SUCCESS"}, outcomes(resp))
	assert.Equal(t, bob0+12_000, bb.balance("bob@beta"))
	ps := bb.postings()
	p := ps["LITECREDIT:"+lrn1+":1"]
	require.NotNil(t, p)
	assert.Equal(t, "SETTLEMENT-BBNK0000001", p.GetFromAcNum())
	assert.Equal(t, bobAc, p.GetToAcNum())
	assert.NotContains(t, ps, "LITECREDIT:"+lrn1+":2")

	// A repeat: the same answers, credited once.
	m.Head = nodetest.Head("npci", "NPC")
	assert.Equal(t, []string{"SUCCESS", "U31", "SUCCESS"}, outcomes(bb.sync(benSync, m, 2)))
	assert.Equal(t, bob0+12_000, bb.balance("bob@beta"))
	assert.Len(t, bb.postings(), len(ps))

	// A record without the payee's account, or sub_type DEBIT, is refused.
	noAc := record(devKey, lrn1, 4, 100, time.Now())
	assert.Contains(t, bb.send(benSync, syncBatch(upiv1.Txn_CREDIT, "", noAc)), "payee_ac")
	assert.Contains(t, bb.send(benSync, syncBatch(upiv1.Txn_DEBIT, "", credit(4, bobAc, 100))), "sub_type CREDIT")
}

// TestLiteOnUsRecord: one bank is remitter and beneficiary of a record.
func TestLiteOnUsRecord(t *testing.T) {
	ab := newLiteBank(t, nodetest.NewClock(time.Now()))
	ab.topUp(lite.PurposeInitialTopUp, lrn1, 10_000)
	s0 := ab.postingsBalance()
	r := record(devKey, lrn1, 1, 3_000, time.Now())
	assert.Equal(t, []string{"SUCCESS"}, outcomes(ab.sync(remSync, syncBatch(upiv1.Txn_DEBIT, lrn1, r), 1)))
	r.PayeeAc = &upiv1.Account{AcNum: "1000000901", Ifsc: liteIFSC}
	assert.Equal(t, []string{"SUCCESS"}, outcomes(ab.sync(benSync, syncBatch(upiv1.Txn_CREDIT, "", r), 1)))
	assert.Equal(t, s0, ab.postingsBalance(), "through settlement and out again")
	assert.Equal(t, int64(3_000), ab.balance("nomandate@alpha"))
	ps := ab.postings()
	assert.Contains(t, ps, "LITEDEBIT:"+lrn1+":1")
	assert.Contains(t, ps, "LITECREDIT:"+lrn1+":1")
}

func TestListLite(t *testing.T) {
	ab := newLiteBank(t, nodetest.NewClock(time.Now()))
	ab.topUp(lite.PurposeInitialTopUp, "LRN0000000002", 1_000)
	ab.topUp(lite.PurposeInitialTopUp, lrn1, 10_000)
	ab.sync(remSync, syncBatch(upiv1.Txn_DEBIT, lrn1, record(devKey, lrn1, 5, 3_000, time.Now())), 1)

	all, err := ab.b.ListLite("", false)
	require.NoError(t, err)
	require.Len(t, all, 2)
	assert.Equal(t, []string{lrn1, "LRN0000000002"}, []string{all[0].GetLrn(), all[1].GetLrn()}, "in LRN order")
	assert.Empty(t, all[0].GetRecords(), "records only when asked")
	a := ab.liteAccount(lrn1)
	assert.Equal(t, "abank", a.GetNode())
	assert.Equal(t, int64(7_000), a.GetBalancePaise())
	assert.Equal(t, int64(10_000), a.GetTopupsPaise())
	assert.Equal(t, int64(3_000), a.GetOfflinePaise())
	assert.Equal(t, uint64(5), a.GetCounter())
	require.Len(t, a.GetRecords(), 1)
	rec := a.GetRecords()[0]
	assert.Equal(t, upiv1.Resp_SUCCESS, rec.GetResult())
	assert.Equal(t, uint64(5), rec.GetCounter())
	assert.Equal(t, lrn1, rec.GetLrn())
	assert.Equal(t, int64(3_000), rec.GetAmountPaise())
	assert.Equal(t, "bob@beta", rec.GetPayeeAddr())
	assert.Equal(t, lite.ProvisionalUTR(lrn1, 5), rec.GetProvisionalUtr())
}
