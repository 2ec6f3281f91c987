package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
)

// litePayTPAP answers PayLite with result.
type litePayTPAP struct {
	upiv1.UnimplementedTpapAppServiceServer
	result *upiv1.LiteResult
}

func (f *litePayTPAP) PayLite(context.Context, *upiv1.PayLiteRequest) (*upiv1.LiteResult, error) {
	return f.result, nil
}

// liteData serves tp as the network's TPAP and returns the data folder.
func liteData(t *testing.T, tp upiv1.TpapAppServiceServer) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := grpc.NewServer()
	upiv1.RegisterTpapAppServiceServer(s, tp)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	data := t.TempDir()
	require.NoError(t, config.WriteDirectory(data, config.Directory{Network: "default", Nodes: []config.NodeAddr{
		{Name: "tpap", Role: config.RoleTPAP, GRPCAddr: l.Addr().String(), HTTPAddr: l.Addr().String()},
	}}))
	require.NoError(t, os.WriteFile(filepath.Join(data, cluster.AdminTokenFile), []byte("0123456789abcdef0123456789abcdef\n"), 0o600))
	return data
}

func TestLitePayExitCodes(t *testing.T) {
	for _, c := range []struct {
		name   string
		result *upiv1.LiteResult
		args   []string
		code   int
	}{
		{"online SUCCESS", &upiv1.LiteResult{TxnId: "ALP1", Status: upiv1.Resp_SUCCESS, Rrn: "512345678901"}, nil, cli.ExitOK},
		{"online FAILURE", &upiv1.LiteResult{TxnId: "ALP1", Status: upiv1.Resp_FAILURE, ErrCode: "LQ"}, nil, cli.ExitFailure},
		{"online still PENDING", &upiv1.LiteResult{TxnId: "ALP1", Status: upiv1.Resp_PENDING}, nil, cli.ExitPending},
		{"online PENDING, not waited", &upiv1.LiteResult{TxnId: "ALP1", Status: upiv1.Resp_PENDING}, []string{"--no-wait"}, cli.ExitOK},
		{"offline PENDING is its outcome", &upiv1.LiteResult{TxnId: "ALP1", Status: upiv1.Resp_PENDING, ProvisionalUtr: "P12345678901"}, []string{"--to-device", "chai-pos"}, cli.ExitOK},
		{"offline refused on the device", &upiv1.LiteResult{Status: upiv1.Resp_FAILURE, ErrCode: "LN"}, []string{"--to-device", "chai-pos", "--no-wait"}, cli.ExitFailure},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := liteData(t, &litePayTPAP{result: c.result})
			args := append([]string{"-o", "json", "--data", data, "lite", "pay", "--device", "alice-phone", "--to", "chai@beta", "--amount", "150.00"}, c.args...)
			code, out, errOut := run(t, args...)
			assert.Equal(t, c.code, code, "stderr: %s", errOut)
			assert.Contains(t, out, `"status"`, "the result is printed whatever the exit code")
			if c.code != cli.ExitOK {
				_, jc := jsonError(t, errOut)
				assert.Equal(t, c.code, jc)
			}
		})
	}
}

func TestLiteUsage(t *testing.T) {
	code, out, errOut := run(t, "--data", t.TempDir(), "lite", "topup", "--amount", "1.00", "--pin", "1234")
	assert.Equal(t, cli.ExitError, code)
	assert.Empty(t, out)
	assert.Equal(t, "upisim: missing device: pass --device\n", errOut)

	code, out, _ = run(t, "lite", "pay", "--help")
	assert.Equal(t, cli.ExitOK, code)
	assert.Contains(t, out, "that is its normal outcome: exit 0")
	for _, sub := range []string{"enable", "topup", "pay", "offline", "online", "sync", "balance", "devices", "device", "transfer-out", "disable", "reconcile", "autotopup"} {
		code, _, errOut := run(t, "lite", sub, "--help")
		assert.Equal(t, cli.ExitOK, code, "%s: %s", sub, errOut)
	}
	code, out, _ = run(t, "lite", "device", "add", "--help")
	assert.Equal(t, cli.ExitOK, code)
	assert.Contains(t, out, "--vpa")
}
