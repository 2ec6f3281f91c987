package node_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/store"
)

// peers is the network of the route tests: a switch, two PSPs, a bank.
var peers = node.Directory{
	Network: "testnet",
	Roles:   map[string]string{"npci": "switch", "alphapsp": "psp", "betapsp": "psp", "abank": "bank"},
	Sole:    "switch",
}

// pspTable is a PSP-like role that serves PspService and routes only
// ReqHbt (from the switch) and RespHbt (from a PSP, for the test of a
// role with several nodes), to h.
func pspTable(h *counter) *node.Table {
	return node.NewTable(node.Routes{
		Who: "PSP", Peers: peers,
		Services: []*grpc.ServiceDesc{&upiv1.PspService_ServiceDesc},
		Routes: []node.Route{
			{Method: upiv1.PspService_ReqHbt_FullMethodName, From: []string{"switch"}, Handle: h.Handle},
			{Method: upiv1.PspService_RespHbt_FullMethodName, From: []string{"psp"},
				Validate: node.Validates(func(_ *node.Inbound, m *upiv1.RespHbt) error {
					if m.GetResp() == nil {
						return node.Refuse("RespHbt needs resp")
					}
					return nil
				}),
				Handle: h.Handle},
		},
		Timers: []node.TimerKind{{Prefix: "tick", Fire: h.Fire}},
	})
}

func respHbtFrom(sender string) *upiv1.RespHbt {
	m := hbt(sender, "")
	return &upiv1.RespHbt{Head: m.Head, Txn: m.Txn, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}}
}

// Every message the table does not route, and every sender a route does
// not take, is refused in the Ack with nothing stored or handled.
func TestRoutesRefuse(t *testing.T) {
	h := &counter{}
	n := nodetest.New(t, "alphapsp", pspTable(h), nodetest.NewRecorder())
	tests := []struct {
		name   string
		method string
		msg    node.Message
		want   string
	}{
		{"routed", upiv1.PspService_ReqHbt_FullMethodName, hbt("npci", ""), ""},
		{"served, no route", upiv1.PspService_RespChkTxn_FullMethodName, hbt("npci", ""), "RespChkTxn is not supported by this PSP yet"},
		{"unknown method", upiv1.SwitchService_ReqPay_FullMethodName, hbt("npci", ""),
			"this PSP does not take /upi.v1.SwitchService/ReqPay: no method of the services it serves"},
		{"not the sole sender", upiv1.PspService_ReqHbt_FullMethodName, hbt("abank", ""),
			`ReqHbt from "abank": this PSP takes it only from the switch npci`},
		{"a role not taken", upiv1.PspService_RespHbt_FullMethodName, respHbtFrom("abank"),
			"RespHbt from abank: only a psp node sends it to this PSP, and abank is a bank"},
		{"not in the network", upiv1.PspService_RespHbt_FullMethodName, respHbtFrom("mallory"),
			`RespHbt from "mallory": not a node of network "testnet"`},
		{"validate", upiv1.PspService_RespHbt_FullMethodName, &upiv1.RespHbt{Head: hbt("betapsp", "").Head, Txn: hbt("betapsp", "").Txn},
			"RespHbt needs resp"},
		{"wrong type", upiv1.PspService_RespHbt_FullMethodName, hbt("betapsp", ""),
			"/upi.v1.PspService/RespHbt carries *upiv1.ReqHbt, not *upiv1.RespHbt"},
		{"another psp", upiv1.PspService_RespHbt_FullMethodName, respHbtFrom("betapsp"), ""},
	}
	var applied uint64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inbox := keys(t, n, store.Inbox)
			ack, err := n.Receive(t.Context(), tt.method, tt.msg)
			require.NoError(t, err)
			assert.Equal(t, tt.want, ack.GetErr())
			if tt.want != "" {
				assert.Equal(t, inbox, keys(t, n, store.Inbox), "a refused sender's message is not stored")
				trace, err := n.Trace(tt.msg.GetTxn().GetId())
				require.NoError(t, err)
				assert.Empty(t, trace)
			} else {
				applied++
			}
			assert.Equal(t, applied, count(t, n, "applied"))
		})
	}
}

// node.Register serves every method of the table's services over gRPC,
// decoding into the method's input type: routed ones reach the inbox,
// others get the table's refusal in the Ack.
func TestRegisterServesTheTable(t *testing.T) {
	h := &counter{}
	tab := pspTable(h)
	n := nodetest.New(t, "alphapsp", tab, nodetest.NewRecorder())
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	node.Register(srv, tab, n)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		<-served
	})
	conn, err := grpc.NewClient("passthrough:///psp",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	cl := upiv1.NewPspServiceClient(conn)

	m := hbt("npci", "")
	ack, err := cl.ReqHbt(t.Context(), m)
	require.NoError(t, err)
	assert.Empty(t, ack.GetErr())
	assert.Equal(t, "ReqHbt", ack.GetApi())
	assert.Equal(t, m.GetHead().GetMsgId(), ack.GetReqMsgId())
	assert.EqualValues(t, 1, count(t, n, "applied/"+m.GetTxn().GetId()))

	ack, err = cl.RespChkTxn(t.Context(), &upiv1.RespChkTxn{Head: hbt("npci", "").Head, Txn: hbt("npci", "").Txn})
	require.NoError(t, err)
	assert.Equal(t, "RespChkTxn is not supported by this PSP yet", ack.GetErr())
}

