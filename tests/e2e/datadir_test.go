package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/config"
)

// runFail runs the binary, which must exit non-zero within limit, and
// returns its combined output.
func runFail(t *testing.T, bin string, limit time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "upisim %v did not exit within %s: %s", args, limit, out.String())
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "upisim %v should fail: %s", args, out.String())
	return out.String()
}

// TestDataFolderFaults runs `upisim up` as a process, then a second one on
// the same folder (which must say the folder is in use, quickly, and leave
// the first alone), then stops the first, corrupts a file, and checks that
// `upisim up` names the file instead of panicking and that `upisim check`
// finds it.
func TestDataFolderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and starts processes")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	first := dieWithTest(exec.Command(bin, "up", "--data", data, "--port-base", "0"))
	var out bytes.Buffer
	first.Stdout, first.Stderr = &out, &out
	require.NoError(t, first.Start())
	exited := make(chan error, 1)
	go func() { exited <- first.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		first.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			first.Process.Kill()
			<-exited
		}
	}
	t.Cleanup(stop)
	dirFile := filepath.Join(data, config.DirectoryFile)
	require.Eventually(t, func() bool {
		_, err := os.Stat(dirFile)
		return err == nil
	}, 30*time.Second, 20*time.Millisecond, "network.json written: %s", &out)
	before, err := os.ReadFile(dirFile)
	require.NoError(t, err)

	start := time.Now()
	msg := runFail(t, bin, 10*time.Second, "up", "--data", data, "--port-base", "0")
	t.Logf("second up after %s: %s", time.Since(start).Round(time.Millisecond), msg)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Contains(t, msg, "data folder "+data+" is in use by another process")
	assert.NotContains(t, msg, "timeout")
	now, err := os.ReadFile(dirFile)
	require.NoError(t, err, "the first network's network.json is still there")
	assert.Equal(t, before, now)
	assert.Contains(t, run(t, bin, "balance", "--data", data, "alice@alpha"), "₹10,000.00", "the first network still answers")

	stop()
	assert.Contains(t, run(t, bin, "check", "--data", data), "abank.db: ok")

	f, err := os.OpenFile(filepath.Join(data, "abank.db"), os.O_RDWR, 0)
	require.NoError(t, err)
	fi, err := f.Stat()
	require.NoError(t, err)
	page := int64(os.Getpagesize())
	_, err = f.WriteAt(bytes.Repeat([]byte{0xa5, 0x17, 0xe3, 0x5c}, int(min(fi.Size()-2*page, 6*page))/4), 2*page)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	msg = runFail(t, bin, 30*time.Second, "up", "--data", data, "--port-base", "0")
	t.Logf("up on a corrupt file: %s", msg)
	assert.Contains(t, msg, filepath.Join(data, "abank.db")+": corrupt")
	assert.NotContains(t, msg, "goroutine ", "no stack trace")
	msg = runFail(t, bin, 30*time.Second, "check", "--data", data)
	t.Logf("check: %s", msg)
	assert.Contains(t, msg, "abank.db: 1 problem(s)")
	assert.Contains(t, msg, "bbank.db: ok")
	assert.Contains(t, msg, "1 of 6 files in "+data+" have problems")
}
