package upiswitch

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// The daily Lite reconciliation (docs/FLOWS.md, UPI Lite,
// Reconciliation): every lite.recon_every, and on demand
// (AdminService/RunLiteRecon), the switch sends each remitter its view of
// the bank's LRNs in a ReqLiteSync sub_type CHK_STATUS (recon: per LRN its
// balance, what it holds, the unconfirmed online payments, the device's
// last report carried forward, the highest counter), in pages of up to
// node.MaxLiteBatch LRNs; the remitter compares them with its own and
// answers RespLiteSync CHK_STATUS with its balances, its pool and every
// mismatch (remitter/lite_recon.go). The switch keeps each report
// (SwitchLiteRecon); a page not answered in timeouts.debit is sent again,
// its wait doubling up to liteBackoffCap times, until it is.

type (
	liteRecon   = recordsv1.SwitchLiteRecon
	liteReport  = recordsv1.SwitchLiteReport
	liteRecPage = recordsv1.SwitchLiteReconPage
)

var (
	liteRecons  = store.NewTable[liteRecon](store.LiteRecons)
	liteReports = store.NewTable[liteReport](store.LiteRecons)
)

const (
	reconPrefix  = "recon/"
	reportPrefix = "report/"

	// timerLiteRecon is a bank's daily run ("literecon:<bank>"),
	// timerLiteReconPage a page's resend ("literecon-page:<txn>/<i>").
	timerLiteRecon     = "literecon"
	timerLiteReconPage = "literecon-page"

	reconSent = "SENT"
	reconDone = "DONE"
)

func (s *Switch) liteReconTimers() []node.TimerKind {
	return []node.TimerKind{
		{Prefix: timerLiteRecon, Fire: byTxn(s.liteReconDue)},
		{Prefix: timerLiteReconPage, Fire: byTxn(s.liteReconPageTimedOut)},
	}
}

// withLiteRecon routes a remitter's RespLiteSync sub_type CHK_STATUS to
// the reconciliation and every other one as before.
func (s *Switch) withLiteRecon(routes []node.Route) []node.Route {
	for i, r := range routes {
		if r.Method != upiv1.SwitchService_RespLiteSync_FullMethodName {
			continue
		}
		validate, handle := r.Validate, r.Handle
		routes[i].Validate = func(in *node.Inbound) error {
			if m, ok := in.Msg.(*upiv1.RespLiteSync); ok && m.GetTxn().GetSubType() == upiv1.Txn_CHK_STATUS {
				return validateReconAnswer(in, m)
			}
			return validate(in)
		}
		routes[i].Handle = func(c *node.Ctx, in *node.Inbound) error {
			if m, ok := in.Msg.(*upiv1.RespLiteSync); ok && m.GetTxn().GetSubType() == upiv1.Txn_CHK_STATUS {
				return s.reconAnswered(c, in, m)
			}
			return handle(c, in)
		}
	}
	return routes
}

