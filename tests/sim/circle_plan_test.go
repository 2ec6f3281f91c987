package sim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/fault"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/upi"
)

// The UPI Circle part of the plan (docs/FLOWS.md, "UPI Circle"): links
// created, accepted and declined (by the secondary, by PSP(S) for
// declines@beta, never answered for silent@beta), mandates declined
// (nomandate@alpha), links refused by the switch (CS, CP), removals by
// either side, and delegated payments under both modes, each with the
// outcome the plan predicts for it.
//
// The steps run in lanes: a lane's steps one after another, each once the
// one before has ended, the lanes at once. Every step of a lane is about
// its own secondaries, and a primary never has more than
// circle.max_secondaries links at once but in the CP lane, whose primary
// is its own: so the switch's rules (one primary per secondary, CS; at
// most max_secondaries secondaries per primary, CP) give the outcome the
// plan predicts whatever the order the lanes' steps interleave in.
//
// The lanes start after the last restart has ended: a restart of the
// remitter makes a mandate or a DEBIT time out (U67), which no plan can
// predict. The random flows' tails (long delays, status checks, reversals)
// are still in flight then. Circle messages get only the faults that
// change no outcome (circleFault): lost acks and duplicates.

// The network the simulation runs: the default one, with the switch's
// timeouts short, PINs cheap and never locked, UPI Circle's expiries short
// (so that an invite and an approval left unanswered expire within the
// run) and the users of the Circle lanes.
func simConfig() *config.Network {
	cfg := config.Default()
	cfg.Heartbeat = 0
	cfg.Timeouts = simTimeouts
	// The plan's wrong PINs test declines, not the lockout (the
	// integration tests do): never lock, and hash cheaply.
	cfg.PIN.MaxTries = config.MaxPINTries
	cfg.PIN.HashTime, cfg.PIN.HashMemoryKiB = 1, 64
	for i, r := range cfg.Rules {
		if r.Name == "slowdebit" { // 20s: late, but not for minutes
			cfg.Rules[i].Fault.Delay = 400 * time.Millisecond
		}
	}
	cfg.Circle.InviteExpiry = circleExpiry
	cfg.Circle.ApprovalExpiry = circleExpiry
	// The last 30 days, not the calendar month: a run across midnight of
	// the 1st (IST) must count as one that is not.
	cfg.Circle.Month = config.CircleRolling
	cfg.Users = append(cfg.Users,
		config.User{VPA: "priya@alpha", Name: "Priya", Bank: "abank", Account: "1000000801", Balance: primaryBalance, PIN: goodPIN},
		config.User{VPA: "ravi@beta", Name: "Ravi", Bank: "bbank", Account: "2000000801", Balance: primaryBalance, PIN: goodPIN},
		config.User{VPA: cpPrimary, Name: "Meera", Bank: "abank", Account: "1000000802", PIN: goodPIN},
	)
	for i := range cfg.Circle.MaxSecondaries + 1 {
		cfg.Users = append(cfg.Users, config.User{
			VPA: cpSecondary(i), Name: "Kid " + strconv.Itoa(i+1), Bank: "bbank", Account: strconv.Itoa(2000000811 + i), PIN: goodPIN,
		})
	}
	merchantConfig(cfg)
	liteConfig(cfg)
	return cfg
}

const (
	// circleExpiry is the simulation's circle.invite_expiry and
	// circle.approval_expiry: long enough for the plan's answers, which
	// come as soon as the invite or the approval is there.
	circleExpiry = 3 * time.Second
	// primaryBalance is the opening balance of the Circle lanes' primaries.
	primaryBalance = 5000000 // ₹50,000
	// cpPrimary links secondaries until the switch refuses one CP.
	cpPrimary = "meera@alpha"
)

// handle is the part of vpa after the @.
func handle(vpa string) string {
	_, h, _ := strings.Cut(vpa, "@")
	return h
}

func cpSecondary(i int) string { return "kid" + strconv.Itoa(i+1) + "@beta" }

