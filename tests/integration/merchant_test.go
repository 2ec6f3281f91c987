package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/fault"
	"github.com/upisim/upisim/internal/webhook"
)

// The merchant layer through the real network (docs/FLOWS.md, "Merchant
// payments"): each row of the status model's table is a payment, a late
// approval, a second payment or a DEEMED credit made for real, checked at
// its three levels (transaction, attempt, action) and in the signed
// webhooks a receiver verifies.

// hookRecv is a merchant's webhook endpoint: it verifies every delivery
// with the merchant's secret and keeps each event's data by order.
type hookRecv struct {
	t      *testing.T
	srv    *httptest.Server
	secret webhook.Secret
	mu     sync.Mutex
	events map[string][]map[string]any // order id → data, in arrival order
	ids    map[string]int              // webhook-id → deliveries seen
	// answer, if set, is the HTTP status for the n-th request (from 1).
	answer func(n int) int
	n      int
}

func newHookRecv(t *testing.T, secret string) *hookRecv {
	t.Helper()
	s, err := webhook.ParseSecret(secret)
	require.NoError(t, err)
	h := &hookRecv{t: t, secret: s, events: map[string][]map[string]any{}, ids: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookRecv) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	if err := h.secret.Verify(r.Header, body, time.Now()); err != nil {
		h.t.Errorf("webhook %s does not verify: %v", r.Header.Get("webhook-id"), err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if h.answer != nil {
		if code := h.answer(h.n); code/100 != 2 {
			w.WriteHeader(code)
			return
		}
	}
	id := r.Header.Get("webhook-id")
	h.ids[id]++
	if h.ids[id] == 1 {
		var ev struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			h.t.Errorf("webhook body %s: %v", body, err)
		}
		ev.Data["type"] = ev.Type
		oid, _ := ev.Data["order_id"].(string)
		h.events[oid] = append(h.events[oid], ev.Data)
	}
	w.WriteHeader(http.StatusOK)
}

// of is the events of an order so far, in their sequence (deliveries
// made in one step may arrive in any order).
func (h *hookRecv) of(orderID string) []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	evs := append([]map[string]any(nil), h.events[orderID]...)
	seq := func(e map[string]any) int { n, _ := strconv.Atoi(fmt.Sprint(e["sequence"])); return n }
	sort.SliceStable(evs, func(i, j int) bool { return seq(evs[i]) < seq(evs[j]) })
	return evs
}

// shop is a merchant's API in a running network, with its webhook
// endpoint set to a hookRecv.
type shop struct {
	t     *testing.T
	n     *net
	vpa   string
	base  string
	key   string
	hooks *hookRecv
}

func openShop(t *testing.T, n *net, vpa string) *shop {
	t.Helper()
	m, err := cli.MerchantShow(t.Context(), io.Discard, cli.MerchantOptions{DataDir: n.dir, VPA: vpa})
	require.NoError(t, err)
	nd, ok := n.c.Dir.Node(m.GetPsp())
	require.True(t, ok)
	s := &shop{t: t, n: n, vpa: vpa, base: "http://" + nd.HTTPAddr, key: m.GetApiKey(), hooks: newHookRecv(t, m.GetWebhookSecret())}
	code, out := s.call("PUT", "/webhooks/endpoint", `{"url": "`+s.hooks.srv.URL+`/hooks"}`)
	require.Equal(t, http.StatusOK, code, "%v", out)
	return s
}

func (s *shop) call(method, path, body string, kv ...string) (int, map[string]any) {
	s.t.Helper()
	h := with(jsonType, append([]string{"Authorization", "Bearer " + s.key}, kv...)...)
	code, _, out := rest(s.t, method, s.base+path, body, h)
	return code, out
}

// order creates an order: amount in paise and the rest of the body's
// fields.
func (s *shop) order(amount int64, extra string) map[string]any {
	s.t.Helper()
	body := fmt.Sprintf(`{"amount_cents": %d, "description": "masala chai"%s}`, amount, extra)
	code, out := s.call("POST", "/orders", body)
	require.Equal(s.t, http.StatusOK, code, "%v", out)
	return out
}

func (s *shop) get(orderID string) map[string]any {
	s.t.Helper()
	code, out := s.call("GET", "/orders/"+orderID, "")
	require.Equal(s.t, http.StatusOK, code, "%v", out)
	return out
}

// levels is an order's transaction status and each attempt's status and
// action: "SUCCESS", "HOLD/", "SUCCESS/CAPTURED", ...
func levels(o map[string]any) (string, []string) {
	var at []string
	list, _ := o["attempts"].([]any)
	for _, a := range list {
		m := a.(map[string]any)
		at = append(at, fmt.Sprint(m["transaction_attempt_status"], "/", m["action"]))
	}
	return fmt.Sprint(o["transaction_status"]), at
}

