package e2e

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
)

// UPI Lite in a crash test: payer phones on both banks pay the POS
// terminals of chai@beta offline and go online (a sync batch) again and
// again, the POS terminals go online and offline and sync, and a crafter
// resends what the phones hold as batches of their own (split, reordered,
// overlapping, and records already decided), straight to the payer's PSP.
// Meanwhile every node is SIGKILLed in turn and restarted. Once every
// device is online with nothing unsynced: each offline record the switch
// knows is posted exactly once at the remitter (LITEDEBIT) and the
// beneficiary (LITECREDIT), each record a phone made is SUCCESS or a
// documented FAILURE, the wallets, the LRN balances and chai's account
// are what the outcomes say, and `upisim audit` is clean.

const (
	liteEnablePaise = 200000 // each payer's wallet
	liteWaitMs      = 2000
)

type litePayer struct{ vpa, device, psp string }

var (
	litePayers = []litePayer{
		{"lp1@alpha", "lp1-phone", "alphapsp"}, {"lp2@alpha", "lp2-phone", "alphapsp"},
		{"lp3@beta", "lp3-phone", "betapsp"}, {"lp4@beta", "lp4-phone", "betapsp"},
	}
	litePOS = []string{"chai-pos", "chai-pos2", "chai-pos3"}
)

func addLitePayers(netw *config.Network) {
	for i, p := range litePayers {
		bank, ac := "abank", fmt.Sprintf("10000004%02d", i)
		if strings.HasSuffix(p.vpa, "@beta") {
			bank, ac = "bbank", fmt.Sprintf("20000004%02d", i)
		}
		netw.Users = append(netw.Users, config.User{VPA: p.vpa, Name: "Lite " + p.device, Bank: bank, Account: ac, Balance: 1000000, PIN: "1234"})
	}
	for i := range netw.Merchants {
		if netw.Merchants[i].VPA == chai {
			netw.Merchants[i].LiteDevices = slices.Clone(litePOS)
		}
	}
	netw.Lite.OfflineCount = 1000 // the phones sync often, but not on a schedule
}

// liteLoad is the devices' work while nodes die.
type liteLoad struct {
	t     *testing.T
	tpap  upiv1.TpapAppServiceClient
	psps  map[string]upiv1.PspAppServiceClient
	conns []*grpc.ClientConn

	mu      sync.Mutex
	made    map[string]string // provisional UTR → payer device, of every offline payment answered PENDING
	lrns    map[string]string // payer device → LRN
	seen    map[string][]*upiv1.LiteRecord
	stopped chan struct{}
	wg      sync.WaitGroup
	errs    atomic.Int64
	crafted atomic.Int64
	syncs   atomic.Int64
	lastErr atomic.Value
	// newOne is closed (and replaced, under mu) at each offline payment
	// made, for waitMade.
	newOne   chan struct{}
	accepted atomic.Int64
}

func startLiteLoad(t *testing.T, nw network, seed uint64) *liteLoad {
	t.Helper()
	l := &liteLoad{t: t, psps: map[string]upiv1.PspAppServiceClient{}, made: map[string]string{}, lrns: map[string]string{},
		seen: map[string][]*upiv1.LiteRecord{}, stopped: make(chan struct{}), newOne: make(chan struct{})}
	for _, addr := range []string{nw.tpap, nw.alphapsp, nw.betapsp} {
		conn, err := grpc.NewClient(addr, appCreds(t, nw.dataDir), fastReconnect)
		require.NoError(t, err)
		l.conns = append(l.conns, conn)
	}
	l.tpap = upiv1.NewTpapAppServiceClient(l.conns[0])
	l.psps["alphapsp"] = upiv1.NewPspAppServiceClient(l.conns[1])
	l.psps["betapsp"] = upiv1.NewPspAppServiceClient(l.conns[2])

	// Every phone gets its wallet before the crashes start.
	for _, p := range litePayers {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r, err := l.tpap.EnableLite(ctx, &upiv1.EnableLiteRequest{Vpa: p.vpa, DeviceId: p.device, AmountPaise: liteEnablePaise, Pin: "1234", WaitMs: 10000})
		cancel()
		require.NoError(t, err, p.device)
		require.Equal(t, upiv1.Resp_SUCCESS, r.GetStatus(), "%s: %v", p.device, r)
		l.lrns[p.device] = r.GetLrn()
	}
	for i, p := range litePayers {
		l.wg.Add(1)
		go l.payer(p, crashRand(seed, "lite payer "+p.device), i)
	}
	for _, pos := range litePOS {
		l.wg.Add(1)
		go l.pos(pos, crashRand(seed, "lite pos "+pos))
	}
	l.wg.Add(1)
	go l.crafter(crashRand(seed, "lite crafter"))
	t.Cleanup(l.stop)
	return l
}

