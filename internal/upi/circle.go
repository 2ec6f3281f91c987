package upi

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