// await waits until the order shows txn and attempts.
func (s *shop) await(orderID, txn string, attempts ...string) map[string]any {
	s.t.Helper()
	var last map[string]any
	ok := assert.Eventually(s.t, func() bool {
		last = s.get(orderID)
		got, at := levels(last)
		return got == txn && fmt.Sprint(at) == fmt.Sprint(attempts)
	}, 20*time.Second, 20*time.Millisecond)
	if !ok {
		got, at := levels(last)
		s.t.Fatalf("order %s is %s %v, want %s %v", orderID, got, at, txn, attempts)
	}
	return last
}

// awaitHooks waits until the order's last webhook carries the terminal
// values txn, attempt status and action, and returns every event.
func (s *shop) awaitHooks(orderID, txn, attempt, action string) []map[string]any {
	s.t.Helper()
	var evs []map[string]any
	ok := assert.Eventually(s.t, func() bool {
		evs = s.hooks.of(orderID)
		if len(evs) == 0 {
			return false
		}
		last := evs[len(evs)-1]
		if fmt.Sprint(last["sequence"]) != fmt.Sprint(len(evs)) {
			return false // one still on its way
		}
		return last["transaction_status"] == txn && last["transaction_attempt_status"] == attempt && last["action"] == action && last["terminal"] == true
	}, 20*time.Second, 20*time.Millisecond)
	require.True(s.t, ok, "webhooks of %s: %v", orderID, evs)
	for i, e := range evs {
		assert.Equal(s.t, fmt.Sprint(i+1), fmt.Sprint(e["sequence"]), "events in order, each once: %v", evs)
	}
	return evs
}

func (n *net) payIntent(from, intent, amount, pin string) cli.TxnResult {
	n.t.Helper()
	r, err := cli.Pay(context.Background(), io.Discard, cli.PayOptions{DataDir: n.dir, From: from, Intent: intent, Amount: amount, PIN: pin, Timeout: 30 * time.Second})
	require.NoError(n.t, err)
	return r
}

func merchantNet(t *testing.T, change func(*config.Network)) *net {
	return up(t, func(c *config.Network) {
		c.Timeouts.Credit, c.Timeouts.CheckStatus = time.Second, 2*time.Second
		c.Merchant.WebhookRetry = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}
		if change != nil {
			change(c)
		}
	})
}

// Successful payment: the order's intent paid; then refunds, at the
// order and attempt level, move the money back.
func TestMerchantSuccessAndRefunds(t *testing.T) {
	n := merchantNet(t, nil)
	s := openShop(t, n, "chai@beta")
	alice, chai := n.balance("alice@alpha"), n.balance("chai@beta")
	o := s.order(15000, "")
	id := o["order_id"].(string)
	assert.Equal(t, "PENDING", o["transaction_status"])
	assert.Equal(t, "upi://pay?pa=chai@beta&pn=Chai%20Point&am=150.00&tr="+id+"&tn=masala%20chai&cu=INR", o["intent"])

	r := n.payIntent("alice@alpha", o["intent"].(string), "", "1234")
	require.Equal(t, "SUCCESS", r.Status, "%+v", r)
	got := s.await(id, "SUCCESS", "SUCCESS/")
	a := got["attempts"].([]any)[0].(map[string]any)
	assert.Equal(t, r.TxnID, a["txn_id"])
	assert.Equal(t, r.RRN, a["rrn"])
	assert.Equal(t, "alice@alpha", a["payer_vpa"])
	assert.Equal(t, "upi_intent", a["method"])
	s.awaitHooks(id, "SUCCESS", "SUCCESS", "")
	assert.Equal(t, chai+15000, n.balance("chai@beta"))

	// A refund at the order level, then one of the attempt.
	code, rf := s.call("POST", "/refunds", `{"order_id": "`+id+`", "amount_cents": 5000}`, "Idempotency-Key", "rf-1")
	require.Equal(t, http.StatusOK, code, "%v", rf)
	assert.Equal(t, "REFUND_INITIATED", rf["refund_status"])
	code, again := s.call("POST", "/refunds", `{"order_id": "`+id+`", "amount_cents": 5000}`, "Idempotency-Key", "rf-1")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, rf["refund_id"], again["refund_id"], "the same key and body: the first answer")
	code, _ = s.call("POST", "/refunds", `{"order_id": "`+id+`", "amount_cents": 5001}`, "Idempotency-Key", "rf-1")
	assert.Equal(t, http.StatusConflict, code, "the same key with another body")
	code, out := s.call("POST", "/refunds", `{"attempt_id": "`+a["attempt_id"].(string)+`", "amount_cents": 10001}`)
	assert.Equal(t, http.StatusConflict, code, "above what is left: %v", out)
	assert.Contains(t, out["message"], "more than is left")
	eventually(t, func() bool {
		_, g := s.call("GET", "/refunds/"+rf["refund_id"].(string), "")
		return g["refund_status"] == "REFUNDED"
	}, "the refund is REFUNDED")
	assert.Equal(t, alice-10000, n.balance("alice@alpha"))
	assert.Equal(t, chai+10000, n.balance("chai@beta"))
	got = s.get(id)
	assert.Equal(t, "SUCCESS", got["transaction_status"], "a refund does not change the credit's status")
	evs := s.hooks.of(id)
	assert.Equal(t, "refund.status", evs[len(evs)-1]["type"])
	assert.Equal(t, "REFUNDED", evs[len(evs)-1]["refund_status"])
	n.requireAuditClean()
}