func (l *liteLoad) fail(err error) {
	l.errs.Add(1)
	l.lastErr.Store(err.Error())
}

func (l *liteLoad) done() bool {
	select {
	case <-l.stopped:
		return true
	default:
		return false
	}
}

// pause paces a load goroutine: it waits d, or less when the load stops,
// and reports whether the load goes on.
func (l *liteLoad) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-l.stopped:
		return false
	case <-t.C:
		return true
	}
}

func (l *liteLoad) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

func (l *liteLoad) online(device string, on bool) bool {
	ctx, cancel := l.ctx()
	defer cancel()
	_, err := l.tpap.SetLiteOnline(ctx, &upiv1.SetLiteOnlineRequest{DeviceId: device, Online: on, WaitMs: liteWaitMs})
	if err != nil {
		l.fail(err)
		return false
	}
	if on {
		l.syncs.Add(1)
	}
	return true
}

// payer pays the POS terminals offline a few times, then goes online
// (its sync batch), over and over; the first payer pays while online as
// well (its records sync at once, racing the POS's own syncs).
func (l *liteLoad) payer(p litePayer, r *rand.Rand, i int) {
	defer l.wg.Done()
	for !l.done() {
		if i != 0 && !l.online(p.device, false) {
			l.pause(20 * time.Millisecond) // the TPAP is down: try again
			continue
		}
		for range 2 + r.IntN(5) {
			if l.done() {
				return
			}
			ctx, cancel := l.ctx()
			res, err := l.tpap.PayLite(ctx, &upiv1.PayLiteRequest{DeviceId: p.device, PayeeVpa: chai,
				PayeeDeviceId: litePOS[r.IntN(len(litePOS))], AmountPaise: int64(100 + r.IntN(400)), WaitMs: liteWaitMs})
			cancel()
			if err != nil {
				l.fail(err) // the TPAP is down: wait a little
				l.pause(20 * time.Millisecond)
				break
			}
			if utr := res.GetProvisionalUtr(); utr != "" {
				l.mu.Lock()
				l.made[utr] = p.device
				l.accepted.Add(1)
				close(l.newOne)
				l.newOne = make(chan struct{})
				l.mu.Unlock()
			} else {
				l.fail(fmt.Errorf("%s: offline payment %v", p.device, res))
			}
		}
		l.online(p.device, true)
	}
}

// pos goes online (a sync) and offline at random, and syncs while online.
func (l *liteLoad) pos(device string, r *rand.Rand) {
	defer l.wg.Done()
	for !l.done() {
		on := r.IntN(3) != 0
		if !l.online(device, on) {
			l.pause(20 * time.Millisecond)
			continue
		}
		if on && r.IntN(2) == 0 {
			ctx, cancel := l.ctx()
			if _, err := l.tpap.SyncLite(ctx, &upiv1.TpapAppServiceSyncLiteRequest{DeviceId: device, WaitMs: liteWaitMs}); err != nil {
				l.fail(err)
			}
			cancel()
			l.syncs.Add(1)
		}
		l.pause(time.Duration(10+r.IntN(60)) * time.Millisecond)
	}
}

// crafter reads a phone's unsynced records and sends some of every record
// it has seen of that phone (decided or not) as a batch of its own, in a
// random order, through the phone's PSP as the phone's app would.
func (l *liteLoad) crafter(r *rand.Rand) {
	defer l.wg.Done()
	for !l.done() {
		p := litePayers[r.IntN(len(litePayers))]
		ctx, cancel := l.ctx()
		w, err := l.tpap.GetLiteWallet(ctx, &upiv1.GetLiteWalletRequest{DeviceId: p.device})
		cancel()
		if err != nil {
			l.fail(err)
			l.pause(20 * time.Millisecond)
			continue
		}
		l.mu.Lock()
		for _, u := range w.GetUnsynced() {
			rec := u.GetRecord()
			if u.GetDirection() == "SENT" && !slices.ContainsFunc(l.seen[p.device], func(x *upiv1.LiteRecord) bool { return x.GetCounter() == rec.GetCounter() }) {
				l.seen[p.device] = append(l.seen[p.device], rec)
			}
		}
		pool := slices.Clone(l.seen[p.device])
		l.mu.Unlock()
		if len(pool) > 0 {
			r.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
			batch := pool[:1+r.IntN(min(len(pool), 8))]
			ctx, cancel := l.ctx()
			_, err := l.psps[p.psp].SyncLite(ctx, &upiv1.SyncLiteRequest{UserVpa: p.vpa, DeviceId: p.device, Lrn: w.GetLrn(),
				DeviceBalancePaise: w.GetDeviceBalancePaise(), Records: batch})
			cancel()
			if err != nil {
				l.fail(err)
			} else {
				l.crafted.Add(1)
			}
		}
		l.pause(time.Duration(10+r.IntN(40)) * time.Millisecond)
	}
}

