package node

import (
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Rate is how many requests a peer may send: TPS a second on average, and
// up to Burst at once (a token bucket of Burst tokens that refills at TPS
// a second).
type Rate struct {
	TPS   float64
	Burst int
}

// PeerThrottle limits the requests (Req* messages) each named peer sends
// a node, the way NPCI throttles a member that sends more than its
// agreed TPS: a request over its peer's rate is refused at once with a
// RESOURCE_EXHAUSTED status, which the sender's outbox retries with
// backoff. Answers (Resp*) are never throttled: they finish work already
// taken, and refusing them would only make the work last longer. Peers
// without a Rate are not limited. Its Allow is Config.Throttle.
type PeerThrottle struct {
	now   func() time.Time
	peers map[string]*peerLimit
}

type peerLimit struct {
	lim     *rate.Limiter
	refusal error
	refused atomic.Int64
}

// NewPeerThrottle limits each peer of rates at node self, by the time now
// tells (nil: time.Now; a node's Clock.Now for a fake clock). A Rate's
// TPS must be > 0 and its Burst >= 1 (config.Validate checks the network
// file's).
func NewPeerThrottle(self string, rates map[string]Rate, now func() time.Time) *PeerThrottle {
	if now == nil {
		now = time.Now
	}
	t := &PeerThrottle{now: now, peers: make(map[string]*peerLimit, len(rates))}
	for peer, r := range rates {
		t.peers[peer] = &peerLimit{
			lim: rate.NewLimiter(rate.Limit(r.TPS), r.Burst),
			refusal: status.Errorf(codes.ResourceExhausted,
				"throttled: %s sent more than %s requests/s, its limit at %s; retry later", peer, formatTPS(r.TPS), self),
		}
	}
	return t
}

// Allow takes one of peer from's tokens for a request (api "Req...") and
// returns its throttling refusal when it has none left.
func (t *PeerThrottle) Allow(from, api string) error {
	p := t.peers[from]
	if p == nil || !strings.HasPrefix(api, "Req") {
		return nil
	}
	if p.lim.AllowN(t.now(), 1) {
		return nil
	}
	p.refused.Add(1)
	return p.refusal
}

// Refused is how many requests of peer Allow refused.
func (t *PeerThrottle) Refused(peer string) int64 {
	if p := t.peers[peer]; p != nil {
		return p.refused.Load()
	}
	return 0
}

func formatTPS(tps float64) string {
	if tps == math.Trunc(tps) {
		return fmt.Sprintf("%.0f", tps)
	}
	return fmt.Sprintf("%g", tps)
}