// Bad input answers 4xx with a message and changes nothing.
func TestMerchantAPIErrors(t *testing.T) {
	n := merchantNet(t, nil)
	s := openShop(t, n, "chai@beta")
	o := s.order(15000, "")
	id := o["order_id"].(string)
	for _, tc := range []struct {
		method, path, body, key string
		code                    int
		msg                     string
	}{
		{"POST", "/orders", `{"amount_cents": 100}`, "wrong", http.StatusUnauthorized, "API key"},
		{"POST", "/orders", `{"amount_cents": 0}`, "", http.StatusBadRequest, "amount_cents must be greater than zero"},
		{"POST", "/orders", `{"amount_cents": -5}`, "", http.StatusBadRequest, "amount_cents"},
		{"POST", "/orders", `{"amount_cents": 100, "colour": "red"}`, "", http.StatusBadRequest, "colour"},
		{"POST", "/orders", `{"amount_cents": 100, "currency": "USD"}`, "", http.StatusBadRequest, "INR"},
		{"POST", "/orders", `{"amount_cents": `, "", http.StatusBadRequest, ""},
		{"GET", "/orders/ORD00000000000000000000000000000000", "", "", http.StatusNotFound, "no order"},
		{"POST", "/refunds", `{"order_id": "` + id + `", "amount_cents": 100}`, "", http.StatusConflict, "no attempt to refund"},
		{"POST", "/attempts/ATT00000000000000000000000000000000/action", `{"action": "CAPTURE"}`, "", http.StatusNotFound, "no attempt"},
		{"POST", "/attempts/x/action", `{"action": "KEEP"}`, "", http.StatusBadRequest, "CAPTURE or RELEASE"},
		{"POST", "/orders/" + id + "/collect", `{"payer_vpa": "not a vpa"}`, "", http.StatusBadRequest, "payer_vpa"},
	} {
		h := with(jsonType, "Authorization", "Bearer "+s.key)
		if tc.key != "" {
			h["Authorization"] = "Bearer " + tc.key
		}
		code, _, out := rest(t, tc.method, s.base+tc.path, tc.body, h)
		assert.Equal(t, tc.code, code, "%s %s %s: %v", tc.method, tc.path, tc.body, out)
		assert.Contains(t, fmt.Sprint(out["message"]), tc.msg, "%s %s", tc.method, tc.path)
	}
	// The merchant API's own OpenAPI document.
	code, _, doc := rest(t, "GET", s.base+"/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, code)
	paths, _ := doc["paths"].(map[string]any)
	for _, p := range []string{"/orders", "/orders/{order_id}", "/upi-attempts", "/provider-callback", "/refunds", "/webhooks/deliveries"} {
		assert.Contains(t, paths, p)
	}
	// Another merchant's order is not found.
	other := openShop(t, n, "deemedshop@beta")
	code, _ = other.call("GET", "/orders/"+id, "")
	assert.Equal(t, http.StatusNotFound, code)
	// The same Idempotency-Key and body: one order.
	code1, o1 := s.call("POST", "/orders", `{"amount_cents": 500}`, "Idempotency-Key", "k1")
	code2, o2 := s.call("POST", "/orders", `{"amount_cents": 500}`, "Idempotency-Key", "k1")
	require.Equal(t, http.StatusOK, code1)
	require.Equal(t, http.StatusOK, code2)
	assert.Equal(t, o1["order_id"], o2["order_id"])
	code, out := s.call("POST", "/orders", `{"amount_cents": 501}`, "Idempotency-Key", "k1")
	assert.Equal(t, http.StatusConflict, code, "%v", out)
}

// Failed payment, with and without auto-retry; a link that expires.
func TestMerchantFailedAndExpired(t *testing.T) {
	n := merchantNet(t, nil)
	s := openShop(t, n, "chai@beta")

	// Auto-refund on or off changes nothing here: no money came.
	for _, autoRefund := range []bool{false, true} {
		noRetry := s.order(15000, fmt.Sprintf(`, "auto_retry": false, "auto_refund": %v`, autoRefund))
		r := n.payIntent("alice@alpha", noRetry["intent"].(string), "", "0000")
		require.Equal(t, "FAILURE", r.Status)
		assert.Equal(t, "ZM", r.ErrCode)
		got := s.await(noRetry["order_id"].(string), "FAILED", "FAILED/")
		assert.Equal(t, "ZM", got["attempts"].([]any)[0].(map[string]any)["err_code"])
		s.awaitHooks(noRetry["order_id"].(string), "FAILED", "FAILED", "")
		require.Equal(t, "SUCCESS", n.pay("alice@alpha", "bob@beta", "1.00", "1234").Status, "a right PIN clears the wrong tries")
	}

	retry := s.order(15000, `, "auto_retry": true`)
	require.Equal(t, "FAILURE", n.payIntent("alice@alpha", retry["intent"].(string), "", "0000").Status)
	s.await(retry["order_id"].(string), "PENDING", "FAILED/")
	require.Equal(t, "SUCCESS", n.payIntent("alice@alpha", retry["intent"].(string), "", "1234").Status)
	s.await(retry["order_id"].(string), "SUCCESS", "FAILED/", "SUCCESS/")
	s.awaitHooks(retry["order_id"].(string), "SUCCESS", "SUCCESS", "")

	// Failed attempts with auto-retry, then expiry: EXPIRED.
	short := s.order(15000, `, "auto_retry": true, "expires_in_seconds": 2`)
	require.Equal(t, "FAILURE", n.payIntent("alice@alpha", short["intent"].(string), "", "0000").Status)
	s.await(short["order_id"].(string), "EXPIRED", "FAILED/")

	// No attempt at all (auto-refund on: the same).
	idle := s.order(15000, `, "expires_in_seconds": 1, "auto_refund": true`)
	s.await(idle["order_id"].(string), "EXPIRED")
	evs := s.hooks.of(idle["order_id"].(string))
	eventually(t, func() bool { evs = s.hooks.of(idle["order_id"].(string)); return len(evs) == 1 }, "the expiry's webhook")
	assert.Equal(t, "EXPIRED", evs[0]["transaction_status"])
	assert.Equal(t, true, evs[0]["terminal"])
	n.requireAuditClean()
}

// The edge cases with auto-refund off go on HOLD; CAPTURE keeps the
// money, RELEASE gives it back; with auto-refund on they are refunded at
// once.
func TestMerchantEdgeCases(t *testing.T) {
	n := merchantNet(t, nil)
	s := openShop(t, n, "chai@beta")
	for _, autoRefund := range []bool{false, true} {
		t.Run(fmt.Sprint("auto_refund=", autoRefund), func(t *testing.T) {
			s.t = t
			flag := fmt.Sprintf(`, "auto_refund": %v`, autoRefund)
			alice := n.balance("alice@alpha")
			refunds := int64(0)

			// Disputed amount: ₹140 paid for ₹150.
			d := s.order(15000, flag)
			did := d["order_id"].(string)
			require.Equal(t, "SUCCESS", n.payIntent("alice@alpha", d["intent"].(string), "140.00", "1234").Status)

			// Multiple successful payments.
			m := s.order(15000, flag)
			mid := m["order_id"].(string)
			require.Equal(t, "SUCCESS", n.payIntent("alice@alpha", m["intent"].(string), "", "1234").Status)
			require.Equal(t, "SUCCESS", n.payIntent("alice@alpha", m["intent"].(string), "", "1234").Status)

			// Paid after a failed attempt without auto-retry.
			f := s.order(15000, flag+`, "auto_retry": false`)
			fid := f["order_id"].(string)
			require.Equal(t, "FAILURE", n.payIntent("alice@alpha", f["intent"].(string), "", "0000").Status)
			require.Equal(t, "SUCCESS", n.payIntent("alice@alpha", f["intent"].(string), "", "1234").Status)

			if autoRefund {
				s.await(did, "SUCCESS", "SUCCESS/AUTO_REFUNDED")
				evs := s.awaitHooks(did, "SUCCESS", "SUCCESS", "AUTO_REFUNDED")
				assert.Equal(t, "DISPUTED_AMOUNT", evs[0]["transaction_status"], "the first callback shows the open case")
				s.await(mid, "SUCCESS", "SUCCESS/", "SUCCESS/AUTO_REFUNDED")
				s.await(fid, "SUCCESS", "FAILED/", "SUCCESS/AUTO_REFUNDED")
				refunds = 14000 + 15000 + 15000
			} else {
				got := s.await(did, "DISPUTED_AMOUNT", "HOLD/")
				att := got["attempts"].([]any)[0].(map[string]any)
				assert.Equal(t, "AMOUNT_MISMATCH", att["edge_case"])
				code, out := s.call("POST", "/refunds", `{"attempt_id": "`+att["attempt_id"].(string)+`", "amount_cents": 100}`)
				assert.Equal(t, http.StatusConflict, code, "a HOLD is not refundable: %v", out)
				code, out = s.call("POST", "/attempts/"+att["attempt_id"].(string)+"/action", `{"action": "RELEASE"}`)
				require.Equal(t, http.StatusOK, code, "%v", out)
				s.await(did, "SUCCESS", "SUCCESS/RELEASED")
				s.awaitHooks(did, "SUCCESS", "SUCCESS", "RELEASED")
				code, out = s.call("POST", "/refunds", `{"attempt_id": "`+att["attempt_id"].(string)+`", "amount_cents": 100}`)
				assert.Equal(t, http.StatusConflict, code, "a RELEASED attempt is not refundable: %v", out)

				got = s.await(mid, "SUCCESS", "SUCCESS/", "HOLD/")
				second := got["attempts"].([]any)[1].(map[string]any)
				assert.Equal(t, "DUPLICATE_PAYMENT", second["edge_case"])
				code, _ = s.call("POST", "/attempts/"+second["attempt_id"].(string)+"/action", `{"action": "CAPTURE"}`)
				require.Equal(t, http.StatusOK, code)
				s.await(mid, "SUCCESS", "SUCCESS/", "SUCCESS/CAPTURED")
				code, _ = s.call("POST", "/attempts/"+second["attempt_id"].(string)+"/action", `{"action": "RELEASE"}`)
				assert.Equal(t, http.StatusConflict, code, "acted on once")

				got = s.await(fid, "FAILED", "FAILED/", "HOLD/")
				late := got["attempts"].([]any)[1].(map[string]any)
				assert.Equal(t, "PAID_AFTER_FAILURE", late["edge_case"])
				code, _ = s.call("POST", "/attempts/"+late["attempt_id"].(string)+"/action", `{"action": "CAPTURE"}`)
				require.Equal(t, http.StatusOK, code)
				s.await(fid, "SUCCESS", "FAILED/", "SUCCESS/CAPTURED")
				refunds = 14000
			}
			paid := int64(14000 + 2*15000 + 15000)
			eventually(t, func() bool { return n.balance("alice@alpha") == alice-paid+refunds }, "the refunds reach alice")
		})
	}
	s.t = t
	n.requireAuditClean()
}

// Success after expiry: the order's collect approved after the order
// expired.
func TestMerchantSuccessAfterExpiry(t *testing.T) {
	n := merchantNet(t, nil)
	s := openShop(t, n, "chai@beta")
	for _, autoRefund := range []bool{false, true} {
		o := s.order(15000, fmt.Sprintf(`, "auto_refund": %v, "expires_in_seconds": 2`, autoRefund))
		id := o["order_id"].(string)
		code, a := s.call("POST", "/orders/"+id+"/collect", `{"payer_vpa": "alice@alpha"}`)
		require.Equal(t, http.StatusOK, code, "%v", a)
		assert.Equal(t, "upi_collect", a["method"])
		s.await(id, "EXPIRED", "PENDING/")
		r, err := cli.Approve(t.Context(), io.Discard, cli.ApproveOptions{DataDir: n.dir, TxnID: a["txn_id"].(string), PIN: "1234", Timeout: 20 * time.Second})
		require.NoError(t, err)
		require.Equal(t, "SUCCESS", r.Status)
		if autoRefund {
			s.await(id, "SUCCESS", "SUCCESS/AUTO_REFUNDED")
			evs := s.awaitHooks(id, "SUCCESS", "SUCCESS", "AUTO_REFUNDED")
			assert.Equal(t, "PAID_AFTER_EXPIRY", evs[len(evs)-1]["edge_case"])
			continue
		}
		got := s.await(id, "EXPIRED", "HOLD/")
		att := got["attempts"].([]any)[0].(map[string]any)
		assert.Equal(t, "PAID_AFTER_EXPIRY", att["edge_case"])
		assert.NotEmpty(t, att["hold_until"])
		code, _ = s.call("POST", "/attempts/"+att["attempt_id"].(string)+"/action", `{"action": "capture"}`)
		require.Equal(t, http.StatusOK, code)
		s.await(id, "SUCCESS", "SUCCESS/CAPTURED")
		s.awaitHooks(id, "SUCCESS", "SUCCESS", "CAPTURED")
	}
	n.requireAuditClean()
}

// DEEMED: deemedshop@beta's credits are DEEMED and found by the status
// check; lostshop@beta's are never made and the debit is reversed. While
// an attempt is DEEMED the order takes no payment (ZE).
func TestMerchantDeemed(t *testing.T) {
	// The DEEMED window (the credit's timeout until its status check) is
	// long enough for a second payment to come in it, however slow the
	// machine.
	n := merchantNet(t, func(c *config.Network) { c.Timeouts.CheckStatus = 5 * time.Second })
	found := openShop(t, n, "deemedshop@beta")
	o := found.order(15000, "")
	id := o["order_id"].(string)
	var first cli.TxnResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		first, _ = cli.Pay(context.Background(), io.Discard, cli.PayOptions{DataDir: n.dir, From: "alice@alpha", Intent: o["intent"].(string), PIN: "1234", Timeout: 30 * time.Second})
	}()
	found.await(id, "DEEMED", "DEEMED/")
	blocked := n.payIntent("bob@beta", o["intent"].(string), "", "1234")
	assert.Equal(t, "FAILURE", blocked.Status)
	assert.Equal(t, "ZE", blocked.ErrCode, "a DEEMED attempt blocks the order")
	<-done
	assert.Equal(t, "SUCCESS", first.Status)
	found.await(id, "SUCCESS", "SUCCESS/")
	evs := found.awaitHooks(id, "SUCCESS", "SUCCESS", "")
	assert.Equal(t, "DEEMED", evs[0]["transaction_status"])

	// With auto-refund on, the same: a DEEMED attempt is no edge case.
	o2 := found.order(15000, `, "auto_refund": true`)
	require.Equal(t, "SUCCESS", n.payIntent("alice@alpha", o2["intent"].(string), "", "1234").Status)
	found.await(o2["order_id"].(string), "SUCCESS", "SUCCESS/")

	lost := openShop(t, n, "lostshop@beta")
	for i, retry := range []bool{true, false} {
		o := lost.order(15000, fmt.Sprintf(`, "auto_retry": %v, "auto_refund": %v`, retry, i == 1))
		r := n.payIntent("alice@alpha", o["intent"].(string), "", "1234")
		assert.Equal(t, "FAILURE", r.Status)
		want := "FAILED"
		if retry {
			want = "EXPIRED"
		}
		got := lost.await(o["order_id"].(string), want, "FAILED/")
		assert.Equal(t, r.ErrCode, got["attempts"].([]any)[0].(map[string]any)["err_code"])
		evs := lost.awaitHooks(o["order_id"].(string), want, "FAILED", "")
		assert.Equal(t, "DEEMED", evs[0]["transaction_status"])
	}
	n.requireAuditClean()
}

