package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/console"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wellFormed fails the test unless s parses as XML.
func wellFormed(t *testing.T, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		require.NoError(t, err, "SVG is not well-formed XML:\n%s", s)
	}
}

// The SVG draws what `upisim trace` draws: a message at its receipt, one
// not received dashed, an HTTP delivery on the external lane, a refusal in
// red, and escapes every text.
func TestWriteSVG(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	res := cli.TraceResult{TxnID: "T<1>", Messages: []cli.TraceMessage{
		{Node: "tpap", API: "ReqPay", Direction: "OUT", Peer: "apsp", MsgID: "m1", TS: t0, Summary: `note "<script>alert(1)</script>" & co`},
		{Node: "apsp", API: "ReqPay", Direction: "IN", Peer: "tpap", MsgID: "m1", TS: t0.Add(time.Millisecond), Summary: `note "<script>alert(1)</script>" & co`},
		{Node: "apsp", API: "ReqAuth", Direction: "OUT", Peer: "npci", MsgID: "m2", TS: t0.Add(2 * time.Millisecond)},
		{Node: "apsp", API: "POST", Direction: "OUT", Peer: "http://127.0.0.1:9/hook", MsgID: "m3", TS: t0.Add(3 * time.Millisecond),
			Acked: t0.Add(4 * time.Millisecond), AckErr: "HTTP 400 Bad Request"},
	}}
	var b strings.Builder
	require.NoError(t, console.WriteSVG(&b, []string{"tpap", "apsp", "npci"}, res))
	svg := b.String()
	wellFormed(t, svg)
	assert.NotContains(t, svg, "<script>", "user input is escaped")
	assert.Contains(t, svg, "&lt;script&gt;alert(1)&lt;/script&gt;")
	assert.Contains(t, svg, "T&lt;1&gt;")
	for _, lane := range []string{">tpap<", ">apsp<", ">npci<", ">⇢ external<"} {
		assert.Contains(t, svg, lane)
	}
	// m1 is drawn once, at its receipt (index 1); m2 dashed, not received;
	// m3 on the external lane, refused.
	assert.NotContains(t, svg, `data-i="0"`)
	assert.Contains(t, svg, `data-i="1"`)
	assert.Equal(t, 3, strings.Count(svg, `class="msg"`))
	assert.Contains(t, svg, "ReqAuth  (not received yet)")
	assert.Contains(t, svg, `stroke-dasharray`)
	assert.Contains(t, svg, "POST http://127.0.0.1:9/hook  REFUSED: HTTP 400 Bad Request")
	assert.Contains(t, svg, "#c0392b")
}

// network runs the default network in this process with the console on
// the TPAP's HTTP port, and returns the console's base URL (the TPAP's
// http://host:port).
func network(t *testing.T, o console.Options) (string, *console.Server) {
	t.Helper()
	o.DataDir = t.TempDir()
	c := console.New(o)
	nw, err := cluster.Up(cluster.UpOptions{DataDir: o.DataDir, NoSync: true, Console: c})
	require.NoError(t, err)
	t.Cleanup(func() {
		c.Close()
		nw.Close()
	})
	for _, n := range nw.Nodes {
		if n.Role == config.RoleTPAP {
			return "http://" + n.HTTPAddr(), c
		}
	}
	t.Fatal("no TPAP")
	return "", nil
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
	return resp.StatusCode
}

func postJSON(t *testing.T, url, body string, v any) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
	return resp.StatusCode
}

type sseEvent struct {
	name, data string
}

// stream opens the event stream and sends its events on the channel,
// closed when the stream ends.
func stream(t *testing.T, ctx context.Context, url string) (<-chan sseEvent, *http.Response) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusOK {
		return nil, resp
	}
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	ch := make(chan sseEvent, 64)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					select {
					case ch <- ev:
					case <-ctx.Done():
						return
					}
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return ch, resp
}

type row struct {
	TxnID   string `json:"txn_id"`
	Type    string `json:"type"`
	Status  string `json:"status"`
	ErrCode string `json:"err_code"`
	Amount  string `json:"amount"`
	Payer   string `json:"payer"`
}

// waitRow reads events until txn id has status want.
func waitRow(t *testing.T, ch <-chan sseEvent, id, want string) row {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			require.True(t, ok, "the stream ended before %s reached %s", id, want)
			if ev.name != "txns" && ev.name != "snapshot" {
				continue
			}
			var rows []row
			require.NoError(t, json.Unmarshal([]byte(ev.data), &rows))
			for _, r := range rows {
				if r.TxnID == id && r.Status == want {
					return r
				}
			}
		case <-deadline:
			t.Fatalf("%s did not reach %s in the stream", id, want)
		}
	}
}

