package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	merchantv1 "github.com/upisim/upisim/gen/go/upisim/merchant/v1"
	"github.com/upisim/upisim/internal/config"
)

// The merchant layer in a crash test: a worker creates orders of
// chai@beta at betapsp's merchant API and pays each from shopper through
// the TPAP with the order's id as ref_id, while a node is killed. Every
// fourth order is paid twice and every third with another amount (edge
// cases: HOLD, or refunded at once with auto-refund, on every other
// order). Once settled, every payment's outcome is an attempt of its
// order, the orders follow the status model, and shopper and chai moved
// by exactly the payments less the refunds.

const (
	shopper      = "shopper@alpha"
	shopMerchant = "chai@beta"
	orderPaise   = 250
	shopPIN      = "1234"
)

func addShopper(netw *config.Network) {
	netw.Users = append(netw.Users, config.User{VPA: shopper, Name: "Shopper", Bank: "abank", Account: "1000000301", Balance: 500000, PIN: shopPIN})
}

// orderPay is one payment the TPAP accepted for an order.
type orderPay struct{ order, txn string }

type orderPays struct {
	t     *testing.T
	data  string
	key   string // chai@beta's API key
	tpap  atomic.Pointer[upiv1.TpapAppServiceClient]
	shop  merchantv1.MerchantServiceClient
	conns []*grpc.ClientConn

	mu       sync.Mutex
	orders   []string
	accepted []orderPay
	stopped  chan struct{}
	wg       sync.WaitGroup
	errs     atomic.Int64
	lastErr  atomic.Value
}

func startOrderPays(t *testing.T, netw *config.Network, data, tpapAddr, pspAddr string) *orderPays {
	t.Helper()
	o := &orderPays{t: t, data: data, stopped: make(chan struct{})}
	for _, m := range netw.Merchants {
		if m.VPA == shopMerchant {
			o.key = m.APIKey
		}
	}
	require.NotEmpty(t, o.key)
	for _, addr := range []string{tpapAddr, pspAddr} {
		conn, err := grpc.NewClient(addr, appCreds(t, data), fastReconnect)
		require.NoError(t, err)
		o.conns = append(o.conns, conn)
	}
	tp := upiv1.NewTpapAppServiceClient(o.conns[0])
	o.tpap.Store(&tp)
	o.shop = merchantv1.NewMerchantServiceClient(o.conns[1])
	o.wg.Add(1)
	go o.work()
	t.Cleanup(o.stop)
	return o
}

func (o *orderPays) stop() {
	select {
	case <-o.stopped:
	default:
		close(o.stopped)
	}
	o.wg.Wait()
}

func (o *orderPays) close() {
	o.stop()
	for _, c := range o.conns {
		c.Close()
	}
}

// fail counts a call that failed while a node was down, and waits a
// little (or until stopped) before the next.
func (o *orderPays) fail(err error) {
	o.errs.Add(1)
	o.lastErr.Store(err.Error())
	select {
	case <-o.stopped:
	case <-time.After(20 * time.Millisecond):
	}
}

func (o *orderPays) ctx(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+o.key), cancel
}

func (o *orderPays) done() bool {
	select {
	case <-o.stopped:
		return true
	default:
		return false
	}
}

