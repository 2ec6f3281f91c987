package bank

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/upisim/upisim/beneficiary"
	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/keydir"
	"github.com/upisim/upisim/internal/keys"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/remitter"
)

// Config configures a bank node.
type Config struct {
	Network *config.Network
	// Self is this bank's node in Network (role bank, with an IFSC).
	Self   *config.Node
	Logger *slog.Logger
}

// Bank is the bank node role. It implements node.Handler, node.Validator,
// node.TxnInspector and node.Accounts.
type Bank struct {
	*node.Table
	net  *config.Network
	self *config.Node
	log  *slog.Logger
	rem  *remitter.Remitter
	ben  *beneficiary.Beneficiary
	n    *node.Node
	// keys are the bank's own (SetKeys); dir publishes them to the switch.
	keys *keys.Keys
	dir  *keydir.Dir
}

// SetKeys gives the bank its keys: the remitter opens PIN blocks with them
// and peppers new PIN hashes. Call it before Seed.
func (b *Bank) SetKeys(k *keys.Keys) {
	b.keys = k
	b.rem.SetKeys(k)
	b.dir.Keys = k
}

func (b *Bank) pepper() []byte {
	if b.keys == nil {
		return nil
	}
	return b.keys.Pepper
}

var (
	_ node.Handler      = (*Bank)(nil)
	_ node.Validator    = (*Bank)(nil)
	_ node.Preparer     = (*Bank)(nil)
	_ node.TxnInspector = (*Bank)(nil)
	_ node.Accounts     = (*Bank)(nil)
)

