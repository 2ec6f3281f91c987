package tpap

import (
	"context"
	"errors"
	"github.com/upisim/upisim/internal/upi"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

func pay(payer, payee string, amount int64, pin string) *upiv1.CreatePaymentRequest {
	return &upiv1.CreatePaymentRequest{PayerVpa: payer, PayeeVpa: payee, AmountPaise: amount, Note: "dinner", Pin: pin}
}

func withNote(r *upiv1.CreatePaymentRequest, note string) *upiv1.CreatePaymentRequest {
	r.Note = note
	return r
}

func withKey(r *upiv1.CreatePaymentRequest, key string) *upiv1.CreatePaymentRequest {
	r.IdempotencyKey = key
	return r
}

func TestCreatePaymentValidation(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		req  *upiv1.CreatePaymentRequest
		code codes.Code
		msg  string
	}{
		{"missing payer", pay("", "bob@beta", 100, "1234"), codes.InvalidArgument, "payer_vpa: missing VPA"},
		{"bad payer", pay("alice", "bob@beta", 100, "1234"), codes.InvalidArgument, `payer_vpa: invalid VPA "alice"`},
		{"bad payee", pay("alice@alpha", "bob@be ta", 100, "1234"), codes.InvalidArgument, `payee_vpa: invalid VPA "bob@be ta"`},
		{"zero amount", pay("alice@alpha", "bob@beta", 0, "1234"), codes.InvalidArgument, "amount_paise must be greater than 0, got 0"},
		{"negative amount", pay("alice@alpha", "bob@beta", -5, "1234"), codes.InvalidArgument, "amount_paise must be greater than 0, got -5"},
		{"missing PIN", pay("alice@alpha", "bob@beta", 100, ""), codes.InvalidArgument, "pin: missing PIN"},
		{"bad PIN", pay("alice@alpha", "bob@beta", 100, "12a4"), codes.InvalidArgument, "pin: PIN must be 4 or 6 digits"},
		{"payer is payee", pay("alice@alpha", "Alice@Alpha", 100, "1234"), codes.InvalidArgument, "payer_vpa and payee_vpa are the same"},
		{"unknown payer handle", pay("alice@gamma", "bob@beta", 100, "1234"), codes.NotFound, "no PSP owns handle @gamma"},
		// What the switch would refuse, refused at once with its limits.
		{"note too long", withNote(pay("alice@alpha", "bob@beta", 100, "1234"), strings.Repeat("n", 10_000)), codes.InvalidArgument, "note is 10000 characters long; at most 50 are allowed"},
		{"control character in note", withNote(pay("alice@alpha", "bob@beta", 100, "1234"), "rent\r\nX-Evil: 1"), codes.InvalidArgument, "note contains the control character U+000D"},
		{"amount over the largest", pay("alice@alpha", "bob@beta", upi.MaxAmountPaise+1, "1234"), codes.InvalidArgument, "amount_paise 1000000000001 is more than the largest amount, 10000000000.00 rupees"},
		{"idempotency key too long", withKey(pay("alice@alpha", "bob@beta", 100, "1234"), strings.Repeat("k", MaxIdempotencyKey+1)), codes.InvalidArgument, "idempotency key is 129 bytes long; at most 128 are allowed"},
		{"idempotency key with a space", withKey(pay("alice@alpha", "bob@beta", 100, "1234"), "a b"), codes.InvalidArgument, "printable ASCII"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.x.CreatePayment(t.Context(), tc.req)
			require.Error(t, err)
			assert.Equal(t, tc.code, status.Code(err), "%v", err)
			assert.Contains(t, status.Convert(err).Message(), tc.msg)
		})
	}
	for name, p := range e.psps {
		assert.Empty(t, p.Calls(), "PSP %s was called for an invalid payment", name)
	}
}

