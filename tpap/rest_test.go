package tpap

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/gateway"
)

// restEnv serves the TPAP's gRPC API on 127.0.0.1 and its REST gateway
// through that connection, as the wiring does.
func restEnv(t *testing.T) (*env, http.Handler) {
	t.Helper()
	e := newEnv(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := grpc.NewServer()
	e.x.Register(s)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.Serve(lis)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() {
		conn.Close()
		s.Stop()
		<-served
	})
	mux := gateway.NewMux()
	require.NoError(t, upiv1.RegisterTpapAppServiceHandler(t.Context(), mux, conn))
	return e, mux
}

func do(t *testing.T, h http.Handler, method, path, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var out map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out), "body %s", w.Body.String())
	return w.Code, out
}

func TestRESTPayments(t *testing.T) {
	e, h := restEnv(t)

	code, out := do(t, h, http.MethodPost, "/v1/payments",
		`{"payer_vpa":"alice@alpha","payee_vpa":"bob@beta","amount_paise":25000,"note":"rent","pin":"1234"}`)
	require.Equal(t, http.StatusOK, code, "%v", out)
	assert.Equal(t, "PENDING", out["status"])
	id, _ := out["txn_id"].(string)
	require.Len(t, id, 35)
	require.Len(t, e.psps["alphapsp"].Calls(), 1)

	code, out = do(t, h, http.MethodGet, "/v1/payments/"+id, "")
	require.Equal(t, http.StatusOK, code, "%v", out)
	assert.Equal(t, "PENDING", out["status"])
	assert.Equal(t, "", out["rrn"], "unpopulated fields are shown")
	tx, _ := out["transaction"].(map[string]any)
	assert.Equal(t, "alice@alpha", tx["payer_vpa"])
	assert.Equal(t, "25000", tx["amount_paise"])

	require.Empty(t, e.notify(t, "alphapsp", txnStatus("alice@alpha", id, upiv1.Resp_SUCCESS, "", "512345678901")).GetErr())
	code, out = do(t, h, http.MethodGet, "/v1/payments/"+id+"?wait_ms=1000", "")
	require.Equal(t, http.StatusOK, code, "%v", out)
	assert.Equal(t, "SUCCESS", out["status"])
	assert.Equal(t, "512345678901", out["rrn"])
}

func TestRESTErrors(t *testing.T) {
	_, h := restEnv(t)
	tests := []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"bad amount", http.MethodPost, "/v1/payments",
			`{"payer_vpa":"alice@alpha","payee_vpa":"bob@beta","amount_paise":0,"pin":"1234"}`,
			http.StatusBadRequest, "amount_paise must be greater than 0, got 0"},
		{"negative amount", http.MethodPost, "/v1/payments",
			`{"payer_vpa":"alice@alpha","payee_vpa":"bob@beta","amount_paise":-100,"pin":"1234"}`,
			http.StatusBadRequest, "amount_paise must be greater than 0, got -100"},
		{"unknown field", http.MethodPost, "/v1/payments",
			`{"payer_vpa":"alice@alpha","payee_vpa":"bob@beta","amount":100,"pin":"1234"}`,
			http.StatusBadRequest, "amount"},
		{"unknown handle", http.MethodPost, "/v1/payments",
			`{"payer_vpa":"alice@gamma","payee_vpa":"bob@beta","amount_paise":100,"pin":"1234"}`,
			http.StatusNotFound, "no PSP owns handle @gamma"},
		{"unknown txn", http.MethodGet, "/v1/payments/ALP00000000000000000000000000000000", "",
			http.StatusNotFound, "no transaction"},
		{"approve what is not waiting", http.MethodPost, "/v1/collects/ALP00000000000000000000000000000000/approve", `{"pin":"1234"}`,
			http.StatusNotFound, "no transaction"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := do(t, h, tc.method, tc.path, tc.body)
			assert.Equal(t, tc.code, code, "%v", out)
			msg, _ := out["message"].(string)
			assert.Contains(t, msg, tc.msg)
		})
	}
}

// FailedPrecondition (a request that does not fit the state) is 409.
func TestRESTConflict(t *testing.T) {
	e, h := restEnv(t)
	code, out := do(t, h, http.MethodPost, "/v1/collects",
		`{"payee_vpa":"chai@beta","payer_vpa":"alice@alpha","amount_paise":100}`)
	require.Equal(t, http.StatusOK, code, "%v", out)
	id, _ := out["txn_id"].(string)

	code, out = do(t, h, http.MethodPost, "/v1/collects/"+id+"/approve", `{"pin":"1234"}`)
	assert.Equal(t, http.StatusConflict, code, "%v", out)
	assert.Contains(t, out["message"], "not waiting for alice@alpha")

	require.Empty(t, e.notify(t, "alphapsp", collectRequest("alice@alpha", "chai@beta", id, 100)).GetErr())
	code, out = do(t, h, http.MethodGet, "/v1/users/alice@alpha/collects", "")
	require.Equal(t, http.StatusOK, code, "%v", out)
	collects, _ := out["collects"].([]any)
	assert.Len(t, collects, 1)
	code, out = do(t, h, http.MethodPost, "/v1/collects/"+id+"/decline", `{}`)
	assert.Equal(t, http.StatusOK, code, "%v", out)
}
