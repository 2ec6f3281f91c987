package upi

import (
	"testing"

	"github.com/stretchr/testify/assert"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

func TestStatusOnlyMovesForward(t *testing.T) {
	var (
		none    = upiv1.Resp_RESULT_UNSPECIFIED
		pending = upiv1.Resp_PENDING
		deemed  = upiv1.Resp_DEEMED
		success = upiv1.Resp_SUCCESS
		failure = upiv1.Resp_FAILURE
	)
	tests := []struct {
		from, to upiv1.Resp_Result
		want     bool
	}{
		{none, pending, true},
		{pending, deemed, true},
		{pending, success, true},
		{deemed, failure, true},
		{deemed, success, true},
		{pending, pending, false},
		{deemed, deemed, false},
		{deemed, pending, false},
		{success, failure, false},
		{failure, success, false},
		{success, deemed, false},
		{failure, pending, false},
		{pending, none, false},
		{none, upiv1.Resp_Result(99), false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Forward(tt.from, tt.to), "%s → %s", tt.from, tt.to)
	}
	assert.True(t, Final(success))
	assert.True(t, Final(failure))
	assert.False(t, Final(deemed))
	assert.False(t, Final(pending))
	assert.True(t, Outcome(deemed))
	assert.True(t, Outcome(failure))
	assert.False(t, Outcome(pending))
	assert.False(t, Outcome(none))
	assert.Equal(t, deemed, ParseResult("DEEMED"))
	assert.Equal(t, none, ParseResult("nonsense"))
}