func TestCreatePaymentStoresPending(t *testing.T) {
	e := newEnv(t)
	resp, err := e.x.CreatePayment(t.Context(), pay("alice@alpha", "bob@beta", 12_345, "1234"))
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_PENDING, resp.GetStatus())
	require.True(t, ids.ValidID(resp.GetTxnId()))

	calls := e.psps["alphapsp"].Calls()
	require.Len(t, calls, 1)
	got0 := proto.Clone(calls[0]).(*upiv1.InitiatePayRequest)
	cred := got0.GetCred()
	got0.Cred = nil
	assert.True(t, proto.Equal(&upiv1.InitiatePayRequest{
		PayerVpa: "alice@alpha", PayeeVpa: "bob@beta", AmountPaise: 12_345, Note: "dinner",
		TxnId: resp.GetTxnId(), // the app chooses the id, so that a retry cannot pay twice
	}, got0), "InitiatePay got %v", calls[0])
	assert.Equal(t, "1234", e.openCred(t, "abank", cred, resp.GetTxnId()), "the PIN, sealed to alice's bank for this txn")
	assert.NotContains(t, cred.String(), "1234")
	assert.Empty(t, e.psps["betapsp"].Calls())

	got, err := e.x.GetPayment(t.Context(), &upiv1.GetPaymentRequest{TxnId: resp.GetTxnId()})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_PENDING, got.GetStatus())
	tx := got.GetTransaction()
	assert.Equal(t, upiv1.Txn_PAY, tx.GetType())
	assert.Equal(t, "alice@alpha", tx.GetPayerVpa())
	assert.Equal(t, "bob@beta", tx.GetPayeeVpa())
	assert.Equal(t, int64(12_345), tx.GetAmountPaise())
	assert.Equal(t, "dinner", tx.GetNote())
	assert.NotNil(t, tx.GetCreated())

	in, err := e.x.InspectTxn(resp.GetTxnId())
	require.NoError(t, err)
	assert.Equal(t, "tpap", in.GetNode())
	assert.Equal(t, "PENDING", in.GetState())
}

func TestCreatePaymentPassesPSPErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code codes.Code
		msg  string
	}{
		{"not registered", status.Error(codes.NotFound, "alice@alpha is not registered at alphapsp"), codes.NotFound, "alice@alpha is not registered at alphapsp"},
		{"wrong state", status.Error(codes.FailedPrecondition, "txn id reused"), codes.FailedPrecondition, "txn id reused"},
		{"not a status", errors.New("connection reset"), codes.Unavailable, "PSP alphapsp: connection reset"},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.psps["alphapsp"].err = tc.err
			_, err := e.x.CreatePayment(t.Context(), pay("alice@alpha", "bob@beta", 100, "1234"))
			require.Error(t, err)
			assert.Equal(t, tc.code, status.Code(err), "%v", err)
			assert.Contains(t, status.Convert(err).Message(), tc.msg)
		})
	}
}

func TestNotifyTxnStatus(t *testing.T) {
	tests := []struct {
		name    string
		result  upiv1.Resp_Result
		errCode string
		rrn     string
	}{
		{"success", upiv1.Resp_SUCCESS, "", "512345678901"},
		{"bank decline", upiv1.Resp_FAILURE, "Z9", "512345678902"},
		{"deemed", upiv1.Resp_DEEMED, "RB", "512345678903"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			resp, err := e.x.CreatePayment(t.Context(), pay("alice@alpha", "bob@beta", 500, "1234"))
			require.NoError(t, err)
			id := resp.GetTxnId()

			ack := e.notify(t, "alphapsp", txnStatus("alice@alpha", id, tc.result, tc.errCode, tc.rrn))
			require.Empty(t, ack.GetErr())

			got, err := e.x.GetPayment(t.Context(), &upiv1.GetPaymentRequest{TxnId: id})
			require.NoError(t, err)
			assert.Equal(t, id, got.GetTxnId())
			assert.Equal(t, tc.result, got.GetStatus())
			assert.Equal(t, tc.rrn, got.GetRrn())
			assert.Equal(t, tc.errCode, got.GetErrCode())
			assert.Equal(t, tc.rrn, got.GetTransaction().GetRrn())
			assert.Equal(t, "dinner", got.GetTransaction().GetNote(), "the note the app sent is kept")
		})
	}
}

