// Package keydir is a node's side of the switch's key directory
// (docs/FLOWS.md, Node keys): it publishes the node's public keys to the
// switch (ReqRegKeys, through the outbox, again only when they change),
// asks for the signed list of every node's keys (ReqListKeys), checks the
// switch's signature on the answer and keeps the list in the node's store
// (store.KeyDir), where Lookup reads it. Every role but the switch embeds
// a Dir's routes; only the TPAP reads the list today.
package keydir

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/keys"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// Key is one node's public keys as this node last took them from the
// switch's list.
type Key = recordsv1.CachedNodeKey

// cache is the node's copy of the switch's list, by node name.
var cache = store.NewTable[Key](store.KeyDir)

// WatchKey is what a node's Watch wakes on when a new list is kept.
const WatchKey = "keydir:list"

// Service is the service every node but the switch serves for the
// directory's answers.
var Service = &upiv1.NodeKeyService_ServiceDesc

// Dir is one node's use of the directory.
type Dir struct {
	// Self and Role are the node's name and role; Switch the switch's name.
	Self, Role, Switch string
	// Keys are the node's own keys; nil publishes nothing.
	Keys *keys.Keys
	Log  *slog.Logger

	// mem is what Get last read of the stored list, by node name
	// (memKey), so that a payment does not read and decode the store;
	// a list kept by this Dir's respListKeys clears it.
	mem sync.Map
	// stale makes Get take no cached key until a new list is kept
	// (Stale).
	stale atomic.Bool

	// OnLite, if set, sees every RespListKeys first, in its step: it
	// reports whether the answer is a UPI Lite registration's (ReqListKeys
	// type GetLite, docs/FLOWS.md, UPI Lite), which it then handled, and
	// the key list is not looked at. A PSP sets it; an error fails the
	// step (node.Refuse refuses the message).
	OnLite func(c *node.Ctx, m *upiv1.RespListKeys) (handled bool, err error)
}

// Stale makes the next Get ask the switch for a new list rather than take
// a cached key: what a node does when a key it used did not work (a bank
// that answered U14 may have made new keys).
func (d *Dir) Stale() {
	d.stale.Store(true)
	d.mem.Clear()
}

// memKey is a key Get read from the stored list, and when that list
// came.
type memKey struct {
	k  *Key
	at time.Time
}

// New returns the Dir of node self in net.
func New(net *config.Network, self *config.Node, log *slog.Logger) *Dir {
	d := &Dir{Self: self.Name, Role: self.Role, Log: log}
	if sw := net.Switch(); sw != nil {
		d.Switch = sw.Name
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return d
}

var fromSwitch = []string{config.RoleSwitch}

// Routes are the directory's answers this node takes from the switch and
// the ReqRegKeys it sends.
func (d *Dir) Routes() []node.Route {
	return []node.Route{
		{Method: upiv1.NodeKeyService_RespRegKeys_FullMethodName, From: fromSwitch,
			Handle: node.Handles(d.respRegKeys)},
		{Method: upiv1.NodeKeyService_RespListKeys_FullMethodName, From: fromSwitch,
			Handle: node.Handles(d.respListKeys)},
		{Method: upiv1.SwitchService_ReqRegKeys_FullMethodName, Refused: func(_ *node.Ctx, r node.Refused) error {
			d.Log.Error("the switch refused this node's keys", "reason", r.Reason)
			return nil
		}},
	}
}

// Services returns services with the directory's added.
func Services(services ...*grpc.ServiceDesc) []*grpc.ServiceDesc { return append(services, Service) }

// Publish queues a ReqRegKeys of the node's keys to the switch unless the
// same keys were queued or registered before. The outbox delivers it
// whenever the switch is up.
func (d *Dir) Publish(n *node.Node) error {
	if d.Keys == nil || d.Switch == "" {
		return nil
	}
	id := d.Keys.KeyID()
	return n.Update(func(c *node.Ctx) error {
		if store.MetaKeysSent.Get(c.Tx) == id || store.MetaKeysRegistered.Get(c.Tx) == id {
			return nil
		}
		if err := c.Send(d.Switch, upiv1.SwitchService_ReqRegKeys_FullMethodName, &upiv1.ReqRegKeys{
			Txn: &upiv1.Txn{Id: ids.NewTxnID(n.Prefix()), Type: upiv1.Txn_REG_KEYS, Ts: timestamppb.New(c.Now())},
			Key: d.Keys.Public(d.Role),
		}); err != nil {
			return err
		}
		return store.MetaKeysSent.Set(c.Tx, id)
	})
}

func (d *Dir) respRegKeys(c *node.Ctx, _ *node.Inbound, m *upiv1.RespRegKeys) error {
	if m.GetResp().GetResult() != upiv1.Resp_SUCCESS {
		d.Log.Error("the switch did not register this node's keys", "code", m.GetResp().GetErrCode())
		return nil
	}
	return store.MetaKeysRegistered.Set(c.Tx, m.GetKeyId())
}

// Request queues a ReqListKeys to the switch.
func (d *Dir) Request(n *node.Node) error {
	if d.Switch == "" {
		return errors.New("keydir: the network has no switch")
	}
	return n.Update(func(c *node.Ctx) error {
		return c.Send(d.Switch, upiv1.SwitchService_ReqListKeys_FullMethodName, &upiv1.ReqListKeys{
			Txn: &upiv1.Txn{Id: ids.NewTxnID(n.Prefix()), Type: upiv1.Txn_LIST_KEYS, Ts: timestamppb.New(c.Now())},
		})
	})
}

// respListKeys checks the list's signature and keeps it.
func (d *Dir) respListKeys(c *node.Ctx, in *node.Inbound, m *upiv1.RespListKeys) error {
	if d.OnLite != nil {
		if handled, err := d.OnLite(c, m); handled || err != nil {
			return err
		}
	}
	if m.GetResp().GetResult() != upiv1.Resp_SUCCESS {
		d.Log.Warn("the switch did not list keys", "code", m.GetResp().GetErrCode())
		return nil
	}
	list := m.GetList()
	if list.GetSigner() != in.From {
		return node.Refuse("RespListKeys: list.signer %q is not the sender %s", list.GetSigner(), in.From)
	}
	// The switch's signing key. A list that came over mutual TLS from the
	// switch (in.Role: its certificate, and Receive checked that it
	// answers this node's ReqListKeys) is the switch's, so its own key
	// for the switch is the one to verify with, and replaces a pinned
	// one (a switch whose key file was lost and made anew). Without TLS
	// (--insecure) the one pinned from the first list decides (trust on
	// first use).
	var listed ed25519.PublicKey
	for _, k := range list.GetKeys() {
		if k.GetNode() == in.From && k.GetRole() == config.RoleSwitch {
			listed = k.GetSignKey()
		}
	}
	pinned, ok, err := cache.Get(c.Tx, in.From)
	if err != nil {
		return err
	}
	signer := listed
	if ok && in.Role == "" {
		signer = pinned.GetSignKey()
	}
	if err := Verify(signer, list, m.GetSignature()); err != nil {
		return node.Refuse("RespListKeys: %v", err)
	}
	if ok && !ed25519.PublicKey(pinned.GetSignKey()).Equal(listed) {
		if in.Role == "" {
			return node.Refuse("RespListKeys: the switch's signing key changed; this node keeps the one it pinned")
		}
		d.Log.Warn("the switch's signing key changed; taking the new one, from a list the switch sent over mutual TLS", "switch", in.From)
	}
	if err := Keep(c.Tx, list); err != nil {
		return node.Refuse("RespListKeys: %v", err)
	}
	c.Tx.OnCommit(func() { d.mem.Clear(); d.stale.Store(false) })
	c.Notify(WatchKey)
	return nil
}

// Keep stores list, already verified, as this node's copy of the switch's
// key list. Only an invalid key in it is an error of the list; others are
// the store's.
func Keep(tx *store.Tx, list *upiv1.KeyList) error {
	listed := store.Nanos(list.GetTs().AsTime())
	for _, k := range list.GetKeys() {
		if err := keys.CheckPublic(k); err != nil {
			return fmt.Errorf("key of %s: %w", k.GetNode(), err)
		}
	}
	for _, k := range list.GetKeys() {
		if err := cache.Put(tx, k.GetNode(), &Key{
			Node: k.GetNode(), Role: k.GetRole(), SignKey: k.GetSignKey(), HpkeKey: k.GetHpkeKey(),
			KeyId: k.GetKeyId(), Created: store.Nanos(k.GetCreated().AsTime()), Listed: listed,
		}); err != nil {
			return err
		}
	}
	return store.MetaKeyListAt.Set(tx, list.GetTs().AsTime())
}

// marshal is the signed form of a list.
func marshal(list *upiv1.KeyList) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(list)
}

