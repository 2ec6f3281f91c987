package integration

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/keys"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/upi"
)

// The UPI Lite tests (docs/FLOWS.md, "UPI Lite and Lite X") drive the
// network through the TPAP's app API, as a phone would, and check every
// node's view of each LRN through AdminService.ListLiteAccounts.

const liteWait = 20_000 // ms a Lite call waits for the network

func (n *net) tpapApp() upiv1.TpapAppServiceClient {
	n.t.Helper()
	c, err := n.c.TPAP()
	require.NoError(n.t, err)
	return c
}

// liteEnable enables vpa's wallet on device with an initial top-up.
func (n *net) liteEnable(vpa, device string, amount int64) *upiv1.LiteResult {
	n.t.Helper()
	r, err := n.tpapApp().EnableLite(n.t.Context(), &upiv1.EnableLiteRequest{Vpa: vpa, DeviceId: device, AmountPaise: amount, Pin: "1234", WaitMs: liteWait})
	require.NoError(n.t, err)
	return r
}

func (n *net) litePay(req *upiv1.PayLiteRequest) *upiv1.LiteResult {
	n.t.Helper()
	req.WaitMs = liteWait
	r, err := n.tpapApp().PayLite(n.t.Context(), req)
	require.NoError(n.t, err)
	return r
}

func (n *net) liteOnline(device string, online bool) *upiv1.LiteSyncResult {
	n.t.Helper()
	r, err := n.tpapApp().SetLiteOnline(n.t.Context(), &upiv1.SetLiteOnlineRequest{DeviceId: device, Online: online, WaitMs: liteWait})
	require.NoError(n.t, err)
	return r
}

func (n *net) wallet(device string) *upiv1.LiteWallet {
	n.t.Helper()
	w, err := n.tpapApp().GetLiteWallet(n.t.Context(), &upiv1.GetLiteWalletRequest{DeviceId: device})
	require.NoError(n.t, err)
	return w
}

// liteAccount is node's account of lrn (nil when it has none).
func (n *net) liteAccount(node, lrn string, records bool) *upiv1.LiteAccount {
	n.t.Helper()
	a, err := n.c.Admin(node)
	require.NoError(n.t, err)
	r, err := a.ListLiteAccounts(n.t.Context(), &upiv1.ListLiteAccountsRequest{Lrn: lrn, WithRecords: records})
	require.NoError(n.t, err)
	for _, acc := range r.GetAccounts() {
		if acc.GetLrn() == lrn {
			return acc
		}
	}
	return nil
}

// litePostings counts bank's postings whose ref starts with prefix.
func (n *net) litePostings(bank, prefix string) int {
	n.t.Helper()
	a, err := n.c.Admin(bank)
	require.NoError(n.t, err)
	count, token := 0, ""
	for {
		r, err := a.ListPostings(n.t.Context(), &upiv1.ListPostingsRequest{PageToken: token})
		require.NoError(n.t, err)
		for _, p := range r.GetPostings() {
			if strings.HasPrefix(p.GetRef(), prefix) {
				count++
			}
		}
		if token = r.GetNextPageToken(); token == "" {
			return count
		}
	}
}

