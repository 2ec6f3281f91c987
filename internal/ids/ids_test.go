package ids

import (
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
