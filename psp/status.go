// A PSP's status check through the switch (docs/FLOWS.md, Status check by
// a PSP): CheckStatus sends ReqChkTxn sub_type PAY from inside a step, and
// the switch's RespChkTxn, or the check's timer, runs Config.OnStatus.

package psp

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// StatusAnswer is the switch's answer to a CheckStatus (Config.OnStatus).
type StatusAnswer struct {
	// CheckTxnID is the check's own txn id (what CheckStatus returned);
	// Ref and Tag are what its caller gave.
	CheckTxnID, Ref, Tag string
	// Found: the switch knows the payment and this PSP may see it (it is a
	// side of it). Not found: ErrCode U48 (unknown, or another PSPs'), U09
	// (no answer within timeouts.check_status) or U07 (the switch refused
	// the check).
	Found               bool
	TxnID, RRN, ErrCode string
	// Result is the payment's status at the switch (PENDING, DEEMED,
	// SUCCESS or FAILURE); unset when not Found.
	Result             upiv1.Resp_Result
	AmountPaise        int64
	PayerVPA, PayeeVPA string
}

// statusCheck is a check sent and not yet answered (store.StatusChecks,
// keyed by the check's txn id).
type statusCheck = recordsv1.PspStatusCheck

var statusChecks = store.NewTable[statusCheck](store.StatusChecks)

// timerStatusCheck is the wait for a check's answer, "chkstatus:<check
// txn id>", timeouts.check_status after it was sent.
const timerStatusCheck = "chkstatus"

// defaultCheckTimeout is the wait when the network file gives none.
const defaultCheckTimeout = 10 * time.Second

func (p *PSP) statusRoutes() []node.Route {
	return []node.Route{{
		Method: upiv1.PspService_RespChkTxn_FullMethodName, From: fromSwitch,
		Validate: node.Validates(validateRespChkTxn),
		Handle:   node.Handles(func(c *node.Ctx, _ *node.Inbound, m *upiv1.RespChkTxn) error { return p.respChkTxn(c, m) }),
	}, {
		Method:  upiv1.SwitchService_ReqChkTxn_FullMethodName,
		Refused: p.reqChkTxnRefused,
	}}
}

func (p *PSP) statusTimers() []node.TimerKind {
	return []node.TimerKind{{Prefix: timerStatusCheck, Fire: func(c *node.Ctx, t node.Timer) error {
		return p.checkDone(c, string(t.Payload), StatusAnswer{ErrCode: upi.CodeAuthTimeout}, "")
	}}}
}

// CheckStatus asks the switch, in step c, for the status of the payment ref
// names: its txn id, or its 12-digit RRN (UTR). It returns the check's own
// txn id; Config.OnStatus hears the answer (with tag) in a later step, or
// Found false with U09 when none comes within timeouts.check_status. The
// check, its timer and the ReqChkTxn commit with c's step.
func (p *PSP) CheckStatus(c *node.Ctx, ref, tag string) (string, error) {
	txn := &upiv1.Txn{Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_PAY, Ts: timestamppb.New(c.Now())}
	switch {
	case ids.ValidID(ref):
		txn.OrgTxnId = ref
	case ids.ValidRRN(ref):
		txn.CustRef = ref
	default:
		return "", invalid("status check: %q is neither a txn id (3 letters and 32 hex digits) nor an RRN (12 digits)", ref)
	}
	txn.Id = ids.NewTxnID(p.prefix)
	if err := statusChecks.Put(c.Tx, txn.Id, &statusCheck{Id: txn.Id, Ref: ref, Tag: tag, Sent: store.Nanos(c.Now())}); err != nil {
		return "", err
	}
	wait := p.cfg.Network.Timeouts.CheckStatus
	if wait <= 0 {
		wait = defaultCheckTimeout
	}
	if err := c.SetTimer(timerStatusCheck+":"+txn.Id, c.Now().Add(wait), []byte(txn.Id)); err != nil {
		return "", err
	}
	if err := c.Send(p.switchName, upiv1.SwitchService_ReqChkTxn_FullMethodName, &upiv1.ReqChkTxn{Txn: txn}); err != nil {
		return "", err
	}
	return txn.Id, nil
}

