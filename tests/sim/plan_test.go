package sim

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/fault"
	"github.com/upisim/upisim/internal/node"
)

// The plan of a run is a pure function of its seed: the flows (who pays
// whom, how much, with which PIN, when), the faults of every message of
// every flow, and the node restarts. Only the timing of the run itself
// (the scheduler, the disk) is not in the seed.

// Kinds of flow.
const (
	kindPay     = "PAY"
	kindCollect = "COLLECT"
)

// What the payer does with a collect request.
const (
	answerApprove = "approve"
	answerDecline = "decline"
	answerIgnore  = "ignore" // it expires (U69)
)

// Which message of a bank leg the plan drops.
const (
	dropNone = iota
	dropReq  // the switch's request to the bank
	dropResp // the bank's answer to the switch
)

// The PINs a payer types.
const (
	goodPIN  = "1234"
	wrongPIN = "9999"
)

// flowPlan is one flow of the run. Its index is its identity: it travels
// in txn.note ("sim#<index>") on every message of the flow, so the fault
// layer can tell which flow a message belongs to.
type flowPlan struct {
	idx          int
	kind         string
	payer, payee string
	amount       int64
	pin          string
	// answer is the payer's answer to a collect; think how long after the
	// prompt arrives.
	answer string
	think  time.Duration
	// start is when the flow begins, from the start of the run; again
	// repeats the app's InitiatePay (same txn id) as a retrying app would.
	start time.Duration
	again bool
	drops drops
	// seen and counts number the flow's status checks and their answers
	// (plan.ordinal; guarded by plan.mu).
	seen   map[string]int
	counts map[string]int
	// cannotSucceed says why the flow must end FAILURE ("" when it may
	// succeed).
	cannotSucceed string
}

// drops are the messages of a flow the fault layer drops. Only messages
// whose loss a switch timeout recovers are dropped, and never so many that
// the protocol has no way left to learn the truth:
//   - the DEBIT or its answer: the debit timeout reverses;
//   - the CREDIT or its answer: DEEMED, then the status checks;
//   - the first few ReqChkTxn or their answers (checks of any DEEMED
//     flow): the switch keeps checking until one is answered, so dropping
//     every one would leave the flow DEEMED for ever;
//   - every REVERSAL only when the DEBIT itself was dropped (nothing to
//     put back), every answer to a REVERSAL otherwise (the remitter puts
//     the money back; the switch ends it unconfirmed, UT).
type drops struct {
	debit, credit, check, reversal int
	// checks is how many status checks (or answers, as check says) are
	// dropped: the first ones the switch sends for the flow.
	checks int
}

