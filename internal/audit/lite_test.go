package audit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
)

const (
	lrn1    = "LRN0000000000001"
	lrn2    = "LRN0000000000002"
	txnTop  = "ALP0000000000000000000000000000000T"
	txnOn   = "ALP0000000000000000000000000000000O"
	pool    = "LITEPOOL"
	settleA = "SETTLEMENT-ABNK0000001"
	settleB = "SETTLEMENT-BBNK0000001"
)

// liteCase is alice's Lite wallet lrn1 at abank: a top-up of ₹3.00, an
// online payment of ₹1.00 to bob (confirmed unless unconfirmed), and an
// offline record (counter 3) of ₹0.50 to bob, synced and posted: ₹1.50
// left at the bank, the switch and on the device.
func liteCase(t *testing.T, unconfirmed bool) *auditCase {
	t.Helper()
	c := newAuditCase()
	c.snap.txns["tpap"] = map[string]*upiv1.TxnSummary{}
	c.snap.psps = []string{"alphapsp", "betapsp"}
	for i := range c.snap.banks {
		c.snap.banks[i].ledgerRead = true
	}
	c.snap.banks[0].accounts = append(c.snap.banks[0].accounts, &upiv1.AccountBalance{AcNum: pool, Kind: "LITE_POOL", Name: "lite"})

	top := c.payment(txnTop, upiv1.Resp_SUCCESS, upiv1.Resp_SUCCESS, upiv1.Resp_RESULT_UNSPECIFIED, "DEBITED+CREDITED", "")
	top.AmountPaise, top.PayeeVpa, top.PayeePsp, top.Beneficiary = 300, lrn1+"@lite", "", "abank"
	top.Legs = []*upiv1.TxnLeg{
		{Type: upiv1.Txn_DEBIT, Bank: "abank", AcNum: "1001", AmountPaise: 300, Result: upiv1.Resp_SUCCESS},
		{Type: upiv1.Txn_CREDIT, Bank: "abank", AcNum: lrn1, AmountPaise: 300, Result: upiv1.Resp_SUCCESS},
	}
	c.post(0, "DEBIT:"+txnTop, "1001", settleA, 300)
	c.post(0, "CREDIT:"+txnTop, settleA, pool, 300)

	on := c.payment(txnOn, upiv1.Resp_SUCCESS, upiv1.Resp_SUCCESS, upiv1.Resp_SUCCESS, "", "CREDITED")
	on.AmountPaise = 100
	on.Legs = []*upiv1.TxnLeg{{Type: upiv1.Txn_CREDIT, Bank: "bbank", AcNum: "2001", AmountPaise: 100, Result: upiv1.Resp_SUCCESS}}
	c.post(1, "CREDIT:"+txnOn, settleB, "2001", 100)
	bank := int64(150)
	var unc int64
	if unconfirmed {
		bank, unc = 250, 100
	} else {
		c.post(0, "DEBIT:"+txnOn, pool, settleA, 100)
	}

	c.post(0, "LITEDEBIT:"+lrn1+":3", pool, settleA, 50)
	c.post(1, "LITECREDIT:"+lrn1+":3", settleB, "2001", 50)

	rec := &upiv1.LiteRecordResult{Counter: 3, Lrn: lrn1, ProvisionalUtr: "P00000000003", Result: upiv1.Resp_SUCCESS, Utr: "512345678901",
		PayerAddr: "alice@alpha", PayeeAddr: "bob@beta", AmountPaise: 50}
	acct := func(node string, bal int64) *upiv1.LiteAccount {
		return &upiv1.LiteAccount{Lrn: lrn1, Node: node, Vpa: "alice@alpha", DeviceId: "alice-phone", Bank: "abank", State: "ACTIVE", BalancePaise: bal, Counter: 3}
	}
	sw, bk, dev := acct("npci", 150), acct("abank", bank), acct("tpap", 150)
	sw.UnconfirmedPaise = unc
	sw.Records, bk.Records = []*upiv1.LiteRecordResult{rec}, []*upiv1.LiteRecordResult{rec}
	sw.TxnIds, bk.TxnIds = []string{txnTop, txnOn}, []string{txnTop, txnOn}
	c.snap.liteAccts = &liteView{sw: map[string]*upiv1.LiteAccount{lrn1: sw}, bank: map[string]*upiv1.LiteAccount{lrn1: bk}, dev: map[string]*upiv1.LiteAccount{lrn1: dev}}
	return c
}

func (c *auditCase) lite() *liteView { return c.snap.liteAccts }

