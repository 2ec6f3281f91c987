package remitter

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// The daily Lite reconciliation at the remitter (docs/FLOWS.md, UPI Lite,
// Reconciliation): the switch sends its view of this bank's LRNs in a
// ReqLiteSync sub_type CHK_STATUS, a page at a time; the remitter compares
// each LRN of the page's range with its own account of it and answers
// RespLiteSync CHK_STATUS with its balances, its pool account and every
// mismatch. Nothing moves: a repeat is answered the same way, as things
// stand.

// The kinds of a reconciliation's mismatches (switch/literecon.go's
// ReconKinds).
const (
	ReconUnconfirmed    = "UNCONFIRMED"
	ReconUnsynced       = "UNSYNCED"
	ReconDeviceStale    = "DEVICE_STALE"
	ReconSwitchMismatch = "SWITCH_MISMATCH"
	ReconPoolMismatch   = "POOL_MISMATCH"
)

// withLiteRecon routes the switch's ReqLiteSync sub_type CHK_STATUS to the
// reconciliation and every other one as before.
func (r *Remitter) withLiteRecon(routes []node.Route) []node.Route {
	for i, rt := range routes {
		if rt.Method != upiv1.RemitterService_ReqLiteSync_FullMethodName {
			continue
		}
		validate, handle := rt.Validate, rt.Handle
		routes[i].Validate = func(in *node.Inbound) error {
			if m, ok := in.Msg.(*upiv1.ReqLiteSync); ok && m.GetTxn().GetSubType() == upiv1.Txn_CHK_STATUS {
				return validateLiteRecon(m)
			}
			return validate(in)
		}
		routes[i].Handle = func(c *node.Ctx, in *node.Inbound) error {
			if m, ok := in.Msg.(*upiv1.ReqLiteSync); ok && m.GetTxn().GetSubType() == upiv1.Txn_CHK_STATUS {
				return r.liteRecon(c, in, m)
			}
			return handle(c, in)
		}
	}
	return routes
}

// validateLiteRecon checks a reconciliation page: LRNs in order, after
// recon_after, each once.
func validateLiteRecon(m *upiv1.ReqLiteSync) error {
	t := m.GetTxn()
	switch {
	case t.GetType() != upiv1.Txn_LITE_SYNC:
		return node.Refuse("RemitterService/ReqLiteSync takes txn.type LITE_SYNC, not %s", t.GetType())
	case !ids.ValidID(t.GetId()):
		return node.Refuse("ReqLiteSync needs txn.id, 3 letters and 32 hex digits (got %q)", t.GetId())
	case len(m.GetRecords()) > 0:
		return node.Refuse("ReqLiteSync CHK_STATUS (a reconciliation) carries no records, got %d", len(m.GetRecords()))
	case len(m.GetRecon()) > node.MaxLiteBatch:
		return node.Refuse("ReqLiteSync CHK_STATUS carries %d LRNs, at most %d", len(m.GetRecon()), node.MaxLiteBatch)
	}
	prev := m.GetReconAfter()
	for i, b := range m.GetRecon() {
		if b.GetLrn() == "" || b.GetLrn() <= prev {
			return node.Refuse("ReqLiteSync CHK_STATUS recon[%d]: LRN %q must be set and after %q (LRN order, each once)", i, b.GetLrn(), prev)
		}
		prev = b.GetLrn()
	}
	return nil
}

