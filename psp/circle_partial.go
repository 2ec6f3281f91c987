// Delegated payments under partial delegation (docs/FLOWS.md, "Payment,
// partial delegation"): PSP(P) parks the ReqDelegateAuth as an approval
// for the primary and tells their app (DELEGATE_PAY). The primary approves
// with their PIN block, and the ReqPay goes as the primary's own payment
// (purpose 87, no mandate), RespDelegateAuth SUCCESS following once the
// switch acked it as under full delegation; or declines (ZA). No answer by
// circle.approval_expiry ends it U69.

package psp

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// stateAwaitingPrimary: PSP(P) keeps a partial delegated payment for the
// primary's approval.
const stateAwaitingPrimary = "AWAITING_PRIMARY"

// timerApproval is PSP(P)'s wait for the primary, "approval:<txn id>".
const timerApproval = "approval"

// parkDelegatedPay (steps 5–6, PARTIAL): keep the payment for the primary
// of link l, start the approval timer and notify the primary's app.
func (p *PSP) parkDelegatedPay(c *node.Ctx, m *upiv1.ReqDelegateAuth, l *linkRecord, own *txnRecord) error {
	txnID, amount := m.GetTxn().GetId(), m.GetPayer().GetAmountPaise()
	v, err := getVPA(c.Tx, l.Primary)
	if err != nil {
		return err
	}
	if v == nil {
		return c.Send(p.switchName, upiv1.SwitchService_RespDelegateAuth_FullMethodName, &upiv1.RespDelegateAuth{
			Txn:  cloneTxn(m.GetTxn()),
			Resp: &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeAddrResolution},
		})
	}
	expires := c.Now().Add(p.cfg.Network.Circle.ApprovalExpiry)
	r := &txnRecord{
		Id: txnID, Type: upiv1.Txn_PAY.String(), Role: rolePayer, State: stateAwaitingPrimary, Status: upiv1.Resp_PENDING.String(),
		PayerVpa: v.Vpa, PayerName: v.Name, PayeeVpa: ids.NormalizeVPA(m.GetPayee().GetAddr()), AmountPaise: amount,
		Note: m.GetTxn().GetNote(), PayerHere: true, PayerInitiator: true, CircleLinkId: l.LinkId,
		AuthReqMsgId: m.GetHead().GetMsgId(), Expires: store.Nanos(expires),
	}
	if err := putTxn(c.Tx, withSecondarySide(r, own), c.Now()); err != nil {
		return err
	}
	if err := c.Tx.Put(store.Pending, pendingKey(v.Vpa, txnID), nil); err != nil {
		return err
	}
	if err := c.SetTimer(timerApproval+":"+txnID, expires, []byte(txnID)); err != nil {
		return err
	}
	return p.notifyApp(c, &upiv1.Notification{
		Txn:      cloneTxn(m.GetTxn()),
		Kind:     upiv1.Notification_DELEGATE_PAY,
		UserAddr: v.Vpa,
		Payer:    &upiv1.Party{Addr: v.Vpa, Name: v.Name, AmountPaise: amount, Currency: "INR"},
		Payee:    &upiv1.Party{Addr: r.PayeeVpa, Name: m.GetPayee().GetName(), AmountPaise: amount, Currency: "INR"},
		Resp:     &upiv1.Resp{Result: upiv1.Resp_PENDING},
	})
}

// awaitingPrimary reports whether r is a partial delegated payment still
// waiting for the primary.
func awaitingPrimary(r *txnRecord) bool {
	return r != nil && r.State == stateAwaitingPrimary && !isFinal(r)
}

// approvalExpired: the primary did not answer in time; RespDelegateAuth
// FAILURE U69.
func (p *PSP) approvalExpired(c *node.Ctx, txnID string) error {
	r, err := getTxn(c.Tx, txnID)
	if err != nil || !awaitingPrimary(r) {
		return err
	}
	return p.endApproval(c, r, upi.CodeExpired)
}

