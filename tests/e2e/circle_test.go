package e2e

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/upi"
)

// linkLoad links carol@beta to alice@alpha (partial), over and over, while
// a crash test kills nodes: each round creates the link, waits for the
// invite, accepts it, waits for LINKED, removes it and waits for DELINKED.
// Calls that fail while a node is down are tried again; a link is left to
// the next round once its wait runs out, and the checks afterwards find
// every link settled and both PSPs agreeing.
type linkLoad struct {
	t       *testing.T
	tp      upiv1.TpapAppServiceClient
	mu      sync.Mutex
	ids     []string
	linked  int // rounds that saw LINKED
	stopped chan struct{}
	done    chan struct{}
}

func startLinks(t *testing.T, data, tpapAddr string) *linkLoad {
	conn, err := grpc.NewClient(tpapAddr, appCreds(t, data), fastReconnect)
	require.NoError(t, err)
	l := &linkLoad{t: t, tp: upiv1.NewTpapAppServiceClient(conn), stopped: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	t.Cleanup(func() { l.stop(); conn.Close() })
	return l
}

const linkPrimary, linkSecondary = "alice@alpha", "carol@beta"

// retry waits, up to within, for f to succeed: it calls f again each
// tick while a node is down or the link is not yet where f wants it. A
// round that has begun runs to its end even once the load is told to
// stop, so that no link is left waiting for an answer the load would have
// given.
func (l *linkLoad) retry(within time.Duration, f func(ctx context.Context) error) bool {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return true
		}
		select {
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
}

// status waits until the link's status (as PSP(P) sees it) is one of want.
func (l *linkLoad) status(id string, within time.Duration, want ...upiv1.CircleLink_Status) bool {
	return l.retry(within, func(ctx context.Context) error {
		r, err := l.tp.GetCircleLink(ctx, &upiv1.GetCircleLinkRequest{LinkId: id})
		if err != nil {
			return err
		}
		for _, w := range want {
			if r.GetLink().GetStatus() == w {
				return nil
			}
		}
		return context.DeadlineExceeded
	})
}

func (l *linkLoad) run() {
	defer close(l.done)
	for {
		select {
		case <-l.stopped:
			return
		default:
		}
		var id string
		if !l.retry(20*time.Second, func(ctx context.Context) error {
			r, err := l.tp.CreateCircleLink(ctx, &upiv1.CreateCircleLinkRequest{PrimaryVpa: linkPrimary, SecondaryVpa: linkSecondary, Mode: upiv1.Delegate_PARTIAL})
			if err == nil {
				id = r.GetLink().GetLinkId()
			}
			return err
		}) {
			continue
		}
		l.mu.Lock()
		l.ids = append(l.ids, id)
		l.mu.Unlock()
		invited := l.retry(20*time.Second, func(ctx context.Context) error {
			r, err := l.tp.ListCircleInvites(ctx, &upiv1.ListCircleInvitesRequest{Vpa: linkSecondary})
			if err != nil {
				return err
			}
			for _, lk := range r.GetLinks() {
				if lk.GetLinkId() == id {
					return nil
				}
			}
			return context.DeadlineExceeded
		})
		if !invited {
			// Refused by the switch (CS while an earlier link settles) or
			// not yet there: wait for it to end before the next round.
			l.status(id, 20*time.Second, upiv1.CircleLink_FAILED, upiv1.CircleLink_DECLINED, upiv1.CircleLink_EXPIRED, upiv1.CircleLink_LINKED)
			l.remove(id)
			continue
		}
		l.retry(20*time.Second, func(ctx context.Context) error {
			_, err := l.tp.AcceptCircleLink(ctx, &upiv1.AcceptCircleLinkRequest{LinkId: id})
			return err
		})
		if l.status(id, 20*time.Second, upiv1.CircleLink_LINKED) {
			l.mu.Lock()
			l.linked++
			l.mu.Unlock()
		}
		l.remove(id)
	}
}

// remove removes a LINKED link and waits for DELINKED; a link in another
// state is left as it is.
func (l *linkLoad) remove(id string) {
	if !l.status(id, time.Second, upiv1.CircleLink_LINKED) {
		return
	}
	l.retry(20*time.Second, func(ctx context.Context) error {
		_, err := l.tp.RemoveCircleLink(ctx, &upiv1.RemoveCircleLinkRequest{LinkId: id})
		return err
	})
	l.status(id, 20*time.Second, upiv1.CircleLink_DELINKED)
}

func (l *linkLoad) stop() {
	select {
	case <-l.stopped:
	default:
		close(l.stopped)
	}
	<-l.done
}

// checkLinks stops the load and checks that every link it made has
// settled (nothing LINK_PENDING at PSP(P) once the network is quiet) and
// that PSP(S) says the same of each (the audit checks it across every
// node too).
func (l *linkLoad) checkLinks(t *testing.T) {
	t.Helper()
	l.stop()
	l.mu.Lock()
	ids, linked := append([]string(nil), l.ids...), l.linked
	l.mu.Unlock()
	t.Logf("links: %d made, %d seen LINKED", len(ids), linked)
	require.NotEmpty(t, ids, "the link load made no link")
	for _, id := range ids {
		var last *upiv1.CircleLink
		require.Eventually(t, func() bool {
			r, err := l.tp.GetCircleLink(context.Background(), &upiv1.GetCircleLinkRequest{LinkId: id})
			if err != nil {
				return false
			}
			last = r.GetLink()
			return last.GetStatus() != upiv1.CircleLink_LINK_PENDING
		}, time.Minute, 50*time.Millisecond, "link %s settles", id)
		// PSP(S)'s record, where it has one, comes to say the same.
		var seen upiv1.CircleLink_Status
		assert.Eventually(t, func() bool {
			secondary, err := l.tp.ListCircleLinks(context.Background(), &upiv1.ListCircleLinksRequest{Vpa: linkSecondary})
			if err != nil {
				return false
			}
			for _, s := range secondary.GetLinks() {
				if s.GetLinkId() == id {
					seen = s.GetStatus()
					return seen == last.GetStatus()
				}
			}
			return true // none: a link PSP(S) never heard of (refused by the switch)
		}, time.Minute, 50*time.Millisecond, "link %s: PSP(P) says %s, PSP(S) %s", id, last.GetStatus(), seen)
	}
}

// The users of the delegated payments the crash tests make: a primary of
// her own (the pay load's alice and bob keep their exact checks), a
// secondary under a full link, one under a partial link, and the payee.
const (
	circlePrimary    = "priya@alpha"
	fullSecondary    = "sam@beta"
	partialSecondary = "pat@beta"
	circlePayee      = "vendor@beta"
	circlePIN        = "1234"
	// circlePaise is what each delegated payment moves: ₹1.00, so the
	// links' limits (and the first day's) are never reached.
	circlePaise = 100
	// circleLimit is the full link's monthly limit.
	circleLimit = 1500000
)

// addCircleUsers adds the delegated payments' users to netw.
func addCircleUsers(netw *config.Network) {
	netw.Users = append(netw.Users,
		config.User{VPA: circlePrimary, Name: "Priya", Bank: "abank", Account: "1000000201", Balance: 500000, PIN: circlePIN},
		config.User{VPA: fullSecondary, Name: "Sam", Bank: "bbank", Account: "2000000201", Balance: 100000, PIN: circlePIN},
		config.User{VPA: partialSecondary, Name: "Pat", Bank: "bbank", Account: "2000000202", Balance: 100000, PIN: circlePIN},
		config.User{VPA: circlePayee, Name: "Vendor", Bank: "bbank", Account: "2000000203", Balance: 0, PIN: circlePIN})
}

// circlePays is a load of delegated payments through the TPAP while a
// crash test kills nodes: workers pay circlePayee ₹1.00 as fullSecondary
// (full delegation: no one approves) and as partialSecondary (partial:
// the test approves each with the primary's PIN, trying again while a
// node is down). Errors while a node is down are counted; payments whose
// answer was lost are found at PSP(S) by the checks.
type circlePays struct {
	t             *testing.T
	data          string
	tpap          atomic.Pointer[upiv1.TpapAppServiceClient]
	full, partial string // link ids

	mu       sync.Mutex
	conns    []*grpc.ClientConn
	accepted map[string]string // txn id → secondary

	errs    atomic.Int64
	lastErr atomic.Value // string
	stopped chan struct{}
	wg      sync.WaitGroup
}

// startCirclePays links both secondaries to the primary (before any kill)
// and starts the workers.
func startCirclePays(t *testing.T, data, tpapAddr string) *circlePays {
	t.Helper()
	c := &circlePays{t: t, data: data, accepted: map[string]string{}, stopped: make(chan struct{})}
	c.retarget(tpapAddr)
	tp := *c.tpap.Load()
	c.full = linkUp(t, tp, circlePrimary, fullSecondary, upiv1.Delegate_FULL, circleLimit, circlePIN).GetLinkId()
	c.partial = linkUp(t, tp, circlePrimary, partialSecondary, upiv1.Delegate_PARTIAL, 0, "").GetLinkId()
	for _, w := range []string{fullSecondary, fullSecondary, partialSecondary} {
		c.wg.Add(1)
		go c.work(w)
	}
	t.Cleanup(c.stop)
	return c
}

func (c *circlePays) retarget(addr string) {
	conn, err := grpc.NewClient(addr, appCreds(c.t, c.data), fastReconnect)
	require.NoError(c.t, err)
	cl := upiv1.NewTpapAppServiceClient(conn)
	c.mu.Lock()
	c.conns = append(c.conns, conn)
	c.mu.Unlock()
	c.tpap.Store(&cl)
}

func (c *circlePays) pause(d time.Duration) bool {
	select {
	case <-c.stopped:
		return false
	case <-time.After(d):
		return true
	}
}

func (c *circlePays) fail(err error) {
	c.errs.Add(1)
	c.lastErr.Store(err.Error())
}

func (c *circlePays) work(secondary string) {
	defer c.wg.Done()
	for {
		select {
		case <-c.stopped:
			return
		default:
		}
		tp := *c.tpap.Load()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, err := tp.CreateCirclePayment(ctx, &upiv1.CreateCirclePaymentRequest{
			SecondaryVpa: secondary, PayeeVpa: circlePayee, AmountPaise: circlePaise, Note: "crash test circle",
		})
		cancel()
		if err != nil {
			c.fail(err)
			if !c.pause(20 * time.Millisecond) {
				return
			}
			continue
		}
		id := r.GetTxnId()
		c.mu.Lock()
		c.accepted[id] = secondary
		c.mu.Unlock()
		if secondary == partialSecondary {
			c.approve(id)
		}
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = (*c.tpap.Load()).GetPayment(ctx, &upiv1.GetPaymentRequest{TxnId: id, WaitMs: 3000})
		cancel()
	}
}

// approve approves the partial payment id with the primary's PIN, trying
// again while it is not yet waiting for her (its ReqDelegateAuth on the
// way) or a node is down, until the TPAP takes the approval or the
// payment has ended; after the load stops, drain approves what is left.
func (c *circlePays) approve(id string) {
	for {
		tp := *c.tpap.Load()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := tp.ApproveCirclePayment(ctx, &upiv1.ApproveCirclePaymentRequest{TxnId: id, Pin: circlePIN})
		cancel()
		if err == nil {
			return
		}
		c.fail(err)
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		g, gerr := tp.GetPayment(ctx, &upiv1.GetPaymentRequest{TxnId: id})
		cancel()
		if gerr == nil && isFinal(g.GetStatus()) {
			return
		}
		if !c.pause(50 * time.Millisecond) {
			return
		}
	}
}

// stop stops the workers and closes their connections.
func (c *circlePays) stop() {
	select {
	case <-c.stopped:
		return
	default:
	}
	close(c.stopped)
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cn := range c.conns {
		cn.Close()
	}
	c.conns = nil
}

func (c *circlePays) summary() string {
	c.mu.Lock()
	n := len(c.accepted)
	c.mu.Unlock()
	s := fmt.Sprintf("%d delegated payments accepted, %d calls failed during the crashes", n, c.errs.Load())
	if e, ok := c.lastErr.Load().(string); ok {
		s += " (the last: " + e + ")"
	}
	return s
}

// drain stops the load and, until every delegated payment PSP(S) and
// PSP(P) know is final there, approves every payment waiting for the
// primary (those the workers had not approved when the load stopped,
// those whose CreateCirclePayment answer was lost, and those that reached
// PSP(P) only after the switch had ended them, which end U07 once
// approved).
func (c *circlePays) drain(t *testing.T, nw network) {
	t.Helper()
	c.stop()
	t.Logf("circle load: %s", c.summary())
	conn, err := grpc.NewClient(nw.tpap, appCreds(t, nw.dataDir), fastReconnect)
	require.NoError(t, err)
	defer conn.Close()
	tp := upiv1.NewTpapAppServiceClient(conn)
	pspS, pspP := admin(t, nw.dataDir, nw.betapsp), admin(t, nw.dataDir, nw.alphapsp)
	var open string
	pollUntil(t, 100*time.Millisecond, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		open = ""
		var txns []*upiv1.TxnSummary
		txns, err = listTxns(ctx, pspS)
		for _, x := range txns {
			if x.GetSecondaryVpa() != "" && !isFinal(x.GetStatus()) {
				open = x.GetTxnId() + " at PSP(S)"
			}
		}
		if err == nil {
			txns, err = listTxns(ctx, pspP)
			for _, x := range txns {
				if x.GetPayerVpa() == circlePrimary && !isFinal(x.GetStatus()) {
					open = x.GetTxnId() + " at PSP(P)"
				}
			}
		}
		if err == nil && open == "" {
			return true
		}
		if ap, err := tp.ListCircleApprovals(ctx, &upiv1.ListCircleApprovalsRequest{Vpa: circlePrimary}); err == nil {
			for _, x := range ap.GetApprovals() {
				_, _ = tp.ApproveCirclePayment(ctx, &upiv1.ApproveCirclePaymentRequest{TxnId: x.GetTxnId(), Pin: circlePIN})
			}
		}
		return false
	}, func() string {
		return fmt.Sprintf("delegated payment %s still open after %s (%v)", open, settleWithin, err)
	})
}