// Status only moves forward: a stale PENDING or DEEMED after the final
// outcome, or a second final outcome, changes nothing.
func TestNotifyStatusOnlyMovesForward(t *testing.T) {
	e := newEnv(t)
	resp, err := e.x.CreatePayment(t.Context(), pay("alice@alpha", "bob@beta", 500, "1234"))
	require.NoError(t, err)
	id := resp.GetTxnId()

	steps := []struct {
		from, user string
		result     upiv1.Resp_Result
		errCode    string
		want       upiv1.Resp_Result
	}{
		{"alphapsp", "alice@alpha", upiv1.Resp_DEEMED, "RB", upiv1.Resp_DEEMED},
		{"alphapsp", "alice@alpha", upiv1.Resp_PENDING, "", upiv1.Resp_DEEMED},
		{"alphapsp", "alice@alpha", upiv1.Resp_SUCCESS, "", upiv1.Resp_SUCCESS},
		{"betapsp", "bob@beta", upiv1.Resp_SUCCESS, "", upiv1.Resp_SUCCESS},
		{"alphapsp", "alice@alpha", upiv1.Resp_FAILURE, "U31", upiv1.Resp_SUCCESS},
		{"alphapsp", "alice@alpha", upiv1.Resp_DEEMED, "RB", upiv1.Resp_SUCCESS},
	}
	for i, s := range steps {
		ack := e.notify(t, s.from, txnStatus(s.user, id, s.result, s.errCode, "512345678901"))
		require.Empty(t, ack.GetErr(), "step %d", i)
		got, err := e.x.GetPayment(t.Context(), &upiv1.GetPaymentRequest{TxnId: id})
		require.NoError(t, err)
		assert.Equal(t, s.want, got.GetStatus(), "step %d", i)
	}
	got, err := e.x.GetPayment(t.Context(), &upiv1.GetPaymentRequest{TxnId: id})
	require.NoError(t, err)
	assert.Empty(t, got.GetErrCode(), "SUCCESS clears the DEEMED code")
}

// A notification can overtake the PSP's answer to InitiatePay; the record
// then keeps the final status and gains the request's details.
func TestNotifyBeforeInitiatePayAnswers(t *testing.T) {
	e := newEnv(t)
	e.psps["alphapsp"].before = func(id string) {
		ack := e.notify(t, "alphapsp", txnStatus("alice@alpha", id, upiv1.Resp_SUCCESS, "", "512345678901"))
		require.Empty(t, ack.GetErr())
	}
	resp, err := e.x.CreatePayment(t.Context(), pay("alice@alpha", "bob@beta", 700, "1234"))
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_SUCCESS, resp.GetStatus())

	got, err := e.x.GetPayment(t.Context(), &upiv1.GetPaymentRequest{TxnId: resp.GetTxnId()})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_SUCCESS, got.GetStatus())
	assert.Equal(t, "512345678901", got.GetRrn())
	assert.Equal(t, "dinner", got.GetTransaction().GetNote())
	assert.Equal(t, int64(700), got.GetTransaction().GetAmountPaise())
}

func TestGetPaymentLongPoll(t *testing.T) {
	e := newEnv(t)
	resp, err := e.x.CreatePayment(t.Context(), pay("alice@alpha", "bob@beta", 500, "1234"))
	require.NoError(t, err)
	id := resp.GetTxnId()

	type result struct {
		r   *upiv1.GetPaymentResponse
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		r, err := e.x.GetPayment(context.Background(), &upiv1.GetPaymentRequest{TxnId: id, WaitMs: 10_000})
		done <- result{r, err, time.Now()}
	}()
	select {
	case r := <-done:
		t.Fatalf("GetPayment returned before the outcome: %v %v", r.r, r.err)
	case <-time.After(100 * time.Millisecond):
	}
	sent := time.Now()
	ack := e.notify(t, "alphapsp", txnStatus("alice@alpha", id, upiv1.Resp_SUCCESS, "", "512345678901"))
	require.Empty(t, ack.GetErr())

	select {
	case r := <-done:
		require.NoError(t, r.err)
		assert.Equal(t, upiv1.Resp_SUCCESS, r.r.GetStatus())
		assert.Equal(t, "512345678901", r.r.GetRrn())
		assert.Less(t, r.at.Sub(sent), 2*time.Second)
	case <-time.After(5 * time.Second):
		t.Fatal("GetPayment did not return after the notification")
	}
}

func TestGetPaymentLongPollTimesOut(t *testing.T) {
	e := newEnv(t)
	resp, err := e.x.CreatePayment(t.Context(), pay("alice@alpha", "bob@beta", 500, "1234"))
	require.NoError(t, err)

	start := time.Now()
	got, err := e.x.GetPayment(t.Context(), &upiv1.GetPaymentRequest{TxnId: resp.GetTxnId(), WaitMs: 150})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_PENDING, got.GetStatus())
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)

	// The caller's deadline ends the wait too.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = e.x.GetPayment(ctx, &upiv1.GetPaymentRequest{TxnId: resp.GetTxnId(), WaitMs: 60_000})
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err), "%v", err)
}

func TestGetPaymentErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		req  *upiv1.GetPaymentRequest
		code codes.Code
		msg  string
	}{
		{"no id", &upiv1.GetPaymentRequest{}, codes.InvalidArgument, "txn_id is required"},
		{"unknown", &upiv1.GetPaymentRequest{TxnId: ids.NewTxnID("ALP")}, codes.NotFound, "no transaction"},
		{"unknown with wait", &upiv1.GetPaymentRequest{TxnId: ids.NewTxnID("ALP"), WaitMs: 1000}, codes.NotFound, "no transaction"},
		{"negative wait", &upiv1.GetPaymentRequest{TxnId: ids.NewTxnID("ALP"), WaitMs: -1}, codes.InvalidArgument, "wait_ms must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.x.GetPayment(t.Context(), tc.req)
			assert.Equal(t, tc.code, status.Code(err), "%v", err)
			assert.Contains(t, status.Convert(err).Message(), tc.msg)
		})
	}
	_, err := e.x.InspectTxn(ids.NewTxnID("ALP"))
	assert.Equal(t, codes.NotFound, status.Code(err))
}

func TestNotifyRefusals(t *testing.T) {
	e := newEnv(t)
	id := ids.NewTxnID("ALP")
	tests := []struct {
		name string
		from string
		m    *upiv1.Notification
		err  string
	}{
		{"no kind", "alphapsp", &upiv1.Notification{Txn: &upiv1.Txn{Id: id}, UserAddr: "alice@alpha"}, "kind is required"},
		{"unknown kind", "alphapsp", &upiv1.Notification{Txn: &upiv1.Txn{Id: id}, Kind: 42, UserAddr: "alice@alpha"}, "kind is required"},
		{"no user", "alphapsp", txnStatus("", id, upiv1.Resp_SUCCESS, "", ""), "user_addr: missing VPA"},
		{"bad user", "alphapsp", txnStatus("alice", id, upiv1.Resp_SUCCESS, "", ""), `user_addr: invalid VPA "alice"`},
		{"unknown handle", "alphapsp", txnStatus("alice@gamma", id, upiv1.Resp_SUCCESS, "", ""), "no PSP owns handle @gamma"},
		{"another PSP's user", "betapsp", txnStatus("alice@alpha", id, upiv1.Resp_SUCCESS, "", ""), "belongs to alphapsp; betapsp may not notify"},
		{"status without result", "alphapsp", txnStatus("alice@alpha", id, upiv1.Resp_RESULT_UNSPECIFIED, "", ""), "TXN_STATUS needs resp.result"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ack := e.notify(t, tc.from, tc.m)
			assert.Contains(t, ack.GetErr(), tc.err)
		})
	}
	// Nothing was stored.
	_, err := e.x.GetPayment(t.Context(), &upiv1.GetPaymentRequest{TxnId: id})
	assert.Equal(t, codes.NotFound, status.Code(err))
	ns, err := e.x.ListNotifications(t.Context(), &upiv1.ListNotificationsRequest{Vpa: "alice@alpha"})
	require.NoError(t, err)
	assert.Empty(t, ns.GetNotifications())
}

// A repeated notification (same msg_id) is applied once.
func TestNotifyDuplicate(t *testing.T) {
	e := newEnv(t)
	m := txnStatus("bob@beta", ids.NewTxnID("ALP"), upiv1.Resp_SUCCESS, "", "512345678901")
	require.Empty(t, e.notify(t, "betapsp", m).GetErr())
	require.Empty(t, e.notify(t, "betapsp", m).GetErr())
	ns, err := e.x.ListNotifications(t.Context(), &upiv1.ListNotificationsRequest{Vpa: "bob@beta"})
	require.NoError(t, err)
	assert.Len(t, ns.GetNotifications(), 1)
}

