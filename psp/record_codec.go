package psp

import (
	"encoding/json"

	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/store"
)

// A txnRecord is stored as a recordsv1.PspTxn (store.Record), field for
// field (TestTxnRecordRoundTrip fills every one). Records written before
// the per-side state (payer_initiator, payee_initiator; in JSON, the
// payer_here, payee_here and initiator keys) still decode
// (TestRecordsBeforeSides).

// MarshalRecord implements store.Record.
func (r *txnRecord) MarshalRecord() ([]byte, error) {
	m := &recordsv1.PspTxn{
		Id: r.ID, Type: r.Type, Role: r.Role, State: r.State, Status: r.Status, ErrCode: r.ErrCode, Rrn: r.RRN,
		PayerVpa: r.PayerVPA, PayerName: r.PayerName, PayeeVpa: r.PayeeVPA, PayeeName: r.PayeeName,
		AmountPaise: r.Amount, Note: r.Note,
		Created: store.Nanos(r.Created), Updated: store.Nanos(r.Updated), Expires: store.Nanos(r.Expires),
		PayerHere: r.Payer.Here, PayeeHere: r.Payee.Here, Final: r.Final, Confirmed: r.Confirmed,
		PayerInitiator: r.Payer.Initiator, PayeeInitiator: r.Payee.Initiator, Initiator: r.Payer.Initiator || r.Payee.Initiator,
		Fingerprint: r.Fingerprint, AuthReqMsgId: r.AuthReqMsgID, AuthTxn: r.AuthTxn, AuthPayee: r.AuthPayee,
		Answer: r.Answer,
	}
	if v := r.ValAdd; v != nil {
		m.ValAdd = &recordsv1.PspValAdd{Result: v.Result, ErrCode: v.ErrCode, Name: v.Name, Type: v.Type, Code: v.Code, Ifsc: v.IFSC}
	}
	return proto.Marshal(m)
}

// UnmarshalRecord implements store.Record.
func (r *txnRecord) UnmarshalRecord(b []byte) error {
	m := &recordsv1.PspTxn{}
	if err := proto.Unmarshal(b, m); err != nil {
		return err
	}
	*r = txnRecord{
		ID: m.GetId(), Type: m.GetType(), Role: m.GetRole(), State: m.GetState(), Status: m.GetStatus(),
		ErrCode: m.GetErrCode(), RRN: m.GetRrn(),
		PayerVPA: m.GetPayerVpa(), PayerName: m.GetPayerName(), PayeeVPA: m.GetPayeeVpa(), PayeeName: m.GetPayeeName(),
		Amount: m.GetAmountPaise(), Note: m.GetNote(),
		Created: store.FromNanos(m.GetCreated()), Updated: store.FromNanos(m.GetUpdated()), Expires: store.FromNanos(m.GetExpires()),
		Payer:     sideState{Here: m.GetPayerHere(), Initiator: m.GetPayerInitiator()},
		Payee:     sideState{Here: m.GetPayeeHere(), Initiator: m.GetPayeeInitiator()},
		Final:     m.GetFinal(),
		Confirmed: m.GetConfirmed(), Fingerprint: m.GetFingerprint(), AuthReqMsgID: m.GetAuthReqMsgId(),
		AuthTxn: m.GetAuthTxn(), AuthPayee: m.GetAuthPayee(), Answer: m.GetAnswer(),
	}
	if m.GetInitiator() && !m.GetPayerInitiator() && !m.GetPayeeInitiator() {
		r.side(legacyInitiator(r.Type)).Initiator = true
	}
	if v := m.GetValAdd(); v != nil {
		r.ValAdd = &valAddResult{Result: v.GetResult(), ErrCode: v.GetErrCode(), Name: v.GetName(), Type: v.GetType(), Code: v.GetCode(), IFSC: v.GetIfsc()}
	}
	return nil
}

// legacyInitiator is the side that initiated a transaction of type typ in
// a record that kept only one initiator flag: the payee started a COLLECT,
// the payer anything else (PAY, VAL_ADD).
func legacyInitiator(typ string) side {
	if typ == upiv1.Txn_COLLECT.String() {
		return sidePayee
	}
	return sidePayer
}

// UnmarshalJSON reads the JSON form of older files, with the flags that
// came before the per-side state.
func (r *txnRecord) UnmarshalJSON(b []byte) error {
	type plain txnRecord // without this method
	var v struct {
		*plain
		PayerHere bool `json:"payer_here"`
		PayeeHere bool `json:"payee_here"`
		Initiator bool `json:"initiator"`
	}
	v.plain = (*plain)(r)
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	r.Payer.Here = r.Payer.Here || v.PayerHere
	r.Payee.Here = r.Payee.Here || v.PayeeHere
	if _, ok := r.initiator(); !ok && v.Initiator {
		r.side(legacyInitiator(r.Type)).Initiator = true
	}
	return nil
}