// A HOLD the merchant does not act on is captured after
// merchant.hold_capture.
func TestMerchantHoldCapturedAutomatically(t *testing.T) {
	n := merchantNet(t, func(c *config.Network) { c.Merchant.HoldCapture = time.Second })
	s := openShop(t, n, "chai@beta")
	o := s.order(15000, `, "auto_refund": false`)
	id := o["order_id"].(string)
	require.Equal(t, "SUCCESS", n.payIntent("alice@alpha", o["intent"].(string), "100.00", "1234").Status)
	s.await(id, "DISPUTED_AMOUNT", "HOLD/")
	s.await(id, "SUCCESS", "SUCCESS/CAPTURED")
	s.awaitHooks(id, "SUCCESS", "SUCCESS", "CAPTURED")
}

// A collect to a payer the network cannot find was never registered:
// REQUEST_UNINITIALIZED, and the next attempt makes the order PENDING.
func TestMerchantCollectNotRegistered(t *testing.T) {
	n := merchantNet(t, nil)
	s := openShop(t, n, "chai@beta")
	o := s.order(15000, "")
	id := o["order_id"].(string)
	code, _ := s.call("POST", "/orders/"+id+"/collect", `{"payer_vpa": "ghost@nowhere"}`)
	require.Equal(t, http.StatusOK, code)
	got := s.await(id, "REQUEST_UNINITIALIZED", "FAILED/")
	assert.Equal(t, "U29", got["attempts"].([]any)[0].(map[string]any)["err_code"])
	require.Equal(t, "SUCCESS", n.payIntent("alice@alpha", o["intent"].(string), "", "1234").Status)
	s.await(id, "SUCCESS", "FAILED/", "SUCCESS/")
}

