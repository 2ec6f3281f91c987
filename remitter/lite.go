package remitter

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// UPI Lite at the remitter (docs/FLOWS.md, UPI Lite and Lite X). The bank
// keeps the money of all its LRNs in one ledger account, its Lite pool
// (LitePool, kind LITE_POOL), and each LRN's share of it in a
// BankLiteAccount: the pool always equals the sum of the shares. Money
// enters the pool by a top-up's CREDIT (41, 42: settlement → pool) and
// leaves it by a transfer-out's DEBIT (46, 43), an online payment's
// confirmation (44) and a synced offline record (LITEDEBIT), each pool →
// settlement; a REVERSAL or LITEREVERSAL puts it back.

// LitePool is the account number of a bank's Lite pool.
const LitePool = "LITEPOOL"

// LiteAccount is one LRN at this bank (store.LiteAccounts, by LRN).
type LiteAccount = recordsv1.BankLiteAccount

// LiteRecord is this bank's decision on one offline record
// (store.LiteRecords, by lite.RecordKey).
type LiteRecord = recordsv1.BankLiteRecord

// The remitter's Lite tables.
var (
	LiteAccounts = store.NewTable[LiteAccount](store.LiteAccounts)
	LiteRecords  = store.NewTable[LiteRecord](store.LiteRecords)
)

// Posting refs of offline records: LITEDEBIT:<LRN>:<counter> at the
// remitter, LITEREVERSAL:<LRN>:<counter> its reversal, and
// LITECREDIT:<LRN>:<counter> at the beneficiary.
const (
	RefLiteDebit    = "LITEDEBIT"
	RefLiteReversal = "LITEREVERSAL"
	RefLiteCredit   = "LITECREDIT"
)

// LiteRef is the posting ref of kind (RefLite*) for the record counter of
// lrn.
func LiteRef(kind, lrn string, counter uint64) string {
	return kind + ":" + lrn + ":" + strconv.FormatUint(counter, 10) // not fmt: made for every synced record
}

func recordKey(lrn string, counter uint64) string { return lite.RecordKeyString(lrn, counter) }

// isLiteCredit reports whether m is a top-up's CREDIT (41, 42) of an LRN.
func isLiteCredit(m *upiv1.ReqPay) bool {
	p := m.GetTxn().GetPurpose()
	return m.GetLite() != nil && lite.IsTopUp(p)
}

// isLiteDebit reports whether m is a transfer-out's DEBIT (46, 43) of an
// LRN: no PIN, the switch checked the device's ARQC.
func isLiteDebit(m *upiv1.ReqPay) bool {
	p := m.GetTxn().GetPurpose()
	return m.GetTxn().GetType() == upiv1.Txn_DEBIT && m.GetLite() != nil &&
		(p == lite.PurposeTransferOut || p == lite.PurposeDisable)
}

// ValidateLiteCredit checks a top-up's CREDIT (beneficiary.LiteCreditor):
// the LRN in lite.lrn is payee.ac.ac_num, and an initial top-up (41)
// carries the device's public key.
func (r *Remitter) ValidateLiteCredit(m *upiv1.ReqPay) error {
	l := m.GetLite()
	lrn := m.GetPayee().GetAc().GetAcNum()
	switch {
	case l.GetLrn() != "" && l.GetLrn() != lrn:
		return node.Refuse("CREDIT of a Lite top-up: lite.lrn %q differs from payee.ac.ac_num %q", l.GetLrn(), lrn)
	case m.GetTxn().GetPurpose() == lite.PurposeInitialTopUp && len(l.GetDeviceKey()) != ed25519.PublicKeySize:
		return node.Refuse("CREDIT of an initial Lite top-up (41) needs lite.device_key, %d bytes (got %d)",
			ed25519.PublicKeySize, len(l.GetDeviceKey()))
	}
	return nil
}

// IsLiteCredit reports whether the beneficiary should hand the CREDIT m to
// LiteCredit (beneficiary.LiteCreditor).
func (r *Remitter) IsLiteCredit(m *upiv1.ReqPay) bool { return isLiteCredit(m) }

