package psp

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

const (
	notifyMethod = "/upi.v1.TpapService/Notify"
	testLRN      = "LRN0000000001"
)

// deviceKey is a device's key pair for the tests.
func deviceKey(t *testing.T, id string) ed25519.PrivateKey {
	t.Helper()
	k, err := lite.DeviceKey(bytes.Repeat([]byte{7}, 32), id)
	require.NoError(t, err)
	return k
}

// notifications are the Notify messages sent for txnID, after the node
// delivered what it queued.
func (f *fixture) notifications(txnID string) []*upiv1.Notification {
	f.t.Helper()
	nodetest.Quiesce(f.t, f.n)
	var out []*upiv1.Notification
	for _, s := range f.rec.All() {
		if s.Method == notifyMethod && s.Msg.GetTxn().GetId() == txnID {
			out = append(out, s.Msg.(*upiv1.Notification))
		}
	}
	return out
}

// GetLite: RegisterLite sends ReqListKeys GetLite with the user's account
// and the device; the switch's answer reaches the user as LITE_STATUS,
// once; a repeat of the call sends nothing more.
func TestLiteRegisterSendsGetLiteAndTellsTheLRN(t *testing.T) {
	f := newFixture(t, alpha, nil)
	pub := deviceKey(t, "alice-phone").Public().(ed25519.PublicKey)
	req := &upiv1.RegisterLiteRequest{PayerVpa: "Alice@Alpha", DeviceId: "alice-phone", DeviceKey: pub}
	resp, err := f.p.RegisterLite(t.Context(), req)
	require.NoError(t, err)
	id := resp.GetTxnId()
	require.NotEmpty(t, id)

	m := f.rec.WaitFor(t, upiv1.SwitchService_ReqListKeys_FullMethodName, id).Msg.(*upiv1.ReqListKeys)
	assert.Equal(t, upiv1.Txn_LIST_KEYS, m.GetTxn().GetType())
	assert.Equal(t, lite.GetLite, m.GetType())
	assert.Equal(t, "alice@alpha", m.GetPayer().GetAddr())
	assert.Equal(t, "Alice", m.GetPayer().GetName())
	assert.Equal(t, "1000000001", m.GetPayer().GetAc().GetAcNum())
	assert.Equal(t, "ABNK0000001", m.GetPayer().GetAc().GetIfsc())
	assert.Equal(t, "alice-phone", m.GetLite().GetDeviceId())
	assert.Equal(t, []byte(pub), m.GetLite().GetDeviceKey())

	// The same call again (the TPAP retrying) answers the same and sends nothing.
	req.TxnId = id
	again, err := f.p.RegisterLite(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, id, again.GetTxnId())
	assert.Equal(t, 1, f.sent(id, "ReqListKeys"))
	other := proto.Clone(req).(*upiv1.RegisterLiteRequest)
	other.DeviceId = "alice-tablet"
	_, err = f.p.RegisterLite(t.Context(), other)
	requireCode(t, err, codes.AlreadyExists, "already used")

	answer := &upiv1.RespListKeys{Head: swHead(), Txn: m.GetTxn(), Resp: &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
		Lite: &upiv1.LiteInfo{Lrn: testLRN, State: lite.StatePending}}
	f.accept(upiv1.NodeKeyService_RespListKeys_FullMethodName, answer)
	ns := f.notifications(id)
	require.Len(t, ns, 1)
	n := ns[0]
	assert.Equal(t, upiv1.Notification_LITE_STATUS, n.GetKind())
	assert.Equal(t, "alice@alpha", n.GetUserAddr())
	assert.Equal(t, upiv1.Resp_SUCCESS, n.GetResp().GetResult())
	assert.Equal(t, testLRN, n.GetLiteInfo().GetLrn())
	assert.Equal(t, "alice-phone", n.GetLiteInfo().GetDeviceId())
	assert.Equal(t, tpap, f.rec.WaitFor(t, notifyMethod, id).To)

	// The answer again changes nothing; the key cache never saw either.
	f.accept(upiv1.NodeKeyService_RespListKeys_FullMethodName, answer)
	assert.Len(t, f.notifications(id), 1)
	require.NoError(t, f.n.View(func(tx *store.Tx) error {
		assert.False(t, store.MetaKeyListAt.Has(tx), "a GetLite answer is not a key list")
		return nil
	}))

	// A FAILURE without lite (the device has an LRN: LC) is this PSP's too.
	resp2, err := f.p.RegisterLite(t.Context(), &upiv1.RegisterLiteRequest{PayerVpa: "alice@alpha", DeviceId: "alice-phone", DeviceKey: pub})
	require.NoError(t, err)
	f.accept(upiv1.NodeKeyService_RespListKeys_FullMethodName, &upiv1.RespListKeys{Head: swHead(),
		Txn: &upiv1.Txn{Id: resp2.GetTxnId(), Type: upiv1.Txn_LIST_KEYS}, Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeLiteReplay}})
	ns = f.notifications(resp2.GetTxnId())
	require.Len(t, ns, 1)
	assert.Equal(t, upiv1.Notification_LITE_STATUS, ns[0].GetKind())
	assert.Equal(t, upi.CodeLiteReplay, ns[0].GetResp().GetErrCode())
	assert.Equal(t, "alice-phone", ns[0].GetLiteInfo().GetDeviceId())

	// A GetLite answer for a registration this PSP never sent is refused.
	f.refuse(upiv1.NodeKeyService_RespListKeys_FullMethodName, &upiv1.RespListKeys{Head: swHead(),
		Txn: &upiv1.Txn{Id: newTxnID("ALP"), Type: upiv1.Txn_LIST_KEYS}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}, Lite: &upiv1.LiteInfo{Lrn: testLRN}},
		"did not send")
}

