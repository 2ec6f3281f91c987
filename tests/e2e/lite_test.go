package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What `upisim lite ... -o json` prints (internal/cli/lite.go).
type (
	liteTxn struct {
		TxnID          string `json:"txn_id"`
		Status         string `json:"status"`
		ErrCode        string `json:"err_code"`
		RRN            string `json:"rrn"`
		ProvisionalUTR string `json:"provisional_utr"`
		LRN            string `json:"lrn"`
		DevicePaise    int64  `json:"device_balance_paise"`
	}
	liteRec struct {
		Counter        uint64 `json:"counter"`
		ProvisionalUTR string `json:"provisional_utr"`
		UTR            string `json:"utr"`
		Status         string `json:"status"`
		ErrCode        string `json:"err_code"`
		AmountPaise    int64  `json:"amount_paise"`
		Payer          string `json:"payer"`
		Payee          string `json:"payee"`
		Direction      string `json:"direction"`
	}
	liteDevice struct {
		DeviceID    string    `json:"device_id"`
		Online      bool      `json:"online"`
		TxnID       string    `json:"txn_id"`
		Status      string    `json:"status"`
		Synced      []liteRec `json:"synced"`
		DevicePaise int64     `json:"device_balance_paise"`
		Unsynced    int       `json:"unsynced"`
	}
	liteBal struct {
		DeviceID    string    `json:"device_id"`
		VPA         string    `json:"vpa"`
		LRN         string    `json:"lrn"`
		State       string    `json:"state"`
		Online      bool      `json:"online"`
		Bank        string    `json:"bank"`
		DevicePaise int64     `json:"device_balance_paise"`
		BankPaise   int64     `json:"bank_balance_paise"`
		SwitchPaise int64     `json:"switch_balance_paise"`
		Unsynced    []liteRec `json:"unsynced"`
	}
	liteRecon struct {
		OK         bool `json:"ok"`
		Mismatches []struct {
			LRN    string `json:"lrn"`
			Bank   string `json:"bank"`
			Kind   string `json:"kind"`
			Detail string `json:"detail"`
		} `json:"mismatches"`
	}
)

