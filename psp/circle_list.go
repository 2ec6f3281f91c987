package psp

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

var _ node.CircleLister = (*PSP)(nil)

// ListCircle implements node.CircleLister: this PSP's link records (each
// side's, "L/P/<link_id>" and "L/S/<link_id>"), then its mandates
// ("M/<UMN>" as payer, "M/payee/<UMN>" as payee), for `upisim audit`. A
// link lists its counted debits and how this PSP counts a month.
func (p *PSP) ListCircle(after string, limit int) ([]*upiv1.CircleRecord, string, error) {
	if p.n == nil {
		return nil, "", status.Errorf(codes.Unavailable, "PSP %s is not running", p.name)
	}
	return node.ListCircle(p.n, []node.CircleSource{
		{Tag: "L", Bucket: store.CircleLinks, Fn: func(k, v []byte) (*upiv1.CircleRecord, error) {
			l, err := node.DecodeCircle[linkRecord](k, v)
			if err != nil {
				return nil, err
			}
			return &upiv1.CircleRecord{
				Kind: "LINK", Side: l.Side, LinkId: l.LinkId, PrimaryVpa: l.Primary, SecondaryVpa: l.Secondary,
				Mode: l.Mode, Status: l.Status, ErrCode: l.ErrCode, Umn: l.Umn, LimitPaise: l.LimitPaise,
				Created: node.NanosTime(l.Created), Updated: node.NanosTime(l.Updated),
				Debits: node.CircleDebits(l.Debits), Month: p.cfg.Network.Circle.Month,
			}, nil
		}},
		{Tag: "M", Bucket: store.Mandates, Fn: func(k, v []byte) (*upiv1.CircleRecord, error) {
			m, err := node.DecodeCircle[mandateRecord](k, v)
			if err != nil {
				return nil, err
			}
			return &upiv1.CircleRecord{
				Kind: "MANDATE", Side: m.Role, LinkId: m.TxnId, PrimaryVpa: m.PayerVpa, SecondaryVpa: m.PayeeVpa,
				Status: m.Status, ErrCode: m.ErrCode, Umn: m.Umn, LimitPaise: m.AmountPaise, Signed: m.Signature != "",
				Created: node.NanosTime(m.Created), Updated: node.NanosTime(m.Updated),
			}, nil
		}},
	}, after, limit)
}
