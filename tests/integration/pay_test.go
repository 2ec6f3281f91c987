package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/config"
)

var rrnRE = regexp.MustCompile(`^[0-9]{12}$`)

func TestPayP2P(t *testing.T) {
	n := up(t, nil)
	r := n.pay("alice@alpha", "bob@beta", "150.00", "1234")
	assert.Equal(t, "SUCCESS", r.Status)
	assert.Regexp(t, rrnRE, r.RRN)
	assert.Empty(t, r.ErrCode)
	assert.Len(t, r.TxnID, 35)
	assert.True(t, strings.HasPrefix(r.TxnID, "ALP"), "txn id carries the payer PSP's prefix: %s", r.TxnID)

	assert.Equal(t, int64(985000), n.balance("alice@alpha"))
	assert.Equal(t, int64(515000), n.balance("bob@beta"))

	waitQuiet(t, n)
	assert.Equal(t, []string{
		"alphapsp→npci ReqPay",
		"npci→betapsp ReqAuthDetails",
		"betapsp→npci RespAuthDetails",
		"npci→abank ReqPay",
		"abank→npci RespPay",
		"npci→bbank ReqPay",
		"bbank→npci RespPay",
	}, received(n.trace(r.TxnID))[:7], "the pay flow's messages in order")
	got := received(n.trace(r.TxnID))
	for _, want := range []string{"npci→alphapsp RespPay", "npci→betapsp ReqTxnConfirmation", "betapsp→npci RespTxnConfirmation", "alphapsp→tpap Notify"} {
		assert.Contains(t, got, want)
	}

	// Every party agrees on the outcome.
	for _, node := range []string{"alphapsp", "npci", "betapsp"} {
		v := n.nodeTxn(node, r.TxnID)
		assert.Equal(t, upiv1.Resp_SUCCESS, v.GetTransaction().GetStatus(), "status at %s", node)
		assert.Equal(t, r.RRN, v.GetTransaction().GetRrn(), "rrn at %s", node)
	}
}

func TestPayP2M(t *testing.T) {
	n := up(t, nil)
	r := n.pay("alice@alpha", "chai@beta", "42.50", "1234")
	assert.Equal(t, "SUCCESS", r.Status)
	assert.Equal(t, int64(1000000-4250), n.balance("alice@alpha"))
	assert.Equal(t, int64(4250), n.balance("chai@beta"))
}

func TestPayDeclines(t *testing.T) {
	n := up(t, func(c *config.Network) { c.Limits.PerTxn = 500000 }) // ₹5,000
	cases := []struct {
		name             string
		from, to, amount string
		pin              string
		code             string
	}{
		{"unknown payee VPA", "alice@alpha", "nobody@beta", "10.00", "1234", "U29"},
		{"unknown handle", "alice@alpha", "bob@zeta", "10.00", "1234", "U29"},
		{"wrong PIN", "alice@alpha", "bob@beta", "10.00", "9999", "ZM"},
		{"insufficient funds", "carol@beta", "bob@beta", "1500.00", "1234", "Z9"},
		{"per-transaction limit", "alice@alpha", "bob@beta", "6000.00", "1234", "Z8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := map[string]int64{"alice@alpha": n.balance("alice@alpha"), "bob@beta": n.balance("bob@beta"), "carol@beta": n.balance("carol@beta")}
			r := n.pay(tc.from, tc.to, tc.amount, tc.pin)
			assert.Equal(t, "FAILURE", r.Status)
			assert.Equal(t, tc.code, r.ErrCode)
			for vpa, b := range before {
				assert.Equal(t, b, n.balance(vpa), "%s unchanged after a decline", vpa)
			}
		})
	}
}

