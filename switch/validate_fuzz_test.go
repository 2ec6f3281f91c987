package upiswitch

import (
	"context"
	"errors"
	"fmt"
	"github.com/upisim/upisim/internal/upi"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/store"
)

// The fuzz targets of this file check the switch's side of Receive's
// admission (node.Admit: head, Validate, node.CheckLimits) on messages
// decoded from arbitrary bytes: it never panics, refuses with a
// *node.Refusal, and a message it admits has what the handler relies on.
// FuzzSwitchFlow then runs whole flows through Receive and the handlers.
//
// The seeds are well-formed messages of the default network; the seed
// corpora in testdata/fuzz add hostile ones.

// fzTxnID is the txn id of the seeds; FuzzSwitchFlow swaps it for a fresh
// one in every run.
const fzTxnID = "ALP0000000000000000000000000000c0de"

func fzHead(from string) *upiv1.Head {
	nd, _ := config.Default().NodeByName(from)
	return &upiv1.Head{Ver: "2.0", Ts: timestamppb.Now(), OrgId: from, MsgId: ids.NewMsgID(nd.Prefix), ProdType: "UPI"}
}

func fzPay() *upiv1.ReqPay {
	return &upiv1.ReqPay{
		Head: fzHead("alphapsp"),
		Txn:  &upiv1.Txn{Id: fzTxnID, Type: upiv1.Txn_PAY, Note: "lunch", Ts: timestamppb.Now(), Purpose: "00", InitiationMode: "00"},
		Payer: &upiv1.Party{
			Addr: alice, Name: "Alice", Type: upiv1.Party_PERSON, Code: "0000",
			Ac:          &upiv1.Account{AcNum: aliceAc, Ifsc: aliceIFSC, AcType: "SAVINGS"},
			Creds:       []*upiv1.Cred{pintest.Opaque(pin, fzTxnID)},
			Device:      &upiv1.Device{Id: "dev1", Mobile: "9800000001", App: "upisim", Os: "linux"},
			AmountPaise: 15000, Currency: "INR",
		},
		Payee: &upiv1.Party{Addr: bob},
	}
}

func fzCollect() *upiv1.ReqPay {
	return &upiv1.ReqPay{
		Head:  fzHead("betapsp"),
		Txn:   &upiv1.Txn{Id: "BET0000000000000000000000000000c0de", Type: upiv1.Txn_COLLECT, Note: "dinner", ExpireAfterMinutes: 30},
		Payer: &upiv1.Party{Addr: alice, AmountPaise: 15000},
		Payee: &upiv1.Party{
			Addr: bob, Name: "Bob", Type: upiv1.Party_PERSON, Code: "0000",
			Ac: &upiv1.Account{AcNum: bobAc, Ifsc: bobIFSC}, AmountPaise: 15000,
		},
	}
}

func fzPayeeDetails() *upiv1.RespAuthDetails {
	return &upiv1.RespAuthDetails{
		Head:  fzHead("betapsp"),
		Txn:   &upiv1.Txn{Id: fzTxnID, Type: upiv1.Txn_PAY, CustRef: "512345000001"},
		Payer: &upiv1.Party{Addr: alice, Name: "Alice", AmountPaise: 15000},
		Payee: &upiv1.Party{
			Addr: bob, Name: "Bob", Type: upiv1.Party_PERSON, Code: "0000",
			Ac: &upiv1.Account{AcNum: bobAc, Ifsc: bobIFSC}, AmountPaise: 15000,
		},
		Resp: &upiv1.Resp{ReqMsgId: ids.NewMsgID("NPC"), Result: upiv1.Resp_SUCCESS},
	}
}

func fzApprove() *upiv1.RespAuthDetails {
	return &upiv1.RespAuthDetails{
		Head: fzHead("alphapsp"),
		Txn:  &upiv1.Txn{Id: fzTxnID, Type: upiv1.Txn_COLLECT},
		Payer: &upiv1.Party{
			Addr: alice, Name: "Alice", Ac: &upiv1.Account{AcNum: aliceAc, Ifsc: aliceIFSC},
			Creds:       []*upiv1.Cred{pintest.Opaque(pin, fzTxnID)},
			AmountPaise: 15000,
		},
		Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	}
}

func fzDecline() *upiv1.RespAuthDetails {
	return &upiv1.RespAuthDetails{
		Head: fzHead("betapsp"),
		Txn:  &upiv1.Txn{Id: fzTxnID},
		Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: "U29"},
	}
}

