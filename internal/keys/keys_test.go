package keys

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestLoadOrCreateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	k, err := LoadOrCreate(dir, "abank", t0)
	require.NoError(t, err)
	fi, err := os.Stat(Path(dir, "abank"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "mode 0600")

	again, err := LoadOrCreate(dir, "abank", t0.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, k.Sign, again.Sign)
	assert.True(t, k.HPKE.Equal(again.HPKE))
	assert.Equal(t, k.Pepper, again.Pepper)
	assert.Equal(t, k.Secret, again.Secret)
	assert.True(t, k.Created.Equal(again.Created), "the first start's time")
	assert.Equal(t, k.KeyID(), again.KeyID())
	assert.Regexp(t, `^abank\.[0-9a-f]{16}$`, k.KeyID())
	require.NoError(t, CheckPublic(k.Public("bank")))

	other, err := LoadOrCreate(t.TempDir(), "abank", t0)
	require.NoError(t, err)
	assert.NotEqual(t, k.KeyID(), other.KeyID(), "fresh keys per data folder")

	_, err = LoadOrCreate(dir, "bbank", t0)
	require.NoError(t, err, "another node has its own file")
	require.NoError(t, os.Rename(Path(dir, "bbank"), Path(dir, "cbank")))
	_, err = LoadOrCreate(dir, "cbank", t0)
	assert.ErrorContains(t, err, `node "bbank"'s`)
}

func TestRefusesExposedFile(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadOrCreate(dir, "abank", t0)
	require.NoError(t, err)
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660} {
		require.NoError(t, os.Chmod(Path(dir, "abank"), mode))
		_, err = LoadOrCreate(dir, "abank", t0)
		assert.ErrorIs(t, err, ErrExposed, "%04o", mode)
	}
	require.NoError(t, os.Chmod(Path(dir, "abank"), 0o400))
	_, err = LoadOrCreate(dir, "abank", t0)
	assert.NoError(t, err, "owner-only is fine")
}

func TestFoldsLegacyKey(t *testing.T) {
	dir := t.TempDir()
	old := make([]byte, 32)
	for i := range old {
		old[i] = byte(i)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "alphapsp.key"), old, 0o600))
	k, err := LoadOrCreate(dir, "alphapsp", t0)
	require.NoError(t, err)
	assert.Equal(t, old, k.Secret, "the PSP's fingerprint key survives the upgrade")
	_, err = os.Stat(filepath.Join(dir, "alphapsp.key"))
	assert.ErrorIs(t, err, os.ErrNotExist, "one file of secrets, not two")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.key"), []byte("short"), 0o600))
	_, err = LoadOrCreate(dir, "bad", t0)
	assert.ErrorContains(t, err, "want 32 bytes")
}

func TestCorruptFile(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(Path(dir, "x"), []byte("{nope"), 0o600))
	_, err := LoadOrCreate(dir, "x", t0)
	assert.Error(t, err, "never replaced by fresh keys")
}

func TestCheckPublic(t *testing.T) {
	k, err := Generate("abank", t0)
	require.NoError(t, err)
	nk := k.Public("bank")
	nk.KeyId = "abank.0000000000000000"
	assert.ErrorContains(t, CheckPublic(nk), "key_id")
	nk = k.Public("bank")
	nk.SignKey = nk.SignKey[:5]
	assert.ErrorContains(t, CheckPublic(nk), "sign_key")
}
