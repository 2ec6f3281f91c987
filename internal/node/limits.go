package node

import (
	"fmt"
	"runtime/debug"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/upisim/upisim/internal/upi"
)

// Limits of a network message. Receive refuses a message beyond them in
// its Ack, before anything is stored; see CheckLimits.
const (
	// MaxMsgBytes is the largest message a node's gRPC server takes
	// (grpc.MaxRecvMsgSize); gRPC itself answers a bigger one with
	// codes.ResourceExhausted before it reaches Receive.
	MaxMsgBytes = 4 << 20
	// MaxOrgIDLen is the longest head.org_id: a node name
	// (config.MaxNodeName).
	MaxOrgIDLen = 32
	// MaxNoteChars is the longest txn.note, in characters (NPCI: 50).
	MaxNoteChars = 50
	// MaxNameChars is the longest person or business name (party.name,
	// ref.reg_name, mandate.name), in characters.
	MaxNameChars = 99
	// MaxBlobBytes is the longest credential block or signature.
	MaxBlobBytes = 2048
	// MaxStringBytes is the longest of every other string field (VPAs, ids,
	// codes, account numbers, URLs ...).
	MaxStringBytes = 255
	// MaxRepeated is the most elements of a repeated field (creds, refs,
	// Lite records).
	MaxRepeated = 100
	// MaxUnknownBytes bounds the fields of a newer protocol version a
	// message may carry, so that nobody can make a node store megabytes
	// it does not understand.
	MaxUnknownBytes = 1024
	// MaxExpireMinutes is the longest txn.expire_after_minutes: NPCI's
	// 45 days.
	MaxExpireMinutes = 45 * 24 * 60
)

// The range of every timestamp a message carries (head.ts, txn.ts, ...).
// Anything outside is nonsense, and near the ends of what a time.Time can
// encode later arithmetic (an expiry) would overflow.
var (
	minTimestamp = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTimestamp = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Per-field limits that differ from MaxStringBytes, by full field name.
var (
	charLimits = map[protoreflect.FullName]int{
		"upi.v1.Txn.note":     MaxNoteChars,
		"upi.v1.Party.name":   MaxNameChars,
		"upi.v1.Ref.reg_name": MaxNameChars,
		"upi.v1.Mandate.name": MaxNameChars,
	}
	// Repeated fields that may hold more than MaxRepeated: a Lite batch's.
	repeatedLimits = map[protoreflect.FullName]int{
		"upi.v1.ReqLiteSync.records":             MaxLiteBatch,
		"upi.v1.RespLiteSync.results":            MaxLiteBatch,
		"upi.v1.RespLiteSync.balances":           MaxLiteBatch,
		"upi.v1.ReqTxnConfirmation.lite_records": MaxLiteBatch,
		// issue 12 (recon): a reconciliation's page and its answer.
		"upi.v1.ReqLiteSync.recon":       MaxLiteBatch,
		"upi.v1.RespLiteSync.mismatches": 2*MaxLiteBatch + 2,
	}
	byteLimits = map[protoreflect.FullName]int{
		"upi.v1.Cred.data":            MaxBlobBytes,
		"upi.v1.Mandate.signature":    MaxBlobBytes,
		"upi.v1.LiteRecord.signature": MaxBlobBytes,
	}
)

// Admit runs the checks a message must pass before Receive stores it, in
// order: the head and txn id (what the runtime itself needs), then h's
// Validate if h is a Validator, then CheckLimits. It returns the Inbound to
// handle, or the reason to refuse m: a *Refusal, or another error when
// Validate panicked (an internal error, not the sender's fault).
func Admit(h Handler, method string, m Message) (in *Inbound, err error) {
	return admitFrom(h, method, m, nil)
}

// admitFrom is Admit for a message whose sender the transport
// authenticated (peer; nil when it did not): head.org_id must be the
// peer's name, and the Inbound carries the peer's role for the route's
// check (Table.checkFrom).
func admitFrom(h Handler, method string, m Message, peer *Peer) (in *Inbound, err error) {
	if m == nil || m.GetHead() == nil {
		return nil, Refuse("missing head")
	}
	head := m.GetHead()
	if err := checkHead(head, m.GetTxn()); err != nil {
		return nil, &Refusal{Reason: err.Error()}
	}
	in = &Inbound{Method: method, API: method[strings.LastIndexByte(method, '/')+1:], From: head.GetOrgId(), Msg: m}
	if peer != nil {
		if peer.Name != head.GetOrgId() {
			return nil, Refuse("head.org_id %q is not the sender: the sender's certificate is node %q's", head.GetOrgId(), peer.Name)
		}
		in.Role = peer.Role
	}
	if v, ok := h.(Validator); ok {
		if err := safeValidate(v, in); err != nil {
			return nil, err
		}
	}
	if err := CheckLimits(m); err != nil {
		return nil, err
	}
	return in, nil
}

// panicError is a panic of a handler's Validate, Handle or Fire, recovered.
type panicError struct {
	what  string
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("%s panicked: %v", e.what, e.value) }

func safeValidate(v Validator, in *Inbound) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{what: "validate " + in.API, value: r, stack: debug.Stack()}
		}
	}()
	return v.Validate(in)
}

