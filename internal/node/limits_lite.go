package node

import (
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/upi"
)

// A Lite batch carries up to MaxLiteBatch records, and checkFields'
// reflection over every field of each was a good part of a sync's cost.
// liteClean checks a LiteRecord or LiteRecordResult's fields directly,
// against the same limits: it reports whether m is within them (and the
// bytes of unknown fields it carries); when it is not, or m is of another
// type, checkFields checks m, so that a refusal says what it always said.
// The fast path knows each type's fields by name; a field added to either
// message turns it off (liteFastFields) until it is taught the field.

// liteFastFields is whether the descriptors have the fields liteClean
// checks, no more.
var liteFastFields = fieldsAre((&upiv1.LiteRecord{}).ProtoReflect().Descriptor().Fields().Len(), 13) &&
	fieldsAre((&upiv1.LiteRecordResult{}).ProtoReflect().Descriptor().Fields().Len(), 15) &&
	fieldsAre((&upiv1.Account{}).ProtoReflect().Descriptor().Fields().Len(), 3)

func fieldsAre(n, want int) bool { return n == want }

func liteClean(m any) (unknown int, ok bool) {
	if !liteFastFields {
		return 0, false
	}
	switch r := m.(type) {
	case *upiv1.LiteRecord:
		return liteRecordClean(r)
	case *upiv1.LiteRecordResult:
		return liteResultClean(r)
	}
	return 0, false
}

func liteRecordClean(r *upiv1.LiteRecord) (int, bool) {
	unknown := len(r.ProtoReflect().GetUnknown())
	ok := cleanString(r.Lrn) && cleanString(r.DeviceId) && cleanString(r.ProvisionalUtr) &&
		cleanString(r.PayerAddr) && cleanString(r.PayeeAddr) && cleanString(r.OrderId) &&
		cleanString(r.PayeeDeviceId) && len(r.Signature) <= MaxBlobBytes &&
		cleanPaise(r.AmountPaise) && cleanPaise(r.DeviceBalancePaise)
	if !ok {
		return 0, false
	}
	if r.Ts != nil {
		n, ok := cleanTimestamp(r.Ts)
		if !ok {
			return 0, false
		}
		unknown += n
	}
	if a := r.PayeeAc; a != nil {
		if !cleanString(a.AcNum) || !cleanString(a.Ifsc) || !cleanString(a.AcType) {
			return 0, false
		}
		unknown += len(a.ProtoReflect().GetUnknown())
	}
	return unknown, true
}

func liteResultClean(r *upiv1.LiteRecordResult) (int, bool) {
	if _, ok := upiv1.Resp_Result_name[int32(r.Result)]; !ok {
		return 0, false
	}
	ok := cleanString(r.ProvisionalUtr) && cleanString(r.ErrCode) && cleanString(r.Utr) &&
		cleanString(r.Lrn) && cleanString(r.PayerAddr) && cleanString(r.PayeeAddr) &&
		cleanString(r.OrderId) && cleanString(r.BatchTxnId) && cleanString(r.PayeeDeviceId) &&
		cleanString(r.Reason) && cleanString(r.Kind) && cleanPaise(r.AmountPaise) &&
		len(r.DoubleSpends) <= MaxRepeated
	if !ok {
		return 0, false
	}
	for _, s := range r.DoubleSpends {
		if !cleanString(s) {
			return 0, false
		}
	}
	return len(r.ProtoReflect().GetUnknown()), true
}

// cleanString is textProblem(full, s) == "" for a field with the limit
// MaxStringBytes.
func cleanString(s string) bool {
	if len(s) > MaxStringBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f { // a control character, or not ASCII
			return utf8.ValidString(s) && !hasControl(s)
		}
	}
	return true
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// cleanPaise is checkValue's rule for an int64 *_paise field.
func cleanPaise(a int64) bool { return a >= 0 && a <= upi.MaxAmountPaise }

// cleanTimestamp is checkTimestamp's rule, and the timestamp's unknown
// bytes.
func cleanTimestamp(t *timestamppb.Timestamp) (int, bool) {
	if t.Nanos < 0 || t.Nanos > 999_999_999 || t.Seconds < minTimestamp.Unix() || t.Seconds >= maxTimestamp.Unix() {
		return 0, false
	}
	return len(t.ProtoReflect().GetUnknown()), true
}
