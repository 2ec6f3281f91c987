//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/pki"
)

// netnsHosts are network namespaces the test made, one a "host": each has
// its own loopback and one address on a bridge in the test's namespace.
type netnsHosts struct {
	names []string // namespace of node i
	addrs []string // its address on the bridge
}

// ipCmd runs ip with args and returns its combined output.
func ipCmd(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	return string(out), err
}

// makeHosts makes n namespaces joined by a bridge, in 10.231.X.0/24 (a
// range for this test only; X from the pid, as are every name, so that
// parallel runs do not clash), the bridge 10.231.X.254 so that the test
// reaches each. Everything is removed in Cleanup, also on failure. It
// skips the test where namespaces cannot be made (not root, no ip, a
// container without the rights).
func makeHosts(t *testing.T, n int) netnsHosts {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("netns: needs root to make network namespaces (run the e2e tests as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("netns: no ip command (Debian: apt-get install iproute2)")
	}
	pid := os.Getpid()
	probe := fmt.Sprintf("upisim-%d-probe", pid)
	if out, err := ipCmd("netns", "add", probe); err != nil {
		t.Skipf("netns: cannot make a network namespace here (%v): %s", err, out)
	}
	_, _ = ipCmd("netns", "del", probe)

	subnet := fmt.Sprintf("10.231.%d", pid%250)
	bridge := fmt.Sprintf("upb%d", pid)
	var h netnsHosts
	var links []string
	t.Cleanup(func() {
		for _, ns := range h.names {
			if out, err := ipCmd("netns", "del", ns); err != nil {
				t.Logf("ip netns del %s: %v: %s", ns, err, out)
			}
		}
		for _, l := range append(links, bridge) {
			_, _ = ipCmd("link", "del", l) // gone with its namespace's peer already, mostly
		}
	})
	must := func(args ...string) {
		t.Helper()
		out, err := ipCmd(args...)
		require.NoError(t, err, "ip %s: %s", strings.Join(args, " "), out)
	}
	must("link", "add", bridge, "type", "bridge")
	must("addr", "add", subnet+".254/24", "dev", bridge)
	must("link", "set", bridge, "up")
	for i := range n {
		ns := fmt.Sprintf("upisim-%d-%d", pid, i)
		hostEnd, nsEnd := fmt.Sprintf("upv%dh%d", pid, i), fmt.Sprintf("upv%dn%d", pid, i)
		must("netns", "add", ns)
		h.names = append(h.names, ns)
		must("link", "add", hostEnd, "type", "veth", "peer", "name", nsEnd)
		links = append(links, hostEnd)
		must("link", "set", nsEnd, "netns", ns)
		must("link", "set", hostEnd, "master", bridge)
		must("link", "set", hostEnd, "up")
		addr := fmt.Sprintf("%s.%d", subnet, i+1)
		must("-n", ns, "addr", "add", addr+"/24", "dev", nsEnd)
		must("-n", ns, "link", "set", nsEnd, "up")
		must("-n", ns, "link", "set", "lo", "up")
		h.addrs = append(h.addrs, addr)
	}
	return h
}

