package upiswitch

// UPI Lite sync at the switch (docs/FLOWS.md, UPI Lite, "Sync"): a PSP's
// ReqLiteSync batch of a device's offline records (Lite X, purpose 45) is
// the flow kind "litesync" (its record a SwitchLiteBatch). Each record is
// a SwitchLiteRecord (kind OFFLINE) by LRN and counter, in one of these
// states:
//
//	CLAIMED (payee being resolved) → DEBIT_SENT → CREDIT_SENT → FINAL
//	                                     │             │ credit FAILURE
//	                                     │             ↓
//	                                     │        REVERSAL_SENT → FINAL (U31)
//	                                     └→ FINAL (the remitter's code)
//
// The record is written twice: CLAIMED, at the claim, and FINAL. The
// states between are its batch's: a record its batch's stages name is in
// the state of the latest of them (DEBIT_SENT, CREDIT_SENT,
// REVERSAL_SENT), and the payee's account is its payee's in the batch
// (inFlight puts both on a step's copy; stagedState tells them for a
// record of another batch). The stage, the batch and the record's claim
// commit together, so this is what the record's own writes said, at half
// the writes (they were a third of the switch's commit goroutine in a
// sync).
//
// Exactly once: a counter is claimed by one batch (txn_id), which alone
// moves it on; every other batch bringing it is answered from it (SUCCESS
// with the same UTR, or PENDING while it is being posted), or FAILURE LC
// when it brings other content. Every record ends in exactly one final
// state (FINAL, status SUCCESS or FAILURE) and its money is posted at most
// once: one DEBIT stage posts it (LITEDEBIT at the remitter, which answers
// a resend from what it posted), one CREDIT stage credits it or one
// REVERSAL stage puts it back; a stage is resent, never abandoned, until
// its bank answers.
//
// Between the claim and the remitter's answer the switch holds the record's
// amount off the LRN's auth-engine balance (the Z9 check is on that running
// balance), so online payments (44) cannot spend it meanwhile; a record
// failed before its debit, declined or reversed gives the hold back, a
// posted one keeps it off (liteMoved). A bank's balances in its answer
// are not copied: the daily reconciliation (literecon.go) compares them.

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// flowLiteSync is a PSP's ReqLiteSync batch.
const flowLiteSync = "litesync"

type (
	liteBatch = recordsv1.SwitchLiteBatch
	liteItem  = recordsv1.SwitchLiteItem
	litePayee = recordsv1.SwitchLitePayee
	liteStage = recordsv1.SwitchLiteStage
)

// A batch's states (SwitchLiteBatch.state).
const (
	batchResolving   = "RESOLVING"
	batchPosting     = "POSTING"
	batchConfirmSent = "CONFIRM_SENT"
	batchClosed      = "CLOSED"
)

// An offline record's states (SwitchLiteRecord.state).
const (
	recClaimed      = "CLAIMED"
	recDebitSent    = "DEBIT_SENT"
	recCreditSent   = "CREDIT_SENT"
	recReversalSent = "REVERSAL_SENT"
	recFinal        = "FINAL"
)

// The sync flow's timers: the payees' ReqAuthDetails ("liteauth:<batch>"),
// the answer's deadline ("liteanswer:<batch>"), and each bank stage's
// resend ("litestage:<batch>/<stage index>").
const (
	timerLiteAuth   = "liteauth"
	timerLiteAnswer = "liteanswer"
	timerLiteStage  = "litestage"
)

// liteBackoffCap caps a stage's resend interval, as a multiple of its
// timeout.
const liteBackoffCap = 8

func (s *Switch) liteSyncRoutes() []node.Route {
	return []node.Route{
		{Method: upiv1.SwitchService_ReqLiteSync_FullMethodName, From: fromPSP,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.ReqLiteSync) error { return s.validateReqLiteSync(in.From, m) }),
			Handle:   node.Handles(s.reqLiteSync)},
		{Method: upiv1.SwitchService_RespLiteSync_FullMethodName, From: fromBank,
			Validate: node.Validates(validateRespLiteSync), Handle: node.Handles(s.respLiteSync)},
	}
}

func (s *Switch) liteSyncTimers() []node.TimerKind {
	return []node.TimerKind{
		{Prefix: timerLiteAuth, Fire: byTxn(s.liteAuthTimedOut)},
		{Prefix: timerLiteAnswer, Fire: byTxn(s.liteAnswerDue)},
		{Prefix: timerLiteStage, Fire: byTxn(s.liteStageTimedOut)},
	}
}

// validateReqLiteSync checks a PSP's batch.
func (s *Switch) validateReqLiteSync(from string, m *upiv1.ReqLiteSync) error {
	t := m.GetTxn()
	switch {
	case !ids.ValidID(t.GetId()):
		return node.Refuse("ReqLiteSync: txn.id %q is not a txn id", t.GetId())
	case t.GetType() != upiv1.Txn_LITE_SYNC:
		return node.Refuse("ReqLiteSync: txn.type must be LITE_SYNC, not %s", t.GetType())
	case len(m.GetRecords()) > node.MaxLiteBatch:
		return node.Refuse("ReqLiteSync carries %d records, more than %d", len(m.GetRecords()), node.MaxLiteBatch)
	case m.GetUserAddr() == "":
		return node.Refuse("ReqLiteSync needs user_addr, the device's user")
	}
	if psp, ok := s.net.PSPForVPA(m.GetUserAddr()); !ok || psp.Name != from {
		return node.Refuse("ReqLiteSync user_addr %s is not a user of %s", m.GetUserAddr(), from)
	}
	for i, r := range m.GetRecords() {
		switch {
		case r.GetLrn() == "":
			return node.Refuse("ReqLiteSync records[%d] needs lrn", i)
		case r.GetCounter() == 0:
			return node.Refuse("ReqLiteSync records[%d] needs counter > 0", i)
		case r.GetAmountPaise() <= 0:
			return node.Refuse("ReqLiteSync records[%d] amount_paise must be greater than zero", i)
		case r.GetPayerAddr() == "" || r.GetPayeeAddr() == "":
			return node.Refuse("ReqLiteSync records[%d] needs payer_addr and payee_addr", i)
		case r.GetTs() == nil:
			return node.Refuse("ReqLiteSync records[%d] needs ts", i)
		case len(r.GetSignature()) == 0:
			return node.Refuse("ReqLiteSync records[%d] needs signature", i)
		}
		if err := ids.ValidateVPA(r.GetPayeeAddr()); err != nil {
			return node.Refuse("ReqLiteSync records[%d] payee_addr: %v", i, err)
		}
	}
	return nil
}

// validateRespLiteSync checks a bank's answer to a sub-batch.
func validateRespLiteSync(in *node.Inbound, m *upiv1.RespLiteSync) error {
	t := m.GetTxn()
	if t.GetType() != upiv1.Txn_LITE_SYNC {
		return node.Refuse("RespLiteSync: txn.type must be LITE_SYNC, not %s", t.GetType())
	}
	switch t.GetSubType() {
	case upiv1.Txn_DEBIT, upiv1.Txn_CREDIT, upiv1.Txn_REVERSAL:
	default:
		return node.Refuse("RespLiteSync: txn.sub_type must be DEBIT, CREDIT or REVERSAL, not %s", t.GetSubType())
	}
	return checkResp(in.API, m.GetResp())
}

func loadBatch(tx *store.Tx, id string) (*liteBatch, error) {
	return loadFlow[liteBatch](tx, flowLiteSync, id)
}

// liteBatches is store.Txns as the table of batches (under flowKey).
var liteBatches = store.NewTable[liteBatch](store.Txns)

