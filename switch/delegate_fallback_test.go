package upiswitch

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// mandateState is the switch's registry entry of umn, or nil.
func (e *env) mandateState(umn string) *recordsv1.SwitchMandateState {
	e.t.Helper()
	var st *recordsv1.SwitchMandateState
	require.NoError(e.t, e.n.View(func(tx *store.Tx) error {
		var err error
		st, _, err = mandates.Get(tx, umn)
		return err
	}))
	return st
}

// The registry follows the mandate flows the switch decided: a CREATE
// leaves the UMN ACTIVE with its validity, a REVOKE REVOKED; a FAILURE
// changes nothing.
func TestMandateRegistry(t *testing.T) {
	e := newEnv(t, nil)
	link := ids.NewTxnID("ALP")
	e.mandateFlow(link, upiv1.Txn_CREATE, "")
	st := e.mandateState(testUMN)
	require.NotNil(t, st)
	assert.Equal(t, mandateActive, st.GetStatus())
	assert.Equal(t, link, st.GetTxnId())
	assert.NotEmpty(t, st.GetValidityEnd())
	end := st.GetValidityEnd()

	e.mandateFlow(ids.NewTxnID("ALP"), upiv1.Txn_REVOKE, "QC")
	assert.Equal(t, mandateActive, e.mandateState(testUMN).GetStatus(), "a declined REVOKE leaves it")
	revoke := ids.NewTxnID("ALP")
	e.mandateFlow(revoke, upiv1.Txn_REVOKE, "")
	st = e.mandateState(testUMN)
	assert.Equal(t, mandateRevoked, st.GetStatus())
	assert.Equal(t, revoke, st.GetTxnId())
	assert.Equal(t, end, st.GetValidityEnd(), "kept from the CREATE")
}

// A FULL delegated payment whose mandate the registry has REVOKED: the
// switch forwards it, takes PSP(P)'s ReqPay with the primary's PIN block
// and no mandate (the primary approved it), and, when PSP(P) is silent,
// waits circle.approval_expiry + timeouts.auth_details and ends it U69 (a
// FULL one with an ACTIVE mandate ends U09 at auth_details:
// TestDelegatedPayPrimaryPSPSilent).
func TestDelegatedPayMandateNotActive(t *testing.T) {
	e := newEnv(t, nil)
	e.linkedInRegistry(linkLinked)
	require.NoError(t, e.n.Update(func(c *node.Ctx) error {
		return mandates.Put(c.Tx, testUMN, &recordsv1.SwitchMandateState{Umn: testUMN, Status: mandateRevoked,
			ValidityStart: "01012020", ValidityEnd: "31122099"})
	}))

	id := ids.NewTxnID("BET")
	e.accept(upiv1.SwitchService_ReqDelegateAuth_FullMethodName, delegateAuth(e, id, bob, 200_00))
	e.await(reqDelegateAuth, id, upiv1.Txn_TYPE_UNSPECIFIED, 1)
	noPIN := pay(e, id, bob, 200_00)
	noPIN.Txn.Purpose, noPIN.Payer.Creds = "87", nil
	assert.Contains(t, e.receive(upiv1.SwitchService_ReqPay_FullMethodName, noPIN).GetErr(), "PIN block")
	approved := pay(e, id, bob, 200_00)
	approved.Txn.Purpose = "87"
	e.accept(upiv1.SwitchService_ReqPay_FullMethodName, approved)
	e.await(upiv1.PspService_ReqAuthDetails_FullMethodName, id, upiv1.Txn_PAY, 1)
	e.accept(upiv1.SwitchService_RespAuthDetails_FullMethodName, payeeDetails(e, id, bob, bobAc, bobIFSC))
	debit := e.answerLeg(id, upiv1.Txn_DEBIT, "").Msg.(*upiv1.ReqPay)
	assert.NotEmpty(t, debit.GetPayer().GetCreds(), "the primary's PIN block")
	assert.Nil(t, debit.GetMandate(), "no mandate behind it")

	wait := e.net.Circle.ApprovalExpiry + e.net.Timeouts.AuthDetails
	id2 := ids.NewTxnID("BET")
	e.accept(upiv1.SwitchService_ReqDelegateAuth_FullMethodName, delegateAuth(e, id2, bob, 100_00))
	e.await(reqDelegateAuth, id2, upiv1.Txn_TYPE_UNSPECIFIED, 1)
	start := e.clock.Now()
	e.advance(e.net.Timeouts.AuthDetails + time.Second)
	assert.Empty(t, e.sent(respDelegateAuth, id2, upiv1.Txn_TYPE_UNSPECIFIED), "no U09: the primary is being asked")
	e.advance(wait - e.since(start) - time.Millisecond)
	assert.Empty(t, e.sent(respDelegateAuth, id2, upiv1.Txn_TYPE_UNSPECIFIED), "not before its time")
	ans := e.await(respDelegateAuth, id2, upiv1.Txn_TYPE_UNSPECIFIED, 1)
	assert.Equal(t, wait, e.since(start))
	assert.Equal(t, "U69", ans.Msg.(*upiv1.RespDelegateAuth).GetResp().GetErrCode())
}

