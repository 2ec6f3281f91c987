package upiswitch

// A PSP's status check (docs/FLOWS.md, Status check by a PSP): ReqChkTxn
// sub_type PAY from a PSP, by txn id or by RRN, answered at once with
// RespChkTxn from the pay record. The switch asks no bank, keeps no record
// of the check (its inbox and trace have it) and changes nothing.

import (
	"strings"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

func (s *Switch) chkTxnRoutes() []node.Route {
	return []node.Route{{
		Method: upiv1.SwitchService_ReqChkTxn_FullMethodName, From: fromPSP,
		Validate: node.Validates(validateReqChkTxn), Handle: node.Handles(s.reqChkTxn),
	}}
}

// issueRRN issues the next RRN to the pay record txnID and indexes it
// (store.RRNs), in the same step.
func issueRRN(c *node.Ctx, txnID string) (string, error) {
	rrn, err := nextRRN(c)
	if err != nil {
		return "", err
	}
	return rrn, c.Tx.Put(store.RRNs, []byte(rrn), []byte(txnID))
}

// validateReqChkTxn: CHK_STATUS, sub_type PAY (or unset), and one of
// org_txn_id (a txn id) and cust_ref (an RRN).
func validateReqChkTxn(_ *node.Inbound, m *upiv1.ReqChkTxn) error {
	t := m.GetTxn()
	if t.GetSubType() == upiv1.Txn_LITE_SYNC {
		return validateLiteChkTxn(m) // lite_register.go
	}
	switch {
	case t.GetType() != upiv1.Txn_CHK_STATUS:
		return node.Refuse("ReqChkTxn from a PSP: txn.type must be CHK_STATUS, not %s", t.GetType())
	case t.GetSubType() != upiv1.Txn_PAY && t.GetSubType() != upiv1.Txn_TYPE_UNSPECIFIED:
		return node.Refuse("ReqChkTxn from a PSP: txn.sub_type must be PAY, not %s", t.GetSubType())
	case (t.GetOrgTxnId() == "") == (t.GetCustRef() == ""):
		return node.Refuse("ReqChkTxn from a PSP names the payment by txn.org_txn_id or by txn.cust_ref (its RRN), one of them")
	case t.GetOrgTxnId() != "" && !ids.ValidID(t.GetOrgTxnId()):
		return node.Refuse("ReqChkTxn: txn.org_txn_id %q is not a txn id", t.GetOrgTxnId())
	case t.GetCustRef() != "" && !ids.ValidRRN(t.GetCustRef()):
		return node.Refuse("ReqChkTxn: txn.cust_ref %q is not an RRN (12 digits)", t.GetCustRef())
	}
	return nil
}

// reqChkTxn answers a PSP's check from the pay record it names, if the
// PSP is a side of it; else U48, as for a payment the switch does not know.
func (s *Switch) reqChkTxn(c *node.Ctx, in *node.Inbound, m *upiv1.ReqChkTxn) error {
	if m.GetTxn().GetSubType() == upiv1.Txn_LITE_SYNC {
		if m.GetTxn().GetPurpose() == lite.PurposeAutoTopUpSetup {
			return s.liteRevoke(c, in, m) // lite_auto.go
		}
		return s.liteZeroDisable(c, in, m) // lite_register.go
	}
	asked := m.GetTxn()
	id := asked.GetOrgTxnId()
	if rrn := asked.GetCustRef(); rrn != "" {
		id = string(c.Tx.Get(store.RRNs, []byte(rrn)))
		if key, ok := strings.CutPrefix(id, liteRRNPrefix); ok {
			return s.liteChkTxn(c, in, m, key) // a Lite record's official UTR (litesync.go)
		}
	}
	var r *record
	if id != "" {
		var err error
		if r, err = loadRecord(c.Tx, id); err != nil {
			return err
		}
	}
	txn := &upiv1.Txn{Id: asked.GetId(), Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_PAY, OrgTxnId: asked.GetOrgTxnId(), CustRef: asked.GetCustRef()}
	resp := &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeTxnNotPresent}
	if r != nil && r.Type != upiv1.Txn_VAL_ADD.String() && s.sideOf(r, in.From) {
		txn.OrgTxnId, txn.CustRef, txn.Note, txn.RefId = r.Id, r.Rrn, r.GetInfo().GetNote(), r.GetInfo().GetRefId()
		resp = statusResp(r)
		resp.ReqMsgId = m.GetHead().GetMsgId()
	} else if err := c.NoteReceived("no payment this PSP is a side of: U48"); err != nil {
		return err
	}
	return c.Send(in.From, upiv1.PspService_RespChkTxn_FullMethodName, &upiv1.RespChkTxn{Txn: txn, Resp: resp})
}

// sideOf reports whether the PSP psp is a side of the payment r: its
// originator, its counter-party, or the owner of the payer's or the
// payee's handle.
func (s *Switch) sideOf(r *record, psp string) bool {
	if psp == r.Originator || psp == r.Counterparty {
		return true
	}
	for _, vpa := range []string{r.GetPayer().GetAddr(), r.GetPayee().GetAddr()} {
		if p, ok := s.net.PSPForVPA(vpa); ok && p.Name == psp {
			return true
		}
	}
	return false
}

// statusResp is the payment's status as a PSP's check answers it: its
// result and code, and a ref per party with the amount (whatever the
// status) and, for a leg a bank answered, its approval and code.
func statusResp(r *record) *upiv1.Resp {
	resp := &upiv1.Resp{Result: resultOf(r), ErrCode: r.ErrCode}
	for _, side := range []struct {
		typ string
		p   *party
		leg *exchange
	}{{"PAYER", r.GetPayer(), r.GetDebit()}, {"PAYEE", r.GetPayee(), r.GetCredit()}} {
		ref := &upiv1.Ref{Type: side.typ, Addr: side.p.GetAddr(), RegName: side.p.GetName(), SettAmountPaise: r.AmountPaise}
		if side.leg != nil && settled(side.leg) {
			ref.ApprovalNum, ref.RespCode = side.leg.GetApprovalNum(), respCode(side.leg)
		}
		resp.Refs = append(resp.Refs, ref)
	}
	return resp
}
