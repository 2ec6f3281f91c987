package merchant

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	merchantv1 "github.com/upisim/upisim/gen/go/upisim/merchant/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/psp"
)

// The merchant layer of betapsp (the default network's chai@beta) on a
// node whose switch is a Recorder, on a fake clock.
type liteFixture struct {
	t     *testing.T
	l     *Layer
	n     *node.Node
	rec   *nodetest.Recorder
	clock *nodetest.Clock
}

const (
	chaiKey = "sk_test_chai_4f9b2c7e1d8a"
	chaiPOS = "chai-pos"
	// A provisional UTR (lite.ProvisionalUTR: P and 11 digits) and the
	// official one the switch issued for the same record.
	provUTR     = "P12345678901"
	officialUTR = "612345678901"
)

func newLiteFixture(t *testing.T) *liteFixture {
	t.Helper()
	net := config.Default()
	net.Heartbeat = 0
	self, ok := net.NodeByName("betapsp")
	require.True(t, ok)
	l, err := New(Config{Network: net, Self: self})
	require.NoError(t, err)
	cfg := psp.Config{Network: net, Self: self}
	l.Hooks(&cfg)
	require.NotNil(t, cfg.OnLiteCredit, "Hooks sets the Lite credit hook")
	p := psp.New(cfg)
	clock := nodetest.NewClock(t0)
	rec := nodetest.NewRecorder()
	n := nodetest.New(t, "betapsp", p, rec, nodetest.WithClock(clock))
	p.Attach(n)
	l.Bind(p, n)
	require.NoError(t, p.Seed())
	return &liteFixture{t: t, l: l, n: n, rec: rec, clock: clock}
}

// ctx is a call of chai@beta's backend (its API key), with an
// Idempotency-Key when key is set.
func (f *liteFixture) ctx(key string) context.Context {
	md := metadata.Pairs("authorization", "Bearer "+chaiKey)
	if key != "" {
		md.Append("idempotency-key", key)
	}
	return metadata.NewIncomingContext(f.t.Context(), md)
}

func (f *liteFixture) order(autoRefund bool) *merchantv1.Order {
	f.t.Helper()
	o, err := f.l.CreateOrder(f.ctx(""), &merchantv1.CreateOrderRequest{AmountCents: 15000, AutoRefund: proto.Bool(autoRefund)})
	require.NoError(f.t, err)
	return o
}

func (f *liteFixture) get(orderID string) *merchantv1.Order {
	f.t.Helper()
	o, err := f.l.GetOrder(f.ctx(""), &merchantv1.GetOrderRequest{OrderId: orderID})
	require.NoError(f.t, err)
	return o
}

// report is the merchant's device's POST /upi-attempts of an offline
// payment, Idempotency-Key the provisional UTR as the TPAP sends it.
func (f *liteFixture) report(orderID, utr string, amount int64) (*merchantv1.CreateUpiAttemptResponse, error) {
	return f.l.CreateUpiAttempt(f.ctx(utr), &merchantv1.CreateUpiAttemptRequest{
		OrderId: orderID, DeviceId: chaiPOS, Method: MethodLite, DeclaredAmountCents: amount,
		PayerVpa: "alice@alpha", Utr: utr,
	})
}

// record is a SUCCESS record of a sync batch to chai@beta for order.
func record(orderID, prov, utr string, amount int64) *upiv1.LiteRecordResult {
	return &upiv1.LiteRecordResult{
		Counter: 7, ProvisionalUtr: prov, Result: upiv1.Resp_SUCCESS, Utr: utr, Lrn: "LRN0000000001",
		PayerAddr: "alice@alpha", PayeeAddr: "chai@beta", AmountPaise: amount, OrderId: orderID,
		BatchTxnId: "BET0123456789abcdef0123456789abcdef", PayeeDeviceId: chaiPOS,
	}
}

// credit runs the hook in one step, as the PSP does when it takes the
// switch's LITE_SYNC ReqTxnConfirmation.
func (f *liteFixture) credit(recs ...*upiv1.LiteRecordResult) {
	f.t.Helper()
	require.NoError(f.t, f.n.Update(func(c *node.Ctx) error { return f.l.OnLiteCredit(c, recs) }))
}

