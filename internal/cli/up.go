package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
)

// UpOptions are the options of `upisim up`.
type UpOptions struct {
	DataDir     string
	NetworkFile string
	PortBase    int
	NoSync      bool
	Logger      *slog.Logger
	// PprofAddr, if set, serves net/http/pprof there (127.0.0.1 only).
	PprofAddr string
	// ResponseTimeout, if positive, replaces the network's auth-details,
	// debit, credit, check-status, reversal and ValAdd timeouts.
	ResponseTimeout time.Duration
	// MaxInFlight bounds each node's requests in flight (0: the default,
	// node.DefaultMaxInFlight; negative: no bound).
	MaxInFlight int
	// Retain is each node's retention (cluster.NodeOptions.Retain, `--retain`;
	// 0 keeps everything).
	Retain time.Duration
	// Ready, if set, is called once the network is up.
	Ready func(*cluster.Network)
	// Insecure runs the nodes without TLS (cluster.UpOptions.Insecure).
	Insecure bool
	// Console, if set, is served on the TPAP's HTTP port under /console/
	// and closed when the network stops (issue 13).
	Console WebConsole
}

// WebConsole is the web console a network serves: internal/console's
// Server, which cmd/upisim makes (internal/console imports this package,
// not the other way round). Up and Node close it when they return; Close
// ends its streams and may be called more than once.
type WebConsole interface {
	http.Handler
	Close() error
}

// consoleHandler is c as a cluster's handler: nil when there is none.
func consoleHandler(c WebConsole) http.Handler {
	if c == nil {
		return nil
	}
	return c
}

// consolePath is where a node serves the console (internal/console.Prefix).
const consolePath = "/console/"

// Up runs the whole network in this process until ctx ends.
func Up(ctx context.Context, w io.Writer, o UpOptions) error {
	if o.Console != nil {
		defer o.Console.Close() // also when the network does not start
	}
	netw, err := loadNetwork(o.DataDir, o.NetworkFile, o.ResponseTimeout)
	if err != nil {
		return err
	}
	if o.PprofAddr != "" {
		stop, err := servePprof(o.PprofAddr)
		if err != nil {
			return err
		}
		defer stop()
	}
	nw, err := cluster.Up(cluster.UpOptions{Network: netw, DataDir: o.DataDir, PortBase: o.PortBase, Logger: o.Logger, NoSync: o.NoSync, MaxInFlight: o.MaxInFlight, Insecure: o.Insecure, Console: consoleHandler(o.Console), Retain: o.Retain})
	if err != nil {
		return err
	}
	defer nw.Close()
	if o.Console != nil {
		defer o.Console.Close() // first: its streams end before the servers wait for them
	}
	fmt.Fprintf(w, "network %q is up; data and network.json in %s\n\n", nw.Config.Name, o.DataDir)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "node\trole\tgrpc\thttp (REST)")
	for _, n := range nw.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\thttp://%s\n", n.Name, n.Role, n.GRPCAddr(), n.HTTPAddr())
	}
	tw.Flush()
	if o.Console != nil {
		for _, n := range nw.Nodes {
			if n.Role == config.RoleTPAP {
				fmt.Fprintf(w, "\nweb console: http://%s%s\n", n.HTTPAddr(), consolePath)
			}
		}
	}
	if us := nw.Config.Users; len(us) >= 2 {
		fmt.Fprintf(w, "\ntry: upisim pay --data %s --from %s --to %s --amount 150.00 --pin %s\n", o.DataDir, us[0].VPA, us[1].VPA, us[0].PIN)
	}
	printMerchantKeys(w, nw.Config, nw.Nodes, o.DataDir)
	if rs := nw.Config.Rules; len(rs) > 0 {
		names := make([]string, len(rs))
		for i, r := range rs {
			names[i] = r.Name
		}
		fmt.Fprintf(w, "rules that misbehave on purpose: %s (README, Reaching every branch)\n", strings.Join(names, ", "))
	}
	fmt.Fprintln(w, "stop with Ctrl-C")
	if o.Ready != nil {
		o.Ready(nw)
	}
	<-ctx.Done()
	fmt.Fprintln(w, "stopping")
	return nil
}

// NodeOptions are the options of `upisim node`.
type NodeOptions struct {
	NetworkFile string
	Name        string
	DataDir     string
	// PortBase assigns addresses to nodes the file gives none; every process
	// of one network must use the same file and port base.
	PortBase int
	NoSync   bool
	Logger   *slog.Logger
	// ResponseTimeout: as in UpOptions; give every process the same.
	ResponseTimeout time.Duration
	// MaxInFlight: as in UpOptions.
	MaxInFlight int
	// Retain: as in UpOptions.
	Retain time.Duration
	// Insecure: as in UpOptions; give every process the same.
	Insecure bool
	// Console, if set, is served on this node's HTTP port under /console/
	// (`upisim node --console`).
	Console WebConsole
}

