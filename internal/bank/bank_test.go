package bank_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/bank"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/keys"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	pinblock "github.com/upisim/upisim/internal/pin"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	aliceAc = "1000000001"
	bobAc   = "2000000001"
	carolAc = "2000000002"
	respPay = upiv1.SwitchService_RespPay_FullMethodName
)

// testKeys are the banks' keys in these tests: PIN blocks are sealed to
// them (testSeal).
var testKeys = func() map[string]*keys.Keys {
	out := map[string]*keys.Keys{}
	for _, name := range []string{"abank", "bbank"} {
		k, err := keys.Generate(name, time.Now())
		if err != nil {
			panic(err)
		}
		out[name] = k
	}
	return out
}()

// testSeal is the PIN block of pinValue for txnID at ts, sealed to the
// bank of ifsc (abank unless it is bbank's).
func testSeal(ifsc, pinValue, txnID string, ts time.Time) *upiv1.Cred {
	k := testKeys["abank"]
	if strings.HasPrefix(ifsc, "BBNK") {
		k = testKeys["bbank"]
	}
	c, err := pinblock.Seal(k.HPKE.PublicKey(), k.KeyID(), pinValue, txnID, ts)
	if err != nil {
		panic(err)
	}
	return c
}

type bankNode struct {
	t   *testing.T
	b   *bank.Bank
	n   *node.Node
	rec *nodetest.Recorder
}

// newBank runs the bank called name of the default network, seeded; each
// opt changes its node's config (nodetest.WithClock).
func newBank(t *testing.T, name string, opts ...func(*node.Config)) *bankNode {
	t.Helper()
	net := config.Default()
	net.PIN.HashTime, net.PIN.HashMemoryKiB = 1, 64 // cheap hashes for tests
	self, ok := net.NodeByName(name)
	require.True(t, ok)
	b := bank.New(bank.Config{Network: net, Self: self})
	b.SetKeys(testKeys[name])
	rec := nodetest.NewRecorder()
	n := nodetest.New(t, name, b, rec, opts...)
	b.Attach(n)
	require.NoError(t, b.Seed())
	bn := &bankNode{t: t, b: b, n: n, rec: rec}
	total := bn.total()
	t.Cleanup(func() { assert.Equal(t, total, bn.total(), "%s: money was created or destroyed", name) })
	return bn
}

func (bn *bankNode) total() int64 {
	bn.t.Helper()
	l, err := bn.b.ListAccounts()
	require.NoError(bn.t, err)
	return l.GetTotalPaise()
}

func (bn *bankNode) balance(vpa string) int64 {
	bn.t.Helper()
	r, err := bn.b.Balance(vpa)
	require.NoError(bn.t, err)
	return r.GetBalancePaise()
}

func (bn *bankNode) send(method string, m node.Message) string {
	bn.t.Helper()
	ack, err := bn.n.Receive(bn.t.Context(), method, m)
	require.NoError(bn.t, err)
	return ack.GetErr()
}

// respPay waits for the n-th RespPay for txnID.
func (bn *bankNode) respPay(txnID string, n int) *upiv1.RespPay {
	bn.t.Helper()
	require.Eventually(bn.t, func() bool { return bn.rec.Count(respPay, txnID) >= n }, 5*time.Second, 5*time.Millisecond)
	var out []*upiv1.RespPay
	for _, s := range bn.rec.All() {
		if s.Method == respPay && s.Msg.GetTxn().GetId() == txnID {
			out = append(out, s.Msg.(*upiv1.RespPay))
		}
	}
	return out[n-1]
}

func (bn *bankNode) state(txnID string) string {
	bn.t.Helper()
	r, err := bn.b.InspectTxn(txnID)
	require.NoError(bn.t, err)
	return r.GetState()
}

func debit(txnID, payer, acNum, ifsc string, amount int64) *upiv1.ReqPay {
	return &upiv1.ReqPay{
		Head: nodetest.Head("npci", "NPC"),
		Txn:  &upiv1.Txn{Id: txnID, Type: upiv1.Txn_DEBIT, CustRef: "512345000003"},
		Payer: &upiv1.Party{
			Addr: payer, Ac: &upiv1.Account{AcNum: acNum, Ifsc: ifsc}, AmountPaise: amount,
			Creds: []*upiv1.Cred{testSeal(ifsc, "1234", txnID, time.Now())},
		},
	}
}

