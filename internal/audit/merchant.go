package audit

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	merchantv1 "github.com/upisim/upisim/gen/go/upisim/merchant/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/upi"
)

// The merchant layer (docs/FLOWS.md, "Merchant payments"): each PSP's
// orders, read through MerchantAdminService.ListOrders after the switch's
// first listing and before its second (as the PSPs' records are), checked
// against the switch's transactions and against themselves.

// Merchant layer values (merchant/model.go), as ListOrders shows them.
const (
	attemptSuccess, attemptFailed, attemptDeemed, attemptHold, attemptPending = "SUCCESS", "FAILED", "DEEMED", "HOLD", "PENDING"
	actionReleased, actionAutoRefunded                                        = "RELEASED", "AUTO_REFUNDED"
	refundFailed, refundDone, refundInitiated                                 = "REFUND_FAILED", "REFUNDED", "REFUND_INITIATED"
	sourceRelease, sourceAutoRefund                                           = "RELEASE", "AUTO_REFUND"
)

func init() { Register(Check{Name: "merchant orders", Run: (*Auditor).merchantOrders}) }

// readOrders reads every order of PSP nd's merchant layer, a page at a
// time. A PSP that does not serve MerchantAdminService (an older upisim)
// gives a note instead.
func readOrders(ctx context.Context, c Source, nd config.NodeAddr) (orders []*merchantv1.Order, note string, err error) {
	m, err := c.MerchantAdmin(nd.Name)
	if err != nil {
		return nil, "", err
	}
	after := ""
	for {
		r, err := m.ListOrders(ctx, &merchantv1.ListOrdersRequest{After: after, Limit: 1000})
		if status.Code(err) == codes.Unimplemented {
			return nil, fmt.Sprintf("node %s does not list merchant orders (%s): its merchant layer was not checked", nd.Name, status.Convert(err).Message()), nil
		}
		if err != nil {
			return nil, "", nodeError(nd, err)
		}
		orders = append(orders, r.GetOrders()...)
		if r.GetNext() == "" {
			return orders, "", nil
		}
		if r.GetNext() <= after {
			return nil, "", fmt.Errorf("node %s: ListOrders went back from %q to %q", nd.Name, after, r.GetNext())
		}
		after = r.GetNext()
	}
}

// merchantAccount is a merchant's account at its bank.
type merchantAccount struct {
	vpa, bank, acNum string
}

// merchantAccounts maps "bank\x00account" to the merchant it belongs to,
// for every merchant some PSP has an order of. (Merchants are known only
// by their orders: one with none is not named.)
func (s *snapshot) merchantAccounts() map[string]merchantAccount {
	vpas := map[string]bool{}
	for _, os := range s.orders {
		for _, o := range os {
			vpas[ids.NormalizeVPA(o.GetMerchantVpa())] = true
		}
	}
	out := map[string]merchantAccount{}
	for _, b := range s.banks {
		for _, ac := range b.accounts {
			if v := ids.NormalizeVPA(ac.GetVpa()); v != "" && vpas[v] {
				out[b.name+"\x00"+ac.GetAcNum()] = merchantAccount{vpa: v, bank: b.name, acNum: ac.GetAcNum()}
			}
		}
	}
	return out
}

// merchantOrders runs the merchant layer's checks over every PSP's
// orders.
func (a *Auditor) merchantOrders() {
	a.res.Notes = append(a.res.Notes, a.orderNotes...)
	for _, psp := range slices.Sorted(maps.Keys(a.orders)) {
		for _, o := range a.orders[psp] {
			for _, at := range o.GetAttempts() {
				a.attemptAgrees(psp, o, at)
				a.holdOverdue(psp, o, at)
				a.refundAction(psp, o, at)
			}
			for _, r := range o.GetRefunds() {
				a.refundAgrees(psp, o, r)
			}
		}
	}
	a.merchantLegs()
}

