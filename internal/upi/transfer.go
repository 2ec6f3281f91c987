package upi

import (
	"errors"
	"fmt"

	"github.com/upisim/upisim/internal/ids"
)

// MaxAmountPaise is the largest amount any *_paise field may hold:
// ₹1,000 crore, ten thousand times UPI's highest per-transaction limit, so
// that millions of them still add up within an int64.
const MaxAmountPaise int64 = 1_000_000_000_000

// Fields names the fields a transfer's parties and amount came in, for
// the errors of CheckParties and CheckTransfer.
type Fields struct {
	// Payer and Payee name the VPA fields ("payer_vpa", "payer.addr").
	Payer, Payee string
	// Parties names both in the error for a payer who is the payee
	// ("payer and payee").
	Parties string
	// Amount names the amount field ("amount_paise").
	Amount string
}

// AppFields are the fields of the app APIs' pay and collect requests
// (TpapAppService, PspAppService).
var AppFields = Fields{Payer: "payer_vpa", Payee: "payee_vpa", Parties: "payer_vpa and payee_vpa", Amount: "amount_paise"}

// CircleFields are those of a UPI Circle payment's request
// (CreateCirclePayment), which the secondary starts.
var CircleFields = Fields{Payer: "secondary_vpa", Payee: "payee_vpa", Parties: "secondary_vpa and payee_vpa", Amount: "amount_paise"}

// ErrSameParty is what CheckParties' error for a payer who is the payee
// wraps; match it with errors.Is.
var ErrSameParty = errors.New("payer and payee are the same VPA")

type sameParty string

func (e sameParty) Error() string { return string(e) }
func (e sameParty) Unwrap() error { return ErrSameParty }

// CheckParties checks the payer and payee of a pay or collect: each a
// valid VPA, and not the same VPA (money moved from a VPA to itself is no
// payment; a collect from oneself would ask the requester to approve their
// own request). It returns both normalized (ids.NormalizeVPA).
func CheckParties(f Fields, payer, payee string) (string, string, error) {
	if err := ids.ValidateVPA(payer); err != nil {
		return "", "", fmt.Errorf("%s: %w", f.Payer, err)
	}
	if err := ids.ValidateVPA(payee); err != nil {
		return "", "", fmt.Errorf("%s: %w", f.Payee, err)
	}
	payer, payee = ids.NormalizeVPA(payer), ids.NormalizeVPA(payee)
	if payer == payee {
		return "", "", sameParty(fmt.Sprintf("%s are the same VPA %s", f.Parties, payer))
	}
	return payer, payee, nil
}

// CheckAmount checks an amount in paise against the range every *_paise
// field is held to: 0 to MaxAmountPaise.
func CheckAmount(field string, paise int64) error {
	if p := AmountProblem(paise); p != "" {
		return fmt.Errorf("%s %s", field, p)
	}
	return nil
}

// AmountProblem says what is wrong with an amount out of 0..MaxAmountPaise,
// or "" when nothing is.
func AmountProblem(paise int64) string {
	switch {
	case paise < 0:
		return fmt.Sprintf("%d is negative", paise)
	case paise > MaxAmountPaise:
		return fmt.Sprintf("%d is more than the largest amount, %s rupees", paise, FormatPaise(MaxAmountPaise))
	}
	return ""
}

// CheckTransfer checks the parties (CheckParties) and the amount of a pay
// or collect: greater than zero and at most MaxAmountPaise. It returns the
// VPAs normalized.
func CheckTransfer(f Fields, payer, payee string, amountPaise int64) (string, string, error) {
	payer, payee, err := CheckParties(f, payer, payee)
	if err != nil {
		return "", "", err
	}
	if amountPaise <= 0 {
		return "", "", fmt.Errorf("%s must be greater than 0, got %d", f.Amount, amountPaise)
	}
	if err := CheckAmount(f.Amount, amountPaise); err != nil {
		return "", "", err
	}
	return payer, payee, nil
}
