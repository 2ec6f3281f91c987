// UPI Lite at a PSP (docs/FLOWS.md, UPI Lite and Lite X): the app calls
// that register a device's LRN (ReqListKeys GetLite), sync its offline
// records (ReqLiteSync) and disable it at a zero balance (ReqChkTxn
// LITE_SYNC, purpose 50); the Lite purposes of InitiatePay (41–44, 46);
// and the switch's answers, each told to the TPAP. As a payee's PSP: the
// sync's ReqAuthDetails and the LITE_SYNC confirmation of the records
// credited to its users (Config.OnLiteCredit).

package psp

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// liteRequest is a Lite request this PSP sent for a user's device
// (store.LiteSyncs, keyed by its txn id); liteCredit a record a LITE_SYNC
// confirmation credited to a user (keyed by creditKey, in the same
// bucket).
type (
	liteRequest = recordsv1.PspLiteSync
	liteCredit  = recordsv1.PspLiteCredit
)

var (
	liteRequests = store.NewTable[liteRequest](store.LiteSyncs)
	liteCredits  = store.NewTable[liteCredit](store.LiteSyncs)
)

// Kinds and states of a liteRequest.
const (
	liteRegister = "REGISTER" // ReqListKeys GetLite
	liteSync     = "SYNC"     // ReqLiteSync
	liteDisable  = "DISABLE"  // ReqChkTxn LITE_SYNC, purpose 50

	liteSent     = "SENT"
	liteAnswered = "ANSWERED"
)

// liteHandle is the handle of an LRN's address, "<LRN>@lite": no PSP has
// it, and the switch takes the account from its auth engine.
const liteHandle = "lite"

// creditPrefix starts the key of a liteCredit; a txn id never has a "/".
const creditPrefix = "credit/"

func creditKey(lrn string, counter uint64) string {
	return creditPrefix + string(lite.RecordKey(lrn, counter))
}

// lrnAddr is the address of an LRN.
func lrnAddr(lrn string) string { return lrn + "@" + liteHandle }

// liteRoutes are the Lite messages this PSP takes and sends whose routes
// are not the pay flow's or the status check's (those dispatch here).
func (p *PSP) liteRoutes() []node.Route {
	return []node.Route{
		{Method: upiv1.PspService_RespLiteSync_FullMethodName, From: fromSwitch,
			Validate: node.Validates(func(in *node.Inbound, m *upiv1.RespLiteSync) error {
				if t := m.GetTxn().GetType(); t != upiv1.Txn_LITE_SYNC {
					return node.Refuse("RespLiteSync: txn.type is %s, want LITE_SYNC", t)
				}
				return needResult(in.API, m.GetResp())
			}),
			Handle: node.Handles(func(c *node.Ctx, _ *node.Inbound, m *upiv1.RespLiteSync) error { return p.respLiteSync(c, m) })},
		{Method: upiv1.SwitchService_ReqListKeys_FullMethodName, Refused: p.liteRefused},
		{Method: upiv1.SwitchService_ReqLiteSync_FullMethodName, Refused: p.liteRefused},
	}
}

// --- The app calls ---

// RegisterLite implements PspAppService: ReqListKeys GetLite for the
// user's account and device; the LRN comes back in a LITE_STATUS
// notification.
func (p *PSP) RegisterLite(_ context.Context, req *upiv1.RegisterLiteRequest) (*upiv1.RegisterLiteResponse, error) {
	user, err := checkVPA("payer_vpa", req.GetPayerVpa())
	if err != nil {
		return nil, err
	}
	if err := checkDevice(req.GetDeviceId()); err != nil {
		return nil, err
	}
	if len(req.GetDeviceKey()) != ed25519.PublicKeySize {
		return nil, invalid("device_key: the device's ed25519 public key is %d bytes, got %d", ed25519.PublicKeySize, len(req.GetDeviceKey()))
	}
	txnID, err := p.checkTxnID(req.GetTxnId())
	if err != nil {
		return nil, err
	}
	fp := fingerprint(liteRegister, user, req.GetDeviceId(), hex.EncodeToString(req.GetDeviceKey()))
	r := &liteRequest{TxnId: txnID, Kind: liteRegister, UserVpa: user, DeviceId: req.GetDeviceId(), Fingerprint: fp}
	err = p.sendLite(r, "payer", func(c *node.Ctx, v *vpaRecord) (string, node.Message) {
		return upiv1.SwitchService_ReqListKeys_FullMethodName, &upiv1.ReqListKeys{
			Txn:   &upiv1.Txn{Id: txnID, Type: upiv1.Txn_LIST_KEYS, Ts: timestamppb.New(c.Now())},
			Type:  lite.GetLite,
			Payer: &upiv1.Party{Addr: v.Vpa, Name: v.Name, Type: partyType(v), Ac: &upiv1.Account{AcNum: v.AcNum, Ifsc: v.Ifsc}},
			Lite:  &upiv1.LiteInfo{DeviceId: req.GetDeviceId(), DeviceKey: req.GetDeviceKey()},
		}
	})
	if err != nil {
		return nil, err
	}
	return &upiv1.RegisterLiteResponse{TxnId: txnID}, nil
}

