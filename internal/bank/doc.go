// Package bank is the bank node role: one ledger (internal/ledger) served to
// the switch as both RemitterService (package remitter) and
// BeneficiaryService (package beneficiary), seeded from the network file,
// with balances and per-transaction legs visible through AdminService.
package bank
