package ids

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A payment's look-up id keeps its prefix and time, is a valid id, differs
// from it, and leads back to it.
func TestLookupTxnID(t *testing.T) {
	id := NewTxnID("BET")
	l := LookupTxnID(id)
	assert.True(t, ValidID(l), l)
	assert.NotEqual(t, id, l)
	assert.Equal(t, id[:PrefixLen+16], l[:PrefixLen+16], "prefix and time kept")
	assert.Equal(t, id, LookupTxnID(l), "its own inverse")
	assert.Equal(t, "BET0123456789abcdeffedcba9876543210", LookupTxnID("BET0123456789abcdef0123456789abcdef"))
	assert.Equal(t, "not-an-id", LookupTxnID("not-an-id"), "anything else as it is")
	assert.NotEqual(t, LookupTxnID(NewTxnID("BET")), l, "two payments, two look-ups")
}
