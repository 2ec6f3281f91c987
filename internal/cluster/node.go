package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/bank"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/fault"
	"github.com/upisim/upisim/internal/gateway"
	"github.com/upisim/upisim/internal/keys"
	"github.com/upisim/upisim/internal/metrics"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/psp"
	upiswitch "github.com/upisim/upisim/switch"
	"github.com/upisim/upisim/tpap"
)

// Role is what every role package provides (see docs/FLOWS.md and the role
// packages): a handler for network messages, plus wiring hooks.
type Role interface {
	node.Handler
	// Attach gives the role its node, before the node starts.
	Attach(n *node.Node)
	// Seed loads the network file's accounts/users on first start; it is
	// idempotent.
	Seed() error
	// Register registers the role's gRPC services (not AdminService).
	Register(s *grpc.Server)
}

// gatewayReg registers one app-facing service on the REST gateway.
type gatewayReg = func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error

// roleKinds are the roles a node may have: how to build each, and the
// app-facing services its gateway serves as REST beside AdminService. A
// role's network messages are its own route table (node.Routes).
var roleKinds = map[string]struct {
	build func(n *config.Network, self *config.Node, log *slog.Logger, psp func(string) (upiv1.PspAppServiceClient, error)) (Role, error)
	rest  []gatewayReg
}{
	config.RoleSwitch: {build: func(n *config.Network, self *config.Node, log *slog.Logger, _ func(string) (upiv1.PspAppServiceClient, error)) (Role, error) {
		return upiswitch.New(upiswitch.Config{Network: n, Self: self, Logger: log}), nil
	}},
	config.RolePSP: {build: func(n *config.Network, self *config.Node, log *slog.Logger, _ func(string) (upiv1.PspAppServiceClient, error)) (Role, error) {
		return newPSPNode(n, self, log, nil) // merchant.go
	}, rest: pspREST},
	config.RoleBank: {build: func(n *config.Network, self *config.Node, log *slog.Logger, _ func(string) (upiv1.PspAppServiceClient, error)) (Role, error) {
		return bank.New(bank.Config{Network: n, Self: self, Logger: log}), nil
	}},
	config.RoleTPAP: {build: func(n *config.Network, self *config.Node, log *slog.Logger, pspClient func(string) (upiv1.PspAppServiceClient, error)) (Role, error) {
		return tpap.New(tpap.Config{Network: n, Self: self, Logger: log, PSP: pspClient}), nil
	}, rest: []gatewayReg{upiv1.RegisterTpapAppServiceHandler}},
}

// NewRole builds the role of node self of network n: the switch, a PSP, a
// bank or the TPAP, which reaches the PSPs' app API through pspClient.
func NewRole(n *config.Network, self *config.Node, log *slog.Logger, pspClient func(pspNode string) (upiv1.PspAppServiceClient, error)) (Role, error) {
	k, ok := roleKinds[self.Role]
	if !ok {
		return nil, fmt.Errorf("node %s: unknown role %q", self.Name, self.Role)
	}
	return k.build(n, self, log, pspClient)
}

// restServices are the services each role's HTTP port serves, as the
// OpenAPI documents tag them (gateway.Document): AdminService and the
// roleKinds' rest.
var restServices = map[string][]string{
	config.RoleSwitch: {"AdminService"},
	config.RoleBank:   {"AdminService"},
	config.RolePSP:    {"AdminService", "PspAppService", "MerchantService", "MerchantAdminService"},
	config.RoleTPAP:   {"AdminService", "TpapAppService"},
}

// runner is implemented by roles with background work.
type runner interface {
	Run(ctx context.Context) error
}

