package upiswitch

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// postedToChai posts alice's offline record of amount to chai (counter 1)
// and returns its official UTR.
func postedToChai(l *liteSync, amount int64) string {
	l.t.Helper()
	batch := l.sync(l.record(1, chai, amount))
	l.post(batch, map[string]string{chai: chaiAc}, 1, 1)
	ans := l.answerOf(batch, 1)
	require.Len(l.t, ans.GetResults(), 1)
	require.Equal(l.t, upiv1.Resp_SUCCESS, ans.GetResults()[0].GetResult())
	l.confirm(batch)
	return ans.GetResults()[0].GetUtr()
}

// liteRefund is chai's PSP's ReqPay REFUND of amount of the Lite record
// whose UTR is rrn.
func liteRefund(e *env, id, rrn string, amount int64) *upiv1.ReqPay {
	m := refund(e, id, "", amount)
	m.Txn.OrgRrn = rrn
	return m
}

func TestLiteRefundFlow(t *testing.T) {
	l := newLiteSync(t, 100000, nil)
	utr := postedToChai(l, 10000)
	id := ids.NewTxnID("BET")
	req := liteRefund(l.env, id, utr, 4000)
	l.accept(methodReqPay, req)

	// The DEBIT goes to chai's bank, from the account the record credited,
	// with no PIN: its lite block names the LITECREDIT posting.
	debit := l.answerLeg(id, upiv1.Txn_DEBIT, "")
	assert.Equal(t, "bbank", debit.To)
	dm := debit.Msg.(*upiv1.ReqPay)
	assert.Equal(t, upiv1.Txn_REFUND, dm.GetTxn().GetSubType())
	assert.Empty(t, dm.GetTxn().GetOrgTxnId())
	assert.Equal(t, utr, dm.GetTxn().GetOrgRrn())
	assert.Equal(t, testLRN, dm.GetLite().GetLrn())
	assert.Equal(t, uint64(1), dm.GetLite().GetCounter())
	assert.Equal(t, chaiAc, dm.GetPayer().GetAc().GetAcNum())
	assert.Equal(t, bobIFSC, dm.GetPayer().GetAc().GetIfsc())
	assert.Empty(t, dm.GetPayer().GetCreds(), "a refund carries no PIN")
	assert.NotEqual(t, utr, dm.GetTxn().GetCustRef(), "a refund has its own RRN")

	// The CREDIT goes to the account behind the LRN, at alice's bank.
	credit := l.answerLeg(id, upiv1.Txn_CREDIT, "")
	assert.Equal(t, "abank", credit.To)
	cm := credit.Msg.(*upiv1.ReqPay)
	assert.Equal(t, alice, cm.GetPayee().GetAddr())
	assert.Equal(t, aliceAc, cm.GetPayee().GetAc().GetAcNum())
	assert.Equal(t, aliceIFSC, cm.GetPayee().GetAc().GetIfsc())
	assert.Nil(t, cm.GetLite(), "a normal credit, not the Lite pool's")

	final := l.await(pspRespPay, id, upiv1.Txn_REFUND, 1)
	assert.Equal(t, "betapsp", final.To)
	fm := final.Msg.(*upiv1.RespPay)
	assert.Equal(t, upiv1.Resp_SUCCESS, fm.GetResp().GetResult())
	assert.Equal(t, utr, fm.GetTxn().GetOrgRrn())
	assert.Equal(t, "rf-1", fm.GetTxn().GetRefId())
	cf := l.await(pspReqConfirmation, id, upiv1.Txn_REFUND, 1)
	assert.Equal(t, "alphapsp", cf.To)
	assert.Equal(t, utr, cf.Msg.GetTxn().GetOrgRrn())
	l.confirm(id)
	l.book.check(t, id)
	assert.Equal(t, newBook().bal[aliceAc]+4000, l.book.bal[aliceAc], "alice's account has 40.00 back")

	r := l.env.record(id)
	assert.Equal(t, upiv1.Txn_REFUND.String(), r.Type)
	assert.Equal(t, utr, r.OrgRrn)
	rec := l.counter(1)
	assert.Equal(t, int64(4000), rec.RefundedPaise)
	assert.Equal(t, []string{id}, rec.RefundTxnIds)
	assert.Equal(t, upiv1.Resp_SUCCESS.String(), rec.Status, "a refund does not change the record's status")
	assert.Equal(t, utr, summary(r).GetOrgRrn(), "the listing names the record refunded")

	// One paisa over what is left is refused; a refund the bank declines
	// gives its amount back; then the rest exactly goes.
	ack := l.receive(methodReqPay, liteRefund(l.env, ids.NewTxnID("BET"), utr, 6001))
	assert.Contains(t, ack.GetErr(), "more than is left to refund")
	declined := ids.NewTxnID("BET")
	l.accept(methodReqPay, liteRefund(l.env, declined, utr, 6000))
	assert.Equal(t, int64(10000), l.counter(1).RefundedPaise, "counted while it runs")
	l.answerLeg(declined, upiv1.Txn_DEBIT, upi.CodeRefundNoCredit)
	l.await(pspRespPay, declined, upiv1.Txn_REFUND, 1)
	assert.Equal(t, upi.CodeRefundNoCredit, l.env.record(declined).ErrCode)
	assert.Equal(t, int64(4000), l.counter(1).RefundedPaise, "a FAILURE is refundable again")
	rest := ids.NewTxnID("BET")
	l.accept(methodReqPay, liteRefund(l.env, rest, utr, 6000))
	l.answerLeg(rest, upiv1.Txn_DEBIT, "")
	l.answerLeg(rest, upiv1.Txn_CREDIT, "")
	l.confirm(rest)
	assert.Equal(t, upiv1.Resp_SUCCESS.String(), l.env.record(rest).Status)
	assert.Equal(t, int64(10000), l.counter(1).RefundedPaise)
	assert.Equal(t, []string{id, declined, rest}, l.counter(1).RefundTxnIds)
	assert.Equal(t, newBook().bal[aliceAc]+10000, l.book.bal[aliceAc])
	ack = l.receive(methodReqPay, liteRefund(l.env, ids.NewTxnID("BET"), utr, 1))
	assert.Contains(t, ack.GetErr(), "more than is left to refund")
}

