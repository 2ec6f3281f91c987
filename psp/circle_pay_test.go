package psp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

const chaiVPA = "chai@beta"

// putLinkAt stores l at f's PSP as it is.
func (f *fixture) putLinkAt(l *linkRecord) {
	f.t.Helper()
	require.NoError(f.t, f.n.Update(func(c *node.Ctx) error { return putLink(c, l) }))
}

// sLink is PSP(S)'s LINKED FULL link carol → alice with limit, linked at
// linked, with debits of the given amounts made now.
func sLink(id string, limit int64, linked time.Time, debits ...int64) *linkRecord {
	l := &linkRecord{
		LinkId: id, Side: sideSecondary, Primary: aliceVPA, Secondary: carolVPA, Mode: upiv1.Delegate_FULL.String(),
		Status: linkLinked, Umn: "ALP0123@alpha", LimitPaise: limit, Linked: store.Nanos(linked),
	}
	for i, a := range debits {
		l.Debits = append(l.Debits, &recordsv1.CircleDebit{TxnId: newTxnID("BET") + string(rune('a'+i)), AmountPaise: a, At: store.Nanos(time.Now())})
	}
	return l
}

func (f *fixture) delegatedPay(amount int64) (*upiv1.Transaction, error) {
	f.t.Helper()
	out, err := f.p.InitiateDelegatedPay(f.t.Context(), &upiv1.InitiateDelegatedPayRequest{
		SecondaryVpa: carolVPA, PayeeVpa: chaiVPA, AmountPaise: amount, Note: "tea"})
	return out.GetTransaction(), err
}

// PSP(S) (step 2): no LINKED link is FailedPrecondition; Z8, QH and FP
// end the payment FAILURE at once with nothing sent; else, the payee
// resolved, ReqDelegateAuth.
func TestDelegatedPayLimitsAtPSPS(t *testing.T) {
	f := newFixture(t, beta, nil)
	_, err := f.delegatedPay(100)
	requireCode(t, err, codes.FailedPrecondition, "no LINKED UPI Circle link")

	id := newTxnID("ALP")
	long := time.Now().Add(-48 * time.Hour)
	f.putLinkAt(sLink(id, 300_00, long, 250_00))
	for _, c := range []struct {
		amount int64
		code   string
	}{{500_001, "Z8"}, {50_01, "QH"}} {
		tx, err := f.delegatedPay(c.amount)
		require.NoError(t, err)
		assert.Equal(t, upiv1.Resp_FAILURE, tx.GetStatus())
		assert.Equal(t, c.code, tx.GetErrCode())
		assert.Zero(t, f.sent(tx.GetTxnId(), "ReqDelegateAuth"))
		assert.Equal(t, "FAILURE", f.record(tx.GetTxnId()).GetStatus(), "the record says so (GetPayment)")
	}
	f.putLinkAt(sLink(id, 15_000_00, time.Now().Add(-time.Hour), 4_900_00))
	tx, err := f.delegatedPay(100_01)
	require.NoError(t, err)
	assert.Equal(t, "FP", tx.GetErrCode(), "over circle.cooling_limit in the first day")

	f.putLinkAt(sLink(id, 300_00, long, 250_00))
	tx, err = f.delegatedPay(50_00)
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_PENDING, tx.GetStatus())
	assert.Equal(t, "BET", tx.GetTxnId()[:3])
	f.answerLookup(f.lookup(tx.GetTxnId()), "Chai Point", "")
	m := f.rec.WaitFor(t, upiv1.SwitchService_ReqDelegateAuth_FullMethodName, tx.GetTxnId()).Msg.(*upiv1.ReqDelegateAuth)
	assert.Equal(t, upiv1.Delegate_FULL, m.GetDelegate().GetSubType())
	assert.Equal(t, "ALP0123@alpha", m.GetDelegate().GetUmn())
	assert.Equal(t, aliceVPA, m.GetDelegate().GetPrimaryAddr())
	assert.Equal(t, carolVPA, m.GetDelegate().GetSecondaryAddr())
	assert.Equal(t, aliceVPA, m.GetPayer().GetAddr())
	assert.Equal(t, int64(50_00), m.GetPayer().GetAmountPaise())
	assert.Equal(t, chaiVPA, m.GetPayee().GetAddr())
	assert.Equal(t, "87", m.GetTxn().GetPurpose())

	// The outcome: counted at PSP(S), carol told.
	f.accept(upiv1.PspService_RespDelegateAuth_FullMethodName, &upiv1.RespDelegateAuth{
		Head: swHead(), Txn: m.GetTxn(), Resp: &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}})
	assert.Equal(t, "PENDING", f.record(tx.GetTxnId()).GetStatus())
	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{
		Head: swHead(), Txn: &upiv1.Txn{Id: tx.GetTxnId(), Type: upiv1.Txn_PAY, CustRef: "612345000001"},
		Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}})
	r := f.record(tx.GetTxnId())
	assert.Equal(t, "SUCCESS", r.GetStatus())
	assert.Equal(t, "612345000001", r.GetRrn())
	n := f.rec.WaitFor(t, upiv1.TpapService_Notify_FullMethodName, tx.GetTxnId()).Msg.(*upiv1.Notification)
	assert.Equal(t, carolVPA, n.GetUserAddr())
	assert.Equal(t, int64(300_00), f.link(sideSecondary, id).GetUsedPaise())
	require.Len(t, f.link(sideSecondary, id).GetDebits(), 2)

	// A decline by PSP(P) ends the payment with its code.
	f.putLinkAt(sLink(id, 15_000_00, long))
	tx, err = f.delegatedPay(10_00)
	require.NoError(t, err)
	f.answerLookup(f.lookup(tx.GetTxnId()), "Chai Point", "")
	m = f.rec.WaitFor(t, upiv1.SwitchService_ReqDelegateAuth_FullMethodName, tx.GetTxnId()).Msg.(*upiv1.ReqDelegateAuth)
	f.accept(upiv1.PspService_RespDelegateAuth_FullMethodName, &upiv1.RespDelegateAuth{
		Head: swHead(), Txn: m.GetTxn(), Resp: &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_FAILURE, ErrCode: "QC"}})
	r = f.record(tx.GetTxnId())
	assert.Equal(t, "FAILURE", r.GetStatus())
	assert.Equal(t, "QC", r.GetErrCode())
	assert.Equal(t, 1, f.sent(tx.GetTxnId(), "Notify"), "carol told")
	assert.Empty(t, f.link(sideSecondary, id).GetDebits(), "a failure counts nothing")
}