// NodeOptions start one node.
type NodeOptions struct {
	// Network is the whole network, with every node's address set.
	Network *config.Network
	// Name is the node to run.
	Name string
	// DataDir holds the node's bbolt file, NAME.db.
	DataDir string
	// GRPC and HTTP are listeners already bound to the node's addresses;
	// if nil, Start listens on the addresses in Network.
	GRPC, HTTP net.Listener
	Logger     *slog.Logger
	// NoSync turns fsync off (benchmark comparisons only).
	NoSync bool
	// Limits bound the node's servers; zero fields take
	// DefaultServerLimits.
	Limits ServerLimits
	// MaxInFlight bounds the requests the node works on at once
	// (node.Config.MaxInFlight; 0 for its default, negative for none).
	MaxInFlight int
	// Retain is how long the node keeps the trace of a transaction it has
	// nothing outstanding for after its last message (node.Config.Retain,
	// `--retain`); 0 keeps everything.
	Retain time.Duration
	// Clock is the node's clock (node.Config.Clock); nil is the real one.
	// The role reads it through its node (node.Node.Clock), the PSP's
	// heartbeats included.
	Clock node.Clock
	// Insecure serves and dials plaintext (as does the network file's
	// tls: off): nodes trust the org_id a message claims. Loopback only.
	// Otherwise the node talks mutual TLS with its certificate from
	// DataDir/pki, which StartNode creates (and the CA) if missing.
	Insecure bool
	// PSPConfig, if set, edits a PSP node's psp.Config before the PSP is
	// made (its hooks: OnOutcome, OnStatus, ...), for tests that watch
	// inside a PSP's steps; the node's PSP is then Node.Impl.(*psp.PSP).
	// Other roles ignore it.
	PSPConfig func(node string, cfg *psp.Config)
	// Console, if set, is served under /console/ on the node's HTTP port
	// (internal/console: `upisim up` gives it to the TPAP, `upisim node
	// --console` to its node), behind the same guard as the REST API.
	Console http.Handler

	// lock is the node's lock in DataDir when Up took it already.
	lock *nodeLock
	// pkiReady: Up ensured DataDir/pki for the whole network already.
	pkiReady bool
}

// Node is a running node.
type Node struct {
	Name string
	Role string
	Node *node.Node
	Impl Role

	db        *store.DB
	lock      *nodeLock
	grpc      *grpc.Server
	health    *nodeHealth
	http      *http.Server
	gwConn    *grpc.ClientConn
	transport *node.GRPCTransport
	pspConns  *connPool
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	grpcAddr  string
	httpAddr  string
	dataDir   string
	log       *slog.Logger
	metrics   *metrics.Metrics // served at GET /metrics
}

// GRPCAddr is the address the node's gRPC server listens on.
func (n *Node) GRPCAddr() string { return n.grpcAddr }

// HTTPAddr is the address the node's REST gateway listens on.
func (n *Node) HTTPAddr() string { return n.httpAddr }

// streamWorkers is the number of goroutines a node's gRPC server keeps for
// calls; more concurrent calls get their own goroutine.
const streamWorkers = 64

