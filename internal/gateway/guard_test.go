package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingReader is a body that counts what was read of it.
type countingReader struct {
	left, read int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), c.left)
	for i := range p[:n] {
		p[i] = ' '
	}
	c.left -= n
	c.read += n
	return int(n), nil
}

func TestGuard(t *testing.T) {
	var reached []byte
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusOK)
	})
	g := Guard(Policy{Addr: "127.0.0.1:7000", AllowedOrigins: []string{"http://localhost:3000"}, AllowedHosts: []string{"upisim.internal"}}, next)
	const body = `{"amount_paise":1}`
	tests := []struct {
		name   string
		host   string
		header map[string]string
		body   string
		code   int
		msg    string
	}{
		{"curl: no origin", "127.0.0.1:7000", map[string]string{"Content-Type": "application/json"}, body, 200, ""},
		{"localhost", "localhost:7000", map[string]string{"Content-Type": "application/json; charset=utf-8"}, body, 200, ""},
		{"ipv6 loopback", "[::1]:7000", nil, "", 200, ""},
		{"GET without body or type", "127.0.0.1:7000", nil, "", 200, ""},
		{"own origin", "127.0.0.1:7000", map[string]string{"Origin": "http://127.0.0.1:7000", "Content-Type": "application/json"}, body, 200, ""},
		{"allowed origin", "127.0.0.1:7000", map[string]string{"Origin": "http://LOCALHOST:3000", "Content-Type": "application/json"}, body, 200, ""},
		{"allowed host", "upisim.internal:7000", map[string]string{"Content-Type": "application/json"}, body, 200, ""},
		{"foreign host (DNS rebinding)", "evil.example:7000", map[string]string{"Content-Type": "application/json"}, body, 421, `host "evil.example:7000" is not this node's`},
		{"foreign origin", "127.0.0.1:7000", map[string]string{"Origin": "http://evil.example", "Content-Type": "application/json"}, body, 403, `origin "http://evil.example" may not call this node`},
		{"null origin", "127.0.0.1:7000", map[string]string{"Origin": "null", "Content-Type": "application/json"}, body, 403, "may not call"},
		{"text/plain", "127.0.0.1:7000", map[string]string{"Content-Type": "text/plain"}, body, 415, `Content-Type "text/plain" is not supported`},
		{"form", "127.0.0.1:7000", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body, 415, "application/json"},
		{"body without type", "127.0.0.1:7000", nil, body, 415, `Content-Type ""`},
		{"text/plain without body", "127.0.0.1:7000", map[string]string{"Content-Type": "text/plain"}, "", 415, "text/plain"},
		{"body over the limit", "127.0.0.1:7000", map[string]string{"Content-Type": "application/json"}, strings.Repeat(" ", DefaultMaxBodyBytes+1), 413, "request body is larger than 65536 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reached = nil
			r := httptest.NewRequest(http.MethodPost, "/v1/payments", strings.NewReader(tc.body))
			r.Host = tc.host
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			g.ServeHTTP(w, r)
			require.Equal(t, tc.code, w.Code, w.Body.String())
			if tc.code == 200 {
				assert.Equal(t, tc.body, string(reached), "the handler gets the whole body")
				return
			}
			assert.Nil(t, reached, "the handler is not reached")
			var e map[string]any
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e), w.Body.String())
			assert.Contains(t, e["message"], tc.msg)
		})
	}

	t.Run("body of unknown length over the limit is cut off", func(t *testing.T) {
		src := &countingReader{left: 1 << 30}
		r := httptest.NewRequest(http.MethodPost, "/v1/payments", src)
		r.Host = "127.0.0.1:7000"
		r.ContentLength = -1 // chunked
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
		assert.Less(t, src.read, int64(2*DefaultMaxBodyBytes), "at most about the limit is read")
	})
	t.Run("declared length over the limit is refused unread", func(t *testing.T) {
		src := &countingReader{left: 1 << 20}
		r := httptest.NewRequest(http.MethodPost, "/v1/payments", src)
		r.Host = "127.0.0.1:7000"
		r.ContentLength = 1 << 20
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
		assert.Zero(t, src.read)
	})
}

