package psp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The default network's node names and prefixes used in the tests.
const (
	npci  = "npci"
	tpap  = "tpap"
	alpha = "alphapsp"
	beta  = "betapsp"
)

// fixture is one PSP node whose switch and TPAP are a Recorder.
type fixture struct {
	t   *testing.T
	p   *PSP
	n   *node.Node
	rec *nodetest.Recorder
	net *config.Network
}

// newFixture starts the PSP called name of the default network (heartbeats
// off), after edit changed the network, and seeds it.
func newFixture(t *testing.T, name string, edit func(*config.Network)) *fixture {
	t.Helper()
	return newFixtureWith(t, name, edit, Config{})
}

// newFixtureWith is newFixture with cfg's other fields (Network and Self
// are set here) and the node's options (nodetest.New's).
func newFixtureWith(t *testing.T, name string, edit func(*config.Network), cfg Config, opts ...func(*node.Config)) *fixture {
	t.Helper()
	net := config.Default()
	net.Heartbeat = 0
	if edit != nil {
		edit(net)
	}
	self, ok := net.NodeByName(name)
	require.True(t, ok, "no node %s", name)
	cfg.Network, cfg.Self = net, self
	p := New(cfg)
	rec := nodetest.NewRecorder()
	n := nodetest.New(t, name, p, rec, opts...)
	p.Attach(n)
	require.NoError(t, p.Seed())
	return &fixture{t: t, p: p, n: n, rec: rec, net: net}
}

// withUser adds a user to the network.
func withUser(vpa, name, bank, account string) func(*config.Network) {
	return func(n *config.Network) {
		n.Users = append(n.Users, config.User{VPA: vpa, Name: name, Bank: bank, Account: account, Balance: 100000, PIN: "1234"})
	}
}

// swHead is a Head from the switch.
func swHead() *upiv1.Head { return nodetest.Head(npci, "NPC") }

// receive delivers m from the network and returns its Ack.
func (f *fixture) receive(method string, m node.Message) *upiv1.Ack {
	f.t.Helper()
	ack, err := f.n.Receive(f.t.Context(), method, m)
	require.NoError(f.t, err)
	return ack
}

// accept delivers m and requires it accepted.
func (f *fixture) accept(method string, m node.Message) {
	f.t.Helper()
	ack := f.receive(method, m)
	require.Empty(f.t, ack.GetErr(), "%s refused", method)
}

// refuse delivers m and requires it refused with a reason containing want.
func (f *fixture) refuse(method string, m node.Message, want string) {
	f.t.Helper()
	ack := f.receive(method, m)
	require.Contains(f.t, ack.GetErr(), want)
}

// record reads this PSP's record of a transaction.
func (f *fixture) record(txnID string) *txnRecord {
	f.t.Helper()
	var r *txnRecord
	require.NoError(f.t, f.n.View(func(tx *store.Tx) error {
		var err error
		r, err = getTxn(tx, txnID)
		return err
	}))
	require.NotNil(f.t, r, "no record of %s", txnID)
	return r
}

// pending reports whether a collect for vpa is in store.Pending.
func (f *fixture) pending(vpa, txnID string) bool {
	var ok bool
	require.NoError(f.t, f.n.View(func(tx *store.Tx) error {
		ok = tx.Has(store.Pending, pendingKey(vpa, txnID))
		return nil
	}))
	return ok
}

// sent counts the messages this node queued for txnID through api, from
// its trace (written in the same transaction as the send, so exact).
func (f *fixture) sent(txnID, api string) int {
	f.t.Helper()
	recs, err := f.n.Trace(txnID)
	require.NoError(f.t, err)
	c := 0
	for _, r := range recs {
		if r.GetDirection() == upiv1.TraceRecord_OUT && r.GetApi() == api {
			c++
		}
	}
	return c
}

// waitSent polls for a message without a testing.T, for goroutines.
func waitSent(rec *nodetest.Recorder, method string) (nodetest.Sent, bool) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range rec.All() {
			if s.Method == method {
				return s, true
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nodetest.Sent{}, false
}

// requireCode requires err to be a gRPC status with code and a message
// containing want.
func requireCode(t *testing.T, err error, code codes.Code, want string) {
	t.Helper()
	require.Error(t, err)
	st, ok := status.FromError(err)
	require.True(t, ok, "not a status: %v", err)
	require.Equal(t, code, st.Code(), "message: %s", st.Message())
	require.Contains(t, st.Message(), want)
}

// collectFromChai is the switch's ReqAuthDetails COLLECT asking payer to
// pay chai@beta amount.
func collectFromChai(txnID, payer string, amount int64) *upiv1.ReqAuthDetails {
	return &upiv1.ReqAuthDetails{
		Head: swHead(),
		Txn: &upiv1.Txn{
			Id: txnID, Type: upiv1.Txn_COLLECT, CustRef: "512345000001", Note: "chai", ExpireAfterMinutes: 30,
		},
		Payer: &upiv1.Party{Addr: payer, AmountPaise: amount},
		Payee: &upiv1.Party{
			Addr: "chai@beta", Name: "Chai Point", Type: upiv1.Party_ENTITY, Code: "5812",
			Ac: &upiv1.Account{AcNum: "2000000003", Ifsc: "BBNK0000001"}, AmountPaise: amount,
		},
	}
}

// payTo is the switch's ReqAuthDetails PAY for payee.
func payTo(txnID, payer, payee string, amount int64) *upiv1.ReqAuthDetails {
	return &upiv1.ReqAuthDetails{
		Head:  swHead(),
		Txn:   &upiv1.Txn{Id: txnID, Type: upiv1.Txn_PAY, CustRef: "512345000002", Note: "lunch"},
		Payer: &upiv1.Party{Addr: payer, Name: "Someone", AmountPaise: amount},
		Payee: &upiv1.Party{Addr: payee},
	}
}

func newTxnID(prefix string) string { return ids.NewTxnID(prefix) }