func TestLiteRefundRefused(t *testing.T) {
	l := newLiteSync(t, 100000, nil)
	utr := postedToChai(l, 10000)
	paid := paidChai(l.env, 5000)
	payRRN := l.env.record(paid).Rrn
	for _, tc := range []struct {
		name string
		msg  func(id string) *upiv1.ReqPay
		want string
	}{
		{"an RRN no record has", func(id string) *upiv1.ReqPay { return liteRefund(l.env, id, "999999999999", 100) }, "no offline Lite record"},
		{"a pay's RRN", func(id string) *upiv1.ReqPay { return liteRefund(l.env, id, payRRN, 100) }, "no offline Lite record"},
		{"not an RRN", func(id string) *upiv1.ReqPay { return liteRefund(l.env, id, "12ab", 100) }, "not an RRN"},
		{"both names", func(id string) *upiv1.ReqPay {
			m := liteRefund(l.env, id, utr, 100)
			m.Txn.OrgTxnId = paid
			return m
		}, "not both"},
		{"not the record's payee", func(id string) *upiv1.ReqPay {
			m := liteRefund(l.env, id, utr, 100)
			m.Payer.Addr, m.Payer.Ac = bob, &upiv1.Account{AcNum: bobAc, Ifsc: bobIFSC}
			return m
		}, "must be from its payee"},
		{"to someone else", func(id string) *upiv1.ReqPay {
			m := liteRefund(l.env, id, utr, 100)
			m.Payee.Addr = bob
			return m
		}, "must be from its payee"},
		{"another account", func(id string) *upiv1.ReqPay {
			m := liteRefund(l.env, id, utr, 100)
			m.Payer.Ac.AcNum = bobAc
			return m
		}, "not the account the record credited"},
		{"from the payer's PSP", func(id string) *upiv1.ReqPay {
			m := liteRefund(l.env, id, utr, 100)
			m.Head = l.head("alphapsp")
			m.Txn.Id = ids.NewTxnID("ALP")
			return m
		}, "not a user of alphapsp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := ids.NewTxnID("BET")
			m := tc.msg(id)
			ack := l.receive(methodReqPay, m)
			assert.Contains(t, ack.GetErr(), tc.want)
			require.NoError(t, l.n.View(func(tx *store.Tx) error {
				r, err := loadRecord(tx, m.GetTxn().GetId())
				assert.Nil(t, r, "nothing recorded")
				return err
			}))
		})
	}
	assert.Zero(t, l.counter(1).RefundedPaise)
	assert.Empty(t, l.counter(1).RefundTxnIds)
}

// A Lite refund whose CREDIT fails is reversed at the merchant's bank and
// ends FAILURE U31, its amount refundable again; one whose CREDIT is not
// answered is DEEMED to both PSPs, as any refund.
func TestLiteRefundCreditFails(t *testing.T) {
	l := newLiteSync(t, 100000, nil)
	utr := postedToChai(l, 10000)
	id := ids.NewTxnID("BET")
	l.accept(methodReqPay, liteRefund(l.env, id, utr, 10000))
	l.answerLeg(id, upiv1.Txn_DEBIT, "")
	l.answerLeg(id, upiv1.Txn_CREDIT, upi.CodeCreditFailed)
	rev := l.answerLeg(id, upiv1.Txn_REVERSAL, "")
	assert.Equal(t, "bbank", rev.To, "the merchant's bank puts the debit back")
	assert.Equal(t, chaiAc, rev.Msg.(*upiv1.ReqPay).GetPayer().GetAc().GetAcNum())
	final := l.await(pspRespPay, id, upiv1.Txn_REFUND, 1).Msg.(*upiv1.RespPay)
	assert.Equal(t, upiv1.Resp_FAILURE, final.GetResp().GetResult())
	assert.Equal(t, upi.CodeCreditFailed, final.GetResp().GetErrCode())
	l.book.check(t, id)
	assert.Zero(t, l.counter(1).RefundedPaise, "a FAILURE is refundable again")

	deemed := ids.NewTxnID("BET")
	l.accept(methodReqPay, liteRefund(l.env, deemed, utr, 10000))
	l.answerLeg(deemed, upiv1.Txn_DEBIT, "")
	l.await(upiv1.BeneficiaryService_ReqPay_FullMethodName, deemed, upiv1.Txn_CREDIT, 1)
	l.advance(l.net.Timeouts.Credit + time.Millisecond)
	d := l.await(pspRespPay, deemed, upiv1.Txn_REFUND, 1).Msg.(*upiv1.RespPay)
	assert.Equal(t, upiv1.Resp_DEEMED, d.GetResp().GetResult())
	assert.Equal(t, int64(10000), l.counter(1).RefundedPaise, "a DEEMED refund still counts")
	ack := l.receive(methodReqPay, liteRefund(l.env, ids.NewTxnID("BET"), utr, 1))
	assert.Contains(t, ack.GetErr(), "more than is left to refund")
}
