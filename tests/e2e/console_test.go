package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromiumPath is Debian's chromium (`apt-get install chromium`; .ci/run
// installs it).
const chromiumPath = "/usr/bin/chromium"

// needChromium returns the browser's path. It skips the test when chromium
// is not installed, except under CI (CI set), where a missing browser
// fails it: the console's browser step is part of `make test` there.
func needChromium(t *testing.T) string {
	t.Helper()
	path := chromiumPath
	if _, err := os.Stat(path); err != nil {
		p, lerr := exec.LookPath("chromium")
		if lerr != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("chromium is not installed (%s: %v) and CI is set: .ci/run installs Debian's chromium", chromiumPath, err)
			}
			t.Skipf("chromium is not installed (%s): `apt-get install -y chromium` to run the console's browser test", chromiumPath)
		}
		path = p
	}
	return path
}

// artifactsDir is where the console test writes its screenshots: env
// UPISIM_ARTIFACTS, or a folder of the test's.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("UPISIM_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "artifacts")
	}
	dir = filepath.Join(dir, "console")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Logf("console screenshots in %s", dir)
	return dir
}

// startUpConsole runs `upisim up` on OS-chosen ports and returns the web console's
// URL from its banner; the process is stopped (SIGTERM) when the test ends.
func startUpConsole(t *testing.T, bin, data string) string {
	t.Helper()
	cmd := dieWithTest(exec.Command(bin, "up", "--data", data, "--port-base", "0"))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = io.Discard
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	urls := make(chan string, 1)
	var banner strings.Builder
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			banner.WriteString(line + "\n")
			mu.Unlock()
			if u, ok := strings.CutPrefix(line, "web console: "); ok {
				urls <- u
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case u := <-urls:
		return u
	case <-exited:
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("upisim up exited before it printed the console's URL:\n%s", banner.String())
	case <-time.After(60 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("upisim up printed no console URL in 60s:\n%s", banner.String())
	}
	return ""
}

// TestConsoleBrowser drives the web console of a real `upisim up` in a
// real headless chromium: it pays through the page's form, sees the
// payment appear in the live list (server-sent events) and reach SUCCESS,
// opens its sequence diagram, clicks a message and reads its record, and
// saves screenshots of each step.
func TestConsoleBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary, starts a network and a browser")
	}
	browser := needChromium(t)
	arts := artifactsDir(t)
	bin := buildBinary(t)
	data := t.TempDir()
	url := startUpConsole(t, bin, data)
	require.True(t, strings.HasSuffix(url, "/console/"), "console URL %q", url)

	// Every node's / is an HTML index; the TPAP's links the console.
	base := strings.TrimSuffix(url, "/console/")
	resp, err := http.Get(base + "/")
	require.NoError(t, err)
	idx, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	assert.Contains(t, string(idx), `href="/console/"`)
	assert.Contains(t, string(idx), "tpap")

	// The browser's profile: a new empty folder, removed when the test
	// ends. Chromium's helpers may still write in it for a moment after
	// the browser exits, so the removal is tried until it succeeds.
	profile, err := os.MkdirTemp("", "upisim-chromium-")
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.Eventually(t, func() bool { return os.RemoveAll(profile) == nil }, 10*time.Second, 50*time.Millisecond, "remove %s", profile)
	})
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1400, 1000),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	// Start the browser (without a deadline: it lives as long as ctx).
	require.NoError(t, chromedp.Do(ctx), "start chromium")

	// Every console message and exception of the page, for the log and to
	// fail on a script error.
	var logMu sync.Mutex
	var pageLog []string
	var exceptions []string
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			logMu.Lock()
			pageLog = append(pageLog, m.String())
			if m.IsException() {
				exceptions = append(exceptions, m.String())
			}
			logMu.Unlock()
		}
	}()
	defer func() {
		logMu.Lock()
		defer logMu.Unlock()
		if t.Failed() {
			t.Logf("page console:\n%s", strings.Join(pageLog, "\n"))
		}
	}()

	step := func(name string, timeout time.Duration, a ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, scancel := context.WithTimeout(ctx, timeout)
		defer scancel()
		err := chromedp.Do(sctx, a...)
		shot(t, ctx, arts, name)
		require.NoError(t, err, "step %s", name)
	}

	step("01-open", 30*time.Second,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`#nodes .node.ok[data-node="npci"]`)),
		chromedp.Poll[chromedp.Void](`document.getElementById("feed-state").textContent === "live"`, chromedp.WithPollingTimeout(20*time.Second)),
	)

	// Pay through the form, as a newcomer would.
	step("02-pay-form", 20*time.Second,
		chromedp.SendKeys(chromedp.ID("pay-from"), "alice@alpha"),
		chromedp.SendKeys(chromedp.ID("pay-to"), "bob@beta"),
		chromedp.SendKeys(chromedp.ID("pay-amount"), "150.00"),
		chromedp.SendKeys(chromedp.ID("pay-note"), "<b>chai</b> & samosa"),
		chromedp.SendKeys(chromedp.ID("pay-pin"), "1234"),
		chromedp.Click(chromedp.ID("pay-submit")),
		chromedp.Poll[chromedp.Void](`document.getElementById("pay-result").dataset.txn`, chromedp.WithPollingTimeout(15*time.Second)),
	)
	id := run1(t, ctx, chromedp.Evaluate[string](`document.getElementById("pay-result").dataset.txn`))
	require.Regexp(t, `^[A-Z]{3}[0-9a-f]+$`, id)
	pin := run1(t, ctx, chromedp.Evaluate[string](`document.getElementById("pay-pin").value`))
	assert.Empty(t, pin, "the page does not keep the PIN once sent")

	// The row arrives over the event stream and reaches SUCCESS.
	row := `#txn-rows tr[data-txn="` + id + `"]`
	step("03-txn-success", 30*time.Second,
		chromedp.WaitVisible(chromedp.CSS(row+`[data-status="SUCCESS"]`)),
	)
	rowText := run1(t, ctx, chromedp.TextContent(chromedp.CSS(row)))
	assert.Contains(t, rowText, "alice@alpha")
	assert.Contains(t, rowText, "bob@beta")
	assert.Contains(t, rowText, "150.00")

	// Its sequence diagram: an SVG with every node's lifeline.
	step("04-diagram", 30*time.Second,
		chromedp.Click(chromedp.CSS(row)),
		chromedp.WaitVisible(chromedp.CSS(`#diagram svg g.msg`)),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#diagram svg g.msg").length >= 8`, chromedp.WithPollingTimeout(20*time.Second)),
	)
	lanes := run1(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#diagram svg text.node")].map(e => e.textContent)`))
	assert.Subset(t, lanes, []string{"tpap", "alphapsp", "betapsp", "npci", "abank", "bbank"})
	labels := run1(t, ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#diagram svg text.label")].map(e => e.textContent).join("\n")`))
	for _, api := range []string{"ReqPay", "RespPay"} {
		assert.Contains(t, labels, api, "the diagram draws the payment's messages")
	}

	// A message's record on click.
	step("05-message-body", 20*time.Second,
		chromedp.Click(chromedp.CSS(`#diagram svg g.msg text.label`)),
		chromedp.Poll[chromedp.Void](`document.getElementById("msg-body").textContent.includes("msg_id")`, chromedp.WithPollingTimeout(10*time.Second)),
	)
	body := run1(t, ctx, chromedp.TextContent(chromedp.ID("msg-body")))
	assert.Contains(t, body, `"api": "ReqPay"`, "the first message drawn is the TPAP's ReqPay")
	// No PIN in a message record: the ids and times in it are digits, so
	// look for the PIN as a value, and for the block the summary names.
	assert.NotContains(t, body, `"1234"`, "no PIN in a message record")
	assert.NotRegexp(t, `(?i)"pin"\s*:`, body, "no PIN field in a message record")
	assert.Contains(t, body, "creds redacted", "the PIN block is named, never shown")

	// The note, user input, is shown as text, never as markup.
	bolds := run1(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("b").length`))
	assert.Zero(t, bolds, "the page parsed no markup out of user input")

	// Balances follow the payment: Alice's account shows at her bank.
	step("06-balances", 20*time.Second,
		chromedp.Poll[chromedp.Void](`document.getElementById("balances-body").textContent.includes("alice@alpha")`, chromedp.WithPollingTimeout(10*time.Second)),
	)

	// Collect and approve through the page: bob asks alice, alice approves
	// with her PIN.
	step("07-collect", 20*time.Second,
		chromedp.SendKeys(chromedp.ID("collect-payee"), "bob@beta"),
		chromedp.SendKeys(chromedp.ID("collect-payer"), "alice@alpha"),
		chromedp.SendKeys(chromedp.ID("collect-amount"), "20.00"),
		chromedp.SendKeys(chromedp.ID("collect-note"), "lunch"),
		chromedp.Click(chromedp.ID("collect-submit")),
		chromedp.Poll[chromedp.Void](`document.getElementById("collect-result").dataset.txn`, chromedp.WithPollingTimeout(15*time.Second)),
	)
	collectID := run1(t, ctx, chromedp.Evaluate[string](`document.getElementById("collect-result").dataset.txn`))
	card := `#collects [data-collect="` + collectID + `"]`
	step("08-approve", 30*time.Second,
		chromedp.Click(chromedp.ID("approve-list")), // the payer's field was filled from the collect form
		chromedp.WaitVisible(chromedp.CSS(card)),
		chromedp.SendKeys(chromedp.CSS(card+` input[type="password"]`), "1234"),
		chromedp.Click(chromedp.CSS(card+` button`)),
		chromedp.WaitVisible(chromedp.CSS(`#txn-rows tr[data-txn="`+collectID+`"][data-status="SUCCESS"]`)),
	)
	approved := run1(t, ctx, chromedp.TextContent(chromedp.ID("approve-result")))
	assert.Contains(t, approved, collectID)
	shot(t, ctx, arts, "09-full-page")

	logMu.Lock()
	defer logMu.Unlock()
	assert.Empty(t, exceptions, "the page threw no exception")
}

// run1 runs one action that returns a value, with a deadline.
func run1[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(rctx, a)
	require.NoError(t, err)
	return v
}

// shot saves a full-page screenshot as DIR/NAME.png (best effort: a step
// that failed is still photographed if the browser answers).
func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	buf, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}
