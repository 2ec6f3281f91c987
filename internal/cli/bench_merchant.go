package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	merchantv1 "github.com/upisim/upisim/gen/go/upisim/merchant/v1"
	"github.com/upisim/upisim/internal/upi"
	"github.com/upisim/upisim/internal/webhook"
)

// `upisim bench merchant`: how fast a merchant's orders are paid, from
// the order's creation to its "paid" webhook at the merchant (docs/FLOWS.md,
// Merchant payments).
//
// Setup (untimed): the bench serves HTTP on a loopback port and points the
// merchant's webhook endpoint at it (as `upisim listen` does; the endpoint
// it replaced is put back at the end). Each timed flow creates an order of
// --amount (MerchantService/CreateOrder, auto-retry off so a failed
// payment ends the order FAILED), has --payer pay it as an app pays the
// order's intent (CreatePayment with ref_id the order id), and ends when
// the receiver has a webhook of the order, its Standard Webhooks signature
// verified with the merchant's secret, that says transaction_status
// SUCCESS (or another terminal status: a failed flow).

// MerchantMessagesPerFlow is the calls one paid order makes, the factor of
// bench merchant's ratio to a bare echo call. Counted from `upisim trace`
// of an order of chai@beta (betapsp, bbank) paid by alice@alpha
// (alphapsp, abank) on the default network: the payment's trace is a
// plain pay's 12 distinct messages (ReqPay, ReqAuthDetails and its answer,
// DEBIT and CREDIT with their answers, RespPay, ReqTxnConfirmation and its
// answer, two Notifies), the order's trace is the webhook's one POST (an
// HTTP call with its answer, not gRPC), and the three app calls the traces
// do not show: MerchantService/CreateOrder, TpapAppService/CreatePayment
// and PspAppService/InitiatePay. 12 + 1 + 3.
const MerchantMessagesPerFlow = 16

// BenchMerchantOptions are the options of `upisim bench merchant`.
type BenchMerchantOptions struct {
	DataDir     string
	Flows       int
	Concurrency int
	// Merchant is the merchant's VPA (its PSP's merchant API), Payer pays
	// its orders with PIN.
	Merchant, Payer, PIN string
	// Amount of each order, rupees.
	Amount string
	// EchoCalls is how many unary gRPC echo calls the baseline makes
	// after the flows (0: no baseline).
	EchoCalls int
	Output    Output
	// Progress, if set, is a terminal for bench's progress line.
	Progress io.Writer
	// ticks, if set, replaces Progress's one-second ticker (tests).
	ticks <-chan time.Time
}

// BenchMerchantResult is what `upisim bench merchant` prints: Bench's
// figures (the latency is from the order's creation to its paid webhook)
// and the receiver's count.
type BenchMerchantResult struct {
	BenchResult
	// WebhookURL is the receiver's, the merchant's endpoint during the run.
	WebhookURL string `json:"webhook_url"`
	// Webhooks are the verified deliveries of the run's orders (each
	// webhook-id once), Paid those that said the order SUCCESS.
	Webhooks int `json:"webhooks"`
	Paid     int `json:"paid_webhooks"`
	// Unverified are deliveries whose signature did not verify (answered
	// 400), Others verified ones of orders not the run's.
	Unverified      int `json:"unverified_webhooks"`
	Others          int `json:"other_webhooks"`
	MessagesPerFlow int `json:"messages_per_flow"`
}

// benchMerchantCall bounds each setup call to the merchant API.
const benchMerchantCall = 10 * time.Second

