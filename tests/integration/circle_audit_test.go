package integration

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/audit"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/remitter"
)

// auditSettled runs `upisim audit -o json` with a --max-age of a
// nanosecond: on a quiet network every link is settled, so the audit
// checks them all (the default grace would skip links made moments ago).
func (n *net) auditSettled() (cli.AuditResult, string) {
	n.t.Helper()
	var out bytes.Buffer
	r, _ := cli.Audit(context.Background(), &out, cli.AuditOptions{DataDir: n.dir, Output: cli.JSON, MaxAge: time.Nanosecond})
	return r, out.String()
}

// circleViolations are the audit's CIRCLE_MISMATCH violations about link
// id at node whose detail holds every word.
func circleViolations(r cli.AuditResult, id, node string, words ...string) []audit.Violation {
	var got []audit.Violation
	for _, v := range r.Violations {
		if v.Kind != audit.ViolationCircleMismatch || v.TxnID != id || (node != "" && v.Node != node) {
			continue
		}
		all := true
		for _, w := range words {
			all = all && strings.Contains(v.Detail, w)
		}
		if all {
			got = append(got, v)
		}
	}
	return got
}

func (n *net) circleRespond(id string, accept bool) {
	n.t.Helper()
	var out bytes.Buffer
	var err error
	if accept {
		_, err = cli.CircleAccept(context.Background(), &out, cli.CircleRefOptions{DataDir: n.dir, LinkID: id, Output: cli.JSON})
	} else {
		_, err = cli.CircleDecline(context.Background(), &out, cli.CircleRefOptions{DataDir: n.dir, LinkID: id, Output: cli.JSON})
	}
	require.NoError(n.t, err, out.String())
}

func (n *net) invited(secondary, id string) {
	n.t.Helper()
	eventually(n.t, func() bool { return findLink(n.circleList(secondary, true), id) != nil }, "the invite of "+id)
}

