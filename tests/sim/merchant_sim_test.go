package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	merchantv1 "github.com/upisim/upisim/gen/go/upisim/merchant/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/gateway"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/upi"
	"github.com/upisim/upisim/internal/webhook"
	"github.com/upisim/upisim/merchant"
	"github.com/upisim/upisim/psp"
)

// merchantRes is what became of the merchant lanes: each order's id, and
// every intent payment the lanes made (the switch lists them; the order
// need not, when the payee PSP declined it ZE). Each order's entry is
// written by its lane alone; intents under mu.
type merchantRes struct {
	orderIDs []string
	mu       sync.Mutex
	intents  []intentPay
	// hooks are the merchants' webhook endpoints, by merchant VPA.
	hooks map[string]*hookEndpoint
	// refused counts the API calls the plan expected to be refused
	// (over-refunds, a collect on an expired order) that were.
	refused atomic.Int64
	// blocked counts the intent payments declined ZE (checkMerchant).
	blocked int
}

type intentPay struct {
	order int
	txnID string
	payer string
}

// Webhook answers an endpoint draws for an attempt (hookEndpoint.answer).
const (
	hookOK      = http.StatusOK
	hookError   = http.StatusInternalServerError
	hookGone    = http.StatusGone
	hookTimeout = 0 // no answer: the PSP's client gives up (SendTimeout)
)

// hookEndpoint is a merchant's webhook endpoint: a real HTTP server on
// 127.0.0.1 that verifies every delivery with the merchant's secret and
// answers 2xx, 500, 410 or nothing at all, as the seed draws for the
// event and attempt. Once calm it always answers 200.
type hookEndpoint struct {
	s        *sim
	vpa, key string
	secret   webhook.Secret
	srv      *httptest.Server
	stop     chan struct{}
	calm     atomic.Bool
	// gone is set by a 410 answer: the PSP disabled the endpoint, and the
	// sim sets it again (hookKeeper).
	gone atomic.Bool

	mu sync.Mutex
	// ok counts the 2xx answers per webhook-id; events are the bodies
	// answered 2xx, by webhook-id; bad the deliveries that did not verify.
	ok       map[string]int
	events   map[string]hookEvent
	bad      []string
	requests int
	answers  map[int]int
}

// hookEvent is what the checks read of a webhook's body.
type hookEvent struct {
	Type string `json:"type"`
	Data struct {
		OrderID string `json:"order_id"`
		// Sequence is an int64: protojson writes it as a JSON string.
		Sequence json.RawMessage `json:"sequence"`
	} `json:"data"`
	raw string
}

// seq is the event's sequence, or -1.
func (ev hookEvent) seq() int {
	n, err := strconv.Atoi(strings.Trim(string(ev.Data.Sequence), `"`))
	if err != nil {
		return -1
	}
	return n
}

func (s *sim) newHookEndpoint(m *config.Merchant) *hookEndpoint {
	sec, err := webhook.ParseSecret(m.WebhookSecret)
	if err != nil {
		s.fatalf("merchant %s: %v", m.VPA, err)
	}
	h := &hookEndpoint{
		s: s, vpa: ids.NormalizeVPA(m.VPA), key: m.APIKey, secret: sec, stop: make(chan struct{}),
		ok: map[string]int{}, events: map[string]hookEvent{}, answers: map[int]int{},
	}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	s.t.Cleanup(func() {
		close(h.stop)
		h.srv.Close()
	})
	return h
}

func (h *hookEndpoint) url() string { return h.srv.URL + "/hooks/" + h.vpa }

