package bank_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/remitter"
)

// BenchmarkDebitRecords is the bank's record work on a DEBIT, without the
// network: the customer read of the PIN check, the posting (two account
// reads and writes, the posting), and the txn record's read and write.
func BenchmarkDebitRecords(b *testing.B) {
	db, err := store.Open(filepath.Join(b.TempDir(), "bank.db"), store.Options{NoSync: true, Buckets: store.RoleBuckets("bank")})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const ac, settle = "100001", "SETTLEMENT-ABNK0000001"
	if err := db.Update(func(tx *store.Tx) error {
		if err := ledger.Open(tx, newAccount(settle, "", ledger.KindSettlement, 0)); err != nil {
			return err
		}
		if err := ledger.Open(tx, newAccount(ac, "alice@alpha", ledger.KindCustomer, 1<<60)); err != nil {
			return err
		}
		return remitter.PutCustomer(tx, ac, newCustomer())
	}); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		txn := fmt.Sprintf("TXN%08d", i)
		if err := db.View(func(tx *store.Tx) error {
			_, _, err := remitter.GetCustomer(tx, ac)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		if err := db.Update(func(tx *store.Tx) error {
			if _, _, err := remitter.GetCustomer(tx, ac); err != nil {
				return err
			}
			rec, err := ledger.LoadTxn(tx, txn, "RRN", now)
			if err != nil {
				return err
			}
			if err := ledger.PostAt(tx, now, ledger.PostingRef(ledger.LegDebit, txn), ac, settle, 100); err != nil {
				return err
			}
			return ledger.Settle(tx, rec, newLeg(now), "")
		}); err != nil {
			b.Fatal(err)
		}
	}
}
func newAccount(ac, vpa, kind string, bal int64) *ledger.Account {
	return &ledger.Account{AcNum: ac, Ifsc: "ABNK0000001", Vpa: vpa, Name: "n", Kind: kind, BalancePaise: bal}
}

func newCustomer() *remitter.Customer {
	return &remitter.Customer{PinHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA", Mobile: "9800000001", PinReset: "2026-01-01"}
}

func newLeg(now time.Time) *ledger.Leg {
	return &ledger.Leg{Type: ledger.LegDebit, AcNum: "100001", Ifsc: "ABNK0000001", Addr: "alice@alpha", AmountPaise: 100, ReqMsgId: "MSG1", At: store.Nanos(now)}
}
