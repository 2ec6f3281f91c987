// Package merchant is a payee PSP's merchant API (docs/FLOWS.md, "Merchant
// payments"): orders and their upi://pay intents, the attempts against
// them (intent payments the PSP hears of as payee, collects it sends,
// attempts recorded by the merchant and verified through the switch), the
// collections status model of seed 002 with HOLD and its actions, refunds
// (a ReqPay REFUND through the switch) and Standard Webhooks callbacks
// delivered through the node's outbox.
//
// It lives in the PSP's process and node: its steps are the PSP's steps
// (psp.Config's hooks run it inside the step that decides a payment), its
// records are in the PSP's file, and its API is served on the PSP's gRPC
// and HTTP ports.
package merchant

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	merchantv1 "github.com/upisim/upisim/gen/go/upisim/merchant/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/webhook"
	"github.com/upisim/upisim/psp"
)

// Config configures the merchant layer of one PSP.
type Config struct {
	Network *config.Network
	// Self is the PSP's node.
	Self   *config.Node
	Logger *slog.Logger
	// AdminToken, if set, is what MerchantAdminService calls must carry
	// (`authorization: Bearer TOKEN`, DATA/admin.token).
	AdminToken string
}

// Layer is the merchant layer of a PSP.
type Layer struct {
	merchantv1.UnimplementedMerchantServiceServer
	merchantv1.UnimplementedMerchantAdminServiceServer

	cfg       Config
	log       *slog.Logger
	merchants map[string]*merchantCfg // by VPA
	psp       *psp.PSP
	n         *node.Node
}

// merchantCfg is a merchant of this PSP with its parsed secret.
type merchantCfg struct {
	*config.Merchant
	secret    webhook.Secret
	hasSecret bool
}

// The records' tables.
var (
	orders     = store.NewTable[recordsv1.MerchantOrder](store.MerchantOrders)
	deliveries = store.NewTable[recordsv1.MerchantDelivery](store.MerchantDeliveries)
	endpoints  = store.NewTable[recordsv1.MerchantEndpoint](store.MerchantEndpoints)
	idem       = store.NewTable[recordsv1.MerchantIdempotent](store.MerchantIdempotency)
)

// New returns the merchant layer of cfg.Self: the network file's merchants
// whose VPA handle is that PSP's.
func New(cfg Config) (*Layer, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Layer{cfg: cfg, log: cfg.Logger.With("layer", "merchant", "node", cfg.Self.Name), merchants: map[string]*merchantCfg{}}
	for _, m := range cfg.Network.MerchantsOfPSP(cfg.Self.Name) {
		mc := &merchantCfg{Merchant: m}
		if m.WebhookSecret != "" {
			s, err := webhook.ParseSecret(m.WebhookSecret)
			if err != nil {
				return nil, fmt.Errorf("merchant %s: webhook_secret: %w", m.VPA, err)
			}
			mc.secret, mc.hasSecret = s, true
		}
		l.merchants[ids.NormalizeVPA(m.VPA)] = mc
	}
	return l, nil
}

// Hooks puts the layer's steps into the PSP's configuration: it hears of
// every payment outcome (OnOutcome, OnDeemed), of every payment to a
// merchant as it starts (OnAuthDetails), of its status checks (OnStatus),
// of the offline Lite records posted to its merchants (OnLiteCredit), and
// adds its timers and its webhook deliveries' answers to the PSP's
// route table.
func (l *Layer) Hooks(c *psp.Config) {
	c.OnOutcome = l.onOutcome
	c.OnDeemed = l.onDeemed
	c.OnAuthDetails = l.onAuthDetails
	c.OnStatus = l.onStatus
	c.OnLiteCredit = l.OnLiteCredit
	c.Routes = append(c.Routes, l.routes()...)
	c.Timers = append(c.Timers, l.timers()...)
}

// Bind gives the layer its PSP and node; call it before the node starts.
func (l *Layer) Bind(p *psp.PSP, n *node.Node) { l.psp, l.n = p, n }