// acker is a sender whose ReqHbt route has an Acked step: it counts
// "acked/<txn id>" and records how many outbox entries the step's
// transaction still sees. It fails while fail is set.
type acker struct {
	fail    atomic.Bool
	calls   atomic.Int32
	outbox  atomic.Int32
	refused atomic.Int32
}

func (a *acker) table() *node.Table {
	return node.NewTable(node.Routes{
		Who: "test", Peers: node.Directory{Roles: map[string]string{"a": "test", "b": "test"}},
		Routes: []node.Route{{
			Method: reqHbt,
			Acked: func(c *node.Ctx, ak node.Acked) error {
				a.calls.Add(1)
				if a.fail.Load() {
					return errors.New("ack step fails")
				}
				var left int32
				if err := c.Tx.Scan(store.Outbox, nil, func(_, _ []byte) (bool, error) { left++; return true, nil }); err != nil {
					return err
				}
				a.outbox.Store(left)
				if ak.Ack.GetErr() != "" || ak.API != "ReqHbt" || ak.To != "b" {
					return errors.New("not the ack of a's ReqHbt to b")
				}
				return incr(c.Tx, "acked/"+ak.Msg.GetTxn().GetId())
			},
			Refused: func(*node.Ctx, node.Refused) error { a.refused.Add(1); return nil },
		}},
	})
}

// The positive-ack step runs once, in the transaction that removes the
// message from the outbox.
func TestAckedStep(t *testing.T) {
	tr := node.NewInmemTransport()
	ak := &acker{}
	a := start(t, dbPath(t, "a"), "a", ak.table(), tr)
	hb := &counter{}
	b := start(t, dbPath(t, "b"), "b", hb, tr)

	m := send(t, a.Node, "b")
	txnID := m.GetTxn().GetId()
	requireAcked(t, a.Node, txnID, "")
	assert.EqualValues(t, 1, count(t, a.Node, "acked/"+txnID), "the step committed with the outbox removal")
	assert.EqualValues(t, 1, ak.calls.Load())
	assert.EqualValues(t, 0, ak.outbox.Load(), "the step's transaction has removed the entry")
	assert.EqualValues(t, 0, ak.refused.Load())
	assert.EqualValues(t, 1, count(t, b.Node, "applied/"+txnID))

	// A message whose route has no Acked step is acked as before.
	tr2 := node.NewInmemTransport()
	c := start(t, dbPath(t, "c"), "c", &counter{}, tr2)
	start(t, dbPath(t, "b2"), "b", &counter{}, tr2)
	m2 := send(t, c.Node, "b")
	requireAcked(t, c.Node, m2.GetTxn().GetId(), "")
}

// When the node stops after the receiver acked but before the step
// committed, the message stays in the outbox: after the restart it is sent
// again, the receiver answers from its inbox (applying nothing twice), and
// the step runs once.
func TestAckedStepAfterRestart(t *testing.T) {
	tr := node.NewInmemTransport()
	pathA := dbPath(t, "a")
	ak := &acker{}
	ak.fail.Store(true)
	a := start(t, pathA, "a", ak.table(), tr)
	hb := &counter{}
	b := start(t, dbPath(t, "b"), "b", hb, tr)

	m := send(t, a.Node, "b")
	txnID := m.GetTxn().GetId()
	require.Eventually(t, func() bool { return ak.calls.Load() >= 1 }, waitFor, tick, "the ack step never ran")
	a.stop()
	assert.EqualValues(t, 1, count(t, b.Node, "applied/"+txnID), "b has the message")

	ak2 := &acker{}
	a2 := open(t, pathA, "a", ak2.table(), tr)
	assert.EqualValues(t, 0, count(t, a2.Node, "acked/"+txnID), "no step committed")
	assert.Equal(t, 1, outboxLen(t, a2.Node), "the message is still to be acked")
	require.NoError(t, a2.Start())
	requireAcked(t, a2.Node, txnID, "")
	assert.EqualValues(t, 1, count(t, a2.Node, "acked/"+txnID))
	assert.EqualValues(t, 1, ak2.calls.Load())
	assert.EqualValues(t, 1, count(t, b.Node, "applied"), "the resend was answered from b's inbox")
	assert.EqualValues(t, 1, hb.calls.Load())
	require.Eventually(t, func() bool {
		trace, err := b.Trace(txnID)
		return err == nil && len(trace) >= 2
	}, waitFor, tick, "b traces the repeat")
}
