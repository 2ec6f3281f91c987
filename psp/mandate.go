package psp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// UPI Circle mandates at the PSPs (docs/FLOWS.md, "Link, full delegation"
// steps 2-10, and "Update and remove"). As PSP(P), the payer's PSP, it
// issues the UMN, sends ReqMandate CREATE (UPDATE, REVOKE) to the switch
// and keeps the mandate with the remitter's signature once RespMandate
// says SUCCESS. As PSP(S), the payee's, it resolves the payee for
// ReqAuthMandate and keeps the confirmed mandate, never its signature.
//
// Records are in store.Mandates: PSP(P)'s by UMN, PSP(S)'s by
// "payee/<UMN>" (one PSP may be both sides).

type mandateRecord = recordsv1.PspMandate

var mandates = store.NewTable[mandateRecord](store.Mandates)

// Mandate statuses at a PSP.
const (
	MandateCreated = "CREATED"
	MandateActive  = "ACTIVE"
	MandateFailure = "FAILURE"
	MandateRevoked = "REVOKED"
)

// mandatePurpose is txn.purpose of UPI Circle messages.
const mandatePurpose = "87"

// The role of a mandate record.
const (
	mandatePayer = "payer"
	mandatePayee = "payee"
)

func mandateKey(role, umn string) string {
	if role == mandatePayee {
		return "payee/" + umn
	}
	return umn
}

func getMandate(tx *store.Tx, role, umn string) (*mandateRecord, error) {
	r, ok, err := mandates.Get(tx, mandateKey(role, umn))
	if err != nil || !ok {
		return nil, err
	}
	return r, nil
}

func putMandate(tx *store.Tx, r *mandateRecord, now time.Time) error {
	r.Updated = store.Nanos(now)
	if r.Created == 0 {
		r.Created = r.Updated
	}
	return mandates.Put(tx, mandateKey(r.Role, r.Umn), r)
}

// MandateRequest is a mandate PSP(P) is asked to register: the link id as
// txn id, the primary (payer), the secondary (payee), the monthly limit,
// the validity (DDMMYYYY; default today and a year on, IST) and the PIN
// block the TPAP sealed for the txn id.
type MandateRequest struct {
	TxnID, PayerVPA, PayeeVPA  string
	AmountPaise                int64
	ValidityStart, ValidityEnd string
	Cred                       *upiv1.Cred
}

// umnFor is the UMN PSP(P) issues for txnID: its prefix, 29 upper-case hex
// digits (of SHA-256 of the txn id, so a repeat issues the same UMN) and
// "@" the payer's handle.
func (p *PSP) umnFor(txnID, payerVPA string) string {
	h := sha256.Sum256([]byte("upisim umn\x00" + txnID))
	return p.prefix + strings.ToUpper(hex.EncodeToString(h[:]))[:29] + "@" + ids.HandleOf(payerVPA)
}

var istZone = time.FixedZone("IST", 5*3600+1800)

// createMandate is the step of a CREATE: it issues the UMN, keeps the
// mandate CREATED and queues ReqMandate CREATE. A repeat of the same
// request returns the same UMN and sends nothing; the txn id used for
// another mandate is AlreadyExists. Errors are statuses or store errors.
func (p *PSP) createMandate(c *node.Ctx, m MandateRequest) (umn string, err error) {
	umn = p.umnFor(m.TxnID, m.PayerVPA)
	start, end := m.ValidityStart, m.ValidityEnd
	if start == "" {
		start = c.Now().In(istZone).Format(upi.MandateDate)
	}
	if end == "" {
		end = c.Now().In(istZone).AddDate(1, 0, 0).Format(upi.MandateDate)
	}
	fp := fingerprint(m.PayerVPA, m.PayeeVPA, strconv.FormatInt(m.AmountPaise, 10), start, end)
	old, err := getMandate(c.Tx, mandatePayer, umn)
	if err != nil {
		return "", err
	}
	if old != nil {
		if old.Fingerprint != fp {
			return "", status.Errorf(codes.AlreadyExists, "txn_id %s was already used for a different mandate", m.TxnID)
		}
		return umn, nil
	}
	v, err := getVPA(c.Tx, m.PayerVPA)
	if err != nil {
		return "", err
	}
	if v == nil {
		return "", p.notRegistered("payer", m.PayerVPA)
	}
	r := &mandateRecord{
		Umn: umn, TxnId: m.TxnID, Status: MandateCreated, Role: mandatePayer, PayerVpa: v.Vpa, PayeeVpa: m.PayeeVPA,
		AmountPaise: m.AmountPaise, ValidityStart: start, ValidityEnd: end, Fingerprint: fp,
	}
	if err := putMandate(c.Tx, r, c.Now()); err != nil {
		return "", err
	}
	return umn, p.sendMandate(c, r, upiv1.Txn_CREATE, m.TxnID, "", m.AmountPaise, m.Cred, v)
}

