package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	merchantv1 "github.com/upisim/upisim/gen/go/upisim/merchant/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/upi"
)

// merchantJSON is how the merchant commands print with -o json: the
// merchant API's own JSON (the REST answers' field names).
var merchantJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true, Indent: "  "}

func printProto(w io.Writer, o Output, m proto.Message, text func(io.Writer) error) error {
	if o != JSON {
		return text(w)
	}
	b, err := merchantJSON.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// pspOfVPA is the PSP node that owns vpa's handle, from network.json.
func (c *Client) pspOfVPA(vpa string) (string, error) {
	h := ids.HandleOf(ids.NormalizeVPA(vpa))
	for _, nd := range c.Dir.ByRole(config.RolePSP) {
		for _, x := range nd.Handles {
			if x == h {
				return nd.Name, nil
			}
		}
	}
	return "", fmt.Errorf("no PSP in network.json owns handle @%s", h)
}

// MerchantAdmin is the merchant admin API of PSP node name (with the
// admin token).
func (c *Client) MerchantAdmin(name string) (merchantv1.MerchantAdminServiceClient, error) {
	cc, err := c.conn(name)
	if err != nil {
		return nil, err
	}
	return merchantv1.NewMerchantAdminServiceClient(c.token.conn(cc)), nil
}

// Merchant is the merchant API of merchant vpa, with a context that
// carries its API key, and its settings (from its PSP's admin API).
func (c *Client) Merchant(ctx context.Context, vpa string) (merchantv1.MerchantServiceClient, context.Context, *merchantv1.MerchantConfig, error) {
	name, err := c.pspOfVPA(vpa)
	if err != nil {
		return nil, nil, nil, err
	}
	adm, err := c.MerchantAdmin(name)
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, err := adm.GetMerchant(ctx, &merchantv1.GetMerchantRequest{Vpa: vpa})
	if err != nil {
		return nil, nil, nil, rpcError(err)
	}
	if cfg.GetApiKey() == "" {
		return nil, nil, nil, fmt.Errorf("merchant %s has no api_key in the network file: it has no merchant API", vpa)
	}
	cc, err := c.conn(name)
	if err != nil {
		return nil, nil, nil, err
	}
	return merchantv1.NewMerchantServiceClient(cc), metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+cfg.GetApiKey()), cfg, nil
}

// lookup finds the order an order, attempt or refund id belongs to, at
// whichever PSP has it, and that order's merchant API.
func (c *Client) lookup(ctx context.Context, id string) (*merchantv1.Order, merchantv1.MerchantServiceClient, context.Context, error) {
	for _, nd := range c.Dir.ByRole(config.RolePSP) {
		adm, err := c.MerchantAdmin(nd.Name)
		if err != nil {
			return nil, nil, nil, err
		}
		o, err := adm.LookupOrder(ctx, &merchantv1.LookupOrderRequest{Id: id})
		if status.Code(err) == codes.NotFound {
			continue
		}
		if err != nil {
			return nil, nil, nil, rpcError(err)
		}
		api, mctx, _, err := c.Merchant(ctx, o.GetMerchantVpa())
		return o, api, mctx, err
	}
	return nil, nil, nil, fmt.Errorf("no PSP has an order, attempt or refund %s", id)
}

func withClient[T any](dataDir string, f func(*Client) (T, error)) (T, error) {
	c, err := Connect(dataDir)
	if err != nil {
		var zero T
		return zero, err
	}
	defer c.Close()
	return f(c)
}

// MerchantOptions are the options of `upisim merchant show`.
type MerchantOptions struct {
	DataDir, VPA string
	Output       Output
}

// MerchantShow prints a merchant's API settings: its test API key and
// webhook secret included.
func MerchantShow(ctx context.Context, w io.Writer, o MerchantOptions) (*merchantv1.MerchantConfig, error) {
	if o.VPA == "" {
		return nil, errors.New("missing merchant VPA")
	}
	return withClient(o.DataDir, func(c *Client) (*merchantv1.MerchantConfig, error) {
		name, err := c.pspOfVPA(o.VPA)
		if err != nil {
			return nil, err
		}
		adm, err := c.MerchantAdmin(name)
		if err != nil {
			return nil, err
		}
		m, err := adm.GetMerchant(ctx, &merchantv1.GetMerchantRequest{Vpa: o.VPA})
		if err != nil {
			return nil, rpcError(err)
		}
		return m, printProto(w, o.Output, m, func(w io.Writer) error {
			return printFields(w, "vpa", m.GetVpa(), "name", m.GetName(), "psp", m.GetPsp(), "api_key", m.GetApiKey(),
				"webhook_url", m.GetWebhookUrl(), "webhook_enabled", fmt.Sprint(m.GetWebhookEnabled()),
				"webhook_secret", m.GetWebhookSecret(), "auto_refund", fmt.Sprint(m.GetAutoRefund()),
				"auto_retry", fmt.Sprint(m.GetAutoRetry()), "order_expiry", (time.Duration(m.GetOrderExpirySeconds()) * time.Second).String())
		})
	})
}

