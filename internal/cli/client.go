package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/pki"
	"github.com/upisim/upisim/internal/upi"
)

// Client reaches a running network through its network.json.
type Client struct {
	Dir     *config.Directory
	dataDir string
	token   adminToken // token.go
	mu      sync.Mutex
	conns   map[string]*grpc.ClientConn
}

// Connect reads DIR/network.json.
func Connect(dataDir string) (*Client, error) {
	d, err := config.ReadDirectory(dataDir)
	if err != nil {
		return nil, err
	}
	return &Client{Dir: d, dataDir: dataDir, token: readAdminToken(dataDir), conns: map[string]*grpc.ClientConn{}}, nil
}

// Close closes every connection.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cc := range c.conns {
		cc.Close()
	}
	c.conns = nil
}

func (c *Client) conn(name string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc, ok := c.conns[name]; ok {
		return cc, nil
	}
	nd, ok := c.Dir.Node(name)
	if !ok {
		return nil, fmt.Errorf("no node %q in network.json", name)
	}
	creds, err := c.creds()
	if err != nil {
		return nil, err
	}
	cc, err := grpc.NewClient(nd.GRPCAddr, grpc.WithTransportCredentials(creds),
		grpc.WithChainUnaryInterceptor(c.staleUnary(name, nd.GRPCAddr)),
		grpc.WithChainStreamInterceptor(c.staleStream(name, nd.GRPCAddr)))
	if err != nil {
		return nil, err
	}
	c.conns[name] = cc
	return cc, nil
}

// staleUnary names a network.json whose node does not answer (a network
// killed with -9, or stopped `upisim node` processes, leave theirs
// behind) instead of gRPC's dial error.
func (c *Client) staleUnary(name, addr string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return c.stale(name, addr, invoker(ctx, method, req, reply, cc, opts...))
	}
}

// staleStream is staleUnary for streams.
func (c *Client) staleStream(name, addr string) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		s, err := streamer(ctx, desc, cc, method, opts...)
		return s, c.stale(name, addr, err)
	}
}

// stale is err, or when it says the node at addr could not be dialled, an
// error (of gRPC code Unavailable) that names network.json and asks
// whether the network runs.
func (c *Client) stale(name, addr string, err error) error {
	why, ok := dialFailure(err)
	if !ok {
		return err
	}
	return status.Errorf(codes.Unavailable, "%s in %s names nodes that do not answer (%s %s: %s); is `upisim up --data %s` running?",
		config.DirectoryFile, c.dataDir, name, addr, why, c.dataDir)
}

// dialFailure is why a call failed when it failed because no connection
// could be made (connection refused, no route, ...).
func dialFailure(err error) (string, bool) {
	s, ok := status.FromError(err)
	if !ok || s.Code() != codes.Unavailable {
		return "", false
	}
	msg := s.Message()
	i := strings.Index(msg, "Error while dialing")
	if i < 0 {
		return "", false
	}
	msg = strings.TrimRight(msg[i:], `"`)
	// "Error while dialing: dial tcp 127.0.0.1:7100: connect: connection refused"
	if j := strings.LastIndex(msg, ": "); j >= 0 {
		msg = msg[j+2:]
	}
	return msg, true
}

// creds are the transport credentials network.json asks for: TLS verified
// against its CA file (relative to the data folder), without a client
// certificate, or plaintext.
func (c *Client) creds() (credentials.TransportCredentials, error) {
	if !c.Dir.TLS {
		return insecure.NewCredentials(), nil
	}
	ca := c.Dir.CAFile
	if ca == "" {
		ca = config.DirectoryCAFile
	}
	if !filepath.IsAbs(ca) {
		ca = filepath.Join(c.dataDir, ca)
	}
	if filepath.Base(ca) != pki.CAFile {
		return nil, fmt.Errorf("network.json: ca_file %s: want a %s", c.Dir.CAFile, pki.CAFile)
	}
	cfg, err := pki.AppClientTLS(filepath.Dir(ca))
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(cfg), nil
}

// TPAP is the app API of the network's TPAP node.
func (c *Client) TPAP() (upiv1.TpapAppServiceClient, error) {
	nodes := c.Dir.ByRole(config.RoleTPAP)
	if len(nodes) == 0 {
		return nil, fmt.Errorf("the network has no TPAP node")
	}
	cc, err := c.conn(nodes[0].Name)
	if err != nil {
		return nil, err
	}
	return upiv1.NewTpapAppServiceClient(cc), nil
}

// connectTPAP reads DIR/network.json and returns the TPAP's app API and a
// func that closes the connection.
func connectTPAP(dataDir string) (upiv1.TpapAppServiceClient, func(), error) {
	c, err := Connect(dataDir)
	if err != nil {
		return nil, nil, err
	}
	tp, err := c.TPAP()
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return tp, c.Close, nil
}

// Admin is the AdminService of the node called name.
func (c *Client) Admin(name string) (upiv1.AdminServiceClient, error) {
	cc, err := c.conn(name)
	if err != nil {
		return nil, err
	}
	return upiv1.NewAdminServiceClient(c.token.conn(cc)), nil
}

// Output selects how results are printed.
type Output string

// Output formats.
const (
	Text Output = "text"
	JSON Output = "json"
)

// ParseOutput checks an -o value.
func ParseOutput(s string) (Output, error) {
	switch Output(s) {
	case Text, "":
		return Text, nil
	case JSON:
		return JSON, nil
	}
	return "", fmt.Errorf("unknown output %q: want text or json", s)
}

// print writes v as JSON for -o json, or else as text writes it.
func (o Output) print(w io.Writer, v any, text func(io.Writer) error) error {
	if o == JSON {
		return printJSON(w, v)
	}
	return text(w)
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printFields writes name/value pairs aligned, in the order given.
func printFields(w io.Writer, kv ...string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		v := kv[i+1]
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\n", kv[i], v)
	}
	return tw.Flush()
}

// rpcError turns a gRPC status into a plain error message.
func rpcError(err error) error {
	if s, ok := status.FromError(err); ok {
		return fmt.Errorf("%s", s.Message())
	}
	return err
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func statusName(r upiv1.Resp_Result) string { return upi.ResultName(r) }
