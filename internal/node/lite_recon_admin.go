package node

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// maxReconWait caps how long RunLiteRecon waits for the remitter.
const maxReconWait = time.Minute

// LiteReconer is implemented by the switch: it reconciles each remitter's
// LRNs with it, daily and on demand, and keeps the reports
// (docs/FLOWS.md, UPI Lite, Reconciliation).
type LiteReconer interface {
	// RunLiteRecon starts a reconciliation of bank's LRNs now and waits up
	// to wait for the remitter's answer: the report as it stands then
	// (state SENT when the remitter has not answered).
	RunLiteRecon(ctx context.Context, bank string, wait time.Duration) (*upiv1.LiteRecon, error)
	// ListLiteRecons lists the reports of bank ("" for every bank), newest
	// first, at most limit (0: all).
	ListLiteRecons(bank string, limit int) ([]*upiv1.LiteRecon, error)
}

func (a *AdminServer) reconer() (LiteReconer, error) {
	lr, ok := a.Impl.(LiteReconer)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "node %s (%s) runs no Lite reconciliation: ask the switch", a.Node.Name(), a.Role)
	}
	return lr, nil
}

// asStatus keeps a gRPC status and makes anything else Internal.
func asStatus(what string, err error) error {
	if _, isStatus := status.FromError(err); isStatus {
		return err
	}
	return status.Errorf(codes.Internal, "%s: %v", what, err)
}

// RunLiteRecon implements AdminService.
func (a *AdminServer) RunLiteRecon(ctx context.Context, r *upiv1.RunLiteReconRequest) (*upiv1.RunLiteReconResponse, error) {
	if err := a.authorize(ctx); err != nil {
		return nil, err
	}
	lr, err := a.reconer()
	if err != nil {
		return nil, err
	}
	if r.GetBank() == "" {
		return nil, status.Error(codes.InvalidArgument, "RunLiteRecon needs bank, the remitter to reconcile")
	}
	if r.GetWaitMs() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "wait_ms must not be negative, got %d", r.GetWaitMs())
	}
	rec, err := lr.RunLiteRecon(ctx, r.GetBank(), min(time.Duration(r.GetWaitMs())*time.Millisecond, maxReconWait))
	if err != nil {
		return nil, asStatus("run lite reconciliation", err)
	}
	return &upiv1.RunLiteReconResponse{Recon: rec}, nil
}

// ListLiteRecons implements AdminService.
func (a *AdminServer) ListLiteRecons(ctx context.Context, r *upiv1.ListLiteReconsRequest) (*upiv1.ListLiteReconsResponse, error) {
	if err := a.authorize(ctx); err != nil {
		return nil, err
	}
	lr, err := a.reconer()
	if err != nil {
		return nil, err
	}
	if r.GetLimit() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "limit must not be negative, got %d", r.GetLimit())
	}
	out, err := lr.ListLiteRecons(r.GetBank(), int(r.GetLimit()))
	if err != nil {
		return nil, asStatus("list lite reconciliations", err)
	}
	return &upiv1.ListLiteReconsResponse{Recons: out}, nil
}

func (l localAdmin) RunLiteRecon(ctx context.Context, r *upiv1.RunLiteReconRequest, _ ...grpc.CallOption) (*upiv1.RunLiteReconResponse, error) {
	return l.s.RunLiteRecon(l.in(ctx), r)
}

func (l localAdmin) ListLiteRecons(ctx context.Context, r *upiv1.ListLiteReconsRequest, _ ...grpc.CallOption) (*upiv1.ListLiteReconsResponse, error) {
	return l.s.ListLiteRecons(l.in(ctx), r)
}