func saveBatch(c *node.Ctx, b *liteBatch) error {
	b.Updated = store.Nanos(c.Now())
	return liteBatches.Put(c.Tx, flowKey(flowLiteSync, b.Id), b)
}

func recKey(lrn string, counter uint64) string { return lite.RecordKeyString(lrn, counter) }

// reqLiteSync takes a batch: claims its new records, answers the rest from
// what the switch knows, and asks the payees' PSPs for their accounts.
func (s *Switch) reqLiteSync(c *node.Ctx, in *node.Inbound, m *upiv1.ReqLiteSync) (err error) {
	defer cacheRecs(c)(&err)
	id := m.GetTxn().GetId()
	if prev, err := loadBatch(c.Tx, id); err != nil || prev != nil {
		if err != nil {
			return err
		}
		if prev.Originator != in.From {
			return node.Refuse("duplicate transaction id %s: the switch already has a Lite sync batch with this id from %s", id, prev.Originator)
		}
		if err := c.NoteReceived("the same batch again: not applied again; its answer answers it"); err != nil {
			return err
		}
		if prev.Answered == 0 {
			return nil
		}
		return s.sendLiteAnswer(c, prev) // the answer again, as things are now
	}
	b := &liteBatch{
		Id: id, Originator: in.From, OrigMsgId: m.GetHead().GetMsgId(), Lrn: m.GetLrn(), DeviceId: m.GetDeviceId(),
		UserAddr: m.GetUserAddr(), DeviceBalancePaise: m.GetDeviceBalancePaise(), Created: store.Nanos(c.Now()),
		State: batchResolving,
	}
	if b.Lrn != "" {
		a, err := loadLite(c.Tx, b.Lrn)
		if err != nil {
			return err
		}
		if a != nil {
			a.DeviceReportedPaise = b.DeviceBalancePaise
			if err := noteDeviceReport(c, a, id); err != nil { // literecon.go
				return err
			}
			if err := saveLite(c, a); err != nil {
				return err
			}
		}
	}
	for _, r := range m.GetRecords() {
		b.Items = append(b.Items, &liteItem{Lrn: r.GetLrn(), Counter: r.GetCounter(), Record: r})
	}
	if err := s.claim(c, b); err != nil {
		return err
	}
	// A record's body is kept once: an owned item's is its
	// SwitchLiteRecord's (liteResult reads it there; freeCounter gives it
	// back to the item), so the batch, saved at every step, stays small.
	for _, it := range b.Items {
		if it.Owned {
			it.Record = nil
		}
	}
	if err := s.askPayees(c, b); err != nil {
		return err
	}
	if err := s.startTimer(c, timerLiteAnswer, id, s.net.Lite.SyncAnswer); err != nil {
		return err
	}
	return s.liteAdvance(c, b)
}

// claim decides, for each record of the batch in (LRN, counter) order, what
// the switch knows of its counter: decided or being posted (answered from
// its record), other content (LC), an online counter (LC), or new: claimed
// by this batch, or failed at once (LR, Z9).
func (s *Switch) claim(c *node.Ctx, b *liteBatch) error {
	order := make([]*liteItem, len(b.Items))
	copy(order, b.Items)
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].Lrn != order[j].Lrn {
			return order[i].Lrn < order[j].Lrn
		}
		return order[i].Counter < order[j].Counter
	})
	accounts := map[string]*liteAccount{}
	for _, it := range order {
		hash := lite.RecordHash(it.Record)
		prev, err := loadRec(c, it.Lrn, it.Counter)
		if err != nil {
			return err
		}
		if prev != nil {
			if prev.Kind == lite.KindOffline && sameContent(prev, hash) {
				continue // answered from the record (a repeat, or this batch's own duplicate)
			}
			state, err := stagedState(c.Tx, prev)
			if err != nil {
				return err
			}
			if prev.Kind == lite.KindOffline && (state == recClaimed || state == recDebitSent) {
				// Another content holds the counter, and its remitter has
				// not checked its signature yet: a forged record must not
				// make the device's own a double spend. PENDING: decided at
				// a later sync, once that one is posted (this is then LC) or
				// refused (the counter is free again).
				it.Reason = fmt.Sprintf("counter %d of %s is held by batch %s with other content, not yet checked by the remitter", it.Counter, it.Lrn, prev.TxnId)
				continue
			}
			it.ErrCode = upi.CodeLiteReplay
			if prev.Kind == lite.KindOnline {
				it.Reason = fmt.Sprintf("counter %d of %s was an online payment (%s): a double spend", it.Counter, it.Lrn, prev.TxnId)
			} else {
				it.Reason = fmt.Sprintf("counter %d of %s was brought by batch %s with other content: a double spend", it.Counter, it.Lrn, prev.TxnId)
			}
			if !slices.Contains(prev.DoubleSpends, b.Id) {
				prev.DoubleSpends = append(prev.DoubleSpends, b.Id)
			}
			if err := saveRec(c, prev); err != nil {
				return err
			}
			continue
		}
		a, ok := accounts[it.Lrn]
		if !ok {
			if a, err = loadLite(c.Tx, it.Lrn); err != nil {
				return err
			}
			accounts[it.Lrn] = a
		}
		r := &liteRecord{
			Lrn: it.Lrn, Counter: it.Counter, Hash: hash, Kind: lite.KindOffline, TxnId: b.Id,
			State: recClaimed, Status: upiv1.Resp_PENDING.String(), Record: it.Record,
		}
		it.Owned = true
		switch {
		case a == nil:
			finalRec(r, upiv1.Resp_FAILURE, upi.CodeLiteUnknown, "no such LRN at the switch's auth engine")
		case a.BalancePaise < it.Record.GetAmountPaise():
			finalRec(r, upiv1.Resp_FAILURE, upi.CodeInsufficientFunds,
				fmt.Sprintf("the LRN's balance at the switch, %s, does not cover it", upi.FormatPaise(a.BalancePaise)))
		default:
			a.BalancePaise -= it.Record.GetAmountPaise() // held until the remitter answers
		}
		if err := saveRec(c, r); err != nil {
			return err
		}
	}
	for _, lrn := range slices.Sorted(mapKeys(accounts)) {
		if a := accounts[lrn]; a != nil {
			if err := saveLite(c, a); err != nil {
				return err
			}
		}
	}
	return nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// finalRec decides r: its one final state.
func finalRec(r *liteRecord, result upiv1.Resp_Result, code, reason string) {
	r.State, r.Status, r.ErrCode = recFinal, result.String(), code
	if reason != "" {
		r.Reason = reason
	}
}

// owned is the batch's own records (claimed by it), in request order,
// each once.
func (s *Switch) owned(c *node.Ctx, b *liteBatch) ([]*liteRecord, error) {
	idx := itemIndex(c, b) // a record's first owned item
	out := make([]*liteRecord, 0, len(idx))
	for i, it := range b.Items {
		if !it.Owned || idx[recID{it.Lrn, it.Counter}] != uint32(i) {
			continue
		}
		r, err := loadRec(c, it.Lrn, it.Counter)
		if err != nil {
			return nil, err
		}
		if r == nil || r.TxnId != b.Id {
			return nil, fmt.Errorf("lite batch %s: its record %s is not its own", b.Id, recKey(it.Lrn, it.Counter))
		}
		inFlight(c, b, r)
		out = append(out, r)
	}
	return out, nil
}

// release gives a record's hold back to its LRN: it failed before its
// debit was sent.
func release(c *node.Ctx, r *liteRecord) error {
	a, err := loadLite(c.Tx, r.Lrn)
	if err != nil || a == nil {
		return err
	}
	a.BalancePaise += r.GetRecord().GetAmountPaise()
	return saveLite(c, a)
}

