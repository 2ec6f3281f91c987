package pin

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// The PIN block (payer.creds[type PIN], docs/FLOWS.md, Pay, PINs) carries
// the PIN from the TPAP, which stands for NPCI's common library on the
// phone, to the remitter bank, and only the remitter can read it. Version
// 2, defined here, is a Cred
//
//	{type: PIN, sub_type: MPIN, ver: "2", ki, ts, data}
//	data = base64(HPKE enc ‖ ciphertext)   (RFC 9180 base mode, single shot)
//	suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM
//	info = "upisim pin block v2" ‖ 0 ‖ txn.id ‖ 0 ‖ ts ‖ 0 ‖ ki
//	plaintext = ts ‖ 0 ‖ PIN
//
// where ki is the remitter's key id (keys.KeyID: node and fingerprint of
// its X25519 key) and ts the block's time in Unix milliseconds, decimal.
// HPKE's AEAD covers info, so a block opens only under its own txn.id, ts
// and ki: another transaction's, a moved ts, another key all fail, and so
// does any changed byte. Every block has a fresh ephemeral key, so two
// blocks of one PIN differ and nothing stored over a block can be
// brute-forced back to it without the bank's private key. The remitter
// also refuses a block whose ts is far from its clock (Window) and one it
// opened before (Digest), which a ciphertext alone cannot tell.
//
// Version 1, the keyless obfuscation of earlier releases, is gone: a bank
// refuses it as it refuses any block it cannot open.
const Version = "2"

// Window is how far a block's ts may be from the remitter's clock, either
// way, and how long the remitter remembers the blocks it opened.
const Window = 10 * time.Minute

const (
	credPIN  = "PIN"
	credMPIN = "MPIN"
	infoTag  = "upisim pin block v2"
)

var (
	// ErrBadBlock is returned by Open for a block that is malformed, of
	// another version, sealed to another key, or made for another
	// transaction or time. It never says more.
	ErrBadBlock = errors.New("pin: invalid PIN block")
	// ErrStale is returned by Open for a block whose ts is more than
	// Window from now.
	ErrStale = errors.New("pin: PIN block outside its time window")
)

var (
	kdf  = hpke.HKDFSHA256()
	aead = hpke.AES128GCM()
)

func info(txnID, ki string, tsMillis int64) []byte {
	b := make([]byte, 0, len(infoTag)+len(txnID)+len(ki)+24)
	b = append(b, infoTag...)
	b = append(b, 0)
	b = append(b, txnID...)
	b = append(b, 0)
	b = strconv.AppendInt(b, tsMillis, 10)
	b = append(b, 0)
	return append(b, ki...)
}

// Seal returns the PIN block of pinValue for transaction txnID at ts,
// sealed to the remitter's X25519 key pub whose id is ki.
func Seal(pub *ecdh.PublicKey, ki, pinValue, txnID string, ts time.Time) (*upiv1.Cred, error) {
	pk, err := hpke.NewDHKEMPublicKey(pub)
	if err != nil {
		return nil, err
	}
	ms := ts.UnixMilli()
	pt := strconv.AppendInt(nil, ms, 10)
	pt = append(pt, 0)
	pt = append(pt, pinValue...)
	ct, err := hpke.Seal(pk, kdf, aead, info(txnID, ki, ms), pt)
	if err != nil {
		return nil, err
	}
	return &upiv1.Cred{
		Type: credPIN, SubType: credMPIN, Ver: Version, Ki: ki,
		Ts: timestamppb.New(time.UnixMilli(ms)), Data: base64.StdEncoding.EncodeToString(ct),
	}, nil
}

// Open returns the PIN in cred for txnID, opened with priv, whose id is ki:
// ErrBadBlock when it does not open, ErrStale when it opens but its ts is
// more than Window from now.
func Open(priv *ecdh.PrivateKey, ki string, cred *upiv1.Cred, txnID string, now time.Time) (string, error) {
	if priv == nil || cred.GetVer() != Version || cred.GetKi() != ki || cred.GetTs() == nil {
		return "", ErrBadBlock
	}
	ct, err := base64.StdEncoding.DecodeString(cred.GetData())
	if err != nil {
		return "", ErrBadBlock
	}
	sk, err := hpke.NewDHKEMPrivateKey(priv)
	if err != nil {
		return "", ErrBadBlock
	}
	ts := cred.GetTs().AsTime()
	ms := ts.UnixMilli()
	pt, err := hpke.Open(sk, kdf, aead, info(txnID, ki, ms), ct)
	if err != nil {
		return "", ErrBadBlock
	}
	inner, pinValue, ok := bytes.Cut(pt, []byte{0})
	if !ok || string(inner) != strconv.FormatInt(ms, 10) {
		return "", ErrBadBlock
	}
	if d := now.Sub(time.UnixMilli(ms)); d > Window || d < -Window {
		return "", ErrStale
	}
	return string(pinValue), nil
}

// Digest is what a remitter remembers of a block it opened, to refuse it
// again: SHA-256 of its data.
func Digest(cred *upiv1.Cred) [sha256.Size]byte { return sha256.Sum256([]byte(cred.GetData())) }

// Find returns the PIN credential among creds, or nil.
func Find(creds []*upiv1.Cred) *upiv1.Cred {
	for _, c := range creds {
		if strings.EqualFold(c.GetType(), credPIN) {
			return c
		}
	}
	return nil
}
