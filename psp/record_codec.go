package psp

import (
	"google.golang.org/protobuf/proto"

	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/store"
)

// A txnRecord is stored as a recordsv1.PspTxn (store.Record), field for
// field (TestTxnRecordRoundTrip fills every one).

// MarshalRecord implements store.Record.
func (r *txnRecord) MarshalRecord() ([]byte, error) {
	m := &recordsv1.PspTxn{
		Id: r.ID, Type: r.Type, Role: r.Role, State: r.State, Status: r.Status, ErrCode: r.ErrCode, Rrn: r.RRN,
		PayerVpa: r.PayerVPA, PayerName: r.PayerName, PayeeVpa: r.PayeeVPA, PayeeName: r.PayeeName,
		AmountPaise: r.Amount, Note: r.Note,
		Created: store.Nanos(r.Created), Updated: store.Nanos(r.Updated), Expires: store.Nanos(r.Expires),
		PayerHere: r.PayerHere, PayeeHere: r.PayeeHere, Initiator: r.Initiator, Final: r.Final, Confirmed: r.Confirmed,
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
		PayerHere: m.GetPayerHere(), PayeeHere: m.GetPayeeHere(), Initiator: m.GetInitiator(), Final: m.GetFinal(),
		Confirmed: m.GetConfirmed(), Fingerprint: m.GetFingerprint(), AuthReqMsgID: m.GetAuthReqMsgId(),
		AuthTxn: m.GetAuthTxn(), AuthPayee: m.GetAuthPayee(), Answer: m.GetAnswer(),
	}
	if v := m.GetValAdd(); v != nil {
		r.ValAdd = &valAddResult{Result: v.GetResult(), ErrCode: v.GetErrCode(), Name: v.GetName(), Type: v.GetType(), Code: v.GetCode(), IFSC: v.GetIfsc()}
	}
	return nil
}
