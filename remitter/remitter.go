package remitter

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/keys"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/pin"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// Config configures a Remitter.
type Config struct {
	Network *config.Network
	// Self is the bank node.
	Self   *config.Node
	Logger *slog.Logger
	// Verifier checks PINs against their hashes; default
	// pin.NewVerifier(0) (at most one hash per CPU at a time).
	Verifier *pin.Verifier
	// Now is the clock Prepare reads PIN locks by; it should be the node's
	// (node.Node.Now, on node.Config.Clock). Default time.Now.
	Now func() time.Time
	// Keys are the bank's own: PIN blocks are sealed to its X25519 key, and
	// its pepper keys the PIN hashes. Nil (or SetKeys later) opens no block.
	Keys *keys.Keys
}

// Remitter is the remitter role of one bank node.
type Remitter struct {
	net        *config.Network
	self       *config.Node
	settlement string
	log        *slog.Logger
	verifier   *pin.Verifier
	now        func() time.Time
	keys       *keys.Keys
}

// SetKeys gives the remitter the bank's keys; call it before the node
// serves.
func (r *Remitter) SetKeys(k *keys.Keys) { r.keys = k }

// pepper is the bank's PIN hash pepper, nil without keys.
func (r *Remitter) pepper() []byte {
	if r.keys == nil {
		return nil
	}
	return r.keys.Pepper
}

