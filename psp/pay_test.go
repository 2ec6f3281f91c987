package psp

import (
	"fmt"
	"github.com/upisim/upisim/internal/upi"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/store"
)

func TestSeedRegistersOwnUsersAndMerchants(t *testing.T) {
	f := newFixture(t, beta, nil)
	require.NoError(t, f.p.Seed(), "Seed again")

	want := map[string]*vpaRecord{
		"bob@beta":   {Vpa: "bob@beta", Name: "Bob", Type: "PERSON", Mcc: "0000", AcNum: "2000000001", Ifsc: "BBNK0000001"},
		"carol@beta": {Vpa: "carol@beta", Name: "Carol", Type: "PERSON", Mcc: "0000", AcNum: "2000000002", Ifsc: "BBNK0000001"},
		"chai@beta":  {Vpa: "chai@beta", Name: "Chai Point", Type: "ENTITY", Mcc: "5812", AcNum: "2000000003", Ifsc: "BBNK0000001"},
		// The magic merchants.
		"deemedshop@beta": {Vpa: "deemedshop@beta", Name: "Deemed Shop", Type: "ENTITY", Mcc: "5812", AcNum: "2000000004", Ifsc: "BBNK0000001"},
		"lostshop@beta":   {Vpa: "lostshop@beta", Name: "Lost Shop", Type: "ENTITY", Mcc: "5812", AcNum: "2000000005", Ifsc: "BBNK0000001"},
	}
	// The default network's magic payees and UPI Circle users at beta
	// (config/default.yaml).
	for i, m := range []struct{ vpa, name string }{
		{"creditfail@beta", "Credit Fail"}, {"deemed@beta", "Deemed"}, {"lost@beta", "Lost"},
		{"slowdebit@beta", "Slow Debit"}, {"twice@beta", "Twice"}, {"declines@beta", "Declines"}, {"silent@beta", "Silent"},
	} {
		want[m.vpa] = &vpaRecord{Vpa: m.vpa, Name: m.name, Type: "PERSON", Mcc: "0000", AcNum: fmt.Sprintf("200000090%d", i+1), Ifsc: "BBNK0000001"}
	}
	got := map[string]*vpaRecord{}
	require.NoError(t, f.n.View(func(tx *store.Tx) error {
		return tx.Scan(store.VPAs, nil, func(k, _ []byte) (bool, error) {
			v, err := getVPA(tx, string(k))
			if err != nil {
				return false, err
			}
			got[string(k)] = v
			return true, nil
		})
	}))
	assert.Len(t, got, len(want))
	for k, w := range want {
		assert.True(t, proto.Equal(w, got[k]), "%s: want %v, got %v", k, w, got[k])
	}

	a := newFixture(t, alpha, nil)
	require.NoError(t, a.n.View(func(tx *store.Tx) error {
		v, err := getVPA(tx, "Alice@Alpha")
		require.NoError(t, err)
		require.NotNil(t, v)
		want := &vpaRecord{Vpa: "alice@alpha", Name: "Alice", Type: "PERSON", Mcc: "0000", AcNum: "1000000001", Ifsc: "ABNK0000001", Mobile: "9800000001"}
		assert.True(t, proto.Equal(want, v), "got %v", v)
		return nil
	}))
}

