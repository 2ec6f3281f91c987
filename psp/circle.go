// UPI Circle links at a PSP (docs/FLOWS.md, UPI Circle): PSP(P), the
// primary's PSP, starts a link (ReqDelegateAdd, after the mandate for
// FULL) and hears its outcome (RespDelegateAdd); PSP(S), the secondary's,
// keeps the invite for the secondary's answer (or U69 at
// circle.invite_expiry) and takes the switch's decision
// (ReqTxnConfirmation DELEGATE). Each side keeps its own record, so one
// PSP may be both sides of a link.

package psp

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// linkRecord is one side's record of a link, in circle_links by
// linkKey(side, link_id).
type linkRecord = recordsv1.PspCircleLink

var circleLinks = store.NewTable[linkRecord](store.CircleLinks)

// The sides of a link a PSP keeps a record of.
const (
	sidePrimary   = "P"
	sideSecondary = "S"
)

func linkKey(side, linkID string) string { return side + "/" + linkID }

// The secondary's answers to an invite (linkRecord.answer).
const (
	answerAccepted = "ACCEPTED"
	answerExpired  = "EXPIRED"
	answerFailed   = "FAILED"
)

// circlePurpose is the txn.purpose of UPI Circle's messages.
const circlePurpose = "87"

// timerInvite is the secondary's invite expiry: "invite:<link_id>".
const timerInvite = "invite"

// circleHooks are the mandate's part of a FULL link: New sets them to the
// mandate flow's (circle_mandate.go over psp/mandate.go); tests may put
// their own in.
type circleHooks struct {
	// startMandate, if set, starts the mandate CREATE of a new FULL link
	// (ReqMandate with link.link_id as txn id; link.mandate_cred the
	// primary's PIN block), in the step that stores the link; the mandate
	// flow calls mandateDone with its outcome. Nil: FULL links are refused
	// (codes.Unimplemented).
	startMandate func(c *node.Ctx, link *linkRecord) error
	// revokeLink, if set, revokes the mandate of a FULL link that
	// failed or was removed (ReqMandate REVOKE with umn).
	revokeLink func(c *node.Ctx, linkID, umn string) error
	// updateLink, if set, starts the mandate UPDATE of the LINKED FULL
	// link l to l.pending_limit_paise under l.update_txn_id with the
	// primary's PIN block cred; the mandate flow calls updateMandateDone.
	// Nil: updates are refused (codes.Unimplemented).
	updateLink func(c *node.Ctx, l *linkRecord, cred *upiv1.Cred) error
}

func statusName(s upiv1.CircleLink_Status) string { return s.String() }

var (
	linkPending  = statusName(upiv1.CircleLink_LINK_PENDING)
	linkLinked   = statusName(upiv1.CircleLink_LINKED)
	linkDeclined = statusName(upiv1.CircleLink_DECLINED)
	linkExpired  = statusName(upiv1.CircleLink_EXPIRED)
	linkDelinked = statusName(upiv1.CircleLink_DELINKED)
	linkFailed   = statusName(upiv1.CircleLink_FAILED)
)

func (p *PSP) circleRoutes() []node.Route {
	return []node.Route{
		{Method: upiv1.PspService_ReqDelegateAdd_FullMethodName, From: fromSwitch,
			Validate: node.Validates(validateDelegate), Handle: node.Handles(p.reqDelegateAdd)},
		{Method: upiv1.PspService_RespDelegateAdd_FullMethodName, From: fromSwitch,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.RespDelegateAdd) error {
				if m.GetDelegate().GetType() == upiv1.Delegate_TYPE_UNSPECIFIED {
					return node.Refuse("%s needs delegate.type", in.API)
				}
				return needResult(in.API, m.GetResp())
			}),
			Handle: node.Handles(p.respDelegateAdd)},
		{Method: upiv1.SwitchService_ReqDelegateAdd_FullMethodName, Refused: p.delegateAddRefused},
	}
}

func (p *PSP) circleTimers() []node.TimerKind {
	return []node.TimerKind{{Prefix: timerInvite, Fire: func(c *node.Ctx, t node.Timer) error {
		return p.inviteExpired(c, string(t.Payload))
	}}, {Prefix: timerApproval, Fire: func(c *node.Ctx, t node.Timer) error {
		return p.approvalExpired(c, string(t.Payload))
	}}}
}

func validateDelegate(in *node.Inbound, m *upiv1.ReqDelegateAdd) error {
	d := m.GetDelegate()
	if d.GetType() == upiv1.Delegate_TYPE_UNSPECIFIED || d.GetSubType() == upiv1.Delegate_SUB_TYPE_UNSPECIFIED {
		return node.Refuse("%s needs delegate.type and delegate.sub_type", in.API)
	}
	for _, a := range []string{d.GetPrimaryAddr(), d.GetSecondaryAddr()} {
		if err := ids.ValidateVPA(a); err != nil {
			return node.Refuse("%s: delegate: %v", in.API, err)
		}
	}
	if d.GetType() != upiv1.Delegate_ADD && m.GetTxn().GetOrgTxnId() == "" {
		return node.Refuse("%s %s needs txn.org_txn_id, the link id", in.API, d.GetType())
	}
	return nil
}

