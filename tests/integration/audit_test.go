package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"google.golang.org/protobuf/proto"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/audit"
	"github.com/upisim/upisim/internal/cli"
	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// audit runs `upisim audit -o json` against the network.
func (n *net) audit() (cli.AuditResult, string, error) {
	n.t.Helper()
	var out bytes.Buffer
	r, err := cli.Audit(context.Background(), &out, cli.AuditOptions{DataDir: n.dir, Output: cli.JSON})
	return r, out.String(), err
}

// update runs fn in one transaction on the running node called name.
func (n *net) update(name string, fn func(tx *store.Tx) error) {
	n.t.Helper()
	nd, ok := n.nw.Node(name)
	require.True(n.t, ok, "node %s", name)
	require.NoError(n.t, nd.Node.Update(func(c *node.Ctx) error { return fn(c.Tx) }))
}

func TestAuditCleanNetwork(t *testing.T) {
	n := up(t, nil)
	assert.Equal(t, "SUCCESS", n.pay("alice@alpha", "bob@beta", "10.00", "1234").Status)
	assert.Equal(t, "SUCCESS", n.pay("alice@alpha", "chai@beta", "2.50", "1234").Status)
	assert.Equal(t, "SUCCESS", n.pay("bob@beta", "carol@beta", "1.00", "1234").Status) // on-us at betapsp and bbank
	assert.Equal(t, "ZM", n.pay("alice@alpha", "bob@beta", "10.00", "9999").ErrCode)
	assert.Equal(t, "U29", n.pay("alice@alpha", "nobody@beta", "10.00", "1234").ErrCode)
	assert.Equal(t, "U29", n.pay("alice@alpha", "bob@zeta", "10.00", "1234").ErrCode)
	approved := n.collect("alice@alpha", "bob@beta", "5.00")
	n.waitPrompt("alice@alpha", approved.TxnID)
	r, err := cli.Approve(context.Background(), io.Discard, cli.ApproveOptions{DataDir: n.dir, TxnID: approved.TxnID, PIN: "1234", Timeout: 20 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, "SUCCESS", r.Status)
	declined := n.collect("carol@beta", "alice@alpha", "5.00")
	n.waitPrompt("carol@beta", declined.TxnID)
	r, err = cli.Approve(context.Background(), io.Discard, cli.ApproveOptions{DataDir: n.dir, TxnID: declined.TxnID, Decline: true, Timeout: 20 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, "ZA", r.ErrCode)
	waiting := n.collect("alice@alpha", "bob@beta", "1.00") // left for its payer: not stuck before it expires
	n.waitPrompt("alice@alpha", waiting.TxnID)
	waitQuiet(t, n)

	res, out, err := n.audit()
	require.NoError(t, err, out)
	assert.True(t, res.OK)
	assert.Empty(t, res.Violations)
	assert.Equal(t, 9, res.Transactions)
	assert.Equal(t, 1, res.NonTerminal, "the collect waiting for alice")
	assert.Zero(t, res.InFlight)
	assert.Equal(t, n.base, res.TotalPaise)
	assert.Equal(t, n.base, res.OpeningTotalPaise)
	var js map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &js), out)
	assert.Equal(t, true, js["ok"])
	assert.Equal(t, []any{}, js["violations"])

	// The text form says the same.
	var text bytes.Buffer
	_, err = cli.Audit(context.Background(), &text, cli.AuditOptions{DataDir: n.dir})
	require.NoError(t, err)
	assert.Contains(t, text.String(), "transactions  9")

	// The switch's list is on REST too, a page at a time.
	sw := n.c.Dir.ByRole(config.RoleSwitch)[0]
	// ... to a holder of the admin token.
	resp, err := http.Get("http://" + sw.HTTPAddr + "/v1/admin/txns?limit=4")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	tok, err := cluster.ReadAdminToken(n.dir)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodGet, "http://"+sw.HTTPAddr+"/v1/admin/txns?limit=4", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var page struct {
		Transactions []map[string]any `json:"transactions"`
		Next         string           `json:"next_page_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
	assert.Len(t, page.Transactions, 4)
	assert.NotEmpty(t, page.Next)
	assert.Contains(t, page.Transactions[0], "payer_psp")

	// Over gRPC, page by page: every transaction once, in id order.
	a, err := n.c.Admin(sw.Name)
	require.NoError(t, err)
	var ids []string
	token := ""
	for {
		p, err := a.ListTransactions(context.Background(), &upiv1.ListTransactionsRequest{Limit: 2, PageToken: token})
		require.NoError(t, err)
		require.LessOrEqual(t, len(p.GetTransactions()), 2)
		for _, tx := range p.GetTransactions() {
			ids = append(ids, tx.GetTxnId())
		}
		if token = p.GetNextPageToken(); token == "" {
			break
		}
	}
	assert.Len(t, ids, 9)
	assert.IsIncreasing(t, ids)
	_, err = a.ListTransactions(context.Background(), &upiv1.ListTransactionsRequest{Limit: -1})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	// The app lists its records too (the audit holds them against the
	// switch); a node without a ledger answers Unimplemented for postings.
	tp, err := n.c.Admin("tpap")
	require.NoError(t, err)
	apps, err := tp.ListTransactions(context.Background(), &upiv1.ListTransactionsRequest{})
	require.NoError(t, err)
	assert.NotEmpty(t, apps.GetTransactions())
	_, err = tp.ListPostings(context.Background(), &upiv1.ListPostingsRequest{})
	assert.Equal(t, codes.Unimplemented, status.Code(err))
}

func TestAuditFindsViolations(t *testing.T) {
	n := up(t, nil)
	paid := n.pay("alice@alpha", "bob@beta", "10.00", "1234")
	require.Equal(t, "SUCCESS", paid.Status)
	waitQuiet(t, n)
	res, out, err := n.audit()
	require.NoError(t, err, out)
	require.True(t, res.OK)

	// Money out of nowhere at abank.
	const raw = "AUDIT-RAW-1"
	n.update("abank", func(tx *store.Tx) error {
		return ledger.Open(tx, &ledger.Account{AcNum: raw, Ifsc: "ABNK0000001", Name: "made up", Kind: ledger.KindCustomer, BalancePaise: 12345})
	})
	// Carol below zero at bbank (Bob makes up for it, so bbank's total and
	// the customers' total hold; were it bbank's settlement account, the
	// audit would also name the money customers lost).
	var carol, bob *ledger.Account
	n.update("bbank", func(tx *store.Tx) (err error) {
		if carol, err = ledger.ByVPA(tx, "carol@beta"); err != nil {
			return err
		}
		if bob, err = ledger.ByVPA(tx, "bob@beta"); err != nil {
			return err
		}
		c, b := proto.Clone(carol).(*ledger.Account), proto.Clone(bob).(*ledger.Account)
		c.BalancePaise, b.BalancePaise = -100, b.BalancePaise+carol.BalancePaise+100
		if err := tx.PutJSON(store.Accounts, c.AcNum, c); err != nil {
			return err
		}
		return tx.PutJSON(store.Accounts, b.AcNum, b)
	})
	// bbank forgets it credited the payment.
	var rec *ledger.TxnRecord
	n.update("bbank", func(tx *store.Tx) (err error) {
		var ok bool
		if rec, ok, err = ledger.GetTxn(tx, paid.TxnID); err != nil || !ok {
			return assert.AnError
		}
		forgot := proto.Clone(rec).(*ledger.TxnRecord)
		forgot.Credit = nil
		return ledger.PutTxn(tx, forgot)
	})

	res, out, err = n.audit()
	require.EqualError(t, err, "audit found 3 violations")
	assert.False(t, res.OK)
	byKind := map[string]audit.Violation{}
	for _, v := range res.Violations {
		byKind[v.Kind] = v
	}
	assert.Len(t, byKind, 3, out)
	assert.Equal(t, "abank", byKind[audit.ViolationConservation].Node)
	assert.Contains(t, byKind[audit.ViolationConservation].Detail, "(12345 paise) appeared")
	assert.Equal(t, n.base+12345, res.TotalPaise)
	assert.Equal(t, n.base, res.OpeningTotalPaise)
	assert.Equal(t, "bbank", byKind[audit.ViolationNegativeBalance].Node)
	assert.Contains(t, byKind[audit.ViolationNegativeBalance].Detail, "carol@beta")
	assert.Equal(t, paid.TxnID, byKind[audit.ViolationDisagreement].TxnID)
	assert.Contains(t, byKind[audit.ViolationDisagreement].Detail, "beneficiary bbank has no credit posted")

	// Put everything back: the audit is clean again.
	n.update("abank", func(tx *store.Tx) error { return tx.Delete(store.Accounts, []byte(raw)) })
	n.update("bbank", func(tx *store.Tx) error {
		if err := tx.PutJSON(store.Accounts, carol.AcNum, carol); err != nil {
			return err
		}
		if err := tx.PutJSON(store.Accounts, bob.AcNum, bob); err != nil {
			return err
		}
		return ledger.PutTxn(tx, rec)
	})
	res, out, err = n.audit()
	require.NoError(t, err, out)
	assert.True(t, res.OK)
}

func TestAuditNeedsTheNetwork(t *testing.T) {
	_, err := cli.Audit(context.Background(), io.Discard, cli.AuditOptions{DataDir: t.TempDir()})
	assert.Error(t, err)
}
