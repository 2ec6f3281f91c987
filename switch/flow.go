package upiswitch

import (
	"bytes"
	"fmt"
	"slices"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// Flows. The switch runs flows: a flow is one exchange of messages with its
// own record and state machine. The pay flow (pay.go, timeouts.go) is the
// PAY, COLLECT and ValAdd of a PSP; its record is the pay record (record).
// The leg code every flow shares (send, await an answer with a timeout,
// late notes, loadFor) is in leg.go.
//
// The txn-id rule: a flow's record is keyed by (flow kind, txn id), in
// store.Txns. Two flows of different kinds may share a txn id (a
// ReqDelegateAuth and the ReqPay it leads to) and each has its own record;
// two flows of one kind may not (a second ReqPay with an id the switch has
// is a resubmission or refused). The key is flowKey(kind, id): the bare
// txn id for the pay flow, so the records written before flows existed
// are where they were, and "<kind>/<txn id>" for any other kind (a txn id
// is 3 letters and 32 hex digits, so it never holds a "/"). Timers are
// "<timer kind>:<txn id>", each timer kind belonging to one flow kind.
// ListTransactions shows the pay records, the transactions of the
// network; a flow of another kind shows itself through the pay legs it
// starts (their records) and, once it has one, its own summary.
//
// A flow may start another flow mid-way and be its parent: the parent
// gives the child its record already routed and starts it at a step
// (startPayLeg: a UPI Lite credit is a pay leg started at CREDIT with the
// batch as parent); the child then reports its outcome to the parent
// (parent.childReport) in the step that decides it, instead of answering an
// originator and confirming to PSPs.

// The flow kinds.
const (
	// flowPay is a PSP's PAY, COLLECT or ValAdd, or a pay leg a parent
	// started: the pay record.
	flowPay = "pay"
)

// flowKey is the store.Txns key of the record of flow kind for txn id
// (the txn-id rule above).
func flowKey(kind, id string) string {
	if kind == flowPay {
		return id
	}
	return kind + "/" + id
}

// isPayKey reports whether a store.Txns key is a pay record's (a bare txn
// id).
func isPayKey(k []byte) bool { return bytes.IndexByte(k, '/') < 0 }

// parent is a flow kind that starts pay legs and hears their outcomes.
type parent interface {
	// childReport runs in the step that moves child to an outcome the
	// parent must hear: child.Status is SUCCESS or FAILURE when decided
	// (child.State CLOSED), DEEMED when its credit timed out (the leg goes
	// on checking and reports again once resolved). It runs before the
	// child is saved; it must not change child, and what it stores and
	// sends commits with the child's step or not at all.
	childReport(c *node.Ctx, parentID string, child *record) error
}

// addParent registers the parent flow of kind; call it from New.
func (s *Switch) addParent(kind string, p parent) {
	if s.parents == nil {
		s.parents = map[string]parent{}
	}
	s.parents[kind] = p
}

// startPayLeg starts the pay leg r for the parent flow named in r.Parent
// at step at (StateDebitSent or StateCreditSent: the DEBIT or the CREDIT
// is sent). r has its txn id, type, amount and parties with their
// accounts; an RRN is issued when it has none. Its txn id must be new to
// the pay flow. The leg may be decided at once, in this step (a payee IFSC
// no bank has): the parent hears it in childReport before startPayLeg
// returns, so a parent saves its own record before it starts a leg, or
// loads it again after.
func (s *Switch) startPayLeg(c *node.Ctx, r *record, at State) error {
	if r.Parent == nil || s.parents[r.Parent.Kind] == nil {
		return fmt.Errorf("pay leg %s: no parent flow to report to", r.Id)
	}
	if c.Tx.Has(store.Txns, []byte(flowKey(flowPay, r.Id))) {
		return fmt.Errorf("pay leg %s of %s %s: the switch already has a transaction with this id", r.Id, r.Parent.Kind, r.Parent.Id)
	}
	if r.Rrn == "" {
		rrn, err := issueRRN(c, r.Id)
		if err != nil {
			return err
		}
		r.Rrn = rrn
	}
	r.Status, r.Created = upiv1.Resp_PENDING.String(), store.Nanos(c.Now())
	switch at {
	case StateDebitSent:
		return s.debit(c, r)
	case StateCreditSent:
		return s.credit(c, r)
	default:
		return fmt.Errorf("pay leg %s: cannot start at %s", r.Id, at)
	}
}

// report tells r's parent of r's outcome (see parent.childReport).
func (s *Switch) report(c *node.Ctx, r *record) error {
	p := s.parents[r.Parent.Kind]
	if p == nil {
		return fmt.Errorf("transaction %s: its parent's flow kind %q is not known to this switch", r.Id, r.Parent.Kind)
	}
	return p.childReport(c, r.Parent.Id, r)
}

// tell is the PSPs the outcome of r is confirmed to, each in its own
// ReqTxnConfirmation: the counter-party, once it was asked for the auth
// details; a refund's (the credit's payer's PSP, which a refund asks
// nothing) once routed. A child flow tells its parent instead.
//
// A delegated payment's pay flow (its parent a delegate-auth flow) is
// answered as a pay is, and tells PSP(S) (its delegator) too, once: one
// node may be PSP(S) and the payee's PSP.
func tell(r *record) []string {
	if r.Parent != nil && r.Parent.Kind != flowDelegateAuth {
		return nil
	}
	var out []string
	if r.Auth != nil || isRefundRec(r) && r.Counterparty != "" { // a refund asks no auth details
		out = append(out, r.Counterparty)
	}
	if r.Delegator != "" && !slices.Contains(out, r.Delegator) {
		out = append(out, r.Delegator)
	}
	return out
}

// tellOutcome sends r's outcome (decided, or DEEMED) where it goes: to its
// parent flow, and, for a pay with no parent or a delegated payment's, to
// the originator and the PSPs to tell (answer).
func (s *Switch) tellOutcome(c *node.Ctx, r *record) error {
	if r.Parent != nil {
		if err := s.report(c, r); err != nil {
			return err
		}
		if r.Parent.Kind != flowDelegateAuth {
			return nil
		}
	}
	return s.answer(c, r)
}

// exchangeTo is the exchange of es sent to node to, else the first of es
// (so that an answer from another node is refused naming the one asked),
// else nil.
func exchangeTo(es []*exchange, to string) *exchange {
	for _, e := range es {
		if e.To == to {
			return e
		}
	}
	if len(es) > 0 {
		return es[0]
	}
	return nil
}