// mandateFlow runs a mandate flow of type t for testUMN to its end, the
// remitter answering code ("" for SUCCESS).
func (e *env) mandateFlow(id string, t upiv1.Txn_Type, code string) {
	e.t.Helper()
	m := reqMandateMsg(e, id, testUMN, carol)
	m.Txn.Type = t
	if t != upiv1.Txn_CREATE {
		m.Txn.OrgTxnId = ids.NewTxnID("ALP")
	}
	if t == upiv1.Txn_REVOKE {
		m.Payer.Creds, m.Mandate.AmountPaise = nil, 0
	}
	e.accept(upiv1.SwitchService_ReqMandate_FullMethodName, m)
	e.await(upiv1.PspService_ReqAuthMandate_FullMethodName, id, t, 1)
	e.accept(upiv1.SwitchService_RespAuthMandate_FullMethodName, &upiv1.RespAuthMandate{
		Head: e.head("betapsp"), Txn: &upiv1.Txn{Id: id, Type: t},
		Payee: &upiv1.Party{Addr: carol, Name: "Carol"}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	})
	rem := e.await(upiv1.RemitterService_ReqMandate_FullMethodName, id, t, 1)
	resp := &upiv1.Resp{Result: upiv1.Resp_SUCCESS}
	if code != "" {
		resp = &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: code}
	}
	e.accept(upiv1.SwitchService_RespMandate_FullMethodName, &upiv1.RespMandate{
		Head: e.head("abank"), Txn: &upiv1.Txn{Id: id, Type: t}, Mandate: rem.Msg.(*upiv1.ReqMandate).GetMandate(), Resp: resp,
	})
	e.await(upiv1.PspService_RespMandate_FullMethodName, id, t, 1)
}

// The registry's view of a mandate: ACTIVE within its validity (IST days,
// both ends included); REVOKED, or past validity_end, is not active; a
// UMN the switch never decided is left to PSP(P).
func TestMandateActiveAt(t *testing.T) {
	e := newEnv(t, nil)
	ist := time.FixedZone("IST", 5*3600+1800)
	day := time.Date(2026, 12, 2, 12, 0, 0, 0, ist)
	require.NoError(t, e.n.Update(func(c *node.Ctx) error {
		if err := mandates.Put(c.Tx, "A@alpha", &recordsv1.SwitchMandateState{Umn: "A@alpha", Status: mandateActive, ValidityStart: "01122026", ValidityEnd: "02122026"}); err != nil {
			return err
		}
		return mandates.Put(c.Tx, "R@alpha", &recordsv1.SwitchMandateState{Umn: "R@alpha", Status: mandateRevoked, ValidityStart: "01122026", ValidityEnd: "31122027"})
	}))
	active := func(umn string, at time.Time) bool {
		t.Helper()
		var ok bool
		require.NoError(t, e.n.View(func(tx *store.Tx) (err error) { ok, err = mandateActiveAt(tx, umn, at); return err }))
		return ok
	}
	assert.True(t, active("A@alpha", day), "on validity_end")
	assert.False(t, active("A@alpha", day.AddDate(0, 0, 1)), "the day after")
	assert.False(t, active("A@alpha", day.AddDate(0, 0, -2)), "before validity_start")
	assert.False(t, active("R@alpha", day), "revoked")
	assert.True(t, active("N@alpha", day), "never decided here")
}
