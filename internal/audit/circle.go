package audit

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/upi"
)

// ViolationCircleMismatch: the nodes of a UPI Circle link disagree about
// it once it is settled: PSP(P), PSP(S) and the switch's registry hold
// different statuses, a LINKED FULL link has no ACTIVE signed mandate at
// PSP(P) or at the remitter with its UMN and limit, or a link no longer
// LINKED left its mandate ACTIVE at the remitter.
const ViolationCircleMismatch = "CIRCLE_MISMATCH"

// Sides of a CircleRecord (AdminService/ListCircleLinks).
const (
	circleP, circleS, circleSwitch = "P", "S", "SWITCH"
	mandatePayerSide               = "payer"
	mandateRemitterSide            = "remitter"
)

// circleRec is one node's CircleRecord.
type circleRec struct {
	node string
	r    *upiv1.CircleRecord
}

// readCircle reads every node's UPI Circle records (the switch first, so
// the others' are at least as recent). A node that does not list them (an
// older upisim) leaves the links unchecked, with a note.
func readCircle(ctx context.Context, c Source, s *snapshot) error {
	nodes := slices.Concat(c.Dir.ByRole(config.RoleSwitch), c.Dir.ByRole(config.RolePSP), c.Dir.ByRole(config.RoleBank))
	s.circleRecs = map[string][]*upiv1.CircleRecord{}
	for _, nd := range nodes {
		a, err := c.Admin(nd.Name)
		if err != nil {
			return err
		}
		token := ""
		for {
			r, err := a.ListCircleLinks(ctx, &upiv1.AdminServiceListCircleLinksRequest{PageToken: token})
			if status.Code(err) == codes.Unimplemented {
				s.circleNote = fmt.Sprintf("node %s does not list UPI Circle links (%s): links were not checked", nd.Name, status.Convert(err).Message())
				s.circleRecs = nil
				return nil
			}
			if err != nil {
				return nodeError(nd, err)
			}
			s.circleRecs[nd.Name] = append(s.circleRecs[nd.Name], r.GetRecords()...)
			if r.GetNextPageToken() == "" {
				break
			}
			if r.GetNextPageToken() <= token {
				return fmt.Errorf("node %s: ListCircleLinks page token went back from %q to %q", nd.Name, token, r.GetNextPageToken())
			}
			token = r.GetNextPageToken()
		}
	}
	return nil
}

// circleIndex is every node's UPI Circle records by what they are of.
type circleIndex struct {
	links            map[string]map[string]circleRec // link id → side → record
	payerMandates    map[string]circleRec            // UMN → PSP(P)'s mandate
	remitterMandates map[string]circleRec            // UMN → the remitter's
}

func indexCircle(recs map[string][]*upiv1.CircleRecord) circleIndex {
	ix := circleIndex{links: map[string]map[string]circleRec{}, payerMandates: map[string]circleRec{}, remitterMandates: map[string]circleRec{}}
	for node, rs := range recs {
		for _, r := range rs {
			switch {
			case r.GetKind() == "LINK":
				if ix.links[r.GetLinkId()] == nil {
					ix.links[r.GetLinkId()] = map[string]circleRec{}
				}
				ix.links[r.GetLinkId()][r.GetSide()] = circleRec{node, r}
			case r.GetSide() == mandatePayerSide:
				ix.payerMandates[r.GetUmn()] = circleRec{node, r}
			case r.GetSide() == mandateRemitterSide:
				ix.remitterMandates[r.GetUmn()] = circleRec{node, r}
			}
		}
	}
	return ix
}

