// Delegated payments under partial delegation at the app (docs/FLOWS.md,
// "Payment, partial delegation" steps 6–7): the primary lists the
// payments waiting for them, approves one with their PIN (sealed here for
// the txn id to the primary's bank) or declines it.

package tpap

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// ListCircleApprovals lists the delegated payments waiting for the
// primary vpa, oldest first.
func (x *TPAP) ListCircleApprovals(_ context.Context, r *upiv1.ListCircleApprovalsRequest) (*upiv1.ListCircleApprovalsResponse, error) {
	if err := ids.ValidateVPA(r.GetVpa()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "vpa: %v", err)
	}
	var recs []*txnRecord
	err := x.n.View(func(tx *store.Tx) error {
		prefix := userPrefix(r.GetVpa())
		return tx.Scan(store.Pending, prefix, func(k, _ []byte) (bool, error) {
			rec, found, err := txns.Get(tx, string(k[len(prefix):]))
			if err != nil {
				return false, err
			}
			if found && recType(rec) == upiv1.Txn_PAY && recStatus(rec) == upiv1.Resp_PENDING {
				recs = append(recs, rec)
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read approvals: %v", err)
	}
	sortByCreated(recs)
	out := &upiv1.ListCircleApprovalsResponse{}
	for i := range recs {
		out.Approvals = append(out.Approvals, recProto(recs[i]))
	}
	return out, nil
}

// ApproveCirclePayment approves a delegated payment waiting for its
// primary with the primary's PIN. A PIN that is no PIN is refused before
// anything is sent: PSP(P) takes one answer only.
func (x *TPAP) ApproveCirclePayment(ctx context.Context, r *upiv1.ApproveCirclePaymentRequest) (*upiv1.ApproveCirclePaymentResponse, error) {
	if err := ids.ValidatePIN(r.GetPin()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "pin: %v", err)
	}
	rec, err := x.respondCircle(ctx, r.GetTxnId(), true, r.GetPin())
	x.forgetBlock(r.GetTxnId())
	if err != nil {
		return nil, err
	}
	return &upiv1.ApproveCirclePaymentResponse{TxnId: rec.TxnId, Status: recStatus(rec)}, nil
}

// DeclineCirclePayment declines a delegated payment; the primary's PSP
// ends it ZA.
func (x *TPAP) DeclineCirclePayment(ctx context.Context, r *upiv1.DeclineCirclePaymentRequest) (*upiv1.DeclineCirclePaymentResponse, error) {
	rec, err := x.respondCircle(ctx, r.GetTxnId(), false, "")
	if err != nil {
		return nil, err
	}
	return &upiv1.DeclineCirclePaymentResponse{TxnId: rec.TxnId, Status: recStatus(rec)}, nil
}

// respondCircle sends the primary's answer to the primary's PSP and takes
// the payment off the primary's list.
func (x *TPAP) respondCircle(ctx context.Context, id string, approve bool, pinValue string) (*txnRecord, error) {
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "txn_id is required")
	}
	if err := x.n.Acquire(); err != nil {
		return nil, err
	}
	defer x.n.Release()
	rec, err := x.loadTxn(id)
	if err != nil {
		return nil, err
	}
	var waiting bool
	if err := x.n.View(func(tx *store.Tx) error {
		waiting = rec.Payer != "" && tx.Has(store.Pending, pendingKey(rec.Payer, id))
		return nil
	}); err != nil {
		return nil, status.Errorf(codes.Internal, "read pending: %v", err)
	}
	if recType(rec) != upiv1.Txn_PAY || !waiting || recStatus(rec) != upiv1.Resp_PENDING {
		return nil, status.Errorf(codes.FailedPrecondition, "transaction %s is no delegated payment waiting for its primary", id)
	}
	psp, err := x.pspFor(rec.Payer)
	if err != nil {
		return nil, err
	}
	cl, err := x.pspClient(psp.Name)
	if err != nil {
		return nil, err
	}
	var cred *upiv1.Cred
	if approve {
		seal, err := x.newSealer(ctx, rec.Payer, pinValue)
		if err != nil {
			return nil, err
		}
		if cred, err = seal.cred(id); err != nil {
			return nil, err
		}
	}
	resp, err := cl.RespondDelegatedPay(ctx, &upiv1.RespondDelegatedPayRequest{TxnId: id, Approve: approve, Cred: cred})
	if err != nil && status.Code(err) != codes.FailedPrecondition {
		return nil, pspErr(psp.Name, err)
	}
	// Answered, or no longer waiting at the PSP: off the primary's list.
	uerr := x.n.Update(func(c *node.Ctx) error {
		stored, found, err := txns.Get(c.Tx, id)
		if err != nil {
			return err
		}
		if found {
			rec = stored
		}
		if t := resp.GetTransaction(); t != nil && recAdvance(rec, t.GetStatus(), t.GetRrn(), t.GetErrCode()) {
			rec.Updated = store.Nanos(c.Now())
			if err := txns.Put(c.Tx, id, rec); err != nil {
				return err
			}
			c.Notify(id)
		}
		return c.Tx.Delete(store.Pending, pendingKey(rec.Payer, id))
	})
	if err != nil {
		return nil, pspErr(psp.Name, err)
	}
	if uerr != nil {
		return nil, status.Errorf(codes.Internal, "store approval answer: %v", uerr)
	}
	return rec, nil
}
