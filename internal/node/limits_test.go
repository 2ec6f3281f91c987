package node_test

import (
	"context"
	"fmt"
	"github.com/upisim/upisim/internal/upi"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/store"
)

// reqPay is a well-formed PAY as a PSP sends it to the switch.
func reqPay() *upiv1.ReqPay {
	id := ids.NewTxnID("ALP")
	return &upiv1.ReqPay{
		Head: &upiv1.Head{Ver: "2.0", Ts: timestamppb.Now(), OrgId: "alphapsp", MsgId: ids.NewMsgID("ALP"), ProdType: "UPI"},
		Txn:  &upiv1.Txn{Id: id, Type: upiv1.Txn_PAY, Note: "lunch", Ts: timestamppb.Now(), Purpose: "00"},
		Payer: &upiv1.Party{
			Addr: "alice@alpha", Name: "Alice", Type: upiv1.Party_PERSON, Code: "0000",
			Ac:          &upiv1.Account{AcNum: "1000000001", Ifsc: "ABNK0000001"},
			Creds:       []*upiv1.Cred{pintest.Opaque("1234", id)},
			AmountPaise: 25000, Currency: "INR",
		},
		Payee: &upiv1.Party{Addr: "bob@beta", AmountPaise: 25000},
	}
}

// assertNothingStored checks that n kept no trace of a refused message:
// no inbox entry, no trace record, nothing queued, no state.
func assertNothingStored(t *testing.T, n *node.Node, h *counter) {
	t.Helper()
	assert.EqualValues(t, 0, h.calls.Load(), "the handler must not run")
	for _, b := range []store.Bucket{store.Inbox, store.Trace, store.TraceByTxn, store.TraceAcks, store.Outbox, store.Meta, store.Txns, store.Timers} {
		assert.Equal(t, 0, keys(t, n, b), "bucket %s", b)
	}
}

