package upiswitch

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

const (
	beneficiaryReqPay = upiv1.BeneficiaryService_ReqPay_FullMethodName
	beneficiaryChk    = upiv1.BeneficiaryService_ReqChkTxn_FullMethodName
	methodRespChk     = upiv1.SwitchService_RespChkTxn_FullMethodName
)

// timeouts sets the switch's response timeouts; a timer the test does not
// want to fire gets a long one.
func timeouts(debit, credit, check, reversal time.Duration) func(*config.Network) {
	return func(n *config.Network) {
		n.Timeouts.Debit, n.Timeouts.Credit, n.Timeouts.CheckStatus, n.Timeouts.Reversal = debit, credit, check, reversal
	}
}

const long = time.Minute

// toDebit starts a PAY of amount from alice to bob and waits for the DEBIT.
func (e *env) toDebit(id string, amount int64) nodetest.Sent {
	e.t.Helper()
	e.accept(methodReqPay, pay(e, id, bob, amount))
	e.accept(methodRespAuth, payeeDetails(e, id, bob, bobAc, bobIFSC))
	return e.await(remitterReqPay, id, upiv1.Txn_DEBIT, 1)
}

// toCredit starts a PAY, answers the DEBIT, and waits for the CREDIT.
func (e *env) toCredit(id string, amount int64) nodetest.Sent {
	e.t.Helper()
	e.accept(methodReqPay, pay(e, id, bob, amount))
	e.accept(methodRespAuth, payeeDetails(e, id, bob, bobAc, bobIFSC))
	e.answerLeg(id, upiv1.Txn_DEBIT, "")
	return e.await(beneficiaryReqPay, id, upiv1.Txn_CREDIT, 1)
}

// answerReversal answers the k-th REVERSAL sent for id: "00" puts the
// money back in the book, "NA" says nothing was debited, anything else is
// a FAILURE with that code.
func (e *env) answerReversal(id string, k int, code string) nodetest.Sent {
	e.t.Helper()
	req := e.await(remitterReqPay, id, upiv1.Txn_REVERSAL, k)
	m := bankResp(e, req.To, id, upiv1.Txn_REVERSAL, "", "APREV")
	switch code {
	case "00":
		e.book.post(req)
	case "NA":
		m.Resp.Refs[0].ReversalRespCode = "NA"
	default:
		m = bankResp(e, req.To, id, upiv1.Txn_REVERSAL, code, "")
		m.Resp.Refs[0].ReversalRespCode = code
	}
	m.Resp.ReqMsgId = req.Msg.GetHead().GetMsgId()
	e.accept(methodRespPay, m)
	return req
}

// answerCheck answers the k-th ReqChkTxn for id: code "" is SUCCESS (the
// credit is there), else FAILURE with code.
func (e *env) answerCheck(id string, k int, code string) nodetest.Sent {
	e.t.Helper()
	req := e.await(beneficiaryChk, id, upiv1.Txn_CHK_STATUS, k)
	resp := &upiv1.Resp{ReqMsgId: req.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS,
		Refs: []*upiv1.Ref{{Type: "PAYEE", ApprovalNum: "APCHK", RespCode: "00", SettAmountPaise: 1}}}
	if code != "" {
		resp.Result, resp.ErrCode, resp.Refs = upiv1.Resp_FAILURE, code, nil
	}
	e.accept(methodRespChk, &upiv1.RespChkTxn{Head: e.head(req.To), Txn: req.Msg.GetTxn(), Resp: resp})
	return req
}