// LiteCredit handles a top-up's CREDIT (41, 42), which the switch sends
// the LRN's own bank on BeneficiaryService (beneficiary.LiteCreditor): the
// amount from settlement to the pool (CREDIT:<txn>, once) and onto the
// LRN's balance. 41 opens the LRN when this bank has none; 42 needs it
// ACTIVE (LR otherwise). It answers RespPay like any CREDIT.
func (r *Remitter) LiteCredit(c *node.Ctx, in *node.Inbound, m *upiv1.ReqPay) error {
	t, p := m.GetTxn(), m.GetPayee()
	amount := p.GetAmountPaise()
	if amount == 0 {
		amount = m.GetPayer().GetAmountPaise()
	}
	rec, err := ledger.LoadTxn(c.Tx, t.GetId(), t.GetCustRef(), c.Now())
	if err != nil {
		return err
	}
	if l := rec.Credit; l != nil {
		if l.AmountPaise != amount || l.AcNum != p.GetAc().GetAcNum() {
			return node.Refuse("txn %s was already credited for %s to LRN %s; this CREDIT asks %s to %s",
				t.GetId(), upi.FormatPaise(l.AmountPaise), l.AcNum, upi.FormatPaise(amount), p.GetAc().GetAcNum())
		}
		return r.answer(c, in, t, l)
	}
	leg := &ledger.Leg{
		Type: ledger.LegCredit, AcNum: p.GetAc().GetAcNum(), Ifsc: p.GetAc().GetIfsc(), Addr: p.GetAddr(),
		AmountPaise: amount, ReqMsgId: in.Msg.GetHead().GetMsgId(), At: store.Nanos(c.Now()),
	}
	code := upi.CodeCreditFailed
	if !rec.CreditAbsent { // else a status check answered "no credit": see beneficiary.credit
		if code, err = r.tryLiteCredit(c, m, amount); err != nil {
			return err
		}
	}
	if code != "" {
		r.log.Info("Lite top-up credit declined", "txn", t.GetId(), "lrn", leg.AcNum, "code", code)
	}
	if err := ledger.Settle(c.Tx, rec, leg, code); err != nil {
		return err
	}
	return r.answer(c, in, t, leg)
}

func (r *Remitter) tryLiteCredit(c *node.Ctx, m *upiv1.ReqPay, amount int64) (string, error) {
	if code := c.Decline(); code != "" {
		return code, nil
	}
	t, p, l := m.GetTxn(), m.GetPayee(), m.GetLite()
	if !strings.EqualFold(p.GetAc().GetIfsc(), r.self.IFSC) {
		return upi.CodeCreditFailed, nil
	}
	lrn := p.GetAc().GetAcNum()
	a, ok, err := LiteAccounts.Get(c.Tx, lrn)
	if err != nil {
		return "", err
	}
	switch {
	case !ok && (t.GetPurpose() == lite.PurposeInitialTopUp || t.GetPurpose() == lite.PurposeAutoTopUpSetup):
		ac := l.GetAc()
		if ac.GetAcNum() == "" {
			ac = m.GetPayer().GetAc()
		}
		a = &LiteAccount{
			Lrn: lrn, Vpa: m.GetPayer().GetAddr(), DeviceId: l.GetDeviceId(), DeviceKey: l.GetDeviceKey(),
			AcNum: ac.GetAcNum(), Ifsc: ac.GetIfsc(), State: lite.StateActive, Created: store.Nanos(c.Now()),
		}
	case !ok || a.State != lite.StateActive:
		return upi.CodeLiteUnknown, nil
	}
	err = ledger.PostAt(c.Tx, c.Now(), ledger.PostingRef(ledger.LegCredit, t.GetId()), r.settlement, LitePool, amount)
	switch {
	case errors.Is(err, ledger.ErrOverflow):
		return upi.CodeCreditFailed, nil
	case err != nil:
		return "", fmt.Errorf("lite top-up %s: %w", t.GetId(), err)
	}
	a.BalancePaise += amount
	a.TopupsPaise += amount
	a.TxnIds = append(a.TxnIds, t.GetId())
	return "", putLite(c, a)
}

// putLite stores a, stamped with the step's time.
func putLite(c *node.Ctx, a *LiteAccount) error {
	a.Updated = store.Nanos(c.Now())
	return LiteAccounts.Put(c.Tx, a.Lrn, a)
}

