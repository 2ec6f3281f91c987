package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
)

// nodeNet is a network file run as one `upisim node` process per node,
// each with its own data folder under root, on ports of its own.
type nodeNet struct {
	netw  *config.Network
	file  string
	root  string
	procs map[string]*server
	nw    network // dataDir is the TPAP's folder
}

// writeNetwork writes netw to a network file in a new folder, and names
// each node's data folder in it.
func writeNetwork(t *testing.T, netw *config.Network) (root, file string, dirs map[string]string) {
	t.Helper()
	raw, err := netw.Marshal()
	require.NoError(t, err)
	root = t.TempDir()
	file = filepath.Join(root, "network.yaml")
	require.NoError(t, os.WriteFile(file, raw, 0o644))
	dirs = map[string]string{}
	for _, nd := range netw.Nodes {
		dirs[nd.Name] = filepath.Join(root, nd.Name)
	}
	return root, file, dirs
}

// startNodes writes netw (given free ports) to a network file, shares its
// certificates and admin token, starts every node with args after its
// own, and waits until each is healthy.
func startNodes(t *testing.T, bin string, netw *config.Network, args ...string) *nodeNet {
	t.Helper()
	setAddrs(t, netw)
	root, file, dirs := writeNetwork(t, netw)
	sharePKI(t, bin, file, dirs)
	shareAdminToken(t, slices.Collect(maps.Values(dirs))...)
	n := &nodeNet{netw: netw, file: file, root: root, procs: map[string]*server{}}
	for _, nd := range netw.Nodes {
		s := newServer(t, nd.Name, bin, append([]string{"node", "--network", file, "--name", nd.Name,
			"--data", dirs[nd.Name], "--log-level", "warn"}, args...)...)
		s.start()
		n.procs[nd.Name] = s
	}
	for _, nd := range netw.Nodes {
		n.procs[nd.Name].waitHealthy(nd.GRPCAddr)
	}
	n.nw = networkOf(t, bin, dirs["tpap"])
	return n
}

// addr is the gRPC address of the node called name.
func (n *nodeNet) addr(t *testing.T, name string) string {
	t.Helper()
	nd, ok := n.netw.NodeByName(name)
	require.True(t, ok, "node %s", name)
	return nd.GRPCAddr
}

// stop stops every node with SIGTERM, each required to exit cleanly.
func (n *nodeNet) stop() {
	for _, s := range n.procs {
		s.stop()
	}
}

// app dials the TPAP's app API, as a user's app does.
func app(t *testing.T, nw network) upiv1.TpapAppServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(nw.tpap, appCreds(t, nw.dataDir), fastReconnect)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return upiv1.NewTpapAppServiceClient(conn)
}

// circleRecords is every UPI Circle record (links and mandates) the node
// at addr keeps, from its AdminService.
func circleRecords(ctx context.Context, a upiv1.AdminServiceClient) ([]*upiv1.CircleRecord, error) {
	var out []*upiv1.CircleRecord
	token := ""
	for {
		r, err := a.ListCircleLinks(ctx, &upiv1.AdminServiceListCircleLinksRequest{PageToken: token})
		if err != nil {
			return nil, err
		}
		out = append(out, r.GetRecords()...)
		if token = r.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
}

// circleRecord is the node's record of kind ("LINK", "MANDATE") and side
// for linkID, or nil.
func circleRecord(t *testing.T, a upiv1.AdminServiceClient, kind, side, linkID string) *upiv1.CircleRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs, err := circleRecords(ctx, a)
	require.NoError(t, err)
	for _, r := range recs {
		if r.GetKind() == kind && r.GetSide() == side && r.GetLinkId() == linkID {
			return r
		}
	}
	return nil
}

// linkUp links secondary to primary through the TPAP as the users would:
// the primary asks (FULL with limit and pin, or PARTIAL), the secondary
// finds the invite and accepts it; it waits until PSP(P) has the link
// LINKED and returns it.
func linkUp(t *testing.T, tp upiv1.TpapAppServiceClient, primary, secondary string, mode upiv1.Delegate_SubType, limit int64, pin string) *upiv1.CircleLink {
	t.Helper()
	id := askLink(t, tp, primary, secondary, mode, limit, pin)
	acceptInvite(t, tp, secondary, id)
	return waitLink(t, tp, id, upiv1.CircleLink_LINKED)
}

// askLink is the primary's CreateCircleLink; it returns the link id.
func askLink(t *testing.T, tp upiv1.TpapAppServiceClient, primary, secondary string, mode upiv1.Delegate_SubType, limit int64, pin string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := tp.CreateCircleLink(ctx, &upiv1.CreateCircleLinkRequest{PrimaryVpa: primary, SecondaryVpa: secondary, Mode: mode, LimitPaise: limit, Pin: pin})
	require.NoError(t, err, "link %s → %s", primary, secondary)
	require.Equal(t, upiv1.CircleLink_LINK_PENDING, r.GetLink().GetStatus())
	return r.GetLink().GetLinkId()
}