// Sign is the switch's signature of list.
func Sign(k ed25519.PrivateKey, list *upiv1.KeyList) ([]byte, error) {
	b, err := marshal(list)
	if err != nil {
		return nil, err
	}
	return ed25519.Sign(k, b), nil
}

// Verify checks sig over list with the switch's signing key pub.
func Verify(pub ed25519.PublicKey, list *upiv1.KeyList, sig []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return errors.New("no signing key of the switch to check the list with")
	}
	b, err := marshal(list)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, b, sig) {
		return errors.New("the list's signature does not verify with the switch's key")
	}
	return nil
}

// Lookup returns node's key from this node's copy of the list.
func Lookup(tx *store.Tx, nodeName string) (*Key, bool, error) { return cache.Get(tx, nodeName) }

// Get returns node's key from the cached list when it is there and the
// list is younger than maxAge (by the node's clock); otherwise it asks the
// switch and waits, up to wait (wall time, as an app call's bound), for a
// list that has it, asking again every 250 ms.
func (d *Dir) Get(ctx context.Context, n *node.Node, nodeName string, maxAge, wait time.Duration) (*Key, error) {
	if v, ok := d.mem.Load(nodeName); ok && !d.stale.Load() && n.Now().Sub(v.(memKey).at) < maxAge {
		return v.(memKey).k, nil
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	var asked time.Time
	for {
		woken, cancel := n.Watch(WatchKey)
		var k *Key
		var found, fresh bool
		var listAt time.Time
		err := n.View(func(tx *store.Tx) (err error) {
			k, found, err = cache.Get(tx, nodeName)
			if at, ok, _ := store.MetaKeyListAt.Get(tx); ok && n.Now().Sub(at) < maxAge {
				fresh, listAt = true, at
			}
			return err
		})
		if err != nil {
			cancel()
			return nil, err
		}
		if found && fresh && !d.stale.Load() {
			cancel()
			d.mem.Store(nodeName, memKey{k: k, at: listAt})
			return k, nil
		}
		if time.Since(asked) >= 250*time.Millisecond {
			if err := d.Request(n); err != nil {
				cancel()
				return nil, err
			}
			asked = time.Now()
		}
		retry := time.NewTimer(250 * time.Millisecond)
		select {
		case <-woken:
		case <-retry.C:
		case <-deadline.C:
			cancel()
			retry.Stop()
			if found {
				return k, nil // a stale copy beats none: the bank's answer tells
			}
			return nil, fmt.Errorf("no key of node %s in the switch's key list after %v", nodeName, wait)
		case <-ctx.Done():
			cancel()
			retry.Stop()
			return nil, ctx.Err()
		}
		cancel()
		retry.Stop()
	}
}
