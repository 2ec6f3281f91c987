// UPI Circle links in the app API (docs/FLOWS.md, UPI Circle): the TPAP
// checks what an app sends, routes each call to the PSP it belongs to (the
// primary's for a create, the secondary's for an answer to an invite, the
// remover's for a remove) and learns a link's state by asking the PSP
// (QueryCircleLink, the query service): it keeps no record of links, and a
// DELEGATE_REQUEST notification only tells it that something changed.

package tpap

import (
	"context"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/upi"
)

// CreateCircleLink links secondary_vpa to primary_vpa through the
// primary's PSP; answers the link LINK_PENDING.
func (x *TPAP) CreateCircleLink(ctx context.Context, r *upiv1.CreateCircleLinkRequest) (*upiv1.CreateCircleLinkResponse, error) {
	primary, err := appVPA("primary_vpa", r.GetPrimaryVpa())
	if err != nil {
		return nil, err
	}
	secondary, err := appVPA("secondary_vpa", r.GetSecondaryVpa())
	if err != nil {
		return nil, err
	}
	if primary == secondary {
		return nil, status.Errorf(codes.InvalidArgument, "secondary_vpa %s is the primary: a link needs two users", secondary)
	}
	circle := x.cfg.Network.Circle
	switch r.GetMode() {
	case upiv1.Delegate_PARTIAL:
		if r.GetLimitPaise() != 0 {
			return nil, status.Error(codes.InvalidArgument, "limit_paise: a PARTIAL link has no limit (the primary approves every payment)")
		}
	case upiv1.Delegate_FULL:
		if l := r.GetLimitPaise(); l < 0 || l > circle.FullMonthly {
			return nil, status.Errorf(codes.InvalidArgument, "limit_paise %d is over circle.full.monthly_limit %d", l, circle.FullMonthly)
		}
		if err := ids.ValidatePIN(r.GetPin()); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "pin: %v", err)
		}
	default:
		return nil, status.Errorf(codes.InvalidArgument, "mode must be FULL or PARTIAL, not %s", r.GetMode())
	}
	psp, err := x.pspFor(primary)
	if err != nil {
		return nil, err
	}
	cl, err := x.pspClient(psp.Name)
	if err != nil {
		return nil, err
	}
	if err := x.n.Acquire(); err != nil {
		return nil, err
	}
	defer x.n.Release()
	linkID := ids.NewTxnID(psp.Prefix)
	req := &upiv1.PspAppServiceCreateCircleLinkRequest{
		PrimaryVpa: primary, SecondaryVpa: secondary, Mode: r.GetMode(), LimitPaise: r.GetLimitPaise(), LinkId: linkID,
	}
	if r.GetMode() == upiv1.Delegate_FULL {
		// The mandate's PIN block, sealed to the primary's bank as a pay's.
		seal, err := x.newSealer(ctx, primary, r.GetPin())
		if err != nil {
			return nil, err
		}
		defer seal.forget()
		if req.Cred, err = seal.cred(linkID); err != nil {
			return nil, err
		}
	}
	resp, err := callPSP(ctx, psp.Name, func(ctx context.Context) (*upiv1.PspAppServiceCreateCircleLinkResponse, error) {
		return cl.CreateCircleLink(ctx, req)
	})
	return &upiv1.CreateCircleLinkResponse{Link: resp.GetLink()}, err
}

// GetCircleLink asks the primary's PSP (named by the link id's prefix)
// for the link.
func (x *TPAP) GetCircleLink(ctx context.Context, r *upiv1.GetCircleLinkRequest) (*upiv1.GetCircleLinkResponse, error) {
	l, err := x.queryLink(ctx, r.GetLinkId())
	return &upiv1.GetCircleLinkResponse{Link: l}, err
}

// ListCircleLinks lists vpa's links at its PSP.
func (x *TPAP) ListCircleLinks(ctx context.Context, r *upiv1.ListCircleLinksRequest) (*upiv1.ListCircleLinksResponse, error) {
	ls, err := x.listLinks(ctx, r.GetVpa(), func(ctx context.Context, cl upiv1.PspAppServiceClient, vpa string) ([]*upiv1.CircleLink, error) {
		resp, err := cl.ListCircleLinks(ctx, &upiv1.PspAppServiceListCircleLinksRequest{Vpa: vpa})
		return resp.GetLinks(), err
	})
	return &upiv1.ListCircleLinksResponse{Links: ls}, err
}

// ListCircleInvites lists the invites waiting for vpa at its PSP.
func (x *TPAP) ListCircleInvites(ctx context.Context, r *upiv1.ListCircleInvitesRequest) (*upiv1.ListCircleInvitesResponse, error) {
	ls, err := x.listLinks(ctx, r.GetVpa(), func(ctx context.Context, cl upiv1.PspAppServiceClient, vpa string) ([]*upiv1.CircleLink, error) {
		resp, err := cl.ListCircleInvites(ctx, &upiv1.PspAppServiceListCircleInvitesRequest{Vpa: vpa})
		return resp.GetLinks(), err
	})
	return &upiv1.ListCircleInvitesResponse{Links: ls}, err
}

