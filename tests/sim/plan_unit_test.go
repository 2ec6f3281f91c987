package sim

import (
	"reflect"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
)

// The plan, faults included, is a function of the seed: the same seed
// makes the same run, another seed another one.
func TestPlanIsAFunctionOfTheSeed(t *testing.T) {
	cfg := simConfig()
	a, b, c := newPlan(42, 300, cfg), newPlan(42, 300, cfg), newPlan(43, 300, cfg)
	require.Len(t, a.flows, 300)
	for i := range a.flows {
		require.Equal(t, *a.flows[i], *b.flows[i], "flow %d", i)
	}
	assert.Equal(t, a.restarts, b.restarts)
	assert.NotEqual(t, a.restarts, c.restarts)
	assert.Equal(t, a.circle, b.circle)
	assert.NotEqual(t, a.circle, c.circle)
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

	// A Circle message's fault depends on its link or payment and kind,
	// and is never one that changes an outcome (a drop, a delay).
	faults := 0
	for i := range 200 {
		id := ids.NewTxnID("ALP")
		a.circleIDs.Store(id, "link "+strconv.Itoa(i))
		b.circleIDs.Store(id, "link "+strconv.Itoa(i))
		m := node.Outbound{To: "npci", API: "ReqDelegateAdd", Method: upiv1.SwitchService_ReqDelegateAdd_FullMethodName, Msg: &upiv1.ReqDelegateAdd{
			Head: &upiv1.Head{OrgId: "alphapsp", MsgId: ids.NewMsgID("ALP")},
			Txn:  &upiv1.Txn{Id: ids.NewTxnID("ALP"), OrgTxnId: id, Type: upiv1.Txn_DELEGATE},
		}}
		f := a.circleFault("alphapsp", m)
		assert.Equal(t, f, b.circleFault("alphapsp", m), "link %d", i)
		assert.False(t, f.Drop || f.Delay > 0, "link %d: %+v", i, f)
		if !f.IsZero() {
			faults++
		}
	}
	assert.Greater(t, faults, 20)
}

// The plan draws every kind of flow, answer, drop and restart the
// simulation is for.
func TestPlanCoversTheBranches(t *testing.T) {
	cfg := simConfig()
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
	// UPI Circle: every kind of link, answer, removal and delegated
	// payment of both modes, with the outcomes they are for.
	assert.Empty(t, circleMissing(p.circle.branches()), "UPI Circle branches the plan of seed 7 lacks")
	for _, r := range p.restarts {
		assert.GreaterOrEqual(t, p.circle.start, r.at+r.down, "the Circle lanes start before the restart of %s ends", r.node)
	}
}

// Whatever the seed, the Circle plan keeps the rules that make its
// predictions hold in any interleaving of its lanes, and it covers every
// Circle branch: a secondary is in one
// lane only (so CS comes only from a lane's own rival link); a primary has
// links in at most circle.max_secondaries lanes (so it never has that many
// others at once), but the CP lane's, which is its own; and the payments
// predicted SUCCESS never take a primary below zero (no Z9).
func TestCirclePlanKeepsTheRules(t *testing.T) {
	cfg := simConfig()
	balance := map[string]int64{}
	for _, u := range cfg.Users {
		balance[u.VPA] = u.Balance
	}
	for seed := int64(1); seed <= 300; seed++ {
		cp := newPlan(seed, 10, cfg).circle
		// The scenarios make every plan cover the branches, whatever the
		// seed TestSimulation draws.
		require.Empty(t, circleMissing(cp.branches()), "seed %d", seed)
		laneOf := map[string]int{}
		lanesOf := map[string]map[int]bool{}
		for i, lane := range cp.lanes {
			require.NotEmpty(t, lane.steps, "seed %d lane %d", seed, i)
			assert.GreaterOrEqual(t, lane.start, cp.start, "seed %d lane %d", seed, i)
			for _, st := range lane.steps {
				l := st.link
				if st.pay != nil {
					l = st.pay.link
				}
				if j, ok := laneOf[l.secondary]; ok && j != i {
					t.Fatalf("seed %d: secondary %s is in lanes %d and %d", seed, l.secondary, j, i)
				}
				laneOf[l.secondary] = i
				if lanesOf[l.primary] == nil {
					lanesOf[l.primary] = map[int]bool{}
				}
				lanesOf[l.primary][i] = true
			}
		}
		for primary, lanes := range lanesOf {
			if primary == cpPrimary {
				assert.Len(t, lanes, 1, "seed %d: %s is in other lanes than the CP lane", seed, primary)
				continue
			}
			assert.LessOrEqual(t, len(lanes), cfg.Circle.MaxSecondaries, "seed %d: %s", seed, primary)
		}
		spent := map[string]int64{}
		for _, d := range cp.pays {
			if d.want == upiv1.Resp_SUCCESS {
				spent[d.link.primary] += d.amount
			}
			require.Positive(t, d.amount, "seed %d: %s", seed, d)
		}
		for primary, v := range spent {
			assert.LessOrEqual(t, v, balance[primary], "seed %d: %s", seed, primary)
		}
	}
}

// The Lite plan is a function of the seed, and whatever the seed its lanes
// keep the rules its predictions need: each lane enables its wallet first
// and ends online; a step over a limit is drawn only where the device
// answers its code (LO offline; Z8 and Z9 online pays while online); and
// the first lane covers every code and the plan of seed 7 every kind of
// step and batch.
func TestLitePlanKeepsTheRules(t *testing.T) {
	cfg := simConfig()
	assert.Equal(t, newPlan(42, 300, cfg).lite, newPlan(42, 300, cfg).lite)
	assert.NotEqual(t, newPlan(42, 300, cfg).lite, newPlan(43, 300, cfg).lite)
	for seed := int64(1); seed <= 300; seed++ {
		lp := newPlan(seed, defaultFlows, cfg).lite
		require.Len(t, lp.lanes, len(liteUsers), "seed %d", seed)
		codes := map[string]bool{}
		for _, l := range lp.lanes {
			require.Equal(t, liteEnable, l.steps[0].op, "seed %d: %s", seed, l)
			require.Equal(t, liteOnline, l.steps[len(l.steps)-1].op, "seed %d: %s", seed, l)
			offline := false
			for i, st := range l.steps {
				assert.True(t, st.share > 0 && st.share <= 1, "seed %d lane %d step %d: share %v", seed, l.idx, i, st.share)
				switch st.over {
				case overOffline:
					assert.True(t, offline, "seed %d lane %d step %d: LO while online", seed, l.idx, i)
				case overPerTxn, overBalance:
					if st.op == litePay {
						assert.False(t, offline, "seed %d lane %d step %d: an online payment over a limit while offline is LO", seed, l.idx, i)
					}
				}
				if st.op == liteBatch {
					assert.Contains(t, batchShapes, st.batch)
				}
				switch st.op {
				case liteOffline:
					offline = true
				case liteOnline:
					offline = false
				}
				if l.idx == 0 {
					codes[st.over] = true
				}
			}
		}
		for _, over := range []string{overPerTxn, overBalance, overCount, overOffline} {
			assert.True(t, codes[over], "seed %d: the first lane lacks %s", seed, over)
		}
	}
	seen := newPlan(7, defaultFlows, cfg).lite.branches()
	for _, op := range []string{liteEnable, liteTopUp, litePay, litePayOff, liteOffline, liteOnline, liteBatch, liteTransfer} {
		assert.True(t, seen["lite "+op], op)
	}
	for _, b := range batchShapes {
		assert.True(t, seen["lite batch "+b], b)
	}
}
