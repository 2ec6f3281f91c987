package integration

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/upi"
)

// setAuto sets up device's Lite mandate with the PIN.
func (n *net) setAuto(device string, threshold, amount int64) *upiv1.LiteResult {
	n.t.Helper()
	r, err := n.tpapApp().SetLiteAutoTopUp(n.t.Context(), &upiv1.SetLiteAutoTopUpRequest{DeviceId: device,
		ThresholdPaise: threshold, AmountPaise: amount, Pin: "1234", WaitMs: liteWait})
	require.NoError(n.t, err)
	return r
}

// dip pays chai@beta amount online from device and returns the wallet's
// mandate as the payment's step left it.
func (n *net) dip(device string, amount int64) *upiv1.LiteAutoTopUp {
	n.t.Helper()
	r := n.litePay(&upiv1.PayLiteRequest{DeviceId: device, PayeeVpa: "chai@beta", AmountPaise: amount})
	require.Equal(n.t, upiv1.Resp_SUCCESS, r.GetStatus(), "%v", r)
	return n.wallet(device).GetAutoTopUp()
}

// awaitAuto waits until device's last auto top-up after prev ended, and
// returns the wallet.
func (n *net) awaitAuto(device, prev string) *upiv1.LiteWallet {
	n.t.Helper()
	var w *upiv1.LiteWallet
	eventually(n.t, func() bool {
		w = n.wallet(device)
		a := w.GetAutoTopUp()
		return a.GetLastTxnId() != "" && a.GetLastTxnId() != prev &&
			(a.GetLastStatus() == upiv1.Resp_SUCCESS.String() || a.GetLastStatus() == upiv1.Resp_FAILURE.String())
	}, "the auto top-up ends")
	return w
}

