package merchant

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/store"
)

// The status model alone, row by row of seed 002 (the real network drives
// the same rows in tests/integration/merchant_test.go).

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func newModel(autoRefund, autoRetry bool) *model {
	n := 0
	return &model{
		o: &order{OrderId: "ORD1", MerchantVpa: "chai@beta", AmountPaise: 15000, Status: TxnPending,
			Created: store.Nanos(t0), Expires: store.Nanos(t0.Add(15 * time.Minute)), AutoRefund: autoRefund, AutoRetry: autoRetry},
		now: t0.Add(time.Minute), holdFor: 120 * time.Hour,
		newID: func(p string) string { n++; return fmt.Sprintf("%s%d", p, n) },
	}
}

func (m *model) attempt(t *testing.T, id string) *attempt {
	t.Helper()
	a := &attempt{AttemptId: id, Method: MethodIntent, TxnId: "T" + id}
	require.NoError(t, m.start(a))
	return a
}

// lastEvent is the last webhook event's (transaction status, attempt
// status, action, terminal).
func (m *model) lastEvent() [4]string {
	d := m.events[len(m.events)-1].GetData()
	return [4]string{d.GetTransactionStatus(), d.GetTransactionAttemptStatus(), d.GetAction(), fmt.Sprint(d.GetTerminal())}
}

func TestModelSuccess(t *testing.T) {
	m := newModel(false, true)
	a := m.attempt(t, "A")
	m.paid(a, 15000, "512345678901")
	assert.Equal(t, TxnSuccess, m.o.Status)
	assert.Equal(t, [4]string{TxnSuccess, AttemptSuccess, "", "true"}, m.lastEvent())
}

func TestModelFailedAutoRetry(t *testing.T) {
	for _, retry := range []bool{false, true} {
		m := newModel(false, retry)
		a := m.attempt(t, "A")
		m.failed(a, "ZM", false)
		if !retry {
			assert.Equal(t, TxnFailed, m.o.Status)
			assert.Equal(t, [4]string{TxnFailed, AttemptFailed, "", "true"}, m.lastEvent())
			continue
		}
		assert.Equal(t, TxnPending, m.o.Status)
		m.expire()
		assert.Equal(t, TxnExpired, m.o.Status)
		assert.Equal(t, [4]string{TxnExpired, "", "", "true"}, m.lastEvent())
	}
}

func TestModelDeemed(t *testing.T) {
	for _, tc := range []struct {
		retry, ok bool
		want      string
	}{{true, true, TxnSuccess}, {true, false, TxnExpired}, {false, false, TxnFailed}} {
		m := newModel(false, tc.retry)
		a := m.attempt(t, "A")
		m.deemed(a)
		assert.Equal(t, TxnDeemed, m.o.Status)
		assert.Error(t, m.start(&attempt{AttemptId: "B"}), "a DEEMED attempt blocks the order")
		if tc.ok {
			m.paid(a, 15000, "512345678901")
		} else {
			m.failed(a, "U68", false)
		}
		assert.Equal(t, tc.want, m.o.Status, "%+v", tc)
	}
}

func TestModelEdgeCases(t *testing.T) {
	type row struct {
		name      string
		setup     func(m *model) *attempt // returns the edge-case attempt, not yet paid
		amount    int64
		edge      string
		initial   string // the order while the HOLD is open
		final     string // after the action, or with auto-refund
		wantFirst bool   // the first attempt stays SUCCESS
	}
	rows := []row{
		{name: "disputed amount", setup: func(m *model) *attempt { return m.attempt(t, "A") }, amount: 14000,
			edge: EdgeAmountMismatch, initial: TxnDisputedAmount, final: TxnSuccess},
		{name: "after expiry", setup: func(m *model) *attempt {
			a := m.attempt(t, "A")
			m.now = t0.Add(20 * time.Minute)
			m.expire()
			return a
		}, amount: 15000, edge: EdgePaidAfterExpiry, initial: TxnExpired, final: TxnSuccess},
		{name: "second payment", setup: func(m *model) *attempt {
			m.paid(m.attempt(t, "A"), 15000, "1")
			return m.attempt(t, "B")
		}, amount: 15000, edge: EdgeDuplicatePayment, initial: TxnSuccess, final: TxnSuccess},
	}
	for _, r := range rows {
		for _, autoRefund := range []bool{false, true} {
			m := newModel(autoRefund, true)
			a := r.setup(m)
			m.paid(a, r.amount, "2")
			assert.Equal(t, r.edge, a.EdgeCase, r.name)
			if autoRefund {
				assert.Equal(t, AttemptSuccess, a.Status, r.name)
				assert.Equal(t, ActionAutoRefunded, a.Action, r.name)
				assert.Equal(t, r.final, m.o.Status, r.name)
				require.Len(t, m.refunds, 1, r.name)
				assert.Equal(t, SourceAutoRefund, m.refunds[0].Source)
				assert.Equal(t, r.amount, m.refunds[0].AmountPaise)
				continue
			}
			assert.Equal(t, AttemptHold, a.Status, r.name)
			assert.Equal(t, r.initial, m.o.Status, r.name)
			assert.Equal(t, store.Nanos(m.now.Add(120*time.Hour)), a.HoldUntil)
			_, err := m.refundFor(a, 100, "")
			assert.Error(t, err, "a HOLD is not refundable")
			require.NoError(t, m.act(a, "RELEASE"))
			assert.Equal(t, [4]string{r.final, AttemptSuccess, ActionReleased, "true"}, m.lastEvent(), r.name)
			require.Len(t, m.refunds, 1)
			assert.Equal(t, SourceRelease, m.refunds[0].Source)
			assert.Error(t, m.act(a, "CAPTURE"), "acted on once")
			_, err = m.refundFor(a, 100, "")
			assert.ErrorContains(t, err, "RELEASED")
		}
	}
}

