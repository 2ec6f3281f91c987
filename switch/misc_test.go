package upiswitch

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/reflect/protoregistry"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
)

func TestRefusals(t *testing.T) {
	startPay := func(e *env, id string) { e.accept(methodReqPay, pay(e, id, bob, 500)) }
	startDebit := func(e *env, id string) {
		startPay(e, id)
		e.accept(methodRespAuth, payeeDetails(e, id, bob, bobAc, bobIFSC))
		e.await(remitterReqPay, id, upiv1.Txn_DEBIT, 1)
	}
	for _, tc := range []struct {
		name   string
		setup  func(e *env, id string)
		method string
		msg    func(e *env, id string) node.Message
		want   string
	}{
		{
			name: "duplicate transaction id", setup: startPay, method: methodReqPay,
			msg:  func(e *env, id string) node.Message { return pay(e, id, chai, 900) },
			want: "duplicate transaction id ",
		},
		{
			name: "response for an unknown transaction", method: methodRespPay,
			msg:  func(e *env, id string) node.Message { return bankResp(e, "abank", id, upiv1.Txn_DEBIT, "", "1") },
			want: "unknown transaction ",
		},
		{
			name: "RespAuthDetails from the wrong PSP", setup: startPay, method: methodRespAuth,
			msg:  func(e *env, id string) node.Message { return declineAuth(e, "alphapsp", id, "U29") },
			want: "must come from betapsp",
		},
		{
			name: "RespPay DEBIT from the wrong bank", setup: startDebit, method: methodRespPay,
			msg:  func(e *env, id string) node.Message { return bankResp(e, "bbank", id, upiv1.Txn_DEBIT, "", "1") },
			want: "must come from abank",
		},
		{
			name: "RespPay for a leg never sent", setup: startDebit, method: methodRespPay,
			msg:  func(e *env, id string) node.Message { return bankResp(e, "bbank", id, upiv1.Txn_CREDIT, "", "1") },
			want: "sent no ReqPay CREDIT",
		},
		{
			name: "RespAuthDetails for a PAY without the payee's account", setup: startPay, method: methodRespAuth,
			msg: func(e *env, id string) node.Message {
				m := payeeDetails(e, id, bob, bobAc, bobIFSC)
				m.Payee.Ac = nil
				return m
			},
			want: "payee.ac needs ac_num and ifsc",
		},
		{
			name: "RespPay FAILURE without a code", setup: startDebit, method: methodRespPay,
			msg: func(e *env, id string) node.Message {
				m := bankResp(e, "abank", id, upiv1.Txn_DEBIT, "Z9", "")
				m.Resp.ErrCode = ""
				return m
			},
			want: "needs resp.err_code",
		},
		{
			name: "RespPay of type PAY", setup: startDebit, method: methodRespPay,
			msg:  func(e *env, id string) node.Message { return bankResp(e, "abank", id, upiv1.Txn_PAY, "", "1") },
			want: "must be DEBIT, CREDIT or REVERSAL",
		},
		{
			name: "PAY without a PIN", method: methodReqPay,
			msg: func(e *env, id string) node.Message {
				m := pay(e, id, bob, 500)
				m.Payer.Creds = nil
				return m
			},
			want: "PIN block",
		},
		{
			name: "PAY without the payer's account", method: methodReqPay,
			msg: func(e *env, id string) node.Message {
				m := pay(e, id, bob, 500)
				m.Payer.Ac = nil
				return m
			},
			want: "payer.ac needs ac_num and ifsc",
		},
		{
			name: "invalid payee VPA", method: methodReqPay,
			msg:  func(e *env, id string) node.Message { return pay(e, id, "bob", 500) },
			want: "payee.addr: invalid VPA",
		},
		{
			name: "zero amount", method: methodReqPay,
			msg:  func(e *env, id string) node.Message { return pay(e, id, bob, 0) },
			want: "amount_paise is required",
		},
		{
			name: "amounts differ", method: methodReqPay,
			msg: func(e *env, id string) node.Message {
				m := pay(e, id, bob, 500)
				m.Payee.AmountPaise = 501
				return m
			},
			want: "differ",
		},
		{
			name: "PAY to the payer", method: methodReqPay,
			msg:  func(e *env, id string) node.Message { return pay(e, id, alice, 500) },
			want: "payer and payee are the same VPA",
		},
		{
			name: "PAY to the payer, in another case", method: methodReqPay,
			msg:  func(e *env, id string) node.Message { return pay(e, id, "Alice@Alpha", 500) },
			want: "payer and payee are the same VPA",
		},
		{
			name: "COLLECT from the payee", method: methodReqPay,
			msg: func(e *env, id string) node.Message {
				m := collect(e, id, 500, 0)
				m.Payer.Addr = m.Payee.Addr
				return m
			},
			want: "payer and payee are the same VPA",
		},
		{
			name: "COLLECT without the payee's account", method: methodReqPay,
			msg: func(e *env, id string) node.Message {
				m := collect(e, id, 500, 0)
				m.Payee.Ac = nil
				return m
			},
			want: "payee.ac needs ac_num and ifsc",
		},
		{
			name: "PAY for a payer of another PSP", method: methodReqPay,
			msg: func(e *env, id string) node.Message {
				m := pay(e, id, bob, 500)
				m.Head = e.head("betapsp")
				return m
			},
			want: "is not a user of betapsp",
		},
		{
			name: "ReqPay from a bank", method: methodReqPay,
			msg: func(e *env, id string) node.Message {
				m := pay(e, id, bob, 500)
				m.Head = e.head("abank")
				return m
			},
			want: "only a psp node sends it",
		},
		{
			name: "ReqPay DEBIT from a PSP", method: methodReqPay,
			msg: func(e *env, id string) node.Message {
				m := pay(e, id, bob, 500)
				m.Txn.Type = upiv1.Txn_DEBIT
				return m
			},
			want: "must be type PAY, COLLECT or REFUND",
		},
		{
			name: "sender not in the network", method: methodReqPay,
			msg: func(e *env, id string) node.Message {
				m := pay(e, id, bob, 500)
				m.Head = e.head("mallory")
				return m
			},
			want: `"mallory": not a node of network`,
		},
		{
			name: "a mandate without a UMN", method: upiv1.SwitchService_ReqMandate_FullMethodName,
			msg: func(e *env, id string) node.Message {
				return &upiv1.ReqMandate{Head: e.head("alphapsp"), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_CREATE}}
			},
			want: "ReqMandate needs mandate.umn",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			id := ids.NewTxnID("ALP")
			if tc.setup != nil {
				tc.setup(e, id)
			}
			before := e.trace(id)
			ack := e.receive(tc.method, tc.msg(e, id))
			assert.Contains(t, ack.GetErr(), tc.want)
			assert.Equal(t, before, e.trace(id), "a refused message sends nothing")
			if tc.setup == nil {
				_, err := e.sw.InspectTxn(id)
				assert.Equal(t, codes.NotFound, status.Code(err), "a refused message stores nothing")
			}
		})
	}
}

