package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/fault"
	"github.com/upisim/upisim/internal/node"
)

// The merchant part of the plan (docs/FLOWS.md, "Merchant payments"):
// orders of chai@beta and of the magic deemedshop@beta and lostshop@beta,
// each with auto_refund and auto_retry drawn from the seed, paid by intent
// (a PAY whose txn.ref_id is the order id) or by the order's collect, some
// late, some twice, some with the wrong amount or a wrong PIN; HOLDs
// captured, released or left to the PSP's timer; refunds in part or in
// full, and over-refunds the API must refuse (FailedPrecondition). Each
// order is a lane: its steps one after another, the lanes at once.
//
// Unlike the Circle lanes, an order's outcome is not predicted step by
// step (a DEEMED credit's timing decides whether a second payment is
// declined ZE); it is checked at the end against the rules of the status
// model (merchant_sim_test.go, checkOrders), with the money and the
// webhooks. Like the Circle lanes, they start after the last restart, and
// their messages get only faults that change no outcome: short delays,
// failed sends, lost acks and duplicates (merchantFault).

// The merchants of the lanes and their payers: users of their own, with
// money enough for every order, so that no payment fails for want of it.
var (
	laneMerchants  = []string{"chai@beta", "deemedshop@beta", "lostshop@beta"}
	merchantPayers = []string{"mpayer@alpha", "mpayer@beta"}
)

// merchantPayerBalance is the opening balance of each merchant payer.
const merchantPayerBalance = 5000000 // ₹50,000

// How an order is paid.
const (
	payIntent       = "intent"                     // pay the intent
	payIntentRetry  = "wrong PIN, then the intent" // FAILED, then paid (auto_retry decides the edge)
	payWrongAmount  = "intent with another amount" // AMOUNT_MISMATCH
	payTwice        = "intent twice"               // DUPLICATE_PAYMENT
	payLate         = "intent after expiry"        // PAID_AFTER_EXPIRY
	payCollect      = "collect, approved"          // the payer approves
	payCollectNo    = "collect, declined"          // ZA
	payCollectPIN   = "collect, wrong PIN"         // ZM
	payCollectLate  = "collect after expiry"       // refused FailedPrecondition; then a late intent
	payCollectThen  = "collect declined, then pay" // FAILED, then paid by intent
	payNone         = "never paid"                 // EXPIRED
	payDeemedTwice  = "intent, again while DEEMED" // the second is declined ZE if the first is still DEEMED
	refundNone      = ""
	refundPart      = "part"    // a part, then more than is left: FailedPrecondition
	refundFull      = "full"    // all of it, then 1 paisa more: FailedPrecondition
	actLeave        = ""        // the PSP's timer captures it (merchant.hold_capture)
	actCapture      = "CAPTURE" //
	actRelease      = "RELEASE" // refunded, source RELEASE
	merchantHoldFor = 2500 * time.Millisecond
)

// payKinds are the ways chai@beta's orders are paid; the magic merchants'
// are paid by intent (once, or twice).
var payKinds = []string{payIntent, payIntentRetry, payWrongAmount, payTwice, payLate, payCollect, payCollectNo,
	payCollectPIN, payCollectLate, payCollectThen, payNone}

// orderPlan is one order of the plan and how it is paid and treated.
type orderPlan struct {
	idx                   int
	merchant, payer       string
	amount                int64
	autoRefund, autoRetry bool
	// expiry is its expires_in_seconds; start when its lane begins.
	expiry int64
	start  time.Duration
	pay    string
	// act is what the merchant does with a HOLD; refund what it refunds of
	// a SUCCESS attempt.
	act, refund string
}

// note is the txn.note of the order's payments, collects and refunds
// (and its description).
func (o *orderPlan) note() string { return "merch#" + strconv.Itoa(o.idx) }

func (o *orderPlan) String() string {
	s := fmt.Sprintf("order %d: %s, %d paise from %s, %s, expires in %ds, auto_refund %t, auto_retry %t",
		o.idx, o.merchant, o.amount, o.payer, o.pay, o.expiry, o.autoRefund, o.autoRetry)
	if o.act != actLeave {
		s += ", a HOLD: " + o.act
	}
	if o.refund != refundNone {
		s += ", refund: " + o.refund
	}
	return s
}

// merchantPlan is the merchant part of a run.
type merchantPlan struct {
	start  time.Duration
	orders []*orderPlan
}

