package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/pki"
)

func TestPKIInitRotateShow(t *testing.T) {
	data := t.TempDir()
	var out bytes.Buffer
	res, err := PKIInit(t.Context(), &out, PKIInitOptions{DataDir: data, Hosts: []string{"node1.example", "10.0.0.7"}})
	require.NoError(t, err)
	n := config.Default()
	require.Len(t, res.Certs, 1+len(n.Nodes))
	assert.True(t, res.Certs[0].CA)
	assert.Contains(t, out.String(), filepath.Join(data, "pki", "npci.pem"))
	assert.Contains(t, out.String(), "(CA of default)")
	for _, c := range res.Certs[1:] {
		assert.Contains(t, c.Hosts, "node1.example")
		assert.Contains(t, c.Hosts, "10.0.0.7")
	}

	// Again: nothing changes.
	again, err := PKIInit(t.Context(), &bytes.Buffer{}, PKIInitOptions{DataDir: data})
	require.NoError(t, err)
	assert.Equal(t, res.Certs, again.Certs)

	fp := func(certs []pki.CertInfo, node string) string {
		for _, c := range certs {
			if c.Node == node || (node == "" && c.CA) {
				return c.Fingerprint
			}
		}
		return ""
	}
	out.Reset()
	rot, err := PKIRotate(t.Context(), &out, PKIRotateOptions{DataDir: data, Node: "alphapsp"})
	require.NoError(t, err)
	assert.Contains(t, out.String(), "rotated alphapsp")
	assert.NotEqual(t, fp(res.Certs, "alphapsp"), fp(rot.Certs, "alphapsp"))
	assert.Equal(t, fp(res.Certs, ""), fp(rot.Certs, ""), "the same CA")
	assert.Equal(t, fp(res.Certs, "npci"), fp(rot.Certs, "npci"))
	_, err = PKIRotate(t.Context(), &bytes.Buffer{}, PKIRotateOptions{DataDir: data, Node: "nosuch"})
	assert.ErrorContains(t, err, "no certificate of node nosuch")

	out.Reset()
	_, err = PKIShow(t.Context(), &out, PKIShowOptions{DataDir: data, Output: JSON})
	require.NoError(t, err)
	var shown PKIResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &shown))
	assert.Equal(t, fp(rot.Certs, "alphapsp"), fp(shown.Certs, "alphapsp"))
	for _, c := range shown.Certs[1:] {
		assert.NotEmpty(t, c.Role)
		assert.False(t, c.NotAfter.IsZero())
	}

	_, err = PKIShow(t.Context(), &bytes.Buffer{}, PKIShowOptions{DataDir: t.TempDir()})
	assert.Error(t, err)
	_, err = PKIRotate(t.Context(), &bytes.Buffer{}, PKIRotateOptions{DataDir: t.TempDir(), Node: "npci"})
	assert.Error(t, err)
}

// A network started after `pki init` uses its certificates; the CLI
// reaches it over TLS through network.json.
func TestUpUsesPKIInitAndInsecureUp(t *testing.T) {
	data := t.TempDir()
	res, err := PKIInit(t.Context(), &bytes.Buffer{}, PKIInitOptions{DataDir: data})
	require.NoError(t, err)
	for _, insecure := range []bool{false, true} {
		dir := data
		if insecure {
			dir = t.TempDir()
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		ready := make(chan *cluster.Network, 1)
		go func() {
			done <- Up(ctx, &bytes.Buffer{}, UpOptions{DataDir: dir, NoSync: true, Insecure: insecure, Ready: func(nw *cluster.Network) { ready <- nw }})
		}()
		select {
		case <-ready:
		case err := <-done:
			cancel()
			t.Fatalf("up: %v", err)
		}
		d, err := config.ReadDirectory(dir)
		require.NoError(t, err)
		assert.Equal(t, !insecure, d.TLS)
		r, err := Balance(t.Context(), &bytes.Buffer{}, BalanceOptions{DataDir: dir, VPA: "alice@alpha"})
		require.NoError(t, err, "insecure %v", insecure)
		assert.Positive(t, r.BalancePaise)
		cancel()
		require.NoError(t, <-done)
		if !insecure {
			after, err := pki.List(pki.DirOf(dir))
			require.NoError(t, err)
			assert.Equal(t, res.Certs, after, "up kept pki init's certificates")
		} else {
			_, err := os.Stat(pki.DirOf(dir))
			assert.ErrorIs(t, err, os.ErrNotExist)
		}
	}
}

func TestBenchCompareTLS(t *testing.T) {
	var out bytes.Buffer
	cmp, err := BenchTLS(t.Context(), &out, BenchOptions{Flows: 20, Concurrency: 4, A: "alice@alpha", B: "bob@beta", PIN: "1234", Amount: "1.00", NoSync: true, Output: JSON})
	require.NoError(t, err)
	assert.Positive(t, cmp.TLS.FlowsPerSec)
	assert.Positive(t, cmp.Insecure.FlowsPerSec)
	assert.Equal(t, 20, cmp.TLS.Success)
	assert.Equal(t, 20, cmp.Insecure.Success)
	assert.Positive(t, cmp.Ratio)
	var back TLSComparison
	require.NoError(t, json.Unmarshal(out.Bytes(), &back))
	assert.Equal(t, cmp.TLS.Success, back.TLS.Success)

	out.Reset()
	_, err = BenchTLS(t.Context(), &out, BenchOptions{Flows: 4, Concurrency: 2, A: "alice@alpha", B: "bob@beta", PIN: "1234", Amount: "1.00", NoSync: true})
	require.NoError(t, err)
	assert.Contains(t, out.String(), "mutual TLS")
	assert.Contains(t, out.String(), "insecure")
	assert.Contains(t, out.String(), "of insecure's flows/s")
}