// events are the webhook events of an order, in sequence.
func (f *liteFixture) events(orderID string) []*merchantv1.WebhookData {
	f.t.Helper()
	var out []*merchantv1.WebhookData
	require.NoError(f.t, f.n.View(func(tx *store.Tx) error {
		return deliveries.Scan(tx, "", func(_ string, d *delivery) (bool, error) {
			if d.GetOrderId() == orderID {
				ev := &merchantv1.WebhookEvent{}
				if err := protojson.Unmarshal(d.GetBody(), ev); err != nil {
					return false, err
				}
				out = append(out, ev.GetData())
			}
			return true, nil
		})
	}))
	slices.SortFunc(out, func(a, b *merchantv1.WebhookData) int { return int(a.GetSequence() - b.GetSequence()) })
	return out
}

// stored is the order's record (with what the API does not show).
func (f *liteFixture) stored(orderID string) *order {
	f.t.Helper()
	var o *order
	require.NoError(f.t, f.n.View(func(tx *store.Tx) (err error) { o, err = load(tx, orderID); return err }))
	return o
}

// The device reports the offline payment (PENDING, UNVERIFIED), then its
// record is posted: the attempt is VERIFIED with the official UTR and the
// order is paid, with the event a verified attempt makes.
func TestLiteCreditPaysReportedAttempt(t *testing.T) {
	f := newLiteFixture(t)
	o := f.order(false)
	rep, err := f.report(o.GetOrderId(), provUTR, 15000)
	require.NoError(t, err)
	assert.Equal(t, AttemptPending, rep.GetTransactionAttemptStatus())
	assert.Equal(t, "UNVERIFIED", rep.GetAttempt().GetVerification())
	assert.Equal(t, TxnPending, f.get(o.GetOrderId()).GetTransactionStatus(), "pending until the record is posted")
	assert.Empty(t, f.events(o.GetOrderId()))

	f.clock.Advance(time.Minute)
	f.credit(record(o.GetOrderId(), provUTR, officialUTR, 15000))

	got := f.get(o.GetOrderId())
	assert.Equal(t, TxnSuccess, got.GetTransactionStatus())
	require.Len(t, got.GetAttempts(), 1)
	a := got.GetAttempts()[0]
	assert.Equal(t, rep.GetUpiAttemptId(), a.GetAttemptId())
	assert.Equal(t, AttemptSuccess, a.GetTransactionAttemptStatus())
	assert.Equal(t, "VERIFIED", a.GetVerification())
	assert.Equal(t, officialUTR, a.GetRrn(), "the official UTR")
	assert.Equal(t, provUTR, a.GetUtr(), "the provisional UTR the device reported")
	assert.Equal(t, int64(15000), a.GetAmountCents())
	assert.Empty(t, a.GetEdgeCase())
	assert.Empty(t, a.GetTxnId(), "a Lite record is no pay transaction at the switch")

	evs := f.events(o.GetOrderId())
	require.Len(t, evs, 1)
	assert.Equal(t, TxnSuccess, evs[0].GetTransactionStatus())
	assert.Equal(t, AttemptSuccess, evs[0].GetTransactionAttemptStatus())
	assert.Equal(t, officialUTR, evs[0].GetRrn())
	assert.Equal(t, "alice@alpha", evs[0].GetPayerVpa())
	assert.True(t, evs[0].GetTerminal())

	// The device's report again, with its key or without: the same attempt.
	again, err := f.report(o.GetOrderId(), provUTR, 15000)
	require.NoError(t, err)
	assert.Equal(t, rep.GetUpiAttemptId(), again.GetUpiAttemptId())
	noKey, err := f.l.CreateUpiAttempt(f.ctx(""), &merchantv1.CreateUpiAttemptRequest{
		OrderId: o.GetOrderId(), DeviceId: chaiPOS, Method: MethodLiteX, DeclaredAmountCents: 15000, PayerVpa: "alice@alpha", Utr: provUTR,
	})
	require.NoError(t, err)
	assert.Equal(t, rep.GetUpiAttemptId(), noKey.GetUpiAttemptId())
	assert.Equal(t, AttemptSuccess, noKey.GetTransactionAttemptStatus())
	assert.Len(t, f.get(o.GetOrderId()).GetAttempts(), 1)
}

