package psp

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/store/recordtest"
)

// recorded is what a hook heard, safe for the node's goroutines.
type recorded[T any] struct {
	mu  sync.Mutex
	got []T
}

func (r *recorded[T]) add(v T) { r.mu.Lock(); r.got = append(r.got, v); r.mu.Unlock() }

func (r *recorded[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.got...)
}

// authDetailsOf is the RespAuthDetails the PSP sent for id.
func (f *fixture) authDetailsOf(id string) *upiv1.RespAuthDetails {
	f.t.Helper()
	s := f.rec.WaitFor(f.t, upiv1.SwitchService_RespAuthDetails_FullMethodName, id)
	m, ok := s.Msg.(*upiv1.RespAuthDetails)
	require.True(f.t, ok)
	return m
}

// OnAuthDetails hears a pay to a payee of this PSP with the order id, and
// its code declines it; without a code the payee's details go back.
func TestOnAuthDetails(t *testing.T) {
	heard := &recorded[Outcome]{}
	decline := map[string]string{"order-no": "ZX"}
	f := newFixtureWith(t, beta, nil, Config{OnAuthDetails: func(c *node.Ctx, o Outcome) (string, error) {
		heard.add(o)
		return decline[o.RefID], nil
	}})

	yes, no := newTxnID("ALP"), newTxnID("ALP")
	m := payTo(yes, "alice@alpha", "chai@beta", 15_000)
	m.Txn.RefId = "order-yes"
	f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, m)
	ok := f.authDetailsOf(yes)
	assert.Equal(t, upiv1.Resp_SUCCESS, ok.GetResp().GetResult())
	assert.Equal(t, "2000000003", ok.GetPayee().GetAc().GetAcNum())
	assert.Equal(t, "order-yes", f.record(yes).RefId, "the payee's PSP keeps the order id")

	m = payTo(no, "alice@alpha", "chai@beta", 15_000)
	m.Txn.RefId = "order-no"
	f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, m)
	declined := f.authDetailsOf(no)
	assert.Equal(t, upiv1.Resp_FAILURE, declined.GetResp().GetResult())
	assert.Equal(t, "ZX", declined.GetResp().GetErrCode())
	assert.Nil(t, declined.GetPayee().GetAc(), "a decline gives no account")
	assert.Equal(t, stateAuthDeclined, f.record(no).State)

	got := heard.all()
	require.Len(t, got, 2)
	assert.Equal(t, Outcome{
		TxnID: yes, Type: upiv1.Txn_PAY, Result: upiv1.Resp_PENDING, RRN: "512345000002", AmountPaise: 15_000, Note: "lunch",
		RefID: "order-yes",
		Payer: OutcomeSide{VPA: "alice@alpha", Name: "Someone"},
		Payee: OutcomeSide{VPA: "chai@beta", Name: "Chai Point", Here: true},
	}, got[0])

	// Not asked for an unknown payee: that is U29 whatever the hook says.
	unknown := newTxnID("ALP")
	f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, payTo(unknown, "alice@alpha", "nobody@beta", 100))
	assert.Equal(t, "U29", f.authDetailsOf(unknown).GetResp().GetErrCode())
	assert.Len(t, heard.all(), 2)
}

// A hook's error fails the step: nothing is answered or kept, and the
// ReqAuthDetails delivered again is handled then.
func TestOnAuthDetailsErrorFailsTheStep(t *testing.T) {
	var fail sync.Mutex
	failing := true
	f := newFixtureWith(t, beta, nil, Config{OnAuthDetails: func(c *node.Ctx, o Outcome) (string, error) {
		fail.Lock()
		defer fail.Unlock()
		if failing {
			return "", errHook
		}
		return "", nil
	}})
	id := newTxnID("ALP")
	m := payTo(id, "alice@alpha", "chai@beta", 100)
	_, err := f.n.Receive(t.Context(), upiv1.PspService_ReqAuthDetails_FullMethodName, m)
	require.ErrorContains(t, err, errHook.Error())
	assert.Zero(t, f.sent(id, "RespAuthDetails"))
	require.NoError(t, f.n.View(func(tx *store.Tx) error {
		r, err := getTxn(tx, id)
		assert.Nil(t, r, "no record")
		return err
	}))
	fail.Lock()
	failing = false
	fail.Unlock()
	f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, m)
	assert.Equal(t, upiv1.Resp_SUCCESS, f.authDetailsOf(id).GetResp().GetResult())
}

