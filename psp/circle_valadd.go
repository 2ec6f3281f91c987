// The payee look-up of a delegated payment (docs/FLOWS.md, "Payment, full
// delegation", step 3), under full and partial delegation alike: PSP(S)
// has checked the link and its limits and stored the payment VALADD_SENT;
// it resolves the payee through the network with ReqValAdd, as
// ResolveAddress does (valadd.go), and only on RespValAdd SUCCESS sends
// ReqDelegateAuth, carrying the payee's name. A FAILURE ends the payment
// with the look-up's code (U29 for an unknown payee); a ReqValAdd the
// switch refuses ends it U07, and no answer within timeouts.val_add ends
// it U09. Either way the secondary is told, and nothing else is sent.
//
// The look-up has its own txn id, ids.LookupTxnID of the payment's: the
// switch keeps a ReqValAdd as the pay flow of its id, and refuses a
// ReqDelegateAuth whose id has a pay flow (the ReqPay it leads to is that
// pay flow). From the look-up's id PSP(S) finds the payment again, with no
// record of the look-up: the payment's record is all there is, so a
// restart in VALADD_SENT resends what was unacked and its timer still ends
// it.

package psp

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// timerPayeeLookup is PSP(S)'s wait for the RespValAdd of a delegated
// payment, "payeelookup:<txn id>" (the payment's id).
const timerPayeeLookup = "payeelookup"

// circleValAddRoutes: a ReqValAdd the switch refused (a ResolveAddress's
// is left to its caller's wait, as before).
func (p *PSP) circleValAddRoutes() []node.Route {
	return []node.Route{{Method: upiv1.SwitchService_ReqValAdd_FullMethodName, Refused: p.payeeLookupRefused}}
}

func (p *PSP) circleValAddTimers() []node.TimerKind {
	return []node.TimerKind{{Prefix: timerPayeeLookup, Fire: func(c *node.Ctx, t node.Timer) error {
		return p.payeeLookupExpired(c, string(t.Payload))
	}}}
}

// valAddWait is how long a payee look-up may take: the network's
// timeouts.val_add, as ResolveAddress waits.
func (p *PSP) valAddWait() time.Duration {
	if d := p.cfg.Network.Timeouts.ValAdd; d > 0 {
		return d
	}
	return defaultValAddTimeout
}

// lookUpPayee (step 3): send the ReqValAdd for the payee of r, a delegated
// payment PSP(S) stored VALADD_SENT in this step, from its secondary, and
// start the wait for the answer.
func (p *PSP) lookUpPayee(c *node.Ctx, r *txnRecord) error {
	if err := c.SetTimer(timerPayeeLookup+":"+r.Id, c.Now().Add(p.valAddWait()), []byte(r.Id)); err != nil {
		return err
	}
	requester := &upiv1.Party{Addr: r.SecondaryVpa}
	if v, err := getVPA(c.Tx, r.SecondaryVpa); err != nil {
		return err
	} else if v != nil {
		requester.Name = v.Name
	}
	return c.Send(p.switchName, upiv1.SwitchService_ReqValAdd_FullMethodName, &upiv1.ReqValAdd{
		Txn: &upiv1.Txn{
			Id: ids.LookupTxnID(r.Id), Type: upiv1.Txn_VAL_ADD, OrgTxnId: r.Id, Purpose: circlePurpose,
			Ts: timestamppb.New(c.Now()),
		},
		Payer: requester,
		Payee: &upiv1.Party{Addr: r.PayeeVpa},
	})
}

// lookingUp is PSP(S)'s delegated payment whose payee look-up has the txn
// id lookupID, while it waits for it; nil for any other id (a
// ResolveAddress's) or a payment past its look-up.
func lookingUp(tx *store.Tx, lookupID string) (*txnRecord, error) {
	id := ids.LookupTxnID(lookupID)
	if id == lookupID {
		return nil, nil
	}
	r, err := getTxn(tx, id)
	if err != nil || r == nil || r.SecondaryVpa == "" || r.State != stateValAddSent || isFinal(r) {
		return nil, err
	}
	return r, nil
}

