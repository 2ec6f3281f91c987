package tpap

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/keydir"
	"github.com/upisim/upisim/internal/keys"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// liteNet stands for the PSPs' network behind the fake PSPs: it answers
// each Lite call with the notification a real PSP would send, keeping
// the LRNs' balances as the switch would.
type liteNet struct {
	t  *testing.T
	e  *env
	sw *keys.Keys
	wg sync.WaitGroup

	mu      sync.Mutex
	lrns    map[string]int64
	seq     int
	hold    bool // answer nothing
	badARPC bool // sign ARPCs with another key
	failPay string
	// syncResult decides a record of a batch (nil: SUCCESS).
	syncResult func(r *upiv1.LiteRecord) (upiv1.Resp_Result, string)
	seen       map[recordKey]bool // the records posted (posted)
	version    uint64             // the balances' version, as the switch's saveLite counts
}

const waitLong = 10_000

func newLiteEnv(t *testing.T) (*env, *liteNet) {
	t.Helper()
	e := newEnv(t)
	e.x.SetKeys(pintest.Keys(t, "tpap"))
	ln := &liteNet{t: t, e: e, sw: pintest.Keys(t, "npci"), lrns: map[string]int64{}}
	list := &upiv1.KeyList{Ts: timestamppb.New(e.n.Now()), Signer: "npci", Keys: []*upiv1.NodeKey{ln.sw.Public(config.RoleSwitch)}}
	for _, b := range e.net.NodesByRole(config.RoleBank) {
		list.Keys = append(list.Keys, e.banks[b.Name].Public(config.RoleBank))
	}
	require.NoError(t, e.n.Update(func(c *node.Ctx) error { return keydir.Keep(c.Tx, list) }))
	for name, f := range e.psps {
		f.onLite = func(m proto.Message) { ln.answer(name, m) }
	}
	t.Cleanup(ln.wg.Wait)
	return e, ln
}

func (ln *liteNet) balance(lrn string) int64 {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	return ln.lrns[lrn]
}

// answer sends, from another goroutine as the network would, the
// notification that answers m.
func (ln *liteNet) answer(psp string, m proto.Message) {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	if ln.hold {
		return
	}
	var n *upiv1.Notification
	switch r := m.(type) {
	case *upiv1.RegisterLiteRequest:
		ln.seq++
		lrn := fmt.Sprintf("LRN%09d", ln.seq)
		ln.lrns[lrn] = 0
		n = &upiv1.Notification{Txn: &upiv1.Txn{Id: r.GetTxnId()}, Kind: upiv1.Notification_LITE_STATUS, UserAddr: r.GetPayerVpa(),
			Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}, LiteInfo: &upiv1.LiteInfo{Lrn: lrn, DeviceId: r.GetDeviceId()}}
	case *upiv1.InitiatePayRequest:
		lrn := r.GetLite().GetLrn()
		res, code := upiv1.Resp_SUCCESS, ""
		switch r.GetPurpose() {
		case lite.PurposeInitialTopUp, lite.PurposeTopUp, lite.PurposeAutoTopUpSetup:
			ln.lrns[lrn] += r.GetAmountPaise()
		default:
			if ln.failPay != "" {
				res, code = upiv1.Resp_FAILURE, ln.failPay
			} else {
				ln.lrns[lrn] -= r.GetAmountPaise()
			}
		}
		info := &upiv1.LiteInfo{Lrn: lrn, Counter: r.GetLite().GetCounter(), BalancePaise: ln.lrns[lrn]}
		if r.GetLite().GetArqc() != nil {
			key := ln.sw.Sign
			if ln.badARPC {
				key = pintest.Keys(ln.t, "mallory").Sign
			}
			info.Arpc = lite.ARPC{TxnID: r.GetTxnId(), LRN: lrn, Counter: info.Counter, Result: res.String(), Balance: info.BalancePaise}.Sign(key)
		}
		n = &upiv1.Notification{Txn: &upiv1.Txn{Id: r.GetTxnId(), Type: upiv1.Txn_PAY, CustRef: "612300000001"},
			Kind: upiv1.Notification_TXN_STATUS, UserAddr: r.GetPayerVpa(), Resp: &upiv1.Resp{Result: res, ErrCode: code}, LiteInfo: info}
	case *upiv1.SyncLiteRequest:
		ans := &upiv1.RespLiteSync{Txn: &upiv1.Txn{Id: r.GetTxnId()}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}}
		for _, rec := range r.GetRecords() {
			res, code := upiv1.Resp_SUCCESS, ""
			if ln.syncResult != nil {
				res, code = ln.syncResult(rec)
			}
			out := &upiv1.LiteRecordResult{Lrn: rec.GetLrn(), Counter: rec.GetCounter(), ProvisionalUtr: rec.GetProvisionalUtr(),
				Result: res, ErrCode: code, AmountPaise: rec.GetAmountPaise(), BatchTxnId: r.GetTxnId()}
			if res == upiv1.Resp_SUCCESS {
				out.Utr = fmt.Sprintf("6123%08d", rec.GetCounter())
				if ln.posted(rec) {
					ln.lrns[rec.GetLrn()] -= rec.GetAmountPaise()
				}
			}
			ans.Results = append(ans.Results, out)
		}
		if r.GetLrn() != "" {
			ln.version++
			ans.Balances = append(ans.Balances, &upiv1.LiteBalance{Lrn: r.GetLrn(), BalancePaise: ln.lrns[r.GetLrn()], State: lite.StateActive, Version: ln.version})
		}
		n = &upiv1.Notification{Txn: &upiv1.Txn{Id: r.GetTxnId()}, Kind: upiv1.Notification_LITE_SYNC, UserAddr: r.GetUserVpa(), Lite: ans}
	case *upiv1.DisableLiteRequest:
		res, code := upiv1.Resp_SUCCESS, ""
		if ln.lrns[r.GetLrn()] != 0 && r.GetUmn() == "" { // with a UMN: a Lite mandate's revocation
			res, code = upiv1.Resp_FAILURE, upi.CodeLiteNotZero
		}
		n = &upiv1.Notification{Txn: &upiv1.Txn{Id: r.GetTxnId()}, Kind: upiv1.Notification_LITE_STATUS, UserAddr: r.GetUserVpa(),
			Resp: &upiv1.Resp{Result: res, ErrCode: code}, LiteInfo: &upiv1.LiteInfo{Lrn: r.GetLrn(), State: lite.StateDisabled}}
	default:
		return
	}
	p, _ := ln.e.net.NodeByName(psp)
	n.Head = nodetest.Head(psp, p.Prefix)
	ln.wg.Add(1)
	go func() {
		defer ln.wg.Done()
		ack, err := ln.e.n.Receive(context.Background(), upiv1.TpapService_Notify_FullMethodName, n)
		if err != nil || ack.GetErr() != "" {
			ln.t.Errorf("notify %v: %v %v", n.GetKind(), err, ack)
		}
	}()
}

