package keydir_test

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/keydir"
	"github.com/upisim/upisim/internal/keys"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/node/nodetest"
	"github.com/upisim/upisim/internal/pin/pintest"
	"github.com/upisim/upisim/internal/store"
	upiswitch "github.com/upisim/upisim/switch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// role is a node that does nothing but use the directory.
type role struct{ *node.Table }

type env struct {
	net     *config.Network
	clock   *nodetest.Clock
	tr      *node.InmemTransport
	down    atomic.Bool                       // the switch is unreachable
	tries   atomic.Int64                      // ReqRegKeys deliveries tried
	asked   atomic.Pointer[upiv1.ReqListKeys] // the last ReqListKeys sent
	dir     *keydir.Dir
	app, sw *node.Node
	swKeys  *keys.Keys
}

// newEnv runs the switch and the TPAP node of the default network (the
// TPAP only as the directory's user) on one fake clock.
func newEnv(t *testing.T) *env {
	e := &env{net: config.Default(), clock: nodetest.NewClock(time.Now()), tr: node.NewInmemTransport()}
	e.tr.Intercept = func(m node.Outgoing) error {
		if m.Method == upiv1.SwitchService_ReqRegKeys_FullMethodName {
			e.tries.Add(1)
		}
		if m.Method == upiv1.SwitchService_ReqListKeys_FullMethodName {
			req := &upiv1.ReqListKeys{}
			if err := proto.Unmarshal(m.Body, req); err != nil {
				return err
			}
			e.asked.Store(req)
		}
		if e.down.Load() && m.To == e.net.Switch().Name {
			return assert.AnError
		}
		return nil
	}
	self := e.net.TPAP()
	e.dir = keydir.New(e.net, self, nil)
	e.dir.Keys = pintest.Keys(t, self.Name)
	r := role{node.NewTable(node.Routes{
		Who: "TPAP", Services: keydir.Services(),
		Peers:  node.Directory{Network: e.net.Name, Roles: e.net.RolesByName(), Sole: config.RoleSwitch},
		Routes: e.dir.Routes(),
	})}
	e.app = nodetest.New(t, self.Name, r, e.tr, nodetest.WithClock(e.clock), func(c *node.Config) { c.Prefix, c.Role = self.Prefix, self.Role })
	sw := upiswitch.New(upiswitch.Config{Network: e.net, Self: e.net.Switch()})
	e.swKeys = pintest.Keys(t, e.net.Switch().Name)
	sw.SetKeys(e.swKeys)
	e.sw = nodetest.New(t, e.net.Switch().Name, sw, e.tr, nodetest.WithClock(e.clock), func(c *node.Config) { c.Prefix, c.Role = e.net.Switch().Prefix, config.RoleSwitch })
	sw.Attach(e.sw)
	e.tr.Attach(e.app)
	e.tr.Attach(e.sw)
	return e
}

func (e *env) registered() string {
	var id string
	_ = e.app.View(func(tx *store.Tx) error { id = store.MetaKeysRegistered.Get(tx); return nil })
	return id
}

// The node's keys reach the switch however long it is down: the outbox
// tries again until it acks, and the keys are not sent again while they
// stay the same.
func TestPublishRetriedUntilTheSwitchIsUp(t *testing.T) {
	e := newEnv(t)
	e.down.Store(true)
	require.NoError(t, e.dir.Publish(e.app))
	for i := int64(1); i <= 3; i++ {
		// The clock moves on while the try has not come: past whatever
		// backoff the outbox armed, however late it armed it.
		require.Eventually(t, func() bool {
			if e.tries.Load() >= i {
				return true
			}
			e.clock.Advance(time.Second)
			return false
		}, 5*time.Second, time.Millisecond, "try %d", i)
	}
	assert.Empty(t, e.registered(), "not registered while the switch is down")

	e.down.Store(false)
	e.clock.Advance(time.Minute)
	nodetest.Quiesce(t, e.app, e.sw)
	assert.Equal(t, e.dir.Keys.KeyID(), e.registered(), "RespRegKeys confirmed the keys")

	tries := e.tries.Load()
	require.NoError(t, e.dir.Publish(e.app))
	nodetest.Quiesce(t, e.app, e.sw)
	assert.Equal(t, tries, e.tries.Load(), "the same keys are not sent again")

	e.dir.Keys = pintest.Keys(t, e.net.TPAP().Name) // new keys (a lost key file)
	require.NoError(t, e.dir.Publish(e.app))
	nodetest.Quiesce(t, e.app, e.sw)
	assert.Equal(t, tries+1, e.tries.Load(), "new keys are")
	assert.Equal(t, e.dir.Keys.KeyID(), e.registered())
}