// Each Lite app call refuses what is wrong with a clear InvalidArgument,
// and a user of no PSP here with NotFound.
func TestLiteAppValidation(t *testing.T) {
	f := newFixture(t, alpha, nil)
	pub := deviceKey(t, "d").Public().(ed25519.PublicKey)
	sig := make([]byte, ed25519.SignatureSize)
	_, err := f.p.RegisterLite(t.Context(), &upiv1.RegisterLiteRequest{PayerVpa: "alice@alpha", DeviceKey: pub})
	requireCode(t, err, codes.InvalidArgument, "device_id is required")
	_, err = f.p.RegisterLite(t.Context(), &upiv1.RegisterLiteRequest{PayerVpa: "alice@alpha", DeviceId: "d", DeviceKey: pub[:5]})
	requireCode(t, err, codes.InvalidArgument, "device_key")
	_, err = f.p.RegisterLite(t.Context(), &upiv1.RegisterLiteRequest{PayerVpa: "not a vpa", DeviceId: "d", DeviceKey: pub})
	requireCode(t, err, codes.InvalidArgument, "payer_vpa")
	_, err = f.p.RegisterLite(t.Context(), &upiv1.RegisterLiteRequest{PayerVpa: "nobody@alpha", DeviceId: "d", DeviceKey: pub})
	requireCode(t, err, codes.NotFound, "nobody@alpha")
	_, err = f.p.RegisterLite(t.Context(), &upiv1.RegisterLiteRequest{TxnId: newTxnID("BET"), PayerVpa: "alice@alpha", DeviceId: "d", DeviceKey: pub})
	requireCode(t, err, codes.InvalidArgument, "prefix")

	rec := &upiv1.LiteRecord{Lrn: testLRN, Counter: 1, PayerAddr: "alice@alpha", PayeeAddr: "chai@beta", AmountPaise: 100, Signature: sig}
	for _, c := range []struct {
		name string
		req  *upiv1.SyncLiteRequest
		want string
	}{
		{"no device", &upiv1.SyncLiteRequest{UserVpa: "alice@alpha"}, "device_id is required"},
		{"negative balance", &upiv1.SyncLiteRequest{UserVpa: "alice@alpha", DeviceId: "d", DeviceBalancePaise: -1}, "negative"},
		{"unsigned record", &upiv1.SyncLiteRequest{UserVpa: "alice@alpha", DeviceId: "d", Records: []*upiv1.LiteRecord{{Lrn: testLRN, PayerAddr: "a@alpha", PayeeAddr: "b@beta", AmountPaise: 1}}}, "records[0].signature"},
		{"zero amount", &upiv1.SyncLiteRequest{UserVpa: "alice@alpha", DeviceId: "d", Records: []*upiv1.LiteRecord{rec, {Lrn: testLRN, PayerAddr: "a@alpha", PayeeAddr: "b@beta", Signature: sig}}}, "records[1].amount_paise"},
		{"too many", &upiv1.SyncLiteRequest{UserVpa: "alice@alpha", DeviceId: "d", Records: make([]*upiv1.LiteRecord, node.MaxLiteBatch+1)}, "at most 1000"},
	} {
		_, err := f.p.SyncLite(t.Context(), c.req)
		requireCode(t, err, codes.InvalidArgument, c.want)
	}
	_, err = f.p.DisableLite(t.Context(), &upiv1.DisableLiteRequest{UserVpa: "alice@alpha", DeviceId: "d"})
	requireCode(t, err, codes.InvalidArgument, "lrn: the LRN is required")
	_, err = f.p.DisableLite(t.Context(), &upiv1.DisableLiteRequest{UserVpa: "alice@alpha", DeviceId: "d", Lrn: "no spaces please"})
	requireCode(t, err, codes.InvalidArgument, "is not an LRN")

	online := func(edit func(*upiv1.InitiatePayRequest)) *upiv1.InitiatePayRequest {
		r := &upiv1.InitiatePayRequest{PayerVpa: "alice@alpha", PayeeVpa: "chai@beta", AmountPaise: 15000, Purpose: lite.PurposeOnlinePay,
			Lite: &upiv1.LiteInfo{Lrn: testLRN, DeviceId: "d", Counter: 3, DeviceBalancePaise: 50000, Arqc: sig}}
		edit(r)
		return r
	}
	for _, c := range []struct {
		name string
		req  *upiv1.InitiatePayRequest
		want string
	}{
		{"no lite", online(func(r *upiv1.InitiatePayRequest) { r.Lite = nil }), "needs lite"},
		{"no LRN", online(func(r *upiv1.InitiatePayRequest) { r.Lite.Lrn = "" }), "lite.lrn"},
		{"no ARQC", online(func(r *upiv1.InitiatePayRequest) { r.Lite.Arqc = nil }), "lite.arqc"},
		{"no counter", online(func(r *upiv1.InitiatePayRequest) { r.Lite.Counter = 0 }), "lite.counter"},
		{"a PIN for 44", online(func(r *upiv1.InitiatePayRequest) { r.Cred = pintest.Opaque("1234", "") }), "takes no PIN"},
		{"no payee for 44", online(func(r *upiv1.InitiatePayRequest) { r.PayeeVpa = "" }), "payee"},
		{"offline", online(func(r *upiv1.InitiatePayRequest) { r.Purpose = lite.PurposeOfflinePay }), "SyncLite"},
		{"lite without a Lite purpose", online(func(r *upiv1.InitiatePayRequest) { r.Purpose = "00" }), "not a UPI Lite purpose"},
		{"top-up without PIN", online(func(r *upiv1.InitiatePayRequest) { r.Purpose, r.PayeeVpa = lite.PurposeTopUp, "" }), "cred"},
		{"top-up to someone", online(func(r *upiv1.InitiatePayRequest) {
			r.Purpose, r.Cred = lite.PurposeTopUp, pintest.Opaque("1234", "")
		}), "a top-up's payee is the LRN"},
		{"initial top-up without the key", online(func(r *upiv1.InitiatePayRequest) {
			r.Purpose, r.PayeeVpa, r.Cred = lite.PurposeInitialTopUp, "", pintest.Opaque("1234", "")
		}), "lite.device_key"},
		{"transfer-out to someone", online(func(r *upiv1.InitiatePayRequest) { r.Purpose = lite.PurposeTransferOut }), "own VPA"},
		{"zero amount", online(func(r *upiv1.InitiatePayRequest) { r.AmountPaise = 0 }), "greater than 0"},
	} {
		_, err := f.p.InitiatePay(t.Context(), c.req)
		requireCode(t, err, codes.InvalidArgument, c.want)
	}
	assert.Empty(t, f.rec.All(), "nothing was sent")
}