func TestInitiatePaySendsReqPay(t *testing.T) {
	f := newFixture(t, alpha, nil)
	resp, err := f.p.InitiatePay(t.Context(), &upiv1.InitiatePayRequest{
		PayerVpa: "alice@alpha", PayeeVpa: "Chai@Beta", AmountPaise: 12345, Note: "tea", Cred: pintest.Opaque("1234", ""), DeviceId: "dev-1",
	})
	require.NoError(t, err)
	txn := resp.GetTransaction()
	id := txn.GetTxnId()
	require.True(t, ids.ValidID(id))
	assert.Equal(t, "ALP", ids.PrefixOf(id))
	assert.Equal(t, upiv1.Resp_PENDING, txn.GetStatus())
	assert.Equal(t, upiv1.Txn_PAY, txn.GetType())
	assert.Equal(t, "alice@alpha", txn.GetPayerVpa())
	assert.Equal(t, "chai@beta", txn.GetPayeeVpa())
	assert.Equal(t, int64(12345), txn.GetAmountPaise())

	s := f.rec.WaitFor(t, upiv1.SwitchService_ReqPay_FullMethodName, id)
	assert.Equal(t, npci, s.To)
	m := s.Msg.(*upiv1.ReqPay)
	assert.Equal(t, alpha, m.GetHead().GetOrgId())
	assert.Equal(t, upiv1.Txn_PAY, m.GetTxn().GetType())
	assert.Equal(t, "tea", m.GetTxn().GetNote())
	payer := m.GetPayer()
	assert.Equal(t, "alice@alpha", payer.GetAddr())
	assert.Equal(t, "Alice", payer.GetName())
	assert.Equal(t, upiv1.Party_PERSON, payer.GetType())
	assert.Equal(t, "0000", payer.GetCode())
	assert.Equal(t, "1000000001", payer.GetAc().GetAcNum())
	assert.Equal(t, "ABNK0000001", payer.GetAc().GetIfsc())
	assert.Equal(t, int64(12345), payer.GetAmountPaise())
	assert.Equal(t, "INR", payer.GetCurrency())
	assert.Equal(t, "dev-1", payer.GetDevice().GetId())
	require.Len(t, payer.GetCreds(), 1)
	cred := payer.GetCreds()[0]
	assert.Equal(t, "PIN", cred.GetType())
	assert.Equal(t, "MPIN", cred.GetSubType())
	assert.Equal(t, "1234", pintest.OpenOpaque(cred, ""), "the TPAP's PIN block, passed on whole")
	assert.Equal(t, "2", cred.GetVer())
	assert.NotEmpty(t, cred.GetKi())
	assert.NotNil(t, cred.GetTs())
	assert.Equal(t, "chai@beta", m.GetPayee().GetAddr())
	assert.Nil(t, m.GetPayee().GetAc(), "the payer PSP does not know the payee's account")

	r := f.record(id)
	assert.Equal(t, "payer", r.Role)
	assert.Equal(t, stateReqSent, r.State)
	q, err := f.p.QueryTransaction(t.Context(), &upiv1.QueryTransactionRequest{TxnId: id})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_PENDING, q.GetTransaction().GetStatus())
	ins, err := f.p.InspectTxn(id)
	require.NoError(t, err)
	assert.Equal(t, alpha, ins.GetNode())
	assert.Equal(t, stateReqSent, ins.GetState())
}

