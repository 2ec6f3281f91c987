package psp

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

var _ node.TxnLister = (*PSP)(nil)

// ListTxns implements node.TxnLister: this PSP's transaction records in
// txn id order, with itself as payer_psp and/or payee_psp for the sides
// whose party is its user.
func (p *PSP) ListTxns(after string, limit int) ([]*upiv1.TxnSummary, string, error) {
	if p.n == nil {
		return nil, "", status.Errorf(codes.Unavailable, "PSP %s is not running", p.name)
	}
	return node.ListTable(p.n, txns, after, limit, p.summary)
}

func (p *PSP) summary(r *txnRecord) *upiv1.TxnSummary {
	s := node.SummaryOf(txnProto(r), r.State)
	if r.PayerHere {
		s.PayerPsp = p.name
	}
	if r.PayeeHere {
		s.PayeePsp = p.name
	}
	if r.Expires != 0 {
		s.Deadline = timestamppb.New(store.FromNanos(r.Expires))
	}
	s.SecondaryVpa = r.SecondaryVpa
	return s
}
