package tpap

import (
	"context"
	"errors"
	"fmt"
	"google.golang.org/protobuf/proto"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/keydir"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// Config configures a TPAP.
type Config struct {
	Network *config.Network
	Self    *config.Node
	Logger  *slog.Logger
	// PSP returns a client of the app API (PspAppService) of the PSP node
	// called pspNode. It is called for every app request that goes to a
	// PSP, so it should hand out cached clients.
	PSP func(pspNode string) (upiv1.PspAppServiceClient, error)
}

// TPAP is the app node. It implements node.Handler for the notifications
// PSPs send it (TpapService/Notify), and upiv1.TpapAppServiceServer for the
// people and scripts that use it.
type TPAP struct {
	upiv1.UnimplementedTpapAppServiceServer
	*node.Table

	cfg Config
	log *slog.Logger
	n   *node.Node
	// dir is this node's copy of the switch's key list (pinblock.go).
	dir *keydir.Dir
	// blocks are the PIN blocks of PSP calls not yet answered, by txn id
	// (pinblock.go).
	blocks sync.Map
	// keyWait bounds the wait for the switch's key list (KeyWait).
	keyWait time.Duration
	// waits hands decided Lite calls to their waiters (lite_waits.go).
	waits callWaits
}

var (
	_ node.Handler               = (*TPAP)(nil)
	_ node.Validator             = (*TPAP)(nil)
	_ node.TxnInspector          = (*TPAP)(nil)
	_ upiv1.TpapAppServiceServer = (*TPAP)(nil)
	_ node.LiteLister            = (*TPAP)(nil)
)

// New makes a TPAP; Attach gives it its node.
func New(cfg Config) *TPAP {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	x := &TPAP{cfg: cfg, log: log, dir: keydir.New(cfg.Network, cfg.Self, log), keyWait: KeyWait}
	x.Table = node.NewTable(node.Routes{
		Who:      "TPAP",
		Log:      log,
		Services: keydir.Services(&upiv1.TpapService_ServiceDesc),
		Peers:    node.Directory{Network: cfg.Network.Name, Roles: cfg.Network.RolesByName(), Sole: config.RoleSwitch},
		Routes:   slices.Concat(x.notifyRoutes(), x.dir.Routes()),
	})
	return x
}

// Attach gives the TPAP the node it runs on. Call it once, after node.New
// and before the node starts or any API call.
func (x *TPAP) Attach(n *node.Node) { x.n = n }

// Seed queues the TPAP's public keys to the switch if they changed, and
// adds the network file's merchants' Lite devices (once); the app keeps no
// other seeded state (users live at their PSPs and banks).
func (x *TPAP) Seed() error {
	if err := x.seedLiteDevices(); err != nil {
		return err
	}
	return x.dir.Publish(x.n)
}

// Register registers TpapService (the network side) and TpapAppService (the
// app API) on s.
func (x *TPAP) Register(s *grpc.Server) {
	node.Register(s, x.Table, x.n)
	upiv1.RegisterTpapAppServiceServer(s, x)
}

// notifyRoutes: the notifications PSPs send (docs/FLOWS.md, Notify).
func (x *TPAP) notifyRoutes() []node.Route {
	return []node.Route{
		{Method: upiv1.TpapService_Notify_FullMethodName, From: []string{config.RolePSP},
			Validate: node.Validates(x.validateNotify), Handle: node.Handles(x.notify)},
	}
}

// validateNotify: a notification needs a known kind, a valid user_addr
// whose handle belongs to the sending PSP, and, for TXN_STATUS, the
// outcome in resp.result.
func (x *TPAP) validateNotify(in *node.Inbound, m *upiv1.Notification) error {
	if _, known := upiv1.Notification_Kind_name[int32(m.GetKind())]; !known || m.GetKind() == upiv1.Notification_KIND_UNSPECIFIED {
		return node.Refuse("kind is required (TXN_STATUS, COLLECT_REQUEST, ...)")
	}
	if err := ids.ValidateVPA(m.GetUserAddr()); err != nil {
		return node.Refuse("user_addr: %v", err)
	}
	psp, ok := x.cfg.Network.PSPForVPA(m.GetUserAddr())
	if !ok {
		return node.Refuse("user_addr %s: no PSP owns handle @%s", m.GetUserAddr(), ids.HandleOf(m.GetUserAddr()))
	}
	if psp.Name != in.From {
		return node.Refuse("user_addr %s belongs to %s; %s may not notify that user", m.GetUserAddr(), psp.Name, in.From)
	}
	if m.GetKind() == upiv1.Notification_TXN_STATUS && upi.Rank(m.GetResp().GetResult()) == 0 {
		return node.Refuse("TXN_STATUS needs resp.result (PENDING, SUCCESS, FAILURE or DEEMED)")
	}
	return nil
}

// notify stores the notification for its user and applies it to the
// app's record of the transaction.
func (x *TPAP) notify(c *node.Ctx, in *node.Inbound, m *upiv1.Notification) error {
	said := recordFromNotification(m, in.From, c.Now(), x.cfg.Network.Timeouts.CollectExpiryMax)
	switch m.GetKind() {
	case upiv1.Notification_TXN_STATUS, upiv1.Notification_LITE_STATUS, upiv1.Notification_LITE_SYNC:
		// The device whose call it answers learns it in this step
		// (lite.go); the notification is kept for the user below.
		if err := x.applyLite(c, m); err != nil {
			return err
		}
	}

	rec, found, err := txns.Get(c.Tx, said.TxnId)
	if err != nil {
		return err
	}
	switch m.GetKind() {
	case upiv1.Notification_TXN_STATUS:
		if !found {
			rec = proto.Clone(said).(*txnRecord)
		} else {
			recAdvance(rec, recStatus(said), said.Rrn, said.ErrCode)
			recFill(rec, said)
			rec.Updated = store.Nanos(c.Now())
		}
		if recStatus(rec) != upiv1.Resp_PENDING && rec.Payer != "" {
			if err := c.Tx.Delete(store.Pending, pendingKey(rec.Payer, rec.TxnId)); err != nil {
				return err
			}
		}
		if said.ErrCode == upi.CodeEncryption {
			// The remitter could not open the block: perhaps it has a
			// new key. The next block waits for a fresh list.
			c.Tx.OnCommit(x.dir.Stale)
		}
		c.Notify(rec.TxnId)
	case upiv1.Notification_COLLECT_REQUEST:
		said.Type = upiv1.Txn_COLLECT.String()
		said.Payer = m.GetUserAddr()
		if !found {
			rec = proto.Clone(said).(*txnRecord)
		} else {
			// This app may have created the collect itself (the payee
			// uses it too): keep its record and add what the payer's PSP
			// knows.
			recAdvance(rec, upiv1.Resp_PENDING, said.Rrn, "")
			recFill(rec, said)
			if said.Expires != nil {
				rec.Expires = proto.Int64(*said.Expires)
			}
			rec.Updated = store.Nanos(c.Now())
		}
		if recStatus(rec) == upiv1.Resp_PENDING {
			if err := c.Tx.Put(store.Pending, pendingKey(m.GetUserAddr(), rec.TxnId), nil); err != nil {
				return err
			}
		}
		c.Notify(rec.TxnId)
	case upiv1.Notification_DELEGATE_PAY:
		// A delegated payment waiting for the primary (user_addr): listed
		// for them like a collect, on the payment's record.
		said.Payer = m.GetUserAddr()
		if !found {
			rec = proto.Clone(said).(*txnRecord)
		} else {
			recAdvance(rec, upiv1.Resp_PENDING, said.Rrn, "")
			recFill(rec, said)
			rec.Updated = store.Nanos(c.Now())
		}
		if recStatus(rec) == upiv1.Resp_PENDING {
			if err := c.Tx.Put(store.Pending, pendingKey(m.GetUserAddr(), rec.TxnId), nil); err != nil {
				return err
			}
		}
		c.Notify(rec.TxnId)
	default:
		// Delegation, mandate and Lite notifications are only kept for
		// the user to read.
		if found {
			recFill(said, rec)
			said.Created = rec.Created
		}
		return x.storeNotification(c, m, in.From, said)
	}
	if err := txns.Put(c.Tx, rec.TxnId, rec); err != nil {
		return err
	}
	// The notification shows what it said, completed from the record.
	recFill(said, rec)
	said.Created = rec.Created
	return x.storeNotification(c, m, in.From, said)
}

func (x *TPAP) storeNotification(c *node.Ctx, m *upiv1.Notification, from string, t *txnRecord) error {
	seq, err := c.Tx.NextSeq(store.Notifications)
	if err != nil {
		return err
	}
	nr := &notifRecord{Kind: m.GetKind().String(), Ts: store.Nanos(c.Now()), From: from, Txn: t}
	return notifs.Put(c.Tx, string(notifKey(m.GetUserAddr(), seq)), nr)
}

// InspectTxn implements node.TxnInspector. The state is the status, or
// AWAITING_APPROVAL for a collect waiting for its payer's answer.
func (x *TPAP) InspectTxn(txnID string) (*upiv1.GetTransactionResponse, error) {
	var rec *txnRecord
	var found, waiting bool
	err := x.n.View(func(tx *store.Tx) error {
		var err error
		rec, found, err = txns.Get(tx, txnID)
		if found && rec.Payer != "" {
			waiting = tx.Has(store.Pending, pendingKey(rec.Payer, txnID))
		}
		return err
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read txn %s: %v", txnID, err)
	}
	if !found {
		return nil, status.Errorf(codes.NotFound, "node %s has no transaction %s", x.n.Name(), txnID)
	}
	state := rec.Status
	if waiting {
		state = "AWAITING_APPROVAL"
	}
	return &upiv1.GetTransactionResponse{Node: x.n.Name(), State: state, Transaction: recProto(rec)}, nil
}

// pspClient returns the app API of the PSP node called name.
func (x *TPAP) pspClient(name string) (upiv1.PspAppServiceClient, error) {
	if x.cfg.PSP == nil {
		return nil, status.Errorf(codes.Unavailable, "the TPAP has no way to reach PSP %s", name)
	}
	cl, err := x.cfg.PSP(name)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "cannot reach PSP %s: %v", name, err)
	}
	return cl, nil
}

// pspErr passes a PSP's gRPC error on with its code and message; any other
// error (the call never got an answer) becomes Unavailable.
func pspErr(psp string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	if s, ok := status.FromError(err); ok {
		return s.Err()
	}
	return status.Error(codes.Unavailable, fmt.Sprintf("PSP %s: %v", psp, err))
}
