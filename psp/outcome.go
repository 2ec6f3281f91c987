// The outcome of a pay or collect as it reaches this PSP: RespPay for the
// side that initiated, ReqTxnConfirmation for the other; and the hook
// (Config.OnOutcome) that runs in the step that decides it.

package psp

import (
	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// respPay is the final outcome for the initiator (step 10 of Pay, 8 of
// Collect). A DEEMED one (the credit timed out at the switch) is recorded
// and told to the user; the final one follows. Status only moves forward,
// so a DEEMED that arrives after the final outcome changes nothing.
func (p *PSP) respPay(c *node.Ctx, m *upiv1.RespPay) error {
	txnID := m.GetTxn().GetId()
	r, err := getTxn(c.Tx, txnID)
	if err != nil {
		return err
	}
	if r == nil {
		return node.Refuse("RespPay for txn %s, which PSP %s does not know", txnID, p.name)
	}
	from, ok := initiatorOf(r)
	if !ok || r.Type == upiv1.Txn_VAL_ADD.String() {
		return node.Refuse("RespPay for txn %s, which PSP %s did not initiate with ReqPay", txnID, p.name)
	}
	if r.Final {
		return nil // duplicate or late: the outcome is decided
	}
	res := m.GetResp().GetResult()
	wasFinal, wasStatus := isFinal(r), r.Status
	before := outcome(r)
	changed := applyOutcome(r, res, m.GetResp().GetErrCode(), m.GetTxn().GetCustRef())
	tell := outcome(r) != before
	if res == upiv1.Resp_DEEMED && changed {
		r.State = stateDeemed
	}
	if res == upiv1.Resp_SUCCESS || res == upiv1.Resp_FAILURE {
		r.Final, r.State, changed, tell = true, stateCompleted, true, true
		if collectPayer(r) {
			if err := c.Tx.Delete(store.Pending, pendingKey(r.PayerVpa, txnID)); err != nil {
				return err
			}
		}
	}
	if !changed {
		return nil
	}
	if err := putTxn(c.Tx, r, c.Now()); err != nil {
		return err
	}
	if err := p.countDelegated(c, r); err != nil {
		return err
	}
	if err := p.decided(c, r, wasFinal); err != nil {
		return err
	}
	if err := p.deemed(c, r, wasStatus); err != nil {
		return err
	}
	c.Notify(txnID)
	if !tell {
		return nil
	}
	return p.notifyStatusLite(c, r, vpaOf(r, from), m.GetResp(), m.GetLite())
}

var _ node.RefusalHandler = (*PSP)(nil)

// reqPayRefused: a ReqPay the switch refused in
// its Ack never became a transaction there, so no RespPay will come; the
// payment ends FAILURE U07 (validation error) here, as a RespPay FAILURE
// would end it, and the user is told. The trace shows the switch's reason.
// (The switch's own timeouts cover the answers it refuses.)
func (p *PSP) reqPayRefused(c *node.Ctx, r node.Refused) error {
	p.log.Warn("the switch refused a ReqPay", "txn", r.Msg.GetTxn().GetId(), "reason", r.Reason)
	// A delegated payment's: PSP(S) hears FAILURE U07 (step 8).
	if err := p.answerDelegateAuth(c, r.Msg.GetTxn().GetId(), upiv1.Resp_FAILURE, upi.CodeRefused); err != nil {
		return err
	}
	return p.respPay(c, &upiv1.RespPay{
		Txn:  r.Msg.GetTxn(),
		Resp: &upiv1.Resp{ReqMsgId: r.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeRefused},
	})
}

// reqTxnConfirmation is the final outcome for the PSP that did not initiate
// (step 11–12 of Pay, 9 of Collect): record it, tell the user, answer.
func (p *PSP) reqTxnConfirmation(c *node.Ctx, m *upiv1.ReqTxnConfirmation) error {
	txnID := m.GetTxn().GetId()
	r, err := getTxn(c.Tx, txnID)
	if err != nil {
		return err
	}
	if r == nil {
		// Never saw it. The switch confirms to a counter-party only a
		// transaction it sent a ReqAuthDetails to, and moves money only
		// after that PSP answered it, so a PSP that has no record can
		// legitimately hear only that the transaction ended without it:
		// its ReqAuthDetails was lost, ignored or late, and the pay timed
		// out (U09) or the collect expired (U69). Anything else (a
		// SUCCESS, a DEEMED) is refused: it would tell a user of money
		// that never moved.
		if m.GetTxn().GetType() != upiv1.Txn_REFUND && !unseenOutcome(m.GetResp()) {
			return node.Refuse("ReqTxnConfirmation for txn %s: unknown transaction at PSP %s (only a FAILURE %s or %s may confirm a transaction a PSP never saw)",
				txnID, p.name, upi.CodeAuthTimeout, upi.CodeCollectExpired)
		}
		// Learn what the confirmation says. A refund is first heard of
		// here at the PSP of the credit's payer, its payee.
		r = &txnRecord{Id: txnID, Type: m.GetTxn().GetType().String(), Status: upiv1.Resp_PENDING.String(), Note: m.GetTxn().GetNote(),
			OrgTxnId: m.GetTxn().GetOrgTxnId(), RefId: m.GetTxn().GetRefId()}
		for _, ref := range m.GetResp().GetRefs() {
			switch ref.GetType() {
			case "PAYER":
				r.PayerVpa = ids.NormalizeVPA(ref.GetAddr())
				if a := ref.GetSettAmountPaise(); a > 0 && r.AmountPaise == 0 {
					r.AmountPaise = a
				}
			case "PAYEE":
				r.PayeeVpa = ids.NormalizeVPA(ref.GetAddr())
				if a := ref.GetSettAmountPaise(); a > 0 {
					r.AmountPaise = a
				}
			}
		}
		for _, side := range []struct {
			vpa  string
			here *bool
			name *string
		}{{r.PayerVpa, &r.PayerHere, &r.PayerName}, {r.PayeeVpa, &r.PayeeHere, &r.PayeeName}} {
			if side.vpa == "" {
				continue
			}
			v, err := getVPA(c.Tx, side.vpa)
			if err != nil {
				return err
			}
			if v != nil {
				*side.here, *side.name = true, v.Name
			}
		}
	}
	if r.Type == upiv1.Txn_VAL_ADD.String() {
		return node.Refuse("ReqTxnConfirmation for txn %s, which is a VAL_ADD at PSP %s", txnID, p.name)
	}
	wasFinal, wasStatus := isFinal(r), r.Status
	before := outcome(r)
	tell := !r.Confirmed
	applyOutcome(r, m.GetResp().GetResult(), m.GetResp().GetErrCode(), m.GetTxn().GetCustRef())
	tell = tell || outcome(r) != before
	r.Confirmed, r.State = true, stateConfirmed
	if collectPayer(r) {
		if err := c.Tx.Delete(store.Pending, pendingKey(r.PayerVpa, txnID)); err != nil {
			return err
		}
	}
	if err := putTxn(c.Tx, r, c.Now()); err != nil {
		return err
	}
	if err := p.countDelegated(c, r); err != nil {
		return err
	}
	if err := p.decided(c, r, wasFinal); err != nil {
		return err
	}
	if err := p.deemed(c, r, wasStatus); err != nil {
		return err
	}
	if err := c.Send(p.switchName, upiv1.SwitchService_RespTxnConfirmation_FullMethodName, &upiv1.RespTxnConfirmation{
		Txn:  cloneTxn(m.GetTxn()),
		Resp: &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
	}); err != nil {
		return err
	}
	c.Notify(txnID)
	if !tell {
		return nil
	}
	if r.SecondaryVpa != "" { // PSP(S) of a delegated payment (step 13)
		if err := p.notifyStatus(c, r, r.SecondaryVpa, m.GetResp()); err != nil {
			return err
		}
	}
	switch {
	case collectPayer(r):
		return p.notifyStatus(c, r, r.PayerVpa, m.GetResp())
	case (r.Type == upiv1.Txn_PAY.String() || r.Type == upiv1.Txn_REFUND.String()) && r.PayeeHere && r.Status == upiv1.Resp_SUCCESS.String():
		return p.notifyStatus(c, r, r.PayeeVpa, m.GetResp())
	}
	return nil
}

// unseenOutcome reports whether resp is an outcome a PSP may be confirmed
// of a transaction it has no record of.
func unseenOutcome(resp *upiv1.Resp) bool {
	if resp.GetResult() != upiv1.Resp_FAILURE {
		return false
	}
	code := resp.GetErrCode()
	return code == upi.CodeAuthTimeout || code == upi.CodeCollectExpired
}

// Outcome is a pay's, collect's or refund's decided outcome as this PSP
// learns it (Config.OnOutcome), or where it stands when another hook runs
// (OnDeemed: DEEMED; OnAuthDetails: PENDING).
type Outcome struct {
	TxnID string
	Type  upiv1.Txn_Type // PAY, COLLECT or REFUND
	// Result is SUCCESS or FAILURE (DEEMED, PENDING for the other hooks);
	// ErrCode is the NPCI code of a FAILURE (RB of a DEEMED).
	Result      upiv1.Resp_Result
	ErrCode     string
	RRN         string
	AmountPaise int64
	Note        string
	// Payer and Payee are the two sides, as this PSP holds them.
	Payer, Payee OutcomeSide
	// RefID is txn.ref_id: the merchant's order id of a payment made from
	// its intent (the intent's tr), or of a collect it started; of a
	// REFUND, the merchant layer's refund id (RefundRequest.RefID).
	RefID string
	// OrgTxnID is txn.org_txn_id: the credit a REFUND refunds (empty for
	// a pay or collect).
	OrgTxnID string
}

// OutcomeSide is one side of an Outcome.
type OutcomeSide struct {
	VPA, Name string
	// Here: the party is a user of this PSP (the merchant, at its PSP).
	Here bool
	// Initiator: the party started the transaction at this PSP.
	Initiator bool
}

// decided runs Config.OnOutcome when r, a pay, collect or refund whose status was
// not final before this step (wasFinal), now has a final one. Call it in
// the step that decides, after storing r.
func (p *PSP) decided(c *node.Ctx, r *txnRecord, wasFinal bool) error {
	if wasFinal || !isFinal(r) || r.Type == upiv1.Txn_VAL_ADD.String() {
		return nil
	}
	c.Decided(r.Status, r.ErrCode) // the node's metrics: upisim_transactions_total
	if p.cfg.OnOutcome == nil {
		return nil
	}
	return p.cfg.OnOutcome(c, outcomeOf(r))
}

// deemed runs Config.OnDeemed when r, a pay or collect whose status was
// wasStatus before this step, is now DEEMED for the first time (a DEEMED
// told again, or after the outcome, runs nothing). Call it in the step,
// after storing r.
func (p *PSP) deemed(c *node.Ctx, r *txnRecord, wasStatus string) error {
	deemed := upiv1.Resp_DEEMED.String()
	if p.cfg.OnDeemed == nil || wasStatus == deemed || r.Status != deemed || r.Type == upiv1.Txn_VAL_ADD.String() {
		return nil
	}
	return p.cfg.OnDeemed(c, outcomeOf(r))
}

// outcomeOf is r as the hooks see it.
func outcomeOf(r *txnRecord) Outcome {
	return Outcome{
		TxnID: r.Id, Type: upiv1.Txn_Type(upiv1.Txn_Type_value[r.Type]),
		Result: upiv1.Resp_Result(upiv1.Resp_Result_value[r.Status]), ErrCode: r.ErrCode, RRN: r.Rrn,
		AmountPaise: r.AmountPaise, Note: r.Note, OrgTxnID: r.OrgTxnId, RefID: r.RefId,
		Payer: OutcomeSide{VPA: r.PayerVpa, Name: r.PayerName, Here: r.PayerHere, Initiator: r.PayerInitiator},
		Payee: OutcomeSide{VPA: r.PayeeVpa, Name: r.PayeeName, Here: r.PayeeHere, Initiator: r.PayeeInitiator},
	}
}