// Sync: SyncLite sends the batch as ReqLiteSync; the switch's RespLiteSync
// reaches the device's user as LITE_SYNC, once.
func TestLiteSyncSendsTheBatchAndTellsTheAnswer(t *testing.T) {
	f := newFixture(t, alpha, nil)
	k := deviceKey(t, "alice-phone")
	rec := &upiv1.LiteRecord{Lrn: testLRN, DeviceId: "alice-phone", Counter: 4, ProvisionalUtr: lite.ProvisionalUTR(testLRN, 4),
		PayerAddr: "alice@alpha", PayeeAddr: "chai@beta", AmountPaise: 15000, Ts: timestamppb.Now(), OrderId: "ORD-1",
		PayeeDeviceId: "chai-pos", DeviceBalancePaise: 35000}
	lite.SignRecord(k, rec)
	resp, err := f.p.SyncLite(t.Context(), &upiv1.SyncLiteRequest{UserVpa: "alice@alpha", DeviceId: "alice-phone", Lrn: testLRN,
		DeviceBalancePaise: 35000, Records: []*upiv1.LiteRecord{rec}})
	require.NoError(t, err)
	id := resp.GetTxnId()
	s := f.rec.WaitFor(t, upiv1.SwitchService_ReqLiteSync_FullMethodName, id)
	assert.Equal(t, npci, s.To)
	m := s.Msg.(*upiv1.ReqLiteSync)
	assert.Equal(t, upiv1.Txn_LITE_SYNC, m.GetTxn().GetType())
	assert.Equal(t, testLRN, m.GetLrn())
	assert.Equal(t, "alice-phone", m.GetDeviceId())
	assert.Equal(t, "alice@alpha", m.GetUserAddr())
	assert.Equal(t, int64(35000), m.GetDeviceBalancePaise())
	require.Len(t, m.GetRecords(), 1)
	assert.True(t, proto.Equal(rec, m.GetRecords()[0]), "the record passes unchanged")
	assert.True(t, lite.VerifyRecord(k.Public().(ed25519.PublicKey), m.GetRecords()[0]))

	answer := &upiv1.RespLiteSync{Head: swHead(), Txn: m.GetTxn(), Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
		Results:  []*upiv1.LiteRecordResult{{Lrn: testLRN, Counter: 4, ProvisionalUtr: rec.ProvisionalUtr, Result: upiv1.Resp_SUCCESS, Utr: "512345000077", BatchTxnId: id}},
		Balances: []*upiv1.LiteBalance{{Lrn: testLRN, BalancePaise: 35000, State: lite.StateActive}}}
	f.refuse(upiv1.PspService_RespLiteSync_FullMethodName, &upiv1.RespLiteSync{Head: swHead(),
		Txn: &upiv1.Txn{Id: newTxnID("ALP"), Type: upiv1.Txn_LITE_SYNC}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}}, "did not send")
	f.refuse(upiv1.PspService_RespLiteSync_FullMethodName, &upiv1.RespLiteSync{Head: swHead(),
		Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}}, "want LITE_SYNC")
	f.accept(upiv1.PspService_RespLiteSync_FullMethodName, answer)
	f.accept(upiv1.PspService_RespLiteSync_FullMethodName, answer) // a repeat
	ns := f.notifications(id)
	require.Len(t, ns, 1, "told once")
	n := ns[0]
	assert.Equal(t, upiv1.Notification_LITE_SYNC, n.GetKind())
	assert.Equal(t, "alice@alpha", n.GetUserAddr())
	require.Len(t, n.GetLite().GetResults(), 1)
	assert.Equal(t, "512345000077", n.GetLite().GetResults()[0].GetUtr())
	assert.Equal(t, int64(35000), n.GetLite().GetBalances()[0].GetBalancePaise())

	var kept *liteRequest
	require.NoError(t, f.n.View(func(tx *store.Tx) error {
		var err error
		kept, _, err = liteRequests.Get(tx, id)
		return err
	}))
	assert.Equal(t, liteAnswered, kept.GetStatus())
	assert.Equal(t, int32(1), kept.GetRecords())
}