func fzBankResp(from string, leg upiv1.Txn_Type, code string) *upiv1.RespPay {
	ref := &upiv1.Ref{Type: "PAYER", ApprovalNum: "AP1", RespCode: "00", SettAmountPaise: 15000}
	if leg == upiv1.Txn_CREDIT {
		ref.Type = "PAYEE"
	}
	if leg == upiv1.Txn_REVERSAL {
		ref.ReversalRespCode = "00"
	}
	resp := &upiv1.Resp{Result: upiv1.Resp_SUCCESS, Refs: []*upiv1.Ref{ref}}
	if code != "" {
		resp.Result, resp.ErrCode, ref.RespCode, ref.ApprovalNum, ref.SettAmountPaise = upiv1.Resp_FAILURE, code, code, "", 0
	}
	return &upiv1.RespPay{Head: fzHead(from), Txn: &upiv1.Txn{Id: fzTxnID, Type: leg, CustRef: "512345000001"}, Resp: resp}
}

func fzConfirm() *upiv1.RespTxnConfirmation {
	return &upiv1.RespTxnConfirmation{
		Head: fzHead("betapsp"), Txn: &upiv1.Txn{Id: fzTxnID, Type: upiv1.Txn_PAY},
		Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	}
}

// fuzzAdmit fuzzes the admission of the messages of one switch method:
// data is decoded into a fresh message from newMsg; what the switch
// admits must pass check.
func fuzzAdmit(f *testing.F, method string, newMsg func() node.Message, seeds []node.Message, check func(t *testing.T, sw *Switch, in *node.Inbound)) {
	for _, s := range seeds {
		f.Add(nodetest.Marshal(f, s))
	}
	net := config.Default()
	sw := New(Config{Network: net, Self: net.Switch()})
	f.Fuzz(func(t *testing.T, data []byte) {
		m := newMsg()
		if err := proto.Unmarshal(data, m); err != nil {
			return // gRPC answers codes.Internal before Receive
		}
		in, err := node.Admit(sw, method, m)
		if err != nil {
			var r *node.Refusal
			if !errors.As(err, &r) {
				t.Fatalf("%s: not a refusal but %T: %v", method, err, err)
			}
			if r.Reason == "" {
				t.Fatalf("%s: refused without a reason", method)
			}
			return
		}
		// What every admitted message has.
		if err := node.CheckLimits(m); err != nil {
			t.Fatalf("admitted a message beyond the limits: %v", err)
		}
		if !ids.ValidID(m.GetHead().GetMsgId()) || !ids.ValidID(m.GetTxn().GetId()) {
			t.Fatalf("admitted ids msg_id=%q txn.id=%q", m.GetHead().GetMsgId(), m.GetTxn().GetId())
		}
		if _, ok := net.NodeByName(in.From); !ok {
			t.Fatalf("admitted a message from %q, not a node of the network", in.From)
		}
		check(t, sw, in)
	})
}

// checkResult requires the resp of an admitted response to be a decision.
func checkResult(t *testing.T, r *upiv1.Resp) {
	t.Helper()
	switch {
	case r == nil:
		t.Fatal("admitted a response without resp")
	case r.GetResult() != upiv1.Resp_SUCCESS && r.GetResult() != upiv1.Resp_FAILURE:
		t.Fatalf("admitted resp.result %s", r.GetResult())
	case r.GetResult() == upiv1.Resp_FAILURE && r.GetErrCode() == "":
		t.Fatal("admitted a FAILURE without err_code")
	}
}

func requireRole(t *testing.T, sw *Switch, from, role string) {
	t.Helper()
	if nd, _ := sw.net.NodeByName(from); nd.Role != role {
		t.Fatalf("admitted a message from %s, a %s, not a %s", from, nd.Role, role)
	}
}

