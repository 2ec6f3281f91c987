package cluster

import (
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
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
	// once; a further one waits in the kernel's accept queue until one
	// closes.
	HTTPMaxConns int

	// GRPCMaxConns is the same for the gRPC listener. Each peer node keeps
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
		// Six nodes in one process then hold at most 6 × (1024 + 256)
		// client connections, well under a usual descriptor limit.
		HTTPMaxConns: 1024,

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

// limitListener caps the connections l holds at once
// (golang.org/x/net/netutil.LimitListener: Accept waits while n are open,
// and a connection's Close frees its slot). x/net is a dependency already,
// through grpc-go, and its limiter is the one the Go team maintains for
// exactly this, so there is no reason to write another.
func limitListener(l net.Listener, n int) net.Listener { return netutil.LimitListener(l, n) }

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
		grpc.MaxRecvMsgSize(l.GRPCMaxRecvMsgSize),
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