// A sync the switch refuses in its Ack ends at once: the user hears
// FAILURE U07.
func TestLiteSyncRefusedTellsTheUser(t *testing.T) {
	f := newFixture(t, alpha, nil)
	f.rec.Refuse = func(method string) string {
		if method == upiv1.SwitchService_ReqLiteSync_FullMethodName {
			return "no"
		}
		return ""
	}
	resp, err := f.p.SyncLite(t.Context(), &upiv1.SyncLiteRequest{UserVpa: "alice@alpha", DeviceId: "chai-pos"})
	require.NoError(t, err)
	ns := f.notifications(resp.GetTxnId())
	require.Len(t, ns, 1)
	assert.Equal(t, upiv1.Notification_LITE_SYNC, ns[0].GetKind())
	assert.Equal(t, upi.CodeRefused, ns[0].GetLite().GetResp().GetErrCode())
	assert.Equal(t, upiv1.Resp_FAILURE, ns[0].GetResp().GetResult())
}

// A zero-balance disable is ReqChkTxn LITE_SYNC purpose 50; its RespChkTxn
// reaches the user as LITE_STATUS, and is not a status check's.
func TestLiteDisableSendsChkTxnAndTellsTheAnswer(t *testing.T) {
	checks := 0
	f := newFixtureWith(t, alpha, nil, Config{OnStatus: func(*node.Ctx, StatusAnswer) error { checks++; return nil }})
	resp, err := f.p.DisableLite(t.Context(), &upiv1.DisableLiteRequest{UserVpa: "alice@alpha", DeviceId: "alice-phone", Lrn: testLRN})
	require.NoError(t, err)
	id := resp.GetTxnId()
	m := f.rec.WaitFor(t, upiv1.SwitchService_ReqChkTxn_FullMethodName, id).Msg.(*upiv1.ReqChkTxn)
	assert.Equal(t, upiv1.Txn_CHK_STATUS, m.GetTxn().GetType())
	assert.Equal(t, upiv1.Txn_LITE_SYNC, m.GetTxn().GetSubType())
	assert.Equal(t, lite.PurposeZeroDisable, m.GetTxn().GetPurpose())
	assert.Equal(t, testLRN, m.GetLite().GetLrn())
	assert.Equal(t, "alice-phone", m.GetLite().GetDeviceId())

	f.accept(upiv1.PspService_RespChkTxn_FullMethodName, &upiv1.RespChkTxn{Head: swHead(),
		Txn:  &upiv1.Txn{Id: id, Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_LITE_SYNC, Purpose: "50"},
		Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}, Lite: &upiv1.LiteInfo{Lrn: testLRN, State: lite.StateDisabled}})
	ns := f.notifications(id)
	require.Len(t, ns, 1)
	assert.Equal(t, upiv1.Notification_LITE_STATUS, ns[0].GetKind())
	assert.Equal(t, "alice@alpha", ns[0].GetUserAddr())
	assert.Equal(t, upiv1.Resp_SUCCESS, ns[0].GetResp().GetResult())
	assert.Equal(t, lite.StateDisabled, ns[0].GetLiteInfo().GetState())
	assert.Equal(t, 0, checks, "not a status check")

	// LZ: the LRN still has a balance.
	resp, err = f.p.DisableLite(t.Context(), &upiv1.DisableLiteRequest{UserVpa: "alice@alpha", DeviceId: "alice-phone", Lrn: testLRN})
	require.NoError(t, err)
	f.accept(upiv1.PspService_RespChkTxn_FullMethodName, &upiv1.RespChkTxn{Head: swHead(),
		Txn:  &upiv1.Txn{Id: resp.GetTxnId(), Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_LITE_SYNC},
		Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeLiteNotZero}, Lite: &upiv1.LiteInfo{Lrn: testLRN, BalancePaise: 100}})
	ns = f.notifications(resp.GetTxnId())
	require.Len(t, ns, 1)
	assert.Equal(t, upi.CodeLiteNotZero, ns[0].GetResp().GetErrCode())
	assert.Equal(t, int64(100), ns[0].GetLiteInfo().GetBalancePaise())

	// A status check is still the check's, whatever sub_type its answer
	// has (the switch answers a Lite record's RRN too).
	var check string
	require.NoError(t, f.n.Update(func(c *node.Ctx) (err error) { check, err = f.p.CheckStatus(c, "512345000300", "tag"); return err }))
	f.accept(upiv1.PspService_RespChkTxn_FullMethodName, &upiv1.RespChkTxn{Head: swHead(),
		Txn:  &upiv1.Txn{Id: check, Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_LITE_SYNC, CustRef: "512345000300"},
		Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeTxnNotPresent}})
	assert.Equal(t, 1, checks, "OnStatus heard it")
	assert.Empty(t, f.notifications(check))
}