func getLink(tx *store.Tx, side, linkID string) (*linkRecord, error) {
	l, ok, err := circleLinks.Get(tx, linkKey(side, linkID))
	if err != nil || !ok {
		return nil, err
	}
	return l, nil
}

func putLink(c *node.Ctx, l *linkRecord) error {
	l.Updated = store.Nanos(c.Now())
	return circleLinks.Put(c.Tx, linkKey(l.Side, l.LinkId), l)
}

// linkOf is the link id a delegate message is about.
func linkOf(t *upiv1.Txn, d *upiv1.Delegate) string {
	if d.GetType() == upiv1.Delegate_ADD {
		return t.GetId()
	}
	return t.GetOrgTxnId()
}

// delegateOf is the delegate block of l for a request of type t.
func (p *PSP) delegateOf(l *linkRecord, t upiv1.Delegate_Type) *upiv1.Delegate {
	d := &upiv1.Delegate{
		Type: t, SubType: upiv1.Delegate_SubType(upiv1.Delegate_SubType_value[l.Mode]), Umn: l.Umn,
		PrimaryAddr: l.Primary, SecondaryAddr: l.Secondary,
	}
	if d.SubType == upiv1.Delegate_FULL && t != upiv1.Delegate_REMOVE {
		d.PerTxnLimitPaise, d.MonthlyLimitPaise = p.cfg.Network.Circle.FullPerTxn, l.LimitPaise
	}
	return d
}

// sendDelegateAdd sends l's ReqDelegateAdd ADD (step 11).
func (p *PSP) sendDelegateAdd(c *node.Ctx, l *linkRecord) error {
	return c.Send(p.switchName, upiv1.SwitchService_ReqDelegateAdd_FullMethodName, &upiv1.ReqDelegateAdd{
		Txn:      &upiv1.Txn{Id: l.LinkId, Type: upiv1.Txn_DELEGATE, Purpose: circlePurpose, Ts: timestamppb.New(c.Now())},
		Delegate: p.delegateOf(l, upiv1.Delegate_ADD),
		Payer:    &upiv1.Party{Addr: l.Primary, Name: l.PrimaryName},
		Payee:    &upiv1.Party{Addr: l.Secondary},
	})
}

// answerDelegate sends RespDelegateAdd for the request (txn, d, msg id).
func (p *PSP) answerDelegate(c *node.Ctx, txn *upiv1.Txn, d *upiv1.Delegate, reqMsgID string, result upiv1.Resp_Result, code string) error {
	return c.Send(p.switchName, upiv1.SwitchService_RespDelegateAdd_FullMethodName, &upiv1.RespDelegateAdd{
		Txn: txn, Delegate: d, Resp: &upiv1.Resp{ReqMsgId: reqMsgID, Result: result, ErrCode: code},
	})
}

// notifyLink tells user's app that l changed (kind DELEGATE_REQUEST: an
// invite when PENDING, else an outcome); the app asks QueryCircleLink.
func (p *PSP) notifyLink(c *node.Ctx, l *linkRecord, user string) error {
	result := upiv1.Resp_PENDING
	switch l.Status {
	case linkLinked, linkDelinked:
		result = upiv1.Resp_SUCCESS
	case linkDeclined, linkExpired, linkFailed:
		result = upiv1.Resp_FAILURE
	}
	return p.notifyApp(c, &upiv1.Notification{
		Txn:      &upiv1.Txn{Id: l.LinkId, Type: upiv1.Txn_DELEGATE, Purpose: circlePurpose},
		Kind:     upiv1.Notification_DELEGATE_REQUEST,
		UserAddr: user,
		Payer:    &upiv1.Party{Addr: l.Primary, Name: l.PrimaryName},
		Payee:    &upiv1.Party{Addr: l.Secondary, Name: l.SecondaryName},
		Resp:     &upiv1.Resp{Result: result, ErrCode: l.ErrCode},
		Delegate: p.delegateOf(l, upiv1.Delegate_ADD),
	})
}