func TestPayBadInput(t *testing.T) {
	n := up(t, nil)
	cases := []struct {
		name string
		o    cli.PayOptions
		want string
	}{
		{"bad VPA", cli.PayOptions{From: "alice", To: "bob@beta", Amount: "1", PIN: "1234"}, "invalid VPA"},
		{"zero amount", cli.PayOptions{From: "alice@alpha", To: "bob@beta", Amount: "0", PIN: "1234"}, "greater than zero"},
		{"negative amount", cli.PayOptions{From: "alice@alpha", To: "bob@beta", Amount: "-5", PIN: "1234"}, "negative"},
		{"three decimals", cli.PayOptions{From: "alice@alpha", To: "bob@beta", Amount: "1.234", PIN: "1234"}, "two decimal"},
		{"missing PIN", cli.PayOptions{From: "alice@alpha", To: "bob@beta", Amount: "1.00"}, "missing PIN"},
		{"payer not at PSP", cli.PayOptions{From: "ghost@alpha", To: "bob@beta", Amount: "1.00", PIN: "1234"}, "not a user of this network"}, // the app cannot tell whose key to seal to
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.DataDir = n.dir
			_, err := cli.Pay(context.Background(), io.Discard, tc.o)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestPayREST(t *testing.T) {
	n := up(t, nil)
	tp, ok := n.c.Dir.Node("tpap")
	require.True(t, ok)
	base := "http://" + tp.HTTPAddr

	body := `{"payer_vpa":"alice@alpha","payee_vpa":"bob@beta","amount_paise":15000,"note":"lunch","pin":"1234"}`
	resp, err := http.Post(base+"/v1/payments", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	var created map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&created))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", created)
	assert.Equal(t, "PENDING", created["status"])
	txnID, _ := created["txn_id"].(string)
	require.Len(t, txnID, 35)

	resp, err = http.Get(base + "/v1/payments/" + txnID + "?wait_ms=10000")
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "SUCCESS", got["status"])
	assert.Regexp(t, rrnRE, got["rrn"])
	assert.Equal(t, int64(985000), n.balance("alice@alpha"))

	// Bad input is an HTTP 400 with a message.
	for _, bad := range []string{
		`{"payer_vpa":"alice@alpha","payee_vpa":"bob@beta","amount_paise":0,"pin":"1234"}`,
		`{"payer_vpa":"alice@alpha","payee_vpa":"bob@beta","amount_paise":-100,"pin":"1234"}`,
		`{"payer_vpa":"alice","payee_vpa":"bob@beta","amount_paise":100,"pin":"1234"}`,
		`{"payer_vpa":"alice@alpha","payee_vpa":"bob@beta","amount_paise":100}`,
	} {
		resp, err := http.Post(base+"/v1/payments", "application/json", strings.NewReader(bad))
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s → %s", bad, b)
		assert.Contains(t, string(b), `"message"`)
	}
	resp, err = http.Get(base + "/v1/payments/ALP00000000000000000000000000000000")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	// Every node serves its own OpenAPI document: only what it serves.
	for _, nd := range n.c.Dir.Nodes {
		resp, err := http.Get("http://" + nd.HTTPAddr + "/openapi.json")
		require.NoError(t, err)
		var doc struct {
			Info  map[string]any            `json:"info"`
			Paths map[string]map[string]any `json:"paths"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
		resp.Body.Close()
		assert.Equal(t, "upisim "+nd.Role+" node "+nd.Name, doc.Info["title"])
		assert.Equal(t, "1.0.0", doc.Info["version"])
		assert.Contains(t, doc.Paths, "/v1/admin/health", "node %s", nd.Name)
		switch nd.Role {
		case config.RoleTPAP:
			assert.Contains(t, doc.Paths, "/v1/payments", nd.Name)
			assert.NotContains(t, doc.Paths, "/orders", nd.Name)
		case config.RolePSP:
			assert.Contains(t, doc.Paths, "/orders", nd.Name)
			assert.NotContains(t, doc.Paths, "/v1/payments", nd.Name)
		default:
			assert.NotContains(t, doc.Paths, "/v1/payments", "a %s serves no payments: %s", nd.Role, nd.Name)
			assert.NotContains(t, doc.Paths, "/orders", nd.Name)
		}
	}
}

func TestTraceCLI(t *testing.T) {
	n := up(t, nil)
	r := n.pay("alice@alpha", "bob@beta", "150.00", "1234")
	waitQuiet(t, n)
	var text bytes.Buffer
	_, err := cli.Trace(context.Background(), &text, cli.TraceOptions{DataDir: n.dir, TxnID: r.TxnID})
	require.NoError(t, err)
	out := text.String()
	for _, want := range []string{"alphapsp", "npci", "ReqAuthDetails", "RespPay", "ReqTxnConfirmation", "▶", "◀"} {
		assert.Contains(t, out, want)
	}
	var js bytes.Buffer
	_, err = cli.Trace(context.Background(), &js, cli.TraceOptions{DataDir: n.dir, TxnID: r.TxnID, Output: cli.JSON})
	require.NoError(t, err)
	var doc struct {
		Messages []map[string]any `json:"messages"`
	}
	require.NoError(t, json.Unmarshal(js.Bytes(), &doc))
	require.NotEmpty(t, doc.Messages)
	for _, m := range doc.Messages {
		for _, k := range []string{"node", "api", "direction", "msg_id", "ts"} {
			assert.NotEmpty(t, m[k], "trace message field %s", k)
		}
	}
}

func TestRestartKeepsState(t *testing.T) {
	n := up(t, nil)
	r := n.pay("alice@alpha", "bob@beta", "100.00", "1234")
	require.Equal(t, "SUCCESS", r.Status)
	waitQuiet(t, n)
	n.restart()
	assert.Equal(t, int64(990000), n.balance("alice@alpha"), "balances survive a restart and are not seeded again")
	g, err := cli.Txn(context.Background(), io.Discard, cli.TxnOptions{DataDir: n.dir, TxnID: r.TxnID})
	require.NoError(t, err)
	assert.Equal(t, "SUCCESS", g.Status)
	assert.Equal(t, r.RRN, g.RRN)
	r2 := n.pay("bob@beta", "alice@alpha", "100.00", "1234")
	assert.Equal(t, "SUCCESS", r2.Status)
	assert.NotEqual(t, r.RRN, r2.RRN, "RRNs stay unique across restarts")
}
