package remitter_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/keys"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/pin"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/remitter"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bankKeys are abank's keys in every fixture: PIN blocks are sealed to
// them and its hashes peppered with them.
var bankKeys = func() *keys.Keys {
	k, err := keys.Generate("abank", time.Now())
	if err != nil {
		panic(err)
	}
	return k
}()

const (
	ifsc     = "ABNK0000001"
	aliceAc  = "1000000001"
	alicePIN = "1234"
	settle   = "SETTLEMENT-ABNK0000001"
	opening  = int64(1_000_000) // alice's ₹10,000.00
	respPay  = upiv1.SwitchService_RespPay_FullMethodName
	respChk  = upiv1.SwitchService_RespChkTxn_FullMethodName
	reqPay   = upiv1.RemitterService_ReqPay_FullMethodName
	reqChk   = upiv1.RemitterService_ReqChkTxn_FullMethodName
)

// handler runs the remitter alone on a node: its routes, and its Prepare.
type handler struct {
	*node.Table
	*remitter.Remitter
}

func newHandler(net *config.Network, r *remitter.Remitter) handler {
	return handler{node.NewTable(node.Routes{
		Who: "bank", Services: []*grpc.ServiceDesc{&upiv1.RemitterService_ServiceDesc},
		Peers:  node.Directory{Network: net.Name, Roles: net.RolesByName(), Sole: config.RoleSwitch},
		Routes: r.Routes(),
	}), r}
}

type fixture struct {
	t     *testing.T
	n     *node.Node
	rec   *nodetest.Recorder
	total int64
}

// newFixture runs the remitter of abank of the default network, its ledger
// seeded with the settlement account and abank's customers.
func newFixture(t *testing.T) *fixture { return newFixtureWith(t, bankKeys.Pepper) }

// newFixtureWith is newFixture with the customers' hashes peppered with
// pepper (none when nil: hashes of an older version).
func newFixtureWith(t *testing.T, pepper []byte, opts ...func(*node.Config)) *fixture {
	t.Helper()
	net := config.Default()
	self, ok := net.NodeByName("abank")
	require.True(t, ok)
	net.PIN.HashTime, net.PIN.HashMemoryKiB = 1, 64 // cheap hashes for tests
	custs := map[string]*remitter.Customer{}
	for _, a := range net.AccountsOfBank("abank") {
		if a.PIN != "" {
			c, err := remitter.NewCustomer(net, pepper, a.PIN, a.Mobile)
			require.NoError(t, err)
			custs[a.Number] = c
		}
	}
	rec := nodetest.NewRecorder()
	n := nodetest.New(t, "abank", newHandler(net, remitter.New(remitter.Config{Network: net, Self: self, Keys: bankKeys})), rec, opts...)
	require.NoError(t, n.Update(func(c *node.Ctx) error {
		if err := ledger.Open(c.Tx, &ledger.Account{AcNum: settle, Ifsc: ifsc, Kind: ledger.KindSettlement}); err != nil {
			return err
		}
		for _, a := range net.AccountsOfBank("abank") {
			if err := ledger.Open(c.Tx, &ledger.Account{AcNum: a.Number, Ifsc: ifsc, Vpa: a.VPA, Name: a.Name, Kind: ledger.KindCustomer, BalancePaise: a.Balance}); err != nil {
				return err
			}
			cust, ok := custs[a.Number]
			if !ok {
				cust = &remitter.Customer{}
			}
			if err := remitter.PutCustomer(c.Tx, a.Number, cust); err != nil {
				return err
			}
		}
		return nil
	}))
	f := &fixture{t: t, n: n, rec: rec}
	f.total = f.sum()
	require.Equal(t, opening, f.balance(aliceAc))
	t.Cleanup(func() { assert.Equal(t, f.total, f.sum(), "money was created or destroyed") })
	return f
}

func (f *fixture) sum() int64 {
	var s int64
	require.NoError(f.t, f.n.View(func(tx *store.Tx) (err error) { s, err = ledger.Total(tx); return err }))
	return s
}

func (f *fixture) balance(ac string) int64 {
	var a *ledger.Account
	require.NoError(f.t, f.n.View(func(tx *store.Tx) (err error) { a, err = ledger.Get(tx, ac); return err }))
	return a.BalancePaise
}

