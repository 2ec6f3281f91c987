package tpap

import (
	"context"
	"maps"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/keydir"
	"github.com/upisim/upisim/internal/keys"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/pin"
	"github.com/upisim/upisim/internal/pin/pintest"
)

// fakePSP is a PspAppServiceClient that records its calls and answers
// PENDING with the transaction id it was given (or a fresh one).
type fakePSP struct {
	prefix string

	mu    sync.Mutex
	calls []proto.Message
	// err, if set, is every call's answer.
	err error
	// before, if set, runs before a call answers (to let the network
	// overtake the answer).
	before func(txnID string)
	// resolve answers ResolveAddress.
	resolve *upiv1.AddressDetails
	// lose, while > 0, makes a call that started a transaction answer
	// Unavailable, as when the answer is lost on its way back.
	lose int
	// started counts the transactions started, by id: a call with an id
	// seen before starts none.
	started map[string]int
	// links are the Circle links this PSP was asked to create, by id
	// (circle_test.go).
	links map[string]*upiv1.CircleLink
	// onLite hears the Lite calls (lite_test.go).
	onLite func(proto.Message)
}

// start notes that a call asked for transaction id (a fresh one when id
// is empty), and returns the id, or the lost answer's error.
func (f *fakePSP) start(id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id == "" {
		id = ids.NewTxnID(f.prefix)
	}
	if f.started == nil {
		f.started = map[string]int{}
	}
	f.started[id]++
	if f.lose > 0 {
		f.lose--
		return "", status.Error(codes.Unavailable, "connection reset (the answer was lost)")
	}
	return id, nil
}

// Started returns how many calls asked for each transaction id.
func (f *fakePSP) Started() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.started)
}

var _ upiv1.PspAppServiceClient = (*fakePSP)(nil)

func (f *fakePSP) record(m proto.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, proto.Clone(m))
	return f.err
}

// Calls returns the requests received, in order.
func (f *fakePSP) Calls() []proto.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]proto.Message(nil), f.calls...)
}

func (f *fakePSP) pending(id string, typ upiv1.Txn_Type, payer, payee string, amount int64, note string) *upiv1.Transaction {
	if f.before != nil {
		f.before(id)
	}
	return &upiv1.Transaction{TxnId: id, Type: typ, Status: upiv1.Resp_PENDING, PayerVpa: payer, PayeeVpa: payee, AmountPaise: amount, Note: note}
}

func (f *fakePSP) InitiatePay(_ context.Context, in *upiv1.InitiatePayRequest, _ ...grpc.CallOption) (*upiv1.InitiatePayResponse, error) {
	if err := f.record(in); err != nil {
		return nil, err
	}
	id, err := f.start(in.GetTxnId())
	if err != nil {
		return nil, err
	}
	t := f.pending(id, upiv1.Txn_PAY, in.GetPayerVpa(), in.GetPayeeVpa(), in.GetAmountPaise(), in.GetNote())
	if in.GetLite() != nil {
		f.liteCall(in)
	}
	return &upiv1.InitiatePayResponse{Transaction: t}, nil
}

func (f *fakePSP) InitiateDelegatedPay(_ context.Context, in *upiv1.InitiateDelegatedPayRequest, _ ...grpc.CallOption) (*upiv1.InitiateDelegatedPayResponse, error) {
	if err := f.record(in); err != nil {
		return nil, err
	}
	id, err := f.start(in.GetTxnId())
	if err != nil {
		return nil, err
	}
	t := f.pending(id, upiv1.Txn_PAY, "", in.GetPayeeVpa(), in.GetAmountPaise(), in.GetNote())
	return &upiv1.InitiateDelegatedPayResponse{Transaction: t}, nil
}

func (f *fakePSP) InitiateCollect(_ context.Context, in *upiv1.InitiateCollectRequest, _ ...grpc.CallOption) (*upiv1.InitiateCollectResponse, error) {
	if err := f.record(in); err != nil {
		return nil, err
	}
	id, err := f.start(in.GetTxnId())
	if err != nil {
		return nil, err
	}
	t := f.pending(id, upiv1.Txn_COLLECT, in.GetPayerVpa(), in.GetPayeeVpa(), in.GetAmountPaise(), in.GetNote())
	return &upiv1.InitiateCollectResponse{Transaction: t}, nil
}

func (f *fakePSP) RespondCollect(_ context.Context, in *upiv1.RespondCollectRequest, _ ...grpc.CallOption) (*upiv1.RespondCollectResponse, error) {
	if err := f.record(in); err != nil {
		return nil, err
	}
	return &upiv1.RespondCollectResponse{Transaction: &upiv1.Transaction{TxnId: in.GetTxnId(), Type: upiv1.Txn_COLLECT, Status: upiv1.Resp_PENDING}}, nil
}

func (f *fakePSP) ResolveAddress(_ context.Context, in *upiv1.ResolveAddressRequest, _ ...grpc.CallOption) (*upiv1.ResolveAddressResponse, error) {
	if err := f.record(in); err != nil {
		return nil, err
	}
	return &upiv1.ResolveAddressResponse{Details: f.resolve}, nil
}

func (f *fakePSP) QueryTransaction(_ context.Context, in *upiv1.QueryTransactionRequest, _ ...grpc.CallOption) (*upiv1.QueryTransactionResponse, error) {
	if err := f.record(in); err != nil {
		return nil, err
	}
	return &upiv1.QueryTransactionResponse{Transaction: &upiv1.Transaction{TxnId: in.GetTxnId(), Status: upiv1.Resp_PENDING}}, nil
}

