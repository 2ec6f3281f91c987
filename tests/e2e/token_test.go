package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/upisim/upisim/internal/cluster"
)

// withAdminToken is a dial option that sends the admin token of dataDir
// (DATA/admin.token) on every call, as the CLI does.
func withAdminToken(t *testing.T, dataDir string) grpc.DialOption {
	t.Helper()
	tok, err := cluster.ReadAdminToken(dataDir)
	require.NoError(t, err)
	return grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok), method, req, reply, cc, opts...)
	})
}

// shareAdminToken gives the data folders one admin token before their
// nodes first start, as an operator does for nodes in folders of their
// own: each reuses the token it finds.
func shareAdminToken(t *testing.T, dirs ...string) {
	t.Helper()
	src := t.TempDir()
	_, err := cluster.EnsureAdminToken(src)
	require.NoError(t, err)
	tok, err := os.ReadFile(filepath.Join(src, cluster.AdminTokenFile))
	require.NoError(t, err)
	for _, d := range dirs {
		require.NoError(t, os.MkdirAll(d, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(d, cluster.AdminTokenFile), tok, 0o600))
	}
}
