package psp

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
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

// vpaRecord is a registered user or merchant: the recordsv1.PspVpa
// message, kept in vpas (store.VPAs, keyed by the normalized VPA). Type is
// PERSON or ENTITY, Mcc "0000" for people.
type vpaRecord = recordsv1.PspVpa

// vpas is this PSP's VPA registry.
var vpas = store.NewTable[vpaRecord](store.VPAs)

func putVPA(tx *store.Tx, v *vpaRecord) error { return vpas.Put(tx, v.Vpa, v) }

// getVPA looks vpa up in the registry; nil when it is not registered here.
func getVPA(tx *store.Tx, vpa string) (*vpaRecord, error) {
	v, ok, err := vpas.Get(tx, ids.NormalizeVPA(vpa))
	if err != nil || !ok {
		return nil, err
	}
	return v, nil
}

func partyType(v *vpaRecord) upiv1.Party_Type {
	if v.Type == partyEntity {
		return upiv1.Party_ENTITY
	}
	return upiv1.Party_PERSON
}

// vpaParty is v as a Payer/Payee with its account.
func vpaParty(v *vpaRecord, amount int64) *upiv1.Party {
	return &upiv1.Party{
		Addr: v.Vpa, Name: v.Name, Type: partyType(v), Code: v.Mcc,
		Ac: &upiv1.Account{AcNum: v.AcNum, Ifsc: v.Ifsc}, AmountPaise: amount, Currency: "INR",
	}
}

// Roles of this PSP's user in a transaction (PspTxn.role).
const (
	rolePayer  = "payer"
	rolePayee  = "payee"
	roleBoth   = "payer+payee" // both parties are users of this PSP (on-us)
	roleValAdd = "valadd"
)

// States of a transaction record (PspTxn.state): the last step this PSP
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

// Answers to a collect request (PspTxn.answer).
const (
	answerApproved = "APPROVED"
	answerDeclined = "DECLINED"
)

// txnRecord is this PSP's record of a transaction (store.Txns, keyed by
// txn id): the recordsv1.PspTxn message itself, kept in txns. One record
// serves every side this PSP plays in the transaction: when payer and
// payee are both its users, the same id arrives as the initiator's ReqPay
// and as the switch's ReqAuthDetails.
//
// Its fields: Type is PAY, COLLECT or VAL_ADD (upiv1.Txn_Type names); Role
// payer, payee, payer+payee or valadd (derived by putTxn); Status PENDING,
// SUCCESS, FAILURE or DEEMED. PayerHere/PayerInitiator and
// PayeeHere/PayeeInitiator are what this PSP holds of each side (side);
// both may be here (on-us). Final and Confirmed are the record's, not a
// side's: the switch sends one RespPay (to the initiating side's PSP) and
// one ReqTxnConfirmation per PSP, however many sides it holds. Final: the
// initiator got a final (SUCCESS or FAILURE) RespPay; Confirmed: the
// switch's ReqTxnConfirmation arrived. Fingerprint is the hash of an
// InitiatePay request, so a repeat with the same txn_id can be told apart
// from a different payment. For the payer of a COLLECT: AuthReqMsgId,
// AuthTxn and AuthPayee are the ReqAuthDetails it answers (its msg id, txn
// and payee, proto-encoded) and Answer the user's answer. ValAdd is the
// RespValAdd outcome of a ResolveAddress.
//
// Records written before the per-side state kept one Initiator flag (and
// in JSON, the payer_here, payee_here and initiator keys, which are the
// message's field names); getTxn reads them with their initiating side
// (upgradeTxn, TestRecordsBeforeSides).
type txnRecord = recordsv1.PspTxn

// valAddResult is what RespValAdd said.
type valAddResult = recordsv1.PspValAdd

// txns is this PSP's table of transaction records.
var txns = store.NewTable[txnRecord](store.Txns)

// A side of a transaction: a party whose account it moves, seen from the
// PSP that holds it. One PSP may hold several sides of a transaction (an
// on-us payment: payer and payee); each has its own state (sideState).
type side uint8