// SyncLite implements PspAppService: the device's batch as one
// ReqLiteSync; the answer comes back in a LITE_SYNC notification.
func (p *PSP) SyncLite(_ context.Context, req *upiv1.SyncLiteRequest) (*upiv1.SyncLiteResponse, error) {
	user, err := checkVPA("user_vpa", req.GetUserVpa())
	if err != nil {
		return nil, err
	}
	if err := checkDevice(req.GetDeviceId()); err != nil {
		return nil, err
	}
	if err := checkTexts(textField{"lrn", "upi.v1.ReqLiteSync.lrn", req.GetLrn()}); err != nil {
		return nil, err
	}
	if b := req.GetDeviceBalancePaise(); b < 0 {
		return nil, invalid("device_balance_paise is negative: %d", b)
	} else if b > 0 {
		if err := upi.CheckAmount("device_balance_paise", b); err != nil {
			return nil, invalid("%v", err)
		}
	}
	if n := len(req.GetRecords()); n > node.MaxLiteBatch {
		return nil, invalid("records: %d records; a sync batch carries at most %d", n, node.MaxLiteBatch)
	}
	h := sha256.New()
	for i, rec := range req.GetRecords() {
		if err := checkRecord(i, rec); err != nil {
			return nil, err
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(rec)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "records[%d]: %v", i, err)
		}
		h.Write(lite.RecordHash(rec))
		h.Write(b)
	}
	txnID, err := p.checkTxnID(req.GetTxnId())
	if err != nil {
		return nil, err
	}
	fp := fingerprint(liteSync, user, req.GetDeviceId(), req.GetLrn(), strconv.FormatInt(req.GetDeviceBalancePaise(), 10), hex.EncodeToString(h.Sum(nil)))
	r := &liteRequest{TxnId: txnID, Kind: liteSync, UserVpa: user, DeviceId: req.GetDeviceId(), Lrn: req.GetLrn(),
		Fingerprint: fp, Records: int32(len(req.GetRecords()))}
	err = p.sendLite(r, "user", func(c *node.Ctx, v *vpaRecord) (string, node.Message) {
		return upiv1.SwitchService_ReqLiteSync_FullMethodName, &upiv1.ReqLiteSync{
			Txn:      &upiv1.Txn{Id: txnID, Type: upiv1.Txn_LITE_SYNC, Ts: timestamppb.New(c.Now())},
			Lrn:      req.GetLrn(),
			DeviceId: req.GetDeviceId(),
			Records:  req.GetRecords(),
			UserAddr: v.Vpa, DeviceBalancePaise: req.GetDeviceBalancePaise(),
		}
	})
	if err != nil {
		return nil, err
	}
	return &upiv1.SyncLiteResponse{TxnId: txnID}, nil
}

