package remitter

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// UPI Circle mandates at the remitter (docs/FLOWS.md, "Link, full
// delegation" steps 6-7, and "Update and remove"): a ReqMandate CREATE or
// UPDATE is checked as a DEBIT's PIN is (Prepare, checkPIN) and against
// circle.full.monthly_limit, then signed with the bank's node key and kept
// by UMN in store.Mandates; a REVOKE needs no PIN. No funds are held.

// Mandate is the remitter's record of a mandate it signed.
type Mandate = recordsv1.BankMandate

// Mandates is the bank's table of mandates, by UMN.
var Mandates = store.NewTable[Mandate](store.Mandates)

// Mandate statuses at the remitter.
const (
	MandateActive  = "ACTIVE"
	MandateRevoked = "REVOKED"
)

// ist is India Standard Time: a mandate's dates are IST days.
var ist = time.FixedZone("IST", 5*3600+1800)

func validateReqMandate(m *upiv1.ReqMandate) error {
	t, md, p := m.GetTxn().GetType(), m.GetMandate(), m.GetPayer()
	switch {
	case t != upiv1.Txn_CREATE && t != upiv1.Txn_UPDATE && t != upiv1.Txn_REVOKE:
		return node.Refuse("ReqMandate takes txn.type CREATE, UPDATE or REVOKE, not %s", t)
	case md.GetUmn() == "":
		return node.Refuse("ReqMandate needs mandate.umn")
	case t == upiv1.Txn_REVOKE:
		return nil
	case md.GetAmountPaise() <= 0:
		return node.Refuse("ReqMandate %s needs mandate.amount_paise > 0, got %d", t, md.GetAmountPaise())
	case p.GetAc().GetAcNum() == "" || p.GetAc().GetIfsc() == "":
		return node.Refuse("ReqMandate %s needs payer.ac with ac_num and ifsc", t)
	case pinBlock(p) == "":
		return node.Refuse("ReqMandate %s needs the PIN block in payer.creds (type PIN)", t)
	}
	for _, d := range []string{md.GetValidityStart(), md.GetValidityEnd()} {
		if _, err := time.ParseInLocation(upi.MandateDate, d, ist); err != nil {
			return node.Refuse("ReqMandate %s: mandate validity %q is not DDMMYYYY", t, d)
		}
	}
	return nil
}

// reqMandate handles ReqMandate CREATE, UPDATE and REVOKE and answers
// RespMandate.
func (r *Remitter) reqMandate(c *node.Ctx, in *node.Inbound, m *upiv1.ReqMandate) error {
	t, md := m.GetTxn(), m.GetMandate()
	rec, found, err := Mandates.Get(c.Tx, md.GetUmn())
	if err != nil {
		return err
	}
	if found && rec.LastTxnId == t.GetId() { // a repeat under a new msg_id
		return r.answerMandate(c, in, m, rec, "")
	}
	if t.GetType() == upiv1.Txn_REVOKE {
		if !found {
			return r.answerMandate(c, in, m, nil, upi.CodeMandateUnknown)
		}
		rec.Status, rec.Updated, rec.LastTxnId = MandateRevoked, store.Nanos(c.Now()), t.GetId()
		if rec.Revoked == 0 { // revoked once: a REVOKE again keeps the first time
			rec.Revoked = rec.Updated
		}
		if err := Mandates.Put(c.Tx, rec.Umn, rec); err != nil {
			return err
		}
		return r.answerMandate(c, in, m, rec, "")
	}
	code, err := r.checkMandate(c, in, m, rec, found)
	if err != nil || code != "" {
		if code != "" {
			r.log.Debug("mandate declined", "txn", t.GetId(), "umn", md.GetUmn(), "code", code)
		}
		if err != nil {
			return err
		}
		return r.answerMandate(c, in, m, nil, code)
	}
	if r.keys == nil || len(r.keys.Sign) == 0 {
		return errors.New("remitter: no signing key to sign a mandate with")
	}
	signed, err := signedBytes(md)
	if err != nil {
		return err
	}
	p := m.GetPayer()
	now := store.Nanos(c.Now())
	if !found {
		rec = &Mandate{Umn: md.GetUmn(), TxnId: t.GetId(), Created: now}
	}
	rec.AcNum, rec.PayerVpa, rec.PayeeVpa = p.GetAc().GetAcNum(), p.GetAddr(), m.GetPayee().GetAddr()
	rec.AmountPaise, rec.ValidityStart, rec.ValidityEnd = md.GetAmountPaise(), md.GetValidityStart(), md.GetValidityEnd()
	rec.Status, rec.Hold, rec.Updated, rec.LastTxnId = MandateActive, false, now, t.GetId()
	rec.Signed = signed
	rec.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(r.keys.Sign, signed))
	rec.SignKey = r.keys.Sign.Public().(ed25519.PublicKey)
	if err := Mandates.Put(c.Tx, rec.Umn, rec); err != nil {
		return err
	}
	return r.answerMandate(c, in, m, rec, "")
}

