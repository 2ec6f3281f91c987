package upiswitch

import (
	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
)

// validateRespAuthDetails holds the stateless checks of a RespAuthDetails.
// Limits every message keeps (string lengths, enum values, amount ranges,
// timestamps) are node.CheckLimits', which Receive applies after the
// route's Validate.
func validateRespAuthDetails(in *node.Inbound, m *upiv1.RespAuthDetails) error {
	// It answers a ReqAuthDetails of a PAY or a COLLECT; a PSP may
	// leave the type out of a decline.
	switch t := m.GetTxn().GetType(); t {
	case upiv1.Txn_TYPE_UNSPECIFIED, upiv1.Txn_PAY, upiv1.Txn_COLLECT, upiv1.Txn_LITE_SYNC: // LITE_SYNC: litesync.go
	default:
		return node.Refuse("RespAuthDetails txn.type must be PAY, COLLECT or LITE_SYNC, not %s", t)
	}
	// The handler compares the resolved party's address with the
	// transaction's; a malformed one is refused as such.
	for _, p := range []struct {
		role  string
		party *upiv1.Party
	}{{"payer", m.GetPayer()}, {"payee", m.GetPayee()}} {
		if a := p.party.GetAddr(); a != "" {
			if err := ids.ValidateVPA(a); err != nil {
				return node.Refuse("RespAuthDetails %s.addr: %v", p.role, err)
			}
		}
	}
	return checkResp(in.API, m.GetResp())
}

// validateRespPay checks a bank's answer to a leg.
func validateRespPay(in *node.Inbound, m *upiv1.RespPay) error {
	switch t := m.GetTxn().GetType(); t {
	case upiv1.Txn_DEBIT, upiv1.Txn_CREDIT, upiv1.Txn_REVERSAL:
	default:
		return node.Refuse("RespPay txn.type must be DEBIT, CREDIT or REVERSAL, not %s", t)
	}
	return checkResp(in.API, m.GetResp())
}

// validateRespChkTxn checks a bank's answer to a status check.
func validateRespChkTxn(in *node.Inbound, m *upiv1.RespChkTxn) error {
	if t := m.GetTxn().GetType(); t != upiv1.Txn_CHK_STATUS {
		return node.Refuse("RespChkTxn txn.type must be CHK_STATUS, not %s", t)
	}
	return checkResp(in.API, m.GetResp())
}

// validateReqValAdd checks a PSP's payee look-up.
func validateReqValAdd(_ *node.Inbound, m *upiv1.ReqValAdd) error {
	if t := m.GetTxn().GetType(); t != upiv1.Txn_VAL_ADD {
		return node.Refuse("ReqValAdd txn.type must be VAL_ADD, not %s", t)
	}
	if err := ids.ValidateVPA(m.GetPayer().GetAddr()); err != nil {
		return node.Refuse("payer.addr (the requester): %v", err)
	}
	if err := ids.ValidateVPA(m.GetPayee().GetAddr()); err != nil {
		return node.Refuse("payee.addr: %v", err)
	}
	return nil
}

// validateReqHbt checks a PSP's heartbeat.
func validateReqHbt(_ *node.Inbound, m *upiv1.ReqHbt) error {
	if t := m.GetTxn().GetType(); t != upiv1.Txn_HBT {
		return node.Refuse("ReqHbt txn.type must be HBT, not %s", t)
	}
	return nil
}
