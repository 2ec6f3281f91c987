package ledger

import (
	"google.golang.org/protobuf/proto"

	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/store"
)

// Accounts, postings and transaction records are stored as the messages of
// recordsv1 (store.Record), field for field (TestRecordsRoundTrip fills
// every one).

// MarshalRecord implements store.Record.
func (a *Account) MarshalRecord() ([]byte, error) {
	return proto.Marshal(&recordsv1.Account{
		AcNum: a.AcNum, Ifsc: a.IFSC, Vpa: a.VPA, Name: a.Name, Kind: string(a.Kind), BalancePaise: a.BalancePaise,
	})
}

// UnmarshalRecord implements store.Record.
func (a *Account) UnmarshalRecord(b []byte) error {
	m := &recordsv1.Account{}
	if err := proto.Unmarshal(b, m); err != nil {
		return err
	}
	*a = Account{AcNum: m.GetAcNum(), IFSC: m.GetIfsc(), VPA: m.GetVpa(), Name: m.GetName(), Kind: Kind(m.GetKind()), BalancePaise: m.GetBalancePaise()}
	return nil
}

// MarshalRecord implements store.Record.
func (p *PostingRecord) MarshalRecord() ([]byte, error) {
	return proto.Marshal(&recordsv1.Posting{Ref: p.Ref, From: p.From, To: p.To, AmountPaise: p.AmountPaise, Ts: store.Nanos(p.TS)})
}

// UnmarshalRecord implements store.Record.
func (p *PostingRecord) UnmarshalRecord(b []byte) error {
	m := &recordsv1.Posting{}
	if err := proto.Unmarshal(b, m); err != nil {
		return err
	}
	*p = PostingRecord{Ref: m.GetRef(), From: m.GetFrom(), To: m.GetTo(), AmountPaise: m.GetAmountPaise(), TS: store.FromNanos(m.GetTs())}
	return nil
}

// MarshalRecord implements store.Record.
func (r *TxnRecord) MarshalRecord() ([]byte, error) {
	return proto.Marshal(&recordsv1.BankTxn{
		TxnId: r.TxnID, Rrn: r.RRN, Debit: r.Debit.pb(), Reversal: r.Reversal.pb(), Credit: r.Credit.pb(),
		CreditAbsent: r.CreditAbsent, Created: store.Nanos(r.Created), Updated: store.Nanos(r.Updated),
	})
}

// UnmarshalRecord implements store.Record.
func (r *TxnRecord) UnmarshalRecord(b []byte) error {
	m := &recordsv1.BankTxn{}
	if err := proto.Unmarshal(b, m); err != nil {
		return err
	}
	*r = TxnRecord{
		TxnID: m.GetTxnId(), RRN: m.GetRrn(), Debit: legOf(m.GetDebit()), Reversal: legOf(m.GetReversal()),
		Credit: legOf(m.GetCredit()), CreditAbsent: m.GetCreditAbsent(),
		Created: store.FromNanos(m.GetCreated()), Updated: store.FromNanos(m.GetUpdated()),
	}
	return nil
}

func (l *Leg) pb() *recordsv1.Leg {
	if l == nil {
		return nil
	}
	return &recordsv1.Leg{
		Type: l.Type, Result: l.Result, ErrCode: l.ErrCode, ApprovalNum: l.ApprovalNum,
		ReversalRespCode: l.ReversalRespCode, AcNum: l.AcNum, Ifsc: l.IFSC, Addr: l.Addr,
		AmountPaise: l.AmountPaise, Ref: l.Ref, ReqMsgId: l.ReqMsgID, At: store.Nanos(l.At),
	}
}

func legOf(m *recordsv1.Leg) *Leg {
	if m == nil {
		return nil
	}
	return &Leg{
		Type: m.GetType(), Result: m.GetResult(), ErrCode: m.GetErrCode(), ApprovalNum: m.GetApprovalNum(),
		ReversalRespCode: m.GetReversalRespCode(), AcNum: m.GetAcNum(), IFSC: m.GetIfsc(), Addr: m.GetAddr(),
		AmountPaise: m.GetAmountPaise(), Ref: m.GetRef(), ReqMsgID: m.GetReqMsgId(), At: store.FromNanos(m.GetAt()),
	}
}
