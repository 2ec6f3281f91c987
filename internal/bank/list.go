package bank

import (
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/remitter"
)

var _ node.TxnLister = (*Bank)(nil)

// ListTxns implements node.TxnLister: the bank's transaction records in txn
// id order, each as InspectTxn shows it, with this bank as remitter when it
// has a debit or reversal leg and as beneficiary when it has a credit leg.
func (b *Bank) ListTxns(after string, limit int) ([]*upiv1.TxnSummary, string, error) {
	if b.n == nil {
		return nil, "", status.Errorf(codes.Unavailable, "bank %s is not running", b.self.Name)
	}
	out, next, err := node.ListTable(b.n, ledger.Txns, after, limit, b.summary)
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

var _ node.PostingLister = (*Bank)(nil)

// ListPostings implements node.PostingLister: the ledger's postings in ref
// order.
func (b *Bank) ListPostings(after string, limit int) ([]*upiv1.Posting, string, error) {
	out := []*upiv1.Posting{}
	next, last := "", ""
	err := b.view(func(tx *store.Tx) error {
		return tx.ScanAfter(store.Postings, []byte(after), func(k, v []byte) (bool, error) {
			if len(out) == limit {
				next = last
				return false, nil
			}
			p := &ledger.PostingRecord{}
			if err := store.DecodeProto(v, p); err != nil {
				return false, fmt.Errorf("decode posting %s: %w", k, err)
			}
			last = string(k)
			out = append(out, &upiv1.Posting{
				Ref: string(k), FromAcNum: p.From, ToAcNum: p.To, AmountPaise: p.AmountPaise, Ts: timestamppb.New(store.FromNanos(p.Ts)),
			})
			return true, nil
		})
	})
	if err != nil {
		return nil, "", internal("list postings", err)
	}
	return out, next, nil
}

var _ node.CircleLister = (*Bank)(nil)

// ListCircle implements node.CircleLister: the mandates this bank signed
// as a remitter.
func (b *Bank) ListCircle(after string, limit int) ([]*upiv1.CircleRecord, string, error) {
	if b.n == nil {
		return nil, "", status.Errorf(codes.Unavailable, "bank %s is not running", b.self.Name)
	}
	out, next, err := node.ListCircle(b.n, []node.CircleSource{remitter.CircleSource()}, after, limit)
	if err != nil {
		return nil, "", internal("list mandates", err)
	}
	return out, next, nil
}

var _ node.LiteLister = (*Bank)(nil)

// ListLite implements node.LiteLister: the bank's LRNs (lrn's, or every
// one), with the offline records it decided for each when withRecords.
func (b *Bank) ListLite(lrn string, withRecords bool) ([]*upiv1.LiteAccount, error) {
	var out []*upiv1.LiteAccount
	err := b.view(func(tx *store.Tx) (err error) {
		out, err = remitter.ListLite(tx, b.self.Name, lrn, withRecords)
		return err
	})
	if err != nil {
		return nil, internal("list lite accounts", err)
	}
	return out, nil
}
