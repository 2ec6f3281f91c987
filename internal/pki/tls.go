package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"path/filepath"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/upisim/upisim/internal/node"
)

// ServerTLS is the TLS configuration of the node's gRPC server: TLS 1.3,
// the node's certificate, and a client certificate verified against the
// CA if the client gives one. App clients (the CLI, the REST gateway)
// give none and reach only the app and admin services; a network message
// needs a node's certificate (node.Config.RequirePeer). A certificate that
// is given must be one of a node of this network. Session tickets are on,
// so a peer that reconnects resumes without a full handshake.
func (c *Creds) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{c.Cert},
		ClientCAs:    c.roots,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil // an app client
			}
			_, err := c.nodeOf(cs)
			return err
		},
	}
}

// ClientTLS is the TLS configuration of the node's connections to peers:
// TLS 1.3, the node's certificate as its client certificate, the server
// verified against the CA and required to be a node of this network, and
// a session cache for resumption.
func (c *Creds) ClientTLS() *tls.Config { return c.ClientTLSFor("") }

// ClientTLSFor is ClientTLS for the connection to the node called peer:
// the server must also be that node. An empty peer takes any node of the
// network.
func (c *Creds) ClientTLSFor(peer string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{c.Cert},
		RootCAs:            c.roots,
		ClientSessionCache: c.sessions,
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := c.nodeOf(cs)
			if err != nil {
				return err
			}
			if peer != "" && id.Node != peer {
				return fmt.Errorf("pki: dialled node %s, but the server is %s", peer, id)
			}
			return nil
		},
	}
}

// nodeOf is the identity of the verified peer of cs, which must be a node
// of c's network.
func (c *Creds) nodeOf(cs tls.ConnectionState) (Identity, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Identity{}, errors.New("pki: the peer's certificate is not verified")
	}
	id, err := IdentityOf(cs.VerifiedChains[0][0])
	if err != nil {
		return Identity{}, err
	}
	if id.Network != c.Identity.Network {
		return Identity{}, fmt.Errorf("pki: the peer %s is not of network %q", id, c.Identity.Network)
	}
	return id, nil
}

// AppClientTLS is the TLS configuration of a client that is not a node
// (the CLI, a node's REST gateway): TLS 1.3, the server verified against
// dir's ca.pem and required to be a node, and no client certificate.
func AppClientTLS(dir string) (*tls.Config, error) {
	ca, err := readCert(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, err
	}
	network, ok := caNetwork(ca)
	if !ca.IsCA || !ok {
		return nil, fmt.Errorf("pki: %s is not an upisim network CA", filepath.Join(dir, CAFile))
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		RootCAs:            roots,
		ClientSessionCache: tls.NewLRUClientSessionCache(0),
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
				return errors.New("pki: the server's certificate is not verified")
			}
			id, err := IdentityOf(cs.VerifiedChains[0][0])
			if err != nil {
				return err
			}
			if id.Network != network {
				return fmt.Errorf("pki: the server %s is not of network %q", id, network)
			}
			return nil
		},
	}, nil
}

// IdentityFromContext is the identity in the verified certificate the
// caller of a gRPC server call presented; false when it presented none
// (an app client, or a plaintext connection).
func IdentityFromContext(ctx context.Context) (Identity, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return Identity{}, false
	}
	if a, ok := p.AuthInfo.(authInfo); ok { // ServerCredentials: worked out in the handshake
		return a.id, a.ok
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return Identity{}, false
	}
	id, err := IdentityOf(ti.State.VerifiedChains[0][0])
	if err != nil {
		return Identity{}, false
	}
	return id, true
}

// PeerFromContext is the node that made a gRPC server call, by the
// verified certificate it presented; false when it presented none.
func PeerFromContext(ctx context.Context) (node.Peer, bool) {
	id, ok := IdentityFromContext(ctx)
	if !ok {
		return node.Peer{}, false
	}
	return node.Peer{Name: id.Node, Role: id.Role}, true
}

// UnaryServerInterceptor puts the calling node, when it presented a
// verified certificate of a node of network, in the call's context
// (node.WithPeer), where node.Receive finds the authenticated sender. A
// call without one goes on without a Peer; the runtime refuses network
// messages without one when it requires them.
func UnaryServerInterceptor(network string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if id, ok := IdentityFromContext(ctx); ok && id.Network == network {
			ctx = node.WithPeer(ctx, node.Peer{Name: id.Node, Role: id.Role})
		}
		return handler(ctx, req)
	}
}

// ServerCredentials are the gRPC transport credentials of the node's
// server: ServerTLS, with the identity of a client's verified certificate
// worked out once per connection, in the handshake, rather than parsed
// again from the certificate in every call (IdentityFromContext finds it).
func (c *Creds) ServerCredentials() credentials.TransportCredentials {
	return &identifying{TransportCredentials: credentials.NewTLS(c.ServerTLS())}
}

// identifying wraps TLS credentials so that a server connection's
// AuthInfo carries the client's identity.
type identifying struct {
	credentials.TransportCredentials
}

// authInfo is the AuthInfo of a connection identifying accepted: TLS's,
// and the identity of the client's certificate when it gave one.
type authInfo struct {
	credentials.TLSInfo
	id Identity
	ok bool
}

func (i *identifying) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := i.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		return conn, info, err
	}
	ti, isTLS := info.(credentials.TLSInfo)
	if !isTLS {
		return conn, info, nil
	}
	a := authInfo{TLSInfo: ti}
	if ch := ti.State.VerifiedChains; len(ch) > 0 && len(ch[0]) > 0 {
		a.id, err = IdentityOf(ch[0][0])
		a.ok = err == nil
	}
	return conn, a, nil
}

func (i *identifying) Clone() credentials.TransportCredentials {
	return &identifying{TransportCredentials: i.TransportCredentials.Clone()}
}
