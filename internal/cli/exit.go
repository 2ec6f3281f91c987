package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The exit codes of upisim, the same for every command (the root help and
// the README's CLI section list them).
const (
	// ExitOK: done; a payment that was waited for ended SUCCESS.
	ExitOK = 0
	// ExitError: bad usage, no network to reach, or any other error.
	ExitError = 1
	// ExitFailure: the transaction waited for ended FAILURE.
	ExitFailure = 2
	// ExitPending: the transaction was still PENDING or DEEMED when the
	// wait ended (--timeout, --wait), or a collect had not yet reached the
	// payer's PSP.
	ExitPending = 3
)

// ExitCodesHelp is the exit codes as the root help tells them.
const ExitCodesHelp = `Exit codes (every command):
  0  success; a payment waited for (pay, approve, circle pay, circle approve,
     txn --wait, lite pay, ...) ended SUCCESS; collect reached the payer's
     PSP; an offline lite pay (--to-device) ended PENDING, its outcome
  1  bad usage, the network cannot be reached, or any other error (audit
     and lite reconcile: a violation or mismatch found)
  2  the transaction waited for ended FAILURE
  3  the transaction was still PENDING or DEEMED when the wait ended
     (--timeout, txn --wait), a collect had not reached the payer's PSP,
     or a lite online/sync batch was not answered
On a non-zero exit the reason goes to stderr: "upisim: REASON", or with
-o json one line {"error": "REASON", "code": N} (N the exit code); stdout
holds only the result (a transaction's status is printed before exit 2 or 3).`

// OutcomeError is the error of a command whose transaction did not end
// SUCCESS within its wait; Code is ExitFailure or ExitPending. The
// transaction was printed before.
type OutcomeError struct {
	Result TxnResult
	Code   int
	msg    string
}

func (e *OutcomeError) Error() string { return e.msg }

// ErrStillPending matches (errors.Is) an OutcomeError of ExitPending.
var ErrStillPending = errors.New("still pending")

// Is makes an ExitPending OutcomeError match ErrStillPending.
func (e *OutcomeError) Is(target error) bool {
	return target == ErrStillPending && e.Code == ExitPending
}

// stillPending is the error of a wait that ended before the final status.
func stillPending(r TxnResult, format string, args ...any) *OutcomeError {
	return &OutcomeError{Result: r, Code: ExitPending, msg: fmt.Sprintf(format, args...)}
}

// Outcome is the error that gives a waited-for transaction's exit code:
// nil for SUCCESS, ExitFailure for FAILURE, ExitPending for PENDING or
// DEEMED.
func Outcome(r TxnResult) error {
	switch r.Status {
	case "SUCCESS":
		return nil
	case "FAILURE":
		msg := fmt.Sprintf("transaction %s ended FAILURE", r.TxnID)
		if r.ErrCode != "" {
			msg += " (" + r.ErrCode + ")"
		}
		return &OutcomeError{Result: r, Code: ExitFailure, msg: msg}
	}
	return stillPending(r, "transaction %s still %s when the wait ended; `upisim txn %s` shows its final status later", r.TxnID, r.Status, r.TxnID)
}

// ExitCode is the exit code of a command that ended with err.
func ExitCode(err error) int {
	var oe *OutcomeError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &oe):
		return oe.Code
	}
	return ExitError
}

// ReportError writes err as the command's reason to exit: a line
// "upisim: REASON", or with JSON one object {"error", "code"}.
func ReportError(w io.Writer, o Output, err error) {
	if o == JSON {
		b, _ := json.Marshal(struct {
			Error string `json:"error"`
			Code  int    `json:"code"`
		}{err.Error(), ExitCode(err)})
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	fmt.Fprintln(w, "upisim:", err)
}