// reqDelegateAuth delivers PSP(S)'s ReqDelegateAuth for umn to PSP(P).
func (f *fixture) reqDelegateAuth(umn string, amount int64) *upiv1.ReqDelegateAuth {
	f.t.Helper()
	m := &upiv1.ReqDelegateAuth{
		Head: swHead(), Txn: &upiv1.Txn{Id: newTxnID("BET"), Type: upiv1.Txn_PAY, Purpose: "87", Note: "tea"},
		Delegate: &upiv1.Delegate{SubType: upiv1.Delegate_FULL, Umn: umn, PrimaryAddr: aliceVPA, SecondaryAddr: carolVPA},
		Payer:    &upiv1.Party{Addr: aliceVPA, AmountPaise: amount},
		Payee:    &upiv1.Party{Addr: chaiVPA},
	}
	f.accept(upiv1.PspService_ReqDelegateAuth_FullMethodName, m)
	return m
}

// authAnswer is PSP(P)'s RespDelegateAuth for m.
func (f *fixture) authAnswer(m *upiv1.ReqDelegateAuth) *upiv1.RespDelegateAuth {
	f.t.Helper()
	a := f.rec.WaitFor(f.t, upiv1.SwitchService_RespDelegateAuth_FullMethodName, m.GetTxn().GetId()).Msg.(*upiv1.RespDelegateAuth)
	assert.Equal(f.t, m.GetHead().GetMsgId(), a.GetResp().GetReqMsgId())
	return a
}

