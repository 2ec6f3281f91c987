package integration

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/config"
)

// shortTimeouts gives the switch short response timeouts, as
// `upisim up --response-timeout` does.
func shortTimeouts(d time.Duration) func(*config.Network) {
	return func(c *config.Network) {
		c.Timeouts.AuthDetails, c.Timeouts.Debit, c.Timeouts.Credit, c.Timeouts.CheckStatus, c.Timeouts.Reversal, c.Timeouts.ValAdd = d, d, d, d, d, d
	}
}

// With short timeouts, flows whose banks answer in time end as before: no
// spurious DEEMED, reversal or status check, and no timer left behind.
// (The timeout branches themselves need a bank that does not answer; they
// are unit-tested in the switch.)
func TestShortTimeoutsDoNotFireOnTime(t *testing.T) {
	n := up(t, shortTimeouts(time.Second))
	var (
		mu  sync.Mutex
		ids []string
		wg  sync.WaitGroup
	)
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, to := "alice@alpha", "bob@beta"
			if i%2 == 1 {
				from, to = "bob@beta", "alice@alpha"
			}
			r, err := cli.Pay(context.Background(), io.Discard, cli.PayOptions{DataDir: n.dir, From: from, To: to, Amount: "1.00", PIN: "1234", Timeout: 20 * time.Second})
			if assert.NoError(t, err) {
				assert.Equal(t, "SUCCESS", r.Status, "txn %s: %s", r.TxnID, r.ErrCode)
				mu.Lock()
				ids = append(ids, r.TxnID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	// A decline and a collect take their usual paths too.
	d := n.pay("alice@alpha", "bob@beta", "1.00", "9999")
	assert.Equal(t, "ZM", d.ErrCode)
	c := n.collect("alice@alpha", "bob@beta", "2.00")
	n.waitPrompt("alice@alpha", c.TxnID)
	ar, err := cli.Approve(context.Background(), io.Discard, cli.ApproveOptions{DataDir: n.dir, TxnID: c.TxnID, PIN: "1234", Timeout: 20 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, "SUCCESS", ar.Status)
	ids = append(ids, d.TxnID, c.TxnID)

	waitQuiet(t, n)
	for _, id := range ids {
		eventually(t, func() bool { return n.nodeTxn("npci", id).GetState() == "CLOSED" }, "the switch closes "+id)
		for _, m := range n.trace(id) {
			assert.NotEqual(t, "ReqChkTxn", m.API, "txn %s: no status check", id)
			assert.NotContains(t, m.Summary, "REVERSAL", "txn %s: no reversal", id)
		}
	}
	a, err := n.c.Admin("npci")
	require.NoError(t, err)
	h, err := a.Health(context.Background(), &upiv1.HealthRequest{})
	require.NoError(t, err)
	assert.Equal(t, int64(len(n.cfg.NodesByRole(config.RoleBank))), int64(h.GetTimersPending()),
		"every response timer is cancelled once answered: only each bank's daily Lite reconciliation is pending")
	// Alice paid and got back 6 × ₹1.00, and paid the ₹2.00 collect.
	assert.Equal(t, int64(1000000-200), n.balance("alice@alpha"))
	assert.Equal(t, int64(500000+200), n.balance("bob@beta"))
}