func TestModelPaidAfterFailureWithoutRetry(t *testing.T) {
	m := newModel(false, false)
	m.failed(m.attempt(t, "A"), "ZM", false)
	require.Equal(t, TxnFailed, m.o.Status)
	b := m.attempt(t, "B")
	m.paid(b, 15000, "1")
	assert.Equal(t, EdgePaidAfterFailure, b.EdgeCase)
	assert.Equal(t, AttemptHold, b.Status)
	assert.Equal(t, TxnFailed, m.o.Status)
	require.NoError(t, m.act(b, "CAPTURE"))
	assert.Equal(t, [4]string{TxnSuccess, AttemptSuccess, ActionCaptured, "true"}, m.lastEvent())
}

func TestModelRefunds(t *testing.T) {
	m := newModel(false, true)
	a := m.attempt(t, "A")
	m.paid(a, 15000, "1")
	r1, err := m.refundFor(nil, 5000, "")
	require.NoError(t, err)
	_, err = m.refundFor(a, 10001, "")
	assert.ErrorContains(t, err, "more than is left")
	m.refunded(r1, false, "U30", "")
	assert.Equal(t, RefundFailed, r1.Status)
	left, err := m.refundable(a)
	require.NoError(t, err)
	assert.Equal(t, int64(15000), left, "a failed refund gives its amount back")
	r2, err := m.refundFor(a, 15000, "all")
	require.NoError(t, err)
	m.refunded(r2, true, "", "2")
	assert.Equal(t, RefundDone, r2.Status)
	assert.Equal(t, TxnSuccess, m.o.Status, "a refund does not change the credit's status")
	_, err = m.refundFor(a, 1, "")
	assert.Error(t, err)
}

func TestModelCollectNotRegistered(t *testing.T) {
	m := newModel(false, true)
	a := &attempt{AttemptId: "A", Method: MethodCollect}
	require.NoError(t, m.start(a))
	m.failed(a, "U07", true)
	assert.Equal(t, TxnRequestUninitialized, m.o.Status)
	m.attempt(t, "B")
	assert.Equal(t, TxnPending, m.o.Status)
}

// A release's refund that fails is tried again (the layer's timer calls
// retry); a merchant's own refund is not.
func TestModelSystemRefundRetried(t *testing.T) {
	m := newModel(false, true)
	m.paid(m.attempt(t, "A"), 15000, "1")
	b := m.attempt(t, "B")
	m.paid(b, 15000, "2")
	require.NoError(t, m.act(b, "RELEASE"))
	first := m.refunds[0]
	m.refunded(first, false, "U67", "")
	require.Equal(t, []*refund{first}, m.retries)
	assert.Equal(t, 1, m.failedTries(first))
	m.retry(first)
	require.Len(t, m.o.Refunds, 2)
	second := m.o.Refunds[1]
	assert.Equal(t, RefundInitiated, second.Status)
	assert.Equal(t, SourceRelease, second.Source)
	assert.Equal(t, int64(15000), second.AmountPaise)
	m.retry(first)
	assert.Len(t, m.o.Refunds, 2, "one try at a time")
	m.refunded(second, true, "", "3")
	m.retries = nil
	mine, err := m.refundFor(m.find("A"), 100, "")
	require.NoError(t, err)
	m.refunded(mine, false, "U67", "")
	assert.Empty(t, m.retries, "a merchant's refund is the merchant's to try again")
}
