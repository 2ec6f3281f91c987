package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// withThrottle is the default network file with limits.throttle set to
// section (YAML flow text).
func withThrottle(section string) []byte {
	return []byte(strings.Replace(string(DefaultYAML()), "\n  per_txn:", "\n  throttle: "+section+"\n  per_txn:", 1))
}

func TestParseThrottle(t *testing.T) {
	assert.Empty(t, Default().Limits.Throttle, "no one is throttled by default")

	n, err := Parse(withThrottle("{alphapsp: {tps: 20, burst: 40}, betapsp: {tps: 2.5}}"))
	require.NoError(t, err)
	assert.Equal(t, map[string]Throttle{"alphapsp": {TPS: 20, Burst: 40}, "betapsp": {TPS: 2.5, Burst: 3}}, n.Limits.Throttle,
		"burst defaults to one second's requests")
	out, err := n.Marshal()
	require.NoError(t, err)
	back, err := Parse(out)
	require.NoError(t, err)
	assert.Equal(t, n.Limits.Throttle, back.Limits.Throttle, "Marshal keeps limits.throttle:\n%s", out)
	c := n.Clone()
	c.Limits.Throttle["alphapsp"] = Throttle{TPS: 1, Burst: 1}
	assert.Equal(t, 20.0, n.Limits.Throttle["alphapsp"].TPS, "Clone copies the map")

	for section, want := range map[string]string{
		"{alphapsp: {burst: 4}}":         "limits.throttle.alphapsp.tps: missing",
		"{alphapsp: {tps: 0}}":           "limits.throttle.alphapsp.tps 0: want more than 0",
		"{alphapsp: {tps: -1}}":          "limits.throttle.alphapsp.tps -1: want more than 0",
		"{alphapsp: {tps: .nan}}":        "limits.throttle.alphapsp.tps NaN: want more than 0",
		"{alphapsp: {tps: 2000000}}":     "at most 1000000 requests a second",
		"{alphapsp: {tps: 5, burst: 0}}": "limits.throttle.alphapsp.burst 0: want 1 to 1000000 requests",
		"{nobody: {tps: 5}}":             `limits.throttle.nobody: no node "nobody" in nodes`,
		"{npci: {tps: 5}}":               "limits.throttle.npci: npci is a switch",
		"{alphapsp: {tps: 5, rate: 2}}":  "field rate not found",
		"{alphapsp: {tps: fast}}":        "cannot unmarshal",
	} {
		t.Run(section, func(t *testing.T) {
			_, err := Parse(withThrottle(section))
			assert.ErrorContains(t, err, want)
		})
	}
}

func TestDefaultBurst(t *testing.T) {
	for tps, want := range map[float64]int{0.1: 1, 1: 1, 2.5: 3, 20: 20, 5e6: MaxThrottleTPS} {
		assert.Equal(t, want, DefaultBurst(tps), "tps %v", tps)
	}
}