// A disable the switch refuses in its Ack: the user hears FAILURE U07.
func TestLiteDisableRefusedTellsTheUser(t *testing.T) {
	f := newFixture(t, alpha, nil)
	f.rec.Refuse = func(method string) string {
		if method == upiv1.SwitchService_ReqChkTxn_FullMethodName {
			return "no"
		}
		return ""
	}
	resp, err := f.p.DisableLite(t.Context(), &upiv1.DisableLiteRequest{UserVpa: "alice@alpha", DeviceId: "alice-phone", Lrn: testLRN})
	require.NoError(t, err)
	ns := f.notifications(resp.GetTxnId())
	require.Len(t, ns, 1)
	assert.Equal(t, upiv1.Notification_LITE_STATUS, ns[0].GetKind())
	assert.Equal(t, upi.CodeRefused, ns[0].GetResp().GetErrCode())
	assert.Equal(t, testLRN, ns[0].GetLiteInfo().GetLrn())
}

// The switch resolves a sync's payee with ReqAuthDetails LITE_SYNC: the
// account, or U29; no transaction record and no OnAuthDetails.
func TestLiteSyncAuthDetails(t *testing.T) {
	f := newFixtureWith(t, beta, nil, Config{OnAuthDetails: func(*node.Ctx, Outcome) (string, error) {
		t.Error("OnAuthDetails runs for no Lite sync")
		return "", nil
	}})
	id := newTxnID("NPC")
	ask := func(payee string) *upiv1.RespAuthDetails {
		f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, &upiv1.ReqAuthDetails{Head: swHead(),
			Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_LITE_SYNC}, Payee: &upiv1.Party{Addr: payee}})
		nodetest.Quiesce(t, f.n)
		var last *upiv1.RespAuthDetails
		for _, s := range f.rec.All() {
			if s.Method == upiv1.SwitchService_RespAuthDetails_FullMethodName {
				last = s.Msg.(*upiv1.RespAuthDetails)
			}
		}
		require.NotNil(t, last)
		return last
	}
	ok := ask("Chai@Beta")
	assert.Equal(t, upiv1.Resp_SUCCESS, ok.GetResp().GetResult())
	assert.Equal(t, "chai@beta", ok.GetPayee().GetAddr())
	assert.Equal(t, "Chai Point", ok.GetPayee().GetName())
	assert.Equal(t, "2000000003", ok.GetPayee().GetAc().GetAcNum())
	assert.Equal(t, "BBNK0000001", ok.GetPayee().GetAc().GetIfsc())
	assert.Equal(t, id, ok.GetTxn().GetId())

	bad := ask("nobody@beta")
	assert.Equal(t, upiv1.Resp_FAILURE, bad.GetResp().GetResult())
	assert.Equal(t, upi.CodeAddrResolution, bad.GetResp().GetErrCode())
	assert.Nil(t, bad.GetPayee().GetAc())

	require.NoError(t, f.n.View(func(tx *store.Tx) error {
		r, err := getTxn(tx, id)
		assert.Nil(t, r, "no transaction record")
		return err
	}))
	f.refuse(upiv1.PspService_ReqAuthDetails_FullMethodName, &upiv1.ReqAuthDetails{Head: swHead(),
		Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_LITE_SYNC}, Payee: &upiv1.Party{Addr: "alice@alpha"}}, "does not belong")
}