// Deliveries: a failing endpoint is retried on the schedule with the same
// webhook-id and a fresh signature; a 410 disables it; a resend delivers.
func TestMerchantWebhookDeliveries(t *testing.T) {
	n := merchantNet(t, nil)
	s := openShop(t, n, "chai@beta")
	s.hooks.answer = func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	o := s.order(15000, `, "expires_in_seconds": 1`)
	id := o["order_id"].(string)
	s.await(id, "EXPIRED")
	var d map[string]any
	eventually(t, func() bool {
		_, out := s.call("GET", "/webhooks/deliveries?order_id="+id, "")
		list, _ := out["deliveries"].([]any)
		if len(list) != 1 {
			return false
		}
		d = list[0].(map[string]any)
		return d["status"] == "DELIVERED"
	}, "delivered on the third attempt")
	var codes []any
	for _, a := range d["attempts"].([]any) {
		codes = append(codes, a.(map[string]any)["http_status"])
	}
	assert.Equal(t, []any{float64(500), float64(500), float64(200)}, codes)
	assert.Len(t, s.hooks.of(id), 1)

	// An endpoint that always fails: one attempt and one per retry of the
	// schedule (3 here), then FAILED, with no further attempt.
	s.hooks.answer = func(int) int { return http.StatusServiceUnavailable }
	o3 := s.order(15000, `, "expires_in_seconds": 1`)
	s.await(o3["order_id"].(string), "EXPIRED")
	var failed map[string]any
	eventually(t, func() bool {
		_, out := s.call("GET", "/webhooks/deliveries?order_id="+o3["order_id"].(string), "")
		list, _ := out["deliveries"].([]any)
		if len(list) != 1 {
			return false
		}
		failed = list[0].(map[string]any)
		return failed["status"] == "FAILED"
	}, "every attempt of the schedule failed")
	require.Len(t, failed["attempts"], 4)
	for _, a := range failed["attempts"].([]any) {
		assert.Equal(t, float64(503), a.(map[string]any)["http_status"])
	}
	assert.Empty(t, s.hooks.of(o3["order_id"].(string)))

	// 410 disables the endpoint; the next event is kept DISABLED.
	s.hooks.answer = func(int) int { return http.StatusGone }
	o2 := s.order(15000, `, "expires_in_seconds": 1`)
	s.await(o2["order_id"].(string), "EXPIRED")
	eventually(t, func() bool {
		_, ep := s.call("GET", "/webhooks/endpoint", "")
		return ep["enabled"] == false
	}, "a 410 disables the endpoint")
	s.hooks.answer = nil
	code, out := s.call("PUT", "/webhooks/endpoint", `{"url": "`+s.hooks.srv.URL+`/hooks"}`)
	require.Equal(t, http.StatusOK, code, "%v", out)
	_, out = s.call("GET", "/webhooks/deliveries?order_id="+o2["order_id"].(string), "")
	gone := out["deliveries"].([]any)[0].(map[string]any)
	assert.Equal(t, "DISABLED", gone["status"])
	code, out = s.call("POST", "/webhooks/deliveries/"+gone["delivery_id"].(string)+"/resend", `{}`)
	require.Equal(t, http.StatusOK, code, "%v", out)
	eventually(t, func() bool { return len(s.hooks.of(o2["order_id"].(string))) == 1 }, "the resend is delivered")

	// Every attempt is in the trace of the order.
	posts := 0
	for _, m := range n.trace(id) {
		if m.API == "POST" {
			posts++
		}
	}
	assert.Equal(t, 3, posts, "three attempts in `upisim trace ORDER_ID`")
}