// The tour of the issue: enable, top up, pay online, go offline on both
// sides, pay offline, sync from the merchant's side and then the payer's
// (posted once), transfer out and disable. Every node agrees on the LRN at
// each step that matters, and money is conserved (up's cleanup).
func TestLiteTour(t *testing.T) {
	n := up(t, nil)
	alice0, chai0 := n.balance("alice@alpha"), n.balance("chai@beta")

	en := n.liteEnable("alice@alpha", "alice-phone", 50000)
	require.Equal(t, upiv1.Resp_SUCCESS, en.GetStatus(), "%v", en)
	lrn := en.GetLrn()
	require.NotEmpty(t, lrn)
	assert.Equal(t, int64(50000), en.GetDeviceBalancePaise())
	assert.Equal(t, alice0-50000, n.balance("alice@alpha"), "the initial top-up left the account")

	top, err := n.tpapApp().TopUpLite(t.Context(), &upiv1.TopUpLiteRequest{DeviceId: "alice-phone", AmountPaise: 100000, Pin: "1234", WaitMs: liteWait})
	require.NoError(t, err)
	require.Equal(t, upiv1.Resp_SUCCESS, top.GetStatus(), "%v", top)
	assert.Equal(t, int64(150000), top.GetDeviceBalancePaise())

	// Online (44): no PIN, an RRN at once, the switch's balance drops.
	on := n.litePay(&upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "chai@beta", AmountPaise: 15000})
	require.Equal(t, upiv1.Resp_SUCCESS, on.GetStatus(), "%v", on)
	assert.Len(t, on.GetRrn(), 12)
	assert.Equal(t, int64(135000), on.GetDeviceBalancePaise())
	assert.Equal(t, chai0+15000, n.balance("chai@beta"))
	eventually(t, func() bool {
		b := n.liteAccount("abank", lrn, false)
		return b != nil && b.GetBalancePaise() == 135000
	}, "the remitter learns of the online payment by its confirmation")
	assert.Equal(t, int64(135000), n.liteAccount("npci", lrn, false).GetBalancePaise())

	// Offline (45): nothing leaves the phones.
	n.liteOnline("alice-phone", false)
	n.liteOnline("chai-pos", false)
	off := n.litePay(&upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "chai@beta", PayeeDeviceId: "chai-pos", AmountPaise: 15000})
	require.Equal(t, upiv1.Resp_PENDING, off.GetStatus(), "%v", off)
	putr := off.GetProvisionalUtr()
	require.NotEmpty(t, putr)
	w := n.wallet("alice-phone")
	assert.Equal(t, int64(120000), w.GetDeviceBalancePaise(), "the phone shows the offline payment at once")
	require.Len(t, w.GetUnsynced(), 1)
	assert.Equal(t, int64(135000), n.liteAccount("abank", lrn, false).GetBalancePaise(), "the bank has not heard of it")
	assert.Equal(t, chai0+15000, n.balance("chai@beta"))

	// The merchant's POS comes online first: the record is posted, with the
	// official UTR.
	sync := n.liteOnline("chai-pos", true)
	require.Len(t, sync.GetSynced(), 1, "%v", sync)
	rec := sync.GetSynced()[0]
	assert.Equal(t, upiv1.Resp_SUCCESS, rec.GetResult(), "%v", rec)
	assert.Equal(t, putr, rec.GetProvisionalUtr())
	utr := rec.GetUtr()
	assert.Len(t, utr, 12)
	assert.Equal(t, chai0+30000, n.balance("chai@beta"))
	assert.Equal(t, int64(120000), n.liteAccount("abank", lrn, false).GetBalancePaise())
	assert.Equal(t, int64(120000), n.liteAccount("npci", lrn, false).GetBalancePaise())

	// The payer's phone syncs the same record later: the same answer,
	// nothing posted again.
	again := n.liteOnline("alice-phone", true)
	require.Len(t, again.GetSynced(), 1, "%v", again)
	assert.Equal(t, upiv1.Resp_SUCCESS, again.GetSynced()[0].GetResult())
	assert.Equal(t, utr, again.GetSynced()[0].GetUtr(), "the record was posted once, under one UTR")
	assert.Equal(t, chai0+30000, n.balance("chai@beta"))
	assert.Equal(t, 1, n.litePostings("abank", "LITEDEBIT:"), "one pool debit for the record")
	assert.Equal(t, 1, n.litePostings("bbank", "LITECREDIT:"), "one credit for the record")
	w = n.wallet("alice-phone")
	assert.Empty(t, w.GetUnsynced())
	assert.Equal(t, int64(120000), w.GetDeviceBalancePaise())
	assert.Equal(t, int64(120000), w.GetReportedBalancePaise())

	// Transfer-out (46) and disable (43).
	out, err := n.tpapApp().TransferOutLite(t.Context(), &upiv1.TransferOutLiteRequest{DeviceId: "alice-phone", AmountPaise: 10000, WaitMs: liteWait})
	require.NoError(t, err)
	require.Equal(t, upiv1.Resp_SUCCESS, out.GetStatus(), "%v", out)
	assert.Equal(t, int64(110000), out.GetDeviceBalancePaise())
	dis, err := n.tpapApp().DisableLite(t.Context(), &upiv1.TpapAppServiceDisableLiteRequest{DeviceId: "alice-phone", WaitMs: liteWait})
	require.NoError(t, err)
	require.Equal(t, upiv1.Resp_SUCCESS, dis.GetStatus(), "%v", dis)
	assert.Equal(t, alice0-30000, n.balance("alice@alpha"), "alice paid 300.00 in all; the rest came back")
	assert.Equal(t, upiv1.LiteState_LITE_DISABLED, n.wallet("alice-phone").GetState())
	eventually(t, func() bool {
		b := n.liteAccount("abank", lrn, false)
		return b != nil && b.GetState() == lite.StateDisabled && b.GetBalancePaise() == 0
	}, "the remitter disabled the LRN")
	assert.Equal(t, lite.StateDisabled, n.liteAccount("npci", lrn, false).GetState())
	n.requireAuditClean()
}

