package upiswitch

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

var _ node.LiteLister = (*Switch)(nil)

// ListLite implements node.LiteLister: the auth engine's account of each
// LRN (of lrn, "" for all), in LRN order, and with withRecords every
// counter the switch knows of it.
func (s *Switch) ListLite(lrn string, withRecords bool) ([]*upiv1.LiteAccount, error) {
	if s.n == nil {
		return nil, status.Error(codes.Unavailable, "switch is not attached to a node")
	}
	var out []*upiv1.LiteAccount
	err := s.n.View(func(tx *store.Tx) error {
		return liteAccounts.Scan(tx, lrn, func(k string, a *liteAccount) (bool, error) {
			if !isLRNKey(k) || lrn != "" && k != lrn {
				return true, nil
			}
			la := liteAccountOf(a, s.self.Name)
			if withRecords {
				err := liteRecords.Scan(tx, a.Lrn+"/", func(_ string, r *liteRecord) (bool, error) {
					la.Records = append(la.Records, liteResultOf(r))
					return true, nil
				})
				if err != nil {
					return false, err
				}
			}
			out = append(out, la)
			return true, nil
		})
	})
	return out, err
}

// liteAccountOf is a as AdminService/ListLiteAccounts shows it.
func liteAccountOf(a *liteAccount, nodeName string) *upiv1.LiteAccount {
	return &upiv1.LiteAccount{
		Lrn: a.Lrn, Node: nodeName, Vpa: a.Vpa, DeviceId: a.DeviceId, Bank: a.Bank, State: a.State,
		BalancePaise: a.BalancePaise, TopupsPaise: a.TopupsPaise, OnlinePaise: a.OnlinePaise,
		OfflinePaise: a.OfflinePaise, TransfersPaise: a.TransfersPaise, UnconfirmedPaise: a.UnconfirmedPaise,
		DeviceReportedPaise: a.DeviceReportedPaise, Counter: a.Counter,
	}
}

// liteResultOf is one counter of an LRN as a LiteRecordResult: its
// status and code, UTR, the offline record's fields when it is one, and
// the transaction or batch that owns it.
func liteResultOf(r *liteRecord) *upiv1.LiteRecordResult {
	out := &upiv1.LiteRecordResult{
		Counter: r.Counter, Lrn: r.Lrn, ErrCode: r.ErrCode, Utr: r.Utr, BatchTxnId: r.TxnId, Reason: r.Reason,
		Result: upiv1.Resp_Result(upiv1.Resp_Result_value[r.Status]),
		Kind:   r.Kind, DoubleSpends: r.DoubleSpends,
	}
	if rec := r.GetRecord(); rec != nil {
		out.ProvisionalUtr, out.PayerAddr, out.PayeeAddr = rec.GetProvisionalUtr(), rec.GetPayerAddr(), rec.GetPayeeAddr()
		out.AmountPaise, out.OrderId, out.PayeeDeviceId = rec.GetAmountPaise(), rec.GetOrderId(), rec.GetPayeeDeviceId()
	}
	return out
}