// OrderOptions are the options of the `upisim order` commands.
type OrderOptions struct {
	DataDir  string
	Merchant string
	// ID is the order (show, collect) or attempt (action) id.
	ID          string
	Amount      string
	Expire      time.Duration
	Receipt     string
	Description string
	// AutoRefund and AutoRetry: "" the merchant's, else "true"/"false".
	AutoRefund, AutoRetry string
	Payer                 string
	Capture, Release      bool
	Output                Output
}

func optionalBool(flag, v string) (*bool, error) {
	switch v {
	case "":
		return nil, nil
	case "true", "on", "yes":
		return proto.Bool(true), nil
	case "false", "off", "no":
		return proto.Bool(false), nil
	}
	return nil, fmt.Errorf("--%s must be true or false, not %q", flag, v)
}

// OrderCreate creates an order of a merchant and prints its id and intent.
func OrderCreate(ctx context.Context, w io.Writer, o OrderOptions) (*merchantv1.Order, error) {
	if o.Merchant == "" {
		return nil, errors.New("missing --merchant")
	}
	amount, err := upi.ParseRupees(o.Amount)
	if err != nil {
		return nil, fmt.Errorf("--amount: %w", err)
	}
	if o.Expire < 0 || o.Expire%time.Second != 0 {
		return nil, fmt.Errorf("--expire must be whole seconds, e.g. 15m or 90s, got %s", o.Expire)
	}
	ar, err := optionalBool("auto-refund", o.AutoRefund)
	if err != nil {
		return nil, err
	}
	at, err := optionalBool("auto-retry", o.AutoRetry)
	if err != nil {
		return nil, err
	}
	return withClient(o.DataDir, func(c *Client) (*merchantv1.Order, error) {
		api, mctx, _, err := c.Merchant(ctx, o.Merchant)
		if err != nil {
			return nil, err
		}
		ord, err := api.CreateOrder(mctx, &merchantv1.CreateOrderRequest{
			AmountCents: amount, Currency: "INR", Receipt: o.Receipt, Description: o.Description,
			ExpiresInSeconds: int64(o.Expire / time.Second), AutoRefund: ar, AutoRetry: at,
		})
		if err != nil {
			return nil, rpcError(err)
		}
		return ord, printOrder(w, o.Output, ord)
	})
}

