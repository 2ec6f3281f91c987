package integration

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
)

// mountTmpfs mounts a tmpfs of size (e.g. "4m") in a temporary folder and
// unmounts it at the end of the test. It skips the test where mounting is
// not allowed (not root, or no CAP_SYS_ADMIN in a container).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	require.NoError(t, os.Mkdir(dir, 0o755))
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("this test mounts a %s tmpfs to fill it, and cannot here (needs root with CAP_SYS_ADMIN): mount: %v", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// fill writes a file of zeros into dir until the file system is full, then
// gives back slack bytes of it, and returns its path.
func fill(t *testing.T, dir string, slack int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC)
			fi, err := f.Stat()
			require.NoError(t, err)
			require.NoError(t, f.Truncate(max(fi.Size()-slack, 0)))
			return path
		}
	}
}

// enospcLog is a slog.Handler that counts the records that carry an error
// "no space left on device", by message.
type enospcLog struct {
	mu    *sync.Mutex
	byMsg map[string]int
}

// timers counts the failed timer steps.
func (h enospcLog) timers() (n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for msg, c := range h.byMsg {
		if strings.Contains(msg, "timer") {
			n += c
		}
	}
	return n
}

func (h enospcLog) total() (n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.byMsg {
		n += c
	}
	return n
}

func (h enospcLog) Enabled(context.Context, slog.Level) bool { return true }
func (h enospcLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h enospcLog) WithGroup(string) slog.Handler            { return h }
func (h enospcLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if strings.Contains(a.Value.String(), syscall.ENOSPC.Error()) {
			h.mu.Lock()
			h.byMsg[r.Message]++
			h.mu.Unlock()
			return false
		}
		return true
	})
	return nil
}

// A full disk fails steps at every node: messages, timers, refusals, the
// records of acks. Once there is room again every payment ends, and the
// network audits clean, without a restart.
func TestDiskFullThenFreed(t *testing.T) {
	dir := mountTmpfs(t, "4m")
	cfg := config.Default()
	cfg.Heartbeat = 0
	// Short timeouts, so that the switch's timers come due while the disk
	// is full: deemed@beta's CREDIT answers are dropped, so each of its
	// payments waits for the credit timeout and then a status check.
	shortTimeouts(300 * time.Millisecond)(cfg)
	enospc := enospcLog{mu: new(sync.Mutex), byMsg: map[string]int{}}
	nw, err := cluster.Up(cluster.UpOptions{Network: cfg, DataDir: dir, Logger: slog.New(enospc)})
	require.NoError(t, err)
	n := &net{t: t, dir: dir, cfg: cfg, nw: nw}
	n.c, err = cli.Connect(dir)
	require.NoError(t, err)
	t.Cleanup(func() {
		if n.nw != nil {
			n.stop()
		}
	})
	n.base = n.total()
	tp, err := n.c.TPAP()
	require.NoError(t, err)

	// Drive payments until the disk is full and stays so for a while,
	// then stop.
	payees := []string{"bob@beta", "deemed@beta", "creditfail@beta", "carol@beta"}
	var (
		mu       sync.Mutex
		accepted []string
		refused  atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := tp.CreatePayment(context.Background(), &upiv1.CreatePaymentRequest{
					PayerVpa: "alice@alpha", PayeeVpa: payees[(w+i)%len(payees)], AmountPaise: 100, Pin: "1234",
				})
				if err != nil {
					refused.Add(1)
					time.Sleep(20 * time.Millisecond) // do not spin on a full node
					continue
				}
				mu.Lock()
				accepted = append(accepted, r.GetTxnId())
				mu.Unlock()
			}
		}()
	}
	// Let payments get going, then fill the disk.
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(accepted) >= 20 }, 30*time.Second, 10*time.Millisecond)
	// A little room is left, so that the disk fills while payments are
	// under way at every node.
	filler := fill(t, dir, 256<<10)
	full := time.Now()
	// Keep it full past several timeouts, until steps have failed, timer
	// steps among them.
	require.Eventually(t, func() bool {
		return time.Since(full) > 2*time.Second && enospc.total() >= 50 && enospc.timers() > 0
	}, 60*time.Second, 20*time.Millisecond, "steps did not fail with ENOSPC")
	close(stop)
	wg.Wait()
	// Health says so: some node's commits are failing, and why.
	notOK := map[string]string{}
	for _, nd := range cfg.Nodes {
		name := nd.Name
		ad, err := n.c.Admin(name)
		require.NoError(t, err)
		h, err := ad.Health(context.Background(), &upiv1.HealthRequest{})
		require.NoError(t, err)
		if !h.GetOk() {
			notOK[name] = h.GetReason()
		}
	}
	t.Logf("health while the disk is full: %v", notOK)
	require.NotEmpty(t, notOK, "no node's health saw the full disk")
	for name, reason := range notOK {
		assert.Contains(t, reason, "no space left on device", name)
	}
	require.NoError(t, os.Remove(filler))
	enospc.mu.Lock()
	t.Logf("%d payments accepted, %d refused by the TPAP; steps that failed with ENOSPC while the disk was full, by log message: %v", len(accepted), refused.Load(), enospc.byMsg)
	enospc.mu.Unlock()

	// Every payment the TPAP accepted ends.
	var stuck []string
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range accepted {
		for {
			r, err := tp.GetPayment(context.Background(), &upiv1.GetPaymentRequest{TxnId: id, WaitMs: 1000})
			require.NoError(t, err)
			if s := r.GetStatus(); s == upiv1.Resp_SUCCESS || s == upiv1.Resp_FAILURE {
				break
			}
			if time.Now().After(deadline) {
				stuck = append(stuck, id+" "+r.GetStatus().String())
				break
			}
		}
	}
	assert.Empty(t, stuck, "payments not final after the disk was freed")

	// Payments the TPAP refused (its own record failed to commit after its
	// PSP had started one) go on at the switch too, and one may still be
	// DEEMED, waiting for a status check, when the outboxes are empty: wait
	// until the switch has decided everything, then audit.
	waitQuiet(t, n)
	var res cli.AuditResult
	var out strings.Builder
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		out.Reset()
		var err error
		res, err = cli.Audit(context.Background(), &out, cli.AuditOptions{DataDir: dir})
		assert.NoError(ct, err, out.String())
		assert.Zero(ct, res.NonTerminal, "payments PENDING or DEEMED at the switch")
		assert.Zero(ct, res.InFlight, "payments whose PSPs do not know the outcome")
	}, 60*time.Second, 100*time.Millisecond, "the switch never decided every payment")
	assert.Empty(t, res.Violations, out.String())
	assert.Equal(t, n.base, res.TotalPaise, "money conserved")
	if t.Failed() {
		return
	}
	// And a fresh payment goes through.
	r, err := cli.Pay(context.Background(), io.Discard, cli.PayOptions{DataDir: dir, From: "alice@alpha", To: "bob@beta", Amount: "1.00", PIN: "1234", Timeout: 20 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, "SUCCESS", r.Status)
	// Every node has committed again since, so health is ok everywhere.
	for _, nd := range cfg.Nodes {
		ad, err := n.c.Admin(nd.Name)
		require.NoError(t, err)
		h, err := ad.Health(context.Background(), &upiv1.HealthRequest{})
		require.NoError(t, err)
		assert.True(t, h.GetOk(), "%s: %s", nd.Name, h.GetReason())
	}
}