// validateRespChkTxn: an answer to a PSP's check is CHK_STATUS with a
// result, and a FAILURE has its code.
func validateRespChkTxn(in *node.Inbound, m *upiv1.RespChkTxn) error {
	if t := m.GetTxn().GetType(); t != upiv1.Txn_CHK_STATUS {
		return node.Refuse("RespChkTxn txn.type must be CHK_STATUS, not %s", t)
	}
	if err := needResult(in.API, m.GetResp()); err != nil {
		return err
	}
	if m.GetResp().GetResult() == upiv1.Resp_FAILURE && m.GetResp().GetErrCode() == "" {
		return node.Refuse("RespChkTxn with result FAILURE needs resp.err_code")
	}
	return nil
}

// respChkTxn is the switch's answer: OnStatus hears it, once.
func (p *PSP) respChkTxn(c *node.Ctx, m *upiv1.RespChkTxn) error {
	if ok, err := p.isLiteDisable(c.Tx, m.GetTxn().GetId()); ok || err != nil {
		if err != nil {
			return err
		}
		return p.liteChkTxn(c, m) // a zero-balance disable's (lite.go)
	}
	a := StatusAnswer{TxnID: m.GetTxn().GetOrgTxnId(), RRN: m.GetTxn().GetCustRef(), ErrCode: m.GetResp().GetErrCode()}
	if refs := m.GetResp().GetRefs(); len(refs) > 0 {
		// A payment the switch found: both refs, its status in resp.
		a.Found, a.Result = true, m.GetResp().GetResult()
		for _, ref := range refs {
			switch ref.GetType() {
			case "PAYER":
				a.PayerVPA = ref.GetAddr()
			case "PAYEE":
				a.PayeeVPA = ref.GetAddr()
			}
			a.AmountPaise = max(a.AmountPaise, ref.GetSettAmountPaise())
		}
	}
	return p.checkDone(c, m.GetTxn().GetId(), a, "late: the check had timed out (U09), changes nothing")
}

// reqChkTxnRefused: the switch refused the check in its Ack, so no answer
// will come: OnStatus hears U07 at once.
func (p *PSP) reqChkTxnRefused(c *node.Ctx, r node.Refused) error {
	if ok, err := p.isLiteDisable(c.Tx, r.Msg.GetTxn().GetId()); ok || err != nil {
		if err != nil {
			return err
		}
		return p.liteRefused(c, r) // lite.go
	}
	p.log.Warn("the switch refused a ReqChkTxn", "txn", r.Msg.GetTxn().GetId(), "reason", r.Reason)
	return p.checkDone(c, r.Msg.GetTxn().GetId(), StatusAnswer{ErrCode: upi.CodeRefused}, "")
}

// checkDone ends the check id with a: the check is deleted with its timer
// and OnStatus hears a. A check already ended (answered, timed out)
// changes nothing; late is the trace's note of a message that came then.
func (p *PSP) checkDone(c *node.Ctx, id string, a StatusAnswer, late string) error {
	chk, ok, err := statusChecks.Get(c.Tx, id)
	if err != nil {
		return err
	}
	if !ok {
		return c.NoteReceived(late)
	}
	if err := c.Tx.Delete(store.StatusChecks, []byte(id)); err != nil {
		return err
	}
	if err := c.CancelTimer(timerStatusCheck + ":" + id); err != nil {
		return err
	}
	a.CheckTxnID, a.Ref, a.Tag = id, chk.Ref, chk.Tag
	if p.cfg.OnStatus == nil {
		return nil
	}
	return p.cfg.OnStatus(c, a)
}