// checkMandate runs a CREATE's or UPDATE's checks in order: the account
// (U30), the PIN as for a DEBIT (Z6, U14, U01, ZM), the amount (QK). An
// UPDATE needs a mandate of the same account that is not revoked.
func (r *Remitter) checkMandate(c *node.Ctx, in *node.Inbound, m *upiv1.ReqMandate, rec *Mandate, found bool) (string, error) {
	p := m.GetPayer()
	if m.GetTxn().GetType() == upiv1.Txn_UPDATE {
		switch {
		case !found:
			return upi.CodeMandateUnknown, nil
		case rec.Status == MandateRevoked:
			return upi.CodeMandateRevoked, nil
		case rec.AcNum != p.GetAc().GetAcNum():
			return upi.CodeDebitFailed, nil
		}
	} else if found {
		return "", node.Refuse("mandate %s already exists at this bank (created by txn %s)", rec.Umn, rec.TxnId)
	}
	if code := c.Decline(); code != "" { // a rule of the network file
		return code, nil
	}
	acNum := p.GetAc().GetAcNum()
	if code, err := r.checkPayerAccount(c, p); code != "" || err != nil {
		return code, err
	}
	if code, err := r.checkPIN(c, in, acNum); code != "" || err != nil {
		return code, err
	}
	if limit := r.net.Circle.FullMonthly; limit > 0 && m.GetMandate().GetAmountPaise() > limit {
		return upi.CodeMandateLimit, nil
	}
	return "", nil
}

// signedBytes is md as the remitter signs it: marshalled deterministically
// with signature empty.
func signedBytes(md *upiv1.Mandate) ([]byte, error) {
	u := proto.Clone(md).(*upiv1.Mandate)
	u.Signature = ""
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(u)
	if err != nil {
		return nil, fmt.Errorf("marshal mandate %s: %w", md.GetUmn(), err)
	}
	return b, nil
}

// VerifyMandate reports whether signature (base64) is key's ed25519
// signature over md marshalled deterministically with signature empty:
// what a remitter's RespMandate carries.
func VerifyMandate(key ed25519.PublicKey, md *upiv1.Mandate, signature string) bool {
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return false
	}
	b, err := signedBytes(md)
	return err == nil && ed25519.Verify(key, b, sig)
}

// answerMandate sends RespMandate: SUCCESS with the mandate as signed (rec)
// and its signature, or FAILURE with code.
func (r *Remitter) answerMandate(c *node.Ctx, in *node.Inbound, m *upiv1.ReqMandate, rec *Mandate, code string) error {
	ref := &upiv1.Ref{Type: "PAYER", Addr: m.GetPayer().GetAddr(), RespCode: upi.CodeOK}
	resp := &upiv1.Resp{ReqMsgId: in.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS, Refs: []*upiv1.Ref{ref}}
	md := proto.Clone(m.GetMandate()).(*upiv1.Mandate)
	md.Signature = ""
	if code != "" {
		resp.Result, resp.ErrCode, ref.RespCode = upiv1.Resp_FAILURE, code, code
	} else if rec != nil {
		if len(rec.Signed) > 0 {
			var signed upiv1.Mandate
			if err := proto.Unmarshal(rec.Signed, &signed); err != nil {
				return fmt.Errorf("mandate %s: %w", rec.Umn, err)
			}
			md = &signed
		}
		md.Signature = rec.Signature
	}
	return c.Send(in.From, upiv1.SwitchService_RespMandate_FullMethodName, &upiv1.RespMandate{
		Txn: proto.Clone(m.GetTxn()).(*upiv1.Txn), Mandate: md, Resp: resp,
	})
}

