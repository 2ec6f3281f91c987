package lite

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// signed makes n records of two devices, signed, with their keys.
func signed(t *testing.T, n int) ([][]byte, []*upiv1.LiteRecord) {
	t.Helper()
	var privs []ed25519.PrivateKey
	var pubs [][]byte
	for range 2 {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		privs, pubs = append(privs, priv), append(pubs, pub)
	}
	keys := make([][]byte, n)
	recs := make([]*upiv1.LiteRecord, n)
	for i := range recs {
		d := i % 2
		recs[i] = &upiv1.LiteRecord{Lrn: fmt.Sprintf("ABNKL%012d", d+1), DeviceId: fmt.Sprint("dev", d), Counter: uint64(i + 1),
			ProvisionalUtr: fmt.Sprint("P", i), PayerAddr: "alice@alpha", PayeeAddr: "chai@beta", AmountPaise: int64(100 + i)}
		SignRecord(privs[d], recs[i])
		keys[i] = pubs[d]
	}
	return keys, recs
}

func TestVerifyRecordsAllGood(t *testing.T) {
	keys, recs := signed(t, 100)
	for i, ok := range VerifyRecords(keys, recs) {
		assert.True(t, ok, "record %d", i)
		assert.True(t, VerifyRecord(keys[i], recs[i]), "record %d alone", i)
	}
}

// A batch with bad records in it answers per record: only the bad ones
// fail, the same answer as checking each alone.
func TestVerifyRecordsFindsTheBadOnes(t *testing.T) {
	keys, recs := signed(t, 100)
	recs[3].AmountPaise++                   // changed after signing
	recs[10].Signature = make([]byte, 64)   // no signature at all
	recs[20].Signature = recs[21].Signature // another record's
	keys[30] = keys[31]                     // the other device's key
	keys[40] = nil                          // an LRN without a key
	keys[50] = []byte("short")              // a malformed key
	recs[60].Signature = recs[60].Signature[:10]
	bad := map[int]bool{3: true, 10: true, 20: true, 30: true, 40: true, 50: true, 60: true}
	got := VerifyRecords(keys, recs)
	require.Len(t, got, len(recs))
	for i, ok := range got {
		assert.Equal(t, !bad[i], ok, "record %d", i)
		assert.Equal(t, ok, VerifyRecord(keys[i], recs[i]), "record %d: batch and alone agree", i)
	}
}

func TestVerifyRecordsEmptyAndKeyless(t *testing.T) {
	assert.Empty(t, VerifyRecords(nil, nil))
	_, recs := signed(t, 3)
	assert.Equal(t, []bool{false, false, false}, VerifyRecords(make([][]byte, 3), recs))
}

// go test -run '^$' -bench Verify ./internal/lite: a batch of 500 checked
// at once, beside the same records checked one by one (ns/op is for 500).
func BenchmarkVerifyRecords(b *testing.B) {
	keys, recs := signed(&testing.T{}, 500)
	b.Run("batch", func(b *testing.B) {
		for b.Loop() {
			VerifyRecords(keys, recs)
		}
	})
	b.Run("halves", func(b *testing.B) { // what a sync split over two CPUs costs in all
		for b.Loop() {
			VerifyRecords(keys[:250], recs[:250])
			VerifyRecords(keys[250:], recs[250:])
		}
	})
	b.Run("each", func(b *testing.B) {
		for b.Loop() {
			for i := range recs {
				VerifyRecord(keys[i], recs[i])
			}
		}
	})
}
