package cluster

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// AdminTokenFile is the name, in the data folder, of the file that holds
// the admin token: what AdminService's calls that show accounts, balances
// and transactions need (node.AdminServer.Token), and what the CLI sends.
const AdminTokenFile = "admin.token"

// adminTokenBytes is how much randomness a token has.
const adminTokenBytes = 32

// EnsureAdminToken returns the admin token of the data folder dataDir,
// creating DATA/admin.token with a new one on first use: 32 random bytes
// (crypto/rand) as unpadded base64url text, mode 0600, written to a
// temporary file and linked into place, so that a reader never sees a
// partial file and nodes starting at once all end up with the one token.
// An existing file is reused, and refused if group or others may read it.
func EnsureAdminToken(dataDir string) (string, error) {
	tok, err := ReadAdminToken(dataDir)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return tok, err
	}
	path := filepath.Join(dataDir, AdminTokenFile)
	b := make([]byte, adminTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	tok = base64.RawURLEncoding.EncodeToString(b)
	f, err := os.CreateTemp(dataDir, AdminTokenFile+".*.tmp") // mode 0600
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("admin token: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("admin token: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	// Link, unlike rename, fails when the file exists: a node that lost
	// the race reads the winner's token.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return ReadAdminToken(dataDir)
		}
		return "", fmt.Errorf("admin token: %w", err)
	}
	if d, err := os.Open(dataDir); err == nil {
		_ = d.Sync() // the new name, durably
		d.Close()
	}
	return tok, nil
}

// ReadAdminToken reads DATA/admin.token. It fails (with an error that
// wraps os.ErrNotExist) when there is none, and refuses a file that group
// or others may read, or one that holds no token.
func ReadAdminToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, AdminTokenFile)
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("admin token %s has mode %04o: group and others must not read it; run chmod 600 %s", path, perm, path)
	}
	b := make([]byte, 1024)
	k, err := f.Read(b)
	if err != nil && k == 0 {
		return "", fmt.Errorf("admin token %s: %w", path, err)
	}
	tok := strings.TrimSpace(string(b[:k]))
	if raw, err := base64.RawURLEncoding.DecodeString(tok); err != nil || len(raw) < 16 {
		return "", fmt.Errorf("admin token %s holds no token (want base64url text of at least 16 bytes); delete it and a node's next start writes a new one", path)
	}
	return tok, nil
}
