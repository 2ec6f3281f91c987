package pin

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	txnA = "ALP0123456789abcdef0123456789abcdef"
	txnB = "ALP0123456789abcdef0123456789abcdee"
)

// cheap keeps the tests fast; the defaults are checked once below.
var cheap = Params{Time: 1, MemoryKiB: 64, Threads: 1}

func TestBlockRoundTrip(t *testing.T) {
	for _, p := range []string{"1234", "000000", "9"} {
		b := SealBlock(p, txnA)
		got, err := OpenBlock(b, txnA)
		require.NoError(t, err)
		assert.Equal(t, p, got)
		if len(p) >= 4 { // a shorter hex string may occur by chance
			assert.NotContains(t, b, hex.EncodeToString([]byte(p)), "the block does not show the PIN")
		}
	}
}

func TestBlockIsRandomAndBound(t *testing.T) {
	b1, b2 := SealBlock("1234", txnA), SealBlock("1234", txnA)
	assert.NotEqual(t, b1, b2, "a fresh nonce per block: nothing deterministic to brute-force")
	_, err := OpenBlock(b1, txnB)
	assert.ErrorIs(t, err, ErrBadBlock, "a block opened under another transaction fails")

	for name, bad := range map[string]string{
		"empty":     "",
		"short":     b1[:len(b1)-2],
		"not hex":   "zz" + b1[2:],
		"version 2": "02" + b1[2:],
		"flipped":   b1[:40] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", b1[40])+1)%16]) + b1[41:],
	} {
		_, err := OpenBlock(bad, txnA)
		assert.ErrorIs(t, err, ErrBadBlock, name)
	}
}

func TestHash(t *testing.T) {
	h, err := Hash("1234", cheap)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$"), h)
	assert.NotContains(t, h, "1234")
	assert.True(t, IsHash(h))
	ok, err := CheckHash("1234", h)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = CheckHash("4321", h)
	require.NoError(t, err)
	assert.False(t, ok)
	h2, err := Hash("1234", cheap)
	require.NoError(t, err)
	assert.NotEqual(t, h, h2, "salted")

	for _, bad := range []string{"1234", "", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"} {
		_, err := CheckHash("1234", bad)
		assert.ErrorIs(t, err, ErrBadHash, bad)
		assert.False(t, IsHash(bad))
	}
}

func TestDefaultParams(t *testing.T) {
	require.NoError(t, DefaultParams.Validate())
	if testing.Short() {
		t.Skip("one hash at the default cost")
	}
	h, err := Hash("123456", DefaultParams)
	require.NoError(t, err)
	ok, err := CheckHash("123456", h)
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestParamsValidate(t *testing.T) {
	for _, p := range []Params{{}, {Time: 1, MemoryKiB: 4, Threads: 1}, {Time: 1, MemoryKiB: 64, Threads: 0}, {Time: 65, MemoryKiB: 64, Threads: 1}, {Time: 1, MemoryKiB: 1<<20 + 1, Threads: 1}} {
		assert.Error(t, p.Validate(), "%+v", p)
	}
}

func TestVerifier(t *testing.T) {
	h, err := Hash("1234", cheap)
	require.NoError(t, err)
	v := NewVerifier(1)
	ctx := t.Context()

	ok, err := v.Verify(ctx, "ac1", "1234", h)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = v.Verify(ctx, "ac1", "9999", h)
	require.NoError(t, err)
	assert.False(t, ok, "a wrong PIN is never answered from the cache")

	// With every hash slot taken, the cached good PIN still answers at
	// once, and anything else waits for a slot (here: until ctx ends).
	v.sem <- struct{}{}
	ok, err = v.Verify(ctx, "ac1", "1234", h)
	require.NoError(t, err)
	assert.True(t, ok, "answered from the cache without a slot")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = v.Verify(cctx, "ac1", "9999", h)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = v.Verify(cctx, "ac2", "1234", h)
	assert.ErrorIs(t, err, context.Canceled, "the cache is per account")
	h2, err := Hash("1234", cheap)
	require.NoError(t, err)
	_, err = v.Verify(cctx, "ac1", "1234", h2)
	assert.ErrorIs(t, err, context.Canceled, "a new hash (a reset) misses the cache")
	v.Forget("ac1")
	_, err = v.Verify(cctx, "ac1", "1234", h)
	assert.ErrorIs(t, err, context.Canceled, "forgotten")
	<-v.sem
}

// A burst of checks of the same PIN for one account shares one hash: the
// first payments after a start do not each pay for argon2id.
func TestVerifierSharesOneHash(t *testing.T) {
	h, err := Hash("1234", cheap)
	require.NoError(t, err)
	v := NewVerifier(1)
	v.sem <- struct{}{} // hold the only slot: the first caller waits in it
	const n = 20
	results := make(chan bool, n)
	for range n {
		go func() {
			ok, err := v.Verify(t.Context(), "ac1", "1234", h)
			assert.NoError(t, err)
			results <- ok
		}()
	}
	require.Eventually(t, func() bool { return v.joined.Load() == n-1 }, 5*time.Second, time.Millisecond,
		"every other caller waits for the first one's check")
	<-v.sem
	for range n {
		assert.True(t, <-results)
	}
	assert.Empty(t, v.busy)
	assert.EqualValues(t, 1, v.hashes.Load(), "one hash for all")
}
