package merchant

import (
	"cmp"
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	merchantv1 "github.com/upisim/upisim/gen/go/upisim/merchant/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

type delivery = recordsv1.MerchantDelivery

// A delivery's status.
const (
	DeliveryPending   = "PENDING"
	DeliveryDelivered = "DELIVERED"
	DeliveryFailed    = "FAILED"
	DeliveryDisabled  = "DISABLED"
)

// eventJSON is how a webhook body is written: the proto names, every
// field.
var eventJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// endpoint is where merchant m's webhooks go: what it set, else the
// network file's webhook_url.
func (l *Layer) endpoint(tx *store.Tx, m *merchantCfg) (*recordsv1.MerchantEndpoint, error) {
	ep, ok, err := endpoints.Get(tx, ids.NormalizeVPA(m.VPA))
	if err != nil || ok {
		return ep, err
	}
	return &recordsv1.MerchantEndpoint{Url: m.WebhookURL, Enabled: m.WebhookURL != ""}, nil
}

// queueEvent makes a delivery of event ev of order o to its merchant's
// endpoint and makes its first attempt. With no endpoint (none set, or
// disabled by a 410) it is kept DISABLED, to be resent.
func (l *Layer) queueEvent(c *node.Ctx, o *order, ev *merchantv1.WebhookEvent) error {
	m := l.merchantOf(o.MerchantVpa)
	if m == nil {
		return nil
	}
	body, err := eventJSON.Marshal(ev)
	if err != nil {
		return err
	}
	d := &delivery{
		DeliveryId: newID("EVT"), MerchantVpa: o.MerchantVpa, Type: ev.GetType(), OrderId: o.OrderId,
		Body: body, Created: store.Nanos(c.Now()), Status: DeliveryPending,
	}
	return l.startSeries(c, m, d)
}

// startSeries starts d's attempts: now, then on the retry schedule.
func (l *Layer) startSeries(c *node.Ctx, m *merchantCfg, d *delivery) error {
	ep, err := l.endpoint(c.Tx, m)
	if err != nil {
		return err
	}
	d.SeriesAttempts, d.NextAttempt = 0, 0
	if ep.GetUrl() == "" || !ep.GetEnabled() || !m.hasSecret {
		d.Status = DeliveryDisabled
		return deliveries.Put(c.Tx, d.DeliveryId, d)
	}
	d.Url, d.Status = ep.GetUrl(), DeliveryPending
	return l.attemptDelivery(c, m, d)
}

// attemptDelivery posts d once, signed now (Standard Webhooks: the same
// webhook-id on every attempt, a fresh timestamp and signature); its
// answer comes to deliveryAcked or deliveryRefused.
func (l *Layer) attemptDelivery(c *node.Ctx, m *merchantCfg, d *delivery) error {
	d.SeriesAttempts++
	d.NextAttempt = 0
	if err := deliveries.Put(c.Tx, d.DeliveryId, d); err != nil {
		return err
	}
	h := m.secret.Headers(d.DeliveryId, c.Now(), d.Body)
	h["Webhook-Attempt"] = strconv.Itoa(int(d.SeriesAttempts))
	return c.PostWith(d.Url, h, d.Body, d.OrderId, node.PostOptions{Once: true, Tag: d.DeliveryId})
}

// routes hear the answers of the deliveries' attempts.
func (l *Layer) routes() []node.Route {
	return []node.Route{{Method: node.PostMethod, Acked: l.deliveryAcked, Refused: l.deliveryRefused}}
}

// deliveryAcked: the endpoint answered 2xx: delivered.
func (l *Layer) deliveryAcked(c *node.Ctx, a node.Acked) error {
	d, ok, err := deliveries.Get(c.Tx, a.Tag)
	if err != nil || !ok {
		return err
	}
	d.Attempts = append(d.Attempts, &recordsv1.MerchantDeliveryAttempt{At: store.Nanos(c.Now()), HttpStatus: int32(a.Status)})
	d.Status = DeliveryDelivered
	return deliveries.Put(c.Tx, d.DeliveryId, d)
}

// deliveryRefused: any other answer, or none. A 410 disables the endpoint
// (Standard Webhooks); otherwise the next attempt waits its turn on the
// schedule (merchant.webhook_retry), and after the last the delivery is
// FAILED.
func (l *Layer) deliveryRefused(c *node.Ctx, r node.Refused) error {
	d, ok, err := deliveries.Get(c.Tx, r.Tag)
	if err != nil || !ok {
		return err
	}
	d.Attempts = append(d.Attempts, &recordsv1.MerchantDeliveryAttempt{At: store.Nanos(c.Now()), HttpStatus: int32(r.Status), Error: r.Reason})
	if d.Status != DeliveryPending {
		return deliveries.Put(c.Tx, d.DeliveryId, d)
	}
	retry := l.cfg.Network.Merchant.WebhookRetry
	switch {
	case r.Status == 410:
		d.Status = DeliveryDisabled
		if err := endpoints.Put(c.Tx, d.MerchantVpa, &recordsv1.MerchantEndpoint{Url: d.Url, Enabled: false}); err != nil {
			return err
		}
		l.log.Warn("webhook endpoint answered 410 Gone: disabled", "merchant", d.MerchantVpa, "url", d.Url)
	case int(d.SeriesAttempts) > len(retry):
		d.Status = DeliveryFailed
	default:
		at := c.Now().Add(retry[d.SeriesAttempts-1])
		d.NextAttempt = store.Nanos(at)
		if err := c.SetTimer(timerWebhook+":"+d.DeliveryId, at, nil); err != nil {
			return err
		}
	}
	return deliveries.Put(c.Tx, d.DeliveryId, d)
}

// webhookDue: the next attempt of a delivery.
func (l *Layer) webhookDue(c *node.Ctx, t node.Timer) error {
	_, id, _ := strings.Cut(t.Name, ":")
	d, ok, err := deliveries.Get(c.Tx, id)
	if err != nil || !ok || d.Status != DeliveryPending {
		return err
	}
	m := l.merchantOf(d.MerchantVpa)
	if m == nil {
		return nil
	}
	ep, err := l.endpoint(c.Tx, m)
	if err != nil {
		return err
	}
	if !ep.GetEnabled() || ep.GetUrl() == "" {
		d.Status, d.NextAttempt = DeliveryDisabled, 0
		return deliveries.Put(c.Tx, d.DeliveryId, d)
	}
	return l.attemptDelivery(c, m, d)
}

// ListDeliveries implements MerchantService: newest first.
func (l *Layer) ListDeliveries(ctx context.Context, r *merchantv1.ListDeliveriesRequest) (*merchantv1.ListDeliveriesResponse, error) {
	m, err := l.caller(ctx)
	if err != nil {
		return nil, err
	}
	limit := int(r.GetLimit())
	switch {
	case limit < 0 || limit > 500:
		return nil, invalid("limit must be between 0 and 500, got %d", limit)
	case limit == 0:
		limit = 50
	}
	if l.n == nil {
		return nil, status.Error(codes.Unavailable, "the merchant API is not running")
	}
	vpa := ids.NormalizeVPA(m.VPA)
	var all []*delivery
	err = l.n.View(func(tx *store.Tx) error {
		return deliveries.Scan(tx, "", func(_ string, d *delivery) (bool, error) {
			if d.MerchantVpa == vpa && (r.GetOrderId() == "" || d.OrderId == r.GetOrderId()) {
				all = append(all, d)
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, stepErr(err)
	}
	slices.SortStableFunc(all, func(a, b *delivery) int { return cmp.Compare(b.Created, a.Created) })
	out := &merchantv1.ListDeliveriesResponse{}
	for _, d := range all[:min(limit, len(all))] {
		out.Deliveries = append(out.Deliveries, deliveryProto(d))
	}
	return out, nil
}

// ResendDelivery implements MerchantService: a new series of attempts of
// the same event, with the same webhook-id, to the endpoint as it is now.
func (l *Layer) ResendDelivery(ctx context.Context, r *merchantv1.ResendDeliveryRequest) (*merchantv1.Delivery, error) {
	m, err := l.caller(ctx)
	if err != nil {
		return nil, err
	}
	out := &merchantv1.Delivery{}
	err = l.step(ctx, m, "ResendDelivery", r, out, func(c *node.Ctx) (proto.Message, error) {
		d, ok, err := deliveries.Get(c.Tx, r.GetDeliveryId())
		if err != nil {
			return nil, err
		}
		if !ok || d.MerchantVpa != ids.NormalizeVPA(m.VPA) {
			return nil, notFound("no delivery %s", r.GetDeliveryId())
		}
		if d.Status == DeliveryPending && d.NextAttempt == 0 {
			return nil, conflict("delivery %s has an attempt on its way", d.DeliveryId)
		}
		if err := c.CancelTimer(timerWebhook + ":" + d.DeliveryId); err != nil {
			return nil, err
		}
		ep, err := l.endpoint(c.Tx, m)
		if err != nil {
			return nil, err
		}
		if ep.GetUrl() == "" || !ep.GetEnabled() {
			return nil, conflict("merchant %s has no enabled webhook endpoint: set one with PUT /webhooks/endpoint", m.VPA)
		}
		if err := l.startSeries(c, m, d); err != nil {
			return nil, err
		}
		return deliveryProto(d), nil
	})
	return out, err
}

// GetWebhookEndpoint implements MerchantService.
func (l *Layer) GetWebhookEndpoint(ctx context.Context, _ *merchantv1.GetWebhookEndpointRequest) (*merchantv1.WebhookEndpoint, error) {
	var out *merchantv1.WebhookEndpoint
	err := l.read(ctx, func(tx *store.Tx, m *merchantCfg) error {
		ep, err := l.endpoint(tx, m)
		out = &merchantv1.WebhookEndpoint{Url: ep.GetUrl(), Enabled: ep.GetEnabled()}
		return err
	})
	return out, err
}

// SetWebhookEndpoint implements MerchantService: the URL, enabled ("" for
// none).
func (l *Layer) SetWebhookEndpoint(ctx context.Context, r *merchantv1.SetWebhookEndpointRequest) (*merchantv1.WebhookEndpoint, error) {
	m, err := l.caller(ctx)
	if err != nil {
		return nil, err
	}
	if u := r.GetUrl(); u != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil || p.Fragment != "" {
			return nil, invalid("url must be an http or https URL with no user info or fragment, got %q", u)
		}
		if !m.hasSecret {
			return nil, conflict("merchant %s has no webhook_secret in the network file: its webhooks could not be signed", m.VPA)
		}
	}
	out := &merchantv1.WebhookEndpoint{}
	err = l.step(ctx, m, "SetWebhookEndpoint", r, out, func(c *node.Ctx) (proto.Message, error) {
		ep := &recordsv1.MerchantEndpoint{Url: r.GetUrl(), Enabled: r.GetUrl() != ""}
		if err := endpoints.Put(c.Tx, ids.NormalizeVPA(m.VPA), ep); err != nil {
			return nil, err
		}
		return &merchantv1.WebhookEndpoint{Url: ep.Url, Enabled: ep.Enabled}, nil
	})
	return out, err
}

func deliveryProto(d *delivery) *merchantv1.Delivery {
	out := &merchantv1.Delivery{
		DeliveryId: d.DeliveryId, Type: d.Type, OrderId: d.OrderId, Url: d.Url, Status: d.Status,
		NextAttemptAt: ts(d.NextAttempt), Body: string(d.Body), CreatedAt: ts(d.Created),
	}
	for _, a := range d.Attempts {
		out.Attempts = append(out.Attempts, &merchantv1.DeliveryAttempt{At: ts(a.At), HttpStatus: a.HttpStatus, Error: a.Error})
	}
	return out
}
