package upiswitch

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/store/recordtest"
)

func TestRecordRoundTrip(t *testing.T) { recordtest.RoundTrip[record](t) }

// TestRecordBeforeFlows decodes a record written by the switch before
// per-flow records (one confirm and one deemed_confirm instead of the
// lists; testdata/switchtxn_v1_deemed_then_success.binpb, made by that
// code): it reads as the same transaction, its confirmations as lists of
// one.
func TestRecordBeforeFlows(t *testing.T) {
	raw, err := os.ReadFile("testdata/switchtxn_v1_deemed_then_success.binpb")
	require.NoError(t, err)
	var got record
	require.NoError(t, store.DecodeRecord(raw, &got))

	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	ex := func(to, id string, d time.Duration) *exchange {
		return &exchange{To: to, MsgID: id, Sent: at.Add(d), Answered: at.Add(d + time.Second), Result: "SUCCESS", ApprovalNum: "AP" + id[3:9]}
	}
	want := record{
		ID: "TXN0123456789abcdef0123456789abcdef", Type: "PAY", State: StateClosed, Status: "SUCCESS",
		RRN: "633410000001", Amount: 12345, Info: info{Note: "lunch"},
		Payer:      party{Addr: "alice@alpha", Name: "Alice", AcNum: "1000000001", IFSC: "ABNK0000001"},
		Payee:      party{Addr: "bob@beta", Name: "Bob", AcNum: "2000000001", IFSC: "BBNK0000001"},
		Originator: "alphapsp", OrigMsgID: "MSG00000000000000000000000000000001", Counterparty: "betapsp",
		Remitter: "abank", Beneficiary: "bbank",
		Auth:           ex("betapsp", "MSG00000000000000000000000000000002", 0),
		Debit:          ex("abank", "MSG00000000000000000000000000000003", 2*time.Second),
		Credit:         &exchange{To: "bbank", MsgID: "MSG00000000000000000000000000000004", Sent: at.Add(4 * time.Second), Answered: at.Add(40 * time.Second), Result: "SUCCESS", TimedOut: at.Add(34 * time.Second), ErrCode: "RB"},
		DeemedConfirms: []*exchange{ex("betapsp", "MSG00000000000000000000000000000005", 34*time.Second)},
		Checks:         []*exchange{ex("bbank", "MSG00000000000000000000000000000006", 36*time.Second)},
		ChecksSent:     1, Deemed: at.Add(34 * time.Second),
		Confirms: []*exchange{ex("betapsp", "MSG00000000000000000000000000000007", 41*time.Second)},
		Reason:   "no credit response from bbank within 30s; deemed, then the credit was confirmed by a status check from bbank",
		Created:  at, Updated: at.Add(42 * time.Second),
		Late: []lateNote{{At: at.Add(40 * time.Second), API: "RespPay", Leg: "CREDIT", From: "bbank", MsgID: "MSG00000000000000000000000000000008", Result: "SUCCESS", State: StateCheckSent, Code: "U70"}},
	}
	assert.Equal(t, want, got)
	assert.Equal(t, want.summary(), got.summary())

	// Written again, it is what the old code wrote: one confirmation is
	// still in its own field.
	again, err := got.MarshalRecord()
	require.NoError(t, err)
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
	var got record
	require.NoError(t, store.DecodeRecord(raw, &got))
	assert.Equal(t, []*exchange{{To: "betapsp", MsgID: "MSG1"}}, got.Confirms)
	assert.Equal(t, []*exchange{{To: "betapsp", MsgID: "MSG2"}}, got.DeemedConfirms)
}