// waitMade waits (up to 20 s) until n offline payments were made.
func (l *liteLoad) waitMade(n int64) {
	deadline := time.After(20 * time.Second)
	for {
		l.mu.Lock()
		got, ch := l.accepted.Load(), l.newOne
		l.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			return
		}
	}
}

func (l *liteLoad) stop() {
	select {
	case <-l.stopped:
		return
	default:
	}
	close(l.stopped)
	l.wg.Wait()
	for _, c := range l.conns {
		c.Close()
	}
}

func (l *liteLoad) summary() string {
	last, _ := l.lastErr.Load().(string)
	return fmt.Sprintf("%d offline payments made, %d syncs, %d crafted batches, %d errors (last: %s)",
		l.accepted.Load(), l.syncs.Load(), l.crafted.Load(), l.errs.Load(), last)
}

// liteFailures are the documented codes an offline record may fail with
// (docs/FLOWS.md, UPI Lite and Lite X, "Sync"): the remitter's checks, and
// the payee PSP's ReqAuthDetails refused (U29) or unanswered in its
// timeout (U09, e.g. the PSP was down).
var liteFailures = []string{"LQ", "LR", "LC", "LD", "Z8", "Z9", "U29", "U09"}

// TestCrashLite runs the default network as six `upisim node` processes
// with Lite sync batches in flight and SIGKILLs each node in turn (the
// switch, the remitter abank, the beneficiary bbank, both PSPs and the
// TPAP), restarting it after a random while.
func TestCrashLite(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and starts processes")
	}
	seed := crashSeed(t)
	rng := crashRand(seed, "lite")
	bin := buildBinary(t)
	netw := config.Default()
	addLitePayers(netw)
	open := openingOf(t, netw)
	n := startNodes(t, bin, netw, "--response-timeout", responseTimeout(t, rng).String())
	nw := n.nw
	began := time.Now()
	l := startLiteLoad(t, nw, seed)
	for _, victim := range []string{"npci", "abank", "bbank", "alphapsp", "betapsp", "tpap"} {
		l.waitMade(l.accepted.Load() + 12)
		wait := between(rng, 20*time.Millisecond, 300*time.Millisecond)
		time.Sleep(wait)
		v := n.procs[victim]
		v.kill()
		down := between(rng, 0, 600*time.Millisecond)
		t.Logf("SIGKILL %s after %s, down for %s: %s", victim, wait, down, l.summary())
		time.Sleep(down)
		v.start()
		if rng.IntN(3) == 0 {
			again := between(rng, 0, 200*time.Millisecond)
			time.Sleep(again)
			v.kill()
			t.Logf("SIGKILL %s again %s after its restart", victim, again)
			v.start()
		}
		v.waitHealthy(n.addr(t, victim))
	}
	l.waitMade(l.accepted.Load() + 8)
	l.stop()
	t.Logf("lite load over %s: %s", time.Since(began).Round(time.Millisecond), l.summary())
	checkLite(t, nw, l, open)
	n.stop()
}

