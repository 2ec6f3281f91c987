package sim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/audit"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/upi"
	"github.com/upisim/upisim/psp"
	"github.com/upisim/upisim/tpap"
)

// liteRes is what became of the Lite lanes. Each lane writes its own
// entries; the shared lists are under mu.
type liteRes struct {
	mu sync.Mutex
	// pays are the lanes' top-ups, online payments and transfers out
	// that left the device (a txn id), checked at the end where they
	// ended.
	pays []*liteMoney
	// records are the offline records the lanes' devices signed.
	records []*liteRecordMade
	// refused counts the over-limit steps refused with the predicted
	// code, by code; batches the crafted batches sent; syncs the
	// devices' syncs; nonSuccess the within-limit payments that did not
	// succeed (a timed-out debit, a restart), by code.
	refused    map[string]int
	batches    int
	syncs      int
	nonSuccess map[string]int
	// trail is each lane's steps and wallets, for a failure; took how
	// long each lane ran, slow its steps that took over 500ms.
	trail [][]string
	took  []time.Duration
	slow  []string
	// drift is the LRNs whose switch balance drifted from their bank's
	// (right) one, and how (checkLite).
	drift map[string]string
}

// liteMoney is one Lite payment of a lane that left its device.
type liteMoney struct {
	lane          int
	op            string // liteEnable, liteTopUp, litePay, liteTransfer
	payer, payee  string
	amount        int64
	txnID         string
	status        upiv1.Resp_Result // as the lane saw it
	errCode, step string
}

// liteRecordMade is one offline record a lane's device signed.
type liteRecordMade struct {
	lane          int
	lrn, putr     string
	payee, device string
	amount        int64
}

func (r *liteRes) add(p *liteMoney) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pays = append(r.pays, p)
}

func (r *liteRes) count(m map[string]int, k string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m[k]++
}

// tpapNode is the TPAP's simulated node.
func (s *sim) tpapNode() *simNode { return s.nw.nodes[s.cfg.NodesByRole(config.RoleTPAP)[0].Name] }

// tcall calls fn on the TPAP's app API, again while it is restarting.
func (s *sim) tcall(ctx context.Context, fn func(x *tpap.TPAP) error) error {
	sn := s.tpapNode()
	for {
		err := sn.withTPAP(fn)
		if !errors.Is(err, errDown) {
			return err
		}
		if !sleepUntil(ctx, time.Now().Add(5*time.Millisecond)) {
			return ctx.Err()
		}
	}
}

// wallet is device's wallet as the phone shows it.
func (s *sim) wallet(ctx context.Context, device string) (*upiv1.LiteWallet, error) {
	var w *upiv1.LiteWallet
	err := s.tcall(ctx, func(x *tpap.TPAP) error {
		var err error
		w, err = x.GetLiteWallet(ctx, &upiv1.GetLiteWalletRequest{DeviceId: device})
		return err
	})
	return w, err
}

// startLite adds the receive-only payee device and runs each Lite lane
// and the payees' offline spells from their start, in wg; the channel is
// closed when every lane has ended.
func (s *sim) startLite(wg *sync.WaitGroup, ctx context.Context, began time.Time) <-chan struct{} {
	done := make(chan struct{})
	var lanes sync.WaitGroup
	defer func() {
		wg.Go(func() {
			lanes.Wait()
			close(done)
		})
	}()
	lp := s.plan.lite
	s.lite = &liteRes{refused: map[string]int{}, nonSuccess: map[string]int{}, trail: make([][]string, len(lp.lanes)), drift: map[string]string{}}
	if err := s.tcall(ctx, func(x *tpap.TPAP) error {
		_, err := x.AddLiteDevice(ctx, &upiv1.AddLiteDeviceRequest{Vpa: litePayees[1].vpa, DeviceId: litePayees[1].device})
		return err
	}); err != nil {
		s.failf("AddLiteDevice %s: %v", litePayees[1].device, err)
		return done
	}
	// The payees' devices are offline but for spells online (Lite X: a
	// POS without the network), in which each syncs what it took.
	for _, p := range litePayees {
		if !s.setOnline(ctx, p.device, false) {
			return done
		}
	}
	for _, l := range lp.lanes {
		lanes.Go(func() {
			if !sleepUntil(ctx, began.Add(l.start)) {
				return
			}
			t0 := time.Now()
			defer func() {
				s.lite.mu.Lock()
				s.lite.took = append(s.lite.took, time.Since(t0).Round(time.Millisecond))
				s.lite.mu.Unlock()
			}()
			for i, st := range l.steps {
				if !sleepUntil(ctx, time.Now().Add(st.think)) {
					return
				}
				t := time.Now()
				ok := s.liteStep(ctx, l, i, st)
				if d := time.Since(t); d > 500*time.Millisecond {
					s.lite.mu.Lock()
					s.lite.slow = append(s.lite.slow, fmt.Sprintf("lane %d step %d (%s) %s", l.idx, i, st, d.Round(time.Millisecond)))
					s.lite.mu.Unlock()
				}
				if !ok {
					return
				}
			}
		})
	}
	for _, tg := range lp.toggles {
		wg.Go(func() {
			dev := litePayees[tg.payee].device
			if !sleepUntil(ctx, began.Add(tg.at)) {
				return
			}
			s.setOnline(ctx, dev, true)
			if !sleepUntil(ctx, time.Now().Add(tg.spell)) {
				return
			}
			s.setOnline(ctx, dev, false)
		})
	}
	return done
}

