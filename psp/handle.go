package psp

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// fromSwitch: a PSP takes network messages only from the switch.
var fromSwitch = []string{config.RoleSwitch}

// payRoutes are the pay and collect messages (docs/FLOWS.md, Pay and
// Collect), with the stateless rules of each.
func (p *PSP) payRoutes() []node.Route {
	return []node.Route{
		{Method: upiv1.PspService_ReqAuthDetails_FullMethodName, From: fromSwitch,
			Validate: node.Validates(p.validateReqAuthDetails),
			Handle: node.Handles(func(c *node.Ctx, _ *node.Inbound, m *upiv1.ReqAuthDetails) error {
				if m.GetTxn().GetType() == upiv1.Txn_COLLECT {
					return p.collectAuthDetails(c, m)
				}
				return p.payAuthDetails(c, m)
			})},
		{Method: upiv1.PspService_RespPay_FullMethodName, From: fromSwitch,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.RespPay) error { return needResult(in.API, m.GetResp()) }),
			Handle:   node.Handles(func(c *node.Ctx, _ *node.Inbound, m *upiv1.RespPay) error { return p.respPay(c, m) })},
		{Method: upiv1.PspService_ReqTxnConfirmation_FullMethodName, From: fromSwitch,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.ReqTxnConfirmation) error { return needResult(in.API, m.GetResp()) }),
			Handle: node.Handles(func(c *node.Ctx, _ *node.Inbound, m *upiv1.ReqTxnConfirmation) error {
				return p.reqTxnConfirmation(c, m)
			})},
		// What this PSP sends: a ReqPay the switch refuses ends here.
		{Method: upiv1.SwitchService_ReqPay_FullMethodName, Refused: p.reqPayRefused},
	}
}

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

// hbtRoutes are the heartbeats both ways (docs/FLOWS.md, Heartbeat).
func (p *PSP) hbtRoutes() []node.Route {
	return []node.Route{
		{Method: upiv1.PspService_ReqHbt_FullMethodName, From: fromSwitch,
			Handle: node.Handles(func(c *node.Ctx, _ *node.Inbound, m *upiv1.ReqHbt) error {
				return c.Send(p.switchName, upiv1.SwitchService_RespHbt_FullMethodName, &upiv1.RespHbt{
					Txn:  cloneTxn(m.GetTxn()),
					Resp: &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
				})
			})},
		{Method: upiv1.PspService_RespHbt_FullMethodName, From: fromSwitch,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.RespHbt) error { return needResult(in.API, m.GetResp()) }),
			Handle: node.Handles(func(c *node.Ctx, _ *node.Inbound, m *upiv1.RespHbt) error {
				if m.GetResp().GetResult() == upiv1.Resp_SUCCESS {
					return c.Tx.Put(store.Meta, []byte(metaLastHbt), []byte(c.Now().UTC().Format(timeFormat)))
				}
				return nil
			})},
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
	default:
		return node.Refuse("ReqAuthDetails: txn.type is %s, want PAY or COLLECT", m.GetTxn().GetType())
	}
}

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
			ID: txnID, Type: upiv1.Txn_PAY.String(), Role: rolePayee, Status: upiv1.Resp_PENDING.String(),
			PayerVPA: ids.NormalizeVPA(m.GetPayer().GetAddr()), PayerName: m.GetPayer().GetName(),
			PayeeVPA: ids.NormalizeVPA(m.GetPayee().GetAddr()), Amount: amount, Note: m.GetTxn().GetNote(),
		}
	}
	if rrn := m.GetTxn().GetCustRef(); rrn != "" {
		r.RRN = rrn
	}
	open := !r.Final && !r.Confirmed
	resp := &upiv1.RespAuthDetails{Txn: cloneTxn(m.GetTxn()), Payer: cloneParty(m.GetPayer())}
	code := upi.CodeAddrResolution
	if v != nil {
		code = c.Decline() // a rule of the network file, else ""
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
		resp.Payee = v.party(amount)
		resp.Resp = &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}
		r.PayeeHere, r.PayeeVPA, r.PayeeName = true, v.VPA, v.Name
		if open {
			r.State = stateAuthSent
		}
	}
	if err := putTxn(c.Tx, r, c.Now()); err != nil {
		return err
	}
	return c.Send(p.switchName, upiv1.SwitchService_RespAuthDetails_FullMethodName, resp)
}

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
	if r != nil && r.AuthReqMsgID != "" {
		return nil // asked again: the payer is answering the first request
	}
	v, err := getVPA(c.Tx, m.GetPayer().GetAddr())
	if err != nil {
		return err
	}
	amount := authAmount(m)
	if r == nil {
		r = &txnRecord{
			ID: txnID, Type: upiv1.Txn_COLLECT.String(), Role: rolePayer, Status: upiv1.Resp_PENDING.String(),
			PayerVPA: ids.NormalizeVPA(m.GetPayer().GetAddr()),
			PayeeVPA: ids.NormalizeVPA(m.GetPayee().GetAddr()), PayeeName: m.GetPayee().GetName(),
			Amount: amount, Note: m.GetTxn().GetNote(),
		}
	}
	if rrn := m.GetTxn().GetCustRef(); rrn != "" {
		r.RRN = rrn
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
	r.PayerHere, r.PayerVPA, r.PayerName = true, v.VPA, v.Name
	r.AuthReqMsgID, r.AuthTxn, r.AuthPayee = m.GetHead().GetMsgId(), authTxn, authPayee
	if mins := m.GetTxn().GetExpireAfterMinutes(); mins > 0 {
		r.Expires = c.Now().Add(minutes(mins))
	}
	if !r.Final && !r.Confirmed {
		r.State = stateAwaitingApproval
	}
	if err := putTxn(c.Tx, r, c.Now()); err != nil {
		return err
	}
	if err := c.Tx.Put(store.Pending, pendingKey(r.PayerVPA, txnID), nil); err != nil {
		return err
	}
	payee := m.GetPayee()
	return p.notifyApp(c, &upiv1.Notification{
		Txn:      cloneTxn(m.GetTxn()),
		Kind:     upiv1.Notification_COLLECT_REQUEST,
		UserAddr: r.PayerVPA,
		Payer:    &upiv1.Party{Addr: v.VPA, Name: v.Name, AmountPaise: amount, Currency: "INR"},
		Payee: &upiv1.Party{
			Addr: payee.GetAddr(), Name: payee.GetName(), Type: payee.GetType(), Code: payee.GetCode(),
			AmountPaise: amount, Currency: "INR",
		},
		Resp: &upiv1.Resp{Result: upiv1.Resp_PENDING},
	})
}

