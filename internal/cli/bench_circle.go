package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/upi"
)

// `upisim bench circle`: how fast the network carries UPI Circle's
// delegated payments under full delegation (docs/FLOWS.md, UPI Circle,
// "Payment, full delegation").
//
// Setup (untimed): the secondary's full link with the primary, made and
// accepted as `upisim circle link --mode full` and `circle accept` do, or
// the one the secondary has already when it is such a link with room left
// (a secondary has one primary: a second run reuses the first's link).
// Then the clock runs while --flows delegated payments of --amount from
// the secondary to --to, --concurrency at once, each go to their final
// status (CreateCirclePayment, then GetPayment as Bench's flows).
//
// The figure depends on the link's history: PSP(S)'s and PSP(P)'s link
// records and the remitter's mandate keep every counted debit of the last
// 62 days, and each payment rewrites them, so a link that has carried
// thousands of (small) payments makes each new one slower. Compare runs
// on links of the same use (a fresh network for a fresh link).

// DelegatedMessagesPerFlow is the gRPC calls one delegated payment makes
// under full delegation, the factor of bench circle's ratio to a bare echo
// call. Counted from `upisim trace` of one payment of carol@beta (PSP(S)
// betapsp) from alice@alpha's account (PSP(P) alphapsp, abank) to
// chai@beta (betapsp, bbank) on the default network: 21 distinct messages
// (its msg_ids in `trace -o json`): the payee's look-up, ReqValAdd and
// RespValAdd each two hops (4); ReqDelegateAuth two hops (2); PSP(P)'s
// ReqPay, ReqAuthDetails, RespAuthDetails (3); RespDelegateAuth two hops
// (2); DEBIT and CREDIT with their answers (4); RespPay to PSP(P) (1);
// ReqTxnConfirmation and RespTxnConfirmation (2); three Notifies to the
// TPAP, the primary's, the secondary's and the payee's (3). Plus the two
// app calls the trace does not show, as MessagesPerFlow counts them:
// TpapAppService/CreateCirclePayment and PspAppService/InitiateDelegatedPay.
// (GetPayment's polls are not counted, as for MessagesPerFlow.)
const DelegatedMessagesPerFlow = 23

// BenchCircleOptions are the options of `upisim bench circle`.
type BenchCircleOptions struct {
	DataDir     string
	Flows       int
	Concurrency int
	// Primary pays (its account), Secondary starts each payment, To is
	// paid.
	Primary, Secondary, To string
	// PIN is the primary's, for a new link's mandate.
	PIN string
	// Amount of each payment, rupees.
	Amount string
	// Limit is a new link's monthly limit in rupees ("" for the network's
	// circle.full.monthly_limit).
	Limit string
	// EchoCalls is how many unary gRPC echo calls the baseline makes
	// after the flows (0: no baseline).
	EchoCalls int
	Output    Output
	// Progress, if set, is a terminal for bench's progress line.
	Progress io.Writer
	// ticks, if set, replaces Progress's one-second ticker (tests).
	ticks <-chan time.Time
}

// BenchCircleResult is what `upisim bench circle` prints: Bench's figures,
// the link the payments went under and the ratio's factor.
type BenchCircleResult struct {
	BenchResult
	LinkID string `json:"link_id"`
	// NewLink says the setup made the link (else it was the secondary's
	// already).
	NewLink      bool    `json:"new_link"`
	SetupSeconds float64 `json:"setup_seconds"`
	// RemainingPaise is the link's limit left this month after the run
	// (PSP(P)'s count).
	RemainingPaise  int64 `json:"remaining_paise"`
	MessagesPerFlow int   `json:"messages_per_flow"`
}

// circleSetupWait bounds each wait of the setup: the invite after the
// mandate, the link LINKED after the accept.
const circleSetupWait = 30 * time.Second