func TestLiteAuditChecks(t *testing.T) {
	tests := []struct {
		name        string
		unconfirmed bool
		build       func(c *auditCase)
		want        []string
		words       []string // in a violation's detail
		notes       int
	}{
		{name: "top-up, confirmed online payment and posted record: every ledger check accepts them", want: []string{}},
		{name: "confirmation not yet answered, within max-age", unconfirmed: true, want: []string{},
			build: func(c *auditCase) {}},
		{name: "confirmation never answered", unconfirmed: true, want: []string{ViolationLiteUnconfirmed},
			build: func(c *auditCase) { c.snap.switchTxns[1].Updated = ago(time.Hour) },
			words: []string{"online Lite payment PAY of ₹1.00", "remitter abank posted no DEBIT:" + txnOn}},
		{name: "pool is not the sum of the LRNs", want: []string{ViolationLitePool, ViolationLiteBalance},
			build: func(c *auditCase) {
				c.lite().bank[lrn2] = &upiv1.LiteAccount{Lrn: lrn2, Node: "abank", Bank: "abank", State: "ACTIVE", BalancePaise: 70}
			},
			words: []string{"Lite pool account holds ₹1.50, but its 2 LRNs' balances sum to ₹2.20"}},
		{name: "LRN balance other than its postings", want: []string{ViolationLiteBalance, ViolationLiteBalance},
			build: func(c *auditCase) {
				c.lite().bank[lrn1].BalancePaise, c.lite().sw[lrn1].BalancePaise, c.lite().dev[lrn1].BalancePaise = 100, 100, 100
				c.lite().bank[lrn2] = &upiv1.LiteAccount{Lrn: lrn2, Node: "abank", Bank: "abank", State: "ACTIVE", BalancePaise: 50}
			},
			words: []string{"LRN " + lrn1 + " (alice@alpha) holds ₹1.00 at bank abank, but its postings on the pool", "add up to ₹1.50"}},
		{name: "device behind the bank by more than its unsynced records", want: []string{ViolationLiteUnsynced},
			build: func(c *auditCase) { c.lite().dev[lrn1].BalancePaise = 100 },
			words: []string{"device alice-phone's wallet ₹1.00", "but bank abank holds ₹1.50"}},
		{name: "device with an unsynced record explains the difference", want: []string{},
			build: func(c *auditCase) { c.lite().dev[lrn1].BalancePaise, c.lite().dev[lrn1].UnsyncedPaise = 100, 50 }},
		{name: "switch off the bank", want: []string{ViolationLiteSwitchMismatch},
			build: func(c *auditCase) { c.lite().sw[lrn1].BalancePaise = 140 },
			words: []string{"the switch's balance ₹1.40 is not bank abank's ₹1.50 less ₹0.00"}},
		{name: "record debited twice", want: []string{ViolationLiteDoublePost, ViolationLitePool, ViolationLiteBalance},
			build: func(c *auditCase) { c.post(0, "LITEDEBIT:"+lrn1+":3", pool, settleA, 50) },
			words: []string{"offline record " + lrn1 + ":3 (P00000000003, ₹0.50 from alice@alpha to bob@beta)", "posted 2 LITEDEBIT, 1 LITECREDIT"}},
		{name: "record credited and reversed", want: []string{ViolationLiteDoublePost, ViolationLitePool, ViolationLiteBalance},
			build: func(c *auditCase) { c.post(0, "LITEREVERSAL:"+lrn1+":3", settleA, pool, 50) },
			words: []string{"both credited to the payee and reversed"}},
		{name: "record the switch failed, credited", want: []string{ViolationLiteDoublePost},
			build: func(c *auditCase) {
				r := c.lite().sw[lrn1].Records[0]
				r.Result, r.ErrCode = upiv1.Resp_FAILURE, "LD"
			},
			words: []string{"credited to the payee, but the switch ended it FAILURE LD"}},
		{name: "record of another amount", want: []string{ViolationLiteDoublePost},
			build: func(c *auditCase) { c.lite().sw[lrn1].Records[0].AmountPaise = 60 },
			words: []string{"LITEDEBIT:" + lrn1 + ":3 is ₹0.50, but the switch's record is of ₹0.60"}},
		{name: "record posted the switch does not have", want: []string{ViolationLiteDoublePost},
			build: func(c *auditCase) { c.lite().sw[lrn1].Records = nil },
			words: []string{"posted, but the switch has no such record"}},
		{name: "credit without a debit", want: []string{ViolationLiteDoublePost},
			build: func(c *auditCase) { c.post(1, "LITECREDIT:"+lrn1+":4", settleB, "2001", 20) },
			words: []string{"offline record " + lrn1 + ":4: credited or reversed, but never debited"}},
		{name: "SUCCESS record never posted", want: []string{ViolationLiteDoublePost},
			build: func(c *auditCase) {
				c.lite().sw[lrn1].Records = append(c.lite().sw[lrn1].Records, &upiv1.LiteRecordResult{Counter: 5, Lrn: lrn1, Result: upiv1.Resp_SUCCESS, AmountPaise: 10, Utr: "512345678905"})
			},
			words: []string{"offline record " + lrn1 + ":5", "is SUCCESS at the switch (UTR 512345678905), but the banks did not post both"}},
		{name: "a double spend refused is no posting", want: []string{},
			build: func(c *auditCase) {
				c.lite().sw[lrn1].Records = append(c.lite().sw[lrn1].Records, &upiv1.LiteRecordResult{Counter: 3, Lrn: lrn1, Result: upiv1.Resp_FAILURE, ErrCode: "LC", AmountPaise: 90})
			}},
		{name: "a record on its way: balances not compared", want: []string{}, notes: 1,
			build: func(c *auditCase) {
				c.lite().sw[lrn1].Records = append(c.lite().sw[lrn1].Records, &upiv1.LiteRecordResult{Counter: 4, Lrn: lrn1, Result: upiv1.Resp_PENDING, AmountPaise: 10})
				c.lite().dev[lrn1].BalancePaise = 1 // would be LITE_UNSYNCED on a quiet network
			}},
		{name: "LITEDEBIT into the pool is a stray posting", want: []string{ViolationStrayPosting, ViolationConservation, ViolationLiteDoublePost, ViolationLitePool, ViolationLiteBalance},
			build: func(c *auditCase) { c.post(0, "LITEDEBIT:"+lrn1+":3", settleA, pool, 50) }},
		{name: "DEBIT out of the pool for a payment the switch debited elsewhere", want: []string{ViolationStrayPosting, ViolationDisagreement, ViolationNegativeBalance, ViolationLitePool, ViolationLiteBalance},
			words: []string{"DEBIT:" + txnTop + " ₹3.00 from LITEPOOL", "is ₹3.00 from 1001 (alice@alpha) to the settlement account"},
			build: func(c *auditCase) { c.post(0, "DEBIT:"+txnTop, pool, settleA, 300) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := liteCase(t, tt.unconfirmed)
			if tt.build != nil {
				tt.build(c)
			}
			r := c.snap.audit(now, maxAge)
			assert.ElementsMatch(t, tt.want, kinds(r), "violations: %+v", r.Violations)
			assert.Len(t, r.Notes, tt.notes, "notes: %v", r.Notes)
			var details []string
			for _, v := range r.Violations {
				details = append(details, v.Detail)
			}
			for _, w := range tt.words {
				assert.Contains(t, strings.Join(details, "\n"), w)
			}
		})
	}
}

