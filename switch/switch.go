package upiswitch

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/keys"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// Config configures the switch.
type Config struct {
	Network *config.Network
	// Self is the switch's node in Network.
	Self   *config.Node
	Logger *slog.Logger
}

// Switch is the NPCI switch's handler. It implements node.Handler,
// node.Validator and node.TxnInspector.
type Switch struct {
	*node.Table
	net  *config.Network
	self *config.Node
	log  *slog.Logger
	n    *node.Node
	// keys are the switch's own (SetKeys, keys.go).
	keys *keys.Keys
	// parents are the flow kinds that start pay legs (flow.go), by kind.
	parents map[string]parent
	// timerKinds are the prefixes of the timers declared in Routes.Timers:
	// every one is a timer a pay or collect may have, so finish cancels
	// them all.
	timerKinds []string
}

var (
	_ node.Handler      = (*Switch)(nil)
	_ node.Validator    = (*Switch)(nil)
	_ node.TxnInspector = (*Switch)(nil)
)

// New returns a switch for cfg.
func New(cfg Config) *Switch {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Switch{net: cfg.Network, self: cfg.Self, log: log}
	s.addParent(flowDelegateAuth, delegateAuthParent{})
	timers := slices.Concat(s.payTimers(), s.timeoutTimers(), s.delegateTimers())
	for _, k := range timers {
		s.timerKinds = append(s.timerKinds, k.Prefix)
	}
	// The mandate flow's timers are its own (finish cancels pay timers).
	timers = append(timers, s.mandateTimers()...)
	// The Lite sync flow's timers are its own too (litesync.go).
	timers = append(timers, s.liteSyncTimers()...)
	timers = append(timers, s.liteReconTimers()...) // literecon.go
	s.Table = node.NewTable(node.Routes{
		Who:      "switch",
		Log:      log,
		Services: []*grpc.ServiceDesc{&upiv1.SwitchService_ServiceDesc},
		Peers:    node.Directory{Network: cfg.Network.Name, Roles: cfg.Network.RolesByName(), Sole: config.RoleSwitch},
		Routes:   slices.Concat(s.payRoutes(), s.timeoutRoutes(), s.valAddRoutes(), s.keyRoutes(), s.mandateRoutes(), s.delegateRoutes(), s.delegateAuthRoutes(), s.chkTxnRoutes(), s.withLiteRecon(s.liteSyncRoutes())),
		Timers:   timers,
	})
	return s
}

// Attach gives the switch its node; call it once, before n.Start.
func (s *Switch) Attach(n *node.Node) { s.n = n }

// Seed does nothing: the switch routes from the network file and keeps no
// seeded state.
func (s *Switch) Seed() error { return s.seedLiteRecon() }

// Register registers SwitchService on srv.
func (s *Switch) Register(srv *grpc.Server) {
	node.Register(srv, s.Table, s.n)
}