// settling: a record changed within MaxAge is still on its way.
func (a *Auditor) settling(updated *timestamppb.Timestamp) bool {
	return updated != nil && a.now.Sub(updated.AsTime()) <= a.maxAge
}

func attemptName(psp string, o *merchantv1.Order, at *merchantv1.Attempt) string {
	return fmt.Sprintf("order %s of merchant %s at %s: attempt %s (%s, %s)", o.GetOrderId(), o.GetMerchantVpa(), psp, at.GetAttemptId(), orDash(at.GetMethod()), upi.FormatRupeesIndian(at.GetAmountCents()))
}

// attemptAgrees checks an attempt with a txn id against the switch's
// transaction, as listed after every other node.
func (a *Auditor) attemptAgrees(psp string, o *merchantv1.Order, at *merchantv1.Attempt) {
	id := at.GetTxnId()
	if id == "" || a.settling(at.GetUpdatedAt()) {
		return // an unverified /upi-attempts attempt, or one in flight
	}
	name, st := attemptName(psp, o, at), at.GetTransactionAttemptStatus()
	t := a.after[id]
	bad := func(format string, args ...any) {
		a.add(ViolationMerchantMismatch, id, psp, "%s is %s, but "+format, append([]any{name, st}, args...)...)
	}
	switch st {
	case attemptSuccess, attemptHold:
		switch {
		case t == nil:
			bad("the switch has no record of its transaction %s", id)
		case t.GetType() != upiv1.Txn_PAY && t.GetType() != upiv1.Txn_COLLECT:
			bad("its transaction is a %s at the switch (%s), no payment to the merchant", t.GetType(), describe(t))
		case t.GetStatus() != upiv1.Resp_SUCCESS:
			bad("%s is %s at the switch", describe(t), outcome(t.GetStatus(), t.GetErrCode()))
		case t.GetAmountPaise() != at.GetAmountCents():
			bad("its transaction at the switch is of another amount: %s", describe(t))
		case ids.NormalizeVPA(t.GetPayeeVpa()) != ids.NormalizeVPA(o.GetMerchantVpa()):
			bad("the switch's %s paid %s, not the merchant", describe(t), orDash(t.GetPayeeVpa()))
		}
	case attemptFailed:
		// U07: the switch refused the request, and the id may be another
		// payment's there.
		if t != nil && t.GetStatus() == upiv1.Resp_SUCCESS && at.GetErrCode() != upi.CodeRefused {
			bad("%s is SUCCESS at the switch", describe(t))
		}
	case attemptDeemed, attemptPending:
		// A decided payment reaches its payee PSP within MaxAge (the
		// switch's NOT_CLOSED), and the layer applies it in the same step.
		if t == nil || !upi.Final(t.GetStatus()) || (st == attemptPending && t.GetPayeePsp() != psp) {
			return
		}
		if decided := t.GetUpdated().AsTime(); a.now.Sub(decided) > a.maxAge {
			bad("%s is %s at the switch since %s", describe(t), outcome(t.GetStatus(), t.GetErrCode()), decided.Format(time.RFC3339))
		}
	}
}

// holdOverdue checks that a HOLD is acted on by its hold_until.
func (a *Auditor) holdOverdue(psp string, o *merchantv1.Order, at *merchantv1.Attempt) {
	if at.GetTransactionAttemptStatus() != attemptHold {
		return
	}
	until := at.GetHoldUntil()
	if until == nil {
		a.add(ViolationMerchantHoldOverdue, at.GetTxnId(), psp, "%s is on HOLD (%s) with no hold_until: nothing will capture it", attemptName(psp, o, at), orDash(at.GetEdgeCase()))
		return
	}
	if late := a.now.Sub(until.AsTime()); late > a.maxAge {
		a.add(ViolationMerchantHoldOverdue, at.GetTxnId(), psp, "%s is still on HOLD (%s) %s after its hold_until %s, past --max-age %s: the PSP's timer did not capture it",
			attemptName(psp, o, at), orDash(at.GetEdgeCase()), late.Round(time.Second), until.AsTime().Format(time.RFC3339), a.maxAge)
	}
}