// The users of the Circle lanes.
var (
	circlePrimaries = []string{"priya@alpha", "ravi@beta"}
	// a lane each; none of them is anyone's primary.
	laneSecondaries = []string{"carol@beta", "bob@beta", "alice@alpha"}
	circlePayees    = []string{"chai@beta", "bob@beta", "alice@alpha", "carol@beta"}
)

// What the secondary (or its PSP) does with an invite.
const (
	linkAccept     = "accept"
	linkDecline    = "decline"     // the secondary declines: ZA
	linkPSPDecline = "psp-decline" // declines@beta: PSP(S) declines, ZA
	linkSilent     = "silent"      // silent@beta: never answered, U69
	linkNoInvite   = "no invite"   // the mandate is declined, or the switch refuses the ADD
)

// What the primary does with a partial delegated payment.
const (
	payApprove  = "approve"
	payWrongPIN = "approve with a wrong PIN" // the remitter: ZM
	payDecline  = "decline"                  // ZA
	payIgnore   = "ignore"                   // U69
)

// What a payment under a FULL link is drawn to be.
const (
	payFullAny     = "any"
	payFullWithin  = "within the limits"
	payFullOver    = "over the per-payment limit" // Z8
	payFullMonth   = "over the link's limit"      // QH
	payFullCooling = "over the cooling limit"     // FP
)

// aimOrder orders a link's payments: those that need use before them, and
// those that leave no room, after the others.
var aimOrder = map[string]int{payFullMonth: 1, payFullCooling: 1}

// Who removes a link.
const (
	removeNone      = ""
	removePrimary   = "primary"
	removeSecondary = "secondary"
)

// Kinds of lane step.
const (
	opLink   = "link"
	opPay    = "pay"
	opRemove = "remove"
)

// linkPlan is one link of the plan.
type linkPlan struct {
	idx                int
	primary, secondary string
	mode               upiv1.Delegate_SubType
	limit              int64 // FULL only
	answer             string
	// added and addCode are the link's status once its ADD is decided
	// (LINKED, DECLINED, EXPIRED, FAILED) and its code.
	added   upiv1.CircleLink_Status
	addCode string
	// remove says who removes it once its payments are done.
	remove string
	// invited: PSP(S) keeps a record of it (it answered the invite).
	invited bool
}

// final is the link's status at the end of the run.
func (l *linkPlan) final() upiv1.CircleLink_Status {
	if l.remove != removeNone {
		return upiv1.CircleLink_DELINKED
	}
	return l.added
}

func (l *linkPlan) String() string {
	s := fmt.Sprintf("link %d: %s %s → %s", l.idx, l.mode, l.primary, l.secondary)
	if l.mode == upiv1.Delegate_FULL {
		s += fmt.Sprintf(" limit %d paise", l.limit)
	}
	s += fmt.Sprintf(", %s: %s %s", l.answer, l.added, l.addCode)
	if l.remove != removeNone {
		s += ", removed by the " + l.remove
	}
	return s
}

// delegPlan is one delegated payment of the plan.
type delegPlan struct {
	idx    int
	link   *linkPlan
	payee  string
	amount int64
	answer string // PARTIAL: the primary's
	want   upiv1.Resp_Result
	code   string
	// atOnce: PSP(S) ends it before any message (Z8, QH, FP), so the
	// switch never hears of it.
	atOnce bool
}

func (d *delegPlan) note() string { return "circle#" + strconv.Itoa(d.idx) }

func (d *delegPlan) String() string {
	s := fmt.Sprintf("delegated payment %d: %s for %s → %s %d paise under link %d", d.idx, d.link.mode, d.link.secondary, d.payee, d.amount, d.link.idx)
	if d.answer != "" {
		s += " (primary will " + d.answer + ")"
	}
	return s + fmt.Sprintf(", want %s %s", d.want, d.code)
}

// circleStep is one step of a lane.
type circleStep struct {
	op   string
	link *linkPlan
	pay  *delegPlan
}

