package remitter_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/remitter"
)

// The Lite flows through a whole bank (its pool, both roles) are tested in
// internal/bank/lite_test.go; these are the remitter's own.

func TestLiteRef(t *testing.T) {
	assert.Equal(t, "LITEDEBIT:LRN1:7", remitter.LiteRef(remitter.RefLiteDebit, "LRN1", 7))
	assert.Equal(t, "LITEREVERSAL:LRN1:7", remitter.LiteRef(remitter.RefLiteReversal, "LRN1", 7))
}

// TestLiteDebitNoPIN: a transfer-out's DEBIT (46) needs no PIN block; of an
// LRN the bank does not have it is FAILURE LR, nothing moved.
func TestLiteDebitNoPIN(t *testing.T) {
	f := newFixture(t)
	txn := ids.NewTxnID("ALP")
	m := &upiv1.ReqPay{
		Head:  nodetest.Head("npci", "NPC"),
		Txn:   &upiv1.Txn{Id: txn, Type: upiv1.Txn_DEBIT, Purpose: lite.PurposeTransferOut},
		Payer: &upiv1.Party{Addr: "LRN9@lite", Ac: &upiv1.Account{AcNum: "LRN9", Ifsc: ifsc}, AmountPaise: 100},
		Lite:  &upiv1.LiteInfo{Lrn: "LRN9"},
	}
	require.Empty(t, f.send(reqPay, m))
	r := f.respPay(txn, 1)
	assert.Equal(t, upiv1.Resp_FAILURE, r.GetResp().GetResult())
	assert.Equal(t, "LR", r.GetResp().GetErrCode())

	// Without lite it is an ordinary DEBIT, which needs the PIN.
	m.Lite, m.Txn.Id = nil, ids.NewTxnID("ALP")
	assert.Contains(t, f.send(reqPay, m), "PIN block")
	// lite.lrn must be the payer's account.
	m.Lite = &upiv1.LiteInfo{Lrn: "LRN8"}
	assert.Contains(t, f.send(reqPay, m), "differs from payer.ac.ac_num")
}

func TestLiteValidate(t *testing.T) {
	f := newFixture(t)
	txn := ids.NewTxnID("NPC")
	conf := func(purpose string, l *upiv1.LiteInfo) *upiv1.ReqTxnConfirmation {
		return &upiv1.ReqTxnConfirmation{Head: nodetest.Head("npci", "NPC"), Txn: &upiv1.Txn{Id: txn, Purpose: purpose}, Lite: l}
	}
	sync := func(sub upiv1.Txn_Type, recs ...*upiv1.LiteRecord) *upiv1.ReqLiteSync {
		return &upiv1.ReqLiteSync{Head: nodetest.Head("npci", "NPC"), Txn: &upiv1.Txn{Id: txn, Type: upiv1.Txn_LITE_SYNC, SubType: sub}, Records: recs}
	}
	confirm, liteSync := upiv1.RemitterService_ReqTxnConfirmation_FullMethodName, upiv1.RemitterService_ReqLiteSync_FullMethodName
	for _, tc := range []struct {
		name, method string
		msg          node.Message
		want         string
	}{
		{"confirmation without lrn", confirm, conf("44", &upiv1.LiteInfo{AmountPaise: 1}), "lite.lrn"},
		{"confirmation of 44 without amount", confirm, conf("44", &upiv1.LiteInfo{Lrn: "L"}), "amount_paise > 0"},
		{"disable without the state", confirm, conf("50", &upiv1.LiteInfo{Lrn: "L"}), "DISABLED"},
		{"confirmation of a plain pay", confirm, conf("00", &upiv1.LiteInfo{Lrn: "L"}), "purpose 44, 43 or 50"},
		{"sync of another type", liteSync, &upiv1.ReqLiteSync{Head: nodetest.Head("npci", "NPC"), Txn: &upiv1.Txn{Id: txn, Type: upiv1.Txn_PAY}}, "LITE_SYNC"},
		{"sync CREDIT", liteSync, sync(upiv1.Txn_CREDIT, &upiv1.LiteRecord{Lrn: "L", AmountPaise: 1}), "sub_type DEBIT or REVERSAL"},
		{"record without LRN", liteSync, sync(upiv1.Txn_DEBIT, &upiv1.LiteRecord{AmountPaise: 1}), "needs lrn"},
		{"record without ts", liteSync, sync(upiv1.Txn_DEBIT, &upiv1.LiteRecord{Lrn: "L", AmountPaise: 1}), "needs ts"},
		{"record of nothing", liteSync, sync(upiv1.Txn_REVERSAL, &upiv1.LiteRecord{Lrn: "L"}), "amount_paise > 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Contains(t, f.send(tc.method, tc.msg), tc.want)
		})
	}
	nodetest.Quiesce(t, f.n)
	assert.Empty(t, f.rec.All(), "a refused message is not answered")
}
