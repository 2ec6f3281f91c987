package webhook_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/npmtest"
	"github.com/upisim/upisim/internal/webhook"
)

// npmVerifier is the directory to run testdata/verify.mjs in, with the
// standardwebhooks npm package installed: testdata itself when its
// node_modules is there (CI runs npm ci in it), else a temporary copy in
// which npm ci installs the locked version. It skips the test only when
// node or npm is not installed.
func npmVerifier(t *testing.T) string {
	t.Helper()
	if tool := npmtest.Missing(); tool != "" {
		t.Skipf("%s is not installed: skipping the interop test with the standardwebhooks npm library (install nodejs and npm to run it)", tool)
	}
	return npmtest.Dir(t, "testdata", filepath.Join("standardwebhooks", "package.json"), "package.json", "package-lock.json", "verify.mjs")
}

// verifyNPM runs verify.mjs on a webhook and returns what it printed and
// whether it verified.
func verifyNPM(t *testing.T, dir, secret string, headers map[string]string, body []byte) (string, bool) {
	t.Helper()
	in, err := json.Marshal(map[string]any{
		"secret": secret, "headers": headers, "body_b64": base64.StdEncoding.EncodeToString(body),
	})
	require.NoError(t, err)
	cmd := exec.Command("node", "verify.mjs")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "node: %s", stderr.String())
		require.Equal(t, 1, exit.ExitCode(), "verify.mjs crashed: %s", stderr.String())
	}
	return strings.TrimSpace(string(out)), err == nil
}

// What Secret signs, the merchant's verifier of choice (the
// standardwebhooks npm library) accepts, and it rejects the same webhook
// tampered with.
func TestInteropStandardWebhooksNPM(t *testing.T) {
	dir := npmVerifier(t)
	raw, err := webhook.NewSecret()
	require.NoError(t, err)
	sec, err := webhook.ParseSecret(raw)
	require.NoError(t, err)
	body := []byte(`{"type":"order.paid","timestamp":"2026-01-02T03:04:05Z","data":{"order_id":"ord_1","amount_paise":12345,"note":"chai ☕"}}`)
	id := "evt_2f7c1d9e"
	headers := sec.Headers(id, time.Now(), body)

	out, ok := verifyNPM(t, dir, raw, headers, body)
	assert.True(t, ok, out)
	assert.Equal(t, "verified", out)

	tampered := bytes.Replace(body, []byte("12345"), []byte("12346"), 1)
	out, ok = verifyNPM(t, dir, raw, headers, tampered)
	assert.False(t, ok)
	assert.Equal(t, "WebhookVerificationError: No matching signature found", out)

	old := sec.Headers(id, time.Now().Add(-webhook.Tolerance-time.Minute), body)
	out, ok = verifyNPM(t, dir, raw, old, body)
	assert.False(t, ok)
	assert.Equal(t, "WebhookVerificationError: Message timestamp too old", out)

	// Rotation: a signature by another key next to the good one.
	other, err := webhook.NewSecret()
	require.NoError(t, err)
	otherSec, err := webhook.ParseSecret(other)
	require.NoError(t, err)
	now := time.Now()
	rotated := sec.Headers(id, now, body)
	rotated["webhook-signature"] = otherSec.Sign(id, now, body) + " " + sec.Sign(id, now, body)
	out, ok = verifyNPM(t, dir, raw, rotated, body)
	assert.True(t, ok, out)
}