// failClaimed decides the CLAIMED record r FAILURE before its debit.
func failClaimed(c *node.Ctx, r *liteRecord, code, reason string) error {
	finalRec(r, upiv1.Resp_FAILURE, code, reason)
	if err := release(c, r); err != nil {
		return err
	}
	return saveRec(c, r)
}

// freeCounter forgets the record r this batch claimed, without deciding
// its counter: the batch's items of it are answered code (FAILURE), or
// PENDING when code is "" (to be tried again by a later sync), with
// reason. The caller gave its hold back.
func freeCounter(c *node.Ctx, b *liteBatch, r *liteRecord, code, reason string) error {
	k := recKey(r.Lrn, r.Counter)
	for _, it := range b.Items {
		if it.Lrn == r.Lrn && it.Counter == r.Counter && it.Owned {
			it.Owned, it.ErrCode, it.Reason = false, code, reason
			if it.Record == nil { // its body was the record's (reqLiteSync)
				it.Record = withoutPayeeAc(r.GetRecord())
			}
		}
	}
	if err := c.Tx.Delete(store.LiteRecords, []byte(k)); err != nil {
		return err
	}
	memoOf(c).wrote(c.Tx, recID{r.Lrn, r.Counter}, nil, nil)
	if rc := stepCache(c); rc != nil {
		id := recID{r.Lrn, r.Counter}
		rc.recs[id] = nil
		delete(rc.dirty, id)
	}
	return nil
}

// withoutPayeeAc is a copy of r as its device made it (without the
// payee's account the switch adds).
func withoutPayeeAc(r *upiv1.LiteRecord) *upiv1.LiteRecord {
	out := proto.Clone(r).(*upiv1.LiteRecord)
	out.PayeeAc = nil
	return out
}

// askPayees sends one ReqAuthDetails LITE_SYNC per payee of the claimed
// records; a handle no PSP has fails its records U29.
func (s *Switch) askPayees(c *node.Ctx, b *liteBatch) error {
	recs, err := s.owned(c, b)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.State != recClaimed {
			continue
		}
		addr := strings.ToLower(r.GetRecord().GetPayeeAddr())
		if slices.ContainsFunc(b.Payees, func(p *litePayee) bool { return p.Addr == addr }) {
			continue
		}
		psp, ok := s.net.PSPForVPA(addr)
		if !ok {
			if err := failClaimed(c, r, upi.CodeAddrResolution, "no PSP owns handle @"+ids.HandleOf(addr)); err != nil {
				return err
			}
			continue
		}
		ad := &upiv1.ReqAuthDetails{
			Txn:   &upiv1.Txn{Id: b.Id, Type: upiv1.Txn_LITE_SYNC, Purpose: lite.PurposeOfflinePay},
			Payer: &upiv1.Party{Addr: r.GetRecord().GetPayerAddr()},
			Payee: &upiv1.Party{Addr: addr},
		}
		e, err := send(c, psp.Name, upiv1.PspService_ReqAuthDetails_FullMethodName, ad)
		if err != nil {
			return err
		}
		b.Payees = append(b.Payees, &litePayee{Addr: addr, Psp: psp.Name, Auth: e})
	}
	// Records to a payee with no PSP share a failed handle with no
	// exchange: fail any left CLAIMED without one.
	for _, r := range recs {
		if r.State == recClaimed && payeeOf(b, r) == nil {
			if err := failClaimed(c, r, upi.CodeAddrResolution, "no PSP owns handle @"+ids.HandleOf(r.GetRecord().GetPayeeAddr())); err != nil {
				return err
			}
		}
	}
	if len(b.Payees) > 0 {
		return s.startTimer(c, timerLiteAuth, b.Id, s.net.Timeouts.AuthDetails)
	}
	return nil
}

func payeeOf(b *liteBatch, r *liteRecord) *litePayee {
	addr := strings.ToLower(r.GetRecord().GetPayeeAddr())
	for _, p := range b.Payees {
		if p.Addr == addr {
			return p
		}
	}
	return nil
}

// isLiteAuth reports whether a RespAuthDetails answers a sync batch's
// ReqAuthDetails: type LITE_SYNC, or a decline without a type for a txn id
// only a batch has.
func isLiteAuth(tx *store.Tx, m *upiv1.RespAuthDetails) bool { return isLiteTxn(tx, m.GetTxn()) }

// isLiteTxn reports whether an answer's txn is a sync batch's: type
// LITE_SYNC, or no type and an id only a batch has.
func isLiteTxn(tx *store.Tx, t *upiv1.Txn) bool {
	switch t.GetType() {
	case upiv1.Txn_LITE_SYNC:
		return true
	case upiv1.Txn_TYPE_UNSPECIFIED:
		return !tx.Has(store.Txns, []byte(flowKey(flowPay, t.GetId()))) && tx.Has(store.Txns, []byte(flowKey(flowLiteSync, t.GetId())))
	}
	return false
}

// liteAuthDetails takes a payee PSP's answer for one payee of a batch.
func (s *Switch) liteAuthDetails(c *node.Ctx, in *node.Inbound, m *upiv1.RespAuthDetails) (err error) {
	defer cacheRecs(c)(&err)
	id := m.GetTxn().GetId()
	b, err := loadBatch(c.Tx, id)
	if err != nil {
		return err
	}
	if b == nil {
		return node.Refuse("unknown transaction %s: the switch has no Lite sync batch with this id", id)
	}
	var p *litePayee
	for _, q := range b.Payees {
		if q.Auth.To == in.From && (q.Auth.MsgId == m.GetResp().GetReqMsgId() ||
			m.GetResp().GetReqMsgId() == "" && strings.EqualFold(q.Addr, m.GetPayee().GetAddr())) {
			p = q
			break
		}
	}
	if p == nil {
		return node.Refuse("RespAuthDetails for Lite sync batch %s answers no ReqAuthDetails the switch sent %s (resp.req_msg_id %q)", id, in.From, m.GetResp().GetReqMsgId())
	}
	resp := m.GetResp()
	if settled(p.Auth) {
		n, trace := lateNoteFor(c, in, b.State, "", resp, p.Auth)
		keepLate(&b.Late, &b.LateDropped, n)
		if err := c.NoteReceived(trace); err != nil {
			return err
		}
		return saveBatch(c, b)
	}
	if resp.GetResult() == upiv1.Resp_SUCCESS {
		if err := checkAc("payee", m.GetPayee().GetAc()); err != nil {
			return node.Refuse("RespAuthDetails SUCCESS for a Lite sync: %v", err)
		}
		ac := m.GetPayee().GetAc()
		p.Ac = &upiv1.Account{AcNum: ac.GetAcNum(), Ifsc: strings.ToUpper(ac.GetIfsc()), AcType: ac.GetAcType()}
	}
	answerExchange(p.Auth, c.Now(), resp)
	if err := s.takePayee(c, b, p, resp.GetErrCode(), "declined by "+in.From); err != nil {
		return err
	}
	return s.liteAdvance(c, b)
}

// takePayee applies the payee p's outcome to its CLAIMED records: its
// account on each, or FAILURE with code.
func (s *Switch) takePayee(c *node.Ctx, b *liteBatch, p *litePayee, code, reason string) error {
	recs, err := s.owned(c, b)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.State != recClaimed || payeeOf(b, r) != p {
			continue
		}
		if p.Ac == nil {
			if err := failClaimed(c, r, code, reason); err != nil {
				return err
			}
			continue
		}
		r.PayeeAc = p.Ac // the step's copy; later steps have it from p (inFlight)
	}
	return nil
}

