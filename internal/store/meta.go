package store

import (
	"fmt"
	"strconv"
	"time"
)

// The keys of the Meta bucket, each with the one encoding of its value,
// declared here so that a node's settings and counters can be read in one
// place. A key's type says how its value is kept:
//
//   - MetaCounter: a uint64, 8 bytes big-endian (U64).
//   - MetaTime: a time in UTC as RFC 3339 text with nanoseconds.
//   - MetaInt: an int64 as decimal text.
//
// The encodings are those the keys had before they were declared here, so
// existing files read the same.
const (
	// MetaRRNSeq counts the RRNs the switch issued (switch/pay.go).
	MetaRRNSeq MetaCounter = "rrn_seq"
	// MetaLiteLRN counts the UPI Lite LRNs the switch issued
	// (switch/lite_register.go).
	MetaLiteLRN MetaCounter = "lite/lrn_seq"
	// MetaApprovalSeq counts a bank's approval numbers (ledger).
	MetaApprovalSeq MetaCounter = "ledger.approval_seq"
	// MetaBankSeeded is when a bank's ledger was seeded from the network
	// file; present once it was.
	MetaBankSeeded MetaTime = "bank.seeded"
	// MetaOpeningTotal is a bank's total of all balances right after
	// seeding, in paise (AdminService/ListAccounts opening_total_paise).
	MetaOpeningTotal MetaInt = "bank.opening_total"
	// MetaPSPSeeded is when a PSP registered its VPAs from the network
	// file (psp/psp.go).
	MetaPSPSeeded MetaTime = "psp/seeded"
	// MetaKeysSent is the key id of the node's keys last queued in a
	// ReqRegKeys to the switch (internal/keydir); MetaKeysRegistered the
	// one the switch's RespRegKeys confirmed.
	MetaKeysSent       MetaText = "keys/sent"
	MetaKeysRegistered MetaText = "keys/registered"
	// MetaKeyListAt is the ts of the switch's key list this node last took.
	MetaKeyListAt MetaTime = "keys/list_at"
	// MetaLastHeartbeat is when the switch last answered a PSP's heartbeat
	// with SUCCESS (psp/hbt.go, which still spells it metaLastHbt).
	MetaLastHeartbeat MetaTime = "psp/last_hbt"
)

// MetaCounter is a Meta key whose value is a uint64 counter.
type MetaCounter string

// Get is the counter's value, 0 when it was never set.
func (k MetaCounter) Get(tx *Tx) uint64 {
	if v := tx.lookup(Meta, []byte(k)); len(v) == 8 {
		return ParseU64(v)
	}
	return 0
}

// Next adds one to the counter and returns the new value (1, 2, ...).
func (k MetaCounter) Next(tx *Tx) (uint64, error) {
	n := k.Get(tx) + 1
	return n, tx.Put(Meta, []byte(k), U64(n))
}

// MetaTime is a Meta key whose value is a time.
type MetaTime string

// Has reports whether the key is set.
func (k MetaTime) Has(tx *Tx) bool { return tx.Has(Meta, []byte(k)) }

// Get is the time kept under the key and whether there is one.
func (k MetaTime) Get(tx *Tx) (time.Time, bool, error) {
	v := tx.lookup(Meta, []byte(k))
	if v == nil {
		return time.Time{}, false, nil
	}
	t, err := time.Parse(time.RFC3339Nano, string(v))
	if err != nil {
		return time.Time{}, true, fmt.Errorf("store: meta %s: %w", k, err)
	}
	return t, true, nil
}

// Set keeps t (in UTC) under the key.
func (k MetaTime) Set(tx *Tx, t time.Time) error {
	return tx.Put(Meta, []byte(k), []byte(t.UTC().Format(time.RFC3339Nano)))
}

// MetaText is a Meta key whose value is a short text.
type MetaText string

// Get is the text kept under the key, "" for none.
func (k MetaText) Get(tx *Tx) string { return string(tx.lookup(Meta, []byte(k))) }

// Set keeps s under the key.
func (k MetaText) Set(tx *Tx, s string) error { return tx.Put(Meta, []byte(k), []byte(s)) }

// MetaInt is a Meta key whose value is an int64.
type MetaInt string

// Has reports whether the key is set.
func (k MetaInt) Has(tx *Tx) bool { return tx.Has(Meta, []byte(k)) }

// Get is the value kept under the key and whether there is one.
func (k MetaInt) Get(tx *Tx) (int64, bool, error) {
	v := tx.lookup(Meta, []byte(k))
	if v == nil {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, true, fmt.Errorf("store: meta %s: %w", k, err)
	}
	return n, true, nil
}

// Set keeps n under the key.
func (k MetaInt) Set(tx *Tx, n int64) error {
	return tx.Put(Meta, []byte(k), []byte(strconv.FormatInt(n, 10)))
}
