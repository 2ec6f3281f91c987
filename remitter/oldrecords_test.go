package remitter_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/store/recordtest"
	"github.com/upisim/upisim/remitter"
)

// Customers written before they were kept through a store.Table read the
// same, every field: the JSON of the Go struct older files hold (GetJSON's
// form, "pin_locked_until" as RFC 3339 text and left out when not locked).
func TestReadsOldCustomers(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "bank.db"), store.Options{NoSync: true, Buckets: store.RoleBuckets("bank")})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	until := time.Date(2026, 3, 1, 11, 0, 0, 5, time.UTC)
	old := map[string]string{
		"1": `{"pin_hash":"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA","pin":"1234","mobile":"98","pin_tries":3,` +
			`"pin_locked_until":"2026-03-01T11:00:00.000000005Z","pin_reset":"2026-03-01"}`,
		"2": `{"pin_hash":"h"}`,
	}
	want := map[string]*remitter.Customer{
		"1": {PinHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA", Pin: "1234", Mobile: "98", PinTries: 3,
			PinLockedUntil: until.UnixNano(), PinReset: "2026-03-01"},
		"2": {PinHash: "h"},
	}
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		for k, v := range old {
			if err := tx.Put(store.Customers, []byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.View(func(tx *store.Tx) error {
		for k, w := range want {
			c, ok, err := remitter.GetCustomer(tx, k)
			require.NoError(t, err)
			require.True(t, ok)
			assert.True(t, proto.Equal(w, c), "%s: want %v\ngot  %v", k, w, c)
		}
		c, _, _ := remitter.GetCustomer(tx, "1")
		assert.True(t, remitter.Locked(c, until.Add(-time.Nanosecond)))
		assert.False(t, remitter.Locked(c, until))
		assert.True(t, remitter.LockedUntil(want["2"]).IsZero())
		return nil
	}))
}

func TestCustomerRoundTrip(t *testing.T) { recordtest.TableRoundTrip(t, remitter.Customers) }
