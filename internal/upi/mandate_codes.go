package upi

// The codes of UPI Circle mandates (docs/FLOWS.md, Codes of UPI Circle).
const (
	// CodeMandateRevoked: the mandate has been revoked.
	CodeMandateRevoked = "QC"
	// CodeMandateExpired: the mandate has expired (past validity_end).
	CodeMandateExpired = "QD"
	// CodeMandateLimit: the mandate's amount is over circle.full.monthly_limit.
	CodeMandateLimit = "QK"
	// CodeMandateUnknown: the UMN is not one the remitter signed.
	CodeMandateUnknown = "VF"
	// CodeMandateSignature: the mandate signature does not verify.
	CodeMandateSignature = "VH"
)

// MandateDate is the layout of a mandate's validity_start and validity_end
// (DDMMYYYY), read in IST.
const MandateDate = "02012006"
