package ids

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewIDs(t *testing.T) {
	for name, gen := range map[string]func(string) string{"msg": NewMsgID, "txn": NewTxnID} {
		t.Run(name, func(t *testing.T) {
			id := gen("ALP")
			require.Len(t, id, IDLen)
			assert.True(t, ValidID(id), id)
			assert.Equal(t, "ALP", PrefixOf(id))
			assert.Equal(t, strings.ToLower(id[3:]), id[3:])
			assert.NotEqual(t, id, gen("ALP"))
		})
	}
}

func TestNewIDPanicsOnBadPrefix(t *testing.T) {
	for _, p := range []string{"", "AL", "ALPH", "alp", "AL1"} {
		assert.Panics(t, func() { NewMsgID(p) }, p)
		assert.Panics(t, func() { NewTxnID(p) }, p)
	}
}

func TestNewIDConcurrentUnique(t *testing.T) {
	const workers, each = 8, 2000
	var mu sync.Mutex
	seen := make(map[string]bool, workers*each)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]string, 0, each)
			for i := 0; i < each; i++ {
				local = append(local, NewTxnID("NPC"))
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range local {
				seen[id] = true
			}
		}()
	}
	wg.Wait()
	assert.Len(t, seen, workers*each)
}

func TestValidID(t *testing.T) {
	hex32 := "0123456789abcdef0123456789abcdef"
	tests := []struct {
		id   string
		want bool
	}{
		{"ALP" + hex32, true},
		{"ZZZ" + strings.Repeat("f", 32), true},
		{"", false},
		{"ALP", false},
		{"ALP" + hex32[:31], false},
		{"ALP" + hex32 + "0", false},
		{"alp" + hex32, false},
		{"AL1" + hex32, false},
		{"ALP" + strings.ToUpper(hex32), false},
		{"ALP" + hex32[:31] + "g", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ValidID(tt.id), tt.id)
	}
}

func TestPrefixOf(t *testing.T) {
	assert.Equal(t, "ALP", PrefixOf("ALP0123"))
	assert.Equal(t, "", PrefixOf("AL"))
	assert.Equal(t, "", PrefixOf("alp0123"))
}

func TestPrefixFor(t *testing.T) {
	tests := map[string]string{
		"alphapsp": "ALP",
		"npci":     "NPC",
		"abank":    "ABA",
		"tpap":     "TPA",
		"bbank":    "BBA",
		"x":        "XXX",
		"b1":       "BXX",
		"a-1b_c":   "ABC",
		"":         "XXX",
		"ÄBank":    "BAN",
		"PSP2":     "PSP",
	}
	for in, want := range tests {
		got := PrefixFor(in)
		assert.Equal(t, want, got, in)
		assert.True(t, ValidPrefix(got), in)
	}
}

func TestFormatRRN(t *testing.T) {
	tests := []struct {
		t    time.Time
		seq  uint64
		want string
	}{
		{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), 1, "500100000001"},
		{time.Date(2025, 12, 31, 23, 59, 0, 0, time.UTC), 999999, "536523999999"},
		{time.Date(2024, 12, 31, 9, 0, 0, 0, time.UTC), 1_000_042, "436609000042"},
		{time.Date(2030, 2, 1, 14, 0, 0, 0, time.UTC), 123456, "003214123456"},
	}
	for _, tt := range tests {
		got := FormatRRN(tt.t, tt.seq)
		assert.Equal(t, tt.want, got)
		assert.True(t, ValidRRN(got))
	}
}

func TestValidRRN(t *testing.T) {
	assert.True(t, ValidRRN("123456789012"))
	assert.False(t, ValidRRN("12345678901"))
	assert.False(t, ValidRRN("1234567890123"))
	assert.False(t, ValidRRN("12345678901a"))
	assert.False(t, ValidRRN(""))
}

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

func TestValidateVPA(t *testing.T) {
	tests := []struct {
		in  string
		err string
	}{
		{in: "alice@alpha"},
		{in: "Alice.B-c_d9@Alpha1"},
		{in: strings.Repeat("a", 64) + "@" + strings.Repeat("b", 64)},
		{in: "", err: "missing VPA"},
		{in: "bob", err: `invalid VPA "bob": want name@handle`},
		{in: "a@b@c", err: `invalid VPA "a@b@c": more than one '@'`},
		{in: "@alpha", err: "empty name"},
		{in: "bob@", err: "empty handle"},
		{in: strings.Repeat("a", 65) + "@x", err: "name longer than 64"},
		{in: "a@" + strings.Repeat("b", 65), err: "handle longer than 64"},
		{in: "bo b@beta", err: "name may contain only"},
		{in: "bob!@beta", err: "name may contain only"},
		{in: "bob@be.ta", err: "may contain only letters and digits"},
		{in: "bob@be-ta", err: "may contain only letters and digits"},
	}
	for _, tt := range tests {
		err := ValidateVPA(tt.in)
		if tt.err == "" {
			assert.NoError(t, err, tt.in)
		} else {
			assert.ErrorContains(t, err, tt.err, tt.in)
		}
	}
}

func TestHandleOf(t *testing.T) {
	assert.Equal(t, "alpha", HandleOf("alice@alpha"))
	assert.Equal(t, "beta", HandleOf("Bob@BeTa"))
	assert.Equal(t, "", HandleOf("bob"))
	assert.Equal(t, "", HandleOf("bob@"))
	assert.Equal(t, "alice@alpha", NormalizeVPA(" Alice@Alpha "))
}

func TestValidatePIN(t *testing.T) {
	tests := []struct {
		in  string
		err string
	}{
		{in: "1234"},
		{in: "000000"},
		{in: "", err: "missing PIN"},
		{in: "123", err: "PIN must be 4 or 6 digits"},
		{in: "12345", err: "PIN must be 4 or 6 digits"},
		{in: "1234567", err: "PIN must be 4 or 6 digits"},
		{in: "12a4", err: "PIN must be 4 or 6 digits"},
	}
	for _, tt := range tests {
		err := ValidatePIN(tt.in)
		if tt.err == "" {
			assert.NoError(t, err, tt.in)
		} else {
			assert.EqualError(t, err, tt.err, tt.in)
			if tt.in != "" {
				assert.NotContains(t, err.Error(), tt.in, "error must not echo the PIN")
			}
		}
	}
}

func BenchmarkNewTxnID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = NewTxnID("ALP")
	}
}
