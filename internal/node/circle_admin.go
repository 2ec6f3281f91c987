package node

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/store"
)

// CircleLister is implemented by roles that keep UPI Circle links or
// mandates (PSPs, the switch, banks).
type CircleLister interface {
	// ListCircle gives up to limit (> 0) records in key order, starting
	// after the key `after` ("" for the first), and the key to continue
	// after when more remain ("" on the last page).
	ListCircle(after string, limit int) (recs []*upiv1.CircleRecord, next string, err error)
}

// ListCircleLinks implements AdminService.
func (a *AdminServer) ListCircleLinks(ctx context.Context, r *upiv1.AdminServiceListCircleLinksRequest) (*upiv1.AdminServiceListCircleLinksResponse, error) {
	if err := a.authorize(ctx); err != nil {
		return nil, err
	}
	limit, err := listLimit(r.GetLimit())
	if err != nil {
		return nil, err
	}
	cl, ok := a.Impl.(CircleLister)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "node %s (%s) keeps no UPI Circle links or mandates", a.Node.Name(), a.Role)
	}
	recs, next, err := cl.ListCircle(r.GetPageToken(), limit)
	if err != nil {
		if _, isStatus := status.FromError(err); isStatus {
			return nil, err
		}
		return nil, status.Errorf(codes.Internal, "list circle links: %v", err)
	}
	return &upiv1.AdminServiceListCircleLinksResponse{Records: recs, NextPageToken: next}, nil
}

func (l localAdmin) ListCircleLinks(ctx context.Context, r *upiv1.AdminServiceListCircleLinksRequest, _ ...grpc.CallOption) (*upiv1.AdminServiceListCircleLinksResponse, error) {
	return l.s.ListCircleLinks(l.in(ctx), r)
}

// CircleSource is one bucket a CircleLister pages over: its records are
// keyed Tag + "/" + their key in the bucket, so several buckets page as
// one listing (in the order given, Tags ascending). Fn makes a record of
// an entry; nil skips it.
type CircleSource struct {
	Tag    string
	Bucket store.Bucket
	Fn     func(k, v []byte) (*upiv1.CircleRecord, error)
}

// ListCircle is a CircleLister's page over srcs, whose Tags must ascend.
func ListCircle(n *Node, srcs []CircleSource, after string, limit int) ([]*upiv1.CircleRecord, string, error) {
	out := []*upiv1.CircleRecord{}
	next := ""
	afterTag, afterKey, _ := strings.Cut(after, "/")
	err := n.View(func(tx *store.Tx) error {
		last := ""
		for _, s := range srcs {
			if after != "" && s.Tag < afterTag {
				continue
			}
			start := ""
			if after != "" && s.Tag == afterTag {
				start = afterKey
			}
			full := false
			err := tx.ScanAfter(s.Bucket, []byte(start), func(k, v []byte) (bool, error) {
				if len(out) == limit {
					full = true
					return false, nil
				}
				r, err := s.Fn(k, v)
				if err != nil || r == nil {
					return err == nil, err
				}
				last = s.Tag + "/" + string(k)
				out = append(out, r)
				return true, nil
			})
			if err != nil {
				return err
			}
			if full {
				next = last
				return nil
			}
		}
		return nil
	})
	return out, next, err
}

// DecodeCircle decodes v into a new P for a CircleSource's Fn.
func DecodeCircle[T any, P interface {
	*T
	proto.Message
}](k, v []byte) (P, error) {
	r := P(new(T))
	if err := store.DecodeProto(v, r); err != nil {
		return nil, fmt.Errorf("decode circle record %s: %w", k, err)
	}
	return r, nil
}

// NanosTime is a store.Nanos time as a timestamp, nil for 0.
func NanosTime(ns int64) *timestamppb.Timestamp {
	if ns == 0 {
		return nil
	}
	return timestamppb.New(store.FromNanos(ns))
}

// CircleDebits are the delegated debits a link or mandate record counts
// (recordsv1.CircleDebit) as a CircleRecord lists them.
func CircleDebits(ds []*recordsv1.CircleDebit) []*upiv1.CircleRecordDebit {
	if len(ds) == 0 {
		return nil
	}
	out := make([]*upiv1.CircleRecordDebit, 0, len(ds))
	for _, d := range ds {
		out = append(out, &upiv1.CircleRecordDebit{TxnId: d.GetTxnId(), AmountPaise: d.GetAmountPaise(), At: NanosTime(d.GetAt())})
	}
	return out
}
