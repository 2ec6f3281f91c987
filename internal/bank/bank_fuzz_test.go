package bank_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/upisim/upisim/internal/upi"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/bank"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	pinblock "github.com/upisim/upisim/internal/pin"
)

// fzTxnID is the txn id of the seeds; FuzzBankReceive swaps it (and the
// PIN block made for it) for a fresh one in every run.
const fzTxnID = "ALP0000000000000000000000000000c0de"

const (
	remitterReqPay    = upiv1.RemitterService_ReqPay_FullMethodName
	beneficiaryReqPay = upiv1.BeneficiaryService_ReqPay_FullMethodName
)

// fzSeeds are what the switch sends abank about one transaction: a DEBIT
// of alice, a CREDIT to alice and a REVERSAL.
func fzSeeds() (debitM, creditM, reversalM *upiv1.ReqPay) {
	debitM = debit(fzTxnID, "alice@alpha", aliceAc, "ABNK0000001", 2500)
	debitM.Payee = &upiv1.Party{Addr: "bob@beta", Name: "Bob", AmountPaise: 2500}
	creditM = credit(fzTxnID, "alice@alpha", aliceAc, "ABNK0000001", 2500)
	creditM.Payer = &upiv1.Party{Addr: "bob@beta", Name: "Bob", AmountPaise: 2500}
	reversalM = reversal(fzTxnID)
	reversalM.Payer = &upiv1.Party{Addr: "alice@alpha", Ac: &upiv1.Account{AcNum: aliceAc, Ifsc: "ABNK0000001"}, AmountPaise: 2500}
	return debitM, creditM, reversalM
}

// FuzzBankValidate fuzzes the admission (node.Admit: head, Validate,
// node.CheckLimits) of ReqPay at a bank, as RemitterService (DEBIT,
// REVERSAL) or BeneficiaryService (CREDIT): it never panics, refuses with
// a *node.Refusal, and what it admits has what the legs rely on.
func FuzzBankValidate(f *testing.F) {
	d, c, r := fzSeeds()
	f.Add(false, nodetest.Marshal(f, d))
	f.Add(true, nodetest.Marshal(f, c))
	f.Add(false, nodetest.Marshal(f, r))
	f.Add(true, nodetest.Marshal(f, d)) // a DEBIT sent to the beneficiary
	net := config.Default()
	self, _ := net.NodeByName("abank")
	b := bank.New(bank.Config{Network: net, Self: self})
	f.Fuzz(func(t *testing.T, toBeneficiary bool, data []byte) {
		m := &upiv1.ReqPay{}
		if proto.Unmarshal(data, m) != nil {
			return
		}
		method := remitterReqPay
		if toBeneficiary {
			method = beneficiaryReqPay
		}
		if _, err := node.Admit(b, method, m); err != nil {
			var r *node.Refusal
			if !errors.As(err, &r) || r.Reason == "" {
				t.Fatalf("%s: not a refusal with a reason but %T: %v", method, err, err)
			}
			return
		}
		if m.GetHead().GetOrgId() != net.Switch().Name {
			t.Fatalf("admitted a ReqPay from %q", m.GetHead().GetOrgId())
		}
		payer, payee := m.GetPayer().GetAmountPaise(), m.GetPayee().GetAmountPaise()
		if payer < 0 || payee < 0 || payer > upi.MaxAmountPaise || payee > upi.MaxAmountPaise || payer != 0 && payee != 0 && payer != payee {
			t.Fatalf("admitted amounts payer %d, payee %d", payer, payee)
		}
		switch ty := m.GetTxn().GetType(); {
		case toBeneficiary && ty == upiv1.Txn_CREDIT:
			if p := m.GetPayee(); p.GetAc().GetAcNum() == "" || p.GetAc().GetIfsc() == "" || max(payer, payee) <= 0 {
				t.Fatalf("admitted a CREDIT without account or amount: %v", p)
			}
		case !toBeneficiary && ty == upiv1.Txn_DEBIT:
			p := m.GetPayer()
			if p.GetAc().GetAcNum() == "" || p.GetAc().GetIfsc() == "" || payer <= 0 {
				t.Fatalf("admitted a DEBIT without account or amount: %v", p)
			}
			if !hasPINBlock(p) {
				t.Fatal("admitted a DEBIT without a PIN block")
			}
		case !toBeneficiary && ty == upiv1.Txn_REVERSAL:
			if id := m.GetTxn().GetOrgTxnId(); id != "" && !ids.ValidID(id) {
				t.Fatalf("admitted a REVERSAL of %q", id)
			}
		default:
			t.Fatalf("%s admitted txn.type %s", method, ty)
		}
	})
}

func hasPINBlock(p *upiv1.Party) bool {
	for _, c := range p.GetCreds() {
		if strings.EqualFold(c.GetType(), "PIN") && c.GetData() != "" {
			return true
		}
	}
	return false
}

