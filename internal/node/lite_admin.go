package node

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// LiteLister is implemented by roles that keep UPI Lite accounts: the
// switch (its auth engine), banks (their LRN balances) and the TPAP (its
// devices).
type LiteLister interface {
	// ListLite gives the node's accounts of lrn ("" for every one), in LRN
	// order (the TPAP: device order), with the records behind each when
	// withRecords.
	ListLite(lrn string, withRecords bool) ([]*upiv1.LiteAccount, error)
}

// ListLiteAccounts implements AdminService.
func (a *AdminServer) ListLiteAccounts(ctx context.Context, r *upiv1.ListLiteAccountsRequest) (*upiv1.ListLiteAccountsResponse, error) {
	if err := a.authorize(ctx); err != nil {
		return nil, err
	}
	ll, ok := a.Impl.(LiteLister)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "node %s (%s) keeps no UPI Lite accounts", a.Node.Name(), a.Role)
	}
	accts, err := ll.ListLite(r.GetLrn(), r.GetWithRecords())
	if err != nil {
		if _, isStatus := status.FromError(err); isStatus {
			return nil, err
		}
		return nil, status.Errorf(codes.Internal, "list lite accounts: %v", err)
	}
	return &upiv1.ListLiteAccountsResponse{Accounts: accts}, nil
}

func (l localAdmin) ListLiteAccounts(ctx context.Context, r *upiv1.ListLiteAccountsRequest, _ ...grpc.CallOption) (*upiv1.ListLiteAccountsResponse, error) {
	return l.s.ListLiteAccounts(l.in(ctx), r)
}
