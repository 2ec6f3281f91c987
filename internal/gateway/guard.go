package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
)

// DefaultMaxBodyBytes is the largest request body Guard lets through when
// its Policy sets none: every app request is a few hundred bytes.
const DefaultMaxBodyBytes = 64 << 10

// Policy says which HTTP requests a node's REST listener answers. Its zero
// value (with Addr set) answers only requests addressed to the node by a
// loopback name or its own address, from no web page but its own.
type Policy struct {
	// Addr is the listener's address, host:port.
	Addr string
	// AllowedOrigins are the web origins, beyond the node's own, whose
	// pages may call the API ("http://localhost:3000"): scheme, host and
	// port, compared without regard to case.
	AllowedOrigins []string
	// AllowedHosts are the host names, beyond localhost, 127.0.0.1, ::1
	// and the listener's own address, that a request's Host may name
	// ("upisim.internal"); compared without the port.
	AllowedHosts []string
	// MaxBodyBytes caps a request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// Guard answers, before next sees it, a request that a node must not
// serve:
//
//   - a Host that is not the node's (not localhost, 127.0.0.1, ::1, the
//     listener's address or an allowed host) gets 421 Misdirected Request:
//     a web page that rebinds its own DNS name to 127.0.0.1 cannot reach
//     the node;
//   - an Origin header that is not the node's own origin, a loopback one
//     (localhost, 127.0.0.1, [::1], any port: a page under development)
//     nor an allowed one gets 403 Forbidden, so no other web page can make
//     the node pay (requests without Origin, from curl or the CLI, pass).
//     An allowed origin gets the CORS headers, and its preflight (OPTIONS
//     with Access-Control-Request-Method) 204 with the methods and headers
//     it may send;
//   - HEAD is answered as GET without the body;
//   - a body that is not JSON (a Content-Type other than
//     application/json, or none with a body) gets 415 Unsupported Media
//     Type: the types a browser sends cross-origin without asking first
//     (text/plain, forms) are all refused;
//   - a body over MaxBodyBytes gets 413 Content Too Large, without reading
//     more of it than the limit.
//
// Errors are JSON in the gateway's form: {"code", "message", "details"}.
func Guard(p Policy, next http.Handler) http.Handler {
	g := &guard{next: next, max: p.MaxBodyBytes, hosts: []string{"localhost", "127.0.0.1", "::1"}}
	if g.max <= 0 {
		g.max = DefaultMaxBodyBytes
	}
	if h, _, err := net.SplitHostPort(p.Addr); err == nil && h != "" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
			g.hosts = append(g.hosts, strings.ToLower(h))
		}
	}
	for _, h := range p.AllowedHosts {
		g.hosts = append(g.hosts, strings.ToLower(h))
	}
	for _, o := range p.AllowedOrigins {
		g.origins = append(g.origins, normalizeOrigin(o))
	}
	return g
}

type guard struct {
	next    http.Handler
	max     int64
	hosts   []string
	origins []string
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := hostname(r.Host)
	if !slices.Contains(g.hosts, host) {
		refuse(w, http.StatusMisdirectedRequest, codes.PermissionDenied,
			fmt.Sprintf("host %q is not this node's: use localhost or 127.0.0.1, or list it in the network file's http.allowed_hosts", r.Host))
		return
	}
	if origin, ok := r.Header["Origin"]; ok {
		o := ""
		if len(origin) > 0 {
			o = normalizeOrigin(origin[0])
		}
		if o != normalizeOrigin("http://"+r.Host) && !slices.Contains(g.origins, o) && !loopbackOrigin(o) {
			refuse(w, http.StatusForbidden, codes.PermissionDenied,
				fmt.Sprintf("origin %q may not call this node: list it in the network file's http.allowed_origins", strings.Join(origin, ",")))
			return
		}
		// CORS: the page of an allowed origin may read the answer.
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin[0])
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "Allow, Retry-After")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			// A preflight: what a page may send.
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, Idempotency-Key")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	if r.Method == http.MethodHead {
		// HEAD is GET without the body (the gateway routes GET only).
		r.Method = http.MethodGet
		w = headWriter{w}
	}
	ct := r.Header.Get("Content-Type")
	hasBody := r.ContentLength != 0
	if ct != "" || hasBody {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			refuse(w, http.StatusUnsupportedMediaType, codes.InvalidArgument,
				fmt.Sprintf("Content-Type %q is not supported: send the body as application/json", ct))
			return
		}
	}
	if hasBody {
		if r.ContentLength > g.max {
			g.tooLarge(w)
			return
		}
		// Read the body here, at most max bytes of it, so that one that
		// claims no length is cut off as soon as it passes the limit.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.max))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				g.tooLarge(w)
				return
			}
			refuse(w, http.StatusBadRequest, codes.InvalidArgument, "read body: "+err.Error())
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	g.next.ServeHTTP(w, r)
}

func (g *guard) tooLarge(w http.ResponseWriter) {
	// The rest of the body is not read: close the connection after this
	// answer rather than drain it.
	w.Header().Set("Connection", "close")
	refuse(w, http.StatusRequestEntityTooLarge, codes.ResourceExhausted,
		fmt.Sprintf("request body is larger than %d bytes", g.max))
}

// hostname is the lower-case host of a Host header, without port or
// brackets.
func hostname(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
}

// loopbackOrigin: a page served from this machine (http or https,
// localhost, 127.0.0.1 or [::1], any port) may call the nodes: the
// default allow-list, for an app under development.
func loopbackOrigin(o string) bool {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" || u.User != nil {
		return false
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// headWriter answers a HEAD: the headers and status of the GET, no body.
type headWriter struct{ http.ResponseWriter }

func (h headWriter) Write(b []byte) (int, error) { return len(b), nil }

func normalizeOrigin(o string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))
}

// refuse writes an error the way ErrorHandler does.
func refuse(w http.ResponseWriter, httpStatus int, c codes.Code, msg string) {
	body, _ := json.Marshal(map[string]any{"code": int(c), "message": msg, "details": []any{}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	w.Write(body)
}
