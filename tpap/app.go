package tpap

import (
	"context"
	"crypto/sha256"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// MaxWait caps GetPayment's long poll.
const MaxWait = 60 * time.Second

// DefaultCollectExpiry is a collect's expiry when the request leaves it
// out, in minutes.
const DefaultCollectExpiry = 30

// MaxCollectExpiry is the longest collect expiry the app accepts, in
// minutes (45 days, NPCI's maximum).
const MaxCollectExpiry = 45 * 24 * 60

// CreatePayment pays payee_vpa from payer_vpa through the payer's PSP and
// answers at once with the transaction id, PENDING. The outcome arrives as a
// TXN_STATUS notification; GetPayment (with wait_ms to long-poll) reads it.
func (x *TPAP) CreatePayment(ctx context.Context, r *upiv1.CreatePaymentRequest) (*upiv1.CreatePaymentResponse, error) {
	if err := validatePay(r.GetPayerVpa(), r.GetPayeeVpa(), r.GetAmountPaise(), r.GetNote()); err != nil {
		return nil, err
	}
	if err := ids.ValidatePIN(r.GetPin()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "pin: %v", err)
	}
	if err := node.CheckText("ref_id", "upi.v1.Txn.ref_id", r.GetRefId()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	fields := []string{upiv1.Txn_PAY.String(), ids.NormalizeVPA(r.GetPayerVpa()), ids.NormalizeVPA(r.GetPayeeVpa()),
		strconv.FormatInt(r.GetAmountPaise(), 10), r.GetNote()}
	if r.GetRefId() != "" {
		// Only when given, so the keys stored before ref_id still match.
		fields = append(fields, "ref_id", r.GetRefId())
	}
	hash := requestHash(fields...)
	// What startTxn would refuse, refused before the key look-up waits.
	if _, err := idempotencyKey(ctx, r.GetIdempotencyKey()); err != nil {
		return nil, err
	}
	if _, err := x.pspFor(r.GetPayerVpa()); err != nil {
		return nil, err
	}
	seal, err := x.newSealer(ctx, r.GetPayerVpa(), r.GetPin())
	if err != nil {
		return nil, err
	}
	rec, err := startTxn(ctx, x, r.GetIdempotencyKey(), r.GetPayerVpa(), hash, &txnRecord{
		Type: upiv1.Txn_PAY.String(), Payer: r.GetPayerVpa(), Payee: r.GetPayeeVpa(),
		AmountPaise: r.GetAmountPaise(), Note: r.GetNote(),
	}, func(ctx context.Context, cl upiv1.PspAppServiceClient, txnID string) (*upiv1.InitiatePayResponse, error) {
		cred, err := seal.cred(txnID)
		if err != nil {
			return nil, err
		}
		return cl.InitiatePay(ctx, &upiv1.InitiatePayRequest{
			PayerVpa: r.GetPayerVpa(), PayeeVpa: r.GetPayeeVpa(),
			AmountPaise: r.GetAmountPaise(), Note: r.GetNote(), Cred: cred, TxnId: txnID, RefId: r.GetRefId(),
		})
	})
	if err != nil {
		if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded && c != codes.Canceled {
			seal.forget() // the PSP answered: a repeat will not be the same call
		}
		return nil, err
	}
	x.forgetBlock(rec.TxnId)
	return &upiv1.CreatePaymentResponse{TxnId: rec.TxnId, Status: recStatus(rec)}, nil
}

// startTxn is what CreatePayment and CreateCollect share. It takes the
// idempotency key (header or field), a slot of the node's in-flight bound
// (before the PSP's call and the app's own record, so a busy app refuses
// before anything is done, never between the two), and the transaction id:
// the one key already made, whose record is returned as it is, or a new
// one of the PSP that owns the user's handle (vpa). It then calls that PSP
// with the id (retrying a call that got no answer with the same id) and
// records the transaction as the PSP started it.
func startTxn[R interface{ GetTransaction() *upiv1.Transaction }](ctx context.Context, x *TPAP, field, vpa string,
	hash [sha256.Size]byte, asked *txnRecord, call func(context.Context, upiv1.PspAppServiceClient, string) (R, error)) (*txnRecord, error) {
	key, err := idempotencyKey(ctx, field)
	if err != nil {
		return nil, err
	}
	if err := x.n.Acquire(); err != nil {
		return nil, err
	}
	defer x.n.Release()
	psp, err := x.pspFor(vpa)
	if err != nil {
		return nil, err
	}
	cl, err := x.pspClient(psp.Name)
	if err != nil {
		return nil, err
	}
	txnID, done, err := x.claim(key, hash, psp.Prefix)
	if err != nil || done != nil {
		return done, err
	}
	resp, err := callPSP(ctx, psp.Name, func(ctx context.Context) (R, error) { return call(ctx, cl, txnID) })
	if err != nil {
		return nil, err
	}
	return x.recordStarted(psp.Name, txnID, resp.GetTransaction(), asked)
}

// GetPayment answers from the app's own record, which the PSPs' TXN_STATUS
// notifications keep current (they are delivered durably, so the app does
// not ask the PSP). With wait_ms > 0 it waits, up to wait_ms (at most
// MaxWait), while the transaction is not final: PENDING, or DEEMED until
// the switch's status checks decide it.
func (x *TPAP) GetPayment(ctx context.Context, r *upiv1.GetPaymentRequest) (*upiv1.GetPaymentResponse, error) {
	id := r.GetTxnId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "txn_id is required")
	}
	if r.GetWaitMs() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "wait_ms must not be negative, got %d", r.GetWaitMs())
	}
	wait := min(time.Duration(r.GetWaitMs())*time.Millisecond, MaxWait)
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	for {
		// Watch before reading, so a notification in between is not lost.
		woken, cancel := x.n.Watch(id)
		rec, err := x.loadTxn(id)
		if err != nil || wait <= 0 || recFinal(rec) {
			cancel()
			if err != nil {
				return nil, err
			}
			return paymentResponse(rec), nil
		}
		select {
		case <-woken:
			cancel()
		case <-timeout:
			cancel()
			wait = 0 // read once more and answer
		case <-ctx.Done():
			cancel()
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
}

func paymentResponse(rec *txnRecord) *upiv1.GetPaymentResponse {
	return &upiv1.GetPaymentResponse{
		TxnId: rec.TxnId, Status: recStatus(rec), Rrn: rec.Rrn, ErrCode: rec.ErrCode,
		Transaction: recProto(rec),
	}
}

// CreateCollect asks payer_vpa to pay payee_vpa, through the payee's PSP.
func (x *TPAP) CreateCollect(ctx context.Context, r *upiv1.CreateCollectRequest) (*upiv1.CreateCollectResponse, error) {
	if err := validatePay(r.GetPayerVpa(), r.GetPayeeVpa(), r.GetAmountPaise(), r.GetNote()); err != nil {
		return nil, err
	}
	mins := r.GetExpireAfterMinutes()
	switch {
	case mins < 0 || mins > MaxCollectExpiry:
		return nil, status.Errorf(codes.InvalidArgument, "expire_after_minutes must be 0 (default %d) to %d, got %d", DefaultCollectExpiry, MaxCollectExpiry, mins)
	case mins == 0:
		mins = DefaultCollectExpiry
	}
	hash := requestHash(upiv1.Txn_COLLECT.String(), ids.NormalizeVPA(r.GetPayerVpa()), ids.NormalizeVPA(r.GetPayeeVpa()),
		strconv.FormatInt(r.GetAmountPaise(), 10), r.GetNote(), strconv.Itoa(int(mins)))
	rec, err := startTxn(ctx, x, r.GetIdempotencyKey(), r.GetPayeeVpa(), hash, &txnRecord{
		Type: upiv1.Txn_COLLECT.String(), Payer: r.GetPayerVpa(), Payee: r.GetPayeeVpa(),
		AmountPaise: r.GetAmountPaise(), Note: r.GetNote(),
	}, func(ctx context.Context, cl upiv1.PspAppServiceClient, txnID string) (*upiv1.InitiateCollectResponse, error) {
		return cl.InitiateCollect(ctx, &upiv1.InitiateCollectRequest{
			PayeeVpa: r.GetPayeeVpa(), PayerVpa: r.GetPayerVpa(),
			AmountPaise: r.GetAmountPaise(), Note: r.GetNote(), ExpireAfterMinutes: mins, TxnId: txnID,
		})
	})
	if err != nil {
		return nil, err
	}
	return &upiv1.CreateCollectResponse{TxnId: rec.TxnId, Status: recStatus(rec)}, nil
}

// ApproveCollect approves, with the payer's PIN, a collect request waiting
// for its payer.
func (x *TPAP) ApproveCollect(ctx context.Context, r *upiv1.ApproveCollectRequest) (*upiv1.ApproveCollectResponse, error) {
	if err := ids.ValidatePIN(r.GetPin()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "pin: %v", err)
	}
	rec, err := x.respondCollect(ctx, r.GetTxnId(), true, r.GetPin())
	x.forgetBlock(r.GetTxnId())
	if err != nil {
		return nil, err
	}
	return &upiv1.ApproveCollectResponse{TxnId: rec.TxnId, Status: recStatus(rec)}, nil
}

