package upiswitch

import (
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// State is where a transaction is in the switch's state machine. Each state
// but CLOSED waits for one answer; timeouts (debit, credit, deemed, ChkTxn)
// attach to these states.
type State = string

// The states of a pay or collect:
//
//	AUTH_SENT → DEBIT_SENT → CREDIT_SENT ───────────────→ CONFIRM_SENT → CLOSED
//	                 │            │ credit timeout          ↑      ↑
//	                 │            ↓                         │      │
//	                 │          DEEMED → CHECK_SENT (×N) ───┤      │
//	                 │            │          │              │      │
//	                 ↓ timeout    ↓          ↓              │      │
//	                 └─────→ REVERSAL_SENT (retried) ───────┘──────┘
//
// A decline at any step goes straight to CONFIRM_SENT (or CLOSED when the
// counter-party PSP was never reached). A pay leg with a parent flow
// (flow.go) reports to it instead and goes to CLOSED; one started at
// CREDIT (CREDIT_SENT first) sent no debit and has no REVERSAL_SENT. DEBIT_SENT, CREDIT_SENT,
// DEEMED/CHECK_SENT and REVERSAL_SENT each have a durable timer
// ("debit:", "credit:", "check:", "reversal:" + txn id; see timeouts.go).
// A ReqValAdd is VALADD_SENT until the payee's PSP answers, then CLOSED.
const (
	// StateAuthSent: ReqAuthDetails is with the counter-party PSP (the
	// payee's for PAY, the payer's for COLLECT, which has the expiry timer).
	StateAuthSent State = "AUTH_SENT"
	// StateDebitSent: ReqPay DEBIT is with the remitter.
	StateDebitSent State = "DEBIT_SENT"
	// StateCreditSent: ReqPay CREDIT is with the beneficiary.
	StateCreditSent State = "CREDIT_SENT"
	// StateDeemed: the credit timed out; both PSPs were told DEEMED (RB)
	// and the first ReqChkTxn goes to the beneficiary when the "check:"
	// timer fires. A late RespPay CREDIT resolves the transaction.
	StateDeemed State = "DEEMED"
	// StateCheckSent: a ReqChkTxn (sub_type CREDIT) is with the
	// beneficiary; the transaction is still DEEMED.
	StateCheckSent State = "CHECK_SENT"
	// StateReversalSent: ReqPay REVERSAL is with the remitter; the
	// transaction ends FAILURE with record.ReversalCode when it answers.
	StateReversalSent State = "REVERSAL_SENT"
	// StateConfirmSent: the outcome is decided and sent to the originator;
	// a ReqTxnConfirmation is with each PSP to tell (the counter-party)
	// until all have answered.
	StateConfirmSent State = "CONFIRM_SENT"
	// StateValAddSent: ReqValAdd is with the payee's PSP.
	StateValAddSent State = "VALADD_SENT"
	// StateClosed: nothing more is expected.
	StateClosed State = "CLOSED"
)

// The switch's records are messages of proto/upisim/records/v1, kept in
// store.Txns (txns) under flowKey: there is no Go struct beside them and no
// codec to keep in step. record is the state of one transaction; the other
// names are the messages in it.
//
// In a record, Confirms are the ReqTxnConfirmation of the outcome, one per
// PSP to tell (tell): the counter-party's today. DeemedConfirms are the
// ReqTxnConfirmation DEEMED sent to the same PSPs when the credit timed
// out; Checks the ReqChkTxn sent to the beneficiary since, oldest first,
// ChecksSent counting every one sent (Checks keeps the first and the latest
// keptChecks-1). Times are store.Nanos of the node's clock (0 for none).
// Type is the originator's txn.type (PAY, COLLECT, REFUND or VAL_ADD); a
// REFUND's OrgTxnId is the credit it refunds, and a credit's RefundedPaise
// and RefundTxnIds its refunds not FAILED and all its refunds (refund.go).
// Status is
// PENDING until decided, then SUCCESS or FAILURE, DEEMED (err_code RB)
// between a credit timeout and the checks' outcome. Originator is the PSP
// that sent the ReqPay (or ReqValAdd), OrigMsgId its msg_id; Counterparty
// the other PSP (empty when its handle is unknown); Remitter and
// Beneficiary the bank nodes of the payer's and payee's accounts, once
// routed. Late lists the responses that arrived when the transaction was
// no longer waiting for them, LateDropped counts those beyond maxLate.
// Parent is the flow this one reports to (flow.go). A party's Creds are
// kept only until the debit is sent.
//
// An exchange is one request the switch sent and the answer it got:
// ApprovalNum and ReversalRespCode come from the bank's refs; TimedOut is
// when the switch last stopped waiting for the answer (an unanswered leg
// that timed out carries the timeout's code in ErrCode: U67 debit, RB
// credit, UT reversal given up); Attempts counts the sends of a retried
// request (a reversal), 0 or 1 meaning sent once. A lateNote records a
// response that changed nothing (U70 material): State is the transaction's
// state when it arrived, Code U70 when the request answered had timed out
// (the answer is late rather than a duplicate).
type (
	record    = recordsv1.SwitchTxn
	info      = recordsv1.SwitchInfo
	party     = recordsv1.SwitchParty
	cred      = recordsv1.Cred
	device    = recordsv1.Device
	exchange  = recordsv1.Exchange
	lateNote  = recordsv1.LateNote
	parentRef = recordsv1.FlowParent
)

// txns is store.Txns as the table of pay records (records of other flow
// kinds share the bucket under their own keys: flow.go).
var txns = store.NewTable[record](store.Txns)

// loadRecord loads the pay record of txn id (nil if none).
func loadRecord(tx *store.Tx, id string) (*record, error) { return loadFlow[record](tx, flowPay, id) }

// upgradeRecord brings a pay record as stored to its form in memory: one
// confirmation (and one DEEMED confirmation) is stored in its own field, as
// records were written before the lists existed (and without the list's
// allocation); in memory it is a list of one.
func upgradeRecord(r *record) {
	if len(r.Confirms) == 0 && r.Confirm != nil {
		r.Confirms = appendExchange(nil, r.Confirm)
	}
	if len(r.DeemedConfirms) == 0 && r.DeemedConfirm != nil {
		r.DeemedConfirms = appendExchange(nil, r.DeemedConfirm)
	}
	r.Confirm, r.DeemedConfirm = nil, nil
}

// saveRecord stores r, Updated now.
func saveRecord(r *record, c *node.Ctx) error {
	r.Updated = store.Nanos(c.Now())
	return putRecord(c.Tx, r)
}

// putRecord stores r as records are stored (upgradeRecord's inverse), r
// as it was after.
func putRecord(tx *store.Tx, r *record) error {
	confirms, deemed := r.Confirms, r.DeemedConfirms
	if len(confirms) == 1 && confirms[0] != nil {
		r.Confirm, r.Confirms = confirms[0], nil
	}
	if len(deemed) == 1 && deemed[0] != nil {
		r.DeemedConfirm, r.DeemedConfirms = deemed[0], nil
	}
	err := txns.Put(tx, flowKey(flowPay, r.Id), r)
	r.Confirm, r.Confirms, r.DeemedConfirm, r.DeemedConfirms = nil, confirms, nil, deemed
	return err
}

// exchangeList1 is a list of one exchange together with the exchange, so
// that the common list (a pay's one confirmation) costs one allocation.
type exchangeList1 struct {
	list [1]*exchange
	e    exchange
}

// newExchange appends a new exchange to l and returns both.
func newExchange(l []*exchange) ([]*exchange, *exchange) {
	if len(l) == 0 {
		one := &exchangeList1{}
		one.list[0] = &one.e
		return one.list[:], &one.e
	}
	e := &exchange{}
	return append(l, e), e
}

// appendExchange appends e to l.
func appendExchange(l []*exchange, e *exchange) []*exchange {
	if len(l) == 0 {
		return []*exchange{e}
	}
	return append(l, e)
}

// note records a response that arrived when r was not waiting for it.
func note(r *record, c *node.Ctx, in *node.Inbound, leg string, resp *upiv1.Resp) error {
	return noteLate(r, c, in, leg, resp, nil)
}

// noteLate records a response that arrived when r was not waiting for it
// (lateNoteFor); answered is the request it answers, if known. The note
// also goes on the message's trace record.
func noteLate(r *record, c *node.Ctx, in *node.Inbound, leg string, resp *upiv1.Resp, answered *exchange) error {
	n, trace := lateNoteFor(c, in, r.State, leg, resp, answered)
	if n.Code == upi.CodeLate && leg == upiv1.Txn_CREDIT.String() && isDeemed(r) {
		trace = "late (" + upi.CodeLate + "): its request had timed out; resolves the DEEMED transaction"
	}
	keepLate(&r.Late, &r.LateDropped, n)
	return c.NoteReceived(trace)
}

func txnType(r *record) upiv1.Txn_Type { return upiv1.Txn_Type(upiv1.Txn_Type_value[r.Type]) }

func resultOf(r *record) upiv1.Resp_Result {
	return upiv1.Resp_Result(upiv1.Resp_Result_value[r.Status])
}

// txnOf is the Txn of every message the switch sends about r: the same id,
// the originator's fields, and the RRN.
func txnOf(r *record, t upiv1.Txn_Type) *upiv1.Txn {
	out := &upiv1.Txn{
		Id: r.Id, Type: t, Note: r.GetInfo().GetNote(), RefId: r.GetInfo().GetRefId(), RefUrl: r.GetInfo().GetRefUrl(), OrgTxnId: r.OrgTxnId,
		OrgRrn: r.OrgRrn, CustRef: r.Rrn, Purpose: r.GetInfo().GetPurpose(), InitiationMode: r.GetInfo().GetInitiationMode(),
		ExpireAfterMinutes: r.GetInfo().GetExpireAfterMinutes(),
	}
	if ts := r.GetInfo().GetTs(); ts != nil {
		out.Ts = timestamppb.New(ts.AsTime())
	}
	return out
}

// resubmitted answers a ReqPay whose txn id the switch already has: the
// same transaction again (same originator, type, parties and amount, under
// a new msg_id) is accepted and changes nothing, the original's outcome
// answering both; anything else reusing the id is refused.
func resubmitted(c *node.Ctx, in *node.Inbound, r *record, m *upiv1.ReqPay, amount int64) error {
	same := r.Originator == in.From && r.Type == m.GetTxn().GetType().String() && r.AmountPaise == amount &&
		strings.EqualFold(r.GetPayer().GetAddr(), m.GetPayer().GetAddr()) && strings.EqualFold(r.GetPayee().GetAddr(), m.GetPayee().GetAddr())
	if !same {
		return node.Refuse("duplicate transaction id %s: the switch already has a different transaction with this id (%s of %s from %s to %s)",
			r.Id, r.Type, upi.FormatPaise(r.AmountPaise), r.GetPayer().GetAddr(), r.GetPayee().GetAddr())
	}
	return c.NoteReceived("the same transaction again, under a new msg_id: not applied again; its outcome answers it")
}

func infoFrom(t *upiv1.Txn) *info {
	i := &info{
		Note: t.GetNote(), RefId: t.GetRefId(), RefUrl: t.GetRefUrl(), Purpose: t.GetPurpose(),
		InitiationMode: t.GetInitiationMode(),
	}
	if t.GetTs() != nil {
		i.Ts = timestamppb.New(t.GetTs().AsTime())
	}
	return i
}

func partyFrom(p *upiv1.Party) *party {
	out := &party{
		Addr: p.GetAddr(), Name: p.GetName(), Code: p.GetCode(),
		AcNum: p.GetAc().GetAcNum(), Ifsc: strings.ToUpper(p.GetAc().GetIfsc()), AcType: p.GetAc().GetAcType(),
	}
	if p.GetType() != upiv1.Party_TYPE_UNSPECIFIED {
		out.Type = p.GetType().String()
	}
	for _, c := range p.GetCreds() {
		k := &cred{Type: c.GetType(), SubType: c.GetSubType(), Data: c.GetData(), Ver: c.GetVer(), Ki: c.GetKi()}
		if c.GetTs() != nil {
			k.Ts = store.Nanos(c.GetTs().AsTime())
		}
		out.Creds = append(out.Creds, k)
	}
	if d := p.GetDevice(); d != nil {
		out.Device = &device{Id: d.GetId(), Mobile: d.GetMobile(), App: d.GetApp(), Os: d.GetOs()}
	}
	return out
}

// What of a party goes into a message.
type partyParts uint8

const (
	withAc partyParts = 1 << iota
	withCreds
	withDevice
)

// partyProto is p as a message Party carrying amount and the parts asked for.
func partyProto(p *party, amount int64, parts partyParts) *upiv1.Party {
	out := &upiv1.Party{
		Addr: p.Addr, Name: p.Name, Code: p.Code,
		Type:        upiv1.Party_Type(upiv1.Party_Type_value[p.Type]),
		AmountPaise: amount,
	}
	if amount != 0 {
		out.Currency = "INR"
	}
	if parts&withAc != 0 && (p.AcNum != "" || p.Ifsc != "") {
		out.Ac = &upiv1.Account{AcNum: p.AcNum, Ifsc: p.Ifsc, AcType: p.AcType}
	}
	if parts&withCreds != 0 {
		for _, c := range p.Creds {
			k := &upiv1.Cred{Type: c.Type, SubType: c.SubType, Data: c.Data, Ver: c.Ver, Ki: c.Ki}
			if c.Ts != 0 {
				k.Ts = timestamppb.New(store.FromNanos(c.Ts))
			}
			out.Creds = append(out.Creds, k)
		}
	}
	if parts&withDevice != 0 && p.Device != nil {
		out.Device = &upiv1.Device{Id: p.Device.Id, Mobile: p.Device.Mobile, App: p.Device.App, Os: p.Device.Os}
	}
	return out
}

// bankRef returns the ref of the given type (PAYER or PAYEE) in a bank's
// answer, else its only ref, else nil.
func bankRef(resp *upiv1.Resp, typ string) *upiv1.Ref {
	for _, ref := range resp.GetRefs() {
		if strings.EqualFold(ref.GetType(), typ) {
			return ref
		}
	}
	if len(resp.GetRefs()) == 1 && resp.GetRefs()[0].GetType() == "" {
		return resp.GetRefs()[0]
	}
	return nil
}

// finalResp is the outcome the originator and the counter-party get, with
// a ref per party from the bank answers gathered so far.
func finalResp(r *record) *upiv1.Resp {
	resp := &upiv1.Resp{ReqMsgId: r.OrigMsgId, Result: resultOf(r), ErrCode: r.ErrCode}
	if d := r.Debit; d != nil && settled(d) {
		ref := &upiv1.Ref{Type: "PAYER", Addr: r.GetPayer().GetAddr(), RegName: r.GetPayer().GetName(), ApprovalNum: d.ApprovalNum, RespCode: respCode(d)}
		if d.Result == upiv1.Resp_SUCCESS.String() {
			ref.SettAmountPaise = r.AmountPaise
		}
		if v := r.Reversal; v != nil {
			// "00" or "NA" answered, the remitter's code if it declined,
			// UT when it never answered.
			ref.ReversalRespCode = v.ReversalRespCode
		}
		resp.Refs = append(resp.Refs, ref)
	}
	if cr := r.Credit; cr != nil && settled(cr) {
		ref := &upiv1.Ref{Type: "PAYEE", Addr: r.GetPayee().GetAddr(), RegName: r.GetPayee().GetName(), ApprovalNum: cr.ApprovalNum, RespCode: respCode(cr)}
		if cr.Result == upiv1.Resp_SUCCESS.String() {
			ref.SettAmountPaise = r.AmountPaise
		}
		resp.Refs = append(resp.Refs, ref)
	}
	return resp
}

// inspect is r as AdminService/GetTransaction shows it.
func inspect(r *record, nodeName string) *upiv1.GetTransactionResponse {
	t := &upiv1.Transaction{
		TxnId: r.Id, Type: txnType(r), Status: resultOf(r), Rrn: r.Rrn, ErrCode: r.ErrCode,
		PayerVpa: r.GetPayer().GetAddr(), PayeeVpa: r.GetPayee().GetAddr(), AmountPaise: r.AmountPaise, Note: r.GetInfo().GetNote(),
		Created: timestamppb.New(store.FromNanos(r.Created)), Updated: timestamppb.New(store.FromNanos(r.Updated)),
	}
	if r.Expires != 0 {
		t.Expires = timestamppb.New(store.FromNanos(r.Expires))
	}
	return &upiv1.GetTransactionResponse{Node: nodeName, State: string(r.State), Transaction: t}
}
