package psp

import (
	"crypto/sha256"
	"encoding/hex"

	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
)

// A FULL link's mandate (docs/FLOWS.md, "Link, full delegation" steps
// 2–10 and 16): the link's steps in circle.go call these, and the mandate
// flow (mandate.go) tells linkMandateOutcome what the remitter said.

// startLinkMandate starts the mandate CREATE of the new FULL link l, in
// the step that stores l: the link id is the mandate's txn id, the
// secondary its payee, the link's limit its amount, and the PIN block
// the TPAP sealed for the link goes with the ReqMandate (the mandate's
// outbox entry keeps it until the switch acks; the link keeps none).
func (p *PSP) startLinkMandate(c *node.Ctx, l *linkRecord) error {
	cred := &upiv1.Cred{}
	if err := proto.Unmarshal(l.MandateCred, cred); err != nil {
		return err
	}
	l.MandateCred = nil
	umn, err := p.createMandate(c, MandateRequest{
		TxnID: l.LinkId, PayerVPA: l.Primary, PayeeVPA: l.Secondary, AmountPaise: l.LimitPaise, Cred: cred,
	})
	if err != nil {
		return err
	}
	l.Umn = umn
	return nil
}

// revokeLinkMandate revokes the mandate umn of the FULL link linkID (a
// link declined, expired or removed). Its txn id is made from the link's,
// so a step that runs again revokes under the same id.
//
// A mandate with an UPDATE under way is revoked once that ends
// (updateMandateDone): a mandate takes one change at a time. One no longer
// ACTIVE (revoked on its own) is left as it is.
func (p *PSP) revokeLinkMandate(c *node.Ctx, linkID, umn string) error {
	if r, err := getMandate(c.Tx, mandatePayer, umn); err != nil {
		return err
	} else if r != nil && (r.PendingTxnId != "" || r.Status != MandateActive) {
		// An UPDATE under way: revoked when it ends. A REVOKE under way,
		// or not ACTIVE (revoked on its own, `upisim mandate revoke`):
		// nothing more to revoke.
		return nil
	}
	h := sha256.Sum256([]byte("upisim circle revoke\x00" + linkID))
	return p.revokeMandate(c, p.prefix+hex.EncodeToString(h[:16]), linkID, umn)
}

// updateLinkMandate starts the mandate UPDATE of the FULL link l: same
// UMN, the new limit, l.update_txn_id with org_txn_id the link id, and
// the PIN block the TPAP sealed for that txn id.
func (p *PSP) updateLinkMandate(c *node.Ctx, l *linkRecord, cred *upiv1.Cred) error {
	return p.updateMandate(c, l.UpdateTxnId, l.LinkId, l.Umn, l.PendingLimitPaise, cred)
}

// linkMandateOutcome hears each RespMandate PSP(P) applied: the outcome of
// a link's CREATE (its txn id the link's) goes on to the link's
// ReqDelegateAdd, or ends it FAILED; the outcome of a link's UPDATE (its
// org_txn_id the link's, its txn id the link's update_txn_id) goes on to
// ReqDelegateAdd UPDATE, or leaves the link as it was. Other mandates'
// outcomes, and REVOKE, are the mandate record's alone.
func (p *PSP) linkMandateOutcome(c *node.Ctx, txnID, orgTxnID, umn string, resp *upiv1.Resp) error {
	if orgTxnID != "" {
		l, err := getLink(c.Tx, sidePrimary, orgTxnID)
		if err != nil || l == nil || l.UpdateTxnId != txnID {
			return err
		}
		return p.updateMandateDone(c, l, resp)
	}
	l, err := getLink(c.Tx, sidePrimary, txnID)
	if err != nil || l == nil || l.Mode != upiv1.Delegate_FULL.String() {
		return err
	}
	return p.mandateDone(c, txnID, umn, resp)
}