// send delivers m as the switch would and returns the Ack's err.
func (f *fixture) send(method string, m node.Message) string {
	f.t.Helper()
	ack, err := f.n.Receive(f.t.Context(), method, m)
	require.NoError(f.t, err)
	return ack.GetErr()
}

// answers waits for the n-th message sent on method for txnID and returns
// all of them.
func (f *fixture) answers(method, txnID string, n int) []nodetest.Sent {
	f.t.Helper()
	require.Eventually(f.t, func() bool { return f.rec.Count(method, txnID) >= n }, 5*time.Second, 5*time.Millisecond)
	var out []nodetest.Sent
	for _, s := range f.rec.All() {
		if s.Method == method && s.Msg.GetTxn().GetId() == txnID {
			out = append(out, s)
		}
	}
	return out
}

func (f *fixture) respPay(txnID string, n int) *upiv1.RespPay {
	f.t.Helper()
	s := f.answers(respPay, txnID, n)[n-1]
	assert.Equal(f.t, "npci", s.To)
	return s.Msg.(*upiv1.RespPay)
}

func debit(txnID, acNum, acIFSC, pin string, amount int64) *upiv1.ReqPay {
	return &upiv1.ReqPay{
		Head: nodetest.Head("npci", "NPC"),
		Txn:  &upiv1.Txn{Id: txnID, Type: upiv1.Txn_DEBIT, CustRef: "512345000001", Note: "tea"},
		Payer: &upiv1.Party{
			Addr: "alice@alpha", Name: "Alice", Ac: &upiv1.Account{AcNum: acNum, Ifsc: acIFSC},
			Creds:       []*upiv1.Cred{sealed(pin, txnID, time.Now())},
			AmountPaise: amount,
		},
		Payee: &upiv1.Party{Addr: "bob@beta", Name: "Bob"},
	}
}

// sealed is the PIN block of pinValue for txnID at ts, to abank's key.
func sealed(pinValue, txnID string, ts time.Time) *upiv1.Cred {
	c, err := pin.Seal(bankKeys.HPKE.PublicKey(), bankKeys.KeyID(), pinValue, txnID, ts)
	if err != nil {
		panic(err)
	}
	return c
}

func reversal(txnID string) *upiv1.ReqPay {
	return &upiv1.ReqPay{
		Head:  nodetest.Head("npci", "NPC"),
		Txn:   &upiv1.Txn{Id: txnID, Type: upiv1.Txn_REVERSAL, OrgTxnId: txnID},
		Payer: &upiv1.Party{Addr: "alice@alpha", Ac: &upiv1.Account{AcNum: aliceAc, Ifsc: ifsc}, AmountPaise: 2500},
	}
}

func chk(txnID string, leg upiv1.Txn_Type) *upiv1.ReqChkTxn {
	return &upiv1.ReqChkTxn{
		Head: nodetest.Head("npci", "NPC"),
		Txn:  &upiv1.Txn{Id: txnID, Type: upiv1.Txn_CHK_STATUS, OrgTxnId: txnID, SubType: leg},
	}
}

