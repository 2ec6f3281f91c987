package psp

import (
	"context"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
)

// netServer serves PspService: every method hands the message to the node's
// durable inbox, which stores it, runs the PSP's Handle and returns the Ack.
type netServer struct {
	upiv1.UnimplementedPspServiceServer
	n *node.Node
}

func (s *netServer) ReqAuthDetails(ctx context.Context, m *upiv1.ReqAuthDetails) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.PspService_ReqAuthDetails_FullMethodName, m)
}

func (s *netServer) RespPay(ctx context.Context, m *upiv1.RespPay) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.PspService_RespPay_FullMethodName, m)
}

func (s *netServer) ReqTxnConfirmation(ctx context.Context, m *upiv1.ReqTxnConfirmation) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.PspService_ReqTxnConfirmation_FullMethodName, m)
}

func (s *netServer) ReqValAdd(ctx context.Context, m *upiv1.ReqValAdd) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.PspService_ReqValAdd_FullMethodName, m)
}

func (s *netServer) RespValAdd(ctx context.Context, m *upiv1.RespValAdd) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.PspService_RespValAdd_FullMethodName, m)
}

func (s *netServer) RespChkTxn(ctx context.Context, m *upiv1.RespChkTxn) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.PspService_RespChkTxn_FullMethodName, m)
}

func (s *netServer) ReqAuthMandate(ctx context.Context, m *upiv1.ReqAuthMandate) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.PspService_ReqAuthMandate_FullMethodName, m)
}

func (s *netServer) RespMandate(ctx context.Context, m *upiv1.RespMandate) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.PspService_RespMandate_FullMethodName, m)
}

func (s *netServer) ReqMandateConfirmation(ctx context.Context, m *upiv1.ReqMandateConfirmation) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.PspService_ReqMandateConfirmation_FullMethodName, m)
}

func (s *netServer) ReqDelegateAdd(ctx context.Context, m *upiv1.ReqDelegateAdd) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.PspService_ReqDelegateAdd_FullMethodName, m)
}

func (s *netServer) RespDelegateAdd(ctx context.Context, m *upiv1.RespDelegateAdd) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.PspService_RespDelegateAdd_FullMethodName, m)
}

func (s *netServer) ReqDelegateAuth(ctx context.Context, m *upiv1.ReqDelegateAuth) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.PspService_ReqDelegateAuth_FullMethodName, m)
}

func (s *netServer) RespDelegateAuth(ctx context.Context, m *upiv1.RespDelegateAuth) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.PspService_RespDelegateAuth_FullMethodName, m)
}

func (s *netServer) RespLiteSync(ctx context.Context, m *upiv1.RespLiteSync) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.PspService_RespLiteSync_FullMethodName, m)
}

func (s *netServer) ReqHbt(ctx context.Context, m *upiv1.ReqHbt) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.PspService_ReqHbt_FullMethodName, m)
}

func (s *netServer) RespHbt(ctx context.Context, m *upiv1.RespHbt) (*upiv1.Ack, error) {
	return s.n.Receive(ctx, upiv1.PspService_RespHbt_FullMethodName, m)
}
