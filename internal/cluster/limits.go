package cluster

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/upisim/upisim/internal/node"
)

// ServerLimits bound what clients can hold of one node's servers: how long
// a connection may sit idle or take to send a request, how many
// connections and concurrent calls there may be, and how big a message the
// node takes. Without them, 19,985 idle connections took every file
// descriptor of a process, and all six nodes stopped answering.
//
// A zero field takes its value from DefaultServerLimits.
type ServerLimits struct {
	// HTTPReadHeaderTimeout is how long a client has to send a request's
	// headers; HTTPReadTimeout the whole request, body included.
	HTTPReadHeaderTimeout, HTTPReadTimeout time.Duration
	// HTTPWriteTimeout is how long a request may take from the end of its
	// headers to the end of its response. It must exceed the longest
	// long poll (tpap.MaxWait).
	HTTPWriteTimeout time.Duration
	// HTTPIdleTimeout closes a keep-alive connection that sends no next
	// request for this long.
	HTTPIdleTimeout time.Duration
	// HTTPMaxConns is the most connections the REST listener holds at
	// once; a further one is answered 503 with Retry-After at once and
	// closed.
	HTTPMaxConns int

	// GRPCMaxConns is the same for the gRPC listener, where a further
	// connection is closed at once (its client sees Unavailable). Each peer node keeps
	// one or two connections; the rest are clients (the CLI, tests).
	GRPCMaxConns int
	// GRPCMaxConcurrentStreams is the most calls in flight on one gRPC
	// connection; a client's further calls wait for one to end.
	GRPCMaxConcurrentStreams uint32
	// GRPCMaxRecvMsgSize is the largest message the node takes; a bigger
	// one is refused with RESOURCE_EXHAUSTED before it is decoded.
	GRPCMaxRecvMsgSize int
	// GRPCMaxConnectionIdle closes (GOAWAY) a gRPC connection that has had
	// no call for this long; gRPC clients reconnect on their next call.
	GRPCMaxConnectionIdle time.Duration
	// GRPCKeepaliveMinTime is the shortest interval between a client's
	// keepalive pings the server tolerates; a client that pings more often
	// is disconnected (ENHANCE_YOUR_CALM, "too_many_pings"). The nodes'
	// own clients ping every node.PeerKeepaliveTime, which must not be
	// shorter.
	GRPCKeepaliveMinTime time.Duration
}

// MaxRecvMsgSize is the default GRPCMaxRecvMsgSize: 64 KiB. An NPCI
// message of a flow is a few KiB (the largest, a ReqPay DEBIT with the
// payer's credential block and refs, stays under 4 KiB; node.CheckLimits
// caps every string and repeated field), and the app and admin requests a
// node receives are smaller still. What a node sends back (an admin
// ListTransactions page, say) is bounded by the client's receive limit,
// not this one.
const MaxRecvMsgSize = 64 << 10

// DefaultServerLimits are the limits of every node unless NodeOptions or
// UpOptions give others.
func DefaultServerLimits() ServerLimits {
	return ServerLimits{
		HTTPReadHeaderTimeout: 10 * time.Second,
		HTTPReadTimeout:       30 * time.Second,
		// GetPayment long-polls up to a minute (tpap.MaxWait).
		HTTPWriteTimeout: 90 * time.Second,
		HTTPIdleTimeout:  30 * time.Second,
		// A burst of a few thousand clients at once (the e2e TestBurst
		// sends 3,000) is served or refused with 429 rather than 503; a
		// flood of idle connections to one node stops at 4,096 + 1,024
		// being refused, so the process keeps descriptors for the rest.
		HTTPMaxConns: 4096,

		GRPCMaxConns:             256,
		GRPCMaxConcurrentStreams: 1024,
		GRPCMaxRecvMsgSize:       MaxRecvMsgSize,
		GRPCMaxConnectionIdle:    5 * time.Minute,
		GRPCKeepaliveMinTime:     10 * time.Second,
	}
}