// circle checks that the nodes agree on every settled link: decided at
// the switch (or, when the switch never registered it, ended at PSP(P))
// and unchanged at every node for MaxAge, so work in flight is not
// flagged.
func (a *Auditor) circle() {
	if a.circleNote != "" {
		a.res.Notes = append(a.res.Notes, a.circleNote)
	}
	if a.circleRecs == nil {
		return
	}
	ix := indexCircle(a.circleRecs)
	links, payerMandates, remitterMandates := ix.links, ix.payerMandates, ix.remitterMandates
	pending := upiv1.CircleLink_LINK_PENDING.String()
	for _, id := range slices.Sorted(maps.Keys(links)) {
		sides := links[id]
		p, hasP := sides[circleP]
		s, hasS := sides[circleS]
		w, hasW := sides[circleSwitch]
		// The link's status: the switch's decision, else PSP(P)'s end of a
		// link the switch never registered (its mandate declined, or the
		// switch refused the ADD).
		var want circleRec
		switch {
		case hasW:
			want = w
		case hasP:
			want = p
		default:
			continue // only PSP(S) has it: checked from the switch's side
		}
		st := want.r.GetStatus()
		if st == pending {
			continue
		}
		umn := w.r.GetUmn()
		if umn == "" {
			umn = p.r.GetUmn()
		}
		latest := time.Time{}
		for _, r := range []circleRec{p, s, w, payerMandates[umn], remitterMandates[umn]} {
			if t := r.r.GetUpdated(); t != nil && t.AsTime().After(latest) {
				latest = t.AsTime()
			}
		}
		if a.now.Sub(latest) <= a.maxAge {
			continue // settling: within --max-age of its last change
		}
		name := fmt.Sprintf("%s link %s → %s", orDash(want.r.GetMode()), orDash(want.r.GetPrimaryVpa()), orDash(want.r.GetSecondaryVpa()))
		what := "the switch"
		if !hasW {
			what = "PSP(P) " + p.node + " (the switch never registered it)"
		}
		switch {
		case !hasP:
			a.add(ViolationCircleMismatch, id, "", "%s is %s at %s, but PSP(P) has no record of it", name, linkOutcome(w.r), what)
		case p.r.GetStatus() != st:
			a.add(ViolationCircleMismatch, id, p.node, "%s is %s at %s, but PSP(P) %s says %s", name, linkOutcome(want.r), what, p.node, linkOutcome(p.r))
		}
		if hasS && s.r.GetStatus() != st {
			a.add(ViolationCircleMismatch, id, s.node, "%s is %s at %s, but PSP(S) %s says %s", name, linkOutcome(want.r), what, s.node, linkOutcome(s.r))
		}
		if !hasS && hasW && (st == upiv1.CircleLink_LINKED.String() || st == upiv1.CircleLink_DELINKED.String() || st == upiv1.CircleLink_DECLINED.String()) {
			a.add(ViolationCircleMismatch, id, "", "%s is %s at the switch, which only the secondary's answer makes it, but PSP(S) has no record of it", name, linkOutcome(w.r))
		}
		if want.r.GetMode() != upiv1.Delegate_FULL.String() && p.r.GetMode() != upiv1.Delegate_FULL.String() {
			continue
		}
		rem, hasRem := remitterMandates[umn]
		if st == upiv1.CircleLink_LINKED.String() {
			// A LINKED link's mandate is ACTIVE, or REVOKED on its own
			// (its payments then go to the primary); PSP(P) and the
			// remitter agree which.
			limit := p.r.GetLimitPaise()
			pm, hasPM := payerMandates[umn]
			switch {
			case umn == "":
				a.add(ViolationCircleMismatch, id, p.node, "%s is LINKED, but no node names its mandate's UMN", name)
			case !hasPM:
				a.add(ViolationCircleMismatch, id, p.node, "%s is LINKED, but PSP(P) has no mandate %s", name, umn)
			case !linkedMandate(pm.r.GetStatus()) || !pm.r.GetSigned():
				a.add(ViolationCircleMismatch, id, pm.node, "%s is LINKED, but its mandate %s at PSP(P) %s is %s%s", name, umn, pm.node, pm.r.GetStatus(), unsigned(pm.r))
			}
			switch {
			case umn == "":
			case !hasRem:
				a.add(ViolationCircleMismatch, id, "", "%s is LINKED, but no remitter has its mandate %s", name, umn)
			case !linkedMandate(rem.r.GetStatus()):
				a.add(ViolationCircleMismatch, id, rem.node, "%s is LINKED, but its mandate %s is %s at the remitter %s", name, umn, rem.r.GetStatus(), rem.node)
			case hasPM && rem.r.GetStatus() != pm.r.GetStatus():
				a.add(ViolationCircleMismatch, id, rem.node, "%s is LINKED; its mandate %s is %s at PSP(P) %s, but %s at the remitter %s",
					name, umn, pm.r.GetStatus(), pm.node, rem.r.GetStatus(), rem.node)
			case rem.r.GetLimitPaise() != limit:
				a.add(ViolationCircleMismatch, id, rem.node, "%s is LINKED with limit %s at PSP(P) %s, but its mandate %s at the remitter %s is for %s",
					name, upi.FormatRupeesIndian(limit), p.node, umn, rem.node, upi.FormatRupeesIndian(rem.r.GetLimitPaise()))
			}
		} else if hasRem && rem.r.GetStatus() == "ACTIVE" {
			a.add(ViolationCircleMismatch, id, rem.node, "%s is %s at %s, but its mandate %s is still ACTIVE at the remitter %s (never revoked)", name, linkOutcome(want.r), what, umn, rem.node)
		}
	}
}

func linkOutcome(r *upiv1.CircleRecord) string {
	if r.GetErrCode() != "" && r.GetStatus() != upiv1.CircleLink_LINKED.String() {
		return r.GetStatus() + " " + r.GetErrCode()
	}
	return r.GetStatus()
}

func unsigned(r *upiv1.CircleRecord) string {
	if r.GetSigned() {
		return ""
	}
	return ", without the remitter's signature"
}

// linkedMandate reports whether a LINKED full link's mandate may have
// status: ACTIVE, or REVOKED on its own (docs/FLOWS.md, "Payment, partial
// delegation (and full with a mandate not ACTIVE)").
func linkedMandate(status string) bool { return status == "ACTIVE" || status == "REVOKED" }
