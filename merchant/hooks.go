package merchant

import (
	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
	"github.com/upisim/upisim/psp"
)

// CodeOrderBlocked is the payee PSP's decline of a payment to an order
// that has a DEEMED attempt (RespAuthDetails FAILURE; docs/FLOWS.md,
// Merchant payments).
const CodeOrderBlocked = upi.CodePayeeNotPermitted

// onAuthDetails: a payment to a merchant of this PSP is starting (the
// payee PSP answers the switch's ReqAuthDetails). One whose txn.ref_id is
// one of the merchant's orders is a new attempt of it, PENDING; an order
// with a DEEMED attempt declines it.
func (l *Layer) onAuthDetails(c *node.Ctx, o psp.Outcome) (string, error) {
	if l.merchantOf(o.Payee.VPA) == nil || o.RefID == "" {
		return "", nil
	}
	if prev, err := indexed(c.Tx, "t/"+o.TxnID); err != nil || prev != nil {
		return "", err // heard of already
	}
	ord, err := load(c.Tx, o.RefID)
	if err != nil || ord == nil || ord.MerchantVpa != ids.NormalizeVPA(o.Payee.VPA) {
		return "", err // not an order of this merchant: a plain payment
	}
	decline := ""
	err = l.apply(c, ord, func(m *model) error {
		a := &attempt{AttemptId: newID("ATT"), Method: MethodIntent, TxnId: o.TxnID, PayerVpa: o.Payer.VPA, AmountPaise: o.AmountPaise}
		if err := m.start(a); err != nil {
			decline = CodeOrderBlocked
			l.log.Info("payment to a blocked order declined", "order", ord.OrderId, "txn", o.TxnID, "why", err)
			return nil
		}
		return index(c.Tx, "a/"+a.AttemptId, ord.OrderId)
	})
	if err != nil || decline != "" {
		return decline, err
	}
	return "", index(c.Tx, "t/"+o.TxnID, ord.OrderId)
}

// attemptOf finds the order and attempt of a payment's txn id.
func attemptOf(m *model, txnID string) *attempt {
	for _, a := range m.o.Attempts {
		if a.TxnId == txnID {
			return a
		}
	}
	return nil
}

// onOutcome: a payment, collect or refund of this PSP's ended.
func (l *Layer) onOutcome(c *node.Ctx, o psp.Outcome) error {
	ord, err := indexed(c.Tx, "t/"+o.TxnID)
	if err != nil || ord == nil {
		return err
	}
	if o.Type == upiv1.Txn_REFUND {
		return l.apply(c, ord, func(m *model) error {
			for _, r := range m.o.Refunds {
				if r.TxnId == o.TxnID {
					m.refunded(r, o.Result == upiv1.Resp_SUCCESS, o.ErrCode, o.RRN)
				}
			}
			return nil
		})
	}
	return l.apply(c, ord, func(m *model) error {
		a := attemptOf(m, o.TxnID)
		if a == nil {
			return nil
		}
		if o.Result == upiv1.Resp_SUCCESS {
			m.paid(a, o.AmountPaise, o.RRN)
		} else {
			m.failed(a, o.ErrCode, a.Method == MethodCollect && (o.ErrCode == upi.CodeRefused || o.ErrCode == upi.CodeAddrResolution))
		}
		return nil
	})
}

// onDeemed: an attempt's payment is DEEMED.
func (l *Layer) onDeemed(c *node.Ctx, o psp.Outcome) error {
	if o.Type == upiv1.Txn_REFUND {
		return nil // a refund stays REFUND_INITIATED until decided
	}
	ord, err := indexed(c.Tx, "t/"+o.TxnID)
	if err != nil || ord == nil {
		return err
	}
	return l.apply(c, ord, func(m *model) error {
		if a := attemptOf(m, o.TxnID); a != nil {
			m.deemed(a)
		}
		return nil
	})
}

// onStatus: the switch answered the status check of a provider callback
// (ProviderCallback). Only a SUCCESS payment to this merchant of exactly
// the amount claimed, not counted for another attempt, verifies the
// attempt; it is then paid as any attempt is (edge cases included). A
// FAILURE fails it; anything else rejects the claim and leaves the
// attempt PENDING for another callback.
func (l *Layer) onStatus(c *node.Ctx, s psp.StatusAnswer) error {
	ord, err := indexed(c.Tx, "c/"+s.CheckTxnID)
	if err != nil || ord == nil {
		return err
	}
	// A payment is counted for an attempt by its txn id, and by its UTR.
	// A posted offline Lite record is no pay transaction of this PSP's
	// (whatever txn id the switch's answer names): only its UTR counts it,
	// and the attempt keeps no txn id.
	payTxn := s.TxnID != "" && c.Tx.Has(store.Txns, []byte(s.TxnID))
	var counted *order
	if payTxn {
		if counted, err = indexed(c.Tx, "t/"+s.TxnID); err != nil {
			return err
		}
	}
	if counted == nil && s.RRN != "" {
		if counted, err = indexed(c.Tx, utrKey(s.RRN)); err != nil {
			return err
		}
	}
	newTxn, verified := false, false
	err = l.apply(c, ord, func(m *model) error {
		a := m.find(s.Tag)
		if a == nil || a.CheckTxnId != s.CheckTxnID || a.Verification != "VERIFYING" {
			return nil // a stale answer
		}
		a.CheckTxnId = ""
		reject := func(why string) {
			a.Verification, a.ErrCode, a.Updated = "REJECTED", "", m.nanos()
			l.log.Info("provider callback rejected", "order", ord.OrderId, "attempt", a.AttemptId, "why", why)
			m.event(EventTransaction, a, nil)
		}
		switch {
		case !s.Found:
			reject("the switch has no payment " + s.Ref + " this PSP may see")
		case counted != nil:
			reject("payment " + s.Ref + " is counted for another attempt already")
		case ids.NormalizeVPA(s.PayeeVPA) != ord.MerchantVpa:
			reject("payment " + s.TxnID + " was to " + s.PayeeVPA)
		case s.Result == upiv1.Resp_FAILURE:
			a.Verification = "REJECTED"
			if payTxn {
				a.TxnId, newTxn = s.TxnID, true
			}
			m.failed(a, s.ErrCode, false)
		case s.Result != upiv1.Resp_SUCCESS:
			reject("payment " + s.TxnID + " is " + s.Result.String() + " at the switch")
		case s.AmountPaise != a.ClaimedPaise:
			reject("payment " + s.TxnID + " was of a different amount than the callback's amount_cents")
		case !payTxn && s.RRN == "":
			reject("payment " + s.TxnID + " is no transaction of this PSP's and has no UTR")
		case !payTxn:
			// A posted Lite record: counted by its official UTR, as
			// OnLiteCredit counts it.
			a.Verification, a.PayerVpa = "VERIFIED", ids.NormalizeVPA(s.PayerVPA)
			verified = true
			m.paid(a, s.AmountPaise, s.RRN)
		default:
			a.Verification, a.TxnId, a.PayerVpa = "VERIFIED", s.TxnID, ids.NormalizeVPA(s.PayerVPA)
			newTxn, verified = true, true
			m.paid(a, s.AmountPaise, s.RRN)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if verified && s.RRN != "" {
		if err := index(c.Tx, utrKey(s.RRN), ord.OrderId); err != nil {
			return err
		}
	}
	if !newTxn {
		return nil
	}
	return index(c.Tx, "t/"+s.TxnID, ord.OrderId)
}
