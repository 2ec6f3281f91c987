// Package pintest makes PIN blocks for tests: sealed to a bank's keys
// (Seal), or to a throwaway key where only the block's presence matters
// (Opaque).
package pintest

import (
	"testing"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/keys"
	"github.com/upisim/upisim/internal/pin"
)

// Keys returns fresh keys for node.
func Keys(t testing.TB, node string) *keys.Keys {
	t.Helper()
	k, err := keys.Generate(node, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Seal returns the PIN block of pinValue for txnID at ts, sealed to k.
func Seal(t testing.TB, k *keys.Keys, pinValue, txnID string, ts time.Time) *upiv1.Cred {
	t.Helper()
	c, err := pin.Seal(k.HPKE.PublicKey(), k.KeyID(), pinValue, txnID, ts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var throwaway *keys.Keys

func init() {
	var err error
	if throwaway, err = keys.Generate("nobank", time.Unix(0, 0)); err != nil {
		panic(err)
	}
}

// Opaque returns a well-formed v2 block of pinValue for txnID sealed to a
// key no bank has: for tests of nodes that only pass blocks on.
func Opaque(pinValue, txnID string) *upiv1.Cred {
	c, err := pin.Seal(throwaway.HPKE.PublicKey(), throwaway.KeyID(), pinValue, txnID, time.Now())
	if err != nil {
		panic(err)
	}
	return c
}

// OpenOpaque returns the PIN in an Opaque block for txnID, or "".
func OpenOpaque(c *upiv1.Cred, txnID string) string {
	p, err := pin.Open(throwaway.HPKE, throwaway.KeyID(), c, txnID, c.GetTs().AsTime())
	if err != nil {
		return ""
	}
	return p
}
