package psp

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/pin/pintest"
)

var umnFormat = regexp.MustCompile(`^ALP[0-9A-F]{29}@alpha$`)

func TestCreateMandate(t *testing.T) {
	f := newFixture(t, alpha, nil)
	id := newTxnID("ALP")
	req := &upiv1.CreateMandateRequest{TxnId: id, PayerVpa: "alice@alpha", PayeeVpa: "carol@beta", AmountPaise: 1_500_000, Cred: pintest.Opaque("1234", id)}
	got, err := f.p.CreateMandate(t.Context(), req)
	require.NoError(t, err)
	umn := got.GetMandate().GetUmn()
	assert.Regexp(t, umnFormat, umn)
	assert.Equal(t, MandateCreated, got.GetMandate().GetStatus())

	// The same request again: the same UMN, nothing more sent.
	again, err := f.p.CreateMandate(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, umn, again.GetMandate().GetUmn())
	other := proto.Clone(req).(*upiv1.CreateMandateRequest)
	other.AmountPaise = 1000
	_, err = f.p.CreateMandate(t.Context(), other)
	requireCode(t, err, codes.AlreadyExists, "different mandate")

	s, ok := waitSent(f.rec, upiv1.SwitchService_ReqMandate_FullMethodName)
	require.True(t, ok)
	m := s.Msg.(*upiv1.ReqMandate)
	assert.Equal(t, upiv1.Txn_CREATE, m.GetTxn().GetType())
	assert.Equal(t, "87", m.GetTxn().GetPurpose())
	assert.Equal(t, umn, m.GetMandate().GetUmn())
	assert.Equal(t, upiv1.Mandate_MAX, m.GetMandate().GetAmountRule())
	assert.Equal(t, upiv1.Mandate_ASPRESENTED, m.GetMandate().GetRecurrence())
	assert.True(t, m.GetMandate().GetRevokeable())
	assert.False(t, m.GetMandate().GetBlockFund())
	assert.NotEmpty(t, m.GetPayer().GetAc().GetAcNum())
	assert.NotEmpty(t, m.GetPayer().GetCreds())
	assert.Equal(t, "carol@beta", m.GetPayee().GetAddr())
	assert.Equal(t, 1, f.sent(id, "ReqMandate"))

	var heard []string
	f.p.onMandate = func(_ *node.Ctx, txnID, _, u string, resp *upiv1.Resp) error {
		heard = append(heard, txnID+" "+u+" "+resp.GetResult().String())
		return nil
	}
	signed := m.GetMandate()
	signed.Signature = "c2ln"
	f.accept(upiv1.PspService_RespMandate_FullMethodName, &upiv1.RespMandate{
		Head: swHead(), Txn: m.GetTxn(), Mandate: signed, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	})
	q, err := f.p.QueryMandate(t.Context(), &upiv1.QueryMandateRequest{Umn: umn})
	require.NoError(t, err)
	assert.Equal(t, MandateActive, q.GetMandate().GetStatus())
	assert.Equal(t, "c2ln", q.GetMandate().GetSignature())
	assert.Equal(t, []string{id + " " + umn + " SUCCESS"}, heard)

	// REVOKE: a new txn, no PIN; REVOKED on SUCCESS.
	rv := newTxnID("ALP")
	_, err = f.p.RevokeMandate(t.Context(), &upiv1.RevokeMandateRequest{TxnId: rv, Umn: umn})
	require.NoError(t, err)
	var rm *upiv1.ReqMandate
	require.Eventually(t, func() bool {
		for _, s := range f.rec.All() {
			if s.Msg.GetTxn().GetId() == rv {
				rm = s.Msg.(*upiv1.ReqMandate)
			}
		}
		return rm != nil
	}, 5*time.Second, 2*time.Millisecond)
	assert.Equal(t, upiv1.Txn_REVOKE, rm.GetTxn().GetType())
	assert.Equal(t, id, rm.GetTxn().GetOrgTxnId())
	assert.Empty(t, rm.GetPayer().GetCreds())
	f.accept(upiv1.PspService_RespMandate_FullMethodName, &upiv1.RespMandate{
		Head: swHead(), Txn: rm.GetTxn(), Mandate: rm.GetMandate(), Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	})
	q, err = f.p.QueryMandate(t.Context(), &upiv1.QueryMandateRequest{Umn: umn})
	require.NoError(t, err)
	assert.Equal(t, MandateRevoked, q.GetMandate().GetStatus())
}

func TestMandatePayeeSide(t *testing.T) {
	f := newFixture(t, beta, nil)
	id := newTxnID("ALP")
	umn := "ALP" + "0123456789ABCDEF0123456789ABC" + "@alpha"
	md := &upiv1.Mandate{Umn: umn, AmountPaise: 1_500_000, ValidityStart: "01012026", ValidityEnd: "01012027"}
	f.accept(upiv1.PspService_ReqAuthMandate_FullMethodName, &upiv1.ReqAuthMandate{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_CREATE}, Mandate: md,
		Payer: &upiv1.Party{Addr: "alice@alpha"}, Payee: &upiv1.Party{Addr: "carol@beta"},
	})
	s, ok := waitSent(f.rec, upiv1.SwitchService_RespAuthMandate_FullMethodName)
	require.True(t, ok)
	ra := s.Msg.(*upiv1.RespAuthMandate)
	assert.Equal(t, upiv1.Resp_SUCCESS, ra.GetResp().GetResult())
	assert.NotEmpty(t, ra.GetPayee().GetName())
	assert.Nil(t, ra.GetPayee().GetAc(), "no account details for a mandate's payee")

	withSig := proto.Clone(md).(*upiv1.Mandate)
	withSig.Signature = "c2ln" // the switch never sends it; PSP(S) would not keep it anyway
	f.accept(upiv1.PspService_ReqMandateConfirmation_FullMethodName, &upiv1.ReqMandateConfirmation{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_CREATE}, Mandate: withSig, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	})
	_, ok = waitSent(f.rec, upiv1.SwitchService_RespMandateConfirmation_FullMethodName)
	require.True(t, ok)
	q, err := f.p.QueryMandate(t.Context(), &upiv1.QueryMandateRequest{Umn: umn})
	require.NoError(t, err)
	assert.Equal(t, MandateActive, q.GetMandate().GetStatus())
	assert.Equal(t, "payee", q.GetMandate().GetRole())
	assert.Empty(t, q.GetMandate().GetSignature())
	assert.Equal(t, "carol@beta", q.GetMandate().GetPayeeVpa())

	// An unknown VPA of its own handle: U29.
	id2 := newTxnID("ALP")
	f.accept(upiv1.PspService_ReqAuthMandate_FullMethodName, &upiv1.ReqAuthMandate{
		Head: swHead(), Txn: &upiv1.Txn{Id: id2, Type: upiv1.Txn_CREATE}, Mandate: md,
		Payer: &upiv1.Party{Addr: "alice@alpha"}, Payee: &upiv1.Party{Addr: "nobody@beta"},
	})
	require.Eventually(t, func() bool { return f.sent(id2, "RespAuthMandate") == 1 }, 5*time.Second, 2*time.Millisecond)
	for _, s := range f.rec.All() {
		if s.Msg.GetTxn().GetId() == id2 {
			assert.Equal(t, "U29", s.Msg.(*upiv1.RespAuthMandate).GetResp().GetErrCode())
		}
	}
}
