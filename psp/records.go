package psp

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// Party types and the MCC of people, as stored in the registry.
const (
	partyPerson = "PERSON"
	partyEntity = "ENTITY"
	personMCC   = "0000"
)

// vpaRecord is a registered user or merchant (store.VPAs, keyed by the
// normalized VPA).
type vpaRecord struct {
	VPA    string `json:"vpa"`
	Name   string `json:"name"`
	Type   string `json:"type"` // PERSON or ENTITY
	MCC    string `json:"mcc"`  // "0000" for people
	AcNum  string `json:"ac_num"`
	IFSC   string `json:"ifsc"`
	Mobile string `json:"mobile,omitempty"`
}

func putVPA(tx *store.Tx, v *vpaRecord) error { return tx.PutJSON(store.VPAs, v.VPA, v) }

// getVPA looks vpa up in the registry; nil when it is not registered here.
func getVPA(tx *store.Tx, vpa string) (*vpaRecord, error) {
	v := &vpaRecord{}
	ok, err := tx.GetJSON(store.VPAs, ids.NormalizeVPA(vpa), v)
	if err != nil || !ok {
		return nil, err
	}
	return v, nil
}

func (v *vpaRecord) partyType() upiv1.Party_Type {
	if v.Type == partyEntity {
		return upiv1.Party_ENTITY
	}
	return upiv1.Party_PERSON
}

// party is v as a Payer/Payee with its account.
func (v *vpaRecord) party(amount int64) *upiv1.Party {
	return &upiv1.Party{
		Addr: v.VPA, Name: v.Name, Type: v.partyType(), Code: v.MCC,
		Ac: &upiv1.Account{AcNum: v.AcNum, Ifsc: v.IFSC}, AmountPaise: amount, Currency: "INR",
	}
}

// Roles of this PSP's user in a transaction (txnRecord.Role).
const (
	rolePayer  = "payer"
	rolePayee  = "payee"
	roleBoth   = "payer+payee" // both parties are users of this PSP (on-us)
	roleValAdd = "valadd"
)

// States of a transaction record (txnRecord.State): the last step this PSP
// saw. They are for people reading GetTransaction; decisions use the
// sides' state and the flags.
const (
	stateReqSent          = "REQ_SENT"          // initiator: ReqPay sent
	stateAuthSent         = "AUTH_SENT"         // payee of a PAY: RespAuthDetails SUCCESS sent
	stateAuthDeclined     = "AUTH_DECLINED"     // RespAuthDetails FAILURE U29 sent
	stateAwaitingApproval = "AWAITING_APPROVAL" // payer of a COLLECT: waiting for the app
	stateApproved         = "APPROVED"          // payer of a COLLECT approved
	stateDeclined         = "DECLINED"          // payer of a COLLECT declined (ZA)
	stateDeemed           = "DEEMED"            // initiator: RespPay DEEMED received, the final one to come
	stateCompleted        = "COMPLETED"         // initiator: final RespPay received
	stateConfirmed        = "CONFIRMED"         // ReqTxnConfirmation received
	stateValAddSent       = "VALADD_SENT"       // ReqValAdd sent, waiting for RespValAdd
	stateResolved         = "RESOLVED"          // RespValAdd received
)

// Answers to a collect request (txnRecord.Answer).
const (
	answerApproved = "APPROVED"
	answerDeclined = "DECLINED"
)