// respPay is the final outcome for the initiator (step 10 of Pay, 8 of
// Collect). A DEEMED one (the credit timed out at the switch) is recorded
// and told to the user; the final one follows. Status only moves forward,
// so a DEEMED that arrives after the final outcome changes nothing.
func (p *PSP) respPay(c *node.Ctx, m *upiv1.RespPay) error {
	txnID := m.GetTxn().GetId()
	r, err := getTxn(c.Tx, txnID)
	if err != nil {
		return err
	}
	if r == nil {
		return node.Refuse("RespPay for txn %s, which PSP %s does not know", txnID, p.name)
	}
	if !r.Initiator || r.Type == upiv1.Txn_VAL_ADD.String() {
		return node.Refuse("RespPay for txn %s, which PSP %s did not initiate with ReqPay", txnID, p.name)
	}
	if r.Final {
		return nil // duplicate or late: the outcome is decided
	}
	res := m.GetResp().GetResult()
	before := outcome(r)
	changed := r.applyOutcome(res, m.GetResp().GetErrCode(), m.GetTxn().GetCustRef())
	tell := outcome(r) != before
	if res == upiv1.Resp_DEEMED && changed {
		r.State = stateDeemed
	}
	if res == upiv1.Resp_SUCCESS || res == upiv1.Resp_FAILURE {
		r.Final, r.State, changed, tell = true, stateCompleted, true, true
		if r.PayerHere && r.isCollect() {
			if err := c.Tx.Delete(store.Pending, pendingKey(r.PayerVPA, txnID)); err != nil {
				return err
			}
		}
	}
	if !changed {
		return nil
	}
	if err := putTxn(c.Tx, r, c.Now()); err != nil {
		return err
	}
	c.Notify(txnID)
	if !tell {
		return nil
	}
	user := r.PayerVPA
	if r.isCollect() {
		user = r.PayeeVPA
	}
	return p.notifyStatus(c, r, user, m.GetResp())
}

var _ node.RefusalHandler = (*PSP)(nil)

// reqPayRefused: a ReqPay the switch refused in
// its Ack never became a transaction there, so no RespPay will come; the
// payment ends FAILURE U07 (validation error) here, as a RespPay FAILURE
// would end it, and the user is told. The trace shows the switch's reason.
// (The switch's own timeouts cover the answers it refuses.)
func (p *PSP) reqPayRefused(c *node.Ctx, r node.Refused) error {
	p.log.Warn("the switch refused a ReqPay", "txn", r.Msg.GetTxn().GetId(), "reason", r.Reason)
	return p.respPay(c, &upiv1.RespPay{
		Txn:  r.Msg.GetTxn(),
		Resp: &upiv1.Resp{ReqMsgId: r.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeRefused},
	})
}