// BenchCircle links o.Secondary to o.Primary (untimed) and times
// o.Flows delegated payments against the running network of o.DataDir.
func BenchCircle(ctx context.Context, w io.Writer, o BenchCircleOptions) (BenchCircleResult, error) {
	res := BenchCircleResult{MessagesPerFlow: DelegatedMessagesPerFlow}
	if err := checkFlowFlags(o.Flows, o.Concurrency, o.EchoCalls); err != nil {
		return res, err
	}
	amount, err := checkParties(upi.Fields{Payer: "--secondary", Payee: "--to", Parties: "secondary and payee"}, o.Secondary, o.To, o.Amount)
	if err != nil {
		return res, err
	}
	if err := ids.ValidateVPA(o.Primary); err != nil {
		return res, fmt.Errorf("--primary: %w", err)
	}
	if strings.EqualFold(o.Primary, o.Secondary) {
		return res, fmt.Errorf("--primary and --secondary are both %s: a secondary pays from another's account", o.Primary)
	}
	var limit int64
	if o.Limit != "" {
		if limit, err = upi.ParseRupees(o.Limit); err != nil {
			return res, fmt.Errorf("--limit: %w", err)
		}
	}
	need := amount * int64(o.Flows)
	if limit > 0 && need > limit {
		return res, fmt.Errorf("--flows × --amount is %s, above --limit %s", upi.FormatPaise(need), upi.FormatPaise(limit))
	}
	tp, closeConn, err := connectTPAP(o.DataDir)
	if err != nil {
		return res, err
	}
	defer closeConn()

	t0 := time.Now()
	link, made, err := circleBenchLink(ctx, tp, o, limit, need)
	if err != nil {
		return res, err
	}
	res.LinkID, res.NewLink, res.SetupSeconds = link.GetLinkId(), made, time.Since(t0).Seconds()

	run, err := runFlows(ctx, flowBench{DataDir: o.DataDir, Flows: o.Flows, Concurrency: o.Concurrency, EchoCalls: o.EchoCalls,
		PerFlow: DelegatedMessagesPerFlow, Progress: o.Progress, ticks: o.ticks},
		func(ctx context.Context, _ int) (time.Duration, string, error) {
			return delegatedFlow(ctx, tp, o.Secondary, o.To, amount)
		})
	res.BenchResult = run.BenchResult
	if err != nil {
		return res, err
	}
	if g, err := tp.GetCircleLink(ctx, &upiv1.GetCircleLinkRequest{LinkId: res.LinkID}); err == nil {
		res.RemainingPaise = g.GetLink().GetRemainingPaise()
	}
	return res, o.Output.print(w, res, func(w io.Writer) error {
		printFlows(w, run, "delegated flows", DelegatedMessagesPerFlow)
		how := "reused"
		if res.NewLink {
			how = "made"
		}
		fmt.Fprintf(w, "setup: link %s of %s for %s %s in %.1fs (not timed); %s of its limit left this month\n",
			res.LinkID, o.Primary, o.Secondary, how, res.SetupSeconds, upi.FormatRupeesIndian(res.RemainingPaise))
		return nil
	})
}

// delegatedFlow is one timed flow: a delegated payment and its final
// status.
func delegatedFlow(ctx context.Context, tp upiv1.TpapAppServiceClient, secondary, to string, amount int64) (time.Duration, string, error) {
	t0 := time.Now()
	cr, err := tp.CreateCirclePayment(ctx, &upiv1.CreateCirclePaymentRequest{SecondaryVpa: secondary, PayeeVpa: to, AmountPaise: amount, Note: "bench circle"})
	if err != nil {
		return 0, "", err
	}
	st, code := cr.GetStatus(), ""
	if st == upiv1.Resp_PENDING {
		if st, code, err = finalStatus(ctx, tp, cr.GetTxnId()); err != nil {
			return 0, "", err
		}
	} else if st == upiv1.Resp_FAILURE {
		// A limit PSP(S) checks before any message (Z8, QH, FP): the
		// code is on the payment's record.
		if g, err := tp.GetPayment(ctx, &upiv1.GetPaymentRequest{TxnId: cr.GetTxnId()}); err == nil {
			code = g.GetErrCode()
		}
	}
	d := time.Since(t0)
	if st != upiv1.Resp_SUCCESS {
		return d, strings.TrimSpace(statusName(st) + " " + code), nil
	}
	return d, "", nil
}

