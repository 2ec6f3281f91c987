package audit

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

const umnA = "ALPUMN@alpha"

// debit is one delegated payment of the link of fullLink: the switch's
// transaction (status, with the mandate when mandated) and each node's
// count of it, made ago before now.
type debit struct {
	id       string
	amount   int64
	ago      time.Duration
	status   upiv1.Resp_Result
	mandated bool // the DEBIT carried the mandate (else the primary approved it with her PIN)
}

// circlePays is fullLink LINKED everywhere, its mandate signed at abank
// 30 days ago, with the debits: each SUCCESS or DEEMED one counted by
// PSP(P) and PSP(S), and by the remitter when it carried the mandate.
type circlePays struct {
	recs map[string][]*upiv1.CircleRecord
	txns []*upiv1.TxnSummary
}

func newCirclePays(ds ...debit) *circlePays {
	c := &circlePays{recs: fullLink("LINKED", "LINKED", "LINKED", time.Hour)}
	c.remitter().Created = ago(30 * 24 * time.Hour)
	c.link("alphapsp").Month, c.link("betapsp").Month = "calendar", "calendar"
	for _, d := range ds {
		c.add(d)
	}
	return c
}

func (c *circlePays) add(d debit) {
	t := &upiv1.TxnSummary{
		TxnId: d.id, Type: upiv1.Txn_PAY, Status: d.status, AmountPaise: d.amount, PayerVpa: "alice@alpha", PayeeVpa: "chai@beta",
		PayerPsp: "betapsp", PayeePsp: "betapsp", Remitter: "abank", Created: ago(d.ago), Updated: ago(d.ago),
	}
	if d.mandated {
		t.MandateUmn = umnA
	}
	c.txns = append(c.txns, t)
	if d.status != upiv1.Resp_SUCCESS && d.status != upiv1.Resp_DEEMED {
		return
	}
	cd := &upiv1.CircleRecordDebit{TxnId: d.id, AmountPaise: d.amount, At: ago(d.ago)}
	for _, l := range []*upiv1.CircleRecord{c.link("alphapsp"), c.link("betapsp")} {
		l.Debits = append(l.Debits, cd)
	}
	if d.mandated {
		c.remitter().Debits = append(c.remitter().Debits, cd)
	}
}

// link is node's link record; remitter abank's mandate.
func (c *circlePays) link(node string) *upiv1.CircleRecord {
	for _, r := range c.recs[node] {
		if r.GetKind() == "LINK" {
			return r
		}
	}
	panic("no link at " + node)
}

func (c *circlePays) remitter() *upiv1.CircleRecord { return c.recs["abank"][0] }

// drop takes txn id out of r's debits.
func drop(r *upiv1.CircleRecord, id string) {
	r.Debits = slices.DeleteFunc(r.Debits, func(d *upiv1.CircleRecordDebit) bool { return d.GetTxnId() == id })
}

// circleFound are the UPI Circle violations of an audit of c, as
// "KIND txn node" (the other checks see transactions no PSP or bank
// holds here, which is not theirs to test).
func (c *circlePays) circleFound(t *testing.T) []string {
	t.Helper()
	a := newAuditCase()
	a.snap.circleRecs, a.snap.switchTxns = c.recs, c.txns
	var out []string
	for _, v := range a.snap.audit(now, maxAge).Violations {
		switch v.Kind {
		case ViolationCircleMismatch, ViolationCircleOverLimit, ViolationCircleNoMandate, ViolationCircleUsage:
			t.Logf("%s %s %s: %s", v.Kind, v.TxnID, v.Node, v.Detail)
			out = append(out, v.Kind+" "+v.TxnID+" "+v.Node)
		}
	}
	return out
}

func TestCirclePaymentsAtTheLimitAreClean(t *testing.T) {
	c := newCirclePays(
		debit{"T1", 6000, 3 * time.Hour, upiv1.Resp_SUCCESS, true},
		debit{"T2", 4000, 2 * time.Hour, upiv1.Resp_DEEMED, true}, // exactly the ₹100.00 limit
		// The primary approved one with her PIN: no mandate, not the
		// remitter's to count, nor the mandate's limit.
		debit{"T3", 5000, 90 * time.Minute, upiv1.Resp_SUCCESS, false},
		// A FAILURE after a DEEMED: no node counts it.
		debit{"T4", 100, time.Hour, upiv1.Resp_FAILURE, true},
	)
	assert.Empty(t, c.circleFound(t))
}