// New returns the bank role of cfg.Self. It panics when cfg has no network
// or Self is not a bank with an IFSC: that is a wiring mistake.
func New(cfg Config) *Bank {
	if cfg.Network == nil || cfg.Self == nil {
		panic("bank.New: Config.Network and Config.Self are required")
	}
	if cfg.Self.Role != config.RoleBank || cfg.Self.IFSC == "" {
		panic(fmt.Sprintf("bank.New: node %q is not a bank with an IFSC (role %q)", cfg.Self.Name, cfg.Self.Role))
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bank{net: cfg.Network, self: cfg.Self, log: log}
	b.rem = remitter.New(remitter.Config{Network: cfg.Network, Self: cfg.Self, Logger: log, Now: b.now})
	// A Lite top-up's CREDIT comes on BeneficiaryService; the remitter
	// keeps the LRNs.
	b.ben = beneficiary.New(beneficiary.Config{Network: cfg.Network, Self: cfg.Self, Logger: log, Lite: b.rem})
	b.dir = keydir.New(cfg.Network, cfg.Self, log)
	b.Table = node.NewTable(node.Routes{
		Who:      "bank",
		Log:      log,
		Services: keydir.Services(&upiv1.RemitterService_ServiceDesc, &upiv1.BeneficiaryService_ServiceDesc),
		Peers:    node.Directory{Network: cfg.Network.Name, Roles: cfg.Network.RolesByName(), Sole: config.RoleSwitch},
		Routes:   slices.Concat(b.rem.Routes(), b.ben.Routes(), b.dir.Routes()),
	})
	return b
}

// now is the node's clock once attached.
func (b *Bank) now() time.Time {
	if b.n != nil {
		return b.n.Now()
	}
	return time.Now()
}

// Attach keeps the node the bank runs on, for Seed, the servers and the
// admin views. Call it once, before the node starts serving.
func (b *Bank) Attach(n *node.Node) { b.n = n }

// SettlementAccount is the number of this bank's settlement account.
func (b *Bank) SettlementAccount() string { return ledger.SettlementAccount(b.self.IFSC) }

// Seed opens, on first start, the settlement account SETTLEMENT-<IFSC> (at
// zero), the Lite pool LITEPOOL (at zero; also on a later start of a
// ledger that has none) and every account the network file gives this
// bank, with its
// opening balance and, for users, the argon2id hash of the UPI PIN (never
// the PIN), and records the opening total. Later starts keep balances;
// on every start Seed also applies the PINs' upkeep (pinUpkeep).
func (b *Bank) Seed() error {
	if b.n == nil {
		return errors.New("bank: Seed called before Attach")
	}
	if err := b.seedLedger(); err != nil {
		return err
	}
	if err := b.pinUpkeep(); err != nil {
		return err
	}
	return b.dir.Publish(b.n) // the bank's public keys to the switch, if they changed
}

func (b *Bank) seedLedger() error {
	var seeded bool
	if err := b.n.View(func(tx *store.Tx) error { seeded = store.MetaBankSeeded.Has(tx); return nil }); err != nil {
		return err
	}
	// Hash the PINs before the step: argon2id must not run in the commit
	// loop.
	var custs map[string]*remitter.Customer
	if !seeded {
		var err error
		if custs, err = b.hashPINs(b.net.AccountsOfBank(b.self.Name), nil); err != nil {
			return err
		}
	}
	return b.n.Update(func(c *node.Ctx) error {
		if err := b.openLitePool(c.Tx); err != nil {
			return err
		}
		if store.MetaBankSeeded.Has(c.Tx) {
			// A ledger seeded before the opening total was recorded gets
			// it now if no money has moved yet; else it stays unknown.
			if store.MetaOpeningTotal.Has(c.Tx) || hasPostings(c.Tx) {
				return nil
			}
			return putOpeningTotal(c.Tx)
		}
		err := ledger.Open(c.Tx, &ledger.Account{
			AcNum: b.SettlementAccount(), Ifsc: b.self.IFSC,
			Name: b.self.Name + " settlement", Kind: ledger.KindSettlement,
		})
		if err != nil {
			return fmt.Errorf("bank %s: seed: %w", b.self.Name, err)
		}
		for _, a := range b.net.AccountsOfBank(b.self.Name) {
			err := ledger.Open(c.Tx, &ledger.Account{
				AcNum: a.Number, Ifsc: b.self.IFSC, Vpa: a.VPA, Name: a.Name,
				Kind: ledger.KindCustomer, BalancePaise: a.Balance,
			})
			if err != nil {
				return fmt.Errorf("bank %s: seed account of %s: %w", b.self.Name, a.VPA, err)
			}
			if cust, ok := custs[a.Number]; ok {
				if err := remitter.PutCustomer(c.Tx, a.Number, cust); err != nil {
					return err
				}
			}
		}
		if err := putOpeningTotal(c.Tx); err != nil {
			return err
		}
		return store.MetaBankSeeded.Set(c.Tx, c.Now())
	})
}

// openLitePool opens the bank's Lite pool account (remitter.LitePool,
// kind LITE_POOL) at zero when the ledger has none: on first start, and on
// the first start of a ledger seeded before UPI Lite. Opening it at zero
// changes no total.
func (b *Bank) openLitePool(tx *store.Tx) error {
	if ledger.Accounts.Has(tx, remitter.LitePool) {
		return nil
	}
	err := ledger.Open(tx, &ledger.Account{
		AcNum: remitter.LitePool, Ifsc: b.self.IFSC, Name: b.self.Name + " Lite pool", Kind: ledger.KindLitePool,
	})
	if err != nil {
		return fmt.Errorf("bank %s: open the Lite pool: %w", b.self.Name, err)
	}
	return nil
}

// hashPINs makes the customer record of every account of accts that has
// a PIN (keeping what old holds of it, by account, but the PIN hash and
// its tries), hashing the PINs in parallel, one per CPU at most.
func (b *Bank) hashPINs(accts []config.Account, old map[string]*remitter.Customer) (map[string]*remitter.Customer, error) {
	out := make(map[string]*remitter.Customer, len(accts))
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(runtime.NumCPU())
	for _, a := range accts {
		if a.PIN == "" {
			continue
		}
		g.Go(func() error {
			c, err := remitter.NewCustomer(b.net, b.pepper(), a.PIN, a.Mobile)
			if err != nil {
				return fmt.Errorf("bank %s: hash the PIN of %s: %w", b.self.Name, a.VPA, err)
			}
			if o := old[a.Number]; o.GetMobile() != "" {
				c.Mobile = o.GetMobile()
			}
			c.PinReset = a.PINReset
			mu.Lock()
			out[a.Number] = c
			mu.Unlock()
			return nil
		})
	}
	return out, g.Wait()
}

// pinUpkeep runs on every start, after seeding. It hashes any plaintext
// PIN a file written before PINs were hashed still holds (and removes the
// plaintext), and applies the network file's pin_reset: an account whose
// pin_reset label differs from the one last applied takes the file's PIN
// again (a new hash) with its wrong tries and lock cleared. The hashing
// runs before the one step that writes the results.
func (b *Bank) pinUpkeep() error {
	byNum := map[string]config.Account{}
	for _, a := range b.net.AccountsOfBank(b.self.Name) {
		byNum[a.Number] = a
	}
	old := map[string]*remitter.Customer{}
	var legacy []config.Account // stored plaintext PINs, to hash
	var reset []config.Account  // the file's PIN, to hash again
	err := b.n.View(func(tx *store.Tx) error {
		return remitter.ScanCustomers(tx, func(k string, c *remitter.Customer) (bool, error) {
			a, inFile := byNum[k]
			switch {
			case inFile && a.PIN != "" && a.PINReset != "" && a.PINReset != c.PinReset:
				reset = append(reset, a)
			case c.Pin != "":
				legacy = append(legacy, config.Account{Number: k, PIN: c.Pin, Mobile: c.Mobile, PINReset: c.PinReset})
			default:
				return true, nil
			}
			old[k] = c
			return true, nil
		})
	})
	if err != nil || len(legacy)+len(reset) == 0 {
		return err
	}
	hashed, err := b.hashPINs(append(legacy, reset...), old)
	if err != nil {
		return err
	}
	for _, a := range legacy {
		c := hashed[a.Number]
		c.PinTries, c.PinLockedUntil = old[a.Number].GetPinTries(), old[a.Number].GetPinLockedUntil()
	}
	err = b.n.Update(func(c *node.Ctx) error {
		for num, cust := range hashed {
			if err := remitter.PutCustomer(c.Tx, num, cust); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, a := range reset {
		b.log.Info("PIN reset from the network file", "ac", a.Number, "pin_reset", a.PINReset)
	}
	if len(legacy) > 0 {
		b.log.Info("hashed PINs stored in plaintext by an older version", "accounts", len(legacy))
	}
	return nil
}

// putOpeningTotal records the ledger's current total as its opening total.
func putOpeningTotal(tx *store.Tx) error {
	total, err := ledger.Total(tx)
	if err != nil {
		return err
	}
	return store.MetaOpeningTotal.Set(tx, total)
}

func hasPostings(tx *store.Tx) bool {
	k, _ := tx.First(store.Postings)
	return k != nil
}

// openingTotal is the recorded opening total, nil when there is none.
func openingTotal(tx *store.Tx) (*int64, error) {
	v, ok, err := store.MetaOpeningTotal.Get(tx)
	if err != nil || !ok {
		return nil, err
	}
	return &v, nil
}

// service is the service part of a full method name: "upi.v1.RemitterService".
func service(method string) string {
	s, _, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	return s
}

// Prepare implements node.Preparer: the remitter checks a DEBIT's PIN
// against its hash before the step.
func (b *Bank) Prepare(ctx context.Context, view func(func(*store.Tx) error) error, in *node.Inbound) (any, error) {
	if service(in.Method) == upiv1.RemitterService_ServiceDesc.ServiceName {
		return b.rem.Prepare(ctx, view, in)
	}
	return nil, nil
}

// Register registers RemitterService and BeneficiaryService on s.
func (b *Bank) Register(s *grpc.Server) {
	node.Register(s, b.Table, b.n)
}

// view runs fn on the node's state.
func (b *Bank) view(fn func(tx *store.Tx) error) error {
	if b.n == nil {
		return status.Errorf(codes.Unavailable, "bank %s is not running", b.self.Name)
	}
	return b.n.View(fn)
}

// Balance implements node.Accounts: the balance of the account linked to
// vpa.
func (b *Bank) Balance(vpa string) (*upiv1.GetBalanceResponse, error) {
	if vpa == "" {
		return nil, status.Error(codes.InvalidArgument, "vpa is required")
	}
	var a *ledger.Account
	err := b.view(func(tx *store.Tx) (err error) {
		a, err = ledger.ByVPA(tx, vpa)
		return err
	})
	if errors.Is(err, ledger.ErrNoAccount) {
		return nil, status.Errorf(codes.NotFound, "no account for VPA %s at bank %s", vpa, b.self.Name)
	}
	if err != nil {
		return nil, internal("balance", err)
	}
	return &upiv1.GetBalanceResponse{Vpa: a.Vpa, AcNum: a.AcNum, Ifsc: a.Ifsc, BalancePaise: a.BalancePaise}, nil
}

// ListAccounts implements node.Accounts: every account, settlement
// included, the sum of their balances, the opening total, and how many
// postings the ledger holds.
func (b *Bank) ListAccounts() (*upiv1.ListAccountsResponse, error) {
	resp := &upiv1.ListAccountsResponse{}
	err := b.view(func(tx *store.Tx) error {
		accts, err := ledger.List(tx)
		if err != nil {
			return err
		}
		for _, a := range accts {
			resp.Accounts = append(resp.Accounts, &upiv1.AccountBalance{
				AcNum: a.AcNum, Ifsc: a.Ifsc, Vpa: a.Vpa, Name: a.Name, Kind: a.Kind, BalancePaise: a.BalancePaise,
			})
		}
		if resp.TotalPaise, err = ledger.Total(tx); err != nil {
			return err
		}
		resp.PostingCount = int64(tx.Count(store.Postings))
		resp.OpeningTotalPaise, err = openingTotal(tx)
		return err
	})
	if err != nil {
		return nil, internal("list accounts", err)
	}
	return resp, nil
}

// InspectTxn implements node.TxnInspector. State lists the legs done, in
// the order debit, reversal, credit, joined by "+": DEBITED or
// DEBIT_FAILED, REVERSED (the debit was put back) or NOTHING_TO_REVERSE,
// CREDITED or CREDIT_FAILED — e.g. "DEBITED+REVERSED", or
// "DEBITED+CREDITED" for a payment within this bank. The transaction's
// type, status and err_code are those of the latest leg.
func (b *Bank) InspectTxn(txnID string) (*upiv1.GetTransactionResponse, error) {
	var rec *ledger.TxnRecord
	var ok bool
	err := b.view(func(tx *store.Tx) (err error) {
		rec, ok, err = ledger.GetTxn(tx, txnID)
		return err
	})
	if err != nil {
		return nil, internal("transaction "+txnID, err)
	}
	if !ok {
		return nil, status.Errorf(codes.NotFound, "bank %s has no transaction %s", b.self.Name, txnID)
	}
	state, t := txnView(rec)
	return &upiv1.GetTransactionResponse{Node: b.self.Name, State: state, Transaction: t}, nil
}

// txnView is rec as InspectTxn shows it: the legs' states joined by "+" and
// the transaction with the latest leg's type, status and err_code.
func txnView(rec *ledger.TxnRecord) (string, *upiv1.Transaction) {
	var states []string
	var last *ledger.Leg
	for _, l := range []*ledger.Leg{rec.Debit, rec.Reversal, rec.Credit} {
		if l == nil {
			continue
		}
		states = append(states, legState(l))
		if last == nil || l.At >= last.At {
			last = l
		}
	}
	t := &upiv1.Transaction{
		TxnId: rec.TxnId, Rrn: rec.Rrn,
		Created: timestamppb.New(store.FromNanos(rec.Created)), Updated: timestamppb.New(store.FromNanos(rec.Updated)),
	}
	if last != nil {
		t.Type = upiv1.Txn_Type(upiv1.Txn_Type_value[last.Type])
		t.Status = upiv1.Resp_Result(upiv1.Resp_Result_value[last.Result])
		t.ErrCode = last.ErrCode
	}
	if d := rec.Debit; d != nil {
		t.PayerVpa, t.AmountPaise = d.Addr, d.AmountPaise
	}
	if c := rec.Credit; c != nil {
		t.PayeeVpa = c.Addr
		if t.AmountPaise == 0 {
			t.AmountPaise = c.AmountPaise
		}
	}
	if r := rec.Reversal; r != nil && t.PayerVpa == "" {
		t.PayerVpa = r.Addr
	}
	return strings.Join(states, "+"), t
}

// internal keeps a status error as it is and makes others Internal.
func internal(what string, err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Errorf(codes.Internal, "%s: %v", what, err)
}

func legState(l *ledger.Leg) string {
	ok := l.Result == ledger.ResultSuccess
	switch l.Type {
	case ledger.LegDebit:
		if ok {
			return "DEBITED"
		}
		return "DEBIT_FAILED"
	case ledger.LegReversal:
		if ledger.Posted(l) {
			return "REVERSED"
		}
		return "NOTHING_TO_REVERSE"
	case ledger.LegCredit:
		if ok {
			return "CREDITED"
		}
		return "CREDIT_FAILED"
	}
	return l.Type
}