// The limits are the dated profile's: with the 2022 profile pinned, a
// top-up beyond ₹2,000 is LB, an online payment over ₹200 Z8, offline
// too; a device over its offline count LN; an offline device cannot pay
// online (LO). Each fails with nothing moved.
func TestLiteLimits(t *testing.T) {
	n := up(t, func(c *config.Network) {
		c.Lite.Pin = "2022-03-01"
		c.Lite.OfflineCount = 2
	})
	alice := n.balance("alice@alpha")
	over := n.liteEnable("alice@alpha", "alice-phone", 250000)
	assert.Equal(t, upiv1.Resp_FAILURE, over.GetStatus())
	assert.Equal(t, upi.CodeLiteBalanceLimit, over.GetErrCode(), "%v", over)
	assert.Equal(t, alice, n.balance("alice@alpha"), "nothing moved")

	en := n.liteEnable("alice@alpha", "alice-phone", 100000)
	require.Equal(t, upiv1.Resp_SUCCESS, en.GetStatus(), "%v", en)
	z8 := n.litePay(&upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "chai@beta", AmountPaise: 20001})
	assert.Equal(t, upiv1.Resp_FAILURE, z8.GetStatus())
	assert.Equal(t, upi.CodeLimitExceeded, z8.GetErrCode(), "%v", z8)
	z8off := n.litePay(&upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "chai@beta", PayeeDeviceId: "chai-pos", AmountPaise: 20001})
	assert.Equal(t, upi.CodeLimitExceeded, z8off.GetErrCode(), "%v", z8off)

	n.liteOnline("alice-phone", false)
	lo := n.litePay(&upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "chai@beta", AmountPaise: 100})
	assert.Equal(t, upi.CodeLiteOffline, lo.GetErrCode(), "%v", lo)
	for range 2 {
		r := n.litePay(&upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "chai@beta", PayeeDeviceId: "chai-pos", AmountPaise: 1000})
		require.Equal(t, upiv1.Resp_PENDING, r.GetStatus(), "%v", r)
	}
	ln := n.litePay(&upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "chai@beta", PayeeDeviceId: "chai-pos", AmountPaise: 1000})
	assert.Equal(t, upi.CodeLiteOfflineCount, ln.GetErrCode(), "%v", ln)
	assert.Equal(t, int64(100000-2000), n.wallet("alice-phone").GetDeviceBalancePaise(), "only the two offline payments left the wallet")
	n.liteOnline("alice-phone", true)
	assert.Empty(t, n.wallet("alice-phone").GetUnsynced())
	assert.Equal(t, int32(0), n.wallet("alice-phone").GetOfflineSinceSync())
	n.requireAuditClean()
}

// deviceKey is the key the TPAP derives for device.
func (n *net) deviceKey(device string) []byte {
	n.t.Helper()
	k, err := keys.Load(filepath.Join(n.dir, "tpap.keys"))
	require.NoError(n.t, err)
	dk, err := lite.DeviceKey(k.Sign.Seed(), device)
	require.NoError(n.t, err)
	return dk
}

// syncAs sends records as one batch of device's through alphapsp's app
// API, as a phone's app would, and waits for the device's wallet to show
// nothing pending of it.
func (n *net) syncAs(user, device, lrn string, records []*upiv1.LiteRecord) string {
	n.t.Helper()
	p, _ := n.pspOf("alphapsp")
	resp, err := p.SyncLite(n.t.Context(), &upiv1.SyncLiteRequest{UserVpa: user, DeviceId: device, Lrn: lrn, Records: records})
	require.NoError(n.t, err)
	return resp.GetTxnId()
}