// reqDelegateAdd is a request the switch forwarded: an invite at PSP(S)
// (ADD), an update, or a remove by the other side.
func (p *PSP) reqDelegateAdd(c *node.Ctx, _ *node.Inbound, m *upiv1.ReqDelegateAdd) error {
	t, d := m.GetTxn(), m.GetDelegate()
	linkID, msgID := linkOf(t, d), m.GetHead().GetMsgId()
	switch d.GetType() {
	case upiv1.Delegate_ADD:
		return p.invite(c, m)
	case upiv1.Delegate_UPDATE:
		l, err := getLink(c.Tx, sideSecondary, linkID)
		if err != nil {
			return err
		}
		if l == nil || l.Status != linkLinked {
			return p.answerDelegate(c, cloneTxn(t), d, msgID, upiv1.Resp_FAILURE, upi.CodeNoLink)
		}
		if d.GetUmn() != "" {
			l.Umn = d.GetUmn()
		}
		if v := d.GetMonthlyLimitPaise(); v > 0 {
			l.LimitPaise = v
		}
		l.RecvTxnId = t.GetId()
		if err := putLink(c, l); err != nil {
			return err
		}
		return p.answerDelegate(c, cloneTxn(t), d, msgID, upiv1.Resp_SUCCESS, "")
	default: // REMOVE: never declined
		l, err := p.removedSide(c.Tx, linkID, t.GetId())
		if err != nil {
			return err
		}
		if l != nil && l.Status == linkLinked {
			l.Status, l.RecvTxnId = linkDelinked, t.GetId()
			if err := putLink(c, l); err != nil {
				return err
			}
			if l.Side == sidePrimary && l.Mode == upiv1.Delegate_FULL.String() && p.revokeLink != nil {
				if err := p.revokeLink(c, l.LinkId, l.Umn); err != nil {
					return err
				}
			}
			user := l.Secondary
			if l.Side == sidePrimary {
				user = l.Primary
			}
			if err := p.notifyLink(c, l, user); err != nil {
				return err
			}
		}
		return p.answerDelegate(c, cloneTxn(t), d, msgID, upiv1.Resp_SUCCESS, "")
	}
}

// removedSide is the record a REMOVE txnID of linkID is for: the side
// that did not send it.
func (p *PSP) removedSide(tx *store.Tx, linkID, txnID string) (*linkRecord, error) {
	for _, side := range []string{sideSecondary, sidePrimary} {
		l, err := getLink(tx, side, linkID)
		if err != nil {
			return nil, err
		}
		if l != nil && l.SentTxnId != txnID {
			return l, nil
		}
	}
	return nil, nil
}

// invite is step 12 at PSP(S): keep the invite for the secondary and tell
// their app, or answer U29 for a secondary this PSP does not have.
func (p *PSP) invite(c *node.Ctx, m *upiv1.ReqDelegateAdd) error {
	t, d := m.GetTxn(), m.GetDelegate()
	if c.Tx.Has(store.CircleLinks, []byte(linkKey(sideSecondary, t.GetId()))) {
		return nil // asked again: the first is being answered
	}
	now := c.Now()
	l := &linkRecord{
		LinkId: t.GetId(), Side: sideSecondary, Primary: ids.NormalizeVPA(d.GetPrimaryAddr()),
		Secondary: ids.NormalizeVPA(d.GetSecondaryAddr()), Mode: d.GetSubType().String(), Umn: d.GetUmn(),
		LimitPaise: d.GetMonthlyLimitPaise(), Created: store.Nanos(now), InviteMsgId: m.GetHead().GetMsgId(),
		RecvTxnId: t.GetId(), PrimaryName: m.GetPayer().GetName(),
	}
	v, err := getVPA(c.Tx, l.Secondary)
	if err != nil {
		return err
	}
	if v == nil {
		l.Status, l.ErrCode, l.Answer = linkFailed, upi.CodeAddrResolution, answerFailed
		if err := putLink(c, l); err != nil {
			return err
		}
		return p.answerDelegate(c, cloneTxn(t), d, l.InviteMsgId, upiv1.Resp_FAILURE, upi.CodeAddrResolution)
	}
	l.SecondaryName, l.Status = v.Name, linkPending
	expires := now.Add(p.cfg.Network.Circle.InviteExpiry)
	l.Expires = store.Nanos(expires)
	if err := c.SetTimer(timerInvite+":"+l.LinkId, expires, []byte(l.LinkId)); err != nil {
		return err
	}
	if err := putLink(c, l); err != nil {
		return err
	}
	return p.notifyLink(c, l, l.Secondary)
}

// inviteExpired ends an invite the secondary did not answer: FAILURE U69.
func (p *PSP) inviteExpired(c *node.Ctx, linkID string) error {
	l, err := getLink(c.Tx, sideSecondary, linkID)
	if err != nil || l == nil || l.Status != linkPending || l.Answer != "" {
		return err
	}
	l.Status, l.ErrCode, l.Answer = linkExpired, upi.CodeExpired, answerExpired
	if err := putLink(c, l); err != nil {
		return err
	}
	if err := p.answerInvite(c, l, upiv1.Resp_FAILURE, upi.CodeExpired); err != nil {
		return err
	}
	return p.notifyLink(c, l, l.Secondary)
}

// answerInvite sends the secondary's answer to l's invite (step 15).
func (p *PSP) answerInvite(c *node.Ctx, l *linkRecord, result upiv1.Resp_Result, code string) error {
	txn := &upiv1.Txn{Id: l.LinkId, Type: upiv1.Txn_DELEGATE, Purpose: circlePurpose}
	return p.answerDelegate(c, txn, p.delegateOf(l, upiv1.Delegate_ADD), l.InviteMsgId, result, code)
}