// confirmK answers the k-th ReqTxnConfirmation for id.
func (e *env) confirmK(id string, k int) *upiv1.ReqTxnConfirmation {
	e.t.Helper()
	req := e.await(pspReqConfirmation, id, upiv1.Txn_TYPE_UNSPECIFIED, k)
	e.accept(methodRespConfirm, &upiv1.RespTxnConfirmation{
		Head: e.head(req.To), Txn: &upiv1.Txn{Id: id, Type: req.Msg.GetTxn().GetType()},
		Resp: &upiv1.Resp{ReqMsgId: req.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
	})
	return req.Msg.(*upiv1.ReqTxnConfirmation)
}

// outcome is the k-th RespPay to the originator (alphapsp).
func (e *env) outcome(id string, k int) *upiv1.Resp {
	e.t.Helper()
	s := e.await(pspRespPay, id, upiv1.Txn_PAY, k)
	require.Equal(e.t, "alphapsp", s.To)
	return s.Msg.(*upiv1.RespPay).GetResp()
}

// deemed waits until id is DEEMED at both PSPs and answers the
// counter-party's DEEMED confirmation.
func (e *env) deemed(id string) {
	e.t.Helper()
	d := e.outcome(id, 1)
	assert.Equal(e.t, upiv1.Resp_DEEMED, d.GetResult())
	assert.Equal(e.t, "RB", d.GetErrCode())
	assert.Equal(e.t, "RB", refsByType(d)["PAYEE"].GetRespCode())
	assert.Equal(e.t, "00", refsByType(d)["PAYER"].GetRespCode())
	conf := e.confirmK(id, 1)
	assert.Equal(e.t, upiv1.Resp_DEEMED, conf.GetResp().GetResult())
	assert.Equal(e.t, "RB", conf.GetResp().GetErrCode())
	got := e.inspect(id)
	assert.Equal(e.t, upiv1.Resp_DEEMED, got.GetTransaction().GetStatus())
	assert.Equal(e.t, "RB", got.GetTransaction().GetErrCode())
	assert.Contains(e.t, []string{string(StateDeemed), string(StateCheckSent)}, got.GetState())
}

// ended checks the transaction's final answers at both PSPs and the
// switch, closes it, and returns the originator's Resp.
func (e *env) ended(id string, k int, result upiv1.Resp_Result, code string) *upiv1.Resp {
	e.t.Helper()
	final := e.outcome(id, k)
	assert.Equal(e.t, result, final.GetResult())
	assert.Equal(e.t, code, final.GetErrCode())
	conf := e.confirmK(id, k)
	assert.Equal(e.t, result, conf.GetResp().GetResult())
	assert.Equal(e.t, code, conf.GetResp().GetErrCode())
	got := e.inspect(id)
	assert.Equal(e.t, string(StateClosed), got.GetState())
	assert.Equal(e.t, result, got.GetTransaction().GetStatus())
	assert.Equal(e.t, code, got.GetTransaction().GetErrCode())
	assert.Equal(e.t, 0, timers(e.t, e.n), "no timer is left once decided")
	e.book.check(e.t, id)
	return final
}

// quiet moves the fake clock d on (firing the timers due meanwhile), waits
// until the switch is quiet, and checks it sent nothing more about id.
func (e *env) quiet(id string, d time.Duration) {
	e.t.Helper()
	before := e.trace(id)
	e.advance(d)
	assert.Equal(e.t, before, e.trace(id), "nothing more is sent")
}

// The payee's PSP does not answer a PAY's ReqAuthDetails in time: FAILURE
// U09 with nothing debited; its late answer is noted U70 and changes
// nothing. A collect's ReqAuthDetails has no such timer: it waits for its
// payer until it expires.
func TestAuthDetailsTimeout(t *testing.T) {
	e := newEnv(t, func(n *config.Network) {
		timeouts(long, long, long, long)(n)
		n.Timeouts.AuthDetails = 80 * time.Millisecond
	})
	id := ids.NewTxnID("ALP")
	start := e.clock.Now()
	e.accept(methodReqPay, pay(e, id, bob, 2500))
	final := e.ended(id, 1, upiv1.Resp_FAILURE, "U09")
	assert.GreaterOrEqual(t, e.since(start), 80*time.Millisecond)
	assert.Empty(t, final.GetRefs(), "no bank was asked")
	assert.Empty(t, e.sent(remitterReqPay, id, upiv1.Txn_TYPE_UNSPECIFIED), "nothing is debited")
	assert.Contains(t, e.record(id).Reason, "no RespAuthDetails from betapsp")

	e.accept(methodRespAuth, payeeDetails(e, id, bob, bobAc, bobIFSC))
	r := e.record(id)
	require.Len(t, r.Late, 1)
	assert.Equal(t, upi.CodeLate, r.Late[0].Code)
	assert.Equal(t, "FAILURE", r.Status)
	assert.Empty(t, e.sent(remitterReqPay, id, upiv1.Txn_TYPE_UNSPECIFIED), "the late answer debits nothing")

	cid := ids.NewTxnID("BET")
	e.accept(methodReqPay, collect(e, cid, 700, 1))
	e.await(pspReqAuth, cid, upiv1.Txn_COLLECT, 1)
	e.advance(200 * time.Millisecond)
	assert.Equal(t, string(StateAuthSent), e.inspect(cid).GetState(), "a collect is not timed out by auth_details")
}

func TestDebitTimeout(t *testing.T) {
	for _, tc := range []struct {
		name     string
		debited  bool   // the remitter debited but its answer was lost
		revCode  string // the remitter's reversal_resp_code
		late     string // the late DEBIT answer's code ("" SUCCESS)
		lateWhen string // "before" or "after" the reversal is answered
	}{
		{name: "debited, answer lost: reversed", debited: true, revCode: "00", lateWhen: "after"},
		{name: "debited, late answer while reversing", debited: true, revCode: "00", lateWhen: "before"},
		{name: "never debited: nothing to reverse", revCode: "NA", late: "U30", lateWhen: "after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, timeouts(100*time.Millisecond, long, long, long))
			id := ids.NewTxnID("ALP")
			start := e.clock.Now()
			debit := e.toDebit(id, 3300)
			if tc.debited {
				e.book.post(debit)
			}
			rev := e.await(remitterReqPay, id, upiv1.Txn_REVERSAL, 1)
			assert.GreaterOrEqual(t, e.since(start), 100*time.Millisecond)
			assert.Equal(t, "abank", rev.To)
			assert.Equal(t, id, rev.Msg.GetTxn().GetOrgTxnId())
			assert.Equal(t, string(StateReversalSent), e.inspect(id).GetState())
			assert.Empty(t, e.sent(pspRespPay, id, upiv1.Txn_TYPE_UNSPECIFIED), "no outcome before the reversal is answered")

			lateDebit := func() {
				e.accept(methodRespPay, bankResp(e, "abank", id, upiv1.Txn_DEBIT, tc.late, "APLATE"))
			}
			if tc.lateWhen == "before" {
				lateDebit()
			}
			e.answerReversal(id, 1, tc.revCode)
			final := e.ended(id, 1, upiv1.Resp_FAILURE, "U67")
			payer := refsByType(final)["PAYER"]
			assert.Equal(t, "U67", payer.GetRespCode())
			assert.Equal(t, tc.revCode, payer.GetReversalRespCode())
			assert.Zero(t, payer.GetSettAmountPaise())
			assert.Nil(t, refsByType(final)["PAYEE"])
			if tc.lateWhen == "after" {
				lateDebit()
			}
			e.quiet(id, 50*time.Millisecond)

			r := e.record(id)
			assert.Equal(t, "FAILURE", r.Status)
			assert.Contains(t, r.Reason, "no debit response from abank")
			require.Len(t, r.Late, 1)
			assert.Equal(t, "DEBIT", r.Late[0].Leg)
			assert.Equal(t, upi.CodeLate, r.Late[0].Code)
			assert.Empty(t, e.sent(beneficiaryReqPay, id, upiv1.Txn_TYPE_UNSPECIFIED), "a late debit never leads to a credit")
			assert.Equal(t, []string{
				"ReqAuthDetails→betapsp", "ReqPay→abank", "ReqPay→abank", "RespPay→alphapsp", "ReqTxnConfirmation→betapsp",
			}, e.trace(id))
		})
	}
}