// posted reports whether a record is posted now, the first time this
// network sees it (the switch's exactly once); ln.mu is held. The set is
// the network's own: a global keyed by ln's address saw a later test's
// network at a freed one's address as the same, and posted nothing.
func (ln *liteNet) posted(r *upiv1.LiteRecord) bool {
	k := recordKey{r.GetLrn(), r.GetCounter()}
	if ln.seen[k] {
		return false
	}
	if ln.seen == nil {
		ln.seen = map[recordKey]bool{}
	}
	ln.seen[k] = true
	return true
}

type recordKey struct {
	lrn     string
	counter uint64
}

func (e *env) devicePub(t *testing.T, id string) ed25519.PublicKey {
	t.Helper()
	k, err := e.x.deviceKey(id)
	require.NoError(t, err)
	return k.Public().(ed25519.PublicKey)
}

func (e *env) enable(t *testing.T, vpa, dev string, amount int64) *upiv1.LiteResult {
	t.Helper()
	res, err := e.x.EnableLite(t.Context(), &upiv1.EnableLiteRequest{Vpa: vpa, DeviceId: dev, AmountPaise: amount, Pin: "1234", WaitMs: waitLong})
	require.NoError(t, err)
	require.Equal(t, upiv1.Resp_SUCCESS, res.GetStatus(), "%v", res)
	return res
}

func (e *env) wallet(t *testing.T, dev string) *upiv1.LiteWallet {
	t.Helper()
	w, err := e.x.GetLiteWallet(t.Context(), &upiv1.GetLiteWalletRequest{DeviceId: dev})
	require.NoError(t, err)
	return w
}

func (e *env) setOnline(t *testing.T, dev string, online bool) *upiv1.LiteSyncResult {
	t.Helper()
	res, err := e.x.SetLiteOnline(t.Context(), &upiv1.SetLiteOnlineRequest{DeviceId: dev, Online: online, WaitMs: waitLong})
	require.NoError(t, err)
	return res
}

func callsOf[T proto.Message](f *fakePSP) []T {
	var out []T
	for _, c := range f.Calls() {
		if m, ok := c.(T); ok {
			out = append(out, m)
		}
	}
	return out
}

func TestLiteEnableAndTopUp(t *testing.T) {
	e, ln := newLiteEnv(t)
	res := e.enable(t, "alice@alpha", "alice-phone", 50_000)
	w := res.GetWallet()
	assert.Equal(t, upiv1.LiteState_LITE_ACTIVE, w.GetState())
	assert.Equal(t, int64(50_000), w.GetDeviceBalancePaise())
	assert.Equal(t, int64(50_000), ln.balance(res.GetLrn()))
	assert.NotEmpty(t, res.GetLrn())

	alpha := e.psps["alphapsp"]
	reg := callsOf[*upiv1.RegisterLiteRequest](alpha)
	require.Len(t, reg, 1)
	assert.Equal(t, "alice@alpha", reg[0].GetPayerVpa())
	assert.Equal(t, []byte(e.devicePub(t, "alice-phone")), reg[0].GetDeviceKey())
	pays := callsOf[*upiv1.InitiatePayRequest](alpha)
	require.Len(t, pays, 1)
	assert.Equal(t, lite.PurposeInitialTopUp, pays[0].GetPurpose())
	assert.Equal(t, res.GetTxnId(), pays[0].GetTxnId(), "the answer names the top-up")
	assert.Equal(t, res.GetLrn(), pays[0].GetLite().GetLrn())
	assert.Equal(t, []byte(e.devicePub(t, "alice-phone")), pays[0].GetLite().GetDeviceKey())
	assert.Empty(t, pays[0].GetPayeeVpa())
	assert.Equal(t, "1234", e.openCred(t, "abank", pays[0].GetCred(), pays[0].GetTxnId()))

	top, err := e.x.TopUpLite(t.Context(), &upiv1.TopUpLiteRequest{DeviceId: "alice-phone", AmountPaise: 20_000, Pin: "1234", WaitMs: waitLong})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_SUCCESS, top.GetStatus())
	assert.Equal(t, int64(70_000), top.GetDeviceBalancePaise())
	pays = callsOf[*upiv1.InitiatePayRequest](alpha)
	require.Len(t, pays, 2)
	assert.Equal(t, lite.PurposeTopUp, pays[1].GetPurpose())
	assert.Empty(t, pays[1].GetLite().GetDeviceKey())

	_, err = e.x.EnableLite(t.Context(), &upiv1.EnableLiteRequest{Vpa: "alice@alpha", DeviceId: "alice-phone", AmountPaise: 1, Pin: "1234"})
	assert.Equal(t, codes.AlreadyExists, status.Code(err), "%v", err)
	_, err = e.x.EnableLite(t.Context(), &upiv1.EnableLiteRequest{Vpa: "alice@alpha", DeviceId: "p2", AmountPaise: 0, Pin: "1234"})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	_, err = e.x.TopUpLite(t.Context(), &upiv1.TopUpLiteRequest{DeviceId: "nope", AmountPaise: 5, Pin: "1234"})
	assert.Equal(t, codes.NotFound, status.Code(err))
}

