package cluster

import (
	"fmt"
	"log/slog"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/pki"
)

// insecureWarning is what a node logs when it runs without TLS.
const insecureWarning = "insecure: nodes talk plaintext and trust the org_id a message claims"

// security is how a node's connections are secured: mutual TLS with its
// credentials from DATA/pki, or plaintext (insecure mode).
type security struct {
	creds *pki.Creds // nil: insecure
	// app is the TLS configuration of the node's REST gateway's
	// connection to its own server: no client certificate.
	app     credentials.TransportCredentials
	network string
}

// pkiIdentities are the identities of every node of n.
func pkiIdentities(n *config.Network) []pki.Identity {
	ids := make([]pki.Identity, len(n.Nodes))
	for i, nd := range n.Nodes {
		ids[i] = pki.Identity{Network: n.Name, Node: nd.Name, Role: nd.Role}
	}
	return ids
}

// ensurePKI creates what DATA/pki lacks for the nodes of n: the CA and
// every node's certificate where it can issue them (nodes on one host
// share the data folder), or else checks the certificate of node self
// only (a host given its nodes' files by `upisim pki init`).
func ensurePKI(dataDir string, n *config.Network, self string) error {
	dir := pki.DirOf(dataDir)
	ids := pkiIdentities(n)
	if !pki.CanIssue(dir) {
		ids = []pki.Identity{}
		for _, id := range pkiIdentities(n) {
			if id.Node == self {
				ids = append(ids, id)
			}
		}
	}
	return pki.Ensure(dir, n.Name, ids)
}

// nodeSecurity is the security of node self of n: insecure when asked
// (after checking every address is loopback), else mutual TLS with its
// credentials, which ensure first creates if missing.
func nodeSecurity(dataDir string, n *config.Network, self string, insecureMode, ensure bool, log *slog.Logger) (security, error) {
	s := security{network: n.Name}
	if insecureMode {
		if err := checkInsecure(n); err != nil {
			return s, err
		}
		log.Warn(insecureWarning)
		return s, nil
	}
	if ensure {
		if err := ensurePKI(dataDir, n, self); err != nil {
			return s, err
		}
	}
	creds, err := pki.Load(pki.DirOf(dataDir), n.Name, self)
	if err != nil {
		return s, err
	}
	app, err := pki.AppClientTLS(pki.DirOf(dataDir))
	if err != nil {
		return s, err
	}
	s.creds, s.app = creds, credentials.NewTLS(app)
	return s, nil
}

// insecure reports whether the node talks plaintext.
func (s security) insecure() bool { return s.creds == nil }

// serverOptions serve TLS with the caller's certificate (pki) put in each
// call's context as its node.Peer.
func (s security) serverOptions() []grpc.ServerOption {
	if s.insecure() {
		return nil
	}
	return []grpc.ServerOption{
		grpc.Creds(s.creds.ServerCredentials()),
		grpc.ChainUnaryInterceptor(pki.UnaryServerInterceptor(s.network)),
	}
}

// peerCreds are the credentials of the node's connection to peer: its
// client certificate, and the server must be peer.
func (s security) peerCreds(peer string) credentials.TransportCredentials {
	if s.insecure() {
		return insecure.NewCredentials()
	}
	return credentials.NewTLS(s.creds.ClientTLSFor(peer))
}

// appCreds are the credentials of the gateway's connection to its node.
func (s security) appCreds() credentials.TransportCredentials {
	if s.insecure() {
		return insecure.NewCredentials()
	}
	return s.app
}

// checkInsecure refuses insecure mode on a network with any node address
// that is not loopback: a plaintext node trusts whatever reaches its port.
func checkInsecure(n *config.Network) error {
	for _, nd := range n.Nodes {
		for _, a := range []string{nd.GRPCAddr, nd.HTTPAddr} {
			if a == "" {
				continue
			}
			host, _, err := net.SplitHostPort(a)
			if err != nil {
				return fmt.Errorf("insecure mode: node %s: %w", nd.Name, err)
			}
			ip := net.ParseIP(strings.Trim(host, "[]"))
			if !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
				return fmt.Errorf("insecure mode (--insecure or tls: off) is for loopback only: node %s listens on %s; nodes on other hosts need TLS", nd.Name, a)
			}
		}
	}
	return nil
}
