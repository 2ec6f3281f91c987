package pin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
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
	// busy holds the checks running, by mac: a burst of payments by one
	// customer (the first after a start) waits for one hash, not one each.
	busy map[[sha256.Size]byte]*check
	// hashes counts the argon2id computations, joined the callers that
	// waited for another's (tests).
	hashes, joined atomic.Int64
}

// check is one hash computation that other callers may wait for.
type check struct {
	done chan struct{}
	good bool
	err  error
}

// NewVerifier returns a Verifier that runs at most concurrency hashes at a
// time (runtime.NumCPU() when concurrency < 1).
func NewVerifier(concurrency int) *Verifier {
	if concurrency < 1 {
		concurrency = runtime.NumCPU()
	}
	v := &Verifier{sem: make(chan struct{}, concurrency), good: map[string][sha256.Size]byte{}, busy: map[[sha256.Size]byte]*check{}}
	_, _ = rand.Read(v.key[:])
	return v
}

// Verify reports whether pin matches encoded, the stored hash of account.
// A PIN equal to the last one verified good for account (under the same
// hash) is answered from memory; any other waits for a free slot (or ctx)
// and costs one argon2id, shared with the callers that ask the same
// (account, PIN, hash) meanwhile. The error is ctx's, or ErrBadHash.
func (v *Verifier) Verify(ctx context.Context, account, pin, encoded string) (bool, error) {
	mac := v.mac(account, pin, encoded)
	for {
		good, again, err := v.verify(ctx, account, pin, encoded, mac)
		if !again {
			return good, err
		}
	}
}

// verify is one try of Verify; again is true when it waited for another
// caller's check that ended with that caller's ctx, not with an answer.
func (v *Verifier) verify(ctx context.Context, account, pin, encoded string, mac [sha256.Size]byte) (good, again bool, err error) {
	v.mu.Lock()
	if last, ok := v.good[account]; ok && hmac.Equal(last[:], mac[:]) {
		v.mu.Unlock()
		return true, false, nil
	}
	c, running := v.busy[mac]
	if !running {
		c = &check{done: make(chan struct{})}
		v.busy[mac] = c
	}
	v.mu.Unlock()
	if running {
		v.joined.Add(1)
		select {
		case <-c.done:
			if c.err != nil && !errors.Is(c.err, ErrBadHash) {
				return false, ctx.Err() == nil, nil // the computing caller gave up
			}
			return c.good, false, c.err
		case <-ctx.Done():
			return false, false, ctx.Err()
		}
	}
	// This caller computes; a waiter whose ctx ends leaves it to finish.
	select {
	case v.sem <- struct{}{}:
		v.hashes.Add(1)
		c.good, c.err = CheckHash(pin, encoded)
		<-v.sem
	case <-ctx.Done():
		c.err = ctx.Err()
	}
	v.mu.Lock()
	delete(v.busy, mac)
	if c.err == nil && c.good {
		v.good[account] = mac
	}
	v.mu.Unlock()
	close(c.done)
	return c.good, false, c.err
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