// setOnline takes device offline, or online (it syncs); a record a sync
// answers FAILURE fails the run (every record the lanes sign is genuine
// and in time).
func (s *sim) setOnline(ctx context.Context, device string, online bool) bool {
	var r *upiv1.LiteSyncResult
	err := s.tcall(ctx, func(x *tpap.TPAP) error {
		var err error
		r, err = x.SetLiteOnline(ctx, &upiv1.SetLiteOnlineRequest{DeviceId: device, Online: online, WaitMs: liteWait})
		return err
	})
	if err != nil {
		s.failf("SetLiteOnline %s %t: %v", device, online, err)
		return false
	}
	if online {
		s.lite.mu.Lock()
		s.lite.syncs++
		s.lite.mu.Unlock()
	}
	for _, rec := range r.GetSynced() {
		if rec.GetResult() == upiv1.Resp_FAILURE {
			s.failf("device %s's sync %s: record %s of %s (%d paise) FAILURE %s: %s", device, r.GetTxnId(), rec.GetProvisionalUtr(), rec.GetLrn(), rec.GetAmountPaise(), rec.GetErrCode(), rec.GetReason())
		}
	}
	return true
}

// unsyncedSent is the amount of the records device w sent that no sync
// answered.
func unsyncedSent(w *upiv1.LiteWallet) (sum int64, recs []*upiv1.LiteRecord) {
	for _, r := range w.GetUnsynced() {
		if r.GetDirection() == "SENT" {
			sum += r.GetRecord().GetAmountPaise()
			recs = append(recs, r.GetRecord())
		}
	}
	return sum, recs
}

// share is part of room, at least 1 paisa.
func share(room int64, f float64) int64 { return max(1, int64(float64(room)*f)) }

