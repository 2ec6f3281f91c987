package pki

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"

	"github.com/upisim/upisim/internal/node"
)

var nodes = []Identity{
	{Node: "tpap", Role: "tpap"},
	{Node: "alpha", Role: "psp"},
	{Node: "npci", Role: "switch"},
}

func ensure(t *testing.T, network string, opts ...Option) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), Dir)
	require.NoError(t, Ensure(dir, network, nodes, opts...))
	return dir
}

func fileSums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string][32]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

func TestEnsureCreatesVerifiableCerts(t *testing.T) {
	dir := ensure(t, "net1", WithHosts("node1.example", "10.0.0.7"))
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "pki dir")
	for _, name := range []string{CAFile, CAKeyFile, "tpap.pem", "tpap-key.pem", "alpha.pem", "alpha-key.pem", "npci.pem", "npci-key.pem"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err, name)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), name)
	}
	ca, err := readCert(filepath.Join(dir, CAFile))
	require.NoError(t, err)
	assert.True(t, ca.IsCA)
	assert.InDelta(t, CAValidity.Hours(), time.Until(ca.NotAfter).Hours(), 2)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, want := range nodes {
		want.Network = "net1"
		c, err := Load(dir, "net1", want.Node)
		require.NoError(t, err)
		assert.Equal(t, want, c.Identity)
		leaf := c.Cert.Leaf
		_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "localhost", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		require.NoError(t, err)
		_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"})
		require.NoError(t, err)
		_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "node1.example"})
		require.NoError(t, err)
		assert.Contains(t, leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		assert.Contains(t, leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
		assert.Equal(t, "upisim://net1/"+want.Node+"?role="+want.Role, leaf.URIs[0].String())
		got, err := IdentityOf(leaf)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.InDelta(t, NodeValidity.Hours(), time.Until(leaf.NotAfter).Hours(), 2)
		var ips []string
		for _, ip := range leaf.IPAddresses {
			ips = append(ips, ip.String())
		}
		assert.ElementsMatch(t, []string{"127.0.0.1", "::1", "10.0.0.7"}, ips)
	}
}

func TestIdentityURIRoundTrip(t *testing.T) {
	id := Identity{Network: "default", Node: "hdfc", Role: "bank"}
	assert.Equal(t, "upisim://default/hdfc?role=bank", id.String())
	got, err := IdentityOf(&x509.Certificate{URIs: []*url.URL{id.URI()}})
	require.NoError(t, err)
	assert.Equal(t, id, got)
	_, err = IdentityOf(&x509.Certificate{})
	assert.ErrorContains(t, err, "names no upisim:// node identity")
}

func TestEnsureIsIdempotentAndAddsOnlyWhatIsMissing(t *testing.T) {
	dir := ensure(t, "net1")
	before := fileSums(t, dir)
	require.NoError(t, Ensure(dir, "net1", nodes))
	assert.Equal(t, before, fileSums(t, dir))

	require.NoError(t, Ensure(dir, "net1", append(nodes, Identity{Node: "sbi", Role: "bank"})))
	after := fileSums(t, dir)
	for name, sum := range before {
		assert.Equal(t, sum, after[name], name)
	}
	assert.Contains(t, after, "sbi.pem")
	assert.Contains(t, after, "sbi-key.pem")

	// The same node in another role is not the certificate on file.
	err := Ensure(dir, "net1", []Identity{{Node: "alpha", Role: "bank"}})
	assert.ErrorContains(t, err, "alpha.pem")
}

func TestEnsureRefusesAnotherNetworkOrCA(t *testing.T) {
	dir := ensure(t, "net1")
	err := Ensure(dir, "net2", nodes)
	require.Error(t, err)
	assert.ErrorContains(t, err, filepath.Join(dir, CAFile))
	assert.ErrorContains(t, err, `network "net1"`)

	// alpha's files from another CA of the same network name.
	other := ensure(t, "net1")
	for _, f := range []string{CertFile("alpha"), KeyFile("alpha")} {
		b, err := os.ReadFile(filepath.Join(other, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o600))
	}
	err = Ensure(dir, "net1", nodes)
	assert.ErrorContains(t, err, filepath.Join(dir, "alpha.pem"))
	assert.ErrorContains(t, err, "not issued by")
	_, err = Load(dir, "net1", "alpha")
	assert.ErrorContains(t, err, "alpha.pem")
}

func TestKeyFileReadableByOthersIsRefused(t *testing.T) {
	dir := ensure(t, "net1")
	key := filepath.Join(dir, KeyFile("alpha"))
	require.NoError(t, os.Chmod(key, 0o640))
	_, err := Load(dir, "net1", "alpha")
	assert.ErrorContains(t, err, key)
	assert.ErrorContains(t, err, "mode 0640")
	assert.ErrorContains(t, Ensure(dir, "net1", nodes), "mode 0640")
}