// liteAuthTimedOut: the payees not answered by timeouts.auth_details fail
// their records U09.
func (s *Switch) liteAuthTimedOut(c *node.Ctx, id string) (err error) {
	defer cacheRecs(c)(&err)
	b, err := loadBatch(c.Tx, id)
	if err != nil || b == nil {
		return err
	}
	recs, err := s.owned(c, b)
	if err != nil {
		return err
	}
	for _, p := range b.Payees {
		if settled(p.Auth) {
			continue
		}
		p.Auth.TimedOut, p.Auth.ErrCode = store.Nanos(c.Now()), upi.CodeAuthTimeout
		// The payee's PSP may only be down: its records are not failed but
		// let go, PENDING, and the device's next sync brings them again.
		for _, r := range recs {
			if r.State != recClaimed || payeeOf(b, r) != p {
				continue
			}
			if err := release(c, r); err != nil {
				return err
			}
			if err := freeCounter(c, b, r, "", p.Psp+" did not answer the ReqAuthDetails in time; a later sync tries again"); err != nil {
				return err
			}
		}
	}
	return s.liteAdvance(c, b)
}

// liteAdvance moves the batch on after a change and saves it: the debits
// once every payee is resolved, the answer and the confirmations once
// every record is final.
func (s *Switch) liteAdvance(c *node.Ctx, b *liteBatch) error {
	if b.State == batchResolving && !slices.ContainsFunc(b.Payees, func(p *litePayee) bool { return !settled(p.Auth) }) {
		if err := c.CancelTimer(timerName(timerLiteAuth, b.Id)); err != nil {
			return err
		}
		if err := s.sendDebits(c, b); err != nil {
			return err
		}
		b.State = batchPosting
	}
	recs, err := s.owned(c, b)
	if err != nil {
		return err
	}
	if b.State == batchPosting && !slices.ContainsFunc(recs, func(r *liteRecord) bool { return r.State != recFinal }) {
		if b.Answered == 0 {
			if err := s.sendLiteAnswer(c, b); err != nil {
				return err
			}
		}
		if err := s.sendLiteConfirms(c, b, recs); err != nil {
			return err
		}
	}
	return saveBatch(c, b)
}

// sendDebits groups the resolved records by remitter (the auth engine's
// bank of the LRN) and sends each its DEBIT sub-batch.
func (s *Switch) sendDebits(c *node.Ctx, b *liteBatch) error {
	recs, err := s.owned(c, b)
	if err != nil {
		return err
	}
	byBank := map[string][]*liteRecord{}
	var banks []string
	accts := map[string]*liteAccount{} // a batch is mostly one LRN's
	for _, r := range recs {
		if r.State != recClaimed {
			continue
		}
		a, ok := accts[r.Lrn]
		if !ok {
			if a, err = loadLite(c.Tx, r.Lrn); err != nil {
				return err
			}
			accts[r.Lrn] = a
		}
		if a == nil || a.Bank == "" {
			if err := failClaimed(c, r, upi.CodeLiteUnknown, "the LRN has no remitter at the switch's auth engine"); err != nil {
				return err
			}
			continue
		}
		if _, ok := byBank[a.Bank]; !ok {
			banks = append(banks, a.Bank)
		}
		byBank[a.Bank] = append(byBank[a.Bank], r)
	}
	for _, bank := range banks {
		if err := s.newStage(c, b, upiv1.Txn_DEBIT, bank, byBank[bank], recDebitSent, s.net.Timeouts.Debit); err != nil {
			return err
		}
	}
	return nil
}

// newStage sends a sub-batch of recs to bank, which then wait in state.
func (s *Switch) newStage(c *node.Ctx, b *liteBatch, kind upiv1.Txn_Type, bank string, recs []*liteRecord, state string, timeout time.Duration) error {
	st := &liteStage{Kind: kind.String(), Bank: bank, Backoff: int64(timeout), Items: make([]uint32, 0, len(recs))}
	idx := itemIndex(c, b)
	for _, r := range recs {
		i, ok := idx[recID{r.Lrn, r.Counter}]
		if !ok {
			return fmt.Errorf("lite batch %s: record %s is none of its own items", b.Id, recKey(r.Lrn, r.Counter))
		}
		st.Items = append(st.Items, i)
		r.State = state // the step's copy; later steps have it from st (inFlight)
	}
	b.Stages = append(b.Stages, st)
	return s.sendStage(c, b, len(b.Stages)-1)
}

// creditPart is what a beneficiary is sent of a record to credit: the
// payment and the payee's account, not the payer device's signature,
// device and wallet balance, which it has no key to check and no use for
// (docs/FLOWS.md, UPI Lite, Sync, step 8).
func creditPart(rec *liteRecord) *upiv1.LiteRecord {
	r := rec.GetRecord()
	return &upiv1.LiteRecord{
		Lrn: r.Lrn, Counter: r.Counter, ProvisionalUtr: r.ProvisionalUtr, PayerAddr: r.PayerAddr, PayeeAddr: r.PayeeAddr,
		AmountPaise: r.AmountPaise, Ts: r.Ts, OrderId: r.OrderId, PayeeDeviceId: r.PayeeDeviceId, PayeeAc: payeeAc(rec),
	}
}

// withPayeeAc is r with the payee's account ac on it (the record the
// remitter is sent): a copy, as r may be the memo's (recMemo).
// TestWithPayeeAcCopiesEveryField fails when LiteRecord gains a field
// this does not copy.
func withPayeeAc(r *upiv1.LiteRecord, ac *upiv1.Account) *upiv1.LiteRecord {
	if r == nil || r.PayeeAc == ac {
		return r
	}
	return &upiv1.LiteRecord{
		Lrn: r.Lrn, Counter: r.Counter, ProvisionalUtr: r.ProvisionalUtr, PayerAddr: r.PayerAddr, PayeeAddr: r.PayeeAddr,
		AmountPaise: r.AmountPaise, Ts: r.Ts, DeviceId: r.DeviceId, OrderId: r.OrderId, Signature: r.Signature,
		PayeeDeviceId: r.PayeeDeviceId, PayeeAc: ac, DeviceBalancePaise: r.DeviceBalancePaise,
	}
}

// payeeAc is the payee's account the record is credited to (on the
// record itself in a file written before SwitchLiteRecord.payee_ac).
func payeeAc(r *liteRecord) *upiv1.Account {
	if r.PayeeAc != nil {
		return r.PayeeAc
	}
	return r.GetRecord().GetPayeeAc()
}

// sendStage sends (or resends) stage i: the same records each time, so a
// bank answers a resend from what it posted.
func (s *Switch) sendStage(c *node.Ctx, b *liteBatch, i int) error {
	st := b.Stages[i]
	m := &upiv1.ReqLiteSync{
		Txn: &upiv1.Txn{Id: b.Id, Type: upiv1.Txn_LITE_SYNC, SubType: upiv1.Txn_Type(upiv1.Txn_Type_value[st.Kind]), Purpose: lite.PurposeOfflinePay},
	}
	recs, err := stageRecs(c, b, st)
	if err != nil {
		return err
	}
	m.Records = make([]*upiv1.LiteRecord, 0, len(recs))
	for j, r := range recs {
		if r == nil {
			id := stageIDs(b, st)[j]
			return fmt.Errorf("lite batch %s: stage %d names %s, which the switch does not have", b.Id, i, recKey(id.lrn, id.counter))
		}
		if st.Kind == upiv1.Txn_CREDIT.String() {
			m.Records = append(m.Records, creditPart(r))
		} else {
			m.Records = append(m.Records, withPayeeAc(r.GetRecord(), payeeAc(r)))
		}
	}
	e, err := send(c, st.Bank, lookupStageMethod(st.Kind), m)
	if err != nil {
		return err
	}
	if st.Exchange != nil {
		e.Attempts = st.Exchange.Attempts
	}
	e.Attempts++
	st.Exchange = e
	st.MsgIds = append(st.MsgIds, e.MsgId)
	return c.SetTimer(stageTimer(b.Id, i), c.Now().Add(time.Duration(st.Backoff)), []byte(b.Id))
}

