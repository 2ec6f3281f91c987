package psp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

const (
	aliceVPA = "alice@alpha"
	carolVPA = "carol@beta"
)

// invite is the switch's ReqDelegateAdd ADD PARTIAL of alice → secondary.
func invite(linkID, secondary string) *upiv1.ReqDelegateAdd {
	return &upiv1.ReqDelegateAdd{
		Head: swHead(),
		Txn:  &upiv1.Txn{Id: linkID, Type: upiv1.Txn_DELEGATE, Purpose: "87", Ts: timestamppb.Now()},
		Delegate: &upiv1.Delegate{Type: upiv1.Delegate_ADD, SubType: upiv1.Delegate_PARTIAL,
			PrimaryAddr: aliceVPA, SecondaryAddr: secondary},
		Payer: &upiv1.Party{Addr: aliceVPA, Name: "Alice"},
		Payee: &upiv1.Party{Addr: secondary},
	}
}

func (f *fixture) link(side, id string) *linkRecord {
	f.t.Helper()
	var l *linkRecord
	require.NoError(f.t, f.n.View(func(tx *store.Tx) error {
		var err error
		l, err = getLink(tx, side, id)
		return err
	}))
	require.NotNil(f.t, l, "no %s link %s", side, id)
	return l
}

func lastResp(t *testing.T, f *fixture, id string) *upiv1.RespDelegateAdd {
	t.Helper()
	return f.rec.WaitFor(t, upiv1.SwitchService_RespDelegateAdd_FullMethodName, id).Msg.(*upiv1.RespDelegateAdd)
}

func TestCircleInviteAccept(t *testing.T) {
	f := newFixture(t, beta, nil)
	id := newTxnID("ALP")
	m := invite(id, carolVPA)
	f.accept(upiv1.PspService_ReqDelegateAdd_FullMethodName, m)
	n := f.rec.WaitFor(t, upiv1.TpapService_Notify_FullMethodName, id).Msg.(*upiv1.Notification)
	assert.Equal(t, upiv1.Notification_DELEGATE_REQUEST, n.GetKind())
	assert.Equal(t, carolVPA, n.GetUserAddr())

	inv, err := f.p.ListCircleInvites(t.Context(), &upiv1.PspAppServiceListCircleInvitesRequest{Vpa: carolVPA})
	require.NoError(t, err)
	require.Len(t, inv.GetLinks(), 1)
	assert.Equal(t, upiv1.CircleLink_LINK_PENDING, inv.GetLinks()[0].GetStatus())

	got, err := f.p.RespondCircleLink(t.Context(), &upiv1.RespondCircleLinkRequest{LinkId: id, Accept: true})
	require.NoError(t, err)
	assert.Equal(t, upiv1.CircleLink_LINKED, got.GetLink().GetStatus())
	r := lastResp(t, f, id)
	assert.Equal(t, upiv1.Resp_SUCCESS, r.GetResp().GetResult())
	assert.Equal(t, m.GetHead().GetMsgId(), r.GetResp().GetReqMsgId())
	_, err = f.p.RespondCircleLink(t.Context(), &upiv1.RespondCircleLinkRequest{LinkId: id, Accept: false})
	requireCode(t, err, codes.FailedPrecondition, "no longer waiting")

	// The switch's confirmation of SUCCESS keeps it.
	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{
		Head: swHead(), Txn: m.GetTxn(), Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}})
	f.rec.WaitFor(t, upiv1.SwitchService_RespTxnConfirmation_FullMethodName, id)
	assert.Equal(t, linkLinked, f.link(sideSecondary, id).GetStatus())

	// The primary removes it: DELINKED, answered SUCCESS.
	rm := newTxnID("ALP")
	f.accept(upiv1.PspService_ReqDelegateAdd_FullMethodName, &upiv1.ReqDelegateAdd{
		Head: swHead(), Txn: &upiv1.Txn{Id: rm, OrgTxnId: id, Type: upiv1.Txn_DELEGATE},
		Delegate: &upiv1.Delegate{Type: upiv1.Delegate_REMOVE, SubType: upiv1.Delegate_PARTIAL, PrimaryAddr: aliceVPA, SecondaryAddr: carolVPA},
	})
	assert.Equal(t, upiv1.Resp_SUCCESS, lastResp(t, f, rm).GetResp().GetResult())
	assert.Equal(t, linkDelinked, f.link(sideSecondary, id).GetStatus())
}