// liteStep runs step i of lane l; false ends the lane.
func (s *sim) liteStep(ctx context.Context, l *liteLane, i int, st liteStep) bool {
	u := l.user
	what := fmt.Sprintf("Lite lane %d step %d (%s)", l.idx, i, st)
	w, err := s.wallet(ctx, u.device)
	sent, recs := unsyncedSent(w)
	if status.Code(err) == codes.NotFound && st.op == liteEnable {
		err = nil
	}
	if err != nil {
		s.failf("%s: GetLiteWallet %s: %v", what, u.device, err)
		return false
	}
	if w.GetDeviceBalancePaise() < 0 {
		s.failf("%s: the wallet of %s shows %d paise: %v\n    after: %s", what, u.device, w.GetDeviceBalancePaise(), w, strings.Join(s.lite.trail[l.idx], "\n      "))
		return false
	}
	s.lite.mu.Lock()
	s.lite.trail[l.idx] = append(s.lite.trail[l.idx], fmt.Sprintf("%s: wallet %d, reported %d, %d unsynced (%d sent), counter %d", what, w.GetDeviceBalancePaise(), w.GetReportedBalancePaise(), len(w.GetUnsynced()), len(recs), w.GetCounter()))
	s.lite.mu.Unlock()
	lim := s.cfg.Lite.At(time.Now())
	// A wallet whose enablement did not end SUCCESS (its top-up timed
	// out in a restart) is enabled again, or topped up (41) if its LRN
	// is registered, before anything else.
	op := st.op
	if op != liteEnable && w.GetState() != upiv1.LiteState_LITE_ACTIVE {
		op = liteEnable
		if w.GetLrn() != "" && w.GetState() == upiv1.LiteState_LITE_PENDING {
			op = liteTopUp
		}
		what += " (the wallet is " + w.GetState().String() + ": " + op + " first)"
		if !w.GetOnline() {
			// Online to enable it, and offline again after, as the plan has it.
			if !s.setOnline(ctx, u.device, true) {
				return false
			}
			defer s.setOnline(ctx, u.device, false)
		}
		st = liteStep{op: op, share: st.share}
	}
	bal := w.GetDeviceBalancePaise()
	// want is the code the device must answer ("" when it may send it).
	var want string
	var amount int64
	call := func(fn func(x *tpap.TPAP) (*upiv1.LiteResult, error)) *upiv1.LiteResult {
		var r *upiv1.LiteResult
		err := s.tcall(ctx, func(x *tpap.TPAP) error {
			var err error
			r, err = fn(x)
			return err
		})
		if err != nil {
			s.failf("%s: %d paise: %v", what, amount, err)
			return nil
		}
		return r
	}
	money := func(payee string, fn func(x *tpap.TPAP) (*upiv1.LiteResult, error)) bool {
		// A payment that needs the network is LO from an offline device
		// whatever else it is; the plan draws LO only for one.
		if op != liteEnable && w.GetOnline() == (want == upi.CodeLiteOffline) {
			s.failf("%s: the device is online %t, the plan has it online %t", what, w.GetOnline(), want != upi.CodeLiteOffline)
			return false
		}
		r := call(fn)
		if r == nil {
			return false
		}
		if want != "" {
			s.expectRefused(what, want, r, bal)
			return true
		}
		if r.GetStatus() == upiv1.Resp_FAILURE && r.GetTxnId() == "" {
			s.failf("%s: %d paise refused on the device %s: %s (wallet %d paise, limits %+v)", what, amount, r.GetErrCode(), r.GetReason(), bal, lim)
			return true
		}
		p := &liteMoney{lane: l.idx, op: op, payer: u.vpa, payee: payee, amount: amount, txnID: r.GetTxnId(),
			status: r.GetStatus(), errCode: r.GetErrCode(), step: what}
		s.lite.add(p)
		if r.GetStatus() != upiv1.Resp_SUCCESS {
			s.lite.count(s.lite.nonSuccess, strings.TrimSpace(r.GetStatus().String()+" "+r.GetErrCode()))
			s.awaitLiteFinal(ctx, p)
		}
		return true
	}
	switch op {
	case liteEnable:
		amount = share(lim.Balance, st.share)
		if l.idx == 0 {
			amount = share(lim.PerTxn, 0.5) // room below the per-payment limit: Z9 online
		}
		return money("", func(x *tpap.TPAP) (*upiv1.LiteResult, error) {
			return x.EnableLite(ctx, &upiv1.EnableLiteRequest{Vpa: u.vpa, DeviceId: u.device, AmountPaise: amount, Pin: goodPIN, WaitMs: liteWait})
		})
	case liteTopUp:
		room := lim.Balance - max(bal+sent, w.GetReportedBalancePaise())
		switch {
		case st.over == overOffline:
			want, amount = upi.CodeLiteOffline, share(max(room, 100), st.share)
		case room < 100:
			return true // full: nothing to top up
		default:
			amount = share(room, st.share)
		}
		return money("", func(x *tpap.TPAP) (*upiv1.LiteResult, error) {
			return x.TopUpLite(ctx, &upiv1.TopUpLiteRequest{DeviceId: u.device, AmountPaise: amount, Pin: goodPIN, WaitMs: liteWait})
		})
	case liteTransfer:
		if bal < 2 {
			return true
		}
		amount = share(bal/2, st.share)
		return money(u.vpa, func(x *tpap.TPAP) (*upiv1.LiteResult, error) {
			return x.TransferOutLite(ctx, &upiv1.TransferOutLiteRequest{DeviceId: u.device, AmountPaise: amount, WaitMs: liteWait})
		})
	case litePay:
		payee := litePayees[st.payee].vpa
		switch st.over {
		case overOffline:
			want, amount = upi.CodeLiteOffline, share(max(1, min(bal, lim.PerTxn)), st.share)
		case overPerTxn:
			want, amount = upi.CodeLimitExceeded, lim.PerTxn+share(10000, st.share)
		case overBalance:
			want, amount = upi.CodeInsufficientFunds, bal+share(10000, st.share)
			if amount > lim.PerTxn {
				want = upi.CodeLimitExceeded
			}
		default:
			if bal < 1 {
				return true
			}
			amount = share(min(bal, lim.PerTxn), st.share)
		}
		return money(payee, func(x *tpap.TPAP) (*upiv1.LiteResult, error) {
			return x.PayLite(ctx, &upiv1.PayLiteRequest{DeviceId: u.device, PayeeVpa: payee, AmountPaise: amount, WaitMs: liteWait})
		})
	case litePayOff:
		n := 1
		if st.over == overCount {
			n = max(1, lim.OfflineCount-int(w.GetOfflineSinceSync())) + 1
		}
		since := int(w.GetOfflineSinceSync())
		for k := range n {
			want = ""
			switch {
			case st.over == overCount:
				amount = max(1, min(lim.OfflinePerTxn, bal/int64(n)))
			case st.over == overPerTxn:
				want, amount = upi.CodeLimitExceeded, lim.OfflinePerTxn+share(10000, st.share)
			case st.over == overBalance:
				want, amount = upi.CodeInsufficientFunds, bal+share(10000, st.share)
				if amount > lim.OfflinePerTxn {
					want = upi.CodeLimitExceeded
				}
			default:
				amount = share(max(1, min(bal, lim.OfflinePerTxn)), st.share)
			}
			if want == "" {
				switch {
				case amount > bal:
					want = upi.CodeInsufficientFunds
				case since >= lim.OfflineCount:
					want = upi.CodeLiteOfflineCount
				}
			}
			if !s.payOffline(ctx, l, what+fmt.Sprintf(" #%d", k), st, amount, want, bal) {
				return false
			}
			if want == "" {
				bal -= amount
				since++
				if w.GetOnline() {
					// An online payer syncs the record at once: its count
					// starts again once nothing it sent is unsynced.
					if w2, err := s.wallet(ctx, u.device); err == nil {
						bal, since = w2.GetDeviceBalancePaise(), int(w2.GetOfflineSinceSync())
					}
				}
			}
		}
		return true
	case liteOffline:
		return s.setOnline(ctx, u.device, false)
	case liteOnline:
		return s.setOnline(ctx, u.device, true)
	case liteBatch:
		if len(recs) > 0 {
			return s.craftedBatches(ctx, l, what, w, st.batch, recs)
		}
		return true
	}
	s.failf("%s: no such step", what)
	return false
}