// DeclineCollect declines a collect request waiting for its payer; the
// payer's PSP ends it with ZA.
func (x *TPAP) DeclineCollect(ctx context.Context, r *upiv1.DeclineCollectRequest) (*upiv1.DeclineCollectResponse, error) {
	rec, err := x.respondCollect(ctx, r.GetTxnId(), false, "")
	if err != nil {
		return nil, err
	}
	return &upiv1.DeclineCollectResponse{TxnId: rec.TxnId, Status: recStatus(rec)}, nil
}

// respondCollect sends the payer's answer to the payer's PSP and takes the
// request off the payer's list.
func (x *TPAP) respondCollect(ctx context.Context, id string, approve bool, pinValue string) (*txnRecord, error) {
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "txn_id is required")
	}
	// A slot from before the PSP's call to the app's own record, so a
	// busy app refuses before anything is done, never between the two.
	if err := x.n.Acquire(); err != nil {
		return nil, err
	}
	defer x.n.Release()
	rec, err := x.loadTxn(id)
	if err != nil {
		return nil, err
	}
	if recType(rec) != upiv1.Txn_COLLECT {
		return nil, status.Errorf(codes.FailedPrecondition, "transaction %s is a %s, not a collect request", id, rec.Type)
	}
	if recStatus(rec) != upiv1.Resp_PENDING {
		return nil, status.Errorf(codes.FailedPrecondition, "collect %s is already %s", id, rec.Status)
	}
	var waiting bool
	if err := x.n.View(func(tx *store.Tx) error {
		waiting = tx.Has(store.Pending, pendingKey(rec.Payer, id))
		return nil
	}); err != nil {
		return nil, status.Errorf(codes.Internal, "read pending: %v", err)
	}
	if !waiting {
		return nil, status.Errorf(codes.FailedPrecondition, "collect %s is not waiting for %s: already answered, or not yet received from the payer's PSP", id, rec.Payer)
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
	resp, err := cl.RespondCollect(ctx, &upiv1.RespondCollectRequest{TxnId: id, Approve: approve, Cred: cred})
	if status.Code(err) == codes.FailedPrecondition {
		// The PSP no longer waits for an answer (the collect expired or
		// was answered elsewhere): take it off the payer's list.
		if derr := x.n.Update(func(c *node.Ctx) error {
			return c.Tx.Delete(store.Pending, pendingKey(rec.Payer, id))
		}); derr != nil {
			x.log.Error("drop answered collect", "txn_id", id, "err", derr)
		}
	}
	if err != nil {
		return nil, pspErr(psp.Name, err)
	}
	err = x.n.Update(func(c *node.Ctx) error {
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
		return nil, status.Errorf(codes.Internal, "store collect answer: %v", err)
	}
	return rec, nil
}

// ListCollects lists the collect requests waiting for vpa to answer, oldest
// first. Expired ones are left out (ApproveCollect still forwards an answer
// to one; the payer's PSP decides).
func (x *TPAP) ListCollects(_ context.Context, r *upiv1.ListCollectsRequest) (*upiv1.ListCollectsResponse, error) {
	now := x.n.Now()
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
			if found && recType(rec) == upiv1.Txn_COLLECT && recStatus(rec) == upiv1.Resp_PENDING && (rec.Expires == nil || store.FromNanos(*rec.Expires).After(now)) {
				recs = append(recs, rec)
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read collects: %v", err)
	}
	// Pending is keyed by txn id; show them in the order they came.
	sortByCreated(recs)
	out := &upiv1.ListCollectsResponse{}
	for i := range recs {
		out.Collects = append(out.Collects, recProto(recs[i]))
	}
	return out, nil
}

// ValidateAddress resolves vpa (ReqValAdd) through the requester's PSP.
// When requester_vpa is empty the app asks on behalf of the first user of
// the network's first PSP that has users (a ReqValAdd always names the
// customer asking, and PSPs accept requests only for their own users).
func (x *TPAP) ValidateAddress(ctx context.Context, r *upiv1.ValidateAddressRequest) (*upiv1.ValidateAddressResponse, error) {
	if err := ids.ValidateVPA(r.GetVpa()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "vpa: %v", err)
	}
	requester := r.GetRequesterVpa()
	var psp *config.Node
	if requester != "" {
		if err := ids.ValidateVPA(requester); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "requester_vpa: %v", err)
		}
		var err error
		if psp, err = x.pspFor(requester); err != nil {
			return nil, err
		}
	} else {
		var err error
		if psp, requester, err = x.anyRequester(); err != nil {
			return nil, err
		}
	}
	cl, err := x.pspClient(psp.Name)
	if err != nil {
		return nil, err
	}
	resp, err := cl.ResolveAddress(ctx, &upiv1.ResolveAddressRequest{Vpa: r.GetVpa(), RequesterVpa: requester})
	if err != nil {
		return nil, pspErr(psp.Name, err)
	}
	return &upiv1.ValidateAddressResponse{Details: resp.GetDetails()}, nil
}

