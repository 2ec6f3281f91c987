package upiswitch

import (
	"time"

	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// The leg code every flow shares: a leg is one request the switch sends
// and the answer it awaits (an exchange), with a timeout (a durable timer
// "<kind>:<txn id>") and the notes of answers that came when nothing waited
// for them. send queues a leg's request, startTimer awaits its answer for a
// while, loadFor loads the flow an answer is about and checks that the
// switch asked its sender, timeoutFor loads the flow a timer is about, and
// lateNoteFor and keepLate record an answer that changes nothing (in a
// record's Late, counted in LateDropped beyond maxLate).

// maxLate bounds Late, so a peer repeating itself cannot grow a record
// without end.
const maxLate = 32

// flowRecord is a flow's record as the leg code sees it: a message of
// proto/upisim/records/v1 kept in store.Txns (flow.go), in a state.
type flowRecord[T any] interface {
	*T
	proto.Message
	GetState() string
}

// loadFlow loads the record of flow kind for txn id (nil if none), in its
// form in memory (upgradeRecord for a pay record).
func loadFlow[T any, P flowRecord[T]](tx *store.Tx, kind, id string) (P, error) {
	r, ok, err := store.NewTable[T, P](store.Txns).Get(tx, flowKey(kind, id))
	if err != nil || !ok {
		return nil, err
	}
	if pay, ok := any(r).(*record); ok {
		upgradeRecord(pay)
	}
	return r, nil
}

// settled reports whether e was answered or timed out: a leg whose ref
// the final answer carries.
func settled(e *exchange) bool { return e.Answered != 0 || e.TimedOut != 0 }

// answer records resp as the answer to e.
func answerExchange(e *exchange, now time.Time, resp *upiv1.Resp) {
	e.Answered = store.Nanos(now)
	e.Result = resp.GetResult().String()
	e.ErrCode = resp.GetErrCode()
}

// respCode is the NPCI response code of an answered leg: "00" on success;
// for a leg that timed out unanswered, the timeout's code.
func respCode(e *exchange) string {
	if e.Result == upiv1.Resp_SUCCESS.String() {
		return upi.CodeOK
	}
	return e.ErrCode
}

// send queues m (Ctx.Send gives it a head) and returns the exchange to
// record.
func send(c *node.Ctx, to, method string, m node.Message) (*exchange, error) {
	if err := c.Send(to, method, m); err != nil {
		return nil, err
	}
	return &exchange{To: to, MsgId: m.GetHead().GetMsgId(), Sent: store.Nanos(c.Now())}, nil
}

// loadFor loads the record of flow kind that a response is about and
// checks that the switch sent the request it answers (what) to its
// sender. It refuses a response for an unknown transaction, for a request
// never sent, or from another node.
func loadFor[T any, P flowRecord[T]](c *node.Ctx, in *node.Inbound, kind, what string, sent func(P) *exchange) (P, error) {
	id := in.Msg.GetTxn().GetId()
	r, err := loadFlow[T, P](c.Tx, kind, id)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, node.Refuse("unknown transaction %s: the switch has no transaction with this id", id)
	}
	e := sent(r)
	if e == nil {
		return nil, node.Refuse("%s for transaction %s answers nothing: the switch sent no %s for it", in.API, id, what)
	}
	if in.From != e.To {
		return nil, node.Refuse("%s for transaction %s must come from %s, which the switch sent the %s to, not from %s", in.API, id, e.To, what, in.From)
	}
	return r, nil
}

// startTimer sets the timer kind of txnID to fire after d (none when d is
// not positive).
func (s *Switch) startTimer(c *node.Ctx, kind, txnID string, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	return c.SetTimer(timerName(kind, txnID), c.Now().Add(d), []byte(txnID))
}

// timeoutFor loads the record of flow kind a timer is about when it is
// still in one of states; nil otherwise (answered meanwhile, or already
// decided).
func timeoutFor[T any, P flowRecord[T]](c *node.Ctx, kind, txnID string, states ...State) (P, error) {
	r, err := loadFlow[T, P](c.Tx, kind, txnID)
	if err != nil || r == nil {
		return nil, err
	}
	for _, st := range states {
		if r.GetState() == st {
			return r, nil
		}
	}
	return nil, nil
}

// lateNoteFor is the note of a response in that arrived when its flow, in
// state, was not waiting for it, and the text for the message's trace
// record; answered is the request it answers, if known, and marks the
// note U70 when that request had timed out.
func lateNoteFor(c *node.Ctx, in *node.Inbound, state State, leg string, resp *upiv1.Resp, answered *exchange) (*lateNote, string) {
	n := &lateNote{At: store.Nanos(c.Now()), Api: in.API, Leg: leg, From: in.From, MsgId: in.Msg.GetHead().GetMsgId(), State: state}
	if resp != nil {
		n.Result, n.ErrCode = resp.GetResult().String(), resp.GetErrCode()
	}
	if answered != nil && answered.TimedOut != 0 {
		n.Code = upi.CodeLate
		return n, "late (" + upi.CodeLate + "): its request had timed out; recorded, changes nothing"
	}
	return n, "not waited for (the transaction is " + string(state) + "): recorded, changes nothing"
}

// keepLate appends n to a record's late notes, or counts it in dropped
// once there are maxLate.
func keepLate(late *[]*lateNote, dropped *int64, n *lateNote) {
	if len(*late) >= maxLate {
		*dropped++
		return
	}
	*late = append(*late, n)
}
