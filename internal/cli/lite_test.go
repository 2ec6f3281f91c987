package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/audit"
	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
)

// liteTPAP is a TPAP's app API that answers the Lite calls with what the
// test set, and keeps the requests.
type liteTPAP struct {
	upiv1.UnimplementedTpapAppServiceServer
	mu     sync.Mutex
	result *upiv1.LiteResult
	sync   *upiv1.LiteSyncResult
	wallet *upiv1.LiteWallet
	// payment is GetPayment's answer (NotFound when nil).
	payment *upiv1.GetPaymentResponse
	err     error
	got     []any
}

func (f *liteTPAP) answer(req any) (*upiv1.LiteResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, req)
	return f.result, f.err
}

func (f *liteTPAP) last() any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got[len(f.got)-1]
}

func (f *liteTPAP) EnableLite(_ context.Context, r *upiv1.EnableLiteRequest) (*upiv1.LiteResult, error) {
	return f.answer(r)
}
func (f *liteTPAP) TopUpLite(_ context.Context, r *upiv1.TopUpLiteRequest) (*upiv1.LiteResult, error) {
	return f.answer(r)
}
func (f *liteTPAP) PayLite(_ context.Context, r *upiv1.PayLiteRequest) (*upiv1.LiteResult, error) {
	return f.answer(r)
}
func (f *liteTPAP) TransferOutLite(_ context.Context, r *upiv1.TransferOutLiteRequest) (*upiv1.LiteResult, error) {
	return f.answer(r)
}
func (f *liteTPAP) DisableLite(_ context.Context, r *upiv1.TpapAppServiceDisableLiteRequest) (*upiv1.LiteResult, error) {
	return f.answer(r)
}
func (f *liteTPAP) SetLiteOnline(_ context.Context, r *upiv1.SetLiteOnlineRequest) (*upiv1.LiteSyncResult, error) {
	_, err := f.answer(r)
	return f.sync, err
}
func (f *liteTPAP) SyncLite(_ context.Context, r *upiv1.TpapAppServiceSyncLiteRequest) (*upiv1.LiteSyncResult, error) {
	_, err := f.answer(r)
	return f.sync, err
}
func (f *liteTPAP) GetPayment(_ context.Context, r *upiv1.GetPaymentRequest) (*upiv1.GetPaymentResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.payment == nil {
		return nil, status.Error(codes.NotFound, "no such payment")
	}
	return f.payment, nil
}

func (f *liteTPAP) GetLiteWallet(_ context.Context, r *upiv1.GetLiteWalletRequest) (*upiv1.LiteWallet, error) {
	_, err := f.answer(r)
	return f.wallet, err
}
func (f *liteTPAP) ListLiteWallets(_ context.Context, r *upiv1.ListLiteWalletsRequest) (*upiv1.ListLiteWalletsResponse, error) {
	_, err := f.answer(r)
	return &upiv1.ListLiteWalletsResponse{Wallets: []*upiv1.LiteWallet{f.wallet}}, err
}
func (f *liteTPAP) AddLiteDevice(_ context.Context, r *upiv1.AddLiteDeviceRequest) (*upiv1.LiteWallet, error) {
	_, err := f.answer(r)
	return f.wallet, err
}

// liteAdmin is a node's AdminService listing accts and accounts.
type liteAdmin struct {
	upiv1.UnimplementedAdminServiceServer
	accts    []*upiv1.LiteAccount
	accounts []*upiv1.AccountBalance
	// The switch's reconciliation reports (lite_recon_test.go).
	recons []*upiv1.LiteRecon
}

func (a *liteAdmin) ListLiteAccounts(_ context.Context, r *upiv1.ListLiteAccountsRequest) (*upiv1.ListLiteAccountsResponse, error) {
	out := &upiv1.ListLiteAccountsResponse{}
	for _, la := range a.accts {
		if r.GetLrn() == "" || la.GetLrn() == r.GetLrn() {
			out.Accounts = append(out.Accounts, la)
		}
	}
	return out, nil
}

func (a *liteAdmin) ListAccounts(context.Context, *upiv1.ListAccountsRequest) (*upiv1.ListAccountsResponse, error) {
	return &upiv1.ListAccountsResponse{Accounts: a.accounts}, nil
}