// validateLiteDebit checks a transfer-out's DEBIT: the LRN is the payer's
// account.
func validateLiteDebit(m *upiv1.ReqPay) error {
	lrn := m.GetPayer().GetAc().GetAcNum()
	if l := m.GetLite().GetLrn(); l != "" && l != lrn {
		return node.Refuse("DEBIT of a Lite transfer-out: lite.lrn %q differs from payer.ac.ac_num %q", l, lrn)
	}
	return nil
}

// tryLiteDebit is tryDebit for a transfer-out (46, 43): no PIN (the switch
// checked the ARQC); the LRN ACTIVE (LR), its balance at least the amount
// (Z9); the pool to settlement (DEBIT:<txn>) and off the LRN's balance.
func (r *Remitter) tryLiteDebit(c *node.Ctx, t *upiv1.Txn, p *upiv1.Party) (string, error) {
	if code := c.Decline(); code != "" {
		return code, nil
	}
	if !strings.EqualFold(p.GetAc().GetIfsc(), r.self.IFSC) {
		return upi.CodeDebitFailed, nil
	}
	lrn, amount := p.GetAc().GetAcNum(), p.GetAmountPaise()
	a, ok, err := LiteAccounts.Get(c.Tx, lrn)
	if err != nil {
		return "", err
	}
	if !ok || a.State != lite.StateActive {
		return upi.CodeLiteUnknown, nil
	}
	if a.BalancePaise < amount {
		return upi.CodeInsufficientFunds, nil
	}
	err = ledger.PostAt(c.Tx, c.Now(), ledger.PostingRef(ledger.LegDebit, t.GetId()), LitePool, r.settlement, amount)
	switch {
	case errors.Is(err, ledger.ErrInsufficientFunds):
		r.log.Error("Lite pool holds less than an LRN's balance", "lrn", lrn, "txn", t.GetId())
		return upi.CodeInsufficientFunds, nil
	case err != nil:
		return "", fmt.Errorf("lite transfer-out %s: %w", t.GetId(), err)
	}
	a.BalancePaise -= amount
	a.TransfersPaise += amount
	a.TxnIds = append(a.TxnIds, t.GetId())
	return "", putLite(c, a)
}

// liteReversed gives a reversed transfer-out's amount back to its LRN
// (the REVERSAL already moved it from settlement to the pool).
func liteReversed(c *node.Ctx, lrn string, amount int64) error {
	a, ok, err := LiteAccounts.Get(c.Tx, lrn)
	if err != nil || !ok {
		return err
	}
	a.BalancePaise += amount
	a.TransfersPaise -= amount
	return putLite(c, a)
}

// validateTxnConfirmation checks the switch's ReqTxnConfirmation: a
// confirmed online payment (44, lite{lrn, amount_paise}), or a disable (43,
// 50, lite{lrn, state DISABLED}).
func validateTxnConfirmation(_ *node.Inbound, m *upiv1.ReqTxnConfirmation) error {
	t, l := m.GetTxn(), m.GetLite()
	switch {
	case !ids.ValidID(t.GetId()):
		return node.Refuse("ReqTxnConfirmation needs txn.id, 3 letters and 32 hex digits (got %q)", t.GetId())
	case l.GetLrn() == "":
		return node.Refuse("ReqTxnConfirmation needs lite.lrn")
	}
	switch t.GetPurpose() {
	case lite.PurposeOnlinePay:
		if l.GetAmountPaise() <= 0 {
			return node.Refuse("ReqTxnConfirmation of an online Lite payment (44) needs lite.amount_paise > 0, got %d", l.GetAmountPaise())
		}
	case lite.PurposeAutoTopUpSetup:
		return validateLiteRevoke(l) // lite_auto.go
	case lite.PurposeDisable, lite.PurposeZeroDisable:
		if l.GetState() != lite.StateDisabled {
			return node.Refuse("ReqTxnConfirmation of a Lite disable (%s) needs lite.state DISABLED, got %q", t.GetPurpose(), l.GetState())
		}
	default:
		return node.Refuse("the remitter takes ReqTxnConfirmation of purpose 44, 43 or 50, not %q", t.GetPurpose())
	}
	return nil
}

