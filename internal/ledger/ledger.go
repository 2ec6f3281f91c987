package ledger

import (
	"errors"
	"fmt"
	"slices"
	"time"

	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// Kind is the kind of a ledger account (Account.kind).
type Kind = string

// Account kinds.
const (
	// KindCustomer is a customer's (user's or merchant's) account. Its
	// balance never goes below zero.
	KindCustomer Kind = "CUSTOMER"
	// KindSettlement is the bank's settlement account: its net position
	// towards the network. A DEBIT moves money into it and a CREDIT out of
	// it, so a bank that receives more than it pays out holds a negative
	// settlement balance. It is the only kind that may go below zero.
	KindSettlement Kind = "SETTLEMENT"
	// KindLitePool is a bank's Lite pool: the UPI Lite balances of all its
	// LRNs (remitter.LitePool). It never goes below zero.
	KindLitePool Kind = "LITE_POOL"
)

func validKind(k Kind) bool {
	return k == KindCustomer || k == KindSettlement || k == KindLitePool
}

// SettlementPrefix starts the account number of every bank's settlement
// account: SETTLEMENT-<IFSC>.
const SettlementPrefix = "SETTLEMENT-"

// SettlementAccount is the account number of the settlement account of the
// bank with ifsc.
func SettlementAccount(ifsc string) string { return SettlementPrefix + ifsc }

// Errors; match them with errors.Is.
var (
	// ErrDuplicate: the posting ref was already posted. Posting gives the
	// stored posting.
	ErrDuplicate = errors.New("ledger: ref already posted")
	// ErrInsufficientFunds: the posting would take a non-settlement account
	// below zero.
	ErrInsufficientFunds = errors.New("ledger: insufficient funds")
	// ErrNoAccount: no account with that number (or VPA).
	ErrNoAccount = errors.New("ledger: no such account")
	// ErrExists: Open of an account number or VPA already in the ledger.
	ErrExists = errors.New("ledger: account already exists")
	// ErrInvalid: a bad argument (amount <= 0, empty ref, from == to, bad
	// kind, negative opening balance, ...).
	ErrInvalid = errors.New("ledger: invalid")
	// ErrOverflow: a balance or total would not fit in an int64 of paise.
	ErrOverflow = errors.New("ledger: amount overflow")
)

// Account is one ledger account, kept in store.Accounts under its account
// number. Vpa is the customer's address, "" for settlement and Lite
// accounts; Kind is KindCustomer, KindSettlement or KindLitePool.
type Account = recordsv1.Account

// PostingRecord is one movement of money, kept in store.Postings under its
// ref; Ts is the step's time in Unix nanoseconds.
type PostingRecord = recordsv1.Posting

// The ledger's tables: accounts by number, postings by ref. Write them
// only through Open and PostAt (tests that forge a ledger aside).
var (
	Accounts = store.NewTable[Account](store.Accounts)
	Postings = store.NewTable[PostingRecord](store.Postings)
)

// Open adds an account with its opening balance. Opening is the only way
// money enters a ledger (seeding from the network file); after that it only
// moves. The account number must be new, and so must the VPA when set (VPAs
// are indexed in store.AccountsByVPA in normalized form).
func Open(tx *store.Tx, a *Account) error {
	switch {
	case a.AcNum == "":
		return fmt.Errorf("%w: account number is empty", ErrInvalid)
	case !validKind(a.Kind):
		return fmt.Errorf("%w: account %s: kind %q (want CUSTOMER, SETTLEMENT or LITE_POOL)", ErrInvalid, a.AcNum, a.Kind)
	case a.BalancePaise < 0:
		return fmt.Errorf("%w: account %s: negative opening balance %s", ErrInvalid, a.AcNum, upi.FormatPaise(a.BalancePaise))
	}
	if Accounts.Has(tx, a.AcNum) {
		return fmt.Errorf("%w: %s", ErrExists, a.AcNum)
	}
	if a.Vpa != "" {
		v := ids.NormalizeVPA(a.Vpa)
		if prev := tx.Get(store.AccountsByVPA, []byte(v)); prev != nil {
			return fmt.Errorf("%w: VPA %s is already linked to account %s", ErrExists, a.Vpa, prev)
		}
		if err := tx.Put(store.AccountsByVPA, []byte(v), []byte(a.AcNum)); err != nil {
			return err
		}
	}
	return Accounts.Put(tx, a.AcNum, a)
}

// Get returns the account acNum, or an error wrapping ErrNoAccount.
func Get(tx *store.Tx, acNum string) (*Account, error) {
	a, ok, err := Accounts.Get(tx, acNum)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoAccount, acNum)
	}
	return a, nil
}

// ByVPA returns the account linked to vpa (compared case-insensitively), or
// an error wrapping ErrNoAccount.
func ByVPA(tx *store.Tx, vpa string) (*Account, error) {
	ac := tx.Get(store.AccountsByVPA, []byte(ids.NormalizeVPA(vpa)))
	if ac == nil {
		return nil, fmt.Errorf("%w: no account for VPA %s", ErrNoAccount, vpa)
	}
	return Get(tx, string(ac))
}

// List returns every account in account-number order.
func List(tx *store.Tx) ([]*Account, error) {
	var out []*Account
	err := Accounts.Scan(tx, "", func(_ string, a *Account) (bool, error) {
		out = append(out, a)
		return true, nil
	})
	return out, err
}