func credit(txnID, payee, acNum, ifsc string, amount int64) *upiv1.ReqPay {
	return &upiv1.ReqPay{
		Head:  nodetest.Head("npci", "NPC"),
		Txn:   &upiv1.Txn{Id: txnID, Type: upiv1.Txn_CREDIT, CustRef: "512345000003"},
		Payee: &upiv1.Party{Addr: payee, Ac: &upiv1.Account{AcNum: acNum, Ifsc: ifsc}, AmountPaise: amount},
	}
}

func reversal(txnID string) *upiv1.ReqPay {
	return &upiv1.ReqPay{Head: nodetest.Head("npci", "NPC"), Txn: &upiv1.Txn{Id: txnID, Type: upiv1.Txn_REVERSAL, OrgTxnId: txnID}}
}

func TestSeed(t *testing.T) {
	bb := newBank(t, "bbank")
	l, err := bb.b.ListAccounts()
	require.NoError(t, err)
	var got []*upiv1.AccountBalance
	got = append(got, l.GetAccounts()...)
	want := []*upiv1.AccountBalance{
		{AcNum: bobAc, Ifsc: "BBNK0000001", Vpa: "bob@beta", Name: "Bob", Kind: "CUSTOMER", BalancePaise: 500_000},
		{AcNum: carolAc, Ifsc: "BBNK0000001", Vpa: "carol@beta", Name: "Carol", Kind: "CUSTOMER", BalancePaise: 100_000},
		{AcNum: "2000000003", Ifsc: "BBNK0000001", Vpa: "chai@beta", Name: "Chai Point", Kind: "CUSTOMER"},
		// The magic merchants.
		{AcNum: "2000000004", Ifsc: "BBNK0000001", Vpa: "deemedshop@beta", Name: "Deemed Shop", Kind: "CUSTOMER"},
		{AcNum: "2000000005", Ifsc: "BBNK0000001", Vpa: "lostshop@beta", Name: "Lost Shop", Kind: "CUSTOMER"},
		// The default network's magic payees (config/default.yaml).
		{AcNum: "2000000901", Ifsc: "BBNK0000001", Vpa: "creditfail@beta", Name: "Credit Fail", Kind: "CUSTOMER"},
		{AcNum: "2000000902", Ifsc: "BBNK0000001", Vpa: "deemed@beta", Name: "Deemed", Kind: "CUSTOMER"},
		{AcNum: "2000000903", Ifsc: "BBNK0000001", Vpa: "lost@beta", Name: "Lost", Kind: "CUSTOMER"},
		{AcNum: "2000000904", Ifsc: "BBNK0000001", Vpa: "slowdebit@beta", Name: "Slow Debit", Kind: "CUSTOMER"},
		{AcNum: "2000000905", Ifsc: "BBNK0000001", Vpa: "twice@beta", Name: "Twice", Kind: "CUSTOMER"},
		// And its magic secondaries of UPI Circle links.
		{AcNum: "2000000906", Ifsc: "BBNK0000001", Vpa: "declines@beta", Name: "Declines", Kind: "CUSTOMER"},
		{AcNum: "2000000907", Ifsc: "BBNK0000001", Vpa: "silent@beta", Name: "Silent", Kind: "CUSTOMER"},
		// The Lite pool: the sum of the LRNs' balances.
		{AcNum: "LITEPOOL", Ifsc: "BBNK0000001", Name: "bbank Lite pool", Kind: "LITE_POOL"},
		{AcNum: "SETTLEMENT-BBNK0000001", Ifsc: "BBNK0000001", Name: "bbank settlement", Kind: "SETTLEMENT"},
	}
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, want[i].String(), got[i].String())
	}
	assert.Equal(t, int64(600_000), l.GetTotalPaise())
	assert.Equal(t, "SETTLEMENT-BBNK0000001", bb.b.SettlementAccount())

	// Seeding again (a restart) keeps the balances as they are.
	txn := ids.NewTxnID("BET")
	require.Empty(t, bb.send(upiv1.RemitterService_ReqPay_FullMethodName, debit(txn, "bob@beta", bobAc, "BBNK0000001", 1000)))
	bb.respPay(txn, 1)
	require.NoError(t, bb.b.Seed())
	assert.Equal(t, int64(499_000), bb.balance("bob@beta"))
	assert.Equal(t, int64(600_000), bb.total())
}