// txnConfirmation handles ReqTxnConfirmation. 44: the payment the switch's
// auth engine took from the LRN leaves the pool (DEBIT:<txn>, once; a
// repeat changes nothing) and the LRN's balance, even below zero (the
// switch authorized it against its own balance, which it keeps at or
// below this bank's; the reconciliation reports a share below zero). 43,
// 50: the LRN is DISABLED. RespTxnConfirmation SUCCESS, or FAILURE LR for
// an LRN this bank does not have.
func (r *Remitter) txnConfirmation(c *node.Ctx, in *node.Inbound, m *upiv1.ReqTxnConfirmation) error {
	t, l := m.GetTxn(), m.GetLite()
	resp := &upiv1.Resp{ReqMsgId: in.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}
	code, err := r.confirm(c, t, l)
	if err != nil {
		return err
	}
	if code != "" {
		resp.Result, resp.ErrCode = upiv1.Resp_FAILURE, code
	}
	return c.Send(in.From, upiv1.SwitchService_RespTxnConfirmation_FullMethodName,
		&upiv1.RespTxnConfirmation{Txn: proto.Clone(t).(*upiv1.Txn), Resp: resp})
}

func (r *Remitter) confirm(c *node.Ctx, t *upiv1.Txn, l *upiv1.LiteInfo) (string, error) {
	if t.GetPurpose() == lite.PurposeAutoTopUpSetup {
		return r.revokeLiteMandate(c, t, l) // lite_auto.go
	}
	a, ok, err := LiteAccounts.Get(c.Tx, l.GetLrn())
	if err != nil {
		return "", err
	}
	if !ok {
		r.log.Warn("confirmation for an LRN this bank does not have", "txn", t.GetId(), "lrn", l.GetLrn())
		return upi.CodeLiteUnknown, nil
	}
	if t.GetPurpose() != lite.PurposeOnlinePay {
		if a.State != lite.StateDisabled {
			if a.BalancePaise != 0 {
				r.log.Warn("Lite disabled with a balance", "lrn", a.Lrn, "balance", a.BalancePaise, "txn", t.GetId())
			}
			a.State = lite.StateDisabled
			return "", putLite(c, a)
		}
		return "", nil
	}
	ref := ledger.PostingRef(ledger.LegDebit, t.GetId())
	if ledger.Postings.Has(c.Tx, ref) {
		return "", nil // a repeat
	}
	amount := l.GetAmountPaise()
	err = ledger.PostAt(c.Tx, c.Now(), ref, LitePool, r.settlement, amount)
	switch {
	case errors.Is(err, ledger.ErrInsufficientFunds):
		// The pool is the sum of the shares: it can only be short when the
		// shares together are, which the switch's balances never allow.
		r.log.Error("Lite pool too short for a confirmed online payment", "txn", t.GetId(), "lrn", a.Lrn, "amount", amount)
		return upi.CodeInsufficientFunds, nil
	case err != nil:
		return "", fmt.Errorf("lite confirmation %s: %w", t.GetId(), err)
	}
	a.BalancePaise -= amount
	a.OnlinePaise += amount
	a.TxnIds = append(a.TxnIds, t.GetId())
	if a.BalancePaise < 0 {
		r.log.Warn("confirmed online Lite payment takes the LRN's share below zero", "lrn", a.Lrn, "txn", t.GetId(), "balance", a.BalancePaise)
	}
	return "", putLite(c, a)
}

// validateLiteSync checks the switch's ReqLiteSync to the remitter: type
// LITE_SYNC, sub_type DEBIT (or unset) or REVERSAL, and records with an
// LRN, an amount and (to debit) a ts.
func validateLiteSync(_ *node.Inbound, m *upiv1.ReqLiteSync) error {
	t := m.GetTxn()
	switch {
	case t.GetType() != upiv1.Txn_LITE_SYNC:
		return node.Refuse("RemitterService/ReqLiteSync takes txn.type LITE_SYNC, not %s", t.GetType())
	case !ids.ValidID(t.GetId()):
		return node.Refuse("ReqLiteSync needs txn.id, 3 letters and 32 hex digits (got %q)", t.GetId())
	case len(m.GetRecords()) > node.MaxLiteBatch:
		return node.Refuse("ReqLiteSync carries %d records, at most %d", len(m.GetRecords()), node.MaxLiteBatch)
	case len(m.GetRecords()) == 0 && m.GetLrn() == "":
		return node.Refuse("ReqLiteSync needs records, or lrn to ask for its balance")
	}
	st := t.GetSubType()
	if st != upiv1.Txn_DEBIT && st != upiv1.Txn_REVERSAL && st != upiv1.Txn_TYPE_UNSPECIFIED {
		return node.Refuse("the remitter takes ReqLiteSync sub_type DEBIT or REVERSAL, not %s", st)
	}
	for i, r := range m.GetRecords() {
		switch {
		case r.GetLrn() == "":
			return node.Refuse("records[%d] needs lrn", i)
		case r.GetAmountPaise() <= 0:
			return node.Refuse("records[%d] (LRN %s, counter %d) needs amount_paise > 0, got %d", i, r.GetLrn(), r.GetCounter(), r.GetAmountPaise())
		case st != upiv1.Txn_REVERSAL && r.GetTs() == nil:
			return node.Refuse("records[%d] (LRN %s, counter %d) needs ts", i, r.GetLrn(), r.GetCounter())
		}
	}
	return nil
}

