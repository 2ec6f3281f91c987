package merchant

import (
	"fmt"
	"time"

	merchantv1 "github.com/upisim/upisim/gen/go/upisim/merchant/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/store"
)

// The records the merchant layer keeps (proto/upisim/records/v1).
type (
	order   = recordsv1.MerchantOrder
	attempt = recordsv1.MerchantAttempt
	refund  = recordsv1.MerchantRefund
)

// The collections status model (docs/FLOWS.md, "Merchant payments"):
// an order's transaction_status ...
const (
	TxnRequestUninitialized = "REQUEST_UNINITIALIZED"
	TxnPending              = "PENDING"
	TxnSuccess              = "SUCCESS"
	TxnFailed               = "FAILED"
	TxnExpired              = "EXPIRED"
	TxnDeemed               = "DEEMED"
	TxnDisputedAmount       = "DISPUTED_AMOUNT"
)

// ... an attempt's transaction_attempt_status (PENDING: not decided yet) ...
const (
	AttemptPending = "PENDING"
	AttemptSuccess = "SUCCESS"
	AttemptFailed  = "FAILED"
	AttemptDeemed  = "DEEMED"
	AttemptHold    = "HOLD"
)

// ... the action taken on an attempt ("" : not applicable) ...
const (
	ActionCaptured     = "CAPTURED"
	ActionReleased     = "RELEASED"
	ActionAutoRefunded = "AUTO_REFUNDED"
)

// ... and a refund's refund_status.
const (
	RefundInitiated = "REFUND_INITIATED"
	RefundFailed    = "REFUND_FAILED"
	RefundDone      = "REFUNDED"
)

// Why a SUCCESS payment is an edge case: it goes on HOLD, or is refunded
// at once when the order has auto_refund.
const (
	EdgePaidAfterExpiry  = "PAID_AFTER_EXPIRY"
	EdgeAmountMismatch   = "AMOUNT_MISMATCH"
	EdgeDuplicatePayment = "DUPLICATE_PAYMENT"
	EdgePaidAfterFailure = "PAID_AFTER_FAILURE"
)

// Where a refund comes from.
const (
	SourceMerchant   = "MERCHANT"
	SourceRelease    = "RELEASE"
	SourceAutoRefund = "AUTO_REFUND"
)

// Methods of an attempt.
const (
	MethodIntent  = "upi_intent"
	MethodCollect = "upi_collect"
	MethodUPI     = "upi"
	MethodLite    = "upi_lite"
	MethodLiteX   = "upi_lite_x"
)

// Webhook event types.
const (
	EventTransaction = "transaction.status"
	EventRefund      = "refund.status"
)

// changes is what one change of an order asks the layer to do in the same
// step: the webhook events (each a snapshot of the order when it
// happened), the refunds to send, and the HOLD timers to set or cancel.
type changes struct {
	events     []*merchantv1.WebhookEvent
	refunds    []*refund
	holds      []*attempt
	holdsEnded []*attempt
	// retries are failed refunds the PSP made itself (a RELEASE, an
	// auto-refund), to try again on merchant.refund_retry.
	retries []*refund
}

// model applies the status model to one order at time now.
type model struct {
	o   *order
	now time.Time
	// holdFor is how long a HOLD waits for the merchant (network file:
	// merchant.hold_capture).
	holdFor time.Duration
	// newID draws the id of a refund the model starts.
	newID func(prefix string) string
	changes
}

func (m *model) nanos() int64 { return store.Nanos(m.now) }

func (m *model) find(attemptID string) *attempt {
	for _, a := range m.o.Attempts {
		if a.AttemptId == attemptID {
			return a
		}
	}
	return nil
}

// blockedBy is the DEEMED attempt that stops the order taking another
// payment (seed 002: "once a transaction attempt is marked as DEEMED, we
// will not allow any further payments"), or nil.
func (m *model) blockedBy() *attempt {
	for _, a := range m.o.Attempts {
		if a.Status == AttemptDeemed {
			return a
		}
	}
	return nil
}

// start adds a new attempt, PENDING. An order with a DEEMED attempt
// takes none.
func (m *model) start(a *attempt) error {
	if d := m.blockedBy(); d != nil {
		return fmt.Errorf("order %s has a DEEMED attempt (%s): it takes no further payment until that one is decided", m.o.OrderId, d.AttemptId)
	}
	a.Status, a.Created, a.Updated = AttemptPending, m.nanos(), m.nanos()
	m.o.Attempts = append(m.o.Attempts, a)
	if m.o.Status == TxnRequestUninitialized {
		m.setStatus(TxnPending, "a new attempt")
	}
	return nil
}