func TestCollectApprove(t *testing.T) {
	e := newEnv(t)
	// The merchant asks alice for money through its PSP.
	cr, err := e.x.CreateCollect(t.Context(), &upiv1.CreateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "alice@alpha", AmountPaise: 2_000, Note: "lunch"})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_PENDING, cr.GetStatus())
	id := cr.GetTxnId()
	calls := e.psps["betapsp"].Calls()
	require.Len(t, calls, 1)
	assert.True(t, proto.Equal(&upiv1.InitiateCollectRequest{
		PayeeVpa: "chai@beta", PayerVpa: "alice@alpha", AmountPaise: 2_000, Note: "lunch", ExpireAfterMinutes: DefaultCollectExpiry,
		TxnId: id,
	}, calls[0]), "InitiateCollect got %v", calls[0])

	// Not yet asked of alice: nothing to approve.
	_, err = e.x.ApproveCollect(t.Context(), &upiv1.ApproveCollectRequest{TxnId: id, Pin: "1234"})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "%v", err)

	// The payer's PSP asks alice.
	require.Empty(t, e.notify(t, "alphapsp", collectRequest("alice@alpha", "chai@beta", id, 2_000)).GetErr())
	list, err := e.x.ListCollects(t.Context(), &upiv1.ListCollectsRequest{Vpa: "alice@alpha"})
	require.NoError(t, err)
	require.Len(t, list.GetCollects(), 1)
	c := list.GetCollects()[0]
	assert.Equal(t, id, c.GetTxnId())
	assert.Equal(t, upiv1.Txn_COLLECT, c.GetType())
	assert.Equal(t, "chai@beta", c.GetPayeeVpa())
	assert.Equal(t, int64(2_000), c.GetAmountPaise())
	assert.NotNil(t, c.GetExpires())
	in, err := e.x.InspectTxn(id)
	require.NoError(t, err)
	assert.Equal(t, "AWAITING_APPROVAL", in.GetState())

	other, err := e.x.ListCollects(t.Context(), &upiv1.ListCollectsRequest{Vpa: "bob@beta"})
	require.NoError(t, err)
	assert.Empty(t, other.GetCollects())

	_, err = e.x.ApproveCollect(t.Context(), &upiv1.ApproveCollectRequest{TxnId: id})
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "approve without PIN: %v", err)

	ar, err := e.x.ApproveCollect(t.Context(), &upiv1.ApproveCollectRequest{TxnId: id, Pin: "1234"})
	require.NoError(t, err)
	assert.Equal(t, id, ar.GetTxnId())
	assert.Equal(t, upiv1.Resp_PENDING, ar.GetStatus())
	calls = e.psps["alphapsp"].Calls()
	require.Len(t, calls, 1)
	rc := proto.Clone(calls[0]).(*upiv1.RespondCollectRequest)
	assert.Equal(t, "1234", e.openCred(t, "abank", rc.GetCred(), id), "the PIN, sealed to alice's bank for this collect")
	rc.Cred = nil
	assert.True(t, proto.Equal(&upiv1.RespondCollectRequest{TxnId: id, Approve: true}, rc), "RespondCollect got %v", calls[0])

	// Answered: off the list, and a second answer is refused.
	list, err = e.x.ListCollects(t.Context(), &upiv1.ListCollectsRequest{Vpa: "alice@alpha"})
	require.NoError(t, err)
	assert.Empty(t, list.GetCollects())
	_, err = e.x.ApproveCollect(t.Context(), &upiv1.ApproveCollectRequest{TxnId: id, Pin: "1234"})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "%v", err)

	// The outcome arrives.
	require.Empty(t, e.notify(t, "betapsp", txnStatus("chai@beta", id, upiv1.Resp_SUCCESS, "", "123456789012")).GetErr())
	got, err := e.x.GetPayment(t.Context(), &upiv1.GetPaymentRequest{TxnId: id})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_SUCCESS, got.GetStatus())
	assert.Equal(t, upiv1.Txn_COLLECT, got.GetTransaction().GetType())
}

func TestCollectDecline(t *testing.T) {
	e := newEnv(t)
	// A collect this app did not create (another app's merchant).
	id := ids.NewTxnID("BET")
	require.Empty(t, e.notify(t, "alphapsp", collectRequest("alice@alpha", "chai@beta", id, 900)).GetErr())
	got, err := e.x.GetPayment(t.Context(), &upiv1.GetPaymentRequest{TxnId: id})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_PENDING, got.GetStatus())
	assert.Equal(t, upiv1.Txn_COLLECT, got.GetTransaction().GetType())
	assert.Equal(t, "123456789012", got.GetRrn())

	dr, err := e.x.DeclineCollect(t.Context(), &upiv1.DeclineCollectRequest{TxnId: id})
	require.NoError(t, err)
	assert.Equal(t, id, dr.GetTxnId())
	calls := e.psps["alphapsp"].Calls()
	require.Len(t, calls, 1)
	assert.True(t, proto.Equal(&upiv1.RespondCollectRequest{TxnId: id, Approve: false}, calls[0]), "RespondCollect got %v", calls[0])
	list, err := e.x.ListCollects(t.Context(), &upiv1.ListCollectsRequest{Vpa: "alice@alpha"})
	require.NoError(t, err)
	assert.Empty(t, list.GetCollects())

	require.Empty(t, e.notify(t, "alphapsp", txnStatus("alice@alpha", id, upiv1.Resp_FAILURE, "ZA", "123456789012")).GetErr())
	got, err = e.x.GetPayment(t.Context(), &upiv1.GetPaymentRequest{TxnId: id})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_FAILURE, got.GetStatus())
	assert.Equal(t, "ZA", got.GetErrCode())
	_, err = e.x.DeclineCollect(t.Context(), &upiv1.DeclineCollectRequest{TxnId: id})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "%v", err)
}

