package integration

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/pin"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/psp"
	"github.com/upisim/upisim/remitter"
)

// clusterNode is the running node called name.
func (n *net) clusterNode(name string) *cluster.Node {
	n.t.Helper()
	for _, nd := range n.nw.Nodes {
		if nd.Name == name {
			return nd
		}
	}
	n.t.Fatalf("no node %s", name)
	return nil
}

// switchKey is node's keys in the switch's key directory, once registered.
func (n *net) switchKey(node string) *recordsv1.SwitchNodeKey {
	n.t.Helper()
	var k *recordsv1.SwitchNodeKey
	eventually(n.t, func() bool {
		require.NoError(n.t, n.clusterNode("npci").Node.View(func(tx *store.Tx) (err error) {
			var ok bool
			k, ok, err = store.NewTable[recordsv1.SwitchNodeKey](store.NodeKeys).Get(tx, node)
			if !ok {
				k = nil
			}
			return err
		}))
		return k != nil
	}, "the switch has "+node+"'s keys")
	return k
}

// sealFor seals pinValue for txnID to abank's key from the switch's list,
// as the TPAP does.
func (n *net) sealFor(pinValue, txnID string) *upiv1.Cred {
	n.t.Helper()
	k := n.switchKey("abank")
	pub, err := ecdh.X25519().NewPublicKey(k.GetHpkeKey())
	require.NoError(n.t, err)
	c, err := pin.Seal(pub, k.GetKeyId(), pinValue, txnID, time.Now())
	require.NoError(n.t, err)
	return c
}

func (n *net) mandateAt(pspName, umn string) *upiv1.MandateInfo {
	n.t.Helper()
	q, err := cluster.PSPOf(n.clusterNode(pspName).Impl).QueryMandate(context.Background(), &upiv1.QueryMandateRequest{Umn: umn})
	if err != nil {
		return nil
	}
	return q.GetMandate()
}

func (n *net) bankMandate(umn string) *remitter.Mandate {
	n.t.Helper()
	var m *remitter.Mandate
	require.NoError(n.t, n.clusterNode("abank").Node.View(func(tx *store.Tx) (err error) {
		m, _, err = remitter.Mandates.Get(tx, umn)
		return err
	}))
	return m
}

// settled waits for alphapsp's mandate umn to leave CREATED (and any
// UPDATE/REVOKE to end) and returns it.
func (n *net) settledMandate(umn string) *upiv1.MandateInfo {
	n.t.Helper()
	var m *upiv1.MandateInfo
	eventually(n.t, func() bool {
		m = n.mandateAt("alphapsp", umn)
		return m != nil && m.GetStatus() != psp.MandateCreated && m.GetPendingTxnId() == ""
	}, "mandate "+umn+" decided")
	return m
}

func (n *net) createMandate(pinValue string, amount int64) *upiv1.MandateInfo {
	n.t.Helper()
	id := ids.NewTxnID("ALP")
	r, err := cluster.PSPOf(n.clusterNode("alphapsp").Impl).CreateMandate(context.Background(), &upiv1.CreateMandateRequest{
		TxnId: id, PayerVpa: "alice@alpha", PayeeVpa: "carol@beta", AmountPaise: amount, Cred: n.sealFor(pinValue, id),
	})
	require.NoError(n.t, err)
	return n.settledMandate(r.GetMandate().GetUmn())
}

func TestMandate(t *testing.T) {
	n := up(t, nil)
	m := n.createMandate("1234", 1_500_000)
	require.Equal(t, psp.MandateActive, m.GetStatus(), "err_code %s", m.GetErrCode())
	require.NotEmpty(t, m.GetSignature())

	// The signature is abank's, by its key in the switch's list, over the
	// mandate as alphapsp sent it.
	key := ed25519.PublicKey(n.switchKey("abank").GetSignKey())
	signed := &upiv1.Mandate{
		Name: "UPI Circle", Umn: m.GetUmn(), ValidityStart: m.GetValidityStart(), ValidityEnd: m.GetValidityEnd(),
		AmountPaise: m.GetAmountPaise(), AmountRule: upiv1.Mandate_MAX, Recurrence: upiv1.Mandate_ASPRESENTED, Revokeable: true,
	}
	assert.True(t, remitter.VerifyMandate(key, signed, m.GetSignature()))

	// betapsp (PSP(S)) has it, without signature.
	var s *upiv1.MandateInfo
	eventually(t, func() bool {
		s = n.mandateAt("betapsp", m.GetUmn())
		return s != nil && s.GetStatus() == psp.MandateActive
	}, "betapsp has the mandate")
	assert.Empty(t, s.GetSignature())
	assert.Equal(t, "payee", s.GetRole())

	b := n.bankMandate(m.GetUmn())
	require.NotNil(t, b)
	assert.Equal(t, remitter.MandateActive, b.GetStatus())
	assert.False(t, b.GetHold())

	// A wrong PIN: ZM; over ₹15,000: QK.
	bad := n.createMandate("9999", 1_000_000)
	assert.Equal(t, psp.MandateFailure, bad.GetStatus())
	assert.Equal(t, "ZM", bad.GetErrCode())
	over := n.createMandate("1234", 1_500_001)
	assert.Equal(t, psp.MandateFailure, over.GetStatus())
	assert.Equal(t, "QK", over.GetErrCode())

	// Revoke: REVOKED at PSP(P) and the remitter.
	_, err := cluster.PSPOf(n.clusterNode("alphapsp").Impl).RevokeMandate(context.Background(), &upiv1.RevokeMandateRequest{
		TxnId: ids.NewTxnID("ALP"), Umn: m.GetUmn(),
	})
	require.NoError(t, err)
	assert.Equal(t, psp.MandateRevoked, n.settledMandate(m.GetUmn()).GetStatus())
	assert.Equal(t, remitter.MandateRevoked, n.bankMandate(m.GetUmn()).GetStatus())
	eventually(t, func() bool { return n.mandateAt("betapsp", m.GetUmn()).GetStatus() == psp.MandateRevoked }, "betapsp revoked")
}