func TestInitiatePayValidation(t *testing.T) {
	f := newFixture(t, alpha, nil)
	ok := func() *upiv1.InitiatePayRequest {
		return &upiv1.InitiatePayRequest{PayerVpa: "alice@alpha", PayeeVpa: "bob@beta", AmountPaise: 100, Cred: pintest.Opaque("1234", "")}
	}
	tests := []struct {
		name string
		edit func(r *upiv1.InitiatePayRequest)
		code codes.Code
		want string
	}{
		{"missing payer", func(r *upiv1.InitiatePayRequest) { r.PayerVpa = "" }, codes.InvalidArgument, "payer_vpa: missing VPA"},
		{"bad payer", func(r *upiv1.InitiatePayRequest) { r.PayerVpa = "alice" }, codes.InvalidArgument, "payer_vpa"},
		{"bad payee", func(r *upiv1.InitiatePayRequest) { r.PayeeVpa = "bob@@beta" }, codes.InvalidArgument, "payee_vpa"},
		{"zero amount", func(r *upiv1.InitiatePayRequest) { r.AmountPaise = 0 }, codes.InvalidArgument, "amount_paise must be greater than 0"},
		{"negative amount", func(r *upiv1.InitiatePayRequest) { r.AmountPaise = -5 }, codes.InvalidArgument, "amount_paise"},
		{"missing PIN block", func(r *upiv1.InitiatePayRequest) { r.Cred = nil }, codes.InvalidArgument, "the PIN block is required"},
		{"a v1 PIN block", func(r *upiv1.InitiatePayRequest) { r.Cred = &upiv1.Cred{Type: "PIN", Data: "01ab"} }, codes.InvalidArgument, `want PIN block version "2"`},
		{"a PIN block without ts", func(r *upiv1.InitiatePayRequest) { r.Cred.Ts = nil }, codes.InvalidArgument, "needs ki, ts and data"},
		{"same payer and payee", func(r *upiv1.InitiatePayRequest) { r.PayeeVpa = "ALICE@alpha" }, codes.InvalidArgument, "same VPA"},
		{"payer of another PSP", func(r *upiv1.InitiatePayRequest) { r.PayerVpa = "bob@beta"; r.PayeeVpa = "alice@alpha" }, codes.NotFound, "payer VPA bob@beta is not registered at PSP alphapsp"},
		{"unknown payer", func(r *upiv1.InitiatePayRequest) { r.PayerVpa = "zed@alpha" }, codes.NotFound, "zed@alpha is not registered"},
		{"bad txn_id", func(r *upiv1.InitiatePayRequest) { r.TxnId = "ALP123" }, codes.InvalidArgument, "txn_id"},
		{"txn_id of another PSP", func(r *upiv1.InitiatePayRequest) { r.TxnId = newTxnID("BET") }, codes.InvalidArgument, "prefix ALP"},
		// What the switch would refuse in its Ack is refused here, with
		// the switch's own limits (node.CheckText, upi.CheckAmount).
		{"note too long", func(r *upiv1.InitiatePayRequest) { r.Note = strings.Repeat("n", 10_000) }, codes.InvalidArgument, "note is 10000 characters long; at most 50 are allowed"},
		{"control character in note", func(r *upiv1.InitiatePayRequest) { r.Note = "rent\x00" }, codes.InvalidArgument, "note contains the control character U+0000"},
		{"note not UTF-8", func(r *upiv1.InitiatePayRequest) { r.Note = "\xff" }, codes.InvalidArgument, "note is not valid UTF-8"},
		{"amount over the largest", func(r *upiv1.InitiatePayRequest) { r.AmountPaise = upi.MaxAmountPaise + 1 }, codes.InvalidArgument, "amount_paise 1000000000001 is more than the largest amount"},
		{"device_id too long", func(r *upiv1.InitiatePayRequest) { r.DeviceId = strings.Repeat("d", 256) }, codes.InvalidArgument, "device_id is 256 bytes long"},
		{"control character in ref_id", func(r *upiv1.InitiatePayRequest) { r.RefId = "a\nb" }, codes.InvalidArgument, "ref_id contains the control character U+000A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := ok()
			tt.edit(req)
			_, err := f.p.InitiatePay(t.Context(), req)
			requireCode(t, err, tt.code, tt.want)
		})
	}
	assert.Empty(t, f.rec.All(), "nothing is sent for a rejected payment")
	var n int
	require.NoError(t, f.n.View(func(tx *store.Tx) error { n = tx.Count(store.Txns); return nil }))
	assert.Zero(t, n, "nothing is stored for a rejected payment")
}

func TestInitiatePayWithTxnIDIsIdempotent(t *testing.T) {
	f := newFixture(t, alpha, nil)
	id := newTxnID("ALP")
	req := &upiv1.InitiatePayRequest{PayerVpa: "alice@alpha", PayeeVpa: "bob@beta", AmountPaise: 500, Note: "x", Cred: pintest.Opaque("1234", ""), TxnId: id}
	first, err := f.p.InitiatePay(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, id, first.GetTransaction().GetTxnId())
	again, err := f.p.InitiatePay(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, first.GetTransaction().GetCreated().AsTime(), again.GetTransaction().GetCreated().AsTime())
	assert.Equal(t, 1, f.sent(id, "ReqPay"), "a repeat sends nothing")

	tests := []struct {
		name string
		edit func(r *upiv1.InitiatePayRequest)
	}{
		{"other amount", func(r *upiv1.InitiatePayRequest) { r.AmountPaise = 501 }},
		{"other payee", func(r *upiv1.InitiatePayRequest) { r.PayeeVpa = "carol@beta" }},
		{"other note", func(r *upiv1.InitiatePayRequest) { r.Note = "y" }},
		{"other PIN block", func(r *upiv1.InitiatePayRequest) { r.Cred = pintest.Opaque("1234", "") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := &upiv1.InitiatePayRequest{PayerVpa: req.PayerVpa, PayeeVpa: req.PayeeVpa, AmountPaise: req.AmountPaise, Note: req.Note, Cred: req.Cred, TxnId: id}
			tt.edit(other)
			_, err := f.p.InitiatePay(t.Context(), other)
			requireCode(t, err, codes.AlreadyExists, id)
		})
	}
	assert.Equal(t, 1, f.sent(id, "ReqPay"))
	assert.Equal(t, int64(500), f.record(id).AmountPaise)
}