// OnDeemed runs once, in the step of the first DEEMED, at the initiator
// (RespPay) and at the counter-party (ReqTxnConfirmation); OnOutcome then
// hears the final outcome, both with the order id.
func TestOnDeemed(t *testing.T) {
	deemed := &recorded[Outcome]{}
	final := &recorded[Outcome]{}
	cfg := Config{
		OnDeemed:  func(c *node.Ctx, o Outcome) error { deemed.add(o); return nil },
		OnOutcome: func(c *node.Ctx, o Outcome) error { final.add(o); return nil },
	}
	rb := &upiv1.Resp{Result: upiv1.Resp_DEEMED, ErrCode: "RB"}

	t.Run("initiator", func(t *testing.T) {
		deemed.got, final.got = nil, nil
		f := newFixtureWith(t, alpha, nil, cfg)
		resp, err := f.p.InitiatePay(t.Context(), &upiv1.InitiatePayRequest{PayerVpa: "alice@alpha", PayeeVpa: "chai@beta", AmountPaise: 15_000,
			RefId: "order_1", Cred: pintest.Opaque("1234", "")})
		require.NoError(t, err)
		id := resp.GetTransaction().GetTxnId()
		req := f.rec.WaitFor(t, upiv1.SwitchService_ReqPay_FullMethodName, id).Msg.(*upiv1.ReqPay)
		assert.Equal(t, "order_1", req.GetTxn().GetRefId())
		txn := &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY, CustRef: "512345000031", RefId: "order_1"}
		f.accept(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{Head: swHead(), Txn: txn, Resp: rb})
		f.accept(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{Head: swHead(), Txn: txn, Resp: rb}) // told again
		got := deemed.all()
		require.Len(t, got, 1)
		assert.Equal(t, Outcome{
			TxnID: id, Type: upiv1.Txn_PAY, Result: upiv1.Resp_DEEMED, ErrCode: "RB", RRN: "512345000031", AmountPaise: 15_000,
			RefID: "order_1",
			Payer: OutcomeSide{VPA: "alice@alpha", Name: "Alice", Here: true, Initiator: true},
			Payee: OutcomeSide{VPA: "chai@beta"},
		}, got[0])
		assert.Empty(t, final.all())
		f.accept(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{Head: swHead(), Txn: txn, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}})
		require.Len(t, final.all(), 1)
		assert.Equal(t, "order_1", final.all()[0].RefID)
		assert.Equal(t, upiv1.Resp_SUCCESS, final.all()[0].Result)
		assert.Len(t, deemed.all(), 1)
	})
	t.Run("counter-party", func(t *testing.T) {
		deemed.got, final.got = nil, nil
		f := newFixtureWith(t, beta, nil, cfg)
		id := newTxnID("ALP")
		m := payTo(id, "alice@alpha", "chai@beta", 15_000)
		m.Txn.RefId = "order_2"
		f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, m)
		txn := &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY, CustRef: "512345000002", RefId: "order_2"}
		f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{Head: swHead(), Txn: txn, Resp: rb})
		got := deemed.all()
		require.Len(t, got, 1)
		assert.Equal(t, upiv1.Resp_DEEMED, got[0].Result)
		assert.Equal(t, "order_2", got[0].RefID)
		assert.True(t, got[0].Payee.Here)
		f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{Head: swHead(), Txn: txn, Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: "U68"}})
		require.Len(t, final.all(), 1)
		assert.Equal(t, "U68", final.all()[0].ErrCode)
		assert.Equal(t, "order_2", final.all()[0].RefID)
		assert.Len(t, deemed.all(), 1)
	})
}