func TestCirclePaymentsOverTheLimit(t *testing.T) {
	c := newCirclePays(
		debit{"T1", 6000, 3 * time.Hour, upiv1.Resp_SUCCESS, true},
		debit{"T2", 4001, 2 * time.Hour, upiv1.Resp_SUCCESS, true},
	)
	assert.Equal(t, []string{ViolationCircleOverLimit + " T2 abank"}, c.circleFound(t), "the debit that went over, and who counted it first")
}

func TestCirclePaymentsMonthOfTheNetwork(t *testing.T) {
	// now is 17:30 IST on 1 June: 18 hours ago is 23:30 IST on 31 May,
	// the month before; 17 hours ago is 00:30 IST on 1 June.
	c := newCirclePays(
		debit{"T1", 6000, 18 * time.Hour, upiv1.Resp_SUCCESS, true},
		debit{"T2", 6000, 17 * time.Hour, upiv1.Resp_SUCCESS, true},
	)
	assert.Empty(t, c.circleFound(t), "calendar months: a debit of the previous month does not count")
	c.link("alphapsp").Month = "rolling"
	assert.Equal(t, []string{ViolationCircleOverLimit + " T2 abank"}, c.circleFound(t), "rolling: the 30 days up to T2 hold both")
}

func TestCirclePaymentsMandateRevoked(t *testing.T) {
	c := newCirclePays(
		debit{"T1", 1000, 4 * time.Hour, upiv1.Resp_SUCCESS, true},
		debit{"T2", 1000, 2 * time.Hour, upiv1.Resp_SUCCESS, true},
	)
	for _, node := range []string{"alphapsp", "betapsp", "npci"} {
		c.link(node).Status = "DELINKED"
	}
	c.remitter().Status = "REVOKED"
	c.remitter().Revoked = ago(4 * time.Hour) // as T1 was made: not after it
	c.recs["alphapsp"][0].Status = "REVOKED"
	assert.Equal(t, []string{ViolationCircleNoMandate + " T1 abank", ViolationCircleNoMandate + " T2 abank"}, c.circleFound(t))
	c.remitter().Revoked = ago(3 * time.Hour)
	assert.Equal(t, []string{ViolationCircleNoMandate + " T2 abank"}, c.circleFound(t), "only the debit after the revoke")
	c.remitter().Revoked = ago(time.Hour)
	assert.Empty(t, c.circleFound(t), "both before the revoke")
}

func TestCirclePaymentsMandateSignedAfter(t *testing.T) {
	c := newCirclePays(debit{"T1", 1000, 2 * time.Hour, upiv1.Resp_SUCCESS, true})
	c.remitter().Created = ago(90 * time.Minute)
	assert.Equal(t, []string{ViolationCircleNoMandate + " T1 abank"}, c.circleFound(t))
	c.remitter().Created = ago(2 * time.Hour)
	assert.Empty(t, c.circleFound(t), "signed as the debit was made")
	c.remitter().Signed = false
	assert.Equal(t, []string{ViolationCircleNoMandate + " T1 abank"}, c.circleFound(t))
}

func TestCirclePaymentsNoRemitterMandate(t *testing.T) {
	c := newCirclePays(debit{"T1", 1000, 2 * time.Hour, upiv1.Resp_SUCCESS, true})
	c.txns[0].MandateUmn = "ALPOTHER@alpha"
	got := c.circleFound(t)
	assert.Contains(t, got, ViolationCircleNoMandate+" T1 abank", "a mandate no remitter lists: the switch's remitter is named")
	assert.Contains(t, got, ViolationCircleUsage+" T1 abank", "abank counted T1 under a mandate the DEBIT did not carry")
}

func TestCirclePaymentsRemitterDidNotCount(t *testing.T) {
	c := newCirclePays(debit{"T1", 1000, 2 * time.Hour, upiv1.Resp_SUCCESS, true})
	drop(c.remitter(), "T1")
	assert.ElementsMatch(t, []string{ViolationCircleUsage + " T1 abank", ViolationCircleNoMandate + " T1 abank"}, c.circleFound(t))
}

