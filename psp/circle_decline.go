package psp

import (
	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// declinableInvites makes PSP(S)'s ReqDelegateAdd route honour a receive
// rule's decline (README, "Reaching every branch": declines@beta): an ADD
// matched by a rule with `decline: CODE` is answered RespDelegateAdd
// FAILURE CODE at once, as if the secondary had declined (ZA), without
// asking them. UPDATE and REMOVE are handled as usual.
func (p *PSP) declinableInvites(routes []node.Route) []node.Route {
	for i, r := range routes {
		if r.Method != upiv1.PspService_ReqDelegateAdd_FullMethodName || r.Handle == nil {
			continue
		}
		handle := r.Handle
		routes[i].Handle = func(c *node.Ctx, in *node.Inbound) error {
			if m, ok := in.Msg.(*upiv1.ReqDelegateAdd); ok && m.GetDelegate().GetType() == upiv1.Delegate_ADD {
				if code := c.Decline(); code != "" {
					return p.declineInvite(c, m, code)
				}
			}
			return handle(c, in)
		}
	}
	return routes
}

// declineInvite keeps PSP(S)'s side of the invite m ended with code
// (DECLINED for ZA) and answers it FAILURE code.
func (p *PSP) declineInvite(c *node.Ctx, m *upiv1.ReqDelegateAdd, code string) error {
	t, d := m.GetTxn(), m.GetDelegate()
	if c.Tx.Has(store.CircleLinks, []byte(linkKey(sideSecondary, t.GetId()))) {
		return nil // asked again: the first was answered
	}
	status := addStatus(false, code)
	l := &linkRecord{
		LinkId: t.GetId(), Side: sideSecondary, Primary: ids.NormalizeVPA(d.GetPrimaryAddr()),
		Secondary: ids.NormalizeVPA(d.GetSecondaryAddr()), Mode: d.GetSubType().String(), Umn: d.GetUmn(),
		LimitPaise: d.GetMonthlyLimitPaise(), Created: store.Nanos(c.Now()), InviteMsgId: m.GetHead().GetMsgId(),
		RecvTxnId: t.GetId(), PrimaryName: m.GetPayer().GetName(),
		Status: status, ErrCode: code, Answer: status,
	}
	if err := putLink(c, l); err != nil {
		return err
	}
	return p.answerDelegate(c, cloneTxn(t), d, l.InviteMsgId, upiv1.Resp_FAILURE, code)
}
