package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/pki"
)

// The gRPC tools the README shows, at pinned versions, installed with `go
// install` once per test binary run.
const (
	grpcurlPkg     = "github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4"
	healthProbePkg = "github.com/grpc-ecosystem/grpc-health-probe@v0.4.62"
)

var grpcTools struct {
	once           sync.Once
	grpcurl, probe string
	skip, err      string // why the tools are missing: no network (skip) or else (fail)
}

// installGRPCTools installs grpcurl and grpc-health-probe into a folder of
// the user's cache (one per version, so later runs reuse the build), and
// returns their paths. It skips the test when the module proxy cannot be
// reached, and fails it when the build fails otherwise.
func installGRPCTools(t *testing.T) (grpcurl, probe string) {
	t.Helper()
	g := &grpcTools
	g.once.Do(func() {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		bin := filepath.Join(cache, "upisim", "e2e-tools", "grpcurl-v1.9.4_grpc-health-probe-v0.4.62")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			g.err = err.Error()
			return
		}
		for _, pkg := range []string{grpcurlPkg, healthProbePkg} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			cmd := exec.CommandContext(ctx, "go", "install", pkg)
			cmd.Dir = bin // outside the module: pkg@version is built on its own
			cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=")
			out, err := cmd.CombinedOutput()
			cancel()
			if err != nil {
				msg := "go install " + pkg + ": " + err.Error() + "\n" + string(out)
				if noNetwork(string(out)) {
					g.skip = msg
				} else {
					g.err = msg
				}
				return
			}
		}
		g.grpcurl, g.probe = filepath.Join(bin, "grpcurl"), filepath.Join(bin, "grpc-health-probe")
	})
	if g.skip != "" {
		t.Skipf("the gRPC tools cannot be installed without the module proxy (no network?): %s", g.skip)
	}
	require.Empty(t, g.err, "installing the gRPC tools")
	return g.grpcurl, g.probe
}

// noNetwork reports whether go install's output says it could not reach
// the module proxy.
func noNetwork(out string) bool {
	for _, s := range []string{"dial tcp", "no such host", "connection refused", "i/o timeout", "network is unreachable", "TLS handshake timeout", "GOPROXY=off", "module lookup disabled"} {
		if strings.Contains(out, s) {
			return true
		}
	}
	return false
}

// tool runs a tool and returns its stdout, stderr and exit code (-1 when
// it could not run or was killed).
func tool(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		code = 0
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return o.String(), e.String(), code
}