func lookupStageMethod(kind string) string {
	if kind == upiv1.Txn_CREDIT.String() {
		return upiv1.BeneficiaryService_ReqLiteSync_FullMethodName
	}
	return upiv1.RemitterService_ReqLiteSync_FullMethodName
}

func stageTimer(batch string, i int) string { return fmt.Sprintf("%s:%s/%d", timerLiteStage, batch, i) }

// liteStageTimedOut resends an unanswered stage, its wait doubled up to
// liteBackoffCap times its timeout: forever, since what it carries may be
// posted.
func (s *Switch) liteStageTimedOut(c *node.Ctx, name string) (err error) {
	defer cacheRecs(c)(&err)
	id, idx, ok := strings.Cut(name, "/")
	if !ok {
		return fmt.Errorf("lite stage timer %q: want batch/index", name)
	}
	var i int
	if _, err := fmt.Sscanf(idx, "%d", &i); err != nil {
		return fmt.Errorf("lite stage timer %q: %v", name, err)
	}
	b, err := loadBatch(c.Tx, id)
	if err != nil || b == nil || i < 0 || i >= len(b.Stages) {
		return err
	}
	st := b.Stages[i]
	if st.Exchange.Answered != 0 {
		return nil
	}
	st.Exchange.TimedOut = store.Nanos(c.Now())
	base := map[string]time.Duration{
		upiv1.Txn_DEBIT.String(): s.net.Timeouts.Debit, upiv1.Txn_CREDIT.String(): s.net.Timeouts.Credit,
		upiv1.Txn_REVERSAL.String(): s.net.Timeouts.Reversal,
	}[st.Kind]
	st.Backoff = min(st.Backoff*2, int64(base)*liteBackoffCap)
	if err := s.sendStage(c, b, i); err != nil {
		return err
	}
	return saveBatch(c, b)
}

// respLiteSync takes a bank's answer to a stage: which stage it answers
// (its sender, sub_type and resp.req_msg_id) decides what follows.
func (s *Switch) respLiteSync(c *node.Ctx, in *node.Inbound, m *upiv1.RespLiteSync) (err error) {
	defer cacheRecs(c)(&err)
	id, kind, reqID := m.GetTxn().GetId(), m.GetTxn().GetSubType().String(), m.GetResp().GetReqMsgId()
	b, err := loadBatch(c.Tx, id)
	if err != nil {
		return err
	}
	if b == nil {
		return node.Refuse("unknown transaction %s: the switch has no Lite sync batch with this id", id)
	}
	i := slices.IndexFunc(b.Stages, func(st *liteStage) bool {
		return st.Bank == in.From && st.Kind == kind && (slices.Contains(st.MsgIds, reqID) || reqID == "" && st.Exchange.Answered == 0)
	})
	if i < 0 {
		i = slices.IndexFunc(b.Stages, func(st *liteStage) bool { return st.Bank == in.From && st.Kind == kind && reqID == "" })
	}
	if i < 0 {
		return node.Refuse("RespLiteSync %s for batch %s answers no ReqLiteSync %s the switch sent %s (resp.req_msg_id %q)", kind, id, kind, in.From, reqID)
	}
	st := b.Stages[i]
	if st.Exchange.Answered != 0 {
		n, trace := lateNoteFor(c, in, b.State, kind, m.GetResp(), st.Exchange)
		keepLate(&b.Late, &b.LateDropped, n)
		if err := c.NoteReceived(trace); err != nil {
			return err
		}
		return saveBatch(c, b)
	}
	results := make(map[recID]*upiv1.LiteRecordResult, len(m.GetResults()))
	for _, res := range m.GetResults() {
		results[recID{res.GetLrn(), res.GetCounter()}] = res
	}
	whole := m.GetResp().GetResult()
	if whole == upiv1.Resp_SUCCESS {
		for _, k := range stageIDs(b, st) {
			if results[k] == nil {
				return node.Refuse("RespLiteSync %s for batch %s answers no result for record %s", kind, id, recKey(k.lrn, k.counter))
			}
		}
	}
	answerExchange(st.Exchange, c.Now(), m.GetResp())
	if err := c.CancelTimer(stageTimer(b.Id, i)); err != nil {
		return err
	}
	// Each record's outcome: a result of its own, else the whole answer's
	// (a FAILURE of the whole sub-batch).
	outcome := func(k recID) (upiv1.Resp_Result, string) {
		if res := results[k]; res != nil {
			return res.GetResult(), res.GetErrCode()
		}
		return whole, m.GetResp().GetErrCode()
	}
	switch st.Kind {
	case upiv1.Txn_DEBIT.String():
		err = s.debited(c, b, st, in.From, outcome)
	case upiv1.Txn_CREDIT.String():
		err = s.credited(c, b, st, in.From, outcome)
	default:
		err = s.reversed(c, b, st, in.From, outcome)
	}
	if err != nil {
		return err
	}
	return s.liteAdvance(c, b)
}

// stageIDs is the records a stage of b carries: its items, or the keys of
// a batch stored before stages had items (a key that does not parse is
// left out: the switch wrote them).
func stageIDs(b *liteBatch, st *liteStage) []recID {
	out := make([]recID, 0, len(st.Items)+len(st.Keys))
	for _, i := range st.Items {
		if int(i) < len(b.Items) {
			it := b.Items[i]
			out = append(out, recID{it.Lrn, it.Counter})
		}
	}
	for _, k := range st.Keys {
		if lrn, counter, err := lite.ParseRecordKey([]byte(k)); err == nil {
			out = append(out, recID{lrn, counter})
		}
	}
	return out
}

// stageRecs loads the records of a stage of b (nil for one the switch
// does not have).
func stageRecs(c *node.Ctx, b *liteBatch, st *liteStage) ([]*liteRecord, error) {
	ids := stageIDs(b, st)
	out := make([]*liteRecord, 0, len(ids))
	for _, id := range ids {
		r, err := loadRec(c, id.lrn, id.counter)
		if err != nil {
			return nil, err
		}
		if r != nil && r.TxnId == b.Id {
			inFlight(c, b, r)
		}
		out = append(out, r)
	}
	return out, nil
}

// stageStates is the state each record b's stages name is in: the latest
// such stage's (DEBIT_SENT, CREDIT_SENT, REVERSAL_SENT); once a step, as
// itemIndex.
func stageStates(c *node.Ctx, b *liteBatch) map[recID]string {
	rc := stepCache(c)
	if rc != nil && rc.statesOf == b && rc.statesLen == len(b.Stages) {
		return rc.states
	}
	out := statesOf(b)
	if rc != nil {
		rc.statesOf, rc.statesLen, rc.states = b, len(b.Stages), out
	}
	return out
}

// statesOf is stageStates without a step's cache.
func statesOf(b *liteBatch) map[recID]string {
	out := make(map[recID]string, len(b.Items))
	for _, st := range b.Stages {
		state := stageState[st.Kind]
		for _, id := range stageIDs(b, st) {
			out[id] = laterState(out[id], state)
		}
	}
	return out
}

