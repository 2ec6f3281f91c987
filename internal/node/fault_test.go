package node_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/fault"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/store"
)

// startFaulty starts a node like start, with change applied to its Config
// (rules, faults).
func startFaulty(t *testing.T, path, name string, h node.Handler, tr node.Transport, change func(*node.Config)) *instance {
	t.Helper()
	db, err := store.Open(path, store.Options{NoSync: true})
	require.NoError(t, err)
	cfg := node.Config{
		Name: name, Role: "test", DB: db, Handler: h, Transport: tr,
		RetryMin: 2 * time.Millisecond, RetryMax: 20 * time.Millisecond,
	}
	change(&cfg)
	inst := &instance{db: db, Node: node.New(cfg)}
	if it, ok := tr.(*node.InmemTransport); ok {
		it.Attach(inst.Node)
	}
	t.Cleanup(inst.stop)
	require.NoError(t, inst.Start())
	return inst
}

// withRules sets the node's rules to rules.
func withRules(rules ...fault.Rule) func(*node.Config) {
	return func(c *node.Config) { c.Rules = fault.For(rules, c.Name) }
}

// traceNotes lists "DIRECTION API note" of the node's trace of txnID.
func traceNotes(t *testing.T, n *node.Node, txnID string) []string {
	t.Helper()
	recs, err := n.Trace(txnID)
	require.NoError(t, err)
	var out []string
	for _, r := range recs {
		out = append(out, r.GetDirection().String()+" "+r.GetApi()+" "+r.GetNote())
	}
	return out
}

func TestRuleIgnore(t *testing.T) {
	rec := nodetest.NewRecorder()
	b := startFaulty(t, dbPath(t, "npci"), "npci", &counter{replyTo: "psp"}, rec,
		withRules(fault.Rule{Name: "deaf", Match: fault.Match{API: "ReqHbt"}, Ignore: true}))
	m := hbt("psp", "")
	ack, err := b.Receive(t.Context(), reqHbt, m)
	require.NoError(t, err)
	assert.Empty(t, ack.GetErr(), "an ignored message is accepted")

	assert.Zero(t, count(t, b.Node, "applied"), "never handled")
	assert.Equal(t, 1, keys(t, b.Node, store.Inbox), "but stored")
	assert.Zero(t, outboxLen(t, b.Node), "and never answered")
	assert.Empty(t, rec.All())
	assert.Equal(t, []string{"IN ReqHbt ignored: never processed, never answered (rule deaf)"}, traceNotes(t, b.Node, m.GetTxn().GetId()))

	// A repeat is answered from the inbox, still not handled.
	again, err := b.Receive(t.Context(), reqHbt, m)
	require.NoError(t, err)
	assert.Empty(t, again.GetErr())
	assert.Zero(t, count(t, b.Node, "applied"))

	// Other messages are handled as usual.
	other := &upiv1.RespHbt{Head: hbt("psp", "").GetHead(), Txn: hbt("psp", "").GetTxn(), Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}}
	_, err = b.Receive(t.Context(), respHbt, other)
	require.NoError(t, err)
	assert.EqualValues(t, 1, count(t, b.Node, "applied"))
}

// decliner records Ctx.Decline in store.Meta "declined".
type decliner struct{}

func (decliner) Handle(c *node.Ctx, _ *node.Inbound) error {
	return c.Tx.Put(store.Meta, []byte("declined"), []byte(c.Decline()))
}
func (decliner) Fire(*node.Ctx, node.Timer) error { return nil }

func TestRuleDecline(t *testing.T) {
	b := startFaulty(t, dbPath(t, "bank"), "bank", decliner{}, nodetest.NewRecorder(), withRules(
		fault.Rule{Name: "big", Match: fault.Match{API: "ReqHbt", Type: "HBT", Payee: "x@y"}, Decline: "U16"},
		fault.Rule{Name: "all", Match: fault.Match{API: "ReqHbt"}, Decline: "Z9"},
		fault.Rule{Name: "elsewhere", Node: "other", Decline: "U30"},
	))
	declined := func() string {
		var v string
		require.NoError(t, b.View(func(tx *store.Tx) error { v = string(tx.Get(store.Meta, []byte("declined"))); return nil }))
		return v
	}
	m := hbt("npci", "")
	_, err := b.Receive(t.Context(), reqHbt, m)
	require.NoError(t, err)
	assert.Equal(t, "Z9", declined(), "ReqHbt has no payee, so only the second rule matches")
	assert.Equal(t, []string{"IN ReqHbt declined with Z9 (rule all)"}, traceNotes(t, b.Node, m.GetTxn().GetId()))

	_, err = b.Receive(t.Context(), respHbt, &upiv1.RespHbt{Head: hbt("npci", "").GetHead(), Txn: m.GetTxn(), Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}})
	require.NoError(t, err)
	assert.Empty(t, declined(), "no rule matches RespHbt")
}

func TestRuleAnswerDrop(t *testing.T) {
	rec := nodetest.NewRecorder()
	b := startFaulty(t, dbPath(t, "npci"), "npci", &counter{replyTo: "psp"}, rec,
		withRules(fault.Rule{Name: "mute", Match: fault.Match{API: "ReqHbt"}, Fault: fault.Fault{Drop: true}}))
	m := hbt("psp", "")
	_, err := b.Receive(t.Context(), reqHbt, m)
	require.NoError(t, err)
	assert.EqualValues(t, 1, count(t, b.Node, "applied"), "handled")
	// The answer was never queued, so it can never be sent.
	assert.Zero(t, outboxLen(t, b.Node))
	assert.Empty(t, rec.All())
	assert.Equal(t, []string{
		"IN ReqHbt its answer dropped: never sent (rule mute)",
		"OUT RespHbt dropped: never sent (rule mute)",
	}, traceNotes(t, b.Node, m.GetTxn().GetId()))
}

