package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/pki"
	"github.com/upisim/upisim/psp"
)

// UpOptions start a whole network in one process.
type UpOptions struct {
	// Network is the network to run; nil means config.Default().
	Network *config.Network
	// DataDir holds one bbolt file per node and network.json.
	DataDir string
	// PortBase puts the TPAP's REST API on PortBase and the rest after it
	// (config.Network.AssignAddrs); 0 lets the OS choose every port.
	PortBase int
	Logger   *slog.Logger
	NoSync   bool
	// Limits bound every node's servers (NodeOptions.Limits).
	Limits ServerLimits
	// MaxInFlight bounds each node's requests in flight
	// (node.Config.MaxInFlight; 0 for its default, negative for none).
	MaxInFlight int
	// Clock is every node's clock (node.Config.Clock), also when a node is
	// started again; nil is the real one. A test passes a nodetest.Clock to
	// move the whole network's time by hand.
	Clock node.Clock
	// Insecure runs every node without TLS (NodeOptions.Insecure), as the
	// network file's tls: off does.
	Insecure bool
	// PSPConfig edits each PSP's psp.Config (NodeOptions.PSPConfig), also
	// when a node is started again: a test's hooks inside a PSP's steps.
	PSPConfig func(node string, cfg *psp.Config)
	// Console, if set, is served on the TPAP's HTTP port under /console/
	// (NodeOptions.Console), also when the TPAP is started again.
	Console http.Handler
	// Retain is every node's retention (NodeOptions.Retain).
	Retain time.Duration
}

// Network is a running network.
type Network struct {
	Config *config.Network
	Nodes  []*Node
	dir    string
	opts   UpOptions
	// wroteDir: this network wrote dir's network.json, so Close removes it.
	wroteDir bool
}

// Up starts every node of the network, each on its own gRPC and HTTP port
// with its own bbolt file, and writes DataDir/network.json. Nodes keep the
// addresses of the network file when it sets them.
func Up(o UpOptions) (_ *Network, err error) {
	netw := o.Network
	if netw == nil {
		netw = config.Default()
	} else {
		netw = netw.Clone()
	}
	netw.AssignAddrs(o.PortBase)
	if o.Insecure {
		netw.TLS = config.TLSOff // so network.json and restarts say so too
	}
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, err
	}
	// Lock every node's files before anything else, so that a second
	// network on this folder stops here, at once, having touched nothing.
	locks := make([]*nodeLock, len(netw.Nodes))
	defer func() {
		for _, l := range locks {
			l.release() // those not handed to a started node
		}
	}()
	for i, nd := range netw.Nodes {
		if locks[i], err = lockNode(o.DataDir, nd.Name); err != nil {
			return nil, err
		}
	}
	// Bind every port first, so that OS-chosen ports are known to all nodes
	// before any of them sends a message.
	type pair struct{ g, h net.Listener }
	ls := make([]pair, len(netw.Nodes))
	defer func() {
		if err != nil {
			for _, p := range ls {
				for _, l := range []net.Listener{p.g, p.h} {
					if l != nil {
						l.Close()
					}
				}
			}
		}
	}()
	for i := range netw.Nodes {
		nd := &netw.Nodes[i]
		if ls[i].g, err = net.Listen("tcp", nd.GRPCAddr); err != nil {
			return nil, fmt.Errorf("%s: gRPC port %s: %w", nd.Name, nd.GRPCAddr, err)
		}
		if ls[i].h, err = net.Listen("tcp", nd.HTTPAddr); err != nil {
			return nil, fmt.Errorf("%s: HTTP port %s: %w", nd.Name, nd.HTTPAddr, err)
		}
		nd.GRPCAddr, nd.HTTPAddr = ls[i].g.Addr().String(), ls[i].h.Addr().String()
	}
	// Every node's certificate, once, before any node starts.
	if !netw.Insecure() {
		if err := pki.Ensure(pki.DirOf(o.DataDir), netw.Name, pkiIdentities(netw)); err != nil {
			return nil, err
		}
	}
	nw := &Network{Config: netw, dir: o.DataDir, opts: o}
	defer func() {
		if err != nil {
			nw.Close()
		}
	}()
	for i := range netw.Nodes {
		n, err := StartNode(NodeOptions{
			Network: netw, Name: netw.Nodes[i].Name, DataDir: o.DataDir,
			GRPC: ls[i].g, HTTP: ls[i].h, Logger: o.Logger, NoSync: o.NoSync, Limits: o.Limits,
			MaxInFlight: o.MaxInFlight, Clock: o.Clock, lock: locks[i], pkiReady: true, PSPConfig: o.PSPConfig,
			Console: consoleFor(o, netw.Nodes[i].Role), Retain: o.Retain,
		})
		ls[i], locks[i] = pair{}, nil // StartNode owns them now
		if err != nil {
			// Close the listeners of the nodes not started yet.
			for _, p := range ls[i+1:] {
				p.g.Close()
				p.h.Close()
			}
			ls = nil
			return nil, err
		}
		nw.Nodes = append(nw.Nodes, n)
	}
	ls = nil
	if err := config.WriteDirectory(o.DataDir, netw.Directory()); err != nil {
		return nil, err
	}
	nw.wroteDir = true
	return nw, nil
}

