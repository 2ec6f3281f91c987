package psp

import (
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/store/recordtest"
)

func TestTxnRecordRoundTrip(t *testing.T) { recordtest.TableRoundTrip(t, txns) }

func TestVPARecordRoundTrip(t *testing.T) { recordtest.TableRoundTrip(t, vpas) }

// A registry entry of older files, kept as JSON, reads as the same entry.
func TestVPARecordJSON(t *testing.T) {
	var v vpaRecord
	require.NoError(t, store.DecodeProto([]byte(`{"vpa":"alice@alpha","name":"Alice","type":"PERSON","mcc":"0000",`+
		`"ac_num":"1000000001","ifsc":"ABNK0000001","mobile":"9800000001"}`), &v))
	want := &vpaRecord{Vpa: "alice@alpha", Name: "Alice", Type: "PERSON", Mcc: "0000", AcNum: "1000000001", Ifsc: "ABNK0000001", Mobile: "9800000001"}
	assert.True(t, proto.Equal(want, &v), "got %v", &v)
}

// Records written before the per-side state (testdata/pre_sides_records.txt
// holds ones encoded by that code, in hex; and one in the JSON of older
// files) decode with each side's state: who is here, and which side
// initiated.
func TestRecordsBeforeSides(t *testing.T) {
	type side2 struct{ Here, Initiator bool }
	sides := func(r *txnRecord) (side2, side2) {
		return side2{r.PayerHere, r.PayerInitiator}, side2{r.PayeeHere, r.PayeeInitiator}
	}
	want := map[string]struct {
		payer, payee side2
		role         string
		final, conf  bool
	}{
		"pay_initiator":     {payer: side2{Here: true, Initiator: true}, role: rolePayer, final: true},
		"collect_initiator": {payee: side2{Here: true, Initiator: true}, role: rolePayee},
		"collect_payer":     {payer: side2{Here: true}, role: rolePayer},
		"onus_pay":          {payer: side2{Here: true, Initiator: true}, payee: side2{Here: true}, role: roleBoth, final: true, conf: true},
		"pay_payee":         {payee: side2{Here: true}, role: rolePayee, conf: true},
		"valadd":            {payer: side2{Here: true, Initiator: true}, role: roleValAdd, final: true},
	}
	raw, err := os.ReadFile("testdata/pre_sides_records.txt")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	require.Len(t, lines, len(want))
	for _, l := range lines {
		name, hexed, ok := strings.Cut(l, " ")
		require.True(t, ok)
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			require.True(t, ok)
			b, err := hex.DecodeString(hexed)
			require.NoError(t, err)
			r := decodeTxn(t, b)
			payer, payee := sides(r)
			assert.Equal(t, w.payer, payer)
			assert.Equal(t, w.payee, payee)
			assert.Equal(t, w.role, r.Role)
			assert.Equal(t, w.final, r.Final)
			assert.Equal(t, w.conf, r.Confirmed)
			assert.Equal(t, "alice@alpha", r.PayerVpa)

			// Written again (as putTxn writes it), it reads back the same.
			r.Initiator = r.PayerInitiator || r.PayeeInitiator
			again, err := proto.Marshal(r)
			require.NoError(t, err)
			r2 := decodeTxn(t, again)
			assert.True(t, proto.Equal(r, r2), "%v\n%v", r, r2)
		})
	}

	t.Run("json", func(t *testing.T) {
		r := decodeTxn(t, []byte(`{"id":"BET00000000000000000000000000000002","type":"COLLECT","role":"payee",`+
			`"state":"REQ_SENT","status":"PENDING","payer_vpa":"alice@alpha","payee_vpa":"chai@beta","amount_paise":6000,`+
			`"created":"2026-01-02T03:04:05Z","updated":"2026-01-02T03:04:05Z","payee_here":true,"initiator":true}`))
		payer, payee := sides(r)
		assert.Equal(t, side2{}, payer)
		assert.Equal(t, side2{Here: true, Initiator: true}, payee)
		assert.Equal(t, "chai@beta", r.PayeeVpa)
		assert.Equal(t, int64(6000), r.AmountPaise)
	})
}

// decodeTxn reads a stored value as getTxn does.
func decodeTxn(t *testing.T, raw []byte) *txnRecord {
	t.Helper()
	r := &txnRecord{}
	require.NoError(t, store.DecodeProto(raw, r))
	upgradeTxn(r)
	return r
}

func TestLiteRecordsRoundTrip(t *testing.T) {
	recordtest.TableRoundTrip(t, liteRequests)
	// recordtest fills no uint64 (the counter): by hand.
	f := newFixture(t, beta, nil)
	want := &liteCredit{Lrn: "LRN1", Counter: 1 << 40, Utr: "512345000001", ProvisionalUtr: "P00000000001",
		PayeeVpa: "chai@beta", AmountPaise: 100, TxnId: newTxnID("ALP"), Credited: 7}
	require.NoError(t, f.n.Update(func(c *node.Ctx) error { return liteCredits.Put(c.Tx, creditKey(want.Lrn, want.Counter), want) }))
	require.NoError(t, f.n.View(func(tx *store.Tx) error {
		got, ok, err := liteCredits.Get(tx, creditKey("LRN1", 1<<40))
		require.True(t, ok)
		assert.True(t, proto.Equal(want, got), "got %v", got)
		return err
	}))
}