// liteNet serves tp as the TPAP and admins (npci, abank, bbank, tpap) on
// loopback ports and writes a network.json naming them: the data folder.
func liteNet(t *testing.T, tp *liteTPAP, admins map[string]*liteAdmin) string {
	t.Helper()
	roles := map[string]string{"npci": config.RoleSwitch, "abank": config.RoleBank, "bbank": config.RoleBank, "tpap": config.RoleTPAP}
	var nodes []config.NodeAddr
	for _, name := range []string{"npci", "abank", "bbank", "tpap"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		s := grpc.NewServer()
		a := admins[name]
		if a == nil {
			a = &liteAdmin{}
		}
		upiv1.RegisterAdminServiceServer(s, a)
		if name == "tpap" {
			upiv1.RegisterTpapAppServiceServer(s, tp)
		}
		go func() { _ = s.Serve(l) }()
		t.Cleanup(s.Stop)
		nodes = append(nodes, config.NodeAddr{Name: name, Role: roles[name], GRPCAddr: l.Addr().String(), HTTPAddr: l.Addr().String()})
	}
	data := t.TempDir()
	require.NoError(t, config.WriteDirectory(data, config.Directory{Network: "default", Nodes: nodes}))
	require.NoError(t, os.WriteFile(filepath.Join(data, cluster.AdminTokenFile), []byte("0123456789abcdef0123456789abcdef\n"), 0o600))
	return data
}

func jsonKeys(t *testing.T, b []byte) map[string]any {
	t.Helper()
	m := map[string]any{}
	require.NoError(t, json.Unmarshal(b, &m), string(b))
	return m
}

func TestLiteArgumentErrors(t *testing.T) {
	data := t.TempDir() // no network: each error comes before any call
	ctx := t.Context()
	var w bytes.Buffer
	for name, call := range map[string]func() error{
		"missing PIN: pass --pin": func() error {
			_, err := LiteEnable(ctx, &w, LiteEnableOptions{DataDir: data, VPA: "alice@alpha", DeviceID: "alice-phone", Amount: "500.00"})
			return err
		},
		"--vpa": func() error {
			_, err := LiteEnable(ctx, &w, LiteEnableOptions{DataDir: data, VPA: "alice", DeviceID: "alice-phone", Amount: "500.00", PIN: "1234"})
			return err
		},
		"missing device: pass --device": func() error {
			_, err := LiteTopUp(ctx, &w, LiteTopUpOptions{DataDir: data, Amount: "1.00", PIN: "1234"})
			return err
		},
		"--amount": func() error {
			_, err := LiteTopUp(ctx, &w, LiteTopUpOptions{DataDir: data, DeviceID: "alice-phone", Amount: "ten", PIN: "1234"})
			return err
		},
		"missing amount: pass --amount": func() error {
			_, err := LiteTransferOut(ctx, &w, LiteTransferOutOptions{DataDir: data, DeviceID: "alice-phone"})
			return err
		},
		"missing payee: pass --to (or --intent)": func() error {
			_, err := LitePay(ctx, &w, LitePayOptions{DataDir: data, DeviceID: "alice-phone", Amount: "1.00"})
			return err
		},
		"--intent": func() error {
			_, err := LitePay(ctx, &w, LitePayOptions{DataDir: data, DeviceID: "alice-phone", Intent: "http://x"})
			return err
		},
		"--to-device alice-phone is the paying device": func() error {
			_, err := LitePay(ctx, &w, LitePayOptions{DataDir: data, DeviceID: "alice-phone", To: "chai@beta", Amount: "1.00", ToDevice: "alice-phone"})
			return err
		},
		"--to chai@beta and the intent's payee (pa) bob@beta differ": func() error {
			_, err := LitePay(ctx, &w, LitePayOptions{DataDir: data, DeviceID: "alice-phone", To: "chai@beta", Intent: "upi://pay?pa=bob@beta&am=1.00"})
			return err
		},
		"missing device: pass --device ": func() error {
			_, err := LiteOnline(ctx, &w, LiteDeviceOptions{DataDir: data})
			return err
		},
	} {
		err := call()
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), strings.TrimSpace(name))
		assert.Equal(t, ExitError, ExitCode(err), name)
	}
	assert.Empty(t, w.String(), "nothing printed")
}

