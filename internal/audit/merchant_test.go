package audit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	merchantv1 "github.com/upisim/upisim/gen/go/upisim/merchant/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
)

// merchantCase is the default network with alice holding ₹10,000.00 and
// merchant chai@beta (account 3001 at bbank, opened with ₹100.00), and
// its PSP betapsp's orders.
type merchantCase struct {
	*auditCase
}

func newMerchantCase() *merchantCase {
	c := newAuditCase()
	c.snap.psps = []string{"alphapsp", "betapsp"}
	a := &c.snap.banks[0]
	a.accounts[1].BalancePaise += 990000
	*a.opening += 990000
	b := &c.snap.banks[1]
	b.accounts = append(b.accounts, &upiv1.AccountBalance{AcNum: "3001", Vpa: "chai@beta", Kind: "CUSTOMER", BalancePaise: 10000})
	*b.opening += 10000
	for i := range c.snap.banks {
		c.snap.banks[i].ledgerRead = true
	}
	c.snap.orders = map[string][]*merchantv1.Order{}
	return &merchantCase{c}
}

// switchTxn adds a transaction the switch decided an hour ago with
// status st, both PSPs and the banks agreeing, its legs posted as a
// SUCCESS posts them (a FAILURE: its DEBIT declined, nothing posted). The
// DEBIT is from payer's account at rem, the CREDIT to payee's at ben.
func (c *merchantCase) switchTxn(typ upiv1.Txn_Type, st upiv1.Resp_Result, amount int64, payer, payee string, rem int, from string, ben int, to string) *upiv1.TxnSummary {
	id := ids.NewTxnID("MER")
	banks := []string{"abank", "bbank"}
	settle := []string{"SETTLEMENT-ABNK0000001", "SETTLEMENT-BBNK0000001"}
	psp := func(vpa string) string {
		if strings.HasSuffix(vpa, "@alpha") {
			return "alphapsp"
		}
		return "betapsp"
	}
	t := &upiv1.TxnSummary{
		TxnId: id, Type: typ, State: "CLOSED", Status: st, AmountPaise: amount,
		PayerVpa: payer, PayeeVpa: payee, PayerPsp: psp(payer), PayeePsp: psp(payee),
		Remitter: banks[rem], Created: ago(time.Hour + time.Minute), Updated: ago(time.Hour),
		Legs: []*upiv1.TxnLeg{{Type: upiv1.Txn_DEBIT, Bank: banks[rem], AcNum: from, AmountPaise: amount, Result: st}},
	}
	c.snap.switchTxns = append(c.snap.switchTxns, t)
	if st == upiv1.Resp_SUCCESS {
		t.Beneficiary = banks[ben]
		t.Legs = append(t.Legs, &upiv1.TxnLeg{Type: upiv1.Txn_CREDIT, Bank: banks[ben], AcNum: to, AmountPaise: amount, Result: st})
		c.post(rem, "DEBIT:"+id, from, settle[rem], amount)
		c.post(ben, "CREDIT:"+id, settle[ben], to, amount)
		c.snap.txns[banks[rem]][id] = &upiv1.TxnSummary{TxnId: id, State: "DEBITED", Created: t.Created}
		c.snap.txns[banks[ben]][id] = &upiv1.TxnSummary{TxnId: id, State: "CREDITED", Created: t.Created}
	} else {
		c.snap.txns[banks[rem]][id] = &upiv1.TxnSummary{TxnId: id, State: "DEBIT_FAILED", Created: t.Created}
	}
	for _, nd := range []string{"alphapsp", "betapsp"} {
		c.snap.txns[nd][id] = &upiv1.TxnSummary{TxnId: id, Type: typ, Status: st, Created: t.Created}
	}
	return t
}

// payChai is alice's payment of amount to chai@beta at the switch.
func (c *merchantCase) payChai(st upiv1.Resp_Result, amount int64) *upiv1.TxnSummary {
	return c.switchTxn(upiv1.Txn_PAY, st, amount, "alice@alpha", "chai@beta", 0, "1001", 1, "3001")
}

