// Delegated payments under full delegation (docs/FLOWS.md, "Payment, full
// delegation"): PSP(S) takes the secondary's payment, checks the link and
// its limits and sends ReqDelegateAuth; PSP(P) checks the mandate, the UMN
// and the limits and sends the ReqPay as the primary's payment under the
// mandate, answering RespDelegateAuth once the switch has acked it. Both
// sides count the link's SUCCESS and DEEMED debits (linkRecord.debits) in
// the step that learns the outcome; a FAILURE after a DEEMED gives the
// amount back.

package psp

import (
	"context"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// The states of a delegated payment's record beyond a pay's.
const (
	stateDelegateAuthSent = "DELEGATE_AUTH_SENT"  // PSP(S): ReqDelegateAuth sent
	stateDelegateAuthOK   = "DELEGATE_AUTHORISED" // PSP(S): RespDelegateAuth SUCCESS, the pay goes on
	roleSecondary         = "secondary"
)

// keepDebits is how long a counted debit is kept: past any month's count.
const keepDebits = 62 * 24 * time.Hour

func (p *PSP) circlePayRoutes() []node.Route {
	return []node.Route{
		{Method: upiv1.PspService_ReqDelegateAuth_FullMethodName, From: fromSwitch,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.ReqDelegateAuth) error {
				if st := m.GetDelegate().GetSubType(); st != upiv1.Delegate_FULL && st != upiv1.Delegate_PARTIAL {
					return node.Refuse("%s with delegate.sub_type %s is not supported by this PSP yet (only FULL and PARTIAL)", in.API, st)
				}
				if m.GetPayer().GetAmountPaise() <= 0 {
					return node.Refuse("%s needs payer.amount_paise > 0", in.API)
				}
				return p.checkOwnVPA(in.API+": delegate.primary_addr", m.GetDelegate().GetPrimaryAddr())
			}),
			Handle: node.Handles(p.reqDelegateAuth)},
		{Method: upiv1.PspService_RespDelegateAuth_FullMethodName, From: fromSwitch,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.RespDelegateAuth) error { return needResult(in.API, m.GetResp()) }),
			Handle:   node.Handles(p.respDelegateAuth)},
		{Method: upiv1.SwitchService_ReqDelegateAuth_FullMethodName, Refused: p.delegateAuthRefused},
	}
}

// limitsOf are the limits of a delegated payment under the FULL link l.
func (p *PSP) limitsOf(l *linkRecord) upi.CircleLimits {
	return p.cfg.Network.Circle.Limits(l.LimitPaise, store.FromNanos(l.Linked))
}

// linkUses are l's counted debits.
func linkUses(l *linkRecord) []upi.CircleUse { return upi.CircleUses(l.Debits) }

// findLink is this PSP's LINKED link (FULL or PARTIAL) of side between
// primary ("" for any) and secondary, or nil.
func findLink(tx *store.Tx, side, primary, secondary string) (*linkRecord, error) {
	var out *linkRecord
	err := circleLinks.Scan(tx, side+"/", func(_ string, l *linkRecord) (bool, error) {
		if l.Status == linkLinked && (l.Mode == upiv1.Delegate_FULL.String() || l.Mode == upiv1.Delegate_PARTIAL.String()) &&
			l.Secondary == secondary &&
			(primary == "" || l.Primary == primary) {
			out = l
			return false, nil
		}
		return true, nil
	})
	return out, err
}