func TestDuplicateTxnIDKeepsTheOriginal(t *testing.T) {
	e := newEnv(t, nil)
	id := ids.NewTxnID("ALP")
	e.accept(methodReqPay, pay(e, id, bob, 500))
	ack := e.receive(methodReqPay, pay(e, id, chai, 900))
	require.Contains(t, ack.GetErr(), "duplicate transaction id")
	assert.Contains(t, ack.GetErr(), "a different transaction with this id (PAY of 5.00 from alice@alpha to bob@beta)")

	// The same payment again under a new msg_id is accepted and applied
	// once: one ReqAuthDetails, one RRN.
	before := e.trace(id)
	again := pay(e, id, bob, 500)
	e.accept(methodReqPay, again)
	assert.Equal(t, before, e.trace(id), "nothing more is sent")
	e.await(pspReqAuth, id, upiv1.Txn_PAY, 1)
	assert.Len(t, e.sent(pspReqAuth, id, upiv1.Txn_PAY), 1)
	recs, err := e.n.Trace(id)
	require.NoError(t, err)
	last := recs[len(recs)-1]
	assert.Equal(t, again.GetHead().GetMsgId(), last.GetMsgId())
	assert.Contains(t, last.GetNote(), "the same transaction again")
	got := e.inspect(id).GetTransaction()
	assert.Equal(t, bob, got.GetPayeeVpa())
	assert.Equal(t, int64(500), got.GetAmountPaise())
	// The trace is written with the step, so it shows at once that the
	// refused duplicate queued nothing.
	assert.Equal(t, []string{"ReqAuthDetails→betapsp"}, e.trace(id))
	e.rec.WaitFor(t, pspReqAuth, id)
	assert.Equal(t, 1, e.rec.Count(pspReqAuth, id))
}