func (d drops) String() string {
	var parts []string
	for _, p := range []struct {
		v         int
		req, resp string
	}{
		{d.debit, "the DEBIT", "the DEBIT's answer"},
		{d.credit, "the CREDIT", "the CREDIT's answer"},
		{d.check, fmt.Sprintf("the first %d ReqChkTxn", d.checks), fmt.Sprintf("the first %d RespChkTxn", d.checks)},
		{d.reversal, "every REVERSAL", "every REVERSAL's answer"},
	} {
		switch p.v {
		case dropReq:
			parts = append(parts, p.req)
		case dropResp:
			parts = append(parts, p.resp)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func (f *flowPlan) String() string {
	s := fmt.Sprintf("flow %d: %s %s → %s %d paise", f.idx, f.kind, f.payer, f.payee, f.amount)
	if f.kind == kindCollect {
		s += " (payer will " + f.answer + ")"
	}
	if f.pin != goodPIN {
		s += " wrong PIN"
	}
	s += ", drops: " + f.drops.String()
	if f.cannotSucceed != "" {
		s += ", cannot succeed: " + f.cannotSucceed
	}
	return s
}

// note is the txn.note of the flow's messages.
func (f *flowPlan) note() string { return "sim#" + strconv.Itoa(f.idx) }

// flowOf reads the flow index back from a txn.note.
func flowOf(note string) (int, bool) {
	s, ok := strings.CutPrefix(note, "sim#")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil
}

// restart is one planned node restart.
type restart struct {
	at   time.Duration
	node string
	down time.Duration
}

// plan is a whole run.
type plan struct {
	seed int64
	// switchName is the switch's node: it sends the bank legs.
	switchName string
	flows      []*flowPlan
	restarts   []restart
	// spread is the window over which flows start.
	spread time.Duration
	// circle is the UPI Circle lanes (circle_plan_test.go); circleIDs
	// maps the txn ids of their links and payments, as the run picks
	// them, to their names ("link 3", "pay 7") for circleFault.
	circle    *circlePlan
	circleIDs sync.Map
	// merchant is the merchant lanes (merchant_plan_test.go); orderIDs
	// maps their order ids, as the run gets them, to their index.
	merchant *merchantPlan
	orderIDs sync.Map
	// lite is the UPI Lite lanes (lite_plan_test.go); banks are the bank
	// nodes (liteFault drops their sync stages).
	lite  *litePlan
	banks map[string]bool
	// liteReorder lets the banks' answers to sync stages be delayed
	// (-sim.lite.reorder).
	liteReorder bool
	stats       stats
	mu          sync.Mutex // guards the flows' seen and counts
}

// mix hashes the seed and parts into 64 well-mixed bits: the fault of a
// message is decided from its flow and kind alone, the same however often
// and in whatever order the nodes ask.
func mix(seed int64, parts ...string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	// splitmix64's finalizer.
	z := h.Sum64() + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// rngFor is a generator of its own for one decision of the plan.
func rngFor(seed int64, parts ...string) *rand.Rand {
	return rand.New(rand.NewPCG(mix(seed, parts...), mix(seed, append(parts, "2")...)))
}

// The parties of the default network the plan draws from.
var (
	payers = []string{"alice@alpha", "bob@beta", "carol@beta"}
	// payees with a PIN, who pay on what they were paid, so that money
	// flows back from them in a long run.
	otherPayers = []string{"deemed@beta", "twice@beta"}
	// ordinary payees, magic payees (config.Default().Rules) and payees no
	// PSP knows: at the payee's PSP (U29 there) or by handle (U29 at the
	// switch).
	ordinaryPayees = []string{"alice@alpha", "bob@beta", "carol@beta", "chai@beta"}
	magicPayees    = []string{"creditfail@beta", "deemed@beta", "lost@beta", "slowdebit@beta", "twice@beta"}
	unknownPayees  = []string{"nobody@beta", "ghost@alpha", "someone@zeta"}
	// a collect's payee is the initiator, a user of its PSP.
	collectPayees  = []string{"alice@alpha", "bob@beta", "carol@beta", "chai@beta"}
	unknownPayers  = []string{"nobody@alpha", "someone@zeta"}
	cannotSucceedM = map[string]string{
		"creditfail@beta": "the beneficiary declines its credits (rule creditfail)",
		"lost@beta":       "the beneficiary ignores its credits (rule lost)",
	}
)

// newPlan draws the run of seed: n flows starting over spread, and
// restarts of every kind of node during it.
func newPlan(seed int64, n int, cfg *config.Network) *plan {
	p := &plan{seed: seed, switchName: cfg.Switch().Name, spread: time.Duration(n) * 12 * time.Millisecond}
	var total int64
	for _, u := range cfg.Users {
		total += u.Balance
	}
	for _, m := range cfg.Merchants {
		total += m.Balance
	}
	for i := range n {
		p.flows = append(p.flows, newFlow(seed, i, p.spread, total, cfg))
	}
	p.restarts = newRestarts(seed, p.spread, n, cfg)
	p.circle = newCirclePlan(seed, cfg, circleAfter(p.restarts))
	p.merchant = newMerchantPlan(seed, merchantOrders(n), circleAfter(p.restarts))
	p.lite = newLitePlan(seed, n, 0)
	p.banks = map[string]bool{}
	for _, b := range cfg.NodesByRole(config.RoleBank) {
		p.banks[b.Name] = true
	}
	return p
}

func newFlow(seed int64, i int, spread time.Duration, total int64, cfg *config.Network) *flowPlan {
	r := rngFor(seed, "flow", strconv.Itoa(i))
	f := &flowPlan{idx: i, pin: goodPIN, start: time.Duration(r.Int64N(int64(spread)))}
	balance := map[string]int64{}
	for _, u := range cfg.Users {
		balance[u.VPA] = u.Balance
	}
	pick := func(from []string) string { return from[r.IntN(len(from))] }
	if r.IntN(100) < 75 {
		f.kind = kindPay
		f.payer = pick(payers)
		if r.IntN(100) < 10 {
			f.payer = pick(otherPayers)
		}
		switch x := r.IntN(100); {
		case x < 60:
			f.payee = pick(payers)
		case x < 75:
			f.payee = pick(ordinaryPayees)
		case x < 90:
			f.payee = pick(magicPayees)
		default:
			f.payee = pick(unknownPayees)
		}
		for f.payee == f.payer {
			f.payee = pick(ordinaryPayees)
		}
		f.again = r.IntN(100) < 10
	} else {
		f.kind = kindCollect
		f.payee = pick(collectPayees)
		if r.IntN(100) < 8 {
			f.payer = pick(unknownPayers)
		} else {
			f.payer = pick(payers)
		}
		for f.payer == f.payee {
			f.payer = pick(payers)
		}
		switch x := r.IntN(100); {
		case x < 60:
			f.answer = answerApprove
		case x < 85:
			f.answer = answerDecline
		default:
			f.answer = answerIgnore
		}
		f.think = time.Duration(r.IntN(300)) * time.Millisecond
	}
	switch x := r.IntN(100); {
	case x < 70: // ₹0.01 to ₹200
		f.amount = 1 + r.Int64N(20000)
	case x < 85: // up to ₹3,000: more than some balances
		f.amount = 20000 + r.Int64N(280000)
	case x < 93: // about the payer's opening balance
		f.amount = max(1, balance[f.payer]-500+r.Int64N(1000))
	case x < 98: // more money than the whole network holds: Z9
		f.amount = total + 1 + r.Int64N(total)
	default: // above the per-transaction limit: Z8
		f.amount = cfg.Limits.PerTxn + 1 + r.Int64N(100000)
	}
	if r.IntN(100) < 8 {
		f.pin = wrongPIN
	}

	d := &f.drops
	leg := func() int {
		switch x := r.IntN(100); {
		case x < 8:
			return dropReq
		case x < 16:
			return dropResp
		}
		return dropNone
	}
	d.debit, d.credit = leg(), leg()
	if d.credit != dropNone {
		switch x := r.IntN(100); {
		case x < 30:
			d.check = dropReq
		case x < 60:
			d.check = dropResp
		}
		d.checks = 1 + r.IntN(4) // past the switch's three, into its backoff
	}
	switch x := r.IntN(100); {
	case d.debit == dropReq && x < 40:
		d.reversal = dropReq
	case d.debit != dropReq && x < 15:
		d.reversal = dropResp
	}

	switch {
	case f.amount > total:
		f.cannotSucceed = "more than the network holds"
	case f.amount > cfg.Limits.PerTxn:
		f.cannotSucceed = "above the per-transaction limit"
	case f.pin == wrongPIN && (f.kind == kindPay || f.answer == answerApprove):
		f.cannotSucceed = "wrong PIN"
	case f.kind == kindCollect && f.answer != answerApprove:
		f.cannotSucceed = "the payer does not approve"
	case slices.Contains(unknownPayees, f.payee) || slices.Contains(unknownPayers, f.payer):
		f.cannotSucceed = "unknown party"
	case cannotSucceedM[f.payee] != "":
		f.cannotSucceed = cannotSucceedM[f.payee]
	case d.debit != dropNone:
		f.cannotSucceed = "its DEBIT or the answer is dropped: the debit times out"
	case d.credit == dropReq:
		f.cannotSucceed = "its CREDIT is dropped: the credit never happens"
	}
	return f
}

// newRestarts plans restarts over the run: first the switch and both banks
// (in an order of the seed), then nodes of the seed's choosing, every one
// down for 20 to 300ms, and a quarter of the time a second node with it.
func newRestarts(seed int64, spread time.Duration, flows int, cfg *config.Network) []restart {
	r := rngFor(seed, "restarts")
	var names []string
	for _, nd := range cfg.Nodes {
		names = append(names, nd.Name)
	}
	first := []string{cfg.Switch().Name}
	for _, b := range cfg.NodesByRole(config.RoleBank) {
		first = append(first, b.Name)
	}
	r.Shuffle(len(first), func(i, j int) { first[i], first[j] = first[j], first[i] })
	count := max(6, flows/40)
	window := spread + time.Second
	var out []restart
	for i := range count {
		name := names[r.IntN(len(names))]
		if i < len(first) {
			name = first[i]
		}
		// Spread evenly, with jitter, over the window.
		at := window*time.Duration(i)/time.Duration(count) + time.Duration(r.Int64N(int64(window)/int64(count)))
		out = append(out, restart{at: at, node: name, down: time.Duration(20+r.IntN(280)) * time.Millisecond})
		if r.IntN(4) == 0 { // and another node down with it
			out = append(out, restart{at: at + time.Duration(r.IntN(100))*time.Millisecond, node: names[r.IntN(len(names))], down: time.Duration(20+r.IntN(280)) * time.Millisecond})
		}
	}
	slices.SortFunc(out, func(a, b restart) int { return int(a.at - b.at) })
	return out
}

// The delay faults. A short delay (up to maxDelay) may hit any message; it
// stays well below the switch's status-check interval, so that a DEEMED
// credit that happened is always confirmed by one of its checks. A long
// one (longDelayMin to longDelayMax) hits any message but the status
// checks and their answers: a CREDIT that long late reaches the
// beneficiary after the switch's first check, a DEBIT after its REVERSAL.
const (
	maxDelay     = 150 * time.Millisecond
	longDelayMin = 300 * time.Millisecond
	longDelayMax = 4 * time.Second
)

// faultFor is the fault of a message node `from` sends: transient faults
// (a delay, failed sends, lost acks, a duplicate) for every kind of
// message, and the flow's drops. It depends on the message's flow and kind
// only.
func (p *plan) faultFor(from string, o node.Outbound) fault.Fault {
	if o.Msg == nil {
		// An HTTP POST: a merchant's webhook. Its endpoint fails it at
		// random itself (merchant_sim_test.go); a duplicate would be a
		// second 2xx of one webhook-id, which the check forbids the PSP.
		return fault.Fault{}
	}
	if i, ok := merchantOf(o.Msg.GetTxn().GetNote()); ok && i >= 0 && i < len(p.merchant.orders) {
		return p.merchantFault(i, from, o)
	}
	if isLite(o) {
		return p.liteFault(from, o)
	}
	idx, ok := flowOf(o.Msg.GetTxn().GetNote())
	if !ok || idx < 0 || idx >= len(p.flows) {
		return p.circleFault(from, o)
	}
	t := o.Msg.GetTxn()
	kind := o.API + "/" + t.GetType().String() + "/" + t.GetSubType().String()
	h := mix(p.seed, "fault", strconv.Itoa(idx), kind, from, o.To)
	var f fault.Fault
	check := o.API == "ReqChkTxn" || o.API == "RespChkTxn"
	switch x := h % 100; {
	case x < 4 && !check:
		f.Delay = longDelayMin + time.Duration((h>>8)%uint64((longDelayMax-longDelayMin)/time.Millisecond))*time.Millisecond
	case x < 24:
		f.Delay = time.Duration(1+(h>>8)%uint64(maxDelay/time.Millisecond)) * time.Millisecond
	}
	if (h>>20)%100 < 10 {
		f.FailSends = 1 + int((h>>28)%3)
	}
	if (h>>32)%100 < 10 {
		f.LoseAcks = 1 + int((h>>40)%2)
	}
	if (h>>44)%100 < 10 {
		f.Duplicate = true
	}
	if p.drops(p.flows[idx], from, o) {
		f.Drop = true
	}
	if !f.IsZero() {
		f.Rule = "sim"
	}
	p.stats.observe(from, o, f)
	return f
}

// drops reports whether the plan drops the message: a bank leg's request
// (from the switch) or answer (from the bank) that the flow's drops name.
func (p *plan) drops(fp *flowPlan, from string, o node.Outbound) bool {
	t := o.Msg.GetTxn().GetType()
	fromSwitch := from == p.switchName
	var which int
	switch {
	case o.API == "ReqPay" && fromSwitch, o.API == "RespPay" && !fromSwitch:
		switch t {
		case upiv1.Txn_DEBIT:
			which = fp.drops.debit
		case upiv1.Txn_CREDIT:
			which = fp.drops.credit
		case upiv1.Txn_REVERSAL:
			which = fp.drops.reversal
		default:
			return false
		}
	case o.API == "ReqChkTxn" && fromSwitch, o.API == "RespChkTxn" && !fromSwitch:
		if p.ordinal(fp, o) > fp.drops.checks {
			return false
		}
		which = fp.drops.check
	default:
		return false
	}
	isReq := strings.HasPrefix(o.API, "Req")
	return which == dropReq && isReq || which == dropResp && !isReq
}

// ordinal is the place of a status check (or its answer) among the flow's,
// 1 for the first: the fault layer may ask about one message more than
// once, so each msg_id gets its number when first seen. Checks of a flow
// follow one another (the next is sent when the last timed out), so the
// numbering is the order the switch sent them in.
func (p *plan) ordinal(fp *flowPlan, o node.Outbound) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := o.API + "\x00" + o.Msg.GetHead().GetMsgId()
	if n, ok := fp.seen[key]; ok {
		return n
	}
	if fp.seen == nil {
		fp.seen, fp.counts = map[string]int{}, map[string]int{}
	}
	fp.counts[o.API]++
	fp.seen[key] = fp.counts[o.API]
	return fp.seen[key]
}

// stats counts what the run did, for its log: every message sent (once,
// however often the fault layer is asked about it), the faults it got,
// and the failure branches it took.
type stats struct {
	mu     sync.Mutex
	seen   map[string]bool
	counts map[string]int
}

func (s *stats) observe(from string, o node.Outbound, f fault.Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := from + "\x00" + o.Msg.GetHead().GetMsgId()
	if s.seen[key] {
		return
	}
	if s.seen == nil {
		s.seen, s.counts = map[string]bool{}, map[string]int{}
	}
	s.seen[key] = true
	s.counts["messages"]++
	if isLite(o) {
		s.counts["Lite messages"]++
		if f.Drop {
			s.counts["Lite dropped"]++
		}
	}
	for _, c := range []struct {
		on   bool
		name string
	}{
		{f.Drop, "dropped"}, {f.Delay > 0, "delayed"}, {f.FailSends > 0, "failed sends"},
		{f.LoseAcks > 0, "lost acks"}, {f.Duplicate, "duplicated"},
	} {
		if c.on {
			s.counts[c.name]++
		}
	}
	t := o.Msg.GetTxn().GetType()
	switch m := o.Msg.(type) {
	case *upiv1.RespPay:
		switch r := m.GetResp(); {
		case r.GetResult() == upiv1.Resp_DEEMED && o.API == "RespPay":
			s.counts["DEEMED"]++
		case t == upiv1.Txn_DEBIT && r.GetErrCode() == "U30":
			s.counts["DEBIT after its REVERSAL"]++
		}
	case *upiv1.ReqPay:
		if t == upiv1.Txn_REVERSAL {
			s.counts["REVERSAL sent"]++
		}
	case *upiv1.ReqChkTxn:
		s.counts["ReqChkTxn sent"]++
	}
}

func (s *stats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for _, k := range []string{"messages", "dropped", "delayed", "failed sends", "lost acks", "duplicated", "DEEMED", "ReqChkTxn sent", "REVERSAL sent", "DEBIT after its REVERSAL", "Lite messages", "Lite dropped"} {
		parts = append(parts, fmt.Sprintf("%s %d", k, s.counts[k]))
	}
	return strings.Join(parts, ", ")
}