// StartCollect starts a collect inside the caller's step, with the order
// id in the ReqPay COLLECT; OnOutcome hears its outcome.
func TestStartCollect(t *testing.T) {
	final := &recorded[Outcome]{}
	f := newFixtureWith(t, beta, nil, Config{OnOutcome: func(c *node.Ctx, o Outcome) error { final.add(o); return nil }})
	start := func(r CollectRequest) (string, error) {
		var id string
		err := f.n.Update(func(c *node.Ctx) error {
			var err error
			id, err = f.p.StartCollect(c, r)
			return err
		})
		return id, err
	}
	req := CollectRequest{PayeeVPA: "Chai@Beta", PayerVPA: "alice@alpha", AmountPaise: 15_000, Note: "tea", RefID: "order_9", ExpireAfterMinutes: 15}
	req.TxnID = newTxnID("BET")
	id, err := start(req)
	require.NoError(t, err)
	assert.Equal(t, req.TxnID, id)
	sent := f.rec.WaitFor(t, upiv1.SwitchService_ReqPay_FullMethodName, id).Msg.(*upiv1.ReqPay)
	assert.Equal(t, upiv1.Txn_COLLECT, sent.GetTxn().GetType())
	assert.Equal(t, "order_9", sent.GetTxn().GetRefId())
	assert.Equal(t, int32(15), sent.GetTxn().GetExpireAfterMinutes())
	assert.Equal(t, "chai@beta", sent.GetPayee().GetAddr())
	assert.Equal(t, "2000000003", sent.GetPayee().GetAc().GetAcNum())
	r := f.record(id)
	assert.Equal(t, "order_9", r.RefId)
	assert.True(t, r.PayeeInitiator)

	again, err := start(req)
	require.NoError(t, err, "the same request again")
	assert.Equal(t, id, again)
	nodetest.Quiesce(t, f.n)
	assert.Equal(t, 1, f.rec.Count(upiv1.SwitchService_ReqPay_FullMethodName, id), "sent once")

	other := req
	other.RefID = "order_10"
	_, err = start(other)
	requireCode(t, err, codes.AlreadyExists, "already used")

	for _, tc := range []struct {
		name string
		edit func(*CollectRequest)
		code codes.Code
		want string
	}{
		{"no amount", func(r *CollectRequest) { r.AmountPaise = 0 }, codes.InvalidArgument, "amount"},
		{"expiry", func(r *CollectRequest) { r.ExpireAfterMinutes = -1 }, codes.InvalidArgument, "expire_after_minutes"},
		{"ref_id", func(r *CollectRequest) { r.RefID = "a\x00b" }, codes.InvalidArgument, "ref_id"},
		{"txn id", func(r *CollectRequest) { r.TxnID = newTxnID("ALP") }, codes.InvalidArgument, "prefix"},
		{"payee of another PSP", func(r *CollectRequest) { r.PayeeVPA = "bob@alpha" }, codes.NotFound, "not registered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req
			r.TxnID = ""
			tc.edit(&r)
			_, err := start(r)
			requireCode(t, err, tc.code, tc.want)
		})
	}

	f.accept(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{Head: swHead(),
		Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_COLLECT, CustRef: "512345000041"}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}})
	got := final.all()
	require.Len(t, got, 1)
	assert.Equal(t, upiv1.Txn_COLLECT, got[0].Type)
	assert.Equal(t, "order_9", got[0].RefID)
	assert.True(t, got[0].Payee.Initiator)
}

