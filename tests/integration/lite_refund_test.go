package integration

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// TestLiteRefundOfAnOfflineOrder: an order paid offline (a Lite X record
// posted by the merchant's POS) is refunded in part and then the rest
// with POST /refunds: each a REFUND naming the record by its official
// UTR, from the merchant's account back to the account behind alice's
// LRN; no more than the record can be refunded, and the audit is clean.
func TestLiteRefundOfAnOfflineOrder(t *testing.T) {
	n := merchantNet(t, nil)
	s := openShop(t, n, "chai@beta")
	chai := n.balance("chai@beta")
	en := n.liteEnable("alice@alpha", "alice-phone", 50000)
	require.Equal(t, upiv1.Resp_SUCCESS, en.GetStatus(), "%v", en)
	alice := n.balance("alice@alpha")
	o := s.order(15000, "")
	id := o["order_id"].(string)
	n.liteOnline("alice-phone", false)
	n.liteOnline("chai-pos", false)
	r := n.litePay(&upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeDeviceId: "chai-pos", Intent: o["intent"].(string)})
	require.Equal(t, upiv1.Resp_PENDING, r.GetStatus(), "%v", r)
	sync := n.liteOnline("chai-pos", true)
	require.Len(t, sync.GetSynced(), 1)
	utr := sync.GetSynced()[0].GetUtr()
	got := s.await(id, "SUCCESS", "SUCCESS/")
	a := got["attempts"].([]any)[0].(map[string]any)
	require.Equal(t, utr, a["rrn"])
	require.Empty(t, a["txn_id"], "an offline payment has no txn id")
	eventually(t, func() bool { return n.balance("chai@beta") == chai+15000 }, "chai is credited")

	refund := func(amount int, key string) map[string]any {
		t.Helper()
		code, rf := s.call("POST", "/refunds", `{"order_id": "`+id+`", "amount_cents": `+strconv.Itoa(amount)+`}`, "Idempotency-Key", key)
		require.Equal(t, http.StatusOK, code, "%v", rf)
		eventually(t, func() bool {
			_, g := s.call("GET", "/refunds/"+rf["refund_id"].(string), "")
			return g["refund_status"] == "REFUNDED"
		}, "the refund is REFUNDED")
		return rf
	}
	refund(5000, "rf-1")
	eventually(t, func() bool { return n.balance("alice@alpha") == alice+5000 }, "alice's bank account has 50.00 back")
	assert.Equal(t, chai+10000, n.balance("chai@beta"))
	code, out := s.call("POST", "/refunds", `{"order_id": "`+id+`", "amount_cents": 10001}`)
	assert.Equal(t, http.StatusConflict, code, "above what is left: %v", out)

	refund(10000, "rf-2")
	eventually(t, func() bool { return n.balance("alice@alpha") == alice+15000 }, "alice's bank account has it all back")
	assert.Equal(t, chai, n.balance("chai@beta"), "chai is back where it started")
	got = s.get(id)
	assert.Equal(t, "SUCCESS", got["transaction_status"], "a refund does not change the order's status")
	require.Len(t, got["refunds"].([]any), 2)
	n.requireAuditClean()
}
