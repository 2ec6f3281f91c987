package remitter_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/remitter"
)

const autoLRN, autoUMN = "ABNKL000000000001", "LITEAUTOUMN1"

// liteSetup is the DEBIT of a Lite mandate's set-up (71) from alice's
// account with pinValue: below threshold, top up amount.
func liteSetup(txnID, pinValue string, amount, threshold int64) *upiv1.ReqPay {
	m := debit(txnID, aliceAc, ifsc, pinValue, amount)
	m.Txn.Purpose = lite.PurposeAutoTopUpSetup
	m.Payee = &upiv1.Party{Addr: autoLRN + "@lite", Ac: &upiv1.Account{AcNum: autoLRN, Ifsc: ifsc}}
	m.Lite = &upiv1.LiteInfo{Lrn: autoLRN, Umn: autoUMN, AutoThresholdPaise: threshold, AutoAmountPaise: amount}
	return m
}

// autoDebit is the DEBIT of a top-up (42) under the mandate umn: no PIN.
func autoDebit(txnID, umn string, amount int64) *upiv1.ReqPay {
	m := debit(txnID, aliceAc, ifsc, "", amount)
	m.Payer.Creds = nil
	m.Txn.Purpose = lite.PurposeTopUp
	m.Payee = &upiv1.Party{Addr: autoLRN + "@lite", Ac: &upiv1.Account{AcNum: autoLRN, Ifsc: ifsc}}
	m.Lite = &upiv1.LiteInfo{Lrn: autoLRN, Umn: umn}
	return m
}

func (f *fixture) liteMandate() *remitter.LiteMandate {
	f.t.Helper()
	var out *remitter.LiteMandate
	require.NoError(f.t, f.n.View(func(tx *store.Tx) error {
		rec, ok, err := remitter.LiteMandates.Get(tx, autoLRN)
		if ok {
			out = rec
		}
		return err
	}))
	return out
}