// The Lite mandate on a fake clock: set up with the PIN (71); each dip
// below the threshold brings one top-up without the PIN, five in an IST
// day and the sixth declined (LA) at the remitter; the next day works
// again; a top-up never takes the wallet over the balance limit; once
// revoked, none. Money is conserved and the audit is clean.
func TestLiteAutoTopUp(t *testing.T) {
	clk := nodetest.NewClock(time.Now())
	n := upOn(t, clk, nil)
	alice0 := n.balance("alice@alpha")
	en := n.liteEnable("alice@alpha", "alice-phone", 50000)
	require.Equal(t, upiv1.Resp_SUCCESS, en.GetStatus(), "%v", en)

	// The set-up: a top-up (71) of the mandate's amount, with the PIN.
	set := n.setAuto("alice-phone", 10000, 50000)
	require.Equal(t, upiv1.Resp_SUCCESS, set.GetStatus(), "%v", set)
	assert.Equal(t, int64(100000), set.GetDeviceBalancePaise())
	a := set.GetWallet().GetAutoTopUp()
	require.NotNil(t, a)
	assert.Equal(t, "ACTIVE", a.GetState())
	assert.Equal(t, int64(10000), a.GetThresholdPaise())
	assert.Equal(t, int64(50000), a.GetAmountPaise())
	assert.NotEmpty(t, a.GetUmn())
	assert.Equal(t, alice0-100000, n.balance("alice@alpha"))

	// A payment that stays above the threshold starts nothing.
	a = n.dip("alice-phone", 10000)
	assert.Empty(t, a.GetLastTxnId())
	assert.Empty(t, a.GetLastStatus())

	// Five dips below it in one IST day: five top-ups without the PIN.
	prev := ""
	for i := range 5 {
		amount := int64(50000)
		if i == 0 {
			amount = 85000 // 900.00 - 850.00 = 50.00, below 100.00
		}
		n.dip("alice-phone", amount)
		w := n.awaitAuto("alice-phone", prev)
		a = w.GetAutoTopUp()
		require.Equal(t, upiv1.Resp_SUCCESS.String(), a.GetLastStatus(), "top-up %d: %v", i+1, a)
		assert.Equal(t, int64(55000), w.GetDeviceBalancePaise(), "top-up %d", i+1)
		assert.Equal(t, int32(i+1), a.GetToday())
		prev = a.GetLastTxnId()
	}
	assert.Equal(t, alice0-100000-5*50000, n.balance("alice@alpha"))
	eventually(t, func() bool { return n.liteAccount("abank", en.GetLrn(), false).GetBalancePaise() == 55000 },
		"the bank's LRN balance is the wallet's")

	// The sixth: declined by the remitter, nothing moves.
	n.dip("alice-phone", 50000)
	w := n.awaitAuto("alice-phone", prev)
	a = w.GetAutoTopUp()
	assert.Equal(t, upiv1.Resp_FAILURE.String(), a.GetLastStatus())
	assert.Equal(t, upi.CodeLiteAutoTopUpCount, a.GetLastErrCode())
	assert.Equal(t, int64(5000), w.GetDeviceBalancePaise())
	assert.Equal(t, int32(5), a.GetToday())
	assert.Equal(t, alice0-100000-5*50000, n.balance("alice@alpha"))
	prev = a.GetLastTxnId()

	// The next IST day: a dip tops up again.
	clk.Advance(24 * time.Hour)
	n.dip("alice-phone", 1000)
	w = n.awaitAuto("alice-phone", prev)
	a = w.GetAutoTopUp()
	require.Equal(t, upiv1.Resp_SUCCESS.String(), a.GetLastStatus(), "%v", a)
	assert.Equal(t, int64(54000), w.GetDeviceBalancePaise())
	assert.Equal(t, int32(1), a.GetToday())
	prev = a.GetLastTxnId()

	// Never above the balance limit (5000.00): a mandate of 1000.00 below
	// 4950.00 set up on a wallet of 4500.00 tops up only the 500.00 that
	// fits, and after a dip of 100.00 only that 100.00.
	top, err := n.tpapApp().TopUpLite(t.Context(), &upiv1.TopUpLiteRequest{DeviceId: "alice-phone", AmountPaise: 396000, Pin: "1234", WaitMs: liteWait})
	require.NoError(t, err)
	require.Equal(t, upiv1.Resp_SUCCESS, top.GetStatus(), "%v", top)
	set = n.setAuto("alice-phone", 495000, 100000)
	require.Equal(t, upiv1.Resp_SUCCESS, set.GetStatus(), "%v", set)
	assert.Equal(t, int64(500000), set.GetDeviceBalancePaise(), "the set-up topped up what fits: 500.00")
	n.dip("alice-phone", 10000)
	w = n.awaitAuto("alice-phone", prev)
	a = w.GetAutoTopUp()
	require.Equal(t, upiv1.Resp_SUCCESS.String(), a.GetLastStatus(), "%v", a)
	assert.Equal(t, int64(500000), w.GetDeviceBalancePaise(), "up to the limit, not over")
	assert.Equal(t, int64(500000), w.GetBalanceLimitPaise())

	// Revoked: the remitter hears of it, and a dip starts no top-up.
	rv, err := n.tpapApp().RevokeLiteAutoTopUp(t.Context(), &upiv1.RevokeLiteAutoTopUpRequest{DeviceId: "alice-phone", WaitMs: liteWait})
	require.NoError(t, err)
	require.Equal(t, upiv1.Resp_SUCCESS, rv.GetStatus(), "%v", rv)
	assert.Equal(t, "REVOKED", rv.GetWallet().GetAutoTopUp().GetState())
	last := rv.GetWallet().GetAutoTopUp().GetLastTxnId()
	for range 4 {
		n.dip("alice-phone", 100000)
	}
	a = n.dip("alice-phone", 100000) // 0.00 left
	assert.Equal(t, last, a.GetLastTxnId(), "no top-up once revoked")
	assert.Equal(t, int64(0), n.wallet("alice-phone").GetDeviceBalancePaise())
	eventually(t, func() bool { return n.liteAccount("abank", en.GetLrn(), false).GetBalancePaise() == 0 },
		"the bank's LRN balance is the wallet's")
	n.requireAuditClean()
}