// BenchMerchant points o.Merchant's webhooks at a receiver of its own and
// times o.Flows orders, each created, paid and its paid webhook received,
// against the running network of o.DataDir.
func BenchMerchant(ctx context.Context, w io.Writer, o BenchMerchantOptions) (BenchMerchantResult, error) {
	res := BenchMerchantResult{MessagesPerFlow: MerchantMessagesPerFlow}
	if err := checkFlowFlags(o.Flows, o.Concurrency, o.EchoCalls); err != nil {
		return res, err
	}
	amount, err := checkParties(upi.Fields{Payer: "--payer", Payee: "--merchant", Parties: "payer and merchant"}, o.Payer, o.Merchant, o.Amount)
	if err != nil {
		return res, err
	}
	if err := checkPIN(o.PIN, "--pin is required: the payer's PIN"); err != nil {
		return res, err
	}
	c, err := Connect(o.DataDir)
	if err != nil {
		return res, err
	}
	defer c.Close()
	tp, err := c.TPAP()
	if err != nil {
		return res, err
	}
	cctx, cancel := context.WithTimeout(ctx, benchMerchantCall)
	api, mctx, m, err := c.Merchant(cctx, o.Merchant)
	cancel()
	if err != nil {
		return res, fmt.Errorf("--merchant %s: %w", o.Merchant, err)
	}
	secret, err := webhook.ParseSecret(m.GetWebhookSecret())
	if err != nil {
		return res, fmt.Errorf("merchant %s: %w (the network file's webhook_secret)", o.Merchant, err)
	}
	key, _ := metadata.FromOutgoingContext(mctx)
	withKey := func(ctx context.Context) context.Context { return metadata.NewOutgoingContext(ctx, key) }

	rcv := &webhookReceiver{secret: secret, orders: map[string]chan orderEvent{}, seen: map[string]bool{}}
	stop, url, err := rcv.serve()
	if err != nil {
		return res, err
	}
	defer stop()
	res.WebhookURL = url
	restore, err := pointWebhooks(ctx, api, withKey, o.Merchant, url)
	if err != nil {
		return res, err
	}
	// The endpoint goes back before the receiver stops (defers run last
	// first); after the flows, its error is the run's.
	var restoreOnce sync.Once
	var restoreErr error
	putBack := func() error {
		restoreOnce.Do(func() { restoreErr = restore() })
		return restoreErr
	}
	defer func() { _ = putBack() }()

	run, err := runFlows(ctx, flowBench{DataDir: o.DataDir, Flows: o.Flows, Concurrency: o.Concurrency, EchoCalls: o.EchoCalls,
		PerFlow: MerchantMessagesPerFlow, Progress: o.Progress, ticks: o.ticks},
		func(ctx context.Context, i int) (time.Duration, string, error) {
			return orderFlow(ctx, tp, api, withKey(ctx), rcv, o.Payer, o.Merchant, o.PIN, amount, i)
		})
	res.BenchResult = run.BenchResult
	res.Webhooks, res.Paid, res.Unverified, res.Others = rcv.counts()
	if rerr := putBack(); rerr != nil {
		return res, errors.Join(err, rerr)
	}
	if err != nil {
		return res, err
	}
	return res, o.Output.print(w, res, func(w io.Writer) error {
		printFlows(w, run, "orders paid", MerchantMessagesPerFlow)
		fmt.Fprintf(w, "webhooks: %d verified of the %d orders (%d paid) at %s, %d unverified, %d of other orders; p50/p99 are order create → paid webhook\n",
			res.Webhooks, res.Flows, res.Paid, res.WebhookURL, res.Unverified, res.Others)
		return nil
	})
}

// pointWebhooks sets merchant's webhook endpoint to url and returns what
// puts the one it replaced back.
func pointWebhooks(ctx context.Context, api merchantv1.MerchantServiceClient, withKey func(context.Context) context.Context, merchant, url string) (func() error, error) {
	cctx, cancel := context.WithTimeout(withKey(ctx), benchMerchantCall)
	prev, err := api.GetWebhookEndpoint(cctx, &merchantv1.GetWebhookEndpointRequest{})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("the webhook endpoint of %s: %w", merchant, rpcError(err))
	}
	cctx, cancel = context.WithTimeout(withKey(ctx), benchMerchantCall)
	_, err = api.SetWebhookEndpoint(cctx, &merchantv1.SetWebhookEndpointRequest{Url: url})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("set the webhook endpoint of %s: %w", merchant, rpcError(err))
	}
	return func() error {
		cctx, cancel := context.WithTimeout(withKey(context.WithoutCancel(ctx)), benchMerchantCall)
		defer cancel()
		if _, err := api.SetWebhookEndpoint(cctx, &merchantv1.SetWebhookEndpointRequest{Url: prev.GetUrl()}); err != nil {
			return fmt.Errorf("put back the webhook endpoint of %s (%s): %w", merchant, orNone(prev.GetUrl()), rpcError(err))
		}
		return nil
	}, nil
}