// Batches resent, split, reordered and merged post each record exactly
// once; a counter brought again with other content is a double spend
// (LC), refused and reported.
func TestLiteBatchesExactlyOnce(t *testing.T) {
	n := up(t, nil)
	en := n.liteEnable("alice@alpha", "alice-phone", 100000)
	require.Equal(t, upiv1.Resp_SUCCESS, en.GetStatus(), "%v", en)
	lrn := en.GetLrn()
	chai0 := n.balance("chai@beta")
	n.liteOnline("alice-phone", false)
	n.liteOnline("chai-pos", false)
	for i := range 5 {
		r := n.litePay(&upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "chai@beta", PayeeDeviceId: "chai-pos", AmountPaise: int64(1000 * (i + 1))})
		require.Equal(t, upiv1.Resp_PENDING, r.GetStatus(), "%v", r)
	}
	var recs []*upiv1.LiteRecord
	for _, r := range n.wallet("alice-phone").GetUnsynced() {
		recs = append(recs, r.GetRecord())
	}
	require.Len(t, recs, 5)

	// Split, reordered, overlapping: {3,1}, {1,2}, {5,4,2}.
	for _, b := range [][]int{{2, 0}, {0, 1}, {4, 3, 1}} {
		var batch []*upiv1.LiteRecord
		for _, i := range b {
			batch = append(batch, recs[i])
		}
		n.syncAs("alice@alpha", "alice-phone", lrn, batch)
	}
	eventually(t, func() bool { return n.balance("chai@beta") == chai0+15000 }, "every record credited")
	waitQuiet(t, n)
	assert.Equal(t, chai0+15000, n.balance("chai@beta"), "and once")
	assert.Equal(t, 5, n.litePostings("abank", "LITEDEBIT:"))
	assert.Equal(t, 5, n.litePostings("bbank", "LITECREDIT:"))

	// A forged record reusing counter of recs[0] with another amount.
	forged := proto.Clone(recs[0]).(*upiv1.LiteRecord)
	forged.AmountPaise = 99900
	lite.SignRecord(n.deviceKey("alice-phone"), forged)
	n.syncAs("alice@alpha", "alice-phone", lrn, []*upiv1.LiteRecord{forged})
	eventually(t, func() bool {
		s := n.liteAccount("npci", lrn, true)
		for _, r := range s.GetRecords() {
			if r.GetCounter() == forged.GetCounter() && len(r.GetDoubleSpends()) == 1 {
				return r.GetResult() == upiv1.Resp_SUCCESS && r.GetAmountPaise() == recs[0].GetAmountPaise() // the first content stands
			}
		}
		return false
	}, "the switch reports the double spend on the record")
	waitQuiet(t, n)
	assert.Equal(t, chai0+15000, n.balance("chai@beta"), "the double spend moved nothing")
	assert.Equal(t, 5, n.litePostings("abank", "LITEDEBIT:"))

	// The phones sync: each record SUCCESS, the wallet rebased.
	s := n.liteOnline("chai-pos", true)
	require.Len(t, s.GetSynced(), 5)
	for _, r := range s.GetSynced() {
		assert.Equal(t, upiv1.Resp_SUCCESS, r.GetResult(), "%v", r)
	}
	n.liteOnline("alice-phone", true)
	assert.Equal(t, int64(100000-15000), n.wallet("alice-phone").GetDeviceBalancePaise())
	n.requireAuditClean()
}

// A batch of 600 records, over the general 64 KiB message limit, is
// taken and posted whole.
func TestLiteLargeBatch(t *testing.T) {
	n := up(t, func(c *config.Network) { c.Lite.OfflineCount = 1000 })
	en := n.liteEnable("alice@alpha", "alice-phone", 100000)
	require.Equal(t, upiv1.Resp_SUCCESS, en.GetStatus(), "%v", en)
	lrn := en.GetLrn()
	chai0 := n.balance("chai@beta")
	key := n.deviceKey("alice-phone")
	now := time.Now()
	var recs []*upiv1.LiteRecord
	for i := range 600 {
		c := uint64(1000 + i)
		r := &upiv1.LiteRecord{Lrn: lrn, DeviceId: "alice-phone", Counter: c, ProvisionalUtr: lite.ProvisionalUTR(lrn, c),
			PayerAddr: "alice@alpha", PayeeAddr: "chai@beta", AmountPaise: 100, Ts: timestamppb.New(now),
			PayeeDeviceId: "chai-pos", DeviceBalancePaise: 100000 - int64(100*(i+1))}
		lite.SignRecord(key, r)
		recs = append(recs, r)
	}
	require.Greater(t, proto.Size(&upiv1.ReqLiteSync{Records: recs}), 64<<10, "the batch is over the general limit")
	n.syncAs("alice@alpha", "alice-phone", lrn, recs)
	eventually(t, func() bool { return n.balance("chai@beta") == chai0+60000 }, "all 600 records credited")
	assert.Equal(t, 600, n.litePostings("abank", "LITEDEBIT:"))
}

