// Package lite is UPI Lite's shared vocabulary (docs/FLOWS.md, UPI Lite):
// the purpose codes, the bytes a device signs (an offline record, an
// online payment's ARQC) and the switch signs (the ARPC), the device keys,
// record keys and the dated limit profiles. The roles (switch, banks, PSPs,
// the TPAP) use it; it holds no state.
package lite

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// UPI Lite's purpose codes (txn.purpose).
const (
	PurposeInitialTopUp = "41" // initial top-up, with the enablement
	PurposeTopUp        = "42" // a later top-up
	PurposeDisable      = "43" // disablement: the balance back to the account
	PurposeOnlinePay    = "44" // an online payment from the Lite balance
	PurposeOfflinePay   = "45" // an offline (Lite X) payment, posted at sync
	PurposeTransferOut  = "46" // part of the balance back, Lite stays enabled
	PurposeZeroDisable  = "50" // zero-balance disablement (ReqChkTxn LITE_SYNC)
	// PurposeAutoTopUpSetup (issue 12, auto top-up) is the initial top-up
	// and enablement for UPI Lite AutoPay: a top-up with the PIN that sets
	// up the LRN's Lite mandate (ReqPay), and that mandate's revocation
	// (ReqChkTxn LITE_SYNC).
	PurposeAutoTopUpSetup = "71"
)

// IsTopUp reports whether purpose is a top-up's: 41, 42 or 71.
func IsTopUp(purpose string) bool {
	return purpose == PurposeInitialTopUp || purpose == PurposeTopUp || purpose == PurposeAutoTopUpSetup
}

// IsPurpose reports whether purpose is one of UPI Lite's.
func IsPurpose(purpose string) bool {
	switch purpose {
	case PurposeInitialTopUp, PurposeTopUp, PurposeDisable, PurposeOnlinePay,
		PurposeOfflinePay, PurposeTransferOut, PurposeZeroDisable, PurposeAutoTopUpSetup:
		return true
	}
	return false
}

// GetLite is ReqListKeys.type for a Lite registration.
const GetLite = "GetLite"

// States of an LRN (SwitchLiteAccount.state, BankLiteAccount.state).
const (
	StatePending  = "PENDING"
	StateActive   = "ACTIVE"
	StateDisabled = "DISABLED"
)

// Kinds of a counter's use (SwitchLiteRecord.kind).
const (
	KindOnline  = "ONLINE"
	KindOffline = "OFFLINE"
)

// RecordKey is the store.LiteRecords key of an LRN's counter: the LRN, "/"
// and the counter as 16 hex digits, so an LRN's counters sort in order.
func RecordKey(lrn string, counter uint64) []byte {
	return appendRecordKey(make([]byte, 0, len(lrn)+17), lrn, counter)
}

// RecordKeyString is RecordKey as a string, in one allocation (a sync
// makes a key a dozen times a record).
func RecordKeyString(lrn string, counter uint64) string {
	var buf [96]byte
	return string(appendRecordKey(buf[:0], lrn, counter))
}

func appendRecordKey(b []byte, lrn string, counter uint64) []byte {
	const hex = "0123456789abcdef"
	b = append(b, lrn...)
	b = append(b, '/')
	var d [16]byte
	for i := len(d) - 1; i >= 0; i-- {
		d[i] = hex[counter&0xf]
		counter >>= 4
	}
	return append(b, d[:]...)
}

// ParseRecordKey is RecordKey's inverse.
func ParseRecordKey(k []byte) (lrn string, counter uint64, err error) {
	s := string(k)
	i := strings.LastIndexByte(s, '/')
	if i < 0 || len(s)-i-1 != 16 {
		return "", 0, fmt.Errorf("lite: %q is not an LRN/counter key", s)
	}
	c, err := strconv.ParseUint(s[i+1:], 16, 64)
	if err != nil {
		return "", 0, fmt.Errorf("lite: %q is not an LRN/counter key: %v", s, err)
	}
	return s[:i], c, nil
}

