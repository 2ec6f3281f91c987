package nodetest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// Sent is one message a node sent.
type Sent struct {
	To     string
	Method string
	// API is the method's last part, e.g. "ReqAuthDetails".
	API string
	Msg node.Message
}

// Recorder is a Transport that acks every message at once and records it.
type Recorder struct {
	mu   sync.Mutex
	sent []Sent
	cond chan struct{}
	// Refuse, if set, makes the Ack carry this error for matching methods.
	Refuse func(method string) string
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{cond: make(chan struct{})} }

// Send implements node.Transport.
func (r *Recorder) Send(_ context.Context, m node.Outgoing) (*upiv1.Ack, error) {
	msg, err := node.DecodeFor(m.Method, m.Body)
	if err != nil {
		return nil, err
	}
	api := m.Method[strings.LastIndexByte(m.Method, '/')+1:]
	ack := &upiv1.Ack{Api: api, ReqMsgId: msg.GetHead().GetMsgId(), Ts: timestamppb.Now()}
	if r.Refuse != nil {
		ack.Err = r.Refuse(m.Method)
	}
	r.mu.Lock()
	r.sent = append(r.sent, Sent{To: m.To, Method: m.Method, API: api, Msg: msg})
	close(r.cond)
	r.cond = make(chan struct{})
	r.mu.Unlock()
	return ack, nil
}

// All returns every message recorded so far.
func (r *Recorder) All() []Sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Sent(nil), r.sent...)
}

// WaitFor waits (up to 5s) until a message was sent with the full method
// and txn id (any txn id if txnID is ""), and returns the first such.
func (r *Recorder) WaitFor(t testing.TB, method, txnID string) Sent {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		for _, s := range r.sent {
			if s.Method == method && (txnID == "" || s.Msg.GetTxn().GetId() == txnID) {
				r.mu.Unlock()
				return s
			}
		}
		cond := r.cond
		r.mu.Unlock()
		select {
		case <-cond:
		case <-deadline:
			t.Fatalf("no %s for txn %q was sent; sent: %s", method, txnID, r.describe())
			return Sent{}
		}
	}
}

// Count returns how many messages were sent with the method and txn id.
func (r *Recorder) Count(method, txnID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := 0
	for _, s := range r.sent {
		if s.Method == method && (txnID == "" || s.Msg.GetTxn().GetId() == txnID) {
			c++
		}
	}
	return c
}

func (r *Recorder) describe() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, s := range r.sent {
		fmt.Fprintf(&b, "\n  %s → %s %s", s.API, s.To, node.Summarize(s.Msg))
	}
	return b.String()
}

// New opens a store in t.TempDir(), makes a node named name around h that
// sends through tr, starts it, and stops it and closes the store at the end
// of the test. Each opt changes the node's config before it is made (e.g.
// WithClock).
func New(t testing.TB, name string, h node.Handler, tr node.Transport, opts ...func(*node.Config)) *node.Node {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), name+".db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.Config{Name: name, Role: "test", DB: db, Handler: h, Transport: tr, RetryMin: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	n := node.New(cfg)
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Stop()
		db.Close()
	})
	return n
}

// Marshal encodes m as a node stores and sends it (deterministically), for
// seeds of fuzz targets and tests that build raw messages.
func Marshal(tb testing.TB, m proto.Message) []byte {
	tb.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Head returns a Head from sender with a fresh msg id.
func Head(sender, prefix string) *upiv1.Head {
	return &upiv1.Head{Ver: "2.0", Ts: timestamppb.Now(), OrgId: sender, MsgId: newID(prefix), ProdType: "UPI"}
}