// circlePlan is the Circle part of a run.
type circlePlan struct {
	// start is when the lanes may begin, from the start of the run: after
	// every restart has ended.
	start time.Duration
	lanes []circleLane
	links []*linkPlan
	pays  []*delegPlan
}

type circleLane struct {
	start time.Duration
	steps []circleStep
}

// newCirclePlan draws the Circle lanes of seed, to start after `after`.
func newCirclePlan(seed int64, cfg *config.Network, after time.Duration) *circlePlan {
	r := rngFor(seed, "circle")
	cp := &circlePlan{start: after}
	c := cfg.Circle
	// budget is what each primary may still be debited: the plan keeps the
	// payments it predicts SUCCESS within the opening balance, so that no
	// order of the lanes ends one Z9.
	budget := map[string]int64{}
	for _, u := range cfg.Users {
		budget[u.VPA] = u.Balance
	}
	pick := func(from []string) string { return from[r.IntN(len(from))] }
	mode := func() upiv1.Delegate_SubType {
		if r.IntN(2) == 0 {
			return upiv1.Delegate_FULL
		}
		return upiv1.Delegate_PARTIAL
	}
	limit := func() int64 { return 50000 + r.Int64N(c.FullMonthly-50000+1) }
	newLink := func(primary, secondary string, m upiv1.Delegate_SubType) *linkPlan {
		l := &linkPlan{idx: len(cp.links), primary: primary, secondary: secondary, mode: m}
		if m == upiv1.Delegate_FULL {
			l.limit = limit()
		}
		cp.links = append(cp.links, l)
		return l
	}
	linked := func(l *linkPlan) { l.answer, l.added, l.invited = linkAccept, upiv1.CircleLink_LINKED, true }
	// newPay draws a payment under l, whose use so far is *used: one of
	// the kind aim names (payFull* for FULL, an answer for PARTIAL), or
	// any with aim "". Its outcome is predicted from the amount and the
	// limits whatever the aim.
	newPay := func(l *linkPlan, used *int64, aim string) *delegPlan {
		d := &delegPlan{idx: len(cp.pays), link: l, want: upiv1.Resp_SUCCESS}
		for d.payee == "" || d.payee == l.primary || d.payee == l.secondary {
			d.payee = pick(circlePayees)
		}
		if l.mode == upiv1.Delegate_FULL {
			if aim == "" {
				aim = []string{payFullAny, payFullAny, payFullAny, payFullOver}[r.IntN(4)]
			}
			switch room := min(l.limit, c.CoolingLimit) - *used; aim {
			case payFullAny: // ₹1 to ₹4,000
				d.amount = 100 + r.Int64N(400000)
			case payFullWithin:
				d.amount = 1 + r.Int64N(max(1, min(room, c.FullPerTxn)/2))
			case payFullOver: // over the per-payment limit
				d.amount = c.FullPerTxn + 1 + r.Int64N(100000)
			case payFullMonth: // past the link's limit (below the cooling limit)
				d.amount = room + 1 + r.Int64N(max(1, c.FullPerTxn-room))
			case payFullCooling: // past the cooling limit, within the link's
				d.amount = room + 1 + r.Int64N(max(1, min(c.FullPerTxn, l.limit-*used)-room))
			}
			// All within circle.cooling of the linking: FP counts all.
			switch {
			case d.amount > c.FullPerTxn:
				d.want, d.code, d.atOnce = upiv1.Resp_FAILURE, upi.CodeLimitExceeded, true
			case *used+d.amount > l.limit:
				d.want, d.code, d.atOnce = upiv1.Resp_FAILURE, upi.CodeCircleMonthly, true
			case *used+d.amount > c.CoolingLimit:
				d.want, d.code, d.atOnce = upiv1.Resp_FAILURE, upi.CodeCircleCooling, true
			case d.amount > budget[l.primary]:
				d.amount = max(1, budget[l.primary]/2)
			}
		} else {
			d.amount = 100 + r.Int64N(200000) // ₹1 to ₹2,000
			d.answer = aim
			if aim == "" { // an ignored one makes its lane wait circleExpiry: the aim's only
				d.answer = []string{payApprove, payApprove, payApprove, payWrongPIN, payDecline}[r.IntN(5)]
			}
			if d.answer == payApprove && d.amount > budget[l.primary] {
				d.answer = payDecline
			}
			switch d.answer {
			case payWrongPIN:
				d.want, d.code = upiv1.Resp_FAILURE, upi.CodeInvalidPIN
			case payDecline:
				d.want, d.code = upiv1.Resp_FAILURE, upi.CodeDeclinedByPayer
			case payIgnore:
				d.want, d.code = upiv1.Resp_FAILURE, upi.CodeExpired
			}
		}
		if d.want == upiv1.Resp_SUCCESS {
			*used += d.amount
			budget[l.primary] -= d.amount
		}
		cp.pays = append(cp.pays, d)
		return d
	}
	laneStart := func() time.Duration { return after + time.Duration(r.IntN(300))*time.Millisecond }

	// The links of the lanes of laneSecondaries: every kind the plan is
	// for (scenarios), and a few more of any kind, dealt in an order of the
	// seed.
	type scenario struct {
		mode   upiv1.Delegate_SubType
		answer string
		limit  int64    // FULL: 0 for any
		aims   []string // the payments it must have
		remove string
		rival  bool
	}
	sides := func() (string, string) {
		if r.IntN(2) == 0 {
			return removePrimary, removeSecondary
		}
		return removeSecondary, removePrimary
	}
	fullA, fullB := sides()
	partA, partB := sides()
	scenarios := []scenario{
		{mode: upiv1.Delegate_FULL, answer: linkAccept, limit: 50000 + r.Int64N(c.CoolingLimit-100000), remove: fullA,
			aims: []string{payFullWithin, payFullOver, payFullMonth}},
		{mode: upiv1.Delegate_FULL, answer: linkAccept, limit: c.CoolingLimit + 100000 + r.Int64N(c.FullMonthly-c.CoolingLimit-100000+1), remove: fullB,
			aims: []string{payFullWithin, payFullCooling}},
		{mode: upiv1.Delegate_PARTIAL, answer: linkAccept, remove: partA, aims: []string{payApprove, payWrongPIN, payDecline}},
		{mode: upiv1.Delegate_PARTIAL, answer: linkAccept, remove: partB, aims: []string{payApprove, payIgnore}},
		{mode: upiv1.Delegate_FULL, answer: linkDecline},
		{mode: upiv1.Delegate_PARTIAL, answer: linkDecline},
		{mode: upiv1.Delegate_FULL, answer: linkNoInvite}, // nomandate@alpha
	}
	for range r.IntN(4) {
		sc := scenario{mode: mode(), answer: linkAccept}
		switch x := r.IntN(100); {
		case x < 25:
			sc.answer = linkDecline
		case x < 40:
			sc.remove = removePrimary
		case x < 55:
			sc.remove = removeSecondary
		}
		scenarios = append(scenarios, sc)
	}
	var accepted []int
	for i, sc := range scenarios {
		if sc.answer == linkAccept {
			accepted = append(accepted, i)
		}
	}
	scenarios[accepted[r.IntN(len(accepted))]].rival = true
	r.Shuffle(len(scenarios), func(i, j int) { scenarios[i], scenarios[j] = scenarios[j], scenarios[i] })
	lanes := make([]circleLane, len(laneSecondaries))
	for i, sc := range scenarios {
		k := i % len(lanes)
		lane, sec := &lanes[k], laneSecondaries[k]
		if sc.answer == linkNoInvite { // the remitter declines the mandate: no invite
			l := newLink("nomandate@alpha", sec, upiv1.Delegate_FULL)
			l.answer, l.added, l.addCode = linkNoInvite, upiv1.CircleLink_FAILED, "YE"
			lane.steps = append(lane.steps, circleStep{op: opLink, link: l})
			continue
		}
		// About a third of the links have a primary of the secondary's
		// own PSP, which is then PSP(P) and PSP(S) of its payments.
		primary := circlePrimaries[0]
		samePSP := r.IntN(100) < 35
		if handle(primary) == handle(sec) != samePSP {
			primary = circlePrimaries[1]
		}
		l := newLink(primary, sec, sc.mode)
		if sc.limit != 0 {
			l.limit = sc.limit
		}
		lane.steps = append(lane.steps, circleStep{op: opLink, link: l})
		if sc.answer == linkDecline {
			l.answer, l.added, l.addCode, l.invited = linkDecline, upiv1.CircleLink_DECLINED, upi.CodeDeclinedByPayer, true
			continue
		}
		linked(l)
		if sc.rival { // another primary asks for the same secondary: CS
			other := circlePrimaries[0]
			if other == primary {
				other = circlePrimaries[1]
			}
			rival := newLink(other, sec, mode())
			rival.answer, rival.added, rival.addCode = linkNoInvite, upiv1.CircleLink_FAILED, upi.CodeHasPrimary
			lane.steps = append(lane.steps, circleStep{op: opLink, link: rival})
		}
		aims := sc.aims
		for range r.IntN(3) {
			aims = append(aims, "")
		}
		r.Shuffle(len(aims), func(i, j int) { aims[i], aims[j] = aims[j], aims[i] })
		// The aims that need use first (and those that leave no
		// room) last.
		slices.SortStableFunc(aims, func(a, b string) int { return aimOrder[a] - aimOrder[b] })
		var used int64
		for _, aim := range aims {
			lane.steps = append(lane.steps, circleStep{op: opPay, pay: newPay(l, &used, aim)})
		}
		l.remove = sc.remove
		if i+len(lanes) < len(scenarios) && l.remove == removeNone {
			l.remove = removePrimary // the lane's next link needs the secondary
		}
		if l.remove != removeNone {
			lane.steps = append(lane.steps, circleStep{op: opRemove, link: l})
		}
	}
	cp.lanes = append(cp.lanes, lanes...)
	for i := range cp.lanes {
		cp.lanes[i].start = laneStart()
	}

	// The magic secondaries: PSP(S) declines (declines@beta), or never
	// answers (silent@beta).
	for _, m := range []struct{ secondary, answer, code string }{
		{"declines@beta", linkPSPDecline, upi.CodeDeclinedByPayer},
		{"silent@beta", linkSilent, upi.CodeExpired},
	} {
		l := newLink(pick(circlePrimaries), m.secondary, mode())
		l.answer, l.addCode = m.answer, m.code
		l.added, l.invited = upiv1.CircleLink_DECLINED, true
		if m.answer == linkSilent {
			l.added, l.invited = upiv1.CircleLink_EXPIRED, false // PSP(S) may have no record
		}
		cp.lanes = append(cp.lanes, circleLane{start: laneStart(), steps: []circleStep{{op: opLink, link: l}}})
	}

	// The CP lane: cpPrimary links max_secondaries secondaries, the switch
	// refuses the next CP; one is removed, and the refused one links.
	lane := circleLane{start: laneStart()}
	var kids []*linkPlan
	for i := range c.MaxSecondaries {
		l := newLink(cpPrimary, cpSecondary(i), mode())
		linked(l)
		kids = append(kids, l)
		lane.steps = append(lane.steps, circleStep{op: opLink, link: l})
	}
	refused := newLink(cpPrimary, cpSecondary(c.MaxSecondaries), mode())
	refused.answer, refused.added, refused.addCode = linkNoInvite, upiv1.CircleLink_FAILED, upi.CodeMaxSecondaries
	lane.steps = append(lane.steps, circleStep{op: opLink, link: refused})
	gone := kids[r.IntN(len(kids))]
	gone.remove = removePrimary
	if r.IntN(2) == 0 {
		gone.remove = removeSecondary
	}
	again := newLink(cpPrimary, cpSecondary(c.MaxSecondaries), mode())
	linked(again)
	lane.steps = append(lane.steps, circleStep{op: opRemove, link: gone}, circleStep{op: opLink, link: again})
	cp.lanes = append(cp.lanes, lane)
	return cp
}

