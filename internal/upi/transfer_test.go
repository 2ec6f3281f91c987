package upi

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckTransfer(t *testing.T) {
	tests := []struct {
		name         string
		payer, payee string
		amount       int64
		want         string // the error, "" for none
	}{
		{"ok", "Alice@Alpha", "bob@beta", 100, ""},
		{"largest amount", "alice@alpha", "bob@beta", MaxAmountPaise, ""},
		{"missing payer", "", "bob@beta", 100, "payer_vpa: missing VPA"},
		{"bad payee", "alice@alpha", "bob@be ta", 100, `payee_vpa: invalid VPA "bob@be ta": handle "be ta" may contain only letters and digits`},
		{"zero amount", "alice@alpha", "bob@beta", 0, "amount_paise must be greater than 0, got 0"},
		{"negative amount", "alice@alpha", "bob@beta", -5, "amount_paise must be greater than 0, got -5"},
		{"over the largest", "alice@alpha", "bob@beta", MaxAmountPaise + 1, "amount_paise 1000000000001 is more than the largest amount, 10000000000.00 rupees"},
		{"same party", "alice@alpha", "ALICE@alpha", 100, "payer_vpa and payee_vpa are the same VPA alice@alpha"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payer, payee, err := CheckTransfer(AppFields, tt.payer, tt.payee, tt.amount)
			if tt.want != "" {
				require.Error(t, err)
				assert.Equal(t, tt.want, err.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "alice@alpha", payer)
			assert.Equal(t, "bob@beta", payee)
		})
	}
}

func TestCheckPartiesSameIsErrSameParty(t *testing.T) {
	f := Fields{Payer: "payer.addr", Payee: "payee.addr", Parties: "payer and payee"}
	_, _, err := CheckParties(f, "a@x", "A@X")
	require.ErrorIs(t, err, ErrSameParty)
	assert.Equal(t, "payer and payee are the same VPA a@x", err.Error())
	_, _, err = CheckParties(f, "a@x", "b")
	assert.NotErrorIs(t, err, ErrSameParty)
	assert.EqualError(t, err, `payee.addr: invalid VPA "b": want name@handle`)
}

func TestCheckAmount(t *testing.T) {
	assert.NoError(t, CheckAmount("x", 0))
	assert.NoError(t, CheckAmount("x", MaxAmountPaise))
	assert.EqualError(t, CheckAmount("mandate.amount_paise", -100), "mandate.amount_paise -100 is negative")
	assert.Empty(t, AmountProblem(1))
}