// Total returns the sum of every balance, settlement accounts included.
// Postings never change it.
func Total(tx *store.Tx) (int64, error) {
	accts, err := List(tx)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, a := range accts {
		if s, ok := add(sum, a.BalancePaise); ok {
			sum = s
		} else {
			return 0, fmt.Errorf("%w: total of all balances", ErrOverflow)
		}
	}
	return sum, nil
}

// PostAt moves amount paise from account `from` to account `to` and records
// the posting under ref with timestamp ts, all in tx. A bank posts at its
// step's time (node.Ctx.Now, on the node's clock); there is no variant that
// reads the wall clock.
//
// A ref is posted at most once: when ref was posted before, PostAt changes
// nothing and returns an error wrapping ErrDuplicate (Posting gives the
// stored posting). A non-settlement `from` that would go below zero gives
// ErrInsufficientFunds; settlement accounts may go negative (they hold the
// bank's net position towards the network). amount must be > 0 and from and
// to distinct existing accounts; no balance may overflow.
func PostAt(tx *store.Tx, ts time.Time, ref, from, to string, amount int64) error {
	if err := checkPosting(tx, ref, from, to, amount); err != nil {
		return err
	}
	src, err := Get(tx, from)
	if err != nil {
		return err
	}
	dst, err := Get(tx, to)
	if err != nil {
		return err
	}
	if err := move(ref, from, to, src, dst, amount); err != nil {
		return err
	}
	if err := Accounts.Put(tx, from, src); err != nil {
		return err
	}
	if err := Accounts.Put(tx, to, dst); err != nil {
		return err
	}
	return Postings.Put(tx, ref, &PostingRecord{Ref: ref, From: from, To: to, AmountPaise: amount, Ts: store.Nanos(ts)})
}

// checkPosting is PostAt's check of its arguments and of ref's uniqueness.
func checkPosting(tx *store.Tx, ref, from, to string, amount int64) error {
	switch {
	case ref == "":
		return fmt.Errorf("%w: posting ref is empty", ErrInvalid)
	case amount <= 0:
		return fmt.Errorf("%w: posting %s: amount %d paise is not positive", ErrInvalid, ref, amount)
	case from == to:
		return fmt.Errorf("%w: posting %s: from and to are the same account %s", ErrInvalid, ref, from)
	}
	if Postings.Has(tx, ref) {
		return fmt.Errorf("%w: %s", ErrDuplicate, ref)
	}
	return nil
}

// move takes amount from src to dst, or changes neither: a customer
// account cannot go below zero, no balance may overflow.
func move(ref, from, to string, src, dst *Account, amount int64) error {
	newSrc, ok := add(src.BalancePaise, -amount)
	if !ok {
		return fmt.Errorf("%w: posting %s: balance of %s", ErrOverflow, ref, from)
	}
	if newSrc < 0 && src.Kind != KindSettlement {
		return fmt.Errorf("%w: posting %s: %s holds %s, needs %s", ErrInsufficientFunds, ref, from,
			upi.FormatPaise(src.BalancePaise), upi.FormatPaise(amount))
	}
	newDst, ok := add(dst.BalancePaise, amount)
	if !ok {
		return fmt.Errorf("%w: posting %s: balance of %s", ErrOverflow, ref, to)
	}
	src.BalancePaise, dst.BalancePaise = newSrc, newDst
	return nil
}

// Batch posts many postings in one step with each account read and
// written once: a UPI Lite sync's sub-batch posts hundreds, most of them
// between the same two accounts, and reading and writing both accounts
// for each was a tenth of its CPU. Its postings are PostAt's, with the
// same checks and errors; the accounts are written by Flush, which the
// step must call before it ends, and which nothing of the step may read
// around (Get reads through the batch).
type Batch struct {
	tx    *store.Tx
	accts map[string]*Account
	dirty []string
}

// NewBatch starts a batch of postings in tx.
func NewBatch(tx *store.Tx) *Batch { return &Batch{tx: tx, accts: map[string]*Account{}} }

// Get is ledger.Get through the batch: the account as the batch's
// postings left it.
func (b *Batch) Get(acNum string) (*Account, error) {
	if a, ok := b.accts[acNum]; ok {
		return a, nil
	}
	a, err := Get(b.tx, acNum)
	if err != nil {
		return nil, err
	}
	b.accts[acNum] = a
	return a, nil
}

// PostAt is ledger.PostAt, its accounts written by Flush.
func (b *Batch) PostAt(ts time.Time, ref, from, to string, amount int64) error {
	if err := checkPosting(b.tx, ref, from, to, amount); err != nil {
		return err
	}
	src, err := b.Get(from)
	if err != nil {
		return err
	}
	dst, err := b.Get(to)
	if err != nil {
		return err
	}
	if err := move(ref, from, to, src, dst, amount); err != nil {
		return err
	}
	for _, n := range []string{from, to} {
		if !slices.Contains(b.dirty, n) {
			b.dirty = append(b.dirty, n)
		}
	}
	return Postings.Put(b.tx, ref, &PostingRecord{Ref: ref, From: from, To: to, AmountPaise: amount, Ts: store.Nanos(ts)})
}

// Flush writes the accounts the batch's postings changed.
func (b *Batch) Flush() error {
	for _, n := range b.dirty {
		if err := Accounts.Put(b.tx, n, b.accts[n]); err != nil {
			return err
		}
	}
	b.dirty = b.dirty[:0]
	return nil
}

// Posting returns the posting stored under ref and whether there is one.
func Posting(tx *store.Tx, ref string) (*PostingRecord, bool, error) {
	return Postings.Get(tx, ref)
}

// add returns a+b and whether it did not overflow.
func add(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}