// TestNetnsSixHosts runs the six nodes of the default network as six
// processes, each in a network namespace of its own with its own address
// on a bridge (its gRPC port there, its REST port on its own loopback),
// with mutual TLS whose certificates name those addresses, and pays
// through them: nothing assumes the nodes share a host.
func TestNetnsSixHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and starts processes")
	}
	netw := config.Default()
	netw.Heartbeat = 0
	hosts := makeHosts(t, len(netw.Nodes))
	bin := buildBinary(t)

	byName := map[string]int{}
	for i := range netw.Nodes {
		nd := &netw.Nodes[i]
		byName[nd.Name] = i
		nd.GRPCAddr = hosts.addrs[i] + ":7000"
		// Loopback of its own namespace: the REST gateway stays on its
		// host. The ports differ only because a network file's addresses
		// must.
		nd.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", 8080+i)
	}
	_, file, dirs := writeNetwork(t, netw)
	// The certificates name every node's address, as `upisim pki init
	// --host` does for nodes on many hosts; each host gets ca.pem and its
	// own node's certificate and key only.
	src := t.TempDir()
	args := []string{"pki", "init", "--data", src, "--network", file}
	for _, a := range hosts.addrs {
		args = append(args, "--host", a)
	}
	run(t, bin, args...)
	for name, dir := range dirs {
		require.NoError(t, os.MkdirAll(pki.DirOf(dir), 0o700))
		for _, f := range []string{pki.CAFile, pki.CertFile(name), pki.KeyFile(name)} {
			b, err := os.ReadFile(filepath.Join(pki.DirOf(src), f))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(pki.DirOf(dir), f), b, 0o600))
		}
	}
	shareAdminToken(t, slices.Collect(maps.Values(dirs))...)

	procs := map[string]*server{}
	for _, nd := range netw.Nodes {
		ns := hosts.names[byName[nd.Name]]
		s := newServer(t, nd.Name, "ip", "netns", "exec", ns, bin, "node", "--network", file, "--name", nd.Name,
			"--data", dirs[nd.Name], "--log-level", "warn")
		s.start()
		procs[nd.Name] = s
	}
	for _, nd := range netw.Nodes {
		procs[nd.Name].waitHealthy(nd.GRPCAddr)
	}
	t.Cleanup(func() {
		for _, s := range procs {
			s.stop()
		}
	})

	// Each node is on its own host: inside its namespace, `upisim probe`
	// (the Kubernetes probe) finds it SERVING at its address, and the
	// other nodes' REST ports are not on its loopback.
	for _, nd := range netw.Nodes {
		ns := hosts.names[byName[nd.Name]]
		out, err := exec.Command("ip", "netns", "exec", ns, bin, "probe", "--data", dirs[nd.Name], "--addr", nd.GRPCAddr).CombinedOutput()
		require.NoError(t, err, "probe %s in %s: %s", nd.Name, ns, out)
		assert.Contains(t, string(out), "SERVING")
	}
	other := netw.Nodes[1]
	out, err := exec.Command("ip", "netns", "exec", hosts.names[0], bin, "probe", "--data", dirs["tpap"], "--addr", strings.Replace(other.GRPCAddr, hosts.addrs[1], "127.0.0.1", 1), "--timeout", "1s").CombinedOutput()
	require.Error(t, err, "%s is not on the TPAP's host: %s", other.Name, out)

	data := dirs["tpap"]
	opening := bankTotal(t, netw, data)

	// The user's CLI runs on the TPAP's host and pays: the payment crosses
	// all six hosts.
	pay := func(args ...string) cliRun {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", hosts.names[byName["tpap"]], bin}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if err != nil {
			ee, ok := err.(*exec.ExitError)
			require.True(t, ok, "run %v: %v", args, err)
			code = ee.ExitCode()
		}
		return cliRun{stdout: stdout.String(), stderr: stderr.String(), code: code}
	}
	r := pay("pay", "--data", data, "--from", "alice@alpha", "--to", "bob@beta", "--amount", "150.00", "--pin", "1234", "-o", "json")
	require.Equal(t, 0, r.code, "pay: %s", r.stderr)
	var res struct {
		TxnID  string `json:"txn_id"`
		Status string `json:"status"`
		RRN    string `json:"rrn"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res), r.stdout)
	assert.Equal(t, "SUCCESS", res.Status)
	assert.Len(t, res.RRN, 12)

	for vpa, want := range map[string]int64{"alice@alpha": 985000, "bob@beta": 515000} {
		r := pay("balance", "--data", data, vpa, "-o", "json")
		require.Equal(t, 0, r.code, "balance: %s", r.stderr)
		var bal struct {
			BalancePaise int64 `json:"balance_paise"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &bal), r.stdout)
		assert.Equal(t, want, bal.BalancePaise, vpa)
	}
	assert.Equal(t, opening, bankTotal(t, netw, data), "money is conserved across the banks")
}
