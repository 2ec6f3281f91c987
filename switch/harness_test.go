package upiswitch

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The default network's parties the tests use.
const (
	alice = "alice@alpha" // alphapsp, abank
	bob   = "bob@beta"    // betapsp, bbank
	chai  = "chai@beta"   // merchant, betapsp, bbank

	aliceAc, aliceIFSC = "1000000001", "ABNK0000001"
	bobAc, bobIFSC     = "2000000001", "BBNK0000001"
	chaiAc             = "2000000003"
	pin                = "1234"
)

// env is a switch node alone: the tests play the PSPs and banks by calling
// Receive and read what the switch sent from the recorder. The switch runs
// on a fake clock: await moves it to the switch's next timer when it has
// nothing else to do, advance moves it on, so timeouts take no real time.
type env struct {
	t     *testing.T
	net   *config.Network
	sw    *Switch
	n     *node.Node
	rec   *nodetest.Recorder
	book  *book
	clock *nodetest.Clock
}

func newEnv(t *testing.T, tweak func(*config.Network)) *env {
	t.Helper()
	net := config.Default()
	if tweak != nil {
		tweak(net)
	}
	rec := nodetest.NewRecorder()
	clock := nodetest.NewClock(time.Now())
	sw := New(Config{Network: net, Self: net.Switch()})
	n := nodetest.New(t, net.Switch().Name, sw, rec, nodetest.WithClock(clock))
	sw.Attach(n)
	return &env{t: t, net: net, sw: sw, n: n, rec: rec, book: newBook(), clock: clock}
}

// awaitHorizon is how far await moves the fake clock: the real time the
// tests waited for a message before they ran on a fake clock.
const awaitHorizon = 5 * time.Second

// since is the fake time passed since start.
func (e *env) since(start time.Time) time.Duration { return e.clock.Now().Sub(start) }

// advance moves the fake clock d on, firing on the way, each at its time,
// every timer the switch has (or sets) due by then, and waits until the
// switch is quiet.
func (e *env) advance(d time.Duration) {
	e.t.Helper()
	until := e.clock.Now().Add(d)
	for {
		nodetest.Quiesce(e.t, e.n)
		at, ok, err := e.n.NextTimer()
		require.NoError(e.t, err)
		if !ok || at.After(until) {
			break
		}
		if at.After(e.clock.Now()) {
			e.clock.Set(at)
		}
	}
	e.clock.Set(until)
	nodetest.Quiesce(e.t, e.n)
}

// head is a fresh Head from the node called from.
func (e *env) head(from string) *upiv1.Head {
	nd, ok := e.net.NodeByName(from)
	prefix := ids.PrefixFor(from)
	if ok {
		prefix = nd.Prefix
	}
	return nodetest.Head(from, prefix)
}

// receive delivers m to the switch and returns the Ack.
func (e *env) receive(method string, m node.Message) *upiv1.Ack {
	e.t.Helper()
	ack, err := e.n.Receive(e.t.Context(), method, m)
	require.NoError(e.t, err)
	return ack
}

// accept delivers m and requires it accepted.
func (e *env) accept(method string, m node.Message) {
	e.t.Helper()
	ack := e.receive(method, m)
	require.Empty(e.t, ack.GetErr(), "%s refused", method)
}

// await waits until the switch has sent the k-th (1-based) message with
// method about txnID whose txn.type is typ (any type if unspecified).
//
// While the message is not there and the switch is quiet (all it sent
// acked, no timer due), await moves the fake clock to the switch's next
// timer, up to awaitHorizon on from when it was called.
func (e *env) await(method, txnID string, typ upiv1.Txn_Type, k int) nodetest.Sent {
	e.t.Helper()
	horizon := e.clock.Now().Add(awaitHorizon)
	for {
		quiet, err := e.n.Quiet() // before looking: what a quiet switch sent is recorded
		require.NoError(e.t, err)
		if s := e.sent(method, txnID, typ); len(s) >= k {
			return s[k-1]
		}
		if quiet {
			at, ok, err := e.n.NextTimer()
			require.NoError(e.t, err)
			if !ok || at.After(horizon) {
				e.t.Fatalf("switch sent no %s (#%d, %s) for %s and has no timer due within %s; trace: %v",
					method, k, typ, txnID, awaitHorizon, e.trace(txnID))
			}
			if at.After(e.clock.Now()) {
				e.clock.Set(at)
			}
			continue
		}
		// Busy: wait until it is quiet (nodetest.Quiesce fails the test
		// after 5s), then look again.
		nodetest.Quiesce(e.t, e.n)
	}
}

