package psp

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// lookup is the ReqValAdd PSP(S) sent to resolve the payee of the
// delegated payment txnID.
func (f *fixture) lookup(txnID string) *upiv1.ReqValAdd {
	f.t.Helper()
	return f.rec.WaitFor(f.t, upiv1.SwitchService_ReqValAdd_FullMethodName, ids.LookupTxnID(txnID)).Msg.(*upiv1.ReqValAdd)
}

// answerLookup delivers the switch's RespValAdd to q: SUCCESS with the
// payee's name, or FAILURE with code when code is set.
func (f *fixture) answerLookup(q *upiv1.ReqValAdd, name, code string) {
	f.t.Helper()
	resp := &upiv1.Resp{ReqMsgId: q.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}
	payee := &upiv1.Party{Addr: q.GetPayee().GetAddr(), Name: name, Type: upiv1.Party_ENTITY, Code: "5812", Ac: &upiv1.Account{Ifsc: "BBNK0000001"}}
	if code != "" {
		resp.Result, resp.ErrCode, payee = upiv1.Resp_FAILURE, code, &upiv1.Party{Addr: q.GetPayee().GetAddr()}
	}
	f.accept(upiv1.PspService_RespValAdd_FullMethodName, &upiv1.RespValAdd{Head: swHead(), Txn: q.GetTxn(), Payee: payee, Resp: resp})
}

// pLink is PSP(S)'s LINKED PARTIAL link carol → alice.
func pLink(id string) *linkRecord {
	return &linkRecord{
		LinkId: id, Side: sideSecondary, Primary: aliceVPA, Secondary: carolVPA, Mode: upiv1.Delegate_PARTIAL.String(),
		Status: linkLinked, Linked: store.Nanos(time.Now().Add(-48 * time.Hour)),
	}
}

// secondaryTold is the status Notify PSP(S) sent carol for txnID.
func (f *fixture) secondaryTold(txnID string) *upiv1.Notification {
	f.t.Helper()
	n := f.rec.WaitFor(f.t, upiv1.TpapService_Notify_FullMethodName, txnID).Msg.(*upiv1.Notification)
	assert.Equal(f.t, carolVPA, n.GetUserAddr())
	return n
}

// Step 3 under full delegation: PSP(S) sends the payee's look-up, under
// the payment's look-up id, and nothing else; its SUCCESS sends the
// ReqDelegateAuth with the payee's name. A repeat of the app's request
// or of the answer changes nothing; a RespDelegateAuth before the
// ReqDelegateAuth is refused.
func TestDelegatedPayLooksUpPayee(t *testing.T) {
	f := newFixture(t, beta, nil)
	f.putLinkAt(sLink(newTxnID("ALP"), 15_000_00, time.Now().Add(-48*time.Hour)))
	req := &upiv1.InitiateDelegatedPayRequest{SecondaryVpa: carolVPA, PayeeVpa: chaiVPA, AmountPaise: 120_00, Note: "tea", TxnId: newTxnID("BET")}
	out, err := f.p.InitiateDelegatedPay(t.Context(), req)
	require.NoError(t, err)
	tx := out.GetTransaction()
	id := tx.GetTxnId()
	assert.Equal(t, upiv1.Resp_PENDING, tx.GetStatus())

	q := f.lookup(id)
	assert.Equal(t, upiv1.Txn_VAL_ADD, q.GetTxn().GetType())
	assert.NotEqual(t, id, q.GetTxn().GetId(), "the look-up has an id of its own")
	assert.Equal(t, id, q.GetTxn().GetOrgTxnId(), "naming the payment")
	assert.Equal(t, "87", q.GetTxn().GetPurpose())
	assert.Equal(t, carolVPA, q.GetPayer().GetAddr(), "the secondary asks")
	assert.Equal(t, chaiVPA, q.GetPayee().GetAddr())
	assert.Zero(t, f.sent(id, "ReqDelegateAuth"), "nothing but the look-up yet")
	assert.Equal(t, stateValAddSent, f.record(id).GetState())

	again, err := f.p.InitiateDelegatedPay(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, id, again.GetTransaction().GetTxnId())
	assert.Equal(t, 1, f.sent(q.GetTxn().GetId(), "ReqValAdd"), "the same request again sends nothing")

	f.refuse(upiv1.PspService_RespDelegateAuth_FullMethodName, &upiv1.RespDelegateAuth{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY}, Resp: &upiv1.Resp{ReqMsgId: q.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}},
		"has not sent")
	assert.Equal(t, stateValAddSent, f.record(id).GetState())

	f.answerLookup(q, "Chai Point", "")
	m := f.rec.WaitFor(t, upiv1.SwitchService_ReqDelegateAuth_FullMethodName, id).Msg.(*upiv1.ReqDelegateAuth)
	assert.Equal(t, chaiVPA, m.GetPayee().GetAddr())
	assert.Equal(t, "Chai Point", m.GetPayee().GetName(), "the resolved name")
	assert.Nil(t, m.GetPayee().GetAc(), "no account details")
	assert.Equal(t, upiv1.Delegate_FULL, m.GetDelegate().GetSubType())
	assert.Equal(t, "ALP0123@alpha", m.GetDelegate().GetUmn())
	assert.Equal(t, int64(120_00), m.GetPayer().GetAmountPaise())
	assert.Equal(t, "tea", m.GetTxn().GetNote())
	r := f.record(id)
	assert.Equal(t, stateDelegateAuthSent, r.GetState())
	assert.Equal(t, "Chai Point", r.GetPayeeName())
	assert.Equal(t, "PENDING", r.GetStatus())

	// The same answer under a new msg_id: noted, nothing sent again.
	f.answerLookup(q, "Chai Point", "")
	assert.Equal(t, 1, f.sent(id, "ReqDelegateAuth"))
	assert.Equal(t, stateDelegateAuthSent, f.record(id).GetState())
}

