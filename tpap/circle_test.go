package tpap

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
)

// The fake PSP's Circle calls: it keeps the links it was asked to create
// and answers the rest from them.

func (f *fakePSP) link(id string) (*upiv1.CircleLink, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.links[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "link %s is not known", id)
	}
	return proto.Clone(l).(*upiv1.CircleLink), nil
}

func (f *fakePSP) CreateCircleLink(_ context.Context, in *upiv1.PspAppServiceCreateCircleLinkRequest, _ ...grpc.CallOption) (*upiv1.PspAppServiceCreateCircleLinkResponse, error) {
	if err := f.record(in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	if f.links == nil {
		f.links = map[string]*upiv1.CircleLink{}
	}
	f.links[in.GetLinkId()] = &upiv1.CircleLink{LinkId: in.GetLinkId(), Status: upiv1.CircleLink_LINK_PENDING, Mode: in.GetMode(),
		PrimaryVpa: in.GetPrimaryVpa(), SecondaryVpa: in.GetSecondaryVpa()}
	f.mu.Unlock()
	l, err := f.link(in.GetLinkId())
	return &upiv1.PspAppServiceCreateCircleLinkResponse{Link: l}, err
}

func (f *fakePSP) RespondCircleLink(_ context.Context, in *upiv1.RespondCircleLinkRequest, _ ...grpc.CallOption) (*upiv1.RespondCircleLinkResponse, error) {
	if err := f.record(in); err != nil {
		return nil, err
	}
	return &upiv1.RespondCircleLinkResponse{Link: &upiv1.CircleLink{LinkId: in.GetLinkId(), Status: upiv1.CircleLink_LINKED}}, nil
}

func (f *fakePSP) RemoveCircleLink(_ context.Context, in *upiv1.PspAppServiceRemoveCircleLinkRequest, _ ...grpc.CallOption) (*upiv1.PspAppServiceRemoveCircleLinkResponse, error) {
	if err := f.record(in); err != nil {
		return nil, err
	}
	return &upiv1.PspAppServiceRemoveCircleLinkResponse{Link: &upiv1.CircleLink{LinkId: in.GetLinkId(), Status: upiv1.CircleLink_LINKED}}, nil
}

func (f *fakePSP) UpdateCircleLink(_ context.Context, in *upiv1.PspAppServiceUpdateCircleLinkRequest, _ ...grpc.CallOption) (*upiv1.PspAppServiceUpdateCircleLinkResponse, error) {
	if err := f.record(in); err != nil {
		return nil, err
	}
	l, err := f.link(in.GetLinkId())
	if l != nil {
		l.PendingLimitPaise, l.UpdateTxnId = in.GetLimitPaise(), in.GetTxnId()
	}
	return &upiv1.PspAppServiceUpdateCircleLinkResponse{Link: l}, err
}

func (f *fakePSP) QueryCircleLink(_ context.Context, in *upiv1.QueryCircleLinkRequest, _ ...grpc.CallOption) (*upiv1.QueryCircleLinkResponse, error) {
	if err := f.record(in); err != nil {
		return nil, err
	}
	l, err := f.link(in.GetLinkId())
	return &upiv1.QueryCircleLinkResponse{Link: l}, err
}

func (f *fakePSP) ListCircleLinks(_ context.Context, in *upiv1.PspAppServiceListCircleLinksRequest, _ ...grpc.CallOption) (*upiv1.PspAppServiceListCircleLinksResponse, error) {
	return &upiv1.PspAppServiceListCircleLinksResponse{}, f.record(in)
}

func (f *fakePSP) ListCircleInvites(_ context.Context, in *upiv1.PspAppServiceListCircleInvitesRequest, _ ...grpc.CallOption) (*upiv1.PspAppServiceListCircleInvitesResponse, error) {
	return &upiv1.PspAppServiceListCircleInvitesResponse{}, f.record(in)
}

func (f *fakePSP) called() []proto.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]proto.Message(nil), f.calls...)
}

func TestCircleLinkRouting(t *testing.T) {
	e := newEnv(t)
	got, err := e.x.CreateCircleLink(t.Context(), &upiv1.CreateCircleLinkRequest{
		PrimaryVpa: "Alice@alpha", SecondaryVpa: "carol@beta", Mode: upiv1.Delegate_PARTIAL})
	require.NoError(t, err)
	id := got.GetLink().GetLinkId()
	assert.Equal(t, e.psps["alphapsp"].prefix, ids.PrefixOf(id), "PSP(P)'s prefix")
	assert.Equal(t, "alice@alpha", got.GetLink().GetPrimaryVpa())

	_, err = e.x.AcceptCircleLink(t.Context(), &upiv1.AcceptCircleLinkRequest{LinkId: id})
	require.NoError(t, err)
	calls := e.psps["betapsp"].called()
	require.NotEmpty(t, calls)
	assertProto(t, &upiv1.RespondCircleLinkRequest{LinkId: id, Accept: true}, calls[len(calls)-1], "to the secondary's PSP")

	_, err = e.x.RemoveCircleLink(t.Context(), &upiv1.RemoveCircleLinkRequest{LinkId: id})
	require.NoError(t, err)
	calls = e.psps["alphapsp"].called()
	assertProto(t, &upiv1.PspAppServiceRemoveCircleLinkRequest{LinkId: id, Vpa: "alice@alpha"}, calls[len(calls)-1], "the primary's, by default")
	_, err = e.x.RemoveCircleLink(t.Context(), &upiv1.RemoveCircleLinkRequest{LinkId: id, Vpa: "carol@beta"})
	require.NoError(t, err)
	calls = e.psps["betapsp"].called()
	assertProto(t, &upiv1.PspAppServiceRemoveCircleLinkRequest{LinkId: id, Vpa: "carol@beta"}, calls[len(calls)-1])

	_, err = e.x.ListCircleInvites(t.Context(), &upiv1.ListCircleInvitesRequest{Vpa: "carol@beta"})
	require.NoError(t, err)
	calls = e.psps["betapsp"].called()
	assertProto(t, &upiv1.PspAppServiceListCircleInvitesRequest{Vpa: "carol@beta"}, calls[len(calls)-1])
}

