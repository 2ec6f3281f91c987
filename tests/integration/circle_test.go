package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/psp"
)

// circleShow is `upisim circle show LINK_ID -o json`, decoded.
func (n *net) circleShow(id string) cli.LinkResult {
	n.t.Helper()
	var out bytes.Buffer
	_, err := cli.CircleShow(context.Background(), &out, cli.CircleRefOptions{DataDir: n.dir, LinkID: id, Output: cli.JSON})
	require.NoError(n.t, err)
	var r cli.LinkResult
	require.NoError(n.t, json.Unmarshal(out.Bytes(), &r), out.String())
	return r
}

// circleList is `upisim circle list VPA -o json` (or invites), decoded.
func (n *net) circleList(vpa string, invites bool) []cli.LinkResult {
	n.t.Helper()
	var out bytes.Buffer
	o := cli.CircleListOptions{DataDir: n.dir, VPA: vpa, Output: cli.JSON}
	key := "links"
	var err error
	if invites {
		key = "invites"
		_, err = cli.CircleInvites(context.Background(), &out, o)
	} else {
		_, err = cli.CircleList(context.Background(), &out, o)
	}
	require.NoError(n.t, err)
	var got map[string]json.RawMessage
	require.NoError(n.t, json.Unmarshal(out.Bytes(), &got), out.String())
	var ls []cli.LinkResult
	require.NoError(n.t, json.Unmarshal(got[key], &ls), out.String())
	return ls
}

func (n *net) circleLink(primary, secondary string) cli.LinkResult {
	n.t.Helper()
	var out bytes.Buffer
	r, err := cli.CircleLink(context.Background(), &out, cli.CircleLinkOptions{
		DataDir: n.dir, Primary: primary, Secondary: secondary, Mode: "partial", Output: cli.JSON})
	require.NoError(n.t, err)
	var printed cli.LinkResult
	require.NoError(n.t, json.Unmarshal(out.Bytes(), &printed), out.String())
	assert.Equal(n.t, r, printed)
	return r
}

func (n *net) linkStatus(id string, want string) {
	n.t.Helper()
	eventually(n.t, func() bool { return n.circleShow(id).Status == want }, "link "+id+" "+want)
}

// circleUpdated waits for the update of link id under way at PSP(P) to end.
func (n *net) circleUpdated(id string) {
	n.t.Helper()
	eventually(n.t, func() bool { return n.circleShow(id).UpdateTxnID == "" }, "the update of "+id+" done")
}

func findLink(ls []cli.LinkResult, id string) *cli.LinkResult {
	for i := range ls {
		if ls[i].LinkID == id {
			return &ls[i]
		}
	}
	return nil
}