// sent lists what the switch sent with method about txnID (of type typ,
// when specified), in delivery order.
func (e *env) sent(method, txnID string, typ upiv1.Txn_Type) []nodetest.Sent {
	var out []nodetest.Sent
	for _, s := range e.rec.All() {
		if s.Method == method && s.Msg.GetTxn().GetId() == txnID &&
			(typ == upiv1.Txn_TYPE_UNSPECIFIED || s.Msg.GetTxn().GetType() == typ) {
			out = append(out, s)
		}
	}
	return out
}

// trace lists "API→peer" for every message the switch sent about txnID, in
// the order it queued them.
func (e *env) trace(txnID string) []string {
	e.t.Helper()
	recs, err := e.n.Trace(txnID)
	require.NoError(e.t, err)
	var out []string
	for _, r := range recs {
		if r.GetDirection() == upiv1.TraceRecord_OUT {
			out = append(out, r.GetApi()+"→"+r.GetPeer())
		}
	}
	return out
}

// inspect is the switch's view of txnID.
func (e *env) inspect(txnID string) *upiv1.GetTransactionResponse {
	e.t.Helper()
	got, err := e.sw.InspectTxn(txnID)
	require.NoError(e.t, err)
	return got
}

// record reads the switch's record of txnID.
func (e *env) record(txnID string) *record {
	e.t.Helper()
	var r *record
	require.NoError(e.t, e.n.View(func(tx *store.Tx) error {
		var err error
		r, err = loadRecord(tx, txnID)
		return err
	}))
	require.NotNil(e.t, r, "no record of %s", txnID)
	return r
}

// eventually waits for cond.
func (e *env) eventually(cond func() bool, what string) {
	e.t.Helper()
	require.Eventually(e.t, cond, 5*time.Second, 2*time.Millisecond, what)
}

// pay is a ReqPay PAY from alice's PSP.
func pay(e *env, txnID, payee string, amount int64) *upiv1.ReqPay {
	return &upiv1.ReqPay{
		Head: e.head("alphapsp"),
		Txn:  &upiv1.Txn{Id: txnID, Type: upiv1.Txn_PAY, Note: "lunch", Ts: timestamppb.Now()},
		Payer: &upiv1.Party{
			Addr: alice, Name: "Alice", Type: upiv1.Party_PERSON, Code: "0000",
			Ac:          &upiv1.Account{AcNum: aliceAc, Ifsc: aliceIFSC},
			Creds:       []*upiv1.Cred{pintest.Opaque(pin, txnID)},
			AmountPaise: amount, Currency: "INR",
		},
		Payee: &upiv1.Party{Addr: payee},
	}
}

// collect is a ReqPay COLLECT from bob's PSP asking alice.
func collect(e *env, txnID string, amount int64, expireMinutes int32) *upiv1.ReqPay {
	return &upiv1.ReqPay{
		Head:  e.head("betapsp"),
		Txn:   &upiv1.Txn{Id: txnID, Type: upiv1.Txn_COLLECT, Note: "dinner", ExpireAfterMinutes: expireMinutes},
		Payer: &upiv1.Party{Addr: alice, AmountPaise: amount},
		Payee: &upiv1.Party{
			Addr: bob, Name: "Bob", Type: upiv1.Party_PERSON, Code: "0000",
			Ac: &upiv1.Account{AcNum: bobAc, Ifsc: bobIFSC}, AmountPaise: amount,
		},
	}
}

// payeeDetails is the payee PSP's SUCCESS RespAuthDetails for a PAY.
func payeeDetails(e *env, txnID, payee, acNum, ifsc string) *upiv1.RespAuthDetails {
	return &upiv1.RespAuthDetails{
		Head: e.head("betapsp"),
		Txn:  &upiv1.Txn{Id: txnID, Type: upiv1.Txn_PAY},
		Payee: &upiv1.Party{
			Addr: payee, Name: "Bob", Type: upiv1.Party_PERSON, Code: "0000",
			Ac: &upiv1.Account{AcNum: acNum, Ifsc: ifsc},
		},
		Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	}
}

// approve is the payer PSP's SUCCESS RespAuthDetails for a COLLECT.
func approve(e *env, txnID string, amount int64) *upiv1.RespAuthDetails {
	return &upiv1.RespAuthDetails{
		Head: e.head("alphapsp"),
		Txn:  &upiv1.Txn{Id: txnID, Type: upiv1.Txn_COLLECT},
		Payer: &upiv1.Party{
			Addr: alice, Name: "Alice", Type: upiv1.Party_PERSON,
			Ac:          &upiv1.Account{AcNum: aliceAc, Ifsc: aliceIFSC},
			Creds:       []*upiv1.Cred{pintest.Opaque(pin, txnID)},
			AmountPaise: amount,
		},
		Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	}
}