// circleAfter is when the Circle lanes may start: once every restart of
// restarts has ended.
func circleAfter(restarts []restart) time.Duration {
	var end time.Duration
	for _, r := range restarts {
		end = max(end, r.at+r.down)
	}
	return end + 50*time.Millisecond
}

// branches names what the Circle plan covers, for TestPlanCoversTheBranches.
func (cp *circlePlan) branches() map[string]bool {
	seen := map[string]bool{}
	for _, l := range cp.links {
		seen[fmt.Sprintf("link %s %s %s %s", l.mode, l.answer, l.added, l.addCode)] = true
		seen[fmt.Sprintf("link %s %s %s", l.answer, l.added, l.addCode)] = true
		seen["link "+l.answer] = true
		if l.remove != removeNone {
			seen[fmt.Sprintf("link %s removed by the %s", l.mode, l.remove)] = true
		}
	}
	for _, d := range cp.pays {
		seen[fmt.Sprintf("pay %s %s %s", d.link.mode, d.want, d.code)] = true
	}
	return seen
}

// circleBranches are the branches every plan must cover.
var circleBranches = func() []string {
	var out []string
	for _, m := range []upiv1.Delegate_SubType{upiv1.Delegate_FULL, upiv1.Delegate_PARTIAL} {
		out = append(out,
			fmt.Sprintf("link %s %s LINKED ", m, linkAccept),
			fmt.Sprintf("link %s %s DECLINED ZA", m, linkDecline),
			fmt.Sprintf("link %s removed by the %s", m, removePrimary),
			fmt.Sprintf("link %s removed by the %s", m, removeSecondary),
			fmt.Sprintf("pay %s SUCCESS ", m),
		)
	}
	out = append(out,
		"link FULL no invite FAILED YE",
		"link "+linkPSPDecline, "link "+linkSilent,
		"link no invite FAILED CS", "link no invite FAILED CP",
		"pay FULL FAILURE Z8", "pay FULL FAILURE QH", "pay FULL FAILURE FP",
		"pay PARTIAL FAILURE ZM", "pay PARTIAL FAILURE ZA", "pay PARTIAL FAILURE U69",
	)
	return out
}()

