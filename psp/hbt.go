// Heartbeats (docs/FLOWS.md, Heartbeat), both ways.

package psp

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// hbtRoutes are the heartbeats both ways (docs/FLOWS.md, Heartbeat).
func (p *PSP) hbtRoutes() []node.Route {
	return []node.Route{
		{Method: upiv1.PspService_ReqHbt_FullMethodName, From: fromSwitch,
			Handle: node.Handles(func(c *node.Ctx, _ *node.Inbound, m *upiv1.ReqHbt) error {
				return c.Send(p.switchName, upiv1.SwitchService_RespHbt_FullMethodName, &upiv1.RespHbt{
					Txn:  cloneTxn(m.GetTxn()),
					Resp: &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
				})
			})},
		{Method: upiv1.PspService_RespHbt_FullMethodName, From: fromSwitch,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.RespHbt) error { return needResult(in.API, m.GetResp()) }),
			Handle: node.Handles(func(c *node.Ctx, _ *node.Inbound, m *upiv1.RespHbt) error {
				if m.GetResp().GetResult() == upiv1.Resp_SUCCESS {
					return c.Tx.Put(store.Meta, []byte(metaLastHbt), []byte(c.Now().UTC().Format(timeFormat)))
				}
				return nil
			})},
	}
}

// Run sends a ReqHbt to the switch at once and then every
// Network.Heartbeat of the node's clock, until ctx is done. A zero
// interval sends none, and Run returns at once.
func (p *PSP) Run(ctx context.Context) error {
	every := p.cfg.Network.Heartbeat
	if every <= 0 {
		return nil
	}
	clock := p.n.Clock()
	t := clock.NewTimer()
	defer t.Stop()
	for {
		if err := p.sendHeartbeat(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.log.Warn("heartbeat not queued", "err", err)
		}
		// Like a time.Ticker: a clock moved on by many intervals at once
		// sends one heartbeat, not one per interval missed.
		t.Reset(clock.Now().Add(every))
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

func (p *PSP) sendHeartbeat() error {
	return p.n.Update(func(c *node.Ctx) error {
		return c.Send(p.switchName, upiv1.SwitchService_ReqHbt_FullMethodName, &upiv1.ReqHbt{
			Txn: &upiv1.Txn{Id: ids.NewTxnID(p.prefix), Type: upiv1.Txn_HBT, Ts: timestamppb.New(c.Now())},
		})
	})
}

// LastHeartbeat implements node.HeartbeatReporter: when the switch last
// answered a heartbeat with SUCCESS, or nil if it never did.
func (p *PSP) LastHeartbeat() *timestamppb.Timestamp {
	var ts *timestamppb.Timestamp
	_ = p.n.View(func(tx *store.Tx) error {
		if v := tx.Get(store.Meta, []byte(metaLastHbt)); v != nil {
			if t, err := time.Parse(timeFormat, string(v)); err == nil {
				ts = timestamppb.New(t)
			}
		}
		return nil
	})
	return ts
}