// DisableLite implements PspAppService: the zero-balance disable of an
// LRN (ReqChkTxn LITE_SYNC, purpose 50); the answer comes back in a
// LITE_STATUS notification.
func (p *PSP) DisableLite(_ context.Context, req *upiv1.DisableLiteRequest) (*upiv1.DisableLiteResponse, error) {
	if req.GetUmn() != "" {
		return p.revokeLiteMandate(req) // lite_auto.go
	}
	user, err := checkVPA("user_vpa", req.GetUserVpa())
	if err != nil {
		return nil, err
	}
	if err := checkDevice(req.GetDeviceId()); err != nil {
		return nil, err
	}
	if err := checkLRN("lrn", req.GetLrn()); err != nil {
		return nil, err
	}
	txnID, err := p.checkTxnID(req.GetTxnId())
	if err != nil {
		return nil, err
	}
	fp := fingerprint(liteDisable, user, req.GetDeviceId(), req.GetLrn())
	r := &liteRequest{TxnId: txnID, Kind: liteDisable, UserVpa: user, DeviceId: req.GetDeviceId(), Lrn: req.GetLrn(), Fingerprint: fp}
	err = p.sendLite(r, "user", func(c *node.Ctx, _ *vpaRecord) (string, node.Message) {
		return upiv1.SwitchService_ReqChkTxn_FullMethodName, &upiv1.ReqChkTxn{
			Txn: &upiv1.Txn{Id: txnID, Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_LITE_SYNC,
				Purpose: lite.PurposeZeroDisable, Ts: timestamppb.New(c.Now())},
			Lite: &upiv1.LiteInfo{Lrn: req.GetLrn(), DeviceId: req.GetDeviceId()},
		}
	})
	if err != nil {
		return nil, err
	}
	return &upiv1.DisableLiteResponse{TxnId: txnID}, nil
}

// sendLite is the step of a Lite app call: a repeat (r's txn id with the
// same fingerprint) does nothing more; otherwise r's user must be
// registered here, and r is stored and build's message sent with it.
func (p *PSP) sendLite(r *liteRequest, who string, build func(*node.Ctx, *vpaRecord) (string, node.Message)) error {
	if err := p.n.Acquire(); err != nil {
		return err
	}
	defer p.n.Release()
	err := p.n.Update(func(c *node.Ctx) error {
		old, ok, err := liteRequests.Get(c.Tx, r.TxnId)
		if err != nil {
			return err
		}
		if ok {
			if old.Fingerprint != r.Fingerprint {
				return status.Errorf(codes.AlreadyExists, "txn_id %s was already used for a different request", r.TxnId)
			}
			return nil
		}
		v, err := getVPA(c.Tx, r.UserVpa)
		if err != nil {
			return err
		}
		if v == nil {
			return p.notRegistered(who, r.UserVpa)
		}
		r.Status, r.Sent = liteSent, store.Nanos(c.Now())
		if err := liteRequests.Put(c.Tx, r.TxnId, r); err != nil {
			return err
		}
		method, msg := build(c, v)
		return c.Send(p.switchName, method, msg)
	})
	if err != nil {
		return storeErr(err)
	}
	return nil
}

func checkDevice(id string) error {
	if id == "" {
		return invalid("device_id is required")
	}
	return checkTexts(textField{"device_id", "upi.v1.LiteInfo.device_id", id})
}

// checkLRN checks an LRN given: present, and usable as "<LRN>@lite".
func checkLRN(field, lrn string) error {
	if lrn == "" {
		return invalid("%s: the LRN is required", field)
	}
	if err := ids.ValidateVPA(lrnAddr(lrn)); err != nil {
		return invalid("%s %q is not an LRN: %v", field, lrn, err)
	}
	return checkTexts(textField{field, "upi.v1.LiteInfo.lrn", lrn})
}

// checkRecord is what the PSP checks of an offline record before it goes
// to the switch: its parts are there (the switch and the remitter check
// the rest: signature, counter, limits).
func checkRecord(i int, r *upiv1.LiteRecord) error {
	switch {
	case r == nil:
		return invalid("records[%d] is empty", i)
	case r.GetLrn() == "":
		return invalid("records[%d].lrn is required", i)
	case r.GetAmountPaise() <= 0:
		return invalid("records[%d].amount_paise must be greater than 0, got %d", i, r.GetAmountPaise())
	case r.GetPayeeAddr() == "" || r.GetPayerAddr() == "":
		return invalid("records[%d]: payer_addr and payee_addr are required", i)
	case len(r.GetSignature()) != ed25519.SignatureSize:
		return invalid("records[%d].signature is %d bytes, want the device's %d-byte signature", i, len(r.GetSignature()), ed25519.SignatureSize)
	}
	return nil
}

// --- InitiatePay with a Lite purpose ---

