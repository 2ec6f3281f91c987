package upiswitch

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/store"
)

func TestCollect(t *testing.T) {
	for _, tc := range []struct {
		name string
		play func(e *env, id string)
		code string // "" for SUCCESS
		out  []string
	}{
		{
			name: "approved",
			play: func(e *env, id string) {
				e.accept(methodRespAuth, approve(e, id, 4200))
				debit := e.answerLeg(id, upiv1.Txn_DEBIT, "")
				dm := debit.Msg.(*upiv1.ReqPay)
				assert.Equal(t, "abank", debit.To)
				require.Len(t, dm.GetPayer().GetCreds(), 1)
				assert.Equal(t, pin, pintest.OpenOpaque(dm.GetPayer().GetCreds()[0], id), "the block comes through whole: it opens to the PIN for this txn")
				assert.Equal(t, aliceAc, dm.GetPayer().GetAc().GetAcNum())
				credit := e.answerLeg(id, upiv1.Txn_CREDIT, "")
				assert.Equal(t, "bbank", credit.To)
				assert.Equal(t, bobAc, credit.Msg.(*upiv1.ReqPay).GetPayee().GetAc().GetAcNum())
			},
			out: []string{"ReqAuthDetails→alphapsp", "ReqPay→abank", "ReqPay→bbank", "RespPay→betapsp", "ReqTxnConfirmation→alphapsp"},
		},
		{
			name: "declined by the payer: ZA",
			play: func(e *env, id string) {
				e.accept(methodRespAuth, declineAuth(e, "alphapsp", id, "ZA"))
			},
			code: "ZA",
			out:  []string{"ReqAuthDetails→alphapsp", "RespPay→betapsp", "ReqTxnConfirmation→alphapsp"},
		},
		{
			name: "approved, debit declined: ZM",
			play: func(e *env, id string) {
				e.accept(methodRespAuth, approve(e, id, 4200))
				e.answerLeg(id, upiv1.Txn_DEBIT, "ZM")
			},
			code: "ZM",
			out:  []string{"ReqAuthDetails→alphapsp", "ReqPay→abank", "RespPay→betapsp", "ReqTxnConfirmation→alphapsp"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			id := ids.NewTxnID("BET")
			req := collect(e, id, 4200, 0)
			e.accept(methodReqPay, req)

			ad := e.await(pspReqAuth, id, upiv1.Txn_COLLECT, 1)
			assert.Equal(t, "alphapsp", ad.To)
			adm := ad.Msg.(*upiv1.ReqAuthDetails)
			rrn := adm.GetTxn().GetCustRef()
			assert.True(t, ids.ValidRRN(rrn))
			assert.Equal(t, int32(defaultExpireMinutes), adm.GetTxn().GetExpireAfterMinutes())
			assert.Equal(t, alice, adm.GetPayer().GetAddr())
			assert.Equal(t, int64(4200), adm.GetPayer().GetAmountPaise())
			assert.Equal(t, "Bob", adm.GetPayee().GetName())
			got := e.inspect(id).GetTransaction()
			assert.Equal(t, upiv1.Txn_COLLECT, got.GetType())
			assert.WithinDuration(t, got.GetCreated().AsTime().Add(30*time.Minute), got.GetExpires().AsTime(), time.Millisecond)
			assert.Equal(t, 1, timers(t, e.n))

			tc.play(e, id)
			final := e.await(pspRespPay, id, upiv1.Txn_COLLECT, 1)
			assert.Equal(t, "betapsp", final.To)
			fm := final.Msg.(*upiv1.RespPay)
			assert.Equal(t, rrn, fm.GetTxn().GetCustRef())
			assert.Equal(t, req.GetHead().GetMsgId(), fm.GetResp().GetReqMsgId())
			wantResult := upiv1.Resp_SUCCESS
			if tc.code != "" {
				wantResult = upiv1.Resp_FAILURE
			}
			assert.Equal(t, wantResult, fm.GetResp().GetResult())
			assert.Equal(t, tc.code, fm.GetResp().GetErrCode())
			conf := e.await(pspReqConfirmation, id, upiv1.Txn_COLLECT, 1)
			assert.Equal(t, "alphapsp", conf.To)
			assert.Equal(t, wantResult, conf.Msg.(*upiv1.ReqTxnConfirmation).GetResp().GetResult())
			assert.Equal(t, tc.out, e.trace(id))
			assert.Equal(t, 0, timers(t, e.n), "the expiry timer is cancelled")
			e.confirm(id)
			assert.Equal(t, string(StateClosed), e.inspect(id).GetState())
			e.book.check(t, id)
		})
	}
}

