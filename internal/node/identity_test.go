package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/store"
)

func requirePeer(c *node.Config) { c.RequirePeer = true }

func asPeer(ctx context.Context, name, role string) context.Context {
	return node.WithPeer(ctx, node.Peer{Name: name, Role: role})
}

// With RequirePeer, a network message needs an authenticated sender whose
// certificate names the node head.org_id claims, with the role the network
// file gives it; anything else is refused with nothing stored or handled.
func TestAuthenticatedSender(t *testing.T) {
	h := &counter{}
	n := nodetest.New(t, "alphapsp", pspTable(h), nodetest.NewRecorder(), requirePeer)

	// No certificate at all: UNAUTHENTICATED, not an Ack.
	_, err := n.Receive(t.Context(), upiv1.PspService_ReqHbt_FullMethodName, hbt("npci", ""))
	require.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)
	assert.Contains(t, status.Convert(err).Message(), "mutual TLS")

	tests := []struct {
		name, peer, role string
		msg              node.Message
		method, want     string
	}{
		{"org_id is not the certificate's node", "betapsp", "psp", hbt("npci", ""), upiv1.PspService_ReqHbt_FullMethodName,
			`head.org_id "npci" is not the sender: the sender's certificate is node "betapsp"'s`},
		{"a certificate's role the network does not give the node", "npci", "psp", hbt("npci", ""), upiv1.PspService_ReqHbt_FullMethodName,
			"ReqHbt from npci: its certificate says role psp, not switch"},
		{"a role the route does not take", "abank", "psp", respHbtFrom("abank"), upiv1.PspService_RespHbt_FullMethodName,
			"RespHbt from abank: its certificate says role psp, but abank is a bank in network \"testnet\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ack, err := n.Receive(asPeer(t.Context(), tt.peer, tt.role), tt.method, tt.msg)
			require.NoError(t, err)
			assert.Equal(t, tt.want, ack.GetErr())
			trace, err := n.Trace(tt.msg.GetTxn().GetId())
			require.NoError(t, err)
			assert.Empty(t, trace, "a refused message is stored nowhere")
		})
	}
	assert.Zero(t, keys(t, n, store.Inbox))
	assert.Zero(t, count(t, n, "applied"))

	ack, err := n.Receive(asPeer(t.Context(), "npci", "switch"), upiv1.PspService_ReqHbt_FullMethodName, hbt("npci", ""))
	require.NoError(t, err)
	assert.Empty(t, ack.GetErr())
	assert.EqualValues(t, 1, count(t, n, "applied"))
}

// An authenticated node's response is taken only when it answers a
// request this node sent to that node, in that transaction.
func TestAnswerOnlyWhatWasAsked(t *testing.T) {
	h := &counter{fireTo: "betapsp"}
	rec := nodetest.NewRecorder()
	n := nodetest.New(t, "alphapsp", pspTable(h), rec, requirePeer)
	txn := ids.NewTxnID("ALP")
	require.NoError(t, n.Update(func(c *node.Ctx) error { return c.SetTimer("tick:ask", c.Now(), []byte(txn)) }))
	asked := rec.WaitFor(t, reqHbt, txn)
	require.Equal(t, "betapsp", asked.To)

	answer := func(from, txnID, reqMsgID string) *upiv1.RespHbt {
		m := respHbtFrom(from)
		m.Txn.Id = txnID
		m.Resp.ReqMsgId = reqMsgID
		return m
	}
	tests := []struct {
		name string
		msg  *upiv1.RespHbt
		want string
	}{
		{"no req_msg_id", answer("betapsp", txn, ""), "RespHbt from betapsp: resp.req_msg_id is required: it names the request this answers"},
		{"a request never sent", answer("betapsp", txn, ids.NewMsgID("ALP")), "names no request this node sent to betapsp"},
		{"a request sent to another node", answer("alphapsp", txn, asked.Msg.GetHead().GetMsgId()), "names no request this node sent to alphapsp"},
		{"another transaction", answer("betapsp", ids.NewTxnID("BET"), asked.Msg.GetHead().GetMsgId()), "names no request this node sent to betapsp"},
		{"the answer", answer("betapsp", txn, asked.Msg.GetHead().GetMsgId()), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := keys(t, n, store.Inbox)
			ack, err := n.Receive(asPeer(t.Context(), tt.msg.GetHead().GetOrgId(), "psp"), respHbt, tt.msg)
			require.NoError(t, err)
			if tt.want == "" {
				assert.Empty(t, ack.GetErr())
				assert.Equal(t, before+1, keys(t, n, store.Inbox))
				return
			}
			assert.Contains(t, ack.GetErr(), tt.want)
			assert.Equal(t, before, keys(t, n, store.Inbox), "a refused answer is stored nowhere")
		})
	}
}

// InmemTransport delivers each message with its sender as the
// authenticated peer, so whole in-memory networks run with RequirePeer.
func TestInmemCarriesThePeer(t *testing.T) {
	tr := node.NewInmemTransport()
	h := &counter{seen: make(chan node.Message, 1)}
	start(t, dbPath(t, "alphapsp"), "alphapsp", h, tr, requirePeer)
	sender := start(t, dbPath(t, "npci"), "npci", &counter{fireTo: "alphapsp"}, tr, func(c *node.Config) { c.Role = "test" })
	txn := ids.NewTxnID("NPC")
	require.NoError(t, sender.Update(func(c *node.Ctx) error { return c.SetTimer("tick:go", c.Now(), []byte(txn)) }))
	select {
	case m := <-h.seen:
		assert.Equal(t, txn, m.GetTxn().GetId())
	case <-time.After(5 * time.Second):
		t.Fatal("the ReqHbt did not arrive")
	}
}