func TestCAWithoutKeyChecksButDoesNotIssue(t *testing.T) {
	dir := ensure(t, "net1")
	require.NoError(t, os.Remove(filepath.Join(dir, CAKeyFile)))
	assert.False(t, CanIssue(dir))
	require.NoError(t, Ensure(dir, "net1", nodes[:1]))
	err := Ensure(dir, "net1", []Identity{{Node: "sbi", Role: "bank"}})
	assert.ErrorContains(t, err, "no sbi.pem")
	assert.True(t, CanIssue(t.TempDir()))
}

func TestRotateChangesTheNodeCertKeepsTheCA(t *testing.T) {
	dir := ensure(t, "net1", WithHosts("node1.example"))
	before := fileSums(t, dir)
	old, err := Load(dir, "net1", "alpha")
	require.NoError(t, err)
	require.NoError(t, Rotate(dir, "net1", "alpha"))
	after := fileSums(t, dir)
	assert.NotEqual(t, before["alpha.pem"], after["alpha.pem"])
	assert.NotEqual(t, before["alpha-key.pem"], after["alpha-key.pem"])
	for _, f := range []string{CAFile, CAKeyFile, "tpap.pem", "tpap-key.pem"} {
		assert.Equal(t, before[f], after[f], f)
	}
	c, err := Load(dir, "net1", "alpha")
	require.NoError(t, err)
	assert.Equal(t, old.Identity, c.Identity)
	assert.Contains(t, c.Cert.Leaf.DNSNames, "node1.example", "rotate keeps the hosts")
	assert.ErrorContains(t, Rotate(dir, "net1", "nosuch"), "nosuch.pem")

	infos, err := List(dir)
	require.NoError(t, err)
	require.Len(t, infos, 4)
	assert.True(t, infos[0].CA)
	assert.Equal(t, "alpha", infos[1].Node)
	assert.Equal(t, "psp", infos[1].Role)
	assert.Len(t, infos[1].Fingerprint, 64)
}

// serve accepts TLS connections on 127.0.0.1:0 with cfg and reports each
// handshake's outcome.
func serve(t *testing.T, cfg *tls.Config) (addr string, results <-chan error) {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	ch := make(chan error, 8)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			err = c.(*tls.Conn).Handshake()
			if err == nil {
				_, err = c.Write([]byte("k"))
			}
			ch <- err
			c.Close()
		}
	}()
	return l.Addr().String(), ch
}

// dial handshakes with addr and reads the server's first byte, so that a
// client certificate the server refuses is an error here too (TLS 1.3
// sends that refusal after the client's handshake is done).
func dial(addr string, cfg *tls.Config) error {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Read(make([]byte, 1))
	return err
}

func TestMutualTLSHandshake(t *testing.T) {
	dir := ensure(t, "net1")
	srv, err := Load(dir, "net1", "npci")
	require.NoError(t, err)
	cli, err := Load(dir, "net1", "alpha")
	require.NoError(t, err)
	addr, results := serve(t, srv.ServerTLS())

	require.NoError(t, dial(addr, cli.ClientTLSFor("npci")))
	require.NoError(t, <-results)
	require.NoError(t, dial(addr, cli.ClientTLS()))
	require.NoError(t, <-results)

	// TLS 1.3 resumption: a second connection resumes the session.
	resumed := func() bool {
		c, err := tls.Dial("tcp", addr, cli.ClientTLSFor("npci"))
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Read(make([]byte, 1)) // and takes the ticket
		require.NoError(t, err)
		return c.ConnectionState().DidResume
	}
	resumed()
	<-results
	assert.True(t, resumed(), "the second connection resumes")
	<-results

	// The server is not the node dialled.
	assert.ErrorContains(t, dial(addr, cli.ClientTLSFor("tpap")), "dialled node tpap")
	<-results

	// An app client: no certificate, and the handshake completes.
	app, err := AppClientTLS(dir)
	require.NoError(t, err)
	require.NoError(t, dial(addr, app))
	require.NoError(t, <-results)
}

func TestHandshakeRefusesAnotherCA(t *testing.T) {
	dir := ensure(t, "net1")
	other := ensure(t, "net1")
	srv, err := Load(dir, "net1", "npci")
	require.NoError(t, err)
	stranger, err := Load(other, "net1", "alpha")
	require.NoError(t, err)
	addr, results := serve(t, srv.ServerTLS())

	assert.Error(t, dial(addr, stranger.ClientTLS()), "client of another CA")
	assert.ErrorContains(t, <-results, "certificate")

	// And a client of the right CA does not trust a server of another.
	addr2, results2 := serve(t, stranger.ServerTLS())
	good, err := Load(dir, "net1", "alpha")
	require.NoError(t, err)
	assert.ErrorContains(t, dial(addr2, good.ClientTLS()), "certificate")
	<-results2
}

