// Refunds (docs/FLOWS.md, Refund): the merchant layer refunds a credit its
// payee, a user of this PSP, received. The refund is a ReqPay REFUND of its
// own, from the payee back to the credit's payer; its outcome reaches the
// merchant layer through Config.OnOutcome (Type REFUND, OrgTxnID, RefID),
// and the credit's payer, through the ReqTxnConfirmation at its PSP.

package psp

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/upi"
)

// RefundRequest is a refund of a credit this PSP's payee received.
type RefundRequest struct {
	TxnID    string // optional: the refund's txn id (this PSP's prefix); "" draws one
	OrgTxnID string // the credit (PAY or COLLECT) being refunded
	// OrgRRN, with no OrgTxnID, is the official UTR of the offline Lite
	// record being refunded (it has no txn id), and OrgPayerVPA its payer,
	// whom the refund pays.
	OrgRRN      string
	OrgPayerVPA string
	AmountPaise int64
	Note        string
	RefID       string // the merchant layer's refund id, carried in txn.ref_id
}

// StartRefund sends the ReqPay REFUND in step c and returns its txn id.
// Bad input (unknown credit at this PSP, not SUCCESS, amount <= 0 or more
// than the credit) is an error returned at once and nothing is sent.
//
// The errors are gRPC statuses: NotFound for a credit this PSP does not
// have, FailedPrecondition for one it cannot refund (not a PAY or COLLECT,
// its payee not a user here, not SUCCESS), InvalidArgument for the
// amount, the texts or the txn id (AlreadyExists when it is taken). What
// is left to refund after earlier refunds is the switch's to count: a
// refund above it is refused there and ends FAILURE U07 (OnOutcome).
func (p *PSP) StartRefund(c *node.Ctx, r RefundRequest) (string, error) {
	if r.OrgTxnID == "" && r.OrgRRN != "" {
		return p.startLiteRefund(c, r)
	}
	credit, err := getTxn(c.Tx, r.OrgTxnID)
	if err != nil {
		return "", err
	}
	switch {
	case r.OrgTxnID == "":
		return "", invalid("a refund needs the txn id of the credit it refunds (OrgTxnID)")
	case credit == nil:
		return "", status.Errorf(codes.NotFound, "refund: PSP %s has no transaction %s", p.name, r.OrgTxnID)
	case credit.Type != upiv1.Txn_PAY.String() && credit.Type != upiv1.Txn_COLLECT.String():
		return "", status.Errorf(codes.FailedPrecondition, "refund: transaction %s is a %s, only a PAY or COLLECT can be refunded", r.OrgTxnID, credit.Type)
	case !credit.PayeeHere:
		return "", status.Errorf(codes.FailedPrecondition, "refund: the payee %s of transaction %s is not a user of PSP %s", credit.PayeeVpa, r.OrgTxnID, p.name)
	case credit.Status != upiv1.Resp_SUCCESS.String():
		return "", status.Errorf(codes.FailedPrecondition, "refund: transaction %s is %s, only a SUCCESS can be refunded", r.OrgTxnID, credit.Status)
	case r.AmountPaise <= 0:
		return "", invalid("refund amount_paise must be greater than zero, got %d", r.AmountPaise)
	case r.AmountPaise > credit.AmountPaise:
		return "", invalid("refund of %s is more than the credit %s of %s", upi.FormatPaise(r.AmountPaise), r.OrgTxnID, upi.FormatPaise(credit.AmountPaise))
	}
	txnID, v, err := p.refundIDs(c, r, credit.PayeeVpa)
	if err != nil {
		return "", err
	}
	rec := &txnRecord{
		Id: txnID, Type: upiv1.Txn_REFUND.String(), State: stateReqSent, Status: upiv1.Resp_PENDING.String(),
		PayerVpa: v.Vpa, PayerName: v.Name, PayeeVpa: credit.PayerVpa, PayeeName: credit.PayerName,
		AmountPaise: r.AmountPaise, Note: r.Note, PayerHere: true, PayerInitiator: true, PayeeHere: credit.PayerHere,
		OrgTxnId: credit.Id, RefId: r.RefID,
	}
	if err := putTxn(c.Tx, rec, c.Now()); err != nil {
		return "", err
	}
	// No creds: a refund carries no PIN (the payee's bank checks the
	// credit instead).
	err = c.Send(p.switchName, upiv1.SwitchService_ReqPay_FullMethodName, &upiv1.ReqPay{
		Txn: &upiv1.Txn{
			Id: txnID, Type: upiv1.Txn_REFUND, Note: r.Note, RefId: r.RefID, OrgTxnId: credit.Id,
			Purpose: "00", InitiationMode: "00", Ts: timestamppb.New(c.Now()),
		},
		Payer: vpaParty(v, r.AmountPaise),
		Payee: &upiv1.Party{Addr: credit.PayerVpa},
	})
	if err != nil {
		return "", err
	}
	return txnID, nil
}