// A collect that ends without an answer (U69) leaves the payer's list.
func TestCollectExpiryLeavesList(t *testing.T) {
	e := newEnv(t)
	id := ids.NewTxnID("BET")
	require.Empty(t, e.notify(t, "alphapsp", collectRequest("alice@alpha", "chai@beta", id, 900)).GetErr())
	require.Empty(t, e.notify(t, "alphapsp", txnStatus("alice@alpha", id, upiv1.Resp_FAILURE, "U69", "123456789012")).GetErr())
	list, err := e.x.ListCollects(t.Context(), &upiv1.ListCollectsRequest{Vpa: "alice@alpha"})
	require.NoError(t, err)
	assert.Empty(t, list.GetCollects())
	_, err = e.x.ApproveCollect(t.Context(), &upiv1.ApproveCollectRequest{TxnId: id, Pin: "1234"})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "%v", err)
	assert.Empty(t, e.psps["alphapsp"].Calls())
}

func TestCollectErrors(t *testing.T) {
	e := newEnv(t)
	payResp, err := e.x.CreatePayment(t.Context(), pay("alice@alpha", "bob@beta", 100, "1234"))
	require.NoError(t, err)
	tests := []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"collect bad payer", func() error {
			_, err := e.x.CreateCollect(t.Context(), &upiv1.CreateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "alice", AmountPaise: 1})
			return err
		}, codes.InvalidArgument, "payer_vpa"},
		{"collect zero amount", func() error {
			_, err := e.x.CreateCollect(t.Context(), &upiv1.CreateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "alice@alpha"})
			return err
		}, codes.InvalidArgument, "amount_paise must be greater than 0"},
		{"collect negative expiry", func() error {
			_, err := e.x.CreateCollect(t.Context(), &upiv1.CreateCollectRequest{PayeeVpa: "chai@beta", PayerVpa: "alice@alpha", AmountPaise: 1, ExpireAfterMinutes: -1})
			return err
		}, codes.InvalidArgument, "expire_after_minutes"},
		{"collect unknown payee handle", func() error {
			_, err := e.x.CreateCollect(t.Context(), &upiv1.CreateCollectRequest{PayeeVpa: "shop@gamma", PayerVpa: "alice@alpha", AmountPaise: 1})
			return err
		}, codes.NotFound, "no PSP owns handle @gamma"},
		{"approve unknown", func() error {
			_, err := e.x.ApproveCollect(t.Context(), &upiv1.ApproveCollectRequest{TxnId: ids.NewTxnID("BET"), Pin: "1234"})
			return err
		}, codes.NotFound, "no transaction"},
		{"approve a payment", func() error {
			_, err := e.x.ApproveCollect(t.Context(), &upiv1.ApproveCollectRequest{TxnId: payResp.GetTxnId(), Pin: "1234"})
			return err
		}, codes.FailedPrecondition, "is a PAY, not a collect request"},
		{"decline without id", func() error {
			_, err := e.x.DeclineCollect(t.Context(), &upiv1.DeclineCollectRequest{})
			return err
		}, codes.InvalidArgument, "txn_id is required"},
		{"list bad vpa", func() error {
			_, err := e.x.ListCollects(t.Context(), &upiv1.ListCollectsRequest{Vpa: "x"})
			return err
		}, codes.InvalidArgument, "vpa: invalid VPA"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			assert.Equal(t, tc.code, status.Code(err), "%v", err)
			assert.Contains(t, status.Convert(err).Message(), tc.msg)
		})
	}
}