// circleMissing is what of circleBranches seen lacks.
func circleMissing(seen map[string]bool) []string {
	var missing []string
	for _, want := range circleBranches {
		if !seen[want] {
			missing = append(missing, want)
		}
	}
	return missing
}

// circleFault is the fault of a message of a Circle link or delegated
// payment (its txn id, or the org_txn_id of a link's UPDATE, REMOVE or
// REVOKE, registered in circleIDs): a lost ack (the sender sends it again)
// or a duplicate, which the receiver must take once; never a drop or a
// delay, which could time a step out. It depends on the link or payment
// and the message's kind only.
func (p *plan) circleFault(from string, o node.Outbound) fault.Fault {
	t := o.Msg.GetTxn()
	key, ok := p.circleIDs.Load(t.GetId())
	if !ok && t.GetOrgTxnId() != "" {
		key, ok = p.circleIDs.Load(t.GetOrgTxnId())
	}
	if !ok {
		return fault.Fault{}
	}
	kind := o.API + "/" + t.GetType().String() + "/" + t.GetSubType().String()
	h := mix(p.seed, "circle fault", key.(string), kind, from, o.To)
	var f fault.Fault
	if h%100 < 12 {
		f.LoseAcks = 1 + int((h>>8)%2)
	}
	if (h>>16)%100 < 12 {
		f.Duplicate = true
	}
	if !f.IsZero() {
		f.Rule = "sim"
	}
	p.stats.observe(from, o, f)
	return f
}
