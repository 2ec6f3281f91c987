package tpap

import (
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// txnRecord is the app's record of a transaction (store.Txns; record_codec.go). One
// record serves every user of the app the transaction involves: with one
// TPAP in the network, the payer's and the payee's view are the same
// record.
type txnRecord struct {
	TxnID string `json:"txn_id"`
	// Type and Status are enum names: PAY or COLLECT; PENDING, SUCCESS,
	// FAILURE or DEEMED.
	Type    string `json:"type"`
	Status  string `json:"status"`
	RRN     string `json:"rrn,omitempty"`
	ErrCode string `json:"err_code,omitempty"`
	Payer   string `json:"payer"`
	Payee   string `json:"payee"`
	Amount  int64  `json:"amount_paise"`
	Note    string `json:"note,omitempty"`
	// PSP is the PSP node the app started the transaction through (the
	// payer's for a payment, the payee's for a collect), or for one it only
	// heard of, the PSP that notified it.
	PSP     string     `json:"psp"`
	Created time.Time  `json:"created"`
	Updated time.Time  `json:"updated"`
	Expires *time.Time `json:"expires,omitempty"`
}

// notifRecord is one stored notification (store.Notifications; record_codec.go).
type notifRecord struct {
	Kind string    `json:"kind"`
	TS   time.Time `json:"ts"`
	From string    `json:"from"`
	Txn  txnRecord `json:"txn"`
}

func (r *txnRecord) status() upiv1.Resp_Result {
	return upiv1.Resp_Result(upiv1.Resp_Result_value[r.Status])
}

func (r *txnRecord) txnType() upiv1.Txn_Type {
	return upiv1.Txn_Type(upiv1.Txn_Type_value[r.Type])
}

func (r *txnRecord) proto() *upiv1.Transaction {
	t := &upiv1.Transaction{
		TxnId: r.TxnID, Type: r.txnType(), Status: r.status(), Rrn: r.RRN,
		ErrCode: r.ErrCode, PayerVpa: r.Payer, PayeeVpa: r.Payee,
		AmountPaise: r.Amount, Note: r.Note,
	}
	if !r.Created.IsZero() {
		t.Created = timestamppb.New(r.Created)
	}
	if !r.Updated.IsZero() {
		t.Updated = timestamppb.New(r.Updated)
	}
	if r.Expires != nil {
		t.Expires = timestamppb.New(*r.Expires)
	}
	return t
}

// final reports whether r's status is SUCCESS or FAILURE.
func (r *txnRecord) final() bool { return upi.Final(r.status()) }

// advance moves r to status s (with its RRN and error code) unless that
// would move it backwards, and reports whether it changed. An RRN is
// filled in whenever r has none.
func (r *txnRecord) advance(s upiv1.Resp_Result, rrn, errCode string) bool {
	changed := false
	if upi.Forward(r.status(), s) {
		r.Status = s.String()
		r.ErrCode = errCode
		changed = true
	}
	if r.RRN == "" && rrn != "" {
		r.RRN = rrn
		changed = true
	}
	return changed
}

// fillFrom copies into r what it lacks and o has (parties, amount, note,
// PSP, expiry), leaving status, RRN and error code alone.
func (r *txnRecord) fillFrom(o *txnRecord) {
	if r.Type == "" || r.Type == upiv1.Txn_TYPE_UNSPECIFIED.String() {
		r.Type = o.Type
	}
	if r.Payer == "" {
		r.Payer = o.Payer
	}
	if r.Payee == "" {
		r.Payee = o.Payee
	}
	if r.Amount == 0 {
		r.Amount = o.Amount
	}
	if r.Note == "" {
		r.Note = o.Note
	}
	if r.PSP == "" {
		r.PSP = o.PSP
	}
	if r.Expires == nil {
		r.Expires = o.Expires
	}
	if r.Created.IsZero() {
		r.Created = o.Created
	}
}

// recordFromProto makes a record from a Transaction a PSP answered with;
// fields the PSP left empty come from fallback.
func recordFromProto(t *upiv1.Transaction, fallback txnRecord) txnRecord {
	r := txnRecord{
		TxnID: t.GetTxnId(), Type: t.GetType().String(), Status: t.GetStatus().String(),
		RRN: t.GetRrn(), ErrCode: t.GetErrCode(), Payer: t.GetPayerVpa(),
		Payee: t.GetPayeeVpa(), Amount: t.GetAmountPaise(), Note: t.GetNote(),
	}
	if t.GetType() == upiv1.Txn_TYPE_UNSPECIFIED {
		r.Type = ""
	}
	if upi.Rank(t.GetStatus()) == 0 {
		r.Status = upiv1.Resp_PENDING.String()
	}
	if t.GetExpires() != nil {
		e := t.GetExpires().AsTime()
		r.Expires = &e
	}
	r.fillFrom(&fallback)
	return r
}

// recordFromNotification is what a notification says about its transaction.
// A collect request expires expire_after_minutes after it was made, or
// sooner when the network caps collect expiry (expiryCap > 0), as the switch
// does.
func recordFromNotification(m *upiv1.Notification, from string, now time.Time, expiryCap time.Duration) txnRecord {
	r := txnRecord{
		TxnID: m.GetTxn().GetId(), Type: m.GetTxn().GetType().String(),
		Status: upiv1.Resp_PENDING.String(), RRN: m.GetTxn().GetCustRef(),
		Payer: m.GetPayer().GetAddr(), Payee: m.GetPayee().GetAddr(),
		Amount: m.GetPayer().GetAmountPaise(), Note: m.GetTxn().GetNote(),
		PSP: from, Created: now, Updated: now,
	}
	if m.GetTxn().GetType() == upiv1.Txn_TYPE_UNSPECIFIED {
		r.Type = ""
	}
	if r.Amount == 0 {
		r.Amount = m.GetPayee().GetAmountPaise()
	}
	if res := m.GetResp().GetResult(); upi.Rank(res) > 0 {
		r.Status = res.String()
		r.ErrCode = m.GetResp().GetErrCode()
	}
	if mins := m.GetTxn().GetExpireAfterMinutes(); m.GetKind() == upiv1.Notification_COLLECT_REQUEST && mins > 0 {
		start := now
		if ts := m.GetTxn().GetTs(); ts != nil {
			start = ts.AsTime()
		}
		d := time.Duration(mins) * time.Minute
		if expiryCap > 0 {
			d = min(d, expiryCap)
		}
		e := start.Add(d)
		r.Expires = &e
	}
	return r
}

// pendingKey is the store.Pending key of a collect waiting for payer.
func pendingKey(payer, txnID string) []byte {
	return []byte(ids.NormalizeVPA(payer) + "\x00" + txnID)
}

// userPrefix is the key prefix of a user's entries in store.Pending and
// store.Notifications.
func userPrefix(vpa string) []byte { return []byte(ids.NormalizeVPA(vpa) + "\x00") }

// notifKey is the store.Notifications key of a user's seq-th notification.
func notifKey(vpa string, seq uint64) []byte { return append(userPrefix(vpa), store.U64(seq)...) }

func timestampOf(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// sortByCreated orders records oldest first (by txn id when created at the
// same time).
func sortByCreated(recs []txnRecord) {
	slices.SortStableFunc(recs, func(a, b txnRecord) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.TxnID, b.TxnID)
	})
}
