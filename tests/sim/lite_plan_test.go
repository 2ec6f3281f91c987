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
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
)

// The UPI Lite part of the plan (docs/FLOWS.md, "UPI Lite and Lite X"):
// wallets enabled on the phones of payers of both banks, topped up, paying
// online (44) and offline (45) to chai@beta's POS (the default network's
// chai-pos) and to a receive-only device of liteshop@beta (both offline
// but for short spells online), going offline and online (a device coming
// online syncs), sending back part of the
// balance (46), and steps over a limit on purpose, each refused on the
// device with its code (Z8, Z9, LN, LO) and nothing moved. Besides the
// devices' own syncs, a lane sends crafted batches of its device's
// unsynced records through its PSP's SyncLite (as a phone's app would):
// the same batch twice at once, halves at once, reversed, overlapping
// subsets. The payees' devices come online for spells of their own, so
// that a record is synced by the payer, the payee or both, in whatever
// order.
//
// A lane is one payer's device, its steps one after another. The plan
// draws what each step is and what share of the room it uses; the run
// turns that into an amount from the wallet as the device shows it then
// (GetLiteWallet) and the limits, so a step planned within the limits is
// within them however the earlier steps ended. Unlike the Circle lanes,
// the Lite lanes run while the nodes restart and the fault layer delays,
// duplicates and fails their messages (liteFault): a top-up or an online
// payment may then fail (a timed-out debit) or end DEEMED, and its
// outcome is read where the payment ends, as the random flows' are. What
// is predicted whatever the interleaving: each step over a limit is
// refused with its code; every offline record is posted exactly once;
// once every device is online and synced and the network quiet, each
// LRN's balance is the same at its bank, the switch and its device, and
// every account moved by exactly the steps that succeeded
// (lite_sim_test.go, checkLite).

// liteUser is a lane's payer: a user of its own with one phone.
type liteUser struct {
	vpa, bank, account, device string
}

// The Lite lanes' payers and payees.
var (
	liteUsers = []liteUser{
		{"litea@alpha", "abank", "1000000861", "litea-phone"},
		{"liteb@beta", "bbank", "2000000861", "liteb-phone"},
		{"litec@alpha", "abank", "1000000862", "litec-phone"},
	}
	// litePayees are the payees and their receiving devices: chai@beta's
	// POS of the network file, and a receive-only device (AddLiteDevice).
	litePayees = []struct{ vpa, device string }{
		{"chai@beta", "chai-pos"},
		{"liteshop@beta", "liteshop-pos"},
	}
)

const (
	// liteUserBalance is the opening balance of each Lite payer: enough
	// for every top-up.
	liteUserBalance = 5000000 // ₹50,000
	// liteOfflineCount is the simulation's lite.offline_count: small, so
	// that the lanes reach it (LN).
	liteOfflineCount = 4
	// liteWait is how long a Lite call waits for the network (the
	// TPAP's wait_ms); a payment not final by then is read later.
	liteWait = 2000
)

// Kinds of Lite step.
const (
	liteEnable   = "enable"       // EnableLite with an initial top-up (41)
	liteTopUp    = "top-up"       // 42
	litePay      = "pay online"   // 44
	litePayOff   = "pay offline"  // 45, to a payee's device
	liteOffline  = "go offline"   //
	liteOnline   = "go online"    // and sync
	liteBatch    = "batch"        // crafted SyncLite batches of the unsynced records
	liteTransfer = "transfer out" // 46
)

// What a step is over, on purpose (the code the device answers).
const (
	overNone    = ""
	overPerTxn  = "over the per-payment limit" // Z8
	overBalance = "more than the wallet holds" // Z9
	overCount   = "over the offline count"     // LN: offline payments until refused
	overOffline = "online while offline"       // LO
)

// How a crafted batch is made of the device's unsynced records.
const (
	batchResend  = "the whole batch"
	batchTwice   = "the same batch twice at once"
	batchSplit   = "two halves at once"
	batchReverse = "reversed"
	batchOverlap = "overlapping subsets"
	batchTwoIDs  = "the whole batch under two txn ids at once"
)

var batchShapes = []string{batchResend, batchTwice, batchSplit, batchReverse, batchOverlap, batchTwoIDs}

// laneOpening is how the lanes but the first begin, after enabling.
var laneOpening = []string{liteOffline, litePayOff, litePayOff, liteBatch, litePayOff, liteBatch, liteBatch, liteOnline}

// liteStep is one step of a lane.
type liteStep struct {
	op   string
	over string
	// share is the part of the room (the limit, or the balance) the
	// step's amount takes, in (0, 1].
	share float64
	payee int // index in litePayees
	batch string
	// think is how long the device waits before the step.
	think time.Duration
}

func (st liteStep) String() string {
	s := st.op
	switch st.op {
	case litePay, litePayOff:
		s += " to " + litePayees[st.payee].vpa
	case liteBatch:
		s += ": " + st.batch
	}
	if st.over != overNone {
		s += ", " + st.over
	}
	return s
}