// The switch's LITE_SYNC confirmation: each payee hears its records, the
// merchant layer gets them all, the switch is answered; a repeat answers
// again and tells no one.
func TestLiteConfirmationTellsEachPayeeOnce(t *testing.T) {
	var credited [][]*upiv1.LiteRecordResult
	f := newFixtureWith(t, beta, nil, Config{OnLiteCredit: func(c *node.Ctx, recs []*upiv1.LiteRecordResult) error {
		require.NotNil(t, c.Tx)
		credited = append(credited, recs)
		return nil
	}})
	batch := newTxnID("ALP")
	result := func(counter uint64, payee string, amount int64, order string) *upiv1.LiteRecordResult {
		return &upiv1.LiteRecordResult{Lrn: testLRN, Counter: counter, ProvisionalUtr: lite.ProvisionalUTR(testLRN, counter),
			Result: upiv1.Resp_SUCCESS, Utr: "51234500010" + string(rune('0'+counter)), PayerAddr: "alice@alpha", PayeeAddr: payee,
			AmountPaise: amount, OrderId: order, BatchTxnId: batch}
	}
	conf := &upiv1.ReqTxnConfirmation{Head: swHead(), Txn: &upiv1.Txn{Id: batch, Type: upiv1.Txn_LITE_SYNC},
		Resp:        &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
		LiteRecords: []*upiv1.LiteRecordResult{result(1, "chai@beta", 15000, "ORD-1"), result(2, "Bob@Beta", 2000, ""), result(3, "chai@beta", 5000, "ORD-2")}}
	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, conf)

	ns := f.notifications(batch)
	require.Len(t, ns, 2, "one per payee")
	byUser := map[string]*upiv1.Notification{}
	for _, n := range ns {
		assert.Equal(t, upiv1.Notification_LITE_SYNC, n.GetKind())
		byUser[n.GetUserAddr()] = n
	}
	require.Contains(t, byUser, "chai@beta")
	require.Contains(t, byUser, "bob@beta")
	chai := byUser["chai@beta"].GetLite().GetResults()
	require.Len(t, chai, 2)
	assert.Equal(t, []string{"ORD-1", "ORD-2"}, []string{chai[0].GetOrderId(), chai[1].GetOrderId()})
	assert.Equal(t, "512345000101", chai[0].GetUtr())
	require.Len(t, byUser["bob@beta"].GetLite().GetResults(), 1)
	assert.Equal(t, uint64(2), byUser["bob@beta"].GetLite().GetResults()[0].GetCounter())
	require.Len(t, credited, 1)
	assert.Len(t, credited[0], 3)
	assert.Equal(t, 1, f.rec.Count(upiv1.SwitchService_RespTxnConfirmation_FullMethodName, batch))

	// The same confirmation again (a lost answer): answered, nothing told.
	again := proto.Clone(conf).(*upiv1.ReqTxnConfirmation)
	again.Head = swHead()
	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, again)
	assert.Len(t, f.notifications(batch), 2)
	assert.Len(t, credited, 1, "OnLiteCredit once")
	resps := 0
	for _, s := range f.rec.All() {
		if s.Method == upiv1.SwitchService_RespTxnConfirmation_FullMethodName && s.Msg.GetTxn().GetId() == batch {
			resps++
			assert.Equal(t, upiv1.Resp_SUCCESS, s.Msg.(*upiv1.RespTxnConfirmation).GetResp().GetResult())
		}
	}
	assert.Equal(t, 2, resps, "a repeat is answered")

	// Another batch confirming one old record and one new: only the new
	// (its records are its outcome: no resp is needed).
	batch2 := newTxnID("ALP")
	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{Head: swHead(),
		Txn:         &upiv1.Txn{Id: batch2, Type: upiv1.Txn_LITE_SYNC},
		LiteRecords: []*upiv1.LiteRecordResult{result(1, "chai@beta", 15000, "ORD-1"), result(4, "chai@beta", 100, "")}})
	ns = f.notifications(batch2)
	require.Len(t, ns, 1)
	require.Len(t, ns[0].GetLite().GetResults(), 1)
	assert.Equal(t, uint64(4), ns[0].GetLite().GetResults()[0].GetCounter())
	require.Len(t, credited, 2)
	assert.Len(t, credited[1], 1)

	// Records this PSP cannot take are refused, with nothing done.
	f.refuse(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{Head: swHead(),
		Txn: &upiv1.Txn{Id: newTxnID("ALP"), Type: upiv1.Txn_LITE_SYNC}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
		LiteRecords: []*upiv1.LiteRecordResult{result(5, "alice@alpha", 100, "")}}, "does not belong")
	noUTR := result(6, "chai@beta", 100, "")
	noUTR.Utr = ""
	f.refuse(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{Head: swHead(),
		Txn: &upiv1.Txn{Id: newTxnID("ALP"), Type: upiv1.Txn_LITE_SYNC}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
		LiteRecords: []*upiv1.LiteRecordResult{noUTR}}, "utr")
	assert.Len(t, credited, 2)
}

