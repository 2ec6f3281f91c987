package integration

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/psp"
)

// heard is what the PSPs' hooks heard, by PSP.
type heard struct {
	mu       sync.Mutex
	outcomes map[string][]psp.Outcome
	statuses map[string][]psp.StatusAnswer
}

func (h *heard) outcome(name, txnID string) (psp.Outcome, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range h.outcomes[name] {
		if o.TxnID == txnID {
			return o, true
		}
	}
	return psp.Outcome{}, false
}

func (h *heard) status(name, checkID string) (psp.StatusAnswer, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.statuses[name] {
		if s.CheckTxnID == checkID {
			return s, true
		}
	}
	return psp.StatusAnswer{}, false
}

// upHooked is up (the default network) with every PSP's OnOutcome and
// OnStatus recorded in h (cluster.UpOptions.PSPConfig).
func upHooked(t *testing.T) (*net, *heard) {
	t.Helper()
	h := &heard{outcomes: map[string][]psp.Outcome{}, statuses: map[string][]psp.StatusAnswer{}}
	cfg := config.Default()
	cfg.Heartbeat = 0
	cfg.PIN.HashTime, cfg.PIN.HashMemoryKiB = 1, 64
	n := &net{t: t, dir: t.TempDir(), cfg: cfg}
	nw, err := cluster.Up(cluster.UpOptions{Network: cfg, DataDir: n.dir, PSPConfig: func(name string, c *psp.Config) {
		c.OnOutcome = func(_ *node.Ctx, o psp.Outcome) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.outcomes[name] = append(h.outcomes[name], o)
			return nil
		}
		c.OnStatus = func(_ *node.Ctx, s psp.StatusAnswer) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.statuses[name] = append(h.statuses[name], s)
			return nil
		}
	}})
	require.NoError(t, err)
	n.nw = nw
	n.c, err = cli.Connect(n.dir)
	require.NoError(t, err)
	n.base = n.total()
	t.Cleanup(func() {
		waitQuiet(t, n)
		assert.Equal(t, n.base, n.total(), "money must be conserved across all banks")
		n.stop()
	})
	return n, h
}

// pspOf is the running PSP called name.
func (n *net) pspOf(name string) (*psp.PSP, *node.Node) {
	n.t.Helper()
	for _, nd := range n.nw.Nodes {
		if nd.Name == name {
			p := cluster.PSPOf(nd.Impl)
			require.NotNil(n.t, p, "%s is not a PSP", name)
			return p, nd.Node
		}
	}
	n.t.Fatalf("no node %s", name)
	return nil, nil
}

// A payment made through the TPAP's REST API with a ref_id (an intent's
// order id) reaches the payee's PSP with it: its OnOutcome hears the
// order. Then the payee's PSP checks the payment by its RRN through the
// switch, and `upisim pay --intent` pays another order the same way.
func TestPayWithRefIDAndCheckStatus(t *testing.T) {
	n, h := upHooked(t)
	tp, ok := n.c.Dir.Node("tpap")
	require.True(t, ok)
	base := "http://" + tp.HTTPAddr
	chai := n.balance("chai@beta")

	body := `{"payer_vpa":"alice@alpha","payee_vpa":"chai@beta","amount_paise":15000,"note":"chai","pin":"1234","ref_id":"ORDER_42"}`
	code, _, created := rest(t, http.MethodPost, base+"/v1/payments", body, jsonType)
	require.Equal(t, http.StatusOK, code, "%v", created)
	id, _ := created["txn_id"].(string)
	require.Len(t, id, 35)
	code, _, got := rest(t, http.MethodGet, base+"/v1/payments/"+id+"?wait_ms=10000", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "SUCCESS", got["status"])
	rrn, _ := got["rrn"].(string)
	require.Len(t, rrn, 12)
	assert.Equal(t, chai+15_000, n.balance("chai@beta"))

	var o psp.Outcome
	eventually(t, func() bool { o, ok = h.outcome("betapsp", id); return ok }, "the payee's PSP hears the outcome")
	assert.Equal(t, "ORDER_42", o.RefID)
	assert.Equal(t, upiv1.Resp_SUCCESS, o.Result)
	assert.Equal(t, int64(15_000), o.AmountPaise)
	assert.Equal(t, rrn, o.RRN)
	assert.Equal(t, psp.OutcomeSide{VPA: "chai@beta", Name: "Chai Point", Here: true}, o.Payee)
	eventually(t, func() bool { o, ok = h.outcome("alphapsp", id); return ok }, "the payer's PSP hears it too")
	assert.Equal(t, "ORDER_42", o.RefID)

	// The payee's PSP checks the payment by its RRN, from inside a step.
	p, nd := n.pspOf("betapsp")
	var check string
	require.NoError(t, nd.Update(func(c *node.Ctx) error {
		var err error
		check, err = p.CheckStatus(c, rrn, "attempt-1")
		return err
	}))
	var s psp.StatusAnswer
	eventually(t, func() bool { s, ok = h.status("betapsp", check); return ok }, "the switch answers the check")
	assert.Equal(t, psp.StatusAnswer{
		CheckTxnID: check, Ref: rrn, Tag: "attempt-1", Found: true, TxnID: id, RRN: rrn,
		Result: upiv1.Resp_SUCCESS, AmountPaise: 15_000, PayerVPA: "alice@alpha", PayeeVPA: "chai@beta",
	}, s)

	// An RRN the switch never issued is not found.
	require.NoError(t, nd.Update(func(c *node.Ctx) error {
		var err error
		check, err = p.CheckStatus(c, "999999999999", "attempt-2")
		return err
	}))
	eventually(t, func() bool { s, ok = h.status("betapsp", check); return ok }, "the switch answers the check")
	assert.False(t, s.Found)
	assert.Equal(t, "U48", s.ErrCode)

	// upisim pay --intent: the link's order id reaches the payee's PSP.
	var out bytes.Buffer
	r, err := cli.Pay(context.Background(), &out, cli.PayOptions{
		DataDir: n.dir, From: "alice@alpha", PIN: "1234", Timeout: 20 * time.Second,
		Intent: "upi://pay?pa=chai@beta&pn=Chai%20Point&am=20.00&tr=ORDER_43&tn=tea&cu=INR",
	})
	require.NoError(t, err)
	require.Equal(t, "SUCCESS", r.Status, "%+v", r)
	assert.Contains(t, out.String(), "paying Chai Point <chai@beta> ₹20.00 for order ORDER_43")
	eventually(t, func() bool { o, ok = h.outcome("betapsp", r.TxnID); return ok }, "the payee's PSP hears the intent's payment")
	assert.Equal(t, "ORDER_43", o.RefID)
	assert.Equal(t, int64(2_000), o.AmountPaise)
	assert.Equal(t, "tea", o.Note)
	assert.Equal(t, chai+17_000, n.balance("chai@beta"))
}
