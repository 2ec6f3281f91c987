package sim

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/psp"
)

// circleRes is what became of the Circle plan: the link id of each link
// (the sim picks it, as the TPAP does) and the outcome of each delegated
// payment. Each entry is written by its lane alone, and read once every
// lane has ended.
type circleRes struct {
	linkIDs []string
	pays    []*flowResult
}

// startCircle runs each Circle lane from its start, in wg.
func (s *sim) startCircle(wg *sync.WaitGroup, ctx context.Context, began time.Time) {
	cp := s.plan.circle
	s.circle = circleRes{linkIDs: make([]string, len(cp.links)), pays: make([]*flowResult, len(cp.pays))}
	for i := range s.circle.pays {
		s.circle.pays[i] = &flowResult{}
	}
	for _, lane := range cp.lanes {
		wg.Go(func() {
			if !sleepUntil(ctx, began.Add(lane.start)) {
				return
			}
			for _, st := range lane.steps {
				var ok bool
				switch st.op {
				case opLink:
					ok = s.circleLink(ctx, st.link)
				case opPay:
					ok = s.circlePay(ctx, st.pay)
				case opRemove:
					ok = s.circleRemove(ctx, st.link)
				}
				if !ok {
					return // the lane's later steps depend on this one
				}
			}
		})
	}
}

// poll calls check every 10ms until it reports done, or fails the run
// with what after ctx ends.
func (s *sim) poll(ctx context.Context, what string, check func() (bool, error)) bool {
	for {
		done, err := check()
		if err != nil {
			s.failf("%s: %v", what, err)
			return false
		}
		if done {
			return true
		}
		if !sleepUntil(ctx, time.Now().Add(10*time.Millisecond)) {
			s.failf("%s: not done when the run's deadline passed", what)
			return false
		}
	}
}

// primaryLink is the link as PSP(P) has it.
func (s *sim) primaryLink(ctx context.Context, l *linkPlan) (*upiv1.CircleLink, error) {
	var out *upiv1.CircleLink
	err := s.call(ctx, s.pspOf(l.primary), func(p *psp.PSP) error {
		r, err := p.QueryCircleLink(ctx, &upiv1.QueryCircleLinkRequest{LinkId: s.circle.linkIDs[l.idx]})
		out = r.GetLink()
		return err
	})
	return out, err
}

// secondaryLink is the link as PSP(S) has it, or nil.
func (s *sim) secondaryLink(ctx context.Context, l *linkPlan) (*upiv1.CircleLink, error) {
	var out *upiv1.CircleLink
	err := s.call(ctx, s.pspOf(l.secondary), func(p *psp.PSP) error {
		r, err := p.ListCircleLinks(ctx, &upiv1.PspAppServiceListCircleLinksRequest{Vpa: l.secondary})
		for _, x := range r.GetLinks() {
			if x.GetLinkId() == s.circle.linkIDs[l.idx] && x.GetSecondaryVpa() == l.secondary {
				out = x
			}
		}
		return err
	})
	return out, err
}