func TestReqAuthDetailsPay(t *testing.T) {
	tests := []struct {
		name    string
		payee   string
		result  upiv1.Resp_Result
		errCode string
		want    *upiv1.Party
		state   string
	}{
		{"merchant", "chai@beta", upiv1.Resp_SUCCESS, "", &upiv1.Party{
			Addr: "chai@beta", Name: "Chai Point", Type: upiv1.Party_ENTITY, Code: "5812",
			Ac: &upiv1.Account{AcNum: "2000000003", Ifsc: "BBNK0000001"}, AmountPaise: 2500, Currency: "INR",
		}, stateAuthSent},
		{"person", "Bob@Beta", upiv1.Resp_SUCCESS, "", &upiv1.Party{
			Addr: "bob@beta", Name: "Bob", Type: upiv1.Party_PERSON, Code: "0000",
			Ac: &upiv1.Account{AcNum: "2000000001", Ifsc: "BBNK0000001"}, AmountPaise: 2500, Currency: "INR",
		}, stateAuthSent},
		{"unknown", "zed@beta", upiv1.Resp_FAILURE, "U29", &upiv1.Party{Addr: "zed@beta"}, stateAuthDeclined},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, beta, nil)
			id := newTxnID("ALP")
			req := payTo(id, "alice@alpha", tt.payee, 2500)
			f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, req)

			s := f.rec.WaitFor(t, upiv1.SwitchService_RespAuthDetails_FullMethodName, id)
			assert.Equal(t, npci, s.To)
			m := s.Msg.(*upiv1.RespAuthDetails)
			assert.Equal(t, req.GetHead().GetMsgId(), m.GetResp().GetReqMsgId())
			assert.Equal(t, tt.result, m.GetResp().GetResult())
			assert.Equal(t, tt.errCode, m.GetResp().GetErrCode())
			assert.Equal(t, "512345000002", m.GetTxn().GetCustRef())
			assert.Equal(t, upiv1.Txn_PAY, m.GetTxn().GetType())
			assert.Equal(t, tt.want.String(), m.GetPayee().String())
			assert.Equal(t, "alice@alpha", m.GetPayer().GetAddr())

			r := f.record(id)
			assert.Equal(t, "payee", r.Role)
			assert.Equal(t, tt.state, r.State)
			assert.Equal(t, "512345000002", r.Rrn)
			// Answering decides nothing, a decline neither: the outcome
			// comes with the switch's ReqTxnConfirmation.
			assert.Equal(t, "PENDING", r.Status)
		})
	}
}

func TestReqAuthDetailsRefusals(t *testing.T) {
	f := newFixture(t, beta, nil)
	tests := []struct {
		name string
		edit func(m *upiv1.ReqAuthDetails)
		want string
	}{
		{"not from the switch", func(m *upiv1.ReqAuthDetails) { m.Head.OrgId = "abank" }, "only from the switch npci"},
		{"payee handle of another PSP", func(m *upiv1.ReqAuthDetails) { m.Payee.Addr = "alice@alpha" }, "does not belong to PSP betapsp"},
		{"payee handle nobody owns", func(m *upiv1.ReqAuthDetails) { m.Payee.Addr = "x@gamma" }, "does not belong"},
		{"bad payee", func(m *upiv1.ReqAuthDetails) { m.Payee.Addr = "" }, "payee.addr: missing VPA"},
		{"no amount", func(m *upiv1.ReqAuthDetails) { m.Payer.AmountPaise = 0 }, "amount_paise"},
		{"wrong type", func(m *upiv1.ReqAuthDetails) { m.Txn.Type = upiv1.Txn_DEBIT }, "want PAY, COLLECT or LITE_SYNC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := payTo(newTxnID("ALP"), "alice@alpha", "bob@beta", 100)
			tt.edit(m)
			f.refuse(upiv1.PspService_ReqAuthDetails_FullMethodName, m, tt.want)
		})
	}
	assert.Empty(t, f.rec.All())
}

