// ValAdd (docs/FLOWS.md, ValAdd): the payee look-up, both ways.

package psp

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/upi"
)

// valAddRoutes are the payee look-up (docs/FLOWS.md, ValAdd).
func (p *PSP) valAddRoutes() []node.Route {
	return []node.Route{
		{Method: upiv1.PspService_ReqValAdd_FullMethodName, From: fromSwitch,
			Validate: node.Validates(func(_ *node.Inbound, m *upiv1.ReqValAdd) error {
				return p.checkOwnVPA("ReqValAdd: payee.addr", m.GetPayee().GetAddr())
			}),
			Handle: node.Handles(func(c *node.Ctx, _ *node.Inbound, m *upiv1.ReqValAdd) error { return p.reqValAdd(c, m) })},
		{Method: upiv1.PspService_RespValAdd_FullMethodName, From: fromSwitch,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.RespValAdd) error { return needResult(in.API, m.GetResp()) }),
			Handle:   node.Handles(func(c *node.Ctx, _ *node.Inbound, m *upiv1.RespValAdd) error { return p.respValAdd(c, m) })},
	}
}

// reqValAdd is step 3–4 of ReqValAdd at the payee's PSP: the payee's name,
// type, MCC and IFSC (never the account number), or FAILURE U29.
func (p *PSP) reqValAdd(c *node.Ctx, m *upiv1.ReqValAdd) error {
	v, err := getVPA(c.Tx, m.GetPayee().GetAddr())
	if err != nil {
		return err
	}
	resp := &upiv1.RespValAdd{Txn: cloneTxn(m.GetTxn())}
	if v == nil {
		resp.Payee = &upiv1.Party{Addr: m.GetPayee().GetAddr()}
		resp.Resp = &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeAddrResolution}
	} else {
		resp.Payee = &upiv1.Party{Addr: v.Vpa, Name: v.Name, Type: partyType(v), Code: v.Mcc, Ac: &upiv1.Account{Ifsc: v.Ifsc}}
		resp.Resp = &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}
	}
	return c.Send(p.switchName, upiv1.SwitchService_RespValAdd_FullMethodName, resp)
}

// respValAdd is step 5 of ReqValAdd: keep the answer and wake the waiting
// ResolveAddress; the answer to a delegated payment's payee look-up goes
// on with the payment.
func (p *PSP) respValAdd(c *node.Ctx, m *upiv1.RespValAdd) error {
	txnID := m.GetTxn().GetId()
	r, err := getTxn(c.Tx, txnID)
	if err != nil {
		return err
	}
	if r == nil {
		if ok, err := isPayeeLookup(c.Tx, txnID); err != nil || ok {
			if err != nil {
				return err
			}
			return p.payeeResolved(c, m) // a delegated payment's (circle_valadd.go)
		}
	}
	if r == nil || r.Type != upiv1.Txn_VAL_ADD.String() {
		return node.Refuse("RespValAdd for txn %s, for which PSP %s sent no ReqValAdd", txnID, p.name)
	}
	if r.ValAdd != nil {
		return nil // duplicate or late
	}
	payee := m.GetPayee()
	res := &valAddResult{
		Result: m.GetResp().GetResult().String(), ErrCode: m.GetResp().GetErrCode(),
		Name: payee.GetName(), Code: payee.GetCode(), Ifsc: payee.GetAc().GetIfsc(),
	}
	if payee.GetType() != upiv1.Party_TYPE_UNSPECIFIED {
		res.Type = payee.GetType().String()
	}
	r.ValAdd, r.PayeeName, r.State, r.Final = res, payee.GetName(), stateResolved, true
	applyOutcome(r, m.GetResp().GetResult(), m.GetResp().GetErrCode(), "")
	if err := putTxn(c.Tx, r, c.Now()); err != nil {
		return err
	}
	c.Notify(txnID)
	return nil
}

// defaultValAddTimeout is how long ResolveAddress waits when the network
// file sets no val_add timeout.
const defaultValAddTimeout = 10 * time.Second

// ResolveAddress implements PspAppService: it sends ReqValAdd for vpa on
// behalf of requester_vpa and waits for the RespValAdd, up to the network's
// val_add timeout or ctx's deadline.
func (p *PSP) ResolveAddress(ctx context.Context, req *upiv1.ResolveAddressRequest) (*upiv1.ResolveAddressResponse, error) {
	vpa, err := checkVPA("vpa", req.GetVpa())
	if err != nil {
		return nil, err
	}
	requester, err := checkVPA("requester_vpa", req.GetRequesterVpa())
	if err != nil {
		return nil, err
	}
	txnID := ids.NewTxnID(p.prefix)

	// Watch before the update that sends, so a fast answer is not missed.
	wait, cancel := p.n.Watch(txnID)
	defer func() { cancel() }()
	// The slot covers the step that sends; waiting for the answer takes
	// none.
	if err := p.n.Acquire(); err != nil {
		return nil, err
	}
	err = p.n.Update(func(c *node.Ctx) error {
		v, err := getVPA(c.Tx, requester)
		if err != nil {
			return err
		}
		if v == nil {
			return p.notRegistered("requester", requester)
		}
		r := &txnRecord{
			Id: txnID, Type: upiv1.Txn_VAL_ADD.String(), State: stateValAddSent, Status: upiv1.Resp_PENDING.String(),
			PayerVpa: v.Vpa, PayerName: v.Name, PayeeVpa: vpa, PayerHere: true, PayerInitiator: true,
		}
		if err := putTxn(c.Tx, r, c.Now()); err != nil {
			return err
		}
		return c.Send(p.switchName, upiv1.SwitchService_ReqValAdd_FullMethodName, &upiv1.ReqValAdd{
			Txn:   &upiv1.Txn{Id: txnID, Type: upiv1.Txn_VAL_ADD, Ts: timestamppb.New(c.Now())},
			Payer: &upiv1.Party{Addr: v.Vpa, Name: v.Name},
			Payee: &upiv1.Party{Addr: vpa},
		})
	})
	p.n.Release()
	if err != nil {
		return nil, storeErr(err)
	}

	limit := p.cfg.Network.Timeouts.ValAdd
	if limit <= 0 {
		limit = defaultValAddTimeout
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case <-wait:
		case <-timer.C:
			return nil, status.Errorf(codes.DeadlineExceeded, "no RespValAdd for %s (txn %s) within %s", vpa, txnID, limit)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, status.Errorf(codes.DeadlineExceeded, "no RespValAdd for %s (txn %s) before the call's deadline", vpa, txnID)
			}
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		cancel()
		wait, cancel = p.n.Watch(txnID)
		r, err := p.viewTxn(txnID)
		if err != nil {
			return nil, err
		}
		if res := r.ValAdd; res != nil {
			return &upiv1.ResolveAddressResponse{Details: &upiv1.AddressDetails{
				Vpa: vpa, Name: res.Name, Type: upiv1.Party_Type(upiv1.Party_Type_value[res.Type]), Code: res.Code,
				Ifsc: res.Ifsc, Result: upiv1.Resp_Result(upiv1.Resp_Result_value[res.Result]), ErrCode: res.ErrCode,
			}}, nil
		}
	}
}
