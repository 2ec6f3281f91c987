package tpap

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/lite"
)

func TestLiteAutoTopUpOnTheDevice(t *testing.T) {
	e, ln := newLiteEnv(t)
	lrn := e.enable(t, "alice@alpha", "alice-phone", 50_000).GetLrn()
	set := func(threshold, amount int64) (*upiv1.LiteResult, error) {
		return e.x.SetLiteAutoTopUp(t.Context(), &upiv1.SetLiteAutoTopUpRequest{DeviceId: "alice-phone",
			ThresholdPaise: threshold, AmountPaise: amount, Pin: "1234", WaitMs: waitLong})
	}
	for name, c := range map[string][2]int64{
		"no threshold": {0, 100}, "no amount": {100, 0}, "threshold at the limit": {500_000, 100}, "amount over the limit": {100, 500_001},
	} {
		_, err := set(c[0], c[1])
		assert.Equal(t, codes.InvalidArgument, status.Code(err), name)
	}
	_, err := e.x.RevokeLiteAutoTopUp(t.Context(), &upiv1.RevokeLiteAutoTopUpRequest{DeviceId: "alice-phone"})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "no mandate to revoke")

	// The set-up: 71 with the PIN and the mandate.
	res, err := set(10_000, 50_000)
	require.NoError(t, err)
	require.Equal(t, upiv1.Resp_SUCCESS, res.GetStatus(), "%v", res)
	assert.Equal(t, int64(100_000), res.GetDeviceBalancePaise())
	a := res.GetWallet().GetAutoTopUp()
	require.Equal(t, "ACTIVE", a.GetState(), "%v", a)
	list, err := e.x.ListLiteWallets(t.Context(), &upiv1.ListLiteWalletsRequest{Vpa: "alice@alpha"})
	require.NoError(t, err)
	require.Len(t, list.GetWallets(), 1)
	assert.Equal(t, a.GetUmn(), list.GetWallets()[0].GetAutoTopUp().GetUmn(), "the listing shows the mandate")
	pays := callsOf[*upiv1.InitiatePayRequest](e.psps["alphapsp"])
	p := pays[len(pays)-1]
	assert.Equal(t, lite.PurposeAutoTopUpSetup, p.GetPurpose())
	assert.NotNil(t, p.GetCred(), "the set-up has the PIN")
	assert.Equal(t, a.GetUmn(), p.GetLite().GetUmn())
	assert.Equal(t, []int64{10_000, 50_000}, []int64{p.GetLite().GetAutoThresholdPaise(), p.GetLite().GetAutoAmountPaise()})

	// A dip below the threshold: one top-up of the amount, no PIN.
	pay, err := e.x.PayLite(t.Context(), &upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "bob@beta", AmountPaise: 95_000, WaitMs: waitLong})
	require.NoError(t, err)
	require.Equal(t, upiv1.Resp_SUCCESS, pay.GetStatus())
	require.Eventually(t, func() bool {
		return e.wallet(t, "alice-phone").GetAutoTopUp().GetLastStatus() == upiv1.Resp_SUCCESS.String()
	}, 10*time.Second, 5*time.Millisecond)
	w := e.wallet(t, "alice-phone")
	assert.Equal(t, int64(55_000), w.GetDeviceBalancePaise())
	assert.Equal(t, ln.balance(lrn), w.GetDeviceBalancePaise())
	assert.Equal(t, int32(1), w.GetAutoTopUp().GetToday())
	pays = callsOf[*upiv1.InitiatePayRequest](e.psps["alphapsp"])
	p = pays[len(pays)-1]
	assert.Equal(t, lite.PurposeTopUp, p.GetPurpose())
	assert.Nil(t, p.GetCred(), "under the mandate: no PIN")
	assert.Equal(t, a.GetUmn(), p.GetLite().GetUmn())
	assert.Equal(t, int64(50_000), p.GetAmountPaise())
	assert.Equal(t, w.GetAutoTopUp().GetLastTxnId(), p.GetTxnId())

	// Revoked: at once on the device, then at the remitter; no more.
	rv, err := e.x.RevokeLiteAutoTopUp(t.Context(), &upiv1.RevokeLiteAutoTopUpRequest{DeviceId: "alice-phone", WaitMs: waitLong})
	require.NoError(t, err)
	assert.Equal(t, upiv1.Resp_SUCCESS, rv.GetStatus())
	assert.Equal(t, "REVOKED", rv.GetWallet().GetAutoTopUp().GetState())
	dis := callsOf[*upiv1.DisableLiteRequest](e.psps["alphapsp"])
	require.Len(t, dis, 1)
	assert.Equal(t, a.GetUmn(), dis[0].GetUmn())
	assert.Equal(t, lrn, dis[0].GetLrn())
	n := len(callsOf[*upiv1.InitiatePayRequest](e.psps["alphapsp"]))
	_, err = e.x.PayLite(t.Context(), &upiv1.PayLiteRequest{DeviceId: "alice-phone", PayeeVpa: "bob@beta", AmountPaise: 50_000, WaitMs: waitLong})
	require.NoError(t, err)
	assert.Len(t, callsOf[*upiv1.InitiatePayRequest](e.psps["alphapsp"]), n+1, "the payment only")
	assert.Equal(t, p.GetTxnId(), e.wallet(t, "alice-phone").GetAutoTopUp().GetLastTxnId())
	assert.Equal(t, int64(5_000), e.wallet(t, "alice-phone").GetDeviceBalancePaise())
}
