package upi

// The NPCI codes upisim uses, in Resp.err_code and in Ref.resp_code and
// Ref.reversal_resp_code. docs/FLOWS.md's "Error codes used" table lists
// every one of them (codes_test.go keeps the two the same), with who
// decides each.
const (
	// CodeOK ("00"): the leg succeeded (resp_code), or the debit was put
	// back (reversal_resp_code).
	CodeOK = "00"
	// CodeNothingToReverse ("NA") is the reversal_resp_code of a reversal
	// that found no debit to put back (the DEBIT was declined or never
	// arrived): the reversal succeeds and moves no money.
	CodeNothingToReverse = "NA"

	// CodeInvalidPIN ("ZM"): the PIN block does not match the customer's
	// PIN; a malformed block, or one made for another transaction, too.
	// The remitter decides it.
	CodeInvalidPIN = "ZM"
	// CodePINLocked ("Z6"): number of PIN tries exceeded. The account's PIN
	// is locked after the network's pin.max_tries wrong PINs in a row, for
	// pin.lock_for; every DEBIT meanwhile is declined Z6, even with the
	// right PIN. The remitter decides it.
	CodePINLocked = "Z6"
	// CodeInsufficientFunds ("Z9"): the payer's balance is below the
	// amount. The remitter decides it.
	CodeInsufficientFunds = "Z9"
	// CodeLimitExceeded ("Z8"): the amount is above the network's
	// per-transaction limit. The remitter decides it.
	CodeLimitExceeded = "Z8"
	// CodeDeclinedByPayer ("ZA"): the payer declined a collect. The payer's
	// PSP decides it.
	CodeDeclinedByPayer = "ZA"

	// CodeDuplicate ("U01"): duplicate request: a PIN block the remitter
	// opened before, replayed in another DEBIT. Not a wrong PIN try.
	CodeDuplicate = "U01"
	// CodeEncryption ("U14"): encryption error: a PIN block the remitter
	// cannot open (another version, not its current key, tampered, made for
	// another transaction) or whose ts is outside pin.Window of its clock.
	// Not a wrong PIN try.
	CodeEncryption = "U14"
	// CodeAuthTimeout ("U09"): ReqAuth time out for PAY: the payee's PSP
	// did not answer ReqAuthDetails in time. The switch decides it.
	CodeAuthTimeout = "U09"
	// CodeRefused ("U07"): validation error: the switch refused the ReqPay
	// in its Ack (the trace shows why). The payer's PSP ends the payment
	// with it: the only outcome a PSP decides without the switch, for a
	// transaction the switch therefore never had.
	CodeRefused = "U07"
	// CodeAddrResolution ("U29"): address resolution failed: the switch
	// knows no PSP for the handle, or the counter-party PSP no such VPA.
	CodeAddrResolution = "U29"
	// CodeDebitFailed ("U30"): the debit failed: no such customer account
	// at the remitter, or the DEBIT came after its REVERSAL; the switch
	// answers it itself when the payer's IFSC routes to no bank.
	CodeDebitFailed = "U30"
	// CodeCreditFailed ("U31"): the credit failed and the debit is
	// reversed: no such customer account at the beneficiary; the switch
	// answers it itself when the payee's IFSC routes to no bank.
	CodeCreditFailed = "U31"
	// CodeTxnNotPresent ("U48"): transaction id not present: a bank's
	// answer to a status check (ReqChkTxn) of a leg it has no record of.
	CodeTxnNotPresent = "U48"
	// CodeDebitTimeout ("U67"): no answer to the DEBIT in time; the debit
	// is reversed. The switch decides it.
	CodeDebitTimeout = "U67"
	// CodeCreditTimeout ("U68"): the credit timed out (DEEMED) and the
	// status check found no credit; the debit is reversed. The switch
	// decides it.
	CodeCreditTimeout = "U68"
	// CodeCollectExpired ("U69"): the collect expired before the payer
	// answered. The switch decides it.
	CodeCollectExpired = "U69"
	// CodeLate ("U70"): a response that came after the switch stopped
	// waiting for it; noted in the switch's record, it changes nothing.
	CodeLate = "U70"
	// CodeDeemed ("RB"): deemed: no credit response in time; the final
	// outcome follows. The switch decides it.
	CodeDeemed = "RB"
	// CodeReversalUnconfirmed ("UT") is the reversal_resp_code of a
	// reversal the remitter never answered, however often it was sent.
	CodeReversalUnconfirmed = "UT"
	// CodeRefundNoCredit ("U10", illegal operation): the DEBIT of a REFUND
	// names no CREDIT of its org_txn_id to the account debited, or the
	// refunds of that credit would exceed it. The payee's bank decides it.
	CodeRefundNoCredit = "U10"
)

// Codes lists every code above, for the check that docs/FLOWS.md names
// the same ones.
var Codes = []string{
	CodeOK, CodeNothingToReverse,
	CodeInvalidPIN, CodePINLocked, CodeInsufficientFunds, CodeLimitExceeded, CodeDeclinedByPayer,
	CodeAuthTimeout, CodeRefused, CodeAddrResolution, CodeDebitFailed, CodeCreditFailed,
	CodeTxnNotPresent, CodeDebitTimeout, CodeCreditTimeout, CodeCollectExpired, CodeLate,
	CodeDeemed, CodeReversalUnconfirmed, CodeDuplicate, CodeEncryption, CodeRefundNoCredit,
}