func TestDebit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ac, ifsc string
		pin      string
		amount   int64
		code     string
	}{
		{"success", aliceAc, ifsc, alicePIN, 2500, ""},
		{"whole balance", aliceAc, ifsc, alicePIN, opening, ""},
		{"wrong PIN", aliceAc, ifsc, "9999", 2500, "ZM"},
		{"over the per-txn limit", aliceAc, ifsc, alicePIN, 10_000_001, "Z8"},
		{"insufficient funds", aliceAc, ifsc, alicePIN, opening + 1, "Z9"},
		{"no such account", "1000000099", ifsc, alicePIN, 2500, "U30"},
		{"other bank's IFSC", aliceAc, "BBNK0000001", alicePIN, 2500, "U30"},
		{"settlement account", settle, ifsc, alicePIN, 2500, "U30"},
		{"IFSC in lower case", aliceAc, "abnk0000001", alicePIN, 2500, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			txn := ids.NewTxnID("ALP")
			req := debit(txn, tc.ac, tc.ifsc, tc.pin, tc.amount)
			require.Empty(t, f.send(reqPay, req))

			resp := f.respPay(txn, 1)
			assert.Equal(t, upiv1.Txn_DEBIT, resp.GetTxn().GetType())
			assert.Equal(t, "512345000001", resp.GetTxn().GetCustRef())
			assert.Equal(t, req.GetHead().GetMsgId(), resp.GetResp().GetReqMsgId())
			require.Len(t, resp.GetResp().GetRefs(), 1)
			ref := resp.GetResp().GetRefs()[0]
			assert.Equal(t, "PAYER", ref.GetType())
			assert.Equal(t, "alice@alpha", ref.GetAddr())
			assert.Equal(t, tc.ac, ref.GetAc().GetAcNum())
			if tc.code == "" {
				assert.Equal(t, upiv1.Resp_SUCCESS, resp.GetResp().GetResult())
				assert.Empty(t, resp.GetResp().GetErrCode())
				assert.Equal(t, "00", ref.GetRespCode())
				assert.Regexp(t, `^\d{6}$`, ref.GetApprovalNum())
				assert.Equal(t, tc.amount, ref.GetSettAmountPaise())
				assert.Equal(t, opening-tc.amount, f.balance(aliceAc))
				assert.Equal(t, tc.amount, f.balance(settle))
			} else {
				assert.Equal(t, upiv1.Resp_FAILURE, resp.GetResp().GetResult())
				assert.Equal(t, tc.code, resp.GetResp().GetErrCode())
				assert.Equal(t, tc.code, ref.GetRespCode())
				assert.Empty(t, ref.GetApprovalNum())
				assert.Zero(t, ref.GetSettAmountPaise())
				assert.Equal(t, opening, f.balance(aliceAc))
				assert.Zero(t, f.balance(settle))
			}
		})
	}
}

// A PIN block the remitter cannot open, or may not take, declines the
// DEBIT before the PIN is looked at: U14 for one made for another
// transaction, to another key, tampered, of version 1, or outside the
// time window; U01 for one opened before. None counts as a wrong PIN try,
// and nothing is posted.
func TestDebitBadPINBlock(t *testing.T) {
	other := pintest.Keys(t, "abank")
	for _, tc := range []struct {
		name string
		cred func(txn string) *upiv1.Cred
		code string
	}{
		{"another transaction's", func(string) *upiv1.Cred { return sealed(alicePIN, ids.NewTxnID("ALP"), time.Now()) }, "U14"},
		{"to another key", func(txn string) *upiv1.Cred { return pintest.Seal(t, other, alicePIN, txn, time.Now()) }, "U14"},
		{"to another bank", func(txn string) *upiv1.Cred {
			return pintest.Seal(t, pintest.Keys(t, "bbank"), alicePIN, txn, time.Now())
		}, "U14"},
		{"tampered", func(txn string) *upiv1.Cred {
			c := sealed(alicePIN, txn, time.Now())
			c.Data = c.Data[:10] + string(rune('A'+(c.Data[10]-'A'+1)%26)) + c.Data[11:]
			return c
		}, "U14"},
		{"version 1", func(txn string) *upiv1.Cred {
			return &upiv1.Cred{Type: "PIN", SubType: "MPIN", Data: "01" + strings.Repeat("ab", 32)}
		}, "U14"},
		{"stale", func(txn string) *upiv1.Cred { return sealed(alicePIN, txn, time.Now().Add(-pin.Window-time.Minute)) }, "U14"},
		{"from the future", func(txn string) *upiv1.Cred { return sealed(alicePIN, txn, time.Now().Add(pin.Window+time.Minute)) }, "U14"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			txn := ids.NewTxnID("ALP")
			req := debit(txn, aliceAc, ifsc, alicePIN, 2500)
			req.Payer.Creds[0] = tc.cred(txn)
			require.Empty(t, f.send(reqPay, req))
			assert.Equal(t, tc.code, f.respPay(txn, 1).GetResp().GetErrCode())
			assert.Equal(t, opening, f.balance(aliceAc), "nothing posted")
			assert.Zero(t, f.customer(aliceAc).GetPinTries(), "not a wrong PIN try")
		})
	}
}