// An online Lite payment (44): the payer's account is the LRN, no PIN,
// the ARQC passes on; the RespPay's lite (ARPC, balance) reaches the
// TXN_STATUS notification.
func TestLiteOnlinePay(t *testing.T) {
	f := newFixture(t, alpha, nil)
	k := deviceKey(t, "alice-phone")
	arqc := lite.ARQC{}.Sign(k) // any 64-byte signature: the switch checks it
	resp, err := f.p.InitiatePay(t.Context(), &upiv1.InitiatePayRequest{PayerVpa: "alice@alpha", PayeeVpa: "chai@beta", AmountPaise: 15000,
		Purpose: lite.PurposeOnlinePay, RefId: "ORD-7",
		Lite: &upiv1.LiteInfo{Lrn: testLRN, DeviceId: "alice-phone", Counter: 5, DeviceBalancePaise: 50000, Arqc: arqc}})
	require.NoError(t, err)
	id := resp.GetTransaction().GetTxnId()
	assert.Equal(t, "alice@alpha", resp.GetTransaction().GetPayerVpa())
	assert.Equal(t, "chai@beta", resp.GetTransaction().GetPayeeVpa())
	m := f.rec.WaitFor(t, upiv1.SwitchService_ReqPay_FullMethodName, id).Msg.(*upiv1.ReqPay)
	assert.Equal(t, lite.PurposeOnlinePay, m.GetTxn().GetPurpose())
	assert.Equal(t, "ORD-7", m.GetTxn().GetRefId())
	assert.Equal(t, "alice@alpha", m.GetPayer().GetAddr())
	assert.Equal(t, testLRN, m.GetPayer().GetAc().GetAcNum())
	assert.Equal(t, "ABNK0000001", m.GetPayer().GetAc().GetIfsc())
	assert.Empty(t, m.GetPayer().GetCreds(), "no PIN")
	assert.Equal(t, "alice-phone", m.GetPayer().GetDevice().GetId())
	assert.Equal(t, "chai@beta", m.GetPayee().GetAddr())
	assert.Equal(t, testLRN, m.GetLite().GetLrn())
	assert.Equal(t, uint64(5), m.GetLite().GetCounter())
	assert.Equal(t, int64(50000), m.GetLite().GetDeviceBalancePaise())
	assert.Equal(t, arqc, m.GetLite().GetArqc())
	assert.Equal(t, "alice@alpha", f.record(id).GetPayerVpa(), "the record's user")

	arpc := bytes.Repeat([]byte{9}, ed25519.SignatureSize)
	f.accept(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{Head: swHead(),
		Txn:  &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY, CustRef: "512345000300"},
		Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}, Lite: &upiv1.LiteInfo{Lrn: testLRN, Counter: 5, BalancePaise: 35000, Arpc: arpc}})
	ns := f.notifications(id)
	require.Len(t, ns, 1)
	n := ns[0]
	assert.Equal(t, upiv1.Notification_TXN_STATUS, n.GetKind())
	assert.Equal(t, "alice@alpha", n.GetUserAddr())
	assert.Equal(t, upiv1.Resp_SUCCESS, n.GetResp().GetResult())
	assert.Equal(t, int64(35000), n.GetLiteInfo().GetBalancePaise())
	assert.Equal(t, arpc, n.GetLiteInfo().GetArpc())
	assert.Equal(t, upiv1.Resp_SUCCESS.String(), f.record(id).GetStatus())

	// The same call again is the same payment.
	again, err := f.p.InitiatePay(t.Context(), &upiv1.InitiatePayRequest{TxnId: id, PayerVpa: "alice@alpha", PayeeVpa: "chai@beta", AmountPaise: 15000,
		Purpose: lite.PurposeOnlinePay, RefId: "ORD-7",
		Lite: &upiv1.LiteInfo{Lrn: testLRN, DeviceId: "alice-phone", Counter: 5, DeviceBalancePaise: 50000, Arqc: arqc}})
	require.NoError(t, err)
	assert.Equal(t, id, again.GetTransaction().GetTxnId())
	assert.Equal(t, 1, f.sent(id, "ReqPay"))
}