// isPayeeLookup reports whether lookupID is the look-up id of one of
// PSP(S)'s delegated payments, waiting or not.
func isPayeeLookup(tx *store.Tx, lookupID string) (bool, error) {
	id := ids.LookupTxnID(lookupID)
	if id == lookupID {
		return false, nil
	}
	r, err := getTxn(tx, id)
	return err == nil && r != nil && r.SecondaryVpa != "", err
}

// payeeResolved (step 3, RespValAdd at PSP(S)): the answer to the look-up
// of a delegated payment. SUCCESS sends the ReqDelegateAuth, the payee's
// name in it (the link gone meanwhile: FAILURE CN, nothing sent); FAILURE
// ends the payment with the look-up's code. A repeat or a late answer (the
// payment ended, or went on) changes nothing.
func (p *PSP) payeeResolved(c *node.Ctx, m *upiv1.RespValAdd) error {
	r, err := lookingUp(c.Tx, m.GetTxn().GetId())
	if err != nil {
		return err
	}
	if r == nil {
		return c.NoteReceived("the delegated payment is past its payee look-up: changes nothing")
	}
	if err := c.CancelTimer(timerPayeeLookup + ":" + r.Id); err != nil {
		return err
	}
	if m.GetResp().GetResult() != upiv1.Resp_SUCCESS {
		code := m.GetResp().GetErrCode()
		if code == "" {
			code = upi.CodeAddrResolution
		}
		return p.endDelegated(c, r, code)
	}
	l, err := getLink(c.Tx, sideSecondary, r.CircleLinkId)
	if err != nil {
		return err
	}
	if l == nil || l.Status != linkLinked {
		return p.endDelegated(c, r, upi.CodeNoLink)
	}
	r.PayeeName, r.State = m.GetPayee().GetName(), stateDelegateAuthSent
	if err := putTxn(c.Tx, r, c.Now()); err != nil {
		return err
	}
	return p.sendDelegateAuth(c, r, l)
}

// sendDelegateAuth (step 4): PSP(S)'s ReqDelegateAuth for the delegated
// payment r under its link l, the payee as resolved.
func (p *PSP) sendDelegateAuth(c *node.Ctx, r *txnRecord, l *linkRecord) error {
	d := &upiv1.Delegate{SubType: upiv1.Delegate_FULL, Umn: l.Umn, PrimaryAddr: l.Primary, SecondaryAddr: l.Secondary}
	if l.Mode == upiv1.Delegate_PARTIAL.String() { // the primary approves each payment: no mandate
		d.SubType, d.Umn = upiv1.Delegate_PARTIAL, ""
	}
	return c.Send(p.switchName, upiv1.SwitchService_ReqDelegateAuth_FullMethodName, &upiv1.ReqDelegateAuth{
		Txn:      &upiv1.Txn{Id: r.Id, Type: upiv1.Txn_PAY, Note: r.Note, Purpose: circlePurpose, Ts: timestamppb.New(c.Now())},
		Delegate: d,
		Payer:    &upiv1.Party{Addr: l.Primary, Name: l.PrimaryName, AmountPaise: r.AmountPaise, Currency: "INR"},
		Payee:    &upiv1.Party{Addr: r.PayeeVpa, Name: r.PayeeName},
	})
}

// payeeLookupRefused: the switch refused the ReqValAdd of a delegated
// payment; it ends FAILURE U07, as a refused ReqDelegateAuth does.
func (p *PSP) payeeLookupRefused(c *node.Ctx, rf node.Refused) error {
	r, err := lookingUp(c.Tx, rf.Msg.GetTxn().GetId())
	if err != nil || r == nil {
		return err
	}
	p.log.Warn("the switch refused the payee look-up of a delegated payment", "txn", r.Id, "reason", rf.Reason)
	if err := c.CancelTimer(timerPayeeLookup + ":" + r.Id); err != nil {
		return err
	}
	return p.endDelegated(c, r, upi.CodeRefused)
}

// payeeLookupExpired: no RespValAdd within timeouts.val_add (where
// ResolveAddress gives up too); the payment ends FAILURE U09, the code of a
// pay whose payee's PSP did not answer. A later answer changes nothing.
func (p *PSP) payeeLookupExpired(c *node.Ctx, txnID string) error {
	r, err := lookingUp(c.Tx, ids.LookupTxnID(txnID))
	if err != nil || r == nil {
		return err
	}
	return p.endDelegated(c, r, upi.CodeAuthTimeout)
}