func (h *hookEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	id := r.Header.Get(webhook.HeaderID)
	if err == nil {
		err = h.secret.Verify(r.Header, body, time.Now())
	}
	var ev hookEvent
	if err == nil {
		err = json.Unmarshal(body, &ev)
	}
	h.mu.Lock()
	h.requests++
	if err != nil {
		h.bad = append(h.bad, fmt.Sprintf("webhook %q to %s: %v", id, h.vpa, err))
		h.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	code := h.answer(ev, r.Header.Get("Webhook-Attempt"))
	h.answers[code]++
	if code/100 == 2 {
		h.ok[id]++
		ev.raw = string(body)
		h.events[id] = ev
	}
	h.mu.Unlock()
	switch code {
	case hookTimeout:
		select {
		case <-r.Context().Done(): // the PSP gave up
		case <-h.stop:
		}
		return
	case hookGone:
		h.gone.Store(true)
	}
	w.WriteHeader(code)
}

// answer is what the endpoint answers the attempt of event ev: a
// function of the seed, the order's place in the plan, the event and the
// attempt.
func (h *hookEndpoint) answer(ev hookEvent, attempt string) int {
	if h.calm.Load() {
		return hookOK
	}
	order := "?"
	if i, ok := h.s.plan.orderIDs.Load(ev.Data.OrderID); ok {
		order = strconv.Itoa(i.(int))
	}
	x := mix(h.s.seed, "webhook", h.vpa, order, ev.Type, strconv.Itoa(ev.seq()), attempt) % 100
	switch {
	case x < 65:
		return hookOK
	case x < 83:
		return hookError
	case x < 93:
		return hookTimeout
	}
	return hookGone
}

// mctx is ctx with merchant m's API key, as a merchant's call carries it.
func mctx(ctx context.Context, key string, kv ...string) context.Context {
	return metadata.NewIncomingContext(ctx, metadata.Pairs(append([]string{"authorization", "Bearer " + key}, kv...)...))
}

// merchantPSP is the node of the merchants' PSP (every lane merchant is
// at beta).
func (s *sim) merchantPSP() *simNode { return s.pspOf(laneMerchants[0]) }

// mcall calls fn on the merchant layer, again while its node is
// restarting or busy.
func (s *sim) mcall(ctx context.Context, fn func(l *merchant.Layer) error) error {
	sn := s.merchantPSP()
	for {
		err := sn.withMerchant(fn)
		if !errors.Is(err, errDown) && status.Code(err) != codes.ResourceExhausted && status.Code(err) != codes.Unavailable {
			return err
		}
		if !sleepUntil(ctx, time.Now().Add(5*time.Millisecond)) {
			return ctx.Err()
		}
	}
}

// merchantKey is merchant vpa's API key.
func (s *sim) merchantKey(vpa string) string {
	for _, m := range s.cfg.Merchants {
		if ids.NormalizeVPA(m.VPA) == ids.NormalizeVPA(vpa) {
			return m.APIKey
		}
	}
	s.fatalf("no merchant %s in the network", vpa)
	return ""
}

// startMerchant sets each lane merchant's webhook endpoint and runs the
// order lanes from their starts, in wg; while they run, an endpoint the
// PSP disabled (a 410) is set again.
func (s *sim) startMerchant(wg *sync.WaitGroup, ctx context.Context, began time.Time) {
	mp := s.plan.merchant
	s.merch = &merchantRes{orderIDs: make([]string, len(mp.orders)), hooks: map[string]*hookEndpoint{}}
	for _, vpa := range laneMerchants {
		for i := range s.cfg.Merchants {
			if ids.NormalizeVPA(s.cfg.Merchants[i].VPA) == vpa {
				s.merch.hooks[vpa] = s.newHookEndpoint(&s.cfg.Merchants[i])
			}
		}
	}
	wg.Go(func() {
		if !sleepUntil(ctx, began.Add(mp.start)) {
			return
		}
		for _, h := range s.merch.hooks {
			if err := s.setEndpoint(ctx, h); err != nil {
				s.failf("SetWebhookEndpoint of %s: %v", h.vpa, err)
				return
			}
		}
		lanes, done := sync.WaitGroup{}, make(chan struct{})
		for _, o := range mp.orders {
			lanes.Go(func() {
				if sleepUntil(ctx, began.Add(o.start)) {
					s.orderLane(ctx, o)
				}
			})
		}
		var keeper sync.WaitGroup
		keeper.Go(func() { s.hookKeeper(ctx, done) })
		lanes.Wait()
		close(done)
		keeper.Wait()
	})
}

func (s *sim) setEndpoint(ctx context.Context, h *hookEndpoint) error {
	return s.mcall(ctx, func(l *merchant.Layer) error {
		ep, err := l.SetWebhookEndpoint(mctx(ctx, h.key), &merchantv1.SetWebhookEndpointRequest{Url: h.url()})
		if err == nil && (!ep.GetEnabled() || ep.GetUrl() != h.url()) {
			err = fmt.Errorf("the endpoint is %q enabled %t", ep.GetUrl(), ep.GetEnabled())
		}
		return err
	})
}

// hookKeeper sets again, every 50ms, each endpoint that answered 410,
// as its merchant would, until done.
func (s *sim) hookKeeper(ctx context.Context, done chan struct{}) {
	for {
		for _, h := range s.merch.hooks {
			if h.gone.Swap(false) {
				if err := s.setEndpoint(ctx, h); err != nil {
					s.failf("SetWebhookEndpoint of %s: %v", h.vpa, err)
				}
			}
		}
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// getOrder is the order as its merchant sees it.
func (s *sim) getOrder(ctx context.Context, o *orderPlan) (*merchantv1.Order, error) {
	var out *merchantv1.Order
	err := s.mcall(ctx, func(l *merchant.Layer) error {
		var err error
		out, err = l.GetOrder(mctx(ctx, s.merchantKey(o.merchant)), &merchantv1.GetOrderRequest{OrderId: s.merch.orderIDs[o.idx]})
		return err
	})
	return out, err
}

// orderLane creates the order and pays it as the plan says, then acts
// on its HOLDs and refunds it.
func (s *sim) orderLane(ctx context.Context, o *orderPlan) {
	key := s.merchantKey(o.merchant)
	var ord *merchantv1.Order
	if err := s.mcall(ctx, func(l *merchant.Layer) error {
		var err error
		ord, err = l.CreateOrder(mctx(ctx, key), &merchantv1.CreateOrderRequest{
			AmountCents: o.amount, Currency: "INR", Receipt: "sim-" + strconv.Itoa(o.idx), Description: o.note(),
			ExpiresInSeconds: o.expiry, AutoRefund: &o.autoRefund, AutoRetry: &o.autoRetry,
		})
		return err
	}); err != nil {
		s.failf("%s: CreateOrder: %v", o, err)
		return
	}
	s.merch.orderIDs[o.idx] = ord.GetOrderId()
	s.plan.orderIDs.Store(ord.GetOrderId(), o.idx)
	if ord.GetTransactionStatus() != merchant.TxnPending || ord.GetAutoRefund() != o.autoRefund || ord.GetAutoRetry() != o.autoRetry {
		s.failf("%s: CreateOrder answered %s auto_refund %t auto_retry %t", o, ord.GetTransactionStatus(), ord.GetAutoRefund(), ord.GetAutoRetry())
		return
	}
	intent, err := upi.ParseIntent(ord.GetIntent())
	if err != nil || intent.RefID != ord.GetOrderId() || intent.AmountPaise != o.amount || ids.NormalizeVPA(intent.PayeeVPA) != ids.NormalizeVPA(o.merchant) {
		s.failf("%s: the order's intent %q: %+v, %v", o, ord.GetIntent(), intent, err)
		return
	}
	expired := func() bool {
		return sleepUntil(ctx, ord.GetExpiresAt().AsTime().Add(200*time.Millisecond))
	}
	ok := true
	switch o.pay {
	case payIntent:
		ok = s.payIntent(ctx, o, o.amount, goodPIN)
	case payIntentRetry:
		ok = s.payIntent(ctx, o, o.amount, wrongPIN) && s.payIntent(ctx, o, o.amount, goodPIN)
	case payWrongAmount:
		ok = s.payIntent(ctx, o, o.amount/2+1, goodPIN)
	case payTwice:
		ok = s.payIntent(ctx, o, o.amount, goodPIN) && s.payIntent(ctx, o, o.amount, goodPIN)
	case payLate:
		ok = expired() && s.payIntent(ctx, o, o.amount, goodPIN)
	case payCollect:
		ok = s.payCollect(ctx, o, true, goodPIN)
	case payCollectNo:
		ok = s.payCollect(ctx, o, false, goodPIN)
	case payCollectPIN:
		ok = s.payCollect(ctx, o, true, wrongPIN)
	case payCollectLate:
		ok = expired()
		if ok {
			err := s.mcall(ctx, func(l *merchant.Layer) error {
				_, err := l.CollectOrder(mctx(ctx, key), &merchantv1.CollectOrderRequest{OrderId: ord.GetOrderId(), PayerVpa: o.payer})
				return err
			})
			if status.Code(err) != codes.FailedPrecondition {
				s.failf("%s: CollectOrder on the expired order %s: %v, want FailedPrecondition", o, ord.GetOrderId(), err)
				return
			}
			s.merch.refused.Add(1)
			ok = s.payIntent(ctx, o, o.amount, goodPIN)
		}
	case payCollectThen:
		ok = s.payCollect(ctx, o, false, goodPIN) && s.payIntent(ctx, o, o.amount, goodPIN)
	case payDeemedTwice:
		ok = s.payDeemedTwice(ctx, o)
	case payNone:
	}
	if ok {
		ok = s.actOnHolds(ctx, o)
	}
	if ok {
		s.refundOrder(ctx, o)
	}
}

// startIntent pays the order's intent as the payer's app does (`upisim
// pay --intent`): a PAY to the merchant with txn.ref_id the order id,
// of amount.
func (s *sim) startIntent(ctx context.Context, o *orderPlan, amount int64, pin string) (string, bool) {
	sn := s.pspOf(o.payer)
	txnID := ids.NewTxnID(sn.self.Prefix)
	s.merch.mu.Lock()
	s.merch.intents = append(s.merch.intents, intentPay{order: o.idx, txnID: txnID, payer: o.payer})
	s.merch.mu.Unlock()
	req := &upiv1.InitiatePayRequest{
		TxnId: txnID, PayerVpa: o.payer, PayeeVpa: o.merchant, AmountPaise: amount, Note: o.note(),
		RefId: s.merch.orderIDs[o.idx], Cred: s.seal(o.payer, pin, txnID),
	}
	if err := s.call(ctx, sn, func(p *psp.PSP) error {
		_, err := p.InitiatePay(ctx, req)
		return err
	}); err != nil {
		s.failf("%s: InitiatePay %s at %s: %v", o, txnID, sn.self.Name, err)
		return "", false
	}
	return txnID, true
}

// payerStatus is txnID's status at the payer's PSP.
func (s *sim) payerStatus(ctx context.Context, o *orderPlan, txnID string) (*upiv1.Transaction, string, error) {
	var out *upiv1.Transaction
	var state string
	err := s.call(ctx, s.pspOf(o.payer), func(p *psp.PSP) error {
		r, err := p.InspectTxn(txnID)
		out, state = r.GetTransaction(), r.GetState()
		return err
	})
	return out, state, err
}

// payIntent pays the intent and waits until the order has the payment's
// attempt decided (or the payment was declined ZE, with no attempt).
func (s *sim) payIntent(ctx context.Context, o *orderPlan, amount int64, pin string) bool {
	txnID, ok := s.startIntent(ctx, o, amount, pin)
	return ok && s.awaitAttempt(ctx, o, txnID)
}

// awaitAttempt waits until txnID is final at the payer's PSP and its
// attempt decided at the order; a payment final with no attempt must have
// been declined ZE (the order had a DEEMED attempt).
func (s *sim) awaitAttempt(ctx context.Context, o *orderPlan, txnID string) bool {
	var final *upiv1.Transaction
	if !s.poll(ctx, fmt.Sprintf("%s: txn %s final at the payer's PSP", o, txnID), func() (bool, error) {
		t, _, err := s.payerStatus(ctx, o, txnID)
		final = t
		return err == nil && isFinal(t.GetStatus()), err
	}) {
		return false
	}
	return s.poll(ctx, fmt.Sprintf("%s: txn %s decided at the order", o, txnID), func() (bool, error) {
		ord, err := s.getOrder(ctx, o)
		if err != nil {
			return false, err
		}
		for _, a := range ord.GetAttempts() {
			if a.GetTxnId() == txnID {
				st := a.GetTransactionAttemptStatus()
				return st != merchant.AttemptPending && st != merchant.AttemptDeemed, nil
			}
		}
		if final.GetStatus() != upiv1.Resp_FAILURE || final.GetErrCode() != merchant.CodeOrderBlocked {
			return false, fmt.Errorf("the order %s has no attempt of txn %s, which ended %s %s%s", ord.GetOrderId(), txnID,
				final.GetStatus(), final.GetErrCode(), s.traceOf(ctx, txnID))
		}
		return true, nil
	})
}

// payCollect sends the order's collect and answers it as the payer.
func (s *sim) payCollect(ctx context.Context, o *orderPlan, approve bool, pin string) bool {
	var att *merchantv1.Attempt
	err := s.mcall(ctx, func(l *merchant.Layer) error {
		var err error
		att, err = l.CollectOrder(mctx(ctx, s.merchantKey(o.merchant)), &merchantv1.CollectOrderRequest{OrderId: s.merch.orderIDs[o.idx], PayerVpa: o.payer})
		return err
	})
	if err != nil {
		s.failf("%s: CollectOrder: %v", o, err)
		return false
	}
	txnID := att.GetTxnId()
	if att.GetMethod() != merchant.MethodCollect || txnID == "" {
		s.failf("%s: CollectOrder answered an attempt %s of method %s, txn %q", o, att.GetAttemptId(), att.GetMethod(), txnID)
		return false
	}
	payer := s.pspOf(o.payer)
	if !s.poll(ctx, fmt.Sprintf("%s: collect %s at the payer's PSP", o, txnID), func() (bool, error) {
		t, state, err := s.payerStatus(ctx, o, txnID)
		switch {
		case status.Code(err) == codes.NotFound:
			return false, nil
		case err != nil:
			return false, err
		case isFinal(t.GetStatus()):
			return true, nil // ended before it was answered
		}
		if state != "AWAITING_APPROVAL" {
			return false, nil
		}
		req := &upiv1.RespondCollectRequest{TxnId: txnID, Approve: approve}
		if approve {
			req.Cred = s.seal(o.payer, pin, txnID)
		}
		err = s.call(ctx, payer, func(p *psp.PSP) error {
			_, err := p.RespondCollect(ctx, req)
			return err
		})
		if status.Code(err) == codes.FailedPrecondition { // it expired meanwhile
			err = nil
		}
		return true, err
	}) {
		return false
	}
	return s.awaitAttempt(ctx, o, txnID)
}

// payDeemedTwice pays a magic merchant's order, and again once the first
// payment is DEEMED at the payer's PSP (or final): the second is declined
// ZE while the order's attempt is DEEMED.
func (s *sim) payDeemedTwice(ctx context.Context, o *orderPlan) bool {
	first, ok := s.startIntent(ctx, o, o.amount, goodPIN)
	if !ok || !s.poll(ctx, fmt.Sprintf("%s: txn %s DEEMED at the payer's PSP", o, first), func() (bool, error) {
		t, _, err := s.payerStatus(ctx, o, first)
		return err == nil && (t.GetStatus() == upiv1.Resp_DEEMED || isFinal(t.GetStatus())), err
	}) {
		return false
	}
	second, ok := s.startIntent(ctx, o, o.amount, goodPIN)
	return ok && s.awaitAttempt(ctx, o, first) && s.awaitAttempt(ctx, o, second)
}

// actOnHolds captures or releases each attempt of the order on HOLD, as
// the plan says (or leaves it to the PSP's timer).
func (s *sim) actOnHolds(ctx context.Context, o *orderPlan) bool {
	if o.act == actLeave {
		return true
	}
	ord, err := s.getOrder(ctx, o)
	if err != nil {
		s.failf("%s: GetOrder: %v", o, err)
		return false
	}
	for _, a := range ord.GetAttempts() {
		if a.GetTransactionAttemptStatus() != merchant.AttemptHold {
			continue
		}
		var got *merchantv1.Attempt
		err := s.mcall(ctx, func(l *merchant.Layer) error {
			var err error
			got, err = l.ActOnAttempt(mctx(ctx, s.merchantKey(o.merchant)), &merchantv1.ActOnAttemptRequest{AttemptId: a.GetAttemptId(), Action: o.act})
			return err
		})
		want := map[string]string{actCapture: merchant.ActionCaptured, actRelease: merchant.ActionReleased}[o.act]
		switch {
		case status.Code(err) == codes.FailedPrecondition:
			// The PSP's timer captured it first (merchant.hold_capture).
			now, gerr := s.getOrder(ctx, o)
			if gerr != nil || attemptIn(now, a.GetAttemptId()).GetAction() != merchant.ActionCaptured {
				s.failf("%s: %s of attempt %s on HOLD refused (%v), and it is not CAPTURED: %v", o, o.act, a.GetAttemptId(), err, attemptIn(now, a.GetAttemptId()))
				return false
			}
		case err != nil:
			s.failf("%s: %s of attempt %s: %v", o, o.act, a.GetAttemptId(), err)
			return false
		case got.GetTransactionAttemptStatus() != merchant.AttemptSuccess || got.GetAction() != want:
			s.failf("%s: %s of attempt %s answered %s %s", o, o.act, a.GetAttemptId(), got.GetTransactionAttemptStatus(), got.GetAction())
			return false
		}
	}
	return true
}

func attemptIn(o *merchantv1.Order, id string) *merchantv1.Attempt {
	for _, a := range o.GetAttempts() {
		if a.GetAttemptId() == id {
			return a
		}
	}
	return nil
}

// refundOrder refunds each SUCCESS attempt of the order in part or in
// full, then tries to refund more than is left (FailedPrecondition); and
// tries a refund of each RELEASED or AUTO_REFUNDED attempt (refused).
func (s *sim) refundOrder(ctx context.Context, o *orderPlan) {
	if o.refund == refundNone {
		return
	}
	ord, err := s.getOrder(ctx, o)
	if err != nil {
		s.failf("%s: GetOrder: %v", o, err)
		return
	}
	key := s.merchantKey(o.merchant)
	refund := func(a *merchantv1.Attempt, amount int64, md ...string) (*merchantv1.Refund, error) {
		var out *merchantv1.Refund
		err := s.mcall(ctx, func(l *merchant.Layer) error {
			var err error
			out, err = l.CreateRefund(mctx(ctx, key, md...), &merchantv1.CreateRefundRequest{
				OrderId: ord.GetOrderId(), AttemptId: a.GetAttemptId(), AmountCents: amount, Note: o.note(),
			})
			return err
		})
		return out, err
	}
	refuse := func(a *merchantv1.Attempt, amount int64, why string) bool {
		if _, err := refund(a, amount); status.Code(err) != codes.FailedPrecondition {
			s.failf("%s: a refund of %d paise of attempt %s (%s): %v, want FailedPrecondition", o, amount, a.GetAttemptId(), why, err)
			return false
		}
		s.merch.refused.Add(1)
		return true
	}
	for _, a := range ord.GetAttempts() {
		if a.GetTransactionAttemptStatus() != merchant.AttemptSuccess {
			continue
		}
		if act := a.GetAction(); act == merchant.ActionReleased || act == merchant.ActionAutoRefunded {
			if !refuse(a, 1, "it was "+act) {
				return
			}
			continue
		}
		left := a.GetAmountCents()
		for _, r := range ord.GetRefunds() {
			if r.GetAttemptId() == a.GetAttemptId() && r.GetRefundStatus() != merchant.RefundFailed {
				left -= r.GetAmountCents()
			}
		}
		if left <= 0 {
			continue
		}
		amount := left
		if o.refund == refundPart {
			amount = max(1, left/3)
		}
		// With an Idempotency-Key, once more: the same refund, not another.
		idem := []string{gateway.IdempotencyKeyMD, "sim-" + a.GetAttemptId()}
		r, err := refund(a, amount, idem...)
		if err != nil {
			s.failf("%s: a refund of %d paise of attempt %s (%d left): %v", o, amount, a.GetAttemptId(), left, err)
			return
		}
		again, err := refund(a, amount, idem...)
		if err != nil || again.GetRefundId() != r.GetRefundId() {
			s.failf("%s: the refund of attempt %s again with its Idempotency-Key: %s, %v; want %s", o, a.GetAttemptId(), again.GetRefundId(), err, r.GetRefundId())
			return
		}
		if r.GetAmountCents() != amount || r.GetSource() != merchant.SourceMerchant {
			s.failf("%s: CreateRefund answered %d paise from %s", o, r.GetAmountCents(), r.GetSource())
			return
		}
		if !refuse(a, left-amount+1, fmt.Sprintf("%d paise left", left-amount)) {
			return
		}
	}
}

// resendWebhooks, on the settled network, makes every endpoint calm and
// sets it again, and resends every delivery not DELIVERED (DISABLED by a
// 410, FAILED after the last retry): then every event can reach its
// merchant.
func (s *sim) resendWebhooks(ctx context.Context) {
	for _, vpa := range laneMerchants {
		h := s.merch.hooks[vpa]
		h.calm.Store(true)
		if err := s.setEndpoint(ctx, h); err != nil {
			s.failf("SetWebhookEndpoint of %s: %v", vpa, err)
			return
		}
		for _, d := range s.deliveries(ctx, vpa) {
			if d.GetStatus() == merchant.DeliveryDelivered {
				continue
			}
			if err := s.mcall(ctx, func(l *merchant.Layer) error {
				_, err := l.ResendDelivery(mctx(ctx, h.key), &merchantv1.ResendDeliveryRequest{DeliveryId: d.GetDeliveryId()})
				return err
			}); err != nil {
				s.failf("ResendDelivery %s of %s (%s): %v", d.GetDeliveryId(), vpa, d.GetStatus(), err)
			}
		}
	}
}

// maxDeliveries is ListDeliveries' most.
const maxDeliveries = 500

// deliveries is every delivery of merchant vpa, order by order (a long
// run's merchant has more than ListDeliveries lists at once).
func (s *sim) deliveries(ctx context.Context, vpa string) []*merchantv1.Delivery {
	var out []*merchantv1.Delivery
	for _, ord := range s.allOrders(ctx) {
		if ord.GetMerchantVpa() != vpa {
			continue
		}
		var got []*merchantv1.Delivery
		if err := s.mcall(ctx, func(l *merchant.Layer) error {
			r, err := l.ListDeliveries(mctx(ctx, s.merchantKey(vpa)), &merchantv1.ListDeliveriesRequest{OrderId: ord.GetOrderId(), Limit: maxDeliveries})
			got = r.GetDeliveries()
			return err
		}); err != nil {
			s.failf("ListDeliveries of %s, order %s: %v", vpa, ord.GetOrderId(), err)
		}
		if len(got) == maxDeliveries {
			s.failf("order %s of %s has %d deliveries or more: the check cannot see them all", ord.GetOrderId(), vpa, maxDeliveries)
		}
		for _, d := range got {
			if d.GetOrderId() != ord.GetOrderId() {
				s.failf("ListDeliveries of order %s listed delivery %s of order %s", ord.GetOrderId(), d.GetDeliveryId(), d.GetOrderId())
			}
		}
		out = append(out, got...)
	}
	return out
}

// allOrders is every order of the merchant PSP, through the admin API.
func (s *sim) allOrders(ctx context.Context) []*merchantv1.Order {
	var out []*merchantv1.Order
	for after := ""; ; {
		var r *merchantv1.ListOrdersResponse
		if err := s.mcall(ctx, func(l *merchant.Layer) error {
			var err error
			r, err = l.ListOrders(ctx, &merchantv1.ListOrdersRequest{After: after, Limit: 7})
			return err
		}); err != nil {
			s.failf("ListOrders after %q: %v", after, err)
			return out
		}
		out = append(out, r.GetOrders()...)
		if after = r.GetNext(); after == "" {
			return out
		}
	}
}

// switchTxns is the switch's list of transactions, by txn id.
func (s *sim) switchTxns(ctx context.Context, sw upiv1.AdminServiceClient) map[string]*upiv1.TxnSummary {
	listed := map[string]*upiv1.TxnSummary{}
	for page := ""; ; {
		r, err := sw.ListTransactions(ctx, &upiv1.ListTransactionsRequest{PageToken: page})
		if err != nil {
			s.failf("the switch's transactions: %v", err)
			return listed
		}
		for _, t := range r.GetTransactions() {
			listed[t.GetTxnId()] = t
		}
		if page = r.GetNextPageToken(); page == "" {
			return listed
		}
	}
}

// checkMerchant checks the merchant lanes on the settled network (after
// resendWebhooks): every order's statuses agree with its attempts and
// refunds by the rules of the status model (checkOrder), every attempt and
// refund agrees with its payment at the switch, every intent payment the
// lanes made is an attempt of its order or was declined ZE, and the
// webhooks (checkWebhooks). It adds to want the money the orders moved
// and returns how many of the switch's payments are the lanes'.
func (s *sim) checkMerchant(ctx context.Context, sw upiv1.AdminServiceClient, want map[string]int64) int {
	listed := s.switchTxns(ctx, sw)
	mine := map[string]bool{}
	orders := s.allOrders(ctx)
	byID := map[string]*merchantv1.Order{}
	attemptOfTxn := map[string]*merchantv1.Attempt{}
	for _, ord := range orders {
		byID[ord.GetOrderId()] = ord
		for _, a := range ord.GetAttempts() {
			attemptOfTxn[a.GetTxnId()] = a
		}
	}
	for i, id := range s.merch.orderIDs {
		if id != "" && byID[id] == nil {
			s.failf("%s: order %s is not in ListOrders", s.plan.merchant.orders[i], id)
		}
	}
	for _, ord := range orders {
		o := "order " + ord.GetOrderId()
		if i, ok := s.plan.orderIDs.Load(ord.GetOrderId()); ok {
			o = s.plan.merchant.orders[i.(int)].String() + " (" + ord.GetOrderId() + ")"
		}
		if *verboseFlag {
			s.t.Logf("%s\n    %s", o, orderSummary(ord))
		}
		for _, p := range s.checkOrder(ord) {
			s.failf("%s: %s\n    %s", o, p, orderSummary(ord))
		}
		for _, a := range ord.GetAttempts() {
			t, ok := listed[a.GetTxnId()]
			if !ok {
				s.failf("%s: attempt %s's txn %s is not at the switch", o, a.GetAttemptId(), a.GetTxnId())
				continue
			}
			mine[a.GetTxnId()] = true
			paid := a.GetTransactionAttemptStatus() == merchant.AttemptSuccess
			if wantSt := map[bool]upiv1.Resp_Result{true: upiv1.Resp_SUCCESS, false: upiv1.Resp_FAILURE}[paid]; t.GetStatus() != wantSt ||
				paid && t.GetAmountPaise() != a.GetAmountCents() || ids.NormalizeVPA(t.GetPayeeVpa()) != ord.GetMerchantVpa() {
				s.failf("%s: attempt %s is %s of %d paise, its txn %s %s %s of %d paise to %s at the switch", o, a.GetAttemptId(),
					a.GetTransactionAttemptStatus(), a.GetAmountCents(), t.GetTxnId(), t.GetStatus(), t.GetErrCode(), t.GetAmountPaise(), t.GetPayeeVpa())
			}
			if paid {
				want[a.GetPayerVpa()] -= a.GetAmountCents()
				want[ord.GetMerchantVpa()] += a.GetAmountCents()
			}
		}
		for _, r := range ord.GetRefunds() {
			t, ok := listed[r.GetTxnId()]
			if !ok {
				s.failf("%s: refund %s's txn %q is not at the switch", o, r.GetRefundId(), r.GetTxnId())
				continue
			}
			mine[r.GetTxnId()] = true
			done := r.GetRefundStatus() == merchant.RefundDone
			if t.GetType() != upiv1.Txn_REFUND || done != (t.GetStatus() == upiv1.Resp_SUCCESS) || t.GetAmountPaise() != r.GetAmountCents() {
				s.failf("%s: refund %s is %s of %d paise, its txn %s a %s %s of %d paise at the switch", o, r.GetRefundId(),
					r.GetRefundStatus(), r.GetAmountCents(), t.GetTxnId(), t.GetType(), t.GetStatus(), t.GetAmountPaise())
			}
			if done {
				a := attemptIn(ord, r.GetAttemptId())
				want[ord.GetMerchantVpa()] -= r.GetAmountCents()
				want[a.GetPayerVpa()] += r.GetAmountCents()
			}
		}
	}
	// Every intent payment of a lane: an attempt of its order, or declined
	// ZE because the order had a DEEMED attempt.
	for _, p := range s.merch.intents {
		o := s.plan.merchant.orders[p.order]
		t, ok := listed[p.txnID]
		if !ok {
			s.failf("%s: intent payment %s is not at the switch", o, p.txnID)
			continue
		}
		mine[p.txnID] = true
		a := attemptOfTxn[p.txnID]
		if a == nil {
			s.merch.blocked++
		}
		switch {
		case a == nil && (t.GetStatus() != upiv1.Resp_FAILURE || t.GetErrCode() != merchant.CodeOrderBlocked):
			s.failf("%s: intent payment %s ended %s %s at the switch, and is no attempt of order %s", o, p.txnID, t.GetStatus(), t.GetErrCode(), s.merch.orderIDs[p.order])
		case a == nil && o.merchant == laneMerchants[0]:
			// Only a magic merchant's order has a DEEMED attempt.
			s.failf("%s: intent payment %s was declined ZE, but the order never had a DEEMED attempt", o, p.txnID)
		case a != nil && a.GetOrderId() != s.merch.orderIDs[p.order]:
			s.failf("%s: intent payment %s is an attempt of order %s, not of %s", o, p.txnID, a.GetOrderId(), s.merch.orderIDs[p.order])
		}
	}
	s.checkWebhooks(ctx, byID)
	return len(mine)
}

// checkOrder is what of the status model's rules (docs/FLOWS.md,
// "Merchant payments") a settled order breaks: nothing is left PENDING,
// DEEMED or on HOLD (every expiry and hold_capture has passed); the order
// is SUCCESS exactly when an attempt is; one attempt at most is a plain
// SUCCESS, and every other SUCCESS is an edge case with its action; an
// order FAILED has a failed attempt and no auto_retry; every RELEASED or
// AUTO_REFUNDED attempt has its refund of the whole amount, from that
// source; an attempt's refunds not failed never exceed it, come only from
// an attempt that may be refunded, and are all decided, REFUNDED.
func (s *sim) checkOrder(ord *merchantv1.Order) []string {
	var out []string
	bad := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	st := ord.GetTransactionStatus()
	if st != merchant.TxnSuccess && st != merchant.TxnFailed && st != merchant.TxnExpired {
		bad("the settled order is %s, not SUCCESS, FAILED or EXPIRED (%s)", st, ord.GetReason())
	}
	plain, success, failed := 0, 0, 0
	for _, a := range ord.GetAttempts() {
		switch a.GetTransactionAttemptStatus() {
		case merchant.AttemptSuccess:
			success++
			switch {
			case a.GetEdgeCase() == "" && a.GetAction() == "":
				plain++
				if a.GetAmountCents() != ord.GetAmountCents() {
					bad("attempt %s is a plain SUCCESS of %d paise, the order is of %d", a.GetAttemptId(), a.GetAmountCents(), ord.GetAmountCents())
				}
			case a.GetEdgeCase() == "" || a.GetAction() == "":
				bad("attempt %s is SUCCESS with edge case %q and action %q: an edge case has an action, and only an edge case", a.GetAttemptId(), a.GetEdgeCase(), a.GetAction())
			case ord.GetAutoRefund() != (a.GetAction() == merchant.ActionAutoRefunded):
				bad("attempt %s is %s on an order with auto_refund %t", a.GetAttemptId(), a.GetAction(), ord.GetAutoRefund())
			}
		case merchant.AttemptFailed:
			failed++
			if a.GetAction() != "" || a.GetErrCode() == "" {
				bad("attempt %s is FAILED with action %q and code %q", a.GetAttemptId(), a.GetAction(), a.GetErrCode())
			}
		default:
			bad("attempt %s is %s on the settled network", a.GetAttemptId(), a.GetTransactionAttemptStatus())
		}
	}
	switch {
	case plain > 1:
		bad("%d attempts are a plain SUCCESS: a second payment is DUPLICATE_PAYMENT, on HOLD or auto-refunded", plain)
	case (st == merchant.TxnSuccess) != (success > 0):
		bad("the order is %s with %d SUCCESS attempts", st, success)
	case st == merchant.TxnFailed && (failed == 0 || ord.GetAutoRetry()):
		bad("the order is FAILED with %d failed attempts and auto_retry %t", failed, ord.GetAutoRetry())
	}
	refunded := map[string]int64{}
	for _, r := range ord.GetRefunds() {
		a := attemptIn(ord, r.GetAttemptId())
		if a == nil {
			bad("refund %s is of attempt %s, not of the order", r.GetRefundId(), r.GetAttemptId())
			continue
		}
		// A refund is a payment: under the plan's timeouts and faults it
		// may fail as one does (a debit or credit timeout, a credit
		// declined after its check). A release's or auto-refund's is then
		// tried again, which the totals below check.
		if st := r.GetRefundStatus(); st != merchant.RefundDone && (st != merchant.RefundFailed || !slices.Contains(refundFailCodes, r.GetErrCode())) {
			bad("refund %s of attempt %s is %s %s", r.GetRefundId(), a.GetAttemptId(), r.GetRefundStatus(), r.GetErrCode())
		}
		if r.GetRefundStatus() != merchant.RefundFailed {
			refunded[a.GetAttemptId()] += r.GetAmountCents()
		}
		wantSource := map[string]string{merchant.ActionReleased: merchant.SourceRelease, merchant.ActionAutoRefunded: merchant.SourceAutoRefund}[a.GetAction()]
		if wantSource == "" {
			wantSource = merchant.SourceMerchant
		}
		if a.GetTransactionAttemptStatus() != merchant.AttemptSuccess || r.GetSource() != wantSource {
			bad("refund %s (source %s) is of attempt %s, %s %s", r.GetRefundId(), r.GetSource(), a.GetAttemptId(), a.GetTransactionAttemptStatus(), a.GetAction())
		}
	}
	for _, a := range ord.GetAttempts() {
		id := a.GetAttemptId()
		if refunded[id] > a.GetAmountCents() {
			bad("attempt %s of %d paise has %d paise of refunds", id, a.GetAmountCents(), refunded[id])
		}
		if act := a.GetAction(); (act == merchant.ActionReleased || act == merchant.ActionAutoRefunded) && refunded[id] != a.GetAmountCents() {
			bad("attempt %s is %s, but its refunds total %d paise of %d", id, act, refunded[id], a.GetAmountCents())
		}
	}
	return out
}

// refundFailCodes are the codes a refund may fail with in the simulation:
// those of a pay's timeouts (U67, U68, U09) and of a CREDIT that came
// after its status check (U31), or that a DEBIT came after its REVERSAL
// (U30).
var refundFailCodes = []string{"U67", "U68", "U09", "U31", "U30"}

// orderSummary is an order's attempts and refunds, for a failure.
func orderSummary(ord *merchantv1.Order) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d paise, auto_refund %t, auto_retry %t, %s (%s)", ord.GetOrderId(), ord.GetAmountCents(), ord.GetAutoRefund(), ord.GetAutoRetry(),
		ord.GetTransactionStatus(), ord.GetReason())
	for _, a := range ord.GetAttempts() {
		fmt.Fprintf(&b, "\n      attempt %s %s txn %s: %s %s %s %s, %d paise", a.GetAttemptId(), a.GetMethod(), a.GetTxnId(),
			a.GetTransactionAttemptStatus(), a.GetErrCode(), a.GetEdgeCase(), a.GetAction(), a.GetAmountCents())
	}
	for _, r := range ord.GetRefunds() {
		fmt.Fprintf(&b, "\n      refund %s of %s txn %s: %s %s, %d paise, %s", r.GetRefundId(), r.GetAttemptId(), r.GetTxnId(),
			r.GetRefundStatus(), r.GetErrCode(), r.GetAmountCents(), r.GetSource())
	}
	return b.String()
}

// checkWebhooks checks the webhooks of the settled network, once every
// undelivered one was resent to a calm endpoint: every request an
// endpoint got verified; every delivery is DELIVERED, and its endpoint
// answered its webhook-id 2xx exactly once, with the delivery's body;
// the endpoint got no webhook-id the PSP does not list; and each order's
// events are numbered 1, 2, ... without a gap.
func (s *sim) checkWebhooks(ctx context.Context, orders map[string]*merchantv1.Order) {
	for _, vpa := range laneMerchants {
		h := s.merch.hooks[vpa]
		h.mu.Lock()
		bad, ok, events := h.bad, h.ok, h.events
		h.mu.Unlock()
		for _, b := range bad {
			s.failf("%s", b)
		}
		listed := map[string]bool{}
		seqs := map[string][]int{}
		for _, d := range s.deliveries(ctx, vpa) {
			id := d.GetDeliveryId()
			listed[id] = true
			if d.GetStatus() != merchant.DeliveryDelivered {
				s.failf("webhook %s of %s (order %s) is %s after it was resent to a calm endpoint; attempts %v", id, vpa, d.GetOrderId(), d.GetStatus(), d.GetAttempts())
			}
			switch {
			case ok[id] != 1:
				s.failf("webhook %s of %s (order %s, %s) was answered 2xx %d times at its endpoint, want once", id, vpa, d.GetOrderId(), d.GetStatus(), ok[id])
			case events[id].raw != d.GetBody():
				s.failf("webhook %s of %s: the endpoint got %s, the PSP lists %s", id, vpa, events[id].raw, d.GetBody())
			}
			if ev, got := events[id]; got {
				n := ev.seq()
				if n < 1 || ev.Data.OrderID != d.GetOrderId() {
					s.failf("webhook %s of %s: sequence %q of order %q, delivered for order %s", id, vpa, ev.Data.Sequence, ev.Data.OrderID, d.GetOrderId())
				}
				seqs[d.GetOrderId()] = append(seqs[d.GetOrderId()], n)
			}
		}
		for id := range ok {
			if !listed[id] {
				s.failf("%s's endpoint got webhook %s, which the PSP does not list", vpa, id)
			}
		}
		for oid, ns := range seqs {
			sort.Ints(ns)
			for i, n := range ns {
				if n != i+1 {
					s.failf("order %s of %s: its webhooks have the sequences %v, want 1 to %d", oid, vpa, ns, len(ns))
					break
				}
			}
			if orders[oid] == nil {
				s.failf("%s's endpoint got webhooks of order %s, which ListOrders does not have", vpa, oid)
			}
		}
		for oid, ord := range orders {
			if ord.GetMerchantVpa() == vpa && len(seqs[oid]) == 0 && (len(ord.GetAttempts()) > 0 || ord.GetTransactionStatus() == merchant.TxnExpired) {
				s.failf("order %s of %s changed (%s), and its merchant heard nothing", oid, vpa, ord.GetTransactionStatus())
			}
		}
	}
}

// merchantSummary counts the orders by status and their attempts by
// status and action, and the endpoints' answers, for the run's log.
func (s *sim) merchantSummary(ctx context.Context) string {
	orders, attempts := map[string]int{}, map[string]int{}
	refunds := 0
	for _, ord := range s.allOrders(ctx) {
		orders[ord.GetTransactionStatus()]++
		for _, a := range ord.GetAttempts() {
			attempts[strings.TrimSpace(a.GetTransactionAttemptStatus()+" "+a.GetEdgeCase()+" "+a.GetAction())]++
		}
		refunds += len(ord.GetRefunds())
	}
	answers := map[int]int{}
	requests := 0
	for _, h := range s.merch.hooks {
		h.mu.Lock()
		for k, v := range h.answers {
			answers[k] += v
		}
		requests += h.requests
		h.mu.Unlock()
	}
	count := func(m map[string]int) string {
		var parts []string
		for _, k := range sortedKeys(m) {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprintf("%d orders (%s); attempts: %s; %d intent payments, %d declined ZE; %d refunds, %d calls refused as planned; webhooks: %d requests (200 %d, 500 %d, 410 %d, no answer %d)",
		len(s.plan.merchant.orders), count(orders), count(attempts), len(s.merch.intents), s.merch.blocked, refunds, s.merch.refused.Load(), requests,
		answers[hookOK], answers[hookError], answers[hookGone], answers[hookTimeout])
}
