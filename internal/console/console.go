// Package console is the web console of a running network (issue 13): one
// page, embedded in the binary (static/, no build step), that shows the
// network's nodes and their health, the transactions live (server-sent
// events), each transaction's cross-node sequence diagram as SVG with every
// message's record on click, balances, UPI Circle links, UPI Lite accounts
// and reconciliations, merchant orders and webhook deliveries, and drives
// the tour's actions (pay, collect, approve) through the TPAP's app API.
//
// It reaches the nodes as the CLI does (internal/cli.Client: network.json,
// the admin token, the CA), so it can be served by any process that has the
// data folder: `upisim up` mounts it on the TPAP's HTTP port under
// /console/, `upisim node --console` on that node's.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	merchantv1 "github.com/upisim/upisim/gen/go/upisim/merchant/v1"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/upi"
)

//go:embed static
var static embed.FS

// Prefix is the path the console is served under.
const Prefix = "/console/"

// Options configure a console.
type Options struct {
	// DataDir is the network's data folder (its network.json, admin token
	// and CA), read at the first request, so the console may be made
	// before the network writes them.
	DataDir string
	// Poll is how often the transaction feed asks the nodes for changes
	// (default 300ms). The nodes are asked only while a page listens.
	Poll time.Duration
	// MaxSubscribers bounds the pages listening to the feed at once
	// (default 16); one more is refused with 503.
	MaxSubscribers int
	// KeepAlive is how often an idle stream gets a comment line (default
	// 15s), so that proxies and the write deadline see it alive.
	KeepAlive time.Duration
	Logger    *slog.Logger
}

// Server is the console, an http.Handler for paths under Prefix.
type Server struct {
	o    Options
	mux  *http.ServeMux
	feed *feed

	mu     sync.Mutex
	client *cli.Client
	closed bool
}

// New makes the console for the network in o.DataDir.
func New(o Options) *Server {
	if o.Poll <= 0 {
		o.Poll = 300 * time.Millisecond
	}
	if o.MaxSubscribers <= 0 {
		o.MaxSubscribers = 16
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{o: o, mux: http.NewServeMux()}
	s.feed = newFeed(s, o.Poll, o.MaxSubscribers)
	s.feed.keepAlive = o.KeepAlive
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded folder is part of the binary
	}
	s.mux.HandleFunc("GET /console/{$}", func(w http.ResponseWriter, r *http.Request) {
		serveFile(w, sub, "index.html", "text/html; charset=utf-8")
	})
	s.mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
	})
	s.mux.HandleFunc("GET /console/static/{file}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		ct := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}[name[strings.LastIndex(name, "."):]]
		if ct == "" || strings.Contains(name, "/") {
			apiError(w, http.StatusNotFound, "no such file")
			return
		}
		serveFile(w, sub, name, ct)
	})
	s.api("GET /console/api/nodes", s.nodes)
	s.api("GET /console/api/txns", s.txns)
	s.api("GET /console/api/txn/{id}", s.txn)
	s.api("GET /console/api/txn/{id}/trace", s.trace)
	s.mux.HandleFunc("GET /console/api/txn/{id}/trace.svg", s.traceSVG)
	s.api("GET /console/api/balances", s.balances)
	s.api("GET /console/api/circle", s.circle)
	s.api("GET /console/api/lite", s.lite)
	s.api("GET /console/api/orders", s.orders)
	s.api("GET /console/api/webhooks", s.webhooks)
	s.api("GET /console/api/collects", s.collects)
	s.api("POST /console/api/pay", s.pay)
	s.api("POST /console/api/collect", s.collect)
	s.api("POST /console/api/approve", s.approve)
	s.mux.HandleFunc("GET /console/api/events", s.feed.serve)
	s.mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, fmt.Sprintf("no console page %s %s", r.Method, r.URL.Path))
	})
	return s
}