// initiateLitePay is InitiatePay of a Lite purpose (41, 42, 44, 46, 43):
// the parties and the lite part as FLOWS.md's UPI Lite gives them; the
// rest (the record, RespPay, notifications) is the pay flow's, and the
// record's user is payer_vpa.
func (p *PSP) initiateLitePay(req *upiv1.InitiatePayRequest) (*upiv1.InitiatePayResponse, error) {
	purpose, l := req.GetPurpose(), req.GetLite()
	if !lite.IsPurpose(purpose) {
		return nil, invalid("lite is set, but purpose %q is not a UPI Lite purpose (41, 42, 43, 44, 46)", purpose)
	}
	if purpose == lite.PurposeOfflinePay || purpose == lite.PurposeZeroDisable {
		return nil, invalid("purpose %s is not paid with InitiatePay: an offline payment (45) is posted by SyncLite, a zero-balance disable (50) is DisableLite", purpose)
	}
	if l == nil {
		return nil, invalid("lite: a purpose %s payment needs lite (its LRN)", purpose)
	}
	user, err := checkVPA("payer_vpa", req.GetPayerVpa())
	if err != nil {
		return nil, err
	}
	if err := checkLRN("lite.lrn", l.GetLrn()); err != nil {
		return nil, err
	}
	if err := checkTexts(
		textField{"note", "upi.v1.Txn.note", req.GetNote()},
		textField{"device_id", "upi.v1.Device.id", req.GetDeviceId()},
		textField{"ref_id", "upi.v1.Txn.ref_id", req.GetRefId()},
		textField{"initiation_mode", "upi.v1.Txn.initiation_mode", req.GetInitiationMode()},
		textField{"lite.device_id", "upi.v1.LiteInfo.device_id", l.GetDeviceId()},
	); err != nil {
		return nil, err
	}
	lrn := lrnAddr(l.GetLrn())
	// msgPayer and msgPayee are the ReqPay's parties; payee the record's.
	var msgPayer, msgPayee string
	switch purpose {
	case lite.PurposeInitialTopUp, lite.PurposeTopUp, lite.PurposeAutoTopUpSetup:
		if pe := req.GetPayeeVpa(); pe != "" && ids.NormalizeVPA(pe) != ids.NormalizeVPA(lrn) {
			return nil, invalid("payee_vpa %s: a top-up's payee is the LRN, %s (or leave it empty)", pe, lrn)
		}
		if err := checkLiteMandate(purpose, l, req.GetCred()); err != nil { // lite_auto.go
			return nil, err
		}
		if purpose == lite.PurposeInitialTopUp && len(l.GetDeviceKey()) != ed25519.PublicKeySize {
			return nil, invalid("lite.device_key: an initial top-up carries the device's %d-byte public key, got %d bytes", ed25519.PublicKeySize, len(l.GetDeviceKey()))
		}
		msgPayer, msgPayee = user, lrn
	case lite.PurposeOnlinePay, lite.PurposeTransferOut, lite.PurposeDisable:
		if req.GetCred() != nil {
			return nil, invalid("cred: a purpose %s payment takes no PIN (the device's ARQC authorises it)", purpose)
		}
		if err := checkARQC(l); err != nil {
			return nil, err
		}
		if purpose == lite.PurposeOnlinePay {
			msgPayer, msgPayee = user, req.GetPayeeVpa()
			break
		}
		if pe := req.GetPayeeVpa(); pe != "" && ids.NormalizeVPA(pe) != user {
			return nil, invalid("payee_vpa %s: a transfer-out's payee is the user's own VPA, %s (or leave it empty)", pe, user)
		}
		msgPayer, msgPayee = lrn, user
	default:
		return nil, invalid("purpose %s: not a payment", purpose) // not reached: 45 and 50 are refused above
	}
	fromLRN := msgPayer == lrn
	msgPayer, msgPayee, err = checkTransfer(msgPayer, msgPayee, req.GetAmountPaise())
	if err != nil {
		return nil, err
	}
	// The LRN's address keeps the LRN as the switch issued it (checkTransfer
	// lower-cases a VPA).
	if fromLRN {
		msgPayer = lrn
	} else if lite.IsTopUp(purpose) {
		msgPayee = lrn
	}
	txnID, err := p.checkTxnID(req.GetTxnId())
	if err != nil {
		return nil, err
	}
	var block *upiv1.Cred
	tag := ""
	if req.GetCred() != nil {
		block = pinCred(req.GetCred())
		tag = p.pinTag(block.GetData(), txnID)
	}
	fp := fingerprint(user, msgPayer, msgPayee, strconv.FormatInt(req.GetAmountPaise(), 10), req.GetNote(), tag,
		req.GetDeviceId(), req.GetRefId(), purpose, req.GetInitiationMode(),
		l.GetLrn(), l.GetDeviceId(), strconv.FormatUint(l.GetCounter(), 10), strconv.FormatInt(l.GetDeviceBalancePaise(), 10),
		hex.EncodeToString(l.GetArqc()), hex.EncodeToString(l.GetDeviceKey()),
		l.GetUmn(), strconv.FormatInt(l.GetAutoThresholdPaise(), 10), strconv.FormatInt(l.GetAutoAmountPaise(), 10))
	recordPayee := msgPayee
	if fromLRN {
		recordPayee = user // 46, 43: the money comes back to the user
	}

	out, err := p.initiate(txnID, fp, "payer", user, func(c *node.Ctx, v *vpaRecord) (*txnRecord, *upiv1.ReqPay) {
		r := &txnRecord{
			Id: txnID, Type: upiv1.Txn_PAY.String(), State: stateReqSent, Status: upiv1.Resp_PENDING.String(),
			PayerVpa: v.Vpa, PayerName: v.Name, PayeeVpa: recordPayee, AmountPaise: req.GetAmountPaise(), Note: req.GetNote(),
			PayerHere: true, PayerInitiator: true, Fingerprint: fp, RefId: req.GetRefId(),
		}
		lrnAc := &upiv1.Account{AcNum: l.GetLrn(), Ifsc: v.Ifsc}
		var payer, payee *upiv1.Party
		switch purpose {
		case lite.PurposeInitialTopUp, lite.PurposeTopUp, lite.PurposeAutoTopUpSetup:
			payer = vpaParty(v, req.GetAmountPaise())
			if block != nil { // none under a Lite mandate
				payer.Creds = []*upiv1.Cred{block}
			}
			payee = &upiv1.Party{Addr: msgPayee, Ac: lrnAc}
		case lite.PurposeOnlinePay:
			payer = vpaParty(v, req.GetAmountPaise())
			payer.Ac = lrnAc
			payee = &upiv1.Party{Addr: msgPayee}
		default: // 46, 43
			payer = &upiv1.Party{Addr: msgPayer, Name: v.Name, Type: partyType(v), Code: v.Mcc, Ac: lrnAc,
				AmountPaise: req.GetAmountPaise(), Currency: "INR"}
			payee = &upiv1.Party{Addr: v.Vpa, Name: v.Name}
		}
		if dev := orDefault(req.GetDeviceId(), l.GetDeviceId()); dev != "" {
			payer.Device = &upiv1.Device{Id: dev}
		}
		return r, &upiv1.ReqPay{
			Txn: &upiv1.Txn{
				Id: txnID, Type: upiv1.Txn_PAY, Note: req.GetNote(), RefId: req.GetRefId(),
				Purpose: purpose, InitiationMode: orDefault(req.GetInitiationMode(), "00"),
				Ts: timestamppb.New(c.Now()),
			},
			Payer: payer,
			Payee: payee,
			Lite:  proto.Clone(l).(*upiv1.LiteInfo),
		}
	})
	if err != nil {
		return nil, err
	}
	return &upiv1.InitiatePayResponse{Transaction: txnProto(out)}, nil
}

