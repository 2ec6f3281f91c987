package store

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
)

var (
	testTxns     = NewTable[recordsv1.BankTxn](Txns)
	testAccounts = NewTable[recordsv1.Account](Accounts)
	testAppTxns  = NewTable[recordsv1.AppTxn](Txns)
)

func TestTableGetPutDeleteScan(t *testing.T) {
	db := open(t, Options{NoSync: true})
	want := &recordsv1.BankTxn{TxnId: "T1", Rrn: "R", CreditAbsent: true, Created: 5,
		Debit: &recordsv1.Leg{Type: "DEBIT", AmountPaise: 7, At: 9}}
	require.NoError(t, db.Update(func(tx *Tx) error {
		for _, k := range []string{"a/2", "a/1", "b/1"} {
			if err := testTxns.Put(tx, k, want); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.View(func(tx *Tx) error {
		got, ok, err := testTxns.Get(tx, "a/1")
		require.NoError(t, err)
		require.True(t, ok)
		assert.Empty(t, cmpProto(want, got))
		_, ok, err = testTxns.Get(tx, "nope")
		assert.NoError(t, err)
		assert.False(t, ok)
		assert.True(t, testTxns.Has(tx, "b/1"))
		var keys []string
		require.NoError(t, testTxns.Scan(tx, "a/", func(k string, m *recordsv1.BankTxn) (bool, error) {
			keys = append(keys, k)
			assert.Empty(t, cmpProto(want, m))
			return true, nil
		}))
		assert.Equal(t, []string{"a/1", "a/2"}, keys)
		return nil
	}))
	require.NoError(t, db.Update(func(tx *Tx) error { return testTxns.Delete(tx, "a/1") }))
	require.NoError(t, db.View(func(tx *Tx) error {
		assert.False(t, testTxns.Has(tx, "a/1"))
		return nil
	}))
}

// An old file's JSON record (a Go struct's JSON: the message's field
// names, times as RFC 3339 text) reads into the message, field for field.
func TestTableReadsLegacyJSON(t *testing.T) {
	db := open(t, Options{NoSync: true})
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	const old = `{"txn_id":"T1","rrn":"R1","debit":{"type":"DEBIT","result":"SUCCESS","err_code":"E",` +
		`"approval_num":"000001","reversal_resp_code":"00","ac_num":"A","ifsc":"I","addr":"x@y",` +
		`"amount_paise":150,"ref":"DEBIT:T1","req_msg_id":"M","at":"2026-01-02T03:04:05.000000006Z"},` +
		`"credit_absent":true,"created":"2026-01-02T03:04:05.000000006Z","updated":"0001-01-01T00:00:00Z","reversal":null,"unknown":1}`
	const oldApp = `{"txn_id":"T2","type":"PAY","amount_paise":3,"expires":"0001-01-01T00:00:00Z"}`
	require.NoError(t, db.Update(func(tx *Tx) error {
		if err := tx.Put(Txns, []byte("T1"), []byte(old)); err != nil {
			return err
		}
		return tx.Put(Txns, []byte("T2"), []byte(oldApp))
	}))
	require.NoError(t, db.View(func(tx *Tx) error {
		got, ok, err := testTxns.Get(tx, "T1")
		require.NoError(t, err)
		require.True(t, ok)
		want := &recordsv1.BankTxn{TxnId: "T1", Rrn: "R1", CreditAbsent: true, Created: at.UnixNano(),
			Debit: &recordsv1.Leg{Type: "DEBIT", Result: "SUCCESS", ErrCode: "E", ApprovalNum: "000001",
				ReversalRespCode: "00", AcNum: "A", Ifsc: "I", Addr: "x@y", AmountPaise: 150, Ref: "DEBIT:T1",
				ReqMsgId: "M", At: at.UnixNano()}}
		assert.Empty(t, cmpProto(want, got))
		app, _, err := testAppTxns.Get(tx, "T2")
		require.NoError(t, err)
		assert.Empty(t, cmpProto(&recordsv1.AppTxn{TxnId: "T2", Type: "PAY", AmountPaise: 3, Expires: proto.Int64(0)}, app),
			"an optional field keeps its presence")
		return nil
	}))
}

func TestTableBadValue(t *testing.T) {
	db := open(t, Options{NoSync: true})
	require.NoError(t, db.Update(func(tx *Tx) error { return tx.Put(Accounts, []byte("k"), []byte("{nope")) }))
	require.NoError(t, db.View(func(tx *Tx) error {
		_, ok, err := testAccounts.Get(tx, "k")
		assert.True(t, ok)
		assert.ErrorContains(t, err, "accounts/k")
		return nil
	}))
}

// A node's file holds the runtime's buckets and its role's only; a file
// with buckets of another layout (an older one that made every bucket on
// every node) still opens and keeps them.
func TestOpenCreatesRoleBuckets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.db")
	db, err := Open(path, Options{NoSync: true, Buckets: RoleBuckets("switch")})
	require.NoError(t, err)
	require.NoError(t, db.View(func(tx *Tx) error {
		assert.Zero(t, tx.Count(Txns))
		assert.Zero(t, tx.Count(Meta))
		assert.PanicsWithValue(t, "store: bucket accounts is not created on this node (Options.Buckets)", func() { tx.Count(Accounts) })
		return nil
	}))
	require.NoError(t, db.Close())
	assert.ElementsMatch(t, append([]string{"inbox", "outbox", "timers", "timer_names", "trace", "trace_by_txn", "trace_acks", "meta"}, "txns", "node_keys", "circle_links", "mandates", "rrns", "lite_accounts", "lite_records", "lite_mandates", "lite_recons"), bucketsIn(t, path))

	old := filepath.Join(t.TempDir(), "old.db")
	db, err = Open(old, Options{NoSync: true}) // every bucket, as before role sets
	require.NoError(t, err)
	require.NoError(t, db.Close())
	db, err = Open(old, Options{NoSync: true, Buckets: RoleBuckets("switch")})
	require.NoError(t, err)
	require.NoError(t, db.Close())
	assert.Len(t, bucketsIn(t, old), 8+len(AllBuckets()))
}

func TestRoleBucketsDeclared(t *testing.T) {
	for _, role := range []string{"switch", "psp", "bank", "tpap"} {
		require.NotEmpty(t, RoleBuckets(role), role)
		for _, b := range RoleBuckets(role) {
			assert.Contains(t, AllBuckets(), b)
		}
	}
}

func bucketsIn(t *testing.T, path string) []string {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer b.Close()
	var names []string
	require.NoError(t, b.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error { names = append(names, string(name)); return nil })
	}))
	return names
}

