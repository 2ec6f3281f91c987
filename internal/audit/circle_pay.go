package audit

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/upi"
)

// Kinds of violation of UPI Circle payments (docs/FLOWS.md, "What upisim
// audit checks of it").
const (
	// ViolationCircleOverLimit: a full delegation's SUCCESS and DEEMED
	// debits under its mandate total more than its limit in a month (the
	// network file's circle.month: the calendar month in IST, or the 30
	// days up to a debit).
	ViolationCircleOverLimit = "CIRCLE_OVER_LIMIT"
	// ViolationCircleNoMandate: a debit under full delegation (the
	// switch's DEBIT carried a mandate's UMN) that the remitter did not
	// make under an ACTIVE mandate it signed: it has no such mandate,
	// signed it after the debit, had revoked it before, or did not count
	// the debit against it.
	ViolationCircleNoMandate = "CIRCLE_NO_MANDATE"
	// ViolationCircleUsage: the nodes disagree on a delegation's usage:
	// PSP(P) and PSP(S) counted different debits (txn ids or amounts)
	// against a link, the remitter's debits under the mandate are not
	// PSP(P)'s debits of the link that carried it, or a node counts a debit
	// the switch does not list as SUCCESS or DEEMED.
	ViolationCircleUsage = "CIRCLE_USAGE_MISMATCH"
)

// debitHorizon is how far back the audit compares counted debits: the
// nodes drop a debit older than 62 days when they count a new one (at
// different moments), so an older one may be gone at one node and not at
// another.
const debitHorizon = 61 * 24 * time.Hour

// counted is one node's counted debit.
type counted struct {
	node   string
	amount int64
	at     time.Time
}

// debitsOf are r's counted debits by txn id.
func debitsOf(r circleRec) map[string]counted {
	out := map[string]counted{}
	for _, d := range r.r.GetDebits() {
		out[d.GetTxnId()] = counted{node: r.node, amount: d.GetAmountPaise(), at: d.GetAt().AsTime()}
	}
	return out
}

// counts reports whether t's status counts against a delegation's limits:
// SUCCESS or DEEMED (a FAILURE after a DEEMED gave it back).
func counts(t *upiv1.TxnSummary) bool {
	return t != nil && (t.GetStatus() == upiv1.Resp_SUCCESS || t.GetStatus() == upiv1.Resp_DEEMED)
}

// debitSettled reports whether the debit of txnID is past work in
// flight: the switch's record of it and each node's count of it are older
// than MaxAge, and it is within debitHorizon.
func (a *Auditor) debitSettled(txnID string, cs ...counted) bool {
	if t := a.after[txnID]; t != nil && a.now.Sub(t.GetUpdated().AsTime()) <= a.maxAge {
		return false
	}
	for _, c := range cs {
		if c.node == "" {
			continue
		}
		if a.now.Sub(c.at) <= a.maxAge || a.now.Sub(c.at) > debitHorizon {
			return false
		}
	}
	return true
}

// circlePayments checks the usage of every delegation: the nodes' counts
// agree with each other and the switch, a full one's month stays within
// its limit, and every debit under a mandate had it ACTIVE and signed.
func (a *Auditor) circlePayments() {
	if a.circleRecs == nil {
		return
	}
	ix := indexCircle(a.circleRecs)
	for _, id := range slices.Sorted(maps.Keys(ix.links)) {
		sides := ix.links[id]
		p, hasP := sides[circleP]
		if !hasP {
			continue // usage is counted from PSP(P)'s link
		}
		s, hasS := sides[circleS]
		name := fmt.Sprintf("%s link %s %s → %s", orDash(p.r.GetMode()), id, orDash(p.r.GetPrimaryVpa()), orDash(p.r.GetSecondaryVpa()))
		if hasS {
			a.usageAgree(name, p, "PSP(P)", s, "PSP(S)")
		}
		umn := p.r.GetUmn()
		if p.r.GetMode() != upiv1.Delegate_FULL.String() || umn == "" {
			continue
		}
		rem, hasRem := ix.remitterMandates[umn]
		if hasRem {
			// The remitter counts the debits that carried the mandate:
			// not a payment the primary approved with her PIN. (A debit
			// it counts that the switch's DEBIT did not carry the
			// mandate for is countedAreSwitchTxns' to name.)
			a.usageAgree(name+" (its debits under mandate "+umn+")", a.underMandate(p, umn), "PSP(P)", a.underMandate(rem, umn), "the remitter")
		}
		a.overLimit(name, umn, p, s, rem)
	}
	a.mandatedDebits(ix)
	a.countedAreSwitchTxns()
}