func (o *orderPays) work() {
	defer o.wg.Done()
	for i := 0; !o.done(); i++ {
		ctx, cancel := o.ctx(10 * time.Second)
		ord, err := o.shop.CreateOrder(ctx, &merchantv1.CreateOrderRequest{
			AmountCents: orderPaise, Description: "crash test", AutoRefund: boolPtr(i%2 == 0),
		})
		cancel()
		if err != nil {
			o.fail(err)
			continue
		}
		o.mu.Lock()
		o.orders = append(o.orders, ord.GetOrderId())
		o.mu.Unlock()
		pays := 1
		if i%4 == 3 {
			pays = 2
		}
		for p := 0; p < pays && !o.done(); {
			amount := int64(orderPaise)
			if i%3 == 2 {
				amount = orderPaise - 50
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			r, err := (*o.tpap.Load()).CreatePayment(ctx, &upiv1.CreatePaymentRequest{
				PayerVpa: shopper, PayeeVpa: shopMerchant, AmountPaise: amount, Note: "order", Pin: shopPIN, RefId: ord.GetOrderId(),
			})
			cancel()
			if err != nil {
				o.fail(err)
				continue // the same order again
			}
			p++
			o.mu.Lock()
			o.accepted = append(o.accepted, orderPay{ord.GetOrderId(), r.GetTxnId()})
			o.mu.Unlock()
			ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = (*o.tpap.Load()).GetPayment(ctx, &upiv1.GetPaymentRequest{TxnId: r.GetTxnId(), WaitMs: 3000})
			cancel()
		}
	}
}

func boolPtr(b bool) *bool { return &b }

// check runs once the network is settled (checkSettled).
func (o *orderPays) check(t *testing.T, nw network, open opening) {
	t.Helper()
	o.close()
	t.Logf("order load: %d orders, %d payments accepted, %d calls failed during the crashes (the last: %v)",
		len(o.orders), len(o.accepted), o.errs.Load(), o.lastErr.Load())
	conn, err := grpc.NewClient(nw.tpap, appCreds(t, nw.dataDir), fastReconnect)
	require.NoError(t, err)
	defer conn.Close()
	tp := upiv1.NewTpapAppServiceClient(conn)
	shopConn, err := grpc.NewClient(nw.betapsp, appCreds(t, nw.dataDir), fastReconnect)
	require.NoError(t, err)
	defer shopConn.Close()
	shop := merchantv1.NewMerchantServiceClient(shopConn)

	// Every order is settled: no attempt PENDING or DEEMED, no refund
	// on its way.
	views := map[string]*merchantv1.Order{}
	var open1 string
	pollUntil(t, 100*time.Millisecond, func() bool {
		open1 = ""
		for _, id := range o.orders {
			ctx, cancel := o.ctx(5 * time.Second)
			v, err := shop.GetOrder(ctx, &merchantv1.GetOrderRequest{OrderId: id})
			cancel()
			if err != nil {
				open1 = fmt.Sprintf("order %s: %v", id, err)
				return false
			}
			views[id] = v
			for _, a := range v.GetAttempts() {
				if a.GetTransactionAttemptStatus() == "PENDING" || a.GetTransactionAttemptStatus() == "DEEMED" {
					open1 = fmt.Sprintf("attempt %s of %s is %s", a.GetAttemptId(), id, a.GetTransactionAttemptStatus())
				}
			}
			for _, r := range v.GetRefunds() {
				if r.GetRefundStatus() == "REFUND_INITIATED" {
					open1 = fmt.Sprintf("refund %s of %s is on its way", r.GetRefundId(), id)
				}
			}
		}
		return open1 == ""
	}, func() string { return "orders not settled: " + open1 })

	// Each accepted payment: SUCCESS is an attempt SUCCESS or HOLD of its
	// order; FAILURE none, or a FAILED one.
	attempts := map[string]*merchantv1.Attempt{}
	for _, v := range views {
		for _, a := range v.GetAttempts() {
			if a.GetTxnId() != "" {
				attempts[a.GetTxnId()] = a
			}
		}
	}
	for _, p := range o.accepted {
		r, err := tp.GetPayment(context.Background(), &upiv1.GetPaymentRequest{TxnId: p.txn})
		require.NoError(t, err)
		att := attempts[p.txn]
		switch r.GetStatus() {
		case upiv1.Resp_SUCCESS:
			if assert.NotNil(t, att, "the SUCCESS payment %s is an attempt of order %s", p.txn, p.order) {
				assert.Contains(t, []string{"SUCCESS", "HOLD"}, att.GetTransactionAttemptStatus(), p.txn)
			}
		case upiv1.Resp_FAILURE:
			if att != nil {
				assert.Equal(t, "FAILED", att.GetTransactionAttemptStatus(), p.txn)
			}
		default:
			t.Errorf("payment %s is %s at the TPAP", p.txn, r.GetStatus())
		}
	}
	// Every SUCCESS payment of the shopper at the switch (also those whose
	// CreatePayment answer a crash lost) is a paid attempt, and so the
	// money: the shopper paid exactly the paid attempts.
	txns, err := listTxns(context.Background(), admin(t, nw.dataDir, nw.npci))
	require.NoError(t, err)
	var paid, refunded int64
	for _, x := range txns {
		if x.GetType() != upiv1.Txn_PAY || x.GetPayerVpa() != shopper || x.GetStatus() != upiv1.Resp_SUCCESS {
			continue
		}
		paid += x.GetAmountPaise()
		a := attempts[x.GetTxnId()]
		if assert.NotNil(t, a, "the switch's SUCCESS payment %s of the shopper is an attempt", x.GetTxnId()) {
			assert.Contains(t, []string{"SUCCESS", "HOLD"}, a.GetTransactionAttemptStatus(), x.GetTxnId())
			assert.Equal(t, x.GetAmountPaise(), a.GetAmountCents(), x.GetTxnId())
		}
	}
	for id, v := range views {
		for _, r := range v.GetRefunds() {
			if r.GetRefundStatus() == "REFUNDED" {
				refunded += r.GetAmountCents()
			}
		}
		var success, edge int
		for _, a := range v.GetAttempts() {
			switch {
			case a.GetTransactionAttemptStatus() == "SUCCESS" && a.GetEdgeCase() == "":
				success++
			case a.GetEdgeCase() != "":
				edge++
			}
		}
		assert.LessOrEqual(t, success, 1, "order %s: one payment is the order's, the others edge cases", id)
		if success == 1 {
			assert.Equal(t, "SUCCESS", v.GetTransactionStatus(), "order %s", id)
		}
	}
	assert.Equal(t, open.users[shopper]-paid+refunded, balance(t, nw.dataDir, nw.abank, shopper), "the shopper paid exactly the payments less the refunds")
	assert.Equal(t, open.users[shopMerchant]+paid-refunded, balance(t, nw.dataDir, nw.bbank, shopMerchant), "chai got exactly the payments less the refunds")
}