// TestGRPCTools drives a running `upisim up` with the real grpcurl and
// grpc-health-probe, as an app client: TLS verified against the network's
// CA, no client certificate. Reflection lists and describes each node's
// services, grpcurl pays, the probe finds every node and service SERVING
// without an admin token (which AdminService still wants), and a stopped
// network fails the probe.
func TestGRPCTools(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and starts processes")
	}
	grpcurl, probe := installGRPCTools(t)
	bin := buildBinary(t)
	data := t.TempDir()
	up := newServer(t, "upisim up", bin, "up", "--data", data, "--port-base", "0", "--log-level", "warn")
	nw := startUp(t, up, bin, data)
	ca := filepath.Join(pki.DirOf(data), pki.CAFile)

	curl := func(args ...string) (string, string, int) {
		t.Helper()
		return tool(t, grpcurl, append([]string{"-cacert", ca}, args...)...)
	}
	mustCurl := func(args ...string) string {
		t.Helper()
		out, errOut, code := curl(args...)
		require.Zero(t, code, "grpcurl %s: %s", strings.Join(args, " "), errOut)
		return out
	}
	probeArgs := func(addr string, extra ...string) []string {
		return append([]string{"-addr", addr, "-tls", "-tls-ca-cert", ca}, extra...)
	}

	// Reflection: each node lists its services.
	wantServices := map[string][]string{
		nw.tpap:     {"upi.v1.TpapAppService", "upi.v1.AdminService"},
		nw.alphapsp: {"upi.v1.PspAppService", "upisim.merchant.v1.MerchantService", "upisim.merchant.v1.MerchantAdminService", "upi.v1.AdminService"},
		nw.betapsp:  {"upi.v1.PspAppService", "upisim.merchant.v1.MerchantService", "upisim.merchant.v1.MerchantAdminService", "upi.v1.AdminService"},
		nw.npci:     {"upi.v1.AdminService"},
		nw.abank:    {"upi.v1.AdminService"},
		nw.bbank:    {"upi.v1.AdminService"},
	}
	for addr, want := range wantServices {
		listed := strings.Fields(mustCurl(addr, "list"))
		assert.Subset(t, listed, append(want, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"), "grpcurl list %s", addr)
		if addr != nw.tpap {
			assert.NotContains(t, listed, "upi.v1.TpapAppService", "grpcurl list %s: only the TPAP serves it", addr)
		}
	}

	// Describe, from the node's own descriptors.
	assert.Contains(t, mustCurl(nw.tpap, "describe", "upi.v1.TpapAppService.CreatePayment"),
		"rpc CreatePayment ( .upi.v1.CreatePaymentRequest ) returns ( .upi.v1.CreatePaymentResponse );")
	req := mustCurl(nw.tpap, "describe", "upi.v1.CreatePaymentRequest")
	for _, f := range []string{"string payer_vpa = 1;", "string payee_vpa = 2;", "int64 amount_paise = 3;", "string pin = 5;"} {
		assert.Contains(t, req, f)
	}

	// A payment through grpcurl: ₹150.00 from alice to bob, to SUCCESS.
	aliceBefore, bobBefore := balance(t, data, nw.abank, "alice@alpha"), balance(t, data, nw.bbank, "bob@beta")
	out := mustCurl("-d", `{"payer_vpa":"alice@alpha","payee_vpa":"bob@beta","amount_paise":15000,"note":"grpcurl","pin":"1234"}`,
		nw.tpap, "upi.v1.TpapAppService/CreatePayment")
	var created struct {
		TxnID string `json:"txnId"` // grpcurl prints protojson's names
	}
	require.NoError(t, json.Unmarshal([]byte(out), &created), out)
	require.NotEmpty(t, created.TxnID, out)
	var got struct {
		Status      string
		Transaction struct {
			PayerVpa, PayeeVpa, AmountPaise string
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out = mustCurl("-d", `{"txn_id":"`+created.TxnID+`","wait_ms":1000}`, nw.tpap, "upi.v1.TpapAppService/GetPayment")
		require.NoError(t, json.Unmarshal([]byte(out), &got), out)
		if got.Status != "PENDING" || time.Now().After(deadline) {
			break
		}
	}
	require.Equal(t, "SUCCESS", got.Status, "GetPayment through grpcurl: %s", out)
	assert.Equal(t, "alice@alpha", got.Transaction.PayerVpa)
	assert.Equal(t, "bob@beta", got.Transaction.PayeeVpa)
	assert.Equal(t, "15000", got.Transaction.AmountPaise, "int64 fields are JSON strings")
	assert.Equal(t, aliceBefore-15000, balance(t, data, nw.abank, "alice@alpha"), "alice paid ₹150.00")
	assert.Equal(t, bobBefore+15000, balance(t, data, nw.bbank, "bob@beta"), "bob got ₹150.00")

	// AdminService wants the token, which grpcurl passes as a header.
	_, errOut, code := curl(nw.tpap, "upi.v1.AdminService/ListTransactions")
	assert.NotZero(t, code)
	assert.Contains(t, errOut, "Unauthenticated", "AdminService without the token")
	token, err := cluster.ReadAdminToken(data)
	require.NoError(t, err)
	assert.Contains(t, mustCurl("-H", "authorization: Bearer "+token, nw.tpap, "upi.v1.AdminService/ListTransactions"), created.TxnID)

	// The health probe, with no token: every node, and its services.
	for addr, services := range wantServices {
		for _, svc := range append([]string{""}, services...) {
			o, e, code := tool(t, probe, probeArgs(addr, "-service", svc)...)
			assert.Zero(t, code, "grpc-health-probe %s -service %q: %s%s", addr, svc, o, e)
			assert.Contains(t, o+e, "status: SERVING", "the probe reports on stderr")
		}
	}
	_, _, code = tool(t, probe, probeArgs(nw.tpap, "-service", "upi.v1.NoSuchService")...)
	assert.NotZero(t, code, "a service the node does not serve")
	_, _, code = tool(t, probe, "-addr", nw.tpap, "-tls")
	assert.NotZero(t, code, "the node's certificate is not trusted without the network's CA")

	// A stopped network fails the probe.
	up.stop()
	o, e, code := tool(t, probe, probeArgs(nw.tpap, "-connect-timeout", "2s")...)
	assert.NotZero(t, code, "grpc-health-probe against a stopped node: %s%s", o, e)
}
