// Package beneficiary is the payee's bank: it answers BeneficiaryService
// requests from the switch — ReqPay CREDIT (a posting from the bank's
// settlement account to the payee) and ReqChkTxn — over the bank node's
// ledger. The bank node (internal/bank) calls it; a credit moves money at
// most once per transaction and a repeated request is answered with the
// recorded outcome.
package beneficiary
