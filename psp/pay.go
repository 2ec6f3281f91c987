// Pay (docs/FLOWS.md, Pay): the payer's app asks this PSP to pay, and the
// payee's PSP resolves the payee for the switch. ReqAuthDetails is one
// method for pay and collect; its route is here and hands a COLLECT to
// collect.go.

package psp

import (
	"context"
	"strconv"

	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/upi"
)

// payRoutes are the pay and collect messages (docs/FLOWS.md, Pay and
// Collect), with the stateless rules of each.
func (p *PSP) payRoutes() []node.Route {
	return []node.Route{
		{Method: upiv1.PspService_ReqAuthDetails_FullMethodName, From: fromSwitch,
			Validate: node.Validates(p.validateReqAuthDetails),
			Handle: node.Handles(func(c *node.Ctx, _ *node.Inbound, m *upiv1.ReqAuthDetails) error {
				switch m.GetTxn().GetType() {
				case upiv1.Txn_COLLECT:
					return p.collectAuthDetails(c, m)
				case upiv1.Txn_LITE_SYNC:
					return p.liteAuthDetails(c, m) // lite.go
				}
				return p.payAuthDetails(c, m)
			})},
		{Method: upiv1.PspService_RespPay_FullMethodName, From: fromSwitch,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.RespPay) error { return needResult(in.API, m.GetResp()) }),
			Handle:   node.Handles(func(c *node.Ctx, _ *node.Inbound, m *upiv1.RespPay) error { return p.respPay(c, m) })},
		{Method: upiv1.PspService_ReqTxnConfirmation_FullMethodName, From: fromSwitch,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.ReqTxnConfirmation) error {
				if m.GetTxn().GetType() == upiv1.Txn_LITE_SYNC {
					return p.validateLiteConfirmation(m) // its records are its outcome
				}
				return needResult(in.API, m.GetResp())
			}),
			Handle: node.Handles(func(c *node.Ctx, _ *node.Inbound, m *upiv1.ReqTxnConfirmation) error {
				switch m.GetTxn().GetType() {
				case upiv1.Txn_DELEGATE:
					return p.delegateConfirmation(c, m) // circle.go
				case upiv1.Txn_LITE_SYNC:
					return p.liteConfirmation(c, m) // lite.go
				}
				return p.reqTxnConfirmation(c, m)
			})},
		// What this PSP sends: a ReqPay the switch refuses ends here.
		{Method: upiv1.SwitchService_ReqPay_FullMethodName, Refused: p.reqPayRefused, Acked: p.reqPayAcked},
	}
}

// validateReqAuthDetails: the amount, and the VPA this PSP resolves.
func (p *PSP) validateReqAuthDetails(_ *node.Inbound, m *upiv1.ReqAuthDetails) error {
	switch m.GetTxn().GetType() {
	case upiv1.Txn_PAY:
		if authAmount(m) <= 0 {
			return node.Refuse("ReqAuthDetails PAY: payer.amount_paise must be greater than zero")
		}
		return p.checkOwnVPA("ReqAuthDetails PAY: payee.addr", m.GetPayee().GetAddr())
	case upiv1.Txn_COLLECT:
		if authAmount(m) <= 0 {
			return node.Refuse("ReqAuthDetails COLLECT: payee.amount_paise must be greater than zero")
		}
		return p.checkOwnVPA("ReqAuthDetails COLLECT: payer.addr", m.GetPayer().GetAddr())
	case upiv1.Txn_LITE_SYNC: // a sync's payee (lite.go)
		return p.checkOwnVPA("ReqAuthDetails LITE_SYNC: payee.addr", m.GetPayee().GetAddr())
	default:
		return node.Refuse("ReqAuthDetails: txn.type is %s, want PAY, COLLECT or LITE_SYNC", m.GetTxn().GetType())
	}
}

