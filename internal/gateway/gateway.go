package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/upisim/upisim/gen/openapi"
)

// NewMux returns a ServeMux for the generated Register*Handler functions.
//
// JSON uses the proto field names (payer_vpa, amount_paise), shows every
// field including zero values, and refuses unknown fields with 400. Errors
// answer with the gRPC status as JSON ({"code", "message", "details"}, as in
// the OpenAPI document) and the HTTP status of runtime.HTTPStatusFromCode
// (InvalidArgument 400, NotFound 404, Unavailable 503, ...), except that
// FailedPrecondition, a request that does not fit the resource's state
// (approving a collect twice), answers 409 Conflict. A method the path
// does not serve answers 405 Method Not Allowed with an Allow header
// (RoutingErrorHandler). The Idempotency-Key header reaches the gRPC
// server as the metadata IdempotencyKeyMD.
func NewMux(opts ...runtime.ServeMuxOption) *runtime.ServeMux {
	base := []runtime.ServeMuxOption{
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
		runtime.WithErrorHandler(ErrorHandler),
		runtime.WithRoutingErrorHandler(RoutingErrorHandler),
		runtime.WithIncomingHeaderMatcher(HeaderMatcher),
		// The gRPC server's metadata is not the REST API's: no
		// Grpc-Metadata-* headers or trailers in answers.
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithOutgoingTrailerMatcher(func(string) (string, bool) { return "", false }),
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
	if st, ok := status.FromError(err); ok && st.Code() == codes.InvalidArgument && strings.HasPrefix(st.Message(), "proto:") {
		err = status.Error(codes.InvalidArgument, bodyError(st.Message()))
	}
	var custom *runtime.HTTPStatusError
	if !errors.As(err, &custom) {
		err = &runtime.HTTPStatusError{HTTPStatus: HTTPStatus(status.Code(err)), Err: err}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// IdempotencyKeyMD is the gRPC metadata key the gateway puts an HTTP
// request's Idempotency-Key header under. A server reads it with
// IdempotencyKey.
const IdempotencyKeyMD = "idempotency-key"

// HeaderMatcher forwards the Idempotency-Key header as the metadata
// IdempotencyKeyMD, besides what runtime.DefaultHeaderMatcher forwards.
func HeaderMatcher(key string) (string, bool) {
	if textproto.CanonicalMIMEHeaderKey(key) == "Idempotency-Key" {
		return IdempotencyKeyMD, true
	}
	return runtime.DefaultHeaderMatcher(key)
}

// IdempotencyKey returns the idempotency key of a call: field, the
// request message's idempotency_key, or else the metadata IdempotencyKeyMD
// (the HTTP header). When both are given they must agree.
func IdempotencyKey(ctx context.Context, field string) (string, error) {
	vals := metadata.ValueFromIncomingContext(ctx, IdempotencyKeyMD)
	switch {
	case len(vals) > 1:
		return "", status.Errorf(codes.InvalidArgument, "%d Idempotency-Key headers; give one", len(vals))
	case len(vals) == 0:
		return field, nil
	case field != "" && field != vals[0]:
		return "", status.Errorf(codes.InvalidArgument, "the Idempotency-Key header %q and the body's idempotency_key %q differ", vals[0], field)
	}
	return vals[0], nil
}

// RoutingErrorHandler answers a request the mux has no route for: 405 with
// an Allow header listing the methods the path serves (from the OpenAPI
// document), and runtime.DefaultRoutingErrorHandler's answer otherwise.
func RoutingErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if httpStatus != http.StatusMethodNotAllowed {
		runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, httpStatus)
		return
	}
	allow := AllowedMethods(r.URL.Path)
	if slices.Contains(allow, http.MethodGet) && !slices.Contains(allow, http.MethodHead) {
		allow = append(allow, http.MethodHead) // Guard answers HEAD as GET
	}
	allow = append(allow, http.MethodOptions)
	w.Header().Set("Allow", strings.Join(allow, ", "))
	if r.Method == http.MethodOptions {
		// What the path serves, with no body (RFC 9110 §9.3.7).
		w.WriteHeader(http.StatusNoContent)
		return
	}
	err := status.Errorf(codes.Unimplemented, "method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", "))
	ErrorHandler(ctx, mux, m, w, r, &runtime.HTTPStatusError{HTTPStatus: http.StatusMethodNotAllowed, Err: err})
}

// routes are the OpenAPI document's paths, split into segments, with the
// methods each serves.
var routes = sync.OnceValue(func() []route {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	var out []route
	for _, b := range [][]byte{openapi.JSON, openapi.MerchantJSON} {
		doc.Paths = nil
		if err := json.Unmarshal(b, &doc); err != nil {
			panic("gateway: embedded OpenAPI document: " + err.Error())
		}
		out = appendRoutes(out, doc.Paths)
	}
	return out
})

// appendRoutes adds the paths of an OpenAPI document to out.
func appendRoutes(out []route, paths map[string]map[string]json.RawMessage) []route {
	for path, ops := range paths {
		rt := route{segs: strings.Split(strings.Trim(path, "/"), "/")}
		for m := range ops {
			rt.methods = append(rt.methods, strings.ToUpper(m))
		}
		out = append(out, rt)
	}
	return out
}

type route struct {
	segs    []string
	methods []string
}

// AllowedMethods lists, sorted, the methods the REST API serves on path (a
// "{var}" segment of a route matches any one segment).
func AllowedMethods(path string) []string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var out []string
	for _, rt := range routes() {
		if len(rt.segs) != len(segs) {
			continue
		}
		match := true
		for i, s := range rt.segs {
			if !strings.HasPrefix(s, "{") && s != segs[i] {
				match = false
				break
			}
		}
		if match {
			out = append(out, rt.methods...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// protoPrefix is how protojson starts its errors: "proto: (line 1:66): ".
var protoPrefix = regexp.MustCompile(`^proto:\s*(\(line \d+:\d+\):\s*)?`)

// protoField is a field name in a protojson error: the JSON (camelCase)
// name, where the API's are the proto names (snake_case).
var protoField = regexp.MustCompile(`(field|name) ("?)([a-z][A-Za-z0-9]*)`)

// bodyError is a protojson error about a request body in the API's words:
// field names as the API spells them (amount_paise, not amountPaise).
func bodyError(msg string) string {
	loc := ""
	if m := protoPrefix.FindStringSubmatch(msg); len(m) > 1 && m[1] != "" {
		loc = " at " + strings.TrimSuffix(strings.TrimSpace(strings.Trim(strings.TrimSpace(m[1]), "():")), ")")
	}
	msg = protoPrefix.ReplaceAllString(msg, "")
	msg = protoField.ReplaceAllStringFunc(msg, func(s string) string {
		p := protoField.FindStringSubmatch(s)
		return p[1] + " " + p[2] + snake(p[3])
	})
	return "invalid request body" + loc + ": " + msg
}

// snake is a lowerCamel name in snake_case.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r + ('a' - 'A'))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
