package psp

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node/nodetest"
)

func TestHeartbeats(t *testing.T) {
	f := newFixture(t, alpha, func(n *config.Network) { n.Heartbeat = 20 * time.Millisecond })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.p.Run(ctx) }()

	s := f.rec.WaitFor(t, upiv1.SwitchService_ReqHbt_FullMethodName, "")
	assert.Equal(t, npci, s.To)
	hbt := s.Msg.(*upiv1.ReqHbt)
	assert.Equal(t, upiv1.Txn_HBT, hbt.GetTxn().GetType())
	assert.Equal(t, "ALP", ids.PrefixOf(hbt.GetTxn().GetId()))
	require.Eventually(t, func() bool { return f.rec.Count(upiv1.SwitchService_ReqHbt_FullMethodName, "") >= 3 }, 5*time.Second, 5*time.Millisecond,
		"a heartbeat every interval")
	seen := map[string]bool{}
	for _, s := range f.rec.All() {
		seen[s.Msg.GetTxn().GetId()] = true
	}
	assert.Len(t, seen, len(f.rec.All()), "each heartbeat has a fresh txn id")

	assert.Nil(t, f.p.LastHeartbeat(), "no answer yet")
	// A failed answer is not a heartbeat.
	f.accept(upiv1.PspService_RespHbt_FullMethodName, &upiv1.RespHbt{Head: swHead(), Txn: hbt.GetTxn(), Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE}})
	assert.Nil(t, f.p.LastHeartbeat())
	before := time.Now()
	f.accept(upiv1.PspService_RespHbt_FullMethodName, &upiv1.RespHbt{Head: swHead(), Txn: hbt.GetTxn(), Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}})
	last := f.p.LastHeartbeat()
	require.NotNil(t, last)
	assert.WithinDuration(t, before, last.AsTime(), time.Second)

	cancel()
	require.NoError(t, <-done)
}

// Heartbeats run on the node's clock: an interval of an hour passes when
// the fake clock is moved, not on the wall clock.
func TestHeartbeatsOnNodeClock(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := nodetest.NewClock(start)
	f := newFixtureWith(t, alpha, func(n *config.Network) { n.Heartbeat = time.Hour }, Config{}, nodetest.WithClock(clk))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.p.Run(ctx) }()

	first := f.rec.WaitFor(t, upiv1.SwitchService_ReqHbt_FullMethodName, "").Msg.(*upiv1.ReqHbt)
	assert.True(t, start.Equal(first.GetTxn().GetTs().AsTime()), "the first at once, stamped with the node's clock")
	hours := 0
	require.Eventually(t, func() bool {
		if f.rec.Count(upiv1.SwitchService_ReqHbt_FullMethodName, "") >= 3 {
			return true
		}
		clk.Advance(time.Hour)
		hours++
		return false
	}, 5*time.Second, time.Millisecond, "a heartbeat every hour of the node's clock")
	cancel()
	require.NoError(t, <-done)
	nodetest.Quiesce(t, f.n)
	assert.LessOrEqual(t, f.rec.Count(upiv1.SwitchService_ReqHbt_FullMethodName, ""), 1+hours, "at most one an hour")
}

func TestHeartbeatsOff(t *testing.T) {
	f := newFixture(t, alpha, nil) // the fixture sets heartbeat 0
	// Run returns at once, having started nothing: no ticker left to send.
	require.NoError(t, f.p.Run(t.Context()))
	nodetest.Quiesce(t, f.n)
	assert.Empty(t, f.rec.All(), "no heartbeat sent")
}

func TestReqHbtFromSwitchIsAnswered(t *testing.T) {
	f := newFixture(t, alpha, nil)
	id := newTxnID("NPC")
	req := &upiv1.ReqHbt{Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_HBT}}
	f.accept(upiv1.PspService_ReqHbt_FullMethodName, req)
	m := f.rec.WaitFor(t, upiv1.SwitchService_RespHbt_FullMethodName, id).Msg.(*upiv1.RespHbt)
	assert.Equal(t, upiv1.Resp_SUCCESS, m.GetResp().GetResult())
	assert.Equal(t, req.GetHead().GetMsgId(), m.GetResp().GetReqMsgId())
}
