package merchant

import (
	"context"
	"crypto/sha256"
	"strings"
	"time"
	"unicode"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	merchantv1 "github.com/upisim/upisim/gen/go/upisim/merchant/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/gateway"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
	"github.com/upisim/upisim/psp"
)

// maxOrderExpiry bounds expires_in_seconds.
const maxOrderExpiry = 30 * 24 * time.Hour

func invalid(format string, a ...any) error {
	return status.Errorf(codes.InvalidArgument, format, a...)
}

func conflict(format string, a ...any) error {
	return status.Errorf(codes.FailedPrecondition, format, a...)
}

func notFound(format string, a ...any) error { return status.Errorf(codes.NotFound, format, a...) }

// caller is the merchant the call's API key names.
func (l *Layer) caller(ctx context.Context) (*merchantCfg, error) {
	if toks := node.BearerTokens(ctx); len(toks) > 0 {
		return l.authMerchant(toks[0])
	}
	return l.authMerchant("")
}

// stepErr is what an API call answers for a step's error: its status, or
// Internal for a store failure (nothing was applied).
func stepErr(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Errorf(codes.Internal, "store: %v", err)
}

// step runs fn as one step for merchant m's call of method with request
// req, answering out. With an Idempotency-Key, a repeat of the same
// request answers the first answer and changes nothing; the key with
// another request is a conflict. A busy node refuses at once.
func (l *Layer) step(ctx context.Context, m *merchantCfg, method string, req proto.Message, out proto.Message, fn func(c *node.Ctx) (proto.Message, error)) error {
	key, err := gateway.IdempotencyKey(ctx, "")
	if err != nil {
		return err
	}
	if len(key) > 128 {
		return invalid("the Idempotency-Key is longer than 128 characters")
	}
	if l.n == nil {
		return status.Error(codes.Unavailable, "the merchant API is not running")
	}
	if err := l.n.Acquire(); err != nil {
		return err
	}
	defer l.n.Release()
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		return err
	}
	hash := sha256.Sum256(append([]byte(method+"\x00"), raw...))
	idemKey := ids.NormalizeVPA(m.VPA) + "\x00" + method + "\x00" + key
	err = l.n.Update(func(c *node.Ctx) error {
		if key != "" {
			prev, ok, err := idem.Get(c.Tx, idemKey)
			if err != nil {
				return err
			}
			if ok {
				if string(prev.RequestHash) != string(hash[:]) {
					return conflict("Idempotency-Key %q was used for a different request", key)
				}
				return proto.Unmarshal(prev.Answer, out)
			}
		}
		ans, err := fn(c)
		if err != nil {
			return err
		}
		b, err := proto.Marshal(ans)
		if err != nil {
			return err
		}
		if key != "" {
			if err := idem.Put(c.Tx, idemKey, &recordsv1.MerchantIdempotent{RequestHash: hash[:], Answer: b, Created: store.Nanos(c.Now())}); err != nil {
				return err
			}
		}
		return proto.Unmarshal(b, out)
	})
	if err != nil {
		return stepErr(err)
	}
	return nil
}

// checkText refuses control characters and overlong texts.
func checkText(field, s string, max int) error {
	if len(s) > max {
		return invalid("%s is longer than %d characters", field, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return invalid("%s contains the control character %U", field, r)
		}
	}
	return nil
}