func (m *model) setStatus(s, reason string) {
	m.o.Status, m.o.Reason, m.o.Updated = s, reason, m.nanos()
}

// deemed: the payment of a is DEEMED (its credit unconfirmed); the order
// is DEEMED until the network decides it.
func (m *model) deemed(a *attempt) {
	if a.Status != AttemptPending {
		return
	}
	a.Status, a.Updated = AttemptDeemed, m.nanos()
	if m.o.Status == TxnPending {
		m.setStatus(TxnDeemed, "attempt "+a.AttemptId+" is DEEMED: its credit is not confirmed yet")
	}
	m.event(EventTransaction, a, nil)
}

// failed: a's payment ended FAILURE with code. Without auto_retry the
// order is FAILED; with it the order waits for another attempt, except
// after a DEEMED attempt, which ends the order EXPIRED (seed 002, Deemed).
// A payment request the network never registered (notRegistered: the
// switch refused the order's collect, U07, or found no payer, U29)
// leaves an order with no other attempt REQUEST_UNINITIALIZED: the
// merchant may call again.
func (m *model) failed(a *attempt, code string, notRegistered bool) {
	if a.Status != AttemptPending && a.Status != AttemptDeemed {
		return
	}
	wasDeemed := a.Status == AttemptDeemed
	a.Status, a.ErrCode, a.Updated = AttemptFailed, code, m.nanos()
	switch {
	case notRegistered && m.o.Status == TxnPending && len(m.o.Attempts) == 1:
		m.setStatus(TxnRequestUninitialized, "the collect request could not be registered ("+code+"): call again")
	case wasDeemed && m.o.Status == TxnDeemed && m.o.AutoRetry:
		m.setStatus(TxnExpired, "the DEEMED attempt "+a.AttemptId+" failed ("+code+")")
	case wasDeemed && m.o.Status == TxnDeemed:
		m.setStatus(TxnFailed, "the DEEMED attempt "+a.AttemptId+" failed ("+code+") and the order has no auto-retry")
	case m.o.Status == TxnPending && !m.o.AutoRetry:
		m.setStatus(TxnFailed, "attempt "+a.AttemptId+" failed ("+code+") and the order has no auto-retry")
	}
	m.event(EventTransaction, a, nil)
}

// paid: a's payment ended SUCCESS, amount credited to the merchant. A
// payment the order expected makes it SUCCESS. An edge case (paid after
// expiry, the wrong amount, a second payment, paid after a failure
// without auto_retry) goes on HOLD, or with auto_refund stays SUCCESS
// and is refunded at once, the order then SUCCESS (seed 002).
func (m *model) paid(a *attempt, amount int64, rrn string) {
	if a.Status != AttemptPending && a.Status != AttemptDeemed {
		return
	}
	// When the credit happened: a DEEMED attempt's, when it was deemed;
	// an offline (Lite) payment's, when the merchant's device reported it
	// (or, never reported, when its record was posted).
	at := m.nanos()
	switch {
	case a.Status == AttemptDeemed:
		at = a.Updated
	case isLite(a.Method) && a.Created != 0:
		at = a.Created
	}
	prior := m.o.Status
	if prior == TxnDeemed {
		prior = TxnPending
	}
	a.AmountPaise, a.Rrn, a.Updated = amount, rrn, m.nanos()
	edge := ""
	switch {
	case m.otherPaid(a):
		edge = EdgeDuplicatePayment
	case amount != m.o.AmountPaise:
		edge = EdgeAmountMismatch
	case prior == TxnExpired && !(isLite(a.Method) && at < m.o.Expires) || at >= m.o.Expires:
		edge = EdgePaidAfterExpiry
	case prior == TxnFailed || prior == TxnRequestUninitialized && m.hasFailed(a):
		edge = EdgePaidAfterFailure
	}
	a.EdgeCase = edge
	if edge == "" {
		a.Status = AttemptSuccess
		m.setStatus(TxnSuccess, "attempt "+a.AttemptId+" paid")
		m.event(EventTransaction, a, nil)
		return
	}
	// The order's status while the edge case is open.
	switch edge {
	case EdgeAmountMismatch:
		m.setStatus(TxnDisputedAmount, fmt.Sprintf("attempt %s paid %d paise of %d", a.AttemptId, amount, m.o.AmountPaise))
	case EdgePaidAfterExpiry:
		if m.o.Status != TxnExpired {
			m.setStatus(TxnExpired, "attempt "+a.AttemptId+" paid after the order expired")
		}
	case EdgePaidAfterFailure:
		if m.o.Status != TxnFailed {
			m.setStatus(TxnFailed, "attempt "+a.AttemptId+" paid after a failed attempt, without auto-retry")
		}
	}
	if !m.o.AutoRefund {
		a.Status, a.HoldUntil = AttemptHold, store.Nanos(m.now.Add(m.holdFor))
		m.holds = append(m.holds, a)
		m.event(EventTransaction, a, nil)
		return
	}
	a.Status = AttemptSuccess
	m.event(EventTransaction, a, nil)
	a.Action = ActionAutoRefunded
	m.startRefund(a, a.AmountPaise, SourceAutoRefund, "auto-refund: "+edge)
	m.settled(a, "auto-refunded")
}