// payAuthDetails is step 4–5 of Pay at the payee's PSP: resolve the payee
// and answer RespAuthDetails with their account, or FAILURE U29.
func (p *PSP) payAuthDetails(c *node.Ctx, m *upiv1.ReqAuthDetails) error {
	txnID := m.GetTxn().GetId()
	r, err := getTxn(c.Tx, txnID)
	if err != nil {
		return err
	}
	if r != nil && r.Type != upiv1.Txn_PAY.String() {
		return node.Refuse("ReqAuthDetails PAY for txn %s, which is a %s at PSP %s", txnID, r.Type, p.name)
	}
	v, err := getVPA(c.Tx, m.GetPayee().GetAddr())
	if err != nil {
		return err
	}
	amount := authAmount(m)
	if r == nil {
		r = &txnRecord{
			Id: txnID, Type: upiv1.Txn_PAY.String(), Role: rolePayee, Status: upiv1.Resp_PENDING.String(),
			PayerVpa: ids.NormalizeVPA(m.GetPayer().GetAddr()), PayerName: m.GetPayer().GetName(),
			PayeeVpa: ids.NormalizeVPA(m.GetPayee().GetAddr()), AmountPaise: amount, Note: m.GetTxn().GetNote(),
		}
	}
	if rrn := m.GetTxn().GetCustRef(); rrn != "" {
		r.Rrn = rrn
	}
	if ref := m.GetTxn().GetRefId(); ref != "" {
		r.RefId = ref // an on-us payer's record has it already
	}
	open := !told(r)
	resp := &upiv1.RespAuthDetails{Txn: cloneTxn(m.GetTxn()), Payer: cloneParty(m.GetPayer())}
	code := upi.CodeAddrResolution
	if v != nil {
		code = c.Decline() // a rule of the network file, else ""
	}
	if code == "" && p.cfg.OnAuthDetails != nil && !isFinal(r) {
		// The payee's layer (the merchant's) may decline it. Not for a
		// ReqAuthDetails that comes after the payment ended without this
		// PSP (a crash kept it until after the switch's U09): no payment
		// starts then, and the layer would wait for one for ever.
		o := outcomeOf(r)
		o.Result = upiv1.Resp_PENDING
		o.Payee.VPA, o.Payee.Name, o.Payee.Here = v.Vpa, v.Name, true
		if code, err = p.cfg.OnAuthDetails(c, o); err != nil {
			return err
		}
	}
	if code != "" {
		resp.Payee = &upiv1.Party{Addr: m.GetPayee().GetAddr()}
		resp.Resp = &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_FAILURE, ErrCode: code}
		if open {
			// Declining does not decide the transaction: the switch does,
			// and tells (RespPay to the initiator, ReqTxnConfirmation to
			// the counter-party).
			r.State = stateAuthDeclined
		}
	} else {
		resp.Payee = vpaParty(v, amount)
		resp.Resp = &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}
		r.PayeeHere, r.PayeeVpa, r.PayeeName = true, v.Vpa, v.Name
		if open {
			r.State = stateAuthSent
		}
	}
	if err := putTxn(c.Tx, r, c.Now()); err != nil {
		return err
	}
	return c.Send(p.switchName, upiv1.SwitchService_RespAuthDetails_FullMethodName, resp)
}

// InitiatePay implements PspAppService: it checks the payment, records it
// and sends ReqPay PAY to the switch, and answers PENDING.
func (p *PSP) InitiatePay(_ context.Context, req *upiv1.InitiatePayRequest) (*upiv1.InitiatePayResponse, error) {
	if lite.IsPurpose(req.GetPurpose()) || req.GetLite() != nil {
		return p.initiateLitePay(req) // lite.go
	}
	payer, payee, err := checkTransfer(req.GetPayerVpa(), req.GetPayeeVpa(), req.GetAmountPaise())
	if err != nil {
		return nil, err
	}
	if err := checkTexts(
		textField{"note", "upi.v1.Txn.note", req.GetNote()},
		textField{"device_id", "upi.v1.Device.id", req.GetDeviceId()},
		textField{"ref_id", "upi.v1.Txn.ref_id", req.GetRefId()},
		textField{"purpose", "upi.v1.Txn.purpose", req.GetPurpose()},
		textField{"initiation_mode", "upi.v1.Txn.initiation_mode", req.GetInitiationMode()},
	); err != nil {
		return nil, err
	}
	if err := checkCred(req.GetCred()); err != nil {
		return nil, err
	}
	txnID, err := p.checkTxnID(req.GetTxnId())
	if err != nil {
		return nil, err
	}
	// The fingerprint keeps a keyed tag of the block's ciphertext: a TPAP
	// retrying the same call sends the same block, and nothing stored is
	// a plain hash of a credential.
	block := pinCred(req.GetCred())
	fp := fingerprint(payer, payee, strconv.FormatInt(req.GetAmountPaise(), 10), req.GetNote(), p.pinTag(block.GetData(), txnID),
		req.GetDeviceId(), req.GetRefId(), req.GetPurpose(), req.GetInitiationMode())

	out, err := p.initiate(txnID, fp, "payer", payer, func(c *node.Ctx, v *vpaRecord) (*txnRecord, *upiv1.ReqPay) {
		r := &txnRecord{
			Id: txnID, Type: upiv1.Txn_PAY.String(), State: stateReqSent, Status: upiv1.Resp_PENDING.String(),
			PayerVpa: v.Vpa, PayerName: v.Name, PayeeVpa: payee, AmountPaise: req.GetAmountPaise(), Note: req.GetNote(),
			PayerHere: true, PayerInitiator: true, Fingerprint: fp, RefId: req.GetRefId(),
		}
		pr := vpaParty(v, req.GetAmountPaise())
		pr.Creds = []*upiv1.Cred{block}
		if req.GetDeviceId() != "" {
			pr.Device = &upiv1.Device{Id: req.GetDeviceId()}
		}
		return r, &upiv1.ReqPay{
			Txn: &upiv1.Txn{
				Id: txnID, Type: upiv1.Txn_PAY, Note: req.GetNote(), RefId: req.GetRefId(),
				Purpose: orDefault(req.GetPurpose(), "00"), InitiationMode: orDefault(req.GetInitiationMode(), "00"),
				Ts: timestamppb.New(c.Now()),
			},
			Payer: pr,
			Payee: &upiv1.Party{Addr: payee},
		}
	})
	if err != nil {
		return nil, err
	}
	return &upiv1.InitiatePayResponse{Transaction: txnProto(out)}, nil
}
