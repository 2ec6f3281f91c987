package cluster

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/pki"
)

// appConn dials addr as an app client does: TLS verified against
// data/pki/ca.pem, no client certificate, no admin token.
func appConn(t *testing.T, data, addr string) *grpc.ClientConn {
	t.Helper()
	cfg, err := pki.AppClientTLS(pki.DirOf(data))
	require.NoError(t, err)
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	require.NoError(t, err)
	t.Cleanup(func() { cc.Close() })
	return cc
}

func checkStatus(t *testing.T, hc healthpb.HealthClient, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	require.NoError(t, err, "Check(%q)", service)
	return r.GetStatus()
}

// A node's health service says NOT_SERVING while the node starts, SERVING
// once it has, for the node and each of its services, and NOT_SERVING as
// soon as Close begins; watchers hear each change, and an app client
// without a certificate or admin token may ask. Reflection lists the
// services too.
func TestHealthFollowsTheNode(t *testing.T) {
	data := t.TempDir()
	netw := config.Default()
	netw.Heartbeat = 0
	netw.AssignAddrs(0)
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := gl.Addr().String()

	var (
		hc    healthpb.HealthClient
		watch grpc.ServerStreamingClient[healthpb.HealthCheckResponse]
	)
	watchCtx, stopWatch := context.WithTimeout(t.Context(), time.Minute)
	defer stopWatch()
	var whileStarting map[string]healthpb.HealthCheckResponse_ServingStatus
	beforeServing = func() {
		// The server serves already; the node has not said it is up.
		hc = healthpb.NewHealthClient(appConn(t, data, addr))
		whileStarting = map[string]healthpb.HealthCheckResponse_ServingStatus{}
		for _, s := range []string{"", "upi.v1.TpapAppService", "upi.v1.AdminService"} {
			whileStarting[s] = checkStatus(t, hc, s)
		}
		watch, err = hc.Watch(watchCtx, &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		first, err := watch.Recv()
		require.NoError(t, err)
		whileStarting["watch"] = first.GetStatus()
	}
	defer func() { beforeServing = nil }()
	n, err := StartNode(NodeOptions{Network: netw, Name: "tpap", DataDir: data, GRPC: gl, NoSync: true})
	require.NoError(t, err)
	closed := false
	defer func() {
		if !closed {
			n.Close()
		}
	}()
	notServing := healthpb.HealthCheckResponse_NOT_SERVING
	assert.Equal(t, map[string]healthpb.HealthCheckResponse_ServingStatus{
		"": notServing, "upi.v1.TpapAppService": notServing, "upi.v1.AdminService": notServing, "watch": notServing,
	}, whileStarting, "while the node starts")

	up, err := watch.Recv()
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, up.GetStatus(), "the watcher hears the node is up")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	list, err := hc.List(ctx, &healthpb.HealthListRequest{})
	require.NoError(t, err)
	got := map[string]healthpb.HealthCheckResponse_ServingStatus{}
	for name, s := range list.GetStatuses() {
		got[name] = s.GetStatus()
	}
	serving := healthpb.HealthCheckResponse_SERVING
	assert.Equal(t, map[string]healthpb.HealthCheckResponse_ServingStatus{
		"": serving, "upi.v1.TpapAppService": serving, "upi.v1.TpapService": serving,
		"upi.v1.NodeKeyService": serving, "upi.v1.AdminService": serving,
	}, got, "the node and each service it serves, once started")
	_, err = hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "upi.v1.NoSuchService"})
	assert.Equal(t, codes.NotFound, status.Code(err), "a service the node does not serve: %v", err)

	// AdminService still wants its token from the same client.
	cc := appConn(t, data, addr)
	_, err = upiv1.NewAdminServiceClient(cc).ListTransactions(ctx, &upiv1.ListTransactionsRequest{})
	assert.Equal(t, codes.Unauthenticated, status.Code(err), "AdminService without the token: %v", err)
	tok, err := ReadAdminToken(data)
	require.NoError(t, err)
	_, err = upiv1.NewAdminServiceClient(cc).ListTransactions(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok), &upiv1.ListTransactionsRequest{})
	assert.NoError(t, err, "AdminService with the token")

	// Reflection (v1) names the same services, health and reflection too.
	rs, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	require.NoError(t, err)
	require.NoError(t, rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: ""}}))
	rr, err := rs.Recv()
	require.NoError(t, err)
	var names []string
	for _, s := range rr.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	assert.Subset(t, names, []string{"upi.v1.TpapAppService", "upi.v1.AdminService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"})
	require.NoError(t, rs.CloseSend())

	// Close: the watcher hears NOT_SERVING, then its stream ends, and
	// Close does not wait the servers' grace for it.
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- n.Close() }()
	closed = true
	down, err := watch.Recv()
	require.NoError(t, err)
	assert.Equal(t, notServing, down.GetStatus(), "the watcher hears the node drain")
	_, err = watch.Recv()
	assert.Error(t, err, "the watch ends as the node stops")
	require.NoError(t, <-done)
	assert.Less(t, time.Since(start), shutdownGrace, "an open Watch does not hold Close up")
}