// sendMandate queues ReqMandate of type t for r.
func (p *PSP) sendMandate(c *node.Ctx, r *mandateRecord, t upiv1.Txn_Type, txnID, orgTxnID string, amount int64, cred *upiv1.Cred, v *vpaRecord) error {
	payer := vpaParty(v, 0)
	if cred != nil {
		payer.Creds = []*upiv1.Cred{pinCred(cred)}
	}
	return c.Send(p.switchName, upiv1.SwitchService_ReqMandate_FullMethodName, &upiv1.ReqMandate{
		Txn: &upiv1.Txn{Id: txnID, Type: t, OrgTxnId: orgTxnID, Purpose: mandatePurpose, Note: "UPI Circle", Ts: timestamppb.New(c.Now())},
		Mandate: &upiv1.Mandate{
			Name: "UPI Circle", Umn: r.Umn, ValidityStart: r.ValidityStart, ValidityEnd: r.ValidityEnd,
			AmountPaise: amount, AmountRule: upiv1.Mandate_MAX, Recurrence: upiv1.Mandate_ASPRESENTED,
			Revokeable: true, BlockFund: false,
		},
		Payer: payer,
		Payee: &upiv1.Party{Addr: r.PayeeVpa},
	})
}

// changeMandate starts an UPDATE or REVOKE of PSP(P)'s mandate umn under
// txnID: a repeat of the one under way sends nothing.
func (p *PSP) changeMandate(c *node.Ctx, t upiv1.Txn_Type, txnID, orgTxnID, umn string, amount int64, cred *upiv1.Cred) error {
	r, err := getMandate(c.Tx, mandatePayer, umn)
	if err != nil {
		return err
	}
	if r == nil {
		return status.Errorf(codes.NotFound, "mandate %s is not known at PSP %s", umn, p.name)
	}
	if r.PendingTxnId == txnID || r.LastTxnId == txnID {
		return nil
	}
	switch {
	case r.PendingTxnId != "":
		return status.Errorf(codes.FailedPrecondition, "mandate %s has a %s under way (txn %s)", umn, r.PendingType, r.PendingTxnId)
	case r.Status != MandateActive:
		return status.Errorf(codes.FailedPrecondition, "mandate %s is %s, not ACTIVE", umn, r.Status)
	}
	v, err := getVPA(c.Tx, r.PayerVpa)
	if err != nil {
		return err
	}
	if v == nil {
		return p.notRegistered("payer", r.PayerVpa)
	}
	if orgTxnID == "" {
		orgTxnID = r.TxnId
	}
	if t == upiv1.Txn_REVOKE {
		amount = r.AmountPaise
	}
	r.PendingTxnId, r.PendingType, r.PendingAmountPaise = txnID, t.String(), amount
	if err := putMandate(c.Tx, r, c.Now()); err != nil {
		return err
	}
	return p.sendMandate(c, r, t, txnID, orgTxnID, amount, cred, v)
}

// updateMandate is the step of an UPDATE: the new amount, same UMN, a new
// txn id whose org_txn_id is the link id, the payer's PIN block.
func (p *PSP) updateMandate(c *node.Ctx, txnID, orgTxnID, umn string, amount int64, cred *upiv1.Cred) error {
	return p.changeMandate(c, upiv1.Txn_UPDATE, txnID, orgTxnID, umn, amount, cred)
}