// declineAuth is a FAILURE RespAuthDetails from the PSP from.
func declineAuth(e *env, from, txnID, code string) *upiv1.RespAuthDetails {
	return &upiv1.RespAuthDetails{
		Head: e.head(from),
		Txn:  &upiv1.Txn{Id: txnID},
		Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: code},
	}
}

// bankResp is a bank's RespPay for a leg; code "" means SUCCESS.
func bankResp(e *env, from, txnID string, leg upiv1.Txn_Type, code, approval string) *upiv1.RespPay {
	ref := &upiv1.Ref{Type: "PAYER", ApprovalNum: approval, RespCode: "00"}
	if leg == upiv1.Txn_CREDIT {
		ref.Type = "PAYEE"
	}
	if leg == upiv1.Txn_REVERSAL {
		ref.ReversalRespCode = "00"
	}
	resp := &upiv1.Resp{Result: upiv1.Resp_SUCCESS, Refs: []*upiv1.Ref{ref}}
	if code != "" {
		resp.Result, resp.ErrCode, ref.RespCode, ref.ApprovalNum = upiv1.Resp_FAILURE, code, code, ""
	}
	return &upiv1.RespPay{Head: e.head(from), Txn: &upiv1.Txn{Id: txnID, Type: leg}, Resp: resp}
}

// answerLeg waits for the switch's request of leg for txnID, plays the
// bank it went to (posting in the book on SUCCESS) and answers it.
func (e *env) answerLeg(txnID string, leg upiv1.Txn_Type, code string) nodetest.Sent {
	e.t.Helper()
	method := upiv1.RemitterService_ReqPay_FullMethodName
	if leg == upiv1.Txn_CREDIT {
		method = upiv1.BeneficiaryService_ReqPay_FullMethodName
	}
	req := e.await(method, txnID, leg, 1)
	if code == "" {
		e.book.post(req)
	}
	e.accept(upiv1.SwitchService_RespPay_FullMethodName, bankResp(e, req.To, txnID, leg, code, "AP"+leg.String()))
	return req
}

// confirm answers the switch's ReqTxnConfirmation for txnID.
func (e *env) confirm(txnID string) {
	e.t.Helper()
	req := e.await(upiv1.PspService_ReqTxnConfirmation_FullMethodName, txnID, upiv1.Txn_TYPE_UNSPECIFIED, 1)
	e.accept(upiv1.SwitchService_RespTxnConfirmation_FullMethodName, &upiv1.RespTxnConfirmation{
		Head: e.head(req.To), Txn: &upiv1.Txn{Id: txnID, Type: req.Msg.GetTxn().GetType()},
		Resp: &upiv1.Resp{ReqMsgId: req.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
	})
}

// book is the banks' money as the tests, playing the banks, move it: one
// balance per account and one settlement balance per bank. The sum never
// changes, and every debit ends with one credit or one reversal.
type book struct {
	bal   map[string]int64
	total int64
	legs  map[string][]string // txn → legs posted
}

func newBook() *book {
	b := &book{bal: map[string]int64{}, legs: map[string][]string{}}
	for _, u := range config.Default().Users {
		b.bal[u.Account] = u.Balance
		b.total += u.Balance
	}
	return b
}

func (b *book) post(s nodetest.Sent) {
	m := s.Msg.(*upiv1.ReqPay)
	amt, id := m.GetPayer().GetAmountPaise(), m.GetTxn().GetId()
	switch m.GetTxn().GetType() {
	case upiv1.Txn_DEBIT:
		b.bal[m.GetPayer().GetAc().GetAcNum()] -= amt
		b.bal["settlement:"+s.To] += amt
	case upiv1.Txn_CREDIT:
		b.bal["settlement:"+s.To] -= amt
		b.bal[m.GetPayee().GetAc().GetAcNum()] += amt
	case upiv1.Txn_REVERSAL:
		b.bal["settlement:"+s.To] -= amt
		b.bal[m.GetPayer().GetAc().GetAcNum()] += amt
	}
	b.legs[id] = append(b.legs[id], m.GetTxn().GetType().String())
}

// check asserts conservation and that txnID's debit, if any, was closed by
// exactly one credit or reversal.
func (b *book) check(t *testing.T, txnID string) {
	t.Helper()
	var sum int64
	for _, v := range b.bal {
		sum += v
	}
	assert.Equal(t, b.total, sum, "money created or destroyed")
	legs := b.legs[txnID]
	switch {
	case len(legs) == 0:
	case len(legs) == 2 && legs[0] == "DEBIT" && (legs[1] == "CREDIT" || legs[1] == "REVERSAL"):
	default:
		t.Errorf("txn %s legs %v: a debit must end with exactly one credit or reversal", txnID, legs)
	}
}