func TestMetaKeys(t *testing.T) {
	db := open(t, Options{NoSync: true})
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("IST", 19800))
	require.NoError(t, db.Update(func(tx *Tx) error {
		assert.Zero(t, MetaApprovalSeq.Get(tx))
		for want := uint64(1); want <= 2; want++ {
			n, err := MetaApprovalSeq.Next(tx)
			require.NoError(t, err)
			assert.Equal(t, want, n)
		}
		require.NoError(t, MetaBankSeeded.Set(tx, at))
		return MetaOpeningTotal.Set(tx, -42)
	}))
	require.NoError(t, db.View(func(tx *Tx) error {
		// The encodings the keys had before they were declared here.
		assert.Equal(t, U64(2), tx.Get(Meta, []byte("ledger.approval_seq")))
		assert.Equal(t, "2026-01-01T21:34:05.000000006Z", string(tx.Get(Meta, []byte("bank.seeded"))))
		assert.Equal(t, "-42", string(tx.Get(Meta, []byte("bank.opening_total"))))
		got, ok, err := MetaBankSeeded.Get(tx)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.True(t, at.Equal(got))
		n, ok, err := MetaOpeningTotal.Get(tx)
		assert.NoError(t, err)
		assert.True(t, ok)
		assert.EqualValues(t, -42, n)
		assert.True(t, MetaOpeningTotal.Has(tx))
		assert.False(t, MetaLastHeartbeat.Has(tx))
		return nil
	}))
}

func cmpProto(want, got proto.Message) string {
	if proto.Equal(want, got) {
		return ""
	}
	return "want " + prototext.Format(want) + "\ngot  " + prototext.Format(got)
}