// txnRecord is this PSP's record of a transaction (store.Txns, keyed by
// txn id). One record serves every side this PSP plays in the transaction:
// when payer and payee are both its users, the same id arrives as the
// initiator's ReqPay and as the switch's ReqAuthDetails.
type txnRecord struct {
	ID      string `json:"id"`
	Type    string `json:"type"` // PAY, COLLECT or VAL_ADD (upiv1.Txn_Type names)
	Role    string `json:"role"` // payer, payee, payer+payee or valadd
	State   string `json:"state"`
	Status  string `json:"status"` // PENDING, SUCCESS, FAILURE or DEEMED
	ErrCode string `json:"err_code,omitempty"`
	RRN     string `json:"rrn,omitempty"`

	PayerVPA  string `json:"payer_vpa"`
	PayerName string `json:"payer_name,omitempty"`
	PayeeVPA  string `json:"payee_vpa"`
	PayeeName string `json:"payee_name,omitempty"`
	Amount    int64  `json:"amount_paise"`
	Note      string `json:"note,omitempty"`

	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Expires time.Time `json:"expires,omitzero"`

	// Payer and Payee are what this PSP holds of each side (r.side); both
	// may be here (on-us).
	Payer sideState `json:"payer_side,omitzero"`
	Payee sideState `json:"payee_side,omitzero"`
	// Final and Confirmed are the record's, not a side's: the switch
	// sends one RespPay (to the initiating side's PSP) and one
	// ReqTxnConfirmation per PSP, however many sides it holds.
	//
	// Final: the initiator got a final (SUCCESS or FAILURE) RespPay.
	Final bool `json:"final,omitempty"`
	// Confirmed: the switch's ReqTxnConfirmation arrived.
	Confirmed bool `json:"confirmed,omitempty"`

	// Fingerprint is the hash of an InitiatePay request, so a repeat with
	// the same txn_id can be told apart from a different payment.
	Fingerprint string `json:"fingerprint,omitempty"`

	// For the payer of a COLLECT: the ReqAuthDetails it answers (its msg id,
	// txn and payee, proto-encoded) and the user's answer.
	AuthReqMsgID string `json:"auth_req_msg_id,omitempty"`
	AuthTxn      []byte `json:"auth_txn,omitempty"`
	AuthPayee    []byte `json:"auth_payee,omitempty"`
	Answer       string `json:"answer,omitempty"`

	// For ResolveAddress: the RespValAdd outcome.
	ValAdd *valAddResult `json:"val_add,omitempty"`
}

// A side of a transaction: a party whose account it moves, seen from the
// PSP that holds it. One PSP may hold several sides of a transaction (an
// on-us payment: payer and payee); each has its own sideState.
type side uint8

const (
	sidePayer side = iota
	sidePayee
	// Room for the sides of UPI Circle (a secondary user paying from a
	// primary's account): sideSecondary, sidePrimary, each with its
	// sideState field in txnRecord, its case in txnRecord.side and its
	// fields in recordsv1.PspTxn.
)

func (s side) String() string {
	switch s {
	case sidePayer:
		return rolePayer
	case sidePayee:
		return rolePayee
	}
	return "side?"
}

// sideState is what a PSP keeps of one side of a transaction.
type sideState struct {
	// Here: the side's party is a user of this PSP.
	Here bool `json:"here,omitempty"`
	// Initiator: this side's user started the transaction at this PSP,
	// which sent the ReqPay (or ReqValAdd) and gets the RespPay.
	Initiator bool `json:"initiator,omitempty"`
}

// side is the state r keeps of side s.
func (r *txnRecord) side(s side) *sideState {
	switch s {
	case sidePayer:
		return &r.Payer
	case sidePayee:
		return &r.Payee
	}
	panic("psp: no side " + s.String())
}

// vpa is the address of side s's party.
func (r *txnRecord) vpa(s side) string {
	if s == sidePayee {
		return r.PayeeVPA
	}
	return r.PayerVPA
}

// initiator is the side that started the transaction at this PSP, if one
// did.
func (r *txnRecord) initiator() (side, bool) {
	switch {
	case r.Payer.Initiator:
		return sidePayer, true
	case r.Payee.Initiator:
		return sidePayee, true
	}
	return 0, false
}

// collectPayer reports whether r is a collect whose payer is a user of
// this PSP: the side that approves here, with its entry in store.Pending
// while it waits.
func (r *txnRecord) collectPayer() bool { return r.isCollect() && r.Payer.Here }

// valAddResult is what RespValAdd said.
type valAddResult struct {
	Result  string `json:"result"`
	ErrCode string `json:"err_code,omitempty"`
	Name    string `json:"name,omitempty"`
	Type    string `json:"type,omitempty"`
	Code    string `json:"code,omitempty"`
	IFSC    string `json:"ifsc,omitempty"`
}