// AcceptCircleLink accepts an invite at the secondary's PSP.
func (x *TPAP) AcceptCircleLink(ctx context.Context, r *upiv1.AcceptCircleLinkRequest) (*upiv1.AcceptCircleLinkResponse, error) {
	l, err := x.respondLink(ctx, r.GetLinkId(), true)
	return &upiv1.AcceptCircleLinkResponse{Link: l}, err
}

// DeclineCircleLink declines an invite at the secondary's PSP (ZA).
func (x *TPAP) DeclineCircleLink(ctx context.Context, r *upiv1.DeclineCircleLinkRequest) (*upiv1.DeclineCircleLinkResponse, error) {
	l, err := x.respondLink(ctx, r.GetLinkId(), false)
	return &upiv1.DeclineCircleLinkResponse{Link: l}, err
}

// RemoveCircleLink removes a link at the remover's PSP: vpa, the primary
// by default, or the secondary.
func (x *TPAP) RemoveCircleLink(ctx context.Context, r *upiv1.RemoveCircleLinkRequest) (*upiv1.RemoveCircleLinkResponse, error) {
	link, err := x.queryLink(ctx, r.GetLinkId())
	if err != nil {
		return nil, err
	}
	by := link.GetPrimaryVpa()
	if r.GetVpa() != "" {
		if by, err = appVPA("vpa", r.GetVpa()); err != nil {
			return nil, err
		}
	}
	if by != link.GetPrimaryVpa() && by != link.GetSecondaryVpa() {
		return nil, status.Errorf(codes.InvalidArgument, "vpa %s is neither side of link %s", by, r.GetLinkId())
	}
	if r.GetPin() != "" {
		if err := ids.ValidatePIN(r.GetPin()); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "pin: %v", err)
		}
	}
	psp, cl, err := x.clientFor(by)
	if err != nil {
		return nil, err
	}
	resp, err := callPSP(ctx, psp, func(ctx context.Context) (*upiv1.PspAppServiceRemoveCircleLinkResponse, error) {
		return cl.RemoveCircleLink(ctx, &upiv1.PspAppServiceRemoveCircleLinkRequest{LinkId: r.GetLinkId(), Vpa: by})
	})
	return &upiv1.RemoveCircleLinkResponse{Link: resp.GetLink()}, err
}

// UpdateCircleLink changes a FULL link's monthly limit at the primary's
// PSP: the TPAP picks the update's txn id (PSP(P)'s prefix) and seals the
// primary's PIN for it, for the mandate UPDATE; PSP(P) answers the link
// LINKED with its old limit and the update pending.
func (x *TPAP) UpdateCircleLink(ctx context.Context, r *upiv1.UpdateCircleLinkRequest) (*upiv1.UpdateCircleLinkResponse, error) {
	most := x.cfg.Network.Circle.FullMonthly
	if l := r.GetLimitPaise(); l < 1 || l > most {
		return nil, status.Errorf(codes.InvalidArgument, "limit_paise %d is out of range 1..%d (circle.full.monthly_limit)", l, most)
	}
	if err := ids.ValidatePIN(r.GetPin()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "pin: %v", err)
	}
	link, err := x.queryLink(ctx, r.GetLinkId())
	if err != nil {
		return nil, err
	}
	if link.GetMode() != upiv1.Delegate_FULL {
		return nil, status.Errorf(codes.FailedPrecondition, "link %s is %s: a partial link has no limit", r.GetLinkId(), link.GetMode())
	}
	primary := link.GetPrimaryVpa()
	psp, err := x.pspFor(primary)
	if err != nil {
		return nil, err
	}
	cl, err := x.pspClient(psp.Name)
	if err != nil {
		return nil, err
	}
	if err := x.n.Acquire(); err != nil {
		return nil, err
	}
	defer x.n.Release()
	txnID := ids.NewTxnID(psp.Prefix)
	seal, err := x.newSealer(ctx, primary, r.GetPin())
	if err != nil {
		return nil, err
	}
	defer seal.forget()
	req := &upiv1.PspAppServiceUpdateCircleLinkRequest{LinkId: r.GetLinkId(), LimitPaise: r.GetLimitPaise(), TxnId: txnID}
	if req.Cred, err = seal.cred(txnID); err != nil {
		return nil, err
	}
	resp, err := callPSP(ctx, psp.Name, func(ctx context.Context) (*upiv1.PspAppServiceUpdateCircleLinkResponse, error) {
		return cl.UpdateCircleLink(ctx, req)
	})
	return &upiv1.UpdateCircleLinkResponse{Link: resp.GetLink()}, err
}