func TestCheckInterval(t *testing.T) {
	const every = 10 * time.Second
	var got []time.Duration
	for sent := 1; sent <= 12; sent++ {
		got = append(got, checkInterval(every, sent))
	}
	assert.Equal(t, []time.Duration{
		every, every, every, // maxChecks at the check timeout
		2 * every, 4 * every, 8 * every, 16 * every, 32 * every, 32 * every, 32 * every, 32 * every, 32 * every,
	}, got)
}

func TestDeemedResolved(t *testing.T) {
	for _, tc := range []struct {
		name string
		// credited: the beneficiary did credit, only its answer was lost.
		credited bool
		// resolve plays the beneficiary once the transaction is DEEMED.
		resolve func(e *env, id string)
		result  upiv1.Resp_Result
		code    string
		checks  int // ReqChkTxn answered (or sent, when none is)
		// interval is Timeouts.CheckStatus (default 150ms).
		interval time.Duration
		late     int // notes in the record's Late
		check    func(t *testing.T, e *env, id string, final *upiv1.Resp)
	}{
		{
			name: "check finds the credit: SUCCESS", credited: true,
			resolve: func(e *env, id string) {
				chk := e.answerCheck(id, 1, "")
				ct := chk.Msg.GetTxn()
				assert.Equal(e.t, "bbank", chk.To)
				assert.Equal(e.t, id, ct.GetId())
				assert.Equal(e.t, upiv1.Txn_CREDIT, ct.GetSubType())
				assert.Equal(e.t, id, ct.GetOrgTxnId())
				assert.True(e.t, ids.ValidRRN(ct.GetCustRef()))
			},
			result: upiv1.Resp_SUCCESS, checks: 1,
			check: func(t *testing.T, _ *env, _ string, final *upiv1.Resp) {
				assert.Equal(t, "APCHK", refsByType(final)["PAYEE"].GetApprovalNum())
				assert.Equal(t, "00", refsByType(final)["PAYEE"].GetRespCode())
			},
		},
		{
			name: "check finds no credit (U48): reversed, U68",
			resolve: func(e *env, id string) {
				e.answerCheck(id, 1, "U48")
				e.answerReversal(id, 1, "00")
			},
			result: upiv1.Resp_FAILURE, code: "U68", checks: 1,
			check: func(t *testing.T, _ *env, _ string, final *upiv1.Resp) {
				assert.Equal(t, "00", refsByType(final)["PAYER"].GetReversalRespCode())
				assert.Equal(t, "U48", refsByType(final)["PAYEE"].GetRespCode())
			},
		},
		{
			name: "second check answered, first lost: SUCCESS", credited: true,
			resolve: func(e *env, id string) {
				e.await(beneficiaryChk, id, upiv1.Txn_CHK_STATUS, 2)
				e.answerCheck(id, 2, "")
				// The first check's answer turns up afterwards: noted.
				e.answerCheck(id, 1, "")
			},
			result: upiv1.Resp_SUCCESS, checks: 2, late: 1,
		},
		{
			name: "no check answered: the checks go on, further apart, until one is", credited: true,
			resolve: func(e *env, id string) {
				e.await(beneficiaryChk, id, upiv1.Txn_CHK_STATUS, maxChecks+2)
				assert.Empty(e.t, e.sent(remitterReqPay, id, upiv1.Txn_REVERSAL), "a debit whose credit may have happened is never reversed")
				assert.Equal(e.t, upiv1.Resp_DEEMED, e.inspect(id).GetTransaction().GetStatus())
				e.answerCheck(id, maxChecks+2, "")
			},
			result: upiv1.Resp_SUCCESS, checks: maxChecks + 2, interval: 40 * time.Millisecond,
			check: func(t *testing.T, e *env, id string, final *upiv1.Resp) {
				assert.Equal(t, "00", refsByType(final)["PAYEE"].GetRespCode())
				assert.Contains(t, e.record(id).Reason, "3 status checks went unanswered, still checking")
			},
		},
		{
			name: "late CREDIT SUCCESS resolves it: SUCCESS", credited: true,
			resolve: func(e *env, id string) {
				e.await(beneficiaryChk, id, upiv1.Txn_CHK_STATUS, 1)
				e.accept(methodRespPay, bankResp(e, "bbank", id, upiv1.Txn_CREDIT, "", "APLATE"))
			},
			result: upiv1.Resp_SUCCESS, checks: 1, late: 1,
			check: func(t *testing.T, e *env, id string, final *upiv1.Resp) {
				assert.Equal(t, "APLATE", refsByType(final)["PAYEE"].GetApprovalNum())
				r := e.record(id)
				assert.Equal(t, upi.CodeLate, r.Late[0].Code)
				assert.Equal(t, "CREDIT", r.Late[0].Leg)
				assert.Equal(t, StateCheckSent, r.Late[0].State)
				// The outstanding check's answer comes after the decision.
				e.answerCheck(id, 1, "")
				assert.Len(t, e.record(id).Late, 2)
			},
		},
		{
			name: "late CREDIT FAILURE: reversed, U31",
			resolve: func(e *env, id string) {
				e.accept(methodRespPay, bankResp(e, "bbank", id, upiv1.Txn_CREDIT, "U31", ""))
				e.answerReversal(id, 1, "00")
			},
			result: upiv1.Resp_FAILURE, code: "U31", late: 1, interval: long,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := 150 * time.Millisecond
			if tc.interval != 0 {
				check = tc.interval
			}
			e := newEnv(t, timeouts(long, 100*time.Millisecond, check, long))
			id := ids.NewTxnID("ALP")
			credit := e.toCredit(id, 4100)
			if tc.credited {
				e.book.post(credit)
			}
			e.deemed(id)
			tc.resolve(e, id)
			final := e.ended(id, 2, tc.result, tc.code)
			e.quiet(id, min(3*check, 450*time.Millisecond))
			// A slow test may see one check more than it answered.
			if checks := len(e.sent(beneficiaryChk, id, upiv1.Txn_CHK_STATUS)); tc.checks == maxChecks {
				assert.Equal(t, maxChecks, checks)
			} else {
				assert.Contains(t, []int{tc.checks, tc.checks + 1}, checks)
			}
			assert.Len(t, e.record(id).Late, tc.late)
			assert.Len(t, e.sent(beneficiaryReqPay, id, upiv1.Txn_CREDIT), 1, "the credit is never sent twice")
			if tc.check != nil {
				tc.check(t, e, id, final)
			}
		})
	}
}