// underMandate is r with only its debits whose DEBIT carried the mandate
// umn at the switch.
func (a *Auditor) underMandate(r circleRec, umn string) circleRec {
	out := circleRec{r.node, &upiv1.CircleRecord{}}
	for _, d := range r.r.GetDebits() {
		if t := a.after[d.GetTxnId()]; t != nil && t.GetMandateUmn() == umn {
			out.r.Debits = append(out.r.Debits, d)
		}
	}
	return out
}

// usageAgree checks that x and y count the same settled debits, with the
// same amounts.
func (a *Auditor) usageAgree(name string, x circleRec, xWho string, y circleRec, yWho string) {
	xd, yd := debitsOf(x), debitsOf(y)
	ids := slices.Sorted(maps.Keys(xd))
	for id := range yd {
		if _, ok := xd[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		dx, okX := xd[id]
		dy, okY := yd[id]
		if !a.debitSettled(id, dx, dy) {
			continue
		}
		switch {
		case !okY:
			a.add(ViolationCircleUsage, id, y.node, "%s: %s %s counted %s against it, but %s %s did not", name, xWho, x.node, upi.FormatRupeesIndian(dx.amount), yWho, y.node)
		case !okX:
			a.add(ViolationCircleUsage, id, x.node, "%s: %s %s counted %s against it, but %s %s did not", name, yWho, y.node, upi.FormatRupeesIndian(dy.amount), xWho, x.node)
		case dx.amount != dy.amount:
			a.add(ViolationCircleUsage, id, y.node, "%s: %s %s counted %s against it, but %s %s counted %s", name, xWho, x.node,
				upi.FormatRupeesIndian(dx.amount), yWho, y.node, upi.FormatRupeesIndian(dy.amount))
		}
	}
}

// overLimit checks that the settled debits under the mandate umn of a full
// link — every SUCCESS or DEEMED debit any of PSP(P), PSP(S) and the
// remitter counted, at the earliest time one counted it — never total
// more than the link's limit in a month as the network counts it. The
// limit is the largest the nodes hold (an update raising it reaches them
// one after another).
func (a *Auditor) overLimit(name, umn string, recs ...circleRec) {
	type use struct {
		id    string
		at    time.Time
		nodes []string
	}
	var limit int64
	month := ""
	byID := map[string]*use{}
	for _, r := range recs {
		if r.r == nil {
			continue
		}
		limit = max(limit, r.r.GetLimitPaise())
		if month == "" {
			month = r.r.GetMonth()
		}
		for id, c := range debitsOf(r) {
			if t := a.after[id]; !counts(t) || t.GetMandateUmn() != umn || !a.debitSettled(id, c) {
				continue
			}
			u := byID[id]
			if u == nil {
				u = &use{id: id, at: c.at}
				byID[id] = u
			}
			if c.at.Before(u.at) {
				u.at = c.at
			}
			u.nodes = append(u.nodes, c.node)
		}
	}
	if limit <= 0 || len(byID) == 0 {
		return
	}
	us := slices.SortedFunc(maps.Values(byID), func(x, y *use) int {
		if c := x.at.Compare(y.at); c != 0 {
			return c
		}
		return strings.Compare(x.id, y.id)
	})
	lim := config.Circle{Month: month}.Limits(limit, time.Time{})
	uses := make([]upi.CircleUse, 0, len(us))
	for _, u := range us {
		// The switch's amount: what moved.
		uses = append(uses, upi.CircleUse{AmountPaise: a.after[u.id].GetAmountPaise(), At: u.at})
		if used := lim.Used(uses, u.at); used > limit {
			slices.Sort(u.nodes)
			what := "its calendar month (IST)"
			if lim.Rolling {
				what = "the 30 days up to it"
			}
			a.add(ViolationCircleOverLimit, u.id, u.nodes[0], "%s: the debit of %s at %s (counted by %s) brings %s to %s, over the limit %s",
				name, upi.FormatRupeesIndian(uses[len(uses)-1].AmountPaise), u.at.Format(time.RFC3339), strings.Join(slices.Compact(u.nodes), ", "),
				what, upi.FormatRupeesIndian(used), upi.FormatRupeesIndian(limit))
		}
	}
}

// mandatedDebits checks every settled SUCCESS or DEEMED payment whose DEBIT
// carried a mandate (full delegation): the remitter has that mandate,
// signed before the debit and not revoked before it, and counted the
// debit against it.
func (a *Auditor) mandatedDebits(ix circleIndex) {
	for _, id := range slices.Sorted(maps.Keys(a.after)) {
		t := a.after[id]
		umn := t.GetMandateUmn()
		if umn == "" || !counts(t) || !a.debitSettled(id, counted{node: "switch", at: t.GetCreated().AsTime()}) {
			continue
		}
		what := fmt.Sprintf("%s, a debit under mandate %s,", describe(t), umn)
		rem, ok := ix.remitterMandates[umn]
		if !ok {
			a.add(ViolationCircleNoMandate, id, t.GetRemitter(), "%s is %s at the switch, but no remitter lists mandate %s", what, upi.ResultName(t.GetStatus()), umn)
			continue
		}
		d, ok := debitsOf(rem)[id]
		if !ok {
			a.add(ViolationCircleNoMandate, id, rem.node, "%s is %s at the switch, but the remitter %s did not count it against the mandate", what, upi.ResultName(t.GetStatus()), rem.node)
			continue
		}
		signed, revoked := rem.r.GetCreated().AsTime(), rem.r.GetRevoked()
		switch {
		case !rem.r.GetSigned():
			a.add(ViolationCircleNoMandate, id, rem.node, "%s was made, but the remitter %s holds no signature of the mandate", what, rem.node)
		case rem.r.GetCreated() == nil || d.at.Before(signed):
			a.add(ViolationCircleNoMandate, id, rem.node, "%s was made at %s, before the remitter %s signed the mandate (%s)", what,
				d.at.Format(time.RFC3339Nano), rem.node, timeOrNone(rem.r.GetCreated()))
		case revoked != nil && !revoked.AsTime().After(d.at):
			a.add(ViolationCircleNoMandate, id, rem.node, "%s was made at %s, after the remitter %s revoked the mandate (%s)", what,
				d.at.Format(time.RFC3339Nano), rem.node, revoked.AsTime().Format(time.RFC3339Nano))
		case rem.r.GetStatus() != "ACTIVE" && revoked == nil:
			a.add(ViolationCircleNoMandate, id, rem.node, "%s was made, but the mandate is %s at the remitter %s", what, rem.r.GetStatus(), rem.node)
		}
	}
}

// countedAreSwitchTxns checks that every settled debit a node counts
// against a link or a mandate is a SUCCESS or DEEMED payment at the
// switch (one of that mandate, for the remitter's).
func (a *Auditor) countedAreSwitchTxns() {
	for _, node := range slices.Sorted(maps.Keys(a.circleRecs)) {
		for _, r := range a.circleRecs[node] {
			if len(r.GetDebits()) == 0 {
				continue
			}
			of := fmt.Sprintf("link %s", r.GetLinkId())
			if r.GetKind() != "LINK" {
				of = "mandate " + r.GetUmn()
			}
			for _, d := range r.GetDebits() {
				id, c := d.GetTxnId(), counted{node: node, at: d.GetAt().AsTime()}
				if !a.debitSettled(id, c) {
					continue
				}
				t := a.after[id]
				switch {
				case t == nil:
					a.add(ViolationCircleUsage, id, node, "%s counts %s against %s, but the switch has no such transaction", node, upi.FormatRupeesIndian(d.GetAmountPaise()), of)
				case !counts(t):
					a.add(ViolationCircleUsage, id, node, "%s counts %s against %s, but the switch's %s is %s%s", node, upi.FormatRupeesIndian(d.GetAmountPaise()), of,
						describe(t), upi.ResultName(t.GetStatus()), codeSuffix(t.GetErrCode()))
				case r.GetKind() != "LINK" && t.GetMandateUmn() != r.GetUmn():
					a.add(ViolationCircleUsage, id, node, "%s counts %s against %s, but the switch's DEBIT of %s carried %s", node, upi.FormatRupeesIndian(d.GetAmountPaise()), of,
						describe(t), orNoMandate(t.GetMandateUmn()))
				}
			}
		}
	}
}

func codeSuffix(code string) string {
	if code == "" {
		return ""
	}
	return " " + code
}

func orNoMandate(umn string) string {
	if umn == "" {
		return "no mandate"
	}
	return "mandate " + umn
}

func timeOrNone(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "never"
	}
	return ts.AsTime().Format(time.RFC3339Nano)
}