func TestLitePayOnlineAndOffline(t *testing.T) {
	tp := &liteTPAP{result: &upiv1.LiteResult{TxnId: "ALP1", Status: upiv1.Resp_SUCCESS, Rrn: "512345678901", Lrn: "LRN1", DeviceBalancePaise: 35000}}
	data := liteNet(t, tp, nil)

	var out bytes.Buffer
	r, err := LitePay(t.Context(), &out, LitePayOptions{DataDir: data, DeviceID: "alice-phone", To: "chai@beta", Amount: "150.00", Output: JSON})
	require.NoError(t, err)
	m := jsonKeys(t, out.Bytes())
	assert.Equal(t, "ALP1", m["txn_id"])
	assert.Equal(t, "SUCCESS", m["status"])
	assert.Equal(t, "512345678901", m["rrn"])
	assert.NotContains(t, m, "provisional_utr", "an online payment has its RRN")
	assert.Equal(t, 35000.0, m["device_balance_paise"])
	assert.NoError(t, LiteOutcome(r))
	req := tp.last().(*upiv1.PayLiteRequest)
	assert.Equal(t, "alice-phone", req.GetDeviceId())
	assert.Equal(t, "chai@beta", req.GetPayeeVpa())
	assert.Equal(t, int64(15000), req.GetAmountPaise())
	assert.Empty(t, req.GetPayeeDeviceId())
	assert.Equal(t, int32(60000), req.GetWaitMs(), "waits a minute by default")

	tp.result = &upiv1.LiteResult{TxnId: "ALP2", Status: upiv1.Resp_PENDING, ProvisionalUtr: "P12345678901", Lrn: "LRN1", DeviceBalancePaise: 20000}
	out.Reset()
	r, err = LitePay(t.Context(), &out, LitePayOptions{DataDir: data, DeviceID: "alice-phone", To: "chai@beta", ToDevice: "chai-pos", Amount: "150.00", Output: JSON})
	require.NoError(t, err)
	m = jsonKeys(t, out.Bytes())
	assert.Equal(t, "PENDING", m["status"])
	assert.Equal(t, "P12345678901", m["provisional_utr"])
	assert.NotContains(t, m, "rrn")
	assert.NoError(t, LiteOutcome(r), "an offline payment's PENDING is its normal outcome: exit 0")
	assert.Equal(t, "chai-pos", tp.last().(*upiv1.PayLiteRequest).GetPayeeDeviceId())

	// The merchant's QR: payee, amount and order from the intent.
	out.Reset()
	_, err = LitePay(t.Context(), &out, LitePayOptions{DataDir: data, DeviceID: "alice-phone", ToDevice: "chai-pos",
		Intent: "upi://pay?pa=chai@beta&pn=Chai&am=150.00&tr=ORD1", LiteWait: LiteWait{NoWait: true}})
	require.NoError(t, err)
	req = tp.last().(*upiv1.PayLiteRequest)
	assert.Equal(t, []any{"chai@beta", int64(15000), "ORD1", int32(0)}, []any{req.GetPayeeVpa(), req.GetAmountPaise(), req.GetRefId(), req.GetWaitMs()})
	assert.Contains(t, out.String(), "paying Chai <chai@beta> ₹150.00 for order ORD1")
	assert.Contains(t, out.String(), "provisional_utr")

	// A refusal on the device.
	tp.result = &upiv1.LiteResult{Status: upiv1.Resp_FAILURE, ErrCode: "Z9", Reason: "the wallet holds ₹50.00"}
	out.Reset()
	r, err = LitePay(t.Context(), &out, LitePayOptions{DataDir: data, DeviceID: "alice-phone", To: "chai@beta", Amount: "150.00"})
	require.NoError(t, err)
	assert.Contains(t, out.String(), "Z9 the wallet holds ₹50.00")
	err = LiteOutcome(r)
	assert.Equal(t, ExitFailure, ExitCode(err))
	assert.EqualError(t, err, "the Lite payment ended FAILURE (Z9 the wallet holds ₹50.00)")

	tp.err = status.Error(codes.FailedPrecondition, "device alice-phone holds records no sync answered (LU)")
	_, err = LiteDisable(t.Context(), &out, LiteDeviceOptions{DataDir: data, DeviceID: "alice-phone"})
	assert.EqualError(t, err, "device alice-phone holds records no sync answered (LU)")
	assert.Equal(t, ExitError, ExitCode(err))
}

