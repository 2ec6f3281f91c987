package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/audit"
	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/fault"
	"github.com/upisim/upisim/internal/keys"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/merchant"
	"github.com/upisim/upisim/psp"
	"github.com/upisim/upisim/tpap"
)

// errDown is what a call to a node that is restarting gets; the caller
// tries again.
var errDown = errors.New("node is down (restarting)")

// network is every node of a network file, each with its own bbolt file,
// delivering to each other through one InmemTransport.
type network struct {
	cfg   *config.Network
	dir   string
	tr    *node.InmemTransport
	log   *slog.Logger
	nodes map[string]*simNode
	order []string
	// faults gives the fault layer of the node called from.
	faults func(from string) func(node.Outbound) fault.Fault
}

// simNode is one node; it can be stopped and started again on its file.
type simNode struct {
	nw   *network
	self *config.Node
	path string

	mu    sync.RWMutex // write-held while stopping or starting
	db    *store.DB
	n     *node.Node
	role  cluster.Role
	admin *node.AdminServer
	// keys are the node's, made once and kept across its restarts as
	// NAME.keys is under cluster.
	keys *keys.Keys
}

func newNetwork(cfg *config.Network, dir string, log *slog.Logger, faults func(string) func(node.Outbound) fault.Fault) *network {
	nw := &network{cfg: cfg, dir: dir, tr: node.NewInmemTransport(), log: log, nodes: map[string]*simNode{}, faults: faults}
	for i := range cfg.Nodes {
		self := &cfg.Nodes[i]
		k, err := keys.Generate(self.Name, time.Now())
		if err != nil {
			panic(err)
		}
		nw.nodes[self.Name] = &simNode{nw: nw, self: self, path: filepath.Join(dir, self.Name+".db"), keys: k}
		nw.order = append(nw.order, self.Name)
	}
	return nw
}

// start starts every node.
func (nw *network) start() error {
	for _, name := range nw.order {
		if err := nw.nodes[name].start(); err != nil {
			return err
		}
	}
	return nil
}

// stop stops every node that is running.
func (nw *network) stop() {
	for _, name := range nw.order {
		nw.nodes[name].stop()
	}
}

// start opens the node's store, builds its role and node and starts it,
// as cluster.StartNode does, but reachable only through the transport.
func (sn *simNode) start() error {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.n != nil {
		return nil
	}
	nw := sn.nw
	db, err := store.Open(sn.path, store.Options{})
	if err != nil {
		return err
	}
	// The TPAP reaches the PSPs' app API in process (simPSP): the
	// simulation drives the PSPs' app API itself for pays, collects and
	// Circle, and the TPAP's for UPI Lite, whose phones it is.
	role, err := cluster.NewRole(nw.cfg, sn.self, nw.log.With("node", sn.self.Name), func(name string) (upiv1.PspAppServiceClient, error) {
		p, ok := nw.nodes[name]
		if !ok {
			return nil, fmt.Errorf("no node %q", name)
		}
		return simPSP{sn: p}, nil
	})
	if err != nil {
		db.Close()
		return err
	}
	// The node's keys outlive its restarts, as NAME.keys does under
	// cluster: a PSP's fingerprint key (an app's retry after a restart is
	// still the same payment), a bank's HPKE key and pepper.
	role.(interface{ SetKeys(*keys.Keys) }).SetKeys(sn.keys)
	n := node.New(node.Config{
		Name: sn.self.Name, Role: sn.self.Role, Prefix: sn.self.Prefix, DB: db,
		Handler: role, Transport: nw.tr, Logger: nw.log,
		// Short backoff, so that a node back from a restart hears its
		// peers' retries well within the switch's timeouts.
		RetryMin: 5 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		// A webhook endpoint that never answers holds an attempt this
		// long (an in-process send takes far less).
		SendTimeout: time.Second,
		Rules:       fault.For(nw.cfg.Rules, sn.self.Name),
		Faults:      nw.faults(sn.self.Name),
	})
	role.Attach(n)
	if err := role.Seed(); err != nil {
		db.Close()
		return fmt.Errorf("%s: seed: %w", sn.self.Name, err)
	}
	nw.tr.Attach(n)
	if err := n.Start(); err != nil {
		nw.tr.Detach(sn.self.Name)
		n.Stop()
		db.Close()
		return fmt.Errorf("%s: start: %w", sn.self.Name, err)
	}
	sn.db, sn.n, sn.role = db, n, role
	sn.admin = &node.AdminServer{Node: n, Role: sn.self.Role, Impl: role}
	return nil
}