func TestLiteEnableUnansweredIsPending(t *testing.T) {
	e, ln := newLiteEnv(t)
	ln.hold = true
	res, err := e.x.EnableLite(t.Context(), &upiv1.EnableLiteRequest{Vpa: "alice@alpha", DeviceId: "alice-phone", AmountPaise: 500, Pin: "1234", WaitMs: 20})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_PENDING, res.GetStatus())
	assert.Equal(t, upiv1.LiteState_LITE_PENDING, res.GetWallet().GetState())
	assert.Empty(t, callsOf[*upiv1.InitiatePayRequest](e.psps["alphapsp"]), "no top-up before the LRN")

	// A second EnableLite registers anew; the first one's late answer is
	// not taken.
	_, err = e.x.EnableLite(t.Context(), &upiv1.EnableLiteRequest{Vpa: "alice@alpha", DeviceId: "alice-phone", AmountPaise: 500, Pin: "1234", WaitMs: 1})
	require.NoError(t, err)
	regs := callsOf[*upiv1.RegisterLiteRequest](e.psps["alphapsp"])
	require.Len(t, regs, 2)
	lateAnswer := func(txn, lrn string) *upiv1.Notification {
		return &upiv1.Notification{Txn: &upiv1.Txn{Id: txn}, Kind: upiv1.Notification_LITE_STATUS, UserAddr: "alice@alpha",
			Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}, LiteInfo: &upiv1.LiteInfo{Lrn: lrn}}
	}
	e.notify(t, "alphapsp", lateAnswer(regs[0].GetTxnId(), "LRN-OLD"))
	assert.Empty(t, e.wallet(t, "alice-phone").GetLrn())
	e.notify(t, "alphapsp", lateAnswer(regs[1].GetTxnId(), "LRN-NEW"))
	w := e.wallet(t, "alice-phone")
	assert.Equal(t, "LRN-NEW", w.GetLrn())
	assert.Equal(t, upiv1.LiteState_LITE_PENDING, w.GetState())

	// TopUpLite on the registered device makes the initial top-up.
	ln.mu.Lock()
	ln.hold = false
	ln.mu.Unlock()
	top, err := e.x.TopUpLite(t.Context(), &upiv1.TopUpLiteRequest{DeviceId: "alice-phone", AmountPaise: 700, Pin: "1234", WaitMs: waitLong})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_SUCCESS, top.GetStatus())
	assert.Equal(t, upiv1.LiteState_LITE_ACTIVE, top.GetWallet().GetState())
	assert.Equal(t, int64(700), top.GetDeviceBalancePaise())
	pays := callsOf[*upiv1.InitiatePayRequest](e.psps["alphapsp"])
	require.Len(t, pays, 1)
	assert.Equal(t, lite.PurposeInitialTopUp, pays[0].GetPurpose())
	assert.Equal(t, "LRN-NEW", pays[0].GetLite().GetLrn())
	assert.NotEmpty(t, pays[0].GetLite().GetDeviceKey())
}

func TestLitePayOnline(t *testing.T) {
	e, ln := newLiteEnv(t)
	lrn := e.enable(t, "alice@alpha", "alice-phone", 50_000).GetLrn()
	res, err := e.x.PayLite(t.Context(), &upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "bob@beta", AmountPaise: 10_000, WaitMs: waitLong})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_SUCCESS, res.GetStatus(), "%v", res)
	assert.Equal(t, int64(40_000), res.GetDeviceBalancePaise())
	assert.Equal(t, int64(40_000), res.GetWallet().GetReportedBalancePaise(), "the ARPC's balance")
	assert.Equal(t, "612300000001", res.GetRrn())
	assert.Empty(t, res.GetReason())

	pays := callsOf[*upiv1.InitiatePayRequest](e.psps["alphapsp"])
	p := pays[len(pays)-1]
	assert.Equal(t, lite.PurposeOnlinePay, p.GetPurpose())
	assert.Nil(t, p.GetCred(), "no PIN")
	assert.Equal(t, "bob@beta", p.GetPayeeVpa())
	assert.Equal(t, uint64(1), p.GetLite().GetCounter())
	assert.Equal(t, int64(50_000), p.GetLite().GetDeviceBalancePaise(), "the balance before")
	a := lite.ARQC{TxnID: p.GetTxnId(), LRN: lrn, Counter: 1, AmountPaise: 10_000, Payee: "bob@beta", DeviceBalance: 50_000}
	assert.True(t, a.Verify(e.devicePub(t, "alice-phone"), p.GetLite().GetArqc()), "the ARQC verifies with the device key")

	// An intent: pa, am and tr.
	res, err = e.x.PayLite(t.Context(), &upiv1.PayLiteRequest{DeviceId: "alice-phone",
		Intent: "upi://pay?pa=chai@beta&pn=Chai%20Point&am=150.00&tr=ORD42&cu=INR", WaitMs: waitLong})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_SUCCESS, res.GetStatus())
	pays = callsOf[*upiv1.InitiatePayRequest](e.psps["alphapsp"])
	p = pays[len(pays)-1]
	assert.Equal(t, "chai@beta", p.GetPayeeVpa())
	assert.Equal(t, int64(15_000), p.GetAmountPaise())
	assert.Equal(t, "ORD42", p.GetRefId())
	assert.Equal(t, uint64(2), p.GetLite().GetCounter())
	assert.Equal(t, int64(25_000), e.wallet(t, "alice-phone").GetDeviceBalancePaise())
	assert.Equal(t, ln.balance(lrn), e.wallet(t, "alice-phone").GetDeviceBalancePaise())

	_, err = e.x.PayLite(t.Context(), &upiv1.PayLiteRequest{DeviceId: "alice-phone", Intent: "http://x"})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
}

