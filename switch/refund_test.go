package upiswitch

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/upi"
)

// paidChai runs a PAY of amount from alice to chai to SUCCESS and returns
// its txn id: the credit the refunds refund.
func paidChai(e *env, amount int64) string {
	e.t.Helper()
	id := ids.NewTxnID("ALP")
	e.accept(methodReqPay, pay(e, id, chai, amount))
	e.await(pspReqAuth, id, upiv1.Txn_PAY, 1)
	e.accept(methodRespAuth, payeeDetails(e, id, chai, chaiAc, bobIFSC))
	e.answerLeg(id, upiv1.Txn_DEBIT, "")
	e.answerLeg(id, upiv1.Txn_CREDIT, "")
	e.await(pspRespPay, id, upiv1.Txn_PAY, 1)
	e.confirm(id)
	require.Equal(e.t, upiv1.Resp_SUCCESS.String(), e.record(id).Status)
	return id
}

// refund is chai's PSP's ReqPay REFUND of amount of credit org.
func refund(e *env, id, org string, amount int64) *upiv1.ReqPay {
	return &upiv1.ReqPay{
		Head: e.head("betapsp"),
		Txn:  &upiv1.Txn{Id: id, Type: upiv1.Txn_REFUND, OrgTxnId: org, Note: "refund", RefId: "rf-1", Ts: timestamppb.Now()},
		Payer: &upiv1.Party{
			Addr: chai, Name: "Chai Point", Type: upiv1.Party_ENTITY, Code: "5814",
			Ac: &upiv1.Account{AcNum: chaiAc, Ifsc: bobIFSC}, AmountPaise: amount, Currency: "INR",
		},
		Payee: &upiv1.Party{Addr: alice},
	}
}

