package psp

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/pin/pintest"
)

func TestInitiateCollectSendsReqPay(t *testing.T) {
	tests := []struct {
		name   string
		expiry int32
		want   int32
	}{
		{"default expiry", 0, 30},
		{"own expiry", 5, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, beta, nil)
			resp, err := f.p.InitiateCollect(t.Context(), &upiv1.InitiateCollectRequest{
				PayeeVpa: "chai@beta", PayerVpa: "alice@alpha", AmountPaise: 6000, Note: "bill", ExpireAfterMinutes: tt.expiry,
			})
			require.NoError(t, err)
			txn := resp.GetTransaction()
			id := txn.GetTxnId()
			assert.Equal(t, "BET", ids.PrefixOf(id))
			assert.Equal(t, upiv1.Txn_COLLECT, txn.GetType())
			assert.Equal(t, upiv1.Resp_PENDING, txn.GetStatus())
			assert.WithinDuration(t, time.Now().Add(time.Duration(tt.want)*time.Minute), txn.GetExpires().AsTime(), time.Minute)

			s := f.rec.WaitFor(t, upiv1.SwitchService_ReqPay_FullMethodName, id)
			assert.Equal(t, npci, s.To)
			m := s.Msg.(*upiv1.ReqPay)
			assert.Equal(t, upiv1.Txn_COLLECT, m.GetTxn().GetType())
			assert.Equal(t, tt.want, m.GetTxn().GetExpireAfterMinutes())
			assert.Equal(t, "bill", m.GetTxn().GetNote())
			assert.Equal(t, (&upiv1.Party{
				Addr: "chai@beta", Name: "Chai Point", Type: upiv1.Party_ENTITY, Code: "5812",
				Ac: &upiv1.Account{AcNum: "2000000003", Ifsc: "BBNK0000001"}, AmountPaise: 6000, Currency: "INR",
			}).String(), m.GetPayee().String())
			assert.Equal(t, "alice@alpha", m.GetPayer().GetAddr())
			assert.Equal(t, int64(6000), m.GetPayer().GetAmountPaise())
			assert.Empty(t, m.GetPayer().GetCreds())

			r := f.record(id)
			assert.Equal(t, "payee", r.Role)
			assert.True(t, r.PayeeInitiator)
		})
	}
}

func TestInitiateCollectValidation(t *testing.T) {
	f := newFixture(t, beta, nil)
	tests := []struct {
		name string
		req  *upiv1.InitiateCollectRequest
		code codes.Code
		want string
	}{
		{"bad payee", &upiv1.InitiateCollectRequest{PayeeVpa: "chai", PayerVpa: "alice@alpha", AmountPaise: 1}, codes.InvalidArgument, "payee_vpa"},
		{"bad payer", &upiv1.InitiateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "", AmountPaise: 1}, codes.InvalidArgument, "payer_vpa: missing VPA"},
		{"zero amount", &upiv1.InitiateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "alice@alpha"}, codes.InvalidArgument, "amount_paise"},
		{"same parties", &upiv1.InitiateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "chai@beta", AmountPaise: 1}, codes.InvalidArgument, "same VPA"},
		{"negative expiry", &upiv1.InitiateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "alice@alpha", AmountPaise: 1, ExpireAfterMinutes: -1}, codes.InvalidArgument, "expire_after_minutes"},
		{"payee of another PSP", &upiv1.InitiateCollectRequest{PayeeVpa: "alice@alpha", PayerVpa: "bob@beta", AmountPaise: 1}, codes.NotFound, "payee VPA alice@alpha is not registered at PSP betapsp"},
		{"unknown payee", &upiv1.InitiateCollectRequest{PayeeVpa: "zed@beta", PayerVpa: "alice@alpha", AmountPaise: 1}, codes.NotFound, "zed@beta"},
		{"note too long", &upiv1.InitiateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "alice@alpha", AmountPaise: 1, Note: strings.Repeat("é", 51)}, codes.InvalidArgument, "note is 51 characters long; at most 50 are allowed"},
		{"control character in note", &upiv1.InitiateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "alice@alpha", AmountPaise: 1, Note: "tea\u0085"}, codes.InvalidArgument, "note contains the control character U+0085"},
		{"amount over the largest", &upiv1.InitiateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "alice@alpha", AmountPaise: 1 << 62}, codes.InvalidArgument, "more than the largest amount"},
		{"bad txn_id", &upiv1.InitiateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "alice@alpha", AmountPaise: 1, TxnId: newTxnID("ALP")}, codes.InvalidArgument, "prefix BET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.p.InitiateCollect(t.Context(), tt.req)
			requireCode(t, err, tt.code, tt.want)
		})
	}
	assert.Empty(t, f.rec.All())
}