func TestLitePayFailureRestores(t *testing.T) {
	e, ln := newLiteEnv(t)
	e.enable(t, "alice@alpha", "alice-phone", 50_000)
	ln.failPay = upi.CodeInsufficientFunds
	res, err := e.x.PayLite(t.Context(), &upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "bob@beta", AmountPaise: 10_000, WaitMs: waitLong})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_FAILURE, res.GetStatus())
	assert.Equal(t, upi.CodeInsufficientFunds, res.GetErrCode())
	assert.Equal(t, int64(50_000), res.GetDeviceBalancePaise(), "a verified FAILURE gives the debit back")
	assert.Equal(t, uint64(1), res.GetWallet().GetCounter(), "the counter stays used")
}

func TestLitePayBadARPCIsNotTrusted(t *testing.T) {
	e, ln := newLiteEnv(t)
	lrn := e.enable(t, "alice@alpha", "alice-phone", 50_000).GetLrn()
	ln.badARPC, ln.failPay = true, upi.CodeInsufficientFunds
	res, err := e.x.PayLite(t.Context(), &upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "bob@beta", AmountPaise: 10_000, WaitMs: waitLong})
	require.NoError(t, err)
	assert.Contains(t, res.GetReason(), "ARPC does not verify")
	assert.Equal(t, int64(40_000), res.GetDeviceBalancePaise(), "a FAILURE it cannot verify keeps the provisional debit")
	assert.Equal(t, int64(50_000), res.GetWallet().GetReportedBalancePaise(), "the untrusted balance is not taken")

	// Its next sync re-bases it on the switch's word.
	ln.badARPC = false
	s := e.setOnline(t, "alice-phone", true)
	assert.Equal(t, upiv1.Resp_SUCCESS, s.GetStatus())
	assert.Equal(t, ln.balance(lrn), s.GetWallet().GetDeviceBalancePaise())
	assert.Equal(t, int64(50_000), s.GetWallet().GetDeviceBalancePaise())
}

func TestLiteDeviceRefusals(t *testing.T) {
	e, _ := newLiteEnv(t)
	e.enable(t, "alice@alpha", "alice-phone", 30_000)
	e.enable(t, "bob@beta", "bob-phone", 30_000)
	e.net.Lite.OfflineCount = 1
	lim := e.net.Lite.At(e.n.Now())
	// bob uses his one offline payment.
	e.setOnline(t, "bob-phone", false)
	e.setOnline(t, "chai-pos", false)
	r, err := e.x.PayLite(t.Context(), &upiv1.PayLiteRequest{DeviceId: "bob-phone", PayeeVpa: "chai@beta", PayeeDeviceId: "chai-pos", AmountPaise: 100})
	require.NoError(t, err)
	require.Equal(t, upiv1.Resp_PENDING, r.GetStatus())
	e.setOnline(t, "alice-phone", false)

	tests := []struct {
		name string
		req  *upiv1.PayLiteRequest
		code string
	}{
		{"offline", &upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "bob@beta", AmountPaise: 100}, upi.CodeLiteOffline},
		{"receive-only", &upiv1.PayLiteRequest{DeviceId: "chai-pos", PayeeVpa: "bob@beta", PayeeDeviceId: "bob-phone", AmountPaise: 100}, upi.CodeLiteUnknown},
		{"over the offline limit", &upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "chai@beta", PayeeDeviceId: "chai-pos", AmountPaise: lim.OfflinePerTxn + 1}, upi.CodeLimitExceeded},
		{"over the balance offline", &upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "bob@beta", PayeeDeviceId: "bob-phone", AmountPaise: 30_001}, upi.CodeInsufficientFunds},
		{"offline count", &upiv1.PayLiteRequest{DeviceId: "bob-phone", PayeeVpa: "chai@beta", PayeeDeviceId: "chai-pos", AmountPaise: 100}, upi.CodeLiteOfflineCount},
	}
	before := map[string]int{}
	for n, f := range e.psps {
		before[n] = len(f.Calls())
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w0 := e.wallet(t, tc.req.GetDeviceId())
			res, err := e.x.PayLite(t.Context(), tc.req)
			require.NoError(t, err)
			assert.Equal(t, upiv1.Resp_FAILURE, res.GetStatus())
			assert.Equal(t, tc.code, res.GetErrCode())
			assert.NotEmpty(t, res.GetReason())
			w1 := e.wallet(t, tc.req.GetDeviceId())
			assert.True(t, proto.Equal(w0, w1), "nothing moved: %v → %v", w0, w1)
		})
	}
	// Online: over the per payment limit and over the balance.
	e.setOnline(t, "alice-phone", true)
	for _, tc := range []struct {
		amount int64
		code   string
	}{{lim.PerTxn + 1, upi.CodeLimitExceeded}, {30_001, upi.CodeInsufficientFunds}} {
		res, err := e.x.PayLite(t.Context(), &upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "bob@beta", AmountPaise: tc.amount})
		require.NoError(t, err)
		assert.Equal(t, tc.code, res.GetErrCode())
		assert.Equal(t, int64(30_000), res.GetDeviceBalancePaise())
		assert.Equal(t, uint64(0), res.GetWallet().GetCounter())
	}
	for n, f := range e.psps {
		var pays int
		for _, c := range f.Calls()[before[n]:] {
			if _, ok := c.(*upiv1.InitiatePayRequest); ok {
				pays++
			}
		}
		assert.Zero(t, pays, "%s was asked to pay for a refused payment", n)
	}
}

