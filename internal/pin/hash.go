package pin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters of new hashes (RFC 9106). A
// stored hash carries its own, so changing them affects only hashes made
// after (a PIN reset, a new customer).
type Params struct {
	// Time is the number of passes over the memory.
	Time uint32
	// MemoryKiB is the memory used, in KiB.
	MemoryKiB uint32
	// Threads is the degree of parallelism.
	Threads uint8
}

// DefaultParams are OWASP's first recommended argon2id setting (Password
// Storage Cheat Sheet: m=19 MiB, t=2, p=1), about 20–60 ms of one core and
// 19 MiB per hash. A 4-digit PIN has only 10,000 values, so no hash
// setting keeps a stolen bank file from revealing PINs for long (10,000 ×
// 40 ms ≈ 7 minutes of one core) once the pepper is known too: banks hash
// with HashPeppered, whose pepper lives in the key file, not the store, so
// a stolen .db alone is not enough; the hash turns "well under a second"
// into minutes-to-hours per PIN, and the lockout protects the online path.
var DefaultParams = Params{Time: 2, MemoryKiB: 19 * 1024, Threads: 1}

// Validate reports params that argon2id cannot use or that would make a
// single hash unreasonable (more than 1 GiB, 64 passes or 64 threads).
func (p Params) Validate() error {
	switch {
	case p.Time < 1 || p.Time > 64:
		return fmt.Errorf("argon2id time %d: want 1 to 64", p.Time)
	case p.Threads < 1 || p.Threads > 64:
		return fmt.Errorf("argon2id threads %d: want 1 to 64", p.Threads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > 1<<20:
		return fmt.Errorf("argon2id memory_kib %d: want 8×threads to 1048576 (1 GiB)", p.MemoryKiB)
	}
	return nil
}

const (
	saltLen = 16
	keyLen  = 32
)

var b64 = base64.RawStdEncoding

// Hash returns the argon2id hash of pin under a fresh 16-byte salt as a
// PHC string: $argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<hash>
// (unpadded standard base64), the form libargon2 and most libraries read.
func Hash(pin string, p Params) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(pin), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// pepperMark is the PHC parameter that marks a peppered hash: its input is
// PepperPIN(pepper, PIN), not the PIN.
const pepperMark = ",pepper=1"

// PepperPIN is what a peppered hash hashes instead of the PIN:
// HMAC-SHA256 under the bank's pepper (a secret kept in its key file, not
// its store), so that a copied store alone cannot be brute-forced even for
// a 4-digit PIN.
func PepperPIN(pepper []byte, pin string) string {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte(pin))
	return string(m.Sum(nil))
}

// HashPeppered is Hash of PepperPIN(pepper, pin), marked ",pepper=1" after
// its parameters. An empty pepper makes an unpeppered Hash.
func HashPeppered(pin string, pepper []byte, p Params) (string, error) {
	if len(pepper) == 0 {
		return Hash(pin, p)
	}
	h, err := Hash(PepperPIN(pepper, pin), p)
	if err != nil {
		return "", err
	}
	parts := strings.Split(h, "$")
	parts[3] += pepperMark
	return strings.Join(parts, "$"), nil
}

// Peppered reports whether encoded is a peppered hash (HashPeppered).
func Peppered(encoded string) bool {
	parts := strings.Split(encoded, "$")
	return len(parts) == 6 && strings.HasSuffix(parts[3], pepperMark)
}

// Input is what to check against encoded for pin: PepperPIN(pepper, pin)
// for a peppered hash, the PIN for an older one.
func Input(pin string, pepper []byte, encoded string) string {
	if Peppered(encoded) {
		return PepperPIN(pepper, pin)
	}
	return pin
}

// ErrBadHash is returned for a stored hash that is not an argon2id PHC
// string this package can check.
var ErrBadHash = errors.New("pin: stored PIN hash is not a valid argon2id PHC string")

// parsed is a decoded PHC string.
type parsed struct {
	p         Params
	salt, key []byte
}

func parse(encoded string) (parsed, error) {
	var out parsed
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return out, ErrBadHash
	}
	var m, t, th uint32
	params := strings.TrimSuffix(parts[3], pepperMark)
	if n, err := fmt.Sscanf(params, "m=%d,t=%d,p=%d", &m, &t, &th); err != nil || n != 3 || th > 255 ||
		params != fmt.Sprintf("m=%d,t=%d,p=%d", m, t, th) {
		return out, ErrBadHash
	}
	out.p = Params{Time: t, MemoryKiB: m, Threads: uint8(th)}
	if out.p.Validate() != nil {
		return out, ErrBadHash // a corrupt record must not make the bank hash with 4 GiB
	}
	var err error
	if out.salt, err = b64.DecodeString(parts[4]); err != nil || len(out.salt) < 8 || len(out.salt) > 64 {
		return out, ErrBadHash
	}
	if out.key, err = b64.DecodeString(parts[5]); err != nil || len(out.key) < 16 || len(out.key) > 64 {
		return out, ErrBadHash
	}
	return out, nil
}

// CheckHash reports, in constant time over the hash, whether pin matches
// encoded (a Hash result; for a HashPeppered one, pin is Input's). It costs one argon2id at the parameters
// encoded carries; Verifier bounds and caches these calls.
func CheckHash(pin, encoded string) (bool, error) {
	ph, err := parse(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pin), ph.salt, ph.p.Time, ph.p.MemoryKiB, ph.p.Threads, uint32(len(ph.key)))
	return subtle.ConstantTimeCompare(got, ph.key) == 1, nil
}

// IsHash reports whether s looks like a stored hash (not a plaintext PIN).
func IsHash(s string) bool {
	_, err := parse(s)
	return err == nil
}