func TestCircleInviteDecline(t *testing.T) {
	f := newFixture(t, beta, nil)
	id := newTxnID("ALP")
	f.accept(upiv1.PspService_ReqDelegateAdd_FullMethodName, invite(id, carolVPA))
	got, err := f.p.RespondCircleLink(t.Context(), &upiv1.RespondCircleLinkRequest{LinkId: id})
	require.NoError(t, err)
	assert.Equal(t, upiv1.CircleLink_DECLINED, got.GetLink().GetStatus())
	r := lastResp(t, f, id)
	assert.Equal(t, upiv1.Resp_FAILURE, r.GetResp().GetResult())
	assert.Equal(t, upi.CodeDeclinedByPayer, r.GetResp().GetErrCode())
	inv, err := f.p.ListCircleInvites(t.Context(), &upiv1.PspAppServiceListCircleInvitesRequest{Vpa: carolVPA})
	require.NoError(t, err)
	assert.Empty(t, inv.GetLinks())
}

func TestCircleInviteUnknownSecondary(t *testing.T) {
	f := newFixture(t, beta, nil)
	id := newTxnID("ALP")
	f.accept(upiv1.PspService_ReqDelegateAdd_FullMethodName, invite(id, "zed@beta"))
	assert.Equal(t, upi.CodeAddrResolution, lastResp(t, f, id).GetResp().GetErrCode())
}

// An invite not answered in circle.invite_expiry ends U69 at PSP(S); a
// confirmation of FAILURE after an accept drops the linkage.
func TestCircleInviteExpires(t *testing.T) {
	clock := nodetest.NewClock(time.Now())
	f := newFixtureWith(t, beta, nil, Config{}, nodetest.WithClock(clock))
	id := newTxnID("ALP")
	f.accept(upiv1.PspService_ReqDelegateAdd_FullMethodName, invite(id, carolVPA))
	f.rec.WaitFor(t, upiv1.TpapService_Notify_FullMethodName, id)
	clock.Advance(f.net.Circle.InviteExpiry - time.Second)
	nodetest.Quiesce(t, f.n)
	assert.Zero(t, f.rec.Count(upiv1.SwitchService_RespDelegateAdd_FullMethodName, id))
	clock.Advance(2 * time.Second)
	r := lastResp(t, f, id)
	assert.Equal(t, upi.CodeExpired, r.GetResp().GetErrCode())
	assert.Equal(t, linkExpired, f.link(sideSecondary, id).GetStatus())

	// Accepted, then the switch decided U69 (the answer was lost).
	id2 := newTxnID("ALP")
	m := invite(id2, carolVPA)
	f.accept(upiv1.PspService_ReqDelegateAdd_FullMethodName, m)
	_, err := f.p.RespondCircleLink(t.Context(), &upiv1.RespondCircleLinkRequest{LinkId: id2, Accept: true})
	require.NoError(t, err)
	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{
		Head: swHead(), Txn: m.GetTxn(), Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeExpired}})
	f.rec.WaitFor(t, upiv1.SwitchService_RespTxnConfirmation_FullMethodName, id2)
	assert.Equal(t, linkExpired, f.link(sideSecondary, id2).GetStatus())
}

