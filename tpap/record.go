package tpap

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// txnRecord is the app's record of a transaction (txns, in store.Txns). One
// record serves every user of the app the transaction involves: with one
// TPAP in the network, the payer's and the payee's view are the same
// record. Type and Status are enum names: PAY or COLLECT; PENDING, SUCCESS,
// FAILURE or DEEMED. Psp is the PSP node the app started the transaction
// through (the payer's for a payment, the payee's for a collect), or for
// one it only heard of, the PSP that notified it. Times are Unix
// nanoseconds (store.Nanos); Expires is set only when the record has an
// expiry.
type txnRecord = recordsv1.AppTxn

// notifRecord is one stored notification (notifs, in store.Notifications).
type notifRecord = recordsv1.AppNotification

// The app's tables.
var (
	txns   = store.NewTable[txnRecord](store.Txns)
	notifs = store.NewTable[notifRecord](store.Notifications)
)

func recStatus(r *txnRecord) upiv1.Resp_Result {
	return upiv1.Resp_Result(upiv1.Resp_Result_value[r.GetStatus()])
}

func recType(r *txnRecord) upiv1.Txn_Type {
	return upiv1.Txn_Type(upiv1.Txn_Type_value[r.GetType()])
}

func recProto(r *txnRecord) *upiv1.Transaction {
	t := &upiv1.Transaction{
		TxnId: r.TxnId, Type: recType(r), Status: recStatus(r), Rrn: r.Rrn,
		ErrCode: r.ErrCode, PayerVpa: r.Payer, PayeeVpa: r.Payee,
		AmountPaise: r.AmountPaise, Note: r.Note,
	}
	if r.Created != 0 {
		t.Created = timestamppb.New(store.FromNanos(r.Created))
	}
	if r.Updated != 0 {
		t.Updated = timestamppb.New(store.FromNanos(r.Updated))
	}
	if r.Expires != nil {
		t.Expires = timestamppb.New(store.FromNanos(*r.Expires))
	}
	return t
}

// recFinal reports whether r's status is SUCCESS or FAILURE.
func recFinal(r *txnRecord) bool { return upi.Final(recStatus(r)) }

// recAdvance moves r to status s (with its RRN and error code) unless that
// would move it backwards, and reports whether it changed. An RRN is
// filled in whenever r has none.
func recAdvance(r *txnRecord, s upiv1.Resp_Result, rrn, errCode string) bool {
	changed := false
	if upi.Forward(recStatus(r), s) {
		r.Status = s.String()
		r.ErrCode = errCode
		changed = true
	}
	if r.Rrn == "" && rrn != "" {
		r.Rrn = rrn
		changed = true
	}
	return changed
}

// recFill copies into r what it lacks and o has (parties, amount, note,
// PSP, expiry), leaving status, RRN and error code alone.
func recFill(r, o *txnRecord) {
	if r.Type == "" || r.Type == upiv1.Txn_TYPE_UNSPECIFIED.String() {
		r.Type = o.Type
	}
	if r.Payer == "" {
		r.Payer = o.Payer
	}
	if r.Payee == "" {
		r.Payee = o.Payee
	}
	if r.AmountPaise == 0 {
		r.AmountPaise = o.AmountPaise
	}
	if r.Note == "" {
		r.Note = o.Note
	}
	if r.Psp == "" {
		r.Psp = o.Psp
	}
	if r.Secondary == "" {
		r.Secondary = o.Secondary
	}
	if r.Expires == nil && o.Expires != nil {
		r.Expires = proto.Int64(*o.Expires)
	}
	if r.Created == 0 {
		r.Created = o.Created
	}
}

// expiresAt is an expiry as a record keeps it.
func expiresAt(t time.Time) *int64 { return proto.Int64(store.Nanos(t)) }

// recordFromProto makes a record from a Transaction a PSP answered with;
// fields the PSP left empty come from fallback.
func recordFromProto(t *upiv1.Transaction, fallback *txnRecord) *txnRecord {
	r := &txnRecord{
		TxnId: t.GetTxnId(), Type: t.GetType().String(), Status: t.GetStatus().String(),
		Rrn: t.GetRrn(), ErrCode: t.GetErrCode(), Payer: t.GetPayerVpa(),
		Payee: t.GetPayeeVpa(), AmountPaise: t.GetAmountPaise(), Note: t.GetNote(),
	}
	if t.GetType() == upiv1.Txn_TYPE_UNSPECIFIED {
		r.Type = ""
	}
	if upi.Rank(t.GetStatus()) == 0 {
		r.Status = upiv1.Resp_PENDING.String()
	}
	if t.GetExpires() != nil {
		r.Expires = expiresAt(t.GetExpires().AsTime())
	}
	recFill(r, fallback)
	return r
}

// recordFromNotification is what a notification says about its transaction.
// A collect request expires expire_after_minutes after it was made, or
// sooner when the network caps collect expiry (expiryCap > 0), as the switch
// does.
func recordFromNotification(m *upiv1.Notification, from string, now time.Time, expiryCap time.Duration) *txnRecord {
	r := &txnRecord{
		TxnId: m.GetTxn().GetId(), Type: m.GetTxn().GetType().String(),
		Status: upiv1.Resp_PENDING.String(), Rrn: m.GetTxn().GetCustRef(),
		Payer: m.GetPayer().GetAddr(), Payee: m.GetPayee().GetAddr(),
		AmountPaise: m.GetPayer().GetAmountPaise(), Note: m.GetTxn().GetNote(),
		Psp: from, Created: store.Nanos(now), Updated: store.Nanos(now),
	}
	if m.GetTxn().GetType() == upiv1.Txn_TYPE_UNSPECIFIED {
		r.Type = ""
	}
	if r.AmountPaise == 0 {
		r.AmountPaise = m.GetPayee().GetAmountPaise()
	}
	if u := ids.NormalizeVPA(m.GetUserAddr()); m.GetKind() == upiv1.Notification_TXN_STATUS && r.Payer != "" &&
		u != ids.NormalizeVPA(r.Payer) && u != ids.NormalizeVPA(r.Payee) {
		// Neither party: the secondary of a delegated payment, told by
		// PSP(S). The record needs it when it is the app's first word of
		// the payment (the answer to CreateCirclePayment was lost).
		r.Secondary = u
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
		r.Expires = expiresAt(start.Add(d))
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
func sortByCreated(recs []*txnRecord) {
	slices.SortStableFunc(recs, func(a, b *txnRecord) int {
		if c := cmp.Compare(a.Created, b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.TxnId, b.TxnId)
	})
}