// ListNotifications lists what the PSPs told the app for vpa, oldest first.
func (x *TPAP) ListNotifications(_ context.Context, r *upiv1.ListNotificationsRequest) (*upiv1.ListNotificationsResponse, error) {
	if err := ids.ValidateVPA(r.GetVpa()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "vpa: %v", err)
	}
	out := &upiv1.ListNotificationsResponse{}
	err := x.n.View(func(tx *store.Tx) error {
		return notifs.Scan(tx, string(userPrefix(r.GetVpa())), func(_ string, nr *notifRecord) (bool, error) {
			out.Notifications = append(out.Notifications, notifProto(nr))
			return true, nil
		})
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read notifications: %v", err)
	}
	return out, nil
}

// anyRequester picks the PSP and requester for a look-up that names none:
// the first PSP of the network file with a user, and that user.
func (x *TPAP) anyRequester() (*config.Node, string, error) {
	psps := x.cfg.Network.NodesByRole(config.RolePSP)
	for _, p := range psps {
		if us := x.cfg.Network.UsersOfPSP(p.Name); len(us) > 0 {
			return p, us[0].VPA, nil
		}
	}
	if len(psps) == 0 {
		return nil, "", status.Error(codes.FailedPrecondition, "the network has no PSP to resolve addresses")
	}
	return nil, "", status.Error(codes.InvalidArgument, "requester_vpa is required: the network file has no users to ask on behalf of")
}