// withDefaults fills the zero fields of l from DefaultServerLimits.
func (l ServerLimits) withDefaults() ServerLimits {
	d := DefaultServerLimits()
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.HTTPReadHeaderTimeout, d.HTTPReadHeaderTimeout)
	set(&l.HTTPReadTimeout, d.HTTPReadTimeout)
	set(&l.HTTPWriteTimeout, d.HTTPWriteTimeout)
	set(&l.HTTPIdleTimeout, d.HTTPIdleTimeout)
	setInt(&l.HTTPMaxConns, d.HTTPMaxConns)
	setInt(&l.GRPCMaxConns, d.GRPCMaxConns)
	if l.GRPCMaxConcurrentStreams == 0 {
		l.GRPCMaxConcurrentStreams = d.GRPCMaxConcurrentStreams
	}
	setInt(&l.GRPCMaxRecvMsgSize, d.GRPCMaxRecvMsgSize)
	set(&l.GRPCMaxConnectionIdle, d.GRPCMaxConnectionIdle)
	set(&l.GRPCKeepaliveMinTime, d.GRPCKeepaliveMinTime)
	return l
}

// limitListener caps the connections l holds at once at n. A connection
// beyond them is refused at once, not left in the kernel's queue until one
// of the n closes (keep-alive clients hold theirs for the idle timeout, so
// a burst of new connections would wait 30s and time out): refuse, when not
// nil, answers it (a REST listener's 503), and it is closed. A closed
// connection frees its slot.
func limitListener(l net.Listener, n int, refuse func(net.Conn)) net.Listener {
	return &limitedListener{Listener: l, slots: make(chan struct{}, n), refuse: refuse,
		refusing: make(chan struct{}, maxRefusing)}
}

// maxRefusing bounds the refusals in progress at once (each takes at most
// a second); past it a connection beyond the limit is closed without an
// answer.
const maxRefusing = 1024

type limitedListener struct {
	net.Listener
	slots    chan struct{}
	refuse   func(net.Conn)
	refusing chan struct{}
}

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
		}
		select {
		case l.refusing <- struct{}{}:
			if l.refuse == nil {
				c.Close()
				<-l.refusing
				continue
			}
			go func() {
				defer func() { <-l.refusing }()
				l.refuse(c)
			}()
		default:
			c.Close()
		}
	}
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// refuseHTTP answers a REST connection beyond the limit with 503 and
// closes it. It reads the request first (within a second and 64 KiB):
// an answer before the request confuses clients, and closing a connection
// with unread bytes resets it before the client reads the answer.
func refuseHTTP(c net.Conn) {
	defer c.Close()
	const msg = "this node holds as many connections as it takes; retry later\n"
	_ = c.SetDeadline(time.Now().Add(time.Second))
	lr := io.LimitReader(c, 64<<10)
	req, err := http.ReadRequest(bufio.NewReader(lr))
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, req.Body)
	if _, err := fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s", len(msg), msg); err != nil {
		return
	}
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, lr)
}

// httpServer is a node's REST server with l's timeouts.
func (l ServerLimits) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.HTTPReadHeaderTimeout,
		ReadTimeout:       l.HTTPReadTimeout,
		WriteTimeout:      l.HTTPWriteTimeout,
		IdleTimeout:       l.HTTPIdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
}

// grpcOptions are a node's gRPC server options for l.
func (l ServerLimits) grpcOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		// A Lite sync batch may be larger than the general limit; an
		// interceptor holds every other message to it (node.SizeInterceptor).
		grpc.MaxRecvMsgSize(max(l.GRPCMaxRecvMsgSize, node.MaxBatchMsgBytes)),
		grpc.ChainUnaryInterceptor(node.SizeInterceptor(l.GRPCMaxRecvMsgSize)),
		grpc.MaxConcurrentStreams(l.GRPCMaxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime: l.GRPCKeepaliveMinTime,
			// The nodes' clients ping idle connections too
			// (node.PeerDialOptions), at the permitted rate.
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: l.GRPCMaxConnectionIdle}),
	}
}