func TestCircleCreatePartialAndOutcome(t *testing.T) {
	f := newFixture(t, alpha, nil)
	got, err := f.p.CreateCircleLink(t.Context(), &upiv1.PspAppServiceCreateCircleLinkRequest{
		PrimaryVpa: aliceVPA, SecondaryVpa: carolVPA, Mode: upiv1.Delegate_PARTIAL})
	require.NoError(t, err)
	id := got.GetLink().GetLinkId()
	assert.Equal(t, upiv1.CircleLink_LINK_PENDING, got.GetLink().GetStatus())
	s := f.rec.WaitFor(t, upiv1.SwitchService_ReqDelegateAdd_FullMethodName, id).Msg.(*upiv1.ReqDelegateAdd)
	assert.Equal(t, upiv1.Delegate_ADD, s.GetDelegate().GetType())
	assert.Equal(t, upiv1.Delegate_PARTIAL, s.GetDelegate().GetSubType())
	assert.Equal(t, carolVPA, s.GetDelegate().GetSecondaryAddr())
	assert.Empty(t, s.GetDelegate().GetUmn())

	f.accept(upiv1.PspService_RespDelegateAdd_FullMethodName, &upiv1.RespDelegateAdd{
		Head: swHead(), Txn: s.GetTxn(), Delegate: s.GetDelegate(),
		Resp: &upiv1.Resp{ReqMsgId: s.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}})
	f.rec.WaitFor(t, upiv1.TpapService_Notify_FullMethodName, id)
	q, err := f.p.QueryCircleLink(t.Context(), &upiv1.QueryCircleLinkRequest{LinkId: id})
	require.NoError(t, err)
	assert.Equal(t, upiv1.CircleLink_LINKED, q.GetLink().GetStatus())
	assert.NotNil(t, q.GetLink().GetLinked())

	// Remove by the primary: REMOVE sent; DELINKED on the answer.
	_, err = f.p.RemoveCircleLink(t.Context(), &upiv1.PspAppServiceRemoveCircleLinkRequest{LinkId: id, Vpa: aliceVPA})
	require.NoError(t, err)
	var rm *upiv1.ReqDelegateAdd
	require.Eventually(t, func() bool {
		for _, x := range f.rec.All() {
			if m, ok := x.Msg.(*upiv1.ReqDelegateAdd); ok && m.GetDelegate().GetType() == upiv1.Delegate_REMOVE {
				rm = m
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, id, rm.GetTxn().GetOrgTxnId())
	f.accept(upiv1.PspService_RespDelegateAdd_FullMethodName, &upiv1.RespDelegateAdd{
		Head: swHead(), Txn: rm.GetTxn(), Delegate: rm.GetDelegate(),
		Resp: &upiv1.Resp{ReqMsgId: rm.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}})
	assert.Equal(t, linkDelinked, f.link(sidePrimary, id).GetStatus())
	ls, err := f.p.ListCircleLinks(t.Context(), &upiv1.PspAppServiceListCircleLinksRequest{Vpa: aliceVPA})
	require.NoError(t, err)
	require.Len(t, ls.GetLinks(), 1)
	assert.Equal(t, upiv1.CircleLink_DELINKED, ls.GetLinks()[0].GetStatus())

	// A declined one: DECLINED with ZA; a refused one: FAILED with CS.
	for _, tc := range []struct {
		code string
		want string
	}{{upi.CodeDeclinedByPayer, linkDeclined}, {upi.CodeHasPrimary, linkFailed}, {upi.CodeExpired, linkExpired}} {
		got, err := f.p.CreateCircleLink(t.Context(), &upiv1.PspAppServiceCreateCircleLinkRequest{
			PrimaryVpa: aliceVPA, SecondaryVpa: carolVPA, Mode: upiv1.Delegate_PARTIAL})
		require.NoError(t, err)
		id := got.GetLink().GetLinkId()
		s := f.rec.WaitFor(t, upiv1.SwitchService_ReqDelegateAdd_FullMethodName, id).Msg.(*upiv1.ReqDelegateAdd)
		f.accept(upiv1.PspService_RespDelegateAdd_FullMethodName, &upiv1.RespDelegateAdd{
			Head: swHead(), Txn: s.GetTxn(), Delegate: s.GetDelegate(),
			Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: tc.code}})
		l := f.link(sidePrimary, id)
		assert.Equal(t, tc.want, l.GetStatus())
		assert.Equal(t, tc.code, l.GetErrCode())
	}
}

func TestCircleCreateValidation(t *testing.T) {
	f := newFixture(t, alpha, nil)
	for _, tc := range []struct {
		name string
		req  *upiv1.PspAppServiceCreateCircleLinkRequest
		code codes.Code
		want string
	}{
		{"bad secondary", &upiv1.PspAppServiceCreateCircleLinkRequest{PrimaryVpa: aliceVPA, SecondaryVpa: "carol", Mode: upiv1.Delegate_PARTIAL}, codes.InvalidArgument, "secondary_vpa"},
		{"same", &upiv1.PspAppServiceCreateCircleLinkRequest{PrimaryVpa: aliceVPA, SecondaryVpa: aliceVPA, Mode: upiv1.Delegate_PARTIAL}, codes.InvalidArgument, "two users"},
		{"no mode", &upiv1.PspAppServiceCreateCircleLinkRequest{PrimaryVpa: aliceVPA, SecondaryVpa: carolVPA}, codes.InvalidArgument, "mode"},
		{"partial limit", &upiv1.PspAppServiceCreateCircleLinkRequest{PrimaryVpa: aliceVPA, SecondaryVpa: carolVPA, Mode: upiv1.Delegate_PARTIAL, LimitPaise: 100}, codes.InvalidArgument, "no limit"},
		{"full without a PIN block", &upiv1.PspAppServiceCreateCircleLinkRequest{PrimaryVpa: aliceVPA, SecondaryVpa: carolVPA, Mode: upiv1.Delegate_FULL}, codes.InvalidArgument, "the PIN block is required"},
		{"full over the monthly limit", &upiv1.PspAppServiceCreateCircleLinkRequest{PrimaryVpa: aliceVPA, SecondaryVpa: carolVPA, Mode: upiv1.Delegate_FULL, LimitPaise: 15_000_01}, codes.InvalidArgument, "circle.full.monthly_limit"},
		{"unknown primary", &upiv1.PspAppServiceCreateCircleLinkRequest{PrimaryVpa: "zed@alpha", SecondaryVpa: carolVPA, Mode: upiv1.Delegate_PARTIAL}, codes.NotFound, "zed@alpha"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.p.CreateCircleLink(t.Context(), tc.req)
			requireCode(t, err, tc.code, tc.want)
		})
	}
	_, err := f.p.QueryCircleLink(t.Context(), &upiv1.QueryCircleLinkRequest{LinkId: newTxnID("ALP")})
	requireCode(t, err, codes.NotFound, "not known")
}

// mandateDone, as the mandate flow will call it: SUCCESS sends the
// ReqDelegateAdd FULL with the UMN; FAILURE ends the link FAILED with the
// mandate's code and sends nothing; a FAILURE RespDelegateAdd revokes.
func TestCircleMandateDone(t *testing.T) {
	f := newFixture(t, alpha, nil)
	var started, revoked []string
	f.p.startMandate = func(_ *node.Ctx, l *linkRecord) error {
		assert.NotEmpty(t, l.GetMandateCred(), "the PIN block for the mandate")
		started = append(started, l.GetLinkId())
		return nil
	}
	f.p.revokeLink = func(_ *node.Ctx, linkID, umn string) error {
		revoked = append(revoked, linkID+" "+umn)
		return nil
	}
	create := func() string {
		got, err := f.p.CreateCircleLink(t.Context(), &upiv1.PspAppServiceCreateCircleLinkRequest{
			PrimaryVpa: aliceVPA, SecondaryVpa: carolVPA, Mode: upiv1.Delegate_FULL, Cred: pintest.Opaque("1234", "")})
		require.NoError(t, err)
		assert.Equal(t, f.net.Circle.FullMonthly, got.GetLink().GetLimitPaise())
		return got.GetLink().GetLinkId()
	}
	done := func(id, umn string, resp *upiv1.Resp) {
		require.NoError(t, f.n.Update(func(c *node.Ctx) error { return f.p.mandateDone(c, id, umn, resp) }))
	}

	ok := create()
	assert.Equal(t, []string{ok}, started)
	assert.Zero(t, f.sent(ok, "ReqDelegateAdd"), "nothing before the mandate")
	umn := "ALP" + "0123456789abcdef0123456789abc" + "@alpha"
	done(ok, umn, &upiv1.Resp{Result: upiv1.Resp_SUCCESS})
	s := f.rec.WaitFor(t, upiv1.SwitchService_ReqDelegateAdd_FullMethodName, ok).Msg.(*upiv1.ReqDelegateAdd)
	assert.Equal(t, upiv1.Delegate_FULL, s.GetDelegate().GetSubType())
	assert.Equal(t, umn, s.GetDelegate().GetUmn())
	assert.Equal(t, f.net.Circle.FullMonthly, s.GetDelegate().GetMonthlyLimitPaise())
	assert.Equal(t, f.net.Circle.FullPerTxn, s.GetDelegate().GetPerTxnLimitPaise())
	assert.Empty(t, f.link(sidePrimary, ok).GetMandateCred(), "the PIN block is not kept")

	// The secondary declines: DECLINED, and the mandate is revoked.
	f.accept(upiv1.PspService_RespDelegateAdd_FullMethodName, &upiv1.RespDelegateAdd{
		Head: swHead(), Txn: s.GetTxn(), Delegate: s.GetDelegate(),
		Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeDeclinedByPayer}})
	assert.Equal(t, linkDeclined, f.link(sidePrimary, ok).GetStatus())
	assert.Equal(t, []string{ok + " " + umn}, revoked)

	bad := create()
	done(bad, "", &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeInvalidPIN})
	l := f.link(sidePrimary, bad)
	assert.Equal(t, linkFailed, l.GetStatus())
	assert.Equal(t, upi.CodeInvalidPIN, l.GetErrCode())
	assert.Zero(t, f.sent(bad, "ReqDelegateAdd"))
	assert.Len(t, revoked, 1, "no mandate to revoke")
}

