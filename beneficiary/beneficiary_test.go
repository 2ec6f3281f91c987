package beneficiary_test

import (
	"google.golang.org/grpc"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/upisim/upisim/beneficiary"
	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	ifsc    = "BBNK0000001"
	bobAc   = "2000000001"
	chaiAc  = "2000000003"
	settle  = "SETTLEMENT-BBNK0000001"
	bobOpen = int64(500_000) // ₹5,000.00
	respPay = upiv1.SwitchService_RespPay_FullMethodName
	respChk = upiv1.SwitchService_RespChkTxn_FullMethodName
	reqPay  = upiv1.BeneficiaryService_ReqPay_FullMethodName
	reqChk  = upiv1.BeneficiaryService_ReqChkTxn_FullMethodName
)

// newHandler runs the beneficiary alone on a node: its routes.
func newHandler(net *config.Network, b *beneficiary.Beneficiary) *node.Table {
	return node.NewTable(node.Routes{
		Who: "bank", Services: []*grpc.ServiceDesc{&upiv1.BeneficiaryService_ServiceDesc},
		Peers:  node.Directory{Network: net.Name, Roles: net.RolesByName(), Sole: config.RoleSwitch},
		Routes: b.Routes(),
	})
}

type fixture struct {
	t     *testing.T
	n     *node.Node
	rec   *nodetest.Recorder
	total int64
}

// newFixture runs the beneficiary of bbank of the default network, its
// ledger seeded with the settlement account and bbank's customers.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	net := config.Default()
	self, ok := net.NodeByName("bbank")
	require.True(t, ok)
	rec := nodetest.NewRecorder()
	n := nodetest.New(t, "bbank", newHandler(net, beneficiary.New(beneficiary.Config{Network: net, Self: self})), rec)
	require.NoError(t, n.Update(func(c *node.Ctx) error {
		if err := ledger.Open(c.Tx, &ledger.Account{AcNum: settle, Ifsc: ifsc, Kind: ledger.KindSettlement}); err != nil {
			return err
		}
		for _, a := range net.AccountsOfBank("bbank") {
			if err := ledger.Open(c.Tx, &ledger.Account{AcNum: a.Number, Ifsc: ifsc, Vpa: a.VPA, Name: a.Name, Kind: ledger.KindCustomer, BalancePaise: a.Balance}); err != nil {
				return err
			}
		}
		return nil
	}))
	f := &fixture{t: t, n: n, rec: rec}
	f.total = f.sum()
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

func (f *fixture) send(method string, m node.Message) string {
	f.t.Helper()
	ack, err := f.n.Receive(f.t.Context(), method, m)
	require.NoError(f.t, err)
	return ack.GetErr()
}

// answer waits for the n-th message sent on method for txnID.
func (f *fixture) answer(method, txnID string, n int) nodetest.Sent {
	f.t.Helper()
	require.Eventually(f.t, func() bool { return f.rec.Count(method, txnID) >= n }, 5*time.Second, 5*time.Millisecond)
	var out []nodetest.Sent
	for _, s := range f.rec.All() {
		if s.Method == method && s.Msg.GetTxn().GetId() == txnID {
			out = append(out, s)
		}
	}
	assert.Equal(f.t, "npci", out[n-1].To)
	return out[n-1]
}

func (f *fixture) respPay(txnID string, n int) *upiv1.RespPay {
	f.t.Helper()
	return f.answer(respPay, txnID, n).Msg.(*upiv1.RespPay)
}

func credit(txnID, acNum, acIFSC string, amount int64) *upiv1.ReqPay {
	return &upiv1.ReqPay{
		Head:  nodetest.Head("npci", "NPC"),
		Txn:   &upiv1.Txn{Id: txnID, Type: upiv1.Txn_CREDIT, CustRef: "512345000002"},
		Payer: &upiv1.Party{Addr: "alice@alpha", Name: "Alice", AmountPaise: amount},
		Payee: &upiv1.Party{Addr: "bob@beta", Name: "Bob", Ac: &upiv1.Account{AcNum: acNum, Ifsc: acIFSC}, AmountPaise: amount},
	}
}

