package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/config"
)

// TestUpProcess runs `upisim up` as a process (what `make run` does, on
// OS-chosen ports), pays through REST, and stops it with SIGTERM.
func TestUpProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and starts processes")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	cmd := dieWithTest(exec.Command(bin, "up", "--data", data, "--port-base", "0"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(data, config.DirectoryFile))
		return err == nil
	}, 30*time.Second, 20*time.Millisecond, "network.json written")
	dir, err := config.ReadDirectory(data)
	require.NoError(t, err)
	require.Len(t, dir.Nodes, 6)
	for _, nd := range dir.Nodes {
		assert.FileExists(t, filepath.Join(data, nd.Name+".db"), "each node has its own bbolt file")
	}
	tp, _ := dir.Node("tpap")
	netw := config.Default()
	for i := range netw.Nodes {
		nd, _ := dir.Node(netw.Nodes[i].Name)
		netw.Nodes[i].GRPCAddr = nd.GRPCAddr
	}
	opening := bankTotal(t, netw, data)

	resp, err := http.Post("http://"+tp.HTTPAddr+"/v1/payments", "application/json",
		strings.NewReader(`{"payer_vpa":"alice@alpha","payee_vpa":"bob@beta","amount_paise":15000,"pin":"1234"}`))
	require.NoError(t, err)
	var created struct {
		TxnID  string `json:"txn_id"`
		Status string `json:"status"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&created))
	resp.Body.Close()
	require.Equal(t, "PENDING", created.Status)
	txt := run(t, bin, "txn", "--data", data, created.TxnID, "--wait", "10s")
	assert.Contains(t, txt, "SUCCESS")
	assert.Equal(t, opening, bankTotal(t, netw, data), "money is conserved across all banks")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-exited:
		assert.NoError(t, exitErr, "up exits cleanly on SIGTERM: %s", out.String())
	case <-time.After(10 * time.Second):
		t.Fatal("upisim up did not stop on SIGTERM")
	}
	assert.NoFileExists(t, filepath.Join(data, config.DirectoryFile), "network.json removed on shutdown")
	assert.Contains(t, out.String(), "rules that misbehave on purpose: creditfail, deemed, lost, slowdebit, twice", "the banner names the magic payees' rules")
}
