package cluster

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/pki"
)

// startOne starts the node called name of the default network alone, on
// 127.0.0.1:0, with limits.
func startOne(t *testing.T, name string, limits ServerLimits) *Node {
	t.Helper()
	netw := config.Default()
	netw.Heartbeat = 0
	netw.AssignAddrs(0)
	n, err := StartNode(NodeOptions{Network: netw, Name: name, DataDir: t.TempDir(), Limits: limits})
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	return n
}

// keepAlive opens a connection to addr, makes one request on it, reads the
// answer, and returns the connection idle and kept alive.
func keepAlive(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	br := bufio.NewReader(c)
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = fmt.Fprintf(c, "GET /openapi.json HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	require.NoError(t, err)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.False(t, resp.Close, "the server kept the connection alive")
	require.NoError(t, c.SetDeadline(time.Time{}))
	return c, br
}

// waitClosed waits up to within for the server to close c, reading (and
// discarding) whatever it sends first. It fails if c is still open then.
func waitClosed(t *testing.T, c net.Conn, br *bufio.Reader, within time.Duration) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(within)))
	_, err := io.Copy(io.Discard, br)
	if err == nil {
		return // EOF: closed
	}
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server still held the connection after %s", within)
	// A reset is a close too.
}

func TestHTTPIdleConnectionsAreClosed(t *testing.T) {
	n := startOne(t, "abank", ServerLimits{HTTPIdleTimeout: 300 * time.Millisecond})
	const conns = 50
	type idle struct {
		c  net.Conn
		br *bufio.Reader
	}
	var cs []idle
	for range conns {
		c, br := keepAlive(t, n.HTTPAddr())
		cs = append(cs, idle{c, br})
	}
	start := time.Now()
	for _, c := range cs {
		waitClosed(t, c.c, c.br, 10*time.Second)
	}
	t.Logf("%d idle connections closed %s after their last answer", conns, time.Since(start).Round(time.Millisecond))
}

func TestHTTPSlowBodyIsClosed(t *testing.T) {
	n := startOne(t, "tpap", ServerLimits{HTTPReadTimeout: 300 * time.Millisecond})
	addr := n.HTTPAddr()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	_, err = fmt.Fprintf(c, "POST /v1/payments HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", addr)
	require.NoError(t, err)
	// Trickle the body, a byte every 50ms, until the server hangs up.
	done := make(chan struct{})
	defer close(done)
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	waitClosed(t, c, bufio.NewReader(c), 10*time.Second)
}

func TestHTTPConnectionLimit(t *testing.T) {
	n := startOne(t, "abank", ServerLimits{HTTPMaxConns: 2, HTTPIdleTimeout: time.Minute})
	addr := n.HTTPAddr()
	first, _ := keepAlive(t, addr)
	keepAlive(t, addr)

	// A third connection is refused at once while two are held...
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	_, err = fmt.Fprintf(c, "GET /v1/admin/health HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err, "a connection beyond the limit gets an answer, not a wait")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", body)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Contains(t, string(body), "retry later")

	// ...and one is served again once one of them closes.
	first.Close()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		require.NoError(ct, err)
		defer c.Close()
		_, err = fmt.Fprintf(c, "GET /v1/admin/health HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		require.NoError(ct, err)
		require.NoError(ct, c.SetReadDeadline(time.Now().Add(10*time.Second)))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(ct, err)
		resp.Body.Close()
		assert.Equal(ct, http.StatusOK, resp.StatusCode)
	}, 10*time.Second, 20*time.Millisecond, "the node serves a new connection once a held one closes")
}

// dialGRPC is a gRPC client of n that is the switch, by its certificate.
func dialGRPC(t *testing.T, n *Node) *grpc.ClientConn {
	t.Helper()
	creds, err := pki.Load(pki.DirOf(n.dataDir), "default", "npci")
	require.NoError(t, err)
	cc, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(creds.ClientTLSFor(n.Name))))
	require.NoError(t, err)
	t.Cleanup(func() { cc.Close() })
	return cc
}

