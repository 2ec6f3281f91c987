package psp

import (
	"fmt"

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
	var out []*upiv1.TxnSummary
	var next string
	err := p.n.View(func(tx *store.Tx) (err error) {
		out, next, err = node.ListPage(tx, store.Txns, after, limit, func(k, v []byte) (*upiv1.TxnSummary, error) {
			r := &txnRecord{}
			if err := store.DecodeRecord(v, r); err != nil {
				return nil, fmt.Errorf("decode transaction %s: %w", k, err)
			}
			return p.summary(r), nil
		})
		return err
	})
	return out, next, err
}

func (p *PSP) summary(r *txnRecord) *upiv1.TxnSummary {
	t := r.proto()
	s := &upiv1.TxnSummary{
		TxnId: t.GetTxnId(), Type: t.GetType(), State: r.State, Status: t.GetStatus(), ErrCode: t.GetErrCode(), Rrn: t.GetRrn(),
		AmountPaise: t.GetAmountPaise(), PayerVpa: t.GetPayerVpa(), PayeeVpa: t.GetPayeeVpa(),
		Created: t.GetCreated(), Updated: t.GetUpdated(),
	}
	if r.PayerHere {
		s.PayerPsp = p.name
	}
	if r.PayeeHere {
		s.PayeePsp = p.name
	}
	if !r.Expires.IsZero() {
		s.Deadline = timestamppb.New(r.Expires)
	}
	return s
}