// CreateOrder implements MerchantService.
func (l *Layer) CreateOrder(ctx context.Context, r *merchantv1.CreateOrderRequest) (*merchantv1.Order, error) {
	m, err := l.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := positive("amount_cents", r.GetAmountCents()); err != nil {
		return nil, err
	}
	if r.GetAmountCents() > l.cfg.Network.Limits.PerTxn {
		return nil, invalid("amount_cents %d is above the network's per-transaction limit (%d)", r.GetAmountCents(), l.cfg.Network.Limits.PerTxn)
	}
	if c := r.GetCurrency(); c != "" && c != "INR" {
		return nil, invalid("currency must be INR, not %q", c)
	}
	if err := checkText("receipt", r.GetReceipt(), 40); err != nil {
		return nil, err
	}
	if err := checkText("description", r.GetDescription(), 50); err != nil {
		return nil, err
	}
	exp := m.OrderExpiry
	switch s := r.GetExpiresInSeconds(); {
	case s < 0 || time.Duration(s)*time.Second > maxOrderExpiry:
		return nil, invalid("expires_in_seconds must be between 1 and %d, got %d", int64(maxOrderExpiry/time.Second), s)
	case s > 0:
		exp = time.Duration(s) * time.Second
	}
	out := &merchantv1.Order{}
	err = l.step(ctx, m, "CreateOrder", r, out, func(c *node.Ctx) (proto.Message, error) {
		now := c.Now()
		o := &order{
			OrderId: newID("ORD"), MerchantVpa: ids.NormalizeVPA(m.VPA), AmountPaise: r.GetAmountCents(),
			Receipt: r.GetReceipt(), Description: r.GetDescription(), Status: TxnPending, Reason: "waiting for the payer",
			Created: store.Nanos(now), Updated: store.Nanos(now), Expires: store.Nanos(now.Add(exp)),
			AutoRefund: m.AutoRefund, AutoRetry: m.AutoRetry,
		}
		if r.AutoRefund != nil {
			o.AutoRefund = r.GetAutoRefund()
		}
		if r.AutoRetry != nil {
			o.AutoRetry = r.GetAutoRetry()
		}
		if err := orders.Put(c.Tx, o.OrderId, o); err != nil {
			return nil, err
		}
		if err := c.SetTimer(timerExpire+":"+o.OrderId, now.Add(exp), nil); err != nil {
			return nil, err
		}
		return l.orderProto(o), nil
	})
	return out, err
}

// myOrder is order id of merchant m in tx, NotFound otherwise (another
// merchant's order is not found either).
func myOrder(tx *store.Tx, m *merchantCfg, id string) (*order, error) {
	if id == "" {
		return nil, invalid("order_id is required")
	}
	o, err := load(tx, id)
	if err != nil {
		return nil, err
	}
	if o == nil || o.MerchantVpa != ids.NormalizeVPA(m.VPA) {
		return nil, notFound("no order %s", id)
	}
	return o, nil
}

// GetOrder implements MerchantService.
func (l *Layer) GetOrder(ctx context.Context, r *merchantv1.GetOrderRequest) (*merchantv1.Order, error) {
	var out *merchantv1.Order
	err := l.read(ctx, func(tx *store.Tx, m *merchantCfg) error {
		o, err := myOrder(tx, m, r.GetOrderId())
		if err != nil {
			return err
		}
		out = l.orderProto(o)
		return nil
	})
	return out, err
}

// read runs fn on a read-only view of the store for the merchant whose
// API key the call carries.
func (l *Layer) read(ctx context.Context, fn func(tx *store.Tx, m *merchantCfg) error) error {
	m, err := l.caller(ctx)
	if err != nil {
		return err
	}
	if l.n == nil {
		return status.Error(codes.Unavailable, "the merchant API is not running")
	}
	return stepErrOrNil(l.n.View(func(tx *store.Tx) error { return fn(tx, m) }))
}

func stepErrOrNil(err error) error {
	if err == nil {
		return nil
	}
	return stepErr(err)
}

// CollectOrder implements MerchantService: a collect request to the payer
// for the order's amount, expiring with the order.
func (l *Layer) CollectOrder(ctx context.Context, r *merchantv1.CollectOrderRequest) (*merchantv1.Attempt, error) {
	m, err := l.caller(ctx)
	if err != nil {
		return nil, err
	}
	payer := ids.NormalizeVPA(r.GetPayerVpa())
	if err := ids.ValidateVPA(payer); err != nil {
		return nil, invalid("payer_vpa: %v", err)
	}
	if payer == ids.NormalizeVPA(m.VPA) {
		return nil, invalid("payer_vpa is the merchant itself")
	}
	out := &merchantv1.Attempt{}
	err = l.step(ctx, m, "CollectOrder", r, out, func(c *node.Ctx) (proto.Message, error) {
		o, err := myOrder(c.Tx, m, r.GetOrderId())
		if err != nil {
			return nil, err
		}
		left := until(c.Now(), o.Expires)
		if left <= 0 || o.Status == TxnExpired {
			return nil, conflict("order %s has expired: it takes no collect", o.OrderId)
		}
		if o.Status == TxnSuccess {
			return nil, conflict("order %s is paid already", o.OrderId)
		}
		var a *attempt
		err = l.apply(c, o, func(md *model) error {
			a = &attempt{AttemptId: newID("ATT"), Method: MethodCollect, PayerVpa: payer, AmountPaise: o.AmountPaise}
			if err := md.start(a); err != nil {
				return conflict("%v", err)
			}
			mins := int32((left + time.Minute - 1) / time.Minute)
			txnID, err := l.psp.StartCollect(c, psp.CollectRequest{
				PayeeVPA: o.MerchantVpa, PayerVPA: payer, AmountPaise: o.AmountPaise,
				Note: collectNote(o), RefID: o.OrderId, ExpireAfterMinutes: min(mins, 30*24*60),
			})
			if err != nil {
				return err
			}
			a.TxnId = txnID
			if err := index(c.Tx, "t/"+txnID, o.OrderId); err != nil {
				return err
			}
			return index(c.Tx, "a/"+a.AttemptId, o.OrderId)
		})
		if err != nil {
			return nil, err
		}
		return attemptProto(o, a), nil
	})
	return out, err
}