// A block opened before is refused U01. A repeat of the DEBIT itself is
// answered from the ledger's record before its block is looked at, so the
// replay is a block taken into another DEBIT with the same txn id (a flow
// of another kind may share it): here, the digest is there already.
func TestDebitReplayedPINBlock(t *testing.T) {
	f := newFixture(t)
	txn := ids.NewTxnID("ALP")
	req := debit(txn, aliceAc, ifsc, alicePIN, 2500)
	require.NoError(t, f.n.Update(func(c *node.Ctx) error {
		return c.Tx.Put(store.PINBlocks, remitter.SeenKey(req.Payer.Creds[0]), nil)
	}))
	require.Empty(t, f.send(reqPay, req))
	assert.Equal(t, "U01", f.respPay(txn, 1).GetResp().GetErrCode())
	assert.Equal(t, opening, f.balance(aliceAc), "nothing posted")
	assert.Zero(t, f.customer(aliceAc).GetPinTries(), "not a wrong PIN try")

	// A block used once is remembered: the payment that took it leaves
	// its digest behind.
	txn2 := ids.NewTxnID("ALP")
	req2 := debit(txn2, aliceAc, ifsc, alicePIN, 2500)
	require.Empty(t, f.send(reqPay, req2))
	assert.Empty(t, f.respPay(txn2, 1).GetResp().GetErrCode())
	require.NoError(t, f.n.View(func(tx *store.Tx) error {
		assert.True(t, tx.Has(store.PINBlocks, remitter.SeenKey(req2.Payer.Creds[0])))
		return nil
	}))
	f.send(reqPay, reversal(txn2)) // money back for the fixture's total
}

// An older unpeppered hash still verifies, and the right PIN makes it
// again with the pepper.
func TestDebitRehashesUnpepperedPIN(t *testing.T) {
	f := newFixtureWith(t, nil)
	require.False(t, pin.Peppered(f.customer(aliceAc).GetPinHash()))
	txn := ids.NewTxnID("ALP")
	require.Empty(t, f.send(reqPay, debit(txn, aliceAc, ifsc, alicePIN, 2500)))
	assert.Empty(t, f.respPay(txn, 1).GetResp().GetErrCode())
	h := f.customer(aliceAc).GetPinHash()
	assert.True(t, pin.Peppered(h), h)
	ok, err := pin.CheckHash(pin.Input(alicePIN, bankKeys.Pepper, h), h)
	require.NoError(t, err)
	assert.True(t, ok)
	txn2 := ids.NewTxnID("ALP")
	require.Empty(t, f.send(reqPay, debit(txn2, aliceAc, ifsc, "9999", 2500)))
	assert.Equal(t, "ZM", f.respPay(txn2, 1).GetResp().GetErrCode(), "a wrong PIN is still wrong")
	txn3 := ids.NewTxnID("ALP")
	require.Empty(t, f.send(reqPay, debit(txn3, aliceAc, ifsc, alicePIN, 2500)))
	assert.Empty(t, f.respPay(txn3, 1).GetResp().GetErrCode(), "the new hash verifies")
	f.send(reqPay, reversal(txn))
	f.send(reqPay, reversal(txn3))
}

func (f *fixture) customer(ac string) *remitter.Customer {
	f.t.Helper()
	var c *remitter.Customer
	require.NoError(f.t, f.n.View(func(tx *store.Tx) (err error) { c, _, err = remitter.GetCustomer(tx, ac); return err }))
	return c
}

func TestDebitRepeatedUnderNewMsgID(t *testing.T) {
	for _, tc := range []struct {
		name   string
		amount int64
		code   string
	}{
		{"success", 2500, ""},
		{"decline", opening + 1, "Z9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			txn := ids.NewTxnID("ALP")
			first := debit(txn, aliceAc, ifsc, alicePIN, tc.amount)
			require.Empty(t, f.send(reqPay, first))
			r1 := f.respPay(txn, 1)

			again := debit(txn, aliceAc, ifsc, alicePIN, tc.amount) // new msg_id
			require.NotEqual(t, first.GetHead().GetMsgId(), again.GetHead().GetMsgId())
			require.Empty(t, f.send(reqPay, again))
			r2 := f.respPay(txn, 2)

			assert.Equal(t, again.GetHead().GetMsgId(), r2.GetResp().GetReqMsgId())
			assert.Equal(t, r1.GetResp().GetResult(), r2.GetResp().GetResult())
			assert.Equal(t, tc.code, r2.GetResp().GetErrCode())
			assert.Equal(t, r1.GetResp().GetRefs()[0].GetApprovalNum(), r2.GetResp().GetRefs()[0].GetApprovalNum())
			if tc.code == "" {
				assert.Equal(t, opening-tc.amount, f.balance(aliceAc), "debited once")
			} else {
				assert.Equal(t, opening, f.balance(aliceAc))
			}
		})
	}
}