// liteLane is one payer's device and its steps.
type liteLane struct {
	idx   int
	user  liteUser
	start time.Duration
	steps []liteStep
}

// payeeToggle is one planned online spell of a payee's device (offline
// otherwise).
type payeeToggle struct {
	payee     int
	at, spell time.Duration
}

// litePlan is the Lite part of a run.
type litePlan struct {
	start   time.Duration
	lanes   []*liteLane
	toggles []payeeToggle
}

// liteSteps is how many steps a lane has after its enablement.
func liteSteps(flows int) int { return max(11, flows/20) }

// newLitePlan draws the Lite lanes of seed, to start at `at`: during the
// random flows and their restarts.
func newLitePlan(seed int64, flows int, at time.Duration) *litePlan {
	lp := &litePlan{start: at}
	shapeAt, batches := rngFor(seed, "lite batches").IntN(len(batchShapes)), 0
	for i, u := range liteUsers {
		r := rngFor(seed, "lite lane", strconv.Itoa(i))
		l := &liteLane{idx: i, user: u, start: at + time.Duration(r.Int64N(int64(200*time.Millisecond)))}
		l.steps = append(l.steps, liteStep{op: liteEnable, share: 0.2 + 0.6*r.Float64()})
		offline := false
		n := liteSteps(flows)
		for j := range n {
			st := liteStep{share: 0.05 + 0.95*r.Float64(), payee: r.IntN(len(litePayees)), think: time.Duration(r.IntN(30)) * time.Millisecond}
			x := r.IntN(100)
			if offline {
				switch {
				case x < 45:
					st.op = litePayOff
				case x < 62:
					st.op = liteOnline
				case x < 80:
					st.op = liteBatch
				case x < 86:
					st.op, st.over = litePay, overOffline
				case x < 91:
					st.op, st.over = liteTopUp, overOffline
				case x < 95:
					st.op, st.over = litePayOff, overCount
				default:
					st.op, st.over = litePayOff, overPerTxn
				}
			} else {
				switch {
				case x < 18:
					st.op = liteTopUp
				case x < 45:
					st.op = litePay
				case x < 60:
					st.op = liteOffline
				case x < 72:
					st.op = litePayOff // an online payer's offline payment: it syncs at once
				case x < 80:
					st.op = liteTransfer
				case x < 86:
					st.op = liteBatch
				case x < 90:
					st.op, st.over = litePay, overPerTxn
				case x < 95:
					st.op, st.over = litePay, overBalance
				default:
					st.op, st.over = litePayOff, overBalance
				}
			}
			// The first lanes' steps cover every over-limit code and batch
			// shape whatever the seed.
			if i == 0 && j < 6 {
				st = []liteStep{
					{op: litePay, over: overPerTxn}, {op: litePay, over: overBalance},
					{op: liteOffline}, {op: litePayOff, over: overCount, share: 0.1},
					{op: litePay, over: overOffline}, {op: liteBatch, batch: batchOverlap},
				}[j]
				if st.share == 0 {
					st.share = 0.5
				}
			}
			// The other lanes begin with offline payments synced in three
			// crafted batches.
			if i > 0 && j < len(laneOpening) {
				st.op, st.over = laneOpening[j], overNone
			}
			// Batches take the shapes in turn, from one the seed draws:
			// every plan has them all.
			if st.op == liteBatch && st.batch == "" {
				st.batch = batchShapes[(shapeAt+batches)%len(batchShapes)]
				batches++
			}
			switch st.op {
			case liteOffline:
				offline = true
			case liteOnline:
				offline = false
			}
			l.steps = append(l.steps, st)
		}
		// Every lane ends online: its device syncs.
		l.steps = append(l.steps, liteStep{op: liteOnline, share: 1})
		lp.lanes = append(lp.lanes, l)
	}
	r := rngFor(seed, "lite payees")
	for j := range 6 {
		lp.toggles = append(lp.toggles, payeeToggle{payee: j % len(litePayees),
			at:    at + time.Duration(r.Int64N(int64(3*time.Second))),
			spell: time.Duration(50+r.IntN(300)) * time.Millisecond})
	}
	slices.SortFunc(lp.toggles, func(a, b payeeToggle) int { return int(a.at - b.at) })
	return lp
}

// branches names what the Lite plan covers, for TestPlanCoversTheBranches.
func (lp *litePlan) branches() map[string]bool {
	seen := map[string]bool{}
	for _, l := range lp.lanes {
		for _, st := range l.steps {
			seen["lite "+st.op] = true
			if st.over != overNone {
				seen["lite "+st.over] = true
			}
			if st.batch != "" {
				seen["lite batch "+st.batch] = true
			}
		}
	}
	return seen
}