func TestLiteAuditNotListed(t *testing.T) {
	c := newAuditCase()
	c.snap.liteNote = "node npci does not list UPI Lite accounts"
	r := c.snap.audit(now, maxAge)
	assert.True(t, r.OK)
	assert.Contains(t, r.Notes, "node npci does not list UPI Lite accounts")
}

func TestParseLiteRef(t *testing.T) {
	kind, lrn, n, ok := parseLiteRef("LITECREDIT:" + lrn1 + ":42")
	assert.True(t, ok)
	assert.Equal(t, []any{"LITECREDIT", lrn1, uint64(42)}, []any{kind, lrn, n})
	for _, bad := range []string{"DEBIT:" + txnA, "LITEDEBIT:" + lrn1, "LITEDEBIT::3", "LITEDEBIT:" + lrn1 + ":x", "GIFT"} {
		_, _, _, ok := parseLiteRef(bad)
		assert.False(t, ok, bad)
	}
}

// liteViewOf is lrn1 with balances at the bank, the switch (and its
// unconfirmed) and the device (and its unsynced).
func liteViewOf(bank, sw, unconfirmed, dev, unsynced int64) *liteView {
	a := func(node string, bal int64) *upiv1.LiteAccount {
		return &upiv1.LiteAccount{Lrn: lrn1, Node: node, Bank: "abank", Vpa: "alice@alpha", DeviceId: "alice-phone", State: "ACTIVE", BalancePaise: bal}
	}
	v := &liteView{sw: map[string]*upiv1.LiteAccount{lrn1: a("npci", sw)}, bank: map[string]*upiv1.LiteAccount{lrn1: a("abank", bank)}, dev: map[string]*upiv1.LiteAccount{lrn1: a("tpap", dev)}}
	v.sw[lrn1].UnconfirmedPaise = unconfirmed
	v.dev[lrn1].UnsyncedPaise, v.dev[lrn1].UnsyncedRecords = unsynced, 1
	return v
}