// checkARQC: a payment from the LRN (44, 46, 43) carries the device's
// counter and its signature over the payment.
func checkARQC(l *upiv1.LiteInfo) error {
	switch {
	case l.GetDeviceId() == "":
		return invalid("lite.device_id is required")
	case l.GetCounter() == 0:
		return invalid("lite.counter: the device's counter for the payment is required")
	case len(l.GetArqc()) != ed25519.SignatureSize:
		return invalid("lite.arqc is %d bytes, want the device's %d-byte signature", len(l.GetArqc()), ed25519.SignatureSize)
	case l.GetDeviceBalancePaise() < 0:
		return invalid("lite.device_balance_paise is negative: %d", l.GetDeviceBalancePaise())
	}
	return nil
}

// --- The switch's answers to this PSP's requests ---

// respListKeysLite is keydir.Dir.OnLite: the answer to a GetLite
// registration (the txn id of one this PSP sent, or any RespListKeys
// carrying lite) is told to the user in a LITE_STATUS notification; any
// other RespListKeys is the key directory's.
func (p *PSP) respListKeysLite(c *node.Ctx, m *upiv1.RespListKeys) (bool, error) {
	r, ok, err := liteRequests.Get(c.Tx, m.GetTxn().GetId())
	if err != nil {
		return true, err
	}
	if !ok || r.Kind != liteRegister {
		if m.GetLite() != nil {
			return true, node.Refuse("RespListKeys GetLite for txn %s, which PSP %s did not send", m.GetTxn().GetId(), p.name)
		}
		return false, nil
	}
	if err := needResult("RespListKeys", m.GetResp()); err != nil {
		return true, err
	}
	if r.Status != liteAnswered && m.GetLite().GetLrn() != "" {
		r.Lrn = m.GetLite().GetLrn()
	}
	return true, p.liteAnswered(c, r, m.GetResp(), func(n *upiv1.Notification) {
		n.Txn.Type = upiv1.Txn_LIST_KEYS
		n.Kind = upiv1.Notification_LITE_STATUS
		n.LiteInfo = liteInfoFor(r, m.GetLite())
	})
}

