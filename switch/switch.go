package upiswitch

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
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
	net  *config.Network
	self *config.Node
	log  *slog.Logger
	n    *node.Node
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
	return &Switch{net: cfg.Network, self: cfg.Self, log: log}
}

// Attach gives the switch its node; call it once, before n.Start.
func (s *Switch) Attach(n *node.Node) { s.n = n }

// Seed does nothing: the switch routes from the network file and keeps no
// seeded state.
func (s *Switch) Seed() error { return nil }

// Register registers SwitchService on srv.
func (s *Switch) Register(srv *grpc.Server) {
	upiv1.RegisterSwitchServiceServer(srv, &netServer{n: s.n})
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
	return r.inspect(s.n.Name()), nil
}

const switchService = "/upi.v1.SwitchService/"

// Validate implements node.Validator: the checks that need no state.
func (s *Switch) Validate(in *node.Inbound) error {
	if !strings.HasPrefix(in.Method, switchService) {
		return node.Refuse("%s is not a SwitchService method", in.Method)
	}
	if err := s.validateResponses(in); err != nil { // limits.go
		return err
	}
	switch in.Method {
	case upiv1.SwitchService_ReqPay_FullMethodName:
		if err := s.fromRole(in, config.RolePSP); err != nil {
			return err
		}
		return s.validateReqPay(in.From, in.Msg.(*upiv1.ReqPay))
	case upiv1.SwitchService_RespAuthDetails_FullMethodName:
		if err := s.fromRole(in, config.RolePSP); err != nil {
			return err
		}
		return checkResp(in.API, in.Msg.(*upiv1.RespAuthDetails).GetResp())
	case upiv1.SwitchService_RespPay_FullMethodName:
		if err := s.fromRole(in, config.RoleBank); err != nil {
			return err
		}
		m := in.Msg.(*upiv1.RespPay)
		switch t := m.GetTxn().GetType(); t {
		case upiv1.Txn_DEBIT, upiv1.Txn_CREDIT, upiv1.Txn_REVERSAL:
		default:
			return node.Refuse("RespPay txn.type must be DEBIT, CREDIT or REVERSAL, not %s", t)
		}
		return checkResp(in.API, m.GetResp())
	case upiv1.SwitchService_RespChkTxn_FullMethodName:
		if err := s.fromRole(in, config.RoleBank); err != nil {
			return err
		}
		m := in.Msg.(*upiv1.RespChkTxn)
		if t := m.GetTxn().GetType(); t != upiv1.Txn_CHK_STATUS {
			return node.Refuse("RespChkTxn txn.type must be CHK_STATUS, not %s", t)
		}
		return checkResp(in.API, m.GetResp())
	case upiv1.SwitchService_RespTxnConfirmation_FullMethodName:
		return s.fromRole(in, config.RolePSP)
	case upiv1.SwitchService_ReqValAdd_FullMethodName:
		if err := s.fromRole(in, config.RolePSP); err != nil {
			return err
		}
		m := in.Msg.(*upiv1.ReqValAdd)
		if t := m.GetTxn().GetType(); t != upiv1.Txn_VAL_ADD {
			return node.Refuse("ReqValAdd txn.type must be VAL_ADD, not %s", t)
		}
		if err := ids.ValidateVPA(m.GetPayer().GetAddr()); err != nil {
			return node.Refuse("payer.addr (the requester): %v", err)
		}
		if err := ids.ValidateVPA(m.GetPayee().GetAddr()); err != nil {
			return node.Refuse("payee.addr: %v", err)
		}
		return nil
	case upiv1.SwitchService_RespValAdd_FullMethodName:
		if err := s.fromRole(in, config.RolePSP); err != nil {
			return err
		}
		return checkResp(in.API, in.Msg.(*upiv1.RespValAdd).GetResp())
	case upiv1.SwitchService_ReqHbt_FullMethodName:
		if err := s.fromRole(in, config.RolePSP); err != nil {
			return err
		}
		if t := in.Msg.GetTxn().GetType(); t != upiv1.Txn_HBT {
			return node.Refuse("ReqHbt txn.type must be HBT, not %s", t)
		}
		return nil
	}
	return node.Refuse("%s is not supported by this switch yet", in.API)
}

