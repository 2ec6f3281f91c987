package psp

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
)

// answerValAdd plays the switch: once the PSP sent a ReqValAdd, it feeds
// back resp (with the ReqValAdd's txn) and reports the ReqValAdd on the
// channel.
func answerValAdd(f *fixture, payee *upiv1.Party, resp *upiv1.Resp) <-chan error {
	done := make(chan error, 1)
	go func() {
		s, ok := waitSent(f.rec, upiv1.SwitchService_ReqValAdd_FullMethodName)
		if !ok {
			done <- fmt.Errorf("no ReqValAdd was sent")
			return
		}
		req := s.Msg.(*upiv1.ReqValAdd)
		if req.GetTxn().GetType() != upiv1.Txn_VAL_ADD || req.GetPayer().GetAddr() != "alice@alpha" || req.GetPayee().GetAddr() != "chai@beta" {
			done <- fmt.Errorf("unexpected ReqValAdd %v", req)
			return
		}
		ack, err := f.n.Receive(context.Background(), upiv1.PspService_RespValAdd_FullMethodName, &upiv1.RespValAdd{
			Head: swHead(), Txn: req.GetTxn(), Payee: payee, Resp: resp,
		})
		if err == nil && ack.GetErr() != "" {
			err = fmt.Errorf("RespValAdd refused: %s", ack.GetErr())
		}
		done <- err
	}()
	return done
}

func TestResolveAddressRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		payee *upiv1.Party
		resp  *upiv1.Resp
		want  *upiv1.AddressDetails
	}{
		{
			"found",
			&upiv1.Party{Addr: "chai@beta", Name: "Chai Point", Type: upiv1.Party_ENTITY, Code: "5812", Ac: &upiv1.Account{Ifsc: "BBNK0000001"}},
			&upiv1.Resp{Result: upiv1.Resp_SUCCESS},
			&upiv1.AddressDetails{Vpa: "chai@beta", Name: "Chai Point", Type: upiv1.Party_ENTITY, Code: "5812", Ifsc: "BBNK0000001", Result: upiv1.Resp_SUCCESS},
		},
		{
			"unknown",
			&upiv1.Party{Addr: "chai@beta"},
			&upiv1.Resp{Result: upiv1.Resp_FAILURE, ErrCode: "U29"},
			&upiv1.AddressDetails{Vpa: "chai@beta", Result: upiv1.Resp_FAILURE, ErrCode: "U29"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, alpha, nil)
			done := answerValAdd(f, tt.payee, tt.resp)
			got, err := f.p.ResolveAddress(t.Context(), &upiv1.ResolveAddressRequest{Vpa: "chai@beta", RequesterVpa: "alice@alpha"})
			require.NoError(t, <-done)
			require.NoError(t, err)
			assert.Equal(t, tt.want.String(), got.GetDetails().String())

			id := f.rec.WaitFor(t, upiv1.SwitchService_ReqValAdd_FullMethodName, "").Msg.GetTxn().GetId()
			r := f.record(id)
			assert.Equal(t, "valadd", r.Role)
			assert.Equal(t, stateResolved, r.State)

			// A repeated answer is accepted and changes nothing.
			f.accept(upiv1.PspService_RespValAdd_FullMethodName, &upiv1.RespValAdd{
				Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_VAL_ADD}, Payee: &upiv1.Party{Addr: "chai@beta", Name: "Other"},
				Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
			})
			assert.Equal(t, tt.payee.GetName(), f.record(id).ValAdd.Name)
		})
	}
}