// New returns the remitter role of cfg.Self.
func New(cfg Config) *Remitter {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Verifier == nil {
		cfg.Verifier = pin.NewVerifier(0)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Remitter{
		net: cfg.Network, self: cfg.Self, log: log.With("role", "remitter"),
		settlement: ledger.SettlementAccount(cfg.Self.IFSC),
		verifier:   cfg.Verifier, now: cfg.Now, keys: cfg.Keys,
	}
}

// Customer is what the remitter keeps about an account holder
// (customers, in store.Customers, keyed by account number): the argon2id
// hash of the UPI PIN (pin.Hash, a PHC string), never the PIN, what the
// PIN in a PIN block is checked against; the wrong PINs in a row and when
// a lock they caused ends; the network file's pin_reset label the bank
// last applied. Pin is a plaintext PIN as files written before hashing kept
// it: the bank hashes it when it starts (bank.Seed) and never writes it;
// the remitter never checks against it. Files written before records were
// binary keep customers as JSON, which still reads.
type Customer = recordsv1.BankCustomer

// Customers is the table of customers, by account number.
var Customers = store.NewTable[Customer](store.Customers)

// NewCustomer returns a customer whose PIN hash is made from pinValue with
// the network's argon2id cost, peppered with pepper (pin.HashPeppered; none
// when empty). It costs one hash: call it outside a step.
func NewCustomer(net *config.Network, pepper []byte, pinValue, mobile string) (*Customer, error) {
	h, err := pin.HashPeppered(pinValue, pepper, HashParams(net))
	if err != nil {
		return nil, err
	}
	return &Customer{PinHash: h, Mobile: mobile}, nil
}

// HashParams are the argon2id cost of the network file's pin section.
func HashParams(net *config.Network) pin.Params {
	return pin.Params{Time: net.PIN.HashTime, MemoryKiB: net.PIN.HashMemoryKiB, Threads: uint8(net.PIN.HashThreads)}
}

// Locked reports whether c's PIN is locked at now.
func Locked(c *Customer, now time.Time) bool { return LockedUntil(c).After(now) }

// LockedUntil is when c's PIN lock ends, the zero time when it has none.
func LockedUntil(c *Customer) time.Time { return store.FromNanos(c.GetPinLockedUntil()) }

// wrongPIN counts a wrong PIN at now, locking the PIN for lockFor at the
// maxTries-th in a row. A lock that has ended starts the count again.
func wrongPIN(c *Customer, now time.Time, maxTries int, lockFor time.Duration) {
	if c.PinLockedUntil != 0 && !Locked(c, now) {
		c.PinTries, c.PinLockedUntil = 0, 0
	}
	c.PinTries++
	if c.PinTries >= int64(maxTries) {
		c.PinLockedUntil = store.Nanos(now.Add(lockFor))
	}
}

// PutCustomer stores the customer behind account acNum.
func PutCustomer(tx *store.Tx, acNum string, c *Customer) error { return Customers.Put(tx, acNum, c) }

// GetCustomer returns the customer behind account acNum and whether there
// is one.
func GetCustomer(tx *store.Tx, acNum string) (*Customer, bool, error) {
	return Customers.Get(tx, acNum)
}

// ScanCustomers calls fn with every customer in account-number order,
// until fn returns false or an error.
func ScanCustomers(tx *store.Tx, fn func(acNum string, c *Customer) (bool, error)) error {
	return Customers.Scan(tx, "", fn)
}

// OrgTxnID is the transaction a reversal or status check is about:
// txn.org_txn_id when set, else txn.id.
func OrgTxnID(t *upiv1.Txn) string {
	if id := t.GetOrgTxnId(); id != "" {
		return id
	}
	return t.GetId()
}

// pinBlock returns the data of the payer's PIN credential, or "".
func pinBlock(p *upiv1.Party) string { return pin.Find(p.GetCreds()).GetData() }

// pinCheck is what Prepare found out about a DEBIT's PIN, outside the
// step, for Handle.
type pinCheck struct {
	acNum, hash string // the account and the stored hash it checked against
	// checked is false when Prepare did not hash (the PIN was locked).
	checked, good bool
	// block is the code of a PIN block Prepare could not open (U14), "" when
	// it opened; seen is its key in store.PINBlocks.
	block string
	seen  []byte
	// rehash is a peppered hash of the right PIN, made when the stored one
	// is an older unpeppered hash.
	rehash string
}

// errPINNotChecked is an internal error: the PIN was not checked before
// the step against the customer's current state (a PIN reset or a lock
// ending in between). The switch resends the DEBIT and Prepare runs again.
var errPINNotChecked = errors.New("remitter: the PIN was not checked before this step; retry")

// Prepare implements node.Preparer: for a DEBIT it checks the PIN block
// against the customer's stored hash, outside the step's transaction (one
// argon2id, bounded and cached by the Verifier), and hands Handle the
// result. It checks nothing when the customer's PIN is locked: a locked
// account's burst of tries costs no hashing.
func (r *Remitter) Prepare(ctx context.Context, view func(func(*store.Tx) error) error, in *node.Inbound) (any, error) {
	if m, ok := in.Msg.(*upiv1.ReqLiteSync); ok {
		return prepareLiteSync(ctx, view, m)
	}
	txnID, payer, ok := pinSubject(in)
	if !ok {
		return nil, nil
	}
	acNum := payer.GetAc().GetAcNum()
	var cust *Customer
	var found bool
	if err := view(func(tx *store.Tx) (err error) { cust, found, err = GetCustomer(tx, acNum); return err }); err != nil {
		return nil, err
	}
	if !found || cust.PinHash == "" {
		return nil, nil // declined ZM (or earlier) in the step; nothing to check
	}
	pc := &pinCheck{acNum: acNum, hash: cust.PinHash}
	if Locked(cust, r.now()) {
		return pc, nil
	}
	pc.checked = true
	cred := pin.Find(payer.GetCreds())
	var priv *ecdh.PrivateKey
	var ki string
	if r.keys != nil {
		priv, ki = r.keys.HPKE, r.keys.KeyID()
	}
	value, err := pin.Open(priv, ki, cred, txnID, r.now())
	switch {
	case errors.Is(err, pin.ErrStale):
		r.log.Info("PIN block outside its window", "txn", txnID, "ts", cred.GetTs().AsTime())
		pc.block = upi.CodeEncryption
		return pc, nil
	case err != nil:
		r.log.Info("PIN block does not open", "txn", txnID, "ki", cred.GetKi(), "ver", cred.GetVer())
		pc.block = upi.CodeEncryption
		return pc, nil
	}
	pc.seen = seenKey(cred)
	pc.good, err = r.verifier.Verify(ctx, acNum, pin.Input(value, r.pepper(), cust.PinHash), cust.PinHash)
	if errors.Is(err, pin.ErrBadHash) {
		r.log.Error("PIN hash of account unreadable", "ac", acNum, "err", err)
		return pc, nil // a corrupt hash: no PIN can be right
	}
	if err == nil && pc.good && !pin.Peppered(cust.PinHash) && len(r.pepper()) > 0 {
		// An older unpeppered hash: make it again with the pepper, now
		// that the PIN is known right (one more hash, once per account).
		if h, herr := pin.HashPeppered(value, r.pepper(), HashParams(r.net)); herr == nil {
			pc.rehash = h
		}
	}
	return pc, err // ctx ended: not stored, the switch resends
}

// pinSubject is the transaction and payer whose PIN a message asks the
// remitter to check: a DEBIT's, or a mandate CREATE's or UPDATE's
// (mandate.go), which is checked exactly as a DEBIT's.
func pinSubject(in *node.Inbound) (txnID string, payer *upiv1.Party, ok bool) {
	switch m := in.Msg.(type) {
	case *upiv1.ReqPay:
		if in.Method == upiv1.RemitterService_ReqPay_FullMethodName && m.GetTxn().GetType() == upiv1.Txn_DEBIT &&
			m.GetMandate().GetUmn() == "" && !isRefund(m.GetTxn()) && !isLiteDebit(m) && !isLiteAutoDebit(m) { // a mandate's, a refund's and a Lite transfer-out's debit have no PIN
			return m.GetTxn().GetId(), m.GetPayer(), true
		}
	case *upiv1.ReqMandate:
		if t := m.GetTxn().GetType(); in.Method == upiv1.RemitterService_ReqMandate_FullMethodName &&
			(t == upiv1.Txn_CREATE || t == upiv1.Txn_UPDATE) {
			return m.GetTxn().GetId(), m.GetPayer(), true
		}
	}
	return "", nil, false
}

// seenKey is a PIN block's key in store.PINBlocks: its ts (Unix ns, 16 hex
// digits, so the bucket is in time order) and the SHA-256 of its data.
func seenKey(cred *upiv1.Cred) []byte {
	d := pin.Digest(cred)
	return fmt.Appendf(nil, "%016x/%x", uint64(cred.GetTs().AsTime().UnixNano()), d[:])
}

// maxPrune bounds the expired PIN block digests one DEBIT removes.
const maxPrune = 16

// useBlock records the PIN block of pc as opened, or reports that it was
// opened before (a replay). It also drops a few digests older than
// pin.Window, which a block of that age can no longer match (it is stale).
func useBlock(c *node.Ctx, pc *pinCheck) (replayed bool, err error) {
	if c.Tx.Has(store.PINBlocks, pc.seen) {
		return true, nil
	}
	if err := c.Tx.Put(store.PINBlocks, pc.seen, nil); err != nil {
		return false, err
	}
	cutoff := fmt.Appendf(nil, "%016x", uint64(c.Now().Add(-pin.Window-time.Minute).UnixNano()))
	var old [][]byte
	err = c.Tx.Scan(store.PINBlocks, nil, func(k, _ []byte) (bool, error) {
		if bytes.Compare(k, cutoff) >= 0 || len(old) == maxPrune {
			return false, nil
		}
		old = append(old, bytes.Clone(k))
		return true, nil
	})
	for _, k := range old {
		if err == nil {
			err = c.Tx.Delete(store.PINBlocks, k)
		}
	}
	return false, err
}

// fromSwitch: a bank takes every request only from the switch.
var fromSwitch = []string{config.RoleSwitch}

// Routes are the RemitterService requests (docs/FLOWS.md: DEBIT,
// REVERSAL, status checks): the fields each needs, checked without
// looking at state, and the step that answers the sender (the switch).
func (r *Remitter) Routes() []node.Route {
	return r.withLiteRecon([]node.Route{ // lite_recon.go: ReqLiteSync CHK_STATUS
		{Method: upiv1.RemitterService_ReqPay_FullMethodName, From: fromSwitch,
			Validate: node.Validates(func(_ *node.Inbound, m *upiv1.ReqPay) error { return validateReqPay(m) }),
			Handle: node.Handles(func(c *node.Ctx, in *node.Inbound, m *upiv1.ReqPay) error {
				if m.GetTxn().GetType() == upiv1.Txn_REVERSAL {
					return r.reversal(c, in, m)
				}
				return r.debit(c, in, m)
			})},
		{Method: upiv1.RemitterService_ReqChkTxn_FullMethodName, From: fromSwitch,
			Validate: func(in *node.Inbound) error { return validateChkTxn(in.Msg.GetTxn()) },
			Handle:   r.chkTxn},
		{Method: upiv1.RemitterService_ReqMandate_FullMethodName, From: fromSwitch,
			Validate: node.Validates(func(_ *node.Inbound, m *upiv1.ReqMandate) error { return validateReqMandate(m) }),
			Handle:   node.Handles(r.reqMandate)},
		{Method: upiv1.RemitterService_ReqLiteSync_FullMethodName, From: fromSwitch,
			Validate: node.Validates(validateLiteSync), Handle: node.Handles(r.liteSync)},
		{Method: upiv1.RemitterService_ReqTxnConfirmation_FullMethodName, From: fromSwitch,
			Validate: node.Validates(validateTxnConfirmation), Handle: node.Handles(r.txnConfirmation)},
	})
}

func validateReqPay(m *upiv1.ReqPay) error {
	t, p := m.GetTxn(), m.GetPayer()
	switch t.GetType() {
	case upiv1.Txn_DEBIT:
		switch {
		case p == nil:
			return node.Refuse("DEBIT needs payer")
		case p.GetAc().GetAcNum() == "":
			return node.Refuse("DEBIT needs payer.ac.ac_num")
		case p.GetAc().GetIfsc() == "":
			return node.Refuse("DEBIT needs payer.ac.ifsc")
		case p.GetAmountPaise() <= 0:
			return node.Refuse("DEBIT needs payer.amount_paise > 0, got %d", p.GetAmountPaise())
		case m.GetMandate().GetUmn() != "":
			// Under a mandate (UPI Circle, full delegation): no PIN.
			if m.GetMandate().GetSignature() == "" {
				return node.Refuse("DEBIT under mandate %s needs mandate.signature", m.GetMandate().GetUmn())
			}
		case isLiteDebit(m):
			// A Lite transfer-out's (lite.go): no PIN, the switch checked the
			// device's ARQC.
			return validateLiteDebit(m)
		case isLiteRefund(m):
			// A refund's of an offline Lite record (lite_refund.go): no PIN,
			// the LITECREDIT posting it refunds instead.
			return validateLiteRefund(m)
		case isLiteAutoDebit(m):
			// A top-up under a Lite mandate (lite_auto.go): no PIN.
			return validateLiteAutoDebit(m)
		case isLiteSetupDebit(m) && pinBlock(p) != "":
			return validateLiteSetupDebit(m)
		case isRefund(t):
			// A refund's (refund.go): no PIN, the credit it refunds instead.
			if id := t.GetOrgTxnId(); !ids.ValidID(id) {
				return node.Refuse("DEBIT of a REFUND needs txn.org_txn_id, the credit it refunds, 3 letters and 32 hex digits (got %q)", id)
			}
		case pinBlock(p) == "":
			return node.Refuse("DEBIT needs the PIN block in payer.creds (type PIN), or a mandate")
		}
	case upiv1.Txn_REVERSAL:
		if id := t.GetOrgTxnId(); id != "" && !ids.ValidID(id) {
			return node.Refuse("txn.org_txn_id %q is not 3 letters and 32 hex digits", id)
		}
		if p.GetAmountPaise() < 0 {
			return node.Refuse("REVERSAL payer.amount_paise must not be negative, got %d", p.GetAmountPaise())
		}
	default:
		return node.Refuse("RemitterService/ReqPay takes txn.type DEBIT or REVERSAL, not %s", t.GetType())
	}
	return nil
}

func validateChkTxn(t *upiv1.Txn) error {
	if ty := t.GetType(); ty != upiv1.Txn_CHK_STATUS && ty != upiv1.Txn_TYPE_UNSPECIFIED {
		return node.Refuse("ReqChkTxn takes txn.type CHK_STATUS, not %s", ty)
	}
	if st := t.GetSubType(); st != upiv1.Txn_DEBIT && st != upiv1.Txn_REVERSAL && st != upiv1.Txn_TYPE_UNSPECIFIED {
		return node.Refuse("the remitter answers status checks of DEBIT and REVERSAL legs, not %s", st)
	}
	if id := t.GetOrgTxnId(); id != "" && !ids.ValidID(id) {
		return node.Refuse("txn.org_txn_id %q is not 3 letters and 32 hex digits", id)
	}
	return nil
}

// debit handles ReqPay DEBIT.
func (r *Remitter) debit(c *node.Ctx, in *node.Inbound, m *upiv1.ReqPay) error {
	t, p := m.GetTxn(), m.GetPayer()
	rec, err := ledger.LoadTxn(c.Tx, t.GetId(), t.GetCustRef(), c.Now())
	if err != nil {
		return err
	}
	if l := rec.Debit; l != nil {
		// A repeat under a new msg_id: the same answer again, no new debit.
		if l.AmountPaise != p.GetAmountPaise() || l.AcNum != p.GetAc().GetAcNum() {
			return node.Refuse("txn %s was already debited for %s from account %s; this DEBIT asks %s from account %s",
				t.GetId(), upi.FormatPaise(l.AmountPaise), l.AcNum, upi.FormatPaise(p.GetAmountPaise()), p.GetAc().GetAcNum())
		}
		return r.answer(c, in, t, l)
	}
	leg := &ledger.Leg{
		Type: ledger.LegDebit, AcNum: p.GetAc().GetAcNum(), Ifsc: p.GetAc().GetIfsc(), Addr: p.GetAddr(),
		AmountPaise: p.GetAmountPaise(), ReqMsgId: in.Msg.GetHead().GetMsgId(), At: store.Nanos(c.Now()),
	}
	var code string
	switch {
	case isLiteDebit(m) && rec.Reversal != nil:
		code = upi.CodeDebitFailed // as tryDebit
	case isLiteDebit(m):
		code, err = r.tryLiteDebit(c, t, p)
	case isLiteAutoDebit(m):
		code, err = r.tryLiteAutoDebit(c, m, rec) // lite_auto.go
	default:
		code, err = r.tryDebit(c, in, t, p, m.GetMandate(), rec)
		if err == nil && code == "" && isLiteSetupDebit(m) {
			err = r.registerLiteMandate(c, m) // lite_auto.go
		}
	}
	if err != nil {
		return err
	}
	if code != "" {
		r.log.Debug("debit declined", "txn", t.GetId(), "code", code)
	}
	if err := ledger.Settle(c.Tx, rec, leg, code); err != nil {
		return err
	}
	return r.answer(c, in, t, leg)
}

// tryDebit runs the DEBIT checks in order and, when they pass, posts the
// debit. It returns the NPCI code of a decline, or "".
//
// A DEBIT under a mandate (md with a UMN) skips the PIN: the mandate's
// checks and the circle limits stand in for it (mandateDebit), and the
// debit is counted against the mandate in this step.
func (r *Remitter) tryDebit(c *node.Ctx, in *node.Inbound, t *upiv1.Txn, p *upiv1.Party, md *upiv1.Mandate, rec *ledger.TxnRecord) (string, error) {
	if rec.Reversal != nil {
		// The switch already gave up on this debit and reversed it; taking
		// the money now would leave it debited with no reversal to come.
		return upi.CodeDebitFailed, nil
	}
	if code := c.Decline(); code != "" { // a rule of the network file
		return code, nil
	}
	acNum, amount := p.GetAc().GetAcNum(), p.GetAmountPaise()
	if code, err := r.checkPayerAccount(c, p); code != "" || err != nil {
		return code, err
	}
	var err error
	var mrec *Mandate
	var credit *ledger.TxnRecord
	var liteDone *LiteRefunds
	if md.GetUmn() != "" {
		var code string
		if mrec, code, err = r.mandateDebit(c, md, acNum, amount); code != "" || err != nil {
			return code, err
		}
	} else if isRefund(t) && t.GetOrgTxnId() == "" {
		// A refund of an offline Lite record (lite_refund.go).
		var code string
		m, _ := in.Msg.(*upiv1.ReqPay)
		if liteDone, code, err = liteRefundDebit(c, m.GetLite(), acNum, amount); code != "" || err != nil {
			return code, err
		}
	} else if isRefund(t) {
		var code string
		if credit, code, err = refundDebit(c, t.GetOrgTxnId(), acNum, amount); code != "" || err != nil {
			return code, err
		}
	} else if code, err := r.checkPIN(c, in, acNum); code != "" || err != nil {
		return code, err
	}
	if limit := r.net.Limits.PerTxn; limit > 0 && amount > limit {
		return upi.CodeLimitExceeded, nil
	}
	err = ledger.PostAt(c.Tx, c.Now(), ledger.PostingRef(ledger.LegDebit, t.GetId()), acNum, r.settlement, amount)
	switch {
	case errors.Is(err, ledger.ErrInsufficientFunds):
		return upi.CodeInsufficientFunds, nil
	case errors.Is(err, ledger.ErrOverflow):
		return upi.CodeDebitFailed, nil
	case err != nil:
		return "", fmt.Errorf("debit %s: %w", t.GetId(), err)
	}
	if mrec != nil {
		return "", countDebit(c, mrec, t.GetId(), amount)
	}
	if credit != nil {
		rec.OrgTxnId = credit.TxnId
		return "", countRefund(c, credit, amount)
	}
	if liteDone != nil {
		return "", countLiteRefund(c, liteDone, rec, t.GetId(), amount)
	}
	return "", nil
}

// checkPIN applies what Prepare found out about the DEBIT's PIN to the
// customer of acNum: Z6 while the PIN is locked (whatever the PIN), ZM for
// a wrong PIN, counted in the customer's record in this step (the
// maxTries-th in a row locks it), "" for the right one, which resets the
// count.
func (r *Remitter) checkPIN(c *node.Ctx, in *node.Inbound, acNum string) (string, error) {
	cust, ok, err := GetCustomer(c.Tx, acNum)
	if err != nil {
		return "", err
	}
	if !ok || cust.PinHash == "" {
		return upi.CodeInvalidPIN, nil
	}
	now := c.Now()
	if Locked(cust, now) {
		return upi.CodePINLocked, nil
	}
	pc, _ := in.Prepared.(*pinCheck)
	if pc == nil || !pc.checked || pc.acNum != acNum || pc.hash != cust.PinHash {
		return "", errPINNotChecked
	}
	if pc.block != "" {
		return pc.block, nil // U14: not a PIN try
	}
	replayed, err := useBlock(c, pc)
	if err != nil {
		return "", err
	}
	if replayed {
		r.log.Warn("PIN block replayed", "ac", acNum)
		return upi.CodeDuplicate, nil
	}
	if !pc.good {
		wrongPIN(cust, now, r.net.PIN.MaxTries, r.net.PIN.LockFor)
		if Locked(cust, now) {
			r.log.Warn("PIN locked after wrong tries", "ac", acNum, "tries", cust.PinTries, "until", LockedUntil(cust))
		}
		return upi.CodeInvalidPIN, PutCustomer(c.Tx, acNum, cust)
	}
	if cust.PinTries > 0 || cust.PinLockedUntil != 0 || pc.rehash != "" {
		cust.PinTries, cust.PinLockedUntil = 0, 0
		if pc.rehash != "" {
			cust.PinHash = pc.rehash
		}
		return "", PutCustomer(c.Tx, acNum, cust)
	}
	return "", nil
}

// reversal handles ReqPay REVERSAL: the debit of the transaction, if any,
// is put back once.
func (r *Remitter) reversal(c *node.Ctx, in *node.Inbound, m *upiv1.ReqPay) error {
	t, p := m.GetTxn(), m.GetPayer()
	txnID := OrgTxnID(t)
	rec, err := ledger.LoadTxn(c.Tx, txnID, t.GetCustRef(), c.Now())
	if err != nil {
		return err
	}
	if l := rec.Reversal; l != nil {
		return r.answer(c, in, t, l) // a repeat: same answer, no money moves
	}
	leg := &ledger.Leg{
		Type: ledger.LegReversal, Result: ledger.ResultSuccess,
		AcNum: p.GetAc().GetAcNum(), Ifsc: p.GetAc().GetIfsc(), Addr: p.GetAddr(),
		ReqMsgId: in.Msg.GetHead().GetMsgId(), At: store.Nanos(c.Now()),
	}
	debit, debited, err := ledger.Posting(c.Tx, ledger.PostingRef(ledger.LegDebit, txnID))
	if err != nil {
		return err
	}
	if !debited || (debit.From == LitePool && rec.GetDebit() == nil) {
		// (A Lite online payment's confirmation posts DEBIT:<txn> with no
		// DEBIT leg: no REVERSAL takes it back.)
		leg.ReversalRespCode = upi.CodeNothingToReverse
	} else {
		if err := uncountDebit(c, txnID); err != nil {
			return err
		}
		if err := uncountLiteAuto(c, m, txnID); err != nil {
			return err
		}
		if err := uncountRefund(c, rec, debit.AmountPaise); err != nil {
			return err
		}
		if debit.From == LitePool {
			if err := liteReversed(c, rec.GetDebit().GetAcNum(), debit.AmountPaise); err != nil {
				return err
			}
		}
		ref := ledger.PostingRef(ledger.LegReversal, txnID)
		if err := ledger.PostAt(c.Tx, c.Now(), ref, debit.To, debit.From, debit.AmountPaise); err != nil {
			return fmt.Errorf("reversal %s: %w", txnID, err)
		}
		num, err := ledger.NextApprovalNum(c.Tx)
		if err != nil {
			return err
		}
		leg.ReversalRespCode, leg.Ref, leg.ApprovalNum = upi.CodeOK, ref, num
		leg.AmountPaise, leg.AcNum, leg.Ifsc = debit.AmountPaise, debit.From, r.self.IFSC
		if debit.From == LitePool {
			leg.AcNum = rec.GetDebit().GetAcNum() // the LRN
		}
		if d := rec.Debit; d != nil && d.Addr != "" {
			leg.Addr = d.Addr
		}
	}
	ledger.SetLeg(rec, leg)
	if err := ledger.PutTxn(c.Tx, rec); err != nil {
		return err
	}
	return r.answer(c, in, t, leg)
}

// answer sends RespPay for leg to the sender of the request in: the
// request's txn (type set to the leg's) and the leg's outcome.
func (r *Remitter) answer(c *node.Ctx, in *node.Inbound, t *upiv1.Txn, leg *ledger.Leg) error {
	return c.Send(in.From, upiv1.SwitchService_RespPay_FullMethodName, ledger.RespPay(leg, t, in.Msg.GetHead().GetMsgId()))
}

// chkTxn answers ReqChkTxn with the recorded outcome of the leg named in
// txn.sub_type (DEBIT when unset).
func (r *Remitter) chkTxn(c *node.Ctx, in *node.Inbound) error {
	t := in.Msg.GetTxn()
	legType := ledger.LegDebit
	if t.GetSubType() == upiv1.Txn_REVERSAL {
		legType = ledger.LegReversal
	}
	resp, err := ledger.RespChkTxn(c.Tx, t, OrgTxnID(t), legType, in.Msg.GetHead().GetMsgId())
	if err != nil {
		return err
	}
	return c.Send(in.From, upiv1.SwitchService_RespChkTxn_FullMethodName, resp)
}

// checkPayerAccount is what a DEBIT and a mandate both need of the payer's
// account: one of this bank's customer accounts (U30 otherwise).
func (r *Remitter) checkPayerAccount(c *node.Ctx, p *upiv1.Party) (code string, err error) {
	acct, err := ledger.Get(c.Tx, p.GetAc().GetAcNum())
	if errors.Is(err, ledger.ErrNoAccount) {
		return upi.CodeDebitFailed, nil
	}
	if err != nil {
		return "", err
	}
	if !strings.EqualFold(p.GetAc().GetIfsc(), r.self.IFSC) || acct.Kind != ledger.KindCustomer {
		return upi.CodeDebitFailed, nil
	}
	return "", nil
}
