package upi

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRupees(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr error
		msg     string
	}{
		{in: "150", want: 15000},
		{in: "150.5", want: 15050},
		{in: "150.00", want: 15000},
		{in: "150.05", want: 15005},
		{in: "0.01", want: 1},
		{in: " 7.50 ", want: 750},
		{in: "0100", want: 10000},
		{in: "92233720368547758.07", want: math.MaxInt64},
		{in: "", wantErr: ErrAmountEmpty, msg: "missing amount"},
		{in: "   ", wantErr: ErrAmountEmpty},
		{in: "-5", wantErr: ErrAmountNegative, msg: `amount must not be negative: "-5"`},
		{in: "0", wantErr: ErrAmountZero, msg: "amount must be greater than zero"},
		{in: "0.00", wantErr: ErrAmountZero},
		{in: "1.234", wantErr: ErrAmountDecimals, msg: `amount has more than two decimal places: "1.234"`},
		{in: "abc", wantErr: ErrAmountSyntax, msg: `amount is not a number: "abc"`},
		{in: "1,000", wantErr: ErrAmountSyntax},
		{in: "1e3", wantErr: ErrAmountSyntax},
		{in: "+5", wantErr: ErrAmountSyntax},
		{in: ".5", wantErr: ErrAmountSyntax},
		{in: "5.", wantErr: ErrAmountSyntax},
		{in: "1.2.3", wantErr: ErrAmountSyntax},
		{in: "92233720368547758.08", wantErr: ErrAmountRange},
		{in: "92233720368547759", wantErr: ErrAmountRange},
		{in: "99999999999999999999999", wantErr: ErrAmountRange, msg: `amount is too large: "99999999999999999999999"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRupees(tt.in)
			if tt.wantErr != nil {
				require.Error(t, err)
				assert.True(t, errors.Is(err, tt.wantErr), "got %v", err)
				if tt.msg != "" {
					assert.EqualError(t, err, tt.msg)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseRupeesAllowZero(t *testing.T) {
	for _, in := range []string{"0", "0.00", "0.0"} {
		got, err := ParseRupeesAllowZero(in)
		require.NoError(t, err, in)
		assert.Zero(t, got)
	}
	got, err := ParseRupeesAllowZero("10000.00")
	require.NoError(t, err)
	assert.EqualValues(t, 1_000_000, got)
	_, err = ParseRupeesAllowZero("-1")
	assert.ErrorIs(t, err, ErrAmountNegative)
}

func TestFormatPaise(t *testing.T) {
	tests := map[int64]string{
		15000:         "150.00",
		15050:         "150.50",
		1:             "0.01",
		0:             "0.00",
		-105:          "-1.05",
		-5:            "-0.05",
		math.MaxInt64: "92233720368547758.07",
		math.MinInt64: "-92233720368547758.08",
	}
	for in, want := range tests {
		assert.Equal(t, want, FormatPaise(in), in)
	}
	// Round trip.
	for _, p := range []int64{1, 99, 100, 15050, 1_000_000_00, math.MaxInt64} {
		got, err := ParseRupees(FormatPaise(p))
		require.NoError(t, err)
		assert.Equal(t, p, got)
	}
}

func TestFormatRupeesIndian(t *testing.T) {
	tests := map[int64]string{
		0:              "₹0.00",
		5:              "₹0.05",
		99900:          "₹999.00",
		100000:         "₹1,000.00",
		985000:         "₹9,850.00",
		1000000:        "₹10,000.00",
		10000000:       "₹1,00,000.00",
		123456789:      "₹12,34,567.89",
		1000000000:     "₹1,00,00,000.00",
		12345678901234: "₹1,23,45,67,89,012.34",
		-105:           "-₹1.05",
		-10000000:      "-₹1,00,000.00",
		math.MinInt64:  "-₹92,23,37,20,36,85,47,758.08",
	}
	for in, want := range tests {
		assert.Equal(t, want, FormatRupeesIndian(in), in)
	}
}
