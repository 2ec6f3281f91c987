package upiswitch

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/pin/pintest"
)

const (
	methodReqPay       = upiv1.SwitchService_ReqPay_FullMethodName
	methodRespAuth     = upiv1.SwitchService_RespAuthDetails_FullMethodName
	methodRespPay      = upiv1.SwitchService_RespPay_FullMethodName
	methodRespConfirm  = upiv1.SwitchService_RespTxnConfirmation_FullMethodName
	pspReqAuth         = upiv1.PspService_ReqAuthDetails_FullMethodName
	pspRespPay         = upiv1.PspService_RespPay_FullMethodName
	pspReqConfirmation = upiv1.PspService_ReqTxnConfirmation_FullMethodName
	remitterReqPay     = upiv1.RemitterService_ReqPay_FullMethodName
)

func TestPaySuccess(t *testing.T) {
	e := newEnv(t, nil)
	id := ids.NewTxnID("ALP")
	req := pay(e, id, bob, 15000)
	e.accept(methodReqPay, req)

	// 4: ReqAuthDetails to the payee's PSP, with the RRN and without creds.
	ad := e.await(pspReqAuth, id, upiv1.Txn_PAY, 1)
	assert.Equal(t, "betapsp", ad.To)
	adm := ad.Msg.(*upiv1.ReqAuthDetails)
	rrn := adm.GetTxn().GetCustRef()
	assert.True(t, ids.ValidRRN(rrn), "RRN %q is not 12 digits", rrn)
	assert.Equal(t, "lunch", adm.GetTxn().GetNote())
	assert.Equal(t, alice, adm.GetPayer().GetAddr())
	assert.Equal(t, int64(15000), adm.GetPayer().GetAmountPaise())
	assert.Empty(t, adm.GetPayer().GetCreds(), "creds must not reach the payee's PSP")
	assert.Equal(t, bob, adm.GetPayee().GetAddr())
	assert.Equal(t, string(StateAuthSent), e.inspect(id).GetState())

	// 5–6: the payee's details, then DEBIT to the remitter with the creds.
	e.accept(methodRespAuth, payeeDetails(e, id, bob, bobAc, bobIFSC))
	debit := e.answerLeg(id, upiv1.Txn_DEBIT, "")
	assert.Equal(t, "abank", debit.To)
	dm := debit.Msg.(*upiv1.ReqPay)
	assert.Equal(t, rrn, dm.GetTxn().GetCustRef())
	assert.Equal(t, aliceAc, dm.GetPayer().GetAc().GetAcNum())
	assert.Equal(t, aliceIFSC, dm.GetPayer().GetAc().GetIfsc())
	require.Len(t, dm.GetPayer().GetCreds(), 1)
	assert.Equal(t, pin, pintest.OpenOpaque(dm.GetPayer().GetCreds()[0], id), "the block comes through whole: it opens to the PIN for this txn")
	assert.Equal(t, int64(15000), dm.GetPayer().GetAmountPaise())
	assert.Equal(t, bob, dm.GetPayee().GetAddr())
	assert.Equal(t, "Bob", dm.GetPayee().GetName())
	assert.Nil(t, dm.GetPayee().GetAc(), "the remitter gets no payee account")

	// 8: CREDIT to the beneficiary with the payee's account.
	credit := e.answerLeg(id, upiv1.Txn_CREDIT, "")
	assert.Equal(t, "bbank", credit.To)
	cm := credit.Msg.(*upiv1.ReqPay)
	assert.Equal(t, rrn, cm.GetTxn().GetCustRef())
	assert.Equal(t, bobAc, cm.GetPayee().GetAc().GetAcNum())
	assert.Equal(t, bobIFSC, cm.GetPayee().GetAc().GetIfsc())
	assert.Equal(t, int64(15000), cm.GetPayee().GetAmountPaise())
	assert.Empty(t, cm.GetPayer().GetCreds())
	assert.Nil(t, cm.GetPayer().GetAc(), "the beneficiary gets no payer account")

	// 10: the outcome to the payer's PSP, with the refs of both banks.
	final := e.await(pspRespPay, id, upiv1.Txn_PAY, 1)
	assert.Equal(t, "alphapsp", final.To)
	fm := final.Msg.(*upiv1.RespPay)
	assert.Equal(t, rrn, fm.GetTxn().GetCustRef())
	assert.Equal(t, upiv1.Resp_SUCCESS, fm.GetResp().GetResult())
	assert.Empty(t, fm.GetResp().GetErrCode())
	assert.Equal(t, req.GetHead().GetMsgId(), fm.GetResp().GetReqMsgId())
	refs := refsByType(fm.GetResp())
	assert.Equal(t, "APDEBIT", refs["PAYER"].GetApprovalNum())
	assert.Equal(t, "00", refs["PAYER"].GetRespCode())
	assert.Equal(t, int64(15000), refs["PAYER"].GetSettAmountPaise())
	assert.Equal(t, "APCREDIT", refs["PAYEE"].GetApprovalNum())

	// 11–12: the confirmation to the payee's PSP, then CLOSED.
	conf := e.await(pspReqConfirmation, id, upiv1.Txn_PAY, 1)
	assert.Equal(t, "betapsp", conf.To)
	assert.Equal(t, rrn, conf.Msg.GetTxn().GetCustRef())
	assert.Equal(t, upiv1.Resp_SUCCESS, conf.Msg.(*upiv1.ReqTxnConfirmation).GetResp().GetResult())
	assert.Equal(t, string(StateConfirmSent), e.inspect(id).GetState())
	e.confirm(id)

	got := e.inspect(id)
	assert.Equal(t, "npci", got.GetNode())
	assert.Equal(t, string(StateClosed), got.GetState())
	tx := got.GetTransaction()
	assert.Equal(t, id, tx.GetTxnId())
	assert.Equal(t, upiv1.Txn_PAY, tx.GetType())
	assert.Equal(t, upiv1.Resp_SUCCESS, tx.GetStatus())
	assert.Equal(t, rrn, tx.GetRrn())
	assert.Equal(t, alice, tx.GetPayerVpa())
	assert.Equal(t, bob, tx.GetPayeeVpa())
	assert.Equal(t, int64(15000), tx.GetAmountPaise())
	assert.Equal(t, "lunch", tx.GetNote())
	assert.Nil(t, tx.GetExpires())

	assert.Equal(t, []string{
		"ReqAuthDetails→betapsp", "ReqPay→abank", "ReqPay→bbank", "RespPay→alphapsp", "ReqTxnConfirmation→betapsp",
	}, e.trace(id))
	for _, s := range e.rec.All() {
		assert.Equal(t, id, s.Msg.GetTxn().GetId(), "%s to %s", s.API, s.To)
		if p, ok := s.Msg.(interface{ GetPayer() *upiv1.Party }); ok && s.To != "abank" {
			assert.Empty(t, p.GetPayer().GetCreds(), "creds sent to %s in %s", s.To, s.API)
		}
	}
	assert.Empty(t, e.record(id).Payer.Creds, "the switch keeps no creds once the debit is sent")
	e.book.check(t, id)
}

