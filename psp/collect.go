// Collect (docs/FLOWS.md, Collect): the payee asks the payer for money; the
// payer's PSP keeps the request for their approval.

package psp

import (
	"context"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// Collect expiry bounds, in minutes: the default, and the longest a collect
// may stay open (45 days, as in UPI).
const (
	defaultCollectExpiry = 30
	maxCollectExpiry     = 45 * 24 * 60
)

// collectAuthDetails is step 3–4 of Collect at the payer's PSP: keep the
// request for the payer's approval and tell their app, or answer FAILURE
// U29 for an unknown payer.
func (p *PSP) collectAuthDetails(c *node.Ctx, m *upiv1.ReqAuthDetails) error {
	txnID := m.GetTxn().GetId()
	r, err := getTxn(c.Tx, txnID)
	if err != nil {
		return err
	}
	if r != nil && r.Type != upiv1.Txn_COLLECT.String() {
		return node.Refuse("ReqAuthDetails COLLECT for txn %s, which is a %s at PSP %s", txnID, r.Type, p.name)
	}
	if r != nil && r.AuthReqMsgId != "" {
		return nil // asked again: the payer is answering the first request
	}
	v, err := getVPA(c.Tx, m.GetPayer().GetAddr())
	if err != nil {
		return err
	}
	amount := authAmount(m)
	if r == nil {
		r = &txnRecord{
			Id: txnID, Type: upiv1.Txn_COLLECT.String(), Role: rolePayer, Status: upiv1.Resp_PENDING.String(),
			PayerVpa: ids.NormalizeVPA(m.GetPayer().GetAddr()),
			PayeeVpa: ids.NormalizeVPA(m.GetPayee().GetAddr()), PayeeName: m.GetPayee().GetName(),
			AmountPaise: amount, Note: m.GetTxn().GetNote(),
		}
	}
	if rrn := m.GetTxn().GetCustRef(); rrn != "" {
		r.Rrn = rrn
	}
	code := upi.CodeAddrResolution
	if v != nil {
		code = c.Decline() // a rule of the network file: decline for the payer
	}
	if code != "" {
		// Not decided here: the collect may have expired at the switch
		// before this answer arrives, and then it ends U69. The outcome
		// comes with the switch's ReqTxnConfirmation.
		r.State = stateAuthDeclined
		if err := putTxn(c.Tx, r, c.Now()); err != nil {
			return err
		}
		return c.Send(p.switchName, upiv1.SwitchService_RespAuthDetails_FullMethodName, &upiv1.RespAuthDetails{
			Txn:   cloneTxn(m.GetTxn()),
			Payer: &upiv1.Party{Addr: m.GetPayer().GetAddr()},
			Payee: cloneParty(m.GetPayee()),
			Resp:  &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_FAILURE, ErrCode: code},
		})
	}

	authTxn, err := proto.Marshal(m.GetTxn())
	if err != nil {
		return err
	}
	authPayee, err := proto.Marshal(m.GetPayee())
	if err != nil {
		return err
	}
	r.PayerHere, r.PayerVpa, r.PayerName = true, v.Vpa, v.Name
	r.AuthReqMsgId, r.AuthTxn, r.AuthPayee = m.GetHead().GetMsgId(), authTxn, authPayee
	if mins := m.GetTxn().GetExpireAfterMinutes(); mins > 0 {
		r.Expires = store.Nanos(c.Now().Add(minutes(mins)))
	}
	if !told(r) {
		r.State = stateAwaitingApproval
	}
	if err := putTxn(c.Tx, r, c.Now()); err != nil {
		return err
	}
	if err := c.Tx.Put(store.Pending, pendingKey(r.PayerVpa, txnID), nil); err != nil {
		return err
	}
	payee := m.GetPayee()
	return p.notifyApp(c, &upiv1.Notification{
		Txn:      cloneTxn(m.GetTxn()),
		Kind:     upiv1.Notification_COLLECT_REQUEST,
		UserAddr: r.PayerVpa,
		Payer:    &upiv1.Party{Addr: v.Vpa, Name: v.Name, AmountPaise: amount, Currency: "INR"},
		Payee: &upiv1.Party{
			Addr: payee.GetAddr(), Name: payee.GetName(), Type: payee.GetType(), Code: payee.GetCode(),
			AmountPaise: amount, Currency: "INR",
		},
		Resp: &upiv1.Resp{Result: upiv1.Resp_PENDING},
	})
}