func TestLiteOutcomeExitCodes(t *testing.T) {
	for _, c := range []struct {
		status  string
		offline bool
		code    int
	}{
		{"SUCCESS", false, ExitOK}, {"FAILURE", false, ExitFailure}, {"PENDING", false, ExitPending}, {"DEEMED", false, ExitPending},
		{"PENDING", true, ExitOK}, {"FAILURE", true, ExitFailure},
	} {
		assert.Equal(t, c.code, ExitCode(LiteOutcome(LiteTxnResult{TxnID: "ALP1", Status: c.status, Offline: c.offline})), "%s offline=%t", c.status, c.offline)
	}
	assert.Equal(t, ExitPending, ExitCode(LiteSyncOutcome(LiteSyncOut{TxnID: "ALP9", Status: "PENDING"})))
	assert.NoError(t, LiteSyncOutcome(LiteSyncOut{TxnID: "ALP9", Status: "SUCCESS"}))
	assert.NoError(t, LiteSyncOutcome(LiteSyncOut{Status: "-"}), "nothing to send")
}

func TestLiteEnableJSON(t *testing.T) {
	tp := &liteTPAP{result: &upiv1.LiteResult{TxnId: "ALP1", Status: upiv1.Resp_SUCCESS, Lrn: "LRN1", DeviceBalancePaise: 50000}}
	data := liteNet(t, tp, nil)
	var out bytes.Buffer
	r, err := LiteEnable(t.Context(), &out, LiteEnableOptions{DataDir: data, VPA: "alice@alpha", DeviceID: "alice-phone", Amount: "500.00", PIN: "1234", Output: JSON})
	require.NoError(t, err)
	m := jsonKeys(t, out.Bytes())
	assert.Equal(t, "LRN1", m["lrn"])
	assert.Equal(t, 50000.0, m["device_balance_paise"])
	assert.Equal(t, "ALP1", m["txn_id"])
	assert.Equal(t, "SUCCESS", m["status"])
	assert.NoError(t, LiteOutcome(r))
	req := tp.last().(*upiv1.EnableLiteRequest)
	assert.Equal(t, []any{"alice@alpha", "alice-phone", int64(50000), "1234"}, []any{req.GetVpa(), req.GetDeviceId(), req.GetAmountPaise(), req.GetPin()})

	out.Reset()
	_, err = LiteEnable(t.Context(), &out, LiteEnableOptions{DataDir: data, VPA: "alice@alpha", DeviceID: "alice-phone", Amount: "500.00", PIN: "1234"})
	require.NoError(t, err)
	assert.Contains(t, out.String(), "₹500.00", "text shows rupees")
}

func TestLiteOnlineSynced(t *testing.T) {
	tp := &liteTPAP{sync: &upiv1.LiteSyncResult{TxnId: "BET7", Status: upiv1.Resp_SUCCESS,
		Synced: []*upiv1.LiteRecordResult{
			{Counter: 3, ProvisionalUtr: "P00000000003", Result: upiv1.Resp_SUCCESS, Utr: "512345678903", AmountPaise: 15000, PayerAddr: "alice@alpha", PayeeAddr: "chai@beta"},
			{Counter: 4, ProvisionalUtr: "P00000000004", Result: upiv1.Resp_FAILURE, ErrCode: "LD", AmountPaise: 100},
		},
		Wallet: &upiv1.LiteWallet{DeviceId: "chai-pos", Online: true}}}
	data := liteNet(t, tp, nil)
	var out bytes.Buffer
	r, err := LiteOnline(t.Context(), &out, LiteDeviceOptions{DataDir: data, DeviceID: "chai-pos", Output: JSON})
	require.NoError(t, err)
	assert.NoError(t, LiteSyncOutcome(r))
	m := jsonKeys(t, out.Bytes())
	synced := m["synced"].([]any)
	require.Len(t, synced, 2)
	first := synced[0].(map[string]any)
	for k, v := range map[string]any{"provisional_utr": "P00000000003", "utr": "512345678903", "status": "SUCCESS", "err_code": ""} {
		assert.Equal(t, v, first[k], k)
	}
	assert.Equal(t, "LD", synced[1].(map[string]any)["err_code"])
	req := tp.last().(*upiv1.SetLiteOnlineRequest)
	assert.True(t, req.GetOnline())

	_, err = LiteOffline(t.Context(), &out, LiteDeviceOptions{DataDir: data, DeviceID: "chai-pos"})
	require.NoError(t, err)
	assert.False(t, tp.last().(*upiv1.SetLiteOnlineRequest).GetOnline())

	tp.sync = &upiv1.LiteSyncResult{TxnId: "BET8", Status: upiv1.Resp_PENDING}
	out.Reset()
	r, err = LiteSync(t.Context(), &out, LiteDeviceOptions{DataDir: data, DeviceID: "chai-pos"})
	require.NoError(t, err)
	assert.Equal(t, ExitPending, ExitCode(LiteSyncOutcome(r)), "the batch's answer did not come within the wait")
}

