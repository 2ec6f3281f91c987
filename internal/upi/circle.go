package upi

import upiv1 "github.com/upisim/upisim/gen/go/upi/v1"

// UPI Circle's codes of links (docs/FLOWS.md, Codes of UPI Circle).
const (
	// CodeExpired ("U69"): an invite (or approval) not answered in time;
	// the collect's expiry code.
	CodeExpired = CodeCollectExpired
	// CodeMaxSecondaries ("CP"): the primary already has
	// circle.max_secondaries secondaries (the switch).
	CodeMaxSecondaries = "CP"
	// CodeHasPrimary ("CS"): the secondary already has a primary (the
	// switch).
	CodeHasPrimary = "CS"
	// CodeNoLink ("CN"): no LINKED link between these users.
	CodeNoLink = "CN"
)

// LinkStatusAfterAdd is a link's status once its ADD is decided: LINKED on
// SUCCESS, else DECLINED (ZA), EXPIRED (U69) or FAILED (any other code),
// as PSP(P), PSP(S) and the switch each record it.
func LinkStatusAfterAdd(ok bool, code string) upiv1.CircleLink_Status {
	switch {
	case ok:
		return upiv1.CircleLink_LINKED
	case code == CodeDeclinedByPayer:
		return upiv1.CircleLink_DECLINED
	case code == CodeExpired:
		return upiv1.CircleLink_EXPIRED
	}
	return upiv1.CircleLink_FAILED
}
