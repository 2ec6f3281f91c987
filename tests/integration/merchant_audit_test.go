package integration

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/audit"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/store"
)

// merchantOrders is the merchant layer's table of orders (merchant.orders),
// for a test that forges one.
var merchantOrders = store.NewTable[recordsv1.MerchantOrder](store.MerchantOrders)

// forgeOrder changes order id in PSP node's store, as a faulty merchant
// layer (or a hand on the bbolt file) would.
func (n *net) forgeOrder(node, id string, change func(o *recordsv1.MerchantOrder)) {
	n.t.Helper()
	n.update(node, func(tx *store.Tx) error {
		o, ok, err := merchantOrders.Get(tx, id)
		require.NoError(n.t, err)
		require.True(n.t, ok, "order %s at %s", id, node)
		change(o)
		return merchantOrders.Put(tx, id, o)
	})
}

// attemptOf is the attempt of order o at index i (the API's JSON).
func attemptOf(o map[string]any, i int) map[string]any {
	return o["attempts"].([]any)[i].(map[string]any)
}

// The merchant layer's scenarios through the real network leave every
// order agreeing with the switch, so `upisim audit` is clean; then each
// record forged at betapsp (or bbank) is named by its own violation, with
// the order, the attempt and the node.
func TestAuditMerchantOrders(t *testing.T) {
	n := merchantNet(t, nil)
	s := openShop(t, n, "chai@beta")

	// A payment and a refund of part of it.
	paid := s.order(15000, "")
	paidID := paid["order_id"].(string)
	require.Equal(t, "SUCCESS", n.payIntent("alice@alpha", paid["intent"].(string), "", "1234").Status)
	got := s.await(paidID, "SUCCESS", "SUCCESS/")
	paidAttempt := attemptOf(got, 0)
	code, rf := s.call("POST", "/refunds", `{"order_id": "`+paidID+`", "amount_cents": 5000}`)
	require.Equal(t, http.StatusOK, code, "%v", rf)
	eventually(t, func() bool {
		_, g := s.call("GET", "/refunds/"+rf["refund_id"].(string), "")
		return g["refund_status"] == "REFUNDED"
	}, "the refund is REFUNDED")

	// A failed payment.
	failed := s.order(15000, `, "auto_retry": false`)
	require.Equal(t, "FAILURE", n.payIntent("alice@alpha", failed["intent"].(string), "", "0000").Status)
	s.await(failed["order_id"].(string), "FAILED", "FAILED/")

	// The wrong amount, on HOLD then RELEASED: refunded.
	released := s.order(15000, `, "auto_refund": false`)
	releasedID := released["order_id"].(string)
	require.Equal(t, "SUCCESS", n.payIntent("alice@alpha", released["intent"].(string), "140.00", "1234").Status)
	got = s.await(releasedID, "DISPUTED_AMOUNT", "HOLD/")
	code, out := s.call("POST", "/attempts/"+attemptOf(got, 0)["attempt_id"].(string)+"/action", `{"action": "RELEASE"}`)
	require.Equal(t, http.StatusOK, code, "%v", out)
	s.await(releasedID, "SUCCESS", "SUCCESS/RELEASED")

	// Paid twice with auto-refund: the second refunded at once; paid twice
	// without: the second left on HOLD (hold_until days away).
	auto := s.order(15000, `, "auto_refund": true`)
	require.Equal(t, "SUCCESS", n.payIntent("alice@alpha", auto["intent"].(string), "", "1234").Status)
	require.Equal(t, "SUCCESS", n.payIntent("alice@alpha", auto["intent"].(string), "", "1234").Status)
	s.await(auto["order_id"].(string), "SUCCESS", "SUCCESS/", "SUCCESS/AUTO_REFUNDED")
	held := s.order(15000, `, "auto_refund": false`)
	heldID := held["order_id"].(string)
	require.Equal(t, "SUCCESS", n.payIntent("alice@alpha", held["intent"].(string), "", "1234").Status)
	require.Equal(t, "SUCCESS", n.payIntent("alice@alpha", held["intent"].(string), "", "1234").Status)
	got = s.await(heldID, "SUCCESS", "SUCCESS/", "HOLD/")
	heldAttempt := attemptOf(got, 1)

	// A DEEMED credit the switch's status check finds.
	found := openShop(t, n, "deemedshop@beta")
	deemed := found.order(15000, "")
	r, err := cli.Pay(context.Background(), io.Discard, cli.PayOptions{DataDir: n.dir, From: "alice@alpha", Intent: deemed["intent"].(string), PIN: "1234", Timeout: 30 * time.Second})
	require.NoError(t, err)
	require.Equal(t, "SUCCESS", r.Status)
	found.await(deemed["order_id"].(string), "SUCCESS", "SUCCESS/")

	eventually(t, func() bool {
		for _, id := range []string{paidID, releasedID, auto["order_id"].(string)} {
			for _, x := range s.get(id)["refunds"].([]any) {
				if x.(map[string]any)["refund_status"] != "REFUNDED" {
					return false
				}
			}
		}
		return true
	}, "every refund is REFUNDED")
	waitQuiet(t, n)
	res, text := n.auditSettled()
	require.True(t, res.OK, "the audit of the merchant scenarios must be clean:\n%s", text)
	assert.Empty(t, res.Notes, "every PSP's orders were read")

	// Forged: the paid attempt's amount, the HOLD's hold_until, the
	// released attempt's refund, and a posting to chai's account.
	n.forgeOrder("betapsp", paidID, func(o *recordsv1.MerchantOrder) { o.Attempts[0].AmountPaise = 14999 })
	n.forgeOrder("betapsp", heldID, func(o *recordsv1.MerchantOrder) { o.Attempts[1].HoldUntil = store.Nanos(forgedAt) })
	n.forgeOrder("betapsp", releasedID, func(o *recordsv1.MerchantOrder) { o.Refunds = nil })
	paidTxn := paidAttempt["txn_id"].(string)
	n.post("bbank", ledger.PostingRef(ledger.LegReversal, paidTxn), bbankSettlement, n.account("bbank", "chai@beta"), 1_00)

	res, text = n.auditSettled()
	t.Logf("upisim audit:\n%s", text)
	require.False(t, res.OK)
	byKind := map[string][]audit.Violation{}
	for _, v := range res.Violations {
		byKind[v.Kind] = append(byKind[v.Kind], v)
	}
	one := func(kind string) audit.Violation {
		t.Helper()
		require.Len(t, byKind[kind], 1, "%s:\n%s", kind, text)
		return byKind[kind][0]
	}
	v := one(audit.ViolationMerchantMismatch)
	assert.Equal(t, paidTxn, v.TxnID)
	assert.Equal(t, "betapsp", v.Node)
	for _, w := range []string{"order " + paidID, "attempt " + paidAttempt["attempt_id"].(string), "₹149.99", "another amount: PAY of ₹150.00"} {
		assert.Contains(t, v.Detail, w)
	}
	v = one(audit.ViolationMerchantHoldOverdue)
	assert.Equal(t, heldAttempt["txn_id"], v.TxnID)
	assert.Contains(t, v.Detail, "order "+heldID)
	assert.Contains(t, v.Detail, "still on HOLD (DUPLICATE_PAYMENT)")
	v = one(audit.ViolationMerchantRefundAction)
	assert.Contains(t, v.Detail, "order "+releasedID)
	assert.Contains(t, v.Detail, "is RELEASED, but it has no refund of source RELEASE")
	v = one(audit.ViolationStrayPosting)
	assert.Equal(t, "bbank", v.Node)
	assert.Contains(t, v.Detail, "(merchant chai@beta)")
	assert.Contains(t, v.Detail, "no REVERSAL")
	assert.Len(t, byKind[audit.ViolationConservation], 1, "the stray ₹1.00 is money no transfer explains")
	assert.Empty(t, byKind[audit.ViolationMerchantBalance], "the switch's legs name the merchants' accounts")
	assert.Len(t, res.Violations, 5, "%s", text)
}