func TestRespPayUpdatesStatusAndNotifiesTPAP(t *testing.T) {
	tests := []struct {
		name    string
		result  upiv1.Resp_Result
		errCode string
	}{
		{"success", upiv1.Resp_SUCCESS, ""},
		{"insufficient funds", upiv1.Resp_FAILURE, "Z9"},
		{"credit failed", upiv1.Resp_FAILURE, "U31"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, alpha, nil)
			resp, err := f.p.InitiatePay(t.Context(), &upiv1.InitiatePayRequest{PayerVpa: "alice@alpha", PayeeVpa: "bob@beta", AmountPaise: 700, Cred: pintest.Opaque("1234", "")})
			require.NoError(t, err)
			id := resp.GetTransaction().GetTxnId()

			out := &upiv1.RespPay{
				Head: swHead(),
				Txn:  &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY, CustRef: "512345000009"},
				Resp: &upiv1.Resp{Result: tt.result, ErrCode: tt.errCode, Refs: []*upiv1.Ref{{Type: "PAYER", Addr: "alice@alpha", ApprovalNum: "123456"}}},
			}
			f.accept(upiv1.PspService_RespPay_FullMethodName, out)

			q, err := f.p.QueryTransaction(t.Context(), &upiv1.QueryTransactionRequest{TxnId: id})
			require.NoError(t, err)
			assert.Equal(t, tt.result, q.GetTransaction().GetStatus())
			assert.Equal(t, tt.errCode, q.GetTransaction().GetErrCode())
			assert.Equal(t, "512345000009", q.GetTransaction().GetRrn())
			assert.Equal(t, stateCompleted, f.record(id).State)

			s := f.rec.WaitFor(t, upiv1.TpapService_Notify_FullMethodName, id)
			assert.Equal(t, tpap, s.To)
			n := s.Msg.(*upiv1.Notification)
			assert.Equal(t, upiv1.Notification_TXN_STATUS, n.GetKind())
			assert.Equal(t, "alice@alpha", n.GetUserAddr())
			assert.Equal(t, tt.result, n.GetResp().GetResult())
			assert.Equal(t, tt.errCode, n.GetResp().GetErrCode())
			assert.Equal(t, "512345000009", n.GetTxn().GetCustRef())
			assert.Equal(t, int64(700), n.GetPayer().GetAmountPaise())
			assert.Equal(t, "bob@beta", n.GetPayee().GetAddr())

			// A late or duplicate answer with another outcome changes nothing.
			dup := &upiv1.RespPay{Head: swHead(), Txn: out.GetTxn(), Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: "U70"}}
			f.accept(upiv1.PspService_RespPay_FullMethodName, dup)
			assert.Equal(t, tt.result.String(), f.record(id).Status)
			assert.Equal(t, tt.errCode, f.record(id).ErrCode)
			assert.Equal(t, 1, f.sent(id, "Notify"))
		})
	}
}

func TestRespPayDeemedThenFinal(t *testing.T) {
	f := newFixture(t, alpha, nil)
	resp, err := f.p.InitiatePay(t.Context(), &upiv1.InitiatePayRequest{PayerVpa: "alice@alpha", PayeeVpa: "bob@beta", AmountPaise: 700, Cred: pintest.Opaque("1234", "")})
	require.NoError(t, err)
	id := resp.GetTransaction().GetTxnId()
	txn := &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY, CustRef: "512345000010"}

	f.accept(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{Head: swHead(), Txn: txn, Resp: &upiv1.Resp{Result: upiv1.Resp_DEEMED, ErrCode: "RB"}})
	assert.Equal(t, "DEEMED", f.record(id).Status)
	f.accept(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{Head: swHead(), Txn: txn, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}})
	r := f.record(id)
	assert.Equal(t, "SUCCESS", r.Status)
	assert.Empty(t, r.ErrCode)
	assert.Equal(t, 2, f.sent(id, "Notify"), "the app hears DEEMED and then SUCCESS")
}

func TestRespPayRefusals(t *testing.T) {
	f := newFixture(t, beta, nil)
	unknown := newTxnID("BET")
	f.refuse(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{
		Head: swHead(), Txn: &upiv1.Txn{Id: unknown, Type: upiv1.Txn_PAY}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	}, "does not know")

	// A transaction this PSP only saw as the payee's PSP.
	id := newTxnID("ALP")
	f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, payTo(id, "alice@alpha", "bob@beta", 100))
	f.refuse(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	}, "did not initiate")

	f.refuse(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY}, Resp: &upiv1.Resp{},
	}, "resp.result is required")
}