// A partial link alice@alpha → carol@beta over the network: the invite,
// accept (LINKED at both PSPs), a second primary refused CS, remove
// (DELINKED), and a decline (DECLINED).
func TestCirclePartialLink(t *testing.T) {
	n := up(t, nil)
	ctx := context.Background()
	const alice, carol = "alice@alpha", "carol@beta"

	l := n.circleLink(alice, carol)
	assert.Equal(t, "LINK_PENDING", l.Status)
	assert.Equal(t, "PARTIAL", l.Mode)
	assert.Equal(t, alice, l.PrimaryVPA)
	assert.Equal(t, carol, l.SecondaryVPA)
	eventually(t, func() bool { return findLink(n.circleList(carol, true), l.LinkID) != nil }, "carol's invite")

	var out bytes.Buffer
	acc, err := cli.CircleAccept(ctx, &out, cli.CircleRefOptions{DataDir: n.dir, LinkID: l.LinkID, Output: cli.JSON})
	require.NoError(t, err)
	assert.Equal(t, "LINKED", acc.Status, "at PSP(S)")
	n.linkStatus(l.LinkID, "LINKED") // at PSP(P)
	assert.Empty(t, n.circleList(carol, true), "no invite left")
	for _, vpa := range []string{alice, carol} {
		got := findLink(n.circleList(vpa, false), l.LinkID)
		require.NotNil(t, got, "%s's links", vpa)
		assert.Equal(t, "LINKED", got.Status, "%s's side", vpa)
	}

	// carol has a primary: bob may not link her (CS, decided by the switch).
	second := n.circleLink("bob@beta", carol)
	n.linkStatus(second.LinkID, "FAILED")
	assert.Equal(t, "CS", n.circleShow(second.LinkID).ErrCode)

	out.Reset()
	_, err = cli.CircleRemove(ctx, &out, cli.CircleRemoveOptions{DataDir: n.dir, LinkID: l.LinkID, Output: cli.JSON})
	require.NoError(t, err)
	n.linkStatus(l.LinkID, "DELINKED")
	eventually(t, func() bool {
		got := findLink(n.circleList(carol, false), l.LinkID)
		return got != nil && got.Status == "DELINKED"
	}, "DELINKED at PSP(S)")

	// Free again: a new invite, declined.
	d := n.circleLink(alice, carol)
	eventually(t, func() bool { return findLink(n.circleList(carol, true), d.LinkID) != nil }, "the second invite")
	out.Reset()
	dec, err := cli.CircleDecline(ctx, &out, cli.CircleRefOptions{DataDir: n.dir, LinkID: d.LinkID, Output: cli.JSON})
	require.NoError(t, err)
	assert.Equal(t, "DECLINED", dec.Status)
	n.linkStatus(d.LinkID, "DECLINED")
	assert.Equal(t, "ZA", n.circleShow(d.LinkID).ErrCode)

	// App-API validation.
	_, err = cli.CircleLink(ctx, &out, cli.CircleLinkOptions{DataDir: n.dir, Primary: alice, Secondary: alice, Mode: "partial"})
	assert.ErrorContains(t, err, "two users")
	_, err = cli.CircleShow(ctx, &out, cli.CircleRefOptions{DataDir: n.dir, LinkID: "ALP0123456789abcdef0123456789abcdef"})
	assert.Error(t, err)
}

// The REST routes of the Circle app API: create, show, invites, decline,
// and 400 for the same user on both sides, 404 for an unknown link.
func TestCircleREST(t *testing.T) {
	n := up(t, nil)
	tp, _ := n.c.Dir.Node("tpap")
	base := "http://" + tp.HTTPAddr
	code, _, got := rest(t, "POST", base+"/v1/circle/links",
		`{"primary_vpa":"alice@alpha","secondary_vpa":"carol@beta","mode":"PARTIAL"}`, jsonType)
	require.Equal(t, 200, code, "%v", got)
	link := got["link"].(map[string]any)
	id := link["link_id"].(string)
	assert.Equal(t, "LINK_PENDING", link["status"])

	eventually(t, func() bool {
		_, _, got := rest(t, "GET", base+"/v1/users/carol@beta/circle/invites", "", nil)
		ls, _ := got["links"].([]any)
		return len(ls) == 1
	}, "the invite over REST")
	code, _, got = rest(t, "POST", base+"/v1/circle/links/"+id+"/decline", `{}`, jsonType)
	require.Equal(t, 200, code, "%v", got)
	eventually(t, func() bool {
		_, _, got := rest(t, "GET", base+"/v1/circle/links/"+id, "", nil)
		l, _ := got["link"].(map[string]any)
		return l["status"] == "DECLINED" && l["err_code"] == "ZA"
	}, "DECLINED over REST")
	code, _, _ = rest(t, "GET", base+"/v1/users/alice@alpha/circle/links", "", nil)
	assert.Equal(t, 200, code)
	code, _, got = rest(t, "POST", base+"/v1/circle/links/"+id+"/update", `{"limit_paise":"10000","pin":"1234"}`, jsonType)
	assert.Equal(t, 409, code, "a partial link has no limit to update (FailedPrecondition): %v", got)
	assert.Contains(t, fmt.Sprint(got), "a partial link has no limit")

	code, _, _ = rest(t, "POST", base+"/v1/circle/links",
		`{"primary_vpa":"alice@alpha","secondary_vpa":"alice@alpha","mode":"PARTIAL"}`, jsonType)
	assert.Equal(t, 400, code)
	code, _, _ = rest(t, "POST", base+"/v1/circle/links", `{"primary_vpa":"alice","secondary_vpa":"carol@beta","mode":"PARTIAL"}`, jsonType)
	assert.Equal(t, 400, code)
	code, _, _ = rest(t, "GET", base+"/v1/circle/links/ALP0123456789abcdef0123456789abcdef", "", nil)
	assert.Equal(t, 404, code)
}

