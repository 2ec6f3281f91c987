package node

import "context"

// Peer is the node that sent a network message, as the transport
// authenticated it: with mutual TLS, the name and role in the sender's
// certificate (internal/pki), never what the message itself claims.
type Peer struct {
	// Name is the sender's node name, which must equal the message's
	// head.org_id.
	Name string
	// Role is the sender's role (config.RolePSP, ...), which the route's
	// From must take.
	Role string
}

type peerKey struct{}

// WithPeer returns ctx carrying p as the authenticated sender of the call
// (the gRPC server's interceptor, InmemTransport).
func WithPeer(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// PeerFrom returns the authenticated sender WithPeer put in ctx.
func PeerFrom(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}