// linkedFull makes a LINKED FULL link alice → carol at PSP(P) with the real
// mandate flow: ReqMandate CREATE answered SUCCESS, ReqDelegateAdd ADD
// answered SUCCESS. It returns the link id and the UMN.
func linkedFull(t *testing.T, f *fixture, limit int64) (string, string) {
	t.Helper()
	got, err := f.p.CreateCircleLink(t.Context(), &upiv1.PspAppServiceCreateCircleLinkRequest{
		PrimaryVpa: aliceVPA, SecondaryVpa: carolVPA, Mode: upiv1.Delegate_FULL, LimitPaise: limit, Cred: pintest.Opaque("1234", "")})
	require.NoError(t, err)
	id := got.GetLink().GetLinkId()
	m := f.rec.WaitFor(t, upiv1.SwitchService_ReqMandate_FullMethodName, id).Msg.(*upiv1.ReqMandate)
	signed := m.GetMandate()
	signed.Signature = "c2ln"
	f.accept(upiv1.PspService_RespMandate_FullMethodName, &upiv1.RespMandate{
		Head: swHead(), Txn: m.GetTxn(), Mandate: signed, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}})
	s := f.rec.WaitFor(t, upiv1.SwitchService_ReqDelegateAdd_FullMethodName, id).Msg.(*upiv1.ReqDelegateAdd)
	f.accept(upiv1.PspService_RespDelegateAdd_FullMethodName, &upiv1.RespDelegateAdd{
		Head: swHead(), Txn: s.GetTxn(), Delegate: s.GetDelegate(),
		Resp: &upiv1.Resp{ReqMsgId: s.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}})
	require.Equal(t, linkLinked, f.link(sidePrimary, id).GetStatus())
	return id, m.GetMandate().GetUmn()
}