func TestReqTxnConfirmation(t *testing.T) {
	tests := []struct {
		name    string
		result  upiv1.Resp_Result
		errCode string
		notify  bool
	}{
		{"credited", upiv1.Resp_SUCCESS, "", true},
		{"failed", upiv1.Resp_FAILURE, "Z9", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, beta, nil)
			id := newTxnID("ALP")
			f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, payTo(id, "alice@alpha", "chai@beta", 4200))

			conf := &upiv1.ReqTxnConfirmation{
				Head: swHead(),
				Txn:  &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY, CustRef: "512345000002"},
				Resp: &upiv1.Resp{Result: tt.result, ErrCode: tt.errCode},
			}
			f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, conf)

			s := f.rec.WaitFor(t, upiv1.SwitchService_RespTxnConfirmation_FullMethodName, id)
			assert.Equal(t, npci, s.To)
			m := s.Msg.(*upiv1.RespTxnConfirmation)
			assert.Equal(t, upiv1.Resp_SUCCESS, m.GetResp().GetResult())
			assert.Equal(t, conf.GetHead().GetMsgId(), m.GetResp().GetReqMsgId())

			r := f.record(id)
			assert.Equal(t, tt.result.String(), r.Status)
			assert.Equal(t, tt.errCode, r.ErrCode)
			assert.Equal(t, stateConfirmed, r.State)
			assert.True(t, r.Confirmed)

			if tt.notify {
				s := f.rec.WaitFor(t, upiv1.TpapService_Notify_FullMethodName, id)
				n := s.Msg.(*upiv1.Notification)
				assert.Equal(t, upiv1.Notification_TXN_STATUS, n.GetKind())
				assert.Equal(t, "chai@beta", n.GetUserAddr())
				assert.Equal(t, upiv1.Resp_SUCCESS, n.GetResp().GetResult())
				assert.Equal(t, int64(4200), n.GetPayee().GetAmountPaise())
			}
			assert.Equal(t, b2i(tt.notify), f.sent(id, "Notify"), "the payee hears of a payment only when credited")

			// The switch asks again: answered again, the user is not told twice.
			f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{Head: swHead(), Txn: conf.GetTxn(), Resp: conf.GetResp()})
			assert.Equal(t, 2, f.sent(id, "RespTxnConfirmation"))
			assert.Equal(t, b2i(tt.notify), f.sent(id, "Notify"))
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A confirmation of a transaction the PSP never saw is refused, unless it
// says the transaction ended without the PSP (its ReqAuthDetails lost,
// ignored or late): then the PSP records that outcome.
func TestReqTxnConfirmationForUnseenTxn(t *testing.T) {
	refs := []*upiv1.Ref{{Type: "PAYER", Addr: "alice@alpha"}, {Type: "PAYEE", Addr: "bob@beta", SettAmountPaise: 500000}}
	for _, tc := range []struct {
		name   string
		typ    upiv1.Txn_Type
		resp   *upiv1.Resp
		refuse bool
	}{
		{"SUCCESS", upiv1.Txn_PAY, &upiv1.Resp{Result: upiv1.Resp_SUCCESS, Refs: refs}, true},
		{"DEEMED", upiv1.Txn_PAY, &upiv1.Resp{Result: upiv1.Resp_DEEMED, ErrCode: "RB", Refs: refs}, true},
		{"FAILURE from a bank", upiv1.Txn_PAY, &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: "Z9", Refs: refs}, true},
		{"auth details timeout", upiv1.Txn_PAY, &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: "U09", Refs: refs}, false},
		{"collect expired", upiv1.Txn_COLLECT, &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: "U69", Refs: refs}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, beta, nil)
			id := newTxnID("ALP")
			ack := f.receive(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{
				Head: swHead(),
				Txn:  &upiv1.Txn{Id: id, Type: tc.typ, CustRef: "512345000003"},
				Resp: tc.resp,
			})
			if tc.refuse {
				assert.Contains(t, ack.GetErr(), "unknown transaction")
				_, err := f.p.InspectTxn(id)
				assert.Equal(t, codes.NotFound, status.Code(err), "a refused confirmation stores nothing")
				assert.Zero(t, f.rec.Count(upiv1.SwitchService_RespTxnConfirmation_FullMethodName, id), "a refused confirmation is not answered")
				assert.Zero(t, f.rec.Count(upiv1.TpapService_Notify_FullMethodName, id), "a refused confirmation tells no one")
				return
			}
			require.Empty(t, ack.GetErr())
			f.rec.WaitFor(t, upiv1.SwitchService_RespTxnConfirmation_FullMethodName, id)
			r := f.record(id)
			assert.Equal(t, "FAILURE", r.Status)
			assert.Equal(t, tc.resp.GetErrCode(), r.ErrCode)
		})
	}
}

