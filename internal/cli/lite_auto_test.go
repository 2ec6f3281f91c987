package cli

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

func (f *liteTPAP) SetLiteAutoTopUp(_ context.Context, r *upiv1.SetLiteAutoTopUpRequest) (*upiv1.LiteResult, error) {
	return f.answer(r)
}
func (f *liteTPAP) RevokeLiteAutoTopUp(_ context.Context, r *upiv1.RevokeLiteAutoTopUpRequest) (*upiv1.LiteResult, error) {
	return f.answer(r)
}

func TestLiteAutoTopUpCommand(t *testing.T) {
	tp := &liteTPAP{result: &upiv1.LiteResult{TxnId: "ALP1", Status: upiv1.Resp_SUCCESS, Lrn: "LRN1", DeviceBalancePaise: 100000}}
	data := liteNet(t, tp, nil)
	var out bytes.Buffer
	r, err := LiteAutoTopUp(t.Context(), &out, LiteAutoTopUpOptions{DataDir: data, DeviceID: "alice-phone", Threshold: "100.00", Amount: "500.00", PIN: "1234", Output: JSON})
	require.NoError(t, err)
	assert.NoError(t, LiteOutcome(r))
	assert.Equal(t, "SUCCESS", jsonKeys(t, out.Bytes())["status"])
	req := tp.last().(*upiv1.SetLiteAutoTopUpRequest)
	assert.Equal(t, []any{"alice-phone", int64(10000), int64(50000), "1234"}, []any{req.GetDeviceId(), req.GetThresholdPaise(), req.GetAmountPaise(), req.GetPin()})

	_, err = LiteAutoTopUp(t.Context(), &out, LiteAutoTopUpOptions{DataDir: data, DeviceID: "alice-phone", Off: true, Output: JSON})
	require.NoError(t, err)
	assert.Equal(t, "alice-phone", tp.last().(*upiv1.RevokeLiteAutoTopUpRequest).GetDeviceId())

	for name, o := range map[string]LiteAutoTopUpOptions{
		"no threshold":     {DeviceID: "d", Amount: "1.00", PIN: "1234"},
		"no amount":        {DeviceID: "d", Threshold: "1.00", PIN: "1234"},
		"no PIN":           {DeviceID: "d", Threshold: "1.00", Amount: "1.00"},
		"--off with a PIN": {DeviceID: "d", Off: true, PIN: "1234"},
		"no device":        {Threshold: "1.00", Amount: "1.00", PIN: "1234"},
	} {
		o.DataDir = data
		_, err := LiteAutoTopUp(t.Context(), &out, o)
		assert.Error(t, err, name)
	}

	// lite balance shows the mandate.
	tp.wallet = &upiv1.LiteWallet{DeviceId: "alice-phone", Vpa: "alice@alpha", AutoTopUp: &upiv1.LiteAutoTopUp{
		Umn: "LMD1", State: "ACTIVE", ThresholdPaise: 10000, AmountPaise: 50000, Today: 2, LastStatus: "FAILURE", LastErrCode: "LA"}}
	out.Reset()
	b, err := LiteBalance(t.Context(), &out, LiteDeviceOptions{DataDir: data, DeviceID: "alice-phone"})
	require.NoError(t, err)
	require.NotNil(t, b.AutoTopUp)
	assert.Equal(t, int32(2), b.AutoTopUp.Today)
	assert.Contains(t, out.String(), "ACTIVE ₹500.00 below ₹100.00 (LMD1; 2 today), last FAILURE LA")
	out.Reset()
	_, err = LiteBalance(t.Context(), &out, LiteDeviceOptions{DataDir: data, DeviceID: "alice-phone", Output: JSON})
	require.NoError(t, err)
	auto := jsonKeys(t, out.Bytes())["auto_top_up"].(map[string]any)
	assert.Equal(t, "ACTIVE", auto["state"])
	assert.Equal(t, 50000.0, auto["amount_paise"])
}