func collectNote(o *order) string {
	if o.Description != "" {
		return o.Description
	}
	return "order " + o.OrderId
}

// CreateUpiAttempt implements MerchantService (seed 000's /upi-attempts):
// an attempt the merchant's device saw (an offline payment), PENDING and
// UNVERIFIED until a provider callback is verified through the switch or
// its Lite record is posted (OnLiteCredit). A Lite attempt whose utr (the
// provisional UTR) an attempt of the order has already is that attempt.
func (l *Layer) CreateUpiAttempt(ctx context.Context, r *merchantv1.CreateUpiAttemptRequest) (*merchantv1.CreateUpiAttemptResponse, error) {
	m, err := l.caller(ctx)
	if err != nil {
		return nil, err
	}
	switch r.GetMethod() {
	case MethodUPI, MethodLite, MethodLiteX:
	default:
		return nil, invalid("method must be upi, upi_lite or upi_lite_x, not %q", r.GetMethod())
	}
	if err := positive("declared_amount_cents", r.GetDeclaredAmountCents()); err != nil {
		return nil, err
	}
	payer := ids.NormalizeVPA(r.GetPayerVpa())
	if err := ids.ValidateVPA(payer); err != nil {
		return nil, invalid("payer_vpa: %v", err)
	}
	if err := checkText("device_id", r.GetDeviceId(), 64); err != nil {
		return nil, err
	}
	if r.GetUtr() == "" {
		return nil, invalid("utr is required")
	}
	if err := checkText("utr", r.GetUtr(), 64); err != nil {
		return nil, err
	}
	out := &merchantv1.CreateUpiAttemptResponse{}
	err = l.step(ctx, m, "CreateUpiAttempt", r, out, func(c *node.Ctx) (proto.Message, error) {
		o, err := myOrder(c.Tx, m, r.GetOrderId())
		if err != nil {
			return nil, err
		}
		if isLite(r.GetMethod()) {
			// An offline payment is one attempt: its record's
			// confirmation may have made it first (OnLiteCredit), or the
			// device reports it again.
			if a := liteAttemptOf(&model{o: o}, r.GetUtr()); a != nil {
				return &merchantv1.CreateUpiAttemptResponse{UpiAttemptId: a.AttemptId, TransactionAttemptStatus: a.Status, Attempt: attemptProto(o, a)}, nil
			}
		}
		a := &attempt{
			AttemptId: newID("ATT"), Method: r.GetMethod(), PayerVpa: payer, DeviceId: r.GetDeviceId(),
			Utr: r.GetUtr(), DeclaredPaise: r.GetDeclaredAmountCents(), AmountPaise: r.GetDeclaredAmountCents(),
			Verification: "UNVERIFIED",
		}
		if err := l.apply(c, o, func(md *model) error {
			if err := md.start(a); err != nil {
				return conflict("%v", err)
			}
			return nil
		}); err != nil {
			return nil, err
		}
		if err := index(c.Tx, "a/"+a.AttemptId, o.OrderId); err != nil {
			return nil, err
		}
		return &merchantv1.CreateUpiAttemptResponse{UpiAttemptId: a.AttemptId, TransactionAttemptStatus: a.Status, Attempt: attemptProto(o, a)}, nil
	})
	return out, err
}