// circleLink creates the link at PSP(P), answers the invite as the plan
// says and checks the link's status once its ADD is decided.
func (s *sim) circleLink(ctx context.Context, l *linkPlan) bool {
	pp := s.pspOf(l.primary)
	id := ids.NewTxnID(pp.self.Prefix)
	s.circle.linkIDs[l.idx] = id
	s.plan.circleIDs.Store(id, "link "+strconv.Itoa(l.idx))
	req := &upiv1.PspAppServiceCreateCircleLinkRequest{
		PrimaryVpa: l.primary, SecondaryVpa: l.secondary, Mode: l.mode, LimitPaise: l.limit, LinkId: id,
	}
	if l.mode == upiv1.Delegate_FULL {
		req.Cred = s.seal(l.primary, goodPIN, id)
	}
	if err := s.call(ctx, pp, func(p *psp.PSP) error {
		_, err := p.CreateCircleLink(ctx, req)
		return err
	}); err != nil {
		s.failf("%s: CreateCircleLink %s at %s: %v", l, id, pp.self.Name, err)
		return false
	}
	if l.answer == linkAccept || l.answer == linkDecline {
		// The secondary's app lists the invite, and answers it.
		sp := s.pspOf(l.secondary)
		if !s.poll(ctx, fmt.Sprintf("%s: the invite %s at %s", l, id, sp.self.Name), func() (bool, error) {
			var there bool
			err := s.call(ctx, sp, func(p *psp.PSP) error {
				r, err := p.ListCircleInvites(ctx, &upiv1.PspAppServiceListCircleInvitesRequest{Vpa: l.secondary})
				there = slices.ContainsFunc(r.GetLinks(), func(x *upiv1.CircleLink) bool { return x.GetLinkId() == id })
				return err
			})
			if err == nil && !there {
				if pl, err := s.primaryLink(ctx, l); err == nil && pl.GetStatus() != upiv1.CircleLink_LINK_PENDING {
					return false, fmt.Errorf("the link ended %s %s at PSP(P) before the invite came", pl.GetStatus(), pl.GetErrCode())
				}
			}
			return there, err
		}) {
			return false
		}
		if err := s.call(ctx, sp, func(p *psp.PSP) error {
			_, err := p.RespondCircleLink(ctx, &upiv1.RespondCircleLinkRequest{LinkId: id, Accept: l.answer == linkAccept})
			return err
		}); err != nil {
			s.failf("%s: RespondCircleLink %s at %s: %v", l, id, sp.self.Name, err)
			return false
		}
	}
	var got *upiv1.CircleLink
	if !s.poll(ctx, fmt.Sprintf("%s: link %s decided at PSP(P)", l, id), func() (bool, error) {
		var err error
		got, err = s.primaryLink(ctx, l)
		return err == nil && got.GetStatus() != upiv1.CircleLink_LINK_PENDING, err
	}) {
		return false
	}
	if got.GetStatus() != l.added || got.GetErrCode() != l.addCode {
		s.failf("%s: link %s is %s %s at PSP(P), want %s %s", l, id, got.GetStatus(), got.GetErrCode(), l.added, l.addCode)
		return false
	}
	if l.added == upiv1.CircleLink_LINKED {
		// PSP(S) keeps the linkage in the step that answered: its payments
		// may start.
		sl, err := s.secondaryLink(ctx, l)
		if err != nil || sl.GetStatus() != upiv1.CircleLink_LINKED {
			s.failf("%s: link %s is LINKED at PSP(P), but PSP(S) has %s (%v)", l, id, sl.GetStatus(), err)
			return false
		}
	}
	return true
}