func TestCircleLinkValidation(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		req  *upiv1.CreateCircleLinkRequest
		want string
	}{
		{"bad primary", &upiv1.CreateCircleLinkRequest{PrimaryVpa: "alice", SecondaryVpa: "carol@beta", Mode: upiv1.Delegate_PARTIAL}, "primary_vpa"},
		{"bad secondary", &upiv1.CreateCircleLinkRequest{PrimaryVpa: "alice@alpha", SecondaryVpa: "", Mode: upiv1.Delegate_PARTIAL}, "secondary_vpa"},
		{"same", &upiv1.CreateCircleLinkRequest{PrimaryVpa: "alice@alpha", SecondaryVpa: "ALICE@alpha", Mode: upiv1.Delegate_PARTIAL}, "two users"},
		{"no mode", &upiv1.CreateCircleLinkRequest{PrimaryVpa: "alice@alpha", SecondaryVpa: "carol@beta"}, "mode"},
		{"full over the limit", &upiv1.CreateCircleLinkRequest{PrimaryVpa: "alice@alpha", SecondaryVpa: "carol@beta", Mode: upiv1.Delegate_FULL,
			LimitPaise: e.net.Circle.FullMonthly + 1, Pin: "1234"}, "monthly_limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.x.CreateCircleLink(t.Context(), tc.req)
			require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := e.x.GetCircleLink(t.Context(), &upiv1.GetCircleLinkRequest{LinkId: ids.NewTxnID(e.psps["alphapsp"].prefix)})
	assert.Equal(t, codes.NotFound, status.Code(err), "%v", err)
	_, err = e.x.GetCircleLink(t.Context(), &upiv1.GetCircleLinkRequest{LinkId: "nope"})
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
}

// circle update goes to PSP(P) with a txn id of PSP(P)'s prefix and the
// primary's PIN sealed to the remitter for that txn id; a partial link, a
// limit out of range and a bad PIN are refused before any PSP call.
func TestCircleUpdateRouting(t *testing.T) {
	e := newEnv(t)
	alpha := e.psps["alphapsp"]
	full := ids.NewTxnID(alpha.prefix)
	partial := ids.NewTxnID(alpha.prefix)
	alpha.mu.Lock()
	alpha.links = map[string]*upiv1.CircleLink{
		full: {LinkId: full, Status: upiv1.CircleLink_LINKED, Mode: upiv1.Delegate_FULL,
			PrimaryVpa: "alice@alpha", SecondaryVpa: "carol@beta", LimitPaise: 12_000_00},
		partial: {LinkId: partial, Status: upiv1.CircleLink_LINKED, Mode: upiv1.Delegate_PARTIAL,
			PrimaryVpa: "alice@alpha", SecondaryVpa: "carol@beta"},
	}
	alpha.mu.Unlock()

	got, err := e.x.UpdateCircleLink(t.Context(), &upiv1.UpdateCircleLinkRequest{LinkId: full, LimitPaise: 8_000_00, Pin: "1234"})
	require.NoError(t, err)
	assert.Equal(t, int64(8_000_00), got.GetLink().GetPendingLimitPaise())
	calls := alpha.called()
	req, ok := calls[len(calls)-1].(*upiv1.PspAppServiceUpdateCircleLinkRequest)
	require.True(t, ok, "%T", calls[len(calls)-1])
	assert.Equal(t, full, req.GetLinkId())
	assert.Equal(t, int64(8_000_00), req.GetLimitPaise())
	assert.Equal(t, alpha.prefix, ids.PrefixOf(req.GetTxnId()), "PSP(P)'s prefix")
	assert.NotEqual(t, full, req.GetTxnId(), "a new txn id")
	assert.Equal(t, "1234", e.openCred(t, "abank", req.GetCred(), req.GetTxnId()), "the PIN, sealed for the update's txn id")

	n := len(alpha.called())
	for _, tc := range []struct {
		name string
		req  *upiv1.UpdateCircleLinkRequest
		code codes.Code
		want string
	}{
		{"partial", &upiv1.UpdateCircleLinkRequest{LinkId: partial, LimitPaise: 100, Pin: "1234"}, codes.FailedPrecondition, "a partial link has no limit"},
		{"zero", &upiv1.UpdateCircleLinkRequest{LinkId: full, Pin: "1234"}, codes.InvalidArgument, "out of range"},
		{"over", &upiv1.UpdateCircleLinkRequest{LinkId: full, LimitPaise: e.net.Circle.FullMonthly + 1, Pin: "1234"}, codes.InvalidArgument, "monthly_limit"},
		{"no pin", &upiv1.UpdateCircleLinkRequest{LinkId: full, LimitPaise: 100}, codes.InvalidArgument, "pin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.x.UpdateCircleLink(t.Context(), tc.req)
			require.Equal(t, tc.code, status.Code(err), "%v", err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	for _, c := range alpha.called()[n:] {
		_, isUpdate := c.(*upiv1.PspAppServiceUpdateCircleLinkRequest)
		assert.False(t, isUpdate, "no update sent for a refused request")
	}
}

func assertProto(t *testing.T, want, got proto.Message, msg ...any) {
	t.Helper()
	assert.True(t, proto.Equal(want, got), "want %v, got %v %v", want, got, msg)
}
