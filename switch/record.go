package upiswitch

import (
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// State is where a transaction is in the switch's state machine. Each state
// but CLOSED waits for one answer; timeouts (debit, credit, deemed, ChkTxn)
// attach to these states.
type State string

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

// record is the switch's state of one transaction, stored in store.Txns
// under its txn id (as a recordsv1.SwitchTxn; see record_codec.go).
type record struct {
	ID string `json:"id"`
	// Type is the originator's txn.type: PAY, COLLECT or VAL_ADD.
	Type  string `json:"type"`
	State State  `json:"state"`
	// Status is PENDING until decided, then SUCCESS or FAILURE; DEEMED
	// (err_code RB) between a credit timeout and the checks' outcome.
	Status  string `json:"status"`
	ErrCode string `json:"err_code,omitempty"`
	RRN     string `json:"rrn,omitempty"`
	Amount  int64  `json:"amount_paise"`
	Info    info   `json:"info"`
	Payer   party  `json:"payer"`
	Payee   party  `json:"payee"`

	// Originator is the PSP that sent the ReqPay (or ReqValAdd), and
	// OrigMsgID its msg_id (the req_msg_id of the final answer).
	Originator string `json:"originator"`
	OrigMsgID  string `json:"orig_msg_id"`
	// Counterparty is the other PSP (the payee's for PAY and ValAdd, the
	// payer's for COLLECT); empty when its handle is unknown.
	Counterparty string `json:"counterparty,omitempty"`
	// Remitter and Beneficiary are the bank nodes of the payer's and the
	// payee's accounts, once routed.
	Remitter    string `json:"remitter,omitempty"`
	Beneficiary string `json:"beneficiary,omitempty"`

	// One exchange per request the switch sent, nil until sent.
	Auth     *exchange `json:"auth,omitempty"`
	ValAdd   *exchange `json:"val_add,omitempty"`
	Debit    *exchange `json:"debit,omitempty"`
	Credit   *exchange `json:"credit,omitempty"`
	Reversal *exchange `json:"reversal,omitempty"`
	// Confirms are the ReqTxnConfirmation of the outcome, one per PSP to
	// tell (tell): the counter-party's today. DeemedConfirms are the
	// ReqTxnConfirmation DEEMED sent to the same PSPs when the credit timed
	// out; Checks the ReqChkTxn sent to the beneficiary since, oldest
	// first.
	Confirms       []*exchange `json:"confirms,omitempty"`
	DeemedConfirms []*exchange `json:"deemed_confirms,omitempty"`
	Checks         []*exchange `json:"checks,omitempty"`
	// ChecksSent counts every ReqChkTxn sent; Checks keeps the first and
	// the latest keptChecks-1 of them.
	ChecksSent int `json:"checks_sent,omitempty"`
	// Deemed is when the credit timed out (zero if it never did).
	Deemed time.Time `json:"deemed,omitzero"`

	// ReversalCode is the code the transaction ends with once the
	// reversal is answered (U31 for a failed credit).
	ReversalCode string `json:"reversal_code,omitempty"`
	// Reason says in words why a FAILURE was decided at the switch.
	Reason string `json:"reason,omitempty"`

	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Expires is when a collect expires (zero for others).
	Expires time.Time `json:"expires,omitzero"`

	// Late lists the responses that arrived when the transaction was no
	// longer waiting for them (duplicates, answers after a decision or
	// after their timeout), and late credit answers that resolved a
	// DEEMED transaction.
	Late []lateNote `json:"late,omitempty"`
	// LateDropped counts the late responses beyond maxLate, not kept.
	LateDropped int `json:"late_dropped,omitempty"`

	// Parent is the flow this one reports its outcome to instead of
	// answering an originator (see flow.go); nil for a PSP's pay, collect
	// or ValAdd.
	Parent *parentRef `json:"parent,omitempty"`
}

// info is the originator's txn fields the switch carries into every later
// message.
type info struct {
	Note           string    `json:"note,omitempty"`
	RefID          string    `json:"ref_id,omitempty"`
	RefURL         string    `json:"ref_url,omitempty"`
	Purpose        string    `json:"purpose,omitempty"`
	InitiationMode string    `json:"initiation_mode,omitempty"`
	Ts             time.Time `json:"ts,omitzero"`
	ExpireMinutes  int32     `json:"expire_after_minutes,omitempty"`
}

// party is a payer or payee as the switch knows it.
type party struct {
	Addr   string `json:"addr"`
	Name   string `json:"name,omitempty"`
	Type   string `json:"type,omitempty"`
	Code   string `json:"code,omitempty"`
	AcNum  string `json:"ac_num,omitempty"`
	IFSC   string `json:"ifsc,omitempty"`
	AcType string `json:"ac_type,omitempty"`
	// Creds are kept only until the debit is sent.
	Creds  []cred  `json:"creds,omitempty"`
	Device *device `json:"device,omitempty"`
}

type cred struct {
	Type    string `json:"type"`
	SubType string `json:"sub_type,omitempty"`
	Data    string `json:"data"`
}

type device struct {
	ID     string `json:"id,omitempty"`
	Mobile string `json:"mobile,omitempty"`
	App    string `json:"app,omitempty"`
	OS     string `json:"os,omitempty"`
}

// loadRecord loads the pay record of txn id (nil if none).
func loadRecord(tx *store.Tx, id string) (*record, error) { return loadFlow[record](tx, flowPay, id) }

func (r *record) save(c *node.Ctx) error {
	r.Updated = c.Now()
	return c.Tx.PutRecord(store.Txns, flowKey(flowPay, r.ID), r)
}

func (r *record) flowState() State { return r.State }

// note records a response that arrived when r was not waiting for it.
func (r *record) note(c *node.Ctx, in *node.Inbound, leg string, resp *upiv1.Resp) error {
	return r.noteLate(c, in, leg, resp, nil)
}

// noteLate records a response that arrived when r was not waiting for it
// (lateNoteFor); answered is the request it answers, if known. The note
// also goes on the message's trace record.
func (r *record) noteLate(c *node.Ctx, in *node.Inbound, leg string, resp *upiv1.Resp, answered *exchange) error {
	n, trace := lateNoteFor(c, in, r.State, leg, resp, answered)
	if n.Code == upi.CodeLate && leg == upiv1.Txn_CREDIT.String() && r.isDeemed() {
		trace = "late (" + upi.CodeLate + "): its request had timed out; resolves the DEEMED transaction"
	}
	keepLate(&r.Late, &r.LateDropped, n)
	return c.NoteReceived(trace)
}

func (r *record) txnType() upiv1.Txn_Type { return upiv1.Txn_Type(upiv1.Txn_Type_value[r.Type]) }

func (r *record) status() upiv1.Resp_Result {
	return upiv1.Resp_Result(upiv1.Resp_Result_value[r.Status])
}

// txn is the Txn of every message the switch sends about r: the same id,
// the originator's fields, and the RRN.
func (r *record) txn(t upiv1.Txn_Type) *upiv1.Txn {
	out := &upiv1.Txn{
		Id: r.ID, Type: t, Note: r.Info.Note, RefId: r.Info.RefID, RefUrl: r.Info.RefURL,
		CustRef: r.RRN, Purpose: r.Info.Purpose, InitiationMode: r.Info.InitiationMode,
		ExpireAfterMinutes: r.Info.ExpireMinutes,
	}
	if !r.Info.Ts.IsZero() {
		out.Ts = timestamppb.New(r.Info.Ts)
	}
	return out
}

// resubmitted answers a ReqPay whose txn id the switch already has: the
// same transaction again (same originator, type, parties and amount, under
// a new msg_id) is accepted and changes nothing, the original's outcome
// answering both; anything else reusing the id is refused.
func resubmitted(c *node.Ctx, in *node.Inbound, r *record, m *upiv1.ReqPay, amount int64) error {
	same := r.Originator == in.From && r.Type == m.GetTxn().GetType().String() && r.Amount == amount &&
		strings.EqualFold(r.Payer.Addr, m.GetPayer().GetAddr()) && strings.EqualFold(r.Payee.Addr, m.GetPayee().GetAddr())
	if !same {
		return node.Refuse("duplicate transaction id %s: the switch already has a different transaction with this id (%s of %s from %s to %s)",
			r.ID, r.Type, upi.FormatPaise(r.Amount), r.Payer.Addr, r.Payee.Addr)
	}
	return c.NoteReceived("the same transaction again, under a new msg_id: not applied again; its outcome answers it")
}

func infoFrom(t *upiv1.Txn) info {
	i := info{
		Note: t.GetNote(), RefID: t.GetRefId(), RefURL: t.GetRefUrl(), Purpose: t.GetPurpose(),
		InitiationMode: t.GetInitiationMode(),
	}
	if t.GetTs() != nil {
		i.Ts = t.GetTs().AsTime()
	}
	return i
}

func partyFrom(p *upiv1.Party) party {
	out := party{
		Addr: p.GetAddr(), Name: p.GetName(), Code: p.GetCode(),
		AcNum: p.GetAc().GetAcNum(), IFSC: strings.ToUpper(p.GetAc().GetIfsc()), AcType: p.GetAc().GetAcType(),
	}
	if p.GetType() != upiv1.Party_TYPE_UNSPECIFIED {
		out.Type = p.GetType().String()
	}
	for _, c := range p.GetCreds() {
		out.Creds = append(out.Creds, cred{Type: c.GetType(), SubType: c.GetSubType(), Data: c.GetData()})
	}
	if d := p.GetDevice(); d != nil {
		out.Device = &device{ID: d.GetId(), Mobile: d.GetMobile(), App: d.GetApp(), OS: d.GetOs()}
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

// proto is p as a message Party carrying amount and the parts asked for.
func (p party) proto(amount int64, parts partyParts) *upiv1.Party {
	out := &upiv1.Party{
		Addr: p.Addr, Name: p.Name, Code: p.Code,
		Type:        upiv1.Party_Type(upiv1.Party_Type_value[p.Type]),
		AmountPaise: amount,
	}
	if amount != 0 {
		out.Currency = "INR"
	}
	if parts&withAc != 0 && (p.AcNum != "" || p.IFSC != "") {
		out.Ac = &upiv1.Account{AcNum: p.AcNum, Ifsc: p.IFSC, AcType: p.AcType}
	}
	if parts&withCreds != 0 {
		for _, c := range p.Creds {
			out.Creds = append(out.Creds, &upiv1.Cred{Type: c.Type, SubType: c.SubType, Data: c.Data})
		}
	}
	if parts&withDevice != 0 && p.Device != nil {
		out.Device = &upiv1.Device{Id: p.Device.ID, Mobile: p.Device.Mobile, App: p.Device.App, Os: p.Device.OS}
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
func (r *record) finalResp() *upiv1.Resp {
	resp := &upiv1.Resp{ReqMsgId: r.OrigMsgID, Result: r.status(), ErrCode: r.ErrCode}
	if d := r.Debit; d != nil && d.settled() {
		ref := &upiv1.Ref{Type: "PAYER", Addr: r.Payer.Addr, RegName: r.Payer.Name, ApprovalNum: d.ApprovalNum, RespCode: d.respCode()}
		if d.Result == upiv1.Resp_SUCCESS.String() {
			ref.SettAmountPaise = r.Amount
		}
		if v := r.Reversal; v != nil {
			// "00" or "NA" answered, the remitter's code if it declined,
			// UT when it never answered.
			ref.ReversalRespCode = v.ReversalRespCode
		}
		resp.Refs = append(resp.Refs, ref)
	}
	if cr := r.Credit; cr != nil && cr.settled() {
		ref := &upiv1.Ref{Type: "PAYEE", Addr: r.Payee.Addr, RegName: r.Payee.Name, ApprovalNum: cr.ApprovalNum, RespCode: cr.respCode()}
		if cr.Result == upiv1.Resp_SUCCESS.String() {
			ref.SettAmountPaise = r.Amount
		}
		resp.Refs = append(resp.Refs, ref)
	}
	return resp
}

// inspect is r as AdminService/GetTransaction shows it.
func (r *record) inspect(nodeName string) *upiv1.GetTransactionResponse {
	t := &upiv1.Transaction{
		TxnId: r.ID, Type: r.txnType(), Status: r.status(), Rrn: r.RRN, ErrCode: r.ErrCode,
		PayerVpa: r.Payer.Addr, PayeeVpa: r.Payee.Addr, AmountPaise: r.Amount, Note: r.Info.Note,
		Created: timestamppb.New(r.Created), Updated: timestamppb.New(r.Updated),
	}
	if !r.Expires.IsZero() {
		t.Expires = timestamppb.New(r.Expires)
	}
	return &upiv1.GetTransactionResponse{Node: nodeName, State: string(r.State), Transaction: t}
}