func FuzzValidateReqPay(f *testing.F) {
	seeds := []node.Message{fzPay(), fzCollect()}
	m := fzPay()
	m.Payee.AmountPaise = m.Payer.AmountPaise
	seeds = append(seeds, m)
	fuzzAdmit(f, methodReqPay, func() node.Message { return &upiv1.ReqPay{} }, seeds, func(t *testing.T, sw *Switch, in *node.Inbound) {
		m := in.Msg.(*upiv1.ReqPay)
		requireRole(t, sw, in.From, config.RolePSP)
		ty := m.GetTxn().GetType()
		if ty != upiv1.Txn_PAY && ty != upiv1.Txn_COLLECT {
			t.Fatalf("admitted a ReqPay of type %s", ty)
		}
		for _, a := range []string{m.GetPayer().GetAddr(), m.GetPayee().GetAddr()} {
			if err := ids.ValidateVPA(a); err != nil {
				t.Fatalf("admitted VPA %q: %v", a, err)
			}
		}
		if ids.NormalizeVPA(m.GetPayer().GetAddr()) == ids.NormalizeVPA(m.GetPayee().GetAddr()) {
			t.Fatalf("admitted a %s from %s to itself", ty, m.GetPayer().GetAddr())
		}
		amount, err := amountOf(m.GetPayer(), m.GetPayee())
		if err != nil || amount <= 0 || amount > upi.MaxAmountPaise {
			t.Fatalf("admitted amount %d (payer %d, payee %d): %v", amount, m.GetPayer().GetAmountPaise(), m.GetPayee().GetAmountPaise(), err)
		}
		own := m.GetPayer()
		if ty == upiv1.Txn_COLLECT {
			own = m.GetPayee()
		}
		if psp, ok := sw.net.PSPForVPA(own.GetAddr()); !ok || psp.Name != in.From {
			t.Fatalf("admitted a %s whose own party %s is not a user of the sender %s", ty, own.GetAddr(), in.From)
		}
		if own.GetAc().GetAcNum() == "" || own.GetAc().GetIfsc() == "" {
			t.Fatalf("admitted a %s without the own party's account", ty)
		}
		if ty == upiv1.Txn_PAY && !hasPIN(m.GetPayer()) {
			t.Fatal("admitted a PAY without a PIN block")
		}
		if m.GetMandate() != nil {
			t.Fatal("admitted a mandate")
		}
		if e := m.GetTxn().GetExpireAfterMinutes(); e < 0 || e > maxExpireMinutes {
			t.Fatalf("admitted expire_after_minutes %d", e)
		}
	})
}

func FuzzValidateRespPay(f *testing.F) {
	seeds := []node.Message{
		fzBankResp("abank", upiv1.Txn_DEBIT, ""), fzBankResp("abank", upiv1.Txn_DEBIT, "Z9"),
		fzBankResp("bbank", upiv1.Txn_CREDIT, ""), fzBankResp("bbank", upiv1.Txn_CREDIT, "U31"),
		fzBankResp("abank", upiv1.Txn_REVERSAL, ""),
	}
	fuzzAdmit(f, methodRespPay, func() node.Message { return &upiv1.RespPay{} }, seeds, func(t *testing.T, sw *Switch, in *node.Inbound) {
		m := in.Msg.(*upiv1.RespPay)
		requireRole(t, sw, in.From, config.RoleBank)
		switch ty := m.GetTxn().GetType(); ty {
		case upiv1.Txn_DEBIT, upiv1.Txn_CREDIT, upiv1.Txn_REVERSAL:
		default:
			t.Fatalf("admitted a RespPay of type %s", ty)
		}
		checkResult(t, m.GetResp())
	})
}

func FuzzValidateRespAuthDetails(f *testing.F) {
	seeds := []node.Message{fzPayeeDetails(), fzApprove(), fzDecline()}
	fuzzAdmit(f, methodRespAuth, func() node.Message { return &upiv1.RespAuthDetails{} }, seeds, func(t *testing.T, sw *Switch, in *node.Inbound) {
		m := in.Msg.(*upiv1.RespAuthDetails)
		requireRole(t, sw, in.From, config.RolePSP)
		switch ty := m.GetTxn().GetType(); ty {
		case upiv1.Txn_TYPE_UNSPECIFIED, upiv1.Txn_PAY, upiv1.Txn_COLLECT:
		default:
			t.Fatalf("admitted a RespAuthDetails of type %s", ty)
		}
		checkResult(t, m.GetResp())
		for _, a := range []string{m.GetPayer().GetAddr(), m.GetPayee().GetAddr()} {
			if a != "" && ids.ValidateVPA(a) != nil {
				t.Fatalf("admitted VPA %q", a)
			}
		}
		if a, b := m.GetPayer().GetAmountPaise(), m.GetPayee().GetAmountPaise(); a < 0 || b < 0 || a != 0 && b != 0 && a != b {
			t.Fatalf("admitted amounts payer %d, payee %d", a, b)
		}
	})
}

// discard is a transport that acks everything at once and keeps nothing.
type discard struct{}

func (discard) Send(_ context.Context, m node.Outgoing) (*upiv1.Ack, error) {
	return &upiv1.Ack{Api: m.Method[strings.LastIndexByte(m.Method, '/')+1:]}, nil
}