// stageState is the state a stage of each kind puts its records in.
var stageState = map[string]string{
	upiv1.Txn_DEBIT.String(): recDebitSent, upiv1.Txn_CREDIT.String(): recCreditSent, upiv1.Txn_REVERSAL.String(): recReversalSent,
}

// stateRank orders the states a record passes through before FINAL.
var stateRank = map[string]int{recClaimed: 0, recDebitSent: 1, recCreditSent: 2, recReversalSent: 3}

// laterState is the later of a record's written state and its stages'.
func laterState(written, staged string) string {
	if staged == "" || written == recFinal || stateRank[staged] <= stateRank[written] {
		return written
	}
	return staged
}

// inFlight puts on r, a step's copy of a record b owns, what b says of it
// and its record does not (the record is written at its claim and when it
// is final): the state of the latest stage naming it, and its payee's
// account. A record written by a build before has both already.
func inFlight(c *node.Ctx, b *liteBatch, r *liteRecord) {
	if r.State == recFinal {
		return
	}
	r.State = laterState(r.State, stageStates(c, b)[recID{r.Lrn, r.Counter}])
	if r.PayeeAc == nil && r.GetRecord().GetPayeeAc() == nil {
		if p := payeeOf(b, r); p != nil && p.Ac != nil {
			r.PayeeAc = p.Ac
		}
	}
}

// stagedState is the state of r, a record of any batch, as inFlight would
// put it: its batch's stages read for one not final.
func stagedState(tx *store.Tx, r *liteRecord) (string, error) { return newStaged(tx).state(r) }

// staged tells the states of records of any batches (stagedState),
// reading each batch once: a scan of an LRN's records meets a batch's
// many times.
type staged struct {
	tx      *store.Tx
	byBatch map[string]map[recID]string // statesOf each batch read; nil: none
}

func newStaged(tx *store.Tx) *staged { return &staged{tx: tx, byBatch: map[string]map[recID]string{}} }

func (s *staged) state(r *liteRecord) (string, error) {
	if r.Kind != lite.KindOffline || r.State == recFinal || r.TxnId == "" {
		return r.State, nil
	}
	states, ok := s.byBatch[r.TxnId]
	if !ok {
		b, err := loadBatch(s.tx, r.TxnId)
		if err != nil {
			return r.State, err
		}
		if b != nil {
			states = statesOf(b)
		}
		s.byBatch[r.TxnId] = states
	}
	return laterState(r.State, states[recID{r.Lrn, r.Counter}]), nil
}

// itemIndex is, for each record b owns, the index of its first item owned
// (what a stage names it by): once a step (the batch's items are all
// there, and owned, before anything asks).
func itemIndex(c *node.Ctx, b *liteBatch) map[recID]uint32 {
	rc := stepCache(c)
	if rc != nil && rc.itemsOf == b && rc.itemsLen == len(b.Items) {
		return rc.items
	}
	idx := make(map[recID]uint32, len(b.Items))
	for i, it := range b.Items {
		k := recID{it.Lrn, it.Counter}
		if _, ok := idx[k]; it.Owned && !ok {
			idx[k] = uint32(i)
		}
	}
	if rc != nil {
		rc.itemsOf, rc.itemsLen, rc.items = b, len(b.Items), idx
	}
	return idx
}

// debited takes a remitter's DEBIT answer: posted records go to their
// beneficiaries, declined ones are final with the remitter's code.
func (s *Switch) debited(c *node.Ctx, b *liteBatch, st *liteStage, from string, outcome func(recID) (upiv1.Resp_Result, string)) error {
	recs, err := stageRecs(c, b, st)
	if err != nil {
		return err
	}
	posted := map[string]int64{}
	byBank := map[string][]*liteRecord{}
	var banks []string
	for _, r := range recs {
		if r == nil || r.State != recDebitSent { // nil: a record the batch let go (freeCounter)
			continue
		}
		res, code := outcome(recID{r.Lrn, r.Counter})
		if res != upiv1.Resp_SUCCESS {
			if err := release(c, r); err != nil { // nothing was posted: the hold back
				return err
			}
			if code == upi.CodeLiteCryptogram || code == upi.CodeLiteUnknown {
				// Not the device's record (its signature fails), or no LRN
				// the bank has: it takes no counter, so that the device's
				// own record, should it come, is posted (the remitter keeps
				// none for it either).
				if err := freeCounter(c, b, r, code, "declined by the remitter "+from); err != nil {
					return err
				}
				continue
			}
			finalRec(r, upiv1.Resp_FAILURE, code, "declined by the remitter "+from)
			if err := saveRec(c, r); err != nil {
				return err
			}
			continue
		}
		posted[r.Lrn] += r.GetRecord().GetAmountPaise()
		bank, ok := s.net.BankForIFSC(payeeAc(r).GetIfsc())
		if !ok {
			// Posted, but no bank to credit: back to the pool.
			r.Reason = "no bank has the payee's IFSC " + payeeAc(r).GetIfsc()
			if err := s.newStage(c, b, upiv1.Txn_REVERSAL, from, []*liteRecord{r}, recReversalSent, s.net.Timeouts.Reversal); err != nil {
				return err
			}
			continue
		}
		if _, ok := byBank[bank.Name]; !ok {
			banks = append(banks, bank.Name)
		}
		byBank[bank.Name] = append(byBank[bank.Name], r)
	}
	for _, bank := range banks {
		if err := s.newStage(c, b, upiv1.Txn_CREDIT, bank, byBank[bank], recCreditSent, s.net.Timeouts.Credit); err != nil {
			return err
		}
	}
	return s.liteMoved(c, posted, false)
}

// credited takes a beneficiary's CREDIT answer: a credited record is
// SUCCESS with its official UTR; a failed credit is reversed at its
// remitter.
func (s *Switch) credited(c *node.Ctx, b *liteBatch, st *liteStage, from string, outcome func(recID) (upiv1.Resp_Result, string)) error {
	recs, err := stageRecs(c, b, st)
	if err != nil {
		return err
	}
	byBank := map[string][]*liteRecord{}
	var banks []string
	for _, r := range recs {
		if r == nil || r.State != recCreditSent { // nil: a record the batch let go (freeCounter)
			continue
		}
		k := recKey(r.Lrn, r.Counter)
		if res, code := outcome(recID{r.Lrn, r.Counter}); res != upiv1.Resp_SUCCESS {
			r.Reason = fmt.Sprintf("credit declined by %s (%s)", from, code)
			a, err := loadLite(c.Tx, r.Lrn)
			if err != nil {
				return err
			}
			if a == nil {
				return fmt.Errorf("lite batch %s: record %s posted for an LRN the switch no longer has", b.Id, k)
			}
			if _, ok := byBank[a.Bank]; !ok {
				banks = append(banks, a.Bank)
			}
			byBank[a.Bank] = append(byBank[a.Bank], r)
			continue
		}
		rrn, err := nextRRN(c)
		if err != nil {
			return err
		}
		// A ReqChkTxn by the UTR finds the Lite record (liteChkTxn).
		if err := c.Tx.Put(store.RRNs, []byte(rrn), []byte(liteRRNPrefix+k)); err != nil {
			return err
		}
		r.Utr = rrn
		finalRec(r, upiv1.Resp_SUCCESS, "", "")
		if err := saveRec(c, r); err != nil {
			return err
		}
	}
	for _, bank := range banks {
		if err := s.newStage(c, b, upiv1.Txn_REVERSAL, bank, byBank[bank], recReversalSent, s.net.Timeouts.Reversal); err != nil {
			return err
		}
	}
	return nil
}

