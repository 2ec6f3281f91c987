// PIN blocks (docs/FLOWS.md, Pay, PINs): the TPAP stands for NPCI's
// common library on the phone. It seals the PIN the user gives to the
// payer's bank's X25519 key, from its copy of the switch's key list
// (internal/keydir), and hands the PSP only the block.

package tpap

import (
	"context"
	"crypto/ecdh"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/keys"
	"github.com/upisim/upisim/internal/pin"
)

// KeyListMaxAge is how old the cached key list may be before a PIN block
// asks the switch for a new one; KeyWait is how long an app call waits for
// the switch's answer.
const (
	KeyListMaxAge = time.Hour
	KeyWait       = 3 * time.Second
)

// SetKeys gives the TPAP its keys, which it publishes to the switch. Call
// it before the node serves.
func (x *TPAP) SetKeys(k *keys.Keys) { x.dir.Keys = k }

// bankOf is the bank node that holds vpa's account, by the network file.
func (x *TPAP) bankOf(vpa string) (string, error) {
	v := ids.NormalizeVPA(vpa)
	for _, u := range x.cfg.Network.Users {
		if ids.NormalizeVPA(u.VPA) == v {
			return u.Bank, nil
		}
	}
	for _, m := range x.cfg.Network.Merchants {
		if ids.NormalizeVPA(m.VPA) == v {
			return m.Bank, nil
		}
	}
	return "", status.Errorf(codes.NotFound, "%s is not a user of this network: the app does not know their bank", vpa)
}

// bankKey is the HPKE key of vpa's bank and its id, from the key list
// (asking the switch, and waiting up to KeyWait, when it has none).
func (x *TPAP) bankKey(ctx context.Context, vpa string) (*ecdh.PublicKey, string, error) {
	bank, err := x.bankOf(vpa)
	if err != nil {
		return nil, "", err
	}
	k, err := x.dir.Get(ctx, x.n, bank, KeyListMaxAge, x.keyWait)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", status.FromContextError(ctx.Err()).Err()
		}
		return nil, "", status.Errorf(codes.Unavailable, "no key of bank %s yet to seal the PIN to (%v); try again", bank, err)
	}
	pub, err := ecdh.X25519().NewPublicKey(k.GetHpkeKey())
	if err != nil {
		return nil, "", status.Errorf(codes.Internal, "key of bank %s: %v", bank, err)
	}
	return pub, k.GetKeyId(), nil
}

// sealer makes the PIN block of one app call, once per transaction: a
// retried PSP call, and a repeat of the app call under the same
// idempotency key while this process runs, send the same block, so the
// PSP sees the same request. The PIN itself is kept only for the call.
type sealer struct {
	pub     *ecdh.PublicKey
	ki, pin string
	now     func() time.Time
	memo    *sync.Map // txn id → *upiv1.Cred
	sealed  []string  // the txn ids it kept a block for
}

func (s *sealer) cred(txnID string) (*upiv1.Cred, error) {
	if c, ok := s.memo.Load(txnID); ok {
		return c.(*upiv1.Cred), nil
	}
	c, err := pin.Seal(s.pub, s.ki, s.pin, txnID, s.now())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "seal the PIN block: %v", err)
	}
	actual, _ := s.memo.LoadOrStore(txnID, c)
	s.sealed = append(s.sealed, txnID)
	return actual.(*upiv1.Cred), nil
}

// forget drops the blocks this sealer kept.
func (s *sealer) forget() {
	for _, id := range s.sealed {
		s.memo.Delete(id)
	}
}

// newSealer looks up the key of payer's bank and returns the sealer of
// pinValue for it.
func (x *TPAP) newSealer(ctx context.Context, payer, pinValue string) (*sealer, error) {
	pub, ki, err := x.bankKey(ctx, payer)
	if err != nil {
		return nil, err
	}
	return &sealer{pub: pub, ki: ki, pin: pinValue, now: x.n.Now, memo: &x.blocks}, nil
}

// forgetBlock drops the block kept for txnID once the PSP took it.
func (x *TPAP) forgetBlock(txnID string) { x.blocks.Delete(txnID) }