// Offline payments take the wallet below the threshold with no network:
// nothing starts; when the device comes online its sync's answer does
// (one top-up, after the records are posted).
func TestLiteAutoTopUpAfterSync(t *testing.T) {
	n := up(t, nil)
	alice0 := n.balance("alice@alpha")
	en := n.liteEnable("alice@alpha", "alice-phone", 50000)
	require.Equal(t, upiv1.Resp_SUCCESS, en.GetStatus(), "%v", en)
	set := n.setAuto("alice-phone", 20000, 30000)
	require.Equal(t, upiv1.Resp_SUCCESS, set.GetStatus(), "%v", set)
	require.Equal(t, int64(80000), set.GetDeviceBalancePaise())

	n.liteOnline("alice-phone", false)
	n.liteOnline("chai-pos", false)
	for _, amount := range []int64{50000, 20000} {
		r := n.litePay(&upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "chai@beta", PayeeDeviceId: "chai-pos", AmountPaise: amount})
		require.Equal(t, upiv1.Resp_PENDING, r.GetStatus(), "%v", r)
	}
	w := n.wallet("alice-phone")
	assert.Equal(t, int64(10000), w.GetDeviceBalancePaise())
	assert.Empty(t, w.GetAutoTopUp().GetLastTxnId(), "offline: no top-up")

	s := n.liteOnline("alice-phone", true)
	require.Len(t, s.GetSynced(), 2, "%v", s)
	w = n.awaitAuto("alice-phone", "")
	a := w.GetAutoTopUp()
	require.Equal(t, upiv1.Resp_SUCCESS.String(), a.GetLastStatus(), "%v", a)
	assert.Equal(t, int64(40000), w.GetDeviceBalancePaise())
	assert.Equal(t, int32(1), a.GetToday())
	assert.Equal(t, alice0-110000, n.balance("alice@alpha"))
	eventually(t, func() bool { return n.liteAccount("abank", en.GetLrn(), false).GetBalancePaise() == 40000 },
		"the bank's LRN balance is the wallet's")
	n.requireAuditClean()
}

// Enabled with an auto top-up: the initial top-up is the set-up (71).
func TestLiteEnableWithAutoTopUp(t *testing.T) {
	n := up(t, nil)
	alice0 := n.balance("alice@alpha")
	en, err := n.tpapApp().EnableLite(t.Context(), &upiv1.EnableLiteRequest{Vpa: "alice@alpha", DeviceId: "alice-phone", AmountPaise: 30000,
		Pin: "1234", WaitMs: liteWait, AutoThresholdPaise: 10000, AutoAmountPaise: 20000})
	require.NoError(t, err)
	require.Equal(t, upiv1.Resp_SUCCESS, en.GetStatus(), "%v", en)
	assert.Equal(t, int64(30000), en.GetDeviceBalancePaise())
	assert.Equal(t, "ACTIVE", en.GetWallet().GetAutoTopUp().GetState())
	assert.Equal(t, upiv1.LiteState_LITE_ACTIVE, n.wallet("alice-phone").GetState())

	n.dip("alice-phone", 25000)
	w := n.awaitAuto("alice-phone", "")
	require.Equal(t, upiv1.Resp_SUCCESS.String(), w.GetAutoTopUp().GetLastStatus(), "%v", w.GetAutoTopUp())
	assert.Equal(t, int64(25000), w.GetDeviceBalancePaise())
	assert.Equal(t, alice0-50000, n.balance("alice@alpha"))
	eventually(t, func() bool { return n.liteAccount("abank", en.GetLrn(), false).GetBalancePaise() == 25000 },
		"the bank's LRN balance is the wallet's")
	n.requireAuditClean()
}
