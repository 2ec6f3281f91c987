package psp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/pin"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/upi"
)

// The PSP's own MPIN credential.
const (
	credPIN  = "PIN"
	credMPIN = "MPIN"
)

// checkCred checks the PIN block the TPAP sealed for the payer's bank:
// present, version 2, with its key id, time and ciphertext. The PSP cannot
// read it and passes it on unchanged (docs/FLOWS.md, Pay, PINs).
func checkCred(c *upiv1.Cred) error {
	switch {
	case c == nil:
		return invalid("cred: the PIN block is required")
	case c.GetVer() != pin.Version:
		return invalid("cred.ver %q: want PIN block version %q", c.GetVer(), pin.Version)
	case c.GetKi() == "" || c.GetTs() == nil || c.GetData() == "":
		return invalid("cred: a PIN block needs ki, ts and data")
	case len(c.GetData()) > maxCredData || len(c.GetKi()) > 100:
		return invalid("cred: a PIN block of %d bytes is too big", len(c.GetData()))
	}
	return nil
}

// maxCredData bounds a PIN block's data (a v2 block is about 80 bytes).
const maxCredData = 1024

// pinCred is the PIN block as the PSP sends it on: the TPAP's, typed PIN
// MPIN.
func pinCred(c *upiv1.Cred) *upiv1.Cred {
	return &upiv1.Cred{Type: credPIN, SubType: credMPIN, Ver: c.GetVer(), Ki: c.GetKi(), Ts: c.GetTs(), Data: c.GetData()}
}

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

// initiate is the step that starts a pay or collect for a user of this
// PSP (the party who, at vpa): a repeat of the request (same txnID and
// fingerprint fp) answers with the record it made; otherwise the user must
// be registered here, and start builds the record and the ReqPay, which
// are stored and sent together. A busy node refuses at once, doing
// nothing. Errors are statuses.
func (p *PSP) initiate(txnID, fp, who, vpa string, start func(*node.Ctx, *vpaRecord) (*txnRecord, *upiv1.ReqPay)) (*txnRecord, error) {
	if err := p.n.Acquire(); err != nil {
		return nil, err
	}
	defer p.n.Release()
	var out *txnRecord
	err := p.n.Update(func(c *node.Ctx) error {
		var err error
		out, err = p.initiateIn(c, txnID, fp, who, vpa, start)
		return err
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return out, nil
}

// initiateIn is initiate's step, in c (StartCollect runs it in its
// caller's).
func (p *PSP) initiateIn(c *node.Ctx, txnID, fp, who, vpa string, start func(*node.Ctx, *vpaRecord) (*txnRecord, *upiv1.ReqPay)) (*txnRecord, error) {
	if out, err := repeatOf(c.Tx, txnID, fp); out != nil || err != nil {
		return out, err
	}
	v, err := getVPA(c.Tx, vpa)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, p.notRegistered(who, vpa)
	}
	r, msg := start(c, v)
	if err := putTxn(c.Tx, r, c.Now()); err != nil {
		return nil, err
	}
	if err := c.Send(p.switchName, upiv1.SwitchService_ReqPay_FullMethodName, msg); err != nil {
		return nil, err
	}
	return r, nil
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

// outcome describes a record's status for messages: "FAILURE (U69)".
func outcome(r *txnRecord) string {
	if r.ErrCode != "" {
		return fmt.Sprintf("%s (%s)", r.Status, r.ErrCode)
	}
	return r.Status
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
	return &upiv1.QueryTransactionResponse{Transaction: txnProto(r)}, nil
}
