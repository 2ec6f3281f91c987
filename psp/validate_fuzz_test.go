package psp

import (
	"context"
	"errors"
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
	"github.com/upisim/upisim/internal/store"
)

// fzTxnID is the txn id of the seeds; FuzzPSPReceive swaps it for a fresh
// one in every run.
const fzTxnID = "ALP0000000000000000000000000000c0de"

// fzAuthSeeds are ReqAuthDetails as the switch sends them to betapsp: a
// PAY to bob, a COLLECT from carol, and a PAY to a VPA betapsp does not
// know.
func fzAuthSeeds() []*upiv1.ReqAuthDetails {
	p := payTo(fzTxnID, "alice@alpha", "bob@beta", 15000)
	p.Txn.Ts = timestamppb.Now()
	c := collectFromChai(fzTxnID, "carol@beta", 15000)
	unknown := payTo(fzTxnID, "alice@alpha", "nobody@beta", 15000)
	return []*upiv1.ReqAuthDetails{p, c, unknown}
}

// FuzzValidateReqAuthDetails fuzzes the admission (node.Admit: head,
// Validate, node.CheckLimits) of ReqAuthDetails at a PSP: it never panics,
// refuses with a *node.Refusal, and what it admits is a PAY or COLLECT
// from the switch for a party of this PSP, with one positive amount.
func FuzzValidateReqAuthDetails(f *testing.F) {
	for _, m := range fzAuthSeeds() {
		f.Add(nodetest.Marshal(f, m))
	}
	net := config.Default()
	self, _ := net.NodeByName(beta)
	p := New(Config{Network: net, Self: self})
	f.Fuzz(func(t *testing.T, data []byte) {
		m := &upiv1.ReqAuthDetails{}
		if proto.Unmarshal(data, m) != nil {
			return
		}
		if _, err := node.Admit(p, upiv1.PspService_ReqAuthDetails_FullMethodName, m); err != nil {
			var r *node.Refusal
			if !errors.As(err, &r) || r.Reason == "" {
				t.Fatalf("not a refusal with a reason but %T: %v", err, err)
			}
			return
		}
		if from := m.GetHead().GetOrgId(); from != net.Switch().Name {
			t.Fatalf("admitted a ReqAuthDetails from %q", from)
		}
		own := m.GetPayee()
		switch ty := m.GetTxn().GetType(); ty {
		case upiv1.Txn_PAY:
		case upiv1.Txn_COLLECT:
			own = m.GetPayer()
		default:
			t.Fatalf("admitted txn.type %s", ty)
		}
		if err := ids.ValidateVPA(own.GetAddr()); err != nil {
			t.Fatalf("admitted own party %q: %v", own.GetAddr(), err)
		}
		if psp, ok := net.PSPForVPA(own.GetAddr()); !ok || psp.Name != beta {
			t.Fatalf("admitted %s, whose handle is not %s's", own.GetAddr(), beta)
		}
		a, b := m.GetPayer().GetAmountPaise(), m.GetPayee().GetAmountPaise()
		if amt := authAmount(m); amt <= 0 || amt > upi.MaxAmountPaise || a < 0 || b < 0 || a != 0 && b != 0 && a != b {
			t.Fatalf("admitted amounts payer %d, payee %d (amount %d)", a, b, amt)
		}
		if e := m.GetTxn().GetExpireAfterMinutes(); e < 0 || e > node.MaxExpireMinutes {
			t.Fatalf("admitted expire_after_minutes %d", e)
		}
	})
}

// discard is a transport that acks everything at once and keeps nothing.
type discard struct{}

func (discard) Send(_ context.Context, m node.Outgoing) (*upiv1.Ack, error) {
	return &upiv1.Ack{Api: m.Method[strings.LastIndexByte(m.Method, '/')+1:]}, nil
}