// CheckStatus sends ReqChkTxn sub_type PAY by RRN or txn id; the answer,
// its timeout or the switch's refusal runs OnStatus once, with the tag.
func TestCheckStatus(t *testing.T) {
	clock := nodetest.NewClock(time.Now())
	heard := &recorded[StatusAnswer]{}
	f := newFixtureWith(t, beta, func(n *config.Network) { n.Timeouts.CheckStatus = 7 * time.Second },
		Config{OnStatus: func(c *node.Ctx, s StatusAnswer) error { heard.add(s); return nil }}, nodetest.WithClock(clock))
	check := func(ref, tag string) (string, error) {
		var id string
		err := f.n.Update(func(c *node.Ctx) error {
			var err error
			id, err = f.p.CheckStatus(c, ref, tag)
			return err
		})
		return id, err
	}

	_, err := check("not-a-ref", "x")
	requireCode(t, err, codes.InvalidArgument, "neither a txn id")

	// By RRN, answered found.
	byRRN, err := check("512345000002", "attempt-1")
	require.NoError(t, err)
	s := f.rec.WaitFor(t, upiv1.SwitchService_ReqChkTxn_FullMethodName, byRRN)
	req := s.Msg.(*upiv1.ReqChkTxn)
	assert.Equal(t, npci, s.To)
	assert.Equal(t, upiv1.Txn_CHK_STATUS, req.GetTxn().GetType())
	assert.Equal(t, upiv1.Txn_PAY, req.GetTxn().GetSubType())
	assert.Equal(t, "512345000002", req.GetTxn().GetCustRef())
	assert.Empty(t, req.GetTxn().GetOrgTxnId())
	pay := newTxnID("ALP")
	answer := &upiv1.RespChkTxn{Head: swHead(),
		Txn: &upiv1.Txn{Id: byRRN, Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_PAY, OrgTxnId: pay, CustRef: "512345000002"},
		Resp: &upiv1.Resp{ReqMsgId: req.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS, Refs: []*upiv1.Ref{
			{Type: "PAYER", Addr: "alice@alpha", SettAmountPaise: 15_000, RespCode: "00"},
			{Type: "PAYEE", Addr: "chai@beta", SettAmountPaise: 15_000, RespCode: "00"},
		}}}
	f.accept(upiv1.PspService_RespChkTxn_FullMethodName, answer)
	require.Len(t, heard.all(), 1)
	assert.Equal(t, StatusAnswer{
		CheckTxnID: byRRN, Ref: "512345000002", Tag: "attempt-1", Found: true, TxnID: pay, RRN: "512345000002",
		Result: upiv1.Resp_SUCCESS, AmountPaise: 15_000, PayerVPA: "alice@alpha", PayeeVPA: "chai@beta",
	}, heard.all()[0])

	// By txn id, not found.
	byID, err := check(pay, "attempt-2")
	require.NoError(t, err)
	req = f.rec.WaitFor(t, upiv1.SwitchService_ReqChkTxn_FullMethodName, byID).Msg.(*upiv1.ReqChkTxn)
	assert.Equal(t, pay, req.GetTxn().GetOrgTxnId())
	f.accept(upiv1.PspService_RespChkTxn_FullMethodName, &upiv1.RespChkTxn{Head: swHead(),
		Txn:  &upiv1.Txn{Id: byID, Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_PAY, OrgTxnId: pay},
		Resp: &upiv1.Resp{ReqMsgId: req.GetHead().GetMsgId(), Result: upiv1.Resp_FAILURE, ErrCode: "U48"}})
	require.Len(t, heard.all(), 2)
	assert.Equal(t, StatusAnswer{CheckTxnID: byID, Ref: pay, Tag: "attempt-2", TxnID: pay, ErrCode: "U48"}, heard.all()[1])

	// Unanswered: the timer, timeouts.check_status after, answers U09; a
	// late answer changes nothing.
	lost, err := check("512345000099", "attempt-3")
	require.NoError(t, err)
	req = f.rec.WaitFor(t, upiv1.SwitchService_ReqChkTxn_FullMethodName, lost).Msg.(*upiv1.ReqChkTxn)
	nodetest.Quiesce(t, f.n)
	next, ok, err := f.n.NextTimer()
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, clock.Now().Add(7*time.Second).Equal(next), "the wait is timeouts.check_status: %s", next)
	require.True(t, nodetest.Step(t, clock, f.n))
	nodetest.Quiesce(t, f.n)
	require.Len(t, heard.all(), 3)
	assert.Equal(t, StatusAnswer{CheckTxnID: lost, Ref: "512345000099", Tag: "attempt-3", ErrCode: "U09"}, heard.all()[2])
	f.accept(upiv1.PspService_RespChkTxn_FullMethodName, &upiv1.RespChkTxn{Head: swHead(),
		Txn:  &upiv1.Txn{Id: lost, Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_PAY, CustRef: "512345000099"},
		Resp: &upiv1.Resp{ReqMsgId: req.GetHead().GetMsgId(), Result: upiv1.Resp_FAILURE, ErrCode: "U48"}})
	assert.Len(t, heard.all(), 3, "a late answer")
	assert.False(t, nodetest.Step(t, clock, f.n), "no timer left")

	// Refused by the switch in its Ack: U07 at once.
	f.rec.Refuse = func(method string) string {
		if method == upiv1.SwitchService_ReqChkTxn_FullMethodName {
			return "no"
		}
		return ""
	}
	refused, err := check(pay, "attempt-4")
	require.NoError(t, err)
	nodetest.Quiesce(t, f.n)
	require.Len(t, heard.all(), 4)
	assert.Equal(t, StatusAnswer{CheckTxnID: refused, Ref: pay, Tag: "attempt-4", ErrCode: "U07"}, heard.all()[3])
	require.NoError(t, f.n.View(func(tx *store.Tx) error {
		assert.Zero(t, tx.Count(store.StatusChecks), "every check ended")
		return nil
	}))
}

