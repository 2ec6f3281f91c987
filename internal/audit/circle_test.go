package audit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

const linkA = "ALP0000000000000000000000000000000L"

// fullLink is a FULL link alice@alpha → bob@beta of ₹100.00 with status
// at PSP(P), PSP(S) and the switch ("" leaves a record out), its mandate
// ACTIVE and signed at alphapsp and abank, every record changed ago.
func fullLink(p, s, w string, ago_ time.Duration) map[string][]*upiv1.CircleRecord {
	rec := func(kind, side, st string) *upiv1.CircleRecord {
		return &upiv1.CircleRecord{Kind: kind, Side: side, LinkId: linkA, PrimaryVpa: "alice@alpha", SecondaryVpa: "bob@beta",
			Mode: "FULL", Status: st, Umn: "ALPUMN@alpha", LimitPaise: 10000, Signed: side == "payer" || side == "remitter", Updated: ago(ago_)}
	}
	out := map[string][]*upiv1.CircleRecord{
		"alphapsp": {rec("MANDATE", "payer", "ACTIVE")}, "abank": {rec("MANDATE", "remitter", "ACTIVE")},
	}
	if p != "" {
		out["alphapsp"] = append(out["alphapsp"], rec("LINK", "P", p))
	}
	if s != "" {
		out["betapsp"] = append(out["betapsp"], rec("LINK", "S", s))
	}
	if w != "" {
		out["npci"] = append(out["npci"], rec("LINK", "SWITCH", w))
	}
	return out
}

func circleAudit(recs map[string][]*upiv1.CircleRecord) Result {
	c := newAuditCase()
	c.snap.circleRecs = recs
	return c.snap.audit(now, maxAge)
}

func TestCircleAgreeingLinkIsClean(t *testing.T) {
	r := circleAudit(fullLink("LINKED", "LINKED", "LINKED", time.Hour))
	assert.Empty(t, r.Violations)
}

func TestCircleDisagreementWithinMaxAgeIsInFlight(t *testing.T) {
	r := circleAudit(fullLink("LINK_PENDING", "LINKED", "LINKED", time.Second))
	assert.Empty(t, r.Violations, "PSP(P) may not have heard yet")
}

func TestCircleSidesDisagree(t *testing.T) {
	r := circleAudit(fullLink("DECLINED", "LINKED", "DECLINED", time.Hour))
	var kinds []string
	for _, v := range r.Violations {
		kinds = append(kinds, v.Kind+" "+v.Node)
	}
	// PSP(S) LINKED, and the declined link's mandate left ACTIVE at abank.
	assert.ElementsMatch(t, []string{ViolationCircleMismatch + " betapsp", ViolationCircleMismatch + " abank"}, kinds)
}

func TestCircleSecondaryWithoutRecord(t *testing.T) {
	// An invite PSP(S) never took: the switch's U69 needs no PSP(S) record…
	recs := fullLink("EXPIRED", "", "EXPIRED", time.Hour)
	recs["abank"][0].Status = "REVOKED"
	assert.Empty(t, circleAudit(recs).Violations)
	// …but only the secondary's answer makes a link LINKED.
	r := circleAudit(fullLink("LINKED", "", "LINKED", time.Hour))
	require.Len(t, r.Violations, 1)
	assert.Contains(t, r.Violations[0].Detail, "PSP(S) has no record")
}

func TestCircleLinkedMandateAmountDiffers(t *testing.T) {
	recs := fullLink("LINKED", "LINKED", "LINKED", time.Hour)
	recs["abank"][0].LimitPaise = 20000
	r := circleAudit(recs)
	require.Len(t, r.Violations, 1)
	assert.Equal(t, "abank", r.Violations[0].Node)
	assert.Contains(t, r.Violations[0].Detail, "₹200.00")
}

func TestCircleNotListedIsANote(t *testing.T) {
	c := newAuditCase()
	c.snap.circleNote = "node npci does not list UPI Circle links"
	r := c.snap.audit(now, maxAge)
	assert.True(t, r.OK)
	assert.Contains(t, r.Notes, "node npci does not list UPI Circle links")
}

// A LINKED full link whose mandate was revoked on its own (its payments go
// to the primary) is clean when PSP(P) and the remitter agree, and flagged
// when they do not, or when the mandate failed.
func TestCircleLinkedMandateRevokedOnItsOwn(t *testing.T) {
	recs := fullLink("LINKED", "LINKED", "LINKED", time.Hour)
	recs["alphapsp"][0].Status, recs["abank"][0].Status = "REVOKED", "REVOKED"
	assert.Empty(t, circleAudit(recs).Violations)

	recs["abank"][0].Status = "ACTIVE"
	r := circleAudit(recs)
	require.Len(t, r.Violations, 1)
	assert.Equal(t, "abank", r.Violations[0].Node)
	assert.Contains(t, r.Violations[0].Detail, "REVOKED at PSP(P)")

	recs["alphapsp"][0].Status = "FAILURE"
	r = circleAudit(recs)
	require.NotEmpty(t, r.Violations)
	assert.Equal(t, "alphapsp", r.Violations[0].Node)
}