func serveFile(w http.ResponseWriter, fsys fs.FS, name, ct string) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		apiError(w, http.StatusNotFound, "no such file")
		return
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	// The page runs only its own script and styles, and frames nothing.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	w.Write(b)
}

// ServeHTTP serves loopback clients only: the console reads with the
// network's admin token (balances, every node's records), which a client
// of the REST API does not hold, so it is for the machine's own user even
// when the node's port listens wider.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !loopback(r.RemoteAddr) {
		apiError(w, http.StatusForbidden, "the console answers clients on this machine only (127.0.0.1 or ::1): it reads with the admin token")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// loopback reports whether addr (host:port) is a loopback address.
func loopback(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		h = addr
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Close ends the feed's streams (so that a server's Shutdown need not wait
// for them) and closes the connections to the nodes.
func (s *Server) Close() error {
	s.feed.close()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.client != nil {
		s.client.Close()
		s.client = nil
	}
	return nil
}

// cli is the client of the network, connected at the first call.
func (s *Server) cli() (*cli.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("the console is closed")
	}
	if s.client == nil {
		c, err := cli.Connect(s.o.DataDir)
		if err != nil {
			return nil, err
		}
		s.client = c
	}
	return s.client, nil
}

// api serves f's value as JSON, its error as {"error": ...} with the HTTP
// status of its gRPC code.
func (s *Server) api(pattern string, f func(context.Context, *cli.Client, *http.Request) (any, error)) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		c, err := s.cli()
		if err != nil {
			apiError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		defer cancel()
		v, err := f(ctx, c, r)
		if err != nil {
			var be badRequest
			switch {
			case errors.As(err, &be):
				apiError(w, http.StatusBadRequest, be.msg)
			default:
				st, _ := status.FromError(err)
				apiError(w, httpStatus(st.Code()), st.Message())
			}
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

type badRequest struct{ msg string }

func (b badRequest) Error() string { return b.msg }

func httpStatus(c codes.Code) int {
	switch c {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// pj is a proto message as the REST API shows it (proto field names);
// with defaults, its zero scalars too (a balance of 0).
type pj struct {
	m        proto.Message
	defaults bool
}

func (p pj) MarshalJSON() ([]byte, error) {
	return protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: p.defaults}.Marshal(p.m)
}

func pjs[M proto.Message](ms []M) []pj {
	out := make([]pj, len(ms))
	for i, m := range ms {
		out[i] = pj{m: m}
	}
	return out
}

// perNode is one node's answer, or why it has none.
type perNode struct {
	Node  string `json:"node"`
	Role  string `json:"role"`
	Error string `json:"error,omitempty"`
	Items []pj   `json:"items"`
	// Extra is what else the node said (a bank's total).
	Extra map[string]any `json:"extra,omitempty"`
}

// eachNode asks every node of the roles given with f, in parallel, in
// network.json's order.
func eachNode(ctx context.Context, c *cli.Client, roles []string, f func(context.Context, config.NodeAddr, upiv1.AdminServiceClient, *perNode) error) []perNode {
	var nds []config.NodeAddr
	for _, nd := range c.Dir.Nodes {
		if len(roles) == 0 || contains(roles, nd.Role) {
			nds = append(nds, nd)
		}
	}
	out := make([]perNode, len(nds))
	var wg sync.WaitGroup
	for i, nd := range nds {
		wg.Go(func() {
			p := &out[i]
			p.Node, p.Role, p.Items = nd.Name, nd.Role, []pj{}
			a, err := c.Admin(nd.Name)
			if err == nil {
				err = f(ctx, nd, a, p)
			}
			if err != nil {
				p.Error = status.Convert(err).Message()
			}
		})
	}
	wg.Wait()
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// nodeHealth is one node of the network map.
type nodeHealth struct {
	Name     string   `json:"name"`
	Role     string   `json:"role"`
	GRPCAddr string   `json:"grpc_addr"`
	HTTPAddr string   `json:"http_addr"`
	Handles  []string `json:"handles,omitempty"`
	OK       bool     `json:"ok"`
	Reason   string   `json:"reason,omitempty"`
	Health   *pj      `json:"health,omitempty"`
}

func (s *Server) nodes(ctx context.Context, c *cli.Client, _ *http.Request) (any, error) {
	out := make([]nodeHealth, len(c.Dir.Nodes))
	var wg sync.WaitGroup
	for i, nd := range c.Dir.Nodes {
		wg.Go(func() {
			h := nodeHealth{Name: nd.Name, Role: nd.Role, GRPCAddr: nd.GRPCAddr, HTTPAddr: nd.HTTPAddr, Handles: nd.Handles}
			a, err := c.Admin(nd.Name)
			var r *upiv1.HealthResponse
			if err == nil {
				hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				r, err = a.Health(hctx, &upiv1.HealthRequest{})
				cancel()
			}
			if err != nil {
				h.Reason = status.Convert(err).Message()
			} else {
				h.OK, h.Reason, h.Health = r.GetOk(), r.GetReason(), &pj{m: r}
			}
			out[i] = h
		})
	}
	wg.Wait()
	return map[string]any{"network": c.Dir.Network, "nodes": out}, nil
}

func (s *Server) txns(ctx context.Context, c *cli.Client, _ *http.Request) (any, error) {
	rows, err := listTxns(ctx, c)
	if err != nil {
		return nil, err
	}
	return map[string]any{"transactions": rows}, nil
}

func (s *Server) txn(ctx context.Context, c *cli.Client, r *http.Request) (any, error) {
	id := r.PathValue("id")
	out := eachNode(ctx, c, nil, func(ctx context.Context, _ config.NodeAddr, a upiv1.AdminServiceClient, p *perNode) error {
		t, err := a.GetTransaction(ctx, &upiv1.GetTransactionRequest{TxnId: id})
		if status.Code(err) == codes.NotFound {
			return nil
		}
		if err != nil {
			return err
		}
		p.Items = append(p.Items, pj{m: t})
		return nil
	})
	return map[string]any{"txn_id": id, "nodes": out}, nil
}

func (s *Server) trace(ctx context.Context, c *cli.Client, r *http.Request) (any, error) {
	res, err := cli.CollectTrace(ctx, c, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (s *Server) traceSVG(w http.ResponseWriter, r *http.Request) {
	c, err := s.cli()
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	id := r.PathValue("id")
	res, err := cli.CollectTrace(ctx, c, id)
	if err != nil {
		apiError(w, http.StatusBadGateway, err.Error())
		return
	}
	if len(res.Messages) == 0 {
		apiError(w, http.StatusNotFound, "no node has messages for transaction "+id)
		return
	}
	var names []string
	for _, nd := range c.Dir.Nodes {
		names = append(names, nd.Name)
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	WriteSVG(w, names, res)
}

func (s *Server) balances(ctx context.Context, c *cli.Client, _ *http.Request) (any, error) {
	return eachNode(ctx, c, []string{config.RoleBank}, func(ctx context.Context, _ config.NodeAddr, a upiv1.AdminServiceClient, p *perNode) error {
		r, err := a.ListAccounts(ctx, &upiv1.ListAccountsRequest{})
		if err != nil {
			return err
		}
		p.Items = pjs(r.GetAccounts())
		for i := range p.Items {
			p.Items[i].defaults = true // a zero balance shows as 0
		}
		p.Extra = map[string]any{"total": upi.FormatPaise(r.GetTotalPaise())}
		return nil
	}), nil
}

func (s *Server) circle(ctx context.Context, c *cli.Client, _ *http.Request) (any, error) {
	return eachNode(ctx, c, []string{config.RolePSP, config.RoleSwitch}, func(ctx context.Context, _ config.NodeAddr, a upiv1.AdminServiceClient, p *perNode) error {
		r, err := a.ListCircleLinks(ctx, &upiv1.AdminServiceListCircleLinksRequest{Limit: 200})
		if err != nil {
			return err
		}
		p.Items = pjs(r.GetRecords())
		return nil
	}), nil
}

// lite is every node's UPI Lite accounts (LRNs), the offline records the
// switch knows (each with the sync batch that posted it) and the switch's
// reconciliations.
func (s *Server) lite(ctx context.Context, c *cli.Client, _ *http.Request) (any, error) {
	var recMu sync.Mutex
	var records []*upiv1.LiteRecordResult
	accounts := eachNode(ctx, c, []string{config.RoleSwitch, config.RoleBank, config.RoleTPAP}, func(ctx context.Context, nd config.NodeAddr, a upiv1.AdminServiceClient, p *perNode) error {
		sw := nd.Role == config.RoleSwitch
		r, err := a.ListLiteAccounts(ctx, &upiv1.ListLiteAccountsRequest{WithRecords: sw})
		if err != nil {
			return err
		}
		for _, acc := range r.GetAccounts() {
			if sw {
				recMu.Lock()
				records = append(records, acc.GetRecords()...)
				recMu.Unlock()
			}
			acc.Records = nil // listed apart, by batch
		}
		p.Items = pjs(r.GetAccounts())
		return nil
	})
	sort.SliceStable(records, func(i, j int) bool {
		a, b := records[i], records[j]
		if a.GetBatchTxnId() != b.GetBatchTxnId() {
			return a.GetBatchTxnId() > b.GetBatchTxnId()
		}
		return a.GetCounter() < b.GetCounter()
	})
	recons := eachNode(ctx, c, []string{config.RoleSwitch}, func(ctx context.Context, _ config.NodeAddr, a upiv1.AdminServiceClient, p *perNode) error {
		r, err := a.ListLiteRecons(ctx, &upiv1.ListLiteReconsRequest{Limit: 50})
		if err != nil {
			return err
		}
		p.Items = pjs(r.GetRecons())
		return nil
	})
	return map[string]any{"accounts": accounts, "records": pjs(records), "recons": recons}, nil
}

func (s *Server) orders(ctx context.Context, c *cli.Client, _ *http.Request) (any, error) {
	return eachNode(ctx, c, []string{config.RolePSP}, func(ctx context.Context, nd config.NodeAddr, _ upiv1.AdminServiceClient, p *perNode) error {
		m, err := c.MerchantAdmin(nd.Name)
		if err != nil {
			return err
		}
		r, err := m.ListOrders(ctx, &merchantv1.ListOrdersRequest{Limit: 200})
		if err != nil {
			return err
		}
		p.Items = pjs(r.GetOrders())
		return nil
	}), nil
}

// webhooks lists the deliveries of every merchant that has an order, each
// through its own merchant API (as `upisim merchant` does).
func (s *Server) webhooks(ctx context.Context, c *cli.Client, _ *http.Request) (any, error) {
	orders, err := s.orders(ctx, c, nil)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var vpas []string
	for _, p := range orders.([]perNode) {
		for _, it := range p.Items {
			v := it.m.(*merchantv1.Order).GetMerchantVpa()
			if v != "" && !seen[v] {
				seen[v] = true
				vpas = append(vpas, v)
			}
		}
	}
	sort.Strings(vpas)
	type merchantDeliveries struct {
		Merchant string `json:"merchant"`
		Error    string `json:"error,omitempty"`
		Items    []pj   `json:"items"`
	}
	out := make([]merchantDeliveries, len(vpas))
	var wg sync.WaitGroup
	for i, v := range vpas {
		wg.Go(func() {
			out[i] = merchantDeliveries{Merchant: v, Items: []pj{}}
			api, mctx, _, err := c.Merchant(ctx, v)
			var r *merchantv1.ListDeliveriesResponse
			if err == nil {
				r, err = api.ListDeliveries(mctx, &merchantv1.ListDeliveriesRequest{Limit: 100})
			}
			if err != nil {
				out[i].Error = status.Convert(err).Message()
				return
			}
			out[i].Items = pjs(r.GetDeliveries())
		})
	}
	wg.Wait()
	return out, nil
}

func (s *Server) collects(ctx context.Context, c *cli.Client, r *http.Request) (any, error) {
	vpa := r.URL.Query().Get("vpa")
	if vpa == "" {
		return nil, badRequest{"give the payer's VPA: ?vpa=..."}
	}
	tp, err := c.TPAP()
	if err != nil {
		return nil, err
	}
	res, err := tp.ListCollects(ctx, &upiv1.ListCollectsRequest{Vpa: vpa})
	if err != nil {
		return nil, err
	}
	return map[string]any{"collects": pjs(res.GetCollects())}, nil
}

// decode reads a JSON body into v, refusing unknown fields.
func decode(r *http.Request, v any) error {
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return badRequest{"bad JSON body: " + err.Error()}
	}
	return nil
}

// payForm is the page's pay form. The PIN goes to the TPAP as `upisim
// pay --pin` sends it, and is never logged.
type payForm struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Amount string `json:"amount"`
	Note   string `json:"note"`
	PIN    string `json:"pin"`
}

func (s *Server) pay(ctx context.Context, c *cli.Client, r *http.Request) (any, error) {
	var f payForm
	if err := decode(r, &f); err != nil {
		return nil, err
	}
	if f.From == "" || f.To == "" {
		return nil, badRequest{"give the payer (from) and the payee (to)"}
	}
	amt, err := upi.ParseRupees(f.Amount)
	if err != nil {
		return nil, badRequest{"amount: " + err.Error()}
	}
	tp, err := c.TPAP()
	if err != nil {
		return nil, err
	}
	res, err := tp.CreatePayment(ctx, &upiv1.CreatePaymentRequest{PayerVpa: f.From, PayeeVpa: f.To, AmountPaise: amt, Note: f.Note, Pin: f.PIN})
	if err != nil {
		return nil, err
	}
	s.feed.poke()
	return pj{m: res}, nil
}

type collectForm struct {
	Payee  string `json:"payee"`
	Payer  string `json:"payer"`
	Amount string `json:"amount"`
	Note   string `json:"note"`
}

func (s *Server) collect(ctx context.Context, c *cli.Client, r *http.Request) (any, error) {
	var f collectForm
	if err := decode(r, &f); err != nil {
		return nil, err
	}
	if f.Payee == "" || f.Payer == "" {
		return nil, badRequest{"give the payee (who asks) and the payer (who is asked)"}
	}
	amt, err := upi.ParseRupees(f.Amount)
	if err != nil {
		return nil, badRequest{"amount: " + err.Error()}
	}
	tp, err := c.TPAP()
	if err != nil {
		return nil, err
	}
	res, err := tp.CreateCollect(ctx, &upiv1.CreateCollectRequest{PayeeVpa: f.Payee, PayerVpa: f.Payer, AmountPaise: amt, Note: f.Note})
	if err != nil {
		return nil, err
	}
	s.feed.poke()
	return pj{m: res}, nil
}

type approveForm struct {
	TxnID string `json:"txn_id"`
	PIN   string `json:"pin"`
}

func (s *Server) approve(ctx context.Context, c *cli.Client, r *http.Request) (any, error) {
	var f approveForm
	if err := decode(r, &f); err != nil {
		return nil, err
	}
	if f.TxnID == "" {
		return nil, badRequest{"give the collect's txn_id"}
	}
	tp, err := c.TPAP()
	if err != nil {
		return nil, err
	}
	res, err := tp.ApproveCollect(ctx, &upiv1.ApproveCollectRequest{TxnId: f.TxnID, Pin: f.PIN})
	if err != nil {
		return nil, err
	}
	s.feed.poke()
	return pj{m: res}, nil
}
