package tpap

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// A sync answer that leaves a SENT record PENDING (another batch is
// posting it) may carry a balance the record was already debited from:
// the wallet is not re-based on it, or the record would be taken twice.
// Found by the simulation (seed 11): a crafted batch posted three records
// while the device's own sync was answered PENDING for them, and the
// wallet went below zero.
func TestApplySyncPendingDoesNotRebase(t *testing.T) {
	rec := func(c uint64, amount int64) *liteRecord {
		return &liteRecord{Direction: dirSent, Status: upiv1.Resp_PENDING.String(),
			Record: &upiv1.LiteRecord{Lrn: "L1", Counter: c, AmountPaise: amount}}
	}
	// 50000 topped up; records of 10000 and 5000 signed: the device shows
	// 35000. The bank debited both.
	d := &liteDevice{Lrn: "L1", BalancePaise: 35000, Unsynced: []*liteRecord{rec(1, 10000), rec(2, 5000)}, OfflineSinceSync: 2}
	ans := &upiv1.RespLiteSync{
		Results: []*upiv1.LiteRecordResult{
			{Lrn: "L1", Counter: 1, Result: upiv1.Resp_PENDING},
			{Lrn: "L1", Counter: 2, Result: upiv1.Resp_SUCCESS, Utr: "123456789012"},
		},
		Balances: []*upiv1.LiteBalance{{Lrn: "L1", BalancePaise: 35000, Version: 1}},
	}
	applySync(d, &litePending{}, ans, 1)
	assert.Equal(t, int64(35000), d.GetBalancePaise(), "not 35000 less the PENDING record again")
	assert.Equal(t, int64(35000), d.GetReportedBalancePaise())
	assert.Len(t, d.GetUnsynced(), 1)
	assert.Equal(t, int32(2), d.GetOfflineSinceSync(), "a SENT record is still unsynced")

	// The next answer decides it: the wallet re-bases.
	ans = &upiv1.RespLiteSync{
		Results:  []*upiv1.LiteRecordResult{{Lrn: "L1", Counter: 1, Result: upiv1.Resp_SUCCESS, Utr: "123456789013"}},
		Balances: []*upiv1.LiteBalance{{Lrn: "L1", BalancePaise: 35000, Version: 2}},
	}
	applySync(d, &litePending{}, ans, 2)
	assert.Equal(t, int64(35000), d.GetBalancePaise())
	assert.Empty(t, d.GetUnsynced())
	assert.Zero(t, d.GetOfflineSinceSync())

	// A FAILURE beside a PENDING one: its money is back, without a re-base.
	d = &liteDevice{Lrn: "L1", BalancePaise: 35000, Unsynced: []*liteRecord{rec(3, 10000), rec(4, 5000)}}
	ans = &upiv1.RespLiteSync{
		Results: []*upiv1.LiteRecordResult{
			{Lrn: "L1", Counter: 3, Result: upiv1.Resp_PENDING},
			{Lrn: "L1", Counter: 4, Result: upiv1.Resp_FAILURE, ErrCode: "LD"},
		},
		Balances: []*upiv1.LiteBalance{{Lrn: "L1", BalancePaise: 40000, Version: 1}},
	}
	applySync(d, &litePending{}, ans, 3)
	assert.Equal(t, int64(40000), d.GetBalancePaise())
}

// A sync answered before another but delivered after it (the PSP retries
// its notification once a crashed TPAP is back) carries an older balance:
// it must not re-base the wallet. Found by TestCrashLite (seed
// 1796242966165397020): sync A went out with nothing of record 2, the
// device paid record 2 offline and synced it in B; B's answer (record 2
// SUCCESS, the balance after it) came first, then A's with the balance from
// before record 2, and the wallet showed record 2's amount twice over.
func TestApplySyncOlderBalanceDoesNotRebase(t *testing.T) {
	rec := &liteRecord{Direction: dirSent, Status: upiv1.Resp_PENDING.String(),
		Record: &upiv1.LiteRecord{Lrn: "L1", Counter: 2, AmountPaise: 1022}}
	d := &liteDevice{Lrn: "L1", BalancePaise: 48978, Unsynced: []*liteRecord{rec}, OfflineSinceSync: 1}

	newer := &upiv1.RespLiteSync{
		Results:  []*upiv1.LiteRecordResult{{Lrn: "L1", Counter: 2, Result: upiv1.Resp_SUCCESS, Utr: "123456789012"}},
		Balances: []*upiv1.LiteBalance{{Lrn: "L1", BalancePaise: 48978, Version: 7}},
	}
	applySync(d, &litePending{}, newer, 1)
	require.Equal(t, int64(48978), d.GetBalancePaise())
	require.Equal(t, uint64(7), d.GetRebaseVersion())

	older := &upiv1.RespLiteSync{Balances: []*upiv1.LiteBalance{{Lrn: "L1", BalancePaise: 50000, Version: 5}}}
	applySync(d, &litePending{}, older, 2)
	assert.Equal(t, int64(48978), d.GetBalancePaise(), "not the balance from before record 2")
	assert.Equal(t, int64(48978), d.GetReportedBalancePaise(), "the reported balance is the newer one too")
	assert.Equal(t, uint64(7), d.GetRebaseVersion())

	// A newer one re-bases again: a top-up of 1000 posted since.
	applySync(d, &litePending{}, &upiv1.RespLiteSync{Balances: []*upiv1.LiteBalance{{Lrn: "L1", BalancePaise: 49978, Version: 9}}}, 3)
	assert.Equal(t, int64(49978), d.GetBalancePaise())
}