func TestInitiateCollectWithTxnIDIsIdempotent(t *testing.T) {
	f := newFixture(t, beta, nil)
	id := newTxnID("BET")
	req := &upiv1.InitiateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "alice@alpha", AmountPaise: 700, Note: "tea", TxnId: id}
	first, err := f.p.InitiateCollect(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, id, first.GetTransaction().GetTxnId())
	again, err := f.p.InitiateCollect(t.Context(), req)
	require.NoError(t, err, "a repeat of the same collect (the TPAP's retry) is the same collect")
	assert.Equal(t, first.GetTransaction().GetCreated().AsTime(), again.GetTransaction().GetCreated().AsTime())
	assert.Equal(t, 1, f.sent(id, "ReqPay"), "a repeat sends nothing")

	for name, edit := range map[string]func(r *upiv1.InitiateCollectRequest){
		"other amount": func(r *upiv1.InitiateCollectRequest) { r.AmountPaise = 701 },
		"other payer":  func(r *upiv1.InitiateCollectRequest) { r.PayerVpa = "bob@alpha" },
		"other note":   func(r *upiv1.InitiateCollectRequest) { r.Note = "coffee" },
		"other expiry": func(r *upiv1.InitiateCollectRequest) { r.ExpireAfterMinutes = 5 },
	} {
		t.Run(name, func(t *testing.T) {
			other := &upiv1.InitiateCollectRequest{PayeeVpa: req.PayeeVpa, PayerVpa: req.PayerVpa, AmountPaise: req.AmountPaise, Note: req.Note, TxnId: id}
			edit(other)
			_, err := f.p.InitiateCollect(t.Context(), other)
			requireCode(t, err, codes.AlreadyExists, id)
		})
	}
	assert.Equal(t, 1, f.sent(id, "ReqPay"))
	assert.Equal(t, int64(700), f.record(id).AmountPaise)
}

// awaitCollect delivers a collect from chai@beta to alice@alpha at the
// alpha PSP and returns its txn id and the request.
func awaitCollect(t *testing.T, f *fixture) (string, *upiv1.ReqAuthDetails) {
	t.Helper()
	id := newTxnID("BET")
	req := collectFromChai(id, "alice@alpha", 5000)
	f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, req)
	return id, req
}

func TestCollectRequestNotifiesTPAP(t *testing.T) {
	f := newFixture(t, alpha, nil)
	id, _ := awaitCollect(t, f)

	s := f.rec.WaitFor(t, upiv1.TpapService_Notify_FullMethodName, id)
	assert.Equal(t, tpap, s.To)
	n := s.Msg.(*upiv1.Notification)
	assert.Equal(t, upiv1.Notification_COLLECT_REQUEST, n.GetKind())
	assert.Equal(t, "alice@alpha", n.GetUserAddr())
	assert.Equal(t, "chai@beta", n.GetPayee().GetAddr())
	assert.Equal(t, "Chai Point", n.GetPayee().GetName())
	assert.Nil(t, n.GetPayee().GetAc(), "the app is not told the payee's account")
	assert.Equal(t, int64(5000), n.GetPayer().GetAmountPaise())
	assert.Equal(t, int32(30), n.GetTxn().GetExpireAfterMinutes())
	assert.Equal(t, "512345000001", n.GetTxn().GetCustRef())

	r := f.record(id)
	assert.Equal(t, "payer", r.Role)
	assert.Equal(t, stateAwaitingApproval, r.State)
	assert.Equal(t, "PENDING", r.Status)
	assert.True(t, f.pending("alice@alpha", id))
	assert.Zero(t, f.sent(id, "RespAuthDetails"), "nothing goes back until the payer answers")

	// The switch asking again does not prompt the user twice.
	again := collectFromChai(id, "alice@alpha", 5000)
	f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, again)
	assert.Equal(t, 1, f.sent(id, "Notify"))
}