func TestLiteOfflinePayBothDevices(t *testing.T) {
	e, _ := newLiteEnv(t)
	lrn := e.enable(t, "alice@alpha", "alice-phone", 50_000).GetLrn()
	e.setOnline(t, "alice-phone", false)
	e.setOnline(t, "chai-pos", false)
	calls := len(e.psps["alphapsp"].Calls()) + len(e.psps["betapsp"].Calls())
	res, err := e.x.PayLite(t.Context(), &upiv1.PayLiteRequest{DeviceId: "alice-phone",
		Intent: "upi://pay?pa=chai@beta&am=45.00&tr=ORD7", PayeeDeviceId: "chai-pos"})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_PENDING, res.GetStatus())
	assert.Regexp(t, `^P\d{11}$`, res.GetProvisionalUtr())
	assert.NotEmpty(t, res.GetTxnId())
	assert.Equal(t, int64(45_500), res.GetDeviceBalancePaise())
	assert.Equal(t, calls, len(e.psps["alphapsp"].Calls())+len(e.psps["betapsp"].Calls()), "no message leaves the devices")

	w := e.wallet(t, "alice-phone")
	require.Len(t, w.GetUnsynced(), 1)
	sent := w.GetUnsynced()[0]
	assert.Equal(t, dirSent, sent.GetDirection())
	rec := sent.GetRecord()
	assert.Equal(t, lrn, rec.GetLrn())
	assert.Equal(t, "ORD7", rec.GetOrderId())
	assert.Equal(t, "chai@beta", rec.GetPayeeAddr())
	assert.Equal(t, int64(45_500), rec.GetDeviceBalancePaise())
	assert.True(t, lite.VerifyRecord(e.devicePub(t, "alice-phone"), rec), "signed with the device key")
	assert.Equal(t, int32(1), w.GetOfflineSinceSync())
	pos := e.wallet(t, "chai-pos")
	require.Len(t, pos.GetUnsynced(), 1)
	assert.Equal(t, dirReceived, pos.GetUnsynced()[0].GetDirection())
	assert.True(t, proto.Equal(rec, pos.GetUnsynced()[0].GetRecord()))

	_, err = e.x.PayLite(t.Context(), &upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "bob@beta", PayeeDeviceId: "chai-pos", AmountPaise: 5})
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "chai-pos is not bob's")
	_, err = e.x.PayLite(t.Context(), &upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "bob@beta", PayeeDeviceId: "ghost", AmountPaise: 5})
	assert.Equal(t, codes.NotFound, status.Code(err))
}

func TestLiteOnlinePayerSyncsAtOnce(t *testing.T) {
	e, ln := newLiteEnv(t)
	lrn := e.enable(t, "alice@alpha", "alice-phone", 50_000).GetLrn()
	e.setOnline(t, "chai-pos", false)
	res, err := e.x.PayLite(t.Context(), &upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "chai@beta", PayeeDeviceId: "chai-pos", AmountPaise: 1_000, WaitMs: waitLong})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_SUCCESS, res.GetStatus(), "the payer's own sync answered it")
	assert.Equal(t, int64(49_000), ln.balance(lrn))
	assert.Equal(t, int64(49_000), res.GetDeviceBalancePaise())
	assert.Len(t, callsOf[*upiv1.SyncLiteRequest](e.psps["alphapsp"]), 1)
	assert.Empty(t, callsOf[*upiv1.SyncLiteRequest](e.psps["betapsp"]), "the offline POS does not sync")
	assert.Len(t, e.wallet(t, "chai-pos").GetUnsynced(), 1, "devices learn only from their own syncs")
}