// revokeMandate is the step of a REVOKE (no PIN).
func (p *PSP) revokeMandate(c *node.Ctx, txnID, orgTxnID, umn string) error {
	return p.changeMandate(c, upiv1.Txn_REVOKE, txnID, orgTxnID, umn, 0, nil)
}

func (p *PSP) mandateRoutes() []node.Route {
	return []node.Route{
		{Method: upiv1.PspService_RespMandate_FullMethodName, From: fromSwitch,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.RespMandate) error {
				if m.GetMandate().GetUmn() == "" {
					return node.Refuse("RespMandate needs mandate.umn")
				}
				return needResult(in.API, m.GetResp())
			}),
			Handle: node.Handles(func(c *node.Ctx, _ *node.Inbound, m *upiv1.RespMandate) error { return p.respMandate(c, m) })},
		{Method: upiv1.PspService_ReqAuthMandate_FullMethodName, From: fromSwitch,
			Validate: node.Validates(func(_ *node.Inbound, m *upiv1.ReqAuthMandate) error {
				if m.GetMandate().GetUmn() == "" {
					return node.Refuse("ReqAuthMandate needs mandate.umn")
				}
				return p.checkOwnVPA("ReqAuthMandate: payee.addr", m.GetPayee().GetAddr())
			}),
			Handle: node.Handles(func(c *node.Ctx, in *node.Inbound, m *upiv1.ReqAuthMandate) error { return p.reqAuthMandate(c, in, m) })},
		{Method: upiv1.PspService_ReqMandateConfirmation_FullMethodName, From: fromSwitch,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.ReqMandateConfirmation) error {
				if m.GetMandate().GetUmn() == "" {
					return node.Refuse("ReqMandateConfirmation needs mandate.umn")
				}
				return needResult(in.API, m.GetResp())
			}),
			Handle: node.Handles(func(c *node.Ctx, in *node.Inbound, m *upiv1.ReqMandateConfirmation) error {
				return p.reqMandateConfirmation(c, in, m)
			})},
	}
}

// respMandate applies the outcome to PSP(P)'s mandate, then tells
// p.onMandate in the same step.
func (p *PSP) respMandate(c *node.Ctx, m *upiv1.RespMandate) error {
	t, md, resp := m.GetTxn(), m.GetMandate(), m.GetResp()
	r, err := getMandate(c.Tx, mandatePayer, md.GetUmn())
	if err != nil || r == nil {
		return err
	}
	ok := resp.GetResult() == upiv1.Resp_SUCCESS
	switch {
	case t.GetId() == r.TxnId && r.Status == MandateCreated:
		if ok {
			r.Status, r.Signature, r.ErrCode = MandateActive, md.GetSignature(), ""
		} else {
			r.Status, r.ErrCode = MandateFailure, resp.GetErrCode()
		}
	case t.GetId() == r.PendingTxnId:
		if ok {
			if r.PendingType == upiv1.Txn_REVOKE.String() {
				r.Status = MandateRevoked
			} else {
				r.AmountPaise, r.Signature = r.PendingAmountPaise, md.GetSignature()
			}
		}
		r.PendingTxnId, r.PendingType, r.PendingAmountPaise = "", "", 0
	default:
		return nil // a repeat, or not ours to change
	}
	r.LastTxnId, r.LastResult, r.LastErrCode = t.GetId(), resp.GetResult().String(), resp.GetErrCode()
	if err := putMandate(c.Tx, r, c.Now()); err != nil {
		return err
	}
	if p.onMandate != nil {
		return p.onMandate(c, t.GetId(), t.GetOrgTxnId(), r.Umn, resp)
	}
	return nil
}

