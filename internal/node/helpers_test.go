package node_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Methods the tests use. The runtime does not care which service a method
// belongs to; these are real ones so that DecodeFor finds their types.
const (
	reqHbt  = upiv1.SwitchService_ReqHbt_FullMethodName
	respHbt = upiv1.PspService_RespHbt_FullMethodName
)

// Notes that make counter refuse or fail a message.
const (
	noteRefuse = "refuse"
	noteFail   = "fail"
)

// counter is a test Handler. On every accepted message it increments the
// counters "applied" and "applied/<txn id>" in store.Meta, notifies the txn
// id and, when replyTo is set and the message is a ReqHbt, sends a RespHbt
// for the same txn to replyTo. A txn note "refuse" refuses the message, "fail"
// fails it with an internal error.
//
// Fire increments "fired/<name>", stores the payload at "payload/<name>" and,
// when fireTo is set, sends a ReqHbt to fireTo whose txn id is the payload.
// A payload "fail" makes Fire fail; "rearm" sets the timer again, 5ms on,
// until it has fired 3 times.
type counter struct {
	replyTo string
	fireTo  string
	// seen, if set, gets every message whose step committed.
	seen chan node.Message
	// fired, if set, gets every timer whose Fire step committed.
	fired chan node.Timer
	// calls counts Handle calls, committed or not.
	calls atomic.Int32
}