// A record synced after the sync deadline (4 days) is not posted (LD),
// and the payer's wallet gets the money back from the bank's balance. The
// network runs on a fake clock moved past the deadline.
func TestLiteSyncDeadline(t *testing.T) {
	clk := nodetest.NewClock(time.Now())
	n := upOn(t, clk, nil)
	en := n.liteEnable("alice@alpha", "alice-phone", 10000)
	require.Equal(t, upiv1.Resp_SUCCESS, en.GetStatus(), "%v", en)
	n.liteOnline("alice-phone", false)
	n.liteOnline("chai-pos", false)
	r := n.litePay(&upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "chai@beta", PayeeDeviceId: "chai-pos", AmountPaise: 1000})
	require.Equal(t, upiv1.Resp_PENDING, r.GetStatus())
	assert.Equal(t, int64(9000), n.wallet("alice-phone").GetDeviceBalancePaise())
	clk.Advance(n.cfg.Lite.SyncDeadline + time.Minute) // the record ages past the deadline
	s := n.liteOnline("alice-phone", true)
	require.Len(t, s.GetSynced(), 1)
	assert.Equal(t, upiv1.Resp_FAILURE, s.GetSynced()[0].GetResult())
	assert.Equal(t, upi.CodeLiteDeadline, s.GetSynced()[0].GetErrCode())
	assert.Equal(t, int64(10000), n.wallet("alice-phone").GetDeviceBalancePaise(), "the wallet rebased on the bank's balance")
	n.requireAuditClean()
}

// Seed 000 end to end: a merchant's order paid offline. The POS reports
// the attempt when it comes online (POST /upi-attempts, pending), and the
// order is paid with the official UTR once the record is posted.
func TestLiteOfflineOrder(t *testing.T) {
	n := merchantNet(t, nil)
	s := openShop(t, n, "chai@beta")
	en := n.liteEnable("alice@alpha", "alice-phone", 50000)
	require.Equal(t, upiv1.Resp_SUCCESS, en.GetStatus(), "%v", en)
	o := s.order(15000, "")
	id := o["order_id"].(string)
	n.liteOnline("alice-phone", false)
	n.liteOnline("chai-pos", false)
	r := n.litePay(&upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeDeviceId: "chai-pos", Intent: o["intent"].(string)})
	require.Equal(t, upiv1.Resp_PENDING, r.GetStatus(), "%v", r)
	assert.Equal(t, "PENDING", s.get(id)["transaction_status"])

	sync := n.liteOnline("chai-pos", true)
	require.Len(t, sync.GetSynced(), 1)
	utr := sync.GetSynced()[0].GetUtr()
	got := s.await(id, "SUCCESS", "SUCCESS/")
	a := got["attempts"].([]any)[0].(map[string]any)
	assert.Equal(t, "upi_lite", a["method"])
	assert.Equal(t, utr, a["rrn"], "the attempt carries the official UTR: %v", a)
	s.awaitHooks(id, "SUCCESS", "SUCCESS", "")
	code, att := s.call("POST", "/upi-attempts", fmt.Sprintf(`{"order_id": %q, "device_id": "chai-pos", "method": "upi_lite", "declared_amount_cents": 15000, "payer_vpa": "alice@alpha", "utr": %q}`, id, r.GetProvisionalUtr()))
	assert.Equal(t, http.StatusOK, code, "%v", att)
	assert.Equal(t, a["attempt_id"], att["upi_attempt_id"], "the device's report of a posted record names the same attempt")
	n.requireAuditClean()
}