// ProviderCallback implements MerchantService (seed 000's
// /provider-callback): the attempt is VERIFYING while a status check of
// provider_txn_id goes through the switch; only a SUCCESS payment to
// this merchant of exactly amount_cents marks it paid (onStatus).
func (l *Layer) ProviderCallback(ctx context.Context, r *merchantv1.ProviderCallbackRequest) (*merchantv1.ProviderCallbackResponse, error) {
	m, err := l.caller(ctx)
	if err != nil {
		return nil, err
	}
	ref := strings.TrimSpace(r.GetProviderTxnId())
	if !ids.ValidRRN(ref) && !ids.ValidID(ref) {
		return nil, invalid("provider_txn_id must be a 12-digit UTR or a 35-character UPI transaction id, got %q", ref)
	}
	if err := positive("amount_cents", r.GetAmountCents()); err != nil {
		return nil, err
	}
	out := &merchantv1.ProviderCallbackResponse{}
	err = l.step(ctx, m, "ProviderCallback", r, out, func(c *node.Ctx) (proto.Message, error) {
		o, err := indexed(c.Tx, "a/"+r.GetUpiAttemptId())
		if err != nil {
			return nil, err
		}
		if o == nil || o.MerchantVpa != ids.NormalizeVPA(m.VPA) {
			return nil, notFound("no attempt %s", r.GetUpiAttemptId())
		}
		md := &model{o: o}
		a := md.find(r.GetUpiAttemptId())
		if a.Verification == "" {
			return nil, conflict("attempt %s is a %s attempt the network reported itself: there is nothing to verify", a.AttemptId, a.Method)
		}
		if a.Status != AttemptPending {
			return nil, conflict("attempt %s is %s already", a.AttemptId, a.Status)
		}
		chk, err := l.psp.CheckStatus(c, ref, a.AttemptId)
		if err != nil {
			return nil, err
		}
		a.Verification, a.CheckTxnId, a.ClaimedRef, a.ClaimedPaise, a.Updated = "VERIFYING", chk, ref, r.GetAmountCents(), store.Nanos(c.Now())
		if err := orders.Put(c.Tx, o.OrderId, o); err != nil {
			return nil, err
		}
		if err := index(c.Tx, "c/"+chk, o.OrderId); err != nil {
			return nil, err
		}
		return &merchantv1.ProviderCallbackResponse{UpiAttemptId: a.AttemptId, Verification: a.Verification, Attempt: attemptProto(o, a)}, nil
	})
	return out, err
}

// ActOnAttempt implements MerchantService.
func (l *Layer) ActOnAttempt(ctx context.Context, r *merchantv1.ActOnAttemptRequest) (*merchantv1.Attempt, error) {
	m, err := l.caller(ctx)
	if err != nil {
		return nil, err
	}
	action := strings.ToUpper(r.GetAction())
	if action != "CAPTURE" && action != "RELEASE" {
		return nil, invalid("action must be CAPTURE or RELEASE, not %q", r.GetAction())
	}
	out := &merchantv1.Attempt{}
	err = l.step(ctx, m, "ActOnAttempt", r, out, func(c *node.Ctx) (proto.Message, error) {
		o, err := indexed(c.Tx, "a/"+r.GetAttemptId())
		if err != nil {
			return nil, err
		}
		if o == nil || o.MerchantVpa != ids.NormalizeVPA(m.VPA) {
			return nil, notFound("no attempt %s", r.GetAttemptId())
		}
		var a *attempt
		if err := l.apply(c, o, func(md *model) error {
			a = md.find(r.GetAttemptId())
			if o.AutoRefund {
				return conflict("order %s has auto-refund: its edge cases are refunded, never on HOLD", o.OrderId)
			}
			if err := md.act(a, action); err != nil {
				return conflict("%v", err)
			}
			return nil
		}); err != nil {
			return nil, err
		}
		return attemptProto(o, a), nil
	})
	return out, err
}

