package cluster_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/pki"
)

// The first start writes the token, mode 0600; later ones reuse it; one
// that group or others may read is refused.
func TestEnsureAdminToken(t *testing.T) {
	dir := t.TempDir()
	toks := make([]string, 8)
	var wg sync.WaitGroup
	for i := range toks {
		wg.Go(func() {
			tok, err := cluster.EnsureAdminToken(dir)
			assert.NoError(t, err)
			toks[i] = tok
		})
	}
	wg.Wait()
	for _, tok := range toks {
		assert.Equal(t, toks[0], tok, "nodes starting at once share one token")
	}
	assert.Len(t, toks[0], 43, "32 bytes, unpadded base64url")
	path := filepath.Join(dir, cluster.AdminTokenFile)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	left, err := filepath.Glob(filepath.Join(dir, "*.tmp"))
	require.NoError(t, err)
	assert.Empty(t, left, "no temporary file is left")

	again, err := cluster.EnsureAdminToken(dir)
	require.NoError(t, err)
	assert.Equal(t, toks[0], again)

	require.NoError(t, os.Chmod(path, 0o644))
	_, err = cluster.EnsureAdminToken(dir)
	assert.ErrorContains(t, err, "group and others must not read it; run chmod 600 "+path)
	_, err = cluster.ReadAdminToken(dir)
	assert.Error(t, err)

	require.NoError(t, os.WriteFile(path, []byte("short\n"), 0o600))
	require.NoError(t, os.Chmod(path, 0o600))
	_, err = cluster.ReadAdminToken(dir)
	assert.ErrorContains(t, err, "holds no token")

	_, err = cluster.ReadAdminToken(t.TempDir())
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// A running network's admin calls need the token, over gRPC and REST; the
// CLI sends it from DATA/admin.token.
func TestAdminTokenOnARunningNetwork(t *testing.T) {
	data := t.TempDir()
	nw, err := upIn(t, data)
	require.NoError(t, err)
	tok, err := cluster.ReadAdminToken(data)
	require.NoError(t, err)

	// The CLI: balance and audit read every bank and node.
	assert.Positive(t, balance(t, data, "alice@alpha"))
	res, err := cli.Audit(t.Context(), &bytes.Buffer{}, cli.AuditOptions{DataDir: data})
	require.NoError(t, err)
	assert.True(t, res.OK, "%+v", res.Violations)

	bank, ok := nw.Node("abank")
	require.True(t, ok)
	appTLS, err := pki.AppClientTLS(pki.DirOf(data))
	require.NoError(t, err)
	cc, err := grpc.NewClient(bank.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(appTLS)))
	require.NoError(t, err)
	defer cc.Close()
	admin := upiv1.NewAdminServiceClient(cc)
	_, err = admin.ListAccounts(t.Context(), &upiv1.ListAccountsRequest{})
	require.Equal(t, codes.Unauthenticated, status.Code(err))
	assert.Contains(t, status.Convert(err).Message(), "admin token required: pass `authorization: Bearer <token>`")
	_, err = admin.ListAccounts(metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok+"x"), &upiv1.ListAccountsRequest{})
	require.Equal(t, codes.Unauthenticated, status.Code(err))
	accts, err := admin.ListAccounts(metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok), &upiv1.ListAccountsRequest{})
	require.NoError(t, err)
	assert.NotEmpty(t, accts.GetAccounts())
	_, err = admin.Health(t.Context(), &upiv1.HealthRequest{})
	require.NoError(t, err, "Health is open")

	get := func(path, auth string) int {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+bank.HTTPAddr()+path, nil)
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusUnauthorized, get("/v1/admin/accounts", ""))
	assert.Equal(t, http.StatusUnauthorized, get("/v1/admin/accounts", "Bearer nope"))
	assert.Equal(t, http.StatusOK, get("/v1/admin/accounts", "Bearer "+tok))
	assert.Equal(t, http.StatusOK, get("/v1/admin/health", ""))

	// Without the file the CLI says where the token should be.
	require.NoError(t, os.Remove(filepath.Join(data, cluster.AdminTokenFile)))
	_, err = cli.Balance(t.Context(), &bytes.Buffer{}, cli.BalanceOptions{DataDir: data, VPA: "alice@alpha"})
	assert.ErrorContains(t, err, "no admin token in "+filepath.Join(data, cluster.AdminTokenFile))
}
