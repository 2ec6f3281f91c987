package node_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
)

// observed is a node.Observer that counts what it is told, by
// "received|sent|decided/<api or status>/<outcome or code>".
type observed struct {
	mu     sync.Mutex
	counts map[string]int
}

func (o *observed) add(k string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.counts == nil {
		o.counts = map[string]int{}
	}
	o.counts[k]++
}

func (o *observed) get(k string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[k]
}

// received is the number of messages told received, whatever their outcome.
func (o *observed) received() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	var c int
	for k, v := range o.counts {
		if strings.HasPrefix(k, "received/") {
			c += v
		}
	}
	return c
}

func (o *observed) Received(api, outcome string, took time.Duration) {
	if took < 0 {
		outcome = "negative time"
	}
	o.add("received/" + api + "/" + outcome)
}
func (o *observed) Sent(api, outcome string)    { o.add("sent/" + api + "/" + outcome) }
func (o *observed) Decided(status, code string) { o.add("decided/" + status + "/" + code) }

func TestObserverIsToldEachOutcome(t *testing.T) {
	ctx := context.Background()
	obs := &observed{}
	rec := nodetest.NewRecorder()
	var throttle bool
	n := nodetest.New(t, "npci", &counter{replyTo: "psp"}, rec, func(c *node.Config) {
		c.Observer = obs
		c.Throttle = func(from, api string) error {
			if throttle {
				return status.Error(codes.ResourceExhausted, "throttled")
			}
			return nil
		}
	})

	m := hbt("psp", "")
	ack, err := n.Receive(ctx, reqHbt, m)
	require.NoError(t, err)
	require.Empty(t, ack.GetErr())
	assert.Equal(t, 1, obs.get("received/ReqHbt/stored"))

	_, err = n.Receive(ctx, reqHbt, proto.Clone(m).(node.Message))
	require.NoError(t, err)
	assert.Equal(t, 1, obs.get("received/ReqHbt/duplicate"), "a repeat answered from the inbox")
	assert.Equal(t, 1, obs.get("received/ReqHbt/stored"), "a repeat is not stored again")

	ack, err = n.Receive(ctx, reqHbt, hbt("psp", noteRefuse))
	require.NoError(t, err)
	require.NotEmpty(t, ack.GetErr())
	assert.Equal(t, 1, obs.get("received/ReqHbt/refused"))

	_, err = n.Receive(ctx, reqHbt, hbt("psp", noteFail))
	require.Error(t, err)
	assert.Equal(t, 3, obs.received(), "an internal error is told nothing")

	throttle = true
	_, err = n.Receive(ctx, reqHbt, hbt("psp", ""))
	require.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Equal(t, 1, obs.get("received/ReqHbt/busy"))
	throttle = false

	// The RespHbt the first message sent is delivered and acked.
	rec.WaitFor(t, respHbt, m.GetTxn().GetId())
	require.Eventually(t, func() bool { return obs.get("sent/RespHbt/acked") == 1 }, waitFor, tick)

	// Decided is told once the step commits, and never for a failed one.
	require.NoError(t, n.Update(func(c *node.Ctx) error { c.Decided("SUCCESS", "00"); return nil }))
	assert.Equal(t, 1, obs.get("decided/SUCCESS/00"))
	require.Error(t, n.Update(func(c *node.Ctx) error { c.Decided("FAILURE", "U30"); return errors.New("step fails") }))
	assert.Zero(t, obs.get("decided/FAILURE/U30"))
}

func TestObserverIsToldRetries(t *testing.T) {
	obs := &observed{}
	tr := &failing{next: nodetest.NewRecorder(), n: 2}
	n := nodetest.New(t, "npci", &counter{replyTo: "psp"}, tr, func(c *node.Config) { c.Observer = obs })
	_, err := n.Receive(context.Background(), reqHbt, hbt("psp", ""))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return obs.get("sent/RespHbt/acked") == 1 }, waitFor, tick)
	assert.Equal(t, 2, obs.get("sent/RespHbt/retry"), "the two attempts the transport lost")
}