// CreateRefund implements MerchantService.
func (l *Layer) CreateRefund(ctx context.Context, r *merchantv1.CreateRefundRequest) (*merchantv1.Refund, error) {
	m, err := l.caller(ctx)
	if err != nil {
		return nil, err
	}
	if r.GetOrderId() == "" && r.GetAttemptId() == "" {
		return nil, invalid("order_id or attempt_id is required")
	}
	if err := positive("amount_cents", r.GetAmountCents()); err != nil {
		return nil, err
	}
	if err := checkText("note", r.GetNote(), 50); err != nil {
		return nil, err
	}
	out := &merchantv1.Refund{}
	err = l.step(ctx, m, "CreateRefund", r, out, func(c *node.Ctx) (proto.Message, error) {
		var o *order
		var err error
		if r.GetAttemptId() != "" {
			o, err = indexed(c.Tx, "a/"+r.GetAttemptId())
			if err == nil && (o == nil || o.MerchantVpa != ids.NormalizeVPA(m.VPA) || r.GetOrderId() != "" && o.OrderId != r.GetOrderId()) {
				err = notFound("no attempt %s", r.GetAttemptId())
			}
		} else {
			o, err = myOrder(c.Tx, m, r.GetOrderId())
		}
		if err != nil {
			return nil, err
		}
		var rf *refund
		if err := l.apply(c, o, func(md *model) error {
			var a *attempt
			if r.GetAttemptId() != "" {
				a = md.find(r.GetAttemptId())
			}
			var err error
			if rf, err = md.refundFor(a, r.GetAmountCents(), r.GetNote()); err != nil {
				return conflict("%v", err)
			}
			return nil
		}); err != nil {
			return nil, err
		}
		return refundProto(o, rf), nil
	})
	return out, err
}

// GetRefund implements MerchantService.
func (l *Layer) GetRefund(ctx context.Context, r *merchantv1.GetRefundRequest) (*merchantv1.Refund, error) {
	var out *merchantv1.Refund
	err := l.read(ctx, func(tx *store.Tx, m *merchantCfg) error {
		o, err := indexed(tx, "r/"+r.GetRefundId())
		if err != nil {
			return err
		}
		if o == nil || o.MerchantVpa != ids.NormalizeVPA(m.VPA) {
			return notFound("no refund %s", r.GetRefundId())
		}
		for _, rf := range o.Refunds {
			if rf.RefundId == r.GetRefundId() {
				out = refundProto(o, rf)
			}
		}
		return nil
	})
	return out, err
}

// GetMerchant implements MerchantAdminService.
func (l *Layer) GetMerchant(ctx context.Context, r *merchantv1.GetMerchantRequest) (*merchantv1.MerchantConfig, error) {
	if l.cfg.AdminToken != "" && !node.HasBearer(ctx, l.cfg.AdminToken) {
		return nil, node.ErrAdminToken
	}
	m := l.merchantOf(r.GetVpa())
	if m == nil {
		return nil, notFound("no merchant %s at %s", r.GetVpa(), l.cfg.Self.Name)
	}
	ep := &recordsv1.MerchantEndpoint{Url: m.WebhookURL, Enabled: true}
	if l.n != nil {
		if err := l.n.View(func(tx *store.Tx) error {
			var err error
			ep, err = l.endpoint(tx, m)
			return err
		}); err != nil {
			return nil, stepErr(err)
		}
	}
	return &merchantv1.MerchantConfig{
		Vpa: ids.NormalizeVPA(m.VPA), Name: m.Name, Psp: l.cfg.Self.Name, ApiKey: m.APIKey,
		WebhookUrl: ep.GetUrl(), WebhookEnabled: ep.GetEnabled(), WebhookSecret: m.WebhookSecret,
		AutoRefund: m.AutoRefund, AutoRetry: m.AutoRetry, OrderExpirySeconds: int64(m.OrderExpiry / time.Second),
	}, nil
}

// intent is the order's upi://pay link: payee address and name, amount in
// rupees, the order id as the transaction reference, the description as
// the note.
func (l *Layer) intent(o *order) string {
	name := o.MerchantVpa
	if m := l.merchantOf(o.MerchantVpa); m != nil {
		name = m.Name
	}
	return upi.Intent{PayeeVPA: o.MerchantVpa, PayeeName: name, AmountPaise: o.AmountPaise, RefID: o.OrderId, Note: o.Description, Currency: "INR"}.String()
}

func ts(nanos int64) *timestamppb.Timestamp {
	if nanos == 0 {
		return nil
	}
	return timestamppb.New(store.FromNanos(nanos))
}