func TestRuleAnswerDelay(t *testing.T) {
	rec := nodetest.NewRecorder()
	path := dbPath(t, "npci")
	rules := withRules(fault.Rule{Name: "slow", Match: fault.Match{API: "ReqHbt"}, Fault: fault.Fault{Delay: time.Hour}})
	b := startFaulty(t, path, "npci", &counter{replyTo: "psp"}, rec, rules)
	m := hbt("psp", "")
	_, err := b.Receive(t.Context(), reqHbt, m)
	require.NoError(t, err)
	assert.Equal(t, 1, outboxLen(t, b.Node), "queued")
	assert.Equal(t, []string{
		"IN ReqHbt its answer delayed 1h0m0s (rule slow)",
		"OUT RespHbt delayed 1h0m0s (rule slow)",
	}, traceNotes(t, b.Node, m.GetTxn().GetId()))

	// The delay is kept across a restart, from when it was queued: the
	// answer is still waiting, and the node stops without waiting for it.
	b.stop()
	b = startFaulty(t, path, "npci", &counter{replyTo: "psp"}, rec, rules)
	assert.Equal(t, 1, outboxLen(t, b.Node))
	assert.Zero(t, rec.Count(respHbt, ""), "the answer is not sent before its hour")
}

func TestRuleSendFaultDelayDelivers(t *testing.T) {
	rec := nodetest.NewRecorder()
	b := startFaulty(t, dbPath(t, "npci"), "npci", &counter{replyTo: "psp"}, rec,
		withRules(fault.Rule{Name: "bit-slow", On: fault.OnSend, Match: fault.Match{API: "RespHbt", Peer: "psp"}, Fault: fault.Fault{Delay: 40 * time.Millisecond}}))
	m := hbt("psp", "")
	start := time.Now()
	_, err := b.Receive(t.Context(), reqHbt, m)
	require.NoError(t, err)
	s := rec.WaitFor(t, respHbt, m.GetTxn().GetId())
	assert.GreaterOrEqual(t, time.Since(start), 40*time.Millisecond, "not before its delay")
	assert.Equal(t, "psp", s.To)
	assert.Equal(t, []string{"IN ReqHbt ", "OUT RespHbt delayed 40ms (rule bit-slow)"}, traceNotes(t, b.Node, m.GetTxn().GetId()))
	require.Eventually(t, func() bool { return outboxLen(t, b.Node) == 0 }, 5*time.Second, 2*time.Millisecond)
}

// countingTransport counts the deliveries that reach next.
type countingTransport struct {
	next node.Transport
	mu   sync.Mutex
	n    int
}

func (c *countingTransport) Send(ctx context.Context, m node.Outgoing) (*upiv1.Ack, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.next.Send(ctx, m)
}

func (c *countingTransport) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// TestFaultsHook: Config.Faults fails sends before and after delivery and
// duplicates; the receiver applies the message once and traces every
// repeat.
func TestFaultsHook(t *testing.T) {
	for _, tt := range []struct {
		name       string
		f          fault.Fault
		deliveries int // reaching the receiver
		note       string
	}{
		{"fail sends", fault.Fault{FailSends: 2}, 1, "first 2 send(s) fail (rule test)"},
		{"lose acks", fault.Fault{LoseAcks: 2}, 3, "first 2 ack(s) lost (rule test)"},
		{"duplicate", fault.Fault{Duplicate: true}, 2, "sent twice (rule test)"},
		{"all", fault.Fault{FailSends: 1, LoseAcks: 1, Duplicate: true}, 3, "first 1 send(s) fail, first 1 ack(s) lost, sent twice (rule test)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inmem := node.NewInmemTransport()
			tr := &countingTransport{next: inmem}
			recv := startFaulty(t, dbPath(t, "npci"), "npci", &counter{}, inmem, func(*node.Config) {})
			sender := startFaulty(t, dbPath(t, "psp"), "psp", &counter{}, tr, func(c *node.Config) {
				c.Faults = func(o node.Outbound) fault.Fault {
					if o.API != "ReqHbt" || o.Cause != nil {
						return fault.Fault{}
					}
					f := tt.f
					f.Rule = "test"
					return f
				}
			})
			inmem.Attach(sender.Node)
			m := hbt("psp", "")
			require.NoError(t, sender.Update(func(c *node.Ctx) error {
				return c.Send("npci", reqHbt, &upiv1.ReqHbt{Txn: m.GetTxn()})
			}))
			require.Eventually(t, func() bool { return outboxLen(t, sender.Node) == 0 }, 5*time.Second, 2*time.Millisecond, "acked at last")
			require.Eventually(t, func() bool { return tr.count() == tt.deliveries }, 5*time.Second, 2*time.Millisecond)
			assert.EqualValues(t, 1, count(t, recv.Node, "applied"), "applied once")
			assert.Equal(t, []string{"OUT ReqHbt " + tt.note}, traceNotes(t, sender.Node, m.GetTxn().GetId()))
			want := []string{"IN ReqHbt "}
			for range tt.deliveries - 1 {
				want = append(want, "IN ReqHbt repeat of a message already received: answered with its stored ack, not applied again")
			}
			require.Eventually(t, func() bool { return len(traceNotes(t, recv.Node, m.GetTxn().GetId())) == len(want) }, 5*time.Second, 2*time.Millisecond)
			assert.Equal(t, want, traceNotes(t, recv.Node, m.GetTxn().GetId()))
		})
	}
}