// reqAuthMandate is PSP(S) resolving the mandate's payee: SUCCESS with its
// name and no account details, FAILURE U29 for a VPA it does not have.
func (p *PSP) reqAuthMandate(c *node.Ctx, in *node.Inbound, m *upiv1.ReqAuthMandate) error {
	resp := &upiv1.RespAuthMandate{
		Txn: m.GetTxn(), Mandate: m.GetMandate(), Payer: m.GetPayer(),
		Resp: &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
	}
	v, err := getVPA(c.Tx, m.GetPayee().GetAddr())
	if err != nil {
		return err
	}
	if v == nil {
		resp.Resp.Result, resp.Resp.ErrCode = upiv1.Resp_FAILURE, upi.CodeAddrResolution
	} else {
		resp.Payee = &upiv1.Party{Addr: v.Vpa, Name: v.Name, Type: partyType(v), Code: v.Mcc}
		md := m.GetMandate()
		r, err := getMandate(c.Tx, mandatePayee, md.GetUmn())
		if err != nil {
			return err
		}
		if r == nil && m.GetTxn().GetType() == upiv1.Txn_CREATE {
			r = &mandateRecord{
				Umn: md.GetUmn(), TxnId: m.GetTxn().GetId(), Role: mandatePayee, Status: MandateCreated,
				PayerVpa: m.GetPayer().GetAddr(), PayeeVpa: v.Vpa, PayeeName: v.Name, AmountPaise: md.GetAmountPaise(),
				ValidityStart: md.GetValidityStart(), ValidityEnd: md.GetValidityEnd(),
			}
			if err := putMandate(c.Tx, r, c.Now()); err != nil {
				return err
			}
		}
	}
	return c.Send(in.From, upiv1.SwitchService_RespAuthMandate_FullMethodName, resp)
}

// reqMandateConfirmation is PSP(S) keeping the outcome: the mandate
// without signature, ACTIVE (or REVOKED) on SUCCESS.
func (p *PSP) reqMandateConfirmation(c *node.Ctx, in *node.Inbound, m *upiv1.ReqMandateConfirmation) error {
	t, md, resp := m.GetTxn(), m.GetMandate(), m.GetResp()
	r, err := getMandate(c.Tx, mandatePayee, md.GetUmn())
	if err != nil {
		return err
	}
	ok := resp.GetResult() == upiv1.Resp_SUCCESS
	if r == nil && (t.GetType() == upiv1.Txn_CREATE || ok) {
		r = &mandateRecord{Umn: md.GetUmn(), TxnId: t.GetId(), Role: mandatePayee, Status: MandateFailure}
	}
	if r != nil && r.LastTxnId != t.GetId() {
		if ok {
			r.Status = MandateActive
			if t.GetType() == upiv1.Txn_REVOKE {
				r.Status = MandateRevoked
			} else {
				r.AmountPaise, r.ValidityStart, r.ValidityEnd = md.GetAmountPaise(), md.GetValidityStart(), md.GetValidityEnd()
			}
		} else if t.GetType() == upiv1.Txn_CREATE {
			r.Status, r.ErrCode = MandateFailure, resp.GetErrCode()
		}
		r.LastTxnId, r.LastResult, r.LastErrCode = t.GetId(), resp.GetResult().String(), resp.GetErrCode()
		if err := putMandate(c.Tx, r, c.Now()); err != nil {
			return err
		}
	}
	return c.Send(in.From, upiv1.SwitchService_RespMandateConfirmation_FullMethodName, &upiv1.RespMandateConfirmation{
		Txn: t, Resp: &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
	})
}

func mandateInfo(r *mandateRecord) *upiv1.MandateInfo {
	return &upiv1.MandateInfo{
		Umn: r.Umn, TxnId: r.TxnId, Status: r.Status, ErrCode: r.ErrCode, PayerVpa: r.PayerVpa, PayeeVpa: r.PayeeVpa,
		PayeeName: r.PayeeName, AmountPaise: r.AmountPaise, ValidityStart: r.ValidityStart, ValidityEnd: r.ValidityEnd,
		Signature: r.Signature, Role: r.Role, PendingTxnId: r.PendingTxnId, PendingType: r.PendingType,
		LastTxnId: r.LastTxnId, LastResult: r.LastResult, LastErrCode: r.LastErrCode,
	}
}