// Node returns the running node called name.
func (nw *Network) Node(name string) (*Node, bool) {
	for _, n := range nw.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return nil, false
}

// Stop stops the node called name, as if its process stopped: its servers
// close, its deliveries and timers stop, its store closes. Everything it
// acked is on disk; Start brings it back.
func (nw *Network) Stop(name string) error {
	for i, n := range nw.Nodes {
		if n.Name == name {
			err := n.Close()
			nw.Nodes = append(nw.Nodes[:i:i], nw.Nodes[i+1:]...)
			return err
		}
	}
	return fmt.Errorf("node %q is not running", name)
}

// Start starts the stopped node called name again on its data and its
// addresses; it resumes its outbox and timers.
func (nw *Network) Start(name string) error {
	if _, ok := nw.Node(name); ok {
		return fmt.Errorf("node %q is already running", name)
	}
	nd, ok := nw.Config.NodeByName(name)
	if !ok {
		return fmt.Errorf("no node %q in network %q", name, nw.Config.Name)
	}
	n, err := StartNode(NodeOptions{
		Network: nw.Config, Name: name, DataDir: nw.opts.DataDir,
		Logger: nw.opts.Logger, NoSync: nw.opts.NoSync, Limits: nw.opts.Limits, MaxInFlight: nw.opts.MaxInFlight,
		Clock: nw.opts.Clock, PSPConfig: nw.opts.PSPConfig, Console: consoleFor(nw.opts, nd.Role),
		Retain: nw.opts.Retain,
	})
	if err != nil {
		return err
	}
	nw.Nodes = append(nw.Nodes, n)
	return nil
}

// Restart stops the node called name and starts it again.
func (nw *Network) Restart(name string) error {
	if err := nw.Stop(name); err != nil {
		return err
	}
	return nw.Start(name)
}

// Close stops every node, all at once, so that stopping takes as long as
// the slowest node (Node.Close bounds each) rather than the sum. The
// network.json Up wrote is removed so clients do not talk to a network that
// is gone; one Up did not write (another network's, when Up failed) is left
// alone.
func (nw *Network) Close() error {
	errs := make([]error, len(nw.Nodes), len(nw.Nodes)+1)
	var wg sync.WaitGroup
	for i, n := range nw.Nodes {
		wg.Go(func() { errs[i] = n.Close() })
	}
	wg.Wait()
	nw.Nodes = nil
	if nw.dir != "" && nw.wroteDir {
		if err := os.Remove(filepath.Join(nw.dir, config.DirectoryFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