// CheckMandate is the remitter's check of a debit under the mandate umn
// (docs/FLOWS.md, "Payment, full delegation" step 10): VF for a UMN this
// bank never signed, VH for a signature that is not the one it made (or
// does not verify), QC for a revoked mandate, QD for one past its
// validity_end (an IST day) or before its validity_start, QH for an amount
// over the mandate's amount on its own (the month's use is the DEBIT's to
// count); "" when the debit may go on.
func CheckMandate(tx *store.Tx, umn string, signature string, amount int64, now time.Time) (code string, err error) {
	rec, ok, err := Mandates.Get(tx, umn)
	if err != nil {
		return "", err
	}
	if !ok {
		return upi.CodeMandateUnknown, nil
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || signature != rec.Signature || len(rec.SignKey) != ed25519.PublicKeySize ||
		!ed25519.Verify(ed25519.PublicKey(rec.SignKey), rec.Signed, sig) {
		return upi.CodeMandateSignature, nil
	}
	if rec.Status == MandateRevoked {
		return upi.CodeMandateRevoked, nil
	}
	if !upi.InMandateValidity(rec.ValidityStart, rec.ValidityEnd, now) {
		return upi.CodeMandateExpired, nil
	}
	if amount > rec.AmountPaise {
		return "QH", nil
	}
	return "", nil
}

// mandateDebit checks a DEBIT of amount from acNum under md (docs/FLOWS.md,
// "Payment, full delegation" step 10): CheckMandate (VF, VH, QC, QD), VF
// too for a mandate of another account, then the circle limits against the
// bank's own count of the mandate's debits (Z8 over
// circle.full.per_txn_limit, QH over the mandate's amount in the month, FP
// over circle.cooling_limit within circle.cooling of the mandate's
// signing, the remitter's nearest to the linking). It returns the mandate
// to count the debit on, or the code of a decline.
func (r *Remitter) mandateDebit(c *node.Ctx, md *upiv1.Mandate, acNum string, amount int64) (*Mandate, string, error) {
	now := c.Now()
	code, err := CheckMandate(c.Tx, md.GetUmn(), md.GetSignature(), amount, now)
	if code != "" || err != nil {
		return nil, code, err
	}
	rec, _, err := Mandates.Get(c.Tx, md.GetUmn())
	if err != nil {
		return nil, "", err
	}
	if rec.AcNum != acNum {
		return nil, upi.CodeMandateUnknown, nil
	}
	if code := circleLimits(r.net.Circle, rec).Check(mandateUses(rec), amount, now); code != "" {
		return nil, code, nil
	}
	return rec, "", nil
}

// circleLimits are the limits of a debit under rec.
func circleLimits(cfg config.Circle, rec *Mandate) upi.CircleLimits {
	return cfg.Limits(rec.AmountPaise, store.FromNanos(rec.Created))
}

// mandateUses are rec's counted debits.
func mandateUses(rec *Mandate) []upi.CircleUse { return upi.CircleUses(rec.Debits) }

// keepDebits is how long a counted debit is kept: past any month's count.
const keepDebits = 62 * 24 * time.Hour

// countDebit counts a SUCCESS debit of txnID under rec, in the step that
// posts it, dropping debits too old to count.
func countDebit(c *node.Ctx, rec *Mandate, txnID string, amount int64) error {
	now := c.Now()
	kept := rec.Debits[:0]
	for _, d := range rec.Debits {
		if now.Sub(store.FromNanos(d.At)) < keepDebits {
			kept = append(kept, d)
		}
	}
	rec.Debits = append(kept, &recordsv1.CircleDebit{TxnId: txnID, AmountPaise: amount, At: store.Nanos(now)})
	rec.Updated = store.Nanos(now)
	return Mandates.Put(c.Tx, rec.Umn, rec)
}

// uncountDebit gives a reversed debit of txnID back to its mandate, if it
// was one's (a scan of the bank's mandates: a bank has few).
func uncountDebit(c *node.Ctx, txnID string) error {
	var found *Mandate
	err := Mandates.Scan(c.Tx, "", func(umn string, rec *Mandate) (bool, error) {
		for _, d := range rec.Debits {
			if d.TxnId == txnID {
				found = rec
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil || found == nil {
		return err
	}
	kept := found.Debits[:0]
	for _, d := range found.Debits {
		if d.TxnId != txnID {
			kept = append(kept, d)
		}
	}
	found.Debits, found.Updated = kept, store.Nanos(c.Now())
	return Mandates.Put(c.Tx, found.Umn, found)
}
