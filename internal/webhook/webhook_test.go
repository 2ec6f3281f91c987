package webhook_test

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/webhook"
)

// The test vector of the Standard Webhooks libraries: this secret, id,
// timestamp and body sign to this signature.
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = 1614265330
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func header(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

func mustSecret(t *testing.T, s string) webhook.Secret {
	t.Helper()
	sec, err := webhook.ParseSecret(s)
	require.NoError(t, err)
	return sec
}

func TestSignTestVector(t *testing.T) {
	sec := mustSecret(t, vecSecret)
	at := time.Unix(vecTS, 0)
	assert.Equal(t, vecSig, sec.Sign(vecID, at, []byte(vecBody)))

	h := sec.Headers(vecID, at, []byte(vecBody))
	assert.Equal(t, map[string]string{
		"webhook-id": vecID, "webhook-timestamp": "1614265330", "webhook-signature": vecSig,
		"Content-Type": "application/json",
	}, h)
	assert.NoError(t, sec.Verify(header(h), []byte(vecBody), at.Add(time.Minute)))
}

func TestVerifyRejects(t *testing.T) {
	sec := mustSecret(t, vecSecret)
	at := time.Unix(vecTS, 0)
	body := []byte(vecBody)
	good := func() http.Header { return header(sec.Headers(vecID, at, body)) }

	t.Run("tampered body", func(t *testing.T) {
		assert.ErrorIs(t, sec.Verify(good(), []byte(`{"test": 2432232315}`), at), webhook.ErrNoMatch)
	})
	t.Run("another id", func(t *testing.T) {
		h := good()
		h.Set("webhook-id", "msg_other")
		assert.ErrorIs(t, sec.Verify(h, body, at), webhook.ErrNoMatch)
	})
	t.Run("another timestamp", func(t *testing.T) {
		h := good()
		h.Set("webhook-timestamp", strconv.Itoa(vecTS+1))
		assert.ErrorIs(t, sec.Verify(h, body, at), webhook.ErrNoMatch)
	})
	t.Run("another secret", func(t *testing.T) {
		other, err := webhook.NewSecret()
		require.NoError(t, err)
		assert.ErrorIs(t, mustSecret(t, other).Verify(good(), body, at), webhook.ErrNoMatch)
	})
	t.Run("too old", func(t *testing.T) {
		assert.NoError(t, sec.Verify(good(), body, at.Add(webhook.Tolerance)))
		err := sec.Verify(good(), body, at.Add(webhook.Tolerance+time.Second))
		assert.ErrorIs(t, err, webhook.ErrTooOld)
	})
	t.Run("too new", func(t *testing.T) {
		assert.NoError(t, sec.Verify(good(), body, at.Add(-webhook.Tolerance)))
		err := sec.Verify(good(), body, at.Add(-webhook.Tolerance-time.Second))
		assert.ErrorIs(t, err, webhook.ErrTooNew)
	})
	for _, name := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		t.Run("no "+name, func(t *testing.T) {
			h := good()
			h.Del(name)
			assert.ErrorIs(t, sec.Verify(h, body, at), webhook.ErrMissingHeaders)
		})
	}
	for _, tc := range []struct{ name, value string }{
		{"webhook-id", "msg.1"},
		{"webhook-timestamp", "1614265330.5"},
		{"webhook-timestamp", "soon"},
	} {
		t.Run(tc.name+" "+tc.value, func(t *testing.T) {
			h := good()
			h.Set(tc.name, tc.value)
			assert.ErrorIs(t, sec.Verify(h, body, at), webhook.ErrBadHeaders)
		})
	}
	t.Run("other versions and garbage are skipped", func(t *testing.T) {
		h := good()
		h.Set("webhook-signature", "v1a,"+strings.TrimPrefix(vecSig, "v1,")+" v1,!!! v2,abc nocomma")
		assert.ErrorIs(t, sec.Verify(h, body, at), webhook.ErrNoMatch)
	})
	t.Run("zero secret", func(t *testing.T) {
		assert.ErrorIs(t, webhook.Secret{}.Verify(good(), body, at), webhook.ErrNoMatch)
	})
}

// While a key is rotated the sender signs with both: a receiver that has
// either one verifies.
func TestVerifyKeyRotation(t *testing.T) {
	oldS := mustSecret(t, vecSecret)
	raw, err := webhook.NewSecret()
	require.NoError(t, err)
	newS := mustSecret(t, raw)
	at := time.Unix(vecTS, 0)
	body := []byte(vecBody)
	h := header(oldS.Headers(vecID, at, body))
	h.Set("webhook-signature", newS.Sign(vecID, at, body)+" "+oldS.Sign(vecID, at, body))

	assert.NoError(t, oldS.Verify(h, body, at))
	assert.NoError(t, newS.Verify(h, body, at))
	third, err := webhook.NewSecret()
	require.NoError(t, err)
	assert.ErrorIs(t, mustSecret(t, third).Verify(h, body, at), webhook.ErrNoMatch)
}

func TestParseSecret(t *testing.T) {
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	for _, tc := range []struct{ in, want string }{
		{"", "must start with"},
		{b64(32), "must start with"},
		{"whsk_" + b64(32), "must start with"},
		{"whsec_", "the key is 0 bytes"},
		{"whsec_" + b64(23), "the key is 23 bytes; it must be 24 to 64"},
		{"whsec_" + b64(65), "the key is 65 bytes"},
		{"whsec_not*base64", "not standard base64"},
		{"whsec_" + base64.RawURLEncoding.EncodeToString(make([]byte, 32)), "not standard base64"},
	} {
		_, err := webhook.ParseSecret(tc.in)
		require.Error(t, err, tc.in)
		assert.Contains(t, err.Error(), tc.want, tc.in)
	}
	for _, n := range []int{24, 32, 64} {
		_, err := webhook.ParseSecret("whsec_" + b64(n))
		assert.NoError(t, err, n)
	}
}

func TestNewSecret(t *testing.T) {
	a, err := webhook.NewSecret()
	require.NoError(t, err)
	b, err := webhook.NewSecret()
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
	require.True(t, strings.HasPrefix(a, "whsec_"))
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	require.NoError(t, err)
	assert.Len(t, key, 32)
	sec := mustSecret(t, a)
	assert.NotContains(t, sec.String(), strings.TrimPrefix(a, "whsec_"), "String hides the key")
}
