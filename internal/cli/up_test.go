package cli

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/upisim/upisim/internal/config"
)

func TestSetResponseTimeout(t *testing.T) {
	n := config.Default()
	want := n.Timeouts
	setResponseTimeout(n, 0)
	assert.Equal(t, want, n.Timeouts, "0 keeps the network's timeouts")

	setResponseTimeout(n, 2*time.Second)
	want.AuthDetails, want.Debit, want.Credit, want.CheckStatus, want.Reversal, want.ValAdd = 2*time.Second, 2*time.Second, 2*time.Second, 2*time.Second, 2*time.Second, 2*time.Second
	assert.Equal(t, want, n.Timeouts, "collect_expiry_max stays")
}