// Register serves the merchant API on s.
func (l *Layer) Register(s *grpc.Server) {
	merchantv1.RegisterMerchantServiceServer(s, l)
	merchantv1.RegisterMerchantAdminServiceServer(s, l)
}

// merchantOf is the merchant of VPA vpa at this PSP, or nil.
func (l *Layer) merchantOf(vpa string) *merchantCfg { return l.merchants[ids.NormalizeVPA(vpa)] }

// newID is a fresh id with prefix: 3 letters and 32 hex digits, so it can
// name a transaction in the trace (webhook deliveries are traced under
// their order's id).
func newID(prefix string) string { return ids.NewTxnID(prefix) }

// Timer names: "mexpire:ORDER", "mhold:ORDER/ATTEMPT", "mwebhook:DELIVERY",
// "mrefund:ORDER/REFUND" (a new try of a failed refund).
const (
	timerExpire  = "mexpire"
	timerHold    = "mhold"
	timerWebhook = "mwebhook"
	timerRefund  = "mrefund"
)

func (l *Layer) timers() []node.TimerKind {
	return []node.TimerKind{
		{Prefix: timerExpire, Fire: l.expireDue},
		{Prefix: timerHold, Fire: l.holdDue},
		{Prefix: timerWebhook, Fire: l.webhookDue},
		{Prefix: timerRefund, Fire: l.refundDue},
	}
}

// load reads an order in a step; nil when there is none.
func load(tx *store.Tx, orderID string) (*order, error) {
	o, ok, err := orders.Get(tx, orderID)
	if err != nil || !ok {
		return nil, err
	}
	return o, nil
}

// indexed is the order an index key ("t/" txn id, ...) points at.
func indexed(tx *store.Tx, key string) (*order, error) {
	v := tx.Get(store.MerchantIndex, []byte(key))
	if v == nil {
		return nil, nil
	}
	return load(tx, string(v))
}

func index(tx *store.Tx, key, orderID string) error {
	return tx.Put(store.MerchantIndex, []byte(key), []byte(orderID))
}

// apply runs change on the order in step c through the model, then does
// what it asks: stores the order, sends its refunds, sets and cancels
// HOLD timers and queues its webhook events.
func (l *Layer) apply(c *node.Ctx, o *order, change func(m *model) error) error {
	m := &model{o: o, now: c.Now(), holdFor: l.cfg.Network.Merchant.HoldCapture, newID: newID}
	if err := change(m); err != nil {
		return err
	}
	for _, r := range m.refunds {
		if err := index(c.Tx, "r/"+r.RefundId, o.OrderId); err != nil {
			return err
		}
		if err := l.sendRefund(c, o, r); err != nil {
			return err
		}
	}
	for _, r := range m.retries {
		if n, sched := m.failedTries(r), l.cfg.Network.Merchant.RefundRetry; n <= len(sched) {
			if err := c.SetTimer(timerRefund+":"+o.OrderId+"/"+r.RefundId, c.Now().Add(sched[n-1]), nil); err != nil {
				return err
			}
		}
	}
	for _, a := range m.holds {
		if err := c.SetTimer(holdTimer(o, a), store.FromNanos(a.HoldUntil), nil); err != nil {
			return err
		}
	}
	for _, a := range m.holdsEnded {
		if err := c.CancelTimer(holdTimer(o, a)); err != nil {
			return err
		}
	}
	o.Updated = store.Nanos(c.Now())
	if err := orders.Put(c.Tx, o.OrderId, o); err != nil {
		return err
	}
	for _, ev := range m.events {
		if err := l.queueEvent(c, o, ev); err != nil {
			return err
		}
	}
	return nil
}

func holdTimer(o *order, a *attempt) string { return timerHold + ":" + o.OrderId + "/" + a.AttemptId }