// respLiteSync is the switch's answer to a device's batch: told to the
// device's user (LITE_SYNC), once.
func (p *PSP) respLiteSync(c *node.Ctx, m *upiv1.RespLiteSync) error {
	r, ok, err := liteRequests.Get(c.Tx, m.GetTxn().GetId())
	if err != nil {
		return err
	}
	if !ok || r.Kind != liteSync {
		return node.Refuse("RespLiteSync for batch %s, which PSP %s did not send", m.GetTxn().GetId(), p.name)
	}
	return p.liteAnswered(c, r, m.GetResp(), func(n *upiv1.Notification) {
		n.Kind = upiv1.Notification_LITE_SYNC
		// The device the batch is of, so the TPAP finds its call at once.
		n.LiteInfo = &upiv1.LiteInfo{DeviceId: r.DeviceId, Lrn: r.Lrn}
		ans := proto.Clone(m).(*upiv1.RespLiteSync)
		ans.Head = nil
		n.Lite = ans
	})
}

// isLiteDisable reports whether txnID is a zero-balance disable this PSP
// sent: its RespChkTxn is the disable's, not a status check's (whatever
// its sub_type: a status check of a Lite record's RRN is the check's).
func (p *PSP) isLiteDisable(tx *store.Tx, txnID string) (bool, error) {
	r, ok, err := liteRequests.Get(tx, txnID)
	return ok && (r.Kind == liteDisable || r.Kind == liteRevoke), err
}

// liteChkTxn is the switch's RespChkTxn to a zero-balance disable: told
// to the user (LITE_STATUS), once.
func (p *PSP) liteChkTxn(c *node.Ctx, m *upiv1.RespChkTxn) error {
	r, ok, err := liteRequests.Get(c.Tx, m.GetTxn().GetId())
	if err != nil {
		return err
	}
	if !ok || (r.Kind != liteDisable && r.Kind != liteRevoke) {
		return node.Refuse("RespChkTxn LITE_SYNC for txn %s, which PSP %s did not send", m.GetTxn().GetId(), p.name)
	}
	return p.liteAnswered(c, r, m.GetResp(), func(n *upiv1.Notification) {
		n.Txn.Type, n.Txn.SubType, n.Txn.Purpose = upiv1.Txn_CHK_STATUS, upiv1.Txn_LITE_SYNC, chkPurpose(r)
		n.Kind = upiv1.Notification_LITE_STATUS
		n.LiteInfo = liteInfoFor(r, m.GetLite())
	})
}

