package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/upi"
)

// LinkResult is a UPI Circle link as the circle commands print it.
type LinkResult struct {
	LinkID         string `json:"link_id"`
	Status         string `json:"status"`
	Mode           string `json:"mode"`
	PrimaryVPA     string `json:"primary_vpa"`
	SecondaryVPA   string `json:"secondary_vpa"`
	UMN            string `json:"umn"`
	LimitPaise     int64  `json:"limit_paise"`
	UsedPaise      int64  `json:"used_paise"`
	RemainingPaise int64  `json:"remaining_paise"`
	ErrCode        string `json:"err_code"`
	Expires        string `json:"expires,omitempty"`
	// An update of the limit under way (PSP(P)): the new limit, its txn.
	PendingLimitPaise int64  `json:"pending_limit_paise,omitempty"`
	UpdateTxnID       string `json:"update_txn_id,omitempty"`
}

func linkResult(l *upiv1.CircleLink) LinkResult {
	r := LinkResult{
		LinkID: l.GetLinkId(), Status: l.GetStatus().String(), Mode: l.GetMode().String(),
		PrimaryVPA: l.GetPrimaryVpa(), SecondaryVPA: l.GetSecondaryVpa(), UMN: l.GetUmn(),
		LimitPaise: l.GetLimitPaise(), UsedPaise: l.GetUsedPaise(), RemainingPaise: l.GetRemainingPaise(), ErrCode: l.GetErrCode(),
		PendingLimitPaise: l.GetPendingLimitPaise(), UpdateTxnID: l.GetUpdateTxnId(),
	}
	if l.GetExpires() != nil {
		r.Expires = l.GetExpires().AsTime().Format(time.RFC3339)
	}
	return r
}

func (r LinkResult) fields() []string {
	f := []string{"link_id", r.LinkID, "status", r.Status, "mode", r.Mode, "primary_vpa", r.PrimaryVPA,
		"secondary_vpa", r.SecondaryVPA, "umn", r.UMN, "limit_paise", fmt.Sprint(r.LimitPaise),
		"used_paise", fmt.Sprint(r.UsedPaise), "remaining_paise", fmt.Sprint(r.RemainingPaise), "err_code", r.ErrCode}
	if r.UpdateTxnID != "" {
		f = append(f, "pending_limit_paise", fmt.Sprint(r.PendingLimitPaise), "update_txn_id", r.UpdateTxnID)
	}
	return f
}

func (r LinkResult) print(w io.Writer, o Output) error {
	return o.print(w, r, func(w io.Writer) error { return printFields(w, r.fields()...) })
}

// CircleLinkOptions are the options of `upisim circle link`.
type CircleLinkOptions struct {
	DataDir            string
	Primary, Secondary string
	// Mode is full or partial.
	Mode string
	// Limit in rupees (full only; empty for circle.full.monthly_limit).
	Limit  string
	PIN    string
	Output Output
}

// CircleLink asks the TPAP for a link; it answers LINK_PENDING.
func CircleLink(ctx context.Context, w io.Writer, o CircleLinkOptions) (LinkResult, error) {
	req := &upiv1.CreateCircleLinkRequest{PrimaryVpa: o.Primary, SecondaryVpa: o.Secondary, Pin: o.PIN}
	switch strings.ToLower(o.Mode) {
	case "full":
		req.Mode = upiv1.Delegate_FULL
		if err := checkPIN(o.PIN, "--pin is required for a full link (the mandate)"); err != nil {
			return LinkResult{}, err
		}
	case "partial":
		req.Mode = upiv1.Delegate_PARTIAL
	default:
		return LinkResult{}, fmt.Errorf("--mode must be full or partial, not %q", o.Mode)
	}
	if o.Limit != "" {
		p, err := upi.ParseRupees(o.Limit)
		if err != nil {
			return LinkResult{}, fmt.Errorf("--limit: %w", err)
		}
		req.LimitPaise = p
	}
	return circleCall(o.DataDir, w, o.Output, func(tp upiv1.TpapAppServiceClient) (linkAnswer, error) {
		return tp.CreateCircleLink(ctx, req)
	})
}

// CircleRefOptions are the options of `upisim circle show`, `accept` and
// `decline`.
type CircleRefOptions struct {
	DataDir string
	LinkID  string
	Output  Output
}

// CircleShow prints a link as PSP(P) sees it.
func CircleShow(ctx context.Context, w io.Writer, o CircleRefOptions) (LinkResult, error) {
	return circleRef(o, w, func(tp upiv1.TpapAppServiceClient, id string) (linkAnswer, error) {
		return tp.GetCircleLink(ctx, &upiv1.GetCircleLinkRequest{LinkId: id})
	})
}

// CircleAccept accepts an invite, for the secondary.
func CircleAccept(ctx context.Context, w io.Writer, o CircleRefOptions) (LinkResult, error) {
	return circleRef(o, w, func(tp upiv1.TpapAppServiceClient, id string) (linkAnswer, error) {
		return tp.AcceptCircleLink(ctx, &upiv1.AcceptCircleLinkRequest{LinkId: id})
	})
}

// CircleDecline declines an invite (ZA), for the secondary.
func CircleDecline(ctx context.Context, w io.Writer, o CircleRefOptions) (LinkResult, error) {
	return circleRef(o, w, func(tp upiv1.TpapAppServiceClient, id string) (linkAnswer, error) {
		return tp.DeclineCircleLink(ctx, &upiv1.DeclineCircleLinkRequest{LinkId: id})
	})
}

