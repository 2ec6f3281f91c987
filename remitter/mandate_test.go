package remitter_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/remitter"
)

const (
	reqMandate  = upiv1.RemitterService_ReqMandate_FullMethodName
	respMandate = upiv1.SwitchService_RespMandate_FullMethodName
)

func testUMN() string { return "ALP" + ids.NewTxnID("ALP")[3:32] + "@alpha" }

// mandateReq is a ReqMandate of type t for umn from alice's account.
func mandateReq(t upiv1.Txn_Type, txnID, umn, acNum, pinValue string, amount int64) *upiv1.ReqMandate {
	m := &upiv1.ReqMandate{
		Head: nodetest.Head("npci", "NPC"),
		Txn:  &upiv1.Txn{Id: txnID, Type: t, Purpose: "87"},
		Mandate: &upiv1.Mandate{
			Umn: umn, AmountPaise: amount, AmountRule: upiv1.Mandate_MAX, Recurrence: upiv1.Mandate_ASPRESENTED,
			ValidityStart: time.Now().Add(-24 * time.Hour).Format("02012006"), ValidityEnd: time.Now().AddDate(1, 0, 0).Format("02012006"),
			Revokeable: true,
		},
		Payer: &upiv1.Party{Addr: "alice@alpha", Name: "Alice", Ac: &upiv1.Account{AcNum: acNum, Ifsc: ifsc}},
		Payee: &upiv1.Party{Addr: "carol@beta", Name: "Carol"},
	}
	if t != upiv1.Txn_REVOKE {
		m.Payer.Creds = []*upiv1.Cred{sealed(pinValue, txnID, time.Now())}
	}
	return m
}

func (f *fixture) respMandate(txnID string, n int) *upiv1.RespMandate {
	f.t.Helper()
	return f.answers(respMandate, txnID, n)[n-1].Msg.(*upiv1.RespMandate)
}

func (f *fixture) mandate(umn string) (*remitter.Mandate, bool) {
	var rec *remitter.Mandate
	var ok bool
	require.NoError(f.t, f.n.View(func(tx *store.Tx) (err error) { rec, ok, err = remitter.Mandates.Get(tx, umn); return err }))
	return rec, ok
}

func (f *fixture) check(umn, sig string, amount int64, now time.Time) string {
	var code string
	require.NoError(f.t, f.n.View(func(tx *store.Tx) (err error) {
		code, err = remitter.CheckMandate(tx, umn, sig, amount, now)
		return err
	}))
	return code
}

