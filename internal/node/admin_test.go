package node_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
)

// LocalAdmin answers as the AdminServer it wraps, statuses included.
func TestLocalAdmin(t *testing.T) {
	ctx := context.Background()
	n := nodetest.New(t, "npci", &counter{}, nodetest.NewRecorder())
	m := hbt("psp", "")
	ack, err := n.Receive(ctx, reqHbt, m)
	require.NoError(t, err)
	require.Empty(t, ack.GetErr())

	a := node.LocalAdmin(&node.AdminServer{Node: n, Role: "test"})
	h, err := a.Health(ctx, &upiv1.HealthRequest{})
	require.NoError(t, err)
	assert.Equal(t, "npci", h.GetNode())
	assert.Equal(t, "test", h.GetRole())
	msgs, err := a.ListMessages(ctx, &upiv1.ListMessagesRequest{TxnId: m.GetTxn().GetId()})
	require.NoError(t, err)
	assert.Len(t, msgs.GetMessages(), 1)

	_, err = a.ListMessages(ctx, &upiv1.ListMessagesRequest{})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	for name, call := range map[string]func() error{
		"GetTransaction": func() error {
			_, err := a.GetTransaction(ctx, &upiv1.GetTransactionRequest{TxnId: m.GetTxn().GetId()})
			return err
		},
		"ListTransactions": func() error { _, err := a.ListTransactions(ctx, &upiv1.ListTransactionsRequest{}); return err },
		"GetBalance":       func() error { _, err := a.GetBalance(ctx, &upiv1.GetBalanceRequest{Vpa: "a@b"}); return err },
		"ListAccounts":     func() error { _, err := a.ListAccounts(ctx, &upiv1.ListAccountsRequest{}); return err },
	} {
		assert.Equal(t, codes.Unimplemented, status.Code(call()), name) // the test role keeps none
	}
}