// The record is posted before the device reports it (the payer's device
// synced first): the attempt is made then, and the device's later
// /upi-attempts answers that attempt.
func TestLiteCreditMakesUnreportedAttempt(t *testing.T) {
	f := newLiteFixture(t)
	o := f.order(false)
	f.credit(record(o.GetOrderId(), provUTR, officialUTR, 15000))

	got := f.get(o.GetOrderId())
	assert.Equal(t, TxnSuccess, got.GetTransactionStatus())
	require.Len(t, got.GetAttempts(), 1)
	a := got.GetAttempts()[0]
	assert.Equal(t, MethodLite, a.GetMethod())
	assert.Equal(t, chaiPOS, a.GetDeviceId())
	assert.Equal(t, "alice@alpha", a.GetPayerVpa())
	assert.Equal(t, int64(15000), a.GetDeclaredAmountCents())
	assert.Equal(t, provUTR, a.GetUtr())
	assert.Equal(t, officialUTR, a.GetRrn())
	assert.Equal(t, "VERIFIED", a.GetVerification())
	assert.Equal(t, AttemptSuccess, a.GetTransactionAttemptStatus())
	require.Len(t, f.events(o.GetOrderId()), 1)

	rep, err := f.report(o.GetOrderId(), provUTR, 15000)
	require.NoError(t, err)
	assert.Equal(t, a.GetAttemptId(), rep.GetUpiAttemptId(), "the confirmation came first: its attempt")
	assert.Equal(t, AttemptSuccess, rep.GetTransactionAttemptStatus())
	assert.Len(t, f.get(o.GetOrderId()).GetAttempts(), 1)
	assert.Len(t, f.events(o.GetOrderId()), 1, "the report changes nothing")

	// The merchant can find the attempt by its id (refunds, actions).
	lo, err := f.l.LookupOrder(t.Context(), &merchantv1.LookupOrderRequest{Id: a.GetAttemptId()})
	require.NoError(t, err)
	assert.Equal(t, o.GetOrderId(), lo.GetOrderId())
}

// A repeated confirmation (the switch resends it, or a resent batch is
// answered from its records) changes nothing.
func TestLiteCreditRepeat(t *testing.T) {
	f := newLiteFixture(t)
	o := f.order(false)
	_, err := f.report(o.GetOrderId(), provUTR, 15000)
	require.NoError(t, err)
	rec := record(o.GetOrderId(), provUTR, officialUTR, 15000)
	f.credit(rec)
	before := f.stored(o.GetOrderId())

	f.clock.Advance(time.Second)
	f.credit(rec)
	f.credit(rec, rec)
	after := f.stored(o.GetOrderId())
	assert.True(t, proto.Equal(before, after), "the order did not change:\n%v\n%v", before, after)
	assert.Len(t, f.events(o.GetOrderId()), 1)
}