// FuzzSwitchFlow delivers a whole pay or collect (request, auth details,
// debit, credit, confirmation), each message decoded from fuzzed bytes,
// to a running switch. Whatever the bytes, Receive answers every message
// with an Ack — accepted or refused — and never with an error: a message
// the switch can neither take nor refuse comes back with every retry of
// its sender, forever. And the switch's record of the transaction, if it
// kept one, reads back with a positive amount.
func FuzzSwitchFlow(f *testing.F) {
	net := config.Default()
	sw := New(Config{Network: net, Self: net.Switch()})
	n := nodetest.New(f, net.Switch().Name, sw, discard{})
	sw.Attach(n)

	pay := [][]byte{
		nodetest.Marshal(f, fzPay()), nodetest.Marshal(f, fzPayeeDetails()),
		nodetest.Marshal(f, fzBankResp("abank", upiv1.Txn_DEBIT, "")), nodetest.Marshal(f, fzBankResp("bbank", upiv1.Txn_CREDIT, "")),
		nodetest.Marshal(f, fzConfirm()),
	}
	f.Add(pay[0], pay[1], pay[2], pay[3], pay[4])
	// The credit fails: the third answer is the reversal's.
	f.Add(pay[0], pay[1], pay[2], nodetest.Marshal(f, fzBankResp("bbank", upiv1.Txn_CREDIT, "U31")), nodetest.Marshal(f, fzBankResp("abank", upiv1.Txn_REVERSAL, "")))
	// Declined by the payee's PSP: no legs (empty messages are refused).
	f.Add(pay[0], nodetest.Marshal(f, fzDecline()), []byte{}, []byte{}, pay[4])
	coll := fzCollect()
	coll.Txn.Id = fzTxnID
	confirm := fzConfirm()
	confirm.Head = fzHead("alphapsp")
	f.Add(nodetest.Marshal(f, coll), nodetest.Marshal(f, fzApprove()), pay[2], pay[3], nodetest.Marshal(f, confirm))

	methods := []string{methodReqPay, methodRespAuth, methodRespPay, methodRespPay, methodRespPay}
	f.Fuzz(func(t *testing.T, req, auth, leg1, leg2, last []byte) {
		id := ids.NewTxnID("ALP")
		msgs := []node.Message{&upiv1.ReqPay{}, &upiv1.RespAuthDetails{}, &upiv1.RespPay{}, &upiv1.RespPay{}, &upiv1.RespPay{}}
		for i, data := range [][]byte{req, auth, leg1, leg2, last} {
			m := msgs[i]
			if proto.Unmarshal(data, m) != nil {
				return
			}
			method := methods[i]
			if i == 4 && m.GetTxn().GetType() != upiv1.Txn_REVERSAL {
				// The last message is the confirmation unless it is a reversal's answer.
				c := &upiv1.RespTxnConfirmation{}
				if proto.Unmarshal(data, c) != nil {
					return
				}
				m, method = c, methodRespConfirm
			}
			// One fresh transaction per run, and fresh msg ids, so that runs
			// do not meet as duplicates.
			if m.GetTxn().GetId() == fzTxnID {
				m.GetTxn().Id = id
			}
			if h := m.GetHead(); h != nil && ids.ValidID(h.GetMsgId()) {
				h.MsgId = ids.NewMsgID(ids.PrefixOf(h.GetMsgId()))
			}
			before := fzState(t, n, id)
			ack, err := n.Receive(context.Background(), method, m)
			if err != nil {
				t.Fatalf("step %d %s: Receive failed instead of answering: %v", i+1, method, err)
			}
			if ack == nil {
				t.Fatalf("step %d %s: no ack", i+1, method)
			}
			if ack.GetErr() != "" && fzState(t, n, id) != before {
				t.Fatalf("step %d %s was refused (%s) but changed the transaction or sent something", i+1, method, ack.GetErr())
			}
		}
		if err := n.View(func(tx *store.Tx) error {
			r, err := loadRecord(tx, id)
			if err != nil || r == nil {
				return err
			}
			if r.Type != upiv1.Txn_VAL_ADD.String() && (r.AmountPaise <= 0 || r.AmountPaise > upi.MaxAmountPaise) {
				t.Errorf("record of %s has amount %d", id, r.AmountPaise)
			}
			return nil
		}); err != nil {
			t.Fatalf("record of %s: %v", id, err)
		}
	})
}

// fzState is what the switch keeps and sent about txnID: its record and
// the messages it queued. A refused message changes neither.
func fzState(t *testing.T, n *node.Node, txnID string) string {
	t.Helper()
	var rec []byte
	if err := n.View(func(tx *store.Tx) error {
		rec = append(rec, tx.Get(store.Txns, []byte(txnID))...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	trace, err := n.Trace(txnID)
	if err != nil {
		t.Fatal(err)
	}
	out := 0
	for _, r := range trace {
		if r.GetDirection() == upiv1.TraceRecord_OUT {
			out++
		}
	}
	return fmt.Sprintf("%d sent; record %s", out, rec)
}