func refsByType(r *upiv1.Resp) map[string]*upiv1.Ref {
	out := map[string]*upiv1.Ref{}
	for _, ref := range r.GetRefs() {
		out[ref.GetType()] = ref
	}
	return out
}

func TestRRNsAreIssuedInSequence(t *testing.T) {
	e := newEnv(t, nil)
	var rrns []string
	for range 3 {
		id := ids.NewTxnID("ALP")
		e.accept(methodReqPay, pay(e, id, chai, 100))
		rrn := e.await(pspReqAuth, id, upiv1.Txn_PAY, 1).Msg.GetTxn().GetCustRef()
		require.True(t, ids.ValidRRN(rrn), rrn)
		assert.Equal(t, rrn, e.inspect(id).GetTransaction().GetRrn())
		rrns = append(rrns, rrn)
	}
	assert.Equal(t, []string{"000001", "000002", "000003"}, []string{rrns[0][6:], rrns[1][6:], rrns[2][6:]})
}

func TestPayDeclines(t *testing.T) {
	for _, tc := range []struct {
		name   string
		payee  string
		mutate func(*upiv1.ReqPay)
		// play answers for the PSP and banks.
		play func(e *env, id string)
		code string
		// out is what the switch sends, in order.
		out   []string
		check func(t *testing.T, e *env, id string, final *upiv1.RespPay)
	}{
		{
			name:  "unknown handle: U29 at once",
			payee: "bob@nowhere",
			play:  func(*env, string) {},
			code:  "U29",
			out:   []string{"RespPay→alphapsp"},
		},
		{
			name:  "payee PSP does not know the VPA: U29",
			payee: "nobody@beta",
			play: func(e *env, id string) {
				e.await(pspReqAuth, id, upiv1.Txn_PAY, 1)
				e.accept(methodRespAuth, declineAuth(e, "betapsp", id, "U29"))
			},
			code: "U29",
			out:  []string{"ReqAuthDetails→betapsp", "RespPay→alphapsp", "ReqTxnConfirmation→betapsp"},
		},
		{
			name:  "debit declined: Z9",
			payee: bob,
			play: func(e *env, id string) {
				e.accept(methodRespAuth, payeeDetails(e, id, bob, bobAc, bobIFSC))
				e.answerLeg(id, upiv1.Txn_DEBIT, "Z9")
			},
			code: "Z9",
			out:  []string{"ReqAuthDetails→betapsp", "ReqPay→abank", "RespPay→alphapsp", "ReqTxnConfirmation→betapsp"},
			check: func(t *testing.T, _ *env, _ string, final *upiv1.RespPay) {
				assert.Equal(t, "Z9", refsByType(final.GetResp())["PAYER"].GetRespCode())
			},
		},
		{
			name:  "credit fails: REVERSAL, then U31",
			payee: bob,
			play: func(e *env, id string) {
				e.accept(methodRespAuth, payeeDetails(e, id, bob, bobAc, bobIFSC))
				e.answerLeg(id, upiv1.Txn_DEBIT, "")
				e.answerLeg(id, upiv1.Txn_CREDIT, "U31")
				rev := e.answerLeg(id, upiv1.Txn_REVERSAL, "")
				assert.Equal(t, "abank", rev.To)
				rm := rev.Msg.(*upiv1.ReqPay)
				assert.Equal(t, id, rm.GetTxn().GetOrgTxnId())
				assert.True(t, ids.ValidRRN(rm.GetTxn().GetCustRef()))
				assert.Equal(t, aliceAc, rm.GetPayer().GetAc().GetAcNum())
				assert.Equal(t, int64(2500), rm.GetPayer().GetAmountPaise())
				assert.Empty(t, rm.GetPayer().GetCreds())
			},
			code: "U31",
			out: []string{"ReqAuthDetails→betapsp", "ReqPay→abank", "ReqPay→bbank", "ReqPay→abank",
				"RespPay→alphapsp", "ReqTxnConfirmation→betapsp"},
			check: func(t *testing.T, _ *env, _ string, final *upiv1.RespPay) {
				refs := refsByType(final.GetResp())
				assert.Equal(t, "00", refs["PAYER"].GetReversalRespCode())
				assert.Equal(t, "U31", refs["PAYEE"].GetRespCode())
			},
		},
		{
			name:  "payee IFSC routes to no bank: REVERSAL, then U31",
			payee: bob,
			play: func(e *env, id string) {
				e.accept(methodRespAuth, payeeDetails(e, id, bob, bobAc, "ZZZZ0000001"))
				e.answerLeg(id, upiv1.Txn_DEBIT, "")
				e.answerLeg(id, upiv1.Txn_REVERSAL, "")
			},
			code: "U31",
			out:  []string{"ReqAuthDetails→betapsp", "ReqPay→abank", "ReqPay→abank", "RespPay→alphapsp", "ReqTxnConfirmation→betapsp"},
			check: func(t *testing.T, _ *env, _ string, final *upiv1.RespPay) {
				assert.Equal(t, "00", refsByType(final.GetResp())["PAYER"].GetReversalRespCode())
			},
		},
		{
			name:   "payer IFSC routes to no bank: U30",
			payee:  bob,
			mutate: func(m *upiv1.ReqPay) { m.Payer.Ac.Ifsc = "ZZZZ0000001" },
			play: func(e *env, id string) {
				e.accept(methodRespAuth, payeeDetails(e, id, bob, bobAc, bobIFSC))
			},
			code: "U30",
			out:  []string{"ReqAuthDetails→betapsp", "RespPay→alphapsp", "ReqTxnConfirmation→betapsp"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			id := ids.NewTxnID("ALP")
			req := pay(e, id, tc.payee, 2500)
			if tc.mutate != nil {
				tc.mutate(req)
			}
			e.accept(methodReqPay, req)
			tc.play(e, id)

			final := e.await(pspRespPay, id, upiv1.Txn_PAY, 1)
			assert.Equal(t, "alphapsp", final.To)
			fm := final.Msg.(*upiv1.RespPay)
			assert.Equal(t, upiv1.Resp_FAILURE, fm.GetResp().GetResult())
			assert.Equal(t, tc.code, fm.GetResp().GetErrCode())
			assert.True(t, ids.ValidRRN(fm.GetTxn().GetCustRef()))
			assert.Equal(t, tc.out, e.trace(id))

			got := e.inspect(id)
			assert.Equal(t, upiv1.Resp_FAILURE, got.GetTransaction().GetStatus())
			assert.Equal(t, tc.code, got.GetTransaction().GetErrCode())
			if tc.out[len(tc.out)-1] == "ReqTxnConfirmation→betapsp" {
				conf := e.await(pspReqConfirmation, id, upiv1.Txn_PAY, 1).Msg.(*upiv1.ReqTxnConfirmation)
				assert.Equal(t, upiv1.Resp_FAILURE, conf.GetResp().GetResult())
				assert.Equal(t, tc.code, conf.GetResp().GetErrCode())
				assert.Equal(t, string(StateConfirmSent), got.GetState())
				e.confirm(id)
				assert.Equal(t, string(StateClosed), e.inspect(id).GetState())
			} else {
				assert.Equal(t, string(StateClosed), got.GetState())
			}
			if tc.check != nil {
				tc.check(t, e, id, fm)
			}
			e.book.check(t, id)
		})
	}
}

