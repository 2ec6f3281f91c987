// Node keys (docs/FLOWS.md, Node keys): the switch's key directory. Every
// other node registers its public keys (ReqRegKeys); any node asks for the
// list of all of them, the switch's own included, signed by the switch
// (ReqListKeys).

package upiswitch

import (
	"slices"

	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/keydir"
	"github.com/upisim/upisim/internal/keys"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// nodeKey is a node's registered public keys (store.NodeKeys, by node).
type nodeKey = recordsv1.SwitchNodeKey

var nodeKeys = store.NewTable[nodeKey](store.NodeKeys)

// SetKeys gives the switch its own keys (it signs the key list with them);
// call it before the node serves. Without keys the switch refuses
// ReqListKeys.
func (s *Switch) SetKeys(k *keys.Keys) { s.keys = k }

func (s *Switch) keyRoutes() []node.Route {
	return []node.Route{
		{Method: upiv1.SwitchService_ReqRegKeys_FullMethodName,
			From:     []string{config.RolePSP, config.RoleBank, config.RoleTPAP},
			Validate: node.Validates(s.validateReqRegKeys),
			Handle:   node.Handles(s.reqRegKeys)},
		{Method: upiv1.SwitchService_ReqListKeys_FullMethodName,
			Handle: node.Handles(s.reqListKeys)},
	}
}

// validateReqRegKeys: a node registers only its own keys, for its role in
// the network file, well formed.
func (s *Switch) validateReqRegKeys(in *node.Inbound, m *upiv1.ReqRegKeys) error {
	k := m.GetKey()
	if k.GetNode() != in.From || m.GetHead().GetOrgId() != in.From {
		return node.Refuse("ReqRegKeys: key.node %q is not the sender %s: a node registers only its own keys", k.GetNode(), in.From)
	}
	if role := s.net.RolesByName()[in.From]; k.GetRole() != role {
		return node.Refuse("ReqRegKeys: key.role %q is not %s's role %q", k.GetRole(), in.From, role)
	}
	if err := keys.CheckPublic(k); err != nil {
		return node.Refuse("ReqRegKeys: %v", err)
	}
	return nil
}

func (s *Switch) reqRegKeys(c *node.Ctx, in *node.Inbound, m *upiv1.ReqRegKeys) error {
	k := m.GetKey()
	if err := nodeKeys.Put(c.Tx, k.GetNode(), &nodeKey{
		Node: k.GetNode(), Role: k.GetRole(), SignKey: k.GetSignKey(), HpkeKey: k.GetHpkeKey(), KeyId: k.GetKeyId(),
		Created: store.Nanos(k.GetCreated().AsTime()), Registered: store.Nanos(c.Now()),
	}); err != nil {
		return err
	}
	return c.Send(in.From, upiv1.NodeKeyService_RespRegKeys_FullMethodName, &upiv1.RespRegKeys{
		Txn:   m.GetTxn(),
		Resp:  &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
		KeyId: k.GetKeyId(),
	})
}

// KeyList is every registered node's keys and the switch's own, by node.
func (s *Switch) KeyList(tx *store.Tx, now *timestamppb.Timestamp) (*upiv1.KeyList, error) {
	list := &upiv1.KeyList{Ts: now, Signer: s.self.Name}
	if s.keys != nil {
		list.Keys = append(list.Keys, s.keys.Public(config.RoleSwitch))
	}
	err := nodeKeys.Scan(tx, "", func(_ string, k *nodeKey) (bool, error) {
		if k.GetNode() != s.self.Name {
			list.Keys = append(list.Keys, &upiv1.NodeKey{
				Node: k.GetNode(), Role: k.GetRole(), SignKey: k.GetSignKey(), HpkeKey: k.GetHpkeKey(),
				KeyId: k.GetKeyId(), Created: timestamppb.New(store.FromNanos(k.GetCreated())),
			})
		}
		return true, nil
	})
	slices.SortFunc(list.Keys, func(a, b *upiv1.NodeKey) int {
		switch {
		case a.GetNode() < b.GetNode():
			return -1
		case a.GetNode() > b.GetNode():
			return 1
		}
		return 0
	})
	return list, err
}

func (s *Switch) reqListKeys(c *node.Ctx, in *node.Inbound, m *upiv1.ReqListKeys) error {
	if m.GetType() == lite.GetLite {
		return s.liteRegister(c, in, m) // lite_register.go
	}
	if s.keys == nil {
		return node.Refuse("ReqListKeys: this switch has no keys to sign a list with")
	}
	resp := &upiv1.RespListKeys{Txn: m.GetTxn(), Resp: &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}}
	list, err := s.KeyList(c.Tx, timestamppb.New(c.Now()))
	if err != nil {
		return err
	}
	if resp.Signature, err = keydir.Sign(s.keys.Sign, list); err != nil {
		return err
	}
	resp.List = list
	return c.Send(in.From, upiv1.NodeKeyService_RespListKeys_FullMethodName, resp)
}
