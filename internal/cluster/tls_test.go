package cluster_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/pki"
)

func health(t *testing.T, addr string, creds credentials.TransportCredentials) error {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	require.NoError(t, err)
	defer cc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err = upiv1.NewAdminServiceClient(cc).Health(ctx, &upiv1.HealthRequest{})
	return err
}

// Up creates the network's PKI, serves TLS only, and tells clients so in
// network.json; a second Up on the same data keeps the same certificates.
func TestUpServesMutualTLS(t *testing.T) {
	data := t.TempDir()
	nw, err := upIn(t, data)
	require.NoError(t, err)
	dir := pki.DirOf(data)
	infos, err := pki.List(dir)
	require.NoError(t, err)
	require.Len(t, infos, 1+len(nw.Config.Nodes), "the CA and every node's certificate")

	d, err := config.ReadDirectory(data)
	require.NoError(t, err)
	assert.True(t, d.TLS)
	assert.Equal(t, "pki/ca.pem", d.CAFile)

	tpap, _ := nw.Node("tpap")
	app, err := pki.AppClientTLS(dir)
	require.NoError(t, err)
	require.NoError(t, health(t, tpap.GRPCAddr(), credentials.NewTLS(app)), "an app client over TLS")
	assert.Error(t, health(t, tpap.GRPCAddr(), insecure.NewCredentials()), "a plaintext client")

	r, err := cli.Pay(t.Context(), &bytes.Buffer{}, cli.PayOptions{DataDir: data, From: "alice@alpha", To: "bob@beta", Amount: "1.00", PIN: "1234", Timeout: 20 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, "SUCCESS", r.Status, "a pay flow across every node over mutual TLS")

	require.NoError(t, nw.Close())
	_, err = upIn(t, data)
	require.NoError(t, err)
	again, err := pki.List(dir)
	require.NoError(t, err)
	assert.Equal(t, infos, again, "a restart reuses the certificates")
}

// A node started on its own creates the CA and every node's certificate
// in its data folder, so the network's other nodes on this host share
// them.
func TestStartNodeEnsuresThePKI(t *testing.T) {
	data := t.TempDir()
	netw := config.Default()
	netw.Heartbeat = 0
	netw.AssignAddrs(0)
	n, err := cluster.StartNode(cluster.NodeOptions{Network: netw, Name: "abank", DataDir: data, NoSync: true})
	require.NoError(t, err)
	defer n.Close()
	for _, nd := range netw.Nodes {
		_, err := pki.Load(pki.DirOf(data), netw.Name, nd.Name)
		require.NoError(t, err, nd.Name)
	}
	// Another network's CA in the folder is an error naming it.
	other := config.Default()
	other.Name = "other"
	other.AssignAddrs(0)
	_, err = cluster.StartNode(cluster.NodeOptions{Network: other, Name: "bbank", DataDir: data, NoSync: true})
	assert.ErrorContains(t, err, filepath.Join(data, "pki", "ca.pem"))
}

func TestUpInsecure(t *testing.T) {
	data := t.TempDir()
	netw := config.Default()
	netw.Heartbeat = 0
	nw, err := cluster.Up(cluster.UpOptions{Network: netw, DataDir: data, NoSync: true, Insecure: true})
	require.NoError(t, err)
	defer nw.Close()
	_, err = os.Stat(pki.DirOf(data))
	assert.ErrorIs(t, err, os.ErrNotExist, "insecure mode makes no PKI")
	d, err := config.ReadDirectory(data)
	require.NoError(t, err)
	assert.False(t, d.TLS)
	tpap, _ := nw.Node("tpap")
	require.NoError(t, health(t, tpap.GRPCAddr(), insecure.NewCredentials()))
	r, err := cli.Pay(t.Context(), &bytes.Buffer{}, cli.PayOptions{DataDir: data, From: "alice@alpha", To: "bob@beta", Amount: "1.00", PIN: "1234", Timeout: 20 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, "SUCCESS", r.Status)
}