func (l *Layer) orderProto(o *order) *merchantv1.Order {
	out := &merchantv1.Order{
		OrderId: o.OrderId, MerchantVpa: o.MerchantVpa, AmountCents: o.AmountPaise, Currency: "INR",
		Receipt: o.Receipt, Description: o.Description, TransactionStatus: o.Status, Intent: l.intent(o),
		CreatedAt: ts(o.Created), ExpiresAt: ts(o.Expires), AutoRefund: o.AutoRefund, AutoRetry: o.AutoRetry,
		Reason: o.Reason,
	}
	for _, a := range o.Attempts {
		out.Attempts = append(out.Attempts, attemptProto(o, a))
	}
	for _, r := range o.Refunds {
		out.Refunds = append(out.Refunds, refundProto(o, r))
	}
	return out
}

func attemptProto(o *order, a *attempt) *merchantv1.Attempt {
	return &merchantv1.Attempt{
		AttemptId: a.AttemptId, OrderId: o.OrderId, TransactionAttemptStatus: a.Status, Action: a.Action,
		AmountCents: a.AmountPaise, PayerVpa: a.PayerVpa, Rrn: a.Rrn, Method: a.Method, TxnId: a.TxnId,
		ErrCode: a.ErrCode, DeviceId: a.DeviceId, Utr: a.Utr, DeclaredAmountCents: a.DeclaredPaise,
		CreatedAt: ts(a.Created), UpdatedAt: ts(a.Updated), HoldUntil: ts(a.HoldUntil), EdgeCase: a.EdgeCase,
		Verification: a.Verification,
	}
}

func refundProto(o *order, r *refund) *merchantv1.Refund {
	return &merchantv1.Refund{
		RefundId: r.RefundId, OrderId: o.OrderId, AttemptId: r.AttemptId, RefundStatus: r.Status,
		AmountCents: r.AmountPaise, TxnId: r.TxnId, Rrn: r.Rrn, ErrCode: r.ErrCode, Source: r.Source,
		CreatedAt: ts(r.Created), UpdatedAt: ts(r.Updated),
	}
}

// positive checks an amount in paise: more than zero, at most the
// largest UPI amount.
func positive(field string, v int64) error {
	if v <= 0 {
		return invalid("%s must be greater than zero, got %d", field, v)
	}
	if err := upi.CheckAmount(field, v); err != nil {
		return invalid("%v", err)
	}
	return nil
}

// LookupOrder implements MerchantAdminService.
func (l *Layer) LookupOrder(ctx context.Context, r *merchantv1.LookupOrderRequest) (*merchantv1.Order, error) {
	if l.cfg.AdminToken != "" && !node.HasBearer(ctx, l.cfg.AdminToken) {
		return nil, node.ErrAdminToken
	}
	if l.n == nil {
		return nil, status.Error(codes.Unavailable, "the merchant API is not running")
	}
	id := r.GetId()
	var out *merchantv1.Order
	err := l.n.View(func(tx *store.Tx) error {
		o, err := load(tx, id)
		for _, k := range []string{"a/", "r/"} {
			if o != nil || err != nil {
				break
			}
			o, err = indexed(tx, k+id)
		}
		if err != nil {
			return err
		}
		if o == nil {
			return notFound("no order, attempt or refund %s at %s", id, l.cfg.Self.Name)
		}
		out = l.orderProto(o)
		return nil
	})
	return out, stepErrOrNil(err)
}

// ListOrders implements MerchantAdminService.
func (l *Layer) ListOrders(ctx context.Context, r *merchantv1.ListOrdersRequest) (*merchantv1.ListOrdersResponse, error) {
	if l.cfg.AdminToken != "" && !node.HasBearer(ctx, l.cfg.AdminToken) {
		return nil, node.ErrAdminToken
	}
	limit := int(r.GetLimit())
	switch {
	case limit < 0 || limit > 1000:
		return nil, invalid("limit must be between 0 and 1000, got %d", limit)
	case limit == 0:
		limit = 100
	}
	if l.n == nil {
		return nil, status.Error(codes.Unavailable, "the merchant API is not running")
	}
	out := &merchantv1.ListOrdersResponse{}
	err := l.n.View(func(tx *store.Tx) error {
		return tx.ScanAfter(store.MerchantOrders, []byte(r.GetAfter()), func(k, _ []byte) (bool, error) {
			if len(out.Orders) == limit {
				out.Next = out.Orders[len(out.Orders)-1].GetOrderId()
				return false, nil
			}
			o, err := load(tx, string(k))
			if err != nil {
				return false, err
			}
			out.Orders = append(out.Orders, l.orderProto(o))
			return true, nil
		})
	})
	return out, stepErrOrNil(err)
}