// checkLite brings every device online until none holds an unsynced
// record and the audit finds nothing open, then checks each record's
// outcome against the postings and the balances.
func checkLite(t *testing.T, nw network, l *liteLoad, open opening) {
	t.Helper()
	tp := app(t, nw)
	devices := slices.Clone(litePOS)
	for _, p := range litePayers {
		devices = append(devices, p.device)
	}
	wallets := map[string]*upiv1.LiteWallet{}
	var rep auditReport
	var raw string
	pollUntil(t, 100*time.Millisecond, func() bool {
		for _, d := range devices {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			r, err := tp.SetLiteOnline(ctx, &upiv1.SetLiteOnlineRequest{DeviceId: d, Online: true, WaitMs: 5000})
			cancel()
			if err != nil || len(r.GetWallet().GetUnsynced()) > 0 {
				return false
			}
			wallets[d] = r.GetWallet()
		}
		rep, raw = audit(t, nw.bin, nw.dataDir)
		return rep.InFlight == 0 && rep.NonTerminal == 0
	}, func() string { return fmt.Sprintf("every device synced and nothing in flight (audit: %s)", raw) })
	assert.True(t, rep.OK, "upisim audit: %s", raw)
	assert.Empty(t, rep.Violations, raw)
	assert.Equal(t, rep.OpeningTotalPaise, rep.TotalPaise, "money is conserved")

	// The switch's records, and the banks' postings per LRN and counter.
	ctx := context.Background()
	accounts := map[string]map[string]*upiv1.LiteAccount{} // node → LRN → account
	for _, nd := range []struct{ name, addr string }{{"npci", nw.npci}, {"abank", nw.abank}, {"bbank", nw.bbank}} {
		r, err := admin(t, nw.dataDir, nd.addr).ListLiteAccounts(ctx, &upiv1.ListLiteAccountsRequest{WithRecords: nd.name == "npci"})
		require.NoError(t, err, nd.name)
		accounts[nd.name] = map[string]*upiv1.LiteAccount{}
		for _, a := range r.GetAccounts() {
			accounts[nd.name][a.GetLrn()] = a
		}
	}
	posted := map[string]int{} // "LITEDEBIT:<LRN>:<counter>" → how many
	for _, addr := range []string{nw.abank, nw.bbank} {
		a, token := admin(t, nw.dataDir, addr), ""
		for {
			r, err := a.ListPostings(ctx, &upiv1.ListPostingsRequest{PageToken: token})
			require.NoError(t, err)
			for _, p := range r.GetPostings() {
				if strings.HasPrefix(p.GetRef(), "LITE") {
					posted[p.GetRef()]++
				}
			}
			if token = r.GetNextPageToken(); token == "" {
				break
			}
		}
	}
	for ref, c := range posted {
		assert.Equal(t, 1, c, "%s posted once", ref)
	}

	byUTR := map[string]*upiv1.LiteRecordResult{}
	var chaiGot int64
	success, failure := 0, map[string]int{}
	for _, p := range litePayers {
		lrn := l.lrns[p.device]
		sw := accounts["npci"][lrn]
		require.NotNil(t, sw, "the switch has %s's LRN", p.device)
		var spent int64
		for _, rec := range sw.GetRecords() {
			if rec.GetKind() != "OFFLINE" {
				continue
			}
			byUTR[rec.GetProvisionalUtr()] = rec
			key := fmt.Sprintf("%s:%d", lrn, rec.GetCounter())
			switch rec.GetResult() {
			case upiv1.Resp_SUCCESS:
				success++
				spent += rec.GetAmountPaise()
				assert.Equal(t, 1, posted["LITEDEBIT:"+key], "record %s debited once", key)
				assert.Equal(t, 1, posted["LITECREDIT:"+key], "record %s credited once", key)
				assert.Zero(t, posted["LITEREVERSAL:"+key], "record %s not reversed", key)
				assert.Len(t, rec.GetUtr(), 12, "record %s has its official UTR", key)
			case upiv1.Resp_FAILURE:
				failure[rec.GetErrCode()]++
				assert.Contains(t, liteFailures, rec.GetErrCode(), "record %s failed with a documented code: %v", key, rec)
				assert.Zero(t, posted["LITECREDIT:"+key], "record %s (FAILURE) credited nothing", key)
				assert.Equal(t, posted["LITEDEBIT:"+key], posted["LITEREVERSAL:"+key], "record %s (FAILURE) kept nothing", key)
			default:
				t.Errorf("record %s is %s after every device synced: %v", key, rec.GetResult(), rec)
			}
		}
		chaiGot += spent
		want := int64(liteEnablePaise) - spent
		assert.Equal(t, want, sw.GetBalancePaise(), "%s: the switch's LRN balance is the top-up less its posted records", p.device)
		if bank := accounts["abank"][lrn]; bank != nil {
			assert.Equal(t, want, bank.GetBalancePaise(), "%s: the remitter's LRN balance", p.device)
		} else if bank := accounts["bbank"][lrn]; bank != nil {
			assert.Equal(t, want, bank.GetBalancePaise(), "%s: the remitter's LRN balance", p.device)
		} else {
			t.Errorf("no remitter has %s's LRN %s", p.device, lrn)
		}
		assert.Equal(t, want, wallets[p.device].GetDeviceBalancePaise(), "%s: the wallet is the bank's balance once synced", p.device)
		assert.Equal(t, open.users[p.vpa]-liteEnablePaise, balance(t, nw.dataDir, bankOf(nw, p.vpa), p.vpa), "%s's account paid the top-up only", p.vpa)
	}
	l.mu.Lock()
	made := maps.Clone(l.made)
	l.mu.Unlock()
	for utr, device := range made {
		rec := byUTR[utr]
		if assert.NotNil(t, rec, "the offline payment %s of %s reached the switch", utr, device) {
			assert.Contains(t, []upiv1.Resp_Result{upiv1.Resp_SUCCESS, upiv1.Resp_FAILURE}, rec.GetResult(), "%s", utr)
		}
	}
	assert.Equal(t, open.users[chai]+chaiGot, balance(t, nw.dataDir, nw.bbank, chai), "chai got exactly the posted records")
	assert.Greater(t, success, len(made)/2, "most records were posted")
	t.Logf("%d offline payments made (answered), %d records at the switch: %d SUCCESS, FAILURE %v", len(made), len(byUTR), success, failure)
}

func bankOf(nw network, vpa string) string {
	if strings.HasSuffix(vpa, "@alpha") {
		return nw.abank
	}
	return nw.bbank
}