// StartNode opens the node's store, builds its role, and serves gRPC and
// REST until Close.
func StartNode(o NodeOptions) (_ *Node, err error) {
	self, ok := o.Network.NodeByName(o.Name)
	if !ok {
		return nil, fmt.Errorf("no node %q in network %q", o.Name, o.Network.Name)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, err
	}
	gl, hl := o.GRPC, o.HTTP
	defer func() {
		if err != nil {
			for _, l := range []net.Listener{gl, hl} {
				if l != nil {
					l.Close()
				}
			}
		}
	}()
	// The data folder's rules (datadir.go) before anything else is opened.
	lock := o.lock
	if lock == nil {
		if lock, err = lockNode(o.DataDir, o.Name); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			lock.release()
		}
	}()
	if err := checkSeeded(o.DataDir, o.Name); err != nil {
		return nil, err
	}
	adminToken, err := EnsureAdminToken(o.DataDir) // token.go
	if err != nil {
		return nil, err
	}
	sec, err := nodeSecurity(o.DataDir, o.Network, o.Name, o.Insecure || o.Network.Insecure(), !o.pkiReady, log.With("node", o.Name))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Name, err)
	}
	// ListenAddr: the address itself, or every interface at its port
	// under http.listen_any (containers, `upisim manifests`).
	if gl == nil {
		if gl, err = net.Listen("tcp", o.Network.ListenAddr(self.GRPCAddr)); err != nil {
			return nil, fmt.Errorf("%s: listen gRPC: %w", o.Name, err)
		}
	}
	if hl == nil {
		if hl, err = net.Listen("tcp", o.Network.ListenAddr(self.HTTPAddr)); err != nil {
			return nil, fmt.Errorf("%s: listen HTTP: %w", o.Name, err)
		}
	}
	limits := o.Limits.withDefaults()
	gl, hl = limitListener(gl, limits.GRPCMaxConns, nil), limitListener(hl, limits.HTTPMaxConns, refuseHTTP)

	// ---- Metrics (issue 13): the node's own registry (internal/metrics),
	// told of commits, messages and decisions, and reading the store.
	mx := metrics.New(o.Name)
	db, err := store.Open(filepath.Join(o.DataDir, o.Name+".db"), store.Options{NoSync: o.NoSync, Buckets: store.RoleBuckets(self.Role), Committed: mx.Committed})
	if err != nil {
		return nil, err
	}
	r := &Node{Name: o.Name, Role: self.Role, db: db, lock: lock, grpcAddr: gl.Addr().String(), httpAddr: hl.Addr().String(), dataDir: o.DataDir, log: log.With("node", o.Name), metrics: mx}
	defer func() {
		if err != nil {
			r.shutdown()
		}
	}()
	if err := mx.WatchStore(db, r.log); err != nil {
		return nil, err
	}
	if self.Role == config.RolePSP {
		if err := mx.WatchCircle(db, r.log); err != nil {
			return nil, err
		}
		if err := mx.WatchMerchant(db, r.log); err != nil {
			return nil, err
		}
	}
	if err := mx.WatchLite(db, self.Role, r.log); err != nil { // UPI Lite's gauges (switch, banks, TPAP)
		return nil, err
	}
	// ---- end of metrics
	resolve := func(name string) (string, bool) {
		nd, ok := o.Network.NodeByName(name)
		if !ok || nd.GRPCAddr == "" {
			return "", false
		}
		return nd.GRPCAddr, true
	}
	r.transport = node.NewGRPCTransport(resolve, sec.peerCreds)
	r.pspConns = &connPool{resolve: resolve, creds: sec.peerCreds, conns: map[string]*grpc.ClientConn{}}

	if self.Role == config.RolePSP && o.PSPConfig != nil {
		edit := func(c *psp.Config) { o.PSPConfig(o.Name, c) }
		if r.Impl, err = newPSPNode(o.Network, self, log.With("node", o.Name), edit); err != nil { // merchant.go
			return nil, err
		}
	} else if r.Impl, err = NewRole(o.Network, self, log.With("node", o.Name), r.pspConns.pspClient); err != nil {
		return nil, err
	}
	// ---- Node keys (issue 9): DATA/NAME.keys (internal/keys), beside the
	// store so that a copy of the .db carries no private key, given to the
	// role before it seeds; each role publishes them to the switch in Seed.
	nodeKeys, err := keys.LoadOrCreate(o.DataDir, o.Name, time.Now())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Name, err)
	}
	if k, ok := r.Impl.(interface{ SetKeys(*keys.Keys) }); ok {
		k.SetKeys(nodeKeys)
	}
	// ---- end of node keys
	if t, ok := r.Impl.(interface{ SetAdminToken(string) }); ok {
		t.SetAdminToken(adminToken)
	}
	r.Node = node.New(node.Config{
		Name: o.Name, Role: self.Role, Prefix: self.Prefix, DB: db,
		Handler: r.Impl, Transport: r.transport, Logger: log,
		Rules:       fault.For(o.Network.Rules, o.Name),
		MaxInFlight: o.MaxInFlight,
		Clock:       o.Clock,
		Throttle:    throttleFor(o.Network, self, o.Clock), // throttle.go
		RequirePeer: !sec.insecure(),
		Observer:    mx,
		Retain:      o.Retain,
	})
	r.Impl.Attach(r.Node)
	if err := r.Impl.Seed(); err != nil {
		return nil, fmt.Errorf("%s: seed: %w", o.Name, err)
	}
	if err := markSeeded(o.DataDir, o.Name, o.Network.Name); err != nil {
		return nil, err
	}

	// Stream workers run the calls in goroutines whose stacks have grown
	// already, instead of a new goroutine per call (which grew its stack
	// in every call: ~3% of the CPU of a pay flow).
	// ServerCodec hands Receive the bytes each network message came in,
	// which it keeps (inbox sha256, trace) rather than marshal it again.
	r.grpc = grpc.NewServer(slices.Concat(limits.grpcOptions(), sec.serverOptions(),
		[]grpc.ServerOption{grpc.NumStreamWorkers(streamWorkers), grpc.ForceServerCodecV2(node.ServerCodec())})...)
	r.Impl.Register(r.grpc)
	upiv1.RegisterAdminServiceServer(r.grpc, &node.AdminServer{Node: r.Node, Role: self.Role, Impl: r.Impl, Token: adminToken})
	r.health = registerHealth(r.grpc) // health.go: NOT_SERVING until started
	r.wg.Add(1)
	go func(l net.Listener) {
		defer r.wg.Done()
		if err := r.grpc.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			log.Error("grpc serve", "node", o.Name, "err", err)
		}
	}(gl)
	gl = nil // owned by the server now

	if err := r.startGateway(hl, self.Role, o.Network.HTTP, limits, sec.appCreds(), o.Console); err != nil {
		return nil, err
	}
	hl = nil

	if err := r.Node.Start(); err != nil {
		return nil, fmt.Errorf("%s: start: %w", o.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	if run, ok := r.Impl.(runner); ok {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := run.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("role stopped", "node", o.Name, "err", err)
			}
		}()
	}
	r.health.serving()
	return r, nil
}