// liteRefused: the switch refused a Lite request in its Ack, so no answer
// will come: the user hears FAILURE U07 at once. A refused ReqListKeys of
// the key directory is only logged.
func (p *PSP) liteRefused(c *node.Ctx, rf node.Refused) error {
	r, ok, err := liteRequests.Get(c.Tx, rf.TxnID)
	if err != nil {
		return err
	}
	if !ok {
		p.log.Warn("the switch refused a request", "api", rf.API, "txn", rf.TxnID, "reason", rf.Reason)
		return nil
	}
	p.log.Warn("the switch refused a Lite request", "api", rf.API, "txn", rf.TxnID, "reason", rf.Reason)
	resp := &upiv1.Resp{ReqMsgId: rf.Msg.GetHead().GetMsgId(), Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeRefused}
	return p.liteAnswered(c, r, resp, func(n *upiv1.Notification) {
		switch r.Kind {
		case liteSync:
			n.Kind = upiv1.Notification_LITE_SYNC
			n.Lite = &upiv1.RespLiteSync{Txn: cloneTxn(n.Txn), Resp: proto.Clone(resp).(*upiv1.Resp)}
		case liteRegister:
			n.Txn.Type, n.Kind, n.LiteInfo = upiv1.Txn_LIST_KEYS, upiv1.Notification_LITE_STATUS, liteInfoFor(r, nil)
		default:
			n.Txn.Type, n.Txn.SubType, n.Txn.Purpose = upiv1.Txn_CHK_STATUS, upiv1.Txn_LITE_SYNC, chkPurpose(r)
			n.Kind, n.LiteInfo = upiv1.Notification_LITE_STATUS, liteInfoFor(r, nil)
		}
	})
}

// liteInfoFor is the switch's lite part of an answer to r, with r's device
// and LRN where the answer leaves them out.
func liteInfoFor(r *liteRequest, l *upiv1.LiteInfo) *upiv1.LiteInfo {
	out := &upiv1.LiteInfo{}
	if l != nil {
		out = proto.Clone(l).(*upiv1.LiteInfo)
	}
	if out.DeviceId == "" {
		out.DeviceId = r.DeviceId
	}
	if out.Lrn == "" {
		out.Lrn = r.Lrn
	}
	return out
}

// liteAnswered ends r with resp and tells its user, with what fill adds
// to the notification. An answer to a request already answered changes
// nothing.
func (p *PSP) liteAnswered(c *node.Ctx, r *liteRequest, resp *upiv1.Resp, fill func(*upiv1.Notification)) error {
	if r.Status == liteAnswered {
		return c.NoteReceived("the request was answered before: changes nothing")
	}
	r.Status, r.Result, r.ErrCode, r.Answered = liteAnswered, resp.GetResult().String(), resp.GetErrCode(), store.Nanos(c.Now())
	if err := liteRequests.Put(c.Tx, r.TxnId, r); err != nil {
		return err
	}
	n := &upiv1.Notification{
		Txn:      &upiv1.Txn{Id: r.TxnId, Type: upiv1.Txn_LITE_SYNC},
		UserAddr: r.UserVpa,
		Resp:     &upiv1.Resp{Result: resp.GetResult(), ErrCode: resp.GetErrCode()},
	}
	fill(n)
	c.Notify(r.TxnId)
	return p.notifyApp(c, n)
}

// --- This PSP as the payee's ---

// liteAuthDetails answers the switch's ReqAuthDetails LITE_SYNC (step 4–5
// of Sync): the payee's account, or FAILURE U29. A record's payee is
// resolved for the batch: no transaction record, no OnAuthDetails (the
// merchant layer hears of Lite orders through OnLiteCredit).
func (p *PSP) liteAuthDetails(c *node.Ctx, m *upiv1.ReqAuthDetails) error {
	v, err := getVPA(c.Tx, m.GetPayee().GetAddr())
	if err != nil {
		return err
	}
	resp := &upiv1.RespAuthDetails{Txn: cloneTxn(m.GetTxn()), Payer: cloneParty(m.GetPayer())}
	if v == nil {
		resp.Payee = &upiv1.Party{Addr: m.GetPayee().GetAddr()}
		resp.Resp = &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeAddrResolution}
	} else {
		resp.Payee = vpaParty(v, m.GetPayee().GetAmountPaise())
		resp.Resp = &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS}
	}
	return c.Send(p.switchName, upiv1.SwitchService_RespAuthDetails_FullMethodName, resp)
}