// The status model's edge cases apply to a Lite payment as to any: the
// wrong amount, and a second payment, go on HOLD, or are auto-refunded.
func TestLiteCreditEdgeCases(t *testing.T) {
	t.Run("wrong amount, HOLD", func(t *testing.T) {
		f := newLiteFixture(t)
		o := f.order(false)
		_, err := f.report(o.GetOrderId(), provUTR, 15000)
		require.NoError(t, err)
		f.credit(record(o.GetOrderId(), provUTR, officialUTR, 14000))
		got := f.get(o.GetOrderId())
		assert.Equal(t, TxnDisputedAmount, got.GetTransactionStatus())
		a := got.GetAttempts()[0]
		assert.Equal(t, AttemptHold, a.GetTransactionAttemptStatus())
		assert.Equal(t, EdgeAmountMismatch, a.GetEdgeCase())
		assert.Equal(t, int64(14000), a.GetAmountCents(), "what was paid, not what was declared")
		assert.Equal(t, int64(15000), a.GetDeclaredAmountCents())
		assert.Equal(t, t0.Add(120*time.Hour), a.GetHoldUntil().AsTime(), "merchant.hold_capture after the credit")
		evs := f.events(o.GetOrderId())
		require.Len(t, evs, 1)
		assert.Equal(t, [3]string{TxnDisputedAmount, AttemptHold, EdgeAmountMismatch},
			[3]string{evs[0].GetTransactionStatus(), evs[0].GetTransactionAttemptStatus(), evs[0].GetEdgeCase()})
		assert.False(t, evs[0].GetTerminal())

		// The merchant captures it: SUCCESS.
		act, err := f.l.ActOnAttempt(f.ctx(""), &merchantv1.ActOnAttemptRequest{AttemptId: a.GetAttemptId(), Action: "CAPTURE"})
		require.NoError(t, err)
		assert.Equal(t, ActionCaptured, act.GetAction())
		assert.Equal(t, TxnSuccess, f.get(o.GetOrderId()).GetTransactionStatus())
	})
	t.Run("wrong amount, auto-refund", func(t *testing.T) {
		f := newLiteFixture(t)
		o := f.order(true)
		f.confirmed(record(o.GetOrderId(), provUTR, officialUTR, 14000))
		got := f.get(o.GetOrderId())
		assert.Equal(t, TxnSuccess, got.GetTransactionStatus())
		a := got.GetAttempts()[0]
		assert.Equal(t, AttemptSuccess, a.GetTransactionAttemptStatus())
		assert.Equal(t, ActionAutoRefunded, a.GetAction())
		assert.Equal(t, EdgeAmountMismatch, a.GetEdgeCase())
		require.Len(t, got.GetRefunds(), 1)
		assert.Equal(t, SourceAutoRefund, got.GetRefunds()[0].GetSource())
		assert.Equal(t, int64(14000), got.GetRefunds()[0].GetAmountCents())
		// A Lite record has no txn id: the refund names it by its official
		// UTR (docs/FLOWS.md, Refund, "Refunds of offline Lite payments"),
		// and ends REFUNDED when the switch says SUCCESS.
		assert.Equal(t, RefundInitiated, got.GetRefunds()[0].GetRefundStatus())
		req := f.refundSent(got.GetRefunds()[0].GetTxnId())
		assert.Equal(t, officialUTR, req.GetTxn().GetOrgRrn())
		assert.Equal(t, "alice@alpha", req.GetPayee().GetAddr())
		assert.Equal(t, int64(14000), req.GetPayer().GetAmountPaise())
		f.refundAnswered(req, upiv1.Resp_SUCCESS)
		assert.Equal(t, RefundDone, f.get(o.GetOrderId()).GetRefunds()[0].GetRefundStatus())
		var seen []string
		for _, e := range f.events(o.GetOrderId()) {
			seen = append(seen, e.GetTransactionStatus()+"/"+e.GetTransactionAttemptStatus()+"/"+e.GetAction()+"/"+e.GetRefundId())
		}
		r := got.GetRefunds()[0].GetRefundId()
		// The open case, the refund's event, then the action's.
		assert.Equal(t, []string{
			TxnDisputedAmount + "/" + AttemptSuccess + "//",
			TxnDisputedAmount + "/" + AttemptSuccess + "/" + ActionAutoRefunded + "/" + r,
			TxnSuccess + "/" + AttemptSuccess + "/" + ActionAutoRefunded + "/",
		}, seen[:3])
	})
	t.Run("second payment", func(t *testing.T) {
		f := newLiteFixture(t)
		o := f.order(false)
		f.credit(record(o.GetOrderId(), provUTR, officialUTR, 15000))
		f.credit(record(o.GetOrderId(), "P12345678902", "612345678902", 15000))
		got := f.get(o.GetOrderId())
		assert.Equal(t, TxnSuccess, got.GetTransactionStatus())
		require.Len(t, got.GetAttempts(), 2)
		assert.Equal(t, AttemptSuccess, got.GetAttempts()[0].GetTransactionAttemptStatus())
		assert.Equal(t, AttemptHold, got.GetAttempts()[1].GetTransactionAttemptStatus())
		assert.Equal(t, EdgeDuplicatePayment, got.GetAttempts()[1].GetEdgeCase())
	})
}