// seedLiteRecon sets each bank's daily timer when it has none.
func (s *Switch) seedLiteRecon() error {
	if s.n == nil || s.net.Lite.ReconEvery <= 0 {
		return nil
	}
	return s.n.Update(func(c *node.Ctx) error {
		for _, b := range s.net.NodesByRole(config.RoleBank) {
			name := timerName(timerLiteRecon, b.Name)
			if c.HasTimer(name) {
				continue
			}
			if err := c.SetTimer(name, c.Now().Add(s.net.Lite.ReconEvery), nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// liteReconDue runs bank's daily reconciliation and sets the next one.
func (s *Switch) liteReconDue(c *node.Ctx, bank string) error {
	if nd, ok := s.net.NodeByName(bank); !ok || nd.Role != config.RoleBank {
		return nil // no longer a bank of the network
	}
	if _, err := s.startRecon(c, ids.NewTxnID(s.self.Prefix), bank, false); err != nil {
		return err
	}
	return c.SetTimer(timerName(timerLiteRecon, bank), c.Now().Add(s.net.Lite.ReconEvery), nil)
}

func reconKey(id string) string { return reconPrefix + id }

func loadRecon(tx *store.Tx, id string) (*liteRecon, error) {
	r, ok, err := liteRecons.Get(tx, reconKey(id))
	if err != nil || !ok {
		return nil, err
	}
	return r, nil
}

// noteDeviceReport keeps what the auth engine knew of a when its device
// reported its balance (a.DeviceReportedPaise) in txnID, a payment (44)
// or a sync batch: the reconciliation carries the report forward.
func noteDeviceReport(c *node.Ctx, a *liteAccount, txnID string) error {
	return liteReports.Put(c.Tx, reportPrefix+a.Lrn, &liteReport{
		Lrn: a.Lrn, TxnId: txnID, DeviceReportedPaise: a.DeviceReportedPaise, At: store.Nanos(c.Now()),
		TopupsPaise: a.TopupsPaise, OnlinePaise: a.OnlinePaise, OfflinePaise: a.OfflinePaise, TransfersPaise: a.TransfersPaise,
	})
}

// reconView is the switch's view of one LRN for the remitter.
func reconView(tx *store.Tx, a *liteAccount) (*upiv1.LiteBalance, error) {
	b := &upiv1.LiteBalance{Lrn: a.Lrn, BalancePaise: a.BalancePaise, State: a.State, UnconfirmedPaise: a.UnconfirmedPaise, Counter: a.Counter}
	rep, haveReport, err := liteReports.Get(tx, reportPrefix+a.Lrn)
	if err != nil {
		return nil, err
	}
	var own int64
	staged := newStaged(tx) // an in-flight record's state is its batch's
	err = liteRecords.Scan(tx, a.Lrn+"/", func(_ string, r *liteRecord) (bool, error) {
		b.Counter = max(b.Counter, r.Counter)
		state, err := staged.state(r)
		if err != nil {
			return false, err
		}
		switch {
		case r.Kind == lite.KindOffline && (state == recClaimed || state == recDebitSent):
			b.HeldPaise += r.GetRecord().GetAmountPaise() // with the remitter, not posted
		case r.Kind == lite.KindOnline && r.Status != upiv1.Resp_SUCCESS.String() && r.Status != upiv1.Resp_FAILURE.String():
			b.InFlightPaise += r.GetRecord().GetAmountPaise() // an online payment not decided
		}
		if haveReport && r.Kind == lite.KindOffline && r.TxnId == rep.TxnId && r.Status == upiv1.Resp_SUCCESS.String() {
			own += r.GetRecord().GetAmountPaise() // the reporting batch's own records, off the report already
		}
		return true, nil
	})
	if err != nil || !haveReport {
		return b, err
	}
	// The report, carried forward by what the network told the device
	// since: top-ups in, online payments and transfers out (those not
	// decided too: the device took them), records posted through other
	// devices' syncs out (the device still holds those).
	b.DeviceKnown = true
	b.UnsyncedPaise = max(a.OfflinePaise-rep.OfflinePaise-own, 0)
	b.DeviceReportedPaise = rep.DeviceReportedPaise + (a.TopupsPaise - rep.TopupsPaise) -
		(a.OnlinePaise - rep.OnlinePaise) - (a.TransfersPaise - rep.TransfersPaise) - b.UnsyncedPaise - b.InFlightPaise
	b.DeviceReportedPaise = max(b.DeviceReportedPaise, 0) // an amount is never negative on the wire
	return b, nil
}

// startRecon builds the switch's view of bank's LRNs and sends it, page
// by page.
func (s *Switch) startRecon(c *node.Ctx, id, bank string, onDemand bool) (*liteRecon, error) {
	rec := &liteRecon{TxnId: id, Bank: bank, State: reconSent, OnDemand: onDemand, Started: store.Nanos(c.Now())}
	err := liteAccounts.Scan(c.Tx, "", func(k string, a *liteAccount) (bool, error) {
		if !isLRNKey(k) || a.Bank != bank {
			return true, nil
		}
		v, err := reconView(c.Tx, a)
		if err != nil {
			return false, err
		}
		rec.Sent = append(rec.Sent, v)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	after := ""
	for first := 0; ; first += node.MaxLiteBatch {
		n := min(node.MaxLiteBatch, len(rec.Sent)-first)
		p := &liteRecPage{After: after, First: int32(first), N: int32(n), Last: first+n >= len(rec.Sent),
			Backoff: int64(s.net.Timeouts.Debit)}
		rec.Pages = append(rec.Pages, p)
		if p.Last {
			break
		}
		after = rec.Sent[first+n-1].Lrn
	}
	for i := range rec.Pages {
		if err := s.sendReconPage(c, rec, i); err != nil {
			return nil, err
		}
	}
	return rec, saveRecon(c, rec)
}

func saveRecon(c *node.Ctx, rec *liteRecon) error {
	return liteRecons.Put(c.Tx, reconKey(rec.TxnId), rec)
}

func reconPageTimer(id string, i int) string {
	return fmt.Sprintf("%s:%s/%d", timerLiteReconPage, id, i)
}

// sendReconPage sends (or resends) page i of rec, the same LRNs each time.
func (s *Switch) sendReconPage(c *node.Ctx, rec *liteRecon, i int) error {
	p := rec.Pages[i]
	m := &upiv1.ReqLiteSync{
		Txn:        &upiv1.Txn{Id: rec.TxnId, Type: upiv1.Txn_LITE_SYNC, SubType: upiv1.Txn_CHK_STATUS},
		Recon:      rec.Sent[p.First : p.First+p.N],
		ReconAfter: p.After, ReconLast: p.Last,
	}
	e, err := send(c, rec.Bank, upiv1.RemitterService_ReqLiteSync_FullMethodName, m)
	if err != nil {
		return err
	}
	p.MsgIds = append(p.MsgIds, e.MsgId)
	rec.Attempts++
	return c.SetTimer(reconPageTimer(rec.TxnId, i), c.Now().Add(time.Duration(p.Backoff)), nil)
}

// liteReconPageTimedOut resends an unanswered page.
func (s *Switch) liteReconPageTimedOut(c *node.Ctx, name string) error {
	id, idx, ok := strings.Cut(name, "/")
	if !ok {
		return fmt.Errorf("lite recon timer %q: want txn/index", name)
	}
	var i int
	if _, err := fmt.Sscanf(idx, "%d", &i); err != nil {
		return fmt.Errorf("lite recon timer %q: %v", name, err)
	}
	rec, err := loadRecon(c.Tx, id)
	if err != nil || rec == nil || i < 0 || i >= len(rec.Pages) || rec.Pages[i].Answered != 0 {
		return err
	}
	p := rec.Pages[i]
	p.Backoff = min(p.Backoff*2, int64(s.net.Timeouts.Debit)*liteBackoffCap)
	if err := s.sendReconPage(c, rec, i); err != nil {
		return err
	}
	return saveRecon(c, rec)
}

// validateReconAnswer checks a remitter's answer to a reconciliation page.
func validateReconAnswer(in *node.Inbound, m *upiv1.RespLiteSync) error {
	if m.GetTxn().GetType() != upiv1.Txn_LITE_SYNC {
		return node.Refuse("RespLiteSync: txn.type must be LITE_SYNC, not %s", m.GetTxn().GetType())
	}
	if err := checkResp(in.API, m.GetResp()); err != nil {
		return err
	}
	if m.GetResp().GetResult() != upiv1.Resp_SUCCESS {
		return node.Refuse("RespLiteSync CHK_STATUS answers a reconciliation: resp.result must be SUCCESS (the remitter compares, it declines nothing), not %s", m.GetResp().GetResult())
	}
	for i, mm := range m.GetMismatches() {
		if !slices.Contains(ReconKinds, mm.GetKind()) {
			return node.Refuse("RespLiteSync mismatches[%d]: kind %q is none of %s", i, mm.GetKind(), strings.Join(ReconKinds, ", "))
		}
	}
	return nil
}

// The kinds of a reconciliation's mismatches.
const (
	ReconUnconfirmed    = "UNCONFIRMED"
	ReconUnsynced       = "UNSYNCED"
	ReconDeviceStale    = "DEVICE_STALE"
	ReconSwitchMismatch = "SWITCH_MISMATCH"
	ReconPoolMismatch   = "POOL_MISMATCH"
)

// ReconKinds are the mismatch kinds, in the order a report lists them.
var ReconKinds = []string{ReconUnconfirmed, ReconUnsynced, ReconDeviceStale, ReconSwitchMismatch, ReconPoolMismatch}

// reconAnswered takes a remitter's answer to one page.
func (s *Switch) reconAnswered(c *node.Ctx, in *node.Inbound, m *upiv1.RespLiteSync) error {
	id, reqID := m.GetTxn().GetId(), m.GetResp().GetReqMsgId()
	rec, err := loadRecon(c.Tx, id)
	if err != nil {
		return err
	}
	if rec == nil {
		return node.Refuse("unknown transaction %s: the switch has no Lite reconciliation with this id", id)
	}
	if in.From != rec.Bank {
		return node.Refuse("RespLiteSync CHK_STATUS for reconciliation %s must come from %s, not %s", id, rec.Bank, in.From)
	}
	i := slices.IndexFunc(rec.Pages, func(p *liteRecPage) bool { return slices.Contains(p.MsgIds, reqID) })
	if i < 0 && reqID == "" {
		i = slices.IndexFunc(rec.Pages, func(p *liteRecPage) bool { return p.Answered == 0 })
	}
	if i < 0 {
		return node.Refuse("RespLiteSync CHK_STATUS for reconciliation %s answers no ReqLiteSync the switch sent (resp.req_msg_id %q)", id, reqID)
	}
	p := rec.Pages[i]
	if p.Answered != 0 {
		return c.NoteReceived(fmt.Sprintf("a repeated answer to page %d of reconciliation %s: kept the first", i, id))
	}
	p.Answered = store.Nanos(c.Now())
	if err := c.CancelTimer(reconPageTimer(id, i)); err != nil {
		return err
	}
	rec.BankView = append(rec.BankView, m.GetBalances()...)
	for _, mm := range m.GetMismatches() {
		if mm.GetKind() == ReconPoolMismatch && !p.Last {
			continue // the last page's answer names the pool
		}
		rec.Mismatches = append(rec.Mismatches, mm)
	}
	if p.Last {
		rec.PoolPaise = m.GetPoolPaise()
	}
	if !slices.ContainsFunc(rec.Pages, func(p *liteRecPage) bool { return p.Answered == 0 }) {
		rec.State, rec.Answered = reconDone, store.Nanos(c.Now())
		slices.SortStableFunc(rec.BankView, func(a, b *upiv1.LiteBalance) int { return strings.Compare(a.Lrn, b.Lrn) })
		slices.SortStableFunc(rec.Mismatches, func(a, b *upiv1.LiteReconMismatch) int {
			if c := strings.Compare(a.Lrn, b.Lrn); c != 0 {
				return c
			}
			return slices.Index(ReconKinds, a.Kind) - slices.Index(ReconKinds, b.Kind)
		})
		for _, mm := range rec.Mismatches {
			s.log.Warn("lite reconciliation mismatch", "bank", rec.Bank, "txn", id, "lrn", mm.Lrn, "kind", mm.Kind, "cause", mm.Cause)
		}
		c.Notify(reconKey(id))
	}
	return saveRecon(c, rec)
}

var _ node.LiteReconer = (*Switch)(nil)

// RunLiteRecon implements node.LiteReconer.
func (s *Switch) RunLiteRecon(ctx context.Context, bank string, wait time.Duration) (*upiv1.LiteRecon, error) {
	if s.n == nil {
		return nil, status.Error(codes.Unavailable, "switch is not attached to a node")
	}
	if nd, ok := s.net.NodeByName(bank); !ok || nd.Role != config.RoleBank {
		return nil, status.Errorf(codes.NotFound, "%q is no bank of network %s", bank, s.net.Name)
	}
	id := ids.NewTxnID(s.self.Prefix)
	done, cancel := s.n.Watch(reconKey(id))
	defer cancel()
	if err := s.n.Update(func(c *node.Ctx) error { _, err := s.startRecon(c, id, bank, true); return err }); err != nil {
		return nil, err
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
		case <-ctx.Done():
		}
	}
	var out *upiv1.LiteRecon
	err := s.n.View(func(tx *store.Tx) error {
		rec, err := loadRecon(tx, id)
		if err == nil && rec != nil {
			out = reconProto(rec)
		}
		return err
	})
	return out, err
}

// ListLiteRecons implements node.LiteReconer: newest first.
func (s *Switch) ListLiteRecons(bank string, limit int) ([]*upiv1.LiteRecon, error) {
	if s.n == nil {
		return nil, status.Error(codes.Unavailable, "switch is not attached to a node")
	}
	var recs []*liteRecon
	err := s.n.View(func(tx *store.Tx) error {
		return liteRecons.Scan(tx, reconPrefix, func(_ string, r *liteRecon) (bool, error) {
			if bank == "" || r.Bank == bank {
				recs = append(recs, r)
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(recs, func(a, b *liteRecon) int {
		if a.Started != b.Started {
			return int(b.Started - a.Started)
		}
		return strings.Compare(b.TxnId, a.TxnId)
	})
	if limit > 0 && len(recs) > limit {
		recs = recs[:limit]
	}
	out := make([]*upiv1.LiteRecon, 0, len(recs))
	for _, r := range recs {
		out = append(out, reconProto(r))
	}
	return out, nil
}

func nanosTS(n int64) *timestamppb.Timestamp {
	if n == 0 {
		return nil
	}
	return timestamppb.New(time.Unix(0, n))
}

// reconProto is rec as AdminService shows it: a line per LRN of either
// side.
func reconProto(rec *liteRecon) *upiv1.LiteRecon {
	out := &upiv1.LiteRecon{
		TxnId: rec.TxnId, Bank: rec.Bank, State: rec.State, OnDemand: rec.OnDemand,
		Started: nanosTS(rec.Started), Answered: nanosTS(rec.Answered), Attempts: rec.Attempts,
		Mismatches: rec.Mismatches, PoolPaise: rec.PoolPaise,
	}
	lines := map[string]*upiv1.LiteReconLine{}
	line := func(lrn string) *upiv1.LiteReconLine {
		l := lines[lrn]
		if l == nil {
			l = &upiv1.LiteReconLine{Lrn: lrn}
			lines[lrn] = l
		}
		return l
	}
	for _, v := range rec.Sent {
		l := line(v.Lrn)
		l.State, l.SwitchBalancePaise, l.UnconfirmedPaise, l.HeldPaise = v.State, v.BalancePaise, v.UnconfirmedPaise, v.HeldPaise
		l.DeviceReportedPaise, l.DeviceKnown, l.UnsyncedPaise, l.SwitchCounter = v.DeviceReportedPaise, v.DeviceKnown, v.UnsyncedPaise, v.Counter
		l.InFlightPaise = v.InFlightPaise
	}
	for _, v := range rec.BankView {
		l := line(v.Lrn)
		l.BankBalancePaise, l.BankCounter = v.BalancePaise, v.Counter
		if l.State == "" {
			l.State = v.State
		}
		out.LrnsPaise += v.BalancePaise
	}
	for _, lrn := range slices.Sorted(mapKeys(lines)) {
		out.Lines = append(out.Lines, lines[lrn])
	}
	return out
}