func TestHandshakeRefusesAnExpiredCert(t *testing.T) {
	dir := ensure(t, "net1")
	ca, err := loadCA(dir, "net1")
	require.NoError(t, err)
	expired := Identity{Network: "net1", Node: "old", Role: "psp"}
	require.NoError(t, issueNode(dir, ca, expired, options{validity: NodeValidity, now: time.Now, notAfter: time.Now().Add(-time.Minute)}))
	_, err = Load(dir, "net1", "old")
	assert.ErrorContains(t, err, "expired")
	assert.ErrorContains(t, Ensure(dir, "net1", []Identity{expired}), "expired")

	cert, err := readCert(filepath.Join(dir, CertFile("old")))
	require.NoError(t, err)
	key, err := readKey(filepath.Join(dir, KeyFile("old")))
	require.NoError(t, err)
	old := &Creds{Identity: expired, Cert: tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, CA: ca.cert, roots: ca.pool(), sessions: tls.NewLRUClientSessionCache(0)}

	srv, err := Load(dir, "net1", "npci")
	require.NoError(t, err)
	addr, results := serve(t, srv.ServerTLS())
	assert.Error(t, dial(addr, old.ClientTLS()))
	assert.ErrorContains(t, <-results, "expired")

	// An expired server is refused by the client.
	addr2, results2 := serve(t, old.ServerTLS())
	assert.ErrorContains(t, dial(addr2, srv.ClientTLS()), "expired")
	<-results2
}

// TestPeerFromGRPCCall serves gRPC with mutual TLS and the interceptor:
// a node's call carries its Peer, an app client's none.
// The peer of a call, with the server's credentials plain TLS (the
// identity parsed in each call) or ServerCredentials (parsed once, in the
// handshake).
func TestPeerFromGRPCCall(t *testing.T) {
	dir := ensure(t, "net1")
	srvCreds, err := Load(dir, "net1", "npci")
	require.NoError(t, err)
	for name, creds := range map[string]func() credentials.TransportCredentials{
		"TLS":               func() credentials.TransportCredentials { return credentials.NewTLS(srvCreds.ServerTLS()) },
		"ServerCredentials": srvCreds.ServerCredentials,
	} {
		t.Run(name, func(t *testing.T) { testPeerFromGRPCCall(t, dir, creds) })
	}
}

func testPeerFromGRPCCall(t *testing.T, dir string, serverCreds func() credentials.TransportCredentials) {
	peers := make(chan any, 4)
	resumed := make(chan bool, 4)
	record := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if p, ok := peer.FromContext(ctx); ok {
			ti, ok := p.AuthInfo.(credentials.TLSInfo)
			if a, isOurs := p.AuthInfo.(authInfo); isOurs {
				ti, ok = a.TLSInfo, true
			}
			if ok && len(ti.State.PeerCertificates) > 0 && len(resumed) == 0 && ti.State.DidResume {
				resumed <- true
			}
		}
		p, ok := node.PeerFrom(ctx)
		if direct, dok := PeerFromContext(ctx); ok && (!dok || direct != p) {
			t.Errorf("PeerFromContext %v %v, interceptor's %v", direct, dok, p)
		}
		if ok {
			peers <- p
		} else {
			peers <- nil
		}
		return h(ctx, req)
	}
	s := grpc.NewServer(grpc.Creds(serverCreds()), grpc.ChainUnaryInterceptor(UnaryServerInterceptor("net1"), record))
	healthpb.RegisterHealthServer(s, health.NewServer())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go s.Serve(l)
	t.Cleanup(s.Stop)

	call := func(cfg *tls.Config) error {
		cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		require.NoError(t, err)
		defer cc.Close()
		_, err = healthpb.NewHealthClient(cc).Check(t.Context(), &healthpb.HealthCheckRequest{})
		return err
	}
	alpha, err := Load(dir, "net1", "alpha")
	require.NoError(t, err)
	require.NoError(t, call(alpha.ClientTLSFor("npci")))
	assert.Equal(t, node.Peer{Name: "alpha", Role: "psp"}, <-peers)
	// A new connection resumes the TLS session, and its calls still carry
	// the peer (the resumed session keeps the verified chain).
	require.NoError(t, call(alpha.ClientTLSFor("npci")))
	assert.Equal(t, node.Peer{Name: "alpha", Role: "psp"}, <-peers)
	assert.True(t, <-resumed, "the second connection resumed")

	app, err := AppClientTLS(dir)
	require.NoError(t, err)
	require.NoError(t, call(app))
	assert.Nil(t, <-peers)

	// An interceptor of another network takes no peer from this one.
	s2 := grpc.NewServer(grpc.Creds(serverCreds()), grpc.ChainUnaryInterceptor(UnaryServerInterceptor("net2"), func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		_, ok := node.PeerFrom(ctx)
		peers <- ok
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(s2, health.NewServer())
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go s2.Serve(l2)
	t.Cleanup(s2.Stop)
	cc, err := grpc.NewClient(l2.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(alpha.ClientTLS())))
	require.NoError(t, err)
	defer cc.Close()
	_, err = healthpb.NewHealthClient(cc).Check(t.Context(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, false, <-peers)

	p, ok := PeerFromContext(context.Background())
	assert.False(t, ok)
	assert.Zero(t, p)
}
