package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
)

// buildBinary builds cmd/upisim once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "upisim")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/upisim/upisim/cmd/upisim")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// freePorts returns n distinct free loopback ports for nodes that keep
// their port across restarts. They are taken below the kernel's ephemeral
// range (ip_local_port_range): a port the OS hands out (":0") is one a
// client's outgoing connection may take as its own source port while a
// killed node is down, and the node could not listen on it again ("bind:
// address already in use"). Each is checked by listening on it; the
// listeners stay open until all n are chosen, so none is handed out twice.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	lo, hi := 10000, ephemeralLow()
	addrs := make([]string, 0, n)
	for tries := 0; len(addrs) < n; tries++ {
		require.Less(t, tries, 100*n, "no free loopback port below %d", hi)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", lo+rand.IntN(hi-lo)))
		if err != nil {
			continue // in use
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default when it cannot be read).
func ephemeralLow() int {
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 11000 {
				lo = v
			}
		}
	}
	return lo
}

// setAddrs gives every node of netw its own free gRPC and HTTP port.
func setAddrs(t *testing.T, netw *config.Network) {
	t.Helper()
	ports := freePorts(t, 2*len(netw.Nodes))
	for i := range netw.Nodes {
		netw.Nodes[i].GRPCAddr, netw.Nodes[i].HTTPAddr = ports[2*i], ports[2*i+1]
	}
}

// run runs the binary and returns its stdout; it fails the test on a
// non-zero exit.
func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "upisim %s: %s", strings.Join(args, " "), stderr.String())
	return stdout.String()
}

// TestSixProcesses runs the default network as six `upisim node` processes,
// each with its own data folder, and pays through them.
func TestSixProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and starts processes")
	}
	bin := buildBinary(t)
	netw := config.Default()
	netw.Heartbeat = 0
	setAddrs(t, netw)
	raw, err := netw.Marshal()
	require.NoError(t, err)
	root := t.TempDir()
	file := filepath.Join(root, "network.yaml")
	require.NoError(t, os.WriteFile(file, raw, 0o644))

	var procs []*exec.Cmd
	t.Cleanup(func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			done := make(chan struct{})
			go func() { p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				p.Process.Kill()
				<-done
			}
		}
	})
	dirs := map[string]string{}
	for _, nd := range netw.Nodes {
		dirs[nd.Name] = filepath.Join(root, nd.Name)
	}
	sharePKI(t, bin, file, dirs)
	shareAdminToken(t, slices.Collect(maps.Values(dirs))...)
	for _, nd := range netw.Nodes {
		cmd := dieWithTest(exec.Command(bin, "node", "--network", file, "--name", nd.Name, "--data", dirs[nd.Name], "--log-level", "error"))
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		require.NoError(t, cmd.Start())
		procs = append(procs, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s output:\n%s", nd.Name, logs.String())
			}
		})
	}
	for _, nd := range netw.Nodes {
		waitHealthy(t, dirs[nd.Name], nd.GRPCAddr)
	}
	data := dirs["tpap"]
	opening := bankTotal(t, netw, data)
	t.Cleanup(func() {
		if !t.Failed() {
			assert.Equal(t, opening, bankTotal(t, netw, data), "money is conserved across all banks")
		}
	})

	out := run(t, bin, "pay", "--data", data, "--from", "alice@alpha", "--to", "bob@beta", "--amount", "150.00", "--pin", "1234", "-o", "json")
	var pay struct {
		TxnID   string `json:"txn_id"`
		Status  string `json:"status"`
		RRN     string `json:"rrn"`
		ErrCode string `json:"err_code"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &pay), out)
	assert.Equal(t, "SUCCESS", pay.Status)
	assert.Len(t, pay.RRN, 12)

	for vpa, want := range map[string]int64{"alice@alpha": 985000, "bob@beta": 515000} {
		var bal struct {
			VPA          string `json:"vpa"`
			BalancePaise int64  `json:"balance_paise"`
		}
		out := run(t, bin, "balance", "--data", data, vpa, "-o", "json")
		require.NoError(t, json.Unmarshal([]byte(out), &bal), out)
		assert.Equal(t, want, bal.BalancePaise, vpa)
	}
	text := run(t, bin, "balance", "--data", data, "alice@alpha")
	assert.Contains(t, text, "₹9,850.00")

	// The trace spans the processes: every node that took part has records.
	require.Eventually(t, func() bool {
		out := run(t, bin, "trace", "--data", data, pay.TxnID, "-o", "json")
		var tr struct {
			Messages []struct {
				Node string `json:"node"`
			} `json:"messages"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &tr))
		seen := map[string]bool{}
		for _, m := range tr.Messages {
			seen[m.Node] = true
		}
		return len(seen) == 6
	}, 10*time.Second, 50*time.Millisecond, "all six nodes stored messages of the payment")
	diagram := run(t, bin, "trace", "--data", data, pay.TxnID)
	assert.Contains(t, diagram, "ReqAuthDetails")

	// A decline travels back across the processes too.
	declined := runCode(t, bin, "pay", "--data", data, "--from", "alice@alpha", "--to", "bob@beta", "--amount", "1.00", "--pin", "0000", "-o", "json")
	assert.Equal(t, 2, declined.code, "a FAILURE exits 2: %s", declined.stderr)
	out = declined.stdout
	require.NoError(t, json.Unmarshal([]byte(out), &pay), out)
	assert.Equal(t, "FAILURE", pay.Status)
	assert.Equal(t, "ZM", pay.ErrCode)

	// Bad input is refused by the CLI with a message and a non-zero exit.
	cmd := exec.Command(bin, "pay", "--data", data, "--from", "alice@alpha", "--to", "bob@beta", "--amount", "1.234", "--pin", "1234")
	msg, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(msg), "two decimal places")
}

func waitHealthy(t *testing.T, data, addr string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, appCreds(t, data))
	require.NoError(t, err)
	defer conn.Close()
	a := upiv1.NewAdminServiceClient(conn)
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h, err := a.Health(ctx, &upiv1.HealthRequest{})
		return err == nil && h.GetOk()
	}, 30*time.Second, 50*time.Millisecond, fmt.Sprintf("node at %s healthy", addr))
}

// bankTotal sums every account of every bank of the network, asked with
// the CA and admin token of data.
func bankTotal(t *testing.T, netw *config.Network, data string) int64 {
	t.Helper()
	var sum int64
	for _, b := range netw.NodesByRole(config.RoleBank) {
		conn, err := grpc.NewClient(b.GRPCAddr, appCreds(t, data), withAdminToken(t, data))
		require.NoError(t, err)
		r, err := upiv1.NewAdminServiceClient(conn).ListAccounts(context.Background(), &upiv1.ListAccountsRequest{})
		conn.Close()
		require.NoError(t, err)
		sum += r.GetTotalPaise()
	}
	return sum
}