// refundAction checks an attempt's refunds: RELEASED and AUTO_REFUNDED
// have a refund of that source for the whole amount (not REFUND_FAILED),
// and the refunds not REFUND_FAILED do not exceed the attempt.
func (a *Auditor) refundAction(psp string, o *merchantv1.Order, at *merchantv1.Attempt) {
	var mine []*merchantv1.Refund
	var total int64
	for _, r := range o.GetRefunds() {
		if r.GetAttemptId() != at.GetAttemptId() {
			continue
		}
		mine = append(mine, r)
		if r.GetRefundStatus() != refundFailed {
			total += r.GetAmountCents()
		}
	}
	name := attemptName(psp, o, at)
	if total > at.GetAmountCents() {
		a.add(ViolationMerchantRefundAction, at.GetTxnId(), psp, "%s has refunds not REFUND_FAILED adding up to %s, more than the attempt (%s)", name, upi.FormatRupeesIndian(total), refundList(mine))
	}
	want := ""
	switch at.GetAction() {
	case actionReleased:
		want = sourceRelease
	case actionAutoRefunded:
		want = sourceAutoRefund
	default:
		return
	}
	for _, r := range mine {
		if r.GetSource() == want && r.GetAmountCents() == at.GetAmountCents() && r.GetRefundStatus() != refundFailed {
			return
		}
	}
	a.add(ViolationMerchantRefundAction, at.GetTxnId(), psp, "%s is %s, but it has no refund of source %s for its whole amount that did not fail (%s)", name, at.GetAction(), want, refundList(mine))
}

func refundList(rs []*merchantv1.Refund) string {
	if len(rs) == 0 {
		return "it has no refund"
	}
	var s []string
	for _, r := range rs {
		s = append(s, fmt.Sprintf("refund %s %s %s %s", r.GetRefundId(), orDash(r.GetSource()), upi.FormatRupeesIndian(r.GetAmountCents()), r.GetRefundStatus()))
	}
	return strings.Join(s, ", ")
}

// refundAgrees checks a refund that has a txn id against its REFUND at
// the switch.
func (a *Auditor) refundAgrees(psp string, o *merchantv1.Order, r *merchantv1.Refund) {
	id := r.GetTxnId()
	if id == "" || a.settling(r.GetUpdatedAt()) {
		return
	}
	var at *merchantv1.Attempt
	for _, x := range o.GetAttempts() {
		if x.GetAttemptId() == r.GetAttemptId() {
			at = x
		}
	}
	st := r.GetRefundStatus()
	name := fmt.Sprintf("order %s of merchant %s at %s: refund %s (%s, %s) of attempt %s", o.GetOrderId(), o.GetMerchantVpa(), psp, r.GetRefundId(), orDash(r.GetSource()), upi.FormatRupeesIndian(r.GetAmountCents()), orDash(r.GetAttemptId()))
	bad := func(format string, args ...any) {
		a.add(ViolationMerchantMismatch, id, psp, "%s is %s, but "+format, append([]any{name, st}, args...)...)
	}
	t := a.after[id]
	if st == refundFailed {
		if t != nil && t.GetStatus() == upiv1.Resp_SUCCESS && r.GetErrCode() != upi.CodeRefused {
			bad("%s is SUCCESS at the switch", describe(t))
		}
		return
	}
	switch {
	case t == nil && st == refundDone:
		bad("the switch has no record of its transaction %s", id)
	case t == nil:
		return // on its way to the switch
	case t.GetType() != upiv1.Txn_REFUND:
		bad("its transaction is a %s at the switch (%s), no REFUND", t.GetType(), describe(t))
	case at == nil:
		bad("the order has no attempt %s", r.GetAttemptId())
	case at.GetTxnId() == "" && t.GetOrgTxnId() == "" && !strings.EqualFold(t.GetOrgRrn(), at.GetRrn()):
		// An offline Lite payment has no txn id: its refund names its UTR.
		bad("the switch's %s refunds UTR %s, not the attempt's %s", describe(t), orDash(t.GetOrgRrn()), orDash(at.GetRrn()))
	case t.GetOrgTxnId() != at.GetTxnId():
		bad("the switch's %s refunds %s, not the attempt's transaction %s", describe(t), orDash(t.GetOrgTxnId()), orDash(at.GetTxnId()))
	case t.GetAmountPaise() != r.GetAmountCents():
		bad("its transaction at the switch is of another amount: %s", describe(t))
	case st == refundDone && t.GetStatus() != upiv1.Resp_SUCCESS:
		bad("%s is %s at the switch", describe(t), outcome(t.GetStatus(), t.GetErrCode()))
	case st == refundInitiated && upi.Final(t.GetStatus()) && a.now.Sub(t.GetUpdated().AsTime()) > a.maxAge:
		bad("%s is %s at the switch since %s", describe(t), outcome(t.GetStatus(), t.GetErrCode()), t.GetUpdated().AsTime().Format(time.RFC3339))
	}
}