func TestCollectForUnknownPayer(t *testing.T) {
	f := newFixture(t, alpha, nil)
	id := newTxnID("BET")
	req := collectFromChai(id, "zed@alpha", 5000)
	f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, req)

	m := f.rec.WaitFor(t, upiv1.SwitchService_RespAuthDetails_FullMethodName, id).Msg.(*upiv1.RespAuthDetails)
	assert.Equal(t, upiv1.Resp_FAILURE, m.GetResp().GetResult())
	assert.Equal(t, "U29", m.GetResp().GetErrCode())
	assert.Equal(t, req.GetHead().GetMsgId(), m.GetResp().GetReqMsgId())
	assert.Equal(t, "zed@alpha", m.GetPayer().GetAddr())
	assert.Zero(t, f.sent(id, "Notify"))
	_, err := f.p.RespondCollect(t.Context(), &upiv1.RespondCollectRequest{TxnId: id, Approve: true, Cred: pintest.Opaque("1234", "")})
	requireCode(t, err, codes.NotFound, id)
}

// A PSP that declines a request it did not initiate does not decide the
// transaction: the switch does, and may end it otherwise. Here the collect
// expired at the switch before the payer PSP's U29 arrived, so the switch
// ends it U69, and the payer PSP's record says what the switch decided.
func TestDeclinedCollectEndsAsTheSwitchDecides(t *testing.T) {
	f := newFixture(t, alpha, nil)
	id := newTxnID("BET")
	f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, collectFromChai(id, "zed@alpha", 5000))
	f.rec.WaitFor(t, upiv1.SwitchService_RespAuthDetails_FullMethodName, id)
	r := f.record(id)
	assert.Equal(t, stateAuthDeclined, r.State)
	assert.Equal(t, "PENDING", r.Status, "its own answer is not the outcome")

	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_COLLECT, CustRef: "512345000001"},
		Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: "U69"},
	})
	f.rec.WaitFor(t, upiv1.SwitchService_RespTxnConfirmation_FullMethodName, id)
	r = f.record(id)
	assert.Equal(t, "FAILURE", r.Status)
	assert.Equal(t, "U69", r.ErrCode)
	assert.Zero(t, f.sent(id, "Notify"), "the payer is not a user here: nobody to tell")
}

func TestRespondCollectApprove(t *testing.T) {
	f := newFixture(t, alpha, nil)
	id, req := awaitCollect(t, f)

	resp, err := f.p.RespondCollect(t.Context(), &upiv1.RespondCollectRequest{TxnId: id, Approve: true, Cred: pintest.Opaque("1234", "")})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_PENDING, resp.GetTransaction().GetStatus())
	assert.Equal(t, upiv1.Txn_COLLECT, resp.GetTransaction().GetType())

	s := f.rec.WaitFor(t, upiv1.SwitchService_RespAuthDetails_FullMethodName, id)
	assert.Equal(t, npci, s.To)
	m := s.Msg.(*upiv1.RespAuthDetails)
	assert.Equal(t, upiv1.Resp_SUCCESS, m.GetResp().GetResult())
	assert.Equal(t, req.GetHead().GetMsgId(), m.GetResp().GetReqMsgId())
	assert.Equal(t, upiv1.Txn_COLLECT, m.GetTxn().GetType())
	assert.Equal(t, "512345000001", m.GetTxn().GetCustRef())
	payer := m.GetPayer()
	assert.Equal(t, "alice@alpha", payer.GetAddr())
	assert.Equal(t, "Alice", payer.GetName())
	assert.Equal(t, "1000000001", payer.GetAc().GetAcNum())
	assert.Equal(t, "ABNK0000001", payer.GetAc().GetIfsc())
	assert.Equal(t, int64(5000), payer.GetAmountPaise())
	require.Len(t, payer.GetCreds(), 1)
	assert.Equal(t, "1234", pintest.OpenOpaque(payer.GetCreds()[0], ""), "the TPAP's PIN block, passed on whole")
	assert.Equal(t, req.GetPayee().String(), m.GetPayee().String(), "the payee goes back as the switch sent it")

	r := f.record(id)
	assert.Equal(t, stateApproved, r.State)
	assert.False(t, f.pending("alice@alpha", id))

	for _, again := range []*upiv1.RespondCollectRequest{
		{TxnId: id, Approve: true, Cred: pintest.Opaque("1234", "")},
		{TxnId: id},
	} {
		_, err := f.p.RespondCollect(t.Context(), again)
		requireCode(t, err, codes.FailedPrecondition, "already approved")
	}
	assert.Equal(t, 1, f.sent(id, "RespAuthDetails"))
}

