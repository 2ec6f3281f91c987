package node_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
)

// With a Token, every admin method but Health wants it as a bearer token;
// LocalAdmin's calls are in process and need none.
func TestAdminToken(t *testing.T) {
	n := nodetest.New(t, "npci", &counter{}, nodetest.NewRecorder())
	m := hbt("psp", "")
	_, err := n.Receive(context.Background(), reqHbt, m)
	require.NoError(t, err)
	a := &node.AdminServer{Node: n, Role: "test", Token: "s3cret-token"}
	req := &upiv1.ListMessagesRequest{TxnId: m.GetTxn().GetId()}
	with := func(auth ...string) context.Context {
		md := metadata.MD{}
		for _, v := range auth {
			md.Append("authorization", v)
		}
		return metadata.NewIncomingContext(context.Background(), md)
	}
	calls := map[string]func(context.Context) error{
		"ListMessages": func(ctx context.Context) error { _, err := a.ListMessages(ctx, req); return err },
		"GetTransaction": func(ctx context.Context) error {
			_, err := a.GetTransaction(ctx, &upiv1.GetTransactionRequest{TxnId: "x"})
			return err
		},
		"ListTransactions": func(ctx context.Context) error {
			_, err := a.ListTransactions(ctx, &upiv1.ListTransactionsRequest{})
			return err
		},
		"GetBalance": func(ctx context.Context) error {
			_, err := a.GetBalance(ctx, &upiv1.GetBalanceRequest{Vpa: "a@b"})
			return err
		},
		"ListAccounts": func(ctx context.Context) error {
			_, err := a.ListAccounts(ctx, &upiv1.ListAccountsRequest{})
			return err
		},
		"ListPostings": func(ctx context.Context) error {
			_, err := a.ListPostings(ctx, &upiv1.ListPostingsRequest{})
			return err
		},
	}
	for name, call := range calls {
		for _, ctx := range []context.Context{context.Background(), with(), with("Bearer wrong"), with("s3cret-token"), with("Basic s3cret-token"), with("Bearer s3cret-tokenX")} {
			err := call(ctx)
			require.Equal(t, codes.Unauthenticated, status.Code(err), name)
			assert.Contains(t, status.Convert(err).Message(), "DATA/admin.token", name)
		}
		// The right token passes: the call fails only as it would without one.
		assert.NotEqual(t, codes.Unauthenticated, status.Code(call(with("Bearer s3cret-token"))), name)
		assert.NotEqual(t, codes.Unauthenticated, status.Code(call(with("Bearer wrong", "bearer s3cret-token"))), name)
	}
	msgs, err := a.ListMessages(with("Bearer s3cret-token"), req)
	require.NoError(t, err)
	assert.Len(t, msgs.GetMessages(), 1)

	h, err := a.Health(context.Background(), &upiv1.HealthRequest{})
	require.NoError(t, err, "Health needs no token")
	assert.Equal(t, "npci", h.GetNode())

	msgs, err = node.LocalAdmin(a).ListMessages(context.Background(), req)
	require.NoError(t, err, "LocalAdmin is in process")
	assert.Len(t, msgs.GetMessages(), 1)
}
