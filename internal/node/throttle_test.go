package node_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
)

// A peer gets its burst at once, then TPS a second; answers and other
// peers are not limited.
func TestPeerThrottle(t *testing.T) {
	clock := nodetest.NewClock(time.Unix(1_700_000_000, 0))
	th := node.NewPeerThrottle("npci", map[string]node.Rate{"alphapsp": {TPS: 5, Burst: 2}}, clock.Now)
	require.NoError(t, th.Allow("alphapsp", "ReqPay"))
	require.NoError(t, th.Allow("alphapsp", "ReqValAdd"))
	err := th.Allow("alphapsp", "ReqPay")
	require.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Equal(t, "throttled: alphapsp sent more than 5 requests/s, its limit at npci; retry later", status.Convert(err).Message())
	assert.NoError(t, th.Allow("alphapsp", "RespPay"), "answers are never throttled")
	for range 10 {
		assert.NoError(t, th.Allow("betapsp", "ReqPay"), "a peer without a rate is not throttled")
	}
	assert.EqualValues(t, 1, th.Refused("alphapsp"))

	clock.Advance(200 * time.Millisecond) // one token at 5/s
	require.NoError(t, th.Allow("alphapsp", "ReqPay"))
	require.Error(t, th.Allow("alphapsp", "ReqPay"))
	clock.Advance(time.Hour) // refills up to the burst, no more
	require.NoError(t, th.Allow("alphapsp", "ReqPay"))
	require.NoError(t, th.Allow("alphapsp", "ReqPay"))
	require.Error(t, th.Allow("alphapsp", "ReqPay"))
	assert.EqualValues(t, 3, th.Refused("alphapsp"))
	assert.EqualValues(t, 0, th.Refused("betapsp"))
}

// A message Config.Throttle refuses gets its status, not an Ack, and
// nothing is stored or handled: the sender's retry is applied as new.
func TestReceiveThrottled(t *testing.T) {
	ctx := context.Background()
	refuse := true
	h := &counter{}
	n := nodetest.New(t, "npci", h, nodetest.NewRecorder(), func(c *node.Config) {
		c.Throttle = func(from, api string) error {
			if refuse {
				return status.Errorf(codes.ResourceExhausted, "throttled: %s %s", from, api)
			}
			return nil
		}
	})
	m := hbt("psp", "")
	ack, err := n.Receive(ctx, reqHbt, m)
	require.Nil(t, ack)
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Equal(t, "throttled: psp ReqHbt", status.Convert(err).Message())
	assert.EqualValues(t, 0, h.calls.Load())
	assert.EqualValues(t, 1, n.Throttled())
	recs, err := n.Trace(m.GetTxn().GetId())
	require.NoError(t, err)
	assert.Empty(t, recs, "nothing is stored for a throttled message")

	refuse = false
	ack, err = n.Receive(ctx, reqHbt, m)
	require.NoError(t, err)
	assert.Empty(t, ack.GetErr())
	assert.EqualValues(t, 1, h.calls.Load())
}

// throttledTransport refuses what its PeerThrottle refuses, as the
// receiver's Receive would, and delivers the rest to next.
type throttledTransport struct {
	th   *node.PeerThrottle
	next node.Transport
}

func (tt throttledTransport) Send(ctx context.Context, m node.Outgoing) (*upiv1.Ack, error) {
	if err := tt.th.Allow(m.From, m.Method[strings.LastIndexByte(m.Method, '/')+1:]); err != nil {
		return nil, err
	}
	return tt.next.Send(ctx, m)
}

// A sender refused for throttling keeps the message and backs off
// (jitter(RetryMin) first) on its clock, then delivers it once the bucket
// has a token again.
func TestThrottledSenderBacksOff(t *testing.T) {
	c := nodetest.NewClock(epoch)
	rec := nodetest.NewRecorder()
	th := node.NewPeerThrottle("b", map[string]node.Rate{"a": {TPS: 1, Burst: 1}}, c.Now)
	n := nodetest.New(t, "a", &counter{}, throttledTransport{th: th, next: rec}, nodetest.WithClock(c), func(cfg *node.Config) {
		cfg.RetryMin, cfg.RetryMax = time.Second, time.Minute
	})
	loop := idleLoop(t, c)
	first := send(t, n, "b")
	rec.WaitFor(t, reqHbt, first.GetTxn().GetId())
	second := send(t, n, "b")
	require.Eventually(t, func() bool { return th.Refused("a") == 1 && c.Armed() == loop+1 }, waitFor, tick,
		"the second is throttled and waits on the clock")
	c.Advance(time.Second/2 - time.Nanosecond)
	assert.Equal(t, loop+1, c.Armed(), "the backoff has not elapsed: still waiting")
	assert.EqualValues(t, 1, th.Refused("a"))
	c.Advance(time.Second / 2) // a token again, and the backoff has elapsed
	rec.WaitFor(t, reqHbt, second.GetTxn().GetId())
	assert.EqualValues(t, 1, th.Refused("a"))
	nodetest.Quiesce(t, n)
}