// validatePay checks the parties and amount of a payment or collect
// (upi.CheckTransfer) and its note against the limit the switch holds the
// ReqPay to (node.CheckText), so that the app refuses at once what the
// network would refuse later.
func validatePay(payer, payee string, amount int64, note string) error {
	return validateTransfer(upi.AppFields, payer, payee, amount, note)
}

// validateTransfer is validatePay with the request's own field names.
func validateTransfer(f upi.Fields, payer, payee string, amount int64, note string) error {
	if _, _, err := upi.CheckTransfer(f, payer, payee, amount); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if err := node.CheckText("note", "upi.v1.Txn.note", note); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return nil
}

// pspFor returns the PSP that owns vpa's handle, or NotFound.
func (x *TPAP) pspFor(vpa string) (*config.Node, error) {
	psp, ok := x.cfg.Network.PSPForVPA(vpa)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no PSP owns handle @%s", ids.HandleOf(vpa))
	}
	return psp, nil
}

// loadTxn reads the app's record of a transaction, or NotFound.
func (x *TPAP) loadTxn(id string) (*txnRecord, error) {
	var rec *txnRecord
	var found bool
	err := x.n.View(func(tx *store.Tx) (err error) {
		rec, found, err = txns.Get(tx, id)
		return err
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read txn %s: %v", id, err)
	}
	if !found {
		return nil, status.Errorf(codes.NotFound, "no transaction %s", id)
	}
	return rec, nil
}

// recordStarted stores a transaction a PSP just accepted, under the id
// the app gave it. A notification
// about it may have arrived first (the network can be faster than the PSP's
// answer); then the stored record keeps its status and only gains what it
// lacks.
func (x *TPAP) recordStarted(psp, txnID string, t *upiv1.Transaction, asked *txnRecord) (*txnRecord, error) {
	if t.GetTxnId() != txnID {
		return nil, status.Errorf(codes.Internal, "PSP %s answered with transaction id %q, not the %s it was given", psp, t.GetTxnId(), txnID)
	}
	asked.Psp = psp
	var rec *txnRecord
	err := x.n.Update(func(c *node.Ctx) error {
		now := store.Nanos(c.Now())
		asked.Created, asked.Updated = now, now
		stored, found, err := txns.Get(c.Tx, t.GetTxnId())
		if err != nil {
			return err
		}
		fresh := recordFromProto(t, asked)
		fresh.Updated = now
		if !found {
			rec = fresh
		} else {
			rec = stored
			recAdvance(rec, recStatus(fresh), fresh.Rrn, fresh.ErrCode)
			recFill(rec, fresh)
			rec.Psp = psp
			rec.Updated = now
		}
		if err := txns.Put(c.Tx, rec.TxnId, rec); err != nil {
			return err
		}
		c.Notify(rec.TxnId)
		return nil
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "store txn %s: %v", t.GetTxnId(), err)
	}
	return rec, nil
}

func notifProto(nr *notifRecord) *upiv1.AppNotification {
	return &upiv1.AppNotification{Kind: nr.Kind, Ts: timestampOf(store.FromNanos(nr.Ts)), Transaction: recProto(nr.GetTxn())}
}
