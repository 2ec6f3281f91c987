package upiswitch

import (
	"context"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
)

// netServer serves SwitchService: every method hands the message to the
// node's durable inbox, which answers with the Ack.
type netServer struct {
	upiv1.UnimplementedSwitchServiceServer
	n *node.Node
}

func (s *netServer) ReqPay(ctx context.Context, m *upiv1.ReqPay) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_ReqPay_FullMethodName, m)
}

func (s *netServer) RespAuthDetails(ctx context.Context, m *upiv1.RespAuthDetails) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_RespAuthDetails_FullMethodName, m)
}

func (s *netServer) RespPay(ctx context.Context, m *upiv1.RespPay) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_RespPay_FullMethodName, m)
}

func (s *netServer) ReqChkTxn(ctx context.Context, m *upiv1.ReqChkTxn) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_ReqChkTxn_FullMethodName, m)
}

func (s *netServer) RespChkTxn(ctx context.Context, m *upiv1.RespChkTxn) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_RespChkTxn_FullMethodName, m)
}

func (s *netServer) RespTxnConfirmation(ctx context.Context, m *upiv1.RespTxnConfirmation) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_RespTxnConfirmation_FullMethodName, m)
}

func (s *netServer) ReqValAdd(ctx context.Context, m *upiv1.ReqValAdd) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_ReqValAdd_FullMethodName, m)
}

func (s *netServer) RespValAdd(ctx context.Context, m *upiv1.RespValAdd) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_RespValAdd_FullMethodName, m)
}

func (s *netServer) ReqMandate(ctx context.Context, m *upiv1.ReqMandate) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_ReqMandate_FullMethodName, m)
}

func (s *netServer) RespAuthMandate(ctx context.Context, m *upiv1.RespAuthMandate) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_RespAuthMandate_FullMethodName, m)
}

func (s *netServer) RespMandate(ctx context.Context, m *upiv1.RespMandate) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_RespMandate_FullMethodName, m)
}

func (s *netServer) RespMandateConfirmation(ctx context.Context, m *upiv1.RespMandateConfirmation) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_RespMandateConfirmation_FullMethodName, m)
}

func (s *netServer) ReqDelegateAdd(ctx context.Context, m *upiv1.ReqDelegateAdd) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_ReqDelegateAdd_FullMethodName, m)
}

func (s *netServer) RespDelegateAdd(ctx context.Context, m *upiv1.RespDelegateAdd) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_RespDelegateAdd_FullMethodName, m)
}

func (s *netServer) ReqDelegateAuth(ctx context.Context, m *upiv1.ReqDelegateAuth) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_ReqDelegateAuth_FullMethodName, m)
}

func (s *netServer) RespDelegateAuth(ctx context.Context, m *upiv1.RespDelegateAuth) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_RespDelegateAuth_FullMethodName, m)
}

func (s *netServer) ReqLiteSync(ctx context.Context, m *upiv1.ReqLiteSync) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_ReqLiteSync_FullMethodName, m)
}

func (s *netServer) RespLiteSync(ctx context.Context, m *upiv1.RespLiteSync) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_RespLiteSync_FullMethodName, m)
}

func (s *netServer) ReqHbt(ctx context.Context, m *upiv1.ReqHbt) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_ReqHbt_FullMethodName, m)
}

func (s *netServer) RespHbt(ctx context.Context, m *upiv1.RespHbt) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.SwitchService_RespHbt_FullMethodName, m)
}