// Node runs one node of a network file as this process until ctx ends.
func Node(ctx context.Context, w io.Writer, o NodeOptions) error {
	if o.Console != nil {
		defer o.Console.Close() // also when the node does not start
	}
	if o.Name == "" {
		return fmt.Errorf("missing --name")
	}
	netw, err := loadNetwork(o.DataDir, o.NetworkFile, o.ResponseTimeout)
	if err != nil {
		return err
	}
	netw.AssignAddrs(o.PortBase)
	if o.Insecure {
		netw.TLS = config.TLSOff // network.json says so too
	}
	for _, nd := range netw.Nodes {
		if hasPortZero(nd.GRPCAddr) || hasPortZero(nd.HTTPAddr) {
			return fmt.Errorf("node %s has no fixed address: give addresses in the network file or a --port-base", nd.Name)
		}
	}
	n, err := cluster.StartNode(cluster.NodeOptions{Network: netw, Name: o.Name, DataDir: o.DataDir, Logger: o.Logger, NoSync: o.NoSync, MaxInFlight: o.MaxInFlight, Insecure: o.Insecure, Console: consoleHandler(o.Console), Retain: o.Retain})
	if err != nil {
		return err
	}
	defer n.Close()
	if o.Console != nil {
		defer o.Console.Close()
	}
	// Every process of the network writes the same directory, so clients
	// pointed at any of their data folders find the whole network.
	if err := config.WriteDirectory(o.DataDir, netw.Directory()); err != nil {
		return err
	}
	fmt.Fprintf(w, "node %s (%s) is up: grpc %s, http %s\n", n.Name, n.Role, n.GRPCAddr(), n.HTTPAddr())
	if o.Console != nil {
		fmt.Fprintf(w, "web console: http://%s%s\n", n.HTTPAddr(), consolePath)
	}
	<-ctx.Done()
	return nil
}

// loadNetwork is what up and node do before they start nodes: check that
// there is a data folder, load the network file, apply --response-timeout
// and tune the GC for a server process.
func loadNetwork(dataDir, file string, responseTimeout time.Duration) (*config.Network, error) {
	if dataDir == "" {
		return nil, fmt.Errorf("missing --data")
	}
	netw, err := config.Load(file)
	if err != nil {
		return nil, err
	}
	setResponseTimeout(netw, responseTimeout)
	TuneGC()
	return netw, nil
}

// setResponseTimeout replaces n's response timeouts with d (--response-timeout),
// when d is positive.
func setResponseTimeout(n *config.Network, d time.Duration) {
	if d <= 0 {
		return
	}
	t := &n.Timeouts
	t.AuthDetails, t.Debit, t.Credit, t.CheckStatus, t.Reversal, t.ValAdd = d, d, d, d, d, d
}

func hasPortZero(addr string) bool {
	return len(addr) >= 2 && addr[len(addr)-2:] == ":0"
}

// servePprof serves the Go profiler on addr, which must be a loopback
// address.
func servePprof(addr string) (stop func(), err error) {
	if !strings.HasPrefix(addr, "127.0.0.1:") && !strings.HasPrefix(addr, "localhost:") {
		return nil, fmt.Errorf("--pprof %s: only 127.0.0.1 addresses are allowed", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	return func() { srv.Close() }, nil
}

// printMerchantKeys tells the merchants' test API keys and webhook
// secrets (the network file's: test values) and where their API is, so
// a newcomer can call it at once (docs/FLOWS.md, Merchant payments).
func printMerchantKeys(w io.Writer, n *config.Network, nodes []*cluster.Node, dataDir string) {
	first := true
	for _, m := range n.Merchants {
		if m.APIKey == "" {
			continue
		}
		p, ok := n.PSPForVPA(m.VPA)
		if !ok {
			continue
		}
		addr := ""
		for _, nd := range nodes {
			if nd.Name == p.Name {
				addr = nd.HTTPAddr()
			}
		}
		if first {
			fmt.Fprintf(w, "merchant APIs (test keys from the network file; `upisim merchant show --data %s VPA`):\n", dataDir)
			first = false
		}
		fmt.Fprintf(w, "  %s  http://%s  api key %s  webhook secret %s\n", m.VPA, addr, m.APIKey, orNone(m.WebhookSecret))
	}
}
