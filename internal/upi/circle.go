package upi

import (
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
)

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

// The codes of a delegated payment's limits (docs/FLOWS.md, Codes of UPI
// Circle).
const (
	// CodeCircleMonthly ("QH"): the month's delegated payments would exceed
	// the link's limit.
	CodeCircleMonthly = "QH"
	// CodeCircleCooling ("FP"): over circle.cooling_limit in the first
	// circle.cooling after linking.
	CodeCircleCooling = "FP"
	// CodeCircleUMN ("QJ"): the UMN is not one PSP(P) issued.
	CodeCircleUMN = "QJ"
)

// CircleUse is one delegated debit counted against a link's limits.
type CircleUse struct {
	AmountPaise int64
	At          time.Time
}

// CircleLimits are the limits of one full link: PerTxn
// (circle.full.per_txn_limit, Z8), Monthly (the link's limit, QH), and
// CoolingLimit for Cooling after LinkedAt (FP). Rolling counts the last 30
// days as the month, else the calendar month in IST.
type CircleLimits struct {
	PerTxn, Monthly, CoolingLimit int64
	Cooling                       time.Duration
	Rolling                       bool
	LinkedAt                      time.Time
}

// circleIST is India Standard Time, the zone of a calendar month.
var circleIST = time.FixedZone("IST", 5*3600+1800)

// MonthStart is when the month of now began for counting a link's use.
func (l CircleLimits) MonthStart(now time.Time) time.Time {
	if l.Rolling {
		return now.Add(-30 * 24 * time.Hour)
	}
	n := now.In(circleIST)
	return time.Date(n.Year(), n.Month(), 1, 0, 0, 0, 0, circleIST)
}

// Used is what uses total in the month of now.
func (l CircleLimits) Used(uses []CircleUse, now time.Time) int64 {
	start, sum := l.MonthStart(now), int64(0)
	for _, u := range uses {
		if !u.At.Before(start) {
			sum += u.AmountPaise
		}
	}
	return sum
}

// Check is the limits' verdict on a new debit of amount at now, given the
// link's uses so far (its SUCCESS and DEEMED debits not reversed): Z8 over
// PerTxn, QH when the month's use and amount exceed Monthly, FP when, within
// Cooling of LinkedAt, the use since LinkedAt and amount exceed
// CoolingLimit; "" when it may go on. A zero limit is no limit.
func (l CircleLimits) Check(uses []CircleUse, amount int64, now time.Time) string {
	if l.PerTxn > 0 && amount > l.PerTxn {
		return CodeLimitExceeded
	}
	if l.Monthly > 0 && l.Used(uses, now)+amount > l.Monthly {
		return CodeCircleMonthly
	}
	if l.CoolingLimit > 0 && l.Cooling > 0 && !l.LinkedAt.IsZero() && now.Before(l.LinkedAt.Add(l.Cooling)) {
		sum := amount
		for _, u := range uses {
			if !u.At.Before(l.LinkedAt) {
				sum += u.AmountPaise
			}
		}
		if sum > l.CoolingLimit {
			return CodeCircleCooling
		}
	}
	return ""
}

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

// CircleUses are the debits a PSP's link or a bank's mandate record keeps
// (recordsv1.CircleDebit, times in Unix nanoseconds) as its limits count
// them.
func CircleUses(ds []*recordsv1.CircleDebit) []CircleUse {
	out := make([]CircleUse, 0, len(ds))
	for _, d := range ds {
		var at time.Time
		if d.GetAt() != 0 {
			at = time.Unix(0, d.GetAt()).UTC()
		}
		out = append(out, CircleUse{AmountPaise: d.GetAmountPaise(), At: at})
	}
	return out
}