// payOffline makes one offline payment of lane l and checks what the
// device answered.
func (s *sim) payOffline(ctx context.Context, l *liteLane, what string, st liteStep, amount int64, want string, bal int64) bool {
	u, payee := l.user, litePayees[st.payee]
	var r *upiv1.LiteResult
	err := s.tcall(ctx, func(x *tpap.TPAP) error {
		var err error
		r, err = x.PayLite(ctx, &upiv1.PayLiteRequest{DeviceId: u.device, PayeeVpa: payee.vpa, PayeeDeviceId: payee.device, AmountPaise: amount, WaitMs: liteWait})
		return err
	})
	if err != nil {
		s.failf("%s: %d paise: %v", what, amount, err)
		return false
	}
	if want != "" {
		s.expectRefused(what, want, r, bal)
		return true
	}
	switch {
	case r.GetProvisionalUtr() == "" || r.GetStatus() == upiv1.Resp_FAILURE:
		s.failf("%s: %d paise (wallet %d): %s %s %s, want a provisional UTR", what, amount, bal, r.GetStatus(), r.GetErrCode(), r.GetReason())
		return true
	case r.GetDeviceBalancePaise() > bal-amount:
		// The wallet may be lower still (a rebase on a sync), never higher.
		s.failf("%s: the wallet shows %d paise after paying %d of %d", what, r.GetDeviceBalancePaise(), amount, bal)
	}
	s.lite.mu.Lock()
	s.lite.records = append(s.lite.records, &liteRecordMade{lane: l.idx, lrn: r.GetLrn(), putr: r.GetProvisionalUtr(), payee: payee.vpa, device: payee.device, amount: amount})
	s.lite.mu.Unlock()
	return true
}