func TestCredit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ac, ifsc string
		code     string
	}{
		{"success", bobAc, ifsc, ""},
		{"merchant", chaiAc, ifsc, ""},
		{"no such account", "2000000099", ifsc, "U31"},
		{"other bank's IFSC", bobAc, "ABNK0000001", "U31"},
		{"settlement account", settle, ifsc, "U31"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			txn := ids.NewTxnID("ALP")
			req := credit(txn, tc.ac, tc.ifsc, 2500)
			before := map[string]int64{bobAc: f.balance(bobAc), chaiAc: f.balance(chaiAc)}
			require.Empty(t, f.send(reqPay, req))

			resp := f.respPay(txn, 1)
			assert.Equal(t, upiv1.Txn_CREDIT, resp.GetTxn().GetType())
			assert.Equal(t, "512345000002", resp.GetTxn().GetCustRef())
			assert.Equal(t, req.GetHead().GetMsgId(), resp.GetResp().GetReqMsgId())
			require.Len(t, resp.GetResp().GetRefs(), 1)
			ref := resp.GetResp().GetRefs()[0]
			assert.Equal(t, "PAYEE", ref.GetType())
			assert.Equal(t, "bob@beta", ref.GetAddr())
			if tc.code == "" {
				assert.Equal(t, upiv1.Resp_SUCCESS, resp.GetResp().GetResult())
				assert.Empty(t, resp.GetResp().GetErrCode())
				assert.Equal(t, "00", ref.GetRespCode())
				assert.Regexp(t, `^\d{6}$`, ref.GetApprovalNum())
				assert.Equal(t, int64(2500), ref.GetSettAmountPaise())
				assert.Equal(t, before[tc.ac]+2500, f.balance(tc.ac))
				assert.Equal(t, int64(-2500), f.balance(settle), "settlement goes negative")
			} else {
				assert.Equal(t, upiv1.Resp_FAILURE, resp.GetResp().GetResult())
				assert.Equal(t, "U31", resp.GetResp().GetErrCode())
				assert.Equal(t, "U31", ref.GetRespCode())
				assert.Empty(t, ref.GetApprovalNum())
				assert.Zero(t, ref.GetSettAmountPaise())
				assert.Equal(t, bobOpen, f.balance(bobAc))
				assert.Zero(t, f.balance(settle))
			}
		})
	}
}

func TestCreditAmountFromPayer(t *testing.T) {
	f := newFixture(t)
	txn := ids.NewTxnID("ALP")
	req := credit(txn, bobAc, ifsc, 700)
	req.Payee.AmountPaise = 0
	require.Empty(t, f.send(reqPay, req))
	assert.Equal(t, int64(700), f.respPay(txn, 1).GetResp().GetRefs()[0].GetSettAmountPaise())
	assert.Equal(t, bobOpen+700, f.balance(bobAc))
}

func TestCreditRepeatedUnderNewMsgID(t *testing.T) {
	f := newFixture(t)
	txn := ids.NewTxnID("ALP")
	require.Empty(t, f.send(reqPay, credit(txn, bobAc, ifsc, 2500)))
	r1 := f.respPay(txn, 1)
	again := credit(txn, bobAc, ifsc, 2500)
	require.Empty(t, f.send(reqPay, again))
	r2 := f.respPay(txn, 2)
	assert.Equal(t, again.GetHead().GetMsgId(), r2.GetResp().GetReqMsgId())
	assert.Equal(t, upiv1.Resp_SUCCESS, r2.GetResp().GetResult())
	assert.Equal(t, r1.GetResp().GetRefs()[0].GetApprovalNum(), r2.GetResp().GetRefs()[0].GetApprovalNum())
	assert.Equal(t, bobOpen+2500, f.balance(bobAc), "credited once")

	// Other content for the same transaction is refused.
	assert.Contains(t, f.send(reqPay, credit(txn, bobAc, ifsc, 9999)), "already credited")
	assert.Equal(t, bobOpen+2500, f.balance(bobAc))
}

func TestCreditSameMsgIDTwice(t *testing.T) {
	f := newFixture(t)
	txn := ids.NewTxnID("ALP")
	req := credit(txn, bobAc, ifsc, 2500)
	require.Empty(t, f.send(reqPay, req))
	f.respPay(txn, 1)
	require.Empty(t, f.send(reqPay, req))
	nodetest.Quiesce(t, f.n) // all it sent is recorded
	assert.Equal(t, 1, f.rec.Count(respPay, txn))
	assert.Equal(t, bobOpen+2500, f.balance(bobAc))
}