func TestPayAcrossBanks(t *testing.T) {
	ab, bb := newBank(t, "abank"), newBank(t, "bbank")
	total := ab.total() + bb.total()
	txn := ids.NewTxnID("ALP")

	require.Empty(t, ab.send(upiv1.RemitterService_ReqPay_FullMethodName, debit(txn, "alice@alpha", aliceAc, "ABNK0000001", 25_000)))
	require.Equal(t, upiv1.Resp_SUCCESS, ab.respPay(txn, 1).GetResp().GetResult())
	require.Empty(t, bb.send(upiv1.BeneficiaryService_ReqPay_FullMethodName, credit(txn, "bob@beta", bobAc, "BBNK0000001", 25_000)))
	require.Equal(t, upiv1.Resp_SUCCESS, bb.respPay(txn, 1).GetResp().GetResult())

	assert.Equal(t, int64(1_000_000-25_000), ab.balance("alice@alpha"))
	assert.Equal(t, int64(500_000+25_000), bb.balance("bob@beta"))
	assert.Equal(t, total, ab.total()+bb.total())
	assert.Equal(t, "DEBITED", ab.state(txn))
	assert.Equal(t, "CREDITED", bb.state(txn))

	r, err := ab.b.InspectTxn(txn)
	require.NoError(t, err)
	assert.Equal(t, "abank", r.GetNode())
	tr := r.GetTransaction()
	assert.Equal(t, txn, tr.GetTxnId())
	assert.Equal(t, upiv1.Txn_DEBIT, tr.GetType())
	assert.Equal(t, upiv1.Resp_SUCCESS, tr.GetStatus())
	assert.Equal(t, "512345000003", tr.GetRrn())
	assert.Equal(t, "alice@alpha", tr.GetPayerVpa())
	assert.Equal(t, int64(25_000), tr.GetAmountPaise())
}

func TestCreditFailsAndDebitIsReversed(t *testing.T) {
	ab, bb := newBank(t, "abank"), newBank(t, "bbank")
	total := ab.total() + bb.total()
	txn := ids.NewTxnID("ALP")

	require.Empty(t, ab.send(upiv1.RemitterService_ReqPay_FullMethodName, debit(txn, "alice@alpha", aliceAc, "ABNK0000001", 25_000)))
	ab.respPay(txn, 1)
	require.Empty(t, bb.send(upiv1.BeneficiaryService_ReqPay_FullMethodName, credit(txn, "ghost@beta", "2999999999", "BBNK0000001", 25_000)))
	assert.Equal(t, "U31", bb.respPay(txn, 1).GetResp().GetErrCode())
	require.Empty(t, ab.send(upiv1.RemitterService_ReqPay_FullMethodName, reversal(txn)))
	assert.Equal(t, "00", ab.respPay(txn, 2).GetResp().GetRefs()[0].GetReversalRespCode())

	assert.Equal(t, int64(1_000_000), ab.balance("alice@alpha"))
	assert.Equal(t, total, ab.total()+bb.total())
	assert.Equal(t, "DEBITED+REVERSED", ab.state(txn))
	assert.Equal(t, "CREDIT_FAILED", bb.state(txn))
}

func TestOnUsPayment(t *testing.T) {
	bb := newBank(t, "bbank")
	total := bb.total()
	txn := ids.NewTxnID("BET")
	require.Empty(t, bb.send(upiv1.RemitterService_ReqPay_FullMethodName, debit(txn, "bob@beta", bobAc, "BBNK0000001", 10_000)))
	require.Equal(t, upiv1.Resp_SUCCESS, bb.respPay(txn, 1).GetResp().GetResult())
	require.Empty(t, bb.send(upiv1.BeneficiaryService_ReqPay_FullMethodName, credit(txn, "carol@beta", carolAc, "BBNK0000001", 10_000)))
	require.Equal(t, upiv1.Resp_SUCCESS, bb.respPay(txn, 2).GetResp().GetResult())

	assert.Equal(t, int64(490_000), bb.balance("bob@beta"))
	assert.Equal(t, int64(110_000), bb.balance("carol@beta"))
	assert.Equal(t, total, bb.total())
	r, err := bb.b.InspectTxn(txn)
	require.NoError(t, err)
	assert.Equal(t, "DEBITED+CREDITED", r.GetState())
	assert.Equal(t, upiv1.Txn_CREDIT, r.GetTransaction().GetType())
	assert.Equal(t, "bob@beta", r.GetTransaction().GetPayerVpa())
	assert.Equal(t, "carol@beta", r.GetTransaction().GetPayeeVpa())

	l, err := bb.b.ListAccounts()
	require.NoError(t, err)
	for _, a := range l.GetAccounts() {
		if a.GetKind() == "SETTLEMENT" {
			assert.Zero(t, a.GetBalancePaise(), "an on-us payment nets out in settlement")
		}
	}
}