func TestDebitSameMsgIDTwice(t *testing.T) {
	f := newFixture(t)
	txn := ids.NewTxnID("ALP")
	req := debit(txn, aliceAc, ifsc, alicePIN, 2500)
	require.Empty(t, f.send(reqPay, req))
	f.respPay(txn, 1)
	require.Empty(t, f.send(reqPay, req)) // the runtime's dedup answers with the stored ack
	nodetest.Quiesce(t, f.n)              // all it sent is recorded
	assert.Equal(t, 1, f.rec.Count(respPay, txn), "the repeat is not handled again")
	assert.Equal(t, opening-2500, f.balance(aliceAc))
}

func TestDebitRepeatedWithOtherContentIsRefused(t *testing.T) {
	f := newFixture(t)
	txn := ids.NewTxnID("ALP")
	require.Empty(t, f.send(reqPay, debit(txn, aliceAc, ifsc, alicePIN, 2500)))
	f.respPay(txn, 1)
	assert.Contains(t, f.send(reqPay, debit(txn, aliceAc, ifsc, alicePIN, 9900)), "already debited")
	assert.Equal(t, opening-2500, f.balance(aliceAc))
}

func TestReversalAfterDebit(t *testing.T) {
	f := newFixture(t)
	txn := ids.NewTxnID("ALP")
	require.Empty(t, f.send(reqPay, debit(txn, aliceAc, ifsc, alicePIN, 2500)))
	f.respPay(txn, 1)
	require.Equal(t, opening-2500, f.balance(aliceAc))

	rev := reversal(txn)
	require.Empty(t, f.send(reqPay, rev))
	resp := f.respPay(txn, 2)
	assert.Equal(t, upiv1.Txn_REVERSAL, resp.GetTxn().GetType())
	assert.Equal(t, rev.GetHead().GetMsgId(), resp.GetResp().GetReqMsgId())
	assert.Equal(t, upiv1.Resp_SUCCESS, resp.GetResp().GetResult())
	ref := resp.GetResp().GetRefs()[0]
	assert.Equal(t, "PAYER", ref.GetType())
	assert.Equal(t, "00", ref.GetReversalRespCode())
	assert.Equal(t, int64(2500), ref.GetSettAmountPaise())
	assert.Equal(t, opening, f.balance(aliceAc))
	assert.Zero(t, f.balance(settle))

	// A repeated reversal is answered again and moves nothing.
	require.Empty(t, f.send(reqPay, reversal(txn)))
	again := f.respPay(txn, 3)
	assert.Equal(t, upiv1.Resp_SUCCESS, again.GetResp().GetResult())
	assert.Equal(t, "00", again.GetResp().GetRefs()[0].GetReversalRespCode())
	assert.Equal(t, ref.GetApprovalNum(), again.GetResp().GetRefs()[0].GetApprovalNum())
	assert.Equal(t, opening, f.balance(aliceAc))

	// And a repeated DEBIT does not take the money again.
	require.Empty(t, f.send(reqPay, debit(txn, aliceAc, ifsc, alicePIN, 2500)))
	assert.Equal(t, upiv1.Resp_SUCCESS, f.respPay(txn, 4).GetResp().GetResult())
	assert.Equal(t, opening, f.balance(aliceAc))
}

