package ids

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// IDLen is the length of a message or transaction ID: a 3-letter prefix and
// 32 lowercase hex characters.
const IDLen = 35

// PrefixLen is the length of the sender prefix that starts every ID.
const PrefixLen = 3

// NewMsgID returns a new message ID for Head.msg_id: prefix (three uppercase
// letters, the sender's) followed by 32 lowercase hex characters from
// crypto/rand. It is safe for concurrent use and panics if prefix is not
// three uppercase letters, which is a programming error (see PrefixFor).
func NewMsgID(prefix string) string { return newID(prefix) }

// NewTxnID returns a new transaction ID for Txn.id: prefix (three uppercase
// letters, the originating PSP's) followed by 32 lowercase hex characters
// (the first 16 the creation time, the rest from crypto/rand). It is safe for concurrent use and panics if prefix is not
// three uppercase letters.
func NewTxnID(prefix string) string { return newID(prefix) }

func newID(prefix string) string {
	if !ValidPrefix(prefix) {
		panic(fmt.Sprintf("ids: invalid ID prefix %q: want three uppercase letters", prefix))
	}
	// Time first, as in UUIDv7: ids made later sort later, so the B+tree
	// keys built from them (inbox, transactions, trace index) are appended
	// near the end of their bucket and a commit rewrites few pages. The
	// last 8 bytes are random, so ids stay unguessable and unique.
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(time.Now().UnixNano()))
	_, _ = rand.Read(raw[8:]) // never fails (crypto/rand crashes the program instead)
	var buf [IDLen]byte
	copy(buf[:PrefixLen], prefix)
	hex.Encode(buf[PrefixLen:], raw[:])
	return string(buf[:])
}

// ValidPrefix reports whether p is exactly three letters A–Z.
func ValidPrefix(p string) bool {
	if len(p) != PrefixLen {
		return false
	}
	for i := 0; i < PrefixLen; i++ {
		if p[i] < 'A' || p[i] > 'Z' {
			return false
		}
	}
	return true
}

// ValidID reports whether s is a well-formed message or transaction ID:
// 35 characters, three letters A–Z then 32 lowercase hex characters.
func ValidID(s string) bool {
	if len(s) != IDLen || !ValidPrefix(s[:PrefixLen]) {
		return false
	}
	for i := PrefixLen; i < IDLen; i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// PrefixOf returns the 3-letter prefix of id, or "" when id does not start
// with three letters A–Z.
func PrefixOf(id string) string {
	if len(id) < PrefixLen || !ValidPrefix(id[:PrefixLen]) {
		return ""
	}
	return id[:PrefixLen]
}

// PrefixFor derives a node's 3-letter ID prefix from its name: the first
// three ASCII letters of the name, uppercased, padded with 'X' when the name
// has fewer (alphapsp → ALP, npci → NPC, abank → ABA, tpap → TPA, b1 → BXX).
func PrefixFor(nodeName string) string {
	var p [PrefixLen]byte
	n := 0
	for i := 0; i < len(nodeName) && n < PrefixLen; i++ {
		c := nodeName[i]
		switch {
		case c >= 'A' && c <= 'Z':
			p[n] = c
			n++
		case c >= 'a' && c <= 'z':
			p[n] = c - 'a' + 'A'
			n++
		}
	}
	for ; n < PrefixLen; n++ {
		p[n] = 'X'
	}
	return string(p[:])
}

// RRNLen is the length of an RRN (Txn.cust_ref).
const RRNLen = 12

// FormatRRN returns a 12-digit RRN in the NPCI style: the last digit of the
// year, the 3-digit day of the year, the 2-digit hour (all of t as given; the
// caller picks the time zone), then seq modulo 1,000,000 as 6 digits.
func FormatRRN(t time.Time, seq uint64) string {
	var b [RRNLen]byte
	putDigits(b[0:1], uint64(t.Year()%10))
	putDigits(b[1:4], uint64(t.YearDay()))
	putDigits(b[4:6], uint64(t.Hour()))
	putDigits(b[6:12], seq%1_000_000)
	return string(b[:])
}

// putDigits writes v into b as exactly len(b) decimal digits, zero-padded.
func putDigits(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}

// ValidRRN reports whether s is an RRN: exactly 12 decimal digits.
func ValidRRN(s string) bool {
	return len(s) == RRNLen && allDigits(s)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MaxVPAPart is the longest allowed name or handle part of a VPA.
const MaxVPAPart = 64

// ValidateVPA checks that s is a VPA of the form name@handle: exactly one
// '@', a name of 1–64 letters, digits, '.', '-' or '_', and a handle of 1–64
// letters or digits.
func ValidateVPA(s string) error {
	if s == "" {
		return errors.New("missing VPA")
	}
	at := strings.IndexByte(s, '@')
	if at < 0 {
		return fmt.Errorf("invalid VPA %q: want name@handle", s)
	}
	if strings.IndexByte(s[at+1:], '@') >= 0 {
		return fmt.Errorf("invalid VPA %q: more than one '@'", s)
	}
	name, handle := s[:at], s[at+1:]
	switch {
	case name == "":
		return fmt.Errorf("invalid VPA %q: empty name before '@'", s)
	case len(name) > MaxVPAPart:
		return fmt.Errorf("invalid VPA %q: name longer than %d characters", s, MaxVPAPart)
	case handle == "":
		return fmt.Errorf("invalid VPA %q: empty handle after '@'", s)
	case len(handle) > MaxVPAPart:
		return fmt.Errorf("invalid VPA %q: handle longer than %d characters", s, MaxVPAPart)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isAlnum(c) && c != '.' && c != '-' && c != '_' {
			return fmt.Errorf("invalid VPA %q: name may contain only letters, digits, '.', '-' and '_'", s)
		}
	}
	if err := ValidateHandle(handle); err != nil {
		return fmt.Errorf("invalid VPA %q: %v", s, err)
	}
	return nil
}

// ValidateHandle checks a PSP handle (the part of a VPA after '@'): 1–64
// letters or digits.
func ValidateHandle(h string) error {
	if h == "" || len(h) > MaxVPAPart {
		return fmt.Errorf("handle %q must be 1 to %d letters or digits", h, MaxVPAPart)
	}
	for i := 0; i < len(h); i++ {
		if !isAlnum(h[i]) {
			return fmt.Errorf("handle %q may contain only letters and digits", h)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// HandleOf returns the handle of vpa (the part after '@'), lowercased, or ""
// when vpa has no '@'.
func HandleOf(vpa string) string {
	at := strings.LastIndexByte(vpa, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(vpa[at+1:])
}

// NormalizeVPA returns vpa lowercased and trimmed of surrounding spaces: VPAs
// compare case-insensitively, so registries key on this form.
func NormalizeVPA(vpa string) string {
	return strings.ToLower(strings.TrimSpace(vpa))
}

// ValidatePIN checks a UPI PIN: 4 or 6 decimal digits. The error never
// contains the PIN.
func ValidatePIN(pin string) error {
	if pin == "" {
		return errors.New("missing PIN")
	}
	if (len(pin) != 4 && len(pin) != 6) || !allDigits(pin) {
		return errors.New("PIN must be 4 or 6 digits")
	}
	return nil
}
