package integration

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/fault"
	"github.com/upisim/upisim/internal/node/nodetest"
)

// lastRecon is the switch's last reconciliation of bank once it is DONE.
func (n *net) lastRecon(bank string) *upiv1.LiteRecon {
	n.t.Helper()
	a, err := n.c.Admin("npci")
	require.NoError(n.t, err)
	var last *upiv1.LiteRecon
	eventually(n.t, func() bool {
		r, err := a.ListLiteRecons(n.t.Context(), &upiv1.ListLiteReconsRequest{Bank: bank, Limit: 1})
		require.NoError(n.t, err)
		if len(r.GetRecons()) == 0 {
			return false
		}
		last = r.GetRecons()[0]
		return last.GetState() == "DONE"
	}, "the reconciliation of "+bank+" answered")
	return last
}

// The switch's daily reconciliation finds a lost confirmation (abank
// never processes the switch's ReqTxnConfirmation of an online payment:
// UNCONFIRMED) and an unsynced record (alice's phone paid chai's POS
// offline, the POS synced it, her phone did not: UNSYNCED), each on
// alice's LRN with its amount and cause; the bank's pool agrees with its
// LRNs. `upisim lite reconcile --daily` prints the report, and --run has
// the switch make another now.
func TestLiteReconDaily(t *testing.T) {
	clk := nodetest.NewClock(time.Now())
	n := upOn(t, clk, func(c *config.Network) {
		c.Rules = append(c.Rules, fault.Rule{Name: "lostconfirm", Node: "abank", On: fault.OnReceive, Ignore: true,
			Match: fault.Match{API: "ReqTxnConfirmation"}})
	})
	en := n.liteEnable("alice@alpha", "alice-phone", 50000)
	require.Equal(t, upiv1.Resp_SUCCESS, en.GetStatus(), "%v", en)
	lrn := en.GetLrn()

	// An online payment (44): SUCCESS, its confirmation lost at abank.
	on := n.litePay(&upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "chai@beta", AmountPaise: 5000})
	require.Equal(t, upiv1.Resp_SUCCESS, on.GetStatus(), "%v", on)
	eventually(t, func() bool { return n.liteAccount("npci", lrn, false).GetUnconfirmedPaise() == 5000 }, "the switch counts it unconfirmed")

	// An offline payment the POS syncs and her phone does not.
	n.liteOnline("alice-phone", false)
	n.liteOnline("chai-pos", false)
	off := n.litePay(&upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "chai@beta", PayeeDeviceId: "chai-pos", AmountPaise: 2000})
	require.Equal(t, upiv1.Resp_PENDING, off.GetStatus(), "%v", off)
	s := n.liteOnline("chai-pos", true)
	require.Len(t, s.GetSynced(), 1)
	require.Equal(t, upiv1.Resp_SUCCESS, s.GetSynced()[0].GetResult(), "%v", s.GetSynced()[0])
	waitQuiet(t, n)

	// A day passes: the switch reconciles each bank.
	clk.Advance(n.cfg.Lite.ReconEvery + time.Minute)
	r := n.lastRecon("abank")
	assert.False(t, r.GetOnDemand())
	assert.Equal(t, int64(48000), r.GetPoolPaise(), "₹500 in, ₹20 posted; the ₹50 payment not confirmed")
	assert.Equal(t, r.GetPoolPaise(), r.GetLrnsPaise())
	var line *upiv1.LiteReconLine
	for _, l := range r.GetLines() {
		if l.GetLrn() == lrn {
			line = l
		}
	}
	require.NotNil(t, line, "alice's LRN in the report: %v", r)
	assert.Equal(t, int64(43000), line.GetSwitchBalancePaise())
	assert.Equal(t, int64(48000), line.GetBankBalancePaise())
	assert.Equal(t, int64(5000), line.GetUnconfirmedPaise())
	assert.Equal(t, int64(2000), line.GetUnsyncedPaise())
	assert.True(t, line.GetDeviceKnown())
	assert.Equal(t, int64(43000), line.GetDeviceReportedPaise(), "her wallet as the network told it")
	kinds := map[string]*upiv1.LiteReconMismatch{}
	for _, m := range r.GetMismatches() {
		assert.Equal(t, lrn, m.GetLrn(), "%v", m)
		kinds[m.GetKind()] = m
	}
	require.Len(t, kinds, 2, "%v", r.GetMismatches())
	require.Contains(t, kinds, "UNCONFIRMED")
	require.Contains(t, kinds, "UNSYNCED")
	assert.Equal(t, int64(5000), kinds["UNCONFIRMED"].GetAmountPaise())
	assert.Contains(t, kinds["UNCONFIRMED"].GetCause(), "confirmation")
	assert.Equal(t, int64(2000), kinds["UNSYNCED"].GetAmountPaise())
	assert.Contains(t, kinds["UNSYNCED"].GetCause(), "another device's sync")
	assert.Empty(t, n.lastRecon("bbank").GetMismatches(), "bbank has no LRN")

	var out bytes.Buffer
	_, err := cli.LiteReconcile(t.Context(), &out, cli.LiteReconcileOptions{DataDir: n.dir, Daily: true})
	require.NoError(t, err, "money on its way only:\n%s", out.String())
	for _, want := range []string{r.GetTxnId(), lrn, "UNCONFIRMED", "UNSYNCED", "(daily)"} {
		assert.Contains(t, out.String(), want)
	}

	// Her phone syncs: the record is no longer unsynced; on demand, the
	// switch reconciles again and waits for the answer.
	n.liteOnline("alice-phone", true)
	out.Reset()
	_, err = cli.LiteReconcile(t.Context(), &out, cli.LiteReconcileOptions{DataDir: n.dir, Run: true, Bank: "abank", Wait: 10 * time.Second})
	require.NoError(t, err, "%s", out.String())
	assert.Contains(t, out.String(), "(on demand)")
	again := n.lastRecon("abank")
	assert.True(t, again.GetOnDemand())
	var left []string
	for _, m := range again.GetMismatches() {
		left = append(left, m.GetKind())
	}
	assert.Equal(t, "UNCONFIRMED", strings.Join(left, ","), "the lost confirmation is still lost; the record synced")
}
