package tpap

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/upisim/upisim/internal/gateway"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// MaxIdempotencyKey is the longest Idempotency-Key, in bytes.
const MaxIdempotencyKey = 128

// pspRetries is how many times the app calls a PSP's InitiatePay or
// InitiateCollect when the call gets no answer (Unavailable), and
// pspRetryBackoff the pause before the first retry (doubled after each).
// Every attempt carries the transaction id the app chose, so the PSP takes
// a repeat as the same transaction.
const (
	pspRetries      = 3
	pspRetryBackoff = 100 * time.Millisecond
)

// idempotencyKey returns the call's idempotency key (the request's field
// or the Idempotency-Key header), checked.
func idempotencyKey(ctx context.Context, field string) (string, error) {
	key, err := gateway.IdempotencyKey(ctx, field)
	if err != nil || key == "" {
		return key, err
	}
	if len(key) > MaxIdempotencyKey {
		return "", status.Errorf(codes.InvalidArgument, "idempotency key is %d bytes long; at most %d are allowed", len(key), MaxIdempotencyKey)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x21 || c > 0x7e {
			return "", status.Errorf(codes.InvalidArgument, "idempotency key may hold only printable ASCII without spaces; byte %d is %#x", i, c)
		}
	}
	return key, nil
}

// requestHash is what an idempotency key is stored with: the hash of what
// the request asks for, each field length-prefixed. The PIN is left out,
// so that the app's store keeps nothing a PIN could be recovered from.
func requestHash(fields ...string) [sha256.Size]byte {
	h := sha256.New()
	for _, f := range fields {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// claim returns the transaction id a request is to use. Without a key it
// is a new id with the PSP's prefix. With one, it is the id the key was
// first used for, and the app's record of that transaction when it has
// one (the request is a repeat: answer the record); a key first used for
// another request is refused with AlreadyExists. A new key is stored, with
// the request's hash and a new id, before the PSP is called, so a repeat
// that comes while the first call is still out (or after it failed) calls
// the PSP with the same id, and the PSP starts one transaction.
func (x *TPAP) claim(key string, hash [sha256.Size]byte, prefix string) (string, *txnRecord, error) {
	if key == "" {
		return ids.NewTxnID(prefix), nil, nil
	}
	var id string
	var rec *txnRecord
	err := x.n.Update(func(c *node.Ctx) error {
		id, rec = "", nil
		if v := c.Tx.Get(store.IdempotencyKeys, []byte(key)); v != nil {
			if len(v) != sha256.Size+ids.IDLen {
				return status.Errorf(codes.Internal, "idempotency key %q: stored entry of %d bytes", key, len(v))
			}
			id = string(v[sha256.Size:])
			if [sha256.Size]byte(v[:sha256.Size]) != hash {
				return status.Errorf(codes.AlreadyExists, "idempotency key %q was used for a different request (transaction %s)", key, id)
			}
			r, found, err := txns.Get(c.Tx, id)
			if found {
				rec = r
			}
			return err
		}
		id = ids.NewTxnID(prefix)
		return c.Tx.Put(store.IdempotencyKeys, []byte(key), append(hash[:], id...))
	})
	if err != nil {
		if _, ok := status.FromError(err); ok {
			return "", nil, err
		}
		return "", nil, status.Errorf(codes.Internal, "store idempotency key: %v", err)
	}
	return id, rec, nil
}

// callPSP calls a PSP's app API, again while the call gets no answer
// (Unavailable), at most pspRetries times in all. call must send the same
// transaction id every time.
func callPSP[T any](ctx context.Context, psp string, call func(context.Context) (T, error)) (T, error) {
	wait := pspRetryBackoff
	for attempt := 1; ; attempt++ {
		out, err := call(ctx)
		if err == nil {
			return out, nil
		}
		err = pspErr(psp, err)
		if status.Code(err) != codes.Unavailable || attempt == pspRetries {
			return out, err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return out, err
		}
		wait *= 2
	}
}