// orderFlow is one timed flow: order i created, paid by payer, and its
// paid webhook received; the time is from the create to the webhook.
func orderFlow(ctx context.Context, tp upiv1.TpapAppServiceClient, api merchantv1.MerchantServiceClient, mctx context.Context,
	rcv *webhookReceiver, payer, merchant, pin string, amount int64, i int) (time.Duration, string, error) {
	t0 := time.Now()
	ord, err := api.CreateOrder(mctx, &merchantv1.CreateOrderRequest{AmountCents: amount, Currency: "INR",
		Receipt: fmt.Sprintf("bench-%d", i), Description: "bench merchant", AutoRetry: proto.Bool(false)})
	if err != nil {
		return 0, "", fmt.Errorf("create an order: %w", err)
	}
	id := ord.GetOrderId()
	events := rcv.expect(id)
	defer rcv.done(id)
	cr, err := tp.CreatePayment(ctx, &upiv1.CreatePaymentRequest{PayerVpa: payer, PayeeVpa: merchant, AmountPaise: amount,
		Pin: pin, Note: "bench merchant", RefId: id})
	if err != nil {
		return 0, "", fmt.Errorf("pay order %s: %w", id, err)
	}
	timer := time.NewTimer(flowWait)
	defer timer.Stop()
	for {
		select {
		case ev := <-events:
			switch {
			case ev.status == "SUCCESS":
				return ev.at.Sub(t0), "", nil
			case ev.terminal:
				return ev.at.Sub(t0), strings.TrimSpace("order " + ev.status + " " + ev.errCode), nil
			}
		case <-timer.C:
			return 0, "", fmt.Errorf("no paid webhook of order %s (payment %s) within %s", id, cr.GetTxnId(), flowWait)
		case <-ctx.Done():
			return 0, "", ctx.Err()
		}
	}
}

// orderEvent is a verified transaction.status webhook of an order: when
// it came and what it said.
type orderEvent struct {
	at              time.Time
	status, errCode string
	terminal        bool
}

// webhookReceiver is bench merchant's webhook endpoint: it verifies each
// delivery's signature, counts it once per webhook-id, and hands the
// run's orders' events to their flows.
type webhookReceiver struct {
	secret webhook.Secret

	mu sync.Mutex // orders, seen
	// orders are the run's orders: the channel of a flow still waiting,
	// nil once it ended.
	orders map[string]chan orderEvent
	seen   map[string]bool

	webhooks, paid, unverified, others atomic.Int64
}

// serve starts serving on a loopback port the OS chooses: the webhook URL
// and what stops it.
func (r *webhookReceiver) serve() (stop func(), url string, err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("the webhook receiver: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(listenPath, r)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close()
		}
		<-served
	}, "http://" + l.Addr().String() + listenPath, nil
}

// expect registers order id as the run's, its events to the channel it
// returns until done(id).
func (r *webhookReceiver) expect(id string) <-chan orderEvent {
	ch := make(chan orderEvent, 16)
	r.mu.Lock()
	r.orders[id] = ch
	r.mu.Unlock()
	return ch
}

func (r *webhookReceiver) done(id string) {
	r.mu.Lock()
	r.orders[id] = nil
	r.mu.Unlock()
}

func (r *webhookReceiver) counts() (webhooks, paid, unverified, others int) {
	return int(r.webhooks.Load()), int(r.paid.Load()), int(r.unverified.Load()), int(r.others.Load())
}

func (r *webhookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST webhooks here", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxWebhookBody))
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	if err := r.secret.Verify(req.Header, body, now); err != nil {
		r.unverified.Add(1)
		http.Error(w, "webhook not verified: "+err.Error(), http.StatusBadRequest)
		return
	}
	ev := &merchantv1.WebhookEvent{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, ev); err != nil {
		// Signed by the merchant's PSP, but not an event: answered 200, as
		// the PSP would only send it again.
		r.others.Add(1)
		w.WriteHeader(http.StatusOK)
		return
	}
	d := ev.GetData()
	r.mu.Lock()
	repeat := r.seen[req.Header.Get(webhook.HeaderID)]
	r.seen[req.Header.Get(webhook.HeaderID)] = true
	ch, ours := r.orders[d.GetOrderId()]
	r.mu.Unlock()
	switch {
	case repeat:
	case !ours:
		r.others.Add(1)
	default:
		r.webhooks.Add(1)
		if d.GetTransactionStatus() == "SUCCESS" {
			r.paid.Add(1)
		}
		if ch != nil && ev.GetType() == "transaction.status" {
			select {
			case ch <- orderEvent{at: now, status: d.GetTransactionStatus(), errCode: d.GetErrCode(), terminal: d.GetTerminal()}:
			default:
				// The flow has 16 events waiting unread: it reads the
				// one that ends it among them.
			}
		}
	}
	w.WriteHeader(http.StatusOK)
}