// InitiateCollect implements PspAppService: the payee, a user of this PSP,
// asks payer_vpa for money; it sends ReqPay COLLECT to the switch and
// answers PENDING.
func (p *PSP) InitiateCollect(_ context.Context, req *upiv1.InitiateCollectRequest) (*upiv1.InitiateCollectResponse, error) {
	payer, payee, err := checkTransfer(req.GetPayerVpa(), req.GetPayeeVpa(), req.GetAmountPaise())
	if err != nil {
		return nil, err
	}
	expiry := req.GetExpireAfterMinutes()
	switch {
	case expiry == 0:
		expiry = defaultCollectExpiry
	case expiry < 0 || expiry > maxCollectExpiry:
		return nil, invalid("expire_after_minutes must be between 1 and %d, got %d", maxCollectExpiry, expiry)
	}
	if err := checkTexts(textField{"note", "upi.v1.Txn.note", req.GetNote()}); err != nil {
		return nil, err
	}
	txnID, err := p.checkTxnID(req.GetTxnId())
	if err != nil {
		return nil, err
	}
	fp := fingerprint(upiv1.Txn_COLLECT.String(), payer, payee, strconv.FormatInt(req.GetAmountPaise(), 10), req.GetNote(),
		strconv.Itoa(int(expiry)))

	out, err := p.initiate(txnID, fp, "payee", payee, func(c *node.Ctx, v *vpaRecord) (*txnRecord, *upiv1.ReqPay) {
		r := &txnRecord{
			Id: txnID, Type: upiv1.Txn_COLLECT.String(), State: stateReqSent, Status: upiv1.Resp_PENDING.String(),
			PayerVpa: payer, PayeeVpa: v.Vpa, PayeeName: v.Name, AmountPaise: req.GetAmountPaise(), Note: req.GetNote(),
			Expires:   store.Nanos(c.Now().Add(time.Duration(expiry) * time.Minute)),
			PayeeHere: true, PayeeInitiator: true, Fingerprint: fp,
		}
		return r, &upiv1.ReqPay{
			Txn: &upiv1.Txn{
				Id: txnID, Type: upiv1.Txn_COLLECT, Note: req.GetNote(), Purpose: "00", InitiationMode: "00",
				Ts: timestamppb.New(c.Now()), ExpireAfterMinutes: expiry,
			},
			Payer: &upiv1.Party{Addr: payer, AmountPaise: req.GetAmountPaise(), Currency: "INR"},
			Payee: vpaParty(v, req.GetAmountPaise()),
		}
	})
	if err != nil {
		return nil, err
	}
	return &upiv1.InitiateCollectResponse{Transaction: txnProto(out)}, nil
}

// RespondCollect implements PspAppService: the payer approves a collect
// waiting for them (with their PIN block) or declines it; the answer goes to the
// switch as RespAuthDetails and can be given once.
func (p *PSP) RespondCollect(_ context.Context, req *upiv1.RespondCollectRequest) (*upiv1.RespondCollectResponse, error) {
	txnID := req.GetTxnId()
	if txnID == "" {
		return nil, invalid("txn_id is required")
	}
	if req.GetApprove() {
		if err := checkCred(req.GetCred()); err != nil {
			return nil, err
		}
	}
	if err := p.n.Acquire(); err != nil { // busy: refused at once, nothing done
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
		if r == nil || !collectPayer(r) || r.AuthReqMsgId == "" {
			return status.Errorf(codes.NotFound, "no collect request %s is waiting for a user of PSP %s", txnID, p.name)
		}
		switch {
		case r.Answer != "":
			return status.Errorf(codes.FailedPrecondition, "collect %s was already %s (status %s)", txnID, strings.ToLower(r.Answer), outcome(r))
		case r.Confirmed || isFinal(r):
			return status.Errorf(codes.FailedPrecondition, "collect %s is no longer waiting for approval: it ended %s", txnID, outcome(r))
		}
		v, err := getVPA(c.Tx, r.PayerVpa)
		if err != nil {
			return err
		}
		if v == nil {
			return status.Errorf(codes.FailedPrecondition, "payer %s is no longer registered at PSP %s", r.PayerVpa, p.name)
		}
		msg := &upiv1.RespAuthDetails{Txn: authTxn(r), Payee: authPayee(r)}
		if req.GetApprove() {
			payer := vpaParty(v, r.AmountPaise)
			payer.Creds = []*upiv1.Cred{pinCred(req.GetCred())}
			msg.Payer = payer
			msg.Resp = &upiv1.Resp{ReqMsgId: r.AuthReqMsgId, Result: upiv1.Resp_SUCCESS}
			r.Answer, r.State = answerApproved, stateApproved
		} else {
			msg.Payer = &upiv1.Party{Addr: v.Vpa, Name: v.Name, AmountPaise: r.AmountPaise, Currency: "INR"}
			msg.Resp = &upiv1.Resp{ReqMsgId: r.AuthReqMsgId, Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeDeclinedByPayer}
			r.Answer, r.State = answerDeclined, stateDeclined
		}
		if err := c.Send(p.switchName, upiv1.SwitchService_RespAuthDetails_FullMethodName, msg); err != nil {
			return err
		}
		if err := c.Tx.Delete(store.Pending, pendingKey(r.PayerVpa, r.Id)); err != nil {
			return err
		}
		if err := putTxn(c.Tx, r, c.Now()); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &upiv1.RespondCollectResponse{Transaction: txnProto(out)}, nil
}