// PSP(P) (steps 5–8): the mandate, the UMN and the limits; the ReqPay
// under the mandate, RespDelegateAuth SUCCESS once the switch acked it,
// FAILURE U07 when it refused it; the outcome counted on the link.
func TestDelegateAuthAtPSPP(t *testing.T) {
	f := newFixture(t, alpha, nil)
	linkID, umn := linkedFull(t, f, 15_000_00)

	m := f.reqDelegateAuth(umn, 200_00)
	pay := f.rec.WaitFor(t, upiv1.SwitchService_ReqPay_FullMethodName, m.GetTxn().GetId()).Msg.(*upiv1.ReqPay)
	assert.Equal(t, upiv1.Txn_PAY, pay.GetTxn().GetType())
	assert.Equal(t, "87", pay.GetTxn().GetPurpose())
	assert.Equal(t, umn, pay.GetMandate().GetUmn())
	assert.Equal(t, "c2ln", pay.GetMandate().GetSignature(), "the remitter's signature")
	assert.Empty(t, pay.GetPayer().GetCreds(), "no PIN block")
	assert.Equal(t, aliceVPA, pay.GetPayer().GetAddr())
	assert.NotEmpty(t, pay.GetPayer().GetAc().GetAcNum())
	assert.Equal(t, chaiVPA, pay.GetPayee().GetAddr())
	a := f.authAnswer(m)
	assert.Equal(t, upiv1.Resp_SUCCESS, a.GetResp().GetResult(), "after the switch's positive ack")

	f.accept(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{
		Head: swHead(), Txn: &upiv1.Txn{Id: m.GetTxn().GetId(), Type: upiv1.Txn_PAY, CustRef: "612345000002"},
		Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}})
	assert.Equal(t, "SUCCESS", f.record(m.GetTxn().GetId()).GetStatus())
	l := f.link(sidePrimary, linkID)
	assert.Equal(t, int64(200_00), l.GetUsedPaise())
	shown := f.p.linkProto(l)
	assert.Equal(t, int64(200_00), shown.GetUsedPaise())
	assert.Equal(t, int64(14_800_00), shown.GetRemainingPaise())

	// Declines, each with its code and no ReqPay.
	fails := func(umn string, amount int64, code string) {
		t.Helper()
		m := f.reqDelegateAuth(umn, amount)
		a := f.authAnswer(m)
		assert.Equal(t, upiv1.Resp_FAILURE, a.GetResp().GetResult())
		assert.Equal(t, code, a.GetResp().GetErrCode())
		assert.Zero(t, f.rec.Count(upiv1.SwitchService_ReqPay_FullMethodName, m.GetTxn().GetId()))
	}
	fails(umn, 500_001, "Z8")
	fails(umn, 480_001, "FP") // 200.00 used since linking, within the first day
	fails("ALPFFFF@alpha", 100, "QJ")
	l.Linked = store.Nanos(time.Now().Add(-48 * time.Hour))
	l.LimitPaise = 300_00
	f.putLinkAt(l)
	fails(umn, 100_01, "QH")

	md := f.mandate(umn)

	// No link between them: CN.
	l.Status = linkDelinked
	f.putLinkAt(l)
	fails(umn, 100, "CN")

	// A ReqPay the switch refused: RespDelegateAuth FAILURE U07.
	l.Status = linkLinked
	f.putLinkAt(l)
	md.Status, md.ValidityEnd = MandateActive, time.Now().AddDate(1, 0, 0).In(istZone).Format("02012006")
	f.putMandateAt(md)
	m = f.reqDelegateAuth(umn, 10_00)
	pay = f.rec.WaitFor(t, upiv1.SwitchService_ReqPay_FullMethodName, m.GetTxn().GetId()).Msg.(*upiv1.ReqPay)
	f.authAnswer(m) // the ack's SUCCESS
	require.NoError(t, f.n.Update(func(c *node.Ctx) error {
		return f.p.reqPayRefused(c, node.Refused{Msg: pay, TxnID: pay.GetTxn().GetId(), Reason: "test"})
	}))
	assert.Equal(t, 2, f.sent(m.GetTxn().GetId(), "RespDelegateAuth"))
	recs, err := f.n.Trace(m.GetTxn().GetId())
	require.NoError(t, err)
	var last *upiv1.TraceRecord
	for _, r := range recs {
		if r.GetDirection() == upiv1.TraceRecord_OUT && r.GetApi() == "RespDelegateAuth" {
			last = r
		}
	}
	require.NotNil(t, last)
	assert.Contains(t, last.GetSummary(), "U07")
	assert.Equal(t, "FAILURE", f.record(m.GetTxn().GetId()).GetStatus())
}

