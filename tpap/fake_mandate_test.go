package tpap

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// The PSP's mandate RPCs (psp/mandate.go): the TPAP does not call them
// yet, so the fake PSP has none.

func (f *fakePSP) CreateMandate(context.Context, *upiv1.CreateMandateRequest, ...grpc.CallOption) (*upiv1.CreateMandateResponse, error) {
	return nil, status.Error(codes.Unimplemented, "fake PSP: no mandates")
}

func (f *fakePSP) UpdateMandate(context.Context, *upiv1.UpdateMandateRequest, ...grpc.CallOption) (*upiv1.UpdateMandateResponse, error) {
	return nil, status.Error(codes.Unimplemented, "fake PSP: no mandates")
}

func (f *fakePSP) RevokeMandate(context.Context, *upiv1.RevokeMandateRequest, ...grpc.CallOption) (*upiv1.RevokeMandateResponse, error) {
	return nil, status.Error(codes.Unimplemented, "fake PSP: no mandates")
}

func (f *fakePSP) QueryMandate(context.Context, *upiv1.QueryMandateRequest, ...grpc.CallOption) (*upiv1.QueryMandateResponse, error) {
	return nil, status.Error(codes.Unimplemented, "fake PSP: no mandates")
}
