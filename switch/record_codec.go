package upiswitch

import (
	"encoding/json"

	"google.golang.org/protobuf/proto"

	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/store"
)

// A record is stored as a recordsv1.SwitchTxn (store.Record); every field
// of record and of the structs in it has its field there
// (TestRecordRoundTrip fills every one).

// MarshalRecord implements store.Record.
func (r *record) MarshalRecord() ([]byte, error) {
	m := &recordsv1.SwitchTxn{
		Id: r.ID, Type: r.Type, State: string(r.State), Status: r.Status, ErrCode: r.ErrCode,
		Rrn: r.RRN, AmountPaise: r.Amount, Info: r.Info.pb(), Payer: r.Payer.pb(), Payee: r.Payee.pb(),
		Originator: r.Originator, OrigMsgId: r.OrigMsgID, Counterparty: r.Counterparty,
		Remitter: r.Remitter, Beneficiary: r.Beneficiary,
		Auth: r.Auth.pb(), ValAdd: r.ValAdd.pb(), Debit: r.Debit.pb(), Credit: r.Credit.pb(),
		Reversal: r.Reversal.pb(), Checks: exchangesPB(r.Checks), Parent: r.Parent.pb(),
		Deemed: store.Nanos(r.Deemed), ReversalCode: r.ReversalCode, Reason: r.Reason,
		Created: store.Nanos(r.Created), Updated: store.Nanos(r.Updated), Expires: store.Nanos(r.Expires),
		LateDropped: int64(r.LateDropped), ChecksSent: int64(r.ChecksSent),
	}
	m.Confirm, m.Confirms = oneOrMany(r.Confirms)
	m.DeemedConfirm, m.DeemedConfirms = oneOrMany(r.DeemedConfirms)
	if len(r.Late) > 0 {
		m.Late = make([]*recordsv1.LateNote, len(r.Late))
		for i, l := range r.Late {
			m.Late[i] = &recordsv1.LateNote{
				At: store.Nanos(l.At), Api: l.API, Leg: l.Leg, From: l.From, MsgId: l.MsgID,
				Result: l.Result, ErrCode: l.ErrCode, State: string(l.State), Code: l.Code,
			}
		}
	}
	return proto.Marshal(m)
}

// UnmarshalRecord implements store.Record.
func (r *record) UnmarshalRecord(b []byte) error {
	m := &recordsv1.SwitchTxn{}
	if err := proto.Unmarshal(b, m); err != nil {
		return err
	}
	*r = record{
		ID: m.GetId(), Type: m.GetType(), State: State(m.GetState()), Status: m.GetStatus(),
		ErrCode: m.GetErrCode(), RRN: m.GetRrn(), Amount: m.GetAmountPaise(),
		Info: infoOf(m.GetInfo()), Payer: partyOf(m.GetPayer()), Payee: partyOf(m.GetPayee()),
		Originator: m.GetOriginator(), OrigMsgID: m.GetOrigMsgId(), Counterparty: m.GetCounterparty(),
		Remitter: m.GetRemitter(), Beneficiary: m.GetBeneficiary(),
		Auth: exchangeOf(m.GetAuth()), ValAdd: exchangeOf(m.GetValAdd()), Debit: exchangeOf(m.GetDebit()),
		Credit: exchangeOf(m.GetCredit()), Reversal: exchangeOf(m.GetReversal()),
		Confirms: exchangesOf(m.GetConfirms(), m.GetConfirm()), DeemedConfirms: exchangesOf(m.GetDeemedConfirms(), m.GetDeemedConfirm()),
		Checks: exchangesOf(m.GetChecks(), nil), Parent: parentOf(m.GetParent()),
		Deemed: store.FromNanos(m.GetDeemed()), ReversalCode: m.GetReversalCode(), Reason: m.GetReason(),
		Created: store.FromNanos(m.GetCreated()), Updated: store.FromNanos(m.GetUpdated()),
		Expires: store.FromNanos(m.GetExpires()), LateDropped: int(m.GetLateDropped()),
		ChecksSent: int(m.GetChecksSent()),
	}
	for _, l := range m.GetLate() {
		r.Late = append(r.Late, lateNote{
			At: store.FromNanos(l.GetAt()), API: l.GetApi(), Leg: l.GetLeg(), From: l.GetFrom(), MsgID: l.GetMsgId(),
			Result: l.GetResult(), ErrCode: l.GetErrCode(), State: State(l.GetState()), Code: l.GetCode(),
		})
	}
	return nil
}

func (i *info) pb() *recordsv1.SwitchInfo {
	if *i == (info{}) {
		return nil
	}
	return &recordsv1.SwitchInfo{
		Note: i.Note, RefId: i.RefID, RefUrl: i.RefURL, Purpose: i.Purpose,
		InitiationMode: i.InitiationMode, Ts: store.TS(i.Ts), ExpireAfterMinutes: i.ExpireMinutes,
	}
}

func infoOf(m *recordsv1.SwitchInfo) info {
	return info{
		Note: m.GetNote(), RefID: m.GetRefId(), RefURL: m.GetRefUrl(), Purpose: m.GetPurpose(),
		InitiationMode: m.GetInitiationMode(), Ts: store.Time(m.GetTs()), ExpireMinutes: m.GetExpireAfterMinutes(),
	}
}