func TestReversalWithNewTxnIDNamesTheOriginal(t *testing.T) {
	f := newFixture(t)
	txn := ids.NewTxnID("ALP")
	require.Empty(t, f.send(reqPay, debit(txn, aliceAc, ifsc, alicePIN, 2500)))
	f.respPay(txn, 1)
	rev := reversal(txn)
	rev.Txn.Id = ids.NewTxnID("NPC")
	require.Empty(t, f.send(reqPay, rev))
	resp := f.respPay(rev.GetTxn().GetId(), 1)
	assert.Equal(t, txn, resp.GetTxn().GetOrgTxnId())
	assert.Equal(t, "00", resp.GetResp().GetRefs()[0].GetReversalRespCode())
	assert.Equal(t, opening, f.balance(aliceAc))
}

func TestReversalWithoutDebit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		debit int64 // 0: no DEBIT before the reversal
	}{
		{"no debit", 0},
		{"declined debit", opening + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			txn := ids.NewTxnID("ALP")
			n := 0
			if tc.debit > 0 {
				require.Empty(t, f.send(reqPay, debit(txn, aliceAc, ifsc, alicePIN, tc.debit)))
				n++
				require.Equal(t, upiv1.Resp_FAILURE, f.respPay(txn, n).GetResp().GetResult())
			}
			require.Empty(t, f.send(reqPay, reversal(txn)))
			n++
			resp := f.respPay(txn, n)
			assert.Equal(t, upiv1.Resp_SUCCESS, resp.GetResp().GetResult())
			assert.Empty(t, resp.GetResp().GetErrCode())
			assert.Equal(t, "NA", resp.GetResp().GetRefs()[0].GetReversalRespCode())
			assert.Zero(t, resp.GetResp().GetRefs()[0].GetSettAmountPaise())
			assert.Equal(t, opening, f.balance(aliceAc))
			assert.Zero(t, f.balance(settle))
		})
	}
}

func TestDebitAfterReversalIsDeclined(t *testing.T) {
	f := newFixture(t)
	txn := ids.NewTxnID("ALP")
	require.Empty(t, f.send(reqPay, reversal(txn)))
	f.respPay(txn, 1)
	// The DEBIT arrives late, after the switch gave up on it.
	require.Empty(t, f.send(reqPay, debit(txn, aliceAc, ifsc, alicePIN, 2500)))
	resp := f.respPay(txn, 2)
	assert.Equal(t, upiv1.Resp_FAILURE, resp.GetResp().GetResult())
	assert.Equal(t, "U30", resp.GetResp().GetErrCode())
	assert.Equal(t, opening, f.balance(aliceAc))
}

func TestChkTxn(t *testing.T) {
	f := newFixture(t)
	ok, declined, unknown := ids.NewTxnID("ALP"), ids.NewTxnID("ALP"), ids.NewTxnID("ALP")
	require.Empty(t, f.send(reqPay, debit(ok, aliceAc, ifsc, alicePIN, 2500)))
	approval := f.respPay(ok, 1).GetResp().GetRefs()[0].GetApprovalNum()
	require.Empty(t, f.send(reqPay, debit(declined, aliceAc, ifsc, "0000", 2500)))
	f.respPay(declined, 1)

	for _, tc := range []struct {
		name   string
		txn    string
		leg    upiv1.Txn_Type
		result upiv1.Resp_Result
		code   string
	}{
		{"debited", ok, upiv1.Txn_DEBIT, upiv1.Resp_SUCCESS, ""},
		{"sub_type unset means DEBIT", ok, upiv1.Txn_TYPE_UNSPECIFIED, upiv1.Resp_SUCCESS, ""},
		{"declined", declined, upiv1.Txn_DEBIT, upiv1.Resp_FAILURE, "ZM"},
		{"no reversal yet", ok, upiv1.Txn_REVERSAL, upiv1.Resp_FAILURE, "U48"},
		{"unknown txn", unknown, upiv1.Txn_DEBIT, upiv1.Resp_FAILURE, "U48"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := chk(tc.txn, tc.leg)
			before := f.rec.Count(respChk, tc.txn)
			require.Empty(t, f.send(reqChk, req))
			s := f.answers(respChk, tc.txn, before+1)[before]
			resp := s.Msg.(*upiv1.RespChkTxn)
			assert.Equal(t, "npci", s.To)
			assert.Equal(t, req.GetHead().GetMsgId(), resp.GetResp().GetReqMsgId())
			assert.Equal(t, tc.result, resp.GetResp().GetResult())
			assert.Equal(t, tc.code, resp.GetResp().GetErrCode())
			assert.Equal(t, tc.leg, resp.GetTxn().GetSubType())
			if tc.txn == ok && tc.code == "" {
				assert.Equal(t, approval, resp.GetResp().GetRefs()[0].GetApprovalNum())
			}
		})
	}

	// After a reversal, its leg answers too.
	require.Empty(t, f.send(reqPay, reversal(ok)))
	f.respPay(ok, 2)
	before := f.rec.Count(respChk, ok)
	require.Empty(t, f.send(reqChk, chk(ok, upiv1.Txn_REVERSAL)))
	resp := f.answers(respChk, ok, before+1)[before].Msg.(*upiv1.RespChkTxn)
	assert.Equal(t, upiv1.Resp_SUCCESS, resp.GetResp().GetResult())
	assert.Equal(t, "00", resp.GetResp().GetRefs()[0].GetReversalRespCode())
}