// addStatus is a link's status, as this node records it, after its ADD
// was decided.
func addStatus(ok bool, code string) string { return upi.LinkStatusAfterAdd(ok, code).String() }

// respDelegateAdd is the switch's decision on a request this PSP sent:
// the link's outcome at PSP(P) (ADD, step 16), or a remove or update
// done.
func (p *PSP) respDelegateAdd(c *node.Ctx, _ *node.Inbound, m *upiv1.RespDelegateAdd) error {
	t, d, resp := m.GetTxn(), m.GetDelegate(), m.GetResp()
	ok := resp.GetResult() == upiv1.Resp_SUCCESS
	linkID := linkOf(t, d)
	if d.GetType() == upiv1.Delegate_ADD {
		l, err := getLink(c.Tx, sidePrimary, linkID)
		if err != nil || l == nil || l.Status != linkPending {
			return err
		}
		return p.endAdd(c, l, ok, resp.GetErrCode())
	}
	for _, side := range []string{sidePrimary, sideSecondary} {
		l, err := getLink(c.Tx, side, linkID)
		if err != nil {
			return err
		}
		if l == nil || l.SentTxnId != t.GetId() {
			continue
		}
		l.SentTxnId = ""
		if d.GetType() == upiv1.Delegate_UPDATE {
			l.UpdateTxnId, l.PendingLimitPaise = "", 0
		}
		if !ok {
			l.ErrCode = resp.GetErrCode()
		} else if d.GetType() == upiv1.Delegate_REMOVE && l.Status == linkLinked {
			l.Status, l.ErrCode = linkDelinked, ""
			if side == sidePrimary && l.Mode == upiv1.Delegate_FULL.String() && p.revokeLink != nil {
				if err := p.revokeLink(c, l.LinkId, l.Umn); err != nil {
					return err
				}
			}
		} else if d.GetType() == upiv1.Delegate_UPDATE && d.GetMonthlyLimitPaise() > 0 {
			l.LimitPaise, l.ErrCode = d.GetMonthlyLimitPaise(), ""
		}
		if err := putLink(c, l); err != nil {
			return err
		}
		user := l.Primary
		if side == sideSecondary {
			user = l.Secondary
		}
		return p.notifyLink(c, l, user)
	}
	return nil
}

// endAdd ends PSP(P)'s LINK_PENDING link l: LINKED, or DECLINED, EXPIRED or
// FAILED with code (and the mandate of a FULL link revoked).
func (p *PSP) endAdd(c *node.Ctx, l *linkRecord, ok bool, code string) error {
	l.Status = addStatus(ok, code)
	l.MandateCred = nil
	if ok {
		l.Linked, l.ErrCode = store.Nanos(c.Now()), ""
	} else {
		l.ErrCode = code
		if l.Mode == upiv1.Delegate_FULL.String() && l.Umn != "" && p.revokeLink != nil {
			if err := p.revokeLink(c, l.LinkId, l.Umn); err != nil {
				return err
			}
		}
	}
	if err := putLink(c, l); err != nil {
		return err
	}
	return p.notifyLink(c, l, l.Primary)
}

// delegateAddRefused: the switch refused a ReqDelegateAdd in its Ack. An
// ADD ends the link FAILED U07; a remove or update is as if never sent.
func (p *PSP) delegateAddRefused(c *node.Ctx, r node.Refused) error {
	m, ok := r.Msg.(*upiv1.ReqDelegateAdd)
	if !ok {
		return nil
	}
	p.log.Warn("ReqDelegateAdd refused by the switch", "txn", r.TxnID, "reason", r.Reason)
	if m.GetDelegate().GetType() == upiv1.Delegate_ADD {
		l, err := getLink(c.Tx, sidePrimary, m.GetTxn().GetId())
		if err != nil || l == nil || l.Status != linkPending {
			return err
		}
		return p.endAdd(c, l, false, upi.CodeRefused)
	}
	for _, side := range []string{sidePrimary, sideSecondary} {
		l, err := getLink(c.Tx, side, m.GetTxn().GetOrgTxnId())
		if err != nil {
			return err
		}
		if l != nil && l.SentTxnId == m.GetTxn().GetId() {
			l.SentTxnId, l.ErrCode = "", upi.CodeRefused
			if l.UpdateTxnId == m.GetTxn().GetId() {
				l.UpdateTxnId, l.PendingLimitPaise = "", 0
			}
			return putLink(c, l)
		}
	}
	return nil
}

