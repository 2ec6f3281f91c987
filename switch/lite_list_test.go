package upiswitch

import (
	"crypto/ed25519"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/upi"
)

// ListLite shows every LRN (not the device index) with its totals, and
// with records every counter of it with its outcome.
func TestLiteList(t *testing.T) {
	e := newEnv(t, nil)
	key := deviceKey(t)
	lrn := e.enable(key, 100000)
	ok := e.payLite(key, lrn, 1, 100000, chai, 15000)
	e.accept(methodRespAuth, payeeDetails(e, ok, chai, chaiAc, bobIFSC))
	e.answerLeg(ok, upiv1.Txn_CREDIT, "")
	e.liteResp(ok)
	bad := e.payLite(key, lrn, 2, 85000, chai, 5000)
	e.accept(methodRespAuth, payeeDetails(e, bad, chai, chaiAc, bobIFSC))
	e.answerLeg(bad, upiv1.Txn_CREDIT, "U31")
	e.liteResp(bad)
	other := e.register(getLite(e, "dev-2", key.Public().(ed25519.PublicKey), aliceIFSC)).GetLite().GetLrn()

	all, err := e.sw.ListLite("", false)
	require.NoError(t, err)
	require.Len(t, all, 2, "the two LRNs and not the device index")
	assert.Equal(t, lrn, all[0].GetLrn())
	assert.Equal(t, other, all[1].GetLrn())
	assert.Equal(t, lite.StatePending, all[1].GetState())
	assert.Empty(t, all[0].GetRecords())

	one, err := e.sw.ListLite(lrn, true)
	require.NoError(t, err)
	require.Len(t, one, 1)
	a := one[0]
	assert.Equal(t, e.net.Switch().Name, a.GetNode())
	assert.Equal(t, "abank", a.GetBank())
	assert.Equal(t, alice, a.GetVpa())
	assert.Equal(t, liteDevice, a.GetDeviceId())
	assert.Equal(t, lite.StateActive, a.GetState())
	assert.Equal(t, int64(85000), a.GetBalancePaise())
	assert.Equal(t, int64(100000), a.GetTopupsPaise())
	assert.Equal(t, int64(15000), a.GetOnlinePaise())
	assert.Equal(t, int64(15000), a.GetUnconfirmedPaise())
	assert.Equal(t, uint64(2), a.GetCounter())
	require.Len(t, a.GetRecords(), 2)
	r1, r2 := a.GetRecords()[0], a.GetRecords()[1]
	assert.Equal(t, uint64(1), r1.GetCounter())
	assert.Equal(t, upiv1.Resp_SUCCESS, r1.GetResult())
	assert.Equal(t, ok, r1.GetBatchTxnId())
	assert.Equal(t, e.record(ok).Rrn, r1.GetUtr())
	assert.Equal(t, int64(15000), r1.GetAmountPaise())
	assert.Equal(t, chai, r1.GetPayeeAddr())
	assert.Equal(t, upiv1.Resp_FAILURE, r2.GetResult())
	assert.Equal(t, upi.CodeCreditFailed, r2.GetErrCode())
	assert.Equal(t, bad, r2.GetBatchTxnId())

	none, err := e.sw.ListLite("ABNKL999999999999", true)
	require.NoError(t, err)
	assert.Empty(t, none)
}