// The codes a delegated payment may end with in a crash test: the
// timeouts of a pay (U09, U67, U68, U31; see checkSettled), and the
// switch refusing PSP(P)'s ReqPay or RespDelegateAuth after it had ended
// the payment U09 (PSP(P)'s record says U07).
var circleCrashCodes = []string{"U09", "U67", "U68", "U31", "U07"}

// check checks the delegated payments once the network is settled: each
// is final with the same status at the TPAP, PSP(S), PSP(P) (when it
// heard of it) and the switch, with a code of circleCrashCodes when it
// failed; the primary paid exactly the successful ones and the
// secondaries nothing; and each link's use at both PSPs is the sum of its
// successful payments.
func (c *circlePays) check(t *testing.T, nw network, atSwitch []*upiv1.TxnSummary, open opening) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), settleWithin)
	defer cancel()
	sw, lookups := map[string]*upiv1.TxnSummary{}, map[string]bool{}
	for _, x := range atSwitch {
		if x.GetType() == upiv1.Txn_VAL_ADD {
			lookups[x.GetTxnId()] = true
		}
		if x.GetPayerVpa() == circlePrimary {
			sw[x.GetTxnId()] = x
		}
	}
	byID := func(a upiv1.AdminServiceClient) map[string]*upiv1.TxnSummary {
		txns, err := listTxns(ctx, a)
		require.NoError(t, err)
		out := map[string]*upiv1.TxnSummary{}
		for _, x := range txns {
			out[x.GetTxnId()] = x
		}
		return out
	}
	atS, atP := byID(admin(t, nw.dataDir, nw.betapsp)), byID(admin(t, nw.dataDir, nw.alphapsp))
	conn, err := grpc.NewClient(nw.tpap, appCreds(t, nw.dataDir), fastReconnect)
	require.NoError(t, err)
	defer conn.Close()
	tp := upiv1.NewTpapAppServiceClient(conn)

	c.mu.Lock()
	accepted := maps.Clone(c.accepted)
	c.mu.Unlock()
	// endedAtLookup: PSP(S) ended the payment FAILURE before any
	// ReqDelegateAuth, its payee look-up unanswered in time (the switch
	// was down): the switch knows only the look-up, under its own id.
	endedAtLookup := func(id string) bool {
		s, ok := atS[id]
		return ok && lookups[ids.LookupTxnID(id)] && s.GetStatus() == upiv1.Resp_FAILURE && s.GetErrCode() == upi.CodeAuthTimeout
	}
	for id := range accepted {
		g, err := tp.GetPayment(ctx, &upiv1.GetPaymentRequest{TxnId: id})
		require.NoError(t, err, "GetPayment %s", id)
		x, ok := sw[id]
		if !ok && endedAtLookup(id) {
			assert.Equal(t, upiv1.Resp_FAILURE, g.GetStatus(), "payment %s: the TPAP and PSP(S) agree", id)
			continue
		}
		if assert.True(t, ok, "delegated payment %s is known at the switch", id) {
			assert.Equal(t, x.GetStatus(), g.GetStatus(), "payment %s: the TPAP and the switch agree", id)
		}
	}
	used := map[string]int64{}
	var paid int64
	var success, failure int
	codes := map[string]int{}
	for id, s := range atS {
		if s.GetSecondaryVpa() == "" {
			continue
		}
		x, ok := sw[id]
		if !ok && endedAtLookup(id) {
			_, atPrimary := atP[id]
			assert.False(t, atPrimary, "payment %s ended before PSP(P) heard of it", id)
			failure++
			codes[s.GetErrCode()]++
			continue
		}
		if !assert.True(t, ok, "PSP(S)'s delegated payment %s is known at the switch", id) {
			continue
		}
		assert.Equal(t, x.GetStatus(), s.GetStatus(), "payment %s: PSP(S) and the switch agree", id)
		if p, ok := atP[id]; ok {
			assert.Equal(t, x.GetStatus(), p.GetStatus(), "payment %s: PSP(P) (%s) and the switch (%s) agree", id, p.GetErrCode(), x.GetErrCode())
		}
		assert.Equal(t, int64(circlePaise), x.GetAmountPaise(), id)
		assert.Equal(t, circlePayee, x.GetPayeeVpa(), id)
		if x.GetStatus() != upiv1.Resp_SUCCESS {
			failure++
			codes[x.GetErrCode()]++
			assert.Contains(t, circleCrashCodes, x.GetErrCode(), "delegated payment %s failed for another reason than a crash:\n%s", id, traceOf(nw, id))
			continue
		}
		success++
		paid += x.GetAmountPaise()
		used[s.GetSecondaryVpa()] += x.GetAmountPaise()
	}
	for id := range sw {
		_, ok := atS[id]
		assert.True(t, ok, "the switch's delegated payment %s is known at PSP(S)", id)
	}
	t.Logf("%d delegated payments accepted by the TPAP, %d at the switch: %d SUCCESS (%s ₹%s, %s ₹%s), %d FAILURE %v",
		len(accepted), len(sw), success, fullSecondary, upi.FormatPaise(used[fullSecondary]),
		partialSecondary, upi.FormatPaise(used[partialSecondary]), failure, codes)
	assert.Positive(t, used[fullSecondary], "some payments under the full link went through")
	assert.Positive(t, used[partialSecondary], "some payments under the partial link went through")

	assert.Equal(t, open.users[circlePrimary]-paid, balance(t, nw.dataDir, nw.abank, circlePrimary), "the primary paid exactly the successful delegated payments")
	assert.Equal(t, open.users[circlePayee]+paid, balance(t, nw.dataDir, nw.bbank, circlePayee), "the payee got exactly them")
	for _, s := range []string{fullSecondary, partialSecondary} {
		assert.Equal(t, open.users[s], balance(t, nw.dataDir, nw.bbank, s), "secondary %s paid nothing of her own", s)
	}
	for _, l := range []struct{ id, secondary string }{{c.full, fullSecondary}, {c.partial, partialSecondary}} {
		p, err := tp.GetCircleLink(ctx, &upiv1.GetCircleLinkRequest{LinkId: l.id})
		require.NoError(t, err)
		assert.Equal(t, upiv1.CircleLink_LINKED, p.GetLink().GetStatus(), l.id)
		assert.Equal(t, used[l.secondary], p.GetLink().GetUsedPaise(), "PSP(P)'s use of %s's link is its successful payments", l.secondary)
		r, err := tp.ListCircleLinks(ctx, &upiv1.ListCircleLinksRequest{Vpa: l.secondary})
		require.NoError(t, err)
		var s *upiv1.CircleLink
		for _, x := range r.GetLinks() {
			if x.GetLinkId() == l.id {
				s = x
			}
		}
		if assert.NotNil(t, s, "PSP(S) has %s", l.id) {
			assert.Equal(t, used[l.secondary], s.GetUsedPaise(), "PSP(S)'s use of %s's link is its successful payments", l.secondary)
		}
	}
}