// ReqListKeys brings the signed list into the node's store; a list whose
// signature does not verify, or is signed by another key than the one the
// node pinned, is refused and changes nothing.
func TestListKeysVerifiedAndCached(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, e.dir.Publish(e.app))
	nodetest.Quiesce(t, e.app, e.sw)
	woken, cancel := e.app.Watch(keydir.WatchKey)
	defer cancel()
	require.NoError(t, e.dir.Request(e.app))
	nodetest.Quiesce(t, e.app, e.sw)
	select {
	case <-woken:
	default:
		t.Fatal("a kept list wakes its watchers")
	}
	lookup := func(name string) *keydir.Key {
		var k *keydir.Key
		require.NoError(t, e.app.View(func(tx *store.Tx) (err error) { k, _, err = keydir.Lookup(tx, name); return err }))
		return k
	}
	self := lookup(e.net.TPAP().Name)
	require.NotNil(t, self, "the node's own registered key is listed")
	assert.Equal(t, e.dir.Keys.KeyID(), self.GetKeyId())
	swk := lookup(e.net.Switch().Name)
	require.NotNil(t, swk, "the switch's own key is listed")
	assert.Equal(t, []byte(e.swKeys.SignPublic()), swk.GetSignKey())

	// A forged list: a bank key the switch never listed.
	bank := pintest.Keys(t, "abank")
	list := &upiv1.KeyList{Ts: timestamppb.New(e.clock.Now()), Signer: e.net.Switch().Name,
		Keys: []*upiv1.NodeKey{bank.Public(config.RoleBank), e.swKeys.Public(config.RoleSwitch)}}
	sig, err := keydir.Sign(e.swKeys.Sign, list)
	require.NoError(t, err)
	send := func(list *upiv1.KeyList, sig []byte) string {
		ack, err := e.app.Receive(t.Context(), upiv1.NodeKeyService_RespListKeys_FullMethodName, &upiv1.RespListKeys{
			Head: nodetest.Head(e.net.Switch().Name, e.net.Switch().Prefix),
			Txn:  &upiv1.Txn{Id: ids.NewTxnID(e.net.TPAP().Prefix), Type: upiv1.Txn_LIST_KEYS},
			Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}, List: list, Signature: sig,
		})
		require.NoError(t, err)
		return ack.GetErr()
	}
	bad := bytes.Clone(sig)
	bad[3] ^= 1
	assert.Contains(t, send(list, bad), "does not verify")
	tampered := proto.Clone(list).(*upiv1.KeyList)
	tampered.Keys[0].HpkeKey = pintest.Keys(t, "abank").HPKE.PublicKey().Bytes()
	tampered.Keys[0].KeyId = keys.KeyID("abank", tampered.Keys[0].HpkeKey)
	assert.Contains(t, send(tampered, sig), "does not verify")
	// Signed by an impostor that lists itself as the switch.
	impostor := pintest.Keys(t, e.net.Switch().Name)
	forged := &upiv1.KeyList{Ts: list.Ts, Signer: list.Signer, Keys: []*upiv1.NodeKey{bank.Public(config.RoleBank), impostor.Public(config.RoleSwitch)}}
	fsig, err := keydir.Sign(impostor.Sign, forged)
	require.NoError(t, err)
	assert.Contains(t, send(forged, fsig), "does not verify", "the pinned key of the switch decides")
	assert.Nil(t, lookup("abank"), "no refused list is kept")

	// The real switch's signature over the same list is taken.
	assert.Empty(t, send(list, sig))
	assert.Equal(t, bank.KeyID(), lookup("abank").GetKeyId())
}

