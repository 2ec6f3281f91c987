package cluster

import (
	"time"

	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/node"
)

// throttleFor is node self's Config.Throttle: for a switch, the network
// file's limits.throttle (node.PeerThrottle); nil for other nodes and
// when the file throttles no one.
func throttleFor(n *config.Network, self *config.Node, clock node.Clock) func(from, api string) error {
	if self.Role != config.RoleSwitch || len(n.Limits.Throttle) == 0 {
		return nil
	}
	rates := make(map[string]node.Rate, len(n.Limits.Throttle))
	for name, th := range n.Limits.Throttle {
		rates[name] = node.Rate{TPS: th.TPS, Burst: th.Burst}
	}
	var now func() time.Time
	if clock != nil {
		now = clock.Now
	}
	return node.NewPeerThrottle(self.Name, rates, now).Allow
}
