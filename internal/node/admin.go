package node

import (
	"context"
	"fmt"
	"google.golang.org/protobuf/proto"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/store"
)

// TxnInspector is implemented by roles that keep transactions.
type TxnInspector interface {
	// InspectTxn gives the node's view of a transaction, or a NotFound
	// status.
	InspectTxn(txnID string) (*upiv1.GetTransactionResponse, error)
}

// TxnLister is implemented by roles that can list their transactions.
type TxnLister interface {
	// ListTxns gives up to limit (> 0) transactions in txn id order,
	// starting after the id `after` ("" for the first), and the id to
	// continue after when more remain ("" on the last page).
	ListTxns(after string, limit int) (txns []*upiv1.TxnSummary, next string, err error)
}

// Page sizes of AdminService/ListTransactions.
const (
	DefaultListLimit = 1000
	MaxListLimit     = 10000
)

// Accounts is implemented by roles that keep a ledger (banks).
type Accounts interface {
	Balance(vpa string) (*upiv1.GetBalanceResponse, error)
	ListAccounts() (*upiv1.ListAccountsResponse, error)
}

// PostingLister is implemented by roles that keep a ledger (banks).
type PostingLister interface {
	// ListPostings gives up to limit (> 0) postings in ref order, starting
	// after the ref `after` ("" for the first), and the ref to continue
	// after when more remain ("" on the last page).
	ListPostings(after string, limit int) (postings []*upiv1.Posting, next string, err error)
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
	// Token, when set, is the admin token every method but Health needs:
	// gRPC metadata "authorization: Bearer TOKEN" (the REST gateway
	// passes a request's Authorization header as it), else Unauthenticated
	// (HTTP 401). LocalAdmin's calls are in process and need none.
	Token string
}

// ListMessages implements AdminService.
func (a *AdminServer) ListMessages(ctx context.Context, r *upiv1.ListMessagesRequest) (*upiv1.ListMessagesResponse, error) {
	if err := a.authorize(ctx); err != nil {
		return nil, err
	}
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
func (a *AdminServer) GetTransaction(ctx context.Context, r *upiv1.GetTransactionRequest) (*upiv1.GetTransactionResponse, error) {
	if err := a.authorize(ctx); err != nil {
		return nil, err
	}
	if r.GetTxnId() == "" {
		return nil, status.Error(codes.InvalidArgument, "txn_id is required")
	}
	ti, ok := a.Impl.(TxnInspector)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "node %s (%s) keeps no transactions", a.Node.Name(), a.Role)
	}
	return ti.InspectTxn(r.GetTxnId())
}

// listLimit is the page size a List request asks for: 0 means
// DefaultListLimit, and more than MaxListLimit means MaxListLimit.
func listLimit(limit int32) (int, error) {
	switch {
	case limit < 0:
		return 0, status.Errorf(codes.InvalidArgument, "limit %d is negative", limit)
	case limit == 0:
		return DefaultListLimit, nil
	case limit > MaxListLimit:
		return MaxListLimit, nil
	}
	return int(limit), nil
}

// ListTransactions implements AdminService.
func (a *AdminServer) ListTransactions(ctx context.Context, r *upiv1.ListTransactionsRequest) (*upiv1.ListTransactionsResponse, error) {
	if err := a.authorize(ctx); err != nil {
		return nil, err
	}
	limit, err := listLimit(r.GetLimit())
	if err != nil {
		return nil, err
	}
	tl, ok := a.Impl.(TxnLister)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "node %s (%s) does not list transactions", a.Node.Name(), a.Role)
	}
	txns, next, err := tl.ListTxns(r.GetPageToken(), limit)
	if err != nil {
		if _, isStatus := status.FromError(err); isStatus {
			return nil, err
		}
		return nil, status.Errorf(codes.Internal, "list transactions: %v", err)
	}
	return &upiv1.ListTransactionsResponse{Transactions: txns, NextPageToken: next}, nil
}