// refundChai is chai@beta's REFUND of amount of credit org to alice.
func (c *merchantCase) refundChai(org string, st upiv1.Resp_Result, amount int64) *upiv1.TxnSummary {
	t := c.switchTxn(upiv1.Txn_REFUND, st, amount, "chai@beta", "alice@alpha", 1, "3001", 0, "1001")
	t.OrgTxnId = org
	return t
}

// order adds an order of chai@beta for ₹150.00 at betapsp.
func (c *merchantCase) order(attempts []*merchantv1.Attempt, refunds ...*merchantv1.Refund) *merchantv1.Order {
	o := &merchantv1.Order{OrderId: ids.NewTxnID("ORD"), MerchantVpa: "chai@beta", AmountCents: 15000, TransactionStatus: "SUCCESS", Attempts: attempts, Refunds: refunds}
	c.snap.orders["betapsp"] = append(c.snap.orders["betapsp"], o)
	return o
}

// attempt is an attempt with status and action, of amount, for txn id,
// last changed an hour ago.
func attempt(st, action string, amount int64, txnID string) *merchantv1.Attempt {
	return &merchantv1.Attempt{AttemptId: ids.NewTxnID("ATT"), TransactionAttemptStatus: st, Action: action, AmountCents: amount,
		TxnId: txnID, Method: "upi_intent", PayerVpa: "alice@alpha", UpdatedAt: ago(time.Hour)}
}

func refundOf(at *merchantv1.Attempt, st, source string, amount int64, txnID string) *merchantv1.Refund {
	return &merchantv1.Refund{RefundId: ids.NewTxnID("RFD"), AttemptId: at.GetAttemptId(), RefundStatus: st, Source: source,
		AmountCents: amount, TxnId: txnID, UpdatedAt: ago(time.Hour)}
}

