package merchant

import (
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// UPI Lite orders (docs/FLOWS.md, UPI Lite and Lite X, "The merchant's
// order"): a merchant's device that took an offline payment reports it
// with POST /upi-attempts (method upi_lite, utr the provisional UTR), and
// when the record is posted the switch's LITE_SYNC confirmation reaches
// this PSP: OnLiteCredit then does what a verified /provider-callback
// does, with the switch's confirmation as the verification.

// isLite reports whether method is an offline (Lite) attempt's.
func isLite(method string) bool { return method == MethodLite || method == MethodLiteX }

// utrKey is the index key of an official UTR (RRN) counted for an
// attempt: a Lite record has no pay transaction at the switch, so its
// UTR, not a txn id, is what must not be counted twice.
func utrKey(rrn string) string { return "u/" + rrn }

// liteAttemptOf is the order's Lite attempt with provisional UTR utr.
func liteAttemptOf(m *model, utr string) *attempt {
	for _, a := range m.o.Attempts {
		if isLite(a.Method) && a.Utr == utr {
			return a
		}
	}
	return nil
}

// admit adds attempt a, PENDING, to an order whose money has already
// moved (a posted Lite record): unlike start, a DEEMED attempt does not
// keep it out, since the payment cannot be declined any more.
func (m *model) admit(a *attempt) {
	if m.start(a) == nil {
		return
	}
	a.Status, a.Created, a.Updated = AttemptPending, m.nanos(), m.nanos()
	m.o.Attempts = append(m.o.Attempts, a)
}

// OnLiteCredit is psp.Config.OnLiteCredit: records are the SUCCESS
// records of a sync batch to this PSP's users, in the step that takes the
// switch's LITE_SYNC ReqTxnConfirmation. Each one to a merchant of this
// PSP that names one of its orders pays that order: the order's Lite
// attempt with the record's provisional UTR (made now, PENDING, if the
// device has not reported it) is VERIFIED with the official UTR as its
// rrn and paid with the record's amount through the status model, edge
// cases and webhooks included. A record whose payee is no merchant or
// whose order is unknown is ignored; one already counted (a repeat
// confirmation) changes nothing.
func (l *Layer) OnLiteCredit(c *node.Ctx, records []*upiv1.LiteRecordResult) error {
	for _, r := range records {
		if err := l.liteCredit(c, r); err != nil {
			return err
		}
	}
	return nil
}

func (l *Layer) liteCredit(c *node.Ctx, r *upiv1.LiteRecordResult) error {
	payee := ids.NormalizeVPA(r.GetPayeeAddr())
	log := l.log.With("lrn", r.GetLrn(), "counter", r.GetCounter(), "provisional_utr", r.GetProvisionalUtr(), "utr", r.GetUtr(), "payee", payee)
	switch {
	case r.GetResult() != upiv1.Resp_SUCCESS:
		log.Warn("Lite record not SUCCESS in a credit confirmation: ignored", "result", r.GetResult())
		return nil
	case l.merchantOf(payee) == nil:
		log.Debug("Lite payment to a user, not a merchant: no order to pay")
		return nil
	case r.GetOrderId() == "":
		log.Info("Lite payment to a merchant names no order: not an order's payment")
		return nil
	case r.GetUtr() == "" || r.GetProvisionalUtr() == "" || r.GetAmountPaise() <= 0:
		log.Warn("Lite record without a UTR, a provisional UTR or an amount: ignored", "amount_paise", r.GetAmountPaise())
		return nil
	}
	ord, err := load(c.Tx, r.GetOrderId())
	if err != nil {
		return err
	}
	if ord == nil || ord.MerchantVpa != payee {
		log.Info("Lite payment names no order of its merchant: ignored", "order", r.GetOrderId())
		return nil
	}
	counted, err := indexed(c.Tx, utrKey(r.GetUtr()))
	if err != nil || counted != nil {
		return err // a repeat, or a provider callback verified it first
	}
	var paid *attempt
	err = l.apply(c, ord, func(m *model) error {
		a := liteAttemptOf(m, r.GetProvisionalUtr())
		switch {
		case a != nil && a.Verification == "VERIFIED":
			return nil // counted already
		case a == nil || a.Status != AttemptPending:
			// The device never reported it (or reports it later), or its
			// report was decided otherwise: the money is here, so it is an
			// attempt of its own.
			a = &attempt{
				AttemptId: newID("ATT"), Method: MethodLite, PayerVpa: ids.NormalizeVPA(r.GetPayerAddr()),
				DeviceId: r.GetPayeeDeviceId(), Utr: r.GetProvisionalUtr(), DeclaredPaise: r.GetAmountPaise(),
				AmountPaise: r.GetAmountPaise(), Verification: "UNVERIFIED",
			}
			m.admit(a)
		}
		// The switch's word verifies it: a callback on its way is stale.
		a.Verification, a.CheckTxnId = "VERIFIED", ""
		a.ClaimedRef, a.ClaimedPaise = r.GetUtr(), r.GetAmountPaise()
		if p := ids.NormalizeVPA(r.GetPayerAddr()); p != "" {
			a.PayerVpa = p
		}
		m.paid(a, r.GetAmountPaise(), r.GetUtr())
		paid = a
		return nil
	})
	if err != nil || paid == nil {
		return err
	}
	log.Info("Lite payment paid an order", "order", ord.OrderId, "attempt", paid.AttemptId, "status", paid.Status, "edge_case", paid.EdgeCase)
	if err := index(c.Tx, "a/"+paid.AttemptId, ord.OrderId); err != nil {
		return err
	}
	return index(c.Tx, utrKey(r.GetUtr()), ord.OrderId)
}

// liteWait is how long order o waits for its offline payments before it
// expires: sync_deadline after the latest report of a Lite attempt made
// before the order's expiry and still PENDING (the zero time when none).
func (l *Layer) liteWait(o *order) time.Time {
	var until time.Time
	for _, a := range o.Attempts {
		if !isLite(a.Method) || a.Status != AttemptPending || a.Created >= o.Expires {
			continue
		}
		if t := store.FromNanos(a.Created).Add(l.cfg.Network.Lite.SyncDeadline); t.After(until) {
			until = t
		}
	}
	return until
}
