package upiswitch

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

var _ node.CircleLister = (*Switch)(nil)

// ListCircle implements node.CircleLister: the link registry, by link id
// ("L/<link_id>"), side "SWITCH", for `upisim audit`.
func (s *Switch) ListCircle(after string, limit int) ([]*upiv1.CircleRecord, string, error) {
	if s.n == nil {
		return nil, "", status.Error(codes.Unavailable, "switch is not attached to a node")
	}
	return node.ListCircle(s.n, []node.CircleSource{
		{Tag: "L", Bucket: store.CircleLinks, Fn: func(k, v []byte) (*upiv1.CircleRecord, error) {
			l, err := node.DecodeCircle[linkReg](k, v)
			if err != nil {
				return nil, err
			}
			return &upiv1.CircleRecord{
				Kind: "LINK", Side: "SWITCH", LinkId: l.LinkId, PrimaryVpa: l.Primary, SecondaryVpa: l.Secondary,
				Mode: l.Mode, Status: l.Status, ErrCode: l.ErrCode, Umn: l.Umn,
				Created: node.NanosTime(l.Created), Updated: node.NanosTime(l.Updated),
			}, nil
		}},
	}, after, limit)
}
