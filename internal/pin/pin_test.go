package pin

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

const (
	txnA = "ALP0123456789abcdef0123456789abcdef"
	txnB = "ALP0123456789abcdef0123456789abcdee"
)

// cheap keeps the tests fast; the defaults are checked once below.
var cheap = Params{Time: 1, MemoryKiB: 64, Threads: 1}

func testKey(t *testing.T) *ecdh.PrivateKey {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	require.NoError(t, err)
	return k
}

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

func TestBlockRoundTrip(t *testing.T) {
	k := testKey(t)
	for _, p := range []string{"1234", "000000", "9"} {
		c, err := Seal(k.PublicKey(), "abank.k1", p, txnA, t0)
		require.NoError(t, err)
		assert.Equal(t, "2", c.GetVer())
		assert.Equal(t, "abank.k1", c.GetKi())
		assert.True(t, c.GetTs().AsTime().Equal(t0))
		got, err := Open(k, "abank.k1", c, txnA, t0.Add(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, p, got)
		if len(p) >= 4 {
			assert.NotContains(t, c.GetData(), p)
			assert.NotContains(t, c.GetData(), hex.EncodeToString([]byte(p)))
			assert.NotContains(t, c.String(), p+"\x00")
		}
	}
}

func TestBlockIsRandomAndBound(t *testing.T) {
	k := testKey(t)
	c1, err := Seal(k.PublicKey(), "abank.k1", "1234", txnA, t0)
	require.NoError(t, err)
	c2, err := Seal(k.PublicKey(), "abank.k1", "1234", txnA, t0)
	require.NoError(t, err)
	assert.NotEqual(t, c1.GetData(), c2.GetData(), "a fresh ephemeral key per block")
	assert.NotEqual(t, Digest(c1), Digest(c2))

	open := func(c *upiv1.Cred, priv *ecdh.PrivateKey, ki, txn string, now time.Time) error {
		_, err := Open(priv, ki, c, txn, now)
		return err
	}
	assert.ErrorIs(t, open(c1, k, "abank.k1", txnB, t0), ErrBadBlock, "another transaction")
	assert.ErrorIs(t, open(c1, testKey(t), "abank.k1", txnA, t0), ErrBadBlock, "another key")
	assert.ErrorIs(t, open(c1, k, "abank.k2", txnA, t0), ErrBadBlock, "another key id")
	assert.ErrorIs(t, open(c1, nil, "abank.k1", txnA, t0), ErrBadBlock, "no key")

	moved := proto.Clone(c1).(*upiv1.Cred)
	moved.Ts = timestamppb.New(t0.Add(time.Second))
	assert.ErrorIs(t, open(moved, k, "abank.k1", txnA, t0), ErrBadBlock, "a moved ts")
	moved.Ki = "bbank.k1"
	assert.ErrorIs(t, open(moved, k, "bbank.k1", txnA, t0), ErrBadBlock, "a moved ki")

	raw, err := base64.StdEncoding.DecodeString(c1.GetData())
	require.NoError(t, err)
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x01
		tam := proto.Clone(c1).(*upiv1.Cred)
		tam.Data = base64.StdEncoding.EncodeToString(bad)
		require.ErrorIs(t, open(tam, k, "abank.k1", txnA, t0), ErrBadBlock, "byte %d flipped", i)
	}
	for name, mut := range map[string]func(c *upiv1.Cred){
		"version 1":  func(c *upiv1.Cred) { c.Ver = "1" },
		"no version": func(c *upiv1.Cred) { c.Ver = "" },
		"no ts":      func(c *upiv1.Cred) { c.Ts = nil },
		"not base64": func(c *upiv1.Cred) { c.Data = "!!" + c.Data },
		"short":      func(c *upiv1.Cred) { c.Data = c.Data[:20] },
		"empty":      func(c *upiv1.Cred) { c.Data = "" },
		"a v1 block": func(c *upiv1.Cred) { c.Ver = ""; c.Data = "01" + strings.Repeat("ab", 32) },
	} {
		c := proto.Clone(c1).(*upiv1.Cred)
		mut(c)
		assert.ErrorIs(t, open(c, k, "abank.k1", txnA, t0), ErrBadBlock, name)
	}
}

func TestBlockWindow(t *testing.T) {
	k := testKey(t)
	c, err := Seal(k.PublicKey(), "abank.k1", "1234", txnA, t0)
	require.NoError(t, err)
	for _, d := range []time.Duration{-Window, 0, Window} {
		_, err := Open(k, "abank.k1", c, txnA, t0.Add(d))
		assert.NoError(t, err, d)
	}
	for _, d := range []time.Duration{-Window - time.Millisecond, Window + time.Millisecond, 24 * time.Hour} {
		_, err := Open(k, "abank.k1", c, txnA, t0.Add(d))
		assert.ErrorIs(t, err, ErrStale, d)
	}
}

func TestFind(t *testing.T) {
	c := &upiv1.Cred{Type: "pin", Data: "x"}
	assert.Same(t, c, Find([]*upiv1.Cred{{Type: "OTP"}, c}))
	assert.Nil(t, Find([]*upiv1.Cred{{Type: "OTP"}}))
}

func TestPepper(t *testing.T) {
	pepper := bytes.Repeat([]byte{7}, 32)
	h, err := HashPeppered("1234", pepper, cheap)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1,pepper=1$"), h)
	assert.True(t, Peppered(h))
	assert.True(t, IsHash(h))
	ok, err := CheckHash(Input("1234", pepper, h), h)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = CheckHash("1234", h)
	require.NoError(t, err)
	assert.False(t, ok, "without the pepper the PIN does not match: a copied store is not enough")
	ok, err = CheckHash(Input("1234", bytes.Repeat([]byte{8}, 32), h), h)
	require.NoError(t, err)
	assert.False(t, ok, "another pepper")

	old, err := Hash("1234", cheap)
	require.NoError(t, err)
	assert.False(t, Peppered(old))
	ok, err = CheckHash(Input("1234", pepper, old), old)
	require.NoError(t, err)
	assert.True(t, ok, "an older unpeppered hash still verifies")

	plain, err := HashPeppered("1234", nil, cheap)
	require.NoError(t, err)
	assert.False(t, Peppered(plain), "no pepper: an unpeppered hash")
	assert.False(t, IsHash("$argon2id$v=19$m=64,t=1,p=1,x=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"))
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