func TestRespondCollectDecline(t *testing.T) {
	f := newFixture(t, alpha, nil)
	id, _ := awaitCollect(t, f)

	_, err := f.p.RespondCollect(t.Context(), &upiv1.RespondCollectRequest{TxnId: id})
	require.NoError(t, err)
	m := f.rec.WaitFor(t, upiv1.SwitchService_RespAuthDetails_FullMethodName, id).Msg.(*upiv1.RespAuthDetails)
	assert.Equal(t, upiv1.Resp_FAILURE, m.GetResp().GetResult())
	assert.Equal(t, "ZA", m.GetResp().GetErrCode())
	assert.Empty(t, m.GetPayer().GetCreds())
	assert.Nil(t, m.GetPayer().GetAc())
	assert.Equal(t, stateDeclined, f.record(id).State)

	_, err = f.p.RespondCollect(t.Context(), &upiv1.RespondCollectRequest{TxnId: id, Approve: true, Cred: pintest.Opaque("1234", "")})
	requireCode(t, err, codes.FailedPrecondition, "already declined")

	// The switch ends it with ZA; the payer is told.
	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_COLLECT}, Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: "ZA"},
	})
	require.Eventually(t, func() bool { return f.rec.Count(upiv1.TpapService_Notify_FullMethodName, id) == 2 }, 5*time.Second, 5*time.Millisecond)
	r := f.record(id)
	assert.Equal(t, "FAILURE", r.Status)
	assert.Equal(t, "ZA", r.ErrCode)
}

func TestRespondCollectBadRequests(t *testing.T) {
	f := newFixture(t, alpha, nil)
	id, _ := awaitCollect(t, f)
	pay, err := f.p.InitiatePay(t.Context(), &upiv1.InitiatePayRequest{PayerVpa: "alice@alpha", PayeeVpa: "bob@beta", AmountPaise: 1, Cred: pintest.Opaque("1234", "")})
	require.NoError(t, err)

	tests := []struct {
		name string
		req  *upiv1.RespondCollectRequest
		code codes.Code
		want string
	}{
		{"no PIN block", &upiv1.RespondCollectRequest{TxnId: id, Approve: true}, codes.InvalidArgument, "the PIN block is required"},
		{"a v1 block", &upiv1.RespondCollectRequest{TxnId: id, Approve: true, Cred: &upiv1.Cred{Type: "PIN", Data: "01abcd"}}, codes.InvalidArgument, `want PIN block version "2"`},
		{"no ki", &upiv1.RespondCollectRequest{TxnId: id, Approve: true, Cred: &upiv1.Cred{Ver: "2", Data: "x"}}, codes.InvalidArgument, "needs ki, ts and data"},
		{"no txn id", &upiv1.RespondCollectRequest{Approve: true, Cred: pintest.Opaque("1234", "")}, codes.InvalidArgument, "txn_id is required"},
		{"unknown txn", &upiv1.RespondCollectRequest{TxnId: newTxnID("BET"), Approve: true, Cred: pintest.Opaque("1234", "")}, codes.NotFound, "no collect request"},
		{"a payment, not a collect", &upiv1.RespondCollectRequest{TxnId: pay.GetTransaction().GetTxnId(), Cred: pintest.Opaque("1234", "")}, codes.NotFound, "no collect request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.p.RespondCollect(t.Context(), tt.req)
			requireCode(t, err, tt.code, tt.want)
		})
	}
	assert.Zero(t, f.sent(id, "RespAuthDetails"))
	assert.Equal(t, stateAwaitingApproval, f.record(id).State, "a bad answer leaves the collect waiting")

	_, err = f.p.RespondCollect(t.Context(), &upiv1.RespondCollectRequest{TxnId: id, Approve: true, Cred: pintest.Opaque("123456", "")})
	require.NoError(t, err)
}