func TestResolveAddressTimeout(t *testing.T) {
	t.Run("network val_add timeout", func(t *testing.T) {
		f := newFixture(t, alpha, func(n *config.Network) { n.Timeouts.ValAdd = 50 * time.Millisecond })
		_, err := f.p.ResolveAddress(t.Context(), &upiv1.ResolveAddressRequest{Vpa: "chai@beta", RequesterVpa: "alice@alpha"})
		requireCode(t, err, codes.DeadlineExceeded, "no RespValAdd for chai@beta")

		// The late answer is still kept.
		id := f.rec.WaitFor(t, upiv1.SwitchService_ReqValAdd_FullMethodName, "").Msg.GetTxn().GetId()
		f.accept(upiv1.PspService_RespValAdd_FullMethodName, &upiv1.RespValAdd{
			Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_VAL_ADD}, Payee: &upiv1.Party{Addr: "chai@beta", Name: "Chai Point"},
			Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
		})
		assert.Equal(t, "SUCCESS", f.record(id).Status)
	})
	t.Run("call deadline", func(t *testing.T) {
		f := newFixture(t, alpha, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := f.p.ResolveAddress(ctx, &upiv1.ResolveAddressRequest{Vpa: "chai@beta", RequesterVpa: "alice@alpha"})
		requireCode(t, err, codes.DeadlineExceeded, "deadline")
	})
	t.Run("call cancelled", func(t *testing.T) {
		f := newFixture(t, alpha, nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := f.p.ResolveAddress(ctx, &upiv1.ResolveAddressRequest{Vpa: "chai@beta", RequesterVpa: "alice@alpha"})
		requireCode(t, err, codes.Canceled, "")
	})
}

func TestResolveAddressValidation(t *testing.T) {
	f := newFixture(t, alpha, nil)
	tests := []struct {
		name string
		req  *upiv1.ResolveAddressRequest
		code codes.Code
		want string
	}{
		{"bad vpa", &upiv1.ResolveAddressRequest{Vpa: "chai", RequesterVpa: "alice@alpha"}, codes.InvalidArgument, "vpa"},
		{"missing requester", &upiv1.ResolveAddressRequest{Vpa: "chai@beta"}, codes.InvalidArgument, "requester_vpa: missing VPA"},
		{"requester of another PSP", &upiv1.ResolveAddressRequest{Vpa: "chai@beta", RequesterVpa: "bob@beta"}, codes.NotFound, "requester VPA bob@beta is not registered at PSP alphapsp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.p.ResolveAddress(t.Context(), tt.req)
			requireCode(t, err, tt.code, tt.want)
		})
	}
	assert.Empty(t, f.rec.All())

	f.refuse(upiv1.PspService_RespValAdd_FullMethodName, &upiv1.RespValAdd{
		Head: swHead(), Txn: &upiv1.Txn{Id: newTxnID("ALP"), Type: upiv1.Txn_VAL_ADD}, Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
	}, "sent no ReqValAdd")
}

func TestReqValAdd(t *testing.T) {
	tests := []struct {
		name  string
		payee string
		want  *upiv1.Party
		resp  upiv1.Resp_Result
		code  string
	}{
		{"merchant", "chai@beta", &upiv1.Party{Addr: "chai@beta", Name: "Chai Point", Type: upiv1.Party_ENTITY, Code: "5812", Ac: &upiv1.Account{Ifsc: "BBNK0000001"}}, upiv1.Resp_SUCCESS, ""},
		{"person", "carol@beta", &upiv1.Party{Addr: "carol@beta", Name: "Carol", Type: upiv1.Party_PERSON, Code: "0000", Ac: &upiv1.Account{Ifsc: "BBNK0000001"}}, upiv1.Resp_SUCCESS, ""},
		{"unknown", "zed@beta", &upiv1.Party{Addr: "zed@beta"}, upiv1.Resp_FAILURE, "U29"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, beta, nil)
			id := newTxnID("ALP")
			req := &upiv1.ReqValAdd{
				Head: swHead(), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_VAL_ADD},
				Payer: &upiv1.Party{Addr: "alice@alpha"}, Payee: &upiv1.Party{Addr: tt.payee},
			}
			f.accept(upiv1.PspService_ReqValAdd_FullMethodName, req)
			s := f.rec.WaitFor(t, upiv1.SwitchService_RespValAdd_FullMethodName, id)
			assert.Equal(t, npci, s.To)
			m := s.Msg.(*upiv1.RespValAdd)
			assert.Equal(t, tt.resp, m.GetResp().GetResult())
			assert.Equal(t, tt.code, m.GetResp().GetErrCode())
			assert.Equal(t, req.GetHead().GetMsgId(), m.GetResp().GetReqMsgId())
			assert.Equal(t, tt.want.String(), m.GetPayee().String())
			assert.Empty(t, m.GetPayee().GetAc().GetAcNum(), "ReqValAdd never reveals the account number")
		})
	}
}