// safeHandle calls h.Handle and turns a panic into an error, so that one
// bad message cannot take the node (and every flow in flight) down: the
// handler runs in the store's commit goroutine, where a panic would end
// the process.
func safeHandle(h Handler, c *Ctx, in *Inbound) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{what: "handle " + in.API, value: r, stack: debug.Stack()}
		}
	}()
	return h.Handle(c, in)
}

// safeFire calls h.Fire and turns a panic into an error, for the same
// reason as safeHandle: the timer is then kept and tried again with
// backoff, like any failed timer step.
func safeFire(h Handler, c *Ctx, t Timer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{what: "fire " + t.Name, value: r, stack: debug.Stack()}
		}
	}()
	return h.Fire(c, t)
}

// CheckLimits checks the rules every network message keeps whatever its
// type, and returns a *Refusal naming the first field that breaks one:
//
//   - strings are valid UTF-8 without control characters, and no longer
//     than their limit (MaxNoteChars, MaxNameChars, MaxBlobBytes,
//     MaxStringBytes);
//   - enums hold a value the protocol defines (no txn.type 999);
//   - amounts (*_paise) are between 0 and upi.MaxAmountPaise, and a message
//     with a payer and a payee has one amount: when both carry one, they
//     are equal;
//   - txn.expire_after_minutes is between 0 and MaxExpireMinutes;
//   - timestamps are valid and between 1970 and 3000;
//   - repeated fields have at most MaxRepeated elements, and unknown
//     fields take at most MaxUnknownBytes.
//
// Whether a field is required, and what a role does with it, is the
// role's Validate's business.
func CheckLimits(m Message) error {
	unknown := 0
	if err := checkFields(m.ProtoReflect(), nil, &unknown); err != nil {
		return err
	}
	if unknown > MaxUnknownBytes {
		return Refuse("the message carries %d bytes of fields unknown to this node; at most %d are allowed", unknown, MaxUnknownBytes)
	}
	if p, ok := m.(partyGetter); ok {
		a, b := p.GetPayer().GetAmountPaise(), p.GetPayee().GetAmountPaise()
		if a != 0 && b != 0 && a != b {
			return Refuse("payer.amount_paise %d differs from payee.amount_paise %d: a transaction has one amount", a, b)
		}
	}
	return nil
}

// fieldPath is where a message field lies in the message checked: nil for
// the message itself, else its parent's path and the field (and index in
// a list, or -1). It lives on the stack; its text, "payer.creds[0].", is
// only made for an error, so that a message within the limits costs no
// allocations for names.
type fieldPath struct {
	parent *fieldPath
	fd     protoreflect.FieldDescriptor
	i      int
}

func (p *fieldPath) String() string {
	if p == nil {
		return ""
	}
	return fieldName(p.parent, p.fd, p.i) + "."
}

func checkFields(m protoreflect.Message, at *fieldPath, unknown *int) error {
	*unknown += len(m.GetUnknown())
	// The fields by index rather than with m.Range, whose callback would be
	// a closure on the heap (with at and err) for every message checked.
	fds := m.Descriptor().Fields()
	for j := range fds.Len() {
		fd := fds.Get(j)
		if !m.Has(fd) {
			continue
		}
		v := m.Get(fd)
		switch {
		case fd.IsList():
			l := v.List()
			if l.Len() > MaxRepeated {
				if most := repeatedLimits[fd.FullName()]; l.Len() > most {
					return Refuse("%s has %d elements; at most %d are allowed", fieldName(at, fd, -1), l.Len(), max(most, MaxRepeated))
				}
			}
			for i := 0; i < l.Len(); i++ {
				if err := checkValue(fd, l.Get(i), at, i, unknown); err != nil {
					return err
				}
			}
		case fd.IsMap(): // no network message has one yet
			if v.Map().Len() > MaxRepeated {
				return Refuse("%s has %d entries; at most %d are allowed", fieldName(at, fd, -1), v.Map().Len(), MaxRepeated)
			}
		default:
			if err := checkValue(fd, v, at, -1, unknown); err != nil {
				return err
			}
		}
	}
	return nil
}