func mismatchKinds(r LiteReconciliation) []string {
	out := []string{}
	for _, m := range r.Mismatches {
		out = append(out, m.Kind)
	}
	return out
}

func TestLiteReconcile(t *testing.T) {
	tests := []struct {
		name   string
		v      *liteView
		pool   int64
		want   []string
		ok     bool
		detail string
	}{
		{name: "all agree", v: liteViewOf(500, 500, 0, 500, 0), pool: 500, want: []string{}, ok: true},
		{name: "a confirmation on its way", v: liteViewOf(500, 400, 100, 400, 0), pool: 500, want: []string{LiteUnconfirmed}, ok: true,
			detail: "below the bank's by ₹1.00 of online payments whose confirmation the remitter has not answered"},
		{name: "a device not yet synced", v: liteViewOf(500, 500, 0, 350, 150), pool: 500, want: []string{LiteUnsynced}, ok: true,
			detail: "below the bank's by its 1 SENT record(s) of ₹1.50 not yet posted"},
		{name: "a lost answer to the device", v: liteViewOf(500, 500, 0, 450, 0), pool: 500, want: []string{LiteDeviceStale},
			detail: "the device's wallet ₹4.50 differs from the bank's balance ₹5.00"},
		{name: "the switch off by more than the unconfirmed", v: liteViewOf(500, 300, 100, 400, 0), pool: 500, want: []string{LiteSwitchMismatch},
			detail: "the switch's balance ₹3.00 is not the bank's less the ₹1.00 of online payments not yet confirmed (₹4.00)"},
		{name: "the pool off", v: liteViewOf(500, 500, 0, 500, 0), pool: 700, want: []string{LitePoolMismatch},
			detail: "bank abank's Lite pool account holds ₹7.00, but its LRNs' balances sum to ₹5.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reconcileLite(tt.v, map[string]int64{"abank": tt.pool})
			assert.ElementsMatch(t, tt.want, mismatchKinds(r), "%+v", r.Mismatches)
			assert.Equal(t, tt.ok, r.OK)
			require.Len(t, r.Accounts, 1)
			assert.Equal(t, lrn1, r.Accounts[0].LRN)
			assert.Equal(t, "alice@alpha", r.Accounts[0].VPA)
			if tt.detail != "" {
				assert.Contains(t, r.Mismatches[0].Detail, tt.detail)
				if m := r.Mismatches[0]; m.LRN != "" {
					assert.Equal(t, []int64{tt.v.dev[lrn1].GetBalancePaise(), tt.v.bank[lrn1].GetBalancePaise(), tt.v.sw[lrn1].GetBalancePaise()},
						[]int64{m.DevicePaise, m.BankPaise, m.SwitchPaise})
				}
			}
		})
	}

	v := liteViewOf(500, 500, 0, 500, 0)
	v.sw[lrn1].Records = []*upiv1.LiteRecordResult{{Counter: 7, Result: upiv1.Resp_FAILURE, ErrCode: "LC", ProvisionalUtr: "P00000000007", AmountPaise: 90, PayeeAddr: "chai@beta", Reason: "batch BET1 brought other content"}}
	r := reconcileLite(v, map[string]int64{"abank": 500})
	assert.Equal(t, []string{LiteDoubleSpend}, mismatchKinds(r))
	assert.False(t, r.OK, "a double spend is not money on its way")
	assert.Contains(t, r.Mismatches[0].Detail, "counter 7 was brought with two contents")
	assert.Contains(t, r.Mismatches[0].Detail, "batch BET1 brought other content")

	r = reconcileLite(liteViewOf(500, 500, 0, 500, 0), map[string]int64{"bbank": 0})
	assert.Empty(t, r.Accounts, "another bank's LRNs are not reconciled")
	assert.True(t, r.OK)
}

// fakeLiteAdmin is a node's AdminService that lists accts (or answers
// Unimplemented) and, for a bank, accounts.
type fakeLiteAdmin struct {
	upiv1.AdminServiceClient
	accts    []*upiv1.LiteAccount
	accounts []*upiv1.AccountBalance
	unimpl   bool
}

func (f *fakeLiteAdmin) ListLiteAccounts(context.Context, *upiv1.ListLiteAccountsRequest, ...grpc.CallOption) (*upiv1.ListLiteAccountsResponse, error) {
	if f.unimpl {
		return nil, status.Error(codes.Unimplemented, "keeps no UPI Lite accounts")
	}
	return &upiv1.ListLiteAccountsResponse{Accounts: f.accts}, nil
}

