// A mandate on its own (docs/FLOWS.md, "Payment, partial delegation (and
// full with a mandate not ACTIVE)"): the app shows the mandate a UMN names
// and lets the primary revoke it without removing the link.

package tpap

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
)

// GetMandate implements TpapAppService: PSP(P)'s record of the mandate, the
// PSP whose prefix the UMN has.
func (x *TPAP) GetMandate(ctx context.Context, r *upiv1.GetMandateRequest) (*upiv1.GetMandateResponse, error) {
	_, _, md, err := x.queryMandate(ctx, r.GetUmn())
	if err != nil {
		return nil, err
	}
	return &upiv1.GetMandateResponse{Mandate: md}, nil
}

// queryMandate is PSP(P) of umn, its client and its record of the mandate.
func (x *TPAP) queryMandate(ctx context.Context, umn string) (*config.Node, upiv1.PspAppServiceClient, *upiv1.MandateInfo, error) {
	psp, cl, err := x.mandatePSP(umn)
	if err != nil {
		return nil, nil, nil, err
	}
	resp, err := callPSP(ctx, psp.Name, func(ctx context.Context) (*upiv1.QueryMandateResponse, error) {
		return cl.QueryMandate(ctx, &upiv1.QueryMandateRequest{Umn: umn})
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return psp, cl, resp.GetMandate(), nil
}

// RevokeMandate implements TpapAppService: PSP(P) sends ReqMandate REVOKE
// under a txn id the TPAP picks, its org_txn_id the mandate's own; only an
// ACTIVE mandate of PSP(P)'s (FailedPrecondition otherwise). A FULL link
// under it stays LINKED.
func (x *TPAP) RevokeMandate(ctx context.Context, r *upiv1.TpapAppServiceRevokeMandateRequest) (*upiv1.TpapAppServiceRevokeMandateResponse, error) {
	psp, cl, md, err := x.queryMandate(ctx, r.GetUmn())
	if err != nil {
		return nil, err
	}
	switch {
	case md.GetRole() != "payer":
		return nil, status.Errorf(codes.FailedPrecondition, "mandate %s is not one PSP %s issued", r.GetUmn(), psp.Name)
	case md.GetPendingType() != "":
		return nil, status.Errorf(codes.FailedPrecondition, "mandate %s has a %s under way (txn %s)", r.GetUmn(), md.GetPendingType(), md.GetPendingTxnId())
	case md.GetStatus() != "ACTIVE":
		return nil, status.Errorf(codes.FailedPrecondition, "mandate %s is %s, not ACTIVE", r.GetUmn(), md.GetStatus())
	}
	txnID := ids.NewTxnID(prefixOf(psp))
	resp, err := callPSP(ctx, psp.Name, func(ctx context.Context) (*upiv1.RevokeMandateResponse, error) {
		return cl.RevokeMandate(ctx, &upiv1.RevokeMandateRequest{TxnId: txnID, OrgTxnId: md.GetTxnId(), Umn: md.GetUmn()})
	})
	if err != nil {
		return nil, err
	}
	return &upiv1.TpapAppServiceRevokeMandateResponse{Mandate: resp.GetMandate()}, nil
}

// mandatePSP is PSP(P) of umn (its prefix names it) and its client.
func (x *TPAP) mandatePSP(umn string) (*config.Node, upiv1.PspAppServiceClient, error) {
	if umn == "" {
		return nil, nil, status.Error(codes.InvalidArgument, "umn is required")
	}
	psp := x.pspByPrefix(ids.PrefixOf(umn))
	if psp == nil {
		return nil, nil, status.Errorf(codes.NotFound, "no mandate %s: no PSP has the prefix %s", umn, ids.PrefixOf(umn))
	}
	cl, err := x.pspClient(psp.Name)
	if err != nil {
		return nil, nil, err
	}
	return psp, cl, nil
}

// pspByPrefix is the PSP whose ids (txn ids, UMNs) start with prefix, or nil.
func (x *TPAP) pspByPrefix(prefix string) *config.Node {
	for _, n := range x.cfg.Network.NodesByRole(config.RolePSP) {
		if prefixOf(n) == prefix {
			return n
		}
	}
	return nil
}

// prefixOf is the id prefix of the PSP n.
func prefixOf(n *config.Node) string {
	if n.Prefix != "" {
		return n.Prefix
	}
	return ids.PrefixFor(n.Name)
}