// GetBalance implements AdminService.
func (a *AdminServer) GetBalance(ctx context.Context, r *upiv1.GetBalanceRequest) (*upiv1.GetBalanceResponse, error) {
	if err := a.authorize(ctx); err != nil {
		return nil, err
	}
	ac, ok := a.Impl.(Accounts)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "node %s (%s) keeps no accounts; ask a bank", a.Node.Name(), a.Role)
	}
	return ac.Balance(r.GetVpa())
}

// ListAccounts implements AdminService.
func (a *AdminServer) ListAccounts(ctx context.Context, _ *upiv1.ListAccountsRequest) (*upiv1.ListAccountsResponse, error) {
	if err := a.authorize(ctx); err != nil {
		return nil, err
	}
	ac, ok := a.Impl.(Accounts)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "node %s (%s) keeps no accounts; ask a bank", a.Node.Name(), a.Role)
	}
	return ac.ListAccounts()
}

// ListPostings implements AdminService.
func (a *AdminServer) ListPostings(ctx context.Context, r *upiv1.ListPostingsRequest) (*upiv1.ListPostingsResponse, error) {
	if err := a.authorize(ctx); err != nil {
		return nil, err
	}
	limit, err := listLimit(r.GetLimit())
	if err != nil {
		return nil, err
	}
	pl, ok := a.Impl.(PostingLister)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "node %s (%s) keeps no ledger; ask a bank", a.Node.Name(), a.Role)
	}
	ps, next, err := pl.ListPostings(r.GetPageToken(), limit)
	if err != nil {
		if _, isStatus := status.FromError(err); isStatus {
			return nil, err
		}
		return nil, status.Errorf(codes.Internal, "list postings: %v", err)
	}
	return &upiv1.ListPostingsResponse{Postings: ps, NextPageToken: next}, nil
}

// Health implements AdminService. A node is not ok when its store has had
// updates pending for longer than Config.StallAfter without committing
// any (it takes no more work, however its gRPC server still answers), or
// when its last commit failed (a full disk): ok again once one succeeds.
func (a *AdminServer) Health(context.Context, *upiv1.HealthRequest) (*upiv1.HealthResponse, error) {
	ob, err := a.Node.OutboxLen()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "outbox: %v", err)
	}
	tm, err := a.Node.TimersLen()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "timers: %v", err)
	}
	st := a.Node.DB().Stats()
	inFlight, limit := a.Node.InFlight()
	resp := &upiv1.HealthResponse{
		Node: a.Node.Name(), Role: a.Role, Ok: true, OutboxPending: int64(ob), TimersPending: int64(tm),
		StorePending: int64(st.Pending), StoreProgress: timestamppb.New(st.Progress),
		InFlight: int64(inFlight), MaxInFlight: int64(limit), Throttled: a.Node.Throttled(),
	}
	// The store's clock is the real one (not Config.Now).
	if now, after := time.Now(), a.Node.cfg.StallAfter; st.Stalled(now, after) {
		resp.Ok = false
		resp.Reason = fmt.Sprintf("store stalled: %d updates pending and nothing committed for %s (more than %s)",
			st.Pending, now.Sub(st.Progress).Round(time.Millisecond), after)
	} else if !st.FailingSince.IsZero() {
		resp.Ok = false
		resp.Reason = fmt.Sprintf("store failing: every commit since %s failed, the last with: %v (steps are kept and tried again)",
			st.FailingSince.UTC().Format(time.RFC3339Nano), st.CommitErr)
	}
	if hb, ok := a.Impl.(HeartbeatReporter); ok {
		resp.LastHeartbeat = hb.LastHeartbeat()
	}
	return resp, nil
}

// ListTable is a TxnLister's page of the records of table t (keyed by txn
// id): ListPage, each record made into a summary by fn.
func ListTable[T any, P interface {
	*T
	proto.Message
}](n *Node, t store.Table[T, P], after string, limit int, fn func(P) *upiv1.TxnSummary) ([]*upiv1.TxnSummary, string, error) {
	var out []*upiv1.TxnSummary
	var next string
	err := n.View(func(tx *store.Tx) (err error) {
		out, next, err = ListPage(tx, t.Bucket, after, limit, func(k, v []byte) (*upiv1.TxnSummary, error) {
			r := P(new(T))
			if err := store.DecodeProto(v, r); err != nil {
				return nil, fmt.Errorf("decode transaction %s: %w", k, err)
			}
			return fn(r), nil
		})
		return err
	})
	return out, next, err
}

