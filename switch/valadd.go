package upiswitch

import (
	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// valAddRoutes are the payee look-up and the heartbeat.
func (s *Switch) valAddRoutes() []node.Route {
	return []node.Route{
		{Method: upiv1.SwitchService_ReqValAdd_FullMethodName, From: fromPSP,
			Validate: node.Validates(validateReqValAdd), Handle: node.Handles(s.reqValAdd)},
		{Method: upiv1.SwitchService_RespValAdd_FullMethodName, From: fromPSP,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.RespValAdd) error { return checkResp(in.API, m.GetResp()) }),
			Handle:   node.Handles(s.respValAdd)},
		{Method: upiv1.SwitchService_ReqHbt_FullMethodName, From: fromPSP,
			Validate: node.Validates(validateReqHbt), Handle: node.Handles(s.reqHbt)},
	}
}

// reqValAdd forwards a payee look-up to the payee's PSP, or answers it
// with U29 when no PSP owns the handle.
func (s *Switch) reqValAdd(c *node.Ctx, in *node.Inbound, m *upiv1.ReqValAdd) error {
	id := m.GetTxn().GetId()
	if c.Tx.Has(store.Txns, []byte(flowKey(flowPay, id))) {
		return node.Refuse("duplicate transaction id %s: the switch already has a transaction with this id", id)
	}
	r := &record{
		Id: id, Type: upiv1.Txn_VAL_ADD.String(), Status: upiv1.Resp_PENDING.String(),
		Info: infoFrom(m.GetTxn()), Payer: &party{Addr: m.GetPayer().GetAddr()}, Payee: &party{Addr: m.GetPayee().GetAddr()},
		Originator: in.From, OrigMsgId: m.GetHead().GetMsgId(), Created: store.Nanos(c.Now()),
	}
	psp, ok := s.net.PSPForVPA(r.Payee.Addr)
	if !ok {
		r.Status, r.ErrCode, r.State = upiv1.Resp_FAILURE.String(), upi.CodeAddrResolution, StateClosed
		r.Reason = "no PSP owns handle @" + ids.HandleOf(r.Payee.Addr)
		ans := &upiv1.RespValAdd{
			Txn:   txnOf(r, upiv1.Txn_VAL_ADD),
			Payee: &upiv1.Party{Addr: r.Payee.Addr},
			Resp:  &upiv1.Resp{ReqMsgId: r.OrigMsgId, Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeAddrResolution},
		}
		if err := c.Send(in.From, upiv1.PspService_RespValAdd_FullMethodName, ans); err != nil {
			return err
		}
		return saveRecord(r, c)
	}
	r.Counterparty = psp.Name
	fwd := &upiv1.ReqValAdd{
		Txn:   txnOf(r, upiv1.Txn_VAL_ADD),
		Payer: &upiv1.Party{Addr: r.Payer.Addr},
		Payee: &upiv1.Party{Addr: r.Payee.Addr},
	}
	var err error
	if r.ValAdd, err = send(c, psp.Name, upiv1.PspService_ReqValAdd_FullMethodName, fwd); err != nil {
		return err
	}
	r.State = StateValAddSent
	return saveRecord(r, c)
}

// respValAdd passes the payee PSP's answer on to the requester.
func (s *Switch) respValAdd(c *node.Ctx, in *node.Inbound, m *upiv1.RespValAdd) error {
	r, err := loadFor(c, in, flowPay, "ReqValAdd", func(r *record) *exchange { return r.ValAdd })
	if err != nil || r == nil {
		return err
	}
	if r.State != StateValAddSent {
		if err := note(r, c, in, "", m.GetResp()); err != nil {
			return err
		}
		return saveRecord(r, c)
	}
	resp := m.GetResp()
	answerExchange(r.ValAdd, c.Now(), resp)
	r.Status, r.ErrCode, r.State = resp.GetResult().String(), resp.GetErrCode(), StateClosed
	if p := m.GetPayee(); p != nil {
		r.Payee.Name, r.Payee.Code = p.GetName(), p.GetCode()
	}
	ans := &upiv1.RespValAdd{
		Txn:   txnOf(r, upiv1.Txn_VAL_ADD),
		Payee: m.GetPayee(),
		Resp:  &upiv1.Resp{ReqMsgId: r.OrigMsgId, Result: resp.GetResult(), ErrCode: resp.GetErrCode(), Refs: resp.GetRefs()},
	}
	if ans.Payee == nil {
		ans.Payee = &upiv1.Party{Addr: r.Payee.Addr}
	}
	if err := c.Send(r.Originator, upiv1.PspService_RespValAdd_FullMethodName, ans); err != nil {
		return err
	}
	return saveRecord(r, c)
}

// reqHbt answers a PSP's heartbeat.
func (s *Switch) reqHbt(c *node.Ctx, in *node.Inbound, m *upiv1.ReqHbt) error {
	return c.Send(in.From, upiv1.PspService_RespHbt_FullMethodName, &upiv1.RespHbt{
		Txn:  &upiv1.Txn{Id: m.GetTxn().GetId(), Type: upiv1.Txn_HBT},
		Resp: &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
	})
}
