// Package remitter is the payer's bank: it answers RemitterService requests
// from the switch — ReqPay DEBIT (PIN, limit and funds checks, then a posting
// from the payer to the bank's settlement account) and REVERSAL (the debit
// put back), and ReqChkTxn — over the bank node's ledger. The bank node
// (internal/bank) calls it; each leg moves money at most once per
// transaction and a repeated request is answered with the recorded outcome.
package remitter