func TestValAdd(t *testing.T) {
	valAdd := func(e *env, id, payee string) *upiv1.ReqValAdd {
		return &upiv1.ReqValAdd{
			Head:  e.head("alphapsp"),
			Txn:   &upiv1.Txn{Id: id, Type: upiv1.Txn_VAL_ADD},
			Payer: &upiv1.Party{Addr: alice},
			Payee: &upiv1.Party{Addr: payee},
		}
	}
	t.Run("forwarded to the payee's PSP and back", func(t *testing.T) {
		e := newEnv(t, nil)
		id := ids.NewTxnID("ALP")
		req := valAdd(e, id, chai)
		e.accept(upiv1.SwitchService_ReqValAdd_FullMethodName, req)
		fwd := e.await(upiv1.PspService_ReqValAdd_FullMethodName, id, upiv1.Txn_VAL_ADD, 1)
		assert.Equal(t, "betapsp", fwd.To)
		assert.Equal(t, chai, fwd.Msg.(*upiv1.ReqValAdd).GetPayee().GetAddr())
		assert.Equal(t, alice, fwd.Msg.(*upiv1.ReqValAdd).GetPayer().GetAddr())

		answer := func(from string) *upiv1.RespValAdd {
			return &upiv1.RespValAdd{
				Head: e.head(from), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_VAL_ADD},
				Payee: &upiv1.Party{Addr: chai, Name: "Chai Point", Type: upiv1.Party_ENTITY, Code: "5812",
					Ac: &upiv1.Account{Ifsc: bobIFSC}},
				Resp: &upiv1.Resp{ReqMsgId: fwd.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
			}
		}
		ack := e.receive(upiv1.SwitchService_RespValAdd_FullMethodName, answer("alphapsp"))
		assert.Contains(t, ack.GetErr(), "must come from betapsp")
		e.accept(upiv1.SwitchService_RespValAdd_FullMethodName, answer("betapsp"))

		back := e.await(upiv1.PspService_RespValAdd_FullMethodName, id, upiv1.Txn_VAL_ADD, 1)
		assert.Equal(t, "alphapsp", back.To)
		bm := back.Msg.(*upiv1.RespValAdd)
		assert.Equal(t, upiv1.Resp_SUCCESS, bm.GetResp().GetResult())
		assert.Equal(t, req.GetHead().GetMsgId(), bm.GetResp().GetReqMsgId())
		assert.Equal(t, "Chai Point", bm.GetPayee().GetName())
		assert.Equal(t, upiv1.Party_ENTITY, bm.GetPayee().GetType())
		assert.Equal(t, "5812", bm.GetPayee().GetCode())
		assert.Equal(t, bobIFSC, bm.GetPayee().GetAc().GetIfsc())
		assert.Equal(t, string(StateClosed), e.inspect(id).GetState())

		// A repeat answer changes nothing.
		e.accept(upiv1.SwitchService_RespValAdd_FullMethodName, answer("betapsp"))
		assert.Equal(t, []string{"ReqValAdd→betapsp", "RespValAdd→alphapsp"}, e.trace(id))
	})
	t.Run("the payee's PSP does not know the VPA", func(t *testing.T) {
		e := newEnv(t, nil)
		id := ids.NewTxnID("ALP")
		e.accept(upiv1.SwitchService_ReqValAdd_FullMethodName, valAdd(e, id, "nobody@beta"))
		e.await(upiv1.PspService_ReqValAdd_FullMethodName, id, upiv1.Txn_VAL_ADD, 1)
		e.accept(upiv1.SwitchService_RespValAdd_FullMethodName, &upiv1.RespValAdd{
			Head: e.head("betapsp"), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_VAL_ADD},
			Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: "U29"},
		})
		back := e.await(upiv1.PspService_RespValAdd_FullMethodName, id, upiv1.Txn_VAL_ADD, 1)
		assert.Equal(t, upiv1.Resp_FAILURE, back.Msg.(*upiv1.RespValAdd).GetResp().GetResult())
		assert.Equal(t, "U29", back.Msg.(*upiv1.RespValAdd).GetResp().GetErrCode())
		assert.Equal(t, "nobody@beta", back.Msg.(*upiv1.RespValAdd).GetPayee().GetAddr())
	})
	t.Run("unknown handle: the switch answers U29", func(t *testing.T) {
		e := newEnv(t, nil)
		id := ids.NewTxnID("ALP")
		req := valAdd(e, id, "shop@nowhere")
		e.accept(upiv1.SwitchService_ReqValAdd_FullMethodName, req)
		back := e.await(upiv1.PspService_RespValAdd_FullMethodName, id, upiv1.Txn_VAL_ADD, 1)
		assert.Equal(t, "alphapsp", back.To)
		bm := back.Msg.(*upiv1.RespValAdd)
		assert.Equal(t, upiv1.Resp_FAILURE, bm.GetResp().GetResult())
		assert.Equal(t, "U29", bm.GetResp().GetErrCode())
		assert.Equal(t, req.GetHead().GetMsgId(), bm.GetResp().GetReqMsgId())
		assert.Equal(t, []string{"RespValAdd→alphapsp"}, e.trace(id))
		assert.Equal(t, string(StateClosed), e.inspect(id).GetState())
	})
}

