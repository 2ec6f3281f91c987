package psp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/pin"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// Collect expiry bounds, in minutes: the default, and the longest a collect
// may stay open (45 days, as in UPI).
const (
	defaultCollectExpiry = 30
	maxCollectExpiry     = 45 * 24 * 60
)

// defaultValAddTimeout is how long ResolveAddress waits when the network
// file sets no val_add timeout.
const defaultValAddTimeout = 10 * time.Second

// The PSP's own MPIN credential.
const (
	credPIN  = "PIN"
	credMPIN = "MPIN"
)

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// checkVPA validates a VPA field of a request and returns it normalized.
func checkVPA(field, vpa string) (string, error) {
	if err := ids.ValidateVPA(vpa); err != nil {
		return "", invalid("%s: %v", field, err)
	}
	return ids.NormalizeVPA(vpa), nil
}

// checkTransfer validates the parties and amount of a pay or collect
// (upi.CheckTransfer) and returns the VPAs normalized.
func checkTransfer(payerVPA, payeeVPA string, amount int64) (payer, payee string, err error) {
	payer, payee, err = upi.CheckTransfer(upi.AppFields, payerVPA, payeeVPA, amount)
	if err != nil {
		return "", "", invalid("%v", err)
	}
	return payer, payee, nil
}

// checkTexts checks text fields of a request against the limits of the
// network fields they go into (node.CheckText), so that the PSP refuses
// at once what the switch would refuse in its Ack. Each entry is the
// request's field name, the network field and the value.
func checkTexts(fields ...textField) error {
	for _, f := range fields {
		if err := node.CheckText(f.name, f.full, f.value); err != nil {
			return invalid("%v", err)
		}
	}
	return nil
}

type textField struct {
	name  string
	full  protoreflect.FullName
	value string
}

// checkTxnID checks a transaction id a caller chose, or makes one.
func (p *PSP) checkTxnID(txnID string) (string, error) {
	if txnID == "" {
		return ids.NewTxnID(p.prefix), nil
	}
	if !ids.ValidID(txnID) {
		return "", invalid("txn_id %q is not 3 letters and 32 lowercase hex digits", txnID)
	}
	if ids.PrefixOf(txnID) != p.prefix {
		return "", invalid("txn_id %q must start with this PSP's prefix %s", txnID, p.prefix)
	}
	return txnID, nil
}

func (p *PSP) notRegistered(who, vpa string) error {
	return status.Errorf(codes.NotFound, "%s VPA %s is not registered at PSP %s", who, vpa, p.name)
}

// storeErr maps an error out of n.Update: statuses pass through, anything
// else is internal.
func storeErr(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Errorf(codes.Internal, "store: %v", err)
}

