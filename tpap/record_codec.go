package tpap

import (
	"google.golang.org/protobuf/proto"

	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/store"
)

// Records are stored as the messages of recordsv1 (store.Record), field for
// field (TestRecordsRoundTrip fills every one).

// MarshalRecord implements store.Record.
func (r *txnRecord) MarshalRecord() ([]byte, error) { return proto.Marshal(r.pb()) }

// UnmarshalRecord implements store.Record.
func (r *txnRecord) UnmarshalRecord(b []byte) error {
	m := &recordsv1.AppTxn{}
	if err := proto.Unmarshal(b, m); err != nil {
		return err
	}
	*r = txnRecordOf(m)
	return nil
}

func (r *txnRecord) pb() *recordsv1.AppTxn {
	m := &recordsv1.AppTxn{
		TxnId: r.TxnID, Type: r.Type, Status: r.Status, Rrn: r.RRN, ErrCode: r.ErrCode,
		Payer: r.Payer, Payee: r.Payee, AmountPaise: r.Amount, Note: r.Note, Psp: r.PSP,
		Created: store.Nanos(r.Created), Updated: store.Nanos(r.Updated),
	}
	if r.Expires != nil {
		m.Expires = proto.Int64(store.Nanos(*r.Expires))
	}
	return m
}

func txnRecordOf(m *recordsv1.AppTxn) txnRecord {
	r := txnRecord{
		TxnID: m.GetTxnId(), Type: m.GetType(), Status: m.GetStatus(), RRN: m.GetRrn(), ErrCode: m.GetErrCode(),
		Payer: m.GetPayer(), Payee: m.GetPayee(), Amount: m.GetAmountPaise(), Note: m.GetNote(), PSP: m.GetPsp(),
		Created: store.FromNanos(m.GetCreated()), Updated: store.FromNanos(m.GetUpdated()),
	}
	if m.Expires != nil {
		t := store.FromNanos(m.GetExpires())
		r.Expires = &t
	}
	return r
}

// MarshalRecord implements store.Record.
func (nr *notifRecord) MarshalRecord() ([]byte, error) {
	return proto.Marshal(&recordsv1.AppNotification{Kind: nr.Kind, Ts: store.Nanos(nr.TS), From: nr.From, Txn: nr.Txn.pb()})
}

// UnmarshalRecord implements store.Record.
func (nr *notifRecord) UnmarshalRecord(b []byte) error {
	m := &recordsv1.AppNotification{}
	if err := proto.Unmarshal(b, m); err != nil {
		return err
	}
	*nr = notifRecord{Kind: m.GetKind(), TS: store.FromNanos(m.GetTs()), From: m.GetFrom(), Txn: txnRecordOf(m.GetTxn())}
	return nil
}
