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
			AmountPaise: amount, Note: m.GetTxn().GetNote(), RefId: m.GetTxn().GetRefId(),
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
	cr, fp, err := p.checkCollect(CollectRequest{
		TxnID: req.GetTxnId(), PayeeVPA: req.GetPayeeVpa(), PayerVPA: req.GetPayerVpa(), AmountPaise: req.GetAmountPaise(),
		Note: req.GetNote(), ExpireAfterMinutes: req.GetExpireAfterMinutes(),
	})
	if err != nil {
		return nil, err
	}
	out, err := p.initiate(cr.TxnID, fp, "payee", cr.PayeeVPA, p.collectStart(cr, fp))
	if err != nil {
		return nil, err
	}
	return &upiv1.InitiateCollectResponse{Transaction: txnProto(out)}, nil
}

// CollectRequest is a collect a layer in the PSP's process (the merchant
// layer) starts with StartCollect: what InitiateCollect takes, and the
// ref_id the ReqPay COLLECT's txn carries (the merchant's order id).
// TxnID "" makes one; ExpireAfterMinutes 0 is the default (30).
type CollectRequest struct {
	TxnID, PayeeVPA, PayerVPA string
	AmountPaise               int64
	Note, RefID               string
	ExpireAfterMinutes        int32
}

// StartCollect starts a collect in the caller's step c, as InitiateCollect
// does in its own: the payee must be a user of this PSP; the record and
// the ReqPay COLLECT commit with c's step or not at all. It returns the
// txn id. The same request again under the same TxnID returns it and
// sends nothing; a TxnID used for another request is AlreadyExists. Bad
// input is an InvalidArgument status, an unknown payee NotFound. The
// outcome comes as for any collect this PSP initiated (Config.OnOutcome,
// OnDeemed).
func (p *PSP) StartCollect(c *node.Ctx, r CollectRequest) (string, error) {
	cr, fp, err := p.checkCollect(r)
	if err != nil {
		return "", err
	}
	out, err := p.initiateIn(c, cr.TxnID, fp, "payee", cr.PayeeVPA, p.collectStart(cr, fp))
	if err != nil {
		return "", err
	}
	return out.Id, nil
}

// checkCollect checks a collect request and returns it normalized (VPAs,
// expiry, txn id) with its fingerprint.
func (p *PSP) checkCollect(r CollectRequest) (CollectRequest, string, error) {
	payer, payee, err := checkTransfer(r.PayerVPA, r.PayeeVPA, r.AmountPaise)
	if err != nil {
		return r, "", err
	}
	r.PayerVPA, r.PayeeVPA = payer, payee
	switch {
	case r.ExpireAfterMinutes == 0:
		r.ExpireAfterMinutes = defaultCollectExpiry
	case r.ExpireAfterMinutes < 0 || r.ExpireAfterMinutes > maxCollectExpiry:
		return r, "", invalid("expire_after_minutes must be between 1 and %d, got %d", maxCollectExpiry, r.ExpireAfterMinutes)
	}
	if err := checkTexts(
		textField{"note", "upi.v1.Txn.note", r.Note},
		textField{"ref_id", "upi.v1.Txn.ref_id", r.RefID},
	); err != nil {
		return r, "", err
	}
	if r.TxnID, err = p.checkTxnID(r.TxnID); err != nil {
		return r, "", err
	}
	fields := []string{upiv1.Txn_COLLECT.String(), payer, payee, strconv.FormatInt(r.AmountPaise, 10), r.Note,
		strconv.Itoa(int(r.ExpireAfterMinutes))}
	if r.RefID != "" { // only when given: the fingerprints stored before ref_id still match
		fields = append(fields, "ref_id", r.RefID)
	}
	return r, fingerprint(fields...), nil
}

// collectStart builds the record and the ReqPay COLLECT of r (checked).
func (p *PSP) collectStart(r CollectRequest, fp string) func(*node.Ctx, *vpaRecord) (*txnRecord, *upiv1.ReqPay) {
	return func(c *node.Ctx, v *vpaRecord) (*txnRecord, *upiv1.ReqPay) {
		rec := &txnRecord{
			Id: r.TxnID, Type: upiv1.Txn_COLLECT.String(), State: stateReqSent, Status: upiv1.Resp_PENDING.String(),
			PayerVpa: r.PayerVPA, PayeeVpa: v.Vpa, PayeeName: v.Name, AmountPaise: r.AmountPaise, Note: r.Note,
			Expires:   store.Nanos(c.Now().Add(time.Duration(r.ExpireAfterMinutes) * time.Minute)),
			PayeeHere: true, PayeeInitiator: true, Fingerprint: fp, RefId: r.RefID,
		}
		return rec, &upiv1.ReqPay{
			Txn: &upiv1.Txn{
				Id: r.TxnID, Type: upiv1.Txn_COLLECT, Note: r.Note, RefId: r.RefID, Purpose: "00", InitiationMode: "00",
				Ts: timestamppb.New(c.Now()), ExpireAfterMinutes: r.ExpireAfterMinutes,
			},
			Payer: &upiv1.Party{Addr: r.PayerVPA, AmountPaise: r.AmountPaise, Currency: "INR"},
			Payee: vpaParty(v, r.AmountPaise),
		}
	}
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
