package ledger

import (
	"fmt"
	"time"

	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/store"
)

// Leg types, as in Txn.type.
const (
	LegDebit    = "DEBIT"
	LegCredit   = "CREDIT"
	LegReversal = "REVERSAL"
)

// Leg results, as in Resp.result.
const (
	ResultSuccess = "SUCCESS"
	ResultFailure = "FAILURE"
)

// PostingRef is the posting reference of a leg of a transaction:
// "DEBIT:<txn>", "CREDIT:<txn>", "REVERSAL:<txn>".
func PostingRef(leg, txnID string) string { return leg + ":" + txnID }

// TxnRecord is a bank's record of one transaction (store.Txns, keyed
// by txn id): the outcome of each leg it answered. The remitter role writes
// Debit and Reversal, the beneficiary role Credit; an on-us transaction
// (payer and payee at the same bank) has both. A leg is decided once; a
// repeated request for it is answered from here again. Rrn is
// txn.cust_ref as the switch sent it. CreditAbsent is set when a status
// check found no CREDIT: the switch may act on that answer (reverse the
// debit), so a CREDIT arriving afterwards must be declined, never applied.
// Times are Unix nanoseconds of the node's clock (store.Nanos).
type TxnRecord = recordsv1.BankTxn

// Leg is the recorded outcome of one leg: Type is LegDebit, LegCredit or
// LegReversal; Result ResultSuccess or ResultFailure, ErrCode the NPCI code
// of a failure; ApprovalNum the bank's 6-digit approval number when money
// moved; ReversalRespCode, for a reversal, "00" when the debit was put back
// and "NA" when there was no debit to put back; AcNum, Ifsc and Addr the
// customer's side as the request named it; AmountPaise the amount
// requested (for a reversal, the amount put back); Ref the posting's ref
// when money moved, "" otherwise; ReqMsgId the msg_id of the request that
// decided the leg; At when.
type Leg = recordsv1.Leg

// Txns is the table of a bank's transaction records, by txn id.
var Txns = store.NewTable[TxnRecord](store.Txns)

// Posted reports whether the leg moved money.
func Posted(l *Leg) bool { return l.GetRef() != "" }

// LegOf returns the leg of type typ (LegDebit, LegCredit, LegReversal) of
// r, or nil.
func LegOf(r *TxnRecord, typ string) *Leg {
	switch typ {
	case LegDebit:
		return r.Debit
	case LegCredit:
		return r.Credit
	case LegReversal:
		return r.Reversal
	}
	return nil
}

// SetLeg records l on r under its type and stamps Updated.
func SetLeg(r *TxnRecord, l *Leg) {
	switch l.Type {
	case LegDebit:
		r.Debit = l
	case LegCredit:
		r.Credit = l
	case LegReversal:
		r.Reversal = l
	}
	r.Updated = l.At
}

// GetTxn returns the record of txnID and whether there is one.
func GetTxn(tx *store.Tx, txnID string) (*TxnRecord, bool, error) {
	return Txns.Get(tx, txnID)
}

// PutTxn stores r.
func PutTxn(tx *store.Tx, r *TxnRecord) error { return Txns.Put(tx, r.TxnId, r) }

// NextApprovalNum returns the bank's next approval number: 6 digits from a
// counter (store.MetaApprovalSeq: 000001, 000002, ..., wrapping after
// 999999).
func NextApprovalNum(tx *store.Tx) (string, error) {
	n, err := store.MetaApprovalSeq.Next(tx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", (n-1)%999_999+1), nil
}

// LoadTxn returns the record of txnID, or a new one (not yet stored) created
// at now with the RRN rrn.
func LoadTxn(tx *store.Tx, txnID, rrn string, now time.Time) (*TxnRecord, error) {
	r, ok, err := GetTxn(tx, txnID)
	if err != nil {
		return nil, err
	}
	if !ok {
		r = &TxnRecord{TxnId: txnID, Created: store.Nanos(now), Updated: store.Nanos(now)}
	}
	if r.Rrn == "" {
		r.Rrn = rrn
	}
	return r, nil
}

// Settle records the outcome of leg on rec and stores rec: declined with
// code, or (code "") succeeded, with a fresh approval number and the
// reference its posting was made under. The remitter and the beneficiary
// both end a leg this way.
func Settle(tx *store.Tx, rec *TxnRecord, leg *Leg, code string) error {
	if code != "" {
		leg.Result, leg.ErrCode = ResultFailure, code
	} else {
		num, err := NextApprovalNum(tx)
		if err != nil {
			return err
		}
		leg.Result, leg.ApprovalNum, leg.Ref = ResultSuccess, num, PostingRef(leg.Type, rec.TxnId)
	}
	SetLeg(rec, leg)
	return PutTxn(tx, rec)
}