func (p *party) pb() *recordsv1.SwitchParty {
	m := &recordsv1.SwitchParty{
		Addr: p.Addr, Name: p.Name, Type: p.Type, Code: p.Code, AcNum: p.AcNum, Ifsc: p.IFSC, AcType: p.AcType,
	}
	for _, c := range p.Creds {
		m.Creds = append(m.Creds, &recordsv1.Cred{Type: c.Type, SubType: c.SubType, Data: c.Data})
	}
	if d := p.Device; d != nil {
		m.Device = &recordsv1.Device{Id: d.ID, Mobile: d.Mobile, App: d.App, Os: d.OS}
	}
	return m
}

func partyOf(m *recordsv1.SwitchParty) party {
	p := party{
		Addr: m.GetAddr(), Name: m.GetName(), Type: m.GetType(), Code: m.GetCode(),
		AcNum: m.GetAcNum(), IFSC: m.GetIfsc(), AcType: m.GetAcType(),
	}
	for _, c := range m.GetCreds() {
		p.Creds = append(p.Creds, cred{Type: c.GetType(), SubType: c.GetSubType(), Data: c.GetData()})
	}
	if d := m.GetDevice(); d != nil {
		p.Device = &device{ID: d.GetId(), Mobile: d.GetMobile(), App: d.GetApp(), OS: d.GetOs()}
	}
	return p
}

func (e *exchange) pb() *recordsv1.Exchange {
	if e == nil {
		return nil
	}
	return &recordsv1.Exchange{
		To: e.To, MsgId: e.MsgID, Sent: store.Nanos(e.Sent), Answered: store.Nanos(e.Answered),
		Result: e.Result, ErrCode: e.ErrCode, ApprovalNum: e.ApprovalNum,
		ReversalRespCode: e.ReversalRespCode, TimedOut: store.Nanos(e.TimedOut), Attempts: int64(e.Attempts),
	}
}

func exchangeOf(m *recordsv1.Exchange) *exchange {
	if m == nil {
		return nil
	}
	e := exchangeValue(m)
	return &e
}

func exchangeValue(m *recordsv1.Exchange) exchange {
	return exchange{
		To: m.GetTo(), MsgID: m.GetMsgId(), Sent: store.FromNanos(m.GetSent()), Answered: store.FromNanos(m.GetAnswered()),
		Result: m.GetResult(), ErrCode: m.GetErrCode(), ApprovalNum: m.GetApprovalNum(),
		ReversalRespCode: m.GetReversalRespCode(), TimedOut: store.FromNanos(m.GetTimedOut()), Attempts: int(m.GetAttempts()),
	}
}

// exchangesPB is a list of exchanges in binary form (an empty Exchange for
// a nil one).
func exchangesPB(es []*exchange) []*recordsv1.Exchange {
	if len(es) == 0 {
		return nil
	}
	out := make([]*recordsv1.Exchange, len(es))
	for i, e := range es {
		if out[i] = e.pb(); out[i] == nil {
			out[i] = &recordsv1.Exchange{}
		}
	}
	return out
}

// oneOrMany is a list of exchanges in binary form: one in its own field
// (as records were written before the list existed, and without the
// list's allocation), several in the list.
func oneOrMany(es []*exchange) (*recordsv1.Exchange, []*recordsv1.Exchange) {
	if len(es) == 1 && es[0] != nil {
		return es[0].pb(), nil
	}
	return nil, exchangesPB(es)
}

// exchangesOf decodes a list of exchanges, or the one in its own field
// (oneOrMany).
func exchangesOf(ms []*recordsv1.Exchange, one *recordsv1.Exchange) []*exchange {
	if len(ms) == 0 {
		if one == nil {
			return nil
		}
		return appendExchange(nil, exchangeValue(one))
	}
	out := make([]*exchange, len(ms))
	for i, m := range ms {
		out[i] = exchangeOf(m)
	}
	return out
}

func (p *parentRef) pb() *recordsv1.FlowParent {
	if p == nil {
		return nil
	}
	return &recordsv1.FlowParent{Kind: p.Kind, Id: p.ID}
}

func parentOf(m *recordsv1.FlowParent) *parentRef {
	if m == nil {
		return nil
	}
	return &parentRef{Kind: m.GetKind(), ID: m.GetId()}
}

// UnmarshalJSON reads a record in JSON, the form of the oldest files, where
// a transaction had one confirmation and one DEEMED confirmation.
func (r *record) UnmarshalJSON(b []byte) error {
	type plain record
	aux := struct {
		*plain
		Confirm       *exchange `json:"confirm"`
		DeemedConfirm *exchange `json:"deemed_confirm"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	if len(r.Confirms) == 0 && aux.Confirm != nil {
		r.Confirms = []*exchange{aux.Confirm}
	}
	if len(r.DeemedConfirms) == 0 && aux.DeemedConfirm != nil {
		r.DeemedConfirms = []*exchange{aux.DeemedConfirm}
	}
	return nil
}

// exchangeList1 is a list of one exchange together with the exchange, so
// that the common list (a pay's one confirmation) costs one allocation.
type exchangeList1 struct {
	list [1]*exchange
	e    exchange
}

// appendExchange appends e to l.
func appendExchange(l []*exchange, e exchange) []*exchange {
	if len(l) == 0 {
		one := &exchangeList1{e: e}
		one.list[0] = &one.e
		return one.list[:]
	}
	return append(l, &e)
}