// A list the switch sends over mutual TLS (the peer authenticated, the
// answer to this node's ReqListKeys) is the switch's own: when the
// switch's signing key changed (its key file lost and made anew), the
// node takes the new one rather than refusing every list from then on.
// Without an authenticated sender the pinned key still decides.
func TestListKeysFromTheAuthenticatedSwitchRepins(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, e.dir.Publish(e.app))
	require.NoError(t, e.dir.Request(e.app))
	nodetest.Quiesce(t, e.app, e.sw)
	asked := e.asked.Load()
	require.NotNil(t, asked)

	sw := e.net.Switch()
	renewed := pintest.Keys(t, sw.Name)
	list := &upiv1.KeyList{Ts: timestamppb.New(e.clock.Now()), Signer: sw.Name, Keys: []*upiv1.NodeKey{renewed.Public(config.RoleSwitch)}}
	sig, err := keydir.Sign(renewed.Sign, list)
	require.NoError(t, err)
	answer := func(ctx context.Context) string {
		ack, err := e.app.Receive(ctx, upiv1.NodeKeyService_RespListKeys_FullMethodName, &upiv1.RespListKeys{
			Head: nodetest.Head(sw.Name, sw.Prefix), Txn: asked.GetTxn(),
			Resp: &upiv1.Resp{ReqMsgId: asked.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}, List: list, Signature: sig,
		})
		require.NoError(t, err)
		return ack.GetErr()
	}
	assert.Contains(t, answer(t.Context()), "does not verify", "unauthenticated: the pinned key decides")

	assert.Empty(t, answer(node.WithPeer(t.Context(), node.Peer{Name: sw.Name, Role: config.RoleSwitch})))
	var k *keydir.Key
	require.NoError(t, e.app.View(func(tx *store.Tx) (err error) { k, _, err = keydir.Lookup(tx, sw.Name); return err }))
	assert.Equal(t, []byte(renewed.SignPublic()), k.GetSignKey(), "the new key is pinned")
}

// Dir.OnLite sees a RespListKeys first: one it handles (a GetLite
// answer, with no key list) never reaches the key cache; one it passes on
// is the directory's as before.
func TestOnLiteTakesGetLiteAnswers(t *testing.T) {
	e := newEnv(t)
	var seen []*upiv1.RespListKeys
	e.dir.OnLite = func(c *node.Ctx, m *upiv1.RespListKeys) (bool, error) {
		require.NotNil(t, c.Tx)
		if m.GetLite() == nil {
			return false, nil
		}
		seen = append(seen, m)
		return true, nil
	}
	sw := e.net.Switch()
	id := ids.NewTxnID(e.net.TPAP().Prefix)
	ack, err := e.app.Receive(t.Context(), upiv1.NodeKeyService_RespListKeys_FullMethodName, &upiv1.RespListKeys{
		Head: nodetest.Head(sw.Name, sw.Prefix), Txn: &upiv1.Txn{Id: id, Type: upiv1.Txn_LIST_KEYS},
		Resp: &upiv1.Resp{Result: upiv1.Resp_SUCCESS}, Lite: &upiv1.LiteInfo{Lrn: "LRN1", DeviceId: "d"},
	})
	require.NoError(t, err)
	assert.Empty(t, ack.GetErr(), "no list to verify: the hook took it")
	nodetest.Quiesce(t, e.app)
	require.Len(t, seen, 1)
	assert.Equal(t, "LRN1", seen[0].GetLite().GetLrn())
	listed := func() bool {
		var ok bool
		require.NoError(t, e.app.View(func(tx *store.Tx) error { ok = store.MetaKeyListAt.Has(tx); return nil }))
		return ok
	}
	assert.False(t, listed(), "nothing kept")

	// A key list is passed on and kept.
	require.NoError(t, e.dir.Publish(e.app))
	require.NoError(t, e.dir.Request(e.app))
	nodetest.Quiesce(t, e.app, e.sw)
	assert.True(t, listed(), "the key list is the directory's")
	assert.Len(t, seen, 1)
}
