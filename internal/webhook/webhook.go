// Package webhook signs and verifies webhooks as Standard Webhooks 1.0
// does it with a symmetric key: a merchant's secret "whsec_<base64>", and
// per delivery attempt the headers webhook-id (the event's id, the same on
// every attempt: the receiver deduplicates by it), webhook-timestamp (unix
// seconds of the attempt) and webhook-signature, a space-separated list of
// "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" (more than one while a
// key is rotated). A receiver rejects a timestamp more than Tolerance away
// from its clock, either way, so a captured request cannot be replayed
// later.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The header names of a signed webhook, and its content type.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
	ContentType     = "application/json"
)

// Prefix starts every symmetric secret.
const Prefix = "whsec_"

// The bounds of a secret's key, in bytes, and the size NewSecret makes.
const (
	MinKeyLen = 24
	MaxKeyLen = 64
	NewKeyLen = 32
)

// Tolerance is how far a webhook's timestamp may be from the receiver's
// clock, in the past or in the future.
const Tolerance = 5 * time.Minute

// The reasons Verify rejects a webhook (errors.Is).
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrBadHeaders     = errors.New("webhook: malformed webhook-id or webhook-timestamp header")
	ErrTooOld         = errors.New("webhook: timestamp too old")
	ErrTooNew         = errors.New("webhook: timestamp too new")
	ErrNoMatch        = errors.New("webhook: no matching signature")
)

// Secret is a merchant's webhook secret. Its String never shows the key.
type Secret struct{ key []byte }

// ParseSecret reads "whsec_" followed by the standard (padded) base64 of
// a key of 24 to 64 bytes.
func ParseSecret(s string) (Secret, error) {
	enc, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return Secret{}, fmt.Errorf("webhook secret: it must start with %q", Prefix)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil {
		return Secret{}, fmt.Errorf("webhook secret: the part after %q is not standard base64", Prefix)
	}
	if len(key) < MinKeyLen || len(key) > MaxKeyLen {
		return Secret{}, fmt.Errorf("webhook secret: the key is %d bytes; it must be %d to %d", len(key), MinKeyLen, MaxKeyLen)
	}
	return Secret{key: key}, nil
}

// NewSecret makes a secret of NewKeyLen random bytes (crypto/rand).
func NewSecret() (string, error) {
	key := make([]byte, NewKeyLen)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	return Prefix + base64.StdEncoding.EncodeToString(key), nil
}

// IsZero reports whether s has no key (the zero Secret, which signs
// nothing that verifies).
func (s Secret) IsZero() bool { return len(s.key) == 0 }

// String hides the key.
func (s Secret) String() string { return Prefix + "<redacted>" }

// GoString hides the key from %#v.
func (s Secret) GoString() string { return s.String() }

// Sign is the signature of one attempt: "v1," and the base64 of
// HMAC-SHA256(key, id "." unix-seconds(ts) "." body). id must not
// contain '.' (Verify refuses such an id): the sender's ids never do.
func (s Secret) Sign(id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(s.mac(id, strconv.FormatInt(ts.Unix(), 10), body))
}

func (s Secret) mac(id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Headers are the headers of one attempt: webhook-id, webhook-timestamp,
// webhook-signature and Content-Type application/json.
func (s Secret) Headers(id string, ts time.Time, body []byte) map[string]string {
	return map[string]string{
		HeaderID:        id,
		HeaderTimestamp: strconv.FormatInt(ts.Unix(), 10),
		HeaderSignature: s.Sign(id, ts, body),
		"Content-Type":  ContentType,
	}
}

// Verify checks a webhook as received: the three headers are there (else
// ErrMissingHeaders), its id and timestamp are well formed (no '.', the
// timestamp in decimal unix seconds: else ErrBadHeaders), the timestamp is
// within Tolerance of now (else ErrTooOld or ErrTooNew), and one of the
// "v1," signatures of webhook-signature is the one of body (compared in
// constant time; else ErrNoMatch). Signatures of other versions are
// skipped.
func (s Secret) Verify(h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	if strings.Contains(id, ".") {
		return fmt.Errorf("%w: webhook-id %q contains '.'", ErrBadHeaders, id)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || strings.ContainsAny(ts, ".+-") {
		return fmt.Errorf("%w: webhook-timestamp %q is not unix seconds", ErrBadHeaders, ts)
	}
	at := time.Unix(sec, 0)
	switch {
	case now.Sub(at) > Tolerance:
		return fmt.Errorf("%w: %s, %s before now", ErrTooOld, at.UTC().Format(time.RFC3339), now.Sub(at).Round(time.Second))
	case at.Sub(now) > Tolerance:
		return fmt.Errorf("%w: %s, %s after now", ErrTooNew, at.UTC().Format(time.RFC3339), at.Sub(now).Round(time.Second))
	}
	if s.IsZero() {
		return fmt.Errorf("%w: no secret to verify with", ErrNoMatch)
	}
	want := s.mac(id, ts, body)
	for _, sig := range strings.Fields(sigs) {
		version, enc, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrNoMatch
}
