package ledger_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/store"
)

// Records written before the ledger kept its messages through a store.Table
// read the same: the binary form record_codec.go wrote (the same messages)
// and the JSON of the Go structs of older files, every field of both.
func TestReadsOldRecords(t *testing.T) {
	db := newLedger(t)
	at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	acct := &ledger.Account{AcNum: "OLD1", Ifsc: "I", Vpa: "old@alpha", Name: "Old", Kind: ledger.KindCustomer, BalancePaise: 5}
	post := &ledger.PostingRecord{Ref: "R", From: "a", To: "b", AmountPaise: 7, Ts: at.UnixNano()}
	leg := &ledger.Leg{Type: "DEBIT", Result: "SUCCESS", ErrCode: "E", ApprovalNum: "000001", ReversalRespCode: "00",
		AcNum: "A", Ifsc: "I", Addr: "x@y", AmountPaise: 150, Ref: "DEBIT:T1", ReqMsgId: "M", At: at.UnixNano()}
	txn := &ledger.TxnRecord{TxnId: "T1", Rrn: "R1", Debit: leg, Reversal: proto.Clone(leg).(*recordsv1.Leg),
		Credit: proto.Clone(leg).(*recordsv1.Leg), CreditAbsent: true, Created: at.UnixNano(), Updated: at.UnixNano() + 1}
	const ts = `"2025-01-02T03:04:05.000000006Z"`
	const legJSON = `{"type":"DEBIT","result":"SUCCESS","err_code":"E","approval_num":"000001","reversal_resp_code":"00",` +
		`"ac_num":"A","ifsc":"I","addr":"x@y","amount_paise":150,"ref":"DEBIT:T1","req_msg_id":"M","at":` + ts + `}`
	old := map[store.Bucket]map[string]string{
		store.Accounts: {"J1": `{"ac_num":"OLD1","ifsc":"I","vpa":"old@alpha","name":"Old","kind":"CUSTOMER","balance_paise":5}`},
		store.Postings: {"J1": `{"ref":"R","from":"a","to":"b","amount_paise":7,"ts":` + ts + `}`},
		store.Txns: {"J1": `{"txn_id":"T1","rrn":"R1","debit":` + legJSON + `,"reversal":` + legJSON + `,"credit":` + legJSON +
			`,"credit_absent":true,"created":` + ts + `,"updated":"2025-01-02T03:04:05.000000007Z"}`},
	}
	for b, m := range map[store.Bucket]proto.Message{store.Accounts: acct, store.Postings: post, store.Txns: txn} {
		raw, err := proto.Marshal(m)
		require.NoError(t, err)
		old[b]["B1"] = string(raw)
	}
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		for b, kv := range old {
			for k, v := range kv {
				if err := tx.Put(b, []byte(k), []byte(v)); err != nil {
					return err
				}
			}
		}
		return nil
	}))
	require.NoError(t, db.View(func(tx *store.Tx) error {
		for _, k := range []string{"J1", "B1"} {
			a, err := ledger.Get(tx, k)
			require.NoError(t, err)
			assertProto(t, acct, a)
			p, ok, err := ledger.Posting(tx, k)
			require.NoError(t, err)
			require.True(t, ok)
			assertProto(t, post, p)
			r, ok, err := ledger.GetTxn(tx, k)
			require.NoError(t, err)
			require.True(t, ok)
			assertProto(t, txn, r)
		}
		return nil
	}))
}