func TestReceiveRefusesWhatBreaksTheLimits(t *testing.T) {
	const method = upiv1.SwitchService_ReqPay_FullMethodName
	unknownField := func(size int) []byte {
		b := protowire.AppendTag(nil, 999, protowire.BytesType)
		return protowire.AppendBytes(b, make([]byte, size))
	}
	tests := []struct {
		name   string
		mutate func(m *upiv1.ReqPay)
		want   string // "" means accepted
	}{
		// Head.
		{"org_id with a space", func(m *upiv1.ReqPay) { m.Head.OrgId = "alpha psp" },
			`head.org_id "alpha psp" is not a node name (1 to 32 letters, digits, '-' or '_')`},
		{"org_id with a NUL", func(m *upiv1.ReqPay) { m.Head.OrgId = "alphapsp\x00" },
			`head.org_id "alphapsp\x00" is not a node name (1 to 32 letters, digits, '-' or '_')`},
		{"org_id too long", func(m *upiv1.ReqPay) { m.Head.OrgId = strings.Repeat("a", 33) }, "is not a node name"},
		{"org_id of 32 characters", func(m *upiv1.ReqPay) { m.Head.OrgId = strings.Repeat("a", 32) }, ""},

		// Strings.
		{"note of 50 characters (100 bytes)", func(m *upiv1.ReqPay) { m.Txn.Note = strings.Repeat("é", 50) }, ""},
		{"note of 51 characters", func(m *upiv1.ReqPay) { m.Txn.Note = strings.Repeat("n", 51) },
			"txn.note is 51 characters long; at most 50 are allowed"},
		{"note of 100 KiB", func(m *upiv1.ReqPay) { m.Txn.Note = strings.Repeat("n", 100<<10) },
			"txn.note is 102400 characters long; at most 50 are allowed"},
		{"name of 99 characters", func(m *upiv1.ReqPay) { m.Payer.Name = strings.Repeat("अ", 99) }, ""},
		{"name of 100 characters", func(m *upiv1.ReqPay) { m.Payer.Name = strings.Repeat("a", 100) },
			"payer.name is 100 characters long; at most 99 are allowed"},
		{"ref_url of 256 bytes", func(m *upiv1.ReqPay) { m.Txn.RefUrl = "https://x/" + strings.Repeat("u", 246) },
			"txn.ref_url is 256 bytes long; at most 255 are allowed"},
		{"cred data of 2049 bytes", func(m *upiv1.ReqPay) { m.Payer.Creds[0].Data = strings.Repeat("f", 2049) },
			"payer.creds[0].data is 2049 bytes long; at most 2048 are allowed"},
		{"invalid UTF-8", func(m *upiv1.ReqPay) { m.Txn.Note = "caf\xe9" }, "txn.note is not valid UTF-8"},
		{"terminal escape in a name", func(m *upiv1.ReqPay) { m.Payee.Name = "Bob\x1b[2J" },
			"payee.name contains the control character U+001B"},
		{"newline in a VPA", func(m *upiv1.ReqPay) { m.Payee.Addr = "bob@beta\n" },
			"payee.addr contains the control character U+000A"},

		// Enums.
		{"txn.type 999", func(m *upiv1.ReqPay) { m.Txn.Type = 999 }, "txn.type 999 is not a value of upi.v1.Txn.Type"},
		{"txn.sub_type -1", func(m *upiv1.ReqPay) { m.Txn.SubType = -1 }, "txn.sub_type -1 is not a value of upi.v1.Txn.Type"},
		{"party.type 7", func(m *upiv1.ReqPay) { m.Payer.Type = 7 }, "payer.type 7 is not a value of upi.v1.Party.Type"},
		{"mandate amount rule 3", func(m *upiv1.ReqPay) { m.Mandate = &upiv1.Mandate{AmountRule: 3} },
			"mandate.amount_rule 3 is not a value of upi.v1.Mandate.AmountRule"},

		// Amounts.
		{"negative amount", func(m *upiv1.ReqPay) { m.Payer.AmountPaise, m.Payee.AmountPaise = -1, 0 },
			"payer.amount_paise -1 is negative"},
		{"most negative amount", func(m *upiv1.ReqPay) { m.Payer.AmountPaise, m.Payee.AmountPaise = math.MinInt64, 0 },
			"payer.amount_paise -9223372036854775808 is negative"},
		{"the largest amount", func(m *upiv1.ReqPay) {
			m.Payer.AmountPaise, m.Payee.AmountPaise = upi.MaxAmountPaise, upi.MaxAmountPaise
		}, ""},
		{"above the largest amount", func(m *upiv1.ReqPay) { m.Payer.AmountPaise, m.Payee.AmountPaise = upi.MaxAmountPaise+1, 0 },
			"payer.amount_paise 1000000000001 is more than the largest amount, 10000000000.00 rupees"},
		{"an amount that overflows when added", func(m *upiv1.ReqPay) { m.Payer.AmountPaise, m.Payee.AmountPaise = math.MaxInt64, 0 },
			"payer.amount_paise 9223372036854775807 is more than the largest amount"},
		{"payer and payee amounts differ", func(m *upiv1.ReqPay) { m.Payee.AmountPaise = 25001 },
			"payer.amount_paise 25000 differs from payee.amount_paise 25001: a transaction has one amount"},
		{"only the payee's amount", func(m *upiv1.ReqPay) { m.Payer.AmountPaise = 0 }, ""},
		{"negative mandate amount", func(m *upiv1.ReqPay) {
			m.Mandate = &upiv1.Mandate{AmountPaise: -100}
		}, "mandate.amount_paise -100 is negative"},

		// Expiry, timestamps.
		{"expiry of 45 days", func(m *upiv1.ReqPay) { m.Txn.ExpireAfterMinutes = node.MaxExpireMinutes }, ""},
		{"expiry beyond 45 days", func(m *upiv1.ReqPay) { m.Txn.ExpireAfterMinutes = node.MaxExpireMinutes + 1 },
			"txn.expire_after_minutes 64801 is out of range 0..64800 (45 days)"},
		{"expiry that overflows a Duration", func(m *upiv1.ReqPay) { m.Txn.ExpireAfterMinutes = math.MaxInt32 },
			"txn.expire_after_minutes 2147483647 is out of range"},
		{"negative expiry", func(m *upiv1.ReqPay) { m.Txn.ExpireAfterMinutes = -1 }, "txn.expire_after_minutes -1 is out of range"},
		{"txn.ts beyond what JSON can encode", func(m *upiv1.ReqPay) { m.Txn.Ts = &timestamppb.Timestamp{Seconds: 1e15} },
			"txn.ts (1000000000000000 seconds since 1970) is not between 1970 and 3000"},
		{"head.ts of a zero time.Time", func(m *upiv1.ReqPay) { m.Head.Ts = timestamppb.New(time.Time{}) },
			"head.ts (-62135596800 seconds since 1970) is not between 1970 and 3000"},
		{"head.ts with bad nanos", func(m *upiv1.ReqPay) { m.Head.Ts = &timestamppb.Timestamp{Seconds: 1, Nanos: -1} },
			"head.ts has nanos -1, out of range 0..999999999"},
		{"zero Timestamp", func(m *upiv1.ReqPay) { m.Txn.Ts = &timestamppb.Timestamp{} }, ""},

		// Repeated and unknown fields.
		{"100 creds", func(m *upiv1.ReqPay) {
			for len(m.Payer.Creds) < node.MaxRepeated {
				m.Payer.Creds = append(m.Payer.Creds, &upiv1.Cred{Type: "OTP"})
			}
		}, ""},
		{"101 creds", func(m *upiv1.ReqPay) {
			for len(m.Payer.Creds) <= node.MaxRepeated {
				m.Payer.Creds = append(m.Payer.Creds, &upiv1.Cred{Type: "OTP"})
			}
		}, "payer.creds has 101 elements; at most 100 are allowed"},
		{"a small unknown field", func(m *upiv1.ReqPay) { m.ProtoReflect().SetUnknown(unknownField(100)) }, ""},
		{"2 KiB of unknown fields, nested", func(m *upiv1.ReqPay) {
			m.Txn.ProtoReflect().SetUnknown(unknownField(1000))
			m.Payer.Ac.ProtoReflect().SetUnknown(unknownField(1000))
		}, "the message carries 2008 bytes of fields unknown to this node; at most 1024 are allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &counter{}
			n := nodetest.New(t, "npci", h, nodetest.NewRecorder())
			m := reqPay()
			tc.mutate(m)
			ack, err := n.Receive(context.Background(), method, m)
			require.NoError(t, err)
			assert.Equal(t, "ReqPay", ack.GetApi())
			assert.Equal(t, m.GetHead().GetMsgId(), ack.GetReqMsgId())
			if tc.want == "" {
				assert.Empty(t, ack.GetErr())
				assert.EqualValues(t, 1, count(t, n, "applied"))
				return
			}
			assert.Contains(t, ack.GetErr(), tc.want)
			assertNothingStored(t, n, h)

			// The same message again is refused again, the same way.
			again, err := n.Receive(context.Background(), method, proto.Clone(m).(node.Message))
			require.NoError(t, err)
			assert.Equal(t, ack.GetErr(), again.GetErr())
			assertNothingStored(t, n, h)
		})
	}
}