func TestListNotificationsOrder(t *testing.T) {
	e := newEnv(t)
	a, b, c := ids.NewTxnID("ALP"), ids.NewTxnID("ALP"), ids.NewTxnID("BET")
	steps := []struct {
		from string
		m    *upiv1.Notification
	}{
		{"alphapsp", txnStatus("alice@alpha", a, upiv1.Resp_SUCCESS, "", "512345678901")},
		{"betapsp", txnStatus("bob@beta", a, upiv1.Resp_SUCCESS, "", "512345678901")},
		{"alphapsp", collectRequest("alice@alpha", "chai@beta", c, 300)},
		{"alphapsp", txnStatus("alice@alpha", b, upiv1.Resp_FAILURE, "ZM", "512345678902")},
		{"alphapsp", &upiv1.Notification{Txn: &upiv1.Txn{Id: ids.NewTxnID("ALP"), Type: upiv1.Txn_LITE_SYNC}, Kind: upiv1.Notification_LITE_SYNC, UserAddr: "alice@alpha"}},
	}
	for i, s := range steps {
		require.Empty(t, e.notify(t, s.from, s.m).GetErr(), "step %d", i)
	}
	ns, err := e.x.ListNotifications(t.Context(), &upiv1.ListNotificationsRequest{Vpa: "Alice@Alpha"})
	require.NoError(t, err)
	var got []string
	for _, n := range ns.GetNotifications() {
		got = append(got, n.GetKind()+" "+n.GetTransaction().GetTxnId()+" "+n.GetTransaction().GetStatus().String()+" "+n.GetTransaction().GetErrCode())
		assert.NotNil(t, n.GetTs())
	}
	assert.Equal(t, []string{
		"TXN_STATUS " + a + " SUCCESS ",
		"COLLECT_REQUEST " + c + " PENDING ",
		"TXN_STATUS " + b + " FAILURE ZM",
		"LITE_SYNC " + steps[4].m.GetTxn().GetId() + " PENDING ",
	}, got)

	bob, err := e.x.ListNotifications(t.Context(), &upiv1.ListNotificationsRequest{Vpa: "bob@beta"})
	require.NoError(t, err)
	require.Len(t, bob.GetNotifications(), 1)
	assert.Equal(t, a, bob.GetNotifications()[0].GetTransaction().GetTxnId())

	none, err := e.x.ListNotifications(t.Context(), &upiv1.ListNotificationsRequest{Vpa: "carol@beta"})
	require.NoError(t, err)
	assert.Empty(t, none.GetNotifications())
	_, err = e.x.ListNotifications(t.Context(), &upiv1.ListNotificationsRequest{})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
}

func TestValidateAddress(t *testing.T) {
	details := &upiv1.AddressDetails{Vpa: "chai@beta", Name: "Chai Point", Type: upiv1.Party_ENTITY, Code: "5812", Ifsc: "BBNK0000001", Result: upiv1.Resp_SUCCESS}
	tests := []struct {
		name      string
		requester string
		psp       string
		sent      string
	}{
		{"no requester: first PSP's first user", "", "alphapsp", "alice@alpha"},
		{"requester's PSP", "bob@beta", "betapsp", "bob@beta"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.psps[tc.psp].resolve = details
			resp, err := e.x.ValidateAddress(t.Context(), &upiv1.ValidateAddressRequest{Vpa: "chai@beta", RequesterVpa: tc.requester})
			require.NoError(t, err)
			assert.True(t, proto.Equal(details, resp.GetDetails()))
			calls := e.psps[tc.psp].Calls()
			require.Len(t, calls, 1)
			assert.True(t, proto.Equal(&upiv1.ResolveAddressRequest{Vpa: "chai@beta", RequesterVpa: tc.sent}, calls[0]), "ResolveAddress got %v", calls[0])
		})
	}

	e := newEnv(t)
	_, err := e.x.ValidateAddress(t.Context(), &upiv1.ValidateAddressRequest{Vpa: "chai"})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	_, err = e.x.ValidateAddress(t.Context(), &upiv1.ValidateAddressRequest{Vpa: "chai@beta", RequesterVpa: "x@gamma"})
	assert.Equal(t, codes.NotFound, status.Code(err))
	noUsers := newEnv(t)
	noUsers.net.Users = nil
	_, err = noUsers.x.ValidateAddress(t.Context(), &upiv1.ValidateAddressRequest{Vpa: "chai@beta"})
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	assert.Contains(t, status.Convert(err).Message(), "requester_vpa is required")

	e.psps["alphapsp"].err = status.Error(codes.DeadlineExceeded, "no RespValAdd within 10s")
	_, err = e.x.ValidateAddress(t.Context(), &upiv1.ValidateAddressRequest{Vpa: "chai@beta"})
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
}

