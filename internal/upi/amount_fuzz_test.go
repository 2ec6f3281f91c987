package upi_test

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/upisim/upisim/internal/upi"
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
		p, err := upi.ParseRupees(s)
		want, ok := rupeesRef(s)
		if !ok {
			if err == nil {
				t.Fatalf("ParseRupees(%q) = %d, want an error", s, p)
			}
			for _, e := range []error{upi.ErrAmountEmpty, upi.ErrAmountNegative, upi.ErrAmountZero, upi.ErrAmountDecimals, upi.ErrAmountSyntax, upi.ErrAmountRange} {
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
		back, err := upi.ParseRupees(upi.FormatPaise(p))
		if err != nil || back != p {
			t.Fatalf("ParseRupees(FormatPaise(%d) = %q) = %d, %v", p, upi.FormatPaise(p), back, err)
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
		s := upi.FormatPaise(p)
		indian := upi.FormatRupeesIndian(p)
		if strings.NewReplacer(",", "", "₹", "").Replace(indian) != s {
			t.Fatalf("FormatRupeesIndian(%d) = %q, FormatPaise = %q", p, indian, s)
		}
		got, err := upi.ParseRupees(s)
		switch {
		case p > 0 && (err != nil || got != p):
			t.Fatalf("ParseRupees(FormatPaise(%d) = %q) = %d, %v", p, s, got, err)
		case p == 0 && !errors.Is(err, upi.ErrAmountZero):
			t.Fatalf("ParseRupees(%q) = %d, %v; want ErrAmountZero", s, got, err)
		case p < 0 && !errors.Is(err, upi.ErrAmountNegative):
			t.Fatalf("ParseRupees(%q) = %d, %v; want ErrAmountNegative", s, got, err)
		}
	})
}

// FuzzValidateVPA: ValidateVPA never panics, and a VPA it accepts is
// name@handle in plain ASCII within the length limits, whose handle
// HandleOf finds and whose normal form is valid too.