// delegateConfirmation is step 17: the switch's decision of a request it
// forwarded here. PSP(S) drops the linkage of an ADD decided FAILURE (a
// late accept the switch had already decided U69).
func (p *PSP) delegateConfirmation(c *node.Ctx, m *upiv1.ReqTxnConfirmation) error {
	t, resp := m.GetTxn(), m.GetResp()
	linkID := t.GetOrgTxnId()
	if linkID == "" {
		linkID = t.GetId()
	}
	for _, side := range []string{sideSecondary, sidePrimary} {
		l, err := getLink(c.Tx, side, linkID)
		if err != nil {
			return err
		}
		if l == nil || l.RecvTxnId != t.GetId() {
			continue
		}
		if t.GetId() == l.LinkId && side == sideSecondary && !l.Confirmed {
			l.Confirmed = true
			if resp.GetResult() == upiv1.Resp_FAILURE && (l.Status == linkLinked || l.Status == linkPending) {
				l.Status, l.ErrCode = addStatus(false, resp.GetErrCode()), resp.GetErrCode()
				if l.Answer == "" {
					l.Answer = answerExpired
				}
				if err := c.CancelTimer(timerInvite + ":" + l.LinkId); err != nil {
					return err
				}
				if err := p.notifyLink(c, l, l.Secondary); err != nil {
					return err
				}
			}
			if err := putLink(c, l); err != nil {
				return err
			}
		}
		break
	}
	return c.Send(p.switchName, upiv1.SwitchService_RespTxnConfirmation_FullMethodName, &upiv1.RespTxnConfirmation{
		Txn:  cloneTxn(t),
		Resp: &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
	})
}

// mandateDone is the mandate flow's outcome for the FULL link linkID
// (link step 8): SUCCESS sends the ReqDelegateAdd ADD FULL with umn;
// FAILURE ends the link FAILED with the mandate's code, and nothing more
// is sent. It runs in the step that takes the RespMandate.
func (p *PSP) mandateDone(c *node.Ctx, linkID, umn string, resp *upiv1.Resp) error {
	l, err := getLink(c.Tx, sidePrimary, linkID)
	if err != nil {
		return err
	}
	if l == nil {
		return fmt.Errorf("mandate of link %s: PSP %s has no such link", linkID, p.name)
	}
	if l.Status != linkPending {
		return nil // ended meanwhile; the mandate flow revokes what it must
	}
	l.MandateCred = nil
	if resp.GetResult() != upiv1.Resp_SUCCESS {
		code := resp.GetErrCode()
		if code == "" {
			code = upi.CodeRefused
		}
		l.Status, l.ErrCode = linkFailed, code
		if err := putLink(c, l); err != nil {
			return err
		}
		return p.notifyLink(c, l, l.Primary)
	}
	l.Umn = umn
	if err := p.sendDelegateAdd(c, l); err != nil {
		return err
	}
	return putLink(c, l)
}

// updateMandateDone is the outcome of the mandate UPDATE txnID of PSP(P)'s
// FULL link l (its update_txn_id): SUCCESS sends ReqDelegateAdd UPDATE
// with the new monthly limit under the same txn id (steps 11–17; the
// limit changes when the switch answers SUCCESS); FAILURE leaves the link
// as it was, its err_code the mandate's. A link removed meanwhile has its
// mandate revoked now (the revoke waited for the update). It runs in the
// step that takes the RespMandate.
func (p *PSP) updateMandateDone(c *node.Ctx, l *linkRecord, resp *upiv1.Resp) error {
	if l.Status != linkLinked {
		l.UpdateTxnId, l.PendingLimitPaise = "", 0
		if err := putLink(c, l); err != nil {
			return err
		}
		if l.Status == linkDelinked && p.revokeLink != nil {
			return p.revokeLink(c, l.LinkId, l.Umn)
		}
		return nil
	}
	if resp.GetResult() != upiv1.Resp_SUCCESS {
		code := resp.GetErrCode()
		if code == "" {
			code = upi.CodeRefused
		}
		l.UpdateTxnId, l.PendingLimitPaise, l.ErrCode = "", 0, code
		if err := putLink(c, l); err != nil {
			return err
		}
		return p.notifyLink(c, l, l.Primary)
	}
	d := p.delegateOf(l, upiv1.Delegate_UPDATE)
	d.MonthlyLimitPaise = l.PendingLimitPaise
	l.SentTxnId = l.UpdateTxnId
	if err := c.Send(p.switchName, upiv1.SwitchService_ReqDelegateAdd_FullMethodName, &upiv1.ReqDelegateAdd{
		Txn: &upiv1.Txn{Id: l.UpdateTxnId, Type: upiv1.Txn_DELEGATE, OrgTxnId: l.LinkId, Purpose: circlePurpose,
			Ts: timestamppb.New(c.Now())},
		Delegate: d,
		Payer:    &upiv1.Party{Addr: l.Primary, Name: l.PrimaryName},
		Payee:    &upiv1.Party{Addr: l.Secondary},
	}); err != nil {
		return err
	}
	return putLink(c, l)
}