// With the network's collect expiry cap, an expired request leaves the
// list; an answer to it still goes to the payer's PSP, whose refusal
// (FailedPrecondition) is passed on and ends the request at the app.
func TestCollectExpiredAndRefusedByPSP(t *testing.T) {
	e := newEnv(t)
	e.net.Timeouts.CollectExpiryMax = 100 * time.Millisecond
	id := ids.NewTxnID("BET")
	m := collectRequest("alice@alpha", "chai@beta", id, 900)
	m.Txn.Ts = timestamppb.Now()
	require.Empty(t, e.notify(t, "alphapsp", m).GetErr())
	list, err := e.x.ListCollects(t.Context(), &upiv1.ListCollectsRequest{Vpa: "alice@alpha"})
	require.NoError(t, err)
	require.Len(t, list.GetCollects(), 1)
	assert.WithinDuration(t, m.GetTxn().GetTs().AsTime().Add(100*time.Millisecond), list.GetCollects()[0].GetExpires().AsTime(), time.Millisecond)

	require.Eventually(t, func() bool {
		list, err := e.x.ListCollects(t.Context(), &upiv1.ListCollectsRequest{Vpa: "alice@alpha"})
		return err == nil && len(list.GetCollects()) == 0
	}, 5*time.Second, 20*time.Millisecond)

	e.psps["alphapsp"].err = status.Error(codes.FailedPrecondition, "collect "+id+" has ended (U69)")
	_, err = e.x.ApproveCollect(t.Context(), &upiv1.ApproveCollectRequest{TxnId: id, Pin: "1234"})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "%v", err)
	assert.Contains(t, status.Convert(err).Message(), "has ended (U69)")
	require.Len(t, e.psps["alphapsp"].Calls(), 1)

	_, err = e.x.ApproveCollect(t.Context(), &upiv1.ApproveCollectRequest{TxnId: id, Pin: "1234"})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "%v", err)
	assert.Contains(t, status.Convert(err).Message(), "not waiting")
	assert.Len(t, e.psps["alphapsp"].Calls(), 1, "the PSP is not asked again")
	in, err := e.x.InspectTxn(id)
	require.NoError(t, err)
	assert.Equal(t, "PENDING", in.GetState(), "the outcome comes from the PSP's TXN_STATUS")
}

// Without the payer's bank's key the app asks the switch for the list,
// waits a bounded time, and then answers Unavailable without calling the
// PSP: a PIN is never sent unsealed.
func TestCreatePaymentWithoutBankKey(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, e.n.Update(func(c *node.Ctx) error { return c.Tx.Delete(store.KeyDir, []byte("abank")) }))
	e.x.keyWait = 100 * time.Millisecond
	_, err := e.x.CreatePayment(t.Context(), pay("alice@alpha", "bob@beta", 100, "1234"))
	assert.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	assert.Contains(t, status.Convert(err).Message(), "no key of bank abank")
	assert.Empty(t, e.psps["alphapsp"].Calls(), "nothing goes to the PSP")
	var asked int
	for _, s := range e.rec.All() {
		if s.Method == upiv1.SwitchService_ReqListKeys_FullMethodName {
			asked++
			assert.Equal(t, "npci", s.To)
		}
	}
	assert.GreaterOrEqual(t, asked, 1, "the app asked the switch for the key list")

	// Bob's bank's key is there: his payments go on.
	_, err = e.x.CreatePayment(t.Context(), pay("bob@beta", "alice@alpha", 100, "1234"))
	assert.NoError(t, err)
}

// A retried PSP call, and a repeat of the app call under the same
// idempotency key, send the same PIN block: the PSP sees one request.
func TestCreatePaymentRetrySendsSameBlock(t *testing.T) {
	e := newEnv(t)
	e.psps["alphapsp"].lose = pspRetries // every try of the first app call
	_, err := e.x.CreatePayment(t.Context(), withKey(pay("alice@alpha", "bob@beta", 100, "1234"), "k1"))
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	resp, err := e.x.CreatePayment(t.Context(), withKey(pay("alice@alpha", "bob@beta", 100, "1234"), "k1"))
	require.NoError(t, err)
	calls := e.psps["alphapsp"].Calls()
	require.Len(t, calls, pspRetries+1, "the tries of the first app call, then the second's")
	first := calls[0].(*upiv1.InitiatePayRequest)
	for _, c := range calls {
		assert.True(t, proto.Equal(first.GetCred(), c.(*upiv1.InitiatePayRequest).GetCred()), "the same block")
		assert.Equal(t, resp.GetTxnId(), c.(*upiv1.InitiatePayRequest).GetTxnId())
	}
	_, kept := e.x.blocks.Load(resp.GetTxnId())
	assert.False(t, kept, "forgotten once the PSP took it")
}
