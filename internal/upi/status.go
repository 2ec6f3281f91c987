package upi

import (
	"strings"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// Rank orders a transaction's results so that its status only moves
// forward: PENDING (1), then DEEMED (2), then a final SUCCESS or FAILURE
// (3). Anything else, RESULT_UNSPECIFIED included, is 0: no status.
func Rank(r upiv1.Resp_Result) int {
	switch r {
	case upiv1.Resp_PENDING:
		return 1
	case upiv1.Resp_DEEMED:
		return 2
	case upiv1.Resp_SUCCESS, upiv1.Resp_FAILURE:
		return 3
	}
	return 0
}

// Final reports whether r is a decided outcome, SUCCESS or FAILURE, which
// never changes.
func Final(r upiv1.Resp_Result) bool { return Rank(r) == 3 }

// Outcome reports whether r is what the switch tells of a transaction:
// DEEMED, SUCCESS or FAILURE (not PENDING, not unset).
func Outcome(r upiv1.Resp_Result) bool { return Rank(r) >= 2 }

// Forward reports whether a status may move from "from" to "to": to is
// later in the order (Rank) than from.
func Forward(from, to upiv1.Resp_Result) bool { return Rank(to) > Rank(from) }

// ParseResult is the result named s (as stored, "SUCCESS"), or
// RESULT_UNSPECIFIED when s names none.
func ParseResult(s string) upiv1.Resp_Result {
	return upiv1.Resp_Result(upiv1.Resp_Result_value[s])
}

// ResultName is r as people read it: "SUCCESS", "DEEMED", and
// "UNSPECIFIED" for none.
func ResultName(r upiv1.Resp_Result) string {
	return strings.TrimPrefix(r.String(), "RESULT_")
}