// linkProto is l as the app API shows it.
func (p *PSP) linkProto(l *linkRecord) *upiv1.CircleLink {
	used := p.usedNow(l, p.n.Now())
	out := &upiv1.CircleLink{
		LinkId: l.LinkId, Status: upiv1.CircleLink_Status(upiv1.CircleLink_Status_value[l.Status]),
		Mode:       upiv1.Delegate_SubType(upiv1.Delegate_SubType_value[l.Mode]),
		PrimaryVpa: l.Primary, SecondaryVpa: l.Secondary, Umn: l.Umn, LimitPaise: l.LimitPaise,
		UsedPaise: used, ErrCode: l.ErrCode, PendingLimitPaise: l.PendingLimitPaise, UpdateTxnId: l.UpdateTxnId,
	}
	if l.LimitPaise > 0 {
		out.RemainingPaise = max(l.LimitPaise-used, 0)
	}
	for _, ts := range []struct {
		ns  int64
		set **timestamppb.Timestamp
	}{{l.Created, &out.Created}, {l.Linked, &out.Linked}} {
		if ts.ns != 0 {
			*ts.set = timestamppb.New(store.FromNanos(ts.ns))
		}
	}
	if l.Expires != 0 && l.Status == linkPending {
		out.Expires = timestamppb.New(store.FromNanos(l.Expires))
	}
	return out
}