func TestDeclinedDebitState(t *testing.T) {
	ab := newBank(t, "abank")
	txn := ids.NewTxnID("ALP")
	m := debit(txn, "alice@alpha", aliceAc, "ABNK0000001", 25_000)
	m.Payer.Creds[0] = testSeal("ABNK0000001", "0000", txn, time.Now())
	require.Empty(t, ab.send(upiv1.RemitterService_ReqPay_FullMethodName, m))
	ab.respPay(txn, 1)
	require.Empty(t, ab.send(upiv1.RemitterService_ReqPay_FullMethodName, reversal(txn)))
	ab.respPay(txn, 2)
	r, err := ab.b.InspectTxn(txn)
	require.NoError(t, err)
	assert.Equal(t, "DEBIT_FAILED+NOTHING_TO_REVERSE", r.GetState())
	assert.Equal(t, int64(1_000_000), ab.balance("alice@alpha"))
}

func TestValidate(t *testing.T) {
	ab := newBank(t, "abank")
	txn := ids.NewTxnID("ALP")
	fromPSP := debit(txn, "alice@alpha", aliceAc, "ABNK0000001", 100)
	fromPSP.Head = nodetest.Head("alphapsp", "ALP")
	for _, tc := range []struct {
		name   string
		method string
		msg    node.Message
		want   string
	}{
		{"not from the switch", upiv1.RemitterService_ReqPay_FullMethodName, fromPSP, "only from the switch npci"},
		{"a switch method", upiv1.SwitchService_ReqPay_FullMethodName, debit(txn, "alice@alpha", aliceAc, "ABNK0000001", 100), "does not take /upi.v1.SwitchService/ReqPay"},
		{"zero amount", upiv1.RemitterService_ReqPay_FullMethodName, debit(txn, "alice@alpha", aliceAc, "ABNK0000001", 0), "amount_paise > 0"},
		{"credit without payee", upiv1.BeneficiaryService_ReqPay_FullMethodName, &upiv1.ReqPay{Head: nodetest.Head("npci", "NPC"), Txn: &upiv1.Txn{Id: txn, Type: upiv1.Txn_CREDIT}}, "needs payee"},
		{"mandate without a UMN", upiv1.RemitterService_ReqMandate_FullMethodName, &upiv1.ReqMandate{Head: nodetest.Head("npci", "NPC"), Txn: &upiv1.Txn{Id: txn, Type: upiv1.Txn_CREATE}}, "ReqMandate needs mandate.umn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Contains(t, ab.send(tc.method, tc.msg), tc.want)
		})
	}
	assert.Equal(t, int64(1_000_000), ab.balance("alice@alpha"))
	_, err := ab.b.InspectTxn(txn)
	assert.Equal(t, codes.NotFound, status.Code(err))
}

func TestAdmin(t *testing.T) {
	ab := newBank(t, "abank")
	admin := &node.AdminServer{Node: ab.n, Role: config.RoleBank, Impl: ab.b}
	ctx := t.Context()

	bal, err := admin.GetBalance(ctx, &upiv1.GetBalanceRequest{Vpa: "Alice@Alpha"})
	require.NoError(t, err)
	assert.Equal(t, "alice@alpha", bal.GetVpa())
	assert.Equal(t, aliceAc, bal.GetAcNum())
	assert.Equal(t, "ABNK0000001", bal.GetIfsc())
	assert.Equal(t, int64(1_000_000), bal.GetBalancePaise())

	_, err = admin.GetBalance(ctx, &upiv1.GetBalanceRequest{Vpa: "bob@beta"})
	assert.Equal(t, codes.NotFound, status.Code(err), "bob banks elsewhere")
	_, err = admin.GetBalance(ctx, &upiv1.GetBalanceRequest{})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))

	l, err := admin.ListAccounts(ctx, &upiv1.ListAccountsRequest{})
	require.NoError(t, err)
	assert.Len(t, l.GetAccounts(), 4, "alice, nomandate@alpha (the magic primary whose mandates abank declines), the Lite pool and the settlement account")
	assert.Equal(t, int64(1_000_000), l.GetTotalPaise())

	_, err = admin.GetTransaction(ctx, &upiv1.GetTransactionRequest{TxnId: ids.NewTxnID("ALP")})
	assert.Equal(t, codes.NotFound, status.Code(err))
}

