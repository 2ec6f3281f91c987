package psp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/upi"
)

// The PSP passes a Lite mandate on: the set-up (71) with the PIN, a
// top-up under it (42) with the UMN and no PIN, and its revocation.
func TestLiteAutoTopUpPassesTheMandate(t *testing.T) {
	f := newFixture(t, alpha, nil)
	const umn = "LITEAUTOUMN1"
	resp, err := f.p.InitiatePay(t.Context(), &upiv1.InitiatePayRequest{PayerVpa: "alice@alpha", AmountPaise: 50000, Purpose: lite.PurposeAutoTopUpSetup,
		Cred: pintest.Opaque("1234", ""), Lite: &upiv1.LiteInfo{Lrn: testLRN, DeviceId: "alice-phone", Umn: umn, AutoThresholdPaise: 10000, AutoAmountPaise: 50000}})
	require.NoError(t, err)
	m := f.rec.WaitFor(t, upiv1.SwitchService_ReqPay_FullMethodName, resp.GetTransaction().GetTxnId()).Msg.(*upiv1.ReqPay)
	assert.Equal(t, lite.PurposeAutoTopUpSetup, m.GetTxn().GetPurpose())
	require.Len(t, m.GetPayer().GetCreds(), 1, "the set-up has the PIN")
	assert.Equal(t, testLRN+"@lite", m.GetPayee().GetAddr())
	assert.Equal(t, umn, m.GetLite().GetUmn())
	assert.Equal(t, int64(10000), m.GetLite().GetAutoThresholdPaise())
	assert.Equal(t, int64(50000), m.GetLite().GetAutoAmountPaise())

	resp, err = f.p.InitiatePay(t.Context(), &upiv1.InitiatePayRequest{PayerVpa: "alice@alpha", AmountPaise: 50000, Purpose: lite.PurposeTopUp,
		Lite: &upiv1.LiteInfo{Lrn: testLRN, DeviceId: "alice-phone", Umn: umn}})
	require.NoError(t, err)
	m = f.rec.WaitFor(t, upiv1.SwitchService_ReqPay_FullMethodName, resp.GetTransaction().GetTxnId()).Msg.(*upiv1.ReqPay)
	assert.Equal(t, lite.PurposeTopUp, m.GetTxn().GetPurpose())
	assert.Empty(t, m.GetPayer().GetCreds(), "under the mandate: no PIN")
	assert.Equal(t, "1000000001", m.GetPayer().GetAc().GetAcNum())
	assert.Equal(t, umn, m.GetLite().GetUmn())

	for name, req := range map[string]*upiv1.InitiatePayRequest{
		"a 42 with neither PIN nor mandate": {PayerVpa: "alice@alpha", AmountPaise: 100, Purpose: lite.PurposeTopUp,
			Lite: &upiv1.LiteInfo{Lrn: testLRN, DeviceId: "alice-phone"}},
		"a 42 with both": {PayerVpa: "alice@alpha", AmountPaise: 100, Purpose: lite.PurposeTopUp, Cred: pintest.Opaque("1234", ""),
			Lite: &upiv1.LiteInfo{Lrn: testLRN, DeviceId: "alice-phone", Umn: umn}},
		"a 71 without its threshold": {PayerVpa: "alice@alpha", AmountPaise: 100, Purpose: lite.PurposeAutoTopUpSetup, Cred: pintest.Opaque("1234", ""),
			Lite: &upiv1.LiteInfo{Lrn: testLRN, DeviceId: "alice-phone", Umn: umn, AutoAmountPaise: 100}},
		"a 71 without the PIN": {PayerVpa: "alice@alpha", AmountPaise: 100, Purpose: lite.PurposeAutoTopUpSetup,
			Lite: &upiv1.LiteInfo{Lrn: testLRN, DeviceId: "alice-phone", Umn: umn, AutoAmountPaise: 100, AutoThresholdPaise: 100}},
		"a 41 with a set-up": {PayerVpa: "alice@alpha", AmountPaise: 100, Purpose: lite.PurposeInitialTopUp, Cred: pintest.Opaque("1234", ""),
			Lite: &upiv1.LiteInfo{Lrn: testLRN, DeviceId: "alice-phone", AutoAmountPaise: 100}},
	} {
		_, err := f.p.InitiatePay(t.Context(), req)
		assert.Equal(t, codes.InvalidArgument, status.Code(err), name)
	}

	// The revocation: ReqChkTxn LITE_SYNC 71, its answer told as purpose 71.
	rv, err := f.p.DisableLite(t.Context(), &upiv1.DisableLiteRequest{UserVpa: "alice@alpha", DeviceId: "alice-phone", Lrn: testLRN, Umn: umn})
	require.NoError(t, err)
	id := rv.GetTxnId()
	c := f.rec.WaitFor(t, upiv1.SwitchService_ReqChkTxn_FullMethodName, id).Msg.(*upiv1.ReqChkTxn)
	assert.Equal(t, upiv1.Txn_LITE_SYNC, c.GetTxn().GetSubType())
	assert.Equal(t, lite.PurposeAutoTopUpSetup, c.GetTxn().GetPurpose())
	assert.Equal(t, umn, c.GetLite().GetUmn())
	assert.Equal(t, testLRN, c.GetLite().GetLrn())
	f.accept(upiv1.PspService_RespChkTxn_FullMethodName, &upiv1.RespChkTxn{Head: swHead(),
		Txn:  &upiv1.Txn{Id: id, Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_LITE_SYNC, Purpose: lite.PurposeAutoTopUpSetup},
		Resp: &upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeLiteUnknown}, Lite: &upiv1.LiteInfo{Lrn: testLRN, Umn: umn}})
	ns := f.notifications(id)
	require.Len(t, ns, 1)
	assert.Equal(t, upiv1.Notification_LITE_STATUS, ns[0].GetKind())
	assert.Equal(t, lite.PurposeAutoTopUpSetup, ns[0].GetTxn().GetPurpose())
	assert.Equal(t, upi.CodeLiteUnknown, ns[0].GetResp().GetErrCode())
	assert.Equal(t, umn, ns[0].GetLiteInfo().GetUmn())
}
