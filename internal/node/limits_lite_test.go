package node_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
)

// liteBatch is a full ReqLiteSync batch within every limit.
func liteBatch() *upiv1.ReqLiteSync {
	m := &upiv1.ReqLiteSync{
		Head: &upiv1.Head{Ver: "2.0", Ts: timestamppb.Now(), OrgId: "alphapsp", MsgId: "ALPmsg1", ProdType: "UPI"},
		Txn:  &upiv1.Txn{Id: "ALPtxn1", Type: upiv1.Txn_LITE_SYNC},
	}
	for i := range node.MaxLiteBatch {
		m.Records = append(m.Records, &upiv1.LiteRecord{
			Lrn: "LRN1", DeviceId: "dev1", Counter: uint64(i + 1), ProvisionalUtr: fmt.Sprintf("P%d", i),
			PayerAddr: "alice@alpha", PayeeAddr: "bob@beta", AmountPaise: 100, Ts: timestamppb.Now(),
			OrderId: "ordé", Signature: make([]byte, 64), DeviceBalancePaise: 5000,
			PayeeAc: &upiv1.Account{AcNum: "2000000001", Ifsc: "BBNK0000001", AcType: "SAVINGS"},
		})
	}
	return m
}

// A Lite batch's records are held to every limit a message's fields are
// (node checks them without reflection): each broken one is refused, with
// the field's path, whichever record breaks it.
func TestLimitsHoldInALiteBatch(t *testing.T) {
	require.NoError(t, node.CheckLimits(liteBatch()))
	unknown := protowire.AppendBytes(protowire.AppendTag(nil, 999, protowire.BytesType), make([]byte, 600))
	for _, tc := range []struct {
		name   string
		break_ func(r *upiv1.LiteRecord)
		want   string
	}{
		{"long lrn", func(r *upiv1.LiteRecord) { r.Lrn = strings.Repeat("L", 256) }, "records[%d].lrn is 256 bytes long; at most 255 are allowed"},
		{"control", func(r *upiv1.LiteRecord) { r.PayeeAddr = "bob\n@beta" }, "records[%d].payee_addr contains the control character U+000A"},
		{"C1 control", func(r *upiv1.LiteRecord) { r.OrderId = "o\u0085" }, "records[%d].order_id contains the control character U+0085"},
		{"DEL", func(r *upiv1.LiteRecord) { r.DeviceId = "d\x7f" }, "records[%d].device_id contains the control character U+007F"},
		{"not UTF-8", func(r *upiv1.LiteRecord) { r.PayerAddr = "a\xff" }, "records[%d].payer_addr is not valid UTF-8"},
		{"negative", func(r *upiv1.LiteRecord) { r.AmountPaise = -1 }, "records[%d].amount_paise -1 is negative"},
		{"balance", func(r *upiv1.LiteRecord) { r.DeviceBalancePaise = -5 }, "records[%d].device_balance_paise -5 is negative"},
		{"signature", func(r *upiv1.LiteRecord) { r.Signature = make([]byte, 2049) }, "records[%d].signature is 2049 bytes long; at most 2048 are allowed"},
		{"ts", func(r *upiv1.LiteRecord) { r.Ts = &timestamppb.Timestamp{Seconds: 1, Nanos: -1} }, "records[%d].ts has nanos -1, out of range 0..999999999"},
		{"payee ac", func(r *upiv1.LiteRecord) { r.PayeeAc.Ifsc = "B\tB" }, "records[%d].payee_ac.ifsc contains the control character U+0009"},
	} {
		for _, i := range []int{0, 517, node.MaxLiteBatch - 1} {
			m := liteBatch()
			tc.break_(m.Records[i])
			err := node.CheckLimits(m)
			var refusal *node.Refusal
			if assert.ErrorAs(t, err, &refusal, tc.name) {
				assert.EqualError(t, err, fmt.Sprintf(tc.want, i), tc.name)
			}
		}
	}

	// Unknown fields count over the whole batch, in records too.
	m := liteBatch()
	m.Records[3].ProtoReflect().SetUnknown(unknown)
	require.NoError(t, node.CheckLimits(m), "600 unknown bytes are allowed")
	m.Records[900].PayeeAc.ProtoReflect().SetUnknown(unknown)
	assert.EqualError(t, node.CheckLimits(m), "the message carries 1208 bytes of fields unknown to this node; at most 1024 are allowed")

	// The answers' results too.
	resp := &upiv1.RespLiteSync{Head: liteBatch().Head, Txn: &upiv1.Txn{Id: "ALPtxn1", Type: upiv1.Txn_LITE_SYNC}}
	for i := range node.MaxLiteBatch {
		resp.Results = append(resp.Results, &upiv1.LiteRecordResult{Counter: uint64(i + 1), Lrn: "LRN1", Result: upiv1.Resp_SUCCESS, AmountPaise: 100, DoubleSpends: []string{"B1"}})
	}
	require.NoError(t, node.CheckLimits(resp))
	resp.Results[700].Result = 9
	assert.EqualError(t, node.CheckLimits(resp), "results[700].result 9 is not a value of upi.v1.Resp.Result")
	resp.Results[700].Result = upiv1.Resp_FAILURE
	resp.Results[701].DoubleSpends = make([]string, 101)
	assert.EqualError(t, node.CheckLimits(resp), "results[701].double_spends has 101 elements; at most 100 are allowed")
	resp.Results[701].DoubleSpends = nil
	resp.Results[702].Reason = "r\x00"
	assert.EqualError(t, node.CheckLimits(resp), "results[702].reason contains the control character U+0000")
}