func TestAuditMerchant(t *testing.T) {
	ok, fail, deemed := upiv1.Resp_SUCCESS, upiv1.Resp_FAILURE, upiv1.Resp_DEEMED
	tests := []struct {
		name  string
		build func(c *merchantCase)
		want  []string
		words []string // in the first violation's detail
		node  string   // the first violation's node
	}{
		// MERCHANT_MISMATCH
		{name: "a paid attempt the switch credited to the merchant", want: []string{},
			build: func(c *merchantCase) {
				c.order([]*merchantv1.Attempt{attempt("SUCCESS", "", 15000, c.payChai(ok, 15000).TxnId)})
			}},
		{name: "a failed attempt the switch failed, an unverified one, one in flight", want: []string{},
			build: func(c *merchantCase) {
				inFlight := attempt("SUCCESS", "", 15000, c.payChai(fail, 15000).TxnId)
				inFlight.UpdatedAt = ago(30 * time.Second)
				c.order([]*merchantv1.Attempt{
					attempt("FAILED", "", 15000, c.payChai(fail, 15000).TxnId),
					attempt("PENDING", "", 15000, ""),
					inFlight,
				})
			}},
		{name: "a paid attempt the switch failed", want: []string{ViolationMerchantMismatch}, node: "betapsp",
			build: func(c *merchantCase) {
				c.order([]*merchantv1.Attempt{attempt("SUCCESS", "", 15000, c.payChai(fail, 15000).TxnId)})
			},
			words: []string{"order ORD", "merchant chai@beta at betapsp: attempt ATT", "is SUCCESS, but PAY of ₹150.00 from alice@alpha to chai@beta is FAILURE at the switch"}},
		{name: "a HOLD of another amount than the switch's", want: []string{ViolationMerchantMismatch},
			build: func(c *merchantCase) {
				at := attempt("HOLD", "", 14000, c.payChai(ok, 15000).TxnId)
				at.HoldUntil = timestamppb.New(now.Add(time.Hour))
				c.order([]*merchantv1.Attempt{at})
			},
			words: []string{"(upi_intent, ₹140.00) is HOLD", "another amount: PAY of ₹150.00"}},
		{name: "a paid attempt whose payment paid someone else", want: []string{ViolationMerchantMismatch},
			build: func(c *merchantCase) {
				c.paid(ok, upiv1.Txn_DEBIT, upiv1.Txn_CREDIT)
				c.order([]*merchantv1.Attempt{attempt("SUCCESS", "", 500, txnA)})
			},
			words: []string{"paid bob@beta, not the merchant"}},
		{name: "a paid attempt the switch does not know", want: []string{ViolationMerchantMismatch},
			build: func(c *merchantCase) { c.order([]*merchantv1.Attempt{attempt("SUCCESS", "", 500, txnB)}) },
			words: []string{"the switch has no record of its transaction " + txnB}},
		{name: "a failed attempt the switch paid", want: []string{ViolationMerchantMismatch},
			build: func(c *merchantCase) {
				c.order([]*merchantv1.Attempt{attempt("FAILED", "", 15000, c.payChai(ok, 15000).TxnId)})
			},
			words: []string{"is FAILED, but PAY of ₹150.00", "is SUCCESS at the switch"}},
		{name: "a failed attempt the switch refused (U07) under another payment's id", want: []string{},
			build: func(c *merchantCase) {
				at := attempt("FAILED", "", 15000, c.payChai(ok, 15000).TxnId)
				at.ErrCode = "U07"
				c.order([]*merchantv1.Attempt{at, attempt("SUCCESS", "", 15000, at.TxnId)})
			}},
		{name: "a DEEMED attempt decided at the switch within max-age", want: []string{},
			build: func(c *merchantCase) {
				p := c.payChai(ok, 15000)
				p.Updated = ago(30 * time.Second)
				c.order([]*merchantv1.Attempt{attempt("DEEMED", "", 15000, p.TxnId)})
			}},
		{name: "a DEEMED attempt still DEEMED at the switch", want: []string{},
			build: func(c *merchantCase) {
				p := c.payChai(deemed, 15000)
				p.Updated, p.Deadline = ago(time.Hour), timestamppb.New(now.Add(time.Minute))
				c.order([]*merchantv1.Attempt{attempt("DEEMED", "", 15000, p.TxnId)})
			}},
		{name: "a DEEMED attempt the switch decided long ago", want: []string{ViolationMerchantMismatch},
			build: func(c *merchantCase) {
				c.order([]*merchantv1.Attempt{attempt("DEEMED", "", 15000, c.payChai(ok, 15000).TxnId)})
			},
			words: []string{"is DEEMED, but PAY of ₹150.00", "is SUCCESS at the switch since"}},
		{name: "a PENDING collect the switch failed long ago", want: []string{ViolationMerchantMismatch},
			build: func(c *merchantCase) {
				p := c.switchTxn(upiv1.Txn_COLLECT, fail, 15000, "alice@alpha", "chai@beta", 0, "1001", 1, "3001")
				c.order([]*merchantv1.Attempt{attempt("PENDING", "", 15000, p.TxnId)})
			},
			words: []string{"is PENDING, but COLLECT of ₹150.00", "FAILURE at the switch since"}},
		{name: "a refund the switch refunded", want: []string{},
			build: func(c *merchantCase) {
				p := c.payChai(ok, 15000)
				at := attempt("SUCCESS", "", 15000, p.TxnId)
				c.order([]*merchantv1.Attempt{at},
					refundOf(at, "REFUNDED", "MERCHANT", 5000, c.refundChai(p.TxnId, ok, 5000).TxnId),
					refundOf(at, "REFUND_FAILED", "MERCHANT", 5000, c.refundChai(p.TxnId, fail, 5000).TxnId),
					refundOf(at, "REFUND_INITIATED", "MERCHANT", 5000, ""))
			}},
		{name: "a refund REFUNDED the switch failed", want: []string{ViolationMerchantMismatch},
			build: func(c *merchantCase) {
				p := c.payChai(ok, 15000)
				at := attempt("SUCCESS", "", 15000, p.TxnId)
				c.order([]*merchantv1.Attempt{at}, refundOf(at, "REFUNDED", "MERCHANT", 5000, c.refundChai(p.TxnId, fail, 5000).TxnId))
			},
			words: []string{"refund RFD", "(MERCHANT, ₹50.00) of attempt ATT", "is REFUNDED, but REFUND of ₹50.00 from chai@beta to alice@alpha is FAILURE at the switch"}},
		{name: "a refund REFUND_FAILED the switch refunded", want: []string{ViolationMerchantMismatch},
			build: func(c *merchantCase) {
				p := c.payChai(ok, 15000)
				at := attempt("SUCCESS", "", 15000, p.TxnId)
				c.order([]*merchantv1.Attempt{at}, refundOf(at, "REFUND_FAILED", "MERCHANT", 5000, c.refundChai(p.TxnId, ok, 5000).TxnId))
			},
			words: []string{"is REFUND_FAILED, but REFUND of ₹50.00", "is SUCCESS at the switch"}},
		{name: "a refund of another credit at the switch", want: []string{ViolationMerchantMismatch},
			build: func(c *merchantCase) {
				p, other := c.payChai(ok, 15000), c.payChai(ok, 15000)
				at := attempt("SUCCESS", "", 15000, p.TxnId)
				c.order([]*merchantv1.Attempt{at, attempt("SUCCESS", "", 15000, other.TxnId)},
					refundOf(at, "REFUNDED", "MERCHANT", 5000, c.refundChai(other.TxnId, ok, 5000).TxnId))
			},
			words: []string{"refunds MER", "not the attempt's transaction " + "MER"}},
		{name: "a refund of another amount at the switch", want: []string{ViolationMerchantMismatch},
			build: func(c *merchantCase) {
				p := c.payChai(ok, 15000)
				at := attempt("SUCCESS", "", 15000, p.TxnId)
				c.order([]*merchantv1.Attempt{at}, refundOf(at, "REFUNDED", "MERCHANT", 6000, c.refundChai(p.TxnId, ok, 5000).TxnId))
			},
			words: []string{"(MERCHANT, ₹60.00)", "another amount: REFUND of ₹50.00"}},
		{name: "a refund REFUNDED the switch does not know", want: []string{ViolationMerchantMismatch},
			build: func(c *merchantCase) {
				p := c.payChai(ok, 15000)
				at := attempt("SUCCESS", "", 15000, p.TxnId)
				c.order([]*merchantv1.Attempt{at}, refundOf(at, "REFUNDED", "MERCHANT", 5000, txnB))
			},
			words: []string{"the switch has no record of its transaction " + txnB}},

		// MERCHANT_HOLD_OVERDUE
		{name: "a HOLD before its hold_until, or just past it", want: []string{},
			build: func(c *merchantCase) {
				soon := attempt("HOLD", "", 15000, c.payChai(ok, 15000).TxnId)
				soon.HoldUntil = timestamppb.New(now.Add(time.Hour))
				just := attempt("HOLD", "", 15000, c.payChai(ok, 15000).TxnId)
				just.HoldUntil = ago(time.Minute)
				c.order([]*merchantv1.Attempt{soon, just})
			}},
		{name: "a HOLD long past its hold_until", want: []string{ViolationMerchantHoldOverdue}, node: "betapsp",
			build: func(c *merchantCase) {
				at := attempt("HOLD", "", 15000, c.payChai(ok, 15000).TxnId)
				at.HoldUntil, at.EdgeCase = ago(time.Hour), "DUPLICATE_PAYMENT"
				c.order([]*merchantv1.Attempt{at})
			},
			words: []string{"is still on HOLD (DUPLICATE_PAYMENT) 1h0m0s after its hold_until", "the PSP's timer did not capture it"}},

		{name: "a HOLD with no hold_until", want: []string{ViolationMerchantHoldOverdue},
			build: func(c *merchantCase) {
				c.order([]*merchantv1.Attempt{attempt("HOLD", "", 15000, c.payChai(ok, 15000).TxnId)})
			},
			words: []string{"is on HOLD (-) with no hold_until: nothing will capture it"}},

		// MERCHANT_REFUND_ACTION
		{name: "RELEASED and AUTO_REFUNDED with their refunds", want: []string{},
			build: func(c *merchantCase) {
				p, q := c.payChai(ok, 15000), c.payChai(ok, 14000)
				rel, auto := attempt("SUCCESS", "RELEASED", 15000, p.TxnId), attempt("SUCCESS", "AUTO_REFUNDED", 14000, q.TxnId)
				c.order([]*merchantv1.Attempt{rel, auto},
					refundOf(rel, "REFUNDED", "RELEASE", 15000, c.refundChai(p.TxnId, ok, 15000).TxnId),
					refundOf(auto, "REFUND_INITIATED", "AUTO_REFUND", 14000, ""))
			}},
		{name: "RELEASED without a refund", want: []string{ViolationMerchantRefundAction}, node: "betapsp",
			build: func(c *merchantCase) {
				c.order([]*merchantv1.Attempt{attempt("SUCCESS", "RELEASED", 15000, c.payChai(ok, 15000).TxnId)})
			},
			words: []string{"is RELEASED, but it has no refund of source RELEASE", "it has no refund"}},
		{name: "AUTO_REFUNDED in part, or by a refund that failed", want: []string{ViolationMerchantRefundAction, ViolationMerchantRefundAction},
			build: func(c *merchantCase) {
				part, failed := attempt("SUCCESS", "AUTO_REFUNDED", 15000, c.payChai(ok, 15000).TxnId), attempt("SUCCESS", "AUTO_REFUNDED", 15000, c.payChai(ok, 15000).TxnId)
				c.order([]*merchantv1.Attempt{part, failed},
					refundOf(part, "REFUND_INITIATED", "AUTO_REFUND", 10000, ""),
					refundOf(failed, "REFUND_FAILED", "AUTO_REFUND", 15000, ""))
			},
			words: []string{"is AUTO_REFUNDED, but", "AUTO_REFUND ₹100.00 REFUND_INITIATED"}},
		{name: "refunds above the attempt", want: []string{ViolationMerchantRefundAction},
			build: func(c *merchantCase) {
				at := attempt("SUCCESS", "", 15000, c.payChai(ok, 15000).TxnId)
				c.order([]*merchantv1.Attempt{at},
					refundOf(at, "REFUND_INITIATED", "MERCHANT", 10000, ""),
					refundOf(at, "REFUND_INITIATED", "MERCHANT", 6000, ""),
					refundOf(at, "REFUND_FAILED", "MERCHANT", 9000, ""))
			},
			words: []string{"adding up to ₹160.00, more than the attempt"}},

		// MERCHANT_BALANCE
		{name: "payments to and refunds from the merchant's account", want: []string{},
			build: func(c *merchantCase) {
				p := c.payChai(ok, 15000)
				c.refundChai(p.TxnId, ok, 5000)
				c.order([]*merchantv1.Attempt{attempt("SUCCESS", "", 15000, p.TxnId)})
			}},
		{name: "a credit to the merchant posted to another account", want: []string{ViolationMerchantBalance}, node: "bbank",
			build: func(c *merchantCase) {
				p := c.switchTxn(upiv1.Txn_PAY, ok, 15000, "alice@alpha", "chai@beta", 0, "1001", 1, "2001")
				c.order([]*merchantv1.Attempt{attempt("SUCCESS", "", 15000, p.TxnId)})
			},
			words: []string{"PAY of ₹150.00 from alice@alpha to chai@beta is SUCCESS at the switch", "its CREDIT of merchant chai@beta names account 2001 (bob@beta) at bbank, not the merchant's 3001 (chai@beta) at bbank"}},
		{name: "a refund from the merchant debited another account", want: []string{ViolationMerchantBalance},
			build: func(c *merchantCase) {
				p := c.payChai(ok, 15000)
				r := c.switchTxn(upiv1.Txn_REFUND, ok, 5000, "chai@beta", "alice@alpha", 1, "2001", 0, "1001")
				r.OrgTxnId = p.TxnId
				c.order([]*merchantv1.Attempt{attempt("SUCCESS", "", 15000, p.TxnId)})
			},
			words: []string{"its DEBIT of merchant chai@beta names account 2001"}},
		{name: "another payee's credit posted to the merchant's account", want: []string{ViolationMerchantBalance},
			build: func(c *merchantCase) {
				c.switchTxn(upiv1.Txn_PAY, ok, 700, "alice@alpha", "bob@beta", 0, "1001", 1, "3001")
				c.order(nil)
			},
			words: []string{"the switch sent bbank a CREDIT of PAY of ₹7.00 from alice@alpha to bob@beta on merchant chai@beta's account 3001, but the merchant is not its payee"}},
		{name: "a posting on the merchant's account the switch did not ask for names the merchant", want: []string{ViolationStrayPosting, ViolationConservation},
			build: func(c *merchantCase) {
				c.order(nil)
				c.post(1, "CREDIT:"+txnB, "SETTLEMENT-BBNK0000001", "3001", 700)
			},
			words: []string{"to 3001 (merchant chai@beta)", "the switch does not know"}},
		{name: "without an order, the account is not known to be a merchant's", want: []string{ViolationStrayPosting, ViolationConservation},
			build: func(c *merchantCase) { c.post(1, "CREDIT:"+txnB, "SETTLEMENT-BBNK0000001", "3001", 700) },
			words: []string{"to 3001 (chai@beta)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newMerchantCase()
			tt.build(c)
			r := c.snap.audit(now, maxAge)
			assert.ElementsMatch(t, tt.want, kinds(r), "violations: %+v", r.Violations)
			if len(tt.want) == 0 || !assert.NotEmpty(t, r.Violations) {
				return
			}
			for _, w := range tt.words {
				assert.Contains(t, r.Violations[0].Detail, w)
			}
			if tt.node != "" {
				assert.Equal(t, tt.node, r.Violations[0].Node)
			}
			assert.NotEmpty(t, r.Violations[0].TxnID, "a merchant violation names its transaction")
		})
	}
}

