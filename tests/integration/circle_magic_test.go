package integration

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/remitter"
)

// The default network's magic users of UPI Circle (README, "Reaching
// every branch"), each a rule of default.yaml.

// declines@beta: betapsp declines the invite (rule declines, ZA) without
// asking the secondary; a full link ends DECLINED and its mandate is
// revoked.
func TestCircleMagicDeclines(t *testing.T) {
	n := up(t, nil)
	l := n.circleLinkFull("alice@alpha", "declines@beta", "1000.00", "1234")
	n.linkStatus(l.LinkID, "DECLINED")
	got := n.circleShow(l.LinkID)
	assert.Equal(t, "ZA", got.ErrCode)
	require.NotEmpty(t, got.UMN)
	eventually(t, func() bool { return n.bankMandate(got.UMN).GetStatus() == remitter.MandateRevoked }, "the declined link's mandate revoked")
	assert.Empty(t, n.circleList("declines@beta", true), "the secondary was never asked")
	waitQuiet(t, n)
	r, text := n.auditSettled()
	assert.True(t, r.OK, text)
}

// silent@beta: betapsp ignores the invite (rule silent); the switch
// decides U69 after circle.invite_expiry and timeouts.auth_details.
func TestCircleMagicSilent(t *testing.T) {
	n := up(t, func(c *config.Network) {
		c.Circle.InviteExpiry = 200 * time.Millisecond
		c.Timeouts.AuthDetails = 200 * time.Millisecond
	})
	l := n.circleLink("alice@alpha", "silent@beta")
	n.linkStatus(l.LinkID, "EXPIRED")
	assert.Equal(t, "U69", n.circleShow(l.LinkID).ErrCode)
	waitQuiet(t, n)
	r, text := n.auditSettled()
	assert.True(t, r.OK, text)
}

// nomandate@alpha: abank declines the mandate (rule nomandate, YE); the
// full link ends FAILED YE and no invite goes.
func TestCircleMagicNoMandate(t *testing.T) {
	n := up(t, nil)
	l := n.circleLinkFull("nomandate@alpha", "carol@beta", "1000.00", "1234")
	n.linkStatus(l.LinkID, "FAILED")
	assert.Equal(t, "YE", n.circleShow(l.LinkID).ErrCode)
	assert.Nil(t, findLink(n.circleList("carol@beta", true), l.LinkID), "no invite for a link whose mandate failed")
	waitQuiet(t, n)
	r, text := n.auditSettled()
	assert.True(t, r.OK, text)
}
