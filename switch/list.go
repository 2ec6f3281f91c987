package upiswitch

import (
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

var _ node.TxnLister = (*Switch)(nil)

// ListTxns implements node.TxnLister: the switch's pay records in txn id
// order (the records of other flows are not transactions of their own),
// with the PSPs and banks each was routed to and the legs it sent them;
// after them the delegated payments that had no pay (ended, or waiting,
// at the delegate-auth step: CN, U09, U69, PSP(P)'s decline).
func (s *Switch) ListTxns(after string, limit int) ([]*upiv1.TxnSummary, string, error) {
	if s.n == nil {
		return nil, "", status.Error(codes.Unavailable, "switch is not attached to a node")
	}
	var out []*upiv1.TxnSummary
	var next string
	err := s.n.View(func(tx *store.Tx) (err error) {
		out, next, err = node.ListPage(tx, store.Txns, after, limit, func(k, v []byte) (*upiv1.TxnSummary, error) {
			if strings.HasPrefix(string(k), flowDelegateAuth+"/") {
				return s.delegateSummary(tx, k, v)
			}
			if !isPayKey(k) { // another flow's record (flow.go)
				return nil, nil
			}
			r := &record{}
			if err := store.DecodeProto(v, r); err != nil {
				return nil, fmt.Errorf("decode transaction %s: %w", k, err)
			}
			return summary(r), nil
		})
		return err
	})
	return out, next, err
}

// summary is r as AdminService/ListTransactions shows it.
func summary(r *record) *upiv1.TxnSummary {
	t := &upiv1.TxnSummary{
		TxnId: r.Id, Type: txnType(r), State: string(r.State), Status: resultOf(r), ErrCode: r.ErrCode, Rrn: r.Rrn,
		AmountPaise: r.AmountPaise, PayerVpa: r.GetPayer().GetAddr(), PayeeVpa: r.GetPayee().GetAddr(),
		Remitter: r.Remitter, Beneficiary: r.Beneficiary, MandateUmn: r.MandateUmn, OrgTxnId: r.OrgTxnId, OrgRrn: r.OrgRrn,
		Created: timestamppb.New(store.FromNanos(r.Created)), Updated: timestamppb.New(store.FromNanos(r.Updated)),
	}
	// The originator is the payer's PSP in a PAY (and a ReqValAdd, whose
	// payer is the requester), the payee's in a COLLECT.
	t.PayerPsp, t.PayeePsp = r.Originator, r.Counterparty
	if r.Type == upiv1.Txn_COLLECT.String() {
		t.PayerPsp, t.PayeePsp = r.Counterparty, r.Originator
	}
	if r.Expires != 0 {
		t.Deadline = timestamppb.New(store.FromNanos(r.Expires))
	}
	for _, l := range []struct {
		typ  upiv1.Txn_Type
		x    *exchange
		acct string
	}{{upiv1.Txn_DEBIT, r.Debit, r.GetPayer().GetAcNum()}, {upiv1.Txn_CREDIT, r.Credit, r.GetPayee().GetAcNum()}, {upiv1.Txn_REVERSAL, r.Reversal, r.GetPayer().GetAcNum()}} {
		if l.x == nil {
			continue
		}
		res := upiv1.Resp_PENDING
		if l.x.Result != "" {
			res = upiv1.Resp_Result(upiv1.Resp_Result_value[l.x.Result])
		}
		t.Legs = append(t.Legs, &upiv1.TxnLeg{
			Type: l.typ, Bank: l.x.To, AcNum: l.acct, AmountPaise: r.AmountPaise, Result: res, ErrCode: l.x.ErrCode,
		})
	}
	return t
}

// delegateSummary is the delegate-auth flow stored at k as a PAY of its
// own, when no pay flow of its txn id exists (else nil: the pay is the
// transaction). Its payer's PSP is PSP(S), the one node sure to have it;
// it moved no money. An open one's deadline is its timer's.
func (s *Switch) delegateSummary(tx *store.Tx, k, v []byte) (*upiv1.TxnSummary, error) {
	r := &delegate{}
	if err := store.DecodeProto(v, r); err != nil {
		return nil, fmt.Errorf("decode delegated payment %s: %w", k, err)
	}
	if tx.Has(store.Txns, []byte(flowKey(flowPay, r.Id))) {
		return nil, nil
	}
	req := &upiv1.ReqDelegateAuth{}
	if err := proto.Unmarshal(r.Req, req); err != nil {
		return nil, fmt.Errorf("decode delegated payment %s: %w", k, err)
	}
	status := upiv1.Resp_PENDING
	if r.State == StateClosed {
		status = upiv1.Resp_Result(upiv1.Resp_Result_value[r.Status])
	}
	updated := r.Created
	if x := r.GetFwd(); x != nil {
		updated = max(updated, x.GetAnswered(), x.GetTimedOut())
	}
	wait := s.net.Timeouts.AuthDetails
	if req.GetDelegate().GetSubType() == upiv1.Delegate_PARTIAL {
		wait += s.net.Circle.ApprovalExpiry
	}
	return &upiv1.TxnSummary{
		TxnId: r.Id, Type: upiv1.Txn_PAY, State: r.State, Status: status, ErrCode: r.ErrCode,
		AmountPaise: req.GetPayer().GetAmountPaise(), PayerVpa: req.GetPayer().GetAddr(), PayeeVpa: req.GetPayee().GetAddr(),
		PayerPsp: r.Originator, SecondaryVpa: req.GetDelegate().GetSecondaryAddr(),
		Created: timestamppb.New(store.FromNanos(r.Created)), Updated: timestamppb.New(store.FromNanos(updated)),
		Deadline: timestamppb.New(store.FromNanos(r.Created).Add(wait)),
	}, nil
}