// Every message type is walked: a limit holds in a Notification as in a
// ReqPay, down to a RespLiteSync inside it.
func TestLimitsHoldInEveryMessage(t *testing.T) {
	n := notification("alphapsp")
	require.NoError(t, node.CheckLimits(n))

	n.Resp.Refs = []*upiv1.Ref{{RegName: strings.Repeat("r", 100)}}
	assert.EqualError(t, node.CheckLimits(n), "resp.refs[0].reg_name is 100 characters long; at most 99 are allowed")

	n = notification("alphapsp")
	n.Kind = 42
	assert.EqualError(t, node.CheckLimits(n), "kind 42 is not a value of upi.v1.Notification.Kind")

	n = notification("alphapsp")
	n.Lite = &upiv1.RespLiteSync{Results: []*upiv1.LiteRecordResult{{Result: 9}}}
	assert.EqualError(t, node.CheckLimits(n), "lite.results[0].result 9 is not a value of upi.v1.Resp.Result")

	n = notification("alphapsp")
	n.Lite = &upiv1.RespLiteSync{LrnBalancePaise: -1}
	assert.EqualError(t, node.CheckLimits(n), "lite.lrn_balance_paise -1 is negative")

	hb := hbt("psp", "")
	hb.Txn.Ts = &timestamppb.Timestamp{Seconds: math.MaxInt64}
	assert.ErrorContains(t, node.CheckLimits(hb), "txn.ts")
	var refusal *node.Refusal
	assert.ErrorAs(t, node.CheckLimits(hb), &refusal, "a broken limit is a refusal")
}

// The node accepts every node name the network file accepts.
func TestOrgIDIsANodeName(t *testing.T) {
	assert.Equal(t, config.MaxNodeName, node.MaxOrgIDLen)
	for _, nd := range config.Default().Nodes {
		m := hbt(nd.Name, "")
		_, err := node.Admit(&counter{}, reqHbt, m)
		assert.NoError(t, err, "node %s", nd.Name)
	}
}

// panicky panics in Validate or Handle when the txn note says so.
type panicky struct{ counter }

func (p *panicky) Validate(in *node.Inbound) error {
	if in.Msg.GetTxn().GetNote() == "panic in validate" {
		var m map[string]int
		m["boom"]++ // a nil map write
	}
	return nil
}

func (p *panicky) Handle(c *node.Ctx, in *node.Inbound) error {
	if in.Msg.GetTxn().GetNote() == "panic in handle" {
		if err := c.Tx.Put(store.Meta, []byte("half-way"), []byte("x")); err != nil {
			return err
		}
		var s []int
		_ = s[in.Msg.GetTxn().GetExpireAfterMinutes()] // out of range
	}
	return p.counter.Handle(c, in)
}

