package upi

import "time"

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

// istZone is the zone mandate dates are read in.
var istZone = time.FixedZone("IST", 5*3600+1800)

// InMandateValidity reports whether now falls on the IST days from start
// to end (MandateDate layout), both included; a date that does not parse
// is outside.
func InMandateValidity(start, end string, now time.Time) bool {
	s, err1 := time.ParseInLocation(MandateDate, start, istZone)
	e, err2 := time.ParseInLocation(MandateDate, end, istZone)
	if err1 != nil || err2 != nil {
		return false
	}
	return !now.Before(s) && now.Before(e.AddDate(0, 0, 1))
}