// merchantLegs checks that the switch moves a merchant's money through
// its account and only its: every SUCCESS credit to a merchant credits
// its account, every SUCCESS debit from it (a refund, a payment) debits
// it, and no leg on its account is of a transaction it is no party to.
func (a *Auditor) merchantLegs() {
	accts := a.merchantAccounts()
	if len(accts) == 0 {
		return
	}
	byVPA := map[string]merchantAccount{}
	for _, m := range accts {
		byVPA[m.vpa] = m
	}
	acct := func(bank, ac string) string {
		if v := a.accountVPA(bank, ac); v != "" {
			return fmt.Sprintf("%s (%s) at %s", ac, v, bank)
		}
		return ac + " at " + bank
	}
	for _, id := range slices.Sorted(maps.Keys(a.after)) {
		t := a.after[id]
		if !isPayment(t) {
			continue
		}
		payee, payer := byVPA[ids.NormalizeVPA(t.GetPayeeVpa())], byVPA[ids.NormalizeVPA(t.GetPayerVpa())]
		for _, l := range t.GetLegs() {
			m, onMerchant := accts[l.GetBank()+"\x00"+l.GetAcNum()]
			party := payer
			if l.GetType() == upiv1.Txn_CREDIT {
				party = payee
			}
			switch {
			case party.vpa != "" && t.GetStatus() == upiv1.Resp_SUCCESS && (l.GetBank() != party.bank || l.GetAcNum() != party.acNum):
				a.add(ViolationMerchantBalance, id, l.GetBank(), "%s is SUCCESS at the switch, but its %s of merchant %s names account %s, not the merchant's %s",
					describe(t), l.GetType(), party.vpa, acct(l.GetBank(), l.GetAcNum()), acct(party.bank, party.acNum))
			case onMerchant && party.vpa != m.vpa:
				side := "payer"
				if l.GetType() == upiv1.Txn_CREDIT {
					side = "payee"
				}
				a.add(ViolationMerchantBalance, id, l.GetBank(), "the switch sent %s a %s of %s on merchant %s's account %s, but the merchant is not its %s",
					l.GetBank(), l.GetType(), describe(t), m.vpa, l.GetAcNum(), side)
			}
		}
	}
}

// accountVPA is the VPA of account ac at bank, "" when it has none.
func (s *snapshot) accountVPA(bank, ac string) string {
	for _, b := range s.banks {
		if b.name != bank {
			continue
		}
		for _, x := range b.accounts {
			if x.GetAcNum() == ac {
				return x.GetVpa()
			}
		}
	}
	return ""
}