// endApproval ends the waiting payment r FAILURE with code, told to the
// switch and to the primary.
func (p *PSP) endApproval(c *node.Ctx, r *txnRecord, code string) error {
	r.Status, r.ErrCode, r.Final, r.State = upiv1.Resp_FAILURE.String(), code, true, stateCompleted
	if err := putTxn(c.Tx, r, c.Now()); err != nil {
		return err
	}
	if err := c.Tx.Delete(store.Pending, pendingKey(r.PayerVpa, r.Id)); err != nil {
		return err
	}
	if err := p.answerDelegateAuth(c, r.Id, upiv1.Resp_FAILURE, code); err != nil {
		return err
	}
	c.Notify(r.Id)
	if r.SecondaryVpa != "" { // this PSP is PSP(S) too: its RespDelegateAuth finds the payment ended
		if err := p.notifyStatus(c, r, r.SecondaryVpa, nil); err != nil {
			return err
		}
	}
	return p.notifyStatus(c, r, r.PayerVpa, nil)
}

// RespondDelegatedPay implements PspAppService (step 7–8): the primary
// approves a waiting delegated payment with their PIN block (the ReqPay
// goes to the switch) or declines it (FAILURE ZA).
func (p *PSP) RespondDelegatedPay(_ context.Context, req *upiv1.RespondDelegatedPayRequest) (*upiv1.RespondDelegatedPayResponse, error) {
	txnID := req.GetTxnId()
	if txnID == "" {
		return nil, invalid("txn_id is required")
	}
	if req.GetApprove() {
		if err := checkCred(req.GetCred()); err != nil {
			return nil, err
		}
	}
	if err := p.n.Acquire(); err != nil {
		return nil, err
	}
	defer p.n.Release()
	var out *txnRecord
	err := p.n.Update(func(c *node.Ctx) error {
		out = nil
		r, err := getTxn(c.Tx, txnID)
		if err != nil {
			return err
		}
		if !primarySide(r) {
			return status.Errorf(codes.NotFound, "no delegated payment %s is waiting for a primary at PSP %s", txnID, p.name)
		}
		if !awaitingPrimary(r) {
			return status.Errorf(codes.FailedPrecondition, "delegated payment %s is no longer waiting for approval (status %s)", txnID, outcome(r))
		}
		if err := c.CancelTimer(timerApproval + ":" + txnID); err != nil {
			return err
		}
		out = r
		if !req.GetApprove() {
			r.Answer = answerDeclined
			return p.endApproval(c, r, upi.CodeDeclinedByPayer)
		}
		v, err := getVPA(c.Tx, r.PayerVpa)
		if err != nil {
			return err
		}
		if v == nil {
			r.Answer = answerDeclined
			return p.endApproval(c, r, upi.CodeAddrResolution)
		}
		r.Answer, r.State = answerApproved, stateReqSent
		if err := putTxn(c.Tx, r, c.Now()); err != nil {
			return err
		}
		if err := c.Tx.Delete(store.Pending, pendingKey(r.PayerVpa, r.Id)); err != nil {
			return err
		}
		payer := vpaParty(v, r.AmountPaise)
		payer.Creds = []*upiv1.Cred{pinCred(req.GetCred())}
		return c.Send(p.switchName, upiv1.SwitchService_ReqPay_FullMethodName, &upiv1.ReqPay{
			Txn: &upiv1.Txn{
				Id: txnID, Type: upiv1.Txn_PAY, Note: r.Note, Purpose: circlePurpose,
				InitiationMode: "00", Ts: timestamppb.New(c.Now()),
			},
			Payer: payer,
			Payee: &upiv1.Party{Addr: r.PayeeVpa},
		})
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &upiv1.RespondDelegatedPayResponse{Transaction: txnProto(out)}, nil
}

// ListDelegatedApprovals implements PspAppService: the delegated payments
// waiting for the primary vpa, in id order.
func (p *PSP) ListDelegatedApprovals(_ context.Context, req *upiv1.ListDelegatedApprovalsRequest) (*upiv1.ListDelegatedApprovalsResponse, error) {
	vpa, err := checkVPA("vpa", req.GetVpa())
	if err != nil {
		return nil, err
	}
	out := &upiv1.ListDelegatedApprovalsResponse{}
	prefix := string(pendingKey(vpa, ""))
	err = p.n.View(func(tx *store.Tx) error {
		return tx.Scan(store.Pending, []byte(prefix), func(k, _ []byte) (bool, error) {
			r, err := getTxn(tx, strings.TrimPrefix(string(k), prefix))
			if err != nil {
				return false, err
			}
			if awaitingPrimary(r) {
				out.Approvals = append(out.Approvals, txnProto(r))
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return out, nil
}
