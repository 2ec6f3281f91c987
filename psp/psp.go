package psp

import (
	"time"

	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/keydir"
	"github.com/upisim/upisim/internal/keys"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// Config configures a PSP.
type Config struct {
	Network *config.Network
	// Self is this PSP's node in Network.
	Self   *config.Node
	Logger *slog.Logger
	// PINKey keys the PIN block's part of an InitiatePay fingerprint
	// (pinTag). It should be kept apart from the store (cluster keeps it in
	// NAME.keys, mode 0600, as keys.Keys.Secret); nil draws a key for
	// this process only, which makes a repeat after a restart look like a
	// different transaction.
	PINKey []byte
	// OnOutcome, if set, runs inside the step in which this PSP learns
	// that a pay's or collect's outcome is decided (SUCCESS or FAILURE; a
	// DEEMED is not one): the initiator's final RespPay or the
	// counter-party's ReqTxnConfirmation, whichever comes first. It runs
	// once per transaction, also when both sides are this PSP's users.
	// It runs in the step's store transaction (c.Tx, c.Send), so what it
	// writes and sends commits with the outcome or not at all: an error
	// fails the whole step, and the message stays unhandled, to be
	// delivered again. It must not refuse (node.Refuse) nor block.
	OnOutcome func(c *node.Ctx, o Outcome) error
	// OnDeemed, if set, runs in the step in which this PSP first learns that a
	// pay or collect it is a side of is DEEMED (RespPay DEEMED or
	// ReqTxnConfirmation DEEMED), with Result DEEMED. Same contract as OnOutcome.
	OnDeemed func(c *node.Ctx, o Outcome) error
	// OnAuthDetails, if set, runs at the payee's PSP in the step that answers a
	// ReqAuthDetails for a payee of this PSP (Result PENDING, RefID from the
	// txn). A non-empty code declines the payment: RespAuthDetails FAILURE
	// with that code (the pay ends FAILURE with it, as a payee PSP's decline
	// does today). err fails the step. It runs for each ReqAuthDetails
	// answered (the switch asks once per pay), not for an unknown payee
	// (U29) nor one a rule of the network file declines.
	OnAuthDetails func(c *node.Ctx, o Outcome) (declineCode string, err error)
	// OnStatus, if set, hears the switch's answer to CheckStatus (or its
	// timeout: Found false, ErrCode U09), in that step, once per check.
	OnStatus func(c *node.Ctx, s StatusAnswer) error
	// OnLiteCredit, if set, runs at the payee's PSP in the step that takes
	// the switch's LITE_SYNC ReqTxnConfirmation (docs/FLOWS.md, UPI Lite,
	// "The merchant's order"): records are the batch's SUCCESS records to
	// this PSP's users, each with its official utr, provisional_utr and
	// order_id. The merchant layer pays the orders they name. Same contract
	// as OnOutcome: what it stores and sends commits with the step.
	OnLiteCredit func(c *node.Ctx, records []*upiv1.LiteRecordResult) error
	// Routes and Timers are added to the PSP's route table (another layer in
	// the PSP's process: the merchant layer's HTTP deliveries and timers).
	Routes []node.Route
	Timers []node.TimerKind
}

// PSP is the PSP role. It is the node's Handler (and Validator), serves
// PspAppService itself, and answers the AdminService questions it can
// (node.TxnInspector, node.HeartbeatReporter).
type PSP struct {
	upiv1.UnimplementedPspAppServiceServer
	*node.Table

	cfg    Config
	log    *slog.Logger
	name   string
	prefix string
	// switchName is the NPCI switch every request goes to; tpapName the app
	// node notifications go to ("" when the network has none).
	switchName, tpapName string
	n                    *node.Node
	// dir publishes the PSP's keys to the switch (internal/keydir).
	dir *keydir.Dir
	// circleHooks are the mandate's calls of a FULL Circle link (circle.go).
	circleHooks
	// onMandate, if set, hears each RespMandate PSP(P) applied (mandate.go),
	// in its step: txn id, org_txn_id, UMN and the outcome.
	onMandate func(c *node.Ctx, txnID, orgTxnID, umn string, resp *upiv1.Resp) error
}

// SetKeys gives the PSP its keys: their Secret keys the fingerprints
// (Config.PINKey), and the public half is published to the switch. Call
// it before the PSP serves.
func (p *PSP) SetKeys(k *keys.Keys) {
	p.SetPINKey(k.Secret)
	p.dir.Keys = k
}

// metaLastHbt and timeFormat are the spelling hbt.go still uses of
// store.MetaLastHeartbeat and its encoding (MetaLastHeartbeat.Set is the
// same write).
const (
	metaLastHbt = store.MetaLastHeartbeat
	timeFormat  = time.RFC3339Nano
)

// New returns the PSP described by cfg.Self in cfg.Network.
func New(cfg Config) *PSP {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.PINKey) == 0 {
		cfg.PINKey = make([]byte, 32)
		_, _ = rand.Read(cfg.PINKey)
	}
	p := &PSP{cfg: cfg, name: cfg.Self.Name, prefix: cfg.Self.Prefix}
	if p.prefix == "" {
		p.prefix = ids.PrefixFor(p.name)
	}
	p.log = cfg.Logger.With("role", config.RolePSP, "node", p.name)
	if sw := cfg.Network.Switch(); sw != nil {
		p.switchName = sw.Name
	}
	if tp := cfg.Network.TPAP(); tp != nil {
		p.tpapName = tp.Name
	}
	p.dir = keydir.New(cfg.Network, cfg.Self, p.log)
	p.dir.OnLite = p.respListKeysLite // lite.go
	p.Table = node.NewTable(node.Routes{
		Who:      "PSP",
		Log:      p.log,
		Services: keydir.Services(&upiv1.PspService_ServiceDesc),
		Peers:    node.Directory{Network: cfg.Network.Name, Roles: cfg.Network.RolesByName(), Sole: config.RoleSwitch},
		Routes: slices.Concat(p.payRoutes(), p.valAddRoutes(), p.hbtRoutes(), p.dir.Routes(), p.mandateRoutes(), p.declinableInvites(p.circleRoutes()), p.circlePayRoutes(), p.circleValAddRoutes(),
			p.statusRoutes(), p.liteRoutes(), cfg.Routes),
		Timers: slices.Concat(p.circleTimers(), p.circleValAddTimers(), p.statusTimers(), cfg.Timers),
	})
	// A FULL link's mandate is the mandate flow's (circle_mandate.go).
	p.startMandate, p.revokeLink, p.updateLink, p.onMandate = p.startLinkMandate, p.revokeLinkMandate, p.updateLinkMandate, p.linkMandateOutcome
	return p
}

