package upiswitch

import (
	"context"

	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// litePrepared is what the switch computes of a PSP's ReqLiteSync before
// its step (Prepare), by record of the message: each record's content
// hash, which the claim compares and keeps, and its encoding, which the
// record's first write stores as its body (recMemo). Both are functions
// of the record alone, so they hold whatever the step finds; in a
// 20,000-record sync they were a twentieth of the switch's commit
// goroutine, the one part of the network that cannot spread over the
// CPUs.
type litePrepared struct {
	recs map[*upiv1.LiteRecord]preparedRec
}

type preparedRec struct {
	hash []byte
	body []byte
}

// Prepares reports whether Prepare has work for in: a sync batch.
func (s *Switch) Prepares(in *node.Inbound) bool {
	_, ok := in.Msg.(*upiv1.ReqLiteSync)
	return ok
}

// Prepare hashes and encodes a sync batch's records (node.Preparer).
func (s *Switch) Prepare(ctx context.Context, _ func(func(*store.Tx) error) error, in *node.Inbound) (any, error) {
	m, ok := in.Msg.(*upiv1.ReqLiteSync)
	if !ok {
		return nil, nil
	}
	p := &litePrepared{recs: make(map[*upiv1.LiteRecord]preparedRec, len(m.GetRecords()))}
	for _, r := range m.GetRecords() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		body, err := proto.Marshal(r)
		if err != nil {
			return nil, err
		}
		p.recs[r] = preparedRec{hash: lite.RecordHash(r), body: body}
	}
	return p, nil
}

// preparedOf is what Prepare made of rec in the running step's message,
// if it did.
func preparedOf(c *node.Ctx, rec *upiv1.LiteRecord) (preparedRec, bool) {
	rc := stepCache(c)
	if rc == nil || rc.prepared == nil || rec == nil {
		return preparedRec{}, false
	}
	pr, ok := rc.prepared.recs[rec]
	return pr, ok
}