func TestHeartbeat(t *testing.T) {
	e := newEnv(t, nil)
	id := ids.NewTxnID("ALP")
	req := &upiv1.ReqHbt{Head: e.head("alphapsp"), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_HBT}}
	e.accept(upiv1.SwitchService_ReqHbt_FullMethodName, req)
	got := e.await(upiv1.PspService_RespHbt_FullMethodName, id, upiv1.Txn_HBT, 1)
	assert.Equal(t, "alphapsp", got.To)
	resp := got.Msg.(*upiv1.RespHbt).GetResp()
	assert.Equal(t, upiv1.Resp_SUCCESS, resp.GetResult())
	assert.Equal(t, req.GetHead().GetMsgId(), resp.GetReqMsgId())

	ack := e.receive(upiv1.SwitchService_ReqHbt_FullMethodName,
		&upiv1.ReqHbt{Head: e.head("abank"), Txn: &upiv1.Txn{Id: ids.NewTxnID("ABA"), Type: upiv1.Txn_HBT}})
	assert.Contains(t, ack.GetErr(), "only a psp node sends it")
}

func TestInspectUnknownTxn(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.sw.InspectTxn(ids.NewTxnID("ALP"))
	assert.Equal(t, codes.NotFound, status.Code(err))
}

// Every SwitchService method is served and reaches the inbox: an empty
// message gets an Ack refusing it, not Unimplemented.
func TestServerServesEverySwitchServiceMethod(t *testing.T) {
	e := newEnv(t, nil)
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	e.sw.Register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })

	sd := upiv1.File_upi_v1_network_proto.Services().ByName("SwitchService")
	require.NotNil(t, sd)
	for i := range sd.Methods().Len() {
		md := sd.Methods().Get(i)
		mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
		require.NoError(t, err)
		ack := &upiv1.Ack{}
		method := "/" + string(sd.FullName()) + "/" + string(md.Name())
		require.NoError(t, conn.Invoke(t.Context(), method, mt.New().Interface(), ack), method)
		assert.Equal(t, "missing head", ack.GetErr(), method)
		assert.Equal(t, string(md.Name()), ack.GetApi())
	}

	// And a real message goes all the way through.
	id := ids.NewTxnID("BET")
	client := upiv1.NewSwitchServiceClient(conn)
	ack, err := client.ReqHbt(t.Context(), &upiv1.ReqHbt{Head: e.head("betapsp"), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_HBT}})
	require.NoError(t, err)
	assert.Empty(t, ack.GetErr())
	assert.Equal(t, "betapsp", e.await(upiv1.PspService_RespHbt_FullMethodName, id, upiv1.Txn_HBT, 1).To)
}
