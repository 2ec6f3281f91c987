package cli

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

func (a *liteAdmin) ListLiteRecons(_ context.Context, r *upiv1.ListLiteReconsRequest) (*upiv1.ListLiteReconsResponse, error) {
	out := &upiv1.ListLiteReconsResponse{}
	for _, rep := range a.recons {
		if r.GetBank() == "" || rep.GetBank() == r.GetBank() {
			out.Recons = append(out.Recons, rep)
		}
	}
	if r.GetLimit() > 0 && len(out.Recons) > int(r.GetLimit()) {
		out.Recons = out.Recons[:r.GetLimit()]
	}
	return out, nil
}

func (a *liteAdmin) RunLiteRecon(_ context.Context, r *upiv1.RunLiteReconRequest) (*upiv1.RunLiteReconResponse, error) {
	rep := &upiv1.LiteRecon{TxnId: "NPC" + r.GetBank(), Bank: r.GetBank(), State: "DONE", OnDemand: true,
		Started: timestamppb.Now(), Answered: timestamppb.Now()}
	if r.GetWaitMs() < 1000 {
		rep.State, rep.Answered = "SENT", nil
	}
	a.recons = append([]*upiv1.LiteRecon{rep}, a.recons...)
	return &upiv1.RunLiteReconResponse{Recon: rep}, nil
}

// --daily prints the switch's last report of each bank and exits 1 for a
// mismatch that no money on its way explains; --run asks for one now and
// waits, and a report not answered is exit 1 too.
func TestLiteReconcileDailyAndRun(t *testing.T) {
	day := timestamppb.New(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	sw := &liteAdmin{recons: []*upiv1.LiteRecon{
		{TxnId: "NPC2", Bank: "abank", State: "DONE", Started: day, Answered: day, PoolPaise: 35_000, LrnsPaise: 35_000,
			Lines:      []*upiv1.LiteReconLine{{Lrn: "LRN1", State: "ACTIVE", SwitchBalancePaise: 30_000, BankBalancePaise: 35_000, UnconfirmedPaise: 5_000}},
			Mismatches: []*upiv1.LiteReconMismatch{{Lrn: "LRN1", Kind: "UNCONFIRMED", AmountPaise: 5_000, Cause: "a lost confirmation"}}},
		{TxnId: "NPC1", Bank: "abank", State: "DONE", Started: day, Answered: day,
			Mismatches: []*upiv1.LiteReconMismatch{{Kind: "POOL_MISMATCH", AmountPaise: 1}}},
	}}
	data := liteNet(t, &liteTPAP{}, map[string]*liteAdmin{"npci": sw})
	var out bytes.Buffer
	_, err := LiteReconcile(t.Context(), &out, LiteReconcileOptions{DataDir: data, Daily: true})
	require.NoError(t, err, "the last report of abank names money on its way only; bbank has none yet")
	for _, want := range []string{"NPC2", "LRN1", "UNCONFIRMED", "a lost confirmation", "₹300.00", "₹350.00", "bbank: no reconciliation yet"} {
		assert.Contains(t, out.String(), want)
	}
	assert.NotContains(t, out.String(), "NPC1", "only the last report")

	sw.recons[0].Mismatches = append(sw.recons[0].Mismatches, &upiv1.LiteReconMismatch{Lrn: "LRN1", Kind: "DEVICE_STALE"})
	out.Reset()
	_, err = LiteReconcile(t.Context(), &out, LiteReconcileOptions{DataDir: data, Daily: true, Bank: "abank", Output: JSON})
	assert.EqualError(t, err, "reconcile: abank: DEVICE_STALE")
	assert.Equal(t, ExitError, ExitCode(err))
	m := jsonKeys(t, out.Bytes())
	require.Len(t, m["reports"], 1)
	rep := m["reports"].([]any)[0].(map[string]any)
	assert.Equal(t, "NPC2", rep["txn_id"])
	assert.Equal(t, "2026-12-02T00:00:00Z", rep["started"])
	assert.Equal(t, "35000", rep["pool_paise"], "protojson's int64")
	assert.Len(t, rep["mismatches"], 2)

	out.Reset()
	_, err = LiteReconcile(t.Context(), &out, LiteReconcileOptions{DataDir: data, Run: true, Bank: "bbank", Wait: 5 * time.Second})
	require.NoError(t, err)
	assert.Contains(t, out.String(), "DONE (on demand)")
	_, err = LiteReconcile(t.Context(), &out, LiteReconcileOptions{DataDir: data, Run: true, Bank: "bbank", Wait: time.Millisecond})
	assert.EqualError(t, err, "reconcile: bbank: NPCbbank not answered")

	_, err = LiteReconcile(t.Context(), &out, LiteReconcileOptions{DataDir: data, Run: true, Daily: true})
	assert.ErrorContains(t, err, "give one")
	_, err = LiteReconcile(t.Context(), &out, LiteReconcileOptions{DataDir: data, Daily: true, Bank: "zbank"})
	assert.ErrorContains(t, err, `"zbank" is no bank`)
}
