package upi

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Errors returned by ParseRupees; match them with errors.Is.
var (
	ErrAmountEmpty    = errors.New("missing amount")
	ErrAmountNegative = errors.New("amount must not be negative")
	ErrAmountZero     = errors.New("amount must be greater than zero")
	ErrAmountDecimals = errors.New("amount has more than two decimal places")
	ErrAmountSyntax   = errors.New("amount is not a number")
	ErrAmountRange    = errors.New("amount is too large")
)

// ParseRupees parses a rupee amount such as "150", "150.5" or "150.00" into
// paise (15000, 15050, 15000). Surrounding spaces are ignored; there must be
// at least one digit before an optional '.', and at most two after it. Zero,
// negative and non-numeric amounts, amounts with more than two decimal places
// and amounts that do not fit in an int64 of paise are errors wrapping
// ErrAmountZero, ErrAmountNegative, ErrAmountSyntax, ErrAmountDecimals and
// ErrAmountRange; an empty string is ErrAmountEmpty.
func ParseRupees(s string) (int64, error) {
	p, err := parseNonNegativeRupees(s)
	if err != nil {
		return 0, err
	}
	if p == 0 {
		return 0, ErrAmountZero
	}
	return p, nil
}

// ParseRupeesAllowZero is ParseRupees that also accepts zero ("0", "0.00"),
// for balances.
func ParseRupeesAllowZero(s string) (int64, error) {
	return parseNonNegativeRupees(s)
}

func parseNonNegativeRupees(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, ErrAmountEmpty
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("%w: %q", ErrAmountNegative, s)
	}
	whole, frac, hasPoint := strings.Cut(s, ".")
	if whole == "" || !allDigits(whole) || !allDigits(frac) || hasPoint && frac == "" {
		return 0, fmt.Errorf("%w: %q", ErrAmountSyntax, s)
	}
	if len(frac) > 2 {
		return 0, fmt.Errorf("%w: %q", ErrAmountDecimals, s)
	}
	var rupees uint64
	for i := 0; i < len(whole); i++ {
		d := uint64(whole[i] - '0')
		if rupees > (math.MaxInt64/100-d)/10 {
			return 0, fmt.Errorf("%w: %q", ErrAmountRange, s)
		}
		rupees = rupees*10 + d
	}
	var paise uint64
	for i := 0; i < 2; i++ {
		paise *= 10
		if i < len(frac) {
			paise += uint64(frac[i] - '0')
		}
	}
	total := rupees*100 + paise
	if total > math.MaxInt64 {
		return 0, fmt.Errorf("%w: %q", ErrAmountRange, s)
	}
	return int64(total), nil
}

// FormatPaise formats paise as rupees with two decimals: 15000 → "150.00",
// -105 → "-1.05".
func FormatPaise(p int64) string {
	neg, abs := splitSign(p)
	s := strconv.FormatUint(abs/100, 10) + "." + twoDigits(abs%100)
	if neg {
		return "-" + s
	}
	return s
}

// FormatRupeesIndian formats paise as rupees with the rupee sign and Indian
// digit grouping: 985000 → "₹9,850.00", 10000000 → "₹1,00,000.00",
// -105 → "-₹1.05".
func FormatRupeesIndian(p int64) string {
	neg, abs := splitSign(p)
	digits := strconv.FormatUint(abs/100, 10)
	var b strings.Builder
	b.Grow(len(digits) + len(digits)/2 + 8)
	if neg {
		b.WriteByte('-')
	}
	b.WriteString("₹")
	if n := len(digits); n <= 3 {
		b.WriteString(digits)
	} else {
		head, tail := digits[:n-3], digits[n-3:]
		// head is grouped in twos from the right.
		first := len(head) % 2
		if first == 0 {
			first = 2
		}
		b.WriteString(head[:first])
		for i := first; i < len(head); i += 2 {
			b.WriteByte(',')
			b.WriteString(head[i : i+2])
		}
		b.WriteByte(',')
		b.WriteString(tail)
	}
	b.WriteByte('.')
	b.WriteString(twoDigits(abs % 100))
	return b.String()
}

func splitSign(p int64) (bool, uint64) {
	if p < 0 {
		return true, uint64(-(p + 1)) + 1 // safe for math.MinInt64
	}
	return false, uint64(p)
}

func twoDigits(v uint64) string {
	return string([]byte{byte('0' + v/10), byte('0' + v%10)})
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
