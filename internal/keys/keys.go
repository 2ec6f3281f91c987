package keys

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// Keys are one node's private keys.
type Keys struct {
	// Node is the node's name.
	Node string
	// Created is when the keys were made.
	Created time.Time
	// Sign is the ed25519 signing key.
	Sign ed25519.PrivateKey
	// HPKE is the X25519 key PIN blocks are sealed to.
	HPKE *ecdh.PrivateKey
	// Pepper keys a bank's PIN hashes (32 bytes).
	Pepper []byte
	// Secret is the PSP's fingerprint key (32 bytes), once NAME.key.
	Secret []byte
}

// Generate makes fresh keys for node, created at now.
func Generate(node string, now time.Time) (*Keys, error) {
	_, sign, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	k := &Keys{Node: node, Created: now.UTC(), Sign: sign, HPKE: x, Pepper: make([]byte, 32), Secret: make([]byte, 32)}
	_, _ = rand.Read(k.Pepper)
	_, _ = rand.Read(k.Secret)
	return k, nil
}

// SignPublic is the ed25519 public key.
func (k *Keys) SignPublic() ed25519.PublicKey { return k.Sign.Public().(ed25519.PublicKey) }

// KeyID is the id of k's X25519 key (KeyID of its public key).
func (k *Keys) KeyID() string { return KeyID(k.Node, k.HPKE.PublicKey().Bytes()) }

// KeyID names node's X25519 public key hpkePub: "<node>.<the first 8 bytes
// of its SHA-256, hex>", NPCI's ki.
func KeyID(node string, hpkePub []byte) string {
	h := sha256.Sum256(hpkePub)
	return node + "." + hex.EncodeToString(h[:8])
}

// Public is k's public half as the switch lists it, for a node of role.
func (k *Keys) Public(role string) *upiv1.NodeKey {
	return &upiv1.NodeKey{
		Node: k.Node, Role: role, SignKey: k.SignPublic(), HpkeKey: k.HPKE.PublicKey().Bytes(),
		KeyId: k.KeyID(), Created: timestamppb.New(k.Created),
	}
}

// CheckPublic reports what is wrong with a NodeKey's fields: key sizes
// and a key_id that its hpke_key does not make.
func CheckPublic(nk *upiv1.NodeKey) error {
	switch {
	case nk == nil:
		return errors.New("no key")
	case len(nk.GetSignKey()) != ed25519.PublicKeySize:
		return fmt.Errorf("sign_key has %d bytes, want %d (ed25519)", len(nk.GetSignKey()), ed25519.PublicKeySize)
	case len(nk.GetHpkeKey()) != 32:
		return fmt.Errorf("hpke_key has %d bytes, want 32 (X25519)", len(nk.GetHpkeKey()))
	case nk.GetKeyId() != KeyID(nk.GetNode(), nk.GetHpkeKey()):
		return fmt.Errorf("key_id %q is not %q, the id of its hpke_key", nk.GetKeyId(), KeyID(nk.GetNode(), nk.GetHpkeKey()))
	}
	if _, err := ecdh.X25519().NewPublicKey(nk.GetHpkeKey()); err != nil {
		return fmt.Errorf("hpke_key: %v", err)
	}
	return nil
}

// file is the JSON form of NAME.keys.
type file struct {
	Version  int       `json:"version"`
	Node     string    `json:"node"`
	Created  time.Time `json:"created"`
	SignSeed []byte    `json:"ed25519_seed"`
	X25519   []byte    `json:"x25519"`
	Pepper   []byte    `json:"pepper"`
	Secret   []byte    `json:"secret"`
}

// Path is the key file of node in dir: dir/NAME.keys.
func Path(dir, node string) string { return filepath.Join(dir, node+".keys") }

// legacyPath is where older data folders kept the PSP's fingerprint key.
func legacyPath(dir, node string) string { return filepath.Join(dir, node+".key") }

// ErrExposed is returned for a key file its group or others may read.
var ErrExposed = errors.New("keys: key file is readable by group or others")

// Load reads the key file at path. It refuses a file whose mode lets its
// group or others read or write it (ErrExposed).
func Load(path string) (*Keys, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; chmod 600 it (and consider its keys exposed)", ErrExposed, path, m)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if f.Version != 1 || len(f.SignSeed) != ed25519.SeedSize || len(f.Pepper) != 32 || len(f.Secret) != 32 {
		return nil, fmt.Errorf("key file %s: not a version 1 key file with every key", path)
	}
	x, err := ecdh.X25519().NewPrivateKey(f.X25519)
	if err != nil {
		return nil, fmt.Errorf("key file %s: x25519: %w", path, err)
	}
	return &Keys{Node: f.Node, Created: f.Created, Sign: ed25519.NewKeyFromSeed(f.SignSeed), HPKE: x, Pepper: f.Pepper, Secret: f.Secret}, nil
}

// Save writes k to path, which must not exist, with mode 0600: through a
// temporary file in the same folder, synced and renamed, so a crash leaves
// either no file or a whole one.
func Save(path string, k *Keys) error {
	b, err := json.MarshalIndent(file{
		Version: 1, Node: k.Node, Created: k.Created, SignSeed: k.Sign.Seed(), X25519: k.HPKE.Bytes(),
		Pepper: k.Pepper, Secret: k.Secret,
	}, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	_ = os.Remove(tmp) // a crash's leftover
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		_ = f.Close()
		return fmt.Errorf("write key file %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync key file %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if _, err := os.Stat(path); err == nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("key file %s exists already", path)
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// LoadOrCreate returns node's keys from dir/NAME.keys, making the file with
// fresh keys (created at now) when there is none. An older data folder's
// NAME.key (the PSP's 32-byte fingerprint key, alone) becomes the new
// file's Secret, so InitiatePay repeats across the upgrade still match, and
// is removed once the new file is on disk.
func LoadOrCreate(dir, node string, now time.Time) (*Keys, error) {
	path := Path(dir, node)
	k, err := Load(path)
	switch {
	case err == nil:
		if k.Node != node {
			return nil, fmt.Errorf("key file %s is node %q's, not %q's", path, k.Node, node)
		}
		return k, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	if k, err = Generate(node, now); err != nil {
		return nil, err
	}
	old, err := os.ReadFile(legacyPath(dir, node))
	switch {
	case err == nil && len(old) == 32:
		k.Secret = old
	case err == nil:
		return nil, fmt.Errorf("key file %s: want 32 bytes, has %d", legacyPath(dir, node), len(old))
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("key file: %w", err)
	}
	if err := Save(path, k); err != nil {
		return nil, err
	}
	if old != nil {
		_ = os.Remove(legacyPath(dir, node))
	}
	return k, nil
}