func TestMethodNotAllowed(t *testing.T) {
	mux := NewMux()
	// Two of the API's routes, as the generated code registers them.
	require.NoError(t, mux.HandlePath(http.MethodPost, "/v1/payments", func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {}))
	require.NoError(t, mux.HandlePath(http.MethodGet, "/v1/payments/{txn_id}", func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {}))
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodPut, "/v1/payments", "POST, OPTIONS"},
		{http.MethodDelete, "/v1/payments/ALP1", "GET, HEAD, OPTIONS"},
		{http.MethodPatch, "/v1/payments/ALP1", "GET, HEAD, OPTIONS"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
			assert.Equal(t, http.StatusMethodNotAllowed, w.Code, w.Body.String())
			assert.Equal(t, tc.allow, w.Header().Get("Allow"))
			assert.Contains(t, w.Body.String(), "method "+tc.method+" is not allowed on "+tc.path)
		})
	}
	// OPTIONS says what a path serves, with no body.
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodOptions, "/v1/payments/ALP1", nil))
	assert.Equal(t, http.StatusNoContent, w.Code)
	assert.Equal(t, "GET, HEAD, OPTIONS", w.Header().Get("Allow"))
	assert.Empty(t, w.Body.String())
	assert.Equal(t, []string{"GET"}, AllowedMethods("/v1/users/a@b/collects"))
	assert.Equal(t, []string{"POST"}, AllowedMethods("/v1/collects/X/approve"))
	assert.Empty(t, AllowedMethods("/v1/nothing"))
}

// A page of an allowed origin (a loopback one by default) gets the CORS
// headers, its preflight 204 with what it may send; HEAD is GET without
// the body.
func TestGuardCORSAndHead(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"method":"` + r.Method + `"}`))
	})
	g := Guard(Policy{Addr: "127.0.0.1:7000", AllowedOrigins: []string{"https://app.example"}}, next)
	do := func(method, origin string, h map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/v1/payments/ALP1", nil)
		r.Host = "127.0.0.1:7000"
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		for k, v := range h {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		return w
	}
	for _, o := range []string{"http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080", "https://app.example"} {
		w := do(http.MethodGet, o, nil)
		assert.Equal(t, http.StatusOK, w.Code, o)
		assert.Equal(t, o, w.Header().Get("Access-Control-Allow-Origin"), o)
		assert.Equal(t, "Origin", w.Header().Get("Vary"))
	}
	w := do(http.MethodOptions, "http://localhost:5173", map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,idempotency-key"})
	assert.Equal(t, http.StatusNoContent, w.Code)
	assert.Equal(t, "http://localhost:5173", w.Header().Get("Access-Control-Allow-Origin"))
	assert.Contains(t, w.Header().Get("Access-Control-Allow-Methods"), "POST")
	assert.Contains(t, w.Header().Get("Access-Control-Allow-Headers"), "Idempotency-Key")
	assert.Empty(t, w.Body.String())

	w = do(http.MethodGet, "http://localhost.evil.example:5173", nil)
	assert.Equal(t, http.StatusForbidden, w.Code, "a name that only starts like localhost is not loopback")
	assert.Empty(t, w.Header().Get("Access-Control-Allow-Origin"))
	w = do(http.MethodOptions, "http://evil.example", map[string]string{"Access-Control-Request-Method": "POST"})
	assert.Equal(t, http.StatusForbidden, w.Code)

	w = do(http.MethodHead, "", nil)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.Empty(t, w.Body.String(), "HEAD has no body")
	assert.Equal(t, `{"method":"GET"}`, do(http.MethodGet, "", nil).Body.String())
}