// FuzzPSPReceive delivers a ReqAuthDetails and then a RespPay and a
// ReqTxnConfirmation, decoded from fuzzed bytes, about one fresh
// transaction to a running, seeded PSP. Whatever they say, Receive answers
// each with an Ack and never with an error (which its sender would retry
// forever).
func FuzzPSPReceive(f *testing.F) {
	net := config.Default()
	net.Heartbeat = 0
	self, _ := net.NodeByName(beta)
	p := New(Config{Network: net, Self: self})
	n := nodetest.New(f, beta, p, discard{})
	p.Attach(n)
	if err := p.Seed(); err != nil {
		f.Fatal(err)
	}
	final := func(result upiv1.Resp_Result, code string) *upiv1.Resp {
		return &upiv1.Resp{Result: result, ErrCode: code, Refs: []*upiv1.Ref{{Type: "PAYER", Addr: "alice@alpha", RespCode: "00", SettAmountPaise: 15000}}}
	}
	respPay := &upiv1.RespPay{Head: swHead(), Txn: &upiv1.Txn{Id: fzTxnID, Type: upiv1.Txn_COLLECT, CustRef: "512345000001"}, Resp: final(upiv1.Resp_SUCCESS, "")}
	confirm := &upiv1.ReqTxnConfirmation{Head: swHead(), Txn: &upiv1.Txn{Id: fzTxnID, Type: upiv1.Txn_PAY, CustRef: "512345000001"}, Resp: final(upiv1.Resp_SUCCESS, "")}
	failed := &upiv1.ReqTxnConfirmation{Head: swHead(), Txn: &upiv1.Txn{Id: fzTxnID, Type: upiv1.Txn_PAY}, Resp: final(upiv1.Resp_FAILURE, "U31")}
	seeds := fzAuthSeeds()
	f.Add(nodetest.Marshal(f, seeds[0]), nodetest.Marshal(f, respPay), nodetest.Marshal(f, confirm))
	f.Add(nodetest.Marshal(f, seeds[1]), nodetest.Marshal(f, respPay), nodetest.Marshal(f, failed))
	f.Add(nodetest.Marshal(f, seeds[2]), []byte{}, nodetest.Marshal(f, failed))

	f.Fuzz(func(t *testing.T, auth, resp, conf []byte) {
		id := ids.NewTxnID("ALP")
		steps := []struct {
			method string
			msg    node.Message
			data   []byte
		}{
			{upiv1.PspService_ReqAuthDetails_FullMethodName, &upiv1.ReqAuthDetails{}, auth},
			{upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{}, resp},
			{upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{}, conf},
		}
		for i, s := range steps {
			if proto.Unmarshal(s.data, s.msg) != nil {
				return
			}
			if tx := s.msg.GetTxn(); tx.GetId() == fzTxnID {
				tx.Id = id
			}
			if h := s.msg.GetHead(); h != nil && ids.ValidID(h.GetMsgId()) {
				h.MsgId = ids.NewMsgID(ids.PrefixOf(h.GetMsgId()))
			}
			before := fzState(t, n, id)
			ack, err := n.Receive(context.Background(), s.method, s.msg)
			if err != nil || ack == nil {
				t.Fatalf("message %d %s: Receive failed instead of answering: %v", i+1, s.method, err)
			}
			if ack.GetErr() != "" && fzState(t, n, id) != before {
				t.Fatalf("message %d %s was refused (%s) but changed the transaction or sent something", i+1, s.method, ack.GetErr())
			}
		}
	})
}

// fzState is what the PSP keeps and sent about txnID: its record, the
// collect waiting for approval, and the messages it queued. A refused
// message changes none of them.
func fzState(t *testing.T, n *node.Node, txnID string) string {
	t.Helper()
	var s strings.Builder
	if err := n.View(func(tx *store.Tx) error {
		s.Write(tx.Get(store.Txns, []byte(txnID)))
		return tx.Scan(store.Pending, nil, func(k, _ []byte) (bool, error) {
			if strings.HasSuffix(string(k), txnID) {
				s.WriteString(" pending")
			}
			return true, nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	trace, err := n.Trace(txnID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range trace {
		if r.GetDirection() == upiv1.TraceRecord_OUT {
			s.WriteString(" sent")
		}
	}
	return s.String()
}
