package ids_test

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/upisim/upisim/internal/ids"
)

// rupeesRef parses s as ParseRupees documents it, with big numbers, so
// that it cannot overflow: ok is false where ParseRupees must fail.
func rupeesRef(s string) (paise int64, ok bool) {
	s = strings.TrimSpace(s)
	whole, frac, point := strings.Cut(s, ".")
	digits := func(d string) bool {
		for i := 0; i < len(d); i++ {
			if d[i] < '0' || d[i] > '9' {
				return false
			}
		}
		return true
	}
	if whole == "" || !digits(whole) || !digits(frac) || point && frac == "" || len(frac) > 2 {
		return 0, false
	}
	frac += strings.Repeat("0", 2-len(frac))
	v, good := new(big.Int).SetString(whole+frac, 10)
	if !good || v.Sign() <= 0 || !v.IsInt64() {
		return 0, false
	}
	return v.Int64(), true
}

// FuzzParseRupees: ParseRupees never panics, agrees with a big-number
// parse, accepts only amounts > 0, and what it accepts formats back to
// the same paise.
func FuzzParseRupees(f *testing.F) {
	for _, s := range []string{
		"150", "150.5", "150.00", " 1.05 ", "0", "0.00", "-1", "1.234", "1.", ".5", "", "abc",
		"92233720368547758.07", "92233720368547758.08", "99999999999999999999", "1e3", "+5", "١٢٣",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ids.ParseRupees(s)
		want, ok := rupeesRef(s)
		if !ok {
			if err == nil {
				t.Fatalf("ParseRupees(%q) = %d, want an error", s, p)
			}
			for _, e := range []error{ids.ErrAmountEmpty, ids.ErrAmountNegative, ids.ErrAmountZero, ids.ErrAmountDecimals, ids.ErrAmountSyntax, ids.ErrAmountRange} {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("ParseRupees(%q): error %v wraps none of the documented errors", s, err)
		}
		if err != nil {
			t.Fatalf("ParseRupees(%q): %v, want %d", s, err, want)
		}
		if p != want || p <= 0 {
			t.Fatalf("ParseRupees(%q) = %d, want %d", s, p, want)
		}
		back, err := ids.ParseRupees(ids.FormatPaise(p))
		if err != nil || back != p {
			t.Fatalf("ParseRupees(FormatPaise(%d) = %q) = %d, %v", p, ids.FormatPaise(p), back, err)
		}
	})
}

// FuzzRupeesRoundTrip: for every amount > 0, parse(format(x)) == x, and
// the Indian-grouped form has the same digits.
func FuzzRupeesRoundTrip(f *testing.F) {
	for _, p := range []int64{1, 99, 100, 105, 15050, 10000000, math.MaxInt64, 0, -1, math.MinInt64} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p int64) {
		s := ids.FormatPaise(p)
		indian := ids.FormatRupeesIndian(p)
		if strings.NewReplacer(",", "", "₹", "").Replace(indian) != s {
			t.Fatalf("FormatRupeesIndian(%d) = %q, FormatPaise = %q", p, indian, s)
		}
		got, err := ids.ParseRupees(s)
		switch {
		case p > 0 && (err != nil || got != p):
			t.Fatalf("ParseRupees(FormatPaise(%d) = %q) = %d, %v", p, s, got, err)
		case p == 0 && !errors.Is(err, ids.ErrAmountZero):
			t.Fatalf("ParseRupees(%q) = %d, %v; want ErrAmountZero", s, got, err)
		case p < 0 && !errors.Is(err, ids.ErrAmountNegative):
			t.Fatalf("ParseRupees(%q) = %d, %v; want ErrAmountNegative", s, got, err)
		}
	})
}

// FuzzValidateVPA: ValidateVPA never panics, and a VPA it accepts is
// name@handle in plain ASCII within the length limits, whose handle
// HandleOf finds and whose normal form is valid too.
func FuzzValidateVPA(f *testing.F) {
	for _, s := range []string{
		"alice@alpha", "Bob.Smith-1_x@BETA", "a@b", "", "@", "alice", "alice@", "@alpha", "a@b@c",
		"alice@al pha", "alice@alpha.com", "álice@alpha", " alice@alpha", "alice@alpha\n",
		strings.Repeat("n", ids.MaxVPAPart) + "@" + strings.Repeat("h", ids.MaxVPAPart),
		strings.Repeat("n", ids.MaxVPAPart+1) + "@h",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := ids.ValidateVPA(s); err != nil {
			if err.Error() == "" {
				t.Fatalf("ValidateVPA(%q): empty error", s)
			}
			return
		}
		name, handle, ok := strings.Cut(s, "@")
		switch {
		case !ok || strings.Contains(handle, "@"):
			t.Fatalf("accepted %q: want exactly one '@'", s)
		case name == "" || len(name) > ids.MaxVPAPart || handle == "" || len(handle) > ids.MaxVPAPart:
			t.Fatalf("accepted %q: name or handle length out of 1..%d", s, ids.MaxVPAPart)
		case !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r > 0x7e || r <= ' ' }):
			t.Fatalf("accepted %q: not printable ASCII", s)
		case ids.HandleOf(s) != strings.ToLower(handle):
			t.Fatalf("HandleOf(%q) = %q, want %q", s, ids.HandleOf(s), strings.ToLower(handle))
		case ids.ValidateHandle(handle) != nil:
			t.Fatalf("accepted %q whose handle fails ValidateHandle: %v", s, ids.ValidateHandle(handle))
		}
		norm := ids.NormalizeVPA(s)
		if err := ids.ValidateVPA(norm); err != nil || ids.NormalizeVPA(norm) != norm {
			t.Fatalf("NormalizeVPA(%q) = %q: %v (or not idempotent)", s, norm, err)
		}
	})
}