func TestLiteBalanceSideBySide(t *testing.T) {
	tp := &liteTPAP{wallet: &upiv1.LiteWallet{DeviceId: "alice-phone", Vpa: "alice@alpha", Lrn: "LRN1", State: upiv1.LiteState_LITE_ACTIVE, Online: false, DeviceBalancePaise: 20000,
		Unsynced: []*upiv1.LiteDeviceRecord{{Direction: "SENT", Status: upiv1.Resp_PENDING, Record: &upiv1.LiteRecord{Counter: 4, ProvisionalUtr: "P00000000004", AmountPaise: 15000, PayeeAddr: "chai@beta"}}}}}
	admins := map[string]*liteAdmin{
		"npci":  {accts: []*upiv1.LiteAccount{{Lrn: "LRN1", Bank: "abank", BalancePaise: 35000}}},
		"abank": {accts: []*upiv1.LiteAccount{{Lrn: "LRN1", Bank: "abank", BalancePaise: 35000}}},
	}
	data := liteNet(t, tp, admins)
	var out bytes.Buffer
	r, err := LiteBalance(t.Context(), &out, LiteDeviceOptions{DataDir: data, DeviceID: "alice-phone", Output: JSON})
	require.NoError(t, err)
	m := jsonKeys(t, out.Bytes())
	for k, v := range map[string]any{"lrn": "LRN1", "device_balance_paise": 20000.0, "bank_balance_paise": 35000.0, "switch_balance_paise": 35000.0, "bank": "abank", "state": "ACTIVE"} {
		assert.Equal(t, v, m[k], k)
	}
	unsynced := m["unsynced"].([]any)
	require.Len(t, unsynced, 1)
	assert.Equal(t, "P00000000004", unsynced[0].(map[string]any)["provisional_utr"])
	assert.Equal(t, "SENT", r.Unsynced[0].Direction)

	out.Reset()
	require.NoError(t, r.print(&out, Text))
	for _, want := range []string{"device wallet", "₹200.00", "bank (abank)", "₹350.00", "1 record(s), ₹150.00 sent", "P00000000004"} {
		assert.Contains(t, out.String(), want)
	}
}

