package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/upisim/upisim/internal/pki"
)

// appCreds dials a node of the network whose data folder is data as the
// CLI does: TLS verified against data/pki/ca.pem, no client certificate.
func appCreds(t testing.TB, data string) grpc.DialOption {
	t.Helper()
	cfg, err := pki.AppClientTLS(pki.DirOf(data))
	require.NoError(t, err)
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg))
}

// nodeCreds dials as the node called node, with its certificate in
// data/pki: what a test needs to send network messages.
func nodeCreds(t testing.TB, data, node string) grpc.DialOption {
	t.Helper()
	c, err := pki.Load(pki.DirOf(data), "default", node)
	require.NoError(t, err)
	return grpc.WithTransportCredentials(credentials.NewTLS(c.ClientTLS()))
}

// sharePKI makes the certificates of the network in file once, as
// `upisim pki init` does for nodes on many hosts, and copies them to each
// node's data folder in dirs.
func sharePKI(t *testing.T, bin, file string, dirs map[string]string) {
	t.Helper()
	src := t.TempDir()
	run(t, bin, "pki", "init", "--data", src, "--network", file)
	entries, err := os.ReadDir(pki.DirOf(src))
	require.NoError(t, err)
	for _, dir := range dirs {
		require.NoError(t, os.MkdirAll(pki.DirOf(dir), 0o700))
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(pki.DirOf(src), e.Name()))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(pki.DirOf(dir), e.Name()), b, 0o600))
		}
	}
}