// stop makes the node unreachable, stops its delivery and timers and
// closes its store: everything it acked is on disk for the next start.
func (sn *simNode) stop() {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.n == nil {
		return
	}
	sn.nw.tr.Detach(sn.self.Name)
	sn.n.Stop()
	sn.db.Close()
	sn.db, sn.n, sn.role, sn.admin = nil, nil, nil, nil
}

// restart stops the node, waits down, and starts it again.
func (sn *simNode) restart(down time.Duration) error {
	sn.stop()
	time.Sleep(down)
	return sn.start()
}

// withPSP calls fn with the running PSP's app API, or fails with errDown.
func (sn *simNode) withPSP(fn func(p *psp.PSP) error) error {
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	if sn.n == nil {
		return errDown
	}
	p := cluster.PSPOf(sn.role)
	ok := p != nil
	if !ok {
		return fmt.Errorf("node %s is a %s, not a PSP", sn.self.Name, sn.self.Role)
	}
	return fn(p)
}

// withTPAP calls fn with the running TPAP's app API, or fails with
// errDown.
func (sn *simNode) withTPAP(fn func(x *tpap.TPAP) error) error {
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	if sn.n == nil {
		return errDown
	}
	x, ok := sn.role.(*tpap.TPAP)
	if !ok {
		return fmt.Errorf("node %s is a %s, not the TPAP", sn.self.Name, sn.self.Role)
	}
	return fn(x)
}

// simPSP is a PSP's app API as the TPAP calls it, in process: the calls
// UPI Lite makes (RegisterLite, InitiatePay, SyncLite, DisableLite). A
// call to a PSP that is restarting waits for it to be back (it never
// reached the PSP), as the TPAP's gRPC client would reconnect.
type simPSP struct {
	upiv1.PspAppServiceClient // nil: any other call panics
	sn                        *simNode
}

func simCall[R any](ctx context.Context, sn *simNode, fn func(p *psp.PSP) (R, error)) (R, error) {
	for {
		var out R
		err := sn.withPSP(func(p *psp.PSP) error {
			var err error
			out, err = fn(p)
			return err
		})
		if !errors.Is(err, errDown) {
			return out, err
		}
		select {
		case <-ctx.Done():
			return out, status.FromContextError(ctx.Err()).Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (c simPSP) RegisterLite(ctx context.Context, r *upiv1.RegisterLiteRequest, _ ...grpc.CallOption) (*upiv1.RegisterLiteResponse, error) {
	return simCall(ctx, c.sn, func(p *psp.PSP) (*upiv1.RegisterLiteResponse, error) { return p.RegisterLite(ctx, r) })
}

func (c simPSP) InitiatePay(ctx context.Context, r *upiv1.InitiatePayRequest, _ ...grpc.CallOption) (*upiv1.InitiatePayResponse, error) {
	return simCall(ctx, c.sn, func(p *psp.PSP) (*upiv1.InitiatePayResponse, error) { return p.InitiatePay(ctx, r) })
}

func (c simPSP) SyncLite(ctx context.Context, r *upiv1.SyncLiteRequest, _ ...grpc.CallOption) (*upiv1.SyncLiteResponse, error) {
	return simCall(ctx, c.sn, func(p *psp.PSP) (*upiv1.SyncLiteResponse, error) { return p.SyncLite(ctx, r) })
}

func (c simPSP) DisableLite(ctx context.Context, r *upiv1.DisableLiteRequest, _ ...grpc.CallOption) (*upiv1.DisableLiteResponse, error) {
	return simCall(ctx, c.sn, func(p *psp.PSP) (*upiv1.DisableLiteResponse, error) { return p.DisableLite(ctx, r) })
}

// withMerchant calls fn with the running PSP's merchant layer, or fails
// with errDown.
func (sn *simNode) withMerchant(fn func(l *merchant.Layer) error) error {
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	if sn.n == nil {
		return errDown
	}
	pn, ok := sn.role.(*cluster.PSPNode)
	if !ok {
		return fmt.Errorf("node %s is a %s with no merchant layer", sn.self.Name, sn.self.Role)
	}
	return fn(pn.Merchant)
}

// adminClient is the running node's AdminService, in process.
func (sn *simNode) adminClient() (upiv1.AdminServiceClient, error) {
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	if sn.admin == nil {
		return nil, errDown
	}
	return node.LocalAdmin(sn.admin), nil
}

// auditSource hands the nodes to `upisim audit`'s checks.
func (nw *network) auditSource() audit.Source {
	dir := nw.cfg.Directory()
	return audit.Source{Dir: &dir, Admin: func(name string) (upiv1.AdminServiceClient, error) {
		sn, ok := nw.nodes[name]
		if !ok {
			return nil, fmt.Errorf("no node %q", name)
		}
		return sn.adminClient()
	}}
}
