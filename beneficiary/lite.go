package beneficiary

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/upi"
)

// UPI Lite at the beneficiary (docs/FLOWS.md, UPI Lite and Lite X).

// LiteCreditor takes the CREDITs of Lite top-ups (purposes 41, 42), which
// the switch sends the LRN's own bank on BeneficiaryService: the remitter
// role keeps the LRNs (remitter.Remitter implements it; internal/bank
// wires it in).
type LiteCreditor interface {
	// IsLiteCredit reports whether m is such a CREDIT.
	IsLiteCredit(m *upiv1.ReqPay) bool
	// ValidateLiteCredit checks it without state (a *node.Refusal).
	ValidateLiteCredit(m *upiv1.ReqPay) error
	// LiteCredit is its step, which answers the switch.
	LiteCredit(c *node.Ctx, in *node.Inbound, m *upiv1.ReqPay) error
}

// liteCreditRef is the posting ref of the credit of an offline record:
// LITECREDIT:<LRN>:<counter> (remitter.LiteRef of remitter.RefLiteCredit).
func liteCreditRef(lrn string, counter uint64) string {
	return "LITECREDIT:" + lrn + ":" + strconv.FormatUint(counter, 10) // not fmt: made for every synced record
}

// validateLiteSync checks the switch's ReqLiteSync to a beneficiary: type
// LITE_SYNC, sub_type CREDIT, and records with an LRN, an amount and the
// payee's account.
func validateLiteSync(_ *node.Inbound, m *upiv1.ReqLiteSync) error {
	t := m.GetTxn()
	switch {
	case t.GetType() != upiv1.Txn_LITE_SYNC:
		return node.Refuse("BeneficiaryService/ReqLiteSync takes txn.type LITE_SYNC, not %s", t.GetType())
	case t.GetSubType() != upiv1.Txn_CREDIT:
		return node.Refuse("BeneficiaryService/ReqLiteSync takes sub_type CREDIT, not %s", t.GetSubType())
	case !ids.ValidID(t.GetId()):
		return node.Refuse("ReqLiteSync needs txn.id, 3 letters and 32 hex digits (got %q)", t.GetId())
	case len(m.GetRecords()) == 0:
		return node.Refuse("ReqLiteSync to a beneficiary needs records")
	case len(m.GetRecords()) > node.MaxLiteBatch:
		return node.Refuse("ReqLiteSync carries %d records, at most %d", len(m.GetRecords()), node.MaxLiteBatch)
	}
	for i, r := range m.GetRecords() {
		switch {
		case r.GetLrn() == "":
			return node.Refuse("records[%d] needs lrn", i)
		case r.GetAmountPaise() <= 0:
			return node.Refuse("records[%d] (LRN %s, counter %d) needs amount_paise > 0, got %d", i, r.GetLrn(), r.GetCounter(), r.GetAmountPaise())
		case r.GetPayeeAc().GetAcNum() == "" || r.GetPayeeAc().GetIfsc() == "":
			return node.Refuse("records[%d] (LRN %s, counter %d) needs payee_ac with ac_num and ifsc", i, r.GetLrn(), r.GetCounter())
		}
	}
	return nil
}

// liteSync handles ReqLiteSync CREDIT: each record's amount from
// settlement to the payee's account (LITECREDIT:<LRN>:<counter>, once: a
// repeat answers SUCCESS again without posting), FAILURE U31 when the
// account is not one of this bank's customers'; RespLiteSync with a result
// per record.
func (b *Beneficiary) liteSync(c *node.Ctx, in *node.Inbound, m *upiv1.ReqLiteSync) error {
	post := ledger.NewBatch(c.Tx) // each account read and written once
	results := make([]*upiv1.LiteRecordResult, 0, len(m.GetRecords()))
	block := make([]upiv1.LiteRecordResult, len(m.GetRecords())) // one allocation for the batch's results
	for i, r := range m.GetRecords() {
		res := &block[i]
		// The record's identity and outcome only: the switch has the rest
		// (lite.BankAnswer).
		*res = upiv1.LiteRecordResult{Lrn: r.GetLrn(), Counter: r.GetCounter(), Result: upiv1.Resp_SUCCESS}
		code, err := b.liteCredit(c, post, r)
		if err != nil {
			return err
		}
		if code != "" {
			res.Result, res.ErrCode = upiv1.Resp_FAILURE, code
			b.log.Info("Lite record not credited", "lrn", r.GetLrn(), "counter", r.GetCounter(), "ac", r.GetPayeeAc().GetAcNum(), "code", code)
		}
		results = append(results, res)
	}
	if err := post.Flush(); err != nil {
		return err
	}
	return c.Send(in.From, upiv1.SwitchService_RespLiteSync_FullMethodName, &upiv1.RespLiteSync{
		Txn:     proto.Clone(m.GetTxn()).(*upiv1.Txn),
		Resp:    &upiv1.Resp{ReqMsgId: in.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
		Results: results,
	})
}

// liteCredit posts one record's credit, or gives the code of its failure.
func (b *Beneficiary) liteCredit(c *node.Ctx, post *ledger.Batch, r *upiv1.LiteRecord) (string, error) {
	ref := liteCreditRef(r.GetLrn(), r.GetCounter())
	if p, ok, err := ledger.Posting(c.Tx, ref); err != nil || ok {
		if ok && (p.AmountPaise != r.GetAmountPaise() || p.To != r.GetPayeeAc().GetAcNum()) {
			// The credit stays as posted: the switch decides a counter's
			// content once, so this is its mistake, not a new credit.
			b.log.Error("Lite record credited before with another amount or account",
				"ref", ref, "posted", p.AmountPaise, "to", p.To, "asked", r.GetAmountPaise(), "ac", r.GetPayeeAc().GetAcNum())
		}
		return "", err
	}
	acNum := r.GetPayeeAc().GetAcNum()
	acct, err := post.Get(acNum)
	if errors.Is(err, ledger.ErrNoAccount) {
		return upi.CodeCreditFailed, nil
	}
	if err != nil {
		return "", err
	}
	if !strings.EqualFold(r.GetPayeeAc().GetIfsc(), b.self.IFSC) || acct.Kind != ledger.KindCustomer {
		return upi.CodeCreditFailed, nil
	}
	err = post.PostAt(c.Now(), ref, b.settlement, acNum, r.GetAmountPaise())
	switch {
	case errors.Is(err, ledger.ErrOverflow):
		return upi.CodeCreditFailed, nil
	case err != nil:
		return "", fmt.Errorf("lite credit %s: %w", ref, err)
	}
	return "", nil
}