// CreateCircleLink implements PspAppService: the primary, a user of this
// PSP, links secondary_vpa. PARTIAL sends ReqDelegateAdd at once; FULL
// starts with the mandate. Answers LINK_PENDING.
func (p *PSP) CreateCircleLink(_ context.Context, req *upiv1.PspAppServiceCreateCircleLinkRequest) (*upiv1.PspAppServiceCreateCircleLinkResponse, error) {
	primary, err := checkVPA("primary_vpa", req.GetPrimaryVpa())
	if err != nil {
		return nil, err
	}
	secondary, err := checkVPA("secondary_vpa", req.GetSecondaryVpa())
	if err != nil {
		return nil, err
	}
	if primary == secondary {
		return nil, invalid("secondary_vpa %s is the primary: a link needs two users", secondary)
	}
	limit := req.GetLimitPaise()
	switch req.GetMode() {
	case upiv1.Delegate_PARTIAL:
		if limit != 0 {
			return nil, invalid("limit_paise: a PARTIAL link has no limit (the primary approves every payment)")
		}
	case upiv1.Delegate_FULL:
		if p.startMandate == nil {
			return nil, status.Error(codes.Unimplemented, "full delegation needs the mandate flow, not built yet")
		}
		if limit == 0 {
			limit = p.cfg.Network.Circle.FullMonthly
		}
		if limit < 0 || limit > p.cfg.Network.Circle.FullMonthly {
			return nil, invalid("limit_paise %d is out of range 1..%d (circle.full.monthly_limit)", limit, p.cfg.Network.Circle.FullMonthly)
		}
		if err := checkCred(req.GetCred()); err != nil {
			return nil, err
		}
	default:
		return nil, invalid("mode must be FULL or PARTIAL, not %s", req.GetMode())
	}
	linkID, err := p.checkTxnID(req.GetLinkId())
	if err != nil {
		return nil, err
	}
	if err := p.n.Acquire(); err != nil {
		return nil, err
	}
	defer p.n.Release()
	var out *linkRecord
	err = p.n.Update(func(c *node.Ctx) error {
		out = nil
		v, err := getVPA(c.Tx, primary)
		if err != nil {
			return err
		}
		if v == nil {
			return status.Errorf(codes.NotFound, "primary %s is not a user of PSP %s", primary, p.name)
		}
		if old, err := getLink(c.Tx, sidePrimary, linkID); err != nil {
			return err
		} else if old != nil {
			if old.Primary != primary || old.Secondary != secondary || old.Mode != req.GetMode().String() {
				return status.Errorf(codes.AlreadyExists, "link %s exists with other parties or mode", linkID)
			}
			out = old
			return nil
		}
		l := &linkRecord{
			LinkId: linkID, Side: sidePrimary, Primary: primary, Secondary: secondary, Mode: req.GetMode().String(),
			Status: linkPending, LimitPaise: limit, Created: store.Nanos(c.Now()), PrimaryName: v.Name,
		}
		if req.GetMode() == upiv1.Delegate_FULL {
			if l.MandateCred, err = proto.Marshal(req.GetCred()); err != nil {
				return err
			}
			if err := p.startMandate(c, l); err != nil {
				return err
			}
		} else if err := p.sendDelegateAdd(c, l); err != nil {
			return err
		}
		if err := putLink(c, l); err != nil {
			return err
		}
		out = l
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &upiv1.PspAppServiceCreateCircleLinkResponse{Link: p.linkProto(out)}, nil
}

// RespondCircleLink implements PspAppService: the secondary accepts
// (RespDelegateAdd SUCCESS; PSP(S) keeps the linkage) or declines
// (FAILURE ZA) an invite, once.
func (p *PSP) RespondCircleLink(_ context.Context, req *upiv1.RespondCircleLinkRequest) (*upiv1.RespondCircleLinkResponse, error) {
	linkID := req.GetLinkId()
	if linkID == "" {
		return nil, invalid("link_id is required")
	}
	if err := p.n.Acquire(); err != nil {
		return nil, err
	}
	defer p.n.Release()
	var out *linkRecord
	err := p.n.Update(func(c *node.Ctx) error {
		out = nil
		l, err := getLink(c.Tx, sideSecondary, linkID)
		if err != nil {
			return err
		}
		if l == nil {
			return status.Errorf(codes.NotFound, "no invite %s for a user of PSP %s", linkID, p.name)
		}
		if l.Status != linkPending || l.Answer != "" {
			return status.Errorf(codes.FailedPrecondition, "invite %s is no longer waiting: the link is %s", linkID, l.Status)
		}
		result, code := upiv1.Resp_SUCCESS, ""
		if req.GetAccept() {
			l.Answer, l.Status, l.Linked = answerAccepted, linkLinked, store.Nanos(c.Now())
		} else {
			result, code = upiv1.Resp_FAILURE, upi.CodeDeclinedByPayer
			l.Answer, l.Status, l.ErrCode = linkDeclined, linkDeclined, code
		}
		if err := c.CancelTimer(timerInvite + ":" + linkID); err != nil {
			return err
		}
		if err := p.answerInvite(c, l, result, code); err != nil {
			return err
		}
		if err := putLink(c, l); err != nil {
			return err
		}
		out = l
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &upiv1.RespondCircleLinkResponse{Link: p.linkProto(out)}, nil
}

// RemoveCircleLink implements PspAppService: vpa, the primary or the
// secondary (a user of this PSP), removes a LINKED link: ReqDelegateAdd
// REMOVE, DELINKED once the switch answers.
func (p *PSP) RemoveCircleLink(_ context.Context, req *upiv1.PspAppServiceRemoveCircleLinkRequest) (*upiv1.PspAppServiceRemoveCircleLinkResponse, error) {
	linkID := req.GetLinkId()
	if linkID == "" {
		return nil, invalid("link_id is required")
	}
	vpa, err := checkVPA("vpa", req.GetVpa())
	if err != nil {
		return nil, err
	}
	if err := p.n.Acquire(); err != nil {
		return nil, err
	}
	defer p.n.Release()
	var out *linkRecord
	err = p.n.Update(func(c *node.Ctx) error {
		out = nil
		var l *linkRecord
		for _, side := range []string{sidePrimary, sideSecondary} {
			s, err := getLink(c.Tx, side, linkID)
			if err != nil {
				return err
			}
			if s != nil && (side == sidePrimary && s.Primary == vpa || side == sideSecondary && s.Secondary == vpa) {
				l = s
				break
			}
		}
		if l == nil {
			return status.Errorf(codes.NotFound, "no link %s of %s at PSP %s", linkID, vpa, p.name)
		}
		if l.Status != linkLinked {
			return status.Errorf(codes.FailedPrecondition, "link %s is %s, not LINKED", linkID, l.Status)
		}
		if l.UpdateTxnId != "" {
			return status.Errorf(codes.FailedPrecondition, "link %s has an update under way (txn %s): remove it once that is done", linkID, l.UpdateTxnId)
		}
		if l.SentTxnId == "" {
			l.SentTxnId = ids.NewTxnID(p.prefix)
			if err := c.Send(p.switchName, upiv1.SwitchService_ReqDelegateAdd_FullMethodName, &upiv1.ReqDelegateAdd{
				Txn: &upiv1.Txn{Id: l.SentTxnId, Type: upiv1.Txn_DELEGATE, OrgTxnId: l.LinkId, Purpose: circlePurpose,
					Ts: timestamppb.New(c.Now())},
				Delegate: p.delegateOf(l, upiv1.Delegate_REMOVE),
				Payer:    &upiv1.Party{Addr: l.Primary},
				Payee:    &upiv1.Party{Addr: l.Secondary},
			}); err != nil {
				return err
			}
			if err := putLink(c, l); err != nil {
				return err
			}
		}
		out = l
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &upiv1.PspAppServiceRemoveCircleLinkResponse{Link: p.linkProto(out)}, nil
}

// UpdateCircleLink implements PspAppService: the primary changes a LINKED
// FULL link's monthly limit. PSP(P) starts the mandate UPDATE (same UMN,
// the new amount, txn_id with org_txn_id the link id, the PIN block) and,
// on its SUCCESS, sends ReqDelegateAdd UPDATE (updateMandateDone). The
// link stays LINKED with its old limit meanwhile (pending_limit_paise the
// new one). A repeat of the update under way answers the link and sends
// nothing.
func (p *PSP) UpdateCircleLink(_ context.Context, req *upiv1.PspAppServiceUpdateCircleLinkRequest) (*upiv1.PspAppServiceUpdateCircleLinkResponse, error) {
	linkID := req.GetLinkId()
	if linkID == "" {
		return nil, invalid("link_id is required")
	}
	limit, most := req.GetLimitPaise(), p.cfg.Network.Circle.FullMonthly
	if limit < 1 || limit > most {
		return nil, invalid("limit_paise %d is out of range 1..%d (circle.full.monthly_limit)", limit, most)
	}
	if err := checkCred(req.GetCred()); err != nil {
		return nil, err
	}
	if req.GetTxnId() == "" {
		return nil, invalid("txn_id is required (the update's, which the PIN block is sealed for)")
	}
	txnID, err := p.checkTxnID(req.GetTxnId())
	if err != nil {
		return nil, err
	}
	if p.updateLink == nil {
		return nil, status.Error(codes.Unimplemented, "updating a full link needs the mandate flow")
	}
	if err := p.n.Acquire(); err != nil {
		return nil, err
	}
	defer p.n.Release()
	var out *linkRecord
	err = p.n.Update(func(c *node.Ctx) error {
		out = nil
		l, err := getLink(c.Tx, sidePrimary, linkID)
		if err != nil {
			return err
		}
		if l == nil {
			return status.Errorf(codes.NotFound, "no link %s of a primary at PSP %s", linkID, p.name)
		}
		if l.UpdateTxnId == txnID {
			out = l // a repeat
			return nil
		}
		switch {
		case l.Mode != upiv1.Delegate_FULL.String():
			return status.Errorf(codes.FailedPrecondition, "link %s is %s: a partial link has no limit", linkID, l.Mode)
		case l.Status != linkLinked:
			return status.Errorf(codes.FailedPrecondition, "link %s is %s, not LINKED", linkID, l.Status)
		case l.UpdateTxnId != "":
			return status.Errorf(codes.FailedPrecondition, "link %s has an update under way (txn %s)", linkID, l.UpdateTxnId)
		case l.SentTxnId != "":
			return status.Errorf(codes.FailedPrecondition, "link %s has a remove under way (txn %s)", linkID, l.SentTxnId)
		}
		l.UpdateTxnId, l.PendingLimitPaise = txnID, limit
		if err := p.updateLink(c, l, req.GetCred()); err != nil {
			return err
		}
		if err := putLink(c, l); err != nil {
			return err
		}
		out = l
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &upiv1.PspAppServiceUpdateCircleLinkResponse{Link: p.linkProto(out)}, nil
}

// QueryCircleLink implements PspAppService: the link as PSP(P) sees it
// here, else as PSP(S) does.
func (p *PSP) QueryCircleLink(_ context.Context, req *upiv1.QueryCircleLinkRequest) (*upiv1.QueryCircleLinkResponse, error) {
	var out *linkRecord
	err := p.n.View(func(tx *store.Tx) error {
		for _, side := range []string{sidePrimary, sideSecondary} {
			l, err := getLink(tx, side, req.GetLinkId())
			if err != nil || l != nil {
				out = l
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	if out == nil {
		return nil, status.Errorf(codes.NotFound, "link %s is not known at PSP %s", req.GetLinkId(), p.name)
	}
	return &upiv1.QueryCircleLinkResponse{Link: p.linkProto(out)}, nil
}

// ListCircleLinks implements PspAppService: vpa's links, as primary here
// or secondary here, oldest first.
func (p *PSP) ListCircleLinks(_ context.Context, req *upiv1.PspAppServiceListCircleLinksRequest) (*upiv1.PspAppServiceListCircleLinksResponse, error) {
	ls, err := p.listLinks(req.GetVpa(), func(l *linkRecord, vpa string) bool {
		return l.Side == sidePrimary && l.Primary == vpa || l.Side == sideSecondary && l.Secondary == vpa
	})
	return &upiv1.PspAppServiceListCircleLinksResponse{Links: ls}, err
}

// ListCircleInvites implements PspAppService: the invites waiting for
// vpa's answer.
func (p *PSP) ListCircleInvites(_ context.Context, req *upiv1.PspAppServiceListCircleInvitesRequest) (*upiv1.PspAppServiceListCircleInvitesResponse, error) {
	ls, err := p.listLinks(req.GetVpa(), func(l *linkRecord, vpa string) bool {
		return l.Side == sideSecondary && l.Secondary == vpa && l.Status == linkPending && l.Answer == ""
	})
	return &upiv1.PspAppServiceListCircleInvitesResponse{Links: ls}, err
}

func (p *PSP) listLinks(vpa string, keep func(*linkRecord, string) bool) ([]*upiv1.CircleLink, error) {
	vpa, err := checkVPA("vpa", vpa)
	if err != nil {
		return nil, err
	}
	var ls []*linkRecord
	err = p.n.View(func(tx *store.Tx) error {
		return circleLinks.Scan(tx, "", func(_ string, l *linkRecord) (bool, error) {
			if keep(l, vpa) {
				ls = append(ls, l)
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, storeErr(err)
	}
	slices.SortStableFunc(ls, func(a, b *linkRecord) int { return cmp.Compare(a.Created, b.Created) })
	out := []*upiv1.CircleLink{}
	for _, l := range ls {
		out = append(out, p.linkProto(l))
	}
	return out, nil
}