// fieldName is the path of a field in errors: "payer.creds[0].data".
func fieldName(at *fieldPath, fd protoreflect.FieldDescriptor, i int) string {
	if i < 0 {
		return at.String() + string(fd.Name())
	}
	return fmt.Sprintf("%s%s[%d]", at, fd.Name(), i)
}

func checkValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, at *fieldPath, i int, unknown *int) error {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return checkString(fd, v.String(), at, i)
	case protoreflect.BytesKind:
		if l := len(v.Bytes()); l > MaxBlobBytes {
			return Refuse("%s is %d bytes long; at most %d are allowed", fieldName(at, fd, i), l, MaxBlobBytes)
		}
	case protoreflect.EnumKind:
		if fd.Enum().Values().ByNumber(v.Enum()) == nil {
			return Refuse("%s %d is not a value of %s", fieldName(at, fd, i), v.Enum(), fd.Enum().FullName())
		}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		a := v.Int()
		if (a < 0 || a > upi.MaxAmountPaise) && strings.HasSuffix(string(fd.Name()), "_paise") {
			return Refuse("%s %s", fieldName(at, fd, i), upi.AmountProblem(a))
		}
	case protoreflect.Int32Kind:
		if e := v.Int(); (e < 0 || e > MaxExpireMinutes) && fd.FullName() == "upi.v1.Txn.expire_after_minutes" {
			return Refuse("%s %d is out of range 0..%d (45 days)", fieldName(at, fd, i), e, MaxExpireMinutes)
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if fd.Message().FullName() == "google.protobuf.Timestamp" {
			return checkTimestamp(v.Message(), at, fd, i)
		}
		if n, ok := liteClean(v.Message().Interface()); ok { // limits_lite.go
			*unknown += n
			return nil
		}
		return checkFields(v.Message(), &fieldPath{parent: at, fd: fd, i: i}, unknown)
	}
	return nil
}

func checkString(fd protoreflect.FieldDescriptor, s string, at *fieldPath, i int) error {
	if p := textProblem(fd.FullName(), s); p != "" {
		return Refuse("%s %s", fieldName(at, fd, i), p)
	}
	return nil
}

// textProblem says what is wrong with s as the value of the string field
// full, or "" when nothing is. Only a problem costs an allocation.
func textProblem(full protoreflect.FullName, s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	if limit, ok := charLimits[full]; ok {
		if len(s) > limit { // else it has at most limit characters
			if n := utf8.RuneCountInString(s); n > limit {
				return fmt.Sprintf("is %d characters long; at most %d are allowed", n, limit)
			}
		}
	} else {
		limit, ok := byteLimits[full]
		if !ok {
			limit = MaxStringBytes
		}
		if len(s) > limit {
			return fmt.Sprintf("is %d bytes long; at most %d are allowed", len(s), limit)
		}
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Sprintf("contains the control character %U", r)
		}
	}
	return ""
}

// CheckText checks s, what an app request gives for the network message
// field full (as "upi.v1.Txn.note"), against the limits CheckLimits holds
// that field to, so that an app API refuses at once what the switch would
// refuse later. The error names the request's field: "note is 51
// characters long; at most 50 are allowed".
func CheckText(field string, full protoreflect.FullName, s string) error {
	if p := textProblem(full, s); p != "" {
		return fmt.Errorf("%s %s", field, p)
	}
	return nil
}

// checkTimestamp checks a google.protobuf.Timestamp by its fields (seconds
// = 1, nanos = 2), so it needs no concrete type.
func checkTimestamp(m protoreflect.Message, at *fieldPath, fd protoreflect.FieldDescriptor, i int) error {
	fields := m.Descriptor().Fields()
	secs := m.Get(fields.ByNumber(1)).Int()
	nanos := m.Get(fields.ByNumber(2)).Int()
	if nanos < 0 || nanos > 999_999_999 {
		return Refuse("%s has nanos %d, out of range 0..999999999", fieldName(at, fd, i), nanos)
	}
	if secs < minTimestamp.Unix() || secs >= maxTimestamp.Unix() {
		return Refuse("%s (%d seconds since 1970) is not between %d and %d", fieldName(at, fd, i), secs, minTimestamp.Year(), maxTimestamp.Year())
	}
	return nil
}