func (f *fixture) mandate(umn string) *mandateRecord {
	f.t.Helper()
	var r *mandateRecord
	require.NoError(f.t, f.n.View(func(tx *store.Tx) (err error) { r, err = getMandate(tx, mandatePayer, umn); return err }))
	require.NotNil(f.t, r)
	return r
}

func (f *fixture) putMandateAt(r *mandateRecord) {
	f.t.Helper()
	require.NoError(f.t, f.n.Update(func(c *node.Ctx) error { return putMandate(c.Tx, r, c.Now()) }))
}

// PSP(P) under full delegation with the mandate not ACTIVE (revoked, or
// past its validity): the payment falls back to the primary's approval,
// as under partial delegation (no Circle limit of PSP(P)'s); approved, the
// ReqPay carries the PIN block and no mandate; a UMN not the link's is
// still QJ.
func TestDelegateAuthMandateNotActiveAtPSPP(t *testing.T) {
	f := newFixture(t, alpha, nil)
	linkID, umn := linkedFull(t, f, 300_00)
	md := f.mandate(umn)
	md.ValidityEnd = time.Now().AddDate(0, 0, -2).In(istZone).Format("02012006")
	f.putMandateAt(md)

	parked := func(amount int64) string {
		t.Helper()
		m := f.reqDelegateAuth(umn, amount)
		id := m.GetTxn().GetId()
		note := f.rec.WaitFor(t, upiv1.TpapService_Notify_FullMethodName, id).Msg.(*upiv1.Notification)
		assert.Equal(t, upiv1.Notification_DELEGATE_PAY, note.GetKind())
		assert.Equal(t, aliceVPA, note.GetUserAddr())
		nodetest.Quiesce(t, f.n)
		assert.Zero(t, f.sent(id, "ReqPay"), "parked for the primary")
		assert.Zero(t, f.sent(id, "RespDelegateAuth"))
		assert.True(t, f.pending(aliceVPA, id))
		r := f.record(id)
		assert.Equal(t, stateAwaitingPrimary, r.GetState())
		assert.Equal(t, linkID, r.GetCircleLinkId())
		return id
	}
	expired := parked(400_00) // past the link's limit: the primary decides

	md.Status, md.ValidityEnd = MandateRevoked, time.Now().AddDate(1, 0, 0).In(istZone).Format("02012006")
	f.putMandateAt(md)
	revoked := parked(100_00)

	_, err := f.p.RespondDelegatedPay(t.Context(), &upiv1.RespondDelegatedPayRequest{TxnId: revoked, Approve: true, Cred: pintest.Opaque("1234", "")})
	require.NoError(t, err)
	pay := f.rec.WaitFor(t, upiv1.SwitchService_ReqPay_FullMethodName, revoked).Msg.(*upiv1.ReqPay)
	assert.Nil(t, pay.GetMandate(), "no mandate behind it")
	assert.Len(t, pay.GetPayer().GetCreds(), 1, "the primary's PIN block")
	assert.Equal(t, "87", pay.GetTxn().GetPurpose())
	_, err = f.p.RespondDelegatedPay(t.Context(), &upiv1.RespondDelegatedPayRequest{TxnId: expired})
	require.NoError(t, err)
	assert.Equal(t, upi.CodeDeclinedByPayer, f.record(expired).GetErrCode())
	assert.Zero(t, f.sent(expired, "ReqPay"))

	m := f.reqDelegateAuth("ALPFFFF@alpha", 100)
	a := f.authAnswer(m)
	assert.Equal(t, upi.CodeCircleUMN, a.GetResp().GetErrCode(), "a UMN not the link's is no fall-back")
}