// SetPINKey replaces the key of Config.PINKey; call it before the PSP
// serves.
func (p *PSP) SetPINKey(k []byte) { p.cfg.PINKey = bytes.Clone(k) }

// pinTag is what an InitiatePay fingerprint keeps of the PIN block: an
// HMAC-SHA256 of its ciphertext under the PSP's PIN key, bound to the
// transaction.
func (p *PSP) pinTag(block, txnID string) string {
	m := hmac.New(sha256.New, p.cfg.PINKey)
	m.Write([]byte(txnID))
	m.Write([]byte{0})
	m.Write([]byte(block))
	return hex.EncodeToString(m.Sum(nil))
}

// Attach binds the PSP to its node; call it once, before n.Start.
func (p *PSP) Attach(n *node.Node) { p.n = n }

// Seed registers every user and merchant of the network file whose VPA
// handle this PSP owns, once per store (later calls do nothing but the
// next), and queues the PSP's public keys to the switch if they changed.
func (p *PSP) Seed() error {
	if err := p.dir.Publish(p.n); err != nil {
		return err
	}
	return p.n.Update(func(c *node.Ctx) error {
		if store.MetaPSPSeeded.Has(c.Tx) {
			return nil
		}
		ifscOf := func(bank string) string {
			if b, ok := p.cfg.Network.NodeByName(bank); ok {
				return b.IFSC
			}
			return ""
		}
		for _, u := range p.cfg.Network.UsersOfPSP(p.name) {
			if err := putVPA(c.Tx, &vpaRecord{
				Vpa: ids.NormalizeVPA(u.VPA), Name: u.Name, Type: partyPerson, Mcc: personMCC,
				AcNum: u.Account, Ifsc: ifscOf(u.Bank), Mobile: u.Mobile,
			}); err != nil {
				return err
			}
		}
		for _, m := range p.cfg.Network.MerchantsOfPSP(p.name) {
			if err := putVPA(c.Tx, &vpaRecord{
				Vpa: ids.NormalizeVPA(m.VPA), Name: m.Name, Type: partyEntity, Mcc: m.MCC,
				AcNum: m.Account, Ifsc: ifscOf(m.Bank),
			}); err != nil {
				return err
			}
		}
		return store.MetaPSPSeeded.Set(c.Tx, c.Now())
	})
}

// Register registers PspService (for the switch) and PspAppService (for
// the TPAP app) on s. Call it after Attach.
func (p *PSP) Register(s *grpc.Server) {
	node.Register(s, p.Table, p.n)
	upiv1.RegisterPspAppServiceServer(s, p)
}

// InspectTxn implements node.TxnInspector.
func (p *PSP) InspectTxn(txnID string) (*upiv1.GetTransactionResponse, error) {
	r, err := p.viewTxn(txnID)
	if err != nil {
		return nil, err
	}
	return &upiv1.GetTransactionResponse{Node: p.name, State: r.State, Transaction: txnProto(r)}, nil
}

// viewTxn reads a transaction record, or answers NotFound.
func (p *PSP) viewTxn(txnID string) (*txnRecord, error) {
	var r *txnRecord
	err := p.n.View(func(tx *store.Tx) error {
		var err error
		r, err = getTxn(tx, txnID)
		return err
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read transaction: %v", err)
	}
	if r == nil {
		return nil, status.Errorf(codes.NotFound, "transaction %s is not known at PSP %s", txnID, p.name)
	}
	return r, nil
}

var (
	_ node.Handler              = (*PSP)(nil)
	_ node.Validator            = (*PSP)(nil)
	_ node.TxnInspector         = (*PSP)(nil)
	_ node.HeartbeatReporter    = (*PSP)(nil)
	_ upiv1.PspAppServiceServer = (*PSP)(nil)
)
