package remitter

import (
	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// CircleSource is the remitter's mandates as a node.CircleLister lists
// them ("M/<UMN>", side "remitter"), for `upisim audit`: with the debits
// it counted under each, and when it revoked one.
func CircleSource() node.CircleSource {
	return node.CircleSource{Tag: "M", Bucket: store.Mandates, Fn: func(k, v []byte) (*upiv1.CircleRecord, error) {
		m, err := node.DecodeCircle[Mandate](k, v)
		if err != nil {
			return nil, err
		}
		return &upiv1.CircleRecord{
			Kind: "MANDATE", Side: "remitter", LinkId: m.TxnId, PrimaryVpa: m.PayerVpa, SecondaryVpa: m.PayeeVpa,
			Status: m.Status, Umn: m.Umn, LimitPaise: m.AmountPaise, Signed: m.Signature != "",
			Created: node.NanosTime(m.Created), Updated: node.NanosTime(m.Updated),
			Debits: node.CircleDebits(m.Debits), Revoked: node.NanosTime(revokedAt(m)),
		}, nil
	}}
}

// revokedAt is when m was revoked (Unix ns), 0 while it is ACTIVE. A
// mandate revoked before BankMandate.revoked was kept gives its last
// change, the revocation's unless a reversal came after it.
func revokedAt(m *Mandate) int64 {
	switch {
	case m.Status != MandateRevoked:
		return 0
	case m.Revoked != 0:
		return m.Revoked
	}
	return m.Updated
}