// fromRole checks that the sender is a node of the network with role.
func (s *Switch) fromRole(in *node.Inbound, role string) error {
	nd, ok := s.net.NodeByName(in.From)
	if !ok {
		return node.Refuse("%s from %q: not a node of network %q", in.API, in.From, s.net.Name)
	}
	if nd.Role != role {
		return node.Refuse("%s from %s: only a %s node sends it to the switch, and %s is a %s", in.API, in.From, role, in.From, nd.Role)
	}
	return nil
}

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

// validateReqPay checks a PAY or COLLECT from a PSP.
func (s *Switch) validateReqPay(from string, m *upiv1.ReqPay) error {
	t := m.GetTxn().GetType()
	if t != upiv1.Txn_PAY && t != upiv1.Txn_COLLECT {
		return node.Refuse("ReqPay from a PSP must be type PAY or COLLECT, not %s", t)
	}
	if m.GetMandate() != nil {
		return node.Refuse("ReqPay with a mandate is not supported by this switch yet")
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
	if t == upiv1.Txn_PAY && !hasPIN(m.GetPayer()) {
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

// Handle implements node.Handler.
func (s *Switch) Handle(c *node.Ctx, in *node.Inbound) error {
	switch in.Method {
	case upiv1.SwitchService_ReqPay_FullMethodName:
		return s.reqPay(c, in, in.Msg.(*upiv1.ReqPay))
	case upiv1.SwitchService_RespAuthDetails_FullMethodName:
		return s.respAuthDetails(c, in, in.Msg.(*upiv1.RespAuthDetails))
	case upiv1.SwitchService_RespPay_FullMethodName:
		return s.respPay(c, in, in.Msg.(*upiv1.RespPay))
	case upiv1.SwitchService_RespChkTxn_FullMethodName:
		return s.respChkTxn(c, in, in.Msg.(*upiv1.RespChkTxn))
	case upiv1.SwitchService_RespTxnConfirmation_FullMethodName:
		return s.respTxnConfirmation(c, in, in.Msg.(*upiv1.RespTxnConfirmation))
	case upiv1.SwitchService_ReqValAdd_FullMethodName:
		return s.reqValAdd(c, in, in.Msg.(*upiv1.ReqValAdd))
	case upiv1.SwitchService_RespValAdd_FullMethodName:
		return s.respValAdd(c, in, in.Msg.(*upiv1.RespValAdd))
	case upiv1.SwitchService_ReqHbt_FullMethodName:
		return s.reqHbt(c, in, in.Msg.(*upiv1.ReqHbt))
	}
	return node.Refuse("%s is not supported by this switch yet", in.API)
}

// Timer names are "<kind>:<txn id>": the collect expiry here, the response
// timeouts in timeouts.go.
const timerExpire = "expire"

func timerName(kind, txnID string) string { return kind + ":" + txnID }

// Fire implements node.Handler.
func (s *Switch) Fire(c *node.Ctx, t node.Timer) error {
	kind, txnID, ok := strings.Cut(t.Name, ":")
	if !ok {
		return fmt.Errorf("timer %q: want kind:txn", t.Name)
	}
	switch kind {
	case timerExpire:
		return s.expireCollect(c, txnID)
	case timerAuth:
		return s.authTimedOut(c, txnID)
	case timerDebit:
		return s.debitTimedOut(c, txnID)
	case timerCredit:
		return s.creditTimedOut(c, txnID)
	case timerCheck:
		return s.checkDue(c, txnID)
	case timerReversal:
		return s.reversalTimedOut(c, txnID)
	}
	s.log.Warn("unknown timer ignored", "timer", t.Name)
	return nil
}
