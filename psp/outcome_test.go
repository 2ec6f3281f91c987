package psp

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/store"
)

// outcomeHook is a Config.OnOutcome that records each call and writes a
// Meta key in the step, and fails the step while fail is set.
type outcomeHook struct {
	mu   sync.Mutex
	fail bool
	got  []Outcome
}

var errHook = errors.New("hook says no")

func (h *outcomeHook) run(c *node.Ctx, o Outcome) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, o)
	if err := c.Tx.Put(store.Meta, hookKey(o.TxnID), []byte(o.Result.String())); err != nil {
		return err
	}
	if h.fail {
		return errHook
	}
	return nil
}

func (h *outcomeHook) setFail(b bool) { h.mu.Lock(); h.fail = b; h.mu.Unlock() }

func (h *outcomeHook) calls() []Outcome {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Outcome(nil), h.got...)
}

func hookKey(txnID string) []byte { return []byte("test/outcome/" + txnID) }

// hookWrote is what the hook's write left in the store, nil if nothing.
func (f *fixture) hookWrote(txnID string) []byte {
	var v []byte
	require.NoError(f.t, f.n.View(func(tx *store.Tx) error {
		v = append(v, tx.Get(store.Meta, hookKey(txnID))...)
		return nil
	}))
	return v
}

// The hook runs inside the step that decides: when it fails, the step
// leaves nothing (no outcome in the record, no notice, not even the
// hook's own write), and the RespPay delivered again is handled then.
func TestOnOutcomeIsPartOfTheStep(t *testing.T) {
	h := &outcomeHook{fail: true}
	f := newFixtureWith(t, alpha, nil, Config{OnOutcome: h.run})
	resp, err := f.p.InitiatePay(t.Context(), &upiv1.InitiatePayRequest{PayerVpa: "alice@alpha", PayeeVpa: "bob@beta", AmountPaise: 500, Cred: pintest.Opaque("1234", "")})
	require.NoError(t, err)
	id := resp.GetTransaction().GetTxnId()
	f.rec.WaitFor(t, upiv1.SwitchService_ReqPay_FullMethodName, id)

	deemed := &upiv1.RespPay{Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY}, Resp: &upiv1.Resp{Result: upiv1.Resp_DEEMED, ErrCode: "RB"}}
	f.accept(upiv1.PspService_RespPay_FullMethodName, deemed)
	assert.Empty(t, h.calls(), "a DEEMED decides nothing")

	final := &upiv1.RespPay{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY, CustRef: "512345000007"},
		Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	}
	_, err = f.n.Receive(t.Context(), upiv1.PspService_RespPay_FullMethodName, final)
	require.Error(t, err, "the hook's error fails the step")
	assert.Contains(t, err.Error(), errHook.Error())
	calls := h.calls()
	require.Len(t, calls, 1, "the hook ran")
	assert.Equal(t, Outcome{
		TxnID: id, Type: upiv1.Txn_PAY, Result: upiv1.Resp_SUCCESS, RRN: "512345000007", AmountPaise: 500,
		Payer: OutcomeSide{VPA: "alice@alpha", Name: "Alice", Here: true, Initiator: true},
		Payee: OutcomeSide{VPA: "bob@beta"},
	}, calls[0])
	r := f.record(id)
	assert.Equal(t, "DEEMED", r.Status, "the failed step left the record as it was")
	assert.False(t, r.Final)
	assert.Empty(t, r.Rrn)
	assert.Nil(t, f.hookWrote(id), "nor the hook's own write")
	notices := f.sent(id, "Notify")
	assert.Equal(t, 1, notices, "only the DEEMED was told")

	h.setFail(false)
	f.accept(upiv1.PspService_RespPay_FullMethodName, final)
	require.Len(t, h.calls(), 2)
	r = f.record(id)
	assert.Equal(t, "SUCCESS", r.Status)
	assert.True(t, r.Final)
	assert.Equal(t, []byte("SUCCESS"), f.hookWrote(id), "the hook's write commits with the outcome")
	assert.Equal(t, notices+1, f.sent(id, "Notify"))

	f.accept(upiv1.PspService_RespPay_FullMethodName, final) // a duplicate
	f.accept(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY}, Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: "U30"},
	}) // a late one
	assert.Len(t, h.calls(), 2, "a decided outcome is not decided again")
}

// On-us, the outcome is decided once, by whichever of the RespPay and the
// confirmation comes first, with both sides here.
func TestOnOutcomeOnUsOnce(t *testing.T) {
	h := &outcomeHook{}
	f := newFixtureWith(t, alpha, withUser("dave@alpha", "Dave", "abank", "1000000009"), Config{OnOutcome: h.run})
	resp, err := f.p.InitiatePay(t.Context(), &upiv1.InitiatePayRequest{PayerVpa: "alice@alpha", PayeeVpa: "dave@alpha", AmountPaise: 300, Cred: pintest.Opaque("1234", "")})
	require.NoError(t, err)
	id := resp.GetTransaction().GetTxnId()
	f.rec.WaitFor(t, upiv1.SwitchService_ReqPay_FullMethodName, id)
	f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, payTo(id, "alice@alpha", "dave@alpha", 300))

	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY, CustRef: "512345000004"}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	})
	f.accept(upiv1.PspService_RespPay_FullMethodName, &upiv1.RespPay{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY, CustRef: "512345000004"}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	})
	calls := h.calls()
	require.Len(t, calls, 1)
	assert.Equal(t, upiv1.Resp_SUCCESS, calls[0].Result)
	assert.Equal(t, OutcomeSide{VPA: "alice@alpha", Name: "Alice", Here: true, Initiator: true}, calls[0].Payer)
	assert.Equal(t, OutcomeSide{VPA: "dave@alpha", Name: "Dave", Here: true}, calls[0].Payee)
}

// At the payer's PSP of a collect, the confirmation decides.
func TestOnOutcomeCollectPayer(t *testing.T) {
	h := &outcomeHook{}
	f := newFixtureWith(t, alpha, nil, Config{OnOutcome: h.run})
	id := newTxnID("BET")
	f.accept(upiv1.PspService_ReqAuthDetails_FullMethodName, collectFromChai(id, "alice@alpha", 700))
	f.accept(upiv1.PspService_ReqTxnConfirmation_FullMethodName, &upiv1.ReqTxnConfirmation{
		Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_COLLECT}, Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: "U69"},
	})
	calls := h.calls()
	require.Len(t, calls, 1)
	assert.Equal(t, upiv1.Txn_COLLECT, calls[0].Type)
	assert.Equal(t, upiv1.Resp_FAILURE, calls[0].Result)
	assert.Equal(t, "U69", calls[0].ErrCode)
	assert.True(t, calls[0].Payer.Here)
	assert.False(t, calls[0].Payer.Initiator)
	assert.False(t, calls[0].Payee.Here)
}