// An attempt recorded by the merchant (an offline payment) is paid only
// once a provider callback's payment is verified through the switch.
func TestMerchantProviderCallback(t *testing.T) {
	n := merchantNet(t, nil)
	s := openShop(t, n, "chai@beta")
	o := s.order(15000, "")
	id := o["order_id"].(string)
	code, at := s.call("POST", "/upi-attempts", `{"order_id": "`+id+`", "device_id": "chai-pos", "method": "upi_lite_x", "declared_amount_cents": 15000, "payer_vpa": "alice@alpha", "utr": "PROV123"}`)
	require.Equal(t, http.StatusOK, code, "%v", at)
	aid := at["upi_attempt_id"].(string)
	assert.Equal(t, "PENDING", at["transaction_attempt_status"])

	// An unknown UTR, then a real payment of another amount, are rejected.
	code, cb := s.call("POST", "/provider-callback", `{"upi_attempt_id": "`+aid+`", "provider_txn_id": "999999999999", "amount_cents": 15000}`)
	require.Equal(t, http.StatusOK, code, "%v", cb)
	assert.Equal(t, "VERIFYING", cb["verification"])
	eventually(t, func() bool {
		a := s.get(id)["attempts"].([]any)[0].(map[string]any)
		return a["verification"] == "REJECTED" && a["transaction_attempt_status"] == "PENDING"
	}, "an unknown UTR is rejected")
	small := n.pay("alice@alpha", "chai@beta", "120.00", "1234")
	require.Equal(t, "SUCCESS", small.Status)
	s.call("POST", "/provider-callback", `{"upi_attempt_id": "`+aid+`", "provider_txn_id": "`+small.RRN+`", "amount_cents": 15000}`)
	eventually(t, func() bool {
		a := s.get(id)["attempts"].([]any)[0].(map[string]any)
		return a["verification"] == "REJECTED"
	}, "another amount is rejected")

	paid := n.pay("alice@alpha", "chai@beta", "150.00", "1234")
	require.Equal(t, "SUCCESS", paid.Status)
	s.call("POST", "/provider-callback", `{"upi_attempt_id": "`+aid+`", "provider_txn_id": "`+paid.RRN+`", "amount_cents": 15000}`)
	got := s.await(id, "SUCCESS", "SUCCESS/")
	a := got["attempts"].([]any)[0].(map[string]any)
	assert.Equal(t, "VERIFIED", a["verification"])
	assert.Equal(t, paid.TxnID, a["txn_id"])
	assert.Equal(t, paid.RRN, a["rrn"])

	// The same payment cannot verify a second attempt.
	code, at2 := s.call("POST", "/upi-attempts", `{"order_id": "`+id+`", "device_id": "chai-pos", "method": "upi_lite_x", "declared_amount_cents": 15000, "payer_vpa": "alice@alpha", "utr": "PROV124"}`)
	require.Equal(t, http.StatusOK, code)
	s.call("POST", "/provider-callback", `{"upi_attempt_id": "`+at2["upi_attempt_id"].(string)+`", "provider_txn_id": "`+paid.RRN+`", "amount_cents": 15000}`)
	eventually(t, func() bool {
		list := s.get(id)["attempts"].([]any)
		return len(list) == 2 && list[1].(map[string]any)["verification"] == "REJECTED"
	}, "a payment counted already is rejected")
}

