package upiswitch

import (
	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
)

// validateResponses holds the stateless checks of the answers PSPs send
// the switch that Validate's per-method cases leave out. Limits every
// message keeps (string lengths, enum values, amount ranges, timestamps)
// are node.CheckLimits', which Receive applies after Validate.
func (s *Switch) validateResponses(in *node.Inbound) error {
	switch in.Method {
	case upiv1.SwitchService_RespAuthDetails_FullMethodName:
		m, ok := in.Msg.(*upiv1.RespAuthDetails)
		if !ok {
			return node.Refuse("%s carries %T, not RespAuthDetails", in.Method, in.Msg)
		}
		// It answers a ReqAuthDetails of a PAY or a COLLECT; a PSP may
		// leave the type out of a decline.
		switch t := m.GetTxn().GetType(); t {
		case upiv1.Txn_TYPE_UNSPECIFIED, upiv1.Txn_PAY, upiv1.Txn_COLLECT:
		default:
			return node.Refuse("RespAuthDetails txn.type must be PAY or COLLECT, not %s", t)
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
	case upiv1.SwitchService_RespTxnConfirmation_FullMethodName:
		m, ok := in.Msg.(*upiv1.RespTxnConfirmation)
		if !ok {
			return node.Refuse("%s carries %T, not RespTxnConfirmation", in.Method, in.Msg)
		}
		return checkResp(in.API, m.GetResp())
	}
	return nil
}