// InspectTxn implements node.TxnInspector.
func (s *Switch) InspectTxn(txnID string) (*upiv1.GetTransactionResponse, error) {
	if s.n == nil {
		return nil, status.Error(codes.Unavailable, "switch is not attached to a node")
	}
	var r *record
	err := s.n.View(func(tx *store.Tx) error {
		var err error
		r, err = loadRecord(tx, txnID)
		return err
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read transaction %s: %v", txnID, err)
	}
	if r == nil {
		return nil, status.Errorf(codes.NotFound, "transaction %s is not known at %s", txnID, s.n.Name())
	}
	return inspect(r, s.n.Name()), nil
}

const switchService = "/upi.v1.SwitchService/"

// The roles the switch takes messages from.
var (
	fromPSP  = []string{config.RolePSP}
	fromBank = []string{config.RoleBank}
)

// checkResp checks the resp block of a response.
func checkResp(api string, r *upiv1.Resp) error {
	switch {
	case r == nil:
		return node.Refuse("%s needs resp", api)
	case r.GetResult() != upiv1.Resp_SUCCESS && r.GetResult() != upiv1.Resp_FAILURE:
		return node.Refuse("%s resp.result must be SUCCESS or FAILURE, not %s", api, r.GetResult())
	case r.GetResult() == upiv1.Resp_FAILURE && r.GetErrCode() == "":
		return node.Refuse("%s with result FAILURE needs resp.err_code", api)
	}
	return nil
}

// validateReqPay checks a PAY, COLLECT or REFUND from a PSP.
func (s *Switch) validateReqPay(from string, m *upiv1.ReqPay) error {
	if lite.IsPurpose(m.GetTxn().GetPurpose()) {
		return s.validateLitePay(from, m) // lite_pay.go
	}
	t := m.GetTxn().GetType()
	if t != upiv1.Txn_PAY && t != upiv1.Txn_COLLECT {
		if t == upiv1.Txn_REFUND {
			return s.validateRefund(from, m) // refund.go
		}
		return node.Refuse("ReqPay from a PSP must be type PAY, COLLECT or REFUND, not %s", t)
	}
	if md := m.GetMandate(); md != nil {
		switch {
		case t != upiv1.Txn_PAY:
			return node.Refuse("ReqPay with a mandate must be type PAY, not %s", t)
		case md.GetUmn() == "" || md.GetSignature() == "":
			return node.Refuse("ReqPay with a mandate needs mandate.umn and mandate.signature")
		case !delegatedPurpose(m.GetTxn().GetPurpose()):
			return node.Refuse("ReqPay with a mandate needs txn.purpose 87 or 59, not %q", m.GetTxn().GetPurpose())
		}
	}
	if err := checkParties(m); err != nil {
		return err
	}
	if _, err := amountOf(m.GetPayer(), m.GetPayee()); err != nil {
		return err
	}
	// The originator's own party must be one of the sender's users.
	own, role := m.GetPayer(), "payer"
	if t == upiv1.Txn_COLLECT {
		own, role = m.GetPayee(), "payee"
	}
	if psp, ok := s.net.PSPForVPA(own.GetAddr()); !ok || psp.Name != from {
		return node.Refuse("%s %s of a %s is not a user of %s (handle @%s)", role, own.GetAddr(), t, from, ids.HandleOf(own.GetAddr()))
	}
	if err := checkAc(role, own.GetAc()); err != nil {
		return err
	}
	if t == upiv1.Txn_PAY && m.GetMandate() == nil && !hasPIN(m.GetPayer()) {
		return node.Refuse("PAY needs payer.creds with a PIN block (type PIN)")
	}
	if e := m.GetTxn().GetExpireAfterMinutes(); e < 0 || e > maxExpireMinutes {
		return node.Refuse("txn.expire_after_minutes %d is out of range 0..%d", e, maxExpireMinutes)
	}
	return nil
}

// maxExpireMinutes is NPCI's longest collect expiry: 45 days.
const maxExpireMinutes = 45 * 24 * 60

// amountOf is the transaction amount: payer.amount_paise and/or
// payee.amount_paise, positive and equal when both are set.
func amountOf(payer, payee *upiv1.Party) (int64, error) {
	a, b := payer.GetAmountPaise(), payee.GetAmountPaise()
	switch {
	case a < 0 || b < 0:
		return 0, node.Refuse("amount_paise must be greater than zero")
	case a == 0 && b == 0:
		return 0, node.Refuse("amount_paise is required (payer.amount_paise or payee.amount_paise) and must be greater than zero")
	case a != 0 && b != 0 && a != b:
		return 0, node.Refuse("payer.amount_paise %d and payee.amount_paise %d differ", a, b)
	}
	return max(a, b), nil
}

// reqPayFields names a ReqPay's fields in upi.CheckParties' errors.
var reqPayFields = upi.Fields{Payer: "payer.addr", Payee: "payee.addr", Parties: "payer and payee"}

// checkParties checks a ReqPay's payer and payee (upi.CheckParties).
func checkParties(m *upiv1.ReqPay) error {
	if _, _, err := upi.CheckParties(reqPayFields, m.GetPayer().GetAddr(), m.GetPayee().GetAddr()); err != nil {
		if errors.Is(err, upi.ErrSameParty) {
			return node.Refuse("%v: a %s must move money between two parties", err, m.GetTxn().GetType())
		}
		return node.Refuse("%v", err)
	}
	return nil
}

func checkAc(role string, ac *upiv1.Account) error {
	if ac.GetAcNum() == "" || ac.GetIfsc() == "" {
		return node.Refuse("%s.ac needs ac_num and ifsc", role)
	}
	return nil
}

func hasPIN(p *upiv1.Party) bool {
	for _, c := range p.GetCreds() {
		if strings.EqualFold(c.GetType(), "PIN") && c.GetData() != "" {
			return true
		}
	}
	return false
}

// Timer names are "<kind>:<txn id>": the collect expiry here, the response
// timeouts in timeouts.go.
const timerExpire = "expire"

func timerName(kind, txnID string) string { return kind + ":" + txnID }

// byTxn adapts a timer step over the txn id (the name after "kind:") to
// node.TimerKind.Fire.
func byTxn(f func(c *node.Ctx, txnID string) error) func(*node.Ctx, node.Timer) error {
	return func(c *node.Ctx, t node.Timer) error {
		_, txnID, ok := strings.Cut(t.Name, ":")
		if !ok {
			return fmt.Errorf("timer %q: want kind:txn", t.Name)
		}
		return f(c, txnID)
	}
}