// requireAuditClean waits (briefly) until `upisim audit` finds nothing to
// report: the merchant layer's checks included.
func (n *net) requireAuditClean() {
	n.t.Helper()
	var text string
	ok := assert.Eventually(n.t, func() bool {
		var r cli.AuditResult
		r, text = n.auditSettled()
		return r.OK
	}, 10*time.Second, 50*time.Millisecond)
	require.True(n.t, ok, "audit not clean:\n%s", text)
}

// A release's refund that fails is tried again on merchant.refund_retry;
// when every try fails (here the merchant's bank declines every debit of
// chai@beta) the refunds stay REFUND_FAILED and the audit says the
// released money did not go back.
func TestMerchantReleaseRefundRetried(t *testing.T) {
	n := merchantNet(t, func(c *config.Network) {
		c.Merchant.RefundRetry = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}
		c.Rules = append(c.Rules, fault.Rule{Name: "norefund", Node: "bbank", On: fault.OnReceive, Decline: "U30",
			Match: fault.Match{API: "ReqPay", Type: "DEBIT", Payer: "chai@beta"}})
	})
	s := openShop(t, n, "chai@beta")
	o := s.order(15000, `, "auto_refund": false`)
	id := o["order_id"].(string)
	require.Equal(t, "SUCCESS", n.payIntent("alice@alpha", o["intent"].(string), "", "1234").Status)
	require.Equal(t, "SUCCESS", n.payIntent("alice@alpha", o["intent"].(string), "", "1234").Status)
	got := s.await(id, "SUCCESS", "SUCCESS/", "HOLD/")
	second := got["attempts"].([]any)[1].(map[string]any)["attempt_id"].(string)
	code, _ := s.call("POST", "/attempts/"+second+"/action", `{"action": "RELEASE"}`)
	require.Equal(t, http.StatusOK, code)
	var refunds []any
	eventually(t, func() bool {
		refunds = s.get(id)["refunds"].([]any)
		if len(refunds) != 3 {
			return false
		}
		for _, r := range refunds {
			if r.(map[string]any)["refund_status"] != "REFUND_FAILED" {
				return false
			}
		}
		return true
	}, "the release's refund and its two new tries all fail")
	for _, r := range refunds {
		m := r.(map[string]any)
		assert.Equal(t, "RELEASE", m["source"])
		assert.Equal(t, "U30", m["err_code"])
		assert.Equal(t, second, m["attempt_id"])
	}
	waitQuiet(t, n)
	r, text := n.auditSettled()
	require.False(t, r.OK, text)
	kinds := map[string]int{}
	for _, v := range r.Violations {
		kinds[v.Kind]++
	}
	assert.Equal(t, map[string]int{"MERCHANT_REFUND_ACTION": 1}, kinds, text)
}