// The console on the TPAP's port: the page, the index at /, the live
// list over server-sent events, pay and collect/approve through the app
// API, the diagram, and clear errors for bad input.
func TestConsoleAPI(t *testing.T) {
	base, c := network(t, console.Options{Poll: 50 * time.Millisecond, MaxSubscribers: 2})

	resp, err := http.Get(base + "/console/")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'")
	assert.Contains(t, string(page), `/console/static/console.js`)
	for _, f := range []string{"console.js", "console.css"} {
		resp, err := http.Get(base + "/console/static/" + f)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, f)
	}

	resp, err = http.Get(base + "/")
	require.NoError(t, err)
	idx, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(idx), `href="/console/"`)
	assert.Contains(t, string(idx), `href="/openapi.json"`)

	var nodes struct {
		Network string `json:"network"`
		Nodes   []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"nodes"`
	}
	require.Equal(t, http.StatusOK, getJSON(t, base+"/console/api/nodes", &nodes))
	assert.Equal(t, "default", nodes.Network)
	require.Len(t, nodes.Nodes, 6)
	for _, n := range nodes.Nodes {
		assert.True(t, n.OK, "%s healthy", n.Name)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, _ := stream(t, ctx, base+"/console/api/events")
	require.NotNil(t, events)
	first := <-events
	assert.Equal(t, "snapshot", first.name)

	// Pay, and see it in the stream reach SUCCESS.
	var created struct {
		TxnID  string `json:"txn_id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	require.Equal(t, http.StatusOK, postJSON(t, base+"/console/api/pay",
		`{"from":"alice@alpha","to":"bob@beta","amount":"150.00","note":"chai","pin":"1234"}`, &created), created.Error)
	r := waitRow(t, events, created.TxnID, "SUCCESS")
	assert.Equal(t, "PAY", r.Type)
	assert.Equal(t, "150.00", r.Amount)

	// A wrong PIN fails with its code.
	require.Equal(t, http.StatusOK, postJSON(t, base+"/console/api/pay",
		`{"from":"alice@alpha","to":"bob@beta","amount":"1.00","pin":"0000"}`, &created), created.Error)
	r = waitRow(t, events, created.TxnID, "FAILURE")
	assert.NotEmpty(t, r.ErrCode)

	// Its diagram.
	resp, err = http.Get(base + "/console/api/txn/" + r.TxnID + "/trace.svg")
	require.NoError(t, err)
	svg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "image/svg+xml", resp.Header.Get("Content-Type"))
	wellFormed(t, string(svg))
	for _, n := range []string{"tpap", "alphapsp", "npci", "abank"} {
		assert.Contains(t, string(svg), ">"+n+"<")
	}
	var trace cli.TraceResult
	require.Equal(t, http.StatusOK, getJSON(t, base+"/console/api/txn/"+r.TxnID+"/trace", &trace))
	assert.NotEmpty(t, trace.Messages)
	var missing struct{ Error string }
	resp, err = http.Get(base + "/console/api/txn/NOSUCH/trace.svg")
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&missing))
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, missing.Error, "NOSUCH")

	// Collect, list it as the payer, approve it.
	require.Equal(t, http.StatusOK, postJSON(t, base+"/console/api/collect",
		`{"payee":"bob@beta","payer":"alice@alpha","amount":"20.00","note":"lunch"}`, &created), created.Error)
	collectID := created.TxnID
	var collects struct {
		Collects []struct {
			TxnID string `json:"txn_id"`
		} `json:"collects"`
	}
	require.Eventually(t, func() bool {
		getJSON(t, base+"/console/api/collects?vpa=alice@alpha", &collects)
		for _, c := range collects.Collects {
			if c.TxnID == collectID {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "the collect waits for alice")
	require.Equal(t, http.StatusOK, postJSON(t, base+"/console/api/approve",
		`{"txn_id":"`+collectID+`","pin":"1234"}`, &created), created.Error)
	r = waitRow(t, events, collectID, "SUCCESS")
	assert.Equal(t, "COLLECT", r.Type)

	var balances []struct {
		Node  string           `json:"node"`
		Items []map[string]any `json:"items"`
	}
	require.Equal(t, http.StatusOK, getJSON(t, base+"/console/api/balances", &balances))
	found := false
	for _, b := range balances {
		for _, a := range b.Items {
			if a["vpa"] == "alice@alpha" {
				found = true
				assert.Equal(t, "983000", a["balance_paise"], "10000.00 - 150.00 paid - 20.00 collected")
			}
		}
	}
	assert.True(t, found, "alice's account is listed: %+v", balances)
	for _, p := range []string{"circle", "lite", "orders", "webhooks", "txns", "txn/" + collectID} {
		var v any
		assert.Equal(t, http.StatusOK, getJSON(t, base+"/console/api/"+p, &v), p)
	}

	// Bad input: clear 4xx errors.
	var e struct{ Error string }
	assert.Equal(t, http.StatusBadRequest, postJSON(t, base+"/console/api/pay", `{"from":"alice@alpha","to":"bob@beta","amount":"lots","pin":"1"}`, &e))
	assert.Contains(t, e.Error, "amount")
	assert.Equal(t, http.StatusBadRequest, postJSON(t, base+"/console/api/pay", `{"frm":"x"}`, &e))
	assert.Contains(t, e.Error, "unknown field")
	assert.Equal(t, http.StatusBadRequest, postJSON(t, base+"/console/api/approve", `{}`, &e))
	assert.Equal(t, http.StatusBadRequest, getJSON(t, base+"/console/api/collects", &e))
	resp, err = http.Post(base+"/console/api/pay", "text/plain", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode, "the node's guard holds for the console")
	req, _ := http.NewRequest(http.MethodPost, base+"/console/api/pay", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://evil.example")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "another origin may not drive the console")

	// Two pages listen at most (MaxSubscribers); a third is refused.
	second, _ := stream(t, ctx, base+"/console/api/events")
	require.NotNil(t, second)
	<-second
	third, resp3 := stream(t, ctx, base+"/console/api/events")
	assert.Nil(t, third)
	assert.Equal(t, http.StatusServiceUnavailable, resp3.StatusCode)
	resp3.Body.Close()

	// Close ends the streams.
	require.NoError(t, c.Close())
	for range events {
	}
	for range second {
	}
}

// The console answers clients of this machine only: it reads with the
// admin token.
func TestConsoleLoopbackOnly(t *testing.T) {
	c := console.New(console.Options{DataDir: t.TempDir()})
	defer c.Close()
	for addr, want := range map[string]int{"10.1.2.3:5555": http.StatusForbidden, "[2001:db8::1]:80": http.StatusForbidden, "127.0.0.1:5555": http.StatusOK, "[::1]:80": http.StatusOK} {
		req := httptest.NewRequest(http.MethodGet, "/console/", nil)
		req.RemoteAddr = addr
		w := httptest.NewRecorder()
		c.ServeHTTP(w, req)
		assert.Equal(t, want, w.Code, addr)
		if want == http.StatusForbidden {
			assert.Contains(t, w.Body.String(), "on this machine only")
		}
	}
	// Without network.json the API says so instead of failing later.
	req := httptest.NewRequest(http.MethodGet, "/console/api/nodes", nil)
	req.RemoteAddr = "127.0.0.1:1"
	w := httptest.NewRecorder()
	c.ServeHTTP(w, req)
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Contains(t, w.Body.String(), "network.json")
}

// A stream outlives the node's HTTP write timeout, which bounds every
// other response: each of its writes sets its own deadline.
func TestConsoleStreamOutlivesWriteTimeout(t *testing.T) {
	data := t.TempDir()
	c := console.New(console.Options{DataDir: data, KeepAlive: 20 * time.Millisecond})
	limits := cluster.DefaultServerLimits()
	limits.HTTPWriteTimeout = 200 * time.Millisecond
	nw, err := cluster.Up(cluster.UpOptions{DataDir: data, NoSync: true, Console: c, Limits: limits})
	require.NoError(t, err)
	defer nw.Close()
	defer c.Close()
	var base string
	for _, n := range nw.Nodes {
		if n.Role == config.RoleTPAP {
			base = "http://" + n.HTTPAddr()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/console/api/events", nil)
	require.NoError(t, err)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	alive, open := 0, false
	for sc.Scan() {
		if sc.Text() == ": keep-alive" {
			alive++
		}
		// Keep-alives keep coming after the write timeout has passed
		// three times over.
		if alive > 0 && time.Since(start) > 3*limits.HTTPWriteTimeout {
			open = true
			break
		}
	}
	require.True(t, open, "the stream ended after %v (%d keep-alives): %v", time.Since(start), alive, sc.Err())
}