// InitiatePay implements PspAppService: it checks the payment, records it
// and sends ReqPay PAY to the switch, and answers PENDING.
func (p *PSP) InitiatePay(_ context.Context, req *upiv1.InitiatePayRequest) (*upiv1.InitiatePayResponse, error) {
	payer, payee, err := checkTransfer(req.GetPayerVpa(), req.GetPayeeVpa(), req.GetAmountPaise())
	if err != nil {
		return nil, err
	}
	if err := ids.ValidatePIN(req.GetPin()); err != nil {
		return nil, invalid("pin: %v", err)
	}
	if err := checkTexts(
		textField{"note", "upi.v1.Txn.note", req.GetNote()},
		textField{"device_id", "upi.v1.Device.id", req.GetDeviceId()},
		textField{"ref_id", "upi.v1.Txn.ref_id", req.GetRefId()},
		textField{"purpose", "upi.v1.Txn.purpose", req.GetPurpose()},
		textField{"initiation_mode", "upi.v1.Txn.initiation_mode", req.GetInitiationMode()},
	); err != nil {
		return nil, err
	}
	txnID, err := p.checkTxnID(req.GetTxnId())
	if err != nil {
		return nil, err
	}
	// The block has a random nonce: the fingerprint keeps a keyed tag of
	// the PIN instead (a plain hash of anything with the PIN in it would be
	// brute-forced in a moment).
	block := pin.SealBlock(req.GetPin(), txnID)
	fp := fingerprint(payer, payee, strconv.FormatInt(req.GetAmountPaise(), 10), req.GetNote(), p.pinTag(req.GetPin(), txnID),
		req.GetDeviceId(), req.GetRefId(), req.GetPurpose(), req.GetInitiationMode())

	if err := p.n.Acquire(); err != nil { // busy: refused at once, nothing done
		return nil, err
	}
	defer p.n.Release()
	var out *txnRecord
	err = p.n.Update(func(c *node.Ctx) error {
		var err error
		if out, err = repeatOf(c.Tx, txnID, fp); out != nil || err != nil {
			return err
		}
		v, err := getVPA(c.Tx, payer)
		if err != nil {
			return err
		}
		if v == nil {
			return p.notRegistered("payer", payer)
		}
		r := &txnRecord{
			ID: txnID, Type: upiv1.Txn_PAY.String(), State: stateReqSent, Status: upiv1.Resp_PENDING.String(),
			PayerVPA: v.VPA, PayerName: v.Name, PayeeVPA: payee, Amount: req.GetAmountPaise(), Note: req.GetNote(),
			PayerHere: true, Initiator: true, Fingerprint: fp,
		}
		if err := putTxn(c.Tx, r, c.Now()); err != nil {
			return err
		}
		pr := v.party(req.GetAmountPaise())
		pr.Creds = []*upiv1.Cred{{Type: credPIN, SubType: credMPIN, Data: block}}
		if req.GetDeviceId() != "" {
			pr.Device = &upiv1.Device{Id: req.GetDeviceId()}
		}
		msg := &upiv1.ReqPay{
			Txn: &upiv1.Txn{
				Id: txnID, Type: upiv1.Txn_PAY, Note: req.GetNote(), RefId: req.GetRefId(),
				Purpose: orDefault(req.GetPurpose(), "00"), InitiationMode: orDefault(req.GetInitiationMode(), "00"),
				Ts: timestamppb.New(c.Now()),
			},
			Payer: pr,
			Payee: &upiv1.Party{Addr: payee},
		}
		if err := c.Send(p.switchName, upiv1.SwitchService_ReqPay_FullMethodName, msg); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &upiv1.InitiatePayResponse{Transaction: out.proto()}, nil
}

// repeatOf returns the record of txnID when a request with the same
// fingerprint already made it (a caller's retry, answered with what it
// started), nil when txnID is new, and AlreadyExists when it was used for
// another request.
func repeatOf(tx *store.Tx, txnID, fp string) (*txnRecord, error) {
	old, err := getTxn(tx, txnID)
	if err != nil || old == nil {
		return nil, err
	}
	if old.Fingerprint != fp {
		return nil, status.Errorf(codes.AlreadyExists, "txn_id %s was already used for a different transaction", txnID)
	}
	return old, nil
}

// fingerprint hashes the fields of a request, each length-prefixed.
func fingerprint(fields ...string) string {
	h := sha256.New()
	for _, f := range fields {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// InitiateCollect implements PspAppService: the payee, a user of this PSP,
// asks payer_vpa for money; it sends ReqPay COLLECT to the switch and
// answers PENDING.
func (p *PSP) InitiateCollect(_ context.Context, req *upiv1.InitiateCollectRequest) (*upiv1.InitiateCollectResponse, error) {
	payer, payee, err := checkTransfer(req.GetPayerVpa(), req.GetPayeeVpa(), req.GetAmountPaise())
	if err != nil {
		return nil, err
	}
	expiry := req.GetExpireAfterMinutes()
	switch {
	case expiry == 0:
		expiry = defaultCollectExpiry
	case expiry < 0 || expiry > maxCollectExpiry:
		return nil, invalid("expire_after_minutes must be between 1 and %d, got %d", maxCollectExpiry, expiry)
	}
	if err := checkTexts(textField{"note", "upi.v1.Txn.note", req.GetNote()}); err != nil {
		return nil, err
	}
	txnID, err := p.checkTxnID(req.GetTxnId())
	if err != nil {
		return nil, err
	}
	fp := fingerprint(upiv1.Txn_COLLECT.String(), payer, payee, strconv.FormatInt(req.GetAmountPaise(), 10), req.GetNote(),
		strconv.Itoa(int(expiry)))

	if err := p.n.Acquire(); err != nil { // busy: refused at once, nothing done
		return nil, err
	}
	defer p.n.Release()
	var out *txnRecord
	err = p.n.Update(func(c *node.Ctx) error {
		var err error
		if out, err = repeatOf(c.Tx, txnID, fp); out != nil || err != nil {
			return err
		}
		v, err := getVPA(c.Tx, payee)
		if err != nil {
			return err
		}
		if v == nil {
			return p.notRegistered("payee", payee)
		}
		r := &txnRecord{
			ID: txnID, Type: upiv1.Txn_COLLECT.String(), State: stateReqSent, Status: upiv1.Resp_PENDING.String(),
			PayerVPA: payer, PayeeVPA: v.VPA, PayeeName: v.Name, Amount: req.GetAmountPaise(), Note: req.GetNote(),
			Expires:   c.Now().Add(time.Duration(expiry) * time.Minute),
			PayeeHere: true, Initiator: true, Fingerprint: fp,
		}
		if err := putTxn(c.Tx, r, c.Now()); err != nil {
			return err
		}
		msg := &upiv1.ReqPay{
			Txn: &upiv1.Txn{
				Id: txnID, Type: upiv1.Txn_COLLECT, Note: req.GetNote(), Purpose: "00", InitiationMode: "00",
				Ts: timestamppb.New(c.Now()), ExpireAfterMinutes: expiry,
			},
			Payer: &upiv1.Party{Addr: payer, AmountPaise: req.GetAmountPaise(), Currency: "INR"},
			Payee: v.party(req.GetAmountPaise()),
		}
		if err := c.Send(p.switchName, upiv1.SwitchService_ReqPay_FullMethodName, msg); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &upiv1.InitiateCollectResponse{Transaction: out.proto()}, nil
}

// RespondCollect implements PspAppService: the payer approves a collect
// waiting for them (with their PIN) or declines it; the answer goes to the
// switch as RespAuthDetails and can be given once.
func (p *PSP) RespondCollect(_ context.Context, req *upiv1.RespondCollectRequest) (*upiv1.RespondCollectResponse, error) {
	txnID := req.GetTxnId()
	if txnID == "" {
		return nil, invalid("txn_id is required")
	}
	if req.GetApprove() {
		if err := ids.ValidatePIN(req.GetPin()); err != nil {
			return nil, invalid("pin: %v", err)
		}
	}
	if err := p.n.Acquire(); err != nil { // busy: refused at once, nothing done
		return nil, err
	}
	defer p.n.Release()
	var out *txnRecord
	err := p.n.Update(func(c *node.Ctx) error {
		out = nil
		r, err := getTxn(c.Tx, txnID)
		if err != nil {
			return err
		}
		if r == nil || !r.isCollect() || !r.PayerHere || r.AuthReqMsgID == "" {
			return status.Errorf(codes.NotFound, "no collect request %s is waiting for a user of PSP %s", txnID, p.name)
		}
		switch {
		case r.Answer != "":
			return status.Errorf(codes.FailedPrecondition, "collect %s was already %s (status %s)", txnID, strings.ToLower(r.Answer), outcome(r))
		case r.Confirmed || r.isFinal():
			return status.Errorf(codes.FailedPrecondition, "collect %s is no longer waiting for approval: it ended %s", txnID, outcome(r))
		}
		v, err := getVPA(c.Tx, r.PayerVPA)
		if err != nil {
			return err
		}
		if v == nil {
			return status.Errorf(codes.FailedPrecondition, "payer %s is no longer registered at PSP %s", r.PayerVPA, p.name)
		}
		msg := &upiv1.RespAuthDetails{Txn: r.authTxn(), Payee: r.authPayee()}
		if req.GetApprove() {
			payer := v.party(r.Amount)
			payer.Creds = []*upiv1.Cred{{Type: credPIN, SubType: credMPIN, Data: pin.SealBlock(req.GetPin(), txnID)}}
			msg.Payer = payer
			msg.Resp = &upiv1.Resp{ReqMsgId: r.AuthReqMsgID, Result: upiv1.Resp_SUCCESS}
			r.Answer, r.State = answerApproved, stateApproved
		} else {
			msg.Payer = &upiv1.Party{Addr: v.VPA, Name: v.Name, AmountPaise: r.Amount, Currency: "INR"}
			msg.Resp = &upiv1.Resp{ReqMsgId: r.AuthReqMsgID, Result: upiv1.Resp_FAILURE, ErrCode: upi.CodeDeclinedByPayer}
			r.Answer, r.State = answerDeclined, stateDeclined
		}
		if err := c.Send(p.switchName, upiv1.SwitchService_RespAuthDetails_FullMethodName, msg); err != nil {
			return err
		}
		if err := c.Tx.Delete(store.Pending, pendingKey(r.PayerVPA, r.ID)); err != nil {
			return err
		}
		if err := putTxn(c.Tx, r, c.Now()); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &upiv1.RespondCollectResponse{Transaction: out.proto()}, nil
}

// outcome describes a record's status for messages: "FAILURE (U69)".
func outcome(r *txnRecord) string {
	if r.ErrCode != "" {
		return fmt.Sprintf("%s (%s)", r.Status, r.ErrCode)
	}
	return r.Status
}

// ResolveAddress implements PspAppService: it sends ReqValAdd for vpa on
// behalf of requester_vpa and waits for the RespValAdd, up to the network's
// val_add timeout or ctx's deadline.
func (p *PSP) ResolveAddress(ctx context.Context, req *upiv1.ResolveAddressRequest) (*upiv1.ResolveAddressResponse, error) {
	vpa, err := checkVPA("vpa", req.GetVpa())
	if err != nil {
		return nil, err
	}
	requester, err := checkVPA("requester_vpa", req.GetRequesterVpa())
	if err != nil {
		return nil, err
	}
	txnID := ids.NewTxnID(p.prefix)

	// Watch before the update that sends, so a fast answer is not missed.
	wait, cancel := p.n.Watch(txnID)
	defer func() { cancel() }()
	// The slot covers the step that sends; waiting for the answer takes
	// none.
	if err := p.n.Acquire(); err != nil {
		return nil, err
	}
	err = p.n.Update(func(c *node.Ctx) error {
		v, err := getVPA(c.Tx, requester)
		if err != nil {
			return err
		}
		if v == nil {
			return p.notRegistered("requester", requester)
		}
		r := &txnRecord{
			ID: txnID, Type: upiv1.Txn_VAL_ADD.String(), State: stateValAddSent, Status: upiv1.Resp_PENDING.String(),
			PayerVPA: v.VPA, PayerName: v.Name, PayeeVPA: vpa, PayerHere: true, Initiator: true,
		}
		if err := putTxn(c.Tx, r, c.Now()); err != nil {
			return err
		}
		return c.Send(p.switchName, upiv1.SwitchService_ReqValAdd_FullMethodName, &upiv1.ReqValAdd{
			Txn:   &upiv1.Txn{Id: txnID, Type: upiv1.Txn_VAL_ADD, Ts: timestamppb.New(c.Now())},
			Payer: &upiv1.Party{Addr: v.VPA, Name: v.Name},
			Payee: &upiv1.Party{Addr: vpa},
		})
	})
	p.n.Release()
	if err != nil {
		return nil, storeErr(err)
	}

	limit := p.cfg.Network.Timeouts.ValAdd
	if limit <= 0 {
		limit = defaultValAddTimeout
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case <-wait:
		case <-timer.C:
			return nil, status.Errorf(codes.DeadlineExceeded, "no RespValAdd for %s (txn %s) within %s", vpa, txnID, limit)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, status.Errorf(codes.DeadlineExceeded, "no RespValAdd for %s (txn %s) before the call's deadline", vpa, txnID)
			}
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		cancel()
		wait, cancel = p.n.Watch(txnID)
		r, err := p.viewTxn(txnID)
		if err != nil {
			return nil, err
		}
		if res := r.ValAdd; res != nil {
			return &upiv1.ResolveAddressResponse{Details: &upiv1.AddressDetails{
				Vpa: vpa, Name: res.Name, Type: upiv1.Party_Type(upiv1.Party_Type_value[res.Type]), Code: res.Code,
				Ifsc: res.IFSC, Result: upiv1.Resp_Result(upiv1.Resp_Result_value[res.Result]), ErrCode: res.ErrCode,
			}}, nil
		}
	}
}

// QueryTransaction implements PspAppService: this PSP's view of a
// transaction.
func (p *PSP) QueryTransaction(_ context.Context, req *upiv1.QueryTransactionRequest) (*upiv1.QueryTransactionResponse, error) {
	if req.GetTxnId() == "" {
		return nil, invalid("txn_id is required")
	}
	r, err := p.viewTxn(req.GetTxnId())
	if err != nil {
		return nil, err
	}
	return &upiv1.QueryTransactionResponse{Transaction: r.proto()}, nil
}
