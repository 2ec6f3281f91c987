package pin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
)

// The PIN block (payer.creds[type PIN].data) carries the PIN from the PSP
// to the remitter bank, which hashes it to check it against its stored
// argon2id hash. Version 1, defined here, is hex of 33 bytes:
//
//	0x01 ‖ nonce[16] ‖ field[8] XOR pad[8] ‖ check[8]
//
//	field = byte(len(PIN)) ‖ PIN digits (ASCII) ‖ zero bytes to 8
//	pad   = SHA-256("upisim pin block v1 pad" ‖ 0 ‖ txn.id ‖ 0 ‖ nonce)[:8]
//	check = SHA-256("upisim pin block v1 check" ‖ 0 ‖ txn.id ‖ 0 ‖ nonce ‖ field)[:8]
//
// The nonce is fresh from crypto/rand for every block, so two blocks of the
// same PIN differ, and nothing a node stores that is computed over a block
// (the inbox's sha256 of a message body) can be brute-forced back to the
// PIN: the nonce never reaches a store (traces and the inbox keep no
// block). The pad and the check bind the block to its transaction: opened
// under another txn.id it fails the check, and the bank counts it as a
// wrong PIN.
//
// Version 1 is NOT encryption: whoever holds a block reads the PIN from
// it, so a block must never be stored or logged (the node runtime redacts
// every Cred in what it traces). Issue 9 replaces it with a version whose
// body is HPKE ciphertext to the remitter bank's key; OpenBlock is the one
// place a bank reads a block, and the leading version byte tells the two
// apart.
const blockV1 = 0x01

const (
	nonceLen   = 16
	fieldLen   = 8
	checkLen   = 8
	blockV1Len = 1 + nonceLen + fieldLen + checkLen
)

// ErrBadBlock is returned by OpenBlock for a block that is malformed, of an
// unknown version, or made for another transaction. It never says more.
var ErrBadBlock = errors.New("pin: invalid PIN block")

// SealBlock returns the PIN block of pin (4 or 6 digits, see
// ids.ValidatePIN) for the transaction txnID, with a fresh random nonce.
// It panics when pin is longer than 7 characters (a programming error:
// PINs are validated before).
func SealBlock(pin, txnID string) string {
	if len(pin) > fieldLen-1 {
		panic("pin: SealBlock: PIN too long")
	}
	var b [blockV1Len]byte
	b[0] = blockV1
	nonce := b[1 : 1+nonceLen]
	_, _ = rand.Read(nonce) // never fails (crypto/rand crashes the program instead)
	var field [fieldLen]byte
	field[0] = byte(len(pin))
	copy(field[1:], pin)
	pad := blockPad(txnID, nonce)
	for i := range field {
		b[1+nonceLen+i] = field[i] ^ pad[i]
	}
	chk := blockCheck(txnID, nonce, field[:])
	copy(b[1+nonceLen+fieldLen:], chk[:checkLen])
	return hex.EncodeToString(b[:])
}

// OpenBlock returns the PIN carried by block for txnID, or ErrBadBlock.
func OpenBlock(block, txnID string) (string, error) {
	if len(block) != 2*blockV1Len {
		return "", ErrBadBlock
	}
	var b [blockV1Len]byte
	if _, err := hex.Decode(b[:], []byte(block)); err != nil || b[0] != blockV1 {
		return "", ErrBadBlock
	}
	nonce := b[1 : 1+nonceLen]
	pad := blockPad(txnID, nonce)
	var field [fieldLen]byte
	for i := range field {
		field[i] = b[1+nonceLen+i] ^ pad[i]
	}
	chk := blockCheck(txnID, nonce, field[:])
	if subtle.ConstantTimeCompare(chk[:checkLen], b[1+nonceLen+fieldLen:]) != 1 {
		return "", ErrBadBlock
	}
	n := int(field[0])
	if n < 1 || n > fieldLen-1 {
		return "", ErrBadBlock
	}
	for _, c := range field[1+n:] {
		if c != 0 {
			return "", ErrBadBlock
		}
	}
	return string(field[1 : 1+n]), nil
}

func blockPad(txnID string, nonce []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte("upisim pin block v1 pad\x00"))
	h.Write([]byte(txnID))
	h.Write([]byte{0})
	h.Write(nonce)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

func blockCheck(txnID string, nonce, field []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte("upisim pin block v1 check\x00"))
	h.Write([]byte(txnID))
	h.Write([]byte{0})
	h.Write(nonce)
	h.Write(field)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// CheckBlock reports whether block carries pinValue for txnID (tests and
// tools; a bank opens the block and checks the PIN against its hash).
func CheckBlock(block, pinValue, txnID string) bool {
	got, err := OpenBlock(block, txnID)
	return err == nil && subtle.ConstantTimeCompare([]byte(got), []byte(pinValue)) == 1
}