// reversed takes a remitter's REVERSAL answer: the records end FAILURE
// U31 (the credit failed), the money back in the pool.
func (s *Switch) reversed(c *node.Ctx, b *liteBatch, st *liteStage, from string, outcome func(recID) (upiv1.Resp_Result, string)) error {
	recs, err := stageRecs(c, b, st)
	if err != nil {
		return err
	}
	back := map[string]int64{}
	for _, r := range recs {
		if r == nil || r.State != recReversalSent { // nil: a record the batch let go (freeCounter)
			continue
		}
		reason := r.Reason
		if res, code := outcome(recID{r.Lrn, r.Counter}); res != upiv1.Resp_SUCCESS {
			reason += fmt.Sprintf("; the reversal was declined by %s (%s)", from, code)
		} else {
			back[r.Lrn] -= r.GetRecord().GetAmountPaise()
		}
		finalRec(r, upiv1.Resp_FAILURE, upi.CodeCreditFailed, reason)
		if err := saveRec(c, r); err != nil {
			return err
		}
	}
	return s.liteMoved(c, back, true)
}

// liteMoved counts what the remitter posted for each LRN (posted: the
// records' amounts, negative for those it put back). The auth engine's
// balance is the switch's own account of what it decided: a record's
// amount is held off it from the claim, stays off once posted, and comes
// back when it is declined or reversed (back, true). It is never copied
// from a bank's answer: answers that cross, or come late, cannot move it;
// the daily reconciliation (literecon.go) compares it with the bank's.
func (s *Switch) liteMoved(c *node.Ctx, posted map[string]int64, back bool) error {
	for _, lrn := range slices.Sorted(mapKeys(posted)) {
		a, err := loadLite(c.Tx, lrn)
		if err != nil {
			return err
		}
		if a == nil {
			continue
		}
		a.OfflinePaise += posted[lrn]
		if back {
			a.BalancePaise -= posted[lrn] // posted[lrn] < 0: the reversed amount back
		}
		if err := saveLite(c, a); err != nil {
			return err
		}
	}
	return nil
}

// liteAnswerDue: sync_answer passed; the batch is answered now, PENDING
// for what is not decided (once; the flow goes on).
func (s *Switch) liteAnswerDue(c *node.Ctx, id string) (err error) {
	defer cacheRecs(c)(&err)
	b, err := loadBatch(c.Tx, id)
	if err != nil || b == nil || b.Answered != 0 {
		return err
	}
	if err := s.sendLiteAnswer(c, b); err != nil {
		return err
	}
	return saveBatch(c, b)
}

// sendLiteAnswer sends the originator RespLiteSync: one result per record
// of the request, in its order, and the balances.
func (s *Switch) sendLiteAnswer(c *node.Ctx, b *liteBatch) error {
	out := &upiv1.RespLiteSync{
		Txn:  &upiv1.Txn{Id: b.Id, Type: upiv1.Txn_LITE_SYNC},
		Resp: &upiv1.Resp{ReqMsgId: b.OrigMsgId, Result: upiv1.Resp_SUCCESS},
	}
	lrns := []string{}
	if b.Lrn != "" {
		lrns = append(lrns, b.Lrn)
	}
	for _, it := range b.Items {
		res, err := liteResult(c, b, it)
		if err != nil {
			return err
		}
		out.Results = append(out.Results, res)
		if !slices.Contains(lrns, it.Lrn) {
			lrns = append(lrns, it.Lrn)
		}
	}
	for _, lrn := range lrns {
		a, err := loadLite(c.Tx, lrn)
		if err != nil {
			return err
		}
		if a != nil {
			out.Balances = append(out.Balances, &upiv1.LiteBalance{Lrn: a.Lrn, BalancePaise: a.BalancePaise, State: a.State, Version: a.Version})
			if a.Lrn == b.Lrn {
				out.LrnBalancePaise = a.BalancePaise
			}
		}
	}
	if b.Answered == 0 {
		b.Answered = store.Nanos(c.Now())
	}
	if err := c.CancelTimer(timerName(timerLiteAnswer, b.Id)); err != nil {
		return err
	}
	return c.Send(b.Originator, upiv1.PspService_RespLiteSync_FullMethodName, out)
}

// liteResult is the answer for one record of a batch: its own code (LC),
// else its SwitchLiteRecord's outcome, PENDING until decided.
func liteResult(c *node.Ctx, b *liteBatch, it *liteItem) (*upiv1.LiteRecordResult, error) {
	var r *liteRecord
	if it.ErrCode == "" {
		var err error
		if r, err = loadRec(c, it.Lrn, it.Counter); err != nil {
			return nil, err
		}
	}
	rec, own := it.GetRecord(), false
	if rec == nil && r != nil { // an owned item's body is its record's
		rec, own = r.GetRecord(), true
	}
	res := &upiv1.LiteRecordResult{
		Counter: it.Counter, Lrn: it.Lrn, ProvisionalUtr: rec.GetProvisionalUtr(), PayerAddr: rec.GetPayerAddr(),
		PayeeAddr: rec.GetPayeeAddr(), AmountPaise: rec.GetAmountPaise(), OrderId: rec.GetOrderId(),
		PayeeDeviceId: rec.GetPayeeDeviceId(), BatchTxnId: b.Id, Result: upiv1.Resp_PENDING,
	}
	if it.ErrCode != "" {
		res.Result, res.ErrCode, res.Reason = upiv1.Resp_FAILURE, it.ErrCode, it.Reason
		return res, nil
	}
	if r == nil {
		res.Reason = it.Reason // let go (freeCounter): PENDING
		return res, nil
	}
	res.BatchTxnId = r.TxnId
	if !own && r.Kind == lite.KindOffline && !sameContent(r, lite.RecordHash(rec)) {
		// Another content holds the counter (claim let this one wait).
		if r.State == recFinal {
			res.Result, res.ErrCode = upiv1.Resp_FAILURE, upi.CodeLiteReplay
			res.Reason = fmt.Sprintf("counter %d of %s was brought by batch %s with other content: a double spend", it.Counter, it.Lrn, r.TxnId)
		} else {
			res.Reason = it.Reason
		}
		return res, nil
	}
	if r.State != recFinal {
		if r.TxnId != b.Id {
			res.Reason = "being posted by batch " + r.TxnId
		}
		return res, nil
	}
	res.Result = upiv1.Resp_Result(upiv1.Resp_Result_value[r.Status])
	res.ErrCode, res.Utr, res.Reason = r.ErrCode, r.Utr, r.Reason
	return res, nil
}

// sendLiteConfirms sends each payee PSP its users' SUCCESS records of the
// batch (once every record is final); none to send closes the batch.
func (s *Switch) sendLiteConfirms(c *node.Ctx, b *liteBatch, recs []*liteRecord) error {
	if len(b.Confirms) > 0 || b.State != batchPosting {
		return nil
	}
	byPSP := map[string][]*upiv1.LiteRecordResult{}
	var psps []string
	for _, r := range recs {
		if r.Status != upiv1.Resp_SUCCESS.String() {
			continue
		}
		p := payeeOf(b, r)
		if p == nil {
			continue
		}
		res, err := liteResult(c, b, &liteItem{Lrn: r.Lrn, Counter: r.Counter})
		if err != nil {
			return err
		}
		if _, ok := byPSP[p.Psp]; !ok {
			psps = append(psps, p.Psp)
		}
		byPSP[p.Psp] = append(byPSP[p.Psp], res)
	}
	for _, psp := range psps {
		cm := &upiv1.ReqTxnConfirmation{
			Txn:         &upiv1.Txn{Id: b.Id, Type: upiv1.Txn_LITE_SYNC, Purpose: lite.PurposeOfflinePay},
			Resp:        &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
			LiteRecords: byPSP[psp],
		}
		e, err := send(c, psp, upiv1.PspService_ReqTxnConfirmation_FullMethodName, cm)
		if err != nil {
			return err
		}
		b.Confirms = append(b.Confirms, e)
	}
	b.State = batchConfirmSent
	if len(b.Confirms) == 0 {
		b.State = batchClosed
	}
	return nil
}

