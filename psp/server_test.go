package psp

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// TestRegisterServesBothServices checks the wiring over real gRPC (in
// memory): PspService reaches the inbox, PspAppService answers with status
// codes.
func TestRegisterServesBothServices(t *testing.T) {
	f := newFixture(t, beta, nil)
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	f.p.Register(srv)
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

	id := newTxnID("ALP")
	ack, err := upiv1.NewPspServiceClient(conn).ReqAuthDetails(t.Context(), payTo(id, "alice@alpha", "bob@beta", 100))
	require.NoError(t, err)
	assert.Empty(t, ack.GetErr())
	assert.Equal(t, "ReqAuthDetails", ack.GetApi())
	f.rec.WaitFor(t, upiv1.SwitchService_RespAuthDetails_FullMethodName, id)

	ack, err = upiv1.NewPspServiceClient(conn).ReqMandateConfirmation(t.Context(), &upiv1.ReqMandateConfirmation{Head: swHead(), Txn: &upiv1.Txn{Id: id}})
	require.NoError(t, err)
	assert.Equal(t, "ReqMandateConfirmation needs mandate.umn", ack.GetErr())

	app := upiv1.NewPspAppServiceClient(conn)
	_, err = app.InitiateCollect(t.Context(), &upiv1.InitiateCollectRequest{PayeeVpa: "zed@beta", PayerVpa: "alice@alpha", AmountPaise: 1})
	requireCode(t, err, codes.NotFound, "zed@beta")
	q, err := app.QueryTransaction(t.Context(), &upiv1.QueryTransactionRequest{TxnId: id})
	require.NoError(t, err)
	assert.Equal(t, "bob@beta", q.GetTransaction().GetPayeeVpa())
}