func (f *fakeLiteAdmin) ListAccounts(context.Context, *upiv1.ListAccountsRequest, ...grpc.CallOption) (*upiv1.ListAccountsResponse, error) {
	return &upiv1.ListAccountsResponse{Accounts: f.accounts}, nil
}

func TestLiteReportReadsTheNodes(t *testing.T) {
	v := liteViewOf(500, 500, 0, 350, 150)
	admins := map[string]*fakeLiteAdmin{
		"npci":  {accts: []*upiv1.LiteAccount{v.sw[lrn1]}},
		"abank": {accts: []*upiv1.LiteAccount{v.bank[lrn1]}, accounts: []*upiv1.AccountBalance{{AcNum: pool, Kind: "LITE_POOL", BalancePaise: 500}}},
		"bbank": {},
		"tpap":  {accts: []*upiv1.LiteAccount{v.dev[lrn1], {DeviceId: "chai-pos", Vpa: "chai@beta", State: "RECEIVE_ONLY"}}},
	}
	dir := &config.Directory{Nodes: []config.NodeAddr{
		{Name: "npci", Role: config.RoleSwitch}, {Name: "abank", Role: config.RoleBank}, {Name: "bbank", Role: config.RoleBank}, {Name: "tpap", Role: config.RoleTPAP},
	}}
	src := Source{Dir: dir, Admin: func(n string) (upiv1.AdminServiceClient, error) { return admins[n], nil }}
	r, err := LiteReport(t.Context(), src, "abank")
	require.NoError(t, err)
	assert.True(t, r.OK)
	assert.Equal(t, []string{"abank"}, r.Banks)
	require.Len(t, r.Accounts, 1, "the receive-only device holds no LRN")
	assert.Equal(t, LiteAccountRow{LRN: lrn1, Bank: "abank", VPA: "alice@alpha", DeviceID: "alice-phone", State: "ACTIVE",
		DevicePaise: 350, BankPaise: 500, SwitchPaise: 500, UnsyncedPaise: 150, UnsyncedRecords: 1}, r.Accounts[0])
	assert.Equal(t, []string{LiteUnsynced}, mismatchKinds(r))
	assert.Equal(t, []LitePool{{Bank: "abank", PoolPaise: 500, LRNsPaise: 500}}, r.Pools)

	r, err = LiteReport(t.Context(), src, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"abank", "bbank"}, r.Banks)

	_, err = LiteReport(t.Context(), src, "cbank")
	assert.EqualError(t, err, "--bank cbank: no such bank (the network's banks: abank, bbank)")

	admins["bbank"].unimpl = true
	_, err = LiteReport(t.Context(), src, "abank")
	assert.ErrorContains(t, err, "node bbank does not list UPI Lite accounts")
	lv, note, err := readLite(t.Context(), src)
	require.NoError(t, err)
	assert.Nil(t, lv, "some nodes keep Lite, some do not: not checked")
	assert.Contains(t, note, "UPI Lite was not checked")

	for _, a := range admins {
		a.unimpl = true
	}
	lv, note, err = readLite(t.Context(), src)
	require.NoError(t, err)
	assert.Empty(t, note, "a network without UPI Lite has nothing of it to check")
	assert.True(t, lv.empty())
	_, err = LiteReport(t.Context(), src, "")
	assert.ErrorContains(t, err, "no node of the network lists UPI Lite accounts")
}

// Without any LRN, a LITE* posting is still checked, and nothing is noted.
func TestLiteAuditWithoutLRNs(t *testing.T) {
	c := newAuditCase()
	for i := range c.snap.banks {
		c.snap.banks[i].ledgerRead = true
	}
	c.snap.liteAccts = &liteView{sw: map[string]*upiv1.LiteAccount{}, bank: map[string]*upiv1.LiteAccount{}, dev: map[string]*upiv1.LiteAccount{}}
	c.snap.switchTxns = append(c.snap.switchTxns, &upiv1.TxnSummary{TxnId: txnB, Type: upiv1.Txn_PAY, Status: upiv1.Resp_PENDING, Created: ago(time.Second)})
	r := c.snap.audit(now, maxAge)
	assert.Empty(t, r.Violations)
	assert.Empty(t, r.Notes, "no Lite: no note that Lite moved money")
	c.post(1, "LITECREDIT:"+lrn1+":1", "SETTLEMENT-BBNK0000001", "2001", 20)
	r = c.snap.audit(now, maxAge)
	assert.Equal(t, []string{ViolationLiteDoublePost}, kinds(r))
}