// env is a TPAP on the default network with fake PSPs.
type env struct {
	net  *config.Network
	x    *TPAP
	n    *node.Node
	rec  *nodetest.Recorder
	psps map[string]*fakePSP
	// banks are the banks' keys, in the TPAP's key list.
	banks map[string]*keys.Keys
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{net: config.Default(), rec: nodetest.NewRecorder(), psps: map[string]*fakePSP{}}
	for _, p := range e.net.NodesByRole(config.RolePSP) {
		e.psps[p.Name] = &fakePSP{prefix: p.Prefix}
	}
	e.x = New(Config{
		Network: e.net,
		Self:    e.net.TPAP(),
		PSP: func(name string) (upiv1.PspAppServiceClient, error) {
			return e.psps[name], nil
		},
	})
	e.n = nodetest.New(t, "tpap", e.x, e.rec)
	e.x.Attach(e.n)
	require.NoError(t, e.x.Seed())
	// The banks' keys, as if the switch had listed them.
	e.banks = map[string]*keys.Keys{}
	list := &upiv1.KeyList{Ts: timestamppb.New(e.n.Now()), Signer: "npci"}
	for _, b := range e.net.NodesByRole(config.RoleBank) {
		e.banks[b.Name] = pintest.Keys(t, b.Name)
		list.Keys = append(list.Keys, e.banks[b.Name].Public(config.RoleBank))
	}
	require.NoError(t, e.n.Update(func(c *node.Ctx) error { return keydir.Keep(c.Tx, list) }))
	return e
}

// openCred is the PIN in a block the TPAP sealed to bank for txnID.
func (e *env) openCred(t *testing.T, bank string, c *upiv1.Cred, txnID string) string {
	t.Helper()
	k := e.banks[bank]
	p, err := pin.Open(k.HPKE, k.KeyID(), c, txnID, e.n.Now())
	require.NoError(t, err)
	return p
}

// notify delivers a notification from the PSP node `from` and returns the
// Ack.
func (e *env) notify(t *testing.T, from string, m *upiv1.Notification) *upiv1.Ack {
	t.Helper()
	p, ok := e.net.NodeByName(from)
	require.True(t, ok, "node %s", from)
	if m.Head == nil {
		m.Head = nodetest.Head(from, p.Prefix)
	}
	ack, err := e.n.Receive(t.Context(), upiv1.TpapService_Notify_FullMethodName, m)
	require.NoError(t, err)
	return ack
}

// txnStatus is a TXN_STATUS notification for user.
func txnStatus(user, txnID string, result upiv1.Resp_Result, errCode, rrn string) *upiv1.Notification {
	return &upiv1.Notification{
		Txn:      &upiv1.Txn{Id: txnID, Type: upiv1.Txn_PAY, CustRef: rrn},
		Kind:     upiv1.Notification_TXN_STATUS,
		UserAddr: user,
		Resp:     &upiv1.Resp{Result: result, ErrCode: errCode},
	}
}

// collectRequest is a COLLECT_REQUEST notification for payer.
func collectRequest(payer, payee, txnID string, amount int64) *upiv1.Notification {
	return &upiv1.Notification{
		Txn:      &upiv1.Txn{Id: txnID, Type: upiv1.Txn_COLLECT, Note: "lunch", CustRef: "123456789012", ExpireAfterMinutes: 30},
		Kind:     upiv1.Notification_COLLECT_REQUEST,
		UserAddr: payer,
		Payer:    &upiv1.Party{Addr: payer, AmountPaise: amount},
		Payee:    &upiv1.Party{Addr: payee, Name: "Chai Point", AmountPaise: amount},
	}
}

func (f *fakePSP) RespondDelegatedPay(_ context.Context, in *upiv1.RespondDelegatedPayRequest, _ ...grpc.CallOption) (*upiv1.RespondDelegatedPayResponse, error) {
	if err := f.record(in); err != nil {
		return nil, err
	}
	return &upiv1.RespondDelegatedPayResponse{}, nil
}

func (f *fakePSP) ListDelegatedApprovals(_ context.Context, in *upiv1.ListDelegatedApprovalsRequest, _ ...grpc.CallOption) (*upiv1.ListDelegatedApprovalsResponse, error) {
	if err := f.record(in); err != nil {
		return nil, err
	}
	return &upiv1.ListDelegatedApprovalsResponse{}, nil
}

// onLite, if set, hears each Lite call after it is recorded (a
// RegisterLite, SyncLite, DisableLite, or an InitiatePay with lite), as a
// real PSP's network would, and may answer it with notifications.
func (f *fakePSP) liteCall(m proto.Message) {
	f.mu.Lock()
	h := f.onLite
	f.mu.Unlock()
	if h != nil {
		h(proto.Clone(m))
	}
}

func (f *fakePSP) RegisterLite(_ context.Context, in *upiv1.RegisterLiteRequest, _ ...grpc.CallOption) (*upiv1.RegisterLiteResponse, error) {
	if err := f.record(in); err != nil {
		return nil, err
	}
	f.liteCall(in)
	return &upiv1.RegisterLiteResponse{TxnId: in.GetTxnId()}, nil
}

func (f *fakePSP) SyncLite(_ context.Context, in *upiv1.SyncLiteRequest, _ ...grpc.CallOption) (*upiv1.SyncLiteResponse, error) {
	if err := f.record(in); err != nil {
		return nil, err
	}
	f.liteCall(in)
	return &upiv1.SyncLiteResponse{TxnId: in.GetTxnId()}, nil
}

func (f *fakePSP) DisableLite(_ context.Context, in *upiv1.DisableLiteRequest, _ ...grpc.CallOption) (*upiv1.DisableLiteResponse, error) {
	if err := f.record(in); err != nil {
		return nil, err
	}
	f.liteCall(in)
	return &upiv1.DisableLiteResponse{TxnId: in.GetTxnId()}, nil
}