const (
	sidePayer side = iota
	sidePayee
	// Room for the sides of UPI Circle (a secondary user paying from a
	// primary's account): sideSecondary, sidePrimary, each with its
	// fields in recordsv1.PspTxn and its case in sideOf.
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

// sideState is what a PSP keeps of one side of a transaction: pointers to
// that side's fields of a record.
type sideState struct {
	// Here: the side's party is a user of this PSP.
	Here *bool
	// Initiator: this side's user started the transaction at this PSP,
	// which sent the ReqPay (or ReqValAdd) and gets the RespPay.
	Initiator *bool
}

// sideOf is the state r keeps of side s.
func sideOf(r *txnRecord, s side) sideState {
	switch s {
	case sidePayer:
		return sideState{Here: &r.PayerHere, Initiator: &r.PayerInitiator}
	case sidePayee:
		return sideState{Here: &r.PayeeHere, Initiator: &r.PayeeInitiator}
	}
	panic("psp: no side " + s.String())
}

// vpaOf is the address of side s's party.
func vpaOf(r *txnRecord, s side) string {
	if s == sidePayee {
		return r.PayeeVpa
	}
	return r.PayerVpa
}

// initiatorOf is the side that started the transaction at this PSP, if one
// did.
func initiatorOf(r *txnRecord) (side, bool) {
	switch {
	case r.PayerInitiator:
		return sidePayer, true
	case r.PayeeInitiator:
		return sidePayee, true
	}
	return 0, false
}

// collectPayer reports whether r is a collect whose payer is a user of
// this PSP: the side that approves here, with its entry in store.Pending
// while it waits.
func collectPayer(r *txnRecord) bool { return isCollect(r) && r.PayerHere }

func getTxn(tx *store.Tx, id string) (*txnRecord, error) {
	r, ok, err := txns.Get(tx, id)
	if err != nil || !ok {
		return nil, err
	}
	upgradeTxn(r)
	return r, nil
}

// upgradeTxn gives a record written before the per-side state (one
// Initiator flag, without payer_initiator or payee_initiator) its
// initiating side: the payee of a COLLECT, the payer of anything else
// (PAY, VAL_ADD).
func upgradeTxn(r *txnRecord) {
	if r.Initiator && !r.PayerInitiator && !r.PayeeInitiator {
		if isCollect(r) {
			r.PayeeInitiator = true
		} else {
			r.PayerInitiator = true
		}
	}
}

// putTxn stores r, stamping Updated with now and deriving Role (and
// Initiator, still written for older readers: either side initiated).
func putTxn(tx *store.Tx, r *txnRecord, now time.Time) error {
	if r.Created == 0 {
		r.Created = store.Nanos(now)
	}
	r.Updated = store.Nanos(now)
	switch {
	case r.Type == upiv1.Txn_VAL_ADD.String():
		r.Role = roleValAdd
	case r.PayerHere && r.PayeeHere:
		r.Role = roleBoth
	case r.PayerHere:
		r.Role = rolePayer
	case r.PayeeHere:
		r.Role = rolePayee
	}
	r.Initiator = r.PayerInitiator || r.PayeeInitiator
	return txns.Put(tx, r.Id, r)
}

// told reports whether the switch told this PSP the outcome: a final
// RespPay or a ReqTxnConfirmation arrived. A told record's State stays.
func told(r *txnRecord) bool { return r.Final || r.Confirmed }

func isCollect(r *txnRecord) bool { return r.Type == upiv1.Txn_COLLECT.String() }

// isFinal reports whether the record's status is a decided outcome.
func isFinal(r *txnRecord) bool { return upi.Final(upi.ParseResult(r.Status)) }

// applyOutcome moves r's status forward (PENDING → DEEMED → SUCCESS or
// FAILURE, upi.Rank); a decided status never changes, and a DEEMED may be
// told again with another code. It reports whether it changed anything.
func applyOutcome(r *txnRecord, result upiv1.Resp_Result, errCode, rrn string) bool {
	changed := false
	if rrn != "" && r.Rrn != rrn {
		r.Rrn, changed = rrn, true
	}
	if isFinal(r) {
		return changed
	}
	if upi.Outcome(result) {
		if s := result.String(); s != r.Status || errCode != r.ErrCode {
			r.Status, r.ErrCode, changed = s, errCode, true
		}
	}
	return changed
}

// txnProto is the record as an app sees it.
func txnProto(r *txnRecord) *upiv1.Transaction {
	t := &upiv1.Transaction{
		TxnId:       r.Id,
		Type:        upiv1.Txn_Type(upiv1.Txn_Type_value[r.Type]),
		Status:      upiv1.Resp_Result(upiv1.Resp_Result_value[r.Status]),
		Rrn:         r.Rrn,
		ErrCode:     r.ErrCode,
		PayerVpa:    r.PayerVpa,
		PayeeVpa:    r.PayeeVpa,
		AmountPaise: r.AmountPaise,
		Note:        r.Note,
		Created:     timestamppb.New(store.FromNanos(r.Created)),
		Updated:     timestamppb.New(store.FromNanos(r.Updated)),
	}
	if r.Expires != 0 {
		t.Expires = timestamppb.New(store.FromNanos(r.Expires))
	}
	return t
}

// authTxn and authPayee decode what putAuthRequest kept.
func authTxn(r *txnRecord) *upiv1.Txn {
	t := &upiv1.Txn{}
	if proto.Unmarshal(r.AuthTxn, t) != nil || t.GetId() == "" {
		return &upiv1.Txn{Id: r.Id, Type: upiv1.Txn_COLLECT, CustRef: r.Rrn, Note: r.Note}
	}
	return t
}

func authPayee(r *txnRecord) *upiv1.Party {
	p := &upiv1.Party{}
	if proto.Unmarshal(r.AuthPayee, p) != nil || p.GetAddr() == "" {
		return &upiv1.Party{Addr: r.PayeeVpa, Name: r.PayeeName, AmountPaise: r.AmountPaise}
	}
	return p
}

// pendingKey is the store.Pending key of a collect waiting for vpa.
func pendingKey(vpa, txnID string) []byte {
	return []byte(ids.NormalizeVPA(vpa) + "\x00" + txnID)
}

func minutes(n int32) time.Duration { return time.Duration(n) * time.Minute }
