package tpap

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A decided call's device goes only to a waiter that expects it, and
// nothing stays once the waiter is gone.
func TestLiteCallWaitsHandOnlyExpectedCalls(t *testing.T) {
	var w callWaits
	d := &liteDevice{DeviceId: "pos-1"}

	w.deliver("T1", d) // nobody waits
	assert.False(t, w.expecting("T1"))
	assert.Nil(t, w.delivered("T1"))
	assert.Empty(t, w.m)

	stop := w.expect("T2")
	assert.True(t, w.expecting("T2"))
	assert.Nil(t, w.delivered("T2"), "nothing before the deciding step commits")
	w.deliver("T2", d)
	assert.Same(t, d, w.delivered("T2"))
	stop()
	assert.False(t, w.expecting("T2"))
	w.deliver("T2", d) // a late answer
	assert.Empty(t, w.m, "an answer after the waiter left leaves nothing")
}