// liteRecon answers one reconciliation page.
func (r *Remitter) liteRecon(c *node.Ctx, in *node.Inbound, m *upiv1.ReqLiteSync) error {
	out := &upiv1.RespLiteSync{
		Txn:  proto.Clone(m.GetTxn()).(*upiv1.Txn),
		Resp: &upiv1.Resp{ReqMsgId: in.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
	}
	var err error
	out.Balances, out.Mismatches, out.PoolPaise, err = reconcile(c.Tx, m.GetRecon(), m.GetReconAfter(), m.GetReconLast())
	if err != nil {
		return err
	}
	return c.Send(in.From, upiv1.SwitchService_RespLiteSync_FullMethodName, out)
}

// reconcile compares the switch's view of a page of LRNs (sw, in LRN
// order, the LRNs after `after` up to the last of sw, or every one after
// when last) with the bank's: the bank's balances of the range, every
// mismatch, and (last) its pool account's balance, with a POOL_MISMATCH
// when the pool is not the sum of every LRN's balance.
func reconcile(tx *store.Tx, sw []*upiv1.LiteBalance, after string, last bool) ([]*upiv1.LiteBalance, []*upiv1.LiteReconMismatch, int64, error) {
	upTo := ""
	if len(sw) > 0 {
		upTo = sw[len(sw)-1].GetLrn()
	}
	bank := map[string]*LiteAccount{}
	var order []string
	var sum int64
	err := LiteAccounts.Scan(tx, "", func(k string, a *LiteAccount) (bool, error) {
		sum += a.BalancePaise
		if k > after && (last || k <= upTo) {
			bank[k] = a
			order = append(order, k)
		}
		return true, nil
	})
	if err != nil {
		return nil, nil, 0, err
	}
	var balances []*upiv1.LiteBalance
	var mismatches []*upiv1.LiteReconMismatch
	for _, lrn := range order {
		a := bank[lrn]
		if len(balances) < node.MaxLiteBatch {
			balances = append(balances, &upiv1.LiteBalance{Lrn: a.Lrn, BalancePaise: a.BalancePaise, State: a.State, Counter: a.Counter})
		}
	}
	seen := map[string]bool{}
	for _, s := range sw {
		seen[s.GetLrn()] = true
		mismatches = append(mismatches, compareLRN(s, bank[s.GetLrn()])...)
	}
	for _, lrn := range order {
		if !seen[lrn] && len(mismatches) < 2*node.MaxLiteBatch {
			mismatches = append(mismatches, compareLRN(&upiv1.LiteBalance{Lrn: lrn}, bank[lrn])...)
		}
	}
	var pool int64
	if last {
		p, err := ledger.Get(tx, LitePool)
		switch {
		case errors.Is(err, ledger.ErrNoAccount):
		case err != nil:
			return nil, nil, 0, err
		default:
			pool = p.GetBalancePaise()
		}
		if pool != sum {
			mismatches = append(mismatches, &upiv1.LiteReconMismatch{
				Kind: ReconPoolMismatch, BankBalancePaise: pool, SwitchBalancePaise: sum, AmountPaise: abs(pool - sum),
				Cause: fmt.Sprintf("the Lite pool account %s holds %s, its LRNs %s: %s off", LitePool,
					upi.FormatPaise(pool), upi.FormatPaise(sum), upi.FormatPaise(pool-sum)),
			})
		}
	}
	return balances, mismatches, pool, nil
}

// compareLRN is what one LRN's balances say: s the switch's view (only
// its LRN when the switch has no account of it), a the bank's (nil for
// none). With B the bank's balance, U the unconfirmed payments, H the
// records the switch holds, F its payments in flight and S its balance:
// S+H+F ≠ B−U is SWITCH_MISMATCH, else U > 0 UNCONFIRMED; records posted
// through another device's sync or held (X+H > 0) are UNSYNCED; the
// device's report carried forward (E) ≠ B−U−H−F is DEVICE_STALE.
func compareLRN(s *upiv1.LiteBalance, a *LiteAccount) []*upiv1.LiteReconMismatch {
	var b int64
	if a != nil {
		b = a.BalancePaise
	}
	u, h, f := s.GetUnconfirmedPaise(), s.GetHeldPaise(), s.GetInFlightPaise()
	mm := func(kind string, amount int64, cause string, args ...any) *upiv1.LiteReconMismatch {
		return &upiv1.LiteReconMismatch{
			Lrn: s.GetLrn(), Kind: kind, SwitchBalancePaise: s.GetBalancePaise(), BankBalancePaise: b,
			DeviceReportedPaise: s.GetDeviceReportedPaise(), AmountPaise: amount, Cause: fmt.Sprintf(cause, args...),
		}
	}
	var out []*upiv1.LiteReconMismatch
	switch sw := s.GetBalancePaise() + h + f; {
	case a == nil && (sw != 0 || u != 0):
		out = append(out, mm(ReconSwitchMismatch, sw+u, "the bank has no account of this LRN; the switch holds %s for it", upi.FormatPaise(sw+u)))
	case a != nil && s.GetState() == "" && b != 0:
		out = append(out, mm(ReconSwitchMismatch, b, "the switch has no account of this LRN; the bank holds %s in it", upi.FormatPaise(b)))
	case sw != b-u:
		out = append(out, mm(ReconSwitchMismatch, abs(b-u-sw),
			"the switch's balance %s (with %s held for records and %s for payments in flight) is not the bank's %s less %s unconfirmed: %s off",
			upi.FormatPaise(s.GetBalancePaise()), upi.FormatPaise(h), upi.FormatPaise(f), upi.FormatPaise(b), upi.FormatPaise(u), upi.FormatPaise(b-u-sw)))
	case u > 0:
		out = append(out, mm(ReconUnconfirmed, u,
			"online payments of %s the switch decided SUCCESS whose confirmation the bank has not answered (a lost or late ReqTxnConfirmation)", upi.FormatPaise(u)))
	}
	if x := s.GetUnsyncedPaise(); x+h > 0 {
		cause := ""
		if x > 0 {
			cause = fmt.Sprintf("records of %s posted through another device's sync since the LRN's device last reported: it has not synced them", upi.FormatPaise(x))
		}
		if h > 0 {
			if cause != "" {
				cause += "; "
			}
			cause += fmt.Sprintf("records of %s with the switch, not yet posted at the bank", upi.FormatPaise(h))
		}
		out = append(out, mm(ReconUnsynced, x+h, "%s", cause))
	}
	if want := b - u - h - f; s.GetDeviceKnown() && s.GetDeviceReportedPaise() != want {
		d := s.GetDeviceReportedPaise()
		out = append(out, mm(ReconDeviceStale, abs(want-d),
			"the device last reported a balance that comes to %s with what the network told it since, not the bank's %s: an answer it never got (a lost top-up, payment or sync answer); its next sync re-bases it",
			upi.FormatPaise(d), upi.FormatPaise(want)))
	}
	return out
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