func TestLiteReconcileJSON(t *testing.T) {
	lrn := &upiv1.LiteAccount{Lrn: "LRN1", Bank: "abank", Vpa: "alice@alpha", DeviceId: "alice-phone", State: "ACTIVE", BalancePaise: 35000}
	dev := &upiv1.LiteAccount{Lrn: "LRN1", Bank: "abank", Vpa: "alice@alpha", DeviceId: "alice-phone", State: "ACTIVE", BalancePaise: 20000, UnsyncedPaise: 15000, UnsyncedRecords: 1}
	admins := map[string]*liteAdmin{
		"npci":  {accts: []*upiv1.LiteAccount{lrn}},
		"abank": {accts: []*upiv1.LiteAccount{lrn}, accounts: []*upiv1.AccountBalance{{AcNum: "LITEPOOL", Kind: "LITE_POOL", BalancePaise: 35000}}},
		"tpap":  {accts: []*upiv1.LiteAccount{dev}},
	}
	data := liteNet(t, &liteTPAP{}, admins)
	var out bytes.Buffer
	r, err := LiteReconcile(t.Context(), &out, LiteReconcileOptions{DataDir: data, Bank: "abank", Output: JSON})
	require.NoError(t, err, "an unsynced record is money on its way")
	assert.True(t, r.OK)
	m := jsonKeys(t, out.Bytes())
	assert.Equal(t, true, m["ok"])
	mm := m["mismatches"].([]any)
	require.Len(t, mm, 1)
	first := mm[0].(map[string]any)
	for k, v := range map[string]any{"lrn": "LRN1", "kind": audit.LiteUnsynced, "device_balance_paise": 20000.0, "bank_balance_paise": 35000.0, "switch_balance_paise": 35000.0} {
		assert.Equal(t, v, first[k], k)
	}
	assert.NotEmpty(t, first["detail"])

	// The device lost an answer: not OK, exit 1.
	dev.UnsyncedPaise, dev.UnsyncedRecords = 0, 0
	out.Reset()
	r, err = LiteReconcile(t.Context(), &out, LiteReconcileOptions{DataDir: data})
	assert.EqualError(t, err, "reconcile found 1 mismatch that no money on its way explains")
	assert.Equal(t, ExitError, ExitCode(err))
	assert.False(t, r.OK)
	assert.Contains(t, out.String(), audit.LiteDeviceStale)
	assert.Contains(t, out.String(), "pool abank")

	_, err = LiteReconcile(t.Context(), &out, LiteReconcileOptions{DataDir: data, Bank: "zbank"})
	assert.ErrorContains(t, err, "--bank zbank: no such bank")
}

func TestLiteDevices(t *testing.T) {
	tp := &liteTPAP{wallet: &upiv1.LiteWallet{DeviceId: "chai-pos", Vpa: "chai@beta", State: upiv1.LiteState_LITE_RECEIVE_ONLY, Online: true}}
	data := liteNet(t, tp, nil)
	var out bytes.Buffer
	w, err := LiteDeviceAdd(t.Context(), &out, LiteDeviceAddOptions{DataDir: data, VPA: "chai@beta", DeviceID: "chai-pos", Output: JSON})
	require.NoError(t, err)
	assert.Equal(t, "RECEIVE_ONLY", w.State)
	assert.Equal(t, "chai@beta", tp.last().(*upiv1.AddLiteDeviceRequest).GetVpa())
	out.Reset()
	d, err := LiteDevices(t.Context(), &out, LiteDevicesOptions{DataDir: data, VPA: "chai@beta"})
	require.NoError(t, err)
	require.Len(t, d.Devices, 1)
	assert.Contains(t, out.String(), "chai-pos")
	assert.Contains(t, out.String(), "RECEIVE_ONLY")
	_, err = LiteDevices(t.Context(), &out, LiteDevicesOptions{DataDir: data, VPA: "nope"})
	assert.ErrorContains(t, err, "--vpa")
}

// An online payment the TPAP answered PENDING is waited for as pay waits,
// and the wallet read again.
func TestLitePayWaitsPastThePendingAnswer(t *testing.T) {
	tp := &liteTPAP{result: &upiv1.LiteResult{TxnId: "ALP1", Status: upiv1.Resp_PENDING, Lrn: "LRN1", DeviceBalancePaise: 50000},
		payment: &upiv1.GetPaymentResponse{Status: upiv1.Resp_SUCCESS, Rrn: "512345678901"},
		wallet:  &upiv1.LiteWallet{DeviceId: "alice-phone", Lrn: "LRN1", DeviceBalancePaise: 35000}}
	data := liteNet(t, tp, nil)
	var out bytes.Buffer
	r, err := LitePay(t.Context(), &out, LitePayOptions{DataDir: data, DeviceID: "alice-phone", To: "chai@beta", Amount: "150.00"})
	require.NoError(t, err)
	assert.Equal(t, LiteTxnResult{TxnID: "ALP1", Status: "SUCCESS", RRN: "512345678901", LRN: "LRN1", DeviceBalancePaise: 35000}, r)
	assert.NoError(t, LiteOutcome(r))

	// A TPAP that does not list Lite payments with the others: its answer stands.
	tp.payment = nil
	r, err = LitePay(t.Context(), &out, LitePayOptions{DataDir: data, DeviceID: "alice-phone", To: "chai@beta", Amount: "150.00"})
	require.NoError(t, err)
	assert.Equal(t, "PENDING", r.Status)
	assert.Equal(t, ExitPending, ExitCode(LiteOutcome(r)))
}
