package bank_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/bank"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	pinblock "github.com/upisim/upisim/internal/pin"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/remitter"
)

// cheapNet is the default network with cheap PIN hashes.
func cheapNet() *config.Network {
	net := config.Default()
	net.PIN.HashTime, net.PIN.HashMemoryKiB = 1, 64
	return net
}

// openBank runs abank of net on the store at path, on clock, seeded; it is
// stopped at the end of the test or by the returned func.
func openBank(t *testing.T, path string, net *config.Network, clock *nodetest.Clock) (*bankNode, func()) {
	t.Helper()
	self, ok := net.NodeByName("abank")
	require.True(t, ok)
	db, err := store.Open(path, store.Options{NoSync: true})
	require.NoError(t, err)
	b := bank.New(bank.Config{Network: net, Self: self})
	b.SetKeys(testKeys["abank"])
	rec := nodetest.NewRecorder()
	n := node.New(node.Config{Name: "abank", Role: "bank", DB: db, Handler: b, Transport: rec, Clock: clock})
	b.Attach(n)
	require.NoError(t, b.Seed())
	require.NoError(t, n.Start())
	var once sync.Once
	stop := func() { once.Do(func() { n.Stop(); _ = db.Close() }) }
	t.Cleanup(stop)
	return &bankNode{t: t, b: b, n: n, rec: rec}, stop
}

// try debits ₹1 from alice with pinValue and returns the answer's code.
func (bn *bankNode) try(pinValue string) string {
	bn.t.Helper()
	txn := ids.NewTxnID("ALP")
	m := debit(txn, "alice@alpha", aliceAc, "ABNK0000001", 100)
	m.Payer.Creds[0] = testSeal("ABNK0000001", pinValue, txn, bn.n.Now())
	require.Empty(bn.t, bn.send(upiv1.RemitterService_ReqPay_FullMethodName, m))
	return bn.respPay(txn, 1).GetResp().GetErrCode()
}

func customer(t *testing.T, bn *bankNode, ac string) *remitter.Customer {
	t.Helper()
	var c *remitter.Customer
	require.NoError(t, bn.n.View(func(tx *store.Tx) (err error) {
		var ok bool
		c, ok, err = remitter.GetCustomer(tx, ac)
		require.True(t, ok)
		return err
	}))
	return c
}

// The lock lasts pin.lock_for by the node's clock, then the right PIN
// works again; the count starts afresh after a lock.
func TestPINLockExpires(t *testing.T) {
	net := cheapNet()
	net.PIN.MaxTries, net.PIN.LockFor = 3, time.Hour
	clock := nodetest.NewClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	ab, _ := openBank(t, filepath.Join(t.TempDir(), "abank.db"), net, clock)

	assert.Equal(t, []string{"ZM", "ZM", "ZM", "Z6", "Z6"},
		[]string{ab.try("9999"), ab.try("0000"), ab.try("1111"), ab.try("1234"), ab.try("9999")})
	c := customer(t, ab, aliceAc)
	assert.EqualValues(t, 3, c.PinTries)
	assert.Equal(t, clock.Now().Add(time.Hour), remitter.LockedUntil(c), "locked at the third wrong PIN, for lock_for")

	clock.Advance(59 * time.Minute)
	assert.Equal(t, "Z6", ab.try("1234"), "still locked")
	clock.Advance(time.Minute)
	assert.Equal(t, "", ab.try("1234"), "the lock has passed")
	c = customer(t, ab, aliceAc)
	assert.Zero(t, c.PinTries, "a right PIN resets the count")
	assert.True(t, remitter.LockedUntil(c).IsZero())

	// Locked again, and passed again: wrong PINs start from one.
	for range 3 {
		assert.Equal(t, "ZM", ab.try("9999"))
	}
	clock.Advance(time.Hour)
	assert.Equal(t, "ZM", ab.try("9999"), "a wrong PIN after the lock passed counts as the first")
	assert.EqualValues(t, 1, customer(t, ab, aliceAc).PinTries)
}

// A file written before PINs were hashed is migrated when the bank
// starts: the plaintext is replaced by its hash, and the PIN still works.
func TestPlaintextPINMigrated(t *testing.T) {
	net := cheapNet()
	path := filepath.Join(t.TempDir(), "abank.db")
	clock := nodetest.NewClock(time.Now())
	ab, stop := openBank(t, path, net, clock)
	require.NoError(t, ab.n.Update(func(c *node.Ctx) error {
		return c.Tx.Put(store.Customers, []byte(aliceAc), []byte(`{"pin":"1234","mobile":"9800000001"}`)) // as old files had it: JSON
	}))
	stop()

	ab, _ = openBank(t, path, net, clock)
	c := customer(t, ab, aliceAc)
	assert.Empty(t, c.Pin, "the plaintext is gone")
	assert.True(t, pinblock.IsHash(c.PinHash), c.PinHash)
	assert.Equal(t, "9800000001", c.Mobile)
	assert.Equal(t, "", ab.try("1234"))
	assert.Equal(t, "ZM", ab.try("9999"))
}

// The network file's pin_reset gives the account the file's PIN again and
// clears its lock, once per label.
func TestPINReset(t *testing.T) {
	net := cheapNet()
	path := filepath.Join(t.TempDir(), "abank.db")
	clock := nodetest.NewClock(time.Now())
	ab, stop := openBank(t, path, net, clock)
	for range net.PIN.MaxTries {
		assert.Equal(t, "ZM", ab.try("9999"))
	}
	assert.Equal(t, "Z6", ab.try("1234"))
	stop()

	reset := net.Clone()
	reset.Users[0].PIN, reset.Users[0].PINReset = "5678", "2026-03-01"
	require.Equal(t, "alice@alpha", reset.Users[0].VPA)
	ab, stop = openBank(t, path, reset, clock)
	assert.Equal(t, "ZM", ab.try("1234"), "the old PIN is gone")
	assert.Equal(t, "", ab.try("5678"), "unlocked, with the file's PIN")
	assert.Equal(t, "2026-03-01", customer(t, ab, aliceAc).PinReset)
	assert.Equal(t, "ZM", ab.try("9999"))
	stop()

	// The same label again changes nothing: the count stays.
	ab, _ = openBank(t, path, reset, clock)
	assert.EqualValues(t, 1, customer(t, ab, aliceAc).PinTries)
}