// A record whose order is unknown, another merchant's, or whose payee is
// not a merchant changes no order.
func TestLiteCreditIgnored(t *testing.T) {
	f := newLiteFixture(t)
	o := f.order(false)
	before := f.stored(o.GetOrderId())
	toUser := record(o.GetOrderId(), provUTR, officialUTR, 15000)
	toUser.PayeeAddr = "bob@beta"
	toOther := record(o.GetOrderId(), "P12345678902", "612345678902", 15000)
	toOther.PayeeAddr = "deemedshop@beta"
	f.credit(
		record("ORD0123456789abcdef0123456789abcdef", "P12345678903", "612345678903", 15000),
		toUser, toOther,
		record("", "P12345678904", "612345678904", 15000),
	)
	assert.True(t, proto.Equal(before, f.stored(o.GetOrderId())))
	assert.Empty(t, f.events(o.GetOrderId()))
	// The real record of the order still pays it afterwards.
	f.credit(record(o.GetOrderId(), "P12345678905", "612345678905", 15000))
	assert.Equal(t, TxnSuccess, f.get(o.GetOrderId()).GetTransactionStatus())
}

// An order whose device reported an offline payment in time waits for its
// record past its expiry (up to lite.sync_deadline), and is paid without
// an edge case; one never reported is paid after expiry (HOLD).
func TestLiteOrderWaitsForItsRecord(t *testing.T) {
	f := newLiteFixture(t)
	reported := f.order(false)
	silent := f.order(false)
	_, err := f.report(reported.GetOrderId(), provUTR, 15000)
	require.NoError(t, err)

	f.clock.Advance(20 * time.Minute) // both orders' expiry (15m) fires
	nodetest.Quiesce(t, f.n)
	assert.Equal(t, TxnPending, f.get(reported.GetOrderId()).GetTransactionStatus())
	assert.Equal(t, TxnExpired, f.get(silent.GetOrderId()).GetTransactionStatus())

	f.credit(record(reported.GetOrderId(), provUTR, officialUTR, 15000),
		record(silent.GetOrderId(), "P12345678902", "612345678902", 15000))
	got := f.get(reported.GetOrderId())
	assert.Equal(t, TxnSuccess, got.GetTransactionStatus())
	assert.Empty(t, got.GetAttempts()[0].GetEdgeCase())
	late := f.get(silent.GetOrderId()).GetAttempts()[0]
	assert.Equal(t, AttemptHold, late.GetTransactionAttemptStatus())
	assert.Equal(t, EdgePaidAfterExpiry, late.GetEdgeCase())
}

// A reported payment whose record is never posted: the order expires once
// the sync deadline after the report has passed.
func TestLiteOrderExpiresAfterSyncDeadline(t *testing.T) {
	f := newLiteFixture(t)
	o := f.order(false)
	_, err := f.report(o.GetOrderId(), provUTR, 15000)
	require.NoError(t, err)
	f.clock.Advance(20 * time.Minute)
	nodetest.Quiesce(t, f.n)
	require.Equal(t, TxnPending, f.get(o.GetOrderId()).GetTransactionStatus())
	f.clock.Advance(96 * time.Hour)
	nodetest.Quiesce(t, f.n)
	assert.Equal(t, TxnExpired, f.get(o.GetOrderId()).GetTransactionStatus())
}

