package upiswitch

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/store/recordtest"
)

func TestRecordRoundTrip(t *testing.T) { recordtest.TableRoundTrip(t, txns) }

// stored puts raw in store.Txns of a fresh store as the record of txn id,
// loads it as the switch does (loadRecord), then stores it again
// (putRecord) and returns the record and the bytes stored.
func stored(t *testing.T, id string, raw []byte) (*record, []byte) {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "switch.db"), store.Options{NoSync: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	var r *record
	var again []byte
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		if err := tx.Put(store.Txns, []byte(id), raw); err != nil {
			return err
		}
		if r, err = loadRecord(tx, id); err != nil {
			return err
		}
		require.NotNil(t, r)
		if err := putRecord(tx, r); err != nil {
			return err
		}
		again = tx.Get(store.Txns, []byte(id))
		return nil
	}))
	return r, again
}

// TestRecordBeforeFlows decodes a record written by the switch before
// per-flow records (one confirm and one deemed_confirm instead of the
// lists; testdata/switchtxn_v1_deemed_then_success.binpb, made by that
// code): it reads as the same transaction, its confirmations as lists of
// one.
func TestRecordBeforeFlows(t *testing.T) {
	raw, err := os.ReadFile("testdata/switchtxn_v1_deemed_then_success.binpb")
	require.NoError(t, err)
	const id = "TXN0123456789abcdef0123456789abcdef"
	got, again := stored(t, id, raw)

	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	ns := func(d time.Duration) int64 { return store.Nanos(at.Add(d)) }
	ex := func(to, id string, d time.Duration) *exchange {
		return &exchange{To: to, MsgId: id, Sent: ns(d), Answered: ns(d + time.Second), Result: "SUCCESS", ApprovalNum: "AP" + id[3:9]}
	}
	want := &record{
		Id: id, Type: "PAY", State: StateClosed, Status: "SUCCESS",
		Rrn: "633410000001", AmountPaise: 12345, Info: &info{Note: "lunch"},
		Payer:      &party{Addr: "alice@alpha", Name: "Alice", AcNum: "1000000001", Ifsc: "ABNK0000001"},
		Payee:      &party{Addr: "bob@beta", Name: "Bob", AcNum: "2000000001", Ifsc: "BBNK0000001"},
		Originator: "alphapsp", OrigMsgId: "MSG00000000000000000000000000000001", Counterparty: "betapsp",
		Remitter: "abank", Beneficiary: "bbank",
		Auth:           ex("betapsp", "MSG00000000000000000000000000000002", 0),
		Debit:          ex("abank", "MSG00000000000000000000000000000003", 2*time.Second),
		Credit:         &exchange{To: "bbank", MsgId: "MSG00000000000000000000000000000004", Sent: ns(4 * time.Second), Answered: ns(40 * time.Second), Result: "SUCCESS", TimedOut: ns(34 * time.Second), ErrCode: "RB"},
		DeemedConfirms: []*exchange{ex("betapsp", "MSG00000000000000000000000000000005", 34*time.Second)},
		Checks:         []*exchange{ex("bbank", "MSG00000000000000000000000000000006", 36*time.Second)},
		ChecksSent:     1, Deemed: ns(34 * time.Second),
		Confirms: []*exchange{ex("betapsp", "MSG00000000000000000000000000000007", 41*time.Second)},
		Reason:   "no credit response from bbank within 30s; deemed, then the credit was confirmed by a status check from bbank",
		Created:  ns(0), Updated: ns(42 * time.Second),
		Late: []*lateNote{{At: ns(40 * time.Second), Api: "RespPay", Leg: "CREDIT", From: "bbank", MsgId: "MSG00000000000000000000000000000008", Result: "SUCCESS", State: StateCheckSent, Code: "U70"}},
	}
	assert.True(t, proto.Equal(want, got), "want %v\ngot  %v", want, got)
	assert.True(t, proto.Equal(summary(want), summary(got)))

	// Written again, it is what the old code wrote: one confirmation is
	// still in its own field.
	var before, after recordsv1.SwitchTxn
	require.NoError(t, proto.Unmarshal(raw, &before))
	require.NoError(t, proto.Unmarshal(again, &after))
	assert.True(t, proto.Equal(&before, &after), "old %v\nnew %v", &before, &after)
}

// TestRecordJSONBeforeFlows reads the JSON form of the oldest files, with
// one confirm and one deemed_confirm.
func TestRecordJSONBeforeFlows(t *testing.T) {
	raw := []byte(`{"id":"TXN0123456789abcdef0123456789abcdef","type":"PAY","state":"CLOSED",` +
		`"confirm":{"to":"betapsp","msg_id":"MSG1"},"deemed_confirm":{"to":"betapsp","msg_id":"MSG2"}}`)
	got, _ := stored(t, "TXN0123456789abcdef0123456789abcdef", raw)
	require.Len(t, got.Confirms, 1)
	assert.True(t, proto.Equal(&exchange{To: "betapsp", MsgId: "MSG1"}, got.Confirms[0]), "%v", got.Confirms)
	require.Len(t, got.DeemedConfirms, 1)
	assert.True(t, proto.Equal(&exchange{To: "betapsp", MsgId: "MSG2"}, got.DeemedConfirms[0]), "%v", got.DeemedConfirms)
}
