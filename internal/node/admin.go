package node

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// TxnInspector is implemented by roles that keep transactions.
type TxnInspector interface {
	// InspectTxn gives the node's view of a transaction, or a NotFound
	// status.
	InspectTxn(txnID string) (*upiv1.GetTransactionResponse, error)
}

// Accounts is implemented by roles that keep a ledger (banks).
type Accounts interface {
	Balance(vpa string) (*upiv1.GetBalanceResponse, error)
	ListAccounts() (*upiv1.ListAccountsResponse, error)
}

// HeartbeatReporter is implemented by roles that send heartbeats.
type HeartbeatReporter interface {
	LastHeartbeat() (ts *timestamppb.Timestamp)
}

// AdminServer serves AdminService for any node. Role implements whichever
// of TxnInspector, Accounts and HeartbeatReporter it can; the rest answer
// Unimplemented with a message saying which role has it.
type AdminServer struct {
	upiv1.UnimplementedAdminServiceServer
	Node *Node
	Role string
	Impl any
}

// ListMessages implements AdminService.
func (a *AdminServer) ListMessages(_ context.Context, r *upiv1.ListMessagesRequest) (*upiv1.ListMessagesResponse, error) {
	if r.GetTxnId() == "" {
		return nil, status.Error(codes.InvalidArgument, "txn_id is required")
	}
	recs, err := a.Node.Trace(r.GetTxnId())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "trace: %v", err)
	}
	return &upiv1.ListMessagesResponse{Messages: recs}, nil
}

// GetTransaction implements AdminService.
func (a *AdminServer) GetTransaction(_ context.Context, r *upiv1.GetTransactionRequest) (*upiv1.GetTransactionResponse, error) {
	if r.GetTxnId() == "" {
		return nil, status.Error(codes.InvalidArgument, "txn_id is required")
	}
	ti, ok := a.Impl.(TxnInspector)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "node %s (%s) keeps no transactions", a.Node.Name(), a.Role)
	}
	return ti.InspectTxn(r.GetTxnId())
}

// GetBalance implements AdminService.
func (a *AdminServer) GetBalance(_ context.Context, r *upiv1.GetBalanceRequest) (*upiv1.GetBalanceResponse, error) {
	ac, ok := a.Impl.(Accounts)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "node %s (%s) keeps no accounts; ask a bank", a.Node.Name(), a.Role)
	}
	return ac.Balance(r.GetVpa())
}

// ListAccounts implements AdminService.
func (a *AdminServer) ListAccounts(context.Context, *upiv1.ListAccountsRequest) (*upiv1.ListAccountsResponse, error) {
	ac, ok := a.Impl.(Accounts)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "node %s (%s) keeps no accounts; ask a bank", a.Node.Name(), a.Role)
	}
	return ac.ListAccounts()
}

// Health implements AdminService.
func (a *AdminServer) Health(context.Context, *upiv1.HealthRequest) (*upiv1.HealthResponse, error) {
	ob, err := a.Node.OutboxLen()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "outbox: %v", err)
	}
	tm, err := a.Node.TimersLen()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "timers: %v", err)
	}
	resp := &upiv1.HealthResponse{Node: a.Node.Name(), Role: a.Role, Ok: true, OutboxPending: int64(ob), TimersPending: int64(tm)}
	if hb, ok := a.Impl.(HeartbeatReporter); ok {
		resp.LastHeartbeat = hb.LastHeartbeat()
	}
	return resp, nil
}
