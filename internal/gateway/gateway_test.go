package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestErrorHandler(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		httpCode int
		grpcCode float64
		msg      string
	}{
		{"invalid argument", status.Error(codes.InvalidArgument, "amount_paise must be greater than 0"), http.StatusBadRequest, 3, "amount_paise must be greater than 0"},
		{"not found", status.Error(codes.NotFound, "no transaction X"), http.StatusNotFound, 5, "no transaction X"},
		{"failed precondition", status.Error(codes.FailedPrecondition, "collect already answered"), http.StatusConflict, 9, "collect already answered"},
		{"unavailable", status.Error(codes.Unavailable, "cannot reach PSP"), http.StatusServiceUnavailable, 14, "cannot reach PSP"},
		{"deadline", status.Error(codes.DeadlineExceeded, "no RespValAdd"), http.StatusGatewayTimeout, 4, "no RespValAdd"},
		{"plain error", errors.New("boom"), http.StatusInternalServerError, 2, "boom"},
		{"explicit HTTP status", &runtime.HTTPStatusError{HTTPStatus: http.StatusMethodNotAllowed, Err: status.Error(codes.Unimplemented, "Method Not Allowed")}, http.StatusMethodNotAllowed, 12, "Method Not Allowed"},
	}
	mux := NewMux()
	_, m := runtime.MarshalerForRequest(mux, httptest.NewRequest(http.MethodGet, "/", nil))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			ErrorHandler(t.Context(), mux, m, w, httptest.NewRequest(http.MethodGet, "/", nil), tc.err)
			assert.Equal(t, tc.httpCode, w.Code)
			var body map[string]any
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
			assert.Equal(t, tc.grpcCode, body["code"])
			assert.Equal(t, tc.msg, body["message"])
		})
	}
}

// TestBusyIs429: a busy node's RESOURCE_EXHAUSTED answers 429 Too Many
// Requests with Retry-After, which clients honour before they retry.
func TestBusyIs429(t *testing.T) {
	mux := NewMux()
	_, m := runtime.MarshalerForRequest(mux, httptest.NewRequest(http.MethodGet, "/", nil))
	w := httptest.NewRecorder()
	ErrorHandler(t.Context(), mux, m, w, httptest.NewRequest(http.MethodPost, "/v1/payments", nil),
		status.Error(codes.ResourceExhausted, "node tpap is busy"))
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, RetryAfter, w.Header().Get("Retry-After"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
	assert.Equal(t, float64(codes.ResourceExhausted), body["code"])

	w = httptest.NewRecorder()
	ErrorHandler(t.Context(), mux, m, w, httptest.NewRequest(http.MethodGet, "/", nil), status.Error(codes.Unavailable, "down"))
	assert.Empty(t, w.Header().Get("Retry-After"), "only a busy node says when to come back")
}

func TestMarshalerUsesProtoNames(t *testing.T) {
	_, m := runtime.MarshalerForRequest(NewMux(), httptest.NewRequest(http.MethodGet, "/", nil))
	b, err := m.Marshal(&upiv1.CreatePaymentResponse{TxnId: "ALP1"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"txn_id":"ALP1","status":"RESULT_UNSPECIFIED"}`, string(b))

	var req upiv1.CreatePaymentRequest
	require.NoError(t, m.Unmarshal([]byte(`{"payer_vpa":"a@b","amount_paise":100}`), &req))
	assert.Equal(t, int64(100), req.GetAmountPaise())
	assert.Error(t, m.Unmarshal([]byte(`{"payer":"a@b"}`), &req), "unknown fields are refused")
}

func TestRoutingErrors(t *testing.T) {
	mux := NewMux()
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/nothing", nil))
	assert.Equal(t, http.StatusNotFound, w.Code)
}

// A body the JSON decoder refuses is named in the API's field names.
func TestBodyErrorSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		`proto: (line 1:66): invalid value for int64 field amountPaise: "x"`: `invalid request body at line 1:66: invalid value for int64 field amount_paise: "x"`,
		`proto: (line 1:2): unknown field "colour"`:                          `invalid request body at line 1:2: unknown field "colour"`,
		`proto: syntax error (line 1:14): unexpected token`:                  `invalid request body: syntax error (line 1:14): unexpected token`,
		`proto: (line 1:3): invalid value for string field payerVpa: 5`:      `invalid request body at line 1:3: invalid value for string field payer_vpa: 5`,
	} {
		assert.Equal(t, want, bodyError(in), in)
	}
}
