package bank

import (
	"fmt"

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
	var out []*upiv1.TxnSummary
	var next string
	err := b.view(func(tx *store.Tx) (err error) {
		out, next, err = node.ListPage(tx, store.Txns, after, limit, func(k, v []byte) (*upiv1.TxnSummary, error) {
			rec := &ledger.TxnRecord{}
			if err := store.DecodeRecord(v, rec); err != nil {
				return nil, fmt.Errorf("decode transaction %s: %w", k, err)
			}
			return b.summary(rec), nil
		})
		return err
	})
	if err != nil {
		return nil, "", internal("list transactions", err)
	}
	return out, next, nil
}

func (b *Bank) summary(rec *ledger.TxnRecord) *upiv1.TxnSummary {
	state, t := txnView(rec)
	s := &upiv1.TxnSummary{
		TxnId: t.GetTxnId(), Type: t.GetType(), State: state, Status: t.GetStatus(), ErrCode: t.GetErrCode(), Rrn: t.GetRrn(),
		AmountPaise: t.GetAmountPaise(), PayerVpa: t.GetPayerVpa(), PayeeVpa: t.GetPayeeVpa(),
		Created: t.GetCreated(), Updated: t.GetUpdated(),
	}
	if rec.Debit != nil || rec.Reversal != nil {
		s.Remitter = b.self.Name
	}
	if rec.Credit != nil {
		s.Beneficiary = b.self.Name
	}
	return s
}
