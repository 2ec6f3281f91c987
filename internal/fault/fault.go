package fault

import (
	"fmt"
	"strings"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// Fault is what happens to one outbound message on its way to the
// receiver. The zero Fault delivers it as usual.
type Fault struct {
	// Drop: the message is never sent. It stays in the sender's trace,
	// marked dropped; the receiver never sees it.
	Drop bool
	// Delay: the first delivery attempt waits this long.
	Delay time.Duration
	// FailSends: the first FailSends attempts fail before anything is sent
	// (drop before send); the outbox retries them with its backoff.
	FailSends int
	// LoseAcks: the first LoseAcks deliveries reach the receiver, which
	// stores the message and acks it, but the ack is lost (drop after
	// send); the outbox sends again and the receiver's inbox answers the
	// repeat without applying it again.
	LoseAcks int
	// Duplicate: once acked, the message is delivered one more time, as
	// the same message (same msg_id).
	Duplicate bool
	// Rule names who asked for the fault, for traces and logs.
	Rule string
}

// IsZero reports whether f changes nothing.
func (f Fault) IsZero() bool {
	return !f.Drop && f.Delay == 0 && f.FailSends == 0 && f.LoseAcks == 0 && !f.Duplicate
}

// Merge combines f and g: every fault of either, the longer delay and the
// larger counts.
func (f Fault) Merge(g Fault) Fault {
	if g.IsZero() {
		return f
	}
	if f.IsZero() {
		return g
	}
	out := Fault{
		Drop:      f.Drop || g.Drop,
		Delay:     max(f.Delay, g.Delay),
		FailSends: max(f.FailSends, g.FailSends),
		LoseAcks:  max(f.LoseAcks, g.LoseAcks),
		Duplicate: f.Duplicate || g.Duplicate,
		Rule:      f.Rule,
	}
	if g.Rule != "" && g.Rule != f.Rule {
		out.Rule = strings.TrimPrefix(f.Rule+", "+g.Rule, ", ")
	}
	return out
}

// String describes f for a trace: "dropped", "delayed 20s, sent twice",
// with the rule that asked for it.
func (f Fault) String() string {
	if f.IsZero() {
		return ""
	}
	var parts []string
	if f.Drop {
		parts = append(parts, "dropped: never sent")
	} else {
		if f.Delay > 0 {
			parts = append(parts, "delayed "+f.Delay.String())
		}
		if f.FailSends > 0 {
			parts = append(parts, fmt.Sprintf("first %d send(s) fail", f.FailSends))
		}
		if f.LoseAcks > 0 {
			parts = append(parts, fmt.Sprintf("first %d ack(s) lost", f.LoseAcks))
		}
		if f.Duplicate {
			parts = append(parts, "sent twice")
		}
	}
	s := strings.Join(parts, ", ")
	if f.Rule != "" {
		s += " (rule " + f.Rule + ")"
	}
	return s
}

// Directions a rule acts in.
const (
	// OnReceive rules match a message the node receives.
	OnReceive = "receive"
	// OnSend rules match a message the node sends.
	OnSend = "send"
)

// Rule makes a node misbehave on purpose (README.md, "Reaching every branch"): when a message
// matches, the node declines it, ignores it, or applies a Fault to what it
// sends.
type Rule struct {
	// Name identifies the rule in traces and logs.
	Name string
	// Node is the node the rule acts at; "" means every node.
	Node string
	// On is OnReceive (the default) or OnSend.
	On    string
	Match Match
	// Decline (OnReceive only) is an NPCI error code: the node answers the
	// request as declined with it, and does nothing else. The roles that
	// decide an outcome honour it: a bank on ReqPay DEBIT and CREDIT and
	// on ReqMandate CREATE and UPDATE (as remitter), a PSP on
	// ReqAuthDetails and on ReqDelegateAdd ADD (as PSP(S), an invite), the
	// switch on ReqPay PAY and COLLECT and on ReqMandate.
	Decline string
	// Ignore (OnReceive only): the node stores and acks the message and
	// traces it, but never processes it: nothing changes, nothing is
	// answered.
	Ignore bool
	// Fault applies, for an OnSend rule, to the matched message; for an
	// OnReceive rule, to every message the node sends while processing
	// the matched one (its answer).
	Fault Fault
}

// Match selects messages. Every field set must match; the zero Match
// matches every message.
type Match struct {
	// API is the method's name, e.g. "ReqPay", "RespPay", "ReqChkTxn", or
	// "POST" for an HTTP delivery (node.Ctx.Post; send rules only).
	API string
	// Type is txn.type, e.g. "PAY", "DEBIT", "CREDIT".
	Type string
	// VPA matches when any party of the message has it: payer.addr,
	// payee.addr, or a ref's addr.
	VPA string
	// Payer and Payee match payer.addr and payee.addr.
	Payer, Payee string
	// Peer is the other node: the sender of a received message, the
	// receiver of a sent one; for an HTTP delivery, its URL's host
	// ("127.0.0.1:9000").
	Peer string
	// MinAmount and MaxAmount bound the amount in paise (payer's, else
	// payee's, else a ref's settled amount), inclusive; 0 leaves that end
	// open. A message without an amount does not match a bound.
	MinAmount, MaxAmount int64
}

// Message is what a rule looks at: every network message has a Txn, and
// requests have parties, responses a Resp.
type Message interface {
	GetTxn() *upiv1.Txn
}

type parties interface {
	GetPayer() *upiv1.Party
	GetPayee() *upiv1.Party
}

type responder interface{ GetResp() *upiv1.Resp }

// Matches reports whether the message m, of method api, exchanged with
// peer, matches.
func (mt Match) Matches(api, peer string, m Message) bool {
	if mt.API != "" && !strings.EqualFold(mt.API, api) {
		return false
	}
	if mt.Peer != "" && !strings.EqualFold(mt.Peer, peer) {
		return false
	}
	if mt.Type != "" && !strings.EqualFold(mt.Type, m.GetTxn().GetType().String()) {
		return false
	}
	var payer, payee *upiv1.Party
	if p, ok := m.(parties); ok {
		payer, payee = p.GetPayer(), p.GetPayee()
	}
	var refs []*upiv1.Ref
	if r, ok := m.(responder); ok {
		refs = r.GetResp().GetRefs()
	}
	if mt.Payer != "" && !strings.EqualFold(mt.Payer, payer.GetAddr()) {
		return false
	}
	if mt.Payee != "" && !strings.EqualFold(mt.Payee, payee.GetAddr()) {
		return false
	}
	if mt.VPA != "" && !hasVPA(mt.VPA, payer, payee, refs) {
		return false
	}
	if mt.MinAmount > 0 || mt.MaxAmount > 0 {
		a := amount(payer, payee, refs)
		if a == 0 || mt.MinAmount > 0 && a < mt.MinAmount || mt.MaxAmount > 0 && a > mt.MaxAmount {
			return false
		}
	}
	return true
}

func hasVPA(vpa string, payer, payee *upiv1.Party, refs []*upiv1.Ref) bool {
	if strings.EqualFold(vpa, payer.GetAddr()) || strings.EqualFold(vpa, payee.GetAddr()) {
		return true
	}
	for _, r := range refs {
		if strings.EqualFold(vpa, r.GetAddr()) {
			return true
		}
	}
	return false
}

func amount(payer, payee *upiv1.Party, refs []*upiv1.Ref) int64 {
	if a := payer.GetAmountPaise(); a != 0 {
		return a
	}
	if a := payee.GetAmountPaise(); a != 0 {
		return a
	}
	for _, r := range refs {
		if a := r.GetSettAmountPaise(); a != 0 {
			return a
		}
	}
	return 0
}

// Action is what the receive rules say about one received message.
type Action struct {
	// Rule names the rules that matched, for the trace ("" if none).
	Rule    string
	Decline string
	Ignore  bool
	// Fault applies to every message sent while processing it.
	Fault Fault
}

// IsZero reports whether a changes nothing.
func (a Action) IsZero() bool { return a.Decline == "" && !a.Ignore && a.Fault.IsZero() }

// Note describes a for the trace of the received message.
func (a Action) Note() string {
	var parts []string
	switch {
	case a.Ignore:
		parts = append(parts, "ignored: never processed, never answered")
	case a.Decline != "":
		parts = append(parts, "declined with "+a.Decline)
	}
	if !a.Ignore && !a.Fault.IsZero() {
		f := a.Fault
		f.Rule = ""
		parts = append(parts, "its answer "+f.String())
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, "; ") + " (rule " + a.Rule + ")"
}

// Set is the rules of one node, in the order given. A nil *Set has none.
type Set struct {
	in, out []Rule
}

// For returns the rules that act at node, nil when there are none.
func For(rules []Rule, node string) *Set {
	s := &Set{}
	for _, r := range rules {
		if r.Node != "" && !strings.EqualFold(r.Node, node) {
			continue
		}
		if r.On == OnSend {
			s.out = append(s.out, r)
		} else {
			s.in = append(s.in, r)
		}
	}
	if len(s.in) == 0 && len(s.out) == 0 {
		return nil
	}
	return s
}

// OnReceive is what the rules say about a message m, of method api, that
// the node received from `from`: the first decline or ignore among the
// matching rules, and every matching rule's faults merged.
func (s *Set) OnReceive(api, from string, m Message) Action {
	var a Action
	if s == nil {
		return a
	}
	for _, r := range s.in {
		if !r.Match.Matches(api, from, m) {
			continue
		}
		a.Rule = strings.TrimPrefix(a.Rule+", "+r.Name, ", ")
		if a.Decline == "" && !a.Ignore {
			a.Decline, a.Ignore = r.Decline, r.Ignore
		}
		f := r.Fault
		f.Rule = r.Name
		a.Fault = a.Fault.Merge(f)
	}
	return a
}

// OnSend is the fault of a message m, of method api, that the node sends
// to `to`: every matching send rule's, merged.
func (s *Set) OnSend(api, to string, m Message) Fault {
	var f Fault
	if s == nil {
		return f
	}
	for _, r := range s.out {
		if r.Match.Matches(api, to, m) {
			g := r.Fault
			g.Rule = r.Name
			f = f.Merge(g)
		}
	}
	return f
}