func TestMandateCreateSigned(t *testing.T) {
	f := newFixture(t)
	txn, umn := ids.NewTxnID("ALP"), testUMN()
	req := mandateReq(upiv1.Txn_CREATE, txn, umn, aliceAc, alicePIN, 1_500_000)
	require.Empty(t, f.send(reqMandate, req))
	resp := f.respMandate(txn, 1)
	require.Equal(t, upiv1.Resp_SUCCESS, resp.GetResp().GetResult(), resp.GetResp().GetErrCode())
	sig := resp.GetMandate().GetSignature()
	require.NotEmpty(t, sig)
	assert.True(t, remitter.VerifyMandate(bankKeys.Sign.Public().(ed25519.PublicKey), resp.GetMandate(), sig))
	tampered := resp.GetMandate()
	tampered.AmountPaise++
	assert.False(t, remitter.VerifyMandate(bankKeys.Sign.Public().(ed25519.PublicKey), tampered, sig))

	rec, ok := f.mandate(umn)
	require.True(t, ok)
	assert.Equal(t, remitter.MandateActive, rec.Status)
	assert.Equal(t, aliceAc, rec.AcNum)
	assert.False(t, rec.Hold)
	assert.Equal(t, opening, f.balance(aliceAc), "a mandate moves no money")

	now := time.Now()
	assert.Equal(t, "", f.check(umn, sig, 500_000, now))
	assert.Equal(t, "VF", f.check(testUMN(), sig, 500_000, now))
	raw, _ := base64.StdEncoding.DecodeString(sig)
	raw[0] ^= 1
	assert.Equal(t, "VH", f.check(umn, base64.StdEncoding.EncodeToString(raw), 500_000, now))
	assert.Equal(t, "VH", f.check(umn, "not base64!", 500_000, now))
	assert.Equal(t, "QD", f.check(umn, sig, 500_000, now.AddDate(1, 0, 2)))
	assert.Equal(t, "QH", f.check(umn, sig, 1_500_001, now))

	// UPDATE: a new amount, signed anew.
	up := ids.NewTxnID("ALP")
	u := mandateReq(upiv1.Txn_UPDATE, up, umn, aliceAc, alicePIN, 1_000_000)
	u.Txn.OrgTxnId = txn
	require.Empty(t, f.send(reqMandate, u))
	ur := f.respMandate(up, 1)
	require.Equal(t, upiv1.Resp_SUCCESS, ur.GetResp().GetResult(), ur.GetResp().GetErrCode())
	assert.NotEqual(t, sig, ur.GetMandate().GetSignature())
	assert.Equal(t, "VH", f.check(umn, sig, 1, now), "the old signature is the old mandate's")
	assert.Equal(t, "", f.check(umn, ur.GetMandate().GetSignature(), 1, now))

	// REVOKE: no PIN.
	rv := ids.NewTxnID("ALP")
	require.Empty(t, f.send(reqMandate, mandateReq(upiv1.Txn_REVOKE, rv, umn, aliceAc, "", 0)))
	rr := f.respMandate(rv, 1)
	require.Equal(t, upiv1.Resp_SUCCESS, rr.GetResp().GetResult(), rr.GetResp().GetErrCode())
	rec, _ = f.mandate(umn)
	assert.Equal(t, remitter.MandateRevoked, rec.Status)
	assert.Equal(t, "QC", f.check(umn, ur.GetMandate().GetSignature(), 1, now))

	// An UPDATE of a revoked mandate, a REVOKE of an unknown one.
	up2 := ids.NewTxnID("ALP")
	require.Empty(t, f.send(reqMandate, mandateReq(upiv1.Txn_UPDATE, up2, umn, aliceAc, alicePIN, 1000)))
	assert.Equal(t, "QC", f.respMandate(up2, 1).GetResp().GetErrCode())
	rv2 := ids.NewTxnID("ALP")
	require.Empty(t, f.send(reqMandate, mandateReq(upiv1.Txn_REVOKE, rv2, testUMN(), aliceAc, "", 0)))
	assert.Equal(t, "VF", f.respMandate(rv2, 1).GetResp().GetErrCode())
}

func TestMandateDeclines(t *testing.T) {
	f := newFixture(t)
	decline := func(m *upiv1.ReqMandate) string {
		t.Helper()
		before := f.rec.Count(respMandate, m.GetTxn().GetId())
		require.Empty(t, f.send(reqMandate, m))
		r := f.respMandate(m.GetTxn().GetId(), before+1)
		require.Equal(t, upiv1.Resp_FAILURE, r.GetResp().GetResult())
		assert.Empty(t, r.GetMandate().GetSignature())
		return r.GetResp().GetErrCode()
	}
	assert.Equal(t, "U30", decline(mandateReq(upiv1.Txn_CREATE, ids.NewTxnID("ALP"), testUMN(), "1999999999", alicePIN, 1000)))
	assert.Equal(t, "QK", decline(mandateReq(upiv1.Txn_CREATE, ids.NewTxnID("ALP"), testUMN(), aliceAc, alicePIN, 1_500_001)))

	// U14: a block made for another transaction.
	m := mandateReq(upiv1.Txn_CREATE, ids.NewTxnID("ALP"), testUMN(), aliceAc, alicePIN, 1000)
	m.Payer.Creds = []*upiv1.Cred{sealed(alicePIN, ids.NewTxnID("ALP"), time.Now())}
	assert.Equal(t, "U14", decline(m))

	// U01: the same block again, in a new message (the first was declined QK).
	m = mandateReq(upiv1.Txn_CREATE, ids.NewTxnID("ALP"), testUMN(), aliceAc, alicePIN, 1_500_001)
	assert.Equal(t, "QK", decline(m))
	m.Head = nodetest.Head("npci", "NPC")
	require.Empty(t, f.send(reqMandate, m))
	assert.Equal(t, "U01", f.respMandate(m.GetTxn().GetId(), 2).GetResp().GetErrCode())

	// ZM, then Z6 once the PIN locks (whatever PIN comes).
	var codes []string
	for range 5 {
		codes = append(codes, decline(mandateReq(upiv1.Txn_CREATE, ids.NewTxnID("ALP"), testUMN(), aliceAc, "9999", 1000)))
	}
	assert.Equal(t, "ZM", codes[0])
	assert.Contains(t, codes, "Z6")
	assert.Equal(t, "Z6", decline(mandateReq(upiv1.Txn_CREATE, ids.NewTxnID("ALP"), testUMN(), aliceAc, alicePIN, 1000)))
}