// A message that makes the role panic costs the node nothing: the sender
// gets Internal (and retries, as for any internal error), nothing is kept,
// and the node goes on with the other messages, even those in the same
// commit batch.
func TestPanicIsAnInternalError(t *testing.T) {
	ctx := context.Background()
	for _, note := range []string{"panic in validate", "panic in handle"} {
		t.Run(note, func(t *testing.T) {
			h := &panicky{}
			n := nodetest.New(t, "npci", h, nodetest.NewRecorder())
			bad := hbt("psp", note)
			// Concurrent good messages may share the bad one's batch.
			done := make(chan error, 20)
			for range 20 {
				go func() {
					ack, err := n.Receive(ctx, reqHbt, hbt("psp", ""))
					if err == nil && ack.GetErr() != "" {
						err = fmt.Errorf("refused: %s", ack.GetErr())
					}
					done <- err
				}()
			}
			ack, err := n.Receive(ctx, reqHbt, bad)
			assert.Nil(t, ack)
			assert.Equal(t, codes.Internal, status.Code(err), "%v", err)
			assert.Contains(t, err.Error(), "panicked")
			assert.NotContains(t, err.Error(), "goroutine", "the stack stays in the log")
			for range 20 {
				assert.NoError(t, <-done)
			}
			assert.EqualValues(t, 20, count(t, n, "applied"))
			assert.EqualValues(t, 0, count(t, n, "half-way"), "nothing of the panicking step is kept")
			assert.Equal(t, 20, keys(t, n, store.Inbox))
			trace, err := n.Trace(bad.GetTxn().GetId())
			require.NoError(t, err)
			assert.Empty(t, trace)
		})
	}
}

// What gRPC itself does with what never reaches Receive: a message over
// the size limit, bytes that are not a message of the method's type (proto3
// rejects invalid UTF-8 in a string at unmarshal), and methods the node does
// not serve. Each is a status for the sender, and the node stores nothing.
func TestGRPCRefusesWhatNeverReachesReceive(t *testing.T) {
	h := &counter{}
	n := nodetest.New(t, "tpap", h, nodetest.NewRecorder())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(node.MaxMsgBytes)) // as internal/cluster serves
	upiv1.RegisterTpapServiceServer(srv, &tpapServer{n: n})
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-served })
	tr := node.NewGRPCTransport(func(string) (string, bool) { return lis.Addr().String(), true }, nil)
	t.Cleanup(func() { _ = tr.Close() })

	valid, err := proto.Marshal(notification("alphapsp"))
	require.NoError(t, err)
	oversized := notification("alphapsp")
	oversized.Txn.Note = strings.Repeat("n", node.MaxMsgBytes)
	big, err := proto.Marshal(oversized)
	require.NoError(t, err)
	// user_addr (field 4) with the bytes of "café" in Latin-1.
	badUTF8 := protowire.AppendString(protowire.AppendTag(append([]byte(nil), valid...), 4, protowire.BytesType), "caf\xe9@alpha")

	tests := []struct {
		name   string
		method string
		body   []byte
		code   codes.Code
		msg    string
	}{
		{"over MaxMsgBytes", upiv1.TpapService_Notify_FullMethodName, big, codes.ResourceExhausted, "larger than max"},
		{"invalid UTF-8", upiv1.TpapService_Notify_FullMethodName, badUTF8, codes.Internal, "invalid UTF-8"},
		{"not protobuf", upiv1.TpapService_Notify_FullMethodName, []byte{0xff, 0xff, 0xff}, codes.Internal, "unmarshal"},
		{"unknown method of a served service", "/upi.v1.TpapService/Bogus", valid, codes.Unimplemented, "unknown method Bogus"},
		{"a service the node does not serve", upiv1.SwitchService_ReqPay_FullMethodName, valid, codes.Unimplemented, "unknown service upi.v1.SwitchService"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ack, err := tr.Send(context.Background(), node.Outgoing{From: "alphapsp", To: "tpap", Method: tc.method, Body: tc.body})
			assert.Nil(t, ack)
			assert.Equal(t, tc.code, status.Code(err), "%v", err)
			assert.Contains(t, status.Convert(err).Message(), tc.msg)
			assertNothingStored(t, n, h)
		})
	}

	// The same connection still carries a good message.
	ack, err := tr.Send(context.Background(), node.Outgoing{From: "alphapsp", To: "tpap", Method: upiv1.TpapService_Notify_FullMethodName, Body: valid})
	require.NoError(t, err)
	assert.Empty(t, ack.GetErr())
	assert.EqualValues(t, 1, count(t, n, "applied"))
}