// Under partial delegation too: the look-up first, then ReqDelegateAuth
// PARTIAL without a UMN, with the payee's name.
func TestDelegatedPayPartialLooksUpPayee(t *testing.T) {
	f := newFixture(t, beta, nil)
	f.putLinkAt(pLink(newTxnID("ALP")))
	tx, err := f.delegatedPay(50_00)
	require.NoError(t, err)
	id := tx.GetTxnId()
	q := f.lookup(id)
	assert.Zero(t, f.sent(id, "ReqDelegateAuth"))
	f.answerLookup(q, "Chai Point", "")
	m := f.rec.WaitFor(t, upiv1.SwitchService_ReqDelegateAuth_FullMethodName, id).Msg.(*upiv1.ReqDelegateAuth)
	assert.Equal(t, upiv1.Delegate_PARTIAL, m.GetDelegate().GetSubType())
	assert.Empty(t, m.GetDelegate().GetUmn())
	assert.Equal(t, "Chai Point", m.GetPayee().GetName())
}

// A look-up answered FAILURE ends the payment with its code (U29),
// the secondary told, nothing more sent; a late SUCCESS changes nothing.
// A link gone during the look-up ends it CN.
func TestDelegatedPayUnknownPayee(t *testing.T) {
	f := newFixture(t, beta, nil)
	linkID := newTxnID("ALP")
	f.putLinkAt(sLink(linkID, 15_000_00, time.Now().Add(-48*time.Hour)))
	tx, err := f.delegatedPay(10_00)
	require.NoError(t, err)
	id := tx.GetTxnId()
	q := f.lookup(id)
	f.answerLookup(q, "", upi.CodeAddrResolution)
	r := f.record(id)
	assert.Equal(t, "FAILURE", r.GetStatus())
	assert.Equal(t, "U29", r.GetErrCode())
	assert.True(t, r.GetFinal())
	n := f.secondaryTold(id)
	assert.Equal(t, upiv1.Resp_FAILURE, n.GetResp().GetResult())
	assert.Equal(t, "U29", n.GetResp().GetErrCode())

	f.answerLookup(q, "Chai Point", "")
	nodetest.Quiesce(t, f.n)
	assert.Zero(t, f.sent(id, "ReqDelegateAuth"), "nothing after the FAILURE")
	assert.Equal(t, "U29", f.record(id).GetErrCode())
	assert.Empty(t, f.link(sideSecondary, linkID).GetDebits())

	// The link delinked while the payee was looked up: CN, no ReqDelegateAuth.
	tx, err = f.delegatedPay(10_00)
	require.NoError(t, err)
	q = f.lookup(tx.GetTxnId())
	l := f.link(sideSecondary, linkID)
	l.Status = linkDelinked
	f.putLinkAt(l)
	f.answerLookup(q, "Chai Point", "")
	assert.Equal(t, "CN", f.record(tx.GetTxnId()).GetErrCode())
	assert.Zero(t, f.sent(tx.GetTxnId(), "ReqDelegateAuth"))
}

// A ReqValAdd the switch refuses in its Ack ends the payment U07, as a
// refused ReqDelegateAuth does; a ResolveAddress's refusal is not a
// payment's.
func TestDelegatedPayLookupRefused(t *testing.T) {
	f := newFixture(t, beta, nil)
	f.rec.Refuse = func(method string) string {
		if method == upiv1.SwitchService_ReqValAdd_FullMethodName {
			return "ReqValAdd refused by the test"
		}
		return ""
	}
	f.putLinkAt(pLink(newTxnID("ALP")))
	tx, err := f.delegatedPay(10_00)
	require.NoError(t, err)
	id := tx.GetTxnId()
	n := f.secondaryTold(id)
	assert.Equal(t, "U07", n.GetResp().GetErrCode())
	r := f.record(id)
	assert.Equal(t, "FAILURE", r.GetStatus())
	assert.Equal(t, "U07", r.GetErrCode())
	assert.Zero(t, f.sent(id, "ReqDelegateAuth"))
}