func TestOnUsPay(t *testing.T) {
	f := newFixture(t, alpha, withUser("dave@alpha", "Dave", "abank", "1000000009"))
	resp, err := f.p.InitiatePay(t.Context(), &upiv1.InitiatePayRequest{PayerVpa: "alice@alpha", PayeeVpa: "dave@alpha", AmountPaise: 300, Cred: pintest.Opaque("1234", "")})
	require.NoError(t, err)
	id := resp.GetTransaction().GetTxnId()
	f.rec.WaitFor(t, upiv1.SwitchService_ReqPay_FullMethodName, id)

	f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, payTo(id, "alice@alpha", "dave@alpha", 300))
	auth := f.rec.WaitFor(t, upiv1.SwitchService_RespAuthDetails_FullMethodName, id).Msg.(*upiv1.RespAuthDetails)
	assert.Equal(t, upiv1.Resp_SUCCESS, auth.GetResp().GetResult())
	assert.Equal(t, "1000000009", auth.GetPayee().GetAc().GetAcNum())
	assert.Equal(t, "payer+payee", f.record(id).Role)

	// The confirmation may overtake the RespPay; each side still hears.
	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY, CustRef: "512345000004"}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	})
	f.accept(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY, CustRef: "512345000004"}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	})
	r := f.record(id)
	assert.Equal(t, "SUCCESS", r.Status)
	assert.True(t, r.Final)
	assert.True(t, r.Confirmed)
	require.Equal(t, 2, f.sent(id, "Notify"))
	// Deliveries are asynchronous: wait for both.
	require.Eventually(t, func() bool { return f.rec.Count(upiv1.TpapService_Notify_FullMethodName, id) == 2 }, 5*time.Second, 5*time.Millisecond)
	users := map[string]bool{}
	for _, s := range f.rec.All() {
		if n, ok := s.Msg.(*upiv1.Notification); ok && n.GetTxn().GetId() == id {
			users[n.GetUserAddr()] = true
		}
	}
	assert.Equal(t, map[string]bool{"alice@alpha": true, "dave@alpha": true}, users)
}

func TestQueryAndInspectUnknown(t *testing.T) {
	f := newFixture(t, alpha, nil)
	_, err := f.p.QueryTransaction(t.Context(), &upiv1.QueryTransactionRequest{TxnId: newTxnID("ALP")})
	requireCode(t, err, codes.NotFound, "not known at PSP alphapsp")
	_, err = f.p.QueryTransaction(t.Context(), &upiv1.QueryTransactionRequest{})
	requireCode(t, err, codes.InvalidArgument, "txn_id is required")
	_, err = f.p.InspectTxn(newTxnID("ALP"))
	requireCode(t, err, codes.NotFound, "not known")
}

func TestUnsupportedAPIsAreRefused(t *testing.T) {
	f := newFixture(t, alpha, nil)
	id := newTxnID("BET")
	tests := []struct {
		method string
		msg    node.Message
		api    string
	}{
		{upiv1.PspService_ReqDelegateAuth_FullMethodName, &upiv1.ReqDelegateAuth{Head: swHead(), Txn: &upiv1.Txn{Id: id},
			Delegate: &upiv1.Delegate{SubType: upiv1.Delegate_SUB_TYPE_UNSPECIFIED}}, "ReqDelegateAuth with delegate.sub_type SUB_TYPE_UNSPECIFIED"},
	}
	for _, tt := range tests {
		t.Run(tt.api, func(t *testing.T) {
			f.refuse(tt.method, tt.msg, tt.api+" is not supported by this PSP yet")
		})
	}
}