func TestLiteSyncAppliesResults(t *testing.T) {
	e, ln := newLiteEnv(t)
	lrn := e.enable(t, "alice@alpha", "alice-phone", 50_000).GetLrn()
	e.setOnline(t, "alice-phone", false)
	e.setOnline(t, "chai-pos", false)
	for range 3 {
		_, err := e.x.PayLite(t.Context(), &upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "chai@beta", PayeeDeviceId: "chai-pos", AmountPaise: 1_000})
		require.NoError(t, err)
	}
	assert.Equal(t, int64(47_000), e.wallet(t, "alice-phone").GetDeviceBalancePaise())
	ln.syncResult = func(r *upiv1.LiteRecord) (upiv1.Resp_Result, string) {
		switch r.GetCounter() {
		case 1:
			return upiv1.Resp_SUCCESS, ""
		case 2:
			return upiv1.Resp_FAILURE, upi.CodeLiteCryptogram
		}
		return upiv1.Resp_PENDING, ""
	}
	s := e.setOnline(t, "alice-phone", true)
	assert.Equal(t, upiv1.Resp_SUCCESS, s.GetStatus())
	assert.Len(t, s.GetSynced(), 3)
	syncs := callsOf[*upiv1.SyncLiteRequest](e.psps["alphapsp"])
	require.Len(t, syncs, 1)
	assert.Equal(t, s.GetTxnId(), syncs[0].GetTxnId())
	assert.Equal(t, lrn, syncs[0].GetLrn())
	assert.Equal(t, "alice@alpha", syncs[0].GetUserVpa())
	assert.Equal(t, int64(47_000), syncs[0].GetDeviceBalancePaise())
	assert.Len(t, syncs[0].GetRecords(), 3)

	w := s.GetWallet()
	require.Len(t, w.GetSynced(), 2)
	assert.Equal(t, upiv1.Resp_SUCCESS, w.GetSynced()[0].GetStatus())
	assert.Equal(t, "612300000001", w.GetSynced()[0].GetUtr())
	assert.Equal(t, upiv1.Resp_FAILURE, w.GetSynced()[1].GetStatus())
	assert.Equal(t, upi.CodeLiteCryptogram, w.GetSynced()[1].GetErrCode())
	require.Len(t, w.GetUnsynced(), 1)
	assert.Equal(t, uint64(3), w.GetUnsynced()[0].GetRecord().GetCounter())
	// Re-based: the LRN's 49,000 less the 1,000 still unsynced; the
	// failed record's money is back.
	assert.Equal(t, int64(49_000), w.GetReportedBalancePaise())
	assert.Equal(t, int64(48_000), w.GetDeviceBalancePaise())
	assert.Equal(t, int32(3), w.GetOfflineSinceSync(), "a SENT record is not answered yet")

	ln.syncResult = nil
	s, err := e.x.SyncLite(t.Context(), &upiv1.TpapAppServiceSyncLiteRequest{DeviceId: "alice-phone", WaitMs: waitLong})
	require.NoError(t, err)
	assert.Empty(t, s.GetWallet().GetUnsynced())
	assert.Equal(t, int32(0), s.GetWallet().GetOfflineSinceSync())
	assert.Equal(t, int64(48_000), s.GetWallet().GetDeviceBalancePaise())
	assert.Equal(t, ln.balance(lrn), s.GetWallet().GetDeviceBalancePaise())

	// An empty sync still asks for the balance.
	s, err = e.x.SyncLite(t.Context(), &upiv1.TpapAppServiceSyncLiteRequest{DeviceId: "alice-phone", WaitMs: waitLong})
	require.NoError(t, err)
	assert.NotEmpty(t, s.GetTxnId())
	assert.Len(t, callsOf[*upiv1.SyncLiteRequest](e.psps["alphapsp"]), 3)

	// The payee's device learned nothing from alice's syncs; a LITE_SYNC
	// that answers no batch of its is only kept as a notification.
	assert.Len(t, e.wallet(t, "chai-pos").GetUnsynced(), 3)
	e.notify(t, "betapsp", &upiv1.Notification{Txn: &upiv1.Txn{Id: syncs[0].GetTxnId()}, Kind: upiv1.Notification_LITE_SYNC, UserAddr: "chai@beta",
		Lite: &upiv1.RespLiteSync{Results: []*upiv1.LiteRecordResult{{Lrn: lrn, Counter: 3, Result: upiv1.Resp_SUCCESS}}}})
	assert.Len(t, e.wallet(t, "chai-pos").GetUnsynced(), 3)
}

func TestLiteSyncUnansweredIsPending(t *testing.T) {
	e, ln := newLiteEnv(t)
	e.enable(t, "alice@alpha", "alice-phone", 50_000)
	ln.hold = true
	s, err := e.x.SyncLite(t.Context(), &upiv1.TpapAppServiceSyncLiteRequest{DeviceId: "alice-phone", WaitMs: 10})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_PENDING, s.GetStatus())
	e.setOnline(t, "alice-phone", false)
	_, err = e.x.SyncLite(t.Context(), &upiv1.TpapAppServiceSyncLiteRequest{DeviceId: "alice-phone"})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err))
}

func TestLiteMerchantDeviceReportsAttempts(t *testing.T) {
	type got struct {
		path, auth, key, ctype string
		body                   map[string]any
	}
	posts := make(chan got, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		posts <- got{r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), r.Header.Get("Content-Type"), m}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	e, _ := newLiteEnv(t)
	u, _ := url.Parse(srv.URL)
	e.net.TLS = config.TLSOff
	beta, _ := e.net.NodeByName("betapsp")
	beta.HTTPAddr = u.Host

	e.enable(t, "alice@alpha", "alice-phone", 50_000)
	e.setOnline(t, "alice-phone", false)
	e.setOnline(t, "chai-pos", false)
	res, err := e.x.PayLite(t.Context(), &upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "chai@beta", PayeeDeviceId: "chai-pos", AmountPaise: 15_000, RefId: "order_1"})
	require.NoError(t, err)
	// One without an order is not reported.
	_, err = e.x.PayLite(t.Context(), &upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "chai@beta", PayeeDeviceId: "chai-pos", AmountPaise: 100})
	require.NoError(t, err)

	s := e.setOnline(t, "chai-pos", true)
	assert.Equal(t, upiv1.Resp_SUCCESS, s.GetStatus())
	select {
	case p := <-posts:
		assert.Equal(t, "/upi-attempts", p.path)
		assert.Equal(t, "Bearer "+e.net.Merchants[0].APIKey, p.auth)
		assert.Equal(t, res.GetProvisionalUtr(), p.key)
		assert.Equal(t, "application/json", p.ctype)
		assert.Equal(t, map[string]any{"order_id": "order_1", "device_id": "chai-pos", "method": "upi_lite",
			"declared_amount_cents": float64(15_000), "payer_vpa": "alice@alpha", "utr": res.GetProvisionalUtr()}, p.body)
	case <-time.After(10 * time.Second):
		t.Fatal("no POST /upi-attempts")
	}
	nodetest.Quiesce(t, e.n)
	select {
	case p := <-posts:
		t.Fatalf("a second post: %v", p)
	default:
	}
	syncs := callsOf[*upiv1.SyncLiteRequest](e.psps["betapsp"])
	require.Len(t, syncs, 1)
	assert.Equal(t, "chai@beta", syncs[0].GetUserVpa())
	assert.Empty(t, syncs[0].GetLrn(), "a receive-only device has no LRN")
	assert.Len(t, syncs[0].GetRecords(), 2)
	assert.Empty(t, s.GetWallet().GetUnsynced())
	assert.True(t, s.GetWallet().GetSynced()[0].GetReported())
}

