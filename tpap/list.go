package tpap

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
)

var _ node.TxnLister = (*TPAP)(nil)

// ListTxns implements node.TxnLister: the app's records in txn id order,
// each with its status as its state (what the app shows its users), so an
// audit can hold them against the switch.
func (x *TPAP) ListTxns(after string, limit int) ([]*upiv1.TxnSummary, string, error) {
	if x.n == nil {
		return nil, "", status.Error(codes.Unavailable, "the TPAP is not running")
	}
	return node.ListTable(x.n, txns, after, limit, func(r *txnRecord) *upiv1.TxnSummary {
		s := node.SummaryOf(recProto(r), r.Status)
		s.SecondaryVpa = r.Secondary
		return s
	})
}
