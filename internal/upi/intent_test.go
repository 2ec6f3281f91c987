package upi

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseIntent(t *testing.T) {
	in, err := ParseIntent("upi://pay?pa=Chai@Beta&pn=Chai%20Point&am=150.00&tr=ORDER_1&tn=masala%20chai&cu=INR&mc=5812")
	require.NoError(t, err)
	assert.Equal(t, Intent{PayeeVPA: "chai@beta", PayeeName: "Chai Point", AmountPaise: 15_000, RefID: "ORDER_1", Note: "masala chai", Currency: "INR"}, in)

	in, err = ParseIntent("  UPI://PAY?pa=chai@beta&am=1.5  ")
	require.NoError(t, err)
	assert.Equal(t, Intent{PayeeVPA: "chai@beta", AmountPaise: 150}, in)

	in, err = ParseIntent("upi://pay?pa=chai@beta&pn=Chai+Point")
	require.NoError(t, err)
	assert.Zero(t, in.AmountPaise, "no am: the payer gives the amount")
	assert.Equal(t, "Chai Point", in.PayeeName)
}

func TestParseIntentErrors(t *testing.T) {
	for _, tc := range []struct {
		link, want string
		is         error
	}{
		{"http://pay?pa=chai@beta", `scheme "http"`, nil},
		{"upi://collect?pa=chai@beta", `"collect" is not a pay link`, nil},
		{"upi://pay/x?pa=chai@beta", "is not a pay link", nil},
		{"upi://pay?pn=Chai&am=1", "pa (the payee's VPA) is required", nil},
		{"upi://pay?pa=chai", `pa "chai"`, nil},
		{"upi://pay?pa=chai@beta&pa=tea@beta", "pa is given 2 times", nil},
		{"upi://pay?pa=chai@beta&am=1.234", `am "1.234"`, ErrAmountDecimals},
		{"upi://pay?pa=chai@beta&am=abc", `am "abc"`, ErrAmountSyntax},
		{"upi://pay?pa=chai@beta&am=0", `am "0"`, ErrAmountZero},
		{"upi://pay?pa=chai@beta&am=-5", `am "-5"`, ErrAmountNegative},
		{"upi://pay?pa=chai@beta&am=1&cu=USD", `cu "USD": only INR`, nil},
		{"upi://pay?pa=chai@beta&tn=%zz", "query", nil},
	} {
		t.Run(tc.link, func(t *testing.T) {
			_, err := ParseIntent(tc.link)
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrIntent), "%v", err)
			assert.Contains(t, err.Error(), tc.want)
			if tc.is != nil {
				assert.True(t, errors.Is(err, tc.is), "%v wraps %v", err, tc.is)
			}
		})
	}
}

func TestIntentString(t *testing.T) {
	in := Intent{PayeeVPA: "chai@beta", PayeeName: "Chai Point", AmountPaise: 15_000, RefID: "ORDER_1", Note: "tea & cake = 100%", Currency: "INR"}
	s := in.String()
	assert.Equal(t, "upi://pay?pa=chai@beta&pn=Chai%20Point&am=150.00&tr=ORDER_1&tn=tea%20%26%20cake%20%3D%20100%25&cu=INR", s)
	back, err := ParseIntent(s)
	require.NoError(t, err)
	assert.Equal(t, in, back, "round trip")

	bare := Intent{PayeeVPA: "chai@beta"}
	assert.Equal(t, "upi://pay?pa=chai@beta", bare.String())
	back, err = ParseIntent(bare.String())
	require.NoError(t, err)
	assert.Equal(t, bare, back)

	odd := Intent{PayeeVPA: "chai@beta", PayeeName: "Chaï+Co/₹", AmountPaise: 5, RefID: "a?b#c", Note: "1+1"}
	back, err = ParseIntent(odd.String())
	require.NoError(t, err)
	assert.Equal(t, odd, back)
}

// Any names, references and notes survive String and ParseIntent.
func FuzzIntentRoundTrip(f *testing.F) {
	f.Add("Chai Point", "ORDER_1", "tea", int64(15_000))
	f.Add("a+b&c=d%", "#?/", "", int64(1))
	f.Fuzz(func(t *testing.T, pn, tr, tn string, am int64) {
		if am < 0 || am > 1e15 {
			am = 0
		}
		in := Intent{PayeeVPA: "chai@beta", PayeeName: pn, AmountPaise: am, RefID: tr, Note: tn}
		back, err := ParseIntent(in.String())
		require.NoError(t, err, in.String())
		assert.Equal(t, in, back)
	})
}