func (h *counter) Handle(c *node.Ctx, in *node.Inbound) error {
	h.calls.Add(1)
	txn := in.Msg.GetTxn()
	switch txn.GetNote() {
	case noteRefuse:
		return node.Refuse("%s refused: txn note says %q", in.API, txn.GetNote())
	case noteFail:
		return errors.New("internal trouble")
	}
	if err := incr(c.Tx, "applied"); err != nil {
		return err
	}
	if err := incr(c.Tx, "applied/"+txn.GetId()); err != nil {
		return err
	}
	if h.seen != nil {
		m := in.Msg
		c.Tx.OnCommit(func() { h.seen <- m })
	}
	c.Notify(txn.GetId())
	if h.replyTo != "" && in.API == "ReqHbt" {
		return c.Send(h.replyTo, respHbt, &upiv1.RespHbt{
			Txn:  &upiv1.Txn{Id: txn.GetId(), Type: upiv1.Txn_HBT},
			Resp: &upiv1.Resp{ReqMsgId: in.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
		})
	}
	return nil
}

func (h *counter) Fire(c *node.Ctx, t node.Timer) error {
	if string(t.Payload) == "fail" {
		return errors.New("cannot fire")
	}
	if err := incr(c.Tx, "fired/"+t.Name); err != nil {
		return err
	}
	if string(t.Payload) == "rearm" {
		var fired uint64
		if v := c.Tx.Get(store.Meta, []byte("fired/"+t.Name)); v != nil {
			fired = store.ParseU64(v)
		}
		if fired < 3 {
			if err := c.SetTimer(t.Name, c.Now().Add(5*time.Millisecond), t.Payload); err != nil {
				return err
			}
		}
	}
	if err := c.Tx.Put(store.Meta, []byte("payload/"+t.Name), t.Payload); err != nil {
		return err
	}
	if h.fired != nil {
		c.Tx.OnCommit(func() { h.fired <- t })
	}
	if h.fireTo != "" {
		return c.Send(h.fireTo, reqHbt, &upiv1.ReqHbt{Txn: &upiv1.Txn{Id: string(t.Payload), Type: upiv1.Txn_HBT}})
	}
	return nil
}

func incr(tx *store.Tx, key string) error {
	var n uint64
	if v := tx.Get(store.Meta, []byte(key)); v != nil {
		n = store.ParseU64(v)
	}
	return tx.Put(store.Meta, []byte(key), store.U64(n+1))
}

// count reads a counter of counter.
func count(t testing.TB, n *node.Node, key string) uint64 {
	t.Helper()
	var c uint64
	require.NoError(t, n.View(func(tx *store.Tx) error {
		if v := tx.Get(store.Meta, []byte(key)); v != nil {
			c = store.ParseU64(v)
		}
		return nil
	}))
	return c
}

// keys counts the keys of a bucket of n's store.
func keys(t testing.TB, n *node.Node, b store.Bucket) int {
	t.Helper()
	var c int
	require.NoError(t, n.View(func(tx *store.Tx) error { c = tx.Count(b); return nil }))
	return c
}

func outboxLen(t testing.TB, n *node.Node) int {
	t.Helper()
	l, err := n.OutboxLen()
	require.NoError(t, err)
	return l
}

func timersLen(t testing.TB, n *node.Node) int {
	t.Helper()
	l, err := n.TimersLen()
	require.NoError(t, err)
	return l
}

// hbt is a ReqHbt from sender (prefix derived from its name) for a new txn.
func hbt(sender, note string) *upiv1.ReqHbt {
	p := ids.PrefixFor(sender)
	return &upiv1.ReqHbt{
		Head: &upiv1.Head{Ver: "2.0", OrgId: sender, MsgId: ids.NewMsgID(p), ProdType: "UPI"},
		Txn:  &upiv1.Txn{Id: ids.NewTxnID(p), Type: upiv1.Txn_HBT, Note: note},
	}
}

// instance is a node with its own store file, for tests that stop and
// restart nodes.
type instance struct {
	*node.Node
	db   *store.DB
	once sync.Once
}

// start opens (or reopens) the store at path and starts a node on it. It is
// stopped and closed at the end of the test if not before. Each opt changes
// the node's config (e.g. nodetest.WithClock).
func start(t testing.TB, path, name string, h node.Handler, tr node.Transport, opts ...func(*node.Config)) *instance {
	t.Helper()
	inst := open(t, path, name, h, tr, opts...)
	require.NoError(t, inst.Start())
	return inst
}

// open is start without Start.
func open(t testing.TB, path, name string, h node.Handler, tr node.Transport, opts ...func(*node.Config)) *instance {
	t.Helper()
	db, err := store.Open(path, store.Options{NoSync: true})
	require.NoError(t, err)
	cfg := node.Config{
		Name: name, Role: "test", DB: db, Handler: h, Transport: tr,
		RetryMin: 2 * time.Millisecond, RetryMax: 20 * time.Millisecond,
	}
	for _, o := range opts {
		o(&cfg)
	}
	inst := &instance{db: db, Node: node.New(cfg)}
	if f, ok := tr.(*failing); ok {
		tr = f.next
	}
	if it, ok := tr.(*node.InmemTransport); ok {
		it.Attach(inst.Node)
	}
	t.Cleanup(inst.stop)
	return inst
}

// stop stops the node and closes its store (a crash after the last commit).
func (i *instance) stop() {
	i.once.Do(func() {
		i.Stop()
		_ = i.db.Close()
	})
}

func dbPath(t testing.TB, name string) string { return filepath.Join(t.TempDir(), name+".db") }

// failing is a Transport that loses the first n attempts of every message,
// either before delivering it (the receiver never sees it) or after (the
// receiver stored it but the Ack was lost).
type failing struct {
	next         node.Transport
	n            int32
	afterDeliver bool
	mu           sync.Mutex
	attempts     map[string]int32 // by body
}

func (f *failing) Send(ctx context.Context, m node.Outgoing) (*upiv1.Ack, error) {
	f.mu.Lock()
	if f.attempts == nil {
		f.attempts = make(map[string]int32)
	}
	f.attempts[string(m.Body)]++
	a := f.attempts[string(m.Body)]
	f.mu.Unlock()
	if a > f.n {
		return f.next.Send(ctx, m)
	}
	if f.afterDeliver {
		if _, err := f.next.Send(ctx, m); err != nil {
			return nil, err
		}
		return nil, errors.New("connection reset before the ack")
	}
	return nil, errors.New("connection refused")
}

func (f *failing) total() int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s int32
	for _, a := range f.attempts {
		s += a
	}
	return s
}