// validateLiteConfirmation: a LITE_SYNC confirmation carries the batch's
// SUCCESS records to this PSP's users, each with its LRN and official UTR.
func (p *PSP) validateLiteConfirmation(m *upiv1.ReqTxnConfirmation) error {
	if len(m.GetLiteRecords()) == 0 {
		return node.Refuse("ReqTxnConfirmation LITE_SYNC: lite_records is empty")
	}
	for i, r := range m.GetLiteRecords() {
		switch {
		case r.GetLrn() == "":
			return node.Refuse("ReqTxnConfirmation LITE_SYNC: lite_records[%d].lrn is required", i)
		case r.GetResult() != upiv1.Resp_SUCCESS:
			return node.Refuse("ReqTxnConfirmation LITE_SYNC: lite_records[%d] is %s; only SUCCESS records are confirmed", i, r.GetResult())
		case r.GetUtr() == "":
			return node.Refuse("ReqTxnConfirmation LITE_SYNC: lite_records[%d].utr (the official UTR) is required", i)
		}
		if err := p.checkOwnVPA("ReqTxnConfirmation LITE_SYNC: lite_records["+strconv.Itoa(i)+"].payee_addr", r.GetPayeeAddr()); err != nil {
			return err
		}
	}
	return nil
}

// liteConfirmation is step 11 of Sync at the payee's PSP: each record not
// credited before is kept, each payee with new records hears them (one
// LITE_SYNC notification per user), Config.OnLiteCredit gets them, and
// the switch is answered SUCCESS, all in this step. A repeat (of this
// confirmation, or of a record another batch confirmed) tells no one
// again.
func (p *PSP) liteConfirmation(c *node.Ctx, m *upiv1.ReqTxnConfirmation) error {
	var fresh []*upiv1.LiteRecordResult
	byUser := map[string][]*upiv1.LiteRecordResult{}
	var users []string
	for _, rec := range m.GetLiteRecords() {
		key := creditKey(rec.GetLrn(), rec.GetCounter())
		if liteCredits.Has(c.Tx, key) {
			continue // credited before (also: twice in this message)
		}
		payee := ids.NormalizeVPA(rec.GetPayeeAddr())
		if err := liteCredits.Put(c.Tx, key, &liteCredit{
			Lrn: rec.GetLrn(), Counter: rec.GetCounter(), Utr: rec.GetUtr(), ProvisionalUtr: rec.GetProvisionalUtr(),
			PayeeVpa: payee, AmountPaise: rec.GetAmountPaise(), TxnId: m.GetTxn().GetId(), Credited: store.Nanos(c.Now()),
		}); err != nil {
			return err
		}
		// Shared with m, not copied: the notifications and the merchant
		// layer only read it.
		fresh = append(fresh, rec)
		if _, ok := byUser[payee]; !ok {
			users = append(users, payee)
		}
		byUser[payee] = append(byUser[payee], rec)
	}
	if len(fresh) == 0 {
		if err := c.NoteReceived("every record was credited before: changes nothing"); err != nil {
			return err
		}
	}
	for _, u := range users {
		if err := p.notifyApp(c, &upiv1.Notification{
			Txn:      &upiv1.Txn{Id: m.GetTxn().GetId(), Type: upiv1.Txn_LITE_SYNC},
			Kind:     upiv1.Notification_LITE_SYNC,
			UserAddr: u,
			Resp:     &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
			Lite: &upiv1.RespLiteSync{
				Txn:     cloneTxn(m.GetTxn()),
				Resp:    &upiv1.Resp{Result: upiv1.Resp_SUCCESS},
				Results: byUser[u],
			},
		}); err != nil {
			return err
		}
	}
	if len(fresh) > 0 && p.cfg.OnLiteCredit != nil {
		if err := p.cfg.OnLiteCredit(c, fresh); err != nil {
			return err
		}
	}
	c.Notify(m.GetTxn().GetId())
	return c.Send(p.switchName, upiv1.SwitchService_RespTxnConfirmation_FullMethodName, &upiv1.RespTxnConfirmation{
		Txn:  cloneTxn(m.GetTxn()),
		Resp: &upiv1.Resp{ReqMsgId: m.GetHead().GetMsgId(), Result: upiv1.Resp_SUCCESS},
	})
}