func TestLateAndDuplicateResponsesChangeNothing(t *testing.T) {
	e := newEnv(t, nil)
	id := ids.NewTxnID("ALP")
	e.accept(methodReqPay, pay(e, id, bob, 700))
	e.accept(methodRespAuth, payeeDetails(e, id, bob, bobAc, bobIFSC))
	e.answerLeg(id, upiv1.Txn_DEBIT, "")
	e.await(upiv1.BeneficiaryService_ReqPay_FullMethodName, id, upiv1.Txn_CREDIT, 1)

	// The same DEBIT answer again under a new msg_id: accepted, ignored.
	e.accept(methodRespPay, bankResp(e, "abank", id, upiv1.Txn_DEBIT, "", "APDEBIT"))
	// A second RespAuthDetails: accepted, ignored.
	e.accept(methodRespAuth, payeeDetails(e, id, bob, bobAc, bobIFSC))
	assert.Equal(t, string(StateCreditSent), e.inspect(id).GetState())

	e.answerLeg(id, upiv1.Txn_CREDIT, "")
	e.await(pspRespPay, id, upiv1.Txn_PAY, 1)
	// A CREDIT answer after the decision (a duplicate, and a contrary one).
	e.accept(methodRespPay, bankResp(e, "bbank", id, upiv1.Txn_CREDIT, "", "APCREDIT"))
	e.accept(methodRespPay, bankResp(e, "bbank", id, upiv1.Txn_CREDIT, "U31", ""))
	e.confirm(id)
	e.accept(methodRespConfirm, &upiv1.RespTxnConfirmation{
		Head: e.head("betapsp"), Txn: &upiv1.Txn{Id: id}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	})

	assert.Equal(t, []string{
		"ReqAuthDetails→betapsp", "ReqPay→abank", "ReqPay→bbank", "RespPay→alphapsp", "ReqTxnConfirmation→betapsp",
	}, e.trace(id))
	r := e.record(id)
	assert.Equal(t, StateClosed, r.State)
	assert.Equal(t, "SUCCESS", r.Status)
	require.Len(t, r.Late, 5)
	assert.Equal(t, &lateNote{Api: "RespPay", Leg: "DEBIT", From: "abank", Result: "SUCCESS", State: StateCreditSent},
		&lateNote{Api: r.Late[0].Api, Leg: r.Late[0].Leg, From: r.Late[0].From, Result: r.Late[0].Result, State: r.Late[0].State})
	assert.Equal(t, "RespAuthDetails", r.Late[1].Api)
	assert.Equal(t, StateConfirmSent, r.Late[2].State)
	assert.Equal(t, "U31", r.Late[3].ErrCode)
	assert.Equal(t, "RespTxnConfirmation", r.Late[4].Api)
	assert.Equal(t, StateClosed, r.Late[4].State)
	e.book.check(t, id)
}