// A /provider-callback with the official UTR (the ReqChkTxn by RRN): it
// verifies a Lite attempt by its UTR (no txn id kept), the confirmation
// after it changes nothing, and the same UTR claimed for another attempt
// is rejected as counted already.
func TestLiteProviderCallback(t *testing.T) {
	f := newLiteFixture(t)
	o := f.order(false)
	rep, err := f.report(o.GetOrderId(), provUTR, 15000)
	require.NoError(t, err)
	answer := func(attemptID string) {
		t.Helper()
		cb, err := f.l.ProviderCallback(f.ctx(""), &merchantv1.ProviderCallbackRequest{UpiAttemptId: attemptID, ProviderTxnId: officialUTR, AmountCents: 15000})
		require.NoError(t, err)
		require.Equal(t, "VERIFYING", cb.GetVerification())
		var chk string
		for _, a := range f.stored(o.GetOrderId()).GetAttempts() {
			if a.GetAttemptId() == attemptID {
				chk = a.GetCheckTxnId()
			}
		}
		require.NotEmpty(t, chk)
		// The switch's answer for a Lite record's RRN: found, SUCCESS, to
		// chai@beta, the batch as its transaction.
		require.NoError(t, f.n.Update(func(c *node.Ctx) error {
			return f.l.onStatus(c, psp.StatusAnswer{
				CheckTxnID: chk, Ref: officialUTR, Tag: attemptID, Found: true, TxnID: "BET0123456789abcdef0123456789abcdef",
				RRN: officialUTR, Result: upiv1.Resp_SUCCESS, AmountPaise: 15000, PayerVPA: "alice@alpha", PayeeVPA: "chai@beta",
			})
		}))
	}
	answer(rep.GetUpiAttemptId())
	got := f.get(o.GetOrderId())
	assert.Equal(t, TxnSuccess, got.GetTransactionStatus())
	assert.Equal(t, "VERIFIED", got.GetAttempts()[0].GetVerification())
	assert.Equal(t, officialUTR, got.GetAttempts()[0].GetRrn())
	assert.Empty(t, got.GetAttempts()[0].GetTxnId())
	before := f.stored(o.GetOrderId())
	f.credit(record(o.GetOrderId(), provUTR, officialUTR, 15000))
	assert.True(t, proto.Equal(before, f.stored(o.GetOrderId())), "counted once")

	other, err := f.l.CreateUpiAttempt(f.ctx(""), &merchantv1.CreateUpiAttemptRequest{
		OrderId: o.GetOrderId(), DeviceId: "till-2", Method: MethodUPI, DeclaredAmountCents: 15000, PayerVpa: "alice@alpha", Utr: officialUTR,
	})
	require.NoError(t, err)
	answer(other.GetUpiAttemptId())
	for _, a := range f.get(o.GetOrderId()).GetAttempts() {
		if a.GetAttemptId() == other.GetUpiAttemptId() {
			assert.Equal(t, "REJECTED", a.GetVerification())
			assert.Equal(t, AttemptPending, a.GetTransactionAttemptStatus())
		}
	}

	// A callback on the paid Lite attempt is refused.
	_, err = f.l.ProviderCallback(f.ctx(""), &merchantv1.ProviderCallbackRequest{UpiAttemptId: rep.GetUpiAttemptId(), ProviderTxnId: officialUTR, AmountCents: 15000})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err))
}

// A backend that reported the payment as a plain upi attempt and had it
// verified by its official UTR: the record's confirmation after it does
// not pay the order a second time.
func TestLiteCreditAfterCallbackOnOtherAttempt(t *testing.T) {
	f := newLiteFixture(t)
	o := f.order(false)
	other, err := f.l.CreateUpiAttempt(f.ctx(""), &merchantv1.CreateUpiAttemptRequest{
		OrderId: o.GetOrderId(), DeviceId: "till-2", Method: MethodUPI, DeclaredAmountCents: 15000, PayerVpa: "alice@alpha", Utr: officialUTR,
	})
	require.NoError(t, err)
	_, err = f.l.ProviderCallback(f.ctx(""), &merchantv1.ProviderCallbackRequest{UpiAttemptId: other.GetUpiAttemptId(), ProviderTxnId: officialUTR, AmountCents: 15000})
	require.NoError(t, err)
	chk := f.stored(o.GetOrderId()).GetAttempts()[0].GetCheckTxnId()
	require.NoError(t, f.n.Update(func(c *node.Ctx) error {
		return f.l.onStatus(c, psp.StatusAnswer{
			CheckTxnID: chk, Ref: officialUTR, Tag: other.GetUpiAttemptId(), Found: true, TxnID: "BET0123456789abcdef0123456789abcdef",
			RRN: officialUTR, Result: upiv1.Resp_SUCCESS, AmountPaise: 15000, PayerVPA: "alice@alpha", PayeeVPA: "chai@beta",
		})
	}))
	require.Equal(t, TxnSuccess, f.get(o.GetOrderId()).GetTransactionStatus())
	before := f.stored(o.GetOrderId())
	f.credit(record(o.GetOrderId(), provUTR, officialUTR, 15000))
	assert.True(t, proto.Equal(before, f.stored(o.GetOrderId())), "the UTR is counted for the verified attempt")
	assert.Len(t, f.get(o.GetOrderId()).GetAttempts(), 1)
}

