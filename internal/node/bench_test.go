package node_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// discard acks every message at once and keeps nothing.
type discard struct{}

func (discard) Send(context.Context, node.Outgoing) (*upiv1.Ack, error) {
	return &upiv1.Ack{}, nil
}

func benchReceive(b *testing.B, o store.Options, h *counter) {
	db, err := store.Open(filepath.Join(b.TempDir(), "bench.db"), o)
	if err != nil {
		b.Fatal(err)
	}
	n := node.New(node.Config{Name: "npci", DB: db, Handler: h, Transport: discard{}})
	if err := n.Start(); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	// Many concurrent senders, as a switch has under load.
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ack, err := n.Receive(ctx, reqHbt, hbt("psp", ""))
			if err != nil || ack.GetErr() != "" {
				b.Errorf("receive: %v %v", err, ack.GetErr())
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.StopTimer()
	if h.replyTo != "" { // let the outbox drain before stopping
		deadline := time.Now().Add(10 * time.Second)
		for l, _ := n.OutboxLen(); l > 0 && time.Now().Before(deadline); l, _ = n.OutboxLen() {
			time.Sleep(time.Millisecond)
		}
	}
	n.Stop()
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkReceive is the durable inbox under parallel load with fsync on:
// distinct messages, each stored, de-duplicated, handled and acked.
func BenchmarkReceive(b *testing.B) { benchReceive(b, store.Options{}, &counter{}) }

// BenchmarkReceiveNoSync is the same without fsync.
func BenchmarkReceiveNoSync(b *testing.B) { benchReceive(b, store.Options{NoSync: true}, &counter{}) }

// BenchmarkReceiveReply also queues a reply per message (fsync on): the
// outbox write, and the ack record written when the reply is delivered.
func BenchmarkReceiveReply(b *testing.B) {
	benchReceive(b, store.Options{}, &counter{replyTo: "psp"})
}