// Links of every end over the in-process network, and delegated payments
// (under full delegation up to the link's limit and one refused over it,
// under partial one the primary approved), leave the audit clean; then a
// PSP(S) record forged LINKED for a link PSP(P) and the switch have
// DECLINED, a remitter's mandate forged back to ACTIVE for a DELINKED full
// link, and a delegated debit dropped from PSP(S)'s count are each named.
func TestAuditCircleLinks(t *testing.T) {
	// No first-day cap, so the full link's payments reach its limit.
	n := up(t, func(c *config.Network) { c.Circle.CoolingLimit = 0 })
	ctx := context.Background()
	const alice, bob, carol, chai = "alice@alpha", "bob@beta", "carol@beta", "chai@beta"

	// A full link, accepted then removed: DELINKED, its mandate revoked.
	gone := n.circleLinkFull(alice, carol, "12000.00", "1234")
	n.invited(carol, gone.LinkID)
	n.circleRespond(gone.LinkID, true)
	n.linkStatus(gone.LinkID, "LINKED")
	var out bytes.Buffer
	_, err := cli.CircleRemove(ctx, &out, cli.CircleRemoveOptions{DataDir: n.dir, LinkID: gone.LinkID, PIN: "1234", Output: cli.JSON})
	require.NoError(t, err, out.String())
	n.linkStatus(gone.LinkID, "DELINKED")
	goneUMN := n.circleShow(gone.LinkID).UMN
	eventually(t, func() bool { return n.bankMandate(goneUMN).GetStatus() == remitter.MandateRevoked }, "the removed link's mandate revoked")

	// A full link, accepted: LINKED with an ACTIVE mandate.
	full := n.circleLinkFull(alice, bob, "9000.00", "1234")
	n.invited(bob, full.LinkID)
	n.circleRespond(full.LinkID, true)
	n.linkStatus(full.LinkID, "LINKED")

	// A partial link, declined; and a full link whose mandate fails.
	declined := n.circleLink(alice, carol)
	n.invited(carol, declined.LinkID)
	n.circleRespond(declined.LinkID, false)
	n.linkStatus(declined.LinkID, "DECLINED")
	failed := n.circleLinkFull(alice, carol, "100.00", "9999")
	n.linkStatus(failed.LinkID, "FAILED")

	// bob pays from alice's account under the full link up to its ₹9,000
	// limit; one paisa more is refused QH.
	eventually(t, func() bool {
		s := findLink(n.circleList(bob, false), full.LinkID)
		return s != nil && s.Status == "LINKED"
	}, "LINKED at PSP(S)")
	var paid []string
	for _, amount := range []string{"5000.00", "3000.00", "1000.00"} {
		r, err := n.circlePay(bob, chai, amount)
		require.NoError(t, err)
		require.Equal(t, "SUCCESS", r.Status, "err_code %s", r.ErrCode)
		paid = append(paid, r.TxnID)
	}
	over, err := n.circlePay(bob, chai, "0.01")
	require.NoError(t, err)
	assert.Equal(t, "FAILURE", over.Status)
	assert.Equal(t, "QH", over.ErrCode, "the month's use is the limit")
	assert.Equal(t, int64(9000_00), n.circleShow(full.LinkID).UsedPaise)
	// carol, linked partially, pays once with alice's approval.
	partial := n.circleLink(alice, carol)
	n.invited(carol, partial.LinkID)
	n.circleRespond(partial.LinkID, true)
	n.linkStatus(partial.LinkID, "LINKED")
	eventually(t, func() bool {
		s := findLink(n.circleList(carol, false), partial.LinkID)
		return s != nil && s.Status == "LINKED"
	}, "the partial link LINKED at PSP(S)")
	pending := n.circlePayPartial(carol, chai, "100.00")
	require.Equal(t, "PENDING", pending.Status, pending.ErrCode)
	eventually(t, func() bool { return len(n.circleApprovals(alice)) == 1 }, "alice's approval")
	approved := n.circleApprove(pending.TxnID, "1234", false)
	require.Equal(t, "SUCCESS", approved.Status, "err_code %s", approved.ErrCode)
	eventually(t, func() bool {
		s := findLink(n.circleList(bob, false), full.LinkID)
		return s != nil && s.UsedPaise == 9000_00
	}, "PSP(S) counted the full link's payments")

	waitQuiet(t, n)
	r, text := n.auditSettled()
	require.True(t, r.OK, "the audit of a network with links and delegated payments must be clean:\n%s", text)
	require.Len(t, n.bankMandate(n.circleShow(full.LinkID).UMN).GetDebits(), 3, "the remitter counted the full link's payments, not the partial one")

	// ListCircleLinks pages through links then mandates, one at a time as
	// all at once.
	a, err := n.c.Admin("alphapsp")
	require.NoError(t, err)
	all, err := a.ListCircleLinks(ctx, &upiv1.AdminServiceListCircleLinksRequest{})
	require.NoError(t, err)
	assert.Empty(t, all.GetNextPageToken())
	var paged []*upiv1.CircleRecord
	for token := ""; ; {
		p, err := a.ListCircleLinks(ctx, &upiv1.AdminServiceListCircleLinksRequest{Limit: 1, PageToken: token})
		require.NoError(t, err)
		paged = append(paged, p.GetRecords()...)
		if token = p.GetNextPageToken(); token == "" {
			break
		}
	}
	require.Len(t, paged, len(all.GetRecords()))
	for i := range paged {
		assert.True(t, proto.Equal(all.GetRecords()[i], paged[i]), "record %d", i)
	}
	kinds := map[string]int{}
	for _, r := range paged {
		kinds[r.GetKind()+" "+r.GetSide()]++
	}
	assert.Equal(t, map[string]int{"LINK P": 5, "MANDATE payer": 3}, kinds, "alphapsp is PSP(P) of five links, three of them full")

	// PSP(S) says LINKED, PSP(P) and the switch DECLINED.
	links := store.NewTable[recordsv1.PspCircleLink](store.CircleLinks)
	n.update("betapsp", func(tx *store.Tx) error {
		l, ok, err := links.Get(tx, "S/"+declined.LinkID)
		require.NoError(t, err)
		require.True(t, ok, "betapsp keeps its side of the declined link")
		l.Status, l.ErrCode, l.Updated = "LINKED", "", store.Nanos(forgedAt)
		return links.Put(tx, "S/"+declined.LinkID, l)
	})
	// The removed link's mandate ACTIVE again at the remitter.
	n.update("abank", func(tx *store.Tx) error {
		m, ok, err := remitter.Mandates.Get(tx, goneUMN)
		require.NoError(t, err)
		require.True(t, ok)
		m.Status, m.Updated = remitter.MandateActive, store.Nanos(forgedAt)
		return remitter.Mandates.Put(tx, goneUMN, m)
	})
	// PSP(S) forgets a payment it counted against the full link.
	n.update("betapsp", func(tx *store.Tx) error {
		l, ok, err := links.Get(tx, "S/"+full.LinkID)
		require.NoError(t, err)
		require.True(t, ok)
		require.Len(t, l.Debits, 3)
		l.Debits = l.Debits[1:]
		return links.Put(tx, "S/"+full.LinkID, l)
	})
	r, text = n.auditSettled()
	t.Logf("upisim audit:\n%s", text)
	assert.False(t, r.OK)
	assert.NotEmpty(t, circleViolations(r, declined.LinkID, "betapsp", "DECLINED ZA", "PSP(S) betapsp says LINKED"), text)
	assert.NotEmpty(t, circleViolations(r, gone.LinkID, "abank", "DELINKED", goneUMN, "still ACTIVE"), text)
	assert.Empty(t, circleViolations(r, full.LinkID, ""), "the LINKED link is as it was")
	var usage []audit.Violation
	for _, v := range r.Violations {
		if v.Kind == audit.ViolationCircleUsage {
			usage = append(usage, v)
		}
	}
	require.Len(t, usage, 1, text)
	assert.Equal(t, paid[0], usage[0].TxnID)
	assert.Equal(t, "betapsp", usage[0].Node)
	assert.Contains(t, usage[0].Detail, "PSP(S) betapsp did not")
	assert.Len(t, r.Violations, 3, text)
}