func TestRespondCollectAfterExpiry(t *testing.T) {
	f := newFixture(t, alpha, nil)
	id, _ := awaitCollect(t, f)
	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_COLLECT, CustRef: "512345000001"},
		Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: "U69"},
	})
	f.rec.WaitFor(t, upiv1.SwitchService_RespTxnConfirmation_FullMethodName, id)
	assert.False(t, f.pending("alice@alpha", id))

	_, err := f.p.RespondCollect(t.Context(), &upiv1.RespondCollectRequest{TxnId: id, Approve: true, Cred: pintest.Opaque("1234", "")})
	requireCode(t, err, codes.FailedPrecondition, "FAILURE (U69)")
	assert.Zero(t, f.sent(id, "RespAuthDetails"))

	require.Eventually(t, func() bool { return f.rec.Count(upiv1.TpapService_Notify_FullMethodName, id) == 2 }, 5*time.Second, 5*time.Millisecond)
	var status *upiv1.Notification
	for _, s := range f.rec.All() {
		if n, ok := s.Msg.(*upiv1.Notification); ok && n.GetKind() == upiv1.Notification_TXN_STATUS {
			status = n
		}
	}
	require.NotNil(t, status)
	assert.Equal(t, "alice@alpha", status.GetUserAddr())
	assert.Equal(t, "U69", status.GetResp().GetErrCode())
}

func TestCollectInitiatorGetsRespPay(t *testing.T) {
	f := newFixture(t, beta, nil)
	resp, err := f.p.InitiateCollect(t.Context(), &upiv1.InitiateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "alice@alpha", AmountPaise: 6000})
	require.NoError(t, err)
	id := resp.GetTransaction().GetTxnId()

	f.accept(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_COLLECT, CustRef: "512345000005"},
		Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	})
	n := f.rec.WaitFor(t, upiv1.TpapService_Notify_FullMethodName, id).Msg.(*upiv1.Notification)
	assert.Equal(t, upiv1.Notification_TXN_STATUS, n.GetKind())
	assert.Equal(t, "chai@beta", n.GetUserAddr(), "the collect's initiator is the payee")
	assert.Equal(t, upiv1.Resp_SUCCESS, n.GetResp().GetResult())
	r := f.record(id)
	assert.Equal(t, "SUCCESS", r.Status)
	assert.Equal(t, "512345000005", r.Rrn)
}

func TestOnUsCollect(t *testing.T) {
	f := newFixture(t, beta, nil)
	resp, err := f.p.InitiateCollect(t.Context(), &upiv1.InitiateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "bob@beta", AmountPaise: 800})
	require.NoError(t, err)
	id := resp.GetTransaction().GetTxnId()

	req := collectFromChai(id, "bob@beta", 800)
	f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, req)
	assert.Equal(t, "payer+payee", f.record(id).Role)
	n := f.rec.WaitFor(t, upiv1.TpapService_Notify_FullMethodName, id).Msg.(*upiv1.Notification)
	assert.Equal(t, "bob@beta", n.GetUserAddr())

	_, err = f.p.RespondCollect(t.Context(), &upiv1.RespondCollectRequest{TxnId: id, Approve: true, Cred: pintest.Opaque("1234", "")})
	require.NoError(t, err)
	m := f.rec.WaitFor(t, upiv1.SwitchService_RespAuthDetails_FullMethodName, id).Msg.(*upiv1.RespAuthDetails)
	assert.Equal(t, "2000000001", m.GetPayer().GetAc().GetAcNum())

	f.accept(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_COLLECT, CustRef: "512345000001"}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	})
	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_COLLECT, CustRef: "512345000001"}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	})
	assert.Equal(t, 3, f.sent(id, "Notify"), "COLLECT_REQUEST to bob, then TXN_STATUS to chai and to bob")
	r := f.record(id)
	assert.True(t, r.Final)
	assert.True(t, r.Confirmed)
	assert.Equal(t, "SUCCESS", r.Status)
}