// Config.Routes and Timers join the PSP's table: a layer's timer fires in
// its own step.
func TestConfigTimers(t *testing.T) {
	clock := nodetest.NewClock(time.Now())
	fired := &recorded[string]{}
	f := newFixtureWith(t, beta, nil, Config{Timers: []node.TimerKind{{Prefix: "layer", Fire: func(c *node.Ctx, tm node.Timer) error {
		fired.add(string(tm.Payload))
		return nil
	}}}}, nodetest.WithClock(clock))
	require.NoError(t, f.n.Update(func(c *node.Ctx) error {
		return c.SetTimer("layer:1", c.Now().Add(time.Minute), []byte("one"))
	}))
	require.True(t, nodetest.Step(t, clock, f.n))
	nodetest.Quiesce(t, f.n)
	assert.Equal(t, []string{"one"}, fired.all())
}

func TestStatusCheckRoundTrip(t *testing.T) { recordtest.TableRoundTrip(t, statusChecks) }

// A ReqAuthDetails that comes after the switch ended the payment without
// this PSP (U09: the PSP was down; its confirmation came first) is
// answered as before, but no payment starts: OnAuthDetails is not asked.
func TestOnAuthDetailsNotAfterTheEnd(t *testing.T) {
	heard := &recorded[Outcome]{}
	f := newFixtureWith(t, beta, nil, Config{OnAuthDetails: func(c *node.Ctx, o Outcome) (string, error) {
		heard.add(o)
		return "", nil
	}})
	id := newTxnID("ALP")
	refs := []*upiv1.Ref{{Type: "PAYER", Addr: "alice@alpha"}, {Type: "PAYEE", Addr: "chai@beta", SettAmountPaise: 15_000}}
	ack := f.receive(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY},
		Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: "U09", Refs: refs},
	})
	require.Empty(t, ack.GetErr())
	m := payTo(id, "alice@alpha", "chai@beta", 15_000)
	m.Txn.RefId = "order-1"
	f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, m)
	f.authDetailsOf(id)
	assert.Empty(t, heard.all(), "the payment is over: nothing starts")
	assert.Equal(t, "FAILURE", f.record(id).Status)
}