func TestRefundFlow(t *testing.T) {
	e := newEnv(t, nil)
	org := paidChai(e, 10000)
	id := ids.NewTxnID("BET")
	req := refund(e, id, org, 4000)
	e.accept(methodReqPay, req)

	// The DEBIT goes to chai's bank, from the account credited, with no
	// PIN: sub_type REFUND and org_txn_id say what it refunds.
	debit := e.answerLeg(id, upiv1.Txn_DEBIT, "")
	assert.Equal(t, "bbank", debit.To)
	dm := debit.Msg.(*upiv1.ReqPay)
	assert.Equal(t, upiv1.Txn_REFUND, dm.GetTxn().GetSubType())
	assert.Equal(t, org, dm.GetTxn().GetOrgTxnId())
	assert.Equal(t, chaiAc, dm.GetPayer().GetAc().GetAcNum())
	assert.Equal(t, int64(4000), dm.GetPayer().GetAmountPaise())
	assert.Empty(t, dm.GetPayer().GetCreds(), "a refund carries no PIN")
	assert.Nil(t, dm.GetMandate())
	rrn := dm.GetTxn().GetCustRef()
	assert.True(t, ids.ValidRRN(rrn), "a refund has its own RRN, got %q", rrn)

	// The CREDIT goes to alice's bank, to the account the credit debited.
	credit := e.answerLeg(id, upiv1.Txn_CREDIT, "")
	assert.Equal(t, "abank", credit.To)
	cm := credit.Msg.(*upiv1.ReqPay)
	assert.Equal(t, aliceAc, cm.GetPayee().GetAc().GetAcNum())
	assert.Equal(t, aliceIFSC, cm.GetPayee().GetAc().GetIfsc())
	assert.Equal(t, int64(4000), cm.GetPayee().GetAmountPaise())

	// The outcome to the refunding PSP, the confirmation to alice's.
	final := e.await(pspRespPay, id, upiv1.Txn_REFUND, 1)
	assert.Equal(t, "betapsp", final.To)
	fm := final.Msg.(*upiv1.RespPay)
	assert.Equal(t, upiv1.Resp_SUCCESS, fm.GetResp().GetResult())
	assert.Equal(t, org, fm.GetTxn().GetOrgTxnId())
	assert.Equal(t, "rf-1", fm.GetTxn().GetRefId())
	assert.Equal(t, req.GetHead().GetMsgId(), fm.GetResp().GetReqMsgId())
	cf := e.await(pspReqConfirmation, id, upiv1.Txn_REFUND, 1)
	assert.Equal(t, "alphapsp", cf.To)
	assert.Equal(t, upiv1.Resp_SUCCESS, cf.Msg.(*upiv1.ReqTxnConfirmation).GetResp().GetResult())
	assert.Equal(t, org, cf.Msg.GetTxn().GetOrgTxnId())
	e.confirm(id)
	assert.Equal(t, string(StateClosed), e.inspect(id).GetState())
	e.book.check(t, id)
	assert.Equal(t, newBook().bal[chaiAc]+6000, e.book.bal[chaiAc], "chai keeps 60.00 of the 100.00")
	assert.Equal(t, newBook().bal[aliceAc]-6000, e.book.bal[aliceAc], "alice has 40.00 back")

	r := e.record(id)
	assert.Equal(t, upiv1.Txn_REFUND.String(), r.Type)
	assert.Equal(t, org, r.OrgTxnId)
	assert.Equal(t, "alphapsp", r.Counterparty)
	c := e.record(org)
	assert.Equal(t, upiv1.Resp_SUCCESS.String(), c.Status, "a refund does not change its credit's status")
	assert.Equal(t, int64(4000), c.RefundedPaise)
	assert.Equal(t, []string{id}, c.RefundTxnIds)

	// The rest, exactly, is still refundable; one paisa more is not.
	over := ids.NewTxnID("BET")
	ack := e.receive(methodReqPay, refund(e, over, org, 6001))
	assert.Contains(t, ack.GetErr(), "more than is left to refund")
	rest := ids.NewTxnID("BET")
	e.accept(methodReqPay, refund(e, rest, org, 6000))
	e.answerLeg(rest, upiv1.Txn_DEBIT, "")
	e.answerLeg(rest, upiv1.Txn_CREDIT, "")
	e.confirm(rest)
	assert.Equal(t, int64(10000), e.record(org).RefundedPaise)
	assert.Equal(t, newBook().bal[chaiAc], e.book.bal[chaiAc], "chai is back where it started")
	assert.Equal(t, newBook().bal[aliceAc], e.book.bal[aliceAc], "alice is back where she started")
}

func TestRefundRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		// msg is the refund, given the credit (a SUCCESS PAY of 100.00
		// from alice to chai) and a failed pay's id.
		msg  func(e *env, id, org, failed string) *upiv1.ReqPay
		want string
	}{
		{"no org_txn_id", func(e *env, id, _, _ string) *upiv1.ReqPay { return refund(e, id, "", 100) }, "needs txn.org_txn_id"},
		{"no such credit", func(e *env, id, _, _ string) *upiv1.ReqPay { return refund(e, id, ids.NewTxnID("ALP"), 100) }, "the switch has no transaction"},
		{"a credit that failed", func(e *env, id, _, failed string) *upiv1.ReqPay { return refund(e, id, failed, 100) }, "only a SUCCESS can be refunded"},
		{"a refund of a refund", func(e *env, id, org, _ string) *upiv1.ReqPay {
			first := ids.NewTxnID("BET")
			e.accept(methodReqPay, refund(e, first, org, 100))
			e.answerLeg(first, upiv1.Txn_DEBIT, "")
			e.answerLeg(first, upiv1.Txn_CREDIT, "")
			e.confirm(first)
			m := refund(e, id, first, 50)
			m.Head = e.head("alphapsp")
			m.Payer = &upiv1.Party{Addr: alice, Ac: &upiv1.Account{AcNum: aliceAc, Ifsc: aliceIFSC}, AmountPaise: 50}
			m.Payee = &upiv1.Party{Addr: chai}
			return m
		}, "it is a REFUND, not a PAY or COLLECT"},
		{"not from the credit's payee's PSP", func(e *env, id, org, _ string) *upiv1.ReqPay {
			m := refund(e, id, org, 100)
			m.Head = e.head("alphapsp")
			m.Payer = &upiv1.Party{Addr: alice, Ac: &upiv1.Account{AcNum: aliceAc, Ifsc: aliceIFSC}, AmountPaise: 100}
			m.Payee = &upiv1.Party{Addr: bob}
			return m
		}, "only its payee's PSP betapsp may refund it, not alphapsp"},
		{"parties not the credit's swapped", func(e *env, id, org, _ string) *upiv1.ReqPay {
			m := refund(e, id, org, 100)
			m.Payee = &upiv1.Party{Addr: "carol@alpha"}
			return m
		}, "must be from its payee chai@beta to its payer alice@alpha"},
		{"another payee account", func(e *env, id, org, _ string) *upiv1.ReqPay {
			m := refund(e, id, org, 100)
			m.Payer.Ac.AcNum = bobAc
			return m
		}, "is not the account"},
		{"a payer of another PSP", func(e *env, id, org, _ string) *upiv1.ReqPay {
			m := refund(e, id, org, 100)
			m.Payer.Addr = "carol@alpha"
			return m
		}, "is not a user of betapsp"},
		{"amount zero", func(e *env, id, org, _ string) *upiv1.ReqPay { return refund(e, id, org, 0) }, "amount_paise is required"},
		{"amount negative", func(e *env, id, org, _ string) *upiv1.ReqPay { return refund(e, id, org, -5) }, "greater than zero"},
		{"more than the credit", func(e *env, id, org, _ string) *upiv1.ReqPay { return refund(e, id, org, 10001) }, "more than is left to refund"},
		{"more than is left", func(e *env, id, org, _ string) *upiv1.ReqPay {
			e.accept(methodReqPay, refund(e, ids.NewTxnID("BET"), org, 7000)) // pending: still counts
			return refund(e, id, org, 3001)
		}, "more than is left to refund of it: 30.00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			org := paidChai(e, 10000)
			failed := ids.NewTxnID("ALP")
			e.accept(methodReqPay, pay(e, failed, chai, 500))
			e.accept(methodRespAuth, declineAuth(e, "betapsp", failed, upi.CodeAddrResolution))
			e.await(pspRespPay, failed, upiv1.Txn_PAY, 1)
			id := ids.NewTxnID("BET")
			m := tc.msg(e, id, org, failed)
			before := e.record(org).RefundedPaise
			if m.GetHead().GetOrgId() == "alphapsp" {
				id = ids.NewTxnID("ALP")
				m.Txn.Id = id
			}
			ack := e.receive(methodReqPay, m)
			assert.Contains(t, ack.GetErr(), tc.want)
			assert.Empty(t, e.sent(remitterReqPay, id, upiv1.Txn_TYPE_UNSPECIFIED), "a refused refund sends no DEBIT")
			assert.Equal(t, before, e.record(org).RefundedPaise, "a refused refund counts nothing")
			assert.Equal(t, upiv1.Resp_SUCCESS.String(), e.record(org).Status)
		})
	}
}