// reqTxnConfirmation is the final outcome for the PSP that did not initiate
// (step 11–12 of Pay, 9 of Collect): record it, tell the user, answer.
func (p *PSP) reqTxnConfirmation(c *node.Ctx, m *upiv1.ReqTxnConfirmation) error {
	txnID := m.GetTxn().GetId()
	r, err := getTxn(c.Tx, txnID)
	if err != nil {
		return err
	}
	if r == nil {
		// Never saw it. The switch confirms to a counter-party only a
		// transaction it sent a ReqAuthDetails to, and moves money only
		// after that PSP answered it, so a PSP that has no record can
		// legitimately hear only that the transaction ended without it:
		// its ReqAuthDetails was lost, ignored or late, and the pay timed
		// out (U09) or the collect expired (U69). Anything else (a
		// SUCCESS, a DEEMED) is refused: it would tell a user of money
		// that never moved.
		if !unseenOutcome(m.GetResp()) {
			return node.Refuse("ReqTxnConfirmation for txn %s: unknown transaction at PSP %s (only a FAILURE %s or %s may confirm a transaction a PSP never saw)",
				txnID, p.name, upi.CodeAuthTimeout, upi.CodeCollectExpired)
		}
		// Learn what the confirmation says.
		r = &txnRecord{ID: txnID, Type: m.GetTxn().GetType().String(), Status: upiv1.Resp_PENDING.String(), Note: m.GetTxn().GetNote()}
		for _, ref := range m.GetResp().GetRefs() {
			switch ref.GetType() {
			case "PAYER":
				r.PayerVPA = ids.NormalizeVPA(ref.GetAddr())
			case "PAYEE":
				r.PayeeVPA = ids.NormalizeVPA(ref.GetAddr())
				if a := ref.GetSettAmountPaise(); a > 0 {
					r.Amount = a
				}
			}
		}
		for _, side := range []struct {
			vpa  string
			here *bool
			name *string
		}{{r.PayerVPA, &r.PayerHere, &r.PayerName}, {r.PayeeVPA, &r.PayeeHere, &r.PayeeName}} {
			if side.vpa == "" {
				continue
			}
			v, err := getVPA(c.Tx, side.vpa)
			if err != nil {
				return err
			}
			if v != nil {
				*side.here, *side.name = true, v.Name
			}
		}
	}
	if r.Type == upiv1.Txn_VAL_ADD.String() {
		return node.Refuse("ReqTxnConfirmation for txn %s, which is a VAL_ADD at PSP %s", txnID, p.name)
	}
	before := outcome(r)
	tell := !r.Confirmed
	r.applyOutcome(m.GetResp().GetResult(), m.GetResp().GetErrCode(), m.GetTxn().GetCustRef())
	tell = tell || outcome(r) != before
	r.Confirmed, r.State = true, stateConfirmed
	if r.PayerHere && r.isCollect() {
		if err := c.Tx.Delete(store.Pending, pendingKey(r.PayerVPA, txnID)); err != nil {
			return err
		}
	}
	if err := putTxn(c.Tx, r, c.Now()); err != nil {
		return err
	}
	if err := c.Send(p.switchName, upiv1.SwitchService_RespTxnConfirmation_FullMethodName, &upiv1.RespTxnConfirmation{
		Txn:  cloneTxn(m.GetTxn()),
		Resp: &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
	}); err != nil {
		return err
	}
	c.Notify(txnID)
	if !tell {
		return nil
	}
	switch {
	case r.isCollect() && r.PayerHere:
		return p.notifyStatus(c, r, r.PayerVPA, m.GetResp())
	case r.Type == upiv1.Txn_PAY.String() && r.PayeeHere && r.Status == upiv1.Resp_SUCCESS.String():
		return p.notifyStatus(c, r, r.PayeeVPA, m.GetResp())
	}
	return nil
}

// unseenOutcome reports whether resp is an outcome a PSP may be confirmed
// of a transaction it has no record of.
func unseenOutcome(resp *upiv1.Resp) bool {
	if resp.GetResult() != upiv1.Resp_FAILURE {
		return false
	}
	code := resp.GetErrCode()
	return code == upi.CodeAuthTimeout || code == upi.CodeCollectExpired
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
		resp.Payee = &upiv1.Party{Addr: v.VPA, Name: v.Name, Type: v.partyType(), Code: v.MCC, Ac: &upiv1.Account{Ifsc: v.IFSC}}
		resp.Resp = &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}
	}
	return c.Send(p.switchName, upiv1.SwitchService_RespValAdd_FullMethodName, resp)
}

