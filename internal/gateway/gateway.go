package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// NewMux returns a ServeMux for the generated Register*Handler functions.
//
// JSON uses the proto field names (payer_vpa, amount_paise), shows every
// field including zero values, and refuses unknown fields with 400. Errors
// answer with the gRPC status as JSON ({"code", "message", "details"}, as in
// the OpenAPI document) and the HTTP status of runtime.HTTPStatusFromCode
// (InvalidArgument 400, NotFound 404, Unavailable 503, ...), except that
// FailedPrecondition, a request that does not fit the resource's state
// (approving a collect twice), answers 409 Conflict.
func NewMux(opts ...runtime.ServeMuxOption) *runtime.ServeMux {
	base := []runtime.ServeMuxOption{
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
		runtime.WithErrorHandler(ErrorHandler),
	}
	return runtime.NewServeMux(append(base, opts...)...)
}

// HTTPStatus is the HTTP status NewMux answers a gRPC code with.
func HTTPStatus(c codes.Code) int {
	if c == codes.FailedPrecondition {
		return http.StatusConflict
	}
	return runtime.HTTPStatusFromCode(c)
}

// RetryAfter is the Retry-After header (seconds) of a 429: a node that is
// busy (RESOURCE_EXHAUSTED) has room again once its current batches
// commit, well within a second.
const RetryAfter = "1"

// ErrorHandler writes err as its gRPC status with the HTTP status
// HTTPStatus gives. RESOURCE_EXHAUSTED (a busy node) answers 429 with
// Retry-After.
func ErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if status.Code(err) == codes.ResourceExhausted {
		w.Header().Set("Retry-After", RetryAfter)
	}
	var custom *runtime.HTTPStatusError
	if !errors.As(err, &custom) {
		err = &runtime.HTTPStatusError{HTTPStatus: HTTPStatus(status.Code(err)), Err: err}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}