// refundEnds runs a refund of 4000 of a credit of 10000 through play (the
// banks' answers) and checks its outcome, and that a FAILURE gives its
// amount back: the whole credit is refundable again.
func refundEnds(t *testing.T, play func(e *env, id string), result upiv1.Resp_Result, code string) {
	t.Helper()
	e := newEnv(t, timeouts(time.Second, time.Second, time.Second, time.Second))
	org := paidChai(e, 10000)
	id := ids.NewTxnID("BET")
	e.accept(methodReqPay, refund(e, id, org, 4000))
	assert.Equal(t, int64(4000), e.record(org).RefundedPaise, "counted from the step that accepts it")
	play(e, id)
	var final *upiv1.RespPay
	answers := 0 // RespPay REFUND sent: DEEMED first, if so, then the final one
	for final == nil || final.GetResp().GetResult() == upiv1.Resp_DEEMED {
		answers++
		final = e.await(pspRespPay, id, upiv1.Txn_REFUND, answers).Msg.(*upiv1.RespPay)
	}
	assert.Equal(t, "betapsp", e.sent(pspRespPay, id, upiv1.Txn_REFUND)[0].To)
	assert.Equal(t, result, final.GetResp().GetResult())
	assert.Equal(t, code, final.GetResp().GetErrCode())
	for k := 1; k <= answers; k++ { // each answer is confirmed to alice's PSP
		assert.Equal(t, "alphapsp", e.await(pspReqConfirmation, id, upiv1.Txn_REFUND, k).To)
		e.confirmK(id, k)
	}
	assert.Equal(t, string(StateClosed), e.inspect(id).GetState(), "%v", e.record(id))
	e.book.check(t, id)
	want := int64(4000)
	if result == upiv1.Resp_FAILURE {
		want = 0
	}
	assert.Equal(t, want, e.record(org).RefundedPaise)
	assert.Equal(t, upiv1.Resp_SUCCESS.String(), e.record(org).Status)
	if result == upiv1.Resp_FAILURE {
		again := ids.NewTxnID("BET")
		e.accept(methodReqPay, refund(e, again, org, 10000))
		assert.Equal(t, int64(10000), e.record(org).RefundedPaise, "a failed refund leaves its amount refundable")
	}
}

func TestRefundDebitDeclined(t *testing.T) {
	for _, code := range []string{upi.CodeRefundNoCredit, upi.CodeInsufficientFunds} {
		t.Run(code, func(t *testing.T) {
			refundEnds(t, func(e *env, id string) { e.answerLeg(id, upiv1.Txn_DEBIT, code) }, upiv1.Resp_FAILURE, code)
		})
	}
}

func TestRefundCreditDeclinedReversed(t *testing.T) {
	refundEnds(t, func(e *env, id string) {
		e.answerLeg(id, upiv1.Txn_DEBIT, "")
		e.answerLeg(id, upiv1.Txn_CREDIT, upi.CodeCreditFailed)
		rev := e.answerReversal(id, 1, "00")
		assert.Equal(t, "bbank", rev.To, "the reversal goes to chai's bank, which debited")
		assert.Equal(t, id, rev.Msg.GetTxn().GetOrgTxnId())
	}, upiv1.Resp_FAILURE, upi.CodeCreditFailed)
}

func TestRefundDebitTimeoutReversed(t *testing.T) {
	refundEnds(t, func(e *env, id string) {
		e.await(remitterReqPay, id, upiv1.Txn_DEBIT, 1) // never answered
		e.answerReversal(id, 1, "NA")
	}, upiv1.Resp_FAILURE, upi.CodeDebitTimeout)
}

func TestRefundCreditTimeoutDeemed(t *testing.T) {
	t.Run("the check finds the credit", func(t *testing.T) {
		refundEnds(t, func(e *env, id string) {
			e.answerLeg(id, upiv1.Txn_DEBIT, "")
			cr := e.await(beneficiaryReqPay, id, upiv1.Txn_CREDIT, 1) // never answered
			deemed := e.await(pspRespPay, id, upiv1.Txn_REFUND, 1).Msg.(*upiv1.RespPay)
			assert.Equal(t, upiv1.Resp_DEEMED, deemed.GetResp().GetResult())
			assert.Equal(t, upi.CodeDeemed, deemed.GetResp().GetErrCode())
			e.book.post(cr) // the bank did credit
			e.answerCheck(id, 1, "")
		}, upiv1.Resp_SUCCESS, "")
	})
	t.Run("the check finds none", func(t *testing.T) {
		refundEnds(t, func(e *env, id string) {
			e.answerLeg(id, upiv1.Txn_DEBIT, "")
			e.await(beneficiaryReqPay, id, upiv1.Txn_CREDIT, 1)
			e.answerCheck(id, 1, upi.CodeTxnNotPresent)
			e.answerReversal(id, 1, "00")
		}, upiv1.Resp_FAILURE, upi.CodeCreditTimeout)
	})
}
