package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// http: listen_any is the opt-in for nodes in containers (Kubernetes):
// http_addr may then name another host, and every node listens on all
// interfaces at its ports; only with tls on.
func TestListenAny(t *testing.T) {
	n := Default()
	n.Nodes[0].HTTPAddr = "tpap.upisim.svc.cluster.local:7080"
	err := n.Validate()
	require.Error(t, err, "a REST address beyond loopback needs the opt-in")
	assert.Contains(t, err.Error(), `node "tpap": http_addr tpap.upisim.svc.cluster.local:7080 is not a loopback address`)
	assert.Contains(t, err.Error(), "http: listen_any: true with tls on")

	n.HTTP.ListenAny = true
	require.NoError(t, n.Validate(), "with the opt-in and tls on")

	n.TLS = TLSOff
	err = n.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "http: listen_any needs tls on")

	// The opt-in survives a round trip through the file, and ListenAddr
	// binds every interface at the address's port.
	n.TLS = TLSOn
	raw, err := n.Marshal()
	require.NoError(t, err)
	assert.Contains(t, string(raw), "listen_any: true")
	back, err := Parse(raw)
	require.NoError(t, err)
	assert.True(t, back.HTTP.ListenAny)
	assert.Equal(t, ":7080", back.ListenAddr(back.Nodes[0].HTTPAddr))

	// Without it a node listens at its address itself.
	assert.Equal(t, "127.0.0.1:7001", Default().ListenAddr("127.0.0.1:7001"))
}