// merchantOrders is how many orders a run of flows has.
func merchantOrders(flows int) int { return max(24, flows/10) }

// newMerchantPlan draws n orders of seed, to start after `after`.
func newMerchantPlan(seed int64, n int, after time.Duration) *merchantPlan {
	mp := &merchantPlan{start: after}
	for i := range n {
		r := rngFor(seed, "order", strconv.Itoa(i))
		o := &orderPlan{
			idx: i, merchant: laneMerchants[0], payer: merchantPayers[r.IntN(len(merchantPayers))],
			amount: 100 + r.Int64N(50000), autoRefund: r.IntN(2) == 0, autoRetry: r.IntN(2) == 0,
			expiry: 2 + r.Int64N(3), start: after + time.Duration(r.Int64N(int64(1500*time.Millisecond))),
		}
		switch x := r.IntN(100); {
		case x < 10:
			o.merchant = laneMerchants[1]
		case x < 20:
			o.merchant = laneMerchants[2]
		}
		// The first orders cover every way of paying, the others draw one.
		o.pay = payKinds[r.IntN(len(payKinds))]
		if i < len(payKinds) {
			o.pay = payKinds[i]
		}
		if o.merchant != laneMerchants[0] {
			o.pay = payIntent
			if r.IntN(2) == 0 {
				o.pay = payDeemedTwice
			}
		}
		switch o.pay {
		case payLate, payCollectLate:
			o.expiry = 1
		}
		o.act = []string{actLeave, actCapture, actRelease}[r.IntN(3)]
		o.refund = []string{refundNone, refundPart, refundFull}[r.IntN(3)]
		mp.orders = append(mp.orders, o)
	}
	return mp
}

// branches names what the merchant plan covers, for TestPlanCoversTheBranches.
func (mp *merchantPlan) branches() map[string]bool {
	seen := map[string]bool{}
	for _, o := range mp.orders {
		seen["pay "+o.pay] = true
		seen["merchant "+o.merchant] = true
		seen["act "+o.act] = true
		seen["refund "+o.refund] = true
		seen[fmt.Sprintf("auto_refund %t", o.autoRefund)] = true
		seen[fmt.Sprintf("auto_retry %t", o.autoRetry)] = true
	}
	return seen
}

// merchantOf reads an order's index back from a txn.note.
func merchantOf(note string) (int, bool) {
	s, ok := strings.CutPrefix(note, "merch#")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil
}

// merchantFault is the fault of a message of an order's payment, collect
// or refund: a short delay, failed sends, lost acks or a duplicate, which
// change no outcome; never a drop or a long delay. It depends on the order
// and the message's kind only.
func (p *plan) merchantFault(idx int, from string, o node.Outbound) fault.Fault {
	t := o.Msg.GetTxn()
	kind := o.API + "/" + t.GetType().String() + "/" + t.GetSubType().String()
	h := mix(p.seed, "merchant fault", strconv.Itoa(idx), kind, from, o.To)
	var f fault.Fault
	if h%100 < 15 {
		f.Delay = time.Duration(1+(h>>8)%uint64(maxDelay/time.Millisecond)) * time.Millisecond
	}
	if (h>>20)%100 < 8 {
		f.FailSends = 1 + int((h>>28)%2)
	}
	if (h>>32)%100 < 8 {
		f.LoseAcks = 1
	}
	if (h>>44)%100 < 8 {
		f.Duplicate = true
	}
	if !f.IsZero() {
		f.Rule = "sim"
	}
	p.stats.observe(from, o, f)
	return f
}

// merchantConfig adds to cfg what the merchant lanes need: their payers,
// a short hold_capture (a HOLD left alone is captured within the run) and
// a short webhook retry schedule.
func merchantConfig(cfg *config.Network) {
	cfg.Users = append(cfg.Users,
		config.User{VPA: merchantPayers[0], Name: "Merchant Payer A", Bank: "abank", Account: "1000000851", Balance: merchantPayerBalance, PIN: goodPIN},
		config.User{VPA: merchantPayers[1], Name: "Merchant Payer B", Bank: "bbank", Account: "2000000851", Balance: merchantPayerBalance, PIN: goodPIN},
	)
	cfg.Merchant.HoldCapture = merchantHoldFor
	cfg.Merchant.WebhookRetry = []time.Duration{20 * time.Millisecond, 60 * time.Millisecond, 150 * time.Millisecond, 300 * time.Millisecond}
	cfg.Merchant.RefundRetry = []time.Duration{20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond}
}