// circlePay starts a delegated payment at PSP(S), answers it as the
// primary when it is PARTIAL, and checks its final status.
func (s *sim) circlePay(ctx context.Context, d *delegPlan) bool {
	l := d.link
	sp, pp := s.pspOf(l.secondary), s.pspOf(l.primary)
	res := s.circle.pays[d.idx]
	res.txnID, res.at = ids.NewTxnID(sp.self.Prefix), sp.self.Name
	s.plan.circleIDs.Store(res.txnID, "pay "+strconv.Itoa(d.idx))
	var first *upiv1.Transaction
	if err := s.call(ctx, sp, func(p *psp.PSP) error {
		r, err := p.InitiateDelegatedPay(ctx, &upiv1.InitiateDelegatedPayRequest{
			SecondaryVpa: l.secondary, PayeeVpa: d.payee, AmountPaise: d.amount, Note: d.note(), TxnId: res.txnID,
		})
		first = r.GetTransaction()
		return err
	}); err != nil {
		s.failf("%s: InitiateDelegatedPay %s at %s: %v", d, res.txnID, sp.self.Name, err)
		return false
	}
	if d.atOnce != (first.GetStatus() == upiv1.Resp_FAILURE) {
		s.failf("%s: InitiateDelegatedPay %s answered %s %s at once", d, res.txnID, first.GetStatus(), first.GetErrCode())
		return false
	}
	if l.mode == upiv1.Delegate_PARTIAL {
		// The primary's app lists the payment, and answers it.
		if !s.poll(ctx, fmt.Sprintf("%s: txn %s waiting for the primary at %s", d, res.txnID, pp.self.Name), func() (bool, error) {
			var there bool
			err := s.call(ctx, pp, func(p *psp.PSP) error {
				r, err := p.ListDelegatedApprovals(ctx, &upiv1.ListDelegatedApprovalsRequest{Vpa: l.primary})
				there = slices.ContainsFunc(r.GetApprovals(), func(x *upiv1.Transaction) bool { return x.GetTxnId() == res.txnID })
				return err
			})
			return there, err
		}) {
			return false
		}
		if d.answer != payIgnore {
			pin := goodPIN
			if d.answer == payWrongPIN {
				pin = wrongPIN
			}
			req := &upiv1.RespondDelegatedPayRequest{TxnId: res.txnID, Approve: d.answer != payDecline}
			if req.Approve {
				req.Cred = s.seal(l.primary, pin, res.txnID)
			}
			if err := s.call(ctx, pp, func(p *psp.PSP) error {
				_, err := p.RespondDelegatedPay(ctx, req)
				return err
			}); err != nil {
				s.failf("%s: RespondDelegatedPay %s at %s: %v", d, res.txnID, pp.self.Name, err)
				return false
			}
		}
	}
	// Its end at PSP(S), which the secondary's app is told.
	if !s.poll(ctx, fmt.Sprintf("%s: txn %s final at %s", d, res.txnID, sp.self.Name), func() (bool, error) {
		err := s.call(ctx, sp, func(p *psp.PSP) error {
			r, err := p.InspectTxn(res.txnID)
			res.status, res.errCode = r.GetTransaction().GetStatus(), r.GetTransaction().GetErrCode()
			return err
		})
		return isFinal(res.status), err
	}) {
		return false
	}
	if res.status != d.want || res.errCode != d.code {
		s.failf("%s: txn %s ended %s %s%s", d, res.txnID, res.status, res.errCode, s.traceOf(ctx, res.txnID))
		return false
	}
	return true
}

// circleRemove removes the link from the side the plan says and waits for
// both sides to have it DELINKED.
func (s *sim) circleRemove(ctx context.Context, l *linkPlan) bool {
	by := l.primary
	if l.remove == removeSecondary {
		by = l.secondary
	}
	id := s.circle.linkIDs[l.idx]
	at := s.pspOf(by)
	if err := s.call(ctx, at, func(p *psp.PSP) error {
		_, err := p.RemoveCircleLink(ctx, &upiv1.PspAppServiceRemoveCircleLinkRequest{LinkId: id, Vpa: by})
		return err
	}); err != nil {
		s.failf("%s: RemoveCircleLink %s at %s: %v", l, id, at.self.Name, err)
		return false
	}
	return s.poll(ctx, fmt.Sprintf("%s: link %s DELINKED at both PSPs", l, id), func() (bool, error) {
		pl, err := s.primaryLink(ctx, l)
		if err != nil {
			return false, err
		}
		sl, err := s.secondaryLink(ctx, l)
		return pl.GetStatus() == upiv1.CircleLink_DELINKED && sl.GetStatus() == upiv1.CircleLink_DELINKED, err
	})
}