// mandateStep runs step as one app request's transaction and answers the
// mandate umn as it is then (PSP(P)'s).
func (p *PSP) mandateStep(umn func() string, step func(c *node.Ctx) error) (*upiv1.MandateInfo, error) {
	if err := p.n.Acquire(); err != nil {
		return nil, err
	}
	defer p.n.Release()
	var out *upiv1.MandateInfo
	err := p.n.Update(func(c *node.Ctx) error {
		if err := step(c); err != nil {
			return err
		}
		r, err := getMandate(c.Tx, mandatePayer, umn())
		if err != nil || r == nil {
			return err
		}
		out = mandateInfo(r)
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return out, nil
}

// CreateMandate implements PspAppService (FLOWS "Link, full delegation"
// step 2).
func (p *PSP) CreateMandate(_ context.Context, req *upiv1.CreateMandateRequest) (*upiv1.CreateMandateResponse, error) {
	payer, payee, err := checkTransfer(req.GetPayerVpa(), req.GetPayeeVpa(), req.GetAmountPaise())
	if err != nil {
		return nil, err
	}
	if err := checkCred(req.GetCred()); err != nil {
		return nil, err
	}
	for _, d := range []string{req.GetValidityStart(), req.GetValidityEnd()} {
		if _, err := time.Parse(upi.MandateDate, d); d != "" && err != nil {
			return nil, invalid("validity %q is not DDMMYYYY", d)
		}
	}
	if req.GetTxnId() == "" {
		return nil, invalid("txn_id is required (the link id)")
	}
	txnID, err := p.checkTxnID(req.GetTxnId())
	if err != nil {
		return nil, err
	}
	var umn string
	info, err := p.mandateStep(func() string { return umn }, func(c *node.Ctx) (err error) {
		umn, err = p.createMandate(c, MandateRequest{
			TxnID: txnID, PayerVPA: payer, PayeeVPA: payee, AmountPaise: req.GetAmountPaise(),
			ValidityStart: req.GetValidityStart(), ValidityEnd: req.GetValidityEnd(), Cred: req.GetCred(),
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &upiv1.CreateMandateResponse{Mandate: info}, nil
}

// UpdateMandate implements PspAppService.
func (p *PSP) UpdateMandate(_ context.Context, req *upiv1.UpdateMandateRequest) (*upiv1.UpdateMandateResponse, error) {
	if req.GetAmountPaise() <= 0 {
		return nil, invalid("amount_paise must be greater than zero")
	}
	if err := checkCred(req.GetCred()); err != nil {
		return nil, err
	}
	txnID, err := p.checkTxnID(req.GetTxnId())
	if err != nil {
		return nil, err
	}
	info, err := p.mandateStep(func() string { return req.GetUmn() }, func(c *node.Ctx) error {
		return p.updateMandate(c, txnID, req.GetOrgTxnId(), req.GetUmn(), req.GetAmountPaise(), req.GetCred())
	})
	if err != nil {
		return nil, err
	}
	return &upiv1.UpdateMandateResponse{Mandate: info}, nil
}

// RevokeMandate implements PspAppService.
func (p *PSP) RevokeMandate(_ context.Context, req *upiv1.RevokeMandateRequest) (*upiv1.RevokeMandateResponse, error) {
	txnID, err := p.checkTxnID(req.GetTxnId())
	if err != nil {
		return nil, err
	}
	info, err := p.mandateStep(func() string { return req.GetUmn() }, func(c *node.Ctx) error {
		return p.revokeMandate(c, txnID, req.GetOrgTxnId(), req.GetUmn())
	})
	if err != nil {
		return nil, err
	}
	return &upiv1.RevokeMandateResponse{Mandate: info}, nil
}

// QueryMandate implements PspAppService: PSP(P)'s record of umn, else
// PSP(S)'s.
func (p *PSP) QueryMandate(_ context.Context, req *upiv1.QueryMandateRequest) (*upiv1.QueryMandateResponse, error) {
	var r *mandateRecord
	err := p.n.View(func(tx *store.Tx) (err error) {
		if r, err = getMandate(tx, mandatePayer, req.GetUmn()); err != nil || r != nil {
			return err
		}
		r, err = getMandate(tx, mandatePayee, req.GetUmn())
		return err
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read mandate: %v", err)
	}
	if r == nil {
		return nil, status.Errorf(codes.NotFound, "mandate %s is not known at PSP %s", req.GetUmn(), p.name)
	}
	return &upiv1.QueryMandateResponse{Mandate: mandateInfo(r)}, nil
}
