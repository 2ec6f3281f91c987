// Package ledger is a bank node's double-entry ledger over its store: accounts
// (customers, the bank's settlement account, UPI Lite pools), postings that
// move int64 paise from one account to another at most once per reference,
// and the bank's record of the transaction legs it answered, which the
// remitter and beneficiary roles share.
package ledger