// circleLinkFull is `upisim circle link --mode full` with limit and PIN.
func (n *net) circleLinkFull(primary, secondary, limit, pin string) cli.LinkResult {
	n.t.Helper()
	var out bytes.Buffer
	r, err := cli.CircleLink(context.Background(), &out, cli.CircleLinkOptions{
		DataDir: n.dir, Primary: primary, Secondary: secondary, Mode: "full", Limit: limit, PIN: pin, Output: cli.JSON})
	require.NoError(n.t, err)
	return r
}

// A full link alice@alpha → carol@beta: the mandate first (ACTIVE at
// alphapsp with abank's signature, at betapsp without it, and at abank),
// then the invite; accepted, the link is LINKED with the mandate's UMN and
// limit. Removed, it is DELINKED and its mandate REVOKED everywhere. A
// full link the secondary declines revokes its mandate too, and one with a
// wrong PIN ends FAILED ZM with no invite sent.
func TestCircleFullLink(t *testing.T) {
	n := up(t, nil)
	ctx := context.Background()
	const alice, carol = "alice@alpha", "carol@beta"

	l := n.circleLinkFull(alice, carol, "12000.00", "1234")
	assert.Equal(t, "LINK_PENDING", l.Status)
	assert.Equal(t, "FULL", l.Mode)
	eventually(t, func() bool { return findLink(n.circleList(carol, true), l.LinkID) != nil }, "carol's invite, after the mandate")
	umn := n.circleShow(l.LinkID).UMN
	require.NotEmpty(t, umn, "the link has its mandate's UMN")
	m := n.mandateAt("alphapsp", umn)
	require.NotNil(t, m)
	assert.Equal(t, psp.MandateActive, m.GetStatus())
	assert.Equal(t, int64(12_000_00), m.GetAmountPaise())
	assert.NotEmpty(t, m.GetSignature(), "PSP(P) keeps the remitter's signature")
	eventually(t, func() bool { return n.mandateAt("betapsp", umn) != nil }, "betapsp has the mandate")
	assert.Empty(t, n.mandateAt("betapsp", umn).GetSignature(), "PSP(S) never has the signature")
	assert.Equal(t, "ACTIVE", n.bankMandate(umn).GetStatus())

	var out bytes.Buffer
	_, err := cli.CircleAccept(ctx, &out, cli.CircleRefOptions{DataDir: n.dir, LinkID: l.LinkID, Output: cli.JSON})
	require.NoError(t, err)
	n.linkStatus(l.LinkID, "LINKED")
	got := n.circleShow(l.LinkID)
	assert.Equal(t, umn, got.UMN)
	assert.Equal(t, int64(12_000_00), got.LimitPaise)

	// circle update to ₹8,000: the mandate UPDATE, then ReqDelegateAdd
	// UPDATE; both PSPs, the mandate and the remitter have the new limit.
	out.Reset()
	u, err := cli.CircleUpdate(ctx, &out, cli.CircleUpdateOptions{DataDir: n.dir, LinkID: l.LinkID, Limit: "8000.00", PIN: "1234", Output: cli.JSON})
	require.NoError(t, err)
	var printed cli.LinkResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &printed), out.String())
	assert.Equal(t, u, printed, "-o json prints the link")
	assert.Equal(t, "LINKED", u.Status, "LINKED while the update is under way")
	assert.Equal(t, int64(8_000_00), u.PendingLimitPaise)
	n.circleUpdated(l.LinkID)
	got = n.circleShow(l.LinkID)
	assert.Equal(t, "LINKED", got.Status)
	assert.Equal(t, int64(8_000_00), got.LimitPaise, "at PSP(P)")
	assert.Empty(t, got.ErrCode)
	eventually(t, func() bool {
		s := findLink(n.circleList(carol, false), l.LinkID)
		return s != nil && s.LimitPaise == 8_000_00
	}, "the new limit at PSP(S)")
	assert.Equal(t, int64(8_000_00), n.mandateAt("alphapsp", umn).GetAmountPaise())
	assert.Equal(t, psp.MandateActive, n.mandateAt("alphapsp", umn).GetStatus())
	assert.Equal(t, int64(8_000_00), n.bankMandate(umn).GetAmountPaise())
	eventually(t, func() bool { return n.mandateAt("betapsp", umn).GetAmountPaise() == 8_000_00 }, "the new amount at betapsp")

	// A wrong PIN: the remitter declines the mandate UPDATE; the link keeps
	// ₹8,000 and says ZM.
	out.Reset()
	_, err = cli.CircleUpdate(ctx, &out, cli.CircleUpdateOptions{DataDir: n.dir, LinkID: l.LinkID, Limit: "5000.00", PIN: "9999", Output: cli.JSON})
	require.NoError(t, err)
	n.circleUpdated(l.LinkID)
	got = n.circleShow(l.LinkID)
	assert.Equal(t, "LINKED", got.Status)
	assert.Equal(t, int64(8_000_00), got.LimitPaise)
	assert.Equal(t, "ZM", got.ErrCode)
	assert.Equal(t, int64(8_000_00), n.mandateAt("alphapsp", umn).GetAmountPaise())
	assert.Equal(t, int64(8_000_00), n.bankMandate(umn).GetAmountPaise())
	s := findLink(n.circleList(carol, false), l.LinkID)
	require.NotNil(t, s)
	assert.Equal(t, int64(8_000_00), s.LimitPaise, "PSP(S) heard nothing")

	out.Reset()
	_, err = cli.CircleRemove(ctx, &out, cli.CircleRemoveOptions{DataDir: n.dir, LinkID: l.LinkID, PIN: "1234", Output: cli.JSON})
	require.NoError(t, err)
	n.linkStatus(l.LinkID, "DELINKED")
	eventually(t, func() bool { return n.mandateAt("alphapsp", umn).GetStatus() == psp.MandateRevoked }, "the mandate revoked at PSP(P)")
	eventually(t, func() bool { return n.bankMandate(umn).GetStatus() == "REVOKED" }, "and at the remitter")

	// Declined: the mandate made for it is revoked.
	d := n.circleLinkFull(alice, carol, "", "1234")
	eventually(t, func() bool { return findLink(n.circleList(carol, true), d.LinkID) != nil }, "the second invite")
	dumn := n.circleShow(d.LinkID).UMN
	assert.Equal(t, int64(15_000_00), n.mandateAt("alphapsp", dumn).GetAmountPaise(), "no limit given: circle.full.monthly_limit")
	out.Reset()
	_, err = cli.CircleDecline(ctx, &out, cli.CircleRefOptions{DataDir: n.dir, LinkID: d.LinkID, Output: cli.JSON})
	require.NoError(t, err)
	n.linkStatus(d.LinkID, "DECLINED")
	eventually(t, func() bool { return n.bankMandate(dumn).GetStatus() == "REVOKED" }, "the declined link's mandate revoked")

	// A partial link has no limit to update.
	out.Reset()
	p := n.circleLink(alice, carol)
	_, err = cli.CircleUpdate(ctx, &out, cli.CircleUpdateOptions{DataDir: n.dir, LinkID: p.LinkID, Limit: "100.00", PIN: "1234"})
	assert.ErrorContains(t, err, "a partial link has no limit")

	// A wrong PIN: the remitter declines the mandate, and no invite goes.
	w := n.circleLinkFull(alice, carol, "100.00", "9999")
	n.linkStatus(w.LinkID, "FAILED")
	assert.Equal(t, "ZM", n.circleShow(w.LinkID).ErrCode)
	assert.Nil(t, findLink(n.circleList(carol, true), w.LinkID), "no invite for a link whose mandate failed")
}