// FuzzBankReceive delivers three ReqPay, decoded from fuzzed bytes, about
// one fresh transaction to a running, seeded bank, each to the service its
// txn.type names. Whatever they say, Receive answers each with an Ack and
// never with an error, no money is created or destroyed, and no customer
// account goes below zero.
func FuzzBankReceive(f *testing.F) {
	net := config.Default()
	net.PIN.HashTime, net.PIN.HashMemoryKiB = 1, 64 // cheap hashes for tests
	self, _ := net.NodeByName("abank")
	b := bank.New(bank.Config{Network: net, Self: self})
	n := nodetest.New(f, self.Name, b, discard{})
	b.Attach(n)
	if err := b.Seed(); err != nil {
		f.Fatal(err)
	}
	opening := total(f, b)

	d, c, r := fzSeeds()
	db, cb, rb := nodetest.Marshal(f, d), nodetest.Marshal(f, c), nodetest.Marshal(f, r)
	f.Add(db, cb, rb)
	f.Add(db, rb, db)
	f.Add(rb, db, cb)
	f.Add(db, db, rb)
	f.Add(cb, cb, []byte{})

	f.Fuzz(func(t *testing.T, first, second, third []byte) {
		id := ids.NewTxnID("ALP")
		for i, data := range [][]byte{first, second, third} {
			m := &upiv1.ReqPay{}
			if proto.Unmarshal(data, m) != nil {
				return
			}
			method := remitterReqPay
			if m.GetTxn().GetType() == upiv1.Txn_CREDIT {
				method = beneficiaryReqPay
			}
			if tx := m.GetTxn(); tx.GetId() == fzTxnID {
				tx.Id = id
			}
			if tx := m.GetTxn(); tx.GetOrgTxnId() == fzTxnID {
				tx.OrgTxnId = id
			}
			for i, c := range m.GetPayer().GetCreds() {
				if c.GetVer() == pinblock.Version { // a fresh block for the fresh id
					m.Payer.Creds[i] = testSeal(m.GetPayer().GetAc().GetIfsc(), "1234", id, time.Now())
				}
			}
			if h := m.GetHead(); h != nil && ids.ValidID(h.GetMsgId()) {
				h.MsgId = ids.NewMsgID(ids.PrefixOf(h.GetMsgId()))
			}
			before := fzState(t, n, b, id)
			ack, err := n.Receive(context.Background(), method, m)
			if err != nil || ack == nil {
				t.Fatalf("message %d to %s: Receive failed instead of answering: %v", i+1, method, err)
			}
			if ack.GetErr() != "" && fzState(t, n, b, id) != before {
				t.Fatalf("message %d to %s was refused (%s) but changed the ledger or sent something", i+1, method, ack.GetErr())
			}
		}
		l, err := b.ListAccounts()
		if err != nil {
			t.Fatalf("list accounts: %v", err)
		}
		if l.GetTotalPaise() != opening {
			t.Fatalf("money created or destroyed: total %d, opening %d", l.GetTotalPaise(), opening)
		}
		for _, a := range l.GetAccounts() {
			if a.GetKind() == "CUSTOMER" && a.GetBalancePaise() < 0 {
				t.Fatalf("account %s is at %d", a.GetAcNum(), a.GetBalancePaise())
			}
		}
	})
}

func total(f *testing.F, b *bank.Bank) int64 {
	f.Helper()
	l, err := b.ListAccounts()
	if err != nil {
		f.Fatal(err)
	}
	return l.GetTotalPaise()
}

// discard is a transport that acks everything at once and keeps nothing.
type discard struct{}

func (discard) Send(_ context.Context, m node.Outgoing) (*upiv1.Ack, error) {
	return &upiv1.Ack{Api: m.Method[strings.LastIndexByte(m.Method, '/')+1:]}, nil
}

// fzState is what the bank keeps and sent about txnID: every balance, its
// record of the transaction and the messages it queued. A refused message
// changes none of them.
func fzState(t *testing.T, n *node.Node, b *bank.Bank, txnID string) string {
	t.Helper()
	l, err := b.ListAccounts()
	if err != nil {
		t.Fatal(err)
	}
	var s strings.Builder
	for _, a := range l.GetAccounts() {
		fmt.Fprintf(&s, "%s=%d ", a.GetAcNum(), a.GetBalancePaise())
	}
	if r, err := b.InspectTxn(txnID); err == nil {
		fmt.Fprintf(&s, "txn %s %v; ", r.GetState(), r.GetTransaction())
	}
	trace, err := n.Trace(txnID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range trace {
		if r.GetDirection() == upiv1.TraceRecord_OUT {
			s.WriteString("sent ")
		}
	}
	return s.String()
}
