package node_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
)

// tpapServer is a TpapService whose Notify is the node's durable inbox.
type tpapServer struct {
	upiv1.UnimplementedTpapServiceServer
	n *node.Node
}

func (s *tpapServer) Notify(ctx context.Context, m *upiv1.Notification) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.TpapService_Notify_FullMethodName, m)
}

// serve serves n's TpapService on a loopback port until the test ends.
func serve(t *testing.T, n *node.Node) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := grpc.NewServer()
	upiv1.RegisterTpapServiceServer(s, &tpapServer{n: n})
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(lis) }()
	t.Cleanup(func() { s.Stop(); <-done })
	return lis.Addr().String()
}

func notification(sender string) *upiv1.Notification {
	p := ids.PrefixFor(sender)
	return &upiv1.Notification{
		Head:     &upiv1.Head{Ver: "2.0", OrgId: sender, MsgId: ids.NewMsgID(p), ProdType: "UPI"},
		Txn:      &upiv1.Txn{Id: ids.NewTxnID(p), Type: upiv1.Txn_PAY, Note: "lunch", CustRef: "512312000042"},
		Kind:     upiv1.Notification_TXN_STATUS,
		UserAddr: "alice@alpha",
		Payer:    &upiv1.Party{Addr: "alice@alpha", Name: "Alice", AmountPaise: 25000},
		Payee:    &upiv1.Party{Addr: "bob@beta", Name: "Bob"},
		Resp:     &upiv1.Resp{Result: upiv1.Resp_SUCCESS, ReqMsgId: ids.NewMsgID(p)},
	}
}

func TestGRPCTransport(t *testing.T) {
	h := &counter{seen: make(chan node.Message, 10)}
	tpap := nodetest.New(t, "tpap", h, nodetest.NewRecorder())
	addr := serve(t, tpap)

	tr := node.NewGRPCTransport(func(name string) (string, bool) {
		if name == "tpap" {
			return addr, true
		}
		return "", false
	}, nil)
	t.Cleanup(func() { _ = tr.Close() })
	ctx := context.Background()

	t.Run("raw bytes arrive intact and the ack comes back", func(t *testing.T) {
		m := notification("alphapsp")
		body, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		require.NoError(t, err)
		ack, err := tr.Send(ctx, node.Outgoing{From: "alphapsp", To: "tpap", Method: upiv1.TpapService_Notify_FullMethodName, Body: body})
		require.NoError(t, err)
		assert.Empty(t, ack.GetErr())
		assert.Equal(t, "Notify", ack.GetApi())
		assert.Equal(t, m.GetHead().GetMsgId(), ack.GetReqMsgId())
		got := recv(t, h.seen)
		assert.True(t, proto.Equal(m, got), "received %v, sent %v", got, m)

		// A duplicate over the wire gets the same ack.
		ack2, err := tr.Send(ctx, node.Outgoing{From: "alphapsp", To: "tpap", Method: upiv1.TpapService_Notify_FullMethodName, Body: body})
		require.NoError(t, err)
		assert.True(t, proto.Equal(ack, ack2))
		assert.EqualValues(t, 1, count(t, tpap, "applied/"+m.GetTxn().GetId()))
	})

	t.Run("a refusal travels in the ack", func(t *testing.T) {
		m := notification("alphapsp")
		m.Txn.Note = noteRefuse
		body, err := proto.Marshal(m)
		require.NoError(t, err)
		ack, err := tr.Send(ctx, node.Outgoing{To: "tpap", Method: upiv1.TpapService_Notify_FullMethodName, Body: body})
		require.NoError(t, err)
		assert.Equal(t, `Notify refused: txn note says "refuse"`, ack.GetErr())
	})

	t.Run("an internal error is a gRPC error", func(t *testing.T) {
		m := notification("alphapsp")
		m.Txn.Note = noteFail
		body, err := proto.Marshal(m)
		require.NoError(t, err)
		_, err = tr.Send(ctx, node.Outgoing{To: "tpap", Method: upiv1.TpapService_Notify_FullMethodName, Body: body})
		assert.Equal(t, codes.Internal, status.Code(err))
	})

	t.Run("unknown node", func(t *testing.T) {
		_, err := tr.Send(ctx, node.Outgoing{To: "nobody", Method: upiv1.TpapService_Notify_FullMethodName})
		assert.ErrorContains(t, err, `no address for node "nobody"`)
	})

	t.Run("unknown method", func(t *testing.T) {
		_, err := tr.Send(ctx, node.Outgoing{To: "tpap", Method: upiv1.SwitchService_ReqPay_FullMethodName, Body: nil})
		assert.Equal(t, codes.Unimplemented, status.Code(err))
	})

	t.Run("through a node's outbox", func(t *testing.T) {
		psp := nodetest.New(t, "alphapsp", &counter{}, tr)
		m := notification("alphapsp")
		m.Head = nil // Send fills it in
		require.NoError(t, psp.Update(func(c *node.Ctx) error {
			return c.Send("tpap", upiv1.TpapService_Notify_FullMethodName, m)
		}))
		got := recv(t, h.seen)
		assert.True(t, proto.Equal(m, got), "received %v, sent %v", got, m)
		requireAcked(t, psp, m.GetTxn().GetId(), "")
	})
}

// A peer that is down is retried until it comes up.
func TestGRPCTransportPeerDown(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close()) // nothing listens there yet

	tr := node.NewGRPCTransport(func(string) (string, bool) { return addr, true }, nil)
	t.Cleanup(func() { _ = tr.Close() })
	psp := nodetest.New(t, "alphapsp", &counter{}, tr)
	m := notification("alphapsp")
	m.Head = nil
	require.NoError(t, psp.Update(func(c *node.Ctx) error {
		return c.Send("tpap", upiv1.TpapService_Notify_FullMethodName, m)
	}))

	h := &counter{seen: make(chan node.Message, 10)}
	tpap := nodetest.New(t, "tpap", h, nodetest.NewRecorder())
	lis, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	s := grpc.NewServer()
	upiv1.RegisterTpapServiceServer(s, &tpapServer{n: tpap})
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(lis) }()
	t.Cleanup(func() { s.Stop(); <-done })

	got := recv(t, h.seen)
	assert.True(t, proto.Equal(m, got))
	requireAcked(t, psp, m.GetTxn().GetId(), "")
}

func recv(t *testing.T, ch <-chan node.Message) node.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(waitFor):
		t.Fatal("no message arrived")
		return nil
	}
}