// circle update of a FULL link: the mandate UPDATE first (same UMN, the
// new amount, a new txn id whose org_txn_id is the link id, the PIN
// block); on its SUCCESS ReqDelegateAdd UPDATE with the new limit under
// the same txn id, and the limit changes when that is answered SUCCESS.
// A mandate UPDATE declined (ZM) leaves the limit, err_code ZM.
func TestCircleUpdateFull(t *testing.T) {
	f := newFixture(t, alpha, nil)
	id, umn := linkedFull(t, f, 12_000_00)

	upd := newTxnID("ALP")
	got, err := f.p.UpdateCircleLink(t.Context(), &upiv1.PspAppServiceUpdateCircleLinkRequest{
		LinkId: id, LimitPaise: 8_000_00, Cred: pintest.Opaque("1234", upd), TxnId: upd})
	require.NoError(t, err)
	assert.Equal(t, upiv1.CircleLink_LINKED, got.GetLink().GetStatus(), "LINKED while the update is under way")
	assert.Equal(t, int64(12_000_00), got.GetLink().GetLimitPaise(), "the old limit meanwhile")
	assert.Equal(t, int64(8_000_00), got.GetLink().GetPendingLimitPaise())
	assert.Equal(t, upd, got.GetLink().GetUpdateTxnId())
	_, err = f.p.UpdateCircleLink(t.Context(), &upiv1.PspAppServiceUpdateCircleLinkRequest{
		LinkId: id, LimitPaise: 8_000_00, Cred: pintest.Opaque("1234", upd), TxnId: upd})
	require.NoError(t, err, "a repeat answers the link")
	other := newTxnID("ALP")
	_, err = f.p.UpdateCircleLink(t.Context(), &upiv1.PspAppServiceUpdateCircleLinkRequest{
		LinkId: id, LimitPaise: 5_000_00, Cred: pintest.Opaque("1234", other), TxnId: other})
	requireCode(t, err, codes.FailedPrecondition, "under way")
	_, err = f.p.RemoveCircleLink(t.Context(), &upiv1.PspAppServiceRemoveCircleLinkRequest{LinkId: id, Vpa: aliceVPA})
	requireCode(t, err, codes.FailedPrecondition, "update under way")

	m := f.rec.WaitFor(t, upiv1.SwitchService_ReqMandate_FullMethodName, upd).Msg.(*upiv1.ReqMandate)
	assert.Equal(t, upiv1.Txn_UPDATE, m.GetTxn().GetType())
	assert.Equal(t, id, m.GetTxn().GetOrgTxnId())
	assert.Equal(t, umn, m.GetMandate().GetUmn())
	assert.Equal(t, int64(8_000_00), m.GetMandate().GetAmountPaise())
	assert.NotEmpty(t, m.GetPayer().GetCreds(), "the primary's PIN block")
	assert.Equal(t, 1, f.sent(upd, "ReqMandate"), "the repeat sent nothing")
	assert.Zero(t, f.sent(upd, "ReqDelegateAdd"), "nothing before the mandate")

	signed := m.GetMandate()
	signed.Signature = "bmV3"
	f.accept(upiv1.PspService_RespMandate_FullMethodName, &upiv1.RespMandate{
		Head: swHead(), Txn: m.GetTxn(), Mandate: signed, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}})
	s := f.rec.WaitFor(t, upiv1.SwitchService_ReqDelegateAdd_FullMethodName, upd).Msg.(*upiv1.ReqDelegateAdd)
	assert.Equal(t, upiv1.Delegate_UPDATE, s.GetDelegate().GetType())
	assert.Equal(t, upiv1.Delegate_FULL, s.GetDelegate().GetSubType())
	assert.Equal(t, id, s.GetTxn().GetOrgTxnId())
	assert.Equal(t, umn, s.GetDelegate().GetUmn())
	assert.Equal(t, int64(8_000_00), s.GetDelegate().GetMonthlyLimitPaise())
	assert.Equal(t, int64(12_000_00), f.link(sidePrimary, id).GetLimitPaise(), "until the switch answers")
	q, err := f.p.QueryMandate(t.Context(), &upiv1.QueryMandateRequest{Umn: umn})
	require.NoError(t, err)
	assert.Equal(t, int64(8_000_00), q.GetMandate().GetAmountPaise())
	assert.Equal(t, "bmV3", q.GetMandate().GetSignature(), "the new mandate's signature")

	f.accept(upiv1.PspService_RespDelegateAdd_FullMethodName, &upiv1.RespDelegateAdd{
		Head: swHead(), Txn: s.GetTxn(), Delegate: s.GetDelegate(),
		Resp: &upiv1.Resp{ReqMsgId: s.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}})
	l := f.link(sidePrimary, id)
	assert.Equal(t, linkLinked, l.GetStatus())
	assert.Equal(t, int64(8_000_00), l.GetLimitPaise())
	assert.Empty(t, l.GetUpdateTxnId())
	assert.Zero(t, l.GetPendingLimitPaise())
	assert.Empty(t, l.GetSentTxnId())

	// The remitter declines the next update (wrong PIN): the limit stays.
	bad := newTxnID("ALP")
	_, err = f.p.UpdateCircleLink(t.Context(), &upiv1.PspAppServiceUpdateCircleLinkRequest{
		LinkId: id, LimitPaise: 5_000_00, Cred: pintest.Opaque("9999", bad), TxnId: bad})
	require.NoError(t, err)
	bm := f.rec.WaitFor(t, upiv1.SwitchService_ReqMandate_FullMethodName, bad).Msg.(*upiv1.ReqMandate)
	f.accept(upiv1.PspService_RespMandate_FullMethodName, &upiv1.RespMandate{
		Head: swHead(), Txn: bm.GetTxn(), Mandate: bm.GetMandate(),
		Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeInvalidPIN}})
	l = f.link(sidePrimary, id)
	assert.Equal(t, linkLinked, l.GetStatus())
	assert.Equal(t, int64(8_000_00), l.GetLimitPaise())
	assert.Equal(t, upi.CodeInvalidPIN, l.GetErrCode())
	assert.Empty(t, l.GetUpdateTxnId())
	assert.Zero(t, f.sent(bad, "ReqDelegateAdd"), "no ReqDelegateAdd after a declined mandate")
	q, err = f.p.QueryMandate(t.Context(), &upiv1.QueryMandateRequest{Umn: umn})
	require.NoError(t, err)
	assert.Equal(t, int64(8_000_00), q.GetMandate().GetAmountPaise())
}