// InitiateDelegatedPay implements PspAppService (step 2): the secondary,
// a user of this PSP, pays from the primary's account. A link not LINKED
// is FailedPrecondition; a breach of a limit (Z8, QH, FP) ends the payment
// FAILURE with its code at once, sending nothing; else the payee's look-up
// (ReqValAdd) goes to the switch, ReqDelegateAuth following its SUCCESS
// (circle_valadd.go), and the payment is PENDING.
func (p *PSP) InitiateDelegatedPay(_ context.Context, req *upiv1.InitiateDelegatedPayRequest) (*upiv1.InitiateDelegatedPayResponse, error) {
	secondary, payee, err := checkTransfer(req.GetSecondaryVpa(), req.GetPayeeVpa(), req.GetAmountPaise())
	if err != nil {
		return nil, err
	}
	if err := checkTexts(textField{"note", "upi.v1.Txn.note", req.GetNote()}); err != nil {
		return nil, err
	}
	txnID, err := p.checkTxnID(req.GetTxnId())
	if err != nil {
		return nil, err
	}
	fp := fingerprint("delegated", secondary, payee, strconv.FormatInt(req.GetAmountPaise(), 10), req.GetNote())
	if err := p.n.Acquire(); err != nil {
		return nil, err
	}
	defer p.n.Release()
	var out *txnRecord
	err = p.n.Update(func(c *node.Ctx) error {
		var err error
		if out, err = repeatOf(c.Tx, txnID, fp); out != nil || err != nil {
			return err
		}
		v, err := getVPA(c.Tx, secondary)
		if err != nil {
			return err
		}
		if v == nil {
			return p.notRegistered("secondary", secondary)
		}
		l, err := findLink(c.Tx, sideSecondary, "", v.Vpa)
		if err != nil {
			return err
		}
		if l == nil {
			return status.Errorf(codes.FailedPrecondition, "%s has no LINKED UPI Circle link at PSP %s", v.Vpa, p.name)
		}
		r := &txnRecord{
			Id: txnID, Type: upiv1.Txn_PAY.String(), Role: roleSecondary, State: stateValAddSent,
			Status: upiv1.Resp_PENDING.String(), PayerVpa: l.Primary, PayerName: l.PrimaryName, PayeeVpa: payee,
			AmountPaise: req.GetAmountPaise(), Note: req.GetNote(), Fingerprint: fp,
			CircleLinkId: l.LinkId, SecondaryVpa: v.Vpa,
		}
		partial := l.Mode == upiv1.Delegate_PARTIAL.String()
		if code := p.limitsOf(l).Check(linkUses(l), req.GetAmountPaise(), c.Now()); code != "" && !partial {
			r.Status, r.ErrCode, r.Final, r.State = upiv1.Resp_FAILURE.String(), code, true, stateCompleted
			out = r
			return putTxn(c.Tx, r, c.Now())
		}
		if err := putTxn(c.Tx, r, c.Now()); err != nil {
			return err
		}
		out = r
		return p.lookUpPayee(c, r) // step 3, then ReqDelegateAuth (circle_valadd.go)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &upiv1.InitiateDelegatedPayResponse{Transaction: txnProto(out)}, nil
}

// respDelegateAuth (step 9, PSP(S)): a FAILURE ends the payment with its
// code, told to the secondary; a SUCCESS waits for the confirmation.
func (p *PSP) respDelegateAuth(c *node.Ctx, _ *node.Inbound, m *upiv1.RespDelegateAuth) error {
	r, err := getTxn(c.Tx, m.GetTxn().GetId())
	if err != nil {
		return err
	}
	if r == nil || r.SecondaryVpa == "" {
		return node.Refuse("RespDelegateAuth for txn %s, which is no delegated payment of PSP %s", m.GetTxn().GetId(), p.name)
	}
	if told(r) || isFinal(r) {
		return nil // the outcome is known already
	}
	if r.State == stateValAddSent {
		return node.Refuse("RespDelegateAuth for txn %s, whose ReqDelegateAuth PSP %s has not sent: the payee's look-up is under way", r.Id, p.name)
	}
	if m.GetResp().GetResult() == upiv1.Resp_SUCCESS {
		if primarySide(r) { // this PSP is PSP(P) too: its pay goes on in this record
			return nil
		}
		r.State = stateDelegateAuthOK
		return putTxn(c.Tx, r, c.Now())
	}
	if awaitingPrimary(r) { // PSP(P) too, parked: the switch ended it
		if err := c.CancelTimer(timerApproval + ":" + r.Id); err != nil {
			return err
		}
		if err := c.Tx.Delete(store.Pending, pendingKey(r.PayerVpa, r.Id)); err != nil {
			return err
		}
	}
	return p.endDelegated(c, r, m.GetResp().GetErrCode())
}

// endDelegated ends PSP(S)'s delegated payment r FAILURE with code before
// any pay began, and tells the secondary.
func (p *PSP) endDelegated(c *node.Ctx, r *txnRecord, code string) error {
	r.Status, r.ErrCode, r.Final, r.State = upiv1.Resp_FAILURE.String(), code, true, stateCompleted
	if err := putTxn(c.Tx, r, c.Now()); err != nil {
		return err
	}
	c.Notify(r.Id)
	return p.notifyStatus(c, r, r.SecondaryVpa, nil)
}

// delegateAuthRefused: the switch refused PSP(S)'s ReqDelegateAuth; the
// payment ends FAILURE U07.
func (p *PSP) delegateAuthRefused(c *node.Ctx, rf node.Refused) error {
	p.log.Warn("the switch refused a ReqDelegateAuth", "txn", rf.TxnID, "reason", rf.Reason)
	r, err := getTxn(c.Tx, rf.Msg.GetTxn().GetId())
	if err != nil || r == nil || r.SecondaryVpa == "" || isFinal(r) {
		return err
	}
	return p.endDelegated(c, r, upi.CodeRefused)
}

// reqDelegateAuth (steps 5–8, PSP(P)): check the link, the mandate, the
// UMN and the limits, then send the ReqPay under the mandate; a failed
// check answers RespDelegateAuth FAILURE with its code at once. A PARTIAL
// link's payment, or a FULL one's whose mandate is revoked or past its
// validity, waits for the primary's approval instead (circle_partial.go).
func (p *PSP) reqDelegateAuth(c *node.Ctx, _ *node.Inbound, m *upiv1.ReqDelegateAuth) error {
	txnID, d := m.GetTxn().GetId(), m.GetDelegate()
	own, err := getTxn(c.Tx, txnID)
	if err != nil {
		return err
	}
	if own != nil && !ownSecondarySide(own, d) {
		return node.Refuse("ReqDelegateAuth for txn %s, which PSP %s already has", txnID, p.name)
	}
	fail := func(code string) error {
		return c.Send(p.switchName, upiv1.SwitchService_RespDelegateAuth_FullMethodName, &upiv1.RespDelegateAuth{
			Txn:  cloneTxn(m.GetTxn()),
			Resp: &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_FAILURE, ErrCode: code},
		})
	}
	primary, secondary, amount := ids.NormalizeVPA(d.GetPrimaryAddr()), ids.NormalizeVPA(d.GetSecondaryAddr()), m.GetPayer().GetAmountPaise()
	l, err := findLink(c.Tx, sidePrimary, primary, secondary)
	if err != nil {
		return err
	}
	if l == nil || l.Mode != d.GetSubType().String() {
		return fail(upi.CodeNoLink)
	}
	if d.GetSubType() == upiv1.Delegate_PARTIAL {
		return p.parkDelegatedPay(c, m, l, own)
	}
	md, err := getMandate(c.Tx, mandatePayer, d.GetUmn())
	if err != nil {
		return err
	}
	switch code := mandateCheck(md, l, d.GetUmn(), c.Now()); code {
	case "":
	case upi.CodeMandateRevoked, upi.CodeMandateExpired:
		// The seed: a mandate not active sends the payment to the primary,
		// as under partial delegation, with no Circle limit of PSP(P)'s.
		return p.parkDelegatedPay(c, m, l, own)
	default:
		return fail(code)
	}
	if code := p.limitsOf(l).Check(linkUses(l), amount, c.Now()); code != "" {
		return fail(code)
	}
	v, err := getVPA(c.Tx, primary)
	if err != nil {
		return err
	}
	if v == nil {
		return fail(upi.CodeAddrResolution)
	}
	r := &txnRecord{
		Id: txnID, Type: upiv1.Txn_PAY.String(), Role: rolePayer, State: stateReqSent, Status: upiv1.Resp_PENDING.String(),
		PayerVpa: v.Vpa, PayerName: v.Name, PayeeVpa: ids.NormalizeVPA(m.GetPayee().GetAddr()), AmountPaise: amount,
		Note: m.GetTxn().GetNote(), PayerHere: true, PayerInitiator: true, CircleLinkId: l.LinkId,
		AuthReqMsgId: m.GetHead().GetMsgId(),
	}
	if err := putTxn(c.Tx, withSecondarySide(r, own), c.Now()); err != nil {
		return err
	}
	return c.Send(p.switchName, upiv1.SwitchService_ReqPay_FullMethodName, &upiv1.ReqPay{
		Txn: &upiv1.Txn{
			Id: txnID, Type: upiv1.Txn_PAY, Note: m.GetTxn().GetNote(), Purpose: circlePurpose,
			InitiationMode: "00", Ts: timestamppb.New(c.Now()),
		},
		Payer:   vpaParty(v, amount),
		Payee:   &upiv1.Party{Addr: m.GetPayee().GetAddr()},
		Mandate: &upiv1.Mandate{Umn: md.Umn, Signature: md.Signature},
	})
}

// mandateCheck is PSP(P)'s check of the mandate md of link l for a
// delegated payment naming umn at now: QJ for a UMN not the link's (not
// one this PSP issued for it), QC for a mandate revoked or not ACTIVE, QD
// outside its validity.
func mandateCheck(md *mandateRecord, l *linkRecord, umn string, now time.Time) string {
	switch {
	case md == nil || umn != l.Umn:
		return upi.CodeCircleUMN
	case md.Status != MandateActive || md.Signature == "":
		return upi.CodeMandateRevoked
	}
	if !upi.InMandateValidity(md.ValidityStart, md.ValidityEnd, now) {
		return upi.CodeMandateExpired
	}
	return ""
}

// reqPayAcked (step 8, PSP(P)): the switch took the ReqPay of a delegated
// payment, so RespDelegateAuth SUCCESS goes to PSP(S).
func (p *PSP) reqPayAcked(c *node.Ctx, a node.Acked) error {
	return p.answerDelegateAuth(c, a.Msg.GetTxn().GetId(), upiv1.Resp_SUCCESS, "")
}

// answerDelegateAuth sends RespDelegateAuth for PSP(P)'s delegated payment
// txnID, if it is one.
func (p *PSP) answerDelegateAuth(c *node.Ctx, txnID string, result upiv1.Resp_Result, code string) error {
	r, err := getTxn(c.Tx, txnID)
	if err != nil || !primarySide(r) {
		return err
	}
	return c.Send(p.switchName, upiv1.SwitchService_RespDelegateAuth_FullMethodName, &upiv1.RespDelegateAuth{
		Txn:  &upiv1.Txn{Id: txnID, Type: upiv1.Txn_PAY, Purpose: circlePurpose},
		Resp: &upiv1.Resp{ReqMsgId: r.AuthReqMsgId, Result: result, ErrCode: code},
	})
}

// countDelegated keeps the count of r's link, when r is a delegated
// payment, in step with r's status: a SUCCESS or DEEMED debit is counted,
// a FAILURE is not (a reversal after a DEEMED gives it back). Run it in the
// step that changes r's status.
func (p *PSP) countDelegated(c *node.Ctx, r *txnRecord) error {
	if r.CircleLinkId == "" {
		return nil
	}
	var sides []string
	if primarySide(r) {
		sides = append(sides, sidePrimary)
	}
	if r.SecondaryVpa != "" {
		sides = append(sides, sideSecondary)
	}
	for _, side := range sides {
		if err := p.countOn(c, side, r); err != nil {
			return err
		}
	}
	return nil
}

// countOn is countDelegated for the link of r on side.
func (p *PSP) countOn(c *node.Ctx, side string, r *txnRecord) error {
	l, err := getLink(c.Tx, side, r.CircleLinkId)
	if err != nil || l == nil {
		return err
	}
	counts := r.Status == upiv1.Resp_SUCCESS.String() || r.Status == upiv1.Resp_DEEMED.String()
	now := c.Now()
	kept, had := l.Debits[:0], false
	for _, d := range l.Debits {
		switch {
		case d.TxnId == r.Id:
			had = true
			if counts {
				kept = append(kept, d)
			}
		case now.Sub(store.FromNanos(d.At)) < keepDebits:
			kept = append(kept, d)
		}
	}
	if counts && !had {
		kept = append(kept, &recordsv1.CircleDebit{TxnId: r.Id, AmountPaise: r.AmountPaise, At: store.Nanos(now)})
	}
	l.Debits = kept
	l.UsedPaise = p.limitsOf(l).Used(linkUses(l), now)
	return putLink(c, l)
}

// usedNow is l's use in the month of now (its count; the stored
// used_paise is as of the last count).
func (p *PSP) usedNow(l *linkRecord, now time.Time) int64 {
	if len(l.Debits) == 0 {
		return l.UsedPaise
	}
	return p.limitsOf(l).Used(linkUses(l), now)
}

// primarySide reports whether r is PSP(P)'s record of a delegated payment
// (it answers the ReqDelegateAuth); PSP(S)'s record has secondary_vpa set,
// and one PSP that is both keeps both sides in one record.
func primarySide(r *txnRecord) bool {
	return r != nil && r.CircleLinkId != "" && r.PayerInitiator && r.AuthReqMsgId != ""
}

// ownSecondarySide reports whether own, the record PSP(P) finds under a
// ReqDelegateAuth's txn id, is this PSP's own PSP(S) record of that
// payment (the primary and the secondary are users of one PSP), which the
// PSP(P) side then joins.
func ownSecondarySide(own *txnRecord, d *upiv1.Delegate) bool {
	return own.SecondaryVpa != "" && !primarySide(own) && !isFinal(own) &&
		own.SecondaryVpa == ids.NormalizeVPA(d.GetSecondaryAddr()) && own.PayerVpa == ids.NormalizeVPA(d.GetPrimaryAddr())
}

// withSecondarySide is r, PSP(P)'s new record, joined with own, this
// PSP's PSP(S) record of the same payment (nil when PSP(S) is another
// node): one record, both sides' fields, PSP(P)'s state.
func withSecondarySide(r, own *txnRecord) *txnRecord {
	if own == nil {
		return r
	}
	r.SecondaryVpa, r.Fingerprint, r.Created = own.SecondaryVpa, own.Fingerprint, own.Created
	return r
}
