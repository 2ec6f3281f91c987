package psp

import (
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/store/recordtest"
)

func TestTxnRecordRoundTrip(t *testing.T) { recordtest.RoundTrip[txnRecord](t) }

// Records written before the per-side state (testdata/pre_sides_records.txt
// holds ones encoded by that code, in hex; and one in the JSON of older
// files) decode with each side's state: who is here, and which side
// initiated.
func TestRecordsBeforeSides(t *testing.T) {
	want := map[string]struct {
		payer, payee sideState
		role         string
		final, conf  bool
	}{
		"pay_initiator":     {payer: sideState{Here: true, Initiator: true}, role: rolePayer, final: true},
		"collect_initiator": {payee: sideState{Here: true, Initiator: true}, role: rolePayee},
		"collect_payer":     {payer: sideState{Here: true}, role: rolePayer},
		"onus_pay":          {payer: sideState{Here: true, Initiator: true}, payee: sideState{Here: true}, role: roleBoth, final: true, conf: true},
		"pay_payee":         {payee: sideState{Here: true}, role: rolePayee, conf: true},
		"valadd":            {payer: sideState{Here: true, Initiator: true}, role: roleValAdd, final: true},
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
			var r txnRecord
			require.NoError(t, store.DecodeRecord(b, &r))
			assert.Equal(t, w.payer, r.Payer)
			assert.Equal(t, w.payee, r.Payee)
			assert.Equal(t, w.role, r.Role)
			assert.Equal(t, w.final, r.Final)
			assert.Equal(t, w.conf, r.Confirmed)
			assert.Equal(t, "alice@alpha", r.PayerVPA)

			// Written again, it reads back the same.
			again, err := r.MarshalRecord()
			require.NoError(t, err)
			var r2 txnRecord
			require.NoError(t, store.DecodeRecord(again, &r2))
			assert.Equal(t, r, r2)
		})
	}

	t.Run("json", func(t *testing.T) {
		var r txnRecord
		require.NoError(t, store.DecodeRecord([]byte(`{"id":"BET00000000000000000000000000000002","type":"COLLECT","role":"payee",`+
			`"state":"REQ_SENT","status":"PENDING","payer_vpa":"alice@alpha","payee_vpa":"chai@beta","amount_paise":6000,`+
			`"created":"2026-01-02T03:04:05Z","updated":"2026-01-02T03:04:05Z","payee_here":true,"initiator":true}`), &r))
		assert.Equal(t, sideState{}, r.Payer)
		assert.Equal(t, sideState{Here: true, Initiator: true}, r.Payee)
		assert.Equal(t, "chai@beta", r.PayeeVPA)
		assert.Equal(t, int64(6000), r.Amount)
	})
}
