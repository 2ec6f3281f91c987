package sim

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
)

// The plan, faults included, is a function of the seed: the same seed
// makes the same run, another seed another one.
func TestPlanIsAFunctionOfTheSeed(t *testing.T) {
	cfg := config.Default()
	a, b, c := newPlan(42, 300, cfg), newPlan(42, 300, cfg), newPlan(43, 300, cfg)
	require.Len(t, a.flows, 300)
	for i := range a.flows {
		require.Equal(t, *a.flows[i], *b.flows[i], "flow %d", i)
	}
	assert.Equal(t, a.restarts, b.restarts)
	assert.NotEqual(t, a.restarts, c.restarts)
	same := 0
	for i := range a.flows {
		if reflect.DeepEqual(*a.flows[i], *c.flows[i]) {
			same++
		}
	}
	assert.Less(t, same, 10)

	// A message's fault depends on its flow and kind, not on its msg_id or
	// how often it is asked for.
	for i := range 50 {
		m := func() node.Outbound {
			return node.Outbound{To: "abank", API: "ReqPay", Method: upiv1.RemitterService_ReqPay_FullMethodName, Msg: &upiv1.ReqPay{
				Head: &upiv1.Head{OrgId: "npci", MsgId: ids.NewMsgID("NPC")},
				Txn:  &upiv1.Txn{Id: ids.NewTxnID("ALP"), Type: upiv1.Txn_DEBIT, Note: a.flows[i].note()},
			}}
		}
		f := a.faultFor("npci", m())
		assert.Equal(t, f, a.faultFor("npci", m()), "flow %d", i)
		assert.Equal(t, f, b.faultFor("npci", m()), "flow %d", i)
		assert.Equal(t, a.flows[i].drops.debit == dropReq, f.Drop, "flow %d", i)
	}
}

// The plan draws every kind of flow, answer, drop and restart the
// simulation is for.
func TestPlanCoversTheBranches(t *testing.T) {
	cfg := config.Default()
	p := newPlan(7, defaultFlows, cfg)
	seen := map[string]bool{}
	for _, f := range p.flows {
		seen[f.kind] = true
		if f.kind == kindCollect {
			seen["answer "+f.answer] = true
		}
		seen["pin "+f.pin] = true
		for leg, v := range map[string]int{"debit": f.drops.debit, "credit": f.drops.credit, "check": f.drops.check, "reversal": f.drops.reversal} {
			seen[leg+" drop "+string(rune('0'+v))] = true
		}
		if f.cannotSucceed == "" {
			seen["may succeed"] = true
		}
		if f.amount > cfg.Limits.PerTxn {
			seen["above the limit"] = true
		}
	}
	for _, want := range []string{
		kindPay, kindCollect, "answer approve", "answer decline", "answer ignore", "pin " + goodPIN, "pin " + wrongPIN,
		"debit drop 1", "debit drop 2", "credit drop 1", "credit drop 2", "check drop 1", "check drop 2",
		"reversal drop 1", "reversal drop 2", "may succeed", "above the limit",
	} {
		assert.True(t, seen[want], want)
	}
	restarted := map[string]bool{}
	for _, r := range p.restarts {
		restarted[r.node] = true
	}
	for _, n := range []string{"npci", "abank", "bbank"} {
		assert.True(t, restarted[n], "restarts %s", n)
	}
}
