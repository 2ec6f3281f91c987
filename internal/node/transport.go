package node

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// Outgoing is one delivery attempt of a queued message.
type Outgoing struct {
	From, To string
	// Method is the full gRPC method, e.g. "/upi.v1.PspService/ReqAuthDetails".
	Method string
	// Body is the marshalled message.
	Body []byte
}

// Transport delivers network messages between nodes.
//
// Send returns the receiver's Ack once the receiver has stored the message.
// An error means the outcome is unknown (the message may or may not have
// been stored); the outbox then retries, and the receiver's de-duplication
// makes the retry safe. Implementations must be safe for concurrent use.
type Transport interface {
	Send(ctx context.Context, m Outgoing) (*upiv1.Ack, error)
}

// Resolver maps a node name to its gRPC address.
type Resolver func(node string) (addr string, ok bool)

// GRPCTransport delivers over gRPC (loopback TCP in upisim), one client
// connection per peer. The body is sent as it was stored, without decoding
// and re-encoding it.
//
// Each connection's transport credentials come from the creds func given
// for that peer: mutual TLS that also checks the server is the node dialled
// (pki.Creds.ClientTLSFor), or plaintext in insecure mode.
type GRPCTransport struct {
	resolve Resolver
	creds   PeerCreds
	mu      sync.Mutex
	conns   map[string]*grpc.ClientConn
}

// PeerCreds gives the transport credentials of the connection to the node
// called peer.
type PeerCreds func(peer string) credentials.TransportCredentials

// Insecure is the PeerCreds of plaintext connections (insecure mode and
// tests).
func Insecure(string) credentials.TransportCredentials { return insecure.NewCredentials() }

// NewGRPCTransport returns a transport that finds peers through resolve
// and dials each with creds(peer); nil creds is Insecure.
func NewGRPCTransport(resolve Resolver, creds PeerCreds) *GRPCTransport {
	if creds == nil {
		creds = Insecure
	}
	return &GRPCTransport{resolve: resolve, creds: creds, conns: make(map[string]*grpc.ClientConn)}
}

// PeerDialOptions are the options of every connection a node keeps to
// another node (the transport, and the TPAP's app-API calls to PSPs).
//
// gRPC's default reconnect backoff starts at 1s and grows to 120s, which
// would override the outbox's own retry policy (RetryMin to RetryMax): a
// peer that was down for half a minute was reached again only some 15s
// after it was back, and one down for minutes up to two minutes later,
// while payments waited on it and the switch's response timers ran. A
// reconnect is cheap, so it backs off from 50ms to at most 1s.
//
// The connection pings its peer every PeerKeepaliveTime, idle or not, so a
// peer that vanished without closing is noticed; the servers built in
// internal/cluster permit pings that often (their keepalive enforcement
// policy's MinTime is shorter) and would disconnect a client that pinged
// more often.
//
// creds secure the connection: mutual TLS (internal/pki), or
// insecure.NewCredentials() in insecure mode.
func PeerDialOptions(creds credentials.TransportCredentials) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: PeerKeepaliveTime, Timeout: 10 * time.Second, PermitWithoutStream: true,
		}),
	}
}

// PeerKeepaliveTime is how often a node's connection to a peer pings it.
const PeerKeepaliveTime = 30 * time.Second

func (t *GRPCTransport) conn(node string) (*grpc.ClientConn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.conns[node]; ok {
		return c, nil
	}
	addr, ok := t.resolve(node)
	if !ok {
		return nil, fmt.Errorf("no address for node %q", node)
	}
	c, err := grpc.NewClient(addr, PeerDialOptions(t.creds(node))...)
	if err != nil {
		return nil, err
	}
	t.conns[node] = c
	return c, nil
}

// Send implements Transport.
func (t *GRPCTransport) Send(ctx context.Context, m Outgoing) (*upiv1.Ack, error) {
	c, err := t.conn(m.To)
	if err != nil {
		return nil, err
	}
	ack := &upiv1.Ack{}
	if err := c.Invoke(ctx, m.Method, rawMessage(m.Body), ack, grpc.ForceCodecV2(rawCodec{})); err != nil {
		return nil, err
	}
	return ack, nil
}

// Close closes every connection.
func (t *GRPCTransport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, c := range t.conns {
		c.Close()
		delete(t.conns, k)
	}
	return nil
}

// InmemTransport delivers by calling the receiving node directly, for tests
// of whole networks without sockets. Messages are decoded afresh for every
// delivery, so sender and receiver share no memory, as over the wire, and
// each carries its sender as the authenticated Peer (its name and
// Config.Role), as mutual TLS would.
type InmemTransport struct {
	mu    sync.RWMutex
	nodes map[string]*Node
	// Intercept, if set, is called before each delivery; returning an error
	// fails that attempt as a network error would.
	Intercept func(m Outgoing) error
}

// NewInmemTransport returns an empty in-memory network.
func NewInmemTransport() *InmemTransport { return &InmemTransport{nodes: make(map[string]*Node)} }

// Attach makes n reachable by its name; attaching again replaces it (a
// restarted node).
func (t *InmemTransport) Attach(n *Node) {
	t.mu.Lock()
	t.nodes[n.Name()] = n
	t.mu.Unlock()
}

// Detach makes the node unreachable (a crashed node).
func (t *InmemTransport) Detach(name string) {
	t.mu.Lock()
	delete(t.nodes, name)
	t.mu.Unlock()
}

// Send implements Transport.
func (t *InmemTransport) Send(ctx context.Context, m Outgoing) (*upiv1.Ack, error) {
	if t.Intercept != nil {
		if err := t.Intercept(m); err != nil {
			return nil, err
		}
	}
	t.mu.RLock()
	n, ok := t.nodes[m.To]
	from, fromOK := t.nodes[m.From]
	t.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("node %q unreachable", m.To)
	}
	msg, err := DecodeFor(m.Method, m.Body)
	if err != nil {
		return nil, err
	}
	if fromOK { // the sender is known as mutual TLS would know it
		ctx = WithPeer(ctx, Peer{Name: from.name, Role: from.cfg.Role})
	}
	// The bytes as they came, as ServerCodec hands them to Receive (a
	// copy: the sender's outbox keeps its own).
	return n.receiveWire(ctx, m.Method, msg, bytes.Clone(m.Body))
}

// DecodeFor decodes body as the input message of the full gRPC method.
func DecodeFor(method string, body []byte) (Message, error) {
	svc, name, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if !ok {
		return nil, fmt.Errorf("bad method %q", method)
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, fmt.Errorf("unknown service in %q: %w", method, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("%q is not a service", svc)
	}
	md := sd.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return nil, fmt.Errorf("unknown method %q", method)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
	if err != nil {
		return nil, err
	}
	pm := mt.New().Interface()
	if err := proto.Unmarshal(body, pm); err != nil {
		return nil, err
	}
	msg, ok := pm.(Message)
	if !ok {
		return nil, fmt.Errorf("%s is not a network message", md.Input().FullName())
	}
	return msg, nil
}