// liteAPIs are the network messages of UPI Lite alone.
var liteAPIs = []string{"ReqLiteSync", "RespLiteSync", "ReqTxnConfirmation", "RespTxnConfirmation"}

// isLite reports whether o is a UPI Lite message: a sync batch or its
// answer, a confirmation to the remitter, a registration (ReqListKeys
// GetLite), or any message of a Lite payment (its txn.purpose).
func isLite(o node.Outbound) bool {
	if slices.Contains(liteAPIs, o.API) {
		return true
	}
	switch m := o.Msg.(type) {
	case *upiv1.ReqListKeys:
		if m.GetLite() != nil {
			return true
		}
	case *upiv1.RespListKeys:
		if m.GetLite() != nil {
			return true
		}
	}
	switch o.Msg.GetTxn().GetPurpose() {
	case lite.PurposeInitialTopUp, lite.PurposeTopUp, lite.PurposeDisable, lite.PurposeOnlinePay,
		lite.PurposeOfflinePay, lite.PurposeTransferOut, lite.PurposeZeroDisable:
		return true
	}
	return false
}

// liteFault is the fault of a Lite message: a delay (now and then a long
// one, but never of a status check), failed sends, lost acks or a
// duplicate; and a drop of a sync batch's bank stage (the switch resends
// it). A confirmation, a PSP's batch and its answer are never dropped:
// nothing resends them (a lost confirmation is what reconciliation
// reports; a lost batch waits for the device's next sync). Which depends on the seed, the message's kind, its ends and
// its txn id (the TPAP picks Lite txn ids, so a rerun of the seed draws
// other faults for them).
func (p *plan) liteFault(from string, o node.Outbound) fault.Fault {
	t := o.Msg.GetTxn()
	kind := o.API + "/" + t.GetType().String() + "/" + t.GetSubType().String() + "/" + t.GetPurpose()
	h := mix(p.seed, "lite fault", t.GetId(), kind, from, o.To)
	check := strings.Contains(o.API, "ChkTxn")
	var f fault.Fault
	switch x := h % 100; {
	case x < 4 && !check:
		f.Delay = longDelayMin + time.Duration((h>>8)%uint64((time.Second)/time.Millisecond))*time.Millisecond
	case x < 24:
		f.Delay = time.Duration(1+(h>>8)%uint64(maxDelay/time.Millisecond)) * time.Millisecond
	}
	if (h>>20)%100 < 10 {
		f.FailSends = 1 + int((h>>28)%3)
	}
	if (h>>32)%100 < 10 {
		f.LoseAcks = 1 + int((h>>40)%2)
	}
	if (h>>44)%100 < 12 {
		f.Duplicate = true
	}
	// A bank's answer to a sync stage is not delayed nor its sends failed
	// unless -sim.lite.reorder: answers of two stages of one LRN that
	// reach the switch in another order than the bank gave them re-base
	// the switch's balance on the older one (a known bug: the report of
	// issue 12's simulation; LiteBalance has no version to tell).
	if o.API == "RespLiteSync" && p.banks[from] && !p.liteReorder {
		f.Delay, f.FailSends = 0, 0
	}
	// A bank stage of a sync batch (the switch's ReqLiteSync to a bank,
	// or the bank's answer) is dropped now and then: the switch resends
	// the stage until it is answered, so each copy is drawn anew (by its
	// msg_id), and a resend is as likely lost as the first.
	if (o.API == "ReqLiteSync" || o.API == "RespLiteSync") && (p.banks[from] || p.banks[o.To]) &&
		mix(p.seed, "lite drop", o.Msg.GetHead().GetMsgId())%100 < liteDropPct {
		f.Drop = true
	}
	if !f.IsZero() {
		f.Rule = "sim"
	}
	p.stats.observe(from, o, f)
	return f
}

// liteDropPct is the share (percent) of sync stages to and from the banks
// the fault layer drops.
const liteDropPct = 10

// liteConfig adds to cfg what the Lite lanes need: their payers, the
// receive-only payee, and a small offline count.
func liteConfig(cfg *config.Network) {
	for _, u := range liteUsers {
		cfg.Users = append(cfg.Users, config.User{VPA: u.vpa, Name: "Lite " + strings.ToUpper(u.vpa[4:5]), Bank: u.bank, Account: u.account, Balance: liteUserBalance, PIN: goodPIN})
	}
	cfg.Users = append(cfg.Users, config.User{VPA: litePayees[1].vpa, Name: "Lite Shop", Bank: "bbank", Account: "2000000869", PIN: goodPIN})
	cfg.Lite.OfflineCount = liteOfflineCount
}

// describeLane is a lane's plan, for a failure.
func (l *liteLane) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Lite lane %d: %s on %s:", l.idx, l.user.vpa, l.user.device)
	for i, st := range l.steps {
		fmt.Fprintf(&b, "\n      %d. %s", i, st)
	}
	return b.String()
}