// startGateway serves the node's app-facing API as REST, by the table of
// generated RegisterXHandler calls over a client connection to the node's
// own gRPC server, plus /openapi.json, /metrics, an index at / and the
// console (if given), behind gateway.Guard (Host, Origin,
// Content-Type and body size checks, with the network file's http
// section), in a server bounded by limits. The connection presents no
// client certificate (creds): the gateway reaches the app and admin
// services only, never the network's.
func (r *Node) startGateway(l net.Listener, role string, policy config.HTTP, limits ServerLimits, creds credentials.TransportCredentials, console http.Handler) error {
	conn, err := grpc.NewClient(r.grpcAddr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	r.gwConn = conn
	mux := gateway.NewMux()
	ctx := context.Background()
	regs := append([]gatewayReg{upiv1.RegisterAdminServiceHandler}, roleKinds[role].rest...)
	for _, reg := range regs {
		if err := reg(ctx, mux, conn); err != nil {
			return err
		}
	}
	top := http.NewServeMux()
	doc, err := gateway.Document(r.Name, role, restServices[role])
	if err != nil {
		return err
	}
	top.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	})
	top.Handle("GET /metrics", r.metrics.Handler()) // internal/metrics
	// ---- issue 13 (console): an HTML index at / (index.go), the console
	// under /console/ when the node serves it.
	top.Handle("GET /{$}", indexHandler(r.Name, role, console != nil))
	if console != nil {
		top.Handle("/console/", console)
		top.Handle("/console", console)
	}
	// ---- end of console
	top.Handle("/", mux)
	guarded := gateway.Guard(gateway.Policy{Addr: r.httpAddr, AllowedOrigins: policy.AllowedOrigins, AllowedHosts: policy.AllowedHosts}, top)
	r.http = limits.httpServer(guarded)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := r.http.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Error("http serve", "err", err)
		}
	}()
	return nil
}

// Close stops the node: servers first, then delivery and timers, then the
// store. Everything acked is on disk, so a new StartNode on the same data
// resumes where this one stopped. It takes a few seconds at most, however
// busy the node: the servers get shutdownGrace to finish their calls and
// are then closed, and the store commits what is queued (a bounded amount:
// Config.MaxInFlight) and closes.
func (r *Node) Close() error {
	r.shutdown()
	return nil
}

// shutdownGrace is how long Close lets each server finish the calls it is
// serving before it closes their connections.
const shutdownGrace = 2 * time.Second

func (r *Node) shutdown() {
	if r.health != nil {
		r.health.draining() // probes see NOT_SERVING before the servers stop
	}
	if r.cancel != nil {
		r.cancel()
	}
	if r.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		if r.http.Shutdown(ctx) != nil {
			r.http.Close() // calls still open (long polls): cut them
		}
		cancel()
	}
	if r.grpc != nil {
		stopped := make(chan struct{})
		go func() { r.grpc.GracefulStop(); close(stopped) }()
		t := time.NewTimer(shutdownGrace)
		select {
		case <-stopped:
		case <-t.C:
			r.grpc.Stop()
		}
		t.Stop()
	}
	if r.Node != nil {
		r.Node.Stop()
	}
	r.wg.Wait()
	if r.gwConn != nil {
		r.gwConn.Close()
	}
	if r.transport != nil {
		r.transport.Close()
	}
	if r.pspConns != nil {
		r.pspConns.close()
	}
	if r.db != nil {
		r.db.Close()
	}
	r.lock.release()
}

// connPool keeps one client connection per peer for app-API calls.
type connPool struct {
	resolve node.Resolver
	creds   node.PeerCreds
	mu      sync.Mutex
	conns   map[string]*grpc.ClientConn
}

func (p *connPool) conn(name string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[name]; ok {
		return c, nil
	}
	addr, ok := p.resolve(name)
	if !ok {
		return nil, fmt.Errorf("no address for node %q", name)
	}
	c, err := grpc.NewClient(addr, node.PeerDialOptions(p.creds(name))...)
	if err != nil {
		return nil, err
	}
	p.conns[name] = c
	return c, nil
}

func (p *connPool) pspClient(name string) (upiv1.PspAppServiceClient, error) {
	c, err := p.conn(name)
	if err != nil {
		return nil, err
	}
	return upiv1.NewPspAppServiceClient(c), nil
}

func (p *connPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.conns {
		c.Close()
		delete(p.conns, k)
	}
}