// SummaryOf is the summary of a transaction as GetTransaction shows it,
// in the node's state; the caller adds the parties' nodes and deadline.
func SummaryOf(t *upiv1.Transaction, state string) *upiv1.TxnSummary {
	return &upiv1.TxnSummary{
		TxnId: t.GetTxnId(), Type: t.GetType(), State: state, Status: t.GetStatus(), ErrCode: t.GetErrCode(), Rrn: t.GetRrn(),
		AmountPaise: t.GetAmountPaise(), PayerVpa: t.GetPayerVpa(), PayeeVpa: t.GetPayeeVpa(),
		Created: t.GetCreated(), Updated: t.GetUpdated(),
	}
}

// ListPage is a TxnLister's page over bucket b (keyed by txn id) of tx:
// up to limit entries in key order after the key `after`, each made into
// a summary by fn (nil skips the entry), and the key to continue after
// when more remain.
func ListPage(tx *store.Tx, b store.Bucket, after string, limit int, fn func(k, v []byte) (*upiv1.TxnSummary, error)) ([]*upiv1.TxnSummary, string, error) {
	out := []*upiv1.TxnSummary{}
	next, last := "", ""
	err := tx.ScanAfter(b, []byte(after), func(k, v []byte) (bool, error) {
		if len(out) == limit {
			next = last
			return false, nil
		}
		s, err := fn(k, v)
		if err != nil || s == nil {
			return err == nil, err
		}
		last = string(k)
		out = append(out, s)
		return true, nil
	})
	return out, next, err
}

// LocalAdmin is an AdminServiceClient that calls s in process, without a
// connection: for tests and tools that run nodes themselves (an in-memory
// network) and read them the way `upisim audit` reads a running one.
func LocalAdmin(s upiv1.AdminServiceServer) upiv1.AdminServiceClient { return localAdmin{s: s} }

type localAdmin struct{ s upiv1.AdminServiceServer }

// in marks ctx as in process: an AdminServer's token does not apply.
func (localAdmin) in(ctx context.Context) context.Context {
	return context.WithValue(ctx, inProcess{}, true)
}

func (l localAdmin) ListMessages(ctx context.Context, r *upiv1.ListMessagesRequest, _ ...grpc.CallOption) (*upiv1.ListMessagesResponse, error) {
	return l.s.ListMessages(l.in(ctx), r)
}

func (l localAdmin) GetTransaction(ctx context.Context, r *upiv1.GetTransactionRequest, _ ...grpc.CallOption) (*upiv1.GetTransactionResponse, error) {
	return l.s.GetTransaction(l.in(ctx), r)
}

func (l localAdmin) ListTransactions(ctx context.Context, r *upiv1.ListTransactionsRequest, _ ...grpc.CallOption) (*upiv1.ListTransactionsResponse, error) {
	return l.s.ListTransactions(l.in(ctx), r)
}

func (l localAdmin) GetBalance(ctx context.Context, r *upiv1.GetBalanceRequest, _ ...grpc.CallOption) (*upiv1.GetBalanceResponse, error) {
	return l.s.GetBalance(l.in(ctx), r)
}

func (l localAdmin) ListAccounts(ctx context.Context, r *upiv1.ListAccountsRequest, _ ...grpc.CallOption) (*upiv1.ListAccountsResponse, error) {
	return l.s.ListAccounts(l.in(ctx), r)
}

func (l localAdmin) ListPostings(ctx context.Context, r *upiv1.ListPostingsRequest, _ ...grpc.CallOption) (*upiv1.ListPostingsResponse, error) {
	return l.s.ListPostings(l.in(ctx), r)
}

func (l localAdmin) Health(ctx context.Context, r *upiv1.HealthRequest, _ ...grpc.CallOption) (*upiv1.HealthResponse, error) {
	return l.s.Health(l.in(ctx), r)
}