// acceptInvite waits for the invite id in the secondary's app and accepts it.
func acceptInvite(t *testing.T, tp upiv1.TpapAppServiceClient, secondary, id string) {
	t.Helper()
	require.Eventually(t, func() bool {
		r, err := tp.ListCircleInvites(context.Background(), &upiv1.ListCircleInvitesRequest{Vpa: secondary})
		if err != nil {
			return false
		}
		for _, l := range r.GetLinks() {
			if l.GetLinkId() == id {
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond, "invite %s reaches %s", id, secondary)
	_, err := tp.AcceptCircleLink(context.Background(), &upiv1.AcceptCircleLinkRequest{LinkId: id})
	require.NoError(t, err, "accept %s", id)
}

// waitLink waits until PSP(P)'s link id (GetCircleLink, as `circle show`)
// is want, and returns it.
func waitLink(t *testing.T, tp upiv1.TpapAppServiceClient, id string, want upiv1.CircleLink_Status) *upiv1.CircleLink {
	t.Helper()
	var last *upiv1.CircleLink
	require.Eventually(t, func() bool {
		r, err := tp.GetCircleLink(context.Background(), &upiv1.GetCircleLinkRequest{LinkId: id})
		if err != nil {
			return false
		}
		last = r.GetLink()
		return last.GetStatus() == want
	}, time.Minute, 20*time.Millisecond, "link %s becomes %s", id, want)
	return last
}

// secondaryLink is the secondary's own view of link id (ListCircleLinks
// at PSP(S), as `circle list SECONDARY`), or nil.
func secondaryLink(t *testing.T, tp upiv1.TpapAppServiceClient, secondary, id string) *upiv1.CircleLink {
	t.Helper()
	r, err := tp.ListCircleLinks(context.Background(), &upiv1.ListCircleLinksRequest{Vpa: secondary})
	require.NoError(t, err)
	for _, l := range r.GetLinks() {
		if l.GetLinkId() == id {
			return l
		}
	}
	return nil
}

// waitQuietAudit waits until `upisim audit` is clean with nothing open,
// and returns its report.
func waitQuietAudit(t *testing.T, nw network) auditReport {
	t.Helper()
	var rep auditReport
	var raw string
	pollUntil(t, 200*time.Millisecond, func() bool {
		rep, raw = audit(t, nw.bin, nw.dataDir)
		return rep.OK && rep.NonTerminal == 0 && rep.InFlight == 0
	}, func() string { return fmt.Sprintf("audit not clean after %s:\n%s", settleWithin, raw) })
	return rep
}

// pollUntil calls done in the test's goroutine every interval until it
// reports true, and fails the test with what() once settleWithin has
// passed without it.
func pollUntil(t *testing.T, interval time.Duration, done func() bool, what func() string) {
	t.Helper()
	deadline := time.NewTimer(settleWithin)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for !done() {
		select {
		case <-deadline.C:
			require.FailNow(t, what())
		case <-tick.C:
		}
	}
}

// circlePay is the secondary's CreateCirclePayment (no PIN); it returns
// the transaction id the TPAP picked.
func circlePay(t *testing.T, tp upiv1.TpapAppServiceClient, secondary, payee string, paise int64) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := tp.CreateCirclePayment(ctx, &upiv1.CreateCirclePaymentRequest{SecondaryVpa: secondary, PayeeVpa: payee, AmountPaise: paise, Note: "circle"})
	require.NoError(t, err, "%s pays %s under a link", secondary, payee)
	return r.GetTxnId()
}

// approveWhenAsked waits for the delegated payment id in the primary's
// approvals and approves it with pin.
func approveWhenAsked(t *testing.T, tp upiv1.TpapAppServiceClient, primary, id, pin string) {
	t.Helper()
	require.Eventually(t, func() bool {
		r, err := tp.ListCircleApprovals(context.Background(), &upiv1.ListCircleApprovalsRequest{Vpa: primary})
		if err != nil {
			return false
		}
		for _, x := range r.GetApprovals() {
			if x.GetTxnId() == id {
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond, "payment %s waits for %s's approval", id, primary)
	_, err := tp.ApproveCirclePayment(context.Background(), &upiv1.ApproveCirclePaymentRequest{TxnId: id, Pin: pin})
	require.NoError(t, err, "approve %s", id)
}

// finalPayment waits until the TPAP (GET /v1/payments/{txn_id}) has the
// payment id final, and returns it.
func finalPayment(t *testing.T, tp upiv1.TpapAppServiceClient, id string) *upiv1.GetPaymentResponse {
	t.Helper()
	var r *upiv1.GetPaymentResponse
	var err error
	pollUntil(t, 50*time.Millisecond, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err = tp.GetPayment(ctx, &upiv1.GetPaymentRequest{TxnId: id, WaitMs: 5000})
		return err == nil && isFinal(r.GetStatus())
	}, func() string {
		return fmt.Sprintf("payment %s final at the TPAP within %s (last: %v, %v)", id, settleWithin, r.GetStatus(), err)
	})
	return r
}

// txnAt is the node's summary of txn id (AdminService.ListTransactions),
// or nil.
func txnAt(t *testing.T, a upiv1.AdminServiceClient, id string) *upiv1.TxnSummary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	txns, err := listTxns(ctx, a)
	require.NoError(t, err)
	for _, x := range txns {
		if x.GetTxnId() == id {
			return x
		}
	}
	return nil
}