// circleBenchLink is the LINKED full link the bench's payments go under:
// the secondary's own when it has one with the primary, its mandate
// ACTIVE and need left of its limit; else a new one, when the secondary
// has no link (a secondary has one primary: then it says what to do).
func circleBenchLink(ctx context.Context, tp upiv1.TpapAppServiceClient, o BenchCircleOptions, limit, need int64) (*upiv1.CircleLink, bool, error) {
	ls, err := tp.ListCircleLinks(ctx, &upiv1.ListCircleLinksRequest{Vpa: o.Secondary})
	if err != nil {
		return nil, false, fmt.Errorf("the circle links of %s: %w", o.Secondary, rpcError(err))
	}
	for _, l := range ls.GetLinks() {
		st := l.GetStatus()
		if !strings.EqualFold(l.GetSecondaryVpa(), o.Secondary) || (st != upiv1.CircleLink_LINKED && st != upiv1.CircleLink_LINK_PENDING) {
			continue
		}
		if err := usableLink(ctx, tp, l, o.Primary, need); err != nil {
			return nil, false, fmt.Errorf("%s has circle link %s already (%s, %s, primary %s), which bench circle cannot use: %w; "+
				"remove it (upisim circle remove %s) or pick another --secondary",
				o.Secondary, l.GetLinkId(), st, l.GetMode(), l.GetPrimaryVpa(), err, l.GetLinkId())
		}
		return l, false, nil
	}
	if err := checkPIN(o.PIN, "--pin is required: the primary's PIN for the link's mandate"); err != nil {
		return nil, false, err
	}
	c, err := tp.CreateCircleLink(ctx, &upiv1.CreateCircleLinkRequest{PrimaryVpa: o.Primary, SecondaryVpa: o.Secondary,
		Mode: upiv1.Delegate_FULL, LimitPaise: limit, Pin: o.PIN})
	if err != nil {
		return nil, false, fmt.Errorf("link %s to %s: %w", o.Secondary, o.Primary, rpcError(err))
	}
	id := c.GetLink().GetLinkId()
	// The invite reaches the secondary once the remitter signed the
	// mandate; a link that ends first (a wrong PIN: FAILED ZM) says why.
	linkFailed := func(l *upiv1.CircleLink) error {
		switch l.GetStatus() {
		case upiv1.CircleLink_LINK_PENDING, upiv1.CircleLink_LINKED:
			return nil
		}
		return fmt.Errorf("link %s of %s for %s: %s %s", id, o.Primary, o.Secondary, l.GetStatus(), l.GetErrCode())
	}
	err = pollUntil(ctx, circleSetupWait, 20*time.Millisecond, "the invite of link "+id, func() (bool, error) {
		g, err := tp.GetCircleLink(ctx, &upiv1.GetCircleLinkRequest{LinkId: id})
		if err != nil {
			return false, rpcError(err)
		}
		if err := linkFailed(g.GetLink()); err != nil {
			return false, err
		}
		inv, err := tp.ListCircleInvites(ctx, &upiv1.ListCircleInvitesRequest{Vpa: o.Secondary})
		if err != nil {
			return false, rpcError(err)
		}
		for _, l := range inv.GetLinks() {
			if l.GetLinkId() == id {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, false, err
	}
	if _, err := tp.AcceptCircleLink(ctx, &upiv1.AcceptCircleLinkRequest{LinkId: id}); err != nil {
		return nil, false, fmt.Errorf("accept link %s: %w", id, rpcError(err))
	}
	var link *upiv1.CircleLink
	err = pollUntil(ctx, circleSetupWait, 20*time.Millisecond, "link "+id+" LINKED", func() (bool, error) {
		g, err := tp.GetCircleLink(ctx, &upiv1.GetCircleLinkRequest{LinkId: id})
		if err != nil {
			return false, rpcError(err)
		}
		link = g.GetLink()
		return link.GetStatus() == upiv1.CircleLink_LINKED, linkFailed(link)
	})
	if err != nil {
		return nil, false, err
	}
	if link.GetRemainingPaise() < need {
		return nil, false, fmt.Errorf("link %s has %s of its limit, less than --flows × --amount (%s)",
			id, upi.FormatPaise(link.GetRemainingPaise()), upi.FormatPaise(need))
	}
	return link, true, nil
}

// usableLink says why l cannot carry the bench's payments: not LINKED
// yet, not the primary's, partial, its mandate not ACTIVE, or less than
// need left this month.
func usableLink(ctx context.Context, tp upiv1.TpapAppServiceClient, l *upiv1.CircleLink, primary string, need int64) error {
	switch {
	case l.GetStatus() != upiv1.CircleLink_LINKED:
		return fmt.Errorf("not LINKED")
	case !strings.EqualFold(l.GetPrimaryVpa(), primary):
		return fmt.Errorf("not --primary %s's", primary)
	case l.GetMode() != upiv1.Delegate_FULL:
		return fmt.Errorf("partial: each payment waits for the primary")
	case awaitsPrimary(ctx, tp, l.GetSecondaryVpa()):
		return fmt.Errorf("its mandate is not ACTIVE: each payment waits for the primary")
	case l.GetRemainingPaise() < need:
		return fmt.Errorf("%s of its limit left this month, less than --flows × --amount (%s)",
			upi.FormatPaise(l.GetRemainingPaise()), upi.FormatPaise(need))
	}
	return nil
}