func TestCollectExpires(t *testing.T) {
	e := newEnv(t, func(n *config.Network) { n.Timeouts.CollectExpiryMax = 100 * time.Millisecond })
	id := ids.NewTxnID("BET")
	start := e.clock.Now()
	e.accept(methodReqPay, collect(e, id, 900, 5))
	e.await(pspReqAuth, id, upiv1.Txn_COLLECT, 1)

	final := e.await(pspRespPay, id, upiv1.Txn_COLLECT, 1)
	assert.GreaterOrEqual(t, e.since(start), 100*time.Millisecond)
	assert.Equal(t, "betapsp", final.To)
	assert.Equal(t, upiv1.Resp_FAILURE, final.Msg.(*upiv1.RespPay).GetResp().GetResult())
	assert.Equal(t, "U69", final.Msg.(*upiv1.RespPay).GetResp().GetErrCode())
	conf := e.await(pspReqConfirmation, id, upiv1.Txn_COLLECT, 1)
	assert.Equal(t, "alphapsp", conf.To)
	assert.Equal(t, "U69", conf.Msg.(*upiv1.ReqTxnConfirmation).GetResp().GetErrCode())

	// The approval arrives late: accepted, noted, nothing moves.
	e.accept(methodRespAuth, approve(e, id, 900))
	r := e.record(id)
	assert.Equal(t, StateConfirmSent, r.State)
	assert.Equal(t, "FAILURE", r.Status)
	assert.Equal(t, "U69", r.ErrCode)
	require.Len(t, r.Late, 1)
	assert.Equal(t, "RespAuthDetails", r.Late[0].Api)
	assert.Equal(t, "alphapsp", r.Late[0].From)
	assert.Equal(t, "SUCCESS", r.Late[0].Result)
	nodetest.Quiesce(t, e.n)
	assert.Equal(t, []string{"ReqAuthDetails→alphapsp", "RespPay→betapsp", "ReqTxnConfirmation→alphapsp"}, e.trace(id))
	assert.Empty(t, e.sent(remitterReqPay, id, upiv1.Txn_TYPE_UNSPECIFIED))
	e.confirm(id)
	assert.Equal(t, string(StateClosed), e.inspect(id).GetState())
	e.book.check(t, id)
}

// The expiry timer is durable: a switch that was down when the collect
// came due expires it when it starts again.
func TestCollectExpirySurvivesRestart(t *testing.T) {
	net := config.Default()
	net.Timeouts.CollectExpiryMax = 150 * time.Millisecond
	path := filepath.Join(t.TempDir(), "npci.db")
	clock := nodetest.NewClock(time.Now())
	start := func(rec *nodetest.Recorder) (*node.Node, func()) {
		db, err := store.Open(path, store.Options{NoSync: true})
		require.NoError(t, err)
		sw := New(Config{Network: net, Self: net.Switch()})
		n := node.New(node.Config{Name: "npci", DB: db, Handler: sw, Transport: rec, Clock: clock, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond})
		sw.Attach(n)
		require.NoError(t, n.Start())
		return n, func() { n.Stop(); require.NoError(t, db.Close()) }
	}

	rec := nodetest.NewRecorder()
	n, stop := start(rec)
	e := &env{t: t, net: net, n: n, rec: rec, clock: clock}
	id := ids.NewTxnID("BET")
	e.accept(methodReqPay, collect(e, id, 900, 1))
	rec.WaitFor(t, pspReqAuth, id)
	stop()
	clock.Advance(200 * time.Millisecond) // due while down

	rec2 := nodetest.NewRecorder()
	n2, stop2 := start(rec2)
	defer stop2()
	final := rec2.WaitFor(t, pspRespPay, id)
	assert.Equal(t, "U69", final.Msg.(*upiv1.RespPay).GetResp().GetErrCode())
	rec2.WaitFor(t, pspReqConfirmation, id)
	assert.Equal(t, 0, timers(t, n2))
}

func timers(t *testing.T, n *node.Node) int {
	t.Helper()
	c, err := n.TimersLen()
	require.NoError(t, err)
	return c
}
