package psp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// partialAuth delivers a ReqDelegateAuth PARTIAL alice → carol to f.
func (f *fixture) partialAuth(amount int64) *upiv1.ReqDelegateAuth {
	f.t.Helper()
	m := &upiv1.ReqDelegateAuth{
		Head: swHead(), Txn: &upiv1.Txn{Id: newTxnID("BET"), Type: upiv1.Txn_PAY, Purpose: "87", Note: "tea"},
		Delegate: &upiv1.Delegate{SubType: upiv1.Delegate_PARTIAL, PrimaryAddr: aliceVPA, SecondaryAddr: carolVPA},
		Payer:    &upiv1.Party{Addr: aliceVPA, AmountPaise: amount},
		Payee:    &upiv1.Party{Addr: chaiVPA},
	}
	f.accept(upiv1.PspService_ReqDelegateAuth_FullMethodName, m)
	return m
}

// PSP(P) under partial delegation: the payment is parked for the primary
// (DELEGATE_PAY to the app, listed); approval sends the primary's ReqPay
// with the PIN block and no mandate, then RespDelegateAuth SUCCESS; a
// decline answers ZA; no answer in circle.approval_expiry answers U69.
func TestDelegatedPayPartialAtPSPP(t *testing.T) {
	clock := nodetest.NewClock(time.Now())
	f := newFixtureWith(t, alpha, nil, Config{}, nodetest.WithClock(clock))
	f.putLinkAt(&linkRecord{
		LinkId: newTxnID("ALP"), Side: sidePrimary, Primary: aliceVPA, Secondary: carolVPA,
		Mode: upiv1.Delegate_PARTIAL.String(), Status: linkLinked, Linked: store.Nanos(clock.Now().Add(-48 * time.Hour)),
	})

	m := f.partialAuth(200_00)
	id := m.GetTxn().GetId()
	note := f.rec.WaitFor(t, upiv1.TpapService_Notify_FullMethodName, id).Msg.(*upiv1.Notification)
	assert.Equal(t, upiv1.Notification_DELEGATE_PAY, note.GetKind())
	assert.Equal(t, aliceVPA, note.GetUserAddr())
	nodetest.Quiesce(t, f.n)
	assert.Zero(t, f.sent(id, "ReqPay"), "parked, nothing sent")
	assert.Zero(t, f.sent(id, "RespDelegateAuth"))
	list, err := f.p.ListDelegatedApprovals(t.Context(), &upiv1.ListDelegatedApprovalsRequest{Vpa: aliceVPA})
	require.NoError(t, err)
	require.Len(t, list.GetApprovals(), 1)
	assert.Equal(t, id, list.GetApprovals()[0].GetTxnId())

	_, err = f.p.RespondDelegatedPay(t.Context(), &upiv1.RespondDelegatedPayRequest{TxnId: id, Approve: true})
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "approve needs the PIN block")
	_, err = f.p.RespondDelegatedPay(t.Context(), &upiv1.RespondDelegatedPayRequest{TxnId: id, Approve: true, Cred: pintest.Opaque("1234", "")})
	require.NoError(t, err)
	pay := f.rec.WaitFor(t, upiv1.SwitchService_ReqPay_FullMethodName, id).Msg.(*upiv1.ReqPay)
	assert.Equal(t, "87", pay.GetTxn().GetPurpose())
	assert.Nil(t, pay.GetMandate())
	assert.Len(t, pay.GetPayer().GetCreds(), 1, "the primary's PIN block")
	assert.Equal(t, aliceVPA, pay.GetPayer().GetAddr())
	assert.NotEmpty(t, pay.GetPayer().GetAc().GetAcNum())
	assert.Equal(t, chaiVPA, pay.GetPayee().GetAddr())
	assert.Equal(t, upiv1.Resp_SUCCESS, f.authAnswer(m).GetResp().GetResult())
	assert.False(t, f.pending(aliceVPA, id))
	_, err = f.p.RespondDelegatedPay(t.Context(), &upiv1.RespondDelegatedPayRequest{TxnId: id})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "answered once")

	// Declined: ZA, no ReqPay.
	m = f.partialAuth(100_00)
	f.rec.WaitFor(t, upiv1.TpapService_Notify_FullMethodName, m.GetTxn().GetId())
	_, err = f.p.RespondDelegatedPay(t.Context(), &upiv1.RespondDelegatedPayRequest{TxnId: m.GetTxn().GetId()})
	require.NoError(t, err)
	a := f.authAnswer(m)
	assert.Equal(t, upiv1.Resp_FAILURE, a.GetResp().GetResult())
	assert.Equal(t, upi.CodeDeclinedByPayer, a.GetResp().GetErrCode())
	assert.Zero(t, f.sent(m.GetTxn().GetId(), "ReqPay"))
	assert.Equal(t, "FAILURE", f.record(m.GetTxn().GetId()).GetStatus())

	// Not answered: U69 at circle.approval_expiry.
	m = f.partialAuth(100_00)
	f.rec.WaitFor(t, upiv1.TpapService_Notify_FullMethodName, m.GetTxn().GetId())
	clock.Advance(f.net.Circle.ApprovalExpiry - time.Second)
	nodetest.Quiesce(t, f.n)
	assert.Zero(t, f.sent(m.GetTxn().GetId(), "RespDelegateAuth"), "not before its time")
	clock.Advance(2 * time.Second)
	a = f.authAnswer(m)
	assert.Equal(t, upi.CodeExpired, a.GetResp().GetErrCode())
	assert.Zero(t, f.sent(m.GetTxn().GetId(), "ReqPay"))
	list, err = f.p.ListDelegatedApprovals(t.Context(), &upiv1.ListDelegatedApprovalsRequest{Vpa: aliceVPA})
	require.NoError(t, err)
	assert.Empty(t, list.GetApprovals())
}