// A Lite-method attempt whose callback names an online payment (a pay
// transaction this PSP holds) keeps its txn id, as any verified attempt.
func TestLiteAttemptVerifiedByOnlinePayment(t *testing.T) {
	f := newLiteFixture(t)
	o := f.order(false)
	const payID = "ALP0123456789abcdef0123456789abcdef"
	require.NoError(t, f.n.Update(func(c *node.Ctx) error {
		return store.NewTable[recordsv1.PspTxn](store.Txns).Put(c.Tx, payID, &recordsv1.PspTxn{
			Id: payID, Type: upiv1.Txn_PAY.String(), Status: upiv1.Resp_SUCCESS.String(), PayeeVpa: "chai@beta", AmountPaise: 15000,
		})
	}))
	rep, err := f.report(o.GetOrderId(), provUTR, 15000)
	require.NoError(t, err)
	_, err = f.l.ProviderCallback(f.ctx(""), &merchantv1.ProviderCallbackRequest{UpiAttemptId: rep.GetUpiAttemptId(), ProviderTxnId: officialUTR, AmountCents: 15000})
	require.NoError(t, err)
	chk := f.stored(o.GetOrderId()).GetAttempts()[0].GetCheckTxnId()
	require.NoError(t, f.n.Update(func(c *node.Ctx) error {
		return f.l.onStatus(c, psp.StatusAnswer{
			CheckTxnID: chk, Ref: officialUTR, Tag: rep.GetUpiAttemptId(), Found: true, TxnID: payID,
			RRN: officialUTR, Result: upiv1.Resp_SUCCESS, AmountPaise: 15000, PayerVPA: "alice@alpha", PayeeVPA: "chai@beta",
		})
	}))
	a := f.get(o.GetOrderId()).GetAttempts()[0]
	assert.Equal(t, "VERIFIED", a.GetVerification())
	assert.Equal(t, payID, a.GetTxnId())
	assert.Equal(t, AttemptSuccess, a.GetTransactionAttemptStatus())
}

// The record's confirmation while a callback of the same attempt is on
// its way: the confirmation verifies it, and the check's late answer
// changes nothing.
func TestLiteCreditWhileVerifying(t *testing.T) {
	f := newLiteFixture(t)
	o := f.order(false)
	rep, err := f.report(o.GetOrderId(), provUTR, 15000)
	require.NoError(t, err)
	_, err = f.l.ProviderCallback(f.ctx(""), &merchantv1.ProviderCallbackRequest{UpiAttemptId: rep.GetUpiAttemptId(), ProviderTxnId: officialUTR, AmountCents: 15000})
	require.NoError(t, err)
	chk := f.stored(o.GetOrderId()).GetAttempts()[0].GetCheckTxnId()
	require.NotEmpty(t, chk)
	f.credit(record(o.GetOrderId(), provUTR, officialUTR, 15000))
	require.Equal(t, TxnSuccess, f.get(o.GetOrderId()).GetTransactionStatus())
	before := f.stored(o.GetOrderId())
	require.NoError(t, f.n.Update(func(c *node.Ctx) error {
		return f.l.onStatus(c, psp.StatusAnswer{CheckTxnID: chk, Ref: officialUTR, Tag: rep.GetUpiAttemptId(), Found: false, ErrCode: "U09"})
	}))
	assert.True(t, proto.Equal(before, f.stored(o.GetOrderId())), "a stale answer")
	assert.Equal(t, "VERIFIED", f.get(o.GetOrderId()).GetAttempts()[0].GetVerification())
}