// expectRefused checks a step over a limit: refused on the device with
// want, nothing sent, the wallet as it was.
func (s *sim) expectRefused(what, want string, r *upiv1.LiteResult, bal int64) {
	if r.GetStatus() != upiv1.Resp_FAILURE || r.GetErrCode() != want || r.GetTxnId() != "" || r.GetProvisionalUtr() != "" {
		s.failf("%s: %s %s (txn %q, %s), want refused on the device %s", what, r.GetStatus(), r.GetErrCode(), r.GetTxnId(), r.GetReason(), want)
		return
	}
	if r.GetDeviceBalancePaise() != bal {
		s.failf("%s: refused %s, and the wallet went from %d to %d paise", what, want, bal, r.GetDeviceBalancePaise())
	}
	s.lite.count(s.lite.refused, want)
}

// awaitLiteFinal waits until the payment p is final at its payer's PSP,
// so that the lane's next amounts are drawn from a settled wallet.
func (s *sim) awaitLiteFinal(ctx context.Context, p *liteMoney) {
	if p.txnID == "" {
		return
	}
	sn := s.pspOf(p.payer)
	s.poll(ctx, p.step+": its payment "+p.txnID+" final at "+sn.self.Name, func() (bool, error) {
		a, err := sn.adminClient()
		if err != nil {
			return false, nil
		}
		r, err := a.GetTransaction(ctx, &upiv1.GetTransactionRequest{TxnId: p.txnID})
		if status.Code(err) == codes.NotFound {
			return true, nil // a registration, not a payment
		}
		if err != nil {
			return false, nil
		}
		return isFinal(r.GetTransaction().GetStatus()), nil
	})
}

// craftedBatches sends the device's unsynced records recs as batches of
// the shape the plan says, through its PSP's SyncLite, as a phone's app
// might; "at once" sends them concurrently.
func (s *sim) craftedBatches(ctx context.Context, l *liteLane, what string, w *upiv1.LiteWallet, shape string, recs []*upiv1.LiteRecord) bool {
	sn := s.pspOf(l.user.vpa)
	newReq := func(rs []*upiv1.LiteRecord) *upiv1.SyncLiteRequest {
		return &upiv1.SyncLiteRequest{TxnId: ids.NewTxnID(sn.self.Prefix), UserVpa: l.user.vpa, DeviceId: l.user.device,
			Lrn: w.GetLrn(), DeviceBalancePaise: w.GetDeviceBalancePaise(), Records: rs}
	}
	rev := slices.Clone(recs)
	slices.Reverse(rev)
	var reqs [][]*upiv1.SyncLiteRequest // groups in turn; a group's at once
	switch shape {
	case batchResend:
		reqs = [][]*upiv1.SyncLiteRequest{{newReq(recs)}}
	case batchTwice:
		r := newReq(recs)
		reqs = [][]*upiv1.SyncLiteRequest{{r, r}}
	case batchTwoIDs:
		reqs = [][]*upiv1.SyncLiteRequest{{newReq(recs), newReq(recs)}}
	case batchSplit:
		h := (len(recs) + 1) / 2
		reqs = [][]*upiv1.SyncLiteRequest{{newReq(recs[:h])}}
		if h < len(recs) {
			reqs[0] = append(reqs[0], newReq(rev[:len(recs)-h]))
		}
	case batchReverse:
		reqs = [][]*upiv1.SyncLiteRequest{{newReq(rev)}}
	case batchOverlap:
		// The first half and one more, then at once the second half
		// reversed and one more, and all of them.
		h := len(recs) / 2
		reqs = [][]*upiv1.SyncLiteRequest{{newReq(recs[:min(len(recs), h+1)])}, {newReq(rev[:len(recs)-max(0, h-1)]), newReq(recs)}}
	}
	for _, group := range reqs {
		var wg sync.WaitGroup
		for _, req := range group {
			wg.Go(func() {
				err := s.call(ctx, sn, func(p *psp.PSP) error {
					_, err := p.SyncLite(ctx, req)
					return err
				})
				if err != nil {
					s.failf("%s: SyncLite %s of %d records at %s: %v", what, req.GetTxnId(), len(req.GetRecords()), sn.self.Name, err)
				}
				s.lite.mu.Lock()
				s.lite.batches++
				s.lite.mu.Unlock()
			})
		}
		wg.Wait()
	}
	return true
}