func TestRegister(t *testing.T) {
	ab := newBank(t, "abank")
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	ab.b.Register(srv)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	rem, ben := upiv1.NewRemitterServiceClient(conn), upiv1.NewBeneficiaryServiceClient(conn)
	ctx := t.Context()
	txn := ids.NewTxnID("ALP")

	ack, err := rem.ReqPay(ctx, debit(txn, "alice@alpha", aliceAc, "ABNK0000001", 100))
	require.NoError(t, err)
	assert.Empty(t, ack.GetErr())
	assert.Equal(t, "ReqPay", ack.GetApi())
	assert.Equal(t, upiv1.Resp_SUCCESS, ab.respPay(txn, 1).GetResp().GetResult())

	ack, err = rem.ReqChkTxn(ctx, &upiv1.ReqChkTxn{Head: nodetest.Head("npci", "NPC"), Txn: &upiv1.Txn{Id: txn, Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_DEBIT}})
	require.NoError(t, err)
	assert.Empty(t, ack.GetErr())

	ack, err = ben.ReqChkTxn(ctx, &upiv1.ReqChkTxn{Head: nodetest.Head("npci", "NPC"), Txn: &upiv1.Txn{Id: txn, Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_CREDIT}})
	require.NoError(t, err)
	assert.Empty(t, ack.GetErr())
	require.Eventually(t, func() bool { return ab.rec.Count(upiv1.SwitchService_RespChkTxn_FullMethodName, txn) == 2 }, 5*time.Second, 5*time.Millisecond)

	// A CREDIT after a status check found none is declined (see
	// beneficiary.credit); a fresh transaction is credited.
	ack, err = ben.ReqPay(ctx, credit(txn, "alice@alpha", aliceAc, "ABNK0000001", 100))
	require.NoError(t, err)
	assert.Empty(t, ack.GetErr())
	assert.Equal(t, "U31", ab.respPay(txn, 2).GetResp().GetErrCode())
	txn2 := ids.NewTxnID("ALP")
	ack, err = ben.ReqPay(ctx, credit(txn2, "alice@alpha", aliceAc, "ABNK0000001", 100))
	require.NoError(t, err)
	assert.Empty(t, ack.GetErr())
	assert.Equal(t, upiv1.Resp_SUCCESS, ab.respPay(txn2, 1).GetResp().GetResult())

	ack, err = rem.ReqLiteSync(ctx, &upiv1.ReqLiteSync{Head: nodetest.Head("npci", "NPC"), Txn: &upiv1.Txn{Id: txn, Type: upiv1.Txn_LITE_SYNC}})
	require.NoError(t, err)
	assert.Contains(t, ack.GetErr(), "ReqLiteSync needs records", "an empty batch is refused in the Ack")
	ack, err = rem.ReqMandate(ctx, &upiv1.ReqMandate{Head: nodetest.Head("npci", "NPC"), Txn: &upiv1.Txn{Id: txn, Type: upiv1.Txn_CREATE}})
	require.NoError(t, err)
	assert.Contains(t, ack.GetErr(), "ReqMandate needs mandate.umn")
}

func TestNewPanicsOnNonBank(t *testing.T) {
	net := config.Default()
	psp, _ := net.NodeByName("alphapsp")
	assert.Panics(t, func() { bank.New(bank.Config{Network: net, Self: psp}) })
	assert.Panics(t, func() { bank.New(bank.Config{}) })
}

func TestNotAttached(t *testing.T) {
	net := config.Default()
	self, _ := net.NodeByName("abank")
	b := bank.New(bank.Config{Network: net, Self: self})
	require.Error(t, b.Seed())
	_, err := b.Balance("alice@alpha")
	assert.Equal(t, codes.Unavailable, status.Code(err))
}
