package upiswitch

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/keydir"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/store/recordtest"
)

func regKeys(e *env, from string, key *upiv1.NodeKey) (*upiv1.ReqRegKeys, string) {
	id := ids.NewTxnID(e.head(from).GetMsgId()[:3])
	return &upiv1.ReqRegKeys{Head: e.head(from), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_REG_KEYS}, Key: key}, id
}

// The switch keeps each node's own keys, refuses anyone else's, and lists
// them all, its own included, signed with its key.
func TestKeyDirectory(t *testing.T) {
	e := newEnv(t, nil)
	swName := e.net.Switch().Name
	swk := pintest.Keys(t, swName)
	e.sw.SetKeys(swk)
	ak, bk := pintest.Keys(t, "abank"), pintest.Keys(t, "bbank")

	for name, c := range map[string]struct {
		from string
		key  *upiv1.NodeKey
		want string
	}{
		"another node's key": {"abank", bk.Public("bank"), "registers only its own keys"},
		"another role":       {"abank", ak.Public("psp"), `not abank's role "bank"`},
		"a short key":        {"abank", func() *upiv1.NodeKey { k := ak.Public("bank"); k.HpkeKey = k.HpkeKey[:31]; return k }(), "hpke_key has 31 bytes"},
		"a wrong key id":     {"abank", func() *upiv1.NodeKey { k := ak.Public("bank"); k.KeyId = "abank.00"; return k }(), "key_id"},
		"the switch's name":  {"abank", swk.Public("switch"), "registers only its own keys"},
	} {
		m, _ := regKeys(e, c.from, c.key)
		ack := e.receive(upiv1.SwitchService_ReqRegKeys_FullMethodName, m)
		assert.Contains(t, ack.GetErr(), c.want, name)
	}
	m, _ := regKeys(e, "alphapsp", pintest.Keys(t, "alphapsp").Public("psp"))
	m.Head.OrgId = "alphapsp"
	m.Key.Node = "abank"
	assert.NotEmpty(t, e.receive(upiv1.SwitchService_ReqRegKeys_FullMethodName, m).GetErr(), "a PSP may not register a bank's key")

	m, id := regKeys(e, "abank", ak.Public("bank"))
	e.accept(upiv1.SwitchService_ReqRegKeys_FullMethodName, m)
	got := e.await(upiv1.NodeKeyService_RespRegKeys_FullMethodName, id, upiv1.Txn_REG_KEYS, 1)
	assert.Equal(t, "abank", got.To)
	assert.Equal(t, upiv1.Resp_SUCCESS, got.Msg.(*upiv1.RespRegKeys).GetResp().GetResult())
	assert.Equal(t, ak.KeyID(), got.Msg.(*upiv1.RespRegKeys).GetKeyId())
	m, _ = regKeys(e, "tpap", pintest.Keys(t, "tpap").Public("tpap"))
	e.accept(upiv1.SwitchService_ReqRegKeys_FullMethodName, m)
	nodetest.Quiesce(t, e.n)
	require.NoError(t, e.n.View(func(tx *store.Tx) error {
		k, ok, err := nodeKeys.Get(tx, "abank")
		require.True(t, ok)
		assert.Equal(t, []byte(ak.HPKE.PublicKey().Bytes()), k.GetHpkeKey())
		return err
	}))

	lid := ids.NewTxnID("TPA")
	e.accept(upiv1.SwitchService_ReqListKeys_FullMethodName, &upiv1.ReqListKeys{Head: e.head("tpap"), Txn: &upiv1.Txn{Id: lid, Type: upiv1.Txn_LIST_KEYS}})
	sent := e.await(upiv1.NodeKeyService_RespListKeys_FullMethodName, lid, upiv1.Txn_LIST_KEYS, 1)
	assert.Equal(t, "tpap", sent.To)
	resp := sent.Msg.(*upiv1.RespListKeys)
	var nodes []string
	for _, k := range resp.GetList().GetKeys() {
		nodes = append(nodes, k.GetNode())
	}
	assert.Equal(t, []string{"abank", swName, "tpap"}, nodes, "every registered node and the switch, by name")
	assert.Equal(t, swName, resp.GetList().GetSigner())
	require.NoError(t, keydir.Verify(swk.SignPublic(), resp.GetList(), resp.GetSignature()), "the signature verifies with the switch's key")

	assert.Error(t, keydir.Verify(ak.SignPublic(), resp.GetList(), resp.GetSignature()), "not with another key")
	tampered := proto.Clone(resp.GetList()).(*upiv1.KeyList)
	tampered.Keys[0].HpkeKey = bytes.Clone(bk.HPKE.PublicKey().Bytes())
	assert.Error(t, keydir.Verify(swk.SignPublic(), tampered, resp.GetSignature()), "a swapped key fails")
	tampered = proto.Clone(resp.GetList()).(*upiv1.KeyList)
	tampered.Keys = tampered.Keys[1:]
	assert.Error(t, keydir.Verify(swk.SignPublic(), tampered, resp.GetSignature()), "a dropped key fails")
	sig := bytes.Clone(resp.GetSignature())
	sig[0] ^= 1
	assert.Error(t, keydir.Verify(swk.SignPublic(), resp.GetList(), sig), "a changed signature fails")
}

// Without keys the switch cannot sign, and says so in its Ack.
func TestListKeysWithoutKeys(t *testing.T) {
	e := newEnv(t, nil)
	ack := e.receive(upiv1.SwitchService_ReqListKeys_FullMethodName, &upiv1.ReqListKeys{Head: e.head("tpap"), Txn: &upiv1.Txn{Id: ids.NewTxnID("TPA"), Type: upiv1.Txn_LIST_KEYS}})
	assert.Contains(t, ack.GetErr(), "no keys")
}

func TestNodeKeyRoundTrip(t *testing.T) { recordtest.TableRoundTrip(t, nodeKeys) }