// liteDevices are every device of the lanes.
func liteDevices() []string {
	var out []string
	for _, u := range liteUsers {
		out = append(out, u.device)
	}
	for _, p := range litePayees {
		out = append(out, p.device)
	}
	return out
}

// finishLite brings every device online and syncs it until none holds a
// record no sync answered, and every lane's payment is final.
func (s *sim) finishLite(ctx context.Context, limit time.Duration) bool {
	for _, p := range s.lite.pays {
		s.awaitLiteFinal(ctx, p)
	}
	deadline := time.Now().Add(limit)
	for {
		var left []string
		for _, dev := range liteDevices() {
			w, err := s.wallet(ctx, dev)
			if status.Code(err) == codes.NotFound {
				continue // a lane that never enabled its wallet
			}
			if err != nil {
				s.failf("GetLiteWallet %s: %v", dev, err)
				return false
			}
			if !w.GetOnline() || len(w.GetUnsynced()) > 0 {
				if !s.setOnline(ctx, dev, true) {
					return false
				}
				if w, err = s.wallet(ctx, dev); err != nil {
					s.failf("GetLiteWallet %s: %v", dev, err)
					return false
				}
			}
			if n := len(w.GetUnsynced()); n > 0 {
				left = append(left, fmt.Sprintf("%s (%d records)", dev, n))
			}
		}
		if len(left) == 0 {
			return true
		}
		if time.Now().After(deadline) || !sleepUntil(ctx, time.Now().Add(100*time.Millisecond)) {
			s.failf("Lite: devices with records no sync answered after %s: %s", limit, strings.Join(left, ", "))
			return false
		}
	}
}

// liteAccount is node's account of lrn (nil if it has none).
func (s *sim) liteAccount(ctx context.Context, node, lrn string) (*upiv1.LiteAccount, error) {
	a, err := s.nw.nodes[node].adminClient()
	if err != nil {
		return nil, err
	}
	r, err := a.ListLiteAccounts(ctx, &upiv1.ListLiteAccountsRequest{Lrn: lrn, WithRecords: true})
	if err != nil {
		return nil, err
	}
	for _, acc := range r.GetAccounts() {
		if acc.GetLrn() == lrn {
			return acc, nil
		}
	}
	return nil, nil
}

