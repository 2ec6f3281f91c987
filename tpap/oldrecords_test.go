package tpap

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/upisim/upisim/internal/store"
)

// Records written before the app kept its messages through a store.Table
// read the same, every field: the binary form record_codec.go wrote (the
// same messages) and the JSON of the Go structs of older files (times as
// RFC 3339 text, no "expires" for a record without an expiry).
func TestReadsOldRecords(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "app.db"), store.Options{NoSync: true, Buckets: store.RoleBuckets("tpap")})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	ns := at.UnixNano()
	full := &txnRecord{TxnId: "T1", Type: "COLLECT", Status: "PENDING", Rrn: "R", ErrCode: "E", Payer: "a@x", Payee: "b@y",
		AmountPaise: 150, Note: "n", Psp: "pspA", Created: ns, Updated: ns + 1, Expires: proto.Int64(ns + 2)}
	bare := &txnRecord{TxnId: "T2", Type: "PAY", Status: "SUCCESS", Payer: "a@x", Payee: "b@y", AmountPaise: 1, Psp: "pspA", Created: ns, Updated: ns}
	notif := &notifRecord{Kind: "TXN_STATUS", Ts: ns, From: "pspA", Txn: full}
	const (
		fullJSON = `{"txn_id":"T1","type":"COLLECT","status":"PENDING","rrn":"R","err_code":"E","payer":"a@x","payee":"b@y",` +
			`"amount_paise":150,"note":"n","psp":"pspA","created":"2026-01-02T03:04:05.000000006Z",` +
			`"updated":"2026-01-02T03:04:05.000000007Z","expires":"2026-01-02T03:04:05.000000008Z"}`
		bareJSON = `{"txn_id":"T2","type":"PAY","status":"SUCCESS","payer":"a@x","payee":"b@y","amount_paise":1,"psp":"pspA",` +
			`"created":"2026-01-02T03:04:05.000000006Z","updated":"2026-01-02T03:04:05.000000006Z"}`
		notifJSON = `{"kind":"TXN_STATUS","ts":"2026-01-02T03:04:05.000000006Z","from":"pspA","txn":` + fullJSON + `}`
	)
	bin := func(m proto.Message) string { b, err := proto.Marshal(m); require.NoError(t, err); return string(b) }
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		for k, v := range map[string]string{"J1": fullJSON, "J2": bareJSON, "B1": bin(full), "B2": bin(bare)} {
			if err := tx.Put(store.Txns, []byte(k), []byte(v)); err != nil {
				return err
			}
		}
		for k, v := range map[string]string{"J": notifJSON, "B": bin(notif)} {
			if err := tx.Put(store.Notifications, []byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.View(func(tx *store.Tx) error {
		for k, want := range map[string]*txnRecord{"J1": full, "J2": bare, "B1": full, "B2": bare} {
			got, ok, err := txns.Get(tx, k)
			require.NoError(t, err)
			require.True(t, ok)
			assert.True(t, proto.Equal(want, got), "%s: want %v\ngot  %v", k, want, got)
		}
		for _, k := range []string{"J", "B"} {
			got, ok, err := notifs.Get(tx, k)
			require.NoError(t, err)
			require.True(t, ok)
			assert.True(t, proto.Equal(notif, got), "%s: want %v\ngot  %v", k, notif, got)
		}
		return nil
	}))
}