func TestValidate(t *testing.T) {
	f := newFixture(t)
	txn := ids.NewTxnID("ALP")
	mut := func(fn func(m *upiv1.ReqPay)) *upiv1.ReqPay {
		m := debit(txn, aliceAc, ifsc, alicePIN, 2500)
		fn(m)
		return m
	}
	for _, tc := range []struct {
		name   string
		method string
		msg    node.Message
		want   string
	}{
		{"CREDIT to the remitter", reqPay, mut(func(m *upiv1.ReqPay) { m.Txn.Type = upiv1.Txn_CREDIT }), "DEBIT or REVERSAL"},
		{"no payer", reqPay, mut(func(m *upiv1.ReqPay) { m.Payer = nil }), "needs payer"},
		{"no account", reqPay, mut(func(m *upiv1.ReqPay) { m.Payer.Ac = nil }), "payer.ac.ac_num"},
		{"no IFSC", reqPay, mut(func(m *upiv1.ReqPay) { m.Payer.Ac.Ifsc = "" }), "payer.ac.ifsc"},
		{"zero amount", reqPay, mut(func(m *upiv1.ReqPay) { m.Payer.AmountPaise = 0 }), "amount_paise > 0"},
		{"negative amount", reqPay, mut(func(m *upiv1.ReqPay) { m.Payer.AmountPaise = -1 }), "amount_paise > 0"},
		{"no PIN", reqPay, mut(func(m *upiv1.ReqPay) { m.Payer.Creds = nil }), "PIN block"},
		{"reversal of a bad id", reqPay, &upiv1.ReqPay{Head: nodetest.Head("npci", "NPC"), Txn: &upiv1.Txn{Id: txn, Type: upiv1.Txn_REVERSAL, OrgTxnId: "x"}}, "org_txn_id"},
		{"check of a CREDIT", reqChk, chk(txn, upiv1.Txn_CREDIT), "DEBIT and REVERSAL"},
		{"check of another type", reqChk, &upiv1.ReqChkTxn{Head: nodetest.Head("npci", "NPC"), Txn: &upiv1.Txn{Id: txn, Type: upiv1.Txn_PAY}}, "CHK_STATUS"},
		{"mandate without a UMN", upiv1.RemitterService_ReqMandate_FullMethodName, &upiv1.ReqMandate{Head: nodetest.Head("npci", "NPC"), Txn: &upiv1.Txn{Id: txn, Type: upiv1.Txn_CREATE}}, "ReqMandate needs mandate.umn"},
		{"lite sync", upiv1.RemitterService_ReqLiteSync_FullMethodName, &upiv1.ReqLiteSync{Head: nodetest.Head("npci", "NPC"), Txn: &upiv1.Txn{Id: txn, Type: upiv1.Txn_LITE_SYNC}}, "ReqLiteSync needs records"},
		{"other service", upiv1.BeneficiaryService_ReqPay_FullMethodName, mut(func(m *upiv1.ReqPay) {}), "no method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Contains(t, f.send(tc.method, tc.msg), tc.want)
		})
	}
	nodetest.Quiesce(t, f.n) // all it sent is recorded
	assert.Empty(t, f.rec.All(), "a refused message is not answered")
	assert.Equal(t, opening, f.balance(aliceAc))
}