// checkLite checks the Lite lanes on the settled network: every payment
// final and the same at the switch and its payer's PSP; every offline
// record posted exactly once, SUCCESS, at the switch and its bank; each
// LRN's balance the same at the bank, the switch and the device, and what
// the lanes' successful steps make it. It adds to want what the lanes
// moved between accounts, and returns how many payments the switch has of
// them.
func (s *sim) checkLite(ctx context.Context, sw upiv1.AdminServiceClient, want map[string]int64) int {
	res := s.lite
	lrnOf := map[string]string{} // device → LRN
	expect := map[string]int64{} // LRN → balance its successful steps make
	for _, u := range liteUsers {
		w, err := s.wallet(ctx, u.device)
		if status.Code(err) == codes.NotFound {
			continue
		}
		if err != nil {
			s.failf("GetLiteWallet %s: %v", u.device, err)
			continue
		}
		lrnOf[u.device] = w.GetLrn()
	}
	deviceOf := map[string]string{}
	for _, u := range liteUsers {
		deviceOf[u.vpa] = u.device
	}
	txns := 0
	for _, p := range res.pays {
		if p.txnID == "" {
			continue
		}
		r, err := sw.GetTransaction(ctx, &upiv1.GetTransactionRequest{TxnId: p.txnID})
		if status.Code(err) == codes.NotFound {
			if p.status == upiv1.Resp_SUCCESS {
				s.failf("%s: SUCCESS (txn %s), but the switch has no such payment", p.step, p.txnID)
			}
			continue // a registration refused or not answered
		}
		if err != nil {
			s.failf("%s: the switch: %v", p.step, err)
			continue
		}
		txns++
		got := r.GetTransaction()
		a, err := s.pspOf(p.payer).adminClient()
		if err != nil {
			s.fatalf("admin of %s: %v", s.pspOf(p.payer).self.Name, err)
		}
		at, err := a.GetTransaction(ctx, &upiv1.GetTransactionRequest{TxnId: p.txnID})
		if err != nil {
			s.failf("%s: the payer's PSP: %v", p.step, err)
			continue
		}
		if got.GetStatus() != at.GetTransaction().GetStatus() || !isFinal(got.GetStatus()) {
			s.failf("%s: txn %s: the switch says %s %s, the payer's PSP %s %s%s", p.step, p.txnID, got.GetStatus(), got.GetErrCode(),
				at.GetTransaction().GetStatus(), at.GetTransaction().GetErrCode(), s.traceOf(ctx, p.txnID))
			continue
		}
		if p.status == upiv1.Resp_SUCCESS || p.status == upiv1.Resp_FAILURE {
			if p.status != got.GetStatus() {
				s.failf("%s: the device was told %s %s, the payment ended %s %s", p.step, p.status, p.errCode, got.GetStatus(), got.GetErrCode())
			}
		}
		if got.GetStatus() != upiv1.Resp_SUCCESS {
			continue
		}
		lrn := lrnOf[deviceOf[p.payer]]
		switch p.op {
		case liteEnable, liteTopUp:
			want[p.payer] -= p.amount
			expect[lrn] += p.amount
		case liteTransfer:
			want[p.payer] += p.amount
			expect[lrn] -= p.amount
		case litePay:
			want[p.payee] += p.amount
			expect[lrn] -= p.amount
		}
	}

	// Each offline record: posted once, SUCCESS, at the switch (under one
	// UTR) and at its bank; neither has another offline record of the
	// LRN, nor a double spend.
	made := map[string][]*liteRecordMade{}
	for _, r := range res.records {
		made[r.lrn] = append(made[r.lrn], r)
	}
	for _, u := range liteUsers {
		lrn := lrnOf[u.device]
		if lrn == "" {
			continue
		}
		for _, nd := range []string{s.cfg.Switch().Name, u.bank} {
			acc, err := s.liteAccount(ctx, nd, lrn)
			if err != nil || acc == nil {
				s.failf("Lite: %s's account of %s: %v", nd, lrn, err)
				continue
			}
			byPUTR := map[string][]*upiv1.LiteRecordResult{}
			for _, r := range acc.GetRecords() {
				if r.GetKind() == lite.KindOnline || r.GetKind() == "" && r.GetProvisionalUtr() == "" {
					continue // an online payment's counter
				}
				byPUTR[r.GetProvisionalUtr()] = append(byPUTR[r.GetProvisionalUtr()], r)
				if len(r.GetDoubleSpends()) > 0 {
					s.failf("Lite: %s reports double spends of record %s of %s: %v", nd, r.GetProvisionalUtr(), lrn, r.GetDoubleSpends())
				}
			}
			for _, m := range made[lrn] {
				rs := byPUTR[m.putr]
				switch {
				case len(rs) != 1:
					s.failf("Lite: record %s of %s (%d paise to %s): %s has %d of it", m.putr, lrn, m.amount, m.payee, nd, len(rs))
				case rs[0].GetResult() != upiv1.Resp_SUCCESS || nd == s.cfg.Switch().Name && len(rs[0].GetUtr()) != 12 || rs[0].GetAmountPaise() != m.amount:
					s.failf("Lite: record %s of %s (%d paise to %s): %s has it %s %s, UTR %q, %d paise", m.putr, lrn, m.amount, m.payee, nd,
						rs[0].GetResult(), rs[0].GetErrCode(), rs[0].GetUtr(), rs[0].GetAmountPaise())
				case nd == s.cfg.Switch().Name:
					want[m.payee] += m.amount
					expect[lrn] -= m.amount
				}
				delete(byPUTR, m.putr)
			}
			for putr := range byPUTR {
				s.failf("Lite: %s has offline record %q of %s that no lane made", nd, putr, lrn)
			}
		}
	}

	// Each LRN: the bank, the switch and the device agree, on what the
	// lanes' successful steps make.
	for _, u := range liteUsers {
		lrn := lrnOf[u.device]
		if lrn == "" {
			continue
		}
		var got []string
		for _, nd := range []string{u.bank, s.cfg.Switch().Name, s.tpapNode().self.Name} {
			acc, err := s.liteAccount(ctx, nd, lrn)
			if err != nil || acc == nil {
				s.failf("Lite: %s's account of %s (%s): %v", nd, lrn, u.device, err)
				continue
			}
			if acc.GetBalancePaise() != expect[lrn] {
				got = append(got, fmt.Sprintf("%s %d", nd, acc.GetBalancePaise()))
			}
		}
		w, err := s.wallet(ctx, u.device)
		if err == nil && (w.GetDeviceBalancePaise() != expect[lrn] || len(w.GetUnsynced()) != 0) {
			got = append(got, fmt.Sprintf("the wallet %d (%d unsynced)", w.GetDeviceBalancePaise(), len(w.GetUnsynced())))
		}
		bankRight := len(got) > 0 && !strings.HasPrefix(got[0], u.bank+" ")
		switch {
		case bankRight && !*strictFlag:
			// The known drift of the switch's LRN balance (liteDrift):
			// the bank is right, the switch (and the device re-based on
			// it) not.
			s.lite.drift[lrn] = fmt.Sprintf("%s of %s: the bank holds %d paise, as its successful steps make; %s", lrn, u.device, expect[lrn], strings.Join(got, ", "))
		case len(got) > 0:
			s.failf("Lite: %s of %s: its successful steps make %d paise; %s", lrn, u.device, expect[lrn], strings.Join(got, ", "))
		}
	}
	return txns
}

