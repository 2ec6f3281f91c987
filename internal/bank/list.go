package bank

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

var _ node.TxnLister = (*Bank)(nil)

// ListTxns implements node.TxnLister: the bank's transaction records in txn
// id order, each as InspectTxn shows it, with this bank as remitter when it
// has a debit or reversal leg and as beneficiary when it has a credit leg.
func (b *Bank) ListTxns(after string, limit int) ([]*upiv1.TxnSummary, string, error) {
	if b.n == nil {
		return nil, "", status.Errorf(codes.Unavailable, "bank %s is not running", b.self.Name)
	}
	out, next, err := node.ListRecords(b.n, store.Txns, after, limit, b.summary)
	if err != nil {
		return nil, "", internal("list transactions", err)
	}
	return out, next, nil
}

func (b *Bank) summary(rec *ledger.TxnRecord) *upiv1.TxnSummary {
	state, t := txnView(rec)
	s := node.SummaryOf(t, state)
	if rec.Debit != nil || rec.Reversal != nil {
		s.Remitter = b.self.Name
	}
	if rec.Credit != nil {
		s.Beneficiary = b.self.Name
	}
	return s
}