func TestGRPCReceiveLimit(t *testing.T) {
	n := startOne(t, "abank", ServerLimits{})
	cl := upiv1.NewRemitterServiceClient(dialGRPC(t, n))
	debit := func(size int) (*upiv1.Ack, error) {
		m := &upiv1.ReqPay{
			Head: &upiv1.Head{OrgId: "npci", MsgId: "NPC00000000000000000000000000000001"},
			Txn:  &upiv1.Txn{Id: "ALP00000000000000000000000000000001", Type: upiv1.Txn_DEBIT, Note: strings.Repeat("x", size)},
		}
		return cl.ReqPay(t.Context(), m)
	}
	// A message within the limit reaches the node, which refuses it in
	// its Ack.
	ack, err := debit(MaxRecvMsgSize - 1024)
	require.NoError(t, err)
	assert.NotEmpty(t, ack.GetErr())
	// One above it never does.
	_, err = debit(MaxRecvMsgSize + 1)
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
}

// h2Conn opens a raw HTTP/2 connection (over TLS, as an app client) to n's
// gRPC port and reads the server's SETTINGS.
func h2Conn(t *testing.T, n *Node) (net.Conn, *http2.Framer, *http2.SettingsFrame) {
	t.Helper()
	cfg, err := pki.AppClientTLS(pki.DirOf(n.dataDir))
	require.NoError(t, err)
	cfg.NextProtos = []string{"h2"}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", n.GRPCAddr(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = io.WriteString(c, http2.ClientPreface)
	require.NoError(t, err)
	fr := http2.NewFramer(c, c)
	require.NoError(t, fr.WriteSettings())
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	for {
		f, err := fr.ReadFrame()
		require.NoError(t, err)
		if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
			require.NoError(t, fr.WriteSettingsAck())
			require.NoError(t, c.SetReadDeadline(time.Time{}))
			return c, fr, s
		}
	}
}

func TestGRPCConcurrentStreamLimit(t *testing.T) {
	n := startOne(t, "abank", ServerLimits{GRPCMaxConcurrentStreams: 8})
	_, _, s := h2Conn(t, n)
	v, ok := s.Value(http2.SettingMaxConcurrentStreams)
	require.True(t, ok, "the server sets no SETTINGS_MAX_CONCURRENT_STREAMS")
	assert.EqualValues(t, 8, v)
}

func TestGRPCIdleConnectionIsClosed(t *testing.T) {
	n := startOne(t, "abank", ServerLimits{GRPCMaxConnectionIdle: 300 * time.Millisecond})
	c, fr, _ := h2Conn(t, n)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server still held the idle connection")
			return // closed
		}
		if _, ok := f.(*http2.GoAwayFrame); ok {
			return
		}
	}
}

func TestGRPCConnectionLimit(t *testing.T) {
	n := startOne(t, "abank", ServerLimits{GRPCMaxConns: 2})
	first, _, _ := h2Conn(t, n)
	h2Conn(t, n)

	admin := upiv1.NewAdminServiceClient(dialGRPC(t, n))
	health := func(within time.Duration) error {
		ctx, cancel := context.WithTimeout(t.Context(), within)
		defer cancel()
		_, err := admin.Health(ctx, &upiv1.HealthRequest{})
		return err
	}
	err := health(5 * time.Second)
	assert.Equal(t, codes.Unavailable, status.Code(err), "a connection beyond the limit is refused at once: %v", err)

	first.Close()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.NoError(ct, health(time.Second))
	}, 20*time.Second, 50*time.Millisecond, "the node answers once a connection closes")
}

// The nodes' own clients ping no more often than the servers permit, or
// the servers would cut them off ("too_many_pings").
func TestPeerKeepaliveFitsServerPolicy(t *testing.T) {
	assert.GreaterOrEqual(t, node.PeerKeepaliveTime, DefaultServerLimits().GRPCKeepaliveMinTime)
}