// liteSummary is the Lite lanes' log line.
func (s *sim) liteSummary() string {
	r := s.lite
	ok := 0
	for _, p := range r.pays {
		if p.status == upiv1.Resp_SUCCESS {
			ok++
		}
	}
	codes := func(m map[string]int) string {
		var parts []string
		for _, k := range sortedKeys(m) {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
		sort.Strings(parts)
		return strings.Join(parts, ", ")
	}
	return fmt.Sprintf("%d payments (%d SUCCESS at once; others: %s), %d offline records, %d syncs, %d crafted batches; refused on the device: %s; lanes took %v; slow steps: %s",
		len(r.pays), ok, orDash(codes(r.nonSuccess)), len(r.records), r.syncs, r.batches, orDash(codes(r.refused)), r.took, orDash(strings.Join(r.slow, "; ")))
}

// liteDrift judges the audit's LITE_SWITCH_MISMATCH and LITE_UNSYNCED
// violations. Without -sim.lite.strict, one about an LRN whose bank holds
// what the lanes' successful steps make (checkLite) is the known drift of
// the switch's LRN balance and is logged, not failed: the switch re-bases
// an LRN on each bank answer to a sync stage, an answer that reaches it
// after a later one's sets an older balance (-sim.lite.reorder shows it),
// and a record held at a re-base and posted by another batch's stage
// stays subtracted (the report of issue 12's simulation; seed 6). Money
// and exactly-once are checked strictly whatever the flag.
func (s *sim) liteDrift(vs []audit.Violation) {
	for _, v := range vs {
		known := false
		for lrn := range s.lite.drift {
			if strings.Contains(v.Detail, "LRN "+lrn+" ") {
				known = true
			}
		}
		if !known || *strictFlag {
			s.failf("audit: %s at %s: %s", v.Kind, orDash(v.Node), v.Detail)
		}
	}
	for _, lrn := range sortedKeys(s.lite.drift) {
		s.t.Logf("seed %d: KNOWN BUG, the switch's Lite balance drifted: %s (fails with -sim.lite.strict)", s.seed, s.lite.drift[lrn])
	}
}