func TestReversalTimeout(t *testing.T) {
	t.Run("retried, second answered", func(t *testing.T) {
		e := newEnv(t, timeouts(long, long, long, 150*time.Millisecond))
		id := ids.NewTxnID("ALP")
		e.toCredit(id, 900)
		e.answerLeg(id, upiv1.Txn_CREDIT, "U31")
		first := e.await(remitterReqPay, id, upiv1.Txn_REVERSAL, 1)
		second := e.answerReversal(id, 2, "00")
		assert.NotEqual(t, first.Msg.GetHead().GetMsgId(), second.Msg.GetHead().GetMsgId())
		assert.Equal(t, first.Msg.GetTxn().GetOrgTxnId(), second.Msg.GetTxn().GetOrgTxnId())
		final := e.ended(id, 1, upiv1.Resp_FAILURE, "U31")
		assert.Equal(t, "00", refsByType(final)["PAYER"].GetReversalRespCode())
		assert.Equal(t, int64(2), e.record(id).Reversal.Attempts)
		// The first attempt's answer (the remitter's recorded one) is late.
		e.accept(methodRespPay, bankResp(e, "abank", id, upiv1.Txn_REVERSAL, "", "APREV"))
		e.quiet(id, 100*time.Millisecond)
		assert.Len(t, e.sent(remitterReqPay, id, upiv1.Txn_REVERSAL), 2)
		require.Len(t, e.record(id).Late, 1)
	})
	t.Run("never answered: FAILURE, reversal unconfirmed", func(t *testing.T) {
		e := newEnv(t, timeouts(long, long, long, 40*time.Millisecond))
		id := ids.NewTxnID("ALP")
		e.toCredit(id, 900)
		e.answerLeg(id, upiv1.Txn_CREDIT, "U31")
		final := e.outcome(id, 1)
		assert.Equal(t, upiv1.Resp_FAILURE, final.GetResult())
		assert.Equal(t, "U31", final.GetErrCode())
		assert.Equal(t, "UT", refsByType(final)["PAYER"].GetReversalRespCode())
		assert.Equal(t, "UT", refsByType(e.confirmK(id, 1).GetResp())["PAYER"].GetReversalRespCode())
		assert.Equal(t, string(StateClosed), e.inspect(id).GetState())
		assert.Equal(t, 0, timers(t, e.n))
		assert.Len(t, e.sent(remitterReqPay, id, upiv1.Txn_REVERSAL), maxReversals)
		r := e.record(id)
		assert.Equal(t, int64(maxReversals), r.Reversal.Attempts)
		assert.Equal(t, "UT", r.Reversal.ReversalRespCode)
		assert.Contains(t, r.Reason, "unconfirmed")

		// The remitter answers at last: recorded on the reversal, and the
		// decided outcome stays.
		rev := e.await(remitterReqPay, id, upiv1.Txn_REVERSAL, 1)
		e.book.post(rev)
		e.accept(methodRespPay, bankResp(e, "abank", id, upiv1.Txn_REVERSAL, "", "APREV"))
		r = e.record(id)
		assert.Equal(t, "00", r.Reversal.ReversalRespCode)
		assert.Equal(t, "FAILURE", r.Status)
		require.Len(t, r.Late, 1)
		assert.Equal(t, upi.CodeLate, r.Late[0].Code)
		assert.Len(t, e.sent(pspRespPay, id, upiv1.Txn_TYPE_UNSPECIFIED), 1, "the outcome is not sent again")
		e.book.check(t, id)
	})
	t.Run("answered FAILURE: visible in the outcome and the record", func(t *testing.T) {
		e := newEnv(t, timeouts(long, long, long, long))
		id := ids.NewTxnID("ALP")
		e.toCredit(id, 900)
		e.answerLeg(id, upiv1.Txn_CREDIT, "U31")
		e.answerReversal(id, 1, "U30")
		final := e.outcome(id, 1)
		assert.Equal(t, upiv1.Resp_FAILURE, final.GetResult())
		assert.Equal(t, "U31", final.GetErrCode())
		assert.Equal(t, "U30", refsByType(final)["PAYER"].GetReversalRespCode())
		r := e.record(id)
		assert.Equal(t, "FAILURE", r.Reversal.Result)
		assert.Equal(t, "U30", r.Reversal.ReversalRespCode)
		assert.Contains(t, r.Reason, "reversal was declined by abank (U30)")
	})
}