func getTxn(tx *store.Tx, id string) (*txnRecord, error) {
	r := &txnRecord{}
	ok, err := tx.GetRecord(store.Txns, id, r)
	if err != nil || !ok {
		return nil, err
	}
	return r, nil
}

// putTxn stores r, stamping Updated with now and deriving Role.
func putTxn(tx *store.Tx, r *txnRecord, now time.Time) error {
	if r.Created.IsZero() {
		r.Created = now
	}
	r.Updated = now
	switch {
	case r.Type == upiv1.Txn_VAL_ADD.String():
		r.Role = roleValAdd
	case r.Payer.Here && r.Payee.Here:
		r.Role = roleBoth
	case r.Payer.Here:
		r.Role = rolePayer
	case r.Payee.Here:
		r.Role = rolePayee
	}
	return tx.PutRecord(store.Txns, r.ID, r)
}

// told reports whether the switch told this PSP the outcome: a final
// RespPay or a ReqTxnConfirmation arrived. A told record's State stays.
func (r *txnRecord) told() bool { return r.Final || r.Confirmed }

func (r *txnRecord) isCollect() bool { return r.Type == upiv1.Txn_COLLECT.String() }

// isFinal reports whether the record's status is a decided outcome.
func (r *txnRecord) isFinal() bool { return upi.Final(upi.ParseResult(r.Status)) }

// applyOutcome moves the status forward (PENDING → DEEMED → SUCCESS or
// FAILURE, upi.Rank); a decided status never changes, and a DEEMED may be
// told again with another code. It reports whether it changed anything.
func (r *txnRecord) applyOutcome(result upiv1.Resp_Result, errCode, rrn string) bool {
	changed := false
	if rrn != "" && r.RRN != rrn {
		r.RRN, changed = rrn, true
	}
	if r.isFinal() {
		return changed
	}
	if upi.Outcome(result) {
		if s := result.String(); s != r.Status || errCode != r.ErrCode {
			r.Status, r.ErrCode, changed = s, errCode, true
		}
	}
	return changed
}

// proto is the record as an app sees it.
func (r *txnRecord) proto() *upiv1.Transaction {
	t := &upiv1.Transaction{
		TxnId:       r.ID,
		Type:        upiv1.Txn_Type(upiv1.Txn_Type_value[r.Type]),
		Status:      upiv1.Resp_Result(upiv1.Resp_Result_value[r.Status]),
		Rrn:         r.RRN,
		ErrCode:     r.ErrCode,
		PayerVpa:    r.PayerVPA,
		PayeeVpa:    r.PayeeVPA,
		AmountPaise: r.Amount,
		Note:        r.Note,
		Created:     timestamppb.New(r.Created),
		Updated:     timestamppb.New(r.Updated),
	}
	if !r.Expires.IsZero() {
		t.Expires = timestamppb.New(r.Expires)
	}
	return t
}

// authTxn and authPayee decode what putAuthRequest kept.
func (r *txnRecord) authTxn() *upiv1.Txn {
	t := &upiv1.Txn{}
	if proto.Unmarshal(r.AuthTxn, t) != nil || t.GetId() == "" {
		return &upiv1.Txn{Id: r.ID, Type: upiv1.Txn_COLLECT, CustRef: r.RRN, Note: r.Note}
	}
	return t
}

func (r *txnRecord) authPayee() *upiv1.Party {
	p := &upiv1.Party{}
	if proto.Unmarshal(r.AuthPayee, p) != nil || p.GetAddr() == "" {
		return &upiv1.Party{Addr: r.PayeeVPA, Name: r.PayeeName, AmountPaise: r.Amount}
	}
	return p
}

// pendingKey is the store.Pending key of a collect waiting for vpa.
func pendingKey(vpa, txnID string) []byte {
	return []byte(ids.NormalizeVPA(vpa) + "\x00" + txnID)
}

// timeFormat is how times are kept in store.Meta.
const timeFormat = time.RFC3339Nano

func minutes(n int32) time.Duration { return time.Duration(n) * time.Minute }