func TestLiteDisable(t *testing.T) {
	e, ln := newLiteEnv(t)
	lrn := e.enable(t, "alice@alpha", "alice-phone", 50_000).GetLrn()
	e.setOnline(t, "chai-pos", false)
	e.setOnline(t, "alice-phone", false)
	_, err := e.x.PayLite(t.Context(), &upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "chai@beta", PayeeDeviceId: "chai-pos", AmountPaise: 1_000})
	require.NoError(t, err)
	_, err = e.x.DisableLite(t.Context(), &upiv1.TpapAppServiceDisableLiteRequest{DeviceId: "alice-phone"})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err))
	assert.Contains(t, status.Convert(err).Message(), upi.CodeLiteUnsynced)

	e.setOnline(t, "alice-phone", true) // syncs
	res, err := e.x.DisableLite(t.Context(), &upiv1.TpapAppServiceDisableLiteRequest{DeviceId: "alice-phone", WaitMs: waitLong})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_SUCCESS, res.GetStatus(), "%v", res)
	assert.Equal(t, upiv1.LiteState_LITE_DISABLED, res.GetWallet().GetState())
	assert.Zero(t, res.GetDeviceBalancePaise())
	assert.Zero(t, ln.balance(lrn))
	pays := callsOf[*upiv1.InitiatePayRequest](e.psps["alphapsp"])
	p := pays[len(pays)-1]
	assert.Equal(t, lite.PurposeDisable, p.GetPurpose())
	assert.Equal(t, int64(49_000), p.GetAmountPaise(), "the whole balance")
	assert.True(t, lite.ARQC{TxnID: p.GetTxnId(), LRN: lrn, Counter: p.GetLite().GetCounter(), AmountPaise: 49_000,
		Payee: "alice@alpha", DeviceBalance: 49_000}.Verify(e.devicePub(t, "alice-phone"), p.GetLite().GetArqc()))
	assert.Empty(t, callsOf[*upiv1.DisableLiteRequest](e.psps["alphapsp"]))

	// At zero: transfer out, then 50.
	lrn2 := e.enable(t, "alice@alpha", "alice-tab", 2_000).GetLrn()
	out, err := e.x.TransferOutLite(t.Context(), &upiv1.TransferOutLiteRequest{DeviceId: "alice-tab", AmountPaise: 2_000, WaitMs: waitLong})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_SUCCESS, out.GetStatus())
	assert.Zero(t, out.GetDeviceBalancePaise())
	pays = callsOf[*upiv1.InitiatePayRequest](e.psps["alphapsp"])
	assert.Equal(t, lite.PurposeTransferOut, pays[len(pays)-1].GetPurpose())
	assert.Nil(t, pays[len(pays)-1].GetCred())
	res, err = e.x.DisableLite(t.Context(), &upiv1.TpapAppServiceDisableLiteRequest{DeviceId: "alice-tab", WaitMs: waitLong})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_SUCCESS, res.GetStatus())
	assert.Equal(t, upiv1.LiteState_LITE_DISABLED, res.GetWallet().GetState())
	dis := callsOf[*upiv1.DisableLiteRequest](e.psps["alphapsp"])
	require.Len(t, dis, 1)
	assert.Equal(t, lrn2, dis[0].GetLrn())
	assert.Equal(t, "alice-tab", dis[0].GetDeviceId())

	// The switch refuses a zero-balance disable of an LRN with money (LZ).
	lrn3 := e.enable(t, "alice@alpha", "alice-watch", 2_000).GetLrn()
	ln.mu.Lock()
	ln.lrns[lrn3] = 2_000
	ln.mu.Unlock()
	require.NoError(t, e.n.Update(func(c *node.Ctx) error {
		d, _, err := liteDevices.Get(c.Tx, "alice-watch")
		require.NoError(t, err)
		d.BalancePaise = 0 // a stale device
		return liteDevices.Put(c.Tx, "alice-watch", d)
	}))
	res, err = e.x.DisableLite(t.Context(), &upiv1.TpapAppServiceDisableLiteRequest{DeviceId: "alice-watch", WaitMs: waitLong})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_FAILURE, res.GetStatus())
	assert.Equal(t, upi.CodeLiteNotZero, res.GetErrCode())
	assert.Equal(t, upiv1.LiteState_LITE_ACTIVE, res.GetWallet().GetState())
}