// Top-ups (41, 42) pay the LRN with the PIN; a transfer-out (46) pays the
// user from "<LRN>@lite" without one.
func TestLiteTopUpAndTransferOut(t *testing.T) {
	f := newFixture(t, alpha, nil)
	k := deviceKey(t, "alice-phone")
	pub := k.Public().(ed25519.PublicKey)
	resp, err := f.p.InitiatePay(t.Context(), &upiv1.InitiatePayRequest{PayerVpa: "alice@alpha", AmountPaise: 50000, Purpose: lite.PurposeInitialTopUp,
		Cred: pintest.Opaque("1234", ""), Lite: &upiv1.LiteInfo{Lrn: testLRN, DeviceId: "alice-phone", DeviceKey: pub}})
	require.NoError(t, err)
	id := resp.GetTransaction().GetTxnId()
	m := f.rec.WaitFor(t, upiv1.SwitchService_ReqPay_FullMethodName, id).Msg.(*upiv1.ReqPay)
	assert.Equal(t, lite.PurposeInitialTopUp, m.GetTxn().GetPurpose())
	assert.Equal(t, "alice@alpha", m.GetPayer().GetAddr())
	assert.Equal(t, "1000000001", m.GetPayer().GetAc().GetAcNum(), "the user's account is debited")
	require.Len(t, m.GetPayer().GetCreds(), 1)
	assert.Equal(t, "1234", pintest.OpenOpaque(m.GetPayer().GetCreds()[0], ""))
	assert.Equal(t, testLRN+"@lite", m.GetPayee().GetAddr())
	assert.Equal(t, testLRN, m.GetPayee().GetAc().GetAcNum())
	assert.Equal(t, []byte(pub), m.GetLite().GetDeviceKey())
	assert.Equal(t, testLRN+"@lite", f.record(id).GetPayeeVpa())

	resp, err = f.p.InitiatePay(t.Context(), &upiv1.InitiatePayRequest{PayerVpa: "alice@alpha", AmountPaise: 10000, Purpose: lite.PurposeTransferOut,
		Lite: &upiv1.LiteInfo{Lrn: testLRN, DeviceId: "alice-phone", Counter: 6, DeviceBalancePaise: 50000, Arqc: lite.ARQC{}.Sign(k)}})
	require.NoError(t, err)
	id = resp.GetTransaction().GetTxnId()
	m = f.rec.WaitFor(t, upiv1.SwitchService_ReqPay_FullMethodName, id).Msg.(*upiv1.ReqPay)
	assert.Equal(t, lite.PurposeTransferOut, m.GetTxn().GetPurpose())
	assert.Equal(t, testLRN+"@lite", m.GetPayer().GetAddr())
	assert.Equal(t, testLRN, m.GetPayer().GetAc().GetAcNum())
	assert.Equal(t, "ABNK0000001", m.GetPayer().GetAc().GetIfsc())
	assert.Empty(t, m.GetPayer().GetCreds())
	assert.Equal(t, "alice@alpha", m.GetPayee().GetAddr())
	assert.Equal(t, uint64(6), m.GetLite().GetCounter())
	r := f.record(id)
	assert.Equal(t, "alice@alpha", r.GetPayerVpa())
	assert.Equal(t, "alice@alpha", r.GetPayeeVpa())
}