func (x *TPAP) respondLink(ctx context.Context, linkID string, accept bool) (*upiv1.CircleLink, error) {
	link, err := x.queryLink(ctx, linkID)
	if err != nil {
		return nil, err
	}
	psp, cl, err := x.clientFor(link.GetSecondaryVpa())
	if err != nil {
		return nil, err
	}
	resp, err := callPSP(ctx, psp, func(ctx context.Context) (*upiv1.RespondCircleLinkResponse, error) {
		return cl.RespondCircleLink(ctx, &upiv1.RespondCircleLinkRequest{LinkId: linkID, Accept: accept})
	})
	return resp.GetLink(), err
}

// queryLink asks PSP(P), the PSP whose prefix the link id has, for the
// link.
func (x *TPAP) queryLink(ctx context.Context, linkID string) (*upiv1.CircleLink, error) {
	if !ids.ValidID(linkID) {
		return nil, status.Errorf(codes.InvalidArgument, "link_id %q: want a transaction id (3 letters and 32 hex digits)", linkID)
	}
	psp := x.pspByPrefix(ids.PrefixOf(linkID))
	if psp == nil {
		return nil, status.Errorf(codes.NotFound, "no link %s: no PSP has the prefix %s", linkID, ids.PrefixOf(linkID))
	}
	cl, err := x.pspClient(psp.Name)
	if err != nil {
		return nil, err
	}
	resp, err := callPSP(ctx, psp.Name, func(ctx context.Context) (*upiv1.QueryCircleLinkResponse, error) {
		return cl.QueryCircleLink(ctx, &upiv1.QueryCircleLinkRequest{LinkId: linkID})
	})
	return resp.GetLink(), err
}

func (x *TPAP) listLinks(ctx context.Context, vpa string,
	call func(context.Context, upiv1.PspAppServiceClient, string) ([]*upiv1.CircleLink, error),
) ([]*upiv1.CircleLink, error) {
	vpa, err := appVPA("vpa", vpa)
	if err != nil {
		return nil, err
	}
	psp, cl, err := x.clientFor(vpa)
	if err != nil {
		return nil, err
	}
	return callPSP(ctx, psp, func(ctx context.Context) ([]*upiv1.CircleLink, error) { return call(ctx, cl, vpa) })
}

// clientFor is the PSP owning vpa's handle and its client.
func (x *TPAP) clientFor(vpa string) (string, upiv1.PspAppServiceClient, error) {
	psp, err := x.pspFor(vpa)
	if err != nil {
		return "", nil, err
	}
	cl, err := x.pspClient(psp.Name)
	if err != nil {
		return "", nil, err
	}
	return psp.Name, cl, nil
}

// appVPA checks a VPA of an app request (InvalidArgument) and normalizes
// it.
func appVPA(field, vpa string) (string, error) {
	if err := ids.ValidateVPA(vpa); err != nil {
		return "", status.Errorf(codes.InvalidArgument, "%s: %v", field, err)
	}
	return ids.NormalizeVPA(vpa), nil
}

// CreateCirclePayment is a secondary's payment from its primary's account
// under a FULL link (docs/FLOWS.md, "Payment, full delegation" steps 1–2):
// no PIN. The transaction id has the prefix of the secondary's PSP
// (PSP(S)), which checks the link and its limits; a breach answers the
// payment FAILURE with its code at once. GetPayment follows it.
func (x *TPAP) CreateCirclePayment(ctx context.Context, r *upiv1.CreateCirclePaymentRequest) (*upiv1.CreateCirclePaymentResponse, error) {
	if err := validateTransfer(upi.CircleFields, r.GetSecondaryVpa(), r.GetPayeeVpa(), r.GetAmountPaise(), r.GetNote()); err != nil {
		return nil, err
	}
	secondary, payee := ids.NormalizeVPA(r.GetSecondaryVpa()), ids.NormalizeVPA(r.GetPayeeVpa())
	hash := requestHash("CIRCLE_PAY", secondary, payee, strconv.FormatInt(r.GetAmountPaise(), 10), r.GetNote())
	rec, err := startTxn(ctx, x, "", secondary, hash, &txnRecord{
		Type: upiv1.Txn_PAY.String(), Payee: payee, AmountPaise: r.GetAmountPaise(), Note: r.GetNote(), Secondary: secondary,
	}, func(ctx context.Context, cl upiv1.PspAppServiceClient, txnID string) (*upiv1.InitiateDelegatedPayResponse, error) {
		return cl.InitiateDelegatedPay(ctx, &upiv1.InitiateDelegatedPayRequest{
			SecondaryVpa: secondary, PayeeVpa: payee, AmountPaise: r.GetAmountPaise(), Note: r.GetNote(), TxnId: txnID,
		})
	})
	if err != nil {
		return nil, err
	}
	return &upiv1.CreateCirclePaymentResponse{TxnId: rec.TxnId, Status: recStatus(rec)}, nil
}