// fakeMerchantAdmin lists orders a page of limit at a time, or answers
// err.
type fakeMerchantAdmin struct {
	merchantv1.MerchantAdminServiceClient
	orders []*merchantv1.Order
	limit  int
	err    error
	calls  []string
}

func (f *fakeMerchantAdmin) ListOrders(_ context.Context, r *merchantv1.ListOrdersRequest, _ ...grpc.CallOption) (*merchantv1.ListOrdersResponse, error) {
	f.calls = append(f.calls, r.GetAfter())
	if f.err != nil {
		return nil, f.err
	}
	out := &merchantv1.ListOrdersResponse{}
	for _, o := range f.orders {
		if o.GetOrderId() <= r.GetAfter() {
			continue
		}
		if len(out.Orders) == f.limit {
			out.Next = out.Orders[len(out.Orders)-1].GetOrderId()
			break
		}
		out.Orders = append(out.Orders, o)
	}
	return out, nil
}

func TestReadOrdersPagesAndNotes(t *testing.T) {
	nd := config.NodeAddr{Name: "betapsp", GRPCAddr: "127.0.0.1:1"}
	f := &fakeMerchantAdmin{limit: 2}
	for _, id := range []string{"ORD1", "ORD2", "ORD3", "ORD4", "ORD5"} {
		f.orders = append(f.orders, &merchantv1.Order{OrderId: id})
	}
	src := Source{MerchantAdmin: func(string) (merchantv1.MerchantAdminServiceClient, error) { return f, nil }}
	got, note, err := readOrders(t.Context(), src, nd)
	require.NoError(t, err)
	assert.Empty(t, note)
	var idsRead []string
	for _, o := range got {
		idsRead = append(idsRead, o.GetOrderId())
	}
	assert.Equal(t, []string{"ORD1", "ORD2", "ORD3", "ORD4", "ORD5"}, idsRead)
	assert.Equal(t, []string{"", "ORD2", "ORD4"}, f.calls, "each page after the last one's order")

	f.err = status.Error(codes.Unimplemented, "unknown service upisim.merchant.v1.MerchantAdminService")
	got, note, err = readOrders(t.Context(), src, nd)
	require.NoError(t, err)
	assert.Nil(t, got)
	assert.Contains(t, note, "node betapsp does not list merchant orders")

	f.err = status.Error(codes.Unauthenticated, "missing admin token")
	_, _, err = readOrders(t.Context(), src, nd)
	require.ErrorContains(t, err, "node betapsp: missing admin token")

	// A note is the audit's note.
	c := newMerchantCase()
	c.snap.orderNotes = []string{note}
	r := c.snap.audit(now, maxAge)
	assert.Equal(t, []string{note}, r.Notes)
	assert.True(t, r.OK)
}
