package cli

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const chaiIntent = "upi://pay?pa=chai@beta&pn=Chai%20Point&am=150.00&tr=ORDER_1&tn=masala%20chai&cu=INR"

// `upisim pay --intent` fills the payee, amount, note and order id from
// the link; --amount and --note override it.
func TestApplyIntent(t *testing.T) {
	o, in, err := applyIntent(PayOptions{From: "alice@alpha", Intent: chaiIntent})
	require.NoError(t, err)
	assert.Equal(t, "chai@beta", o.To)
	assert.Equal(t, "150.00", o.Amount)
	assert.Equal(t, "masala chai", o.Note)
	assert.Equal(t, "ORDER_1", in.RefID)
	assert.Equal(t, "Chai Point", in.PayeeName)

	o, _, err = applyIntent(PayOptions{From: "alice@alpha", To: "Chai@Beta", Amount: "100.00", Note: "mine", Intent: chaiIntent})
	require.NoError(t, err, "--to naming the same payee")
	assert.Equal(t, "100.00", o.Amount, "--amount pays another amount on purpose")
	assert.Equal(t, "mine", o.Note)

	o, _, err = applyIntent(PayOptions{Amount: "5", Intent: "upi://pay?pa=chai@beta"})
	require.NoError(t, err)
	assert.Equal(t, "5", o.Amount)

	for _, tc := range []struct {
		o    PayOptions
		want string
	}{
		{PayOptions{Intent: "upi://pay?pa=chai@beta"}, "the intent gives no amount (am): pass --amount"},
		{PayOptions{To: "bob@beta", Intent: chaiIntent}, "--to bob@beta and the intent's payee (pa) chai@beta differ"},
		{PayOptions{Intent: "upi://pay?am=1"}, "--intent: bad UPI intent: pa (the payee's VPA) is required"},
		{PayOptions{Intent: "upi://pay?pa=chai@beta&am=1&cu=USD"}, `--intent: bad UPI intent: cu "USD"`},
		{PayOptions{Intent: "upi://pay?pa=chai@beta&am=1.001"}, `--intent: bad UPI intent: am "1.001"`},
		{PayOptions{Intent: "https://pay?pa=chai@beta"}, `--intent: bad UPI intent: scheme "https"`},
	} {
		_, _, err := applyIntent(tc.o)
		require.Error(t, err, tc.o.Intent)
		assert.Contains(t, err.Error(), tc.want)
	}
}

// A bad intent fails before anything is sent: no network is needed.
func TestPayBadIntent(t *testing.T) {
	var out bytes.Buffer
	_, err := Pay(context.Background(), &out, PayOptions{DataDir: t.TempDir(), From: "alice@alpha", PIN: "1234", Intent: "upi://pay?pa=chai@beta&cu=EUR&am=1"})
	require.ErrorContains(t, err, `cu "EUR": only INR`)
	assert.Empty(t, out.String())
}

func TestShowIntent(t *testing.T) {
	o, in, err := applyIntent(PayOptions{Amount: "100", Intent: chaiIntent})
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, showIntent(&out, in, 10_000))
	assert.Equal(t, "paying Chai Point <chai@beta> ₹100.00 for order ORDER_1 (the intent asks ₹150.00)\n", out.String())
	assert.Equal(t, "100", o.Amount)
}
