package node_test

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
)

// A node served with ServerCodec (as every node of a cluster is) takes a
// message as the bytes it came in: a resend of those bytes is a repeat,
// answered with the stored ack and not applied again, even when they are
// not the bytes the node would marshal the message to; other bytes for
// the same msg_id, even of an equal message, are another body, as
// Receive's doc says.
func TestServerCodecKeepsWireBytes(t *testing.T) {
	h := &counter{}
	tab := pspTable(h)
	n := nodetest.New(t, "alphapsp", tab, nodetest.NewRecorder())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.ForceServerCodecV2(node.ServerCodec()))
	node.Register(srv, tab, n)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		<-served
	})
	tr := node.NewGRPCTransport(func(string) (string, bool) { return lis.Addr().String(), true }, nil)
	t.Cleanup(func() { _ = tr.Close() })

	m := hbt("npci", "tea")
	// The txn before the head: valid protobuf, but not the field order
	// of Go's (deterministic) marshalling.
	txn, err := proto.Marshal(&upiv1.ReqHbt{Txn: m.Txn})
	require.NoError(t, err)
	head, err := proto.Marshal(&upiv1.ReqHbt{Head: m.Head})
	require.NoError(t, err)
	wire := append(txn, head...)
	canonical, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	require.NoError(t, err)
	require.NotEqual(t, canonical, wire)

	send := func(body []byte) *upiv1.Ack {
		t.Helper()
		ack, err := tr.Send(t.Context(), node.Outgoing{From: "npci", To: "alphapsp", Method: upiv1.PspService_ReqHbt_FullMethodName, Body: body})
		require.NoError(t, err)
		return ack
	}
	first := send(wire)
	require.Empty(t, first.GetErr())
	assert.EqualValues(t, 1, count(t, n, "applied/"+m.GetTxn().GetId()))

	again := send(wire)
	assert.True(t, proto.Equal(first, again), "a resend of the same bytes gets the stored ack: %v, first %v", again, first)
	assert.EqualValues(t, 1, count(t, n, "applied/"+m.GetTxn().GetId()))

	other := send(canonical)
	assert.Contains(t, other.GetErr(), "was already used for a different message")
	assert.EqualValues(t, 1, count(t, n, "applied/"+m.GetTxn().GetId()))

	// The repeats are traced lazily, on a later commit.
	require.Eventually(t, func() bool {
		trace, err := n.Trace(m.GetTxn().GetId())
		require.NoError(t, err)
		return len(trace) == 3
	}, waitFor, tick, "the message, its repeat and the refused one are traced")
}