func TestReqTxnConfirmationDeemedThenSuccess(t *testing.T) {
	f := newFixture(t, beta, nil)
	id := newTxnID("ALP")
	f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, payTo(id, "alice@alpha", "bob@beta", 100))
	txn := &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY, CustRef: "512345000002"}

	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{Head: swHead(), Txn: txn, Resp: &upiv1.Resp{Result: upiv1.Resp_DEEMED, ErrCode: "RB"}})
	assert.Equal(t, "DEEMED", f.record(id).Status)
	assert.Zero(t, f.sent(id, "Notify"), "not credited yet")

	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{Head: swHead(), Txn: txn, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}})
	assert.Equal(t, "SUCCESS", f.record(id).Status)
	assert.Equal(t, 1, f.sent(id, "Notify"), "told once credited")
	assert.Equal(t, 2, f.sent(id, "RespTxnConfirmation"))
}

// A ReqPay the switch refuses in its Ack ends the payment FAILURE U07 at
// once and tells the user, instead of leaving it PENDING for a RespPay that
// will never come.
func TestReqPayRefusedBySwitch(t *testing.T) {
	f := newFixture(t, alpha, nil)
	f.rec.Refuse = func(method string) string {
		if method == upiv1.SwitchService_ReqPay_FullMethodName {
			return "duplicate transaction id: the switch already has a different transaction with this id"
		}
		return ""
	}
	resp, err := f.p.InitiatePay(t.Context(), &upiv1.InitiatePayRequest{PayerVpa: "alice@alpha", PayeeVpa: "bob@beta", AmountPaise: 700, Cred: pintest.Opaque("1234", "")})
	require.NoError(t, err)
	id := resp.GetTransaction().GetTxnId()

	s := f.rec.WaitFor(t, upiv1.TpapService_Notify_FullMethodName, id)
	n := s.Msg.(*upiv1.Notification)
	assert.Equal(t, upiv1.Resp_FAILURE, n.GetResp().GetResult())
	assert.Equal(t, "U07", n.GetResp().GetErrCode())
	r := f.record(id)
	assert.Equal(t, upiv1.Resp_FAILURE.String(), r.Status)
	assert.Equal(t, "U07", r.ErrCode)
	assert.Equal(t, stateCompleted, r.State)
	require.Eventually(t, func() bool {
		l, err := f.n.OutboxLen()
		return err == nil && l == 0
	}, 5*time.Second, 5*time.Millisecond, "the refused ReqPay leaves the outbox")
	recs, err := f.n.Trace(id)
	require.NoError(t, err)
	assert.Contains(t, recs[0].GetAckErr(), "duplicate transaction id", "the trace shows why")
}

// A record that carries what the switch refuses (a payment made before the
// app API checked notes and amounts) still ends at the app: the failure
// notice leaves out the fields the TPAP would refuse, so it is taken and
// the app's transaction ends FAILURE instead of staying PENDING.
func TestFailureNoticeLeavesOutInvalidFields(t *testing.T) {
	f := newFixture(t, alpha, nil)
	id := newTxnID("ALP")
	require.NoError(t, f.n.Update(func(c *node.Ctx) error {
		return putTxn(c.Tx, &txnRecord{
			Id: id, Type: upiv1.Txn_PAY.String(), State: stateReqSent, Status: upiv1.Resp_PENDING.String(),
			PayerVpa: "alice@alpha", PayerName: "Alice", PayeeVpa: "bob@beta",
			AmountPaise: upi.MaxAmountPaise + 1, Note: strings.Repeat("n", 10_000),
			PayerHere: true, PayerInitiator: true,
		}, c.Now())
	}))
	f.accept(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY},
		Resp: &upiv1.Resp{ReqMsgId: "ALP" + strings.Repeat("0", 32), Result: upiv1.Resp_FAILURE, ErrCode: "U07"},
	})
	s := f.rec.WaitFor(t, upiv1.TpapService_Notify_FullMethodName, id)
	n := s.Msg.(*upiv1.Notification)
	require.NoError(t, node.CheckLimits(n), "the TPAP takes the notice")
	assert.Equal(t, upiv1.Resp_FAILURE, n.GetResp().GetResult())
	assert.Equal(t, "U07", n.GetResp().GetErrCode())
	assert.Equal(t, "alice@alpha", n.GetUserAddr())
	assert.Equal(t, "bob@beta", n.GetPayee().GetAddr())
	assert.Empty(t, n.GetTxn().GetNote())
	assert.Zero(t, n.GetPayer().GetAmountPaise())
}
