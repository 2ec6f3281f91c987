package upiswitch

// UPI Lite auto top-up, a Lite mandate at the switch (docs/FLOWS.md,
// "Auto top-up (Lite mandate)"). The switch decides nothing of the
// mandate, which is the remitter's; it carries it:
//
//   - a set-up (purpose 71) is a top-up with the PIN and lite{umn,
//     auto_threshold_paise, auto_amount_paise}: 41's rules for a PENDING
//     LRN, 42's for an ACTIVE one;
//   - a top-up under the mandate is a 42 with lite.umn and no PIN;
//
// both are held to LB like any top-up, and their DEBIT carries the
// mandate's part (kept by txn id in store.LiteMandates from the ReqPay's
// step to the DEBIT's, the same step for a top-up). A revocation is ReqChkTxn LITE_SYNC purpose 71
// with lite{lrn, umn}: the switch tells the LRN's remitter
// (ReqTxnConfirmation purpose 71, lite{lrn, umn, state REVOKED}) and
// answers RespChkTxn SUCCESS at once, as for a zero-balance disable (50).

import (
	"strings"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

type liteMandate = recordsv1.SwitchLiteMandate

var liteMandates = store.NewTable[liteMandate](store.LiteMandates)

// liteRevoked is a Lite mandate's state once revoked.
const liteRevoked = "REVOKED"

// validateLiteMandatePart checks a top-up's mandate part: a set-up (71)
// names its UMN, threshold and amount and carries the PIN like any
// top-up; a 42 with a UMN is under the mandate and carries no PIN.
func validateLiteMandatePart(purpose string, l *upiv1.LiteInfo, pin bool) error {
	switch {
	case purpose == lite.PurposeAutoTopUpSetup && (l.GetUmn() == "" || l.GetAutoThresholdPaise() <= 0 || l.GetAutoAmountPaise() <= 0):
		return node.Refuse("a UPI Lite mandate's set-up (purpose 71) needs lite.umn, lite.auto_threshold_paise > 0 and lite.auto_amount_paise > 0")
	case purpose == lite.PurposeTopUp && l.GetUmn() != "" && pin:
		return node.Refuse("a UPI Lite top-up under mandate %s carries no PIN", l.GetUmn())
	case purpose == lite.PurposeTopUp && l.GetUmn() != "":
		return nil
	case !pin:
		return node.Refuse("a UPI Lite top-up (purpose %s) needs payer.creds with a PIN block (type PIN), or lite.umn (a top-up under a Lite mandate, purpose 42)", purpose)
	}
	return nil
}

// keepLiteMandate keeps r's mandate part for its DEBIT, in the ReqPay's
// step.
func keepLiteMandate(c *node.Ctx, r *record, l *upiv1.LiteInfo) error {
	if l.GetUmn() == "" {
		return nil
	}
	return liteMandates.Put(c.Tx, r.Id, &liteMandate{TxnId: r.Id, Lrn: r.Lite.Lrn, Umn: l.GetUmn(),
		ThresholdPaise: l.GetAutoThresholdPaise(), AmountPaise: l.GetAutoAmountPaise(), Created: store.Nanos(c.Now())})
}

// liteMandateLeg adds r's mandate part to its DEBIT's lite block, in the
// step that sends the DEBIT, and drops it.
func liteMandateLeg(c *node.Ctx, r *record, leg upiv1.Txn_Type, info *upiv1.LiteInfo) error {
	if leg != upiv1.Txn_DEBIT || info == nil {
		return nil
	}
	md, ok, err := liteMandates.Get(c.Tx, r.Id)
	if err != nil || !ok {
		return err
	}
	info.Umn, info.AutoThresholdPaise, info.AutoAmountPaise = md.Umn, md.ThresholdPaise, md.AmountPaise
	// The DEBIT is sent once (a status check or a REVERSAL follows it, not
	// the DEBIT again): the part is not needed any more.
	return c.Tx.Delete(store.LiteMandates, []byte(r.Id))
}

// validateLiteRevoke: a revocation names the LRN and the mandate.
func validateLiteRevoke(m *upiv1.ReqChkTxn) error {
	switch {
	case m.GetTxn().GetId() == "":
		return node.Refuse("ReqChkTxn LITE_SYNC needs txn.id")
	case m.GetLite().GetLrn() == "" || m.GetLite().GetUmn() == "":
		return node.Refuse("ReqChkTxn LITE_SYNC purpose 71 (a Lite mandate's revocation) needs lite.lrn and lite.umn")
	}
	return nil
}

// liteRevoke takes a PSP's revocation of an LRN's Lite mandate: LR for an
// LRN unknown or not its user's; else the remitter is told and the PSP
// answered SUCCESS. The remitter's answer changes nothing here.
func (s *Switch) liteRevoke(c *node.Ctx, in *node.Inbound, m *upiv1.ReqChkTxn) error {
	asked := m.GetTxn()
	lrn, umn := strings.ToUpper(m.GetLite().GetLrn()), m.GetLite().GetUmn()
	acc, err := loadLite(c.Tx, lrn)
	if err != nil {
		return err
	}
	txn := &upiv1.Txn{Id: asked.GetId(), Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_LITE_SYNC, Purpose: lite.PurposeAutoTopUpSetup}
	resp := &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}
	info := &upiv1.LiteInfo{Lrn: lrn, Umn: umn}
	if acc == nil || !s.ownsLRN(acc, in.From) {
		resp.Result, resp.ErrCode = upiv1.Resp_FAILURE, upi.CodeLiteUnknown
		if err := c.NoteReceived("no LRN " + lrn + " of this PSP's users: LR"); err != nil {
			return err
		}
	} else {
		info.State = liteRevoked
		if err := c.Send(acc.Bank, upiv1.RemitterService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{
			Txn:  &upiv1.Txn{Id: asked.GetId(), Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_LITE_SYNC, Purpose: lite.PurposeAutoTopUpSetup},
			Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
			Lite: &upiv1.LiteInfo{Lrn: lrn, Umn: umn, State: liteRevoked},
		}); err != nil {
			return err
		}
	}
	return c.Send(in.From, upiv1.PspService_RespChkTxn_FullMethodName, &upiv1.RespChkTxn{Txn: txn, Resp: resp, Lite: info})
}