func TestLiteAutoTopUpUnderMandate(t *testing.T) {
	// 23:00 IST: the next IST day begins an hour on.
	start := time.Now().In(time.FixedZone("IST", 5*3600+1800))
	start = time.Date(start.Year(), start.Month(), start.Day(), 23, 0, 0, 0, start.Location())
	clock := nodetest.NewClock(start)
	f := newFixtureWith(t, bankKeys.Pepper, func(c *node.Config) { c.Clock = clock })
	auto := func(umn string, amount int64) (string, string) {
		t.Helper()
		id := ids.NewTxnID("ALP")
		require.Empty(t, f.send(reqPay, autoDebit(id, umn, amount)))
		return id, f.respPay(id, 1).GetResp().GetErrCode()
	}

	// No mandate yet: VF, nothing moves.
	_, code := auto(autoUMN, 50_000)
	assert.Equal(t, "VF", code)
	assert.Equal(t, opening, f.balance(aliceAc))

	// A wrong PIN sets up nothing.
	setup := ids.NewTxnID("ALP")
	m := liteSetup(setup, "0000", 50_000, 10_000)
	m.Txn.CustRef = "512345000002"
	require.Empty(t, f.send(reqPay, m))
	require.Equal(t, "ZM", f.respPay(setup, 1).GetResp().GetErrCode())
	assert.Nil(t, f.liteMandate())
	// The set-up with the PIN: debited, the mandate kept.
	setup = ids.NewTxnID("ALP")
	require.Empty(t, f.send(reqPay, liteSetup(setup, alicePIN, 50_000, 10_000)))
	require.Equal(t, upiv1.Resp_SUCCESS, f.respPay(setup, 1).GetResp().GetResult())
	md := f.liteMandate()
	require.NotNil(t, md)
	assert.Equal(t, autoUMN, md.Umn)
	assert.Equal(t, aliceAc, md.AcNum)
	assert.EqualValues(t, 10_000, md.ThresholdPaise)
	assert.EqualValues(t, 50_000, md.AmountPaise)
	assert.Equal(t, remitter.LiteMandateActive, md.State)
	assert.Equal(t, opening-50_000, f.balance(aliceAc))

	// Five a day, no PIN; the sixth LA; declines move nothing.
	var first string
	for i := range 5 {
		id, code := auto(autoUMN, 50_000)
		require.Equal(t, "", code, "auto top-up %d", i+1)
		if i == 0 {
			first = id
		}
	}
	assert.Equal(t, opening-300_000, f.balance(aliceAc))
	_, code = auto(autoUMN, 50_000)
	assert.Equal(t, "LA", code, "the sixth in an IST day")
	_, code = auto("OTHERUMN", 1000)
	assert.Equal(t, "VF", code, "another UMN")
	assert.Equal(t, opening-300_000, f.balance(aliceAc))

	// A reversed one gives its place back.
	rev := reversal(first)
	rev.Txn.Purpose, rev.Payer.AmountPaise, rev.Lite = lite.PurposeTopUp, 50_000, &upiv1.LiteInfo{Lrn: autoLRN}
	require.Empty(t, f.send(reqPay, rev))
	assert.Equal(t, opening-250_000, f.balance(aliceAc))
	assert.Len(t, f.liteMandate().Executions, 4)
	_, code = auto(autoUMN, 50_000)
	require.Equal(t, "", code)
	_, code = auto(autoUMN, 50_000)
	assert.Equal(t, "LA", code)

	// Over the mandate's amount: QK.
	clock.Advance(90 * time.Minute) // the next IST day
	_, code = auto(autoUMN, 50_001)
	assert.Equal(t, "QK", code)
	_, code = auto(autoUMN, 50_000)
	assert.Equal(t, "", code, "a new IST day counts afresh")

	// Revoked: QC; a repeat of the revocation is SUCCESS again.
	rv := ids.NewTxnID("NPC")
	conf := &upiv1.ReqTxnConfirmation{Head: nodetest.Head("npci", "NPC"),
		Txn:  &upiv1.Txn{Id: rv, Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_LITE_SYNC, Purpose: lite.PurposeAutoTopUpSetup},
		Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
		Lite: &upiv1.LiteInfo{Lrn: autoLRN, Umn: autoUMN, State: "REVOKED"}}
	for range 2 {
		conf.Head = nodetest.Head("npci", "NPC")
		require.Empty(t, f.send(upiv1.RemitterService_ReqTxnConfirmation_FullMethodName, conf))
	}
	confirms := f.answers(upiv1.SwitchService_RespTxnConfirmation_FullMethodName, rv, 2)
	for _, s := range confirms {
		assert.Equal(t, upiv1.Resp_SUCCESS, s.Msg.(*upiv1.RespTxnConfirmation).GetResp().GetResult())
	}
	assert.Equal(t, remitter.LiteMandateRevoked, f.liteMandate().State)
	_, code = auto(autoUMN, 1000)
	assert.Equal(t, "QC", code)

	// Revoking a mandate the LRN does not have: VF.
	conf.Txn.Id, conf.Head, conf.Lite.Umn = ids.NewTxnID("NPC"), nodetest.Head("npci", "NPC"), "NOSUCH"
	require.Empty(t, f.send(upiv1.RemitterService_ReqTxnConfirmation_FullMethodName, conf))
	got := f.answers(upiv1.SwitchService_RespTxnConfirmation_FullMethodName, conf.Txn.Id, 1)[0].Msg.(*upiv1.RespTxnConfirmation)
	assert.Equal(t, "VF", got.GetResp().GetErrCode())
	// A revocation without its state is refused.
	conf.Txn.Id, conf.Head, conf.Lite.State = ids.NewTxnID("NPC"), nodetest.Head("npci", "NPC"), ""
	assert.Contains(t, f.send(upiv1.RemitterService_ReqTxnConfirmation_FullMethodName, conf), "REVOKED")
}
