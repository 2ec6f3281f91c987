package psp

import (
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
)

// fromSwitch: a PSP takes network messages only from the switch.
var fromSwitch = []string{config.RoleSwitch}

// checkOwnVPA refuses a VPA that is malformed or whose handle another PSP
// owns (the switch routed it here by mistake).
func (p *PSP) checkOwnVPA(field, vpa string) error {
	if err := ids.ValidateVPA(vpa); err != nil {
		return node.Refuse("%s: %v", field, err)
	}
	if owner, ok := p.cfg.Network.PSPForVPA(vpa); !ok || owner.Name != p.name {
		return node.Refuse("%s: handle @%s of %s does not belong to PSP %s", field, ids.HandleOf(vpa), vpa, p.name)
	}
	return nil
}

func needResult(api string, r *upiv1.Resp) error {
	if r.GetResult() == upiv1.Resp_RESULT_UNSPECIFIED {
		return node.Refuse("%s: resp.result is required", api)
	}
	return nil
}

// authAmount is the amount of a ReqAuthDetails: payer.amount_paise, or
// payee.amount_paise when only the payee carries it.
func authAmount(m *upiv1.ReqAuthDetails) int64 {
	if a := m.GetPayer().GetAmountPaise(); a > 0 {
		return a
	}
	return m.GetPayee().GetAmountPaise()
}

func cloneTxn(t *upiv1.Txn) *upiv1.Txn { return proto.Clone(t).(*upiv1.Txn) }

func cloneParty(p *upiv1.Party) *upiv1.Party {
	if p == nil {
		return nil
	}
	return proto.Clone(p).(*upiv1.Party)
}