func TestChkTxn(t *testing.T) {
	f := newFixture(t)
	ok, failed, unknown := ids.NewTxnID("ALP"), ids.NewTxnID("ALP"), ids.NewTxnID("ALP")
	require.Empty(t, f.send(reqPay, credit(ok, bobAc, ifsc, 2500)))
	approval := f.respPay(ok, 1).GetResp().GetRefs()[0].GetApprovalNum()
	require.Empty(t, f.send(reqPay, credit(failed, "nope", ifsc, 2500)))
	f.respPay(failed, 1)

	for _, tc := range []struct {
		name   string
		txn    string
		leg    upiv1.Txn_Type
		result upiv1.Resp_Result
		code   string
	}{
		{"credited", ok, upiv1.Txn_CREDIT, upiv1.Resp_SUCCESS, ""},
		{"sub_type unset means CREDIT", ok, upiv1.Txn_TYPE_UNSPECIFIED, upiv1.Resp_SUCCESS, ""},
		{"declined", failed, upiv1.Txn_CREDIT, upiv1.Resp_FAILURE, "U31"},
		{"unknown txn", unknown, upiv1.Txn_CREDIT, upiv1.Resp_FAILURE, "U48"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &upiv1.ReqChkTxn{
				Head: nodetest.Head("npci", "NPC"),
				Txn:  &upiv1.Txn{Id: tc.txn, Type: upiv1.Txn_CHK_STATUS, OrgTxnId: tc.txn, SubType: tc.leg},
			}
			n := f.rec.Count(respChk, tc.txn) + 1
			require.Empty(t, f.send(reqChk, req))
			resp := f.answer(respChk, tc.txn, n).Msg.(*upiv1.RespChkTxn)
			assert.Equal(t, req.GetHead().GetMsgId(), resp.GetResp().GetReqMsgId())
			assert.Equal(t, tc.result, resp.GetResp().GetResult())
			assert.Equal(t, tc.code, resp.GetResp().GetErrCode())
			if tc.code == "" {
				assert.Equal(t, approval, resp.GetResp().GetRefs()[0].GetApprovalNum())
				assert.Equal(t, "PAYEE", resp.GetResp().GetRefs()[0].GetType())
			}
		})
	}
}

func TestValidate(t *testing.T) {
	f := newFixture(t)
	txn := ids.NewTxnID("ALP")
	mut := func(fn func(m *upiv1.ReqPay)) *upiv1.ReqPay {
		m := credit(txn, bobAc, ifsc, 2500)
		fn(m)
		return m
	}
	for _, tc := range []struct {
		name   string
		method string
		msg    node.Message
		want   string
	}{
		{"DEBIT to the beneficiary", reqPay, mut(func(m *upiv1.ReqPay) { m.Txn.Type = upiv1.Txn_DEBIT }), "takes txn.type CREDIT"},
		{"no payee", reqPay, mut(func(m *upiv1.ReqPay) { m.Payee = nil }), "needs payee"},
		{"no account", reqPay, mut(func(m *upiv1.ReqPay) { m.Payee.Ac = nil }), "payee.ac.ac_num"},
		{"no IFSC", reqPay, mut(func(m *upiv1.ReqPay) { m.Payee.Ac.Ifsc = "" }), "payee.ac.ifsc"},
		{"no amount", reqPay, mut(func(m *upiv1.ReqPay) { m.Payee.AmountPaise, m.Payer.AmountPaise = 0, 0 }), "amount > 0"},
		{"negative amount", reqPay, mut(func(m *upiv1.ReqPay) { m.Payee.AmountPaise, m.Payer.AmountPaise = -5, -5 }), "amount > 0"},
		{"amounts differ", reqPay, mut(func(m *upiv1.ReqPay) { m.Payee.AmountPaise = 1 }), "differs"},
		{"check of a DEBIT", reqChk, &upiv1.ReqChkTxn{Head: nodetest.Head("npci", "NPC"), Txn: &upiv1.Txn{Id: txn, Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_DEBIT}}, "CREDIT legs"},
		{"other service", upiv1.RemitterService_ReqPay_FullMethodName, mut(func(m *upiv1.ReqPay) {}), "no method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Contains(t, f.send(tc.method, tc.msg), tc.want)
		})
	}
	nodetest.Quiesce(t, f.n) // all it sent is recorded
	assert.Empty(t, f.rec.All(), "a refused message is not answered")
}

// A CREDIT that arrives after this bank told the switch (ReqChkTxn) that
// there was no credit is declined: the switch may have reversed the debit on
// that answer, so crediting would create money. A later check then reports
// the declined credit, not U48.
func TestCreditAfterCheckFoundNone(t *testing.T) {
	f := newFixture(t)
	txn := ids.NewTxnID("ALP")
	chk := func() *upiv1.RespChkTxn {
		n := f.rec.Count(respChk, txn) + 1
		require.Empty(t, f.send(reqChk, &upiv1.ReqChkTxn{
			Head: nodetest.Head("npci", "NPC"),
			Txn:  &upiv1.Txn{Id: txn, Type: upiv1.Txn_CHK_STATUS, OrgTxnId: txn, SubType: upiv1.Txn_CREDIT},
		}))
		return f.answer(respChk, txn, n).Msg.(*upiv1.RespChkTxn)
	}
	assert.Equal(t, "U48", chk().GetResp().GetErrCode())

	require.Empty(t, f.send(reqPay, credit(txn, bobAc, ifsc, 2500)))
	r := f.respPay(txn, 1).GetResp()
	assert.Equal(t, upiv1.Resp_FAILURE, r.GetResult())
	assert.Equal(t, "U31", r.GetErrCode())
	assert.Equal(t, bobOpen, f.balance(bobAc), "nothing credited")

	again := chk().GetResp()
	assert.Equal(t, upiv1.Resp_FAILURE, again.GetResult())
	assert.Equal(t, "U31", again.GetErrCode())
}
