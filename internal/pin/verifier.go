package pin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"runtime"
	"sync"
)

// Verifier checks PINs against stored hashes for one bank: it bounds how
// many argon2id computations run at once, so that a burst of wrong PINs
// costs time rather than memory (each takes Params.MemoryKiB), and it
// remembers, per account, the last PIN verified good so that a customer's
// next payments do not pay for argon2id again.
//
// The memory is an HMAC-SHA256, under a key drawn at random when the
// Verifier is made, of the account, the stored hash and the PIN. It lives
// in this process only and is never stored: without the key it tells
// nothing about the PIN, and a PIN reset (a new hash) makes it miss.
//
// It is safe for concurrent use.
type Verifier struct {
	sem chan struct{}
	key [32]byte

	mu   sync.Mutex
	good map[string][sha256.Size]byte // account → mac of the last good PIN
}

// NewVerifier returns a Verifier that runs at most concurrency hashes at a
// time (runtime.NumCPU() when concurrency < 1).
func NewVerifier(concurrency int) *Verifier {
	if concurrency < 1 {
		concurrency = runtime.NumCPU()
	}
	v := &Verifier{sem: make(chan struct{}, concurrency), good: map[string][sha256.Size]byte{}}
	_, _ = rand.Read(v.key[:])
	return v
}

// Verify reports whether pin matches encoded, the stored hash of account.
// A PIN equal to the last one verified good for account (under the same
// hash) is answered from memory; any other waits for a free slot (or ctx)
// and costs one argon2id. The error is ctx's, or ErrBadHash.
func (v *Verifier) Verify(ctx context.Context, account, pin, encoded string) (bool, error) {
	mac := v.mac(account, pin, encoded)
	v.mu.Lock()
	last, ok := v.good[account]
	v.mu.Unlock()
	if ok && hmac.Equal(last[:], mac[:]) {
		return true, nil
	}
	select {
	case v.sem <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	good, err := CheckHash(pin, encoded)
	<-v.sem
	if err != nil || !good {
		return false, err
	}
	v.mu.Lock()
	v.good[account] = mac
	v.mu.Unlock()
	return true, nil
}

// Forget drops what v remembers of account (after a PIN reset).
func (v *Verifier) Forget(account string) {
	v.mu.Lock()
	delete(v.good, account)
	v.mu.Unlock()
}

func (v *Verifier) mac(account, pin, encoded string) (out [sha256.Size]byte) {
	m := hmac.New(sha256.New, v.key[:])
	for _, s := range []string{account, encoded, pin} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	m.Sum(out[:0])
	return out
}