func TestCirclePaymentsRemitterCountsAPINPayment(t *testing.T) {
	c := newCirclePays(debit{"T1", 1000, 2 * time.Hour, upiv1.Resp_SUCCESS, false})
	c.remitter().Debits = append(c.remitter().Debits, &upiv1.CircleRecordDebit{TxnId: "T1", AmountPaise: 1000, At: ago(2 * time.Hour)})
	// Not one the switch's DEBIT carried the mandate for.
	got := c.circleFound(t)
	assert.Equal(t, []string{ViolationCircleUsage + " T1 abank"}, got)
}

func TestCirclePaymentsPSPsDisagree(t *testing.T) {
	c := newCirclePays(
		debit{"T1", 1000, 3 * time.Hour, upiv1.Resp_SUCCESS, true},
		debit{"T2", 2000, 2 * time.Hour, upiv1.Resp_SUCCESS, false},
	)
	drop(c.link("betapsp"), "T1")
	c.link("betapsp").Debits[0] = &upiv1.CircleRecordDebit{TxnId: "T2", AmountPaise: 2500, At: ago(2 * time.Hour)}
	assert.Equal(t, []string{ViolationCircleUsage + " T1 betapsp", ViolationCircleUsage + " T2 betapsp"}, c.circleFound(t))
}

func TestCirclePaymentsCountedNotAtTheSwitch(t *testing.T) {
	c := newCirclePays(debit{"T1", 1000, 2 * time.Hour, upiv1.Resp_SUCCESS, true})
	// A FAILURE after a DEEMED that PSP(P) still counts.
	c.add(debit{"T2", 500, time.Hour, upiv1.Resp_FAILURE, false})
	c.link("alphapsp").Debits = append(c.link("alphapsp").Debits, &upiv1.CircleRecordDebit{TxnId: "T2", AmountPaise: 500, At: ago(time.Hour)})
	// A debit the switch never saw, at PSP(S).
	c.link("betapsp").Debits = append(c.link("betapsp").Debits, &upiv1.CircleRecordDebit{TxnId: "T9", AmountPaise: 700, At: ago(time.Hour)})
	got := c.circleFound(t)
	assert.ElementsMatch(t, []string{
		ViolationCircleUsage + " T2 betapsp", ViolationCircleUsage + " T2 alphapsp", // PSP(S) did not count it; and it is a FAILURE
		ViolationCircleUsage + " T9 alphapsp", ViolationCircleUsage + " T9 betapsp", // PSP(P) did not; and the switch has none
	}, got)
}

func TestCirclePaymentsInFlightAreNotFlagged(t *testing.T) {
	c := newCirclePays(
		debit{"T1", 6000, 3 * time.Hour, upiv1.Resp_SUCCESS, true},
		debit{"T2", 5000, 30 * time.Second, upiv1.Resp_SUCCESS, true}, // over the limit, but counted within --max-age
	)
	drop(c.link("betapsp"), "T2") // PSP(S) not told yet
	drop(c.remitter(), "T2")
	assert.Empty(t, c.circleFound(t))
	// Settled: over the limit, not at PSP(S), not counted by the remitter.
	for _, r := range [][]*upiv1.CircleRecordDebit{c.link("alphapsp").Debits} {
		r[1].At = ago(time.Hour)
	}
	c.txns[1].Updated, c.txns[1].Created = ago(time.Hour), ago(time.Hour)
	got := c.circleFound(t)
	assert.ElementsMatch(t, []string{
		ViolationCircleUsage + " T2 betapsp", ViolationCircleUsage + " T2 abank",
		ViolationCircleNoMandate + " T2 abank", ViolationCircleOverLimit + " T2 alphapsp",
	}, got)
}

func TestCirclePaymentsOldDebitsAreNotCompared(t *testing.T) {
	c := newCirclePays(debit{"T1", 1000, 62 * 24 * time.Hour, upiv1.Resp_SUCCESS, true})
	c.remitter().Created = ago(70 * 24 * time.Hour)
	drop(c.remitter(), "T1") // dropped by the remitter's count, 62 days on
	assert.Empty(t, c.circleFound(t))
	require.NotEmpty(t, c.link("alphapsp").Debits)
}
