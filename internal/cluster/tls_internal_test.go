package cluster

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/upisim/upisim/internal/config"
)

func TestInsecureIsLoopbackOnly(t *testing.T) {
	n := config.Default()
	n.AssignAddrs(7000)
	assert.NoError(t, checkInsecure(n))
	n.Nodes[1].GRPCAddr = "[::1]:7101"
	n.Nodes[2].HTTPAddr = "localhost:7002"
	assert.NoError(t, checkInsecure(n))
	n.Nodes[3].GRPCAddr = "10.0.0.5:7103"
	assert.ErrorContains(t, checkInsecure(n), "insecure mode (--insecure or tls: off) is for loopback only: node "+n.Nodes[3].Name+" listens on 10.0.0.5:7103")
	n.Nodes[3].GRPCAddr = "0.0.0.0:7103"
	assert.ErrorContains(t, checkInsecure(n), "loopback only")
}