// settled: the money of edge-case attempt a is captured or on its way
// back; the order's terminal status is SUCCESS (seed 002: "if the funds
// against a transaction attempt are settled or refunded, the terminal
// status will always be SUCCESS").
func (m *model) settled(a *attempt, how string) {
	if m.o.Status != TxnSuccess {
		m.setStatus(TxnSuccess, "attempt "+a.AttemptId+" "+how)
	}
	m.event(EventTransaction, a, nil)
}

func (m *model) otherPaid(a *attempt) bool {
	for _, b := range m.o.Attempts {
		if b != a && (b.Status == AttemptSuccess || b.Status == AttemptHold) {
			return true
		}
	}
	return false
}

func (m *model) hasFailed(a *attempt) bool {
	for _, b := range m.o.Attempts {
		if b != a && b.Status == AttemptFailed {
			return true
		}
	}
	return false
}

// act is the merchant's CAPTURE or RELEASE of an attempt on HOLD, or the
// capture when the HOLD has waited holdFor (auto).
func (m *model) act(a *attempt, action string) error {
	if a.Status != AttemptHold {
		return fmt.Errorf("attempt %s is %s, not on HOLD: only a HOLD attempt can be captured or released", a.AttemptId, a.Status)
	}
	a.Status, a.HoldUntil, a.Updated = AttemptSuccess, 0, m.nanos()
	m.holdsEnded = append(m.holdsEnded, a)
	switch action {
	case "CAPTURE":
		a.Action = ActionCaptured
		m.settled(a, "captured")
	case "RELEASE":
		a.Action = ActionReleased
		m.startRefund(a, a.AmountPaise, SourceRelease, "released: "+a.EdgeCase)
		m.settled(a, "released")
	default:
		return fmt.Errorf("action must be CAPTURE or RELEASE, not %q", action)
	}
	return nil
}

// expire: the order's time is up. An order still waiting for a payment
// is EXPIRED; one DEEMED waits for the network's decision.
func (m *model) expire() {
	if m.o.Status != TxnPending && m.o.Status != TxnRequestUninitialized {
		return
	}
	m.setStatus(TxnExpired, "the order expired without a payment")
	m.event(EventTransaction, nil, nil)
}

// refundable is what is left to refund of a: its amount less the refunds
// not FAILED. Only a SUCCESS attempt not released or auto-refunded can be
// refunded.
func (m *model) refundable(a *attempt) (int64, error) {
	switch {
	case a.Status != AttemptSuccess:
		return 0, fmt.Errorf("attempt %s is %s: only a SUCCESS attempt can be refunded", a.AttemptId, a.Status)
	case a.Action == ActionReleased || a.Action == ActionAutoRefunded:
		return 0, fmt.Errorf("attempt %s was %s: its money has gone back to the payer already", a.AttemptId, a.Action)
	}
	left := a.AmountPaise
	for _, r := range m.o.Refunds {
		if r.AttemptId == a.AttemptId && r.Status != RefundFailed {
			left -= r.AmountPaise
		}
	}
	return left, nil
}