// fields appends each field, length-prefixed, to a domain tag: an
// unambiguous encoding (no field can run into the next).
func fields(tag string, fs ...[]byte) []byte {
	n := len(tag)
	for _, f := range fs {
		n += 4 + len(f)
	}
	b := make([]byte, 0, n)
	b = append(b, tag...)
	for _, f := range fs {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
func i64(v int64) []byte  { return u64(uint64(v)) }

// RecordBytes is what a payer's device signs for an offline record: every
// field but the signature and payee_ac (which the switch sets).
func RecordBytes(r *upiv1.LiteRecord) []byte {
	var ts int64
	if r.GetTs() != nil {
		ts = r.GetTs().AsTime().UnixNano()
	}
	return fields("upisim-lite-record/1",
		[]byte(r.GetLrn()), []byte(r.GetDeviceId()), u64(r.GetCounter()), []byte(r.GetProvisionalUtr()),
		[]byte(strings.ToLower(r.GetPayerAddr())), []byte(strings.ToLower(r.GetPayeeAddr())), i64(r.GetAmountPaise()), i64(ts),
		[]byte(r.GetOrderId()), []byte(r.GetPayeeDeviceId()), i64(r.GetDeviceBalancePaise()))
}

// RecordHash is the SHA-256 of RecordBytes: a counter seen again with
// another hash is a double spend.
func RecordHash(r *upiv1.LiteRecord) []byte {
	h := sha256.Sum256(RecordBytes(r))
	return h[:]
}

// SignRecord sets r's signature with the device's key.
func SignRecord(key ed25519.PrivateKey, r *upiv1.LiteRecord) {
	r.Signature = ed25519.Sign(key, RecordBytes(r))
}

// ARQC is what an online payment's (44) cryptogram covers.
type ARQC struct {
	TxnID         string
	LRN           string
	Counter       uint64
	AmountPaise   int64
	Payee         string
	DeviceBalance int64 // the wallet before the payment
}

// Bytes is what the device signs.
func (a ARQC) Bytes() []byte {
	return fields("upisim-lite-arqc/1", []byte(a.TxnID), []byte(a.LRN), u64(a.Counter),
		i64(a.AmountPaise), []byte(strings.ToLower(a.Payee)), i64(a.DeviceBalance))
}

// Hash is the SHA-256 of Bytes (SwitchLiteRecord.hash of an ONLINE counter).
func (a ARQC) Hash() []byte {
	h := sha256.Sum256(a.Bytes())
	return h[:]
}

// Sign is the device's ARQC.
func (a ARQC) Sign(key ed25519.PrivateKey) []byte { return ed25519.Sign(key, a.Bytes()) }

// Verify reports whether sig is the device key's ARQC of a.
func (a ARQC) Verify(pub, sig []byte) bool {
	return verify(pub, a.Bytes(), sig)
}

// ARPC is what the switch signs in its answer to an online payment.
type ARPC struct {
	TxnID   string
	LRN     string
	Counter uint64
	Result  string // SUCCESS, FAILURE, DEEMED
	Balance int64  // the LRN's balance at the switch after the payment
}

// Bytes is what the switch signs.
func (a ARPC) Bytes() []byte {
	return fields("upisim-lite-arpc/1", []byte(a.TxnID), []byte(a.LRN), u64(a.Counter),
		[]byte(a.Result), i64(a.Balance))
}

// Sign is the switch's ARPC.
func (a ARPC) Sign(key ed25519.PrivateKey) []byte { return ed25519.Sign(key, a.Bytes()) }

// Verify reports whether sig is the switch key's ARPC of a.
func (a ARPC) Verify(pub, sig []byte) bool {
	return verify(pub, a.Bytes(), sig)
}

// DeviceKey derives a device's ed25519 key from the TPAP's secret (its
// node key's seed, in its 0600 key file): the store keeps no device key,
// and the same device always has the same key.
func DeviceKey(secret []byte, deviceID string) (ed25519.PrivateKey, error) {
	seed, err := hkdf.Key(sha256.New, secret, nil, "upisim lite device key/1 "+deviceID, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("lite: device key of %s: %w", deviceID, err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// ProvisionalUTR is an offline record's provisional UTR, made by the
// payer's device: "P" and 11 digits from the LRN and counter.
func ProvisionalUTR(lrn string, counter uint64) string {
	h := sha256.Sum256(fields("upisim-lite-putr/1", []byte(lrn), u64(counter)))
	return fmt.Sprintf("P%011d", binary.BigEndian.Uint64(h[:8])%100_000_000_000)
}

// BankAnswer trims res to what a bank's RespLiteSync says of a record:
// which record (lrn, counter) and its outcome (result, err_code, reason).
// The switch reads only those, and has the rest of the record itself; a
// 500-record answer is about a third of the size with the rest echoed.
func BankAnswer(res *upiv1.LiteRecordResult) *upiv1.LiteRecordResult {
	*res = upiv1.LiteRecordResult{Lrn: res.Lrn, Counter: res.Counter, Result: res.Result, ErrCode: res.ErrCode, Reason: res.Reason}
	return res
}