// No RespValAdd within timeouts.val_add: U09, the secondary told; the
// answer after it changes nothing.
func TestDelegatedPayLookupTimesOut(t *testing.T) {
	clock := nodetest.NewClock(time.Now())
	f := newFixtureWith(t, beta, nil, Config{}, nodetest.WithClock(clock))
	f.putLinkAt(sLink(newTxnID("ALP"), 15_000_00, clock.Now().Add(-48*time.Hour)))
	tx, err := f.delegatedPay(10_00)
	require.NoError(t, err)
	id := tx.GetTxnId()
	q := f.lookup(id)
	clock.Advance(f.net.Timeouts.ValAdd - time.Second)
	nodetest.Quiesce(t, f.n)
	assert.Equal(t, "PENDING", f.record(id).GetStatus(), "still within timeouts.val_add")
	clock.Advance(2 * time.Second)
	assert.Equal(t, "U09", f.secondaryTold(id).GetResp().GetErrCode())
	assert.Equal(t, "U09", f.record(id).GetErrCode())

	f.answerLookup(q, "Chai Point", "")
	assert.Zero(t, f.sent(id, "ReqDelegateAuth"), "late: nothing sent")
	assert.Equal(t, "FAILURE", f.record(id).GetStatus())
}

// restartable is a PSP node over a bbolt file that outlives it, for a
// restart in the middle of a payment.
type restartable struct {
	t     *testing.T
	path  string
	net   *config.Network
	clock *nodetest.Clock
	rec   *nodetest.Recorder
	p     *PSP
	n     *node.Node
	db    *store.DB
}

// start (again) opens the file and starts betapsp over it.
func (s *restartable) start() {
	s.t.Helper()
	db, err := store.Open(s.path, store.Options{NoSync: true})
	require.NoError(s.t, err)
	self, ok := s.net.NodeByName(beta)
	require.True(s.t, ok)
	s.p = New(Config{Network: s.net, Self: self})
	s.rec = nodetest.NewRecorder()
	s.n = node.New(node.Config{Name: beta, Role: "test", DB: db, Handler: s.p, Transport: s.rec, Clock: s.clock,
		RetryMin: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	require.NoError(s.t, s.n.Start())
	s.p.Attach(s.n)
	require.NoError(s.t, s.p.Seed())
	s.db = db
}

// stop stops the node and closes its file.
func (s *restartable) stop() {
	s.n.Stop()
	require.NoError(s.t, s.db.Close())
}

// Crash-safety: a PSP(S) stopped with a payment in VALADD_SENT keeps it,
// and after the restart the look-up's timer still ends it (U09); one
// answered after a restart goes on to its ReqDelegateAuth.
func TestDelegatedPayLookupSurvivesRestart(t *testing.T) {
	net := config.Default()
	net.Heartbeat = 0
	s := &restartable{t: t, path: filepath.Join(t.TempDir(), "betapsp.db"), net: net, clock: nodetest.NewClock(time.Now())}
	s.start()
	require.NoError(t, s.n.Update(func(c *node.Ctx) error {
		return putLink(c, sLink(newTxnID("ALP"), 15_000_00, s.clock.Now().Add(-48*time.Hour)))
	}))
	pay := func() (string, *upiv1.ReqValAdd) {
		out, err := s.p.InitiateDelegatedPay(t.Context(), &upiv1.InitiateDelegatedPayRequest{
			SecondaryVpa: carolVPA, PayeeVpa: chaiVPA, AmountPaise: 10_00})
		require.NoError(t, err)
		id := out.GetTransaction().GetTxnId()
		return id, s.rec.WaitFor(t, upiv1.SwitchService_ReqValAdd_FullMethodName, ids.LookupTxnID(id)).Msg.(*upiv1.ReqValAdd)
	}
	expiring, _ := pay()
	answered, q := pay()
	nodetest.Quiesce(t, s.n)
	s.stop()

	s.start()
	t.Cleanup(s.stop)
	ack, err := s.n.Receive(t.Context(), upiv1.PspService_RespValAdd_FullMethodName, &upiv1.RespValAdd{
		Head: swHead(), Txn: q.GetTxn(), Payee: &upiv1.Party{Addr: chaiVPA, Name: "Chai Point"},
		Resp: &upiv1.Resp{ReqMsgId: q.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}})
	require.NoError(t, err)
	require.Empty(t, ack.GetErr())
	m := s.rec.WaitFor(t, upiv1.SwitchService_ReqDelegateAuth_FullMethodName, answered).Msg.(*upiv1.ReqDelegateAuth)
	assert.Equal(t, "Chai Point", m.GetPayee().GetName())

	s.clock.Advance(net.Timeouts.ValAdd + time.Second)
	n := s.rec.WaitFor(t, upiv1.TpapService_Notify_FullMethodName, expiring).Msg.(*upiv1.Notification)
	assert.Equal(t, "U09", n.GetResp().GetErrCode())
	var r *txnRecord
	require.NoError(t, s.n.View(func(tx *store.Tx) (err error) { r, err = getTxn(tx, expiring); return err }))
	assert.Equal(t, "FAILURE", r.GetStatus())
	assert.Equal(t, "U09", r.GetErrCode())
}
