package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/config"
)

// rest sends one request to base+path with the headers given (Host among
// them sets the request's Host) and returns the status, headers and body.
func rest(t *testing.T, method, url, body string, header map[string]string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out), "%s %s → %d %s", method, url, resp.StatusCode, b)
	return resp.StatusCode, resp.Header, out
}

var jsonType = map[string]string{"Content-Type": "application/json"}

func with(h map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// The same Idempotency-Key and body twice is one payment, one debit; the
// same key with another body is 409 and moves nothing.
func TestRESTIdempotencyKey(t *testing.T) {
	n := up(t, nil)
	tp, ok := n.c.Dir.Node("tpap")
	require.True(t, ok)
	base := "http://" + tp.HTTPAddr
	alice, bob := n.balance("alice@alpha"), n.balance("bob@beta")

	body := `{"payer_vpa":"alice@alpha","payee_vpa":"bob@beta","amount_paise":15000,"note":"lunch","pin":"1234"}`
	h := with(jsonType, "Idempotency-Key", "lunch-2026-01-01")
	code, _, first := rest(t, http.MethodPost, base+"/v1/payments", body, h)
	require.Equal(t, http.StatusOK, code, "%v", first)
	id, _ := first["txn_id"].(string)
	require.Len(t, id, 35)
	code, _, got := rest(t, http.MethodGet, base+"/v1/payments/"+id+"?wait_ms=10000", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "SUCCESS", got["status"])

	code, _, again := rest(t, http.MethodPost, base+"/v1/payments", body, h)
	require.Equal(t, http.StatusOK, code, "%v", again)
	assert.Equal(t, id, again["txn_id"], "the repeat answers the original transaction")
	assert.Equal(t, "SUCCESS", again["status"], "with its current status")

	other := strings.Replace(body, "15000", "15001", 1)
	code, _, conflict := rest(t, http.MethodPost, base+"/v1/payments", other, h)
	assert.Equal(t, http.StatusConflict, code, "%v", conflict)
	assert.Contains(t, conflict["message"], "was used for a different request (transaction "+id+")")

	// The header and the body's field must agree.
	code, _, bad := rest(t, http.MethodPost, base+"/v1/payments",
		strings.Replace(body, `"pin"`, `"idempotency_key":"other","pin"`, 1), h)
	assert.Equal(t, http.StatusBadRequest, code, "%v", bad)

	// A collect with a key, twice: one collect.
	cbody := `{"payee_vpa":"chai@beta","payer_vpa":"alice@alpha","amount_paise":2000,"note":"tea"}`
	ch := with(jsonType, "Idempotency-Key", "tea-1")
	code, _, c1 := rest(t, http.MethodPost, base+"/v1/collects", cbody, ch)
	require.Equal(t, http.StatusOK, code, "%v", c1)
	code, _, c2 := rest(t, http.MethodPost, base+"/v1/collects", cbody, ch)
	require.Equal(t, http.StatusOK, code, "%v", c2)
	assert.Equal(t, c1["txn_id"], c2["txn_id"])
	code, _, _ = rest(t, http.MethodPost, base+"/v1/collects", strings.Replace(cbody, "2000", "2001", 1), ch)
	assert.Equal(t, http.StatusConflict, code)

	// The key survives a restart of the TPAP.
	n.restart()
	tp, _ = n.c.Dir.Node("tpap")
	base = "http://" + tp.HTTPAddr
	code, _, again = rest(t, http.MethodPost, base+"/v1/payments", body, h)
	require.Equal(t, http.StatusOK, code, "%v", again)
	assert.Equal(t, id, again["txn_id"])

	waitQuiet(t, n)
	assert.Equal(t, alice-15000, n.balance("alice@alpha"), "one debit")
	assert.Equal(t, bob+15000, n.balance("bob@beta"), "one credit")
}

// What the switch would refuse is refused at the TPAP's and the PSP's app
// APIs with 400, before anything is sent.
func TestRESTValidatesLikeTheSwitch(t *testing.T) {
	n := up(t, nil)
	tp, _ := n.c.Dir.Node("tpap")
	psp, _ := n.c.Dir.Node("alphapsp")
	alice := n.balance("alice@alpha")
	for name, tc := range map[string]struct{ field, msg string }{
		"10,000-character note":    {`"note":"` + strings.Repeat("n", 10_000) + `"`, "note is 10000 characters long; at most 50 are allowed"},
		"control characters":       {`"note":"a\u0007b"`, "note contains the control character U+0007"},
		"amount over ₹1,000 crore": {`"note":"x","amount_paise":"1000000000001"`, "amount_paise 1000000000001 is more than the largest amount"},
	} {
		body := `{"payer_vpa":"alice@alpha","payee_vpa":"bob@beta","amount_paise":100,"pin":"1234",` + tc.field + `}`
		if strings.Contains(tc.field, "amount_paise") {
			body = `{"payer_vpa":"alice@alpha","payee_vpa":"bob@beta","pin":"1234",` + tc.field + `}`
		}
		for _, at := range []struct{ node, url string }{
			{"tpap", "http://" + tp.HTTPAddr + "/v1/payments"},
			{"alphapsp", "http://" + psp.HTTPAddr + "/v1/psp/pay"},
		} {
			t.Run(name+" at "+at.node, func(t *testing.T) {
				body := body
				if at.node != "tpap" { // the PSP takes the TPAP's PIN block, not a PIN
					body = strings.Replace(body, `"pin":"1234",`, "", 1)
				}
				code, _, out := rest(t, http.MethodPost, at.url, body, jsonType)
				assert.Equal(t, http.StatusBadRequest, code, "%v", out)
				assert.Contains(t, out["message"], tc.msg)
			})
		}
	}
	waitQuiet(t, n)
	assert.Equal(t, alice, n.balance("alice@alpha"))
}

// A web page cannot make the node pay: non-JSON bodies, foreign origins and
// foreign Hosts are refused; bodies are capped; unmapped methods are 405.
func TestRESTRefusesWhatABrowserCouldForge(t *testing.T) {
	n := up(t, func(c *config.Network) {
		c.HTTP.AllowedOrigins = []string{"http://localhost:3000"}
		c.HTTP.AllowedHosts = []string{"upisim.test"}
	})
	tp, _ := n.c.Dir.Node("tpap")
	url := "http://" + tp.HTTPAddr + "/v1/payments"
	alice := n.balance("alice@alpha")
	body := `{"payer_vpa":"alice@alpha","payee_vpa":"bob@beta","amount_paise":100,"note":"x","pin":"1234"}`

	for _, tc := range []struct {
		name   string
		header map[string]string
		code   int
		msg    string
	}{
		{"text/plain with a foreign Origin and Host", map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example", "Host": "evil.example"}, http.StatusMisdirectedRequest, "is not this node's"},
		{"text/plain", map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType, `Content-Type "text/plain" is not supported`},
		{"form", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType, "application/json"},
		{"foreign Origin", with(jsonType, "Origin", "http://evil.example"), http.StatusForbidden, `origin "http://evil.example" may not call this node`},
		{"foreign Host (DNS rebinding)", with(jsonType, "Host", "evil.example:"+port(tp.HTTPAddr)), http.StatusMisdirectedRequest, "http.allowed_hosts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, out := rest(t, http.MethodPost, url, body, tc.header)
			assert.Equal(t, tc.code, code, "%v", out)
			assert.Contains(t, out["message"], tc.msg)
		})
	}
	for _, tc := range []struct {
		name   string
		header map[string]string
	}{
		{"allowed Origin", with(jsonType, "Origin", "http://localhost:3000")},
		{"own Origin", with(jsonType, "Origin", "http://"+tp.HTTPAddr)},
		{"allowed Host", with(jsonType, "Host", "upisim.test:"+port(tp.HTTPAddr))},
		{"localhost", with(jsonType, "Host", "localhost:"+port(tp.HTTPAddr))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, out := rest(t, http.MethodPost, url, body, tc.header)
			assert.Equal(t, http.StatusOK, code, "%v", out)
		})
	}

	t.Run("1 MiB body", func(t *testing.T) {
		big := `{"note":"` + strings.Repeat("n", 1<<20) + `"}`
		code, _, out := rest(t, http.MethodPost, url, big, jsonType)
		assert.Equal(t, http.StatusRequestEntityTooLarge, code, "%v", out)
		assert.Contains(t, out["message"], "request body is larger than 65536 bytes")
	})
	t.Run("PUT", func(t *testing.T) {
		code, h, out := rest(t, http.MethodPut, url, body, jsonType)
		assert.Equal(t, http.StatusMethodNotAllowed, code, "%v", out)
		assert.Equal(t, "POST, OPTIONS", h.Get("Allow"))
		code, h, _ = rest(t, http.MethodDelete, url+"/ALP00000000000000000000000000000000", "", nil)
		assert.Equal(t, http.StatusMethodNotAllowed, code)
		assert.Equal(t, "GET, HEAD, OPTIONS", h.Get("Allow"))
	})

	waitQuiet(t, n)
	// The four allowed payments went through; none of the refused did.
	assert.Equal(t, alice-4*100, n.balance("alice@alpha"))
}

func port(hostport string) string { return hostport[strings.LastIndexByte(hostport, ':')+1:] }

// Answers carry no gRPC metadata headers; a loopback page may call the
// TPAP (CORS); HEAD answers as GET without the body.
func TestRESTHeaders(t *testing.T) {
	n := up(t, nil)
	tp, ok := n.c.Dir.Node("tpap")
	require.True(t, ok)
	base := "http://" + tp.HTTPAddr
	code, h, out := rest(t, http.MethodPost, base+"/v1/payments", `{"payer_vpa":"alice@alpha","payee_vpa":"bob@beta","amount_paise":100,"pin":"1234"}`,
		with(jsonType, "Origin", "http://localhost:5173"))
	require.Equal(t, http.StatusOK, code, "%v", out)
	for k := range h {
		assert.False(t, strings.HasPrefix(strings.ToLower(k), "grpc-"), "no gRPC header %s in a REST answer", k)
	}
	assert.Equal(t, "http://localhost:5173", h.Get("Access-Control-Allow-Origin"))

	req, err := http.NewRequestWithContext(t.Context(), http.MethodHead, base+"/v1/payments/"+out["txn_id"].(string), nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
}
