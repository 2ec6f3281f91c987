package ledger

import (
	"fmt"
	"time"

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
// repeated request for it is answered from here again.
type TxnRecord struct {
	TxnID string `json:"txn_id"`
	// RRN is txn.cust_ref as the switch sent it.
	RRN      string `json:"rrn,omitempty"`
	Debit    *Leg   `json:"debit,omitempty"`
	Reversal *Leg   `json:"reversal,omitempty"`
	Credit   *Leg   `json:"credit,omitempty"`
	// CreditAbsent is set when a status check found no CREDIT: the switch
	// may act on that answer (reverse the debit), so a CREDIT arriving
	// afterwards must be declined, never applied.
	CreditAbsent bool      `json:"credit_absent,omitempty"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
}

// Leg is the recorded outcome of one leg.
type Leg struct {
	// Type is LegDebit, LegCredit or LegReversal.
	Type string `json:"type"`
	// Result is ResultSuccess or ResultFailure; ErrCode the NPCI code of a
	// failure.
	Result  string `json:"result"`
	ErrCode string `json:"err_code,omitempty"`
	// ApprovalNum is the bank's 6-digit approval number when money moved.
	ApprovalNum string `json:"approval_num,omitempty"`
	// ReversalRespCode is, for a reversal, "00" when the debit was put back
	// and "NA" when there was no debit to put back.
	ReversalRespCode string `json:"reversal_resp_code,omitempty"`
	// The customer's side: account, IFSC and VPA as the request named them.
	AcNum string `json:"ac_num,omitempty"`
	IFSC  string `json:"ifsc,omitempty"`
	Addr  string `json:"addr,omitempty"`
	// AmountPaise is the amount requested (for a reversal, the amount put
	// back).
	AmountPaise int64 `json:"amount_paise"`
	// Ref is the posting's ref when money moved, "" otherwise.
	Ref string `json:"ref,omitempty"`
	// ReqMsgID is the msg_id of the request that decided the leg.
	ReqMsgID string    `json:"req_msg_id,omitempty"`
	At       time.Time `json:"at"`
}

// Posted reports whether the leg moved money.
func (l *Leg) Posted() bool { return l != nil && l.Ref != "" }

// Leg returns the leg of type typ (LegDebit, LegCredit, LegReversal), or nil.
func (r *TxnRecord) Leg(typ string) *Leg {
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

// SetLeg records l under its type and stamps Updated.
func (r *TxnRecord) SetLeg(l *Leg) {
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
	r := &TxnRecord{}
	ok, err := tx.GetRecord(store.Txns, txnID, r)
	if err != nil || !ok {
		return nil, ok, err
	}
	return r, true, nil
}

// PutTxn stores r.
func PutTxn(tx *store.Tx, r *TxnRecord) error { return tx.PutRecord(store.Txns, r.TxnID, r) }

// approvalSeqKey is the store.Meta key of the approval number counter.
const approvalSeqKey = "ledger.approval_seq"

// NextApprovalNum returns the bank's next approval number: 6 digits from a
// counter kept in store.Meta (000001, 000002, ..., wrapping after 999999).
func NextApprovalNum(tx *store.Tx) (string, error) {
	var n uint64
	if v := tx.Get(store.Meta, []byte(approvalSeqKey)); v != nil {
		n = store.ParseU64(v)
	}
	n++
	if err := tx.Put(store.Meta, []byte(approvalSeqKey), store.U64(n)); err != nil {
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
		r = &TxnRecord{TxnID: txnID, Created: now, Updated: now}
	}
	if r.RRN == "" {
		r.RRN = rrn
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
		leg.Result, leg.ApprovalNum, leg.Ref = ResultSuccess, num, PostingRef(leg.Type, rec.TxnID)
	}
	rec.SetLeg(leg)
	return PutTxn(tx, rec)
}