// liteBatch is one ReqLiteSync's step: the LRNs it touched, loaded once
// and stored once at the end, in the order they first came.
type liteBatch struct {
	c     *node.Ctx
	accts map[string]*LiteAccount
	order []string
	// verified is what Prepare checked of the records' signatures.
	verified *liteVerified
	// post posts the batch's records, its accounts written once at the
	// end (liteSync).
	post *ledger.Batch
}

// liteVerified is Prepare's check of a DEBIT batch's signatures, outside
// the step: record i's signature verifies with key[i] (nil: not checked,
// or it did not verify). The step trusts it only for the key the LRN
// still has.
type liteVerified struct {
	keys [][]byte
}

// verifiedWith reports whether Prepare found record i's signature good
// with key.
func (v *liteVerified) verifiedWith(i int, key []byte) bool {
	return v != nil && i < len(v.keys) && v.keys[i] != nil && bytes.Equal(v.keys[i], key)
}

// liteVerifiers bounds the signature checks Prepare runs at once, over
// every batch: one per CPU.
var liteVerifiers = make(chan struct{}, runtime.GOMAXPROCS(0))

// prepareLiteSync checks the signatures of a DEBIT batch's records with
// their LRNs' device keys (read in a view, not held while it computes),
// in batches (lite.VerifyRecords: ~15 µs a record, where one ed25519
// check alone is ~50 µs) spread over the CPUs; inside the step, even
// that would stall every message of the bank.
func prepareLiteSync(ctx context.Context, view func(func(*store.Tx) error) error, m *upiv1.ReqLiteSync) (any, error) {
	recs := m.GetRecords()
	if m.GetTxn().GetSubType() == upiv1.Txn_REVERSAL || len(recs) == 0 {
		return nil, nil
	}
	byLRN := map[string][]byte{}
	keys := make([][]byte, len(recs))
	err := view(func(tx *store.Tx) error {
		for i, rec := range recs {
			k, ok := byLRN[rec.GetLrn()]
			if !ok {
				a, found, err := LiteAccounts.Get(tx, rec.GetLrn())
				if err != nil {
					return err
				}
				if found {
					k = a.DeviceKey
				}
				byLRN[rec.GetLrn()] = k
			}
			keys[i] = k
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	v := &liteVerified{keys: make([][]byte, len(recs))}
	// A chunk per CPU no other check holds, but none smaller than
	// liteVerifyChunk: a batch check's gain grows with its size (500 at
	// once were 12.9 µs a record, two halves 15.7: BenchmarkVerifyRecords),
	// so a sync is split only to use CPUs that would otherwise idle; with
	// other syncs checking, it is one batch check.
	chunks := max(1, min(cap(liteVerifiers)-len(liteVerifiers), len(recs)/liteVerifyChunk))
	size := (len(recs) + chunks - 1) / chunks
	var wg sync.WaitGroup
	for lo := 0; lo < len(recs); lo += size {
		hi := min(lo+size, len(recs))
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case liteVerifiers <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-liteVerifiers }()
			for j, ok := range lite.VerifyRecords(keys[lo:hi], recs[lo:hi]) {
				if ok {
					v.keys[lo+j] = keys[lo+j]
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return v, nil
}

// liteVerifyChunk is the fewest records prepareLiteSync checks as one
// batch when it splits a sync over the CPUs.
const liteVerifyChunk = 64

// account is the LRN's account, nil when this bank has none.
func (b *liteBatch) account(lrn string) (*LiteAccount, error) {
	if a, ok := b.accts[lrn]; ok {
		return a, nil
	}
	a, ok, err := LiteAccounts.Get(b.c.Tx, lrn)
	if err != nil {
		return nil, err
	}
	if !ok {
		a = nil
	}
	b.accts[lrn] = a
	b.order = append(b.order, lrn)
	return a, nil
}

// save stores every account the batch touched, and gives their balances.
func (b *liteBatch) save() ([]*upiv1.LiteBalance, error) {
	var out []*upiv1.LiteBalance
	for _, lrn := range b.order {
		a := b.accts[lrn]
		if a == nil {
			continue
		}
		if err := putLite(b.c, a); err != nil {
			return nil, err
		}
		out = append(out, &upiv1.LiteBalance{Lrn: a.Lrn, BalancePaise: a.BalancePaise, State: a.State})
	}
	return out, nil
}

// liteSync handles ReqLiteSync: each record decided in order (or, sub_type
// REVERSAL, each posted record put back), and RespLiteSync with a result
// per record and the balance of every LRN of the batch.
func (r *Remitter) liteSync(c *node.Ctx, in *node.Inbound, m *upiv1.ReqLiteSync) error {
	b := &liteBatch{c: c, accts: map[string]*LiteAccount{}, post: ledger.NewBatch(c.Tx)}
	b.verified, _ = in.Prepared.(*liteVerified)
	if m.GetLrn() != "" {
		if _, err := b.account(m.GetLrn()); err != nil {
			return err
		}
	}
	reversal := m.GetTxn().GetSubType() == upiv1.Txn_REVERSAL
	results := make([]*upiv1.LiteRecordResult, 0, len(m.GetRecords()))
	for i, rec := range m.GetRecords() {
		var res *upiv1.LiteRecordResult
		var err error
		if reversal {
			res, err = r.reverseRecord(b, m.GetTxn().GetId(), rec)
		} else {
			res, err = r.syncRecord(b, i, m.GetTxn().GetId(), rec)
		}
		if err != nil {
			return err
		}
		results = append(results, lite.BankAnswer(res))
	}
	if err := b.post.Flush(); err != nil {
		return err
	}
	balances, err := b.save()
	if err != nil {
		return err
	}
	out := &upiv1.RespLiteSync{
		Txn:     proto.Clone(m.GetTxn()).(*upiv1.Txn),
		Resp:    &upiv1.Resp{ReqMsgId: in.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
		Results: results, Balances: balances,
	}
	if a := b.accts[m.GetLrn()]; a != nil {
		out.LrnBalancePaise = a.BalancePaise
	}
	return c.Send(in.From, upiv1.SwitchService_RespLiteSync_FullMethodName, out)
}

// resultOf is the answer for a record decided as stored.
func resultOf(s *LiteRecord) *upiv1.LiteRecordResult {
	res := &upiv1.LiteRecordResult{
		Lrn: s.Lrn, Counter: s.Counter, ProvisionalUtr: s.ProvisionalUtr, Result: upiv1.Resp_FAILURE, ErrCode: s.ErrCode,
		AmountPaise: s.AmountPaise, PayerAddr: s.PayerAddr, PayeeAddr: s.PayeeAddr, OrderId: s.OrderId,
		BatchTxnId: s.BatchTxnId, Reason: s.Reason,
	}
	if s.Status == ledger.ResultSuccess {
		res.Result = upiv1.Resp_SUCCESS
	}
	return res
}

// failed is the answer for rec declined with code, not stored.
func failed(rec *upiv1.LiteRecord, batch, code, reason string) *upiv1.LiteRecordResult {
	return &upiv1.LiteRecordResult{
		Lrn: rec.GetLrn(), Counter: rec.GetCounter(), ProvisionalUtr: rec.GetProvisionalUtr(), Result: upiv1.Resp_FAILURE,
		ErrCode: code, AmountPaise: rec.GetAmountPaise(), PayerAddr: rec.GetPayerAddr(), PayeeAddr: rec.GetPayeeAddr(),
		OrderId: rec.GetOrderId(), BatchTxnId: batch, Reason: reason,
	}
}

// syncRecord decides one offline record: a counter decided before with
// the same content is answered as decided (nothing posted again), with
// other content FAILURE LC (a double spend, kept on the record); else the
// checks — LRN ACTIVE (LR), the device's signature (LQ), ts within
// sync_deadline (LD), the offline cap of the profile at ts (Z8), the
// balance (Z9) — and the posting LITEDEBIT:<LRN>:<counter>, pool to
// settlement. The decision is stored (a FAILURE too, so a repeat answers
// the same), but for an unknown LRN and a bad signature: a record nobody
// signed must not take the counter from the device's own.
func (r *Remitter) syncRecord(b *liteBatch, i int, batch string, rec *upiv1.LiteRecord) (*upiv1.LiteRecordResult, error) {
	c := b.c
	key := recordKey(rec.GetLrn(), rec.GetCounter())
	hash := lite.RecordHash(rec)
	stored, ok, err := LiteRecords.Get(c.Tx, key)
	if err != nil {
		return nil, err
	}
	if ok {
		if bytes.Equal(stored.Hash, hash) {
			res := resultOf(stored)
			if res.Reason == "" {
				res.Reason = "decided before, in batch " + stored.BatchTxnId
			}
			return res, nil
		}
		r.log.Warn("Lite double spend: a counter brought again with other content",
			"lrn", rec.GetLrn(), "counter", rec.GetCounter(), "batch", batch, "first", stored.BatchTxnId)
		if !slices.Contains(stored.DoubleSpends, batch) {
			stored.DoubleSpends = append(stored.DoubleSpends, batch)
			stored.Updated = store.Nanos(c.Now())
			if err := LiteRecords.Put(c.Tx, key, stored); err != nil {
				return nil, err
			}
		}
		return failed(rec, batch, upi.CodeLiteReplay, fmt.Sprintf("counter %d of LRN %s was decided with other content in batch %s",
			rec.GetCounter(), rec.GetLrn(), stored.BatchTxnId)), nil
	}
	a, err := b.account(rec.GetLrn())
	if err != nil {
		return nil, err
	}
	if a == nil {
		return failed(rec, batch, upi.CodeLiteUnknown, "no such LRN at this bank"), nil
	}
	if !b.verified.verifiedWith(i, a.DeviceKey) && !lite.VerifyRecord(a.DeviceKey, rec) {
		r.log.Warn("Lite record's signature does not verify", "lrn", rec.GetLrn(), "counter", rec.GetCounter(), "batch", batch)
		return failed(rec, batch, upi.CodeLiteCryptogram, "the signature is not the LRN's device's"), nil
	}
	s := &LiteRecord{
		Lrn: rec.GetLrn(), Counter: rec.GetCounter(), Hash: hash, AmountPaise: rec.GetAmountPaise(),
		PayerAddr: rec.GetPayerAddr(), PayeeAddr: rec.GetPayeeAddr(), ProvisionalUtr: rec.GetProvisionalUtr(),
		OrderId: rec.GetOrderId(), BatchTxnId: batch, Created: store.Nanos(c.Now()), Updated: store.Nanos(c.Now()),
	}
	ts, amount := rec.GetTs().AsTime(), rec.GetAmountPaise()
	code, reason := "", ""
	switch limits := r.net.Lite.At(ts); {
	case a.State != lite.StateActive:
		code, reason = upi.CodeLiteUnknown, "the LRN is "+a.State
	case c.Now().Sub(ts) > r.net.Lite.SyncDeadline:
		code, reason = upi.CodeLiteDeadline, fmt.Sprintf("made %s, more than %s ago", ts.UTC().Format("2006-01-02T15:04:05Z"), r.net.Lite.SyncDeadline)
	case amount > limits.OfflinePerTxn:
		code, reason = upi.CodeLimitExceeded, fmt.Sprintf("over the offline limit %s of the profile from %s",
			upi.FormatPaise(limits.OfflinePerTxn), limits.From.Format("2006-01-02"))
	case amount > a.BalancePaise:
		code, reason = upi.CodeInsufficientFunds, "the LRN holds "+upi.FormatPaise(a.BalancePaise)
	}
	if code == "" {
		ref := LiteRef(RefLiteDebit, a.Lrn, rec.GetCounter())
		err := b.post.PostAt(c.Now(), ref, LitePool, r.settlement, amount)
		switch {
		case errors.Is(err, ledger.ErrInsufficientFunds):
			r.log.Error("Lite pool holds less than an LRN's balance", "lrn", a.Lrn, "counter", rec.GetCounter())
			code, reason = upi.CodeInsufficientFunds, "the Lite pool is short"
		case err != nil:
			return nil, fmt.Errorf("lite record %s: %w", ref, err)
		default:
			s.Ref = ref
			a.BalancePaise -= amount
			a.OfflinePaise += amount
			a.Counter = max(a.Counter, rec.GetCounter())
		}
	}
	s.Status, s.ErrCode, s.Reason = ledger.ResultSuccess, code, reason
	if code != "" {
		s.Status = ledger.ResultFailure
	}
	if err := LiteRecords.Put(c.Tx, key, s); err != nil {
		return nil, err
	}
	return resultOf(s), nil
}

// reverseRecord puts back a record this bank posted and the beneficiary
// could not credit: LITEREVERSAL:<LRN>:<counter>, settlement to pool, and
// onto the LRN's balance, once. A record with nothing posted (or put back
// before) is answered SUCCESS with nothing moved; a record whose content
// is not the one posted under its counter is FAILURE LC.
func (r *Remitter) reverseRecord(b *liteBatch, batch string, rec *upiv1.LiteRecord) (*upiv1.LiteRecordResult, error) {
	c := b.c
	key := recordKey(rec.GetLrn(), rec.GetCounter())
	s, ok, err := LiteRecords.Get(c.Tx, key)
	if err != nil {
		return nil, err
	}
	if !ok || s.Ref == "" {
		res := failed(rec, batch, "", "nothing was posted to reverse")
		res.Result = upiv1.Resp_SUCCESS
		return res, nil
	}
	if !bytes.Equal(s.Hash, lite.RecordHash(rec)) {
		return failed(rec, batch, upi.CodeLiteReplay, "not the record posted under this counter"), nil
	}
	res := resultOf(s)
	res.Result, res.ErrCode, res.Reason = upiv1.Resp_SUCCESS, "", "reversed"
	if s.Reversed {
		return res, nil
	}
	a, err := b.account(s.Lrn)
	if err != nil {
		return nil, err
	}
	ref := LiteRef(RefLiteReversal, s.Lrn, s.Counter)
	if err := b.post.PostAt(c.Now(), ref, r.settlement, LitePool, s.AmountPaise); err != nil {
		return nil, fmt.Errorf("lite reversal %s: %w", ref, err)
	}
	if a != nil {
		a.BalancePaise += s.AmountPaise
		a.OfflinePaise -= s.AmountPaise
	}
	// The record ends FAILURE U31: its money was never taken after all,
	// and a repeat of its DEBIT batch answers so.
	s.Reversed, s.ReversalRef, s.Updated = true, ref, store.Nanos(c.Now())
	s.Status, s.ErrCode, s.Reason = ledger.ResultFailure, upi.CodeCreditFailed, "reversed: the beneficiary did not credit it"
	return res, LiteRecords.Put(c.Tx, key, s)
}

// ListLite is the bank's LRNs as upiv1.LiteAccount (node.LiteLister):
// lrn's, or every one when lrn is "", in LRN order; with withRecords the
// offline records decided for each. bank names this bank.
func ListLite(tx *store.Tx, bank, lrn string, withRecords bool) ([]*upiv1.LiteAccount, error) {
	out := []*upiv1.LiteAccount{}
	err := LiteAccounts.Scan(tx, "", func(k string, a *LiteAccount) (bool, error) {
		if lrn != "" && k != lrn {
			return true, nil
		}
		la := &upiv1.LiteAccount{
			Lrn: a.Lrn, Node: bank, Vpa: a.Vpa, DeviceId: a.DeviceId, Bank: bank, State: a.State,
			BalancePaise: a.BalancePaise, TopupsPaise: a.TopupsPaise, OnlinePaise: a.OnlinePaise,
			OfflinePaise: a.OfflinePaise, TransfersPaise: a.TransfersPaise, Counter: a.Counter,
			TxnIds: slices.Clone(a.TxnIds),
		}
		if withRecords {
			err := LiteRecords.Scan(tx, a.Lrn+"/", func(_ string, s *LiteRecord) (bool, error) {
				la.Records = append(la.Records, resultOf(s))
				return true, nil
			})
			if err != nil {
				return false, err
			}
		}
		out = append(out, la)
		return true, nil
	})
	return out, err
}
