package ledger

import (
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// Resp is how the leg is reported on the wire (RespPay, RespChkTxn) in
// answer to the request reqMsgID: the result, the error code, and one Ref —
// PAYER for a debit or reversal, PAYEE for a credit — with the approval
// number, resp_code ("00" or the error code), reversal_resp_code, the
// amount settled (0 when no money moved) and the account.
func Resp(l *Leg, reqMsgID string) *upiv1.Resp {
	ref := &upiv1.Ref{
		Type:             "PAYER",
		Addr:             l.Addr,
		ApprovalNum:      l.ApprovalNum,
		RespCode:         upi.CodeOK,
		ReversalRespCode: l.ReversalRespCode,
	}
	if l.Type == LegCredit {
		ref.Type = "PAYEE"
	}
	if l.ErrCode != "" {
		ref.RespCode = l.ErrCode
	}
	if Posted(l) {
		ref.SettAmountPaise = l.AmountPaise
	}
	if l.AcNum != "" || l.Ifsc != "" {
		ref.Ac = &upiv1.Account{AcNum: l.AcNum, Ifsc: l.Ifsc}
	}
	result := upiv1.Resp_FAILURE
	if l.Result == ResultSuccess {
		result = upiv1.Resp_SUCCESS
	}
	return &upiv1.Resp{ReqMsgId: reqMsgID, Result: result, ErrCode: l.ErrCode, Refs: []*upiv1.Ref{ref}}
}

// LegStatus answers a status check (ReqChkTxn) of leg legType of txnID: the
// recorded outcome, or FAILURE U48 when the bank has no record of that leg.
func LegStatus(tx *store.Tx, txnID, legType, reqMsgID string) (*upiv1.Resp, error) {
	r, ok, err := GetTxn(tx, txnID)
	if err != nil {
		return nil, err
	}
	if ok {
		if l := LegOf(r, legType); l != nil {
			return Resp(l, reqMsgID), nil
		}
	}
	return &upiv1.Resp{ReqMsgId: reqMsgID, Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeTxnNotPresent}, nil
}

// RespPay is the answer to the request reqMsgID that asked for leg: txn t
// with the leg's type, and the leg's outcome.
func RespPay(l *Leg, t *upiv1.Txn, reqMsgID string) *upiv1.RespPay {
	txn := proto.Clone(t).(*upiv1.Txn)
	txn.Type = upiv1.Txn_Type(upiv1.Txn_Type_value[l.Type])
	return &upiv1.RespPay{Txn: txn, Resp: Resp(l, reqMsgID)}
}

// RespChkTxn answers the status check t (request reqMsgID) of leg legType
// of txnID (see LegStatus).
func RespChkTxn(tx *store.Tx, t *upiv1.Txn, txnID, legType, reqMsgID string) (*upiv1.RespChkTxn, error) {
	resp, err := LegStatus(tx, txnID, legType, reqMsgID)
	if err != nil {
		return nil, err
	}
	return &upiv1.RespChkTxn{Txn: proto.Clone(t).(*upiv1.Txn), Resp: resp}, nil
}