func TestLiteDevicesSeededAndListed(t *testing.T) {
	e, _ := newLiteEnv(t)
	w := e.wallet(t, "chai-pos")
	assert.Equal(t, "chai@beta", w.GetVpa())
	assert.Equal(t, upiv1.LiteState_LITE_RECEIVE_ONLY, w.GetState())
	assert.True(t, w.GetOnline())
	lim := e.net.Lite.At(e.n.Now())
	assert.Equal(t, lim.PerTxn, w.GetPerTxnLimitPaise())
	assert.Equal(t, lim.Balance, w.GetBalanceLimitPaise())
	assert.Equal(t, lim.OfflinePerTxn, w.GetOfflinePerTxnLimitPaise())
	assert.Equal(t, int32(lim.OfflineCount), w.GetOfflineLimit())

	// Seeding again leaves a known device as it is.
	e.setOnline(t, "chai-pos", false)
	require.NoError(t, e.x.Seed())
	assert.False(t, e.wallet(t, "chai-pos").GetOnline())

	_, err := e.x.AddLiteDevice(t.Context(), &upiv1.AddLiteDeviceRequest{DeviceId: "chai-pos", Vpa: "chai@beta"})
	assert.Equal(t, codes.AlreadyExists, status.Code(err))
	_, err = e.x.AddLiteDevice(t.Context(), &upiv1.AddLiteDeviceRequest{DeviceId: "pos-2", Vpa: "nobody@beta"})
	assert.Equal(t, codes.NotFound, status.Code(err))
	_, err = e.x.AddLiteDevice(t.Context(), &upiv1.AddLiteDeviceRequest{DeviceId: "bad id", Vpa: "bob@beta"})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	added, err := e.x.AddLiteDevice(t.Context(), &upiv1.AddLiteDeviceRequest{DeviceId: "bob-pos", Vpa: "bob@beta"})
	require.NoError(t, err)
	assert.Equal(t, upiv1.LiteState_LITE_RECEIVE_ONLY, added.GetState())

	lrn := e.enable(t, "alice@alpha", "alice-phone", 50_000).GetLrn()
	e.setOnline(t, "alice-phone", false)
	_, err = e.x.PayLite(t.Context(), &upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "bob@beta", PayeeDeviceId: "bob-pos", AmountPaise: 700})
	require.NoError(t, err)

	ws, err := e.x.ListLiteWallets(t.Context(), &upiv1.ListLiteWalletsRequest{Vpa: "bob@beta"})
	require.NoError(t, err)
	require.Len(t, ws.GetWallets(), 1)
	assert.Equal(t, "bob-pos", ws.GetWallets()[0].GetDeviceId())
	all, err := e.x.ListLiteWallets(t.Context(), &upiv1.ListLiteWalletsRequest{})
	require.NoError(t, err)
	assert.Len(t, all.GetWallets(), 3)

	accts, err := e.x.ListLite("", true)
	require.NoError(t, err)
	require.Len(t, accts, 1, "only devices with an LRN")
	a := accts[0]
	assert.Equal(t, lrn, a.GetLrn())
	assert.Equal(t, "tpap", a.GetNode())
	assert.Equal(t, "alice@alpha", a.GetVpa())
	assert.Equal(t, "alice-phone", a.GetDeviceId())
	assert.Equal(t, "abank", a.GetBank())
	assert.Equal(t, "ACTIVE", a.GetState())
	assert.Equal(t, int64(49_300), a.GetBalancePaise())
	assert.Equal(t, int64(700), a.GetUnsyncedPaise())
	assert.Equal(t, int32(1), a.GetUnsyncedRecords())
	assert.Equal(t, int64(50_000), a.GetDeviceReportedPaise())
	assert.Equal(t, uint64(1), a.GetCounter())
	require.Len(t, a.GetRecords(), 1)
	assert.Equal(t, upiv1.Resp_PENDING, a.GetRecords()[0].GetResult())
	none, err := e.x.ListLite("LRN-none", false)
	require.NoError(t, err)
	assert.Empty(t, none)
}

// TestLiteDeviceRoundTrip: a device with every field set reads back as
// it was stored (recordtest cannot fill the uint64 counters).
func TestLiteDeviceRoundTrip(t *testing.T) {
	e, _ := newLiteEnv(t)
	rec := &upiv1.LiteRecord{Lrn: "LRN1", DeviceId: "d1", Counter: 7, ProvisionalUtr: "P00000000001", PayerAddr: "alice@alpha",
		PayeeAddr: "chai@beta", AmountPaise: 100, Ts: timestamppb.New(e.n.Now()), OrderId: "o", Signature: []byte{1, 2},
		PayeeDeviceId: "chai-pos", DeviceBalancePaise: 9}
	d := &liteDevice{DeviceId: "d1", Vpa: "alice@alpha", Psp: "alphapsp", Lrn: "LRN1", State: upiv1.LiteState_LITE_ACTIVE.String(),
		Offline: true, BalancePaise: 9, ReportedBalancePaise: 10, ReportedAt: 11, Counter: 7, OfflineSinceSync: 2,
		Unsynced: []*liteRecord{{Record: rec, Direction: dirSent, Status: "PENDING", TxnId: "TPA0123"}},
		Synced:   []*liteRecord{{Record: rec, Direction: dirReceived, Status: "SUCCESS", Utr: "612300000001", ErrCode: "x", Reported: true}},
		Pending: []*litePending{{TxnId: "ALP1", Kind: kindSync, AmountPaise: 3, Counter: 4, BalanceBefore: 5, Payee: "bob@beta",
			Created: 6, Result: "SUCCESS", ErrCode: "y", Rrn: "z", Done: true, Results: []*upiv1.LiteRecordResult{{Lrn: "LRN1", Counter: 7}}}},
		LastSync: 12, Created: 13, Updated: 14, Untrusted: true, UntrustedReason: "why"}
	require.NoError(t, e.n.Update(func(c *node.Ctx) error { return liteDevices.Put(c.Tx, "d1", d) }))
	var got *liteDevice
	require.NoError(t, e.n.View(func(tx *store.Tx) (err error) {
		got, _, err = liteDevices.Get(tx, "d1")
		return err
	}))
	assert.True(t, proto.Equal(d, got), "%v\n%v", d, got)
}