// TestLiteTour is the "What a user can do" block and the README's
// UPI Lite section (seed 000's five steps) as a user runs them, with the
// real binary: `upisim up` as a process and each command a process of
// its own whose -o json is decoded, in the order the issue gives them.
func TestLiteTour(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and starts processes")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	up := newServer(t, "upisim up", bin, "up", "--data", data, "--port-base", "0", "--log-level", "warn")
	t.Cleanup(up.stop)
	nw := startUp(t, up, bin, data)
	open := defaultOpening(t)
	lite := func(v any, args ...string) {
		t.Helper()
		jsonOut(t, bin, v, append([]string{"lite", args[0], "--data", data}, args[1:]...)...)
	}
	aliceBank := func() int64 { return balance(t, data, nw.abank, alice) }
	chaiBank := func() int64 { return balance(t, data, nw.bbank, chai) }

	// 1. Enable (41) and top up (42): the money leaves alice's account.
	var en liteTxn
	lite(&en, "enable", "--vpa", alice, "--device", "alice-phone", "--amount", "500.00", "--pin", "1234")
	require.Equal(t, "SUCCESS", en.Status, "%+v", en)
	assert.NotEmpty(t, en.LRN)
	assert.Equal(t, int64(50000), en.DevicePaise)
	var top liteTxn
	lite(&top, "topup", "--device", "alice-phone", "--amount", "1000.00", "--pin", "1234")
	require.Equal(t, "SUCCESS", top.Status, "%+v", top)
	assert.Equal(t, int64(150000), top.DevicePaise)
	assert.Equal(t, en.LRN, top.LRN)
	assert.Equal(t, open.alice-150000, aliceBank(), "alice's account paid for the wallet")

	// Online Lite pay (44): no PIN, an RRN, chai credited.
	var on liteTxn
	lite(&on, "pay", "--device", "alice-phone", "--to", chai, "--amount", "150.00")
	require.Equal(t, "SUCCESS", on.Status, "%+v", on)
	assert.Len(t, on.RRN, 12)
	assert.Equal(t, int64(135000), on.DevicePaise)
	pollUntil(t, 50*time.Millisecond, func() bool { return chaiBank() == open.users[chai]+15000 },
		func() string { return "chai credited with the online Lite payment" })

	// 2. Both devices offline; an offline payment (45) is PENDING with a
	// provisional UTR, exit code 0.
	var dev liteDevice
	lite(&dev, "offline", "--device", "alice-phone")
	assert.False(t, dev.Online)
	lite(&dev, "offline", "--device", "chai-pos")
	assert.False(t, dev.Online)
	assert.Equal(t, "chai-pos", dev.DeviceID)
	var off liteTxn
	lite(&off, "pay", "--device", "alice-phone", "--to", chai, "--to-device", "chai-pos", "--amount", "150.00")
	require.Equal(t, "PENDING", off.Status, "%+v", off)
	assert.NotEmpty(t, off.ProvisionalUTR)
	assert.Empty(t, off.RRN)
	assert.Equal(t, int64(120000), off.DevicePaise)

	// 3. The device's view beside the bank's: one record unsynced.
	var bal liteBal
	lite(&bal, "balance", "--device", "alice-phone")
	assert.Equal(t, en.LRN, bal.LRN)
	assert.Equal(t, int64(120000), bal.DevicePaise)
	assert.Equal(t, int64(135000), bal.BankPaise)
	require.Len(t, bal.Unsynced, 1)
	assert.Equal(t, off.ProvisionalUTR, bal.Unsynced[0].ProvisionalUTR)
	assert.Equal(t, int64(15000), bal.Unsynced[0].AmountPaise)
	assert.Equal(t, "SENT", bal.Unsynced[0].Direction)
	text := run(t, bin, "lite", "balance", "--data", data, "--device", "alice-phone")
	assert.Contains(t, text, "₹1,200.00")
	assert.Contains(t, text, "₹1,350.00")

	// 4. The POS comes online and syncs: the official UTR.
	lite(&dev, "online", "--device", "chai-pos")
	assert.True(t, dev.Online)
	require.Len(t, dev.Synced, 1, "%+v", dev)
	posted := dev.Synced[0]
	assert.Equal(t, off.ProvisionalUTR, posted.ProvisionalUTR)
	assert.Equal(t, "SUCCESS", posted.Status)
	assert.Len(t, posted.UTR, 12)
	assert.NotEqual(t, on.RRN, posted.UTR)
	assert.Equal(t, 0, dev.Unsynced)
	pollUntil(t, 50*time.Millisecond, func() bool { return chaiBank() == open.users[chai]+30000 },
		func() string { return "chai credited with the synced record" })

	// The reconciliation explains the payer's record still unsynced.
	var rec liteRecon
	lite(&rec, "reconcile", "--bank", "abank")
	assert.True(t, rec.OK, "%+v", rec)
	require.Len(t, rec.Mismatches, 1, "%+v", rec)
	assert.Equal(t, "UNSYNCED", rec.Mismatches[0].Kind)
	assert.Equal(t, en.LRN, rec.Mismatches[0].LRN)
	assert.Contains(t, rec.Mismatches[0].Detail, "unsynced")

	// 5. alice's phone syncs: the same UTR, nothing posted twice.
	lite(&dev, "online", "--device", "alice-phone")
	require.Len(t, dev.Synced, 1, "%+v", dev)
	assert.Equal(t, posted.UTR, dev.Synced[0].UTR)
	assert.Equal(t, "SUCCESS", dev.Synced[0].Status)
	assert.Equal(t, int64(120000), dev.DevicePaise)
	lite(&bal, "balance", "--device", "alice-phone")
	assert.Equal(t, int64(120000), bal.DevicePaise)
	assert.Equal(t, int64(120000), bal.BankPaise)
	assert.Empty(t, bal.Unsynced)
	lite(&rec, "reconcile", "--bank", "abank")
	assert.True(t, rec.OK)
	assert.Empty(t, rec.Mismatches)
	assert.Equal(t, open.users[chai]+30000, chaiBank(), "the record was credited once")

	// Transfer-out (46) and disable (43) return the rest to the account.
	var out liteTxn
	lite(&out, "transfer-out", "--device", "alice-phone", "--amount", "100.00")
	require.Equal(t, "SUCCESS", out.Status, "%+v", out)
	assert.Equal(t, int64(110000), out.DevicePaise)
	assert.Equal(t, open.alice-150000+10000, aliceBank())
	var dis liteTxn
	lite(&dis, "disable", "--device", "alice-phone")
	require.Equal(t, "SUCCESS", dis.Status, "%+v", dis)
	assert.Equal(t, int64(0), dis.DevicePaise)
	assert.Equal(t, open.alice-30000, aliceBank(), "alice paid the two payments, the rest is back")

	// Exit codes: a FAILURE on the device exits 2 with its code; bad
	// input exits non-zero with a message.
	lite(&en, "enable", "--vpa", alice, "--device", "alice-phone", "--amount", "500.00", "--pin", "1234")
	require.Equal(t, "SUCCESS", en.Status, "a disabled device enables again: %+v", en)
	over := runCode(t, bin, "lite", "pay", "--data", data, "--device", "alice-phone", "--to", chai, "--amount", "1000.01", "-o", "json")
	assert.Equal(t, 2, over.code, "a FAILURE exits 2: %s", over.stderr)
	assert.Contains(t, over.stdout, `"Z8"`)
	bad := runCode(t, bin, "lite", "pay", "--data", data, "--device", "alice-phone", "--to", chai, "--amount", "1.234")
	assert.NotEqual(t, 0, bad.code)
	assert.Contains(t, bad.stderr, "two decimal places")

	// Seed 000's steps with a merchant's order: paid offline by its QR,
	// PENDING until the POS syncs, then SUCCESS with the official UTR.
	var o mOrder
	jsonOut(t, bin, &o, "order", "create", "--data", data, "--merchant", chai, "--amount", "150.00", "--expire", "15m")
	require.Equal(t, "PENDING", o.TransactionStatus)
	lite(&dev, "offline", "--device", "alice-phone")
	lite(&dev, "offline", "--device", "chai-pos")
	var byQR liteTxn
	lite(&byQR, "pay", "--device", "alice-phone", "--intent", o.Intent, "--to-device", "chai-pos")
	require.Equal(t, "PENDING", byQR.Status, "%+v", byQR)
	require.NotEmpty(t, byQR.ProvisionalUTR)
	assert.Equal(t, int64(35000), byQR.DevicePaise)
	jsonOut(t, bin, &o, "order", "show", "--data", data, o.OrderID)
	assert.Equal(t, "PENDING", o.TransactionStatus, "nothing reported yet: the POS is offline")
	lite(&dev, "online", "--device", "chai-pos")
	require.Len(t, dev.Synced, 1, "%+v", dev)
	require.Equal(t, "SUCCESS", dev.Synced[0].Status, "%+v", dev.Synced[0])
	utr := dev.Synced[0].UTR
	var paid mOrder
	pollUntil(t, 50*time.Millisecond, func() bool {
		jsonOut(t, bin, &paid, "order", "show", "--data", data, o.OrderID)
		return paid.TransactionStatus == "SUCCESS"
	}, func() string { return fmt.Sprintf("order %s paid (last: %+v)", o.OrderID, paid) })
	require.Len(t, paid.Attempts, 1, "%+v", paid.Attempts)
	assert.Equal(t, "SUCCESS", paid.Attempts[0].AttemptStatus)
	assert.Equal(t, "upi_lite", paid.Attempts[0].Method)
	assert.Equal(t, utr, paid.Attempts[0].RRN, "the attempt has the official UTR")
	assert.Equal(t, alice, paid.Attempts[0].PayerVPA)
	shown := run(t, bin, "order", "show", "--data", data, o.OrderID)
	assert.True(t, strings.Contains(shown, "rrn="+utr), "%s", shown)
	lite(&dev, "online", "--device", "alice-phone")
	require.Len(t, dev.Synced, 1)
	assert.Equal(t, utr, dev.Synced[0].UTR, "the payer's sync gets the same UTR")
	jsonOut(t, bin, &paid, "order", "show", "--data", data, o.OrderID)
	assert.Len(t, paid.Attempts, 1, "the payer's sync pays the order no second time")

	// Money is conserved and the audit is clean.
	rep, raw := audit(t, bin, data)
	assert.True(t, rep.OK, "upisim audit: %s", raw)
	assert.Empty(t, rep.Violations, raw)
	assert.Equal(t, rep.OpeningTotalPaise, rep.TotalPaise, "%s", raw)
}