// sendRefund sends refund r of order o as a ReqPay REFUND of its
// attempt's credit: its txn id, or for an offline Lite payment (which has
// none) its official UTR and payer. A refund the PSP will not send (the
// credit is not refundable there) fails at once, REFUND_FAILED.
func (l *Layer) sendRefund(c *node.Ctx, o *order, r *refund) error {
	a := (&model{o: o}).find(r.AttemptId)
	req := psp.RefundRequest{OrgTxnID: a.TxnId, AmountPaise: r.AmountPaise, Note: refundNote(r), RefID: r.RefundId}
	if a.TxnId == "" && isLite(a.Method) {
		req.OrgRRN, req.OrgPayerVPA = a.Rrn, a.PayerVpa // merchant/lite.go
	}
	txnID, err := l.psp.StartRefund(c, req)
	if err != nil {
		if _, ok := status.FromError(err); !ok {
			return err
		}
		r.Status, r.ErrCode, r.Updated = RefundFailed, "U07", store.Nanos(c.Now())
		l.log.Warn("refund not sent", "order", o.OrderId, "refund", r.RefundId, "err", err)
		return nil
	}
	r.TxnId = txnID
	return index(c.Tx, "t/"+txnID, o.OrderId)
}

func refundNote(r *refund) string {
	if r.Note != "" {
		return truncate(r.Note, 50)
	}
	return "refund " + r.RefundId
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// expireDue: an order's expiry.
func (l *Layer) expireDue(c *node.Ctx, t node.Timer) error {
	_, id, _ := strings.Cut(t.Name, ":")
	o, err := load(c.Tx, id)
	if err != nil || o == nil {
		return err
	}
	// An offline payment the merchant's device reported in time keeps the
	// order PENDING until its record is posted, at most the network's
	// sync_deadline after the report (LD after that: it never will be).
	if until := l.liteWait(o); c.Now().Before(until) {
		return c.SetTimer(t.Name, until, nil)
	}
	return l.apply(c, o, func(m *model) error { m.expire(); return nil })
}

// holdDue: a HOLD the merchant did not act on is captured.
func (l *Layer) holdDue(c *node.Ctx, t node.Timer) error {
	_, rest, _ := strings.Cut(t.Name, ":")
	orderID, attemptID, _ := strings.Cut(rest, "/")
	o, err := load(c.Tx, orderID)
	if err != nil || o == nil {
		return err
	}
	return l.apply(c, o, func(m *model) error {
		a := m.find(attemptID)
		if a == nil || a.Status != AttemptHold {
			return nil
		}
		return m.act(a, "CAPTURE")
	})
}

// refundDue: a new try of a failed refund the PSP made itself.
func (l *Layer) refundDue(c *node.Ctx, t node.Timer) error {
	_, rest, _ := strings.Cut(t.Name, ":")
	orderID, refundID, _ := strings.Cut(rest, "/")
	o, err := load(c.Tx, orderID)
	if err != nil || o == nil {
		return err
	}
	return l.apply(c, o, func(m *model) error {
		for _, r := range m.o.Refunds {
			if r.RefundId == refundID {
				m.retry(r)
			}
		}
		return nil
	})
}

// authMerchant is the merchant whose API key the call carries.
func (l *Layer) authMerchant(key string) (*merchantCfg, error) {
	for _, m := range l.merchants {
		if m.APIKey != "" && subtle.ConstantTimeCompare([]byte(key), []byte(m.APIKey)) == 1 {
			return m, nil
		}
	}
	return nil, status.Error(codes.Unauthenticated, "a merchant API key is required: `Authorization: Bearer API_KEY` (`upisim merchant show` prints it)")
}

// until is d from now, for the node's clock.
func until(now time.Time, nanos int64) time.Duration { return store.FromNanos(nanos).Sub(now) }

// SetAdminToken sets Config.AdminToken; call it before the node serves.
func (l *Layer) SetAdminToken(t string) { l.cfg.AdminToken = t }