// refundFor is the merchant's refund of amount from attempt a (or from
// the order's one refundable attempt when a is nil).
func (m *model) refundFor(a *attempt, amount int64, note string) (*refund, error) {
	if a == nil {
		var cands []*attempt
		for _, b := range m.o.Attempts {
			if _, err := m.refundable(b); err == nil {
				cands = append(cands, b)
			}
		}
		switch len(cands) {
		case 0:
			return nil, fmt.Errorf("order %s has no attempt to refund: none is SUCCESS and not RELEASED or AUTO_REFUNDED", m.o.OrderId)
		case 1:
			a = cands[0]
		default:
			return nil, fmt.Errorf("order %s has %d SUCCESS attempts: give attempt_id", m.o.OrderId, len(cands))
		}
	}
	left, err := m.refundable(a)
	if err != nil {
		return nil, err
	}
	if amount > left {
		return nil, fmt.Errorf("amount_cents %d is more than is left to refund of attempt %s (%d)", amount, a.AttemptId, left)
	}
	return m.startRefund(a, amount, SourceMerchant, note), nil
}

func (m *model) startRefund(a *attempt, amount int64, source, note string) *refund {
	r := &refund{
		RefundId: m.newID("RFD"), AttemptId: a.AttemptId, Status: RefundInitiated, AmountPaise: amount,
		Source: source, Note: note, Created: m.nanos(), Updated: m.nanos(),
	}
	m.o.Refunds = append(m.o.Refunds, r)
	m.refunds = append(m.refunds, r)
	m.event(EventRefund, a, r)
	return r
}

// refunded: a refund's payment ended.
func (m *model) refunded(r *refund, ok bool, code, rrn string) {
	if r.Status != RefundInitiated {
		return
	}
	r.Status, r.ErrCode, r.Rrn, r.Updated = RefundFailed, code, rrn, m.nanos()
	if ok {
		r.Status, r.ErrCode = RefundDone, ""
	} else if r.Source != SourceMerchant {
		m.retries = append(m.retries, r)
	}
	m.event(EventRefund, m.find(r.AttemptId), r)
}

// failedTries is how many refunds of r's attempt from r's source failed.
func (m *model) failedTries(r *refund) int {
	n := 0
	for _, x := range m.o.Refunds {
		if x.AttemptId == r.AttemptId && x.Source == r.Source && x.Status == RefundFailed {
			n++
		}
	}
	return n
}

// retry is the new try of r, a failed refund the PSP made itself: a
// refund of the same amount, unless one after r is already under way or
// done.
func (m *model) retry(r *refund) {
	if r.Status != RefundFailed || r.Source == SourceMerchant {
		return
	}
	for _, x := range m.o.Refunds {
		if x != r && x.AttemptId == r.AttemptId && x.Source == r.Source && x.Status != RefundFailed {
			return
		}
	}
	m.startRefund(m.find(r.AttemptId), r.AmountPaise, r.Source, r.Note)
}

// terminal reports whether no later event changes the order's attempts.
func (m *model) terminal() bool {
	switch m.o.Status {
	case TxnSuccess, TxnFailed, TxnExpired:
	default:
		return false
	}
	for _, a := range m.o.Attempts {
		switch a.Status {
		case AttemptPending, AttemptDeemed, AttemptHold:
			return false
		}
	}
	return true
}

// event records a webhook event: the order as it is now, about attempt a
// and refund r (either may be nil).
func (m *model) event(typ string, a *attempt, r *refund) {
	m.o.Sequence++
	d := &merchantv1.WebhookData{
		OrderId: m.o.OrderId, MerchantVpa: m.o.MerchantVpa, TransactionStatus: m.o.Status,
		Sequence: m.o.Sequence, AmountCents: m.o.AmountPaise,
	}
	if a != nil {
		d.AttemptId, d.TransactionAttemptStatus, d.Action = a.AttemptId, a.Status, a.Action
		d.AmountCents, d.PayerVpa, d.Rrn, d.ErrCode, d.EdgeCase = a.AmountPaise, a.PayerVpa, a.Rrn, a.ErrCode, a.EdgeCase
	}
	d.Terminal = m.terminal()
	if r != nil {
		d.RefundId, d.RefundStatus, d.RefundAmountCents = r.RefundId, r.Status, r.AmountPaise
		d.Terminal = r.Status != RefundInitiated
	}
	m.events = append(m.events, &merchantv1.WebhookEvent{Type: typ, Timestamp: m.now.UTC().Format(time.RFC3339Nano), Data: d})
}