// checkCircle checks the Circle plan's end on the settled network: each
// link's final status at both sides as planned, a full link's use at both
// sides the sum of its payments that succeeded, and every delegated
// payment the switch heard of decided there as at PSP(S) and closed.
// It returns the delegated payments the switch lists.
func (s *sim) checkCircle(ctx context.Context, sw upiv1.AdminServiceClient) int {
	cp := s.plan.circle
	used := map[int]int64{}
	for i, d := range cp.pays {
		if res := s.circle.pays[i]; res.status == upiv1.Resp_SUCCESS {
			used[d.link.idx] += d.amount
		}
	}
	for _, l := range cp.links {
		id := s.circle.linkIDs[l.idx]
		if id == "" {
			continue // its lane stopped before it (and said why)
		}
		pl, err := s.primaryLink(ctx, l)
		if err != nil {
			s.failf("%s: link %s at PSP(P): %v", l, id, err)
			continue
		}
		want := l.final()
		if pl.GetStatus() != want {
			s.failf("%s: link %s ends %s %s at PSP(P), want %s", l, id, pl.GetStatus(), pl.GetErrCode(), want)
		}
		sides := []*upiv1.CircleLink{pl}
		if l.invited {
			sl, err := s.secondaryLink(ctx, l)
			switch {
			case err != nil:
				s.failf("%s: link %s at PSP(S): %v", l, id, err)
			case sl.GetStatus() != want:
				s.failf("%s: link %s ends %s %s at PSP(S), want %s", l, id, sl.GetStatus(), sl.GetErrCode(), want)
			default:
				sides = append(sides, sl)
			}
		}
		if l.mode == upiv1.Delegate_FULL && l.added == upiv1.CircleLink_LINKED {
			for i, side := range sides {
				if side.GetUsedPaise() != used[l.idx] {
					s.failf("%s: link %s has used_paise %d at %s, but its payments that succeeded total %d",
						l, id, side.GetUsedPaise(), []string{"PSP(P)", "PSP(S)"}[i], used[l.idx])
				}
			}
		}
	}
	// The switch's own list (`upisim audit` reads it): a delegated payment
	// that ended before any pay (ZA, U69) is a PAY of its own there, with
	// no legs.
	listed := map[string]*upiv1.TxnSummary{}
	for page := ""; ; {
		r, err := sw.ListTransactions(ctx, &upiv1.ListTransactionsRequest{PageToken: page})
		if err != nil {
			s.failf("the switch's transactions: %v", err)
			return 0
		}
		for _, t := range r.GetTransactions() {
			listed[t.GetTxnId()] = t
		}
		if page = r.GetNextPageToken(); page == "" {
			break
		}
	}
	heard := 0
	for i, d := range cp.pays {
		res := s.circle.pays[i]
		if res.txnID == "" || !isFinal(res.status) {
			continue
		}
		got, ok := listed[res.txnID]
		if d.atOnce {
			if ok {
				s.failf("%s: txn %s ended at PSP(S) before any message, but the switch has it %s %s", d, res.txnID, got.GetStatus(), got.GetErrCode())
			}
			continue
		}
		heard++
		switch {
		case !ok:
			s.failf("%s: txn %s is not in the switch's list", d, res.txnID)
		case got.GetStatus() != res.status || got.GetErrCode() != res.errCode:
			s.failf("%s: txn %s: the switch says %s %s, PSP(S) %s %s", d, res.txnID, got.GetStatus(), got.GetErrCode(), res.status, res.errCode)
		case got.GetState() != "CLOSED":
			s.failf("%s: txn %s left in state %s at the switch", d, res.txnID, got.GetState())
		}
	}
	return heard
}

// circleMoney moves, in want, the money of the delegated payments that
// succeeded: from the primary to the payee.
func (s *sim) circleMoney(want map[string]int64) {
	for i, d := range s.plan.circle.pays {
		if s.circle.pays[i].status == upiv1.Resp_SUCCESS {
			want[d.link.primary] -= d.amount
			want[d.payee] += d.amount
		}
	}
}

// circleSummary counts the Circle plan's links by how they ended and its
// delegated payments by outcome, for the run's log.
func (s *sim) circleSummary() string {
	links, pays := map[string]int{}, map[string]int{}
	for _, l := range s.plan.circle.links {
		links[strings.TrimSpace(l.mode.String()+" "+l.final().String()+" "+l.addCode)]++
	}
	for i, d := range s.plan.circle.pays {
		res := s.circle.pays[i]
		pays[strings.TrimSpace(d.link.mode.String()+" "+res.status.String()+" "+res.errCode)]++
	}
	count := func(m map[string]int) string {
		var parts []string
		for _, k := range sortedKeys(m) {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprintf("%d links (%s); %d delegated payments (%s)", len(s.plan.circle.links), count(links),
		len(s.plan.circle.pays), count(pays))
}