func printOrder(w io.Writer, out Output, ord *merchantv1.Order) error {
	return printProto(w, out, ord, func(w io.Writer) error {
		if err := printFields(w, "order_id", ord.GetOrderId(), "merchant", ord.GetMerchantVpa(),
			"amount", upi.FormatPaise(ord.GetAmountCents()), "transaction_status", ord.GetTransactionStatus(),
			"reason", ord.GetReason(), "expires_at", ord.GetExpiresAt().AsTime().Format(time.RFC3339),
			"auto_refund", fmt.Sprint(ord.GetAutoRefund()), "auto_retry", fmt.Sprint(ord.GetAutoRetry()),
			"intent", ord.GetIntent()); err != nil {
			return err
		}
		for _, a := range ord.GetAttempts() {
			fmt.Fprintf(w, "attempt %s  %-8s %-14s action=%s  %s  payer=%s rrn=%s %s%s\n", a.GetAttemptId(), a.GetTransactionAttemptStatus(),
				a.GetMethod(), dash(a.GetAction()), upi.FormatPaise(a.GetAmountCents()), dash(a.GetPayerVpa()), dash(a.GetRrn()),
				dash(a.GetErrCode()), suffix(" edge_case=", a.GetEdgeCase())+suffix(" verification=", a.GetVerification()))
		}
		for _, r := range ord.GetRefunds() {
			fmt.Fprintf(w, "refund %s  %-16s %s  of attempt %s  source=%s rrn=%s %s\n", r.GetRefundId(), r.GetRefundStatus(),
				upi.FormatPaise(r.GetAmountCents()), r.GetAttemptId(), r.GetSource(), dash(r.GetRrn()), dash(r.GetErrCode()))
		}
		return nil
	})
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func suffix(label, s string) string {
	if s == "" {
		return ""
	}
	return label + s
}

// OrderShow prints an order with every attempt and refund.
func OrderShow(ctx context.Context, w io.Writer, o OrderOptions) (*merchantv1.Order, error) {
	if o.ID == "" {
		return nil, errors.New("missing order id")
	}
	return withClient(o.DataDir, func(c *Client) (*merchantv1.Order, error) {
		ord, _, _, err := c.lookup(ctx, o.ID)
		if err != nil {
			return nil, err
		}
		return ord, printOrder(w, o.Output, ord)
	})
}

// OrderCollect sends a collect request for an order to a payer.
func OrderCollect(ctx context.Context, w io.Writer, o OrderOptions) (*merchantv1.Attempt, error) {
	if o.ID == "" || o.Payer == "" {
		return nil, errors.New("give the order id and --payer")
	}
	return withClient(o.DataDir, func(c *Client) (*merchantv1.Attempt, error) {
		ord, api, mctx, err := c.lookup(ctx, o.ID)
		if err != nil {
			return nil, err
		}
		// o.ID may be one of the order's attempts or refunds: collect the order.
		a, err := api.CollectOrder(mctx, &merchantv1.CollectOrderRequest{OrderId: ord.GetOrderId(), PayerVpa: o.Payer})
		if err != nil {
			return nil, rpcError(err)
		}
		return a, printAttempt(w, o.Output, a)
	})
}

func printAttempt(w io.Writer, out Output, a *merchantv1.Attempt) error {
	return printProto(w, out, a, func(w io.Writer) error {
		return printFields(w, "attempt_id", a.GetAttemptId(), "order_id", a.GetOrderId(), "transaction_attempt_status", a.GetTransactionAttemptStatus(),
			"action", a.GetAction(), "method", a.GetMethod(), "txn_id", a.GetTxnId(), "amount", upi.FormatPaise(a.GetAmountCents()),
			"payer_vpa", a.GetPayerVpa(), "rrn", a.GetRrn(), "edge_case", a.GetEdgeCase())
	})
}

// OrderAction captures or releases an attempt on HOLD.
func OrderAction(ctx context.Context, w io.Writer, o OrderOptions) (*merchantv1.Attempt, error) {
	if o.ID == "" {
		return nil, errors.New("missing attempt id")
	}
	if o.Capture == o.Release {
		return nil, errors.New("give one of --capture and --release")
	}
	action := "CAPTURE"
	if o.Release {
		action = "RELEASE"
	}
	return withClient(o.DataDir, func(c *Client) (*merchantv1.Attempt, error) {
		_, api, mctx, err := c.lookup(ctx, o.ID)
		if err != nil {
			return nil, err
		}
		a, err := api.ActOnAttempt(mctx, &merchantv1.ActOnAttemptRequest{AttemptId: o.ID, Action: action})
		if err != nil {
			return nil, rpcError(err)
		}
		return a, printAttempt(w, o.Output, a)
	})
}

// RefundOptions are the options of `upisim refund create`.
type RefundOptions struct {
	DataDir, OrderID, Attempt, Amount, Note string
	Output                                  Output
}

// RefundCreate refunds a SUCCESS attempt of an order.
func RefundCreate(ctx context.Context, w io.Writer, o RefundOptions) (*merchantv1.Refund, error) {
	if o.OrderID == "" {
		return nil, errors.New("missing order id")
	}
	amount, err := upi.ParseRupees(o.Amount)
	if err != nil {
		return nil, fmt.Errorf("--amount: %w", err)
	}
	return withClient(o.DataDir, func(c *Client) (*merchantv1.Refund, error) {
		ord, api, mctx, err := c.lookup(ctx, o.OrderID)
		if err != nil {
			return nil, err
		}
		// The id given may be an attempt of the order (or one of its
		// refunds): refund that attempt.
		attempt := o.Attempt
		if attempt == "" && o.OrderID != ord.GetOrderId() {
			for _, a := range ord.GetAttempts() {
				if a.GetAttemptId() == o.OrderID {
					attempt = a.GetAttemptId()
				}
			}
			for _, r := range ord.GetRefunds() {
				if r.GetRefundId() == o.OrderID {
					attempt = r.GetAttemptId()
				}
			}
		}
		r, err := api.CreateRefund(mctx, &merchantv1.CreateRefundRequest{OrderId: ord.GetOrderId(), AttemptId: attempt, AmountCents: amount, Note: o.Note})
		if err != nil {
			return nil, rpcError(err)
		}
		return r, printProto(w, o.Output, r, func(w io.Writer) error {
			return printFields(w, "refund_id", r.GetRefundId(), "order_id", r.GetOrderId(), "attempt_id", r.GetAttemptId(),
				"refund_status", r.GetRefundStatus(), "amount", upi.FormatPaise(r.GetAmountCents()), "txn_id", r.GetTxnId(), "err_code", r.GetErrCode())
		})
	})
}
