package upiswitch

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/store"
)

// A record is written at its claim and when it is final; between, its
// state and payee's account are its batch's, and every reader sees them:
// the batch's own steps, another batch bringing the counter with other
// content (PENDING while the remitter has not checked it, LC once it has
// posted it), and the reconciliation's view (held until posted).
func TestLiteSyncRecordStatesBetweenAreTheBatchs(t *testing.T) {
	l := newLiteSync(t, 10_000, nil)
	heldAtSwitch := func() int64 {
		t.Helper()
		r, err := l.sw.RunLiteRecon(t.Context(), "abank", 0)
		require.NoError(t, err)
		nodetest.Quiesce(t, l.n)
		pages := l.reconPages("abank")
		p := pages[len(pages)-1]
		require.Equal(t, r.GetTxnId(), p.GetTxn().GetId())
		l.answerRecon("abank", p, 0, nil)
		return p.GetRecon()[0].GetHeldPaise()
	}
	staged := func() (written, state string, rec *liteRecord) {
		t.Helper()
		rec = l.counter(1)
		require.NoError(t, l.n.View(func(tx *store.Tx) (err error) { state, err = stagedState(tx, rec); return err }))
		return rec.State, state, rec
	}
	other := func() *upiv1.LiteRecordResult {
		t.Helper()
		r := l.record(1, carol, 900) // the same counter, other content
		res := l.answerOf(l.sync(r), 1).GetResults()
		require.Len(t, res, 1)
		return res[0]
	}

	batch := l.sync(l.record(1, bob, 1_000))
	l.resolve(batch, bob, bobAc)
	debit := l.awaitWhere(mRemSync, batch, 1, sub(upiv1.Txn_DEBIT))
	assert.Equal(t, bobAc, debit.Msg.(*upiv1.ReqLiteSync).GetRecords()[0].GetPayeeAc().GetAcNum(), "the remitter is sent the payee's account, from the batch")
	written, state, rec := staged()
	assert.Equal(t, recClaimed, written, "not written when its debit was sent")
	assert.Nil(t, rec.PayeeAc)
	assert.Equal(t, recDebitSent, state)
	assert.Equal(t, int64(1_000), heldAtSwitch(), "with the remitter, not posted: held")
	res := other()
	assert.Equal(t, upiv1.Resp_PENDING, res.GetResult(), "not yet checked by the remitter: %v", res)

	l.bankAnswer(debit, nil)
	credit := l.awaitWhere(mBenSync, batch, 1, sub(upiv1.Txn_CREDIT))
	assert.Equal(t, bobAc, credit.Msg.(*upiv1.ReqLiteSync).GetRecords()[0].GetPayeeAc().GetAcNum())
	written, state, _ = staged()
	assert.Equal(t, recClaimed, written, "not written when its credit was sent")
	assert.Equal(t, recCreditSent, state)
	assert.Zero(t, heldAtSwitch(), "posted by the remitter: not held")
	res = other()
	assert.Equal(t, upiv1.Resp_FAILURE, res.GetResult(), "posted: the other content is a double spend: %v", res)
	assert.Equal(t, lite.KindOffline, l.counter(1).Kind)

	l.bankAnswer(credit, nil)
	written, state, rec = staged()
	assert.Equal(t, recFinal, written)
	assert.Equal(t, recFinal, state)
	assert.Equal(t, upiv1.Resp_SUCCESS.String(), rec.Status)
	assert.Equal(t, bobAc, payeeAc(rec).GetAcNum(), "a final record keeps the account it credited (refunds debit it)")
	assert.Len(t, rec.DoubleSpends, 1, "the double spend is noted on it")
}

// A stage's kind orders the states; a record written by a build before
// (its in-between states on it) keeps the later of its own and its
// stages'.
func TestLiteLaterState(t *testing.T) {
	for _, c := range []struct{ written, staged, want string }{
		{recClaimed, "", recClaimed},
		{recClaimed, recDebitSent, recDebitSent},
		{recClaimed, recCreditSent, recCreditSent},
		{recDebitSent, recCreditSent, recCreditSent},
		{recCreditSent, recDebitSent, recCreditSent},
		{recCreditSent, recReversalSent, recReversalSent},
		{recReversalSent, recCreditSent, recReversalSent},
		{recFinal, recCreditSent, recFinal},
	} {
		assert.Equal(t, c.want, laterState(c.written, c.staged), "%s and %s", c.written, c.staged)
	}
	b := &liteBatch{Items: []*liteItem{{Lrn: "L", Counter: 1, Owned: true}, {Lrn: "L", Counter: 2, Owned: true}}, Stages: []*liteStage{
		{Kind: upiv1.Txn_DEBIT.String(), Items: []uint32{0, 1}},
		{Kind: upiv1.Txn_CREDIT.String(), Items: []uint32{0}},
		{Kind: upiv1.Txn_REVERSAL.String(), Items: []uint32{1}},
	}}
	assert.Equal(t, map[recID]string{{"L", 1}: recCreditSent, {"L", 2}: recReversalSent}, statesOf(b))
}
