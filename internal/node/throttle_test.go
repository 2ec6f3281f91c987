package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