// What circle update refuses: a partial link (no limit), a link not
// LINKED, a limit out of 1..circle.full.monthly_limit, no PIN block.
func TestCircleUpdateRefused(t *testing.T) {
	f := newFixture(t, alpha, nil)
	full, _ := linkedFull(t, f, 0)
	got, err := f.p.CreateCircleLink(t.Context(), &upiv1.PspAppServiceCreateCircleLinkRequest{
		PrimaryVpa: aliceVPA, SecondaryVpa: carolVPA, Mode: upiv1.Delegate_PARTIAL})
	require.NoError(t, err)
	partial := got.GetLink().GetLinkId() // LINK_PENDING
	pending, err := f.p.CreateCircleLink(t.Context(), &upiv1.PspAppServiceCreateCircleLinkRequest{
		PrimaryVpa: aliceVPA, SecondaryVpa: "dave@beta", Mode: upiv1.Delegate_FULL, Cred: pintest.Opaque("1234", "")})
	require.NoError(t, err)
	for _, tc := range []struct {
		name, link string
		limit      int64
		code       codes.Code
		want       string
	}{
		{"partial", partial, 100, codes.FailedPrecondition, "a partial link has no limit"},
		{"not linked", pending.GetLink().GetLinkId(), 100, codes.FailedPrecondition, "not LINKED"},
		{"zero", full, 0, codes.InvalidArgument, "out of range"},
		{"over", full, f.net.Circle.FullMonthly + 1, codes.InvalidArgument, "circle.full.monthly_limit"},
		{"unknown", newTxnID("ALP"), 100, codes.NotFound, "no link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			txn := newTxnID("ALP")
			_, err := f.p.UpdateCircleLink(t.Context(), &upiv1.PspAppServiceUpdateCircleLinkRequest{
				LinkId: tc.link, LimitPaise: tc.limit, Cred: pintest.Opaque("1234", txn), TxnId: txn})
			requireCode(t, err, tc.code, tc.want)
		})
	}
	txn := newTxnID("ALP")
	_, err = f.p.UpdateCircleLink(t.Context(), &upiv1.PspAppServiceUpdateCircleLinkRequest{LinkId: full, LimitPaise: 100, TxnId: txn})
	requireCode(t, err, codes.InvalidArgument, "PIN block")
	assert.Zero(t, f.sent(txn, "ReqMandate"))
}