// CircleRemoveOptions are the options of `upisim circle remove`.
type CircleRemoveOptions struct {
	DataDir string
	LinkID  string
	// By is who removes: the primary when empty, or the secondary.
	By     string
	PIN    string
	Output Output
}

// CircleRemove removes a link (DELINKED once the network answers).
func CircleRemove(ctx context.Context, w io.Writer, o CircleRemoveOptions) (LinkResult, error) {
	if o.LinkID == "" {
		return LinkResult{}, errors.New("missing link id")
	}
	if o.PIN != "" {
		if err := ids.ValidatePIN(o.PIN); err != nil {
			return LinkResult{}, err
		}
	}
	return circleCall(o.DataDir, w, o.Output, func(tp upiv1.TpapAppServiceClient) (linkAnswer, error) {
		return tp.RemoveCircleLink(ctx, &upiv1.RemoveCircleLinkRequest{LinkId: o.LinkID, Vpa: o.By, Pin: o.PIN})
	})
}

// CircleUpdateOptions are the options of `upisim circle update`.
type CircleUpdateOptions struct {
	DataDir string
	LinkID  string
	// Limit is the new monthly limit in rupees.
	Limit  string
	PIN    string
	Output Output
}

// CircleUpdate changes a full link's monthly limit, for the primary; the
// link keeps its old limit until the mandate and the secondary's PSP have
// the new one (`circle show`).
func CircleUpdate(ctx context.Context, w io.Writer, o CircleUpdateOptions) (LinkResult, error) {
	if o.LinkID == "" {
		return LinkResult{}, errors.New("missing link id")
	}
	if o.Limit == "" {
		return LinkResult{}, errors.New("--limit is required (the new monthly limit, in rupees)")
	}
	limit, err := upi.ParseRupees(o.Limit)
	if err != nil {
		return LinkResult{}, fmt.Errorf("--limit: %w", err)
	}
	if err := checkPIN(o.PIN, "--pin is required (the mandate's update)"); err != nil {
		return LinkResult{}, err
	}
	return circleCall(o.DataDir, w, o.Output, func(tp upiv1.TpapAppServiceClient) (linkAnswer, error) {
		return tp.UpdateCircleLink(ctx, &upiv1.UpdateCircleLinkRequest{LinkId: o.LinkID, LimitPaise: limit, Pin: o.PIN})
	})
}

// CircleListOptions are the options of `upisim circle list` and
// `circle invites`.
type CircleListOptions struct {
	DataDir string
	VPA     string
	Output  Output
}

// CircleList prints a user's links, either side.
func CircleList(ctx context.Context, w io.Writer, o CircleListOptions) ([]LinkResult, error) {
	return circleList(o, w, "links", func(tp upiv1.TpapAppServiceClient, vpa string) (linksAnswer, error) {
		return tp.ListCircleLinks(ctx, &upiv1.ListCircleLinksRequest{Vpa: vpa})
	})
}

// CircleInvites prints the invites waiting for a secondary.
func CircleInvites(ctx context.Context, w io.Writer, o CircleListOptions) ([]LinkResult, error) {
	return circleList(o, w, "invites", func(tp upiv1.TpapAppServiceClient, vpa string) (linksAnswer, error) {
		return tp.ListCircleInvites(ctx, &upiv1.ListCircleInvitesRequest{Vpa: vpa})
	})
}

// linkAnswer and linksAnswer are the TPAP's answers that carry a link, or
// links.
type (
	linkAnswer  interface{ GetLink() *upiv1.CircleLink }
	linksAnswer interface{ GetLinks() []*upiv1.CircleLink }
)

func circleRef(o CircleRefOptions, w io.Writer, f func(upiv1.TpapAppServiceClient, string) (linkAnswer, error)) (LinkResult, error) {
	if o.LinkID == "" {
		return LinkResult{}, errors.New("missing link id")
	}
	return circleCall(o.DataDir, w, o.Output, func(tp upiv1.TpapAppServiceClient) (linkAnswer, error) {
		return f(tp, o.LinkID)
	})
}

func circleCall(dataDir string, w io.Writer, out Output, f func(upiv1.TpapAppServiceClient) (linkAnswer, error)) (LinkResult, error) {
	return withTPAP(dataDir, func(tp upiv1.TpapAppServiceClient) (LinkResult, error) {
		resp, err := f(tp)
		if err != nil {
			return LinkResult{}, rpcError(err)
		}
		r := linkResult(resp.GetLink())
		return r, r.print(w, out)
	})
}

func circleList(o CircleListOptions, w io.Writer, what string, f func(upiv1.TpapAppServiceClient, string) (linksAnswer, error)) ([]LinkResult, error) {
	if err := ids.ValidateVPA(o.VPA); err != nil {
		return nil, err
	}
	return withTPAP(o.DataDir, func(tp upiv1.TpapAppServiceClient) ([]LinkResult, error) {
		resp, err := f(tp, o.VPA)
		if err != nil {
			return nil, rpcError(err)
		}
		items := []LinkResult{}
		for _, l := range resp.GetLinks() {
			items = append(items, linkResult(l))
		}
		return items, o.Output.print(w, map[string]any{"vpa": o.VPA, what: items}, func(w io.Writer) error {
			if len(items) == 0 {
				_, err := fmt.Fprintf(w, "no circle %s for %s\n", what, o.VPA)
				return err
			}
			for i, it := range items {
				if i > 0 {
					fmt.Fprintln(w)
				}
				if err := printFields(w, it.fields()...); err != nil {
					return err
				}
			}
			return nil
		})
	})
}