// The response timers are durable: a switch that was down when the credit
// timed out makes the transaction DEEMED when it starts again, and the
// status checks go on from there.
func TestTimersSurviveRestart(t *testing.T) {
	net := config.Default()
	timeouts(long, 150*time.Millisecond, 100*time.Millisecond, long)(net)
	path := filepath.Join(t.TempDir(), "npci.db")
	clock := nodetest.NewClock(time.Now())
	start := func(rec *nodetest.Recorder) (*env, func()) {
		db, err := store.Open(path, store.Options{NoSync: true})
		require.NoError(t, err)
		sw := New(Config{Network: net, Self: net.Switch()})
		n := node.New(node.Config{Name: "npci", DB: db, Handler: sw, Transport: rec, Clock: clock, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond})
		sw.Attach(n)
		require.NoError(t, n.Start())
		return &env{t: t, net: net, sw: sw, n: n, rec: rec, book: newBook(), clock: clock}, func() { n.Stop(); require.NoError(t, db.Close()) }
	}

	e, stop := start(nodetest.NewRecorder())
	id := ids.NewTxnID("ALP")
	e.toCredit(id, 500)
	assert.Equal(t, 1, timers(t, e.n), "the credit timer")
	stop()
	clock.Advance(200 * time.Millisecond) // the credit times out while the switch is down

	e2, stop2 := start(nodetest.NewRecorder())
	defer stop2()
	e2.deemed(id)
	e2.answerCheck(id, 1, "")
	final := e2.outcome(id, 2)
	assert.Equal(t, upiv1.Resp_SUCCESS, final.GetResult())
	e2.confirmK(id, 2)
	assert.Equal(t, string(StateClosed), e2.inspect(id).GetState())
	assert.Equal(t, 0, timers(t, e2.n))
}