// liteSyncConfirmed takes a payee PSP's RespTxnConfirmation of a batch.
func (s *Switch) liteSyncConfirmed(c *node.Ctx, in *node.Inbound, m *upiv1.RespTxnConfirmation) (err error) {
	defer cacheRecs(c)(&err)
	id := m.GetTxn().GetId()
	b, err := loadBatch(c.Tx, id)
	if err != nil {
		return err
	}
	if b == nil {
		return node.Refuse("unknown transaction %s: the switch has no Lite sync batch with this id", id)
	}
	e := exchangeTo(b.Confirms, in.From)
	if e == nil || e.To != in.From {
		return node.Refuse("RespTxnConfirmation for Lite sync batch %s: the switch sent %s no confirmation of it", id, in.From)
	}
	if e.Answered != 0 {
		n, trace := lateNoteFor(c, in, b.State, "", m.GetResp(), e)
		keepLate(&b.Late, &b.LateDropped, n)
		if err := c.NoteReceived(trace); err != nil {
			return err
		}
		return saveBatch(c, b)
	}
	answerExchange(e, c.Now(), m.GetResp())
	if !slices.ContainsFunc(b.Confirms, func(e *exchange) bool { return e.Answered == 0 }) {
		b.State = batchClosed
	}
	return saveBatch(c, b)
}

// liteRRNPrefix marks an RRN (store.RRNs) issued to a Lite record: the
// value is the prefix and the record's lite.RecordKey.
const liteRRNPrefix = "lite:"

// liteChkTxn answers a PSP's ReqChkTxn by the official UTR of a Lite
// record, as a pay record's (SUCCESS, PAYER and PAYEE refs with the
// amount), when the PSP owns the payer's or the payee's handle.
func (s *Switch) liteChkTxn(c *node.Ctx, in *node.Inbound, m *upiv1.ReqChkTxn, key string) error {
	asked := m.GetTxn()
	txn := &upiv1.Txn{Id: asked.GetId(), Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_PAY, OrgTxnId: asked.GetOrgTxnId(), CustRef: asked.GetCustRef()}
	resp := &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeTxnNotPresent}
	var r *liteRecord
	if lrn, counter, err := lite.ParseRecordKey([]byte(key)); err == nil {
		if r, err = loadRec(c, lrn, counter); err != nil {
			return err
		}
	}
	side := false
	if r != nil {
		for _, vpa := range []string{r.GetRecord().GetPayerAddr(), r.GetRecord().GetPayeeAddr()} {
			if p, ok := s.net.PSPForVPA(vpa); ok && p.Name == in.From {
				side = true
			}
		}
	}
	if r != nil && side && r.State == recFinal {
		rec := r.GetRecord()
		txn.OrgTxnId, txn.CustRef, txn.RefId, txn.Purpose = r.TxnId, r.Utr, rec.GetOrderId(), lite.PurposeOfflinePay
		resp = &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_Result(upiv1.Resp_Result_value[r.Status]), ErrCode: r.ErrCode,
			Refs: []*upiv1.Ref{
				{Type: "PAYER", Addr: rec.GetPayerAddr(), SettAmountPaise: rec.GetAmountPaise(), RespCode: upi.CodeOK},
				{Type: "PAYEE", Addr: rec.GetPayeeAddr(), SettAmountPaise: rec.GetAmountPaise(), RespCode: upi.CodeOK},
			}}
	} else if err := c.NoteReceived("no Lite record this PSP is a side of: U48"); err != nil {
		return err
	}
	return c.Send(in.From, upiv1.PspService_RespChkTxn_FullMethodName, &upiv1.RespChkTxn{Txn: txn, Resp: resp})
}

// stepRecs holds, for each sync step running now (by its transaction),
// the records it has read or written, so that a step reading a batch's
// records several times (claim, the stage it sends, the batch's state,
// each record's answer) decodes each once: a batch of 500 was 500 bbolt
// reads and proto decodings per pass, a dozen passes a record. A record
// the step changes (saveRec) is written once, when the step's handler
// returns without an error (cacheRecs' func), however many times the step
// changed it (a payee's account and DEBIT_SENT were two writes): within
// the step every read of a record goes through the cache (loadRec), and
// the records are in the transaction before the step ends, so what
// commits is what it always was. The cache ends with the step, whether
// it commits or not.
var stepRecs sync.Map // *store.Tx → *recCache

type recCache struct {
	recs  map[recID]*liteRecord
	dirty map[recID]bool // changed by the step, to write
	// The item index of the batch itemsOf with itemsLen items (itemIndex).
	itemsOf  *liteBatch
	itemsLen int
	items    map[recID]uint32
	// The stages' states of the batch statesOf with statesLen stages
	// (stageStates).
	statesOf  *liteBatch
	statesLen int
	states    map[recID]string
}

// recID names a record in a step's cache (no key to make for a lookup).
type recID struct {
	lrn     string
	counter uint64
}

// cacheRecs starts c's cache (once: nested calls share it) and returns
// what ends it: the handler's deferred call with its error, which writes
// the changed records when that error is nil (or makes it the write's).
func cacheRecs(c *node.Ctx) func(*error) {
	rc := &recCache{recs: map[recID]*liteRecord{}, dirty: map[recID]bool{}}
	if _, loaded := stepRecs.LoadOrStore(c.Tx, rc); loaded {
		return func(*error) {}
	}
	return func(err *error) {
		defer stepRecs.Delete(c.Tx)
		if *err != nil {
			return
		}
		ids := make([]recID, 0, len(rc.dirty))
		for id := range rc.dirty {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(a, b recID) int {
			return cmp.Or(strings.Compare(a.lrn, b.lrn), cmp.Compare(a.counter, b.counter))
		})
		for _, id := range ids {
			if r := rc.recs[id]; r != nil {
				if *err = writeCounter(c, r, true); *err != nil { // the step is over: r is the memo's
					return
				}
			}
		}
	}
}

func stepCache(c *node.Ctx) *recCache {
	if v, ok := stepRecs.Load(c.Tx); ok {
		return v.(*recCache)
	}
	return nil
}

// loadRec is loadCounter through the step's cache and the switch's memo
// of its committed records.
func loadRec(c *node.Ctx, lrn string, counter uint64) (*liteRecord, error) {
	k := recID{lrn, counter}
	rc := stepCache(c)
	if rc != nil {
		if r, ok := rc.recs[k]; ok {
			return r, nil
		}
	}
	r := memoOf(c).get(k)
	if r == nil {
		var err error
		if r, err = loadCounter(c.Tx, lrn, counter); err != nil {
			return nil, err
		}
	}
	if rc != nil && r != nil {
		rc.recs[k] = r
	}
	return r, nil
}

// saveRec is saveCounter: at once outside a step's cache, else when the
// step ends (cacheRecs).
func saveRec(c *node.Ctx, r *liteRecord) error {
	rc := stepCache(c)
	if rc == nil {
		return saveCounter(c, r)
	}
	k := recID{r.Lrn, r.Counter}
	rc.recs[k], rc.dirty[k] = r, true
	return nil
}