// startLiteRefund is StartRefund of an offline Lite record this PSP's
// payee was credited (a LITE_SYNC confirmation, psp/lite.go), named by its
// official UTR (r.OrgRRN): the ReqPay REFUND carries txn.org_rrn and no
// org_txn_id. NotFound for a UTR no record credited to a user here has;
// InvalidArgument for a bad UTR, payer or amount.
func (p *PSP) startLiteRefund(c *node.Ctx, r RefundRequest) (string, error) {
	if !ids.ValidRRN(r.OrgRRN) {
		return "", invalid("refund: org_rrn %q is not a UTR (12 digits)", r.OrgRRN)
	}
	payer := ids.NormalizeVPA(r.OrgPayerVPA)
	if err := ids.ValidateVPA(payer); err != nil {
		return "", invalid("refund of UTR %s needs the payer of the Lite payment (OrgPayerVPA): %v", r.OrgRRN, err)
	}
	var credit *liteCredit
	err := liteCredits.Scan(c.Tx, creditPrefix, func(_ string, lc *liteCredit) (bool, error) {
		if lc.Utr == r.OrgRRN {
			credit = lc
			return false, nil
		}
		return true, nil
	})
	switch {
	case err != nil:
		return "", err
	case credit == nil:
		return "", status.Errorf(codes.NotFound, "refund: PSP %s credited no offline Lite payment with UTR %s to a user", p.name, r.OrgRRN)
	case r.AmountPaise <= 0:
		return "", invalid("refund amount_paise must be greater than zero, got %d", r.AmountPaise)
	case r.AmountPaise > credit.AmountPaise:
		return "", invalid("refund of %s is more than the Lite payment %s of %s", upi.FormatPaise(r.AmountPaise), r.OrgRRN, upi.FormatPaise(credit.AmountPaise))
	}
	txnID, v, err := p.refundIDs(c, r, credit.PayeeVpa)
	if err != nil {
		return "", err
	}
	payerHere, err := getVPA(c.Tx, payer)
	if err != nil {
		return "", err
	}
	rec := &txnRecord{
		Id: txnID, Type: upiv1.Txn_REFUND.String(), State: stateReqSent, Status: upiv1.Resp_PENDING.String(),
		PayerVpa: v.Vpa, PayerName: v.Name, PayeeVpa: payer,
		AmountPaise: r.AmountPaise, Note: r.Note, PayerHere: true, PayerInitiator: true, PayeeHere: payerHere != nil,
		RefId: r.RefID,
	}
	if payerHere != nil {
		rec.PayeeName = payerHere.Name
	}
	if err := putTxn(c.Tx, rec, c.Now()); err != nil {
		return "", err
	}
	err = c.Send(p.switchName, upiv1.SwitchService_ReqPay_FullMethodName, &upiv1.ReqPay{
		Txn: &upiv1.Txn{
			Id: txnID, Type: upiv1.Txn_REFUND, Note: r.Note, RefId: r.RefID, OrgRrn: r.OrgRRN,
			Purpose: "00", InitiationMode: "00", Ts: timestamppb.New(c.Now()),
		},
		Payer: vpaParty(v, r.AmountPaise),
		Payee: &upiv1.Party{Addr: payer},
	})
	if err != nil {
		return "", err
	}
	return txnID, nil
}

// refundIDs checks what every refund request shares: its texts, its txn
// id (new at this PSP) and the refund's payer, payeeVPA, a registered user
// (the credit's payee), whose record it returns.
func (p *PSP) refundIDs(c *node.Ctx, r RefundRequest, payeeVPA string) (string, *vpaRecord, error) {
	if err := checkTexts(
		textField{"note", "upi.v1.Txn.note", r.Note},
		textField{"ref_id", "upi.v1.Txn.ref_id", r.RefID},
	); err != nil {
		return "", nil, err
	}
	txnID, err := p.checkTxnID(r.TxnID)
	if err != nil {
		return "", nil, err
	}
	if prev, err := getTxn(c.Tx, txnID); err != nil || prev != nil {
		if err != nil {
			return "", nil, err
		}
		return "", nil, status.Errorf(codes.AlreadyExists, "refund: txn id %s is already a %s at PSP %s", txnID, prev.Type, p.name)
	}
	v, err := getVPA(c.Tx, payeeVPA)
	if err != nil {
		return "", nil, err
	}
	if v == nil {
		return "", nil, p.notRegistered("payee", payeeVPA)
	}
	return txnID, v, nil
}