// respValAdd is step 5 of ReqValAdd: keep the answer and wake the waiting
// ResolveAddress.
func (p *PSP) respValAdd(c *node.Ctx, m *upiv1.RespValAdd) error {
	txnID := m.GetTxn().GetId()
	r, err := getTxn(c.Tx, txnID)
	if err != nil {
		return err
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
		Name: payee.GetName(), Code: payee.GetCode(), IFSC: payee.GetAc().GetIfsc(),
	}
	if payee.GetType() != upiv1.Party_TYPE_UNSPECIFIED {
		res.Type = payee.GetType().String()
	}
	r.ValAdd, r.PayeeName, r.State, r.Final = res, payee.GetName(), stateResolved, true
	r.applyOutcome(m.GetResp().GetResult(), m.GetResp().GetErrCode(), "")
	if err := putTxn(c.Tx, r, c.Now()); err != nil {
		return err
	}
	c.Notify(txnID)
	return nil
}

// notifyStatus tells user's app the transaction's status (TXN_STATUS).
func (p *PSP) notifyStatus(c *node.Ctx, r *txnRecord, user string, resp *upiv1.Resp) error {
	out := &upiv1.Resp{Result: upiv1.Resp_Result(upiv1.Resp_Result_value[r.Status]), ErrCode: r.ErrCode}
	if resp != nil {
		out.Refs = resp.GetRefs()
	}
	return p.notifyApp(c, &upiv1.Notification{
		Txn:      &upiv1.Txn{Id: r.ID, Type: upiv1.Txn_Type(upiv1.Txn_Type_value[r.Type]), CustRef: r.RRN, Note: r.Note},
		Kind:     upiv1.Notification_TXN_STATUS,
		UserAddr: user,
		Payer:    &upiv1.Party{Addr: r.PayerVPA, Name: r.PayerName, AmountPaise: r.Amount, Currency: "INR"},
		Payee:    &upiv1.Party{Addr: r.PayeeVPA, Name: r.PayeeName, AmountPaise: r.Amount, Currency: "INR"},
		Resp:     out,
	})
}

// echoesBadField checks, by node.CheckLimits' rules, the fields of a
// notification that echo a PSP's record (the note, the names, the amount):
// the rest come from messages that passed those rules on arrival. It
// spares a full CheckLimits walk of every notification.
func echoesBadField(n *upiv1.Notification) error {
	for _, f := range []struct {
		field string
		full  protoreflect.FullName
		value string
	}{
		{"txn.note", "upi.v1.Txn.note", n.GetTxn().GetNote()},
		{"payer.name", "upi.v1.Party.name", n.GetPayer().GetName()},
		{"payee.name", "upi.v1.Party.name", n.GetPayee().GetName()},
	} {
		if err := node.CheckText(f.field, f.full, f.value); err != nil {
			return err
		}
	}
	if err := upi.CheckAmount("payer.amount_paise", n.GetPayer().GetAmountPaise()); err != nil {
		return err
	}
	return upi.CheckAmount("payee.amount_paise", n.GetPayee().GetAmountPaise())
}

// notifyApp sends n to the TPAP node, if the network has one.
//
// A notification the TPAP would refuse (node.CheckLimits: a record made
// before the app APIs checked notes and amounts can echo one the switch
// refused) would leave the app waiting for an outcome that never comes. So
// such a notification goes without what it echoes: the transaction id,
// type and RRN, the parties' addresses and the outcome are what the app
// needs, and it has the rest in its own record.
func (p *PSP) notifyApp(c *node.Ctx, n *upiv1.Notification) error {
	if p.tpapName == "" {
		return nil
	}
	if err := echoesBadField(n); err != nil {
		p.log.Warn("notification cut to what the app needs", "txn", n.GetTxn().GetId(), "reason", err)
		n = &upiv1.Notification{
			Txn:      &upiv1.Txn{Id: n.GetTxn().GetId(), Type: n.GetTxn().GetType(), CustRef: n.GetTxn().GetCustRef()},
			Kind:     n.GetKind(),
			UserAddr: n.GetUserAddr(),
			Payer:    &upiv1.Party{Addr: n.GetPayer().GetAddr()},
			Payee:    &upiv1.Party{Addr: n.GetPayee().GetAddr()},
			Resp:     &upiv1.Resp{Result: n.GetResp().GetResult(), ErrCode: n.GetResp().GetErrCode()},
		}
	}
	return c.Send(p.tpapName, upiv1.TpapService_Notify_FullMethodName, n)
}
