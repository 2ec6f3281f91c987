package upi

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/upisim/upisim/internal/ids"
)

// Intent is a UPI deep link, upi://pay?pa=...&pn=...&am=...&tr=...&tn=...&cu=INR,
// as a merchant shows it (a QR code, a "pay" button) and a payer's app
// reads it.
type Intent struct {
	// PayeeVPA is pa, the payee's address (required).
	PayeeVPA string
	// PayeeName is pn, the name the app shows.
	PayeeName string
	// AmountPaise is am in paise; 0 when the link gives none (the payer
	// enters it).
	AmountPaise int64
	// RefID is tr, the merchant's transaction reference (its order id),
	// which the payment carries as txn.ref_id.
	RefID string
	// Note is tn, the transaction note.
	Note string
	// Currency is cu: "INR" or "" (absent).
	Currency string
}

// ErrIntent is wrapped by every ParseIntent error.
var ErrIntent = errors.New("bad UPI intent")

// ParseIntent reads a UPI pay link as a payer's app does: scheme upi, host
// pay, pa a VPA, am rupees with at most two decimals (absent: no amount),
// cu INR if present, each parameter at most once. Parameters it does not
// know (mc, tid, url, mode, ...) are ignored. Errors wrap ErrIntent and
// name the parameter.
func ParseIntent(s string) (Intent, error) {
	var in Intent
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return in, fmt.Errorf("%w: %v", ErrIntent, err)
	}
	if !strings.EqualFold(u.Scheme, "upi") {
		return in, fmt.Errorf("%w: scheme %q, want upi://pay?pa=...", ErrIntent, u.Scheme)
	}
	if host := u.Host + u.Opaque; !strings.EqualFold(strings.TrimSuffix(host, "/"), "pay") || strings.Trim(u.Path, "/") != "" {
		return in, fmt.Errorf("%w: %q is not a pay link, want upi://pay?pa=...", ErrIntent, strings.TrimPrefix(host+u.Path, "//"))
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return in, fmt.Errorf("%w: query: %v", ErrIntent, err)
	}
	get := func(name string) (string, error) {
		switch v := q[name]; len(v) {
		case 0:
			return "", nil
		case 1:
			return v[0], nil
		default:
			return "", fmt.Errorf("%w: %s is given %d times", ErrIntent, name, len(v))
		}
	}
	fields := []struct {
		name string
		to   *string
	}{{"pa", &in.PayeeVPA}, {"pn", &in.PayeeName}, {"tr", &in.RefID}, {"tn", &in.Note}, {"cu", &in.Currency}}
	for _, f := range fields {
		if *f.to, err = get(f.name); err != nil {
			return Intent{}, err
		}
	}
	if in.PayeeVPA == "" {
		return Intent{}, fmt.Errorf("%w: pa (the payee's VPA) is required", ErrIntent)
	}
	if err := ids.ValidateVPA(in.PayeeVPA); err != nil {
		return Intent{}, fmt.Errorf("%w: pa %q: %v", ErrIntent, in.PayeeVPA, err)
	}
	in.PayeeVPA = ids.NormalizeVPA(in.PayeeVPA)
	if in.Currency != "" && in.Currency != "INR" {
		return Intent{}, fmt.Errorf("%w: cu %q: only INR is paid over UPI", ErrIntent, in.Currency)
	}
	am, err := get("am")
	if err != nil {
		return Intent{}, err
	}
	if am != "" {
		if in.AmountPaise, err = ParseRupees(am); err != nil {
			why := err
			if u := errors.Unwrap(err); u != nil {
				why = u // the amount is in the message already
			}
			return Intent{}, fmt.Errorf("%w: am %q: %w", ErrIntent, am, why)
		}
	}
	return in, nil
}

// String is the intent as a link, its parameters in the order pa, pn, am,
// tr, tn, cu, the empty ones left out, each escaped as a URI query value
// (a space as %20, '@' kept): upi://pay?pa=chai@beta&pn=Chai%20Point&am=150.00&tr=ORD1&cu=INR.
func (in Intent) String() string {
	var b strings.Builder
	b.WriteString("upi://pay?")
	sep := ""
	add := func(name, v string) {
		if v == "" {
			return
		}
		b.WriteString(sep + name + "=" + escapeIntent(v))
		sep = "&"
	}
	add("pa", in.PayeeVPA)
	add("pn", in.PayeeName)
	if in.AmountPaise > 0 {
		add("am", FormatPaise(in.AmountPaise))
	}
	add("tr", in.RefID)
	add("tn", in.Note)
	add("cu", in.Currency)
	return b.String()
}

// escapeIntent percent-encodes every byte but the unreserved characters
// of RFC 3986 and '@'.
func escapeIntent(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("-._~@", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
