package upiswitch

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/store"
)

// filled is a SwitchLiteRecord with every field set (lists with two
// elements), so that a copy missing a field is not equal to it.
func filled(t *testing.T) *liteRecord {
	t.Helper()
	r := &liteRecord{}
	fill(t, r.ProtoReflect())
	return r
}

// fill sets every field of m to a value not its zero, messages filled in
// turn, lists of two.
func fill(t *testing.T, m protoreflect.Message) {
	t.Helper()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		val := func(n int) protoreflect.Value {
			switch fd.Kind() {
			case protoreflect.StringKind:
				return protoreflect.ValueOfString(fmt.Sprintf("%s-%d", fd.Name(), n))
			case protoreflect.BytesKind:
				return protoreflect.ValueOfBytes([]byte{byte(i), byte(n)})
			case protoreflect.Int64Kind:
				return protoreflect.ValueOfInt64(int64(100*i + n))
			case protoreflect.Uint64Kind:
				return protoreflect.ValueOfUint64(uint64(100*i + n))
			case protoreflect.Int32Kind:
				return protoreflect.ValueOfInt32(int32(100*i + n))
			case protoreflect.BoolKind:
				return protoreflect.ValueOfBool(true)
			case protoreflect.EnumKind:
				return protoreflect.ValueOfEnum(1)
			case protoreflect.MessageKind:
				v := m.NewField(fd)
				if fd.IsList() {
					v = protoreflect.ValueOfMessage(m.Mutable(fd).List().NewElement().Message())
				}
				fill(t, v.Message())
				return v
			}
			t.Fatalf("field %s: kind %v: teach fill to set it", fd.Name(), fd.Kind())
			return protoreflect.Value{}
		}
		if fd.IsList() {
			l := m.Mutable(fd).List()
			l.Append(val(1))
			l.Append(val(2))
			continue
		}
		m.Set(fd, val(1))
	}
}

func TestWithPayeeAcCopiesEveryField(t *testing.T) {
	r := &upiv1.LiteRecord{}
	fill(t, r.ProtoReflect())
	ac := &upiv1.Account{AcNum: "2000000002", Ifsc: "BBNK0000001"}
	got := withPayeeAc(r, ac)
	require.Same(t, ac, got.PayeeAc)
	require.NotSame(t, r, got, "a copy: r may be the memo's")
	want := proto.Clone(r).(*upiv1.LiteRecord)
	want.PayeeAc = ac
	require.True(t, proto.Equal(want, got), "withPayeeAc lost a field:\n%v\n%v", want, got)
	require.Same(t, r, withPayeeAc(r, r.PayeeAc), "no copy when it has that account")
}

func TestCopyRecCopiesEveryField(t *testing.T) {
	r := filled(t)
	// Room behind the list, so that a copy sharing its array would write
	// into it when appended to.
	r.DoubleSpends = append(make([]string, 0, 8), r.DoubleSpends...)
	c := copyRec(r)
	require.True(t, proto.Equal(r, c), "copyRec lost a field:\n%v\n%v", r, c)
	// The copy's lists are its own: appending does not write into r's.
	c.DoubleSpends = append(c.DoubleSpends, "other")
	c.RefundTxnIds = append(c.RefundTxnIds, "other")
	again := copyRec(r)
	again.DoubleSpends = append(again.DoubleSpends, "mine")
	require.Equal(t, []string{"double_spends-1", "double_spends-2", "other"}, c.DoubleSpends)
	require.Len(t, r.DoubleSpends, 2)
}

func TestEncodeRecDecodesAsMarshal(t *testing.T) {
	r := filled(t)
	body, err := proto.Marshal(r.Record)
	require.NoError(t, err)
	raw, err := encodeRec(r, body)
	require.NoError(t, err)
	got := &liteRecord{}
	require.NoError(t, proto.Unmarshal(raw, got))
	require.True(t, proto.Equal(r, got), "%v\n%v", r, got)
	require.NotNil(t, r.Record, "encodeRec gives the body back")

	r.Record = nil
	raw, err = encodeRec(r, nil)
	require.NoError(t, err)
	got = &liteRecord{}
	require.NoError(t, proto.Unmarshal(raw, got))
	require.Nil(t, got.Record)
}

// TestMemoKeepsOnlyCommitted: a record is in the memo once its write has
// committed; a write that fails, or one after it, leaves the memo not
// knowing it (a read goes to bbolt) rather than knowing an old one.
func TestMemoKeepsOnlyCommitted(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "switch.db"), store.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	m := &recMemo{recs: map[recID]memoEntry{}}
	id := recID{"L1", 7}
	rec := func(state string) *liteRecord {
		return &liteRecord{Lrn: "L1", Counter: 7, State: state, Record: &upiv1.LiteRecord{Lrn: "L1", Counter: 7}}
	}

	require.NoError(t, db.Update(func(tx *store.Tx) error {
		m.wrote(tx, id, rec(recClaimed), []byte("b1"))
		require.Nil(t, m.get(id), "not committed yet")
		return nil
	}))
	got := m.get(id)
	require.NotNil(t, got)
	require.Equal(t, recClaimed, got.State)
	got.State = recFinal // the step's own copy
	require.Equal(t, recClaimed, m.get(id).State)
	body, err := m.bodyOf(id, got.Record)
	require.NoError(t, err)
	require.Equal(t, []byte("b1"), body, "the memo's body for its own body")
	other, err := m.bodyOf(id, &upiv1.LiteRecord{Lrn: "L2"})
	require.NoError(t, err)
	require.NotEqual(t, []byte("b1"), other, "another body is encoded")

	failed := errors.New("the step failed")
	require.ErrorIs(t, db.Update(func(tx *store.Tx) error {
		m.wrote(tx, id, rec(recDebitSent), []byte("b2"))
		return failed
	}), failed)
	require.Nil(t, m.get(id), "a failed write leaves the record unknown, not the old one")

	// Two writes in one transaction: the later one is what is kept.
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		m.wrote(tx, id, rec(recDebitSent), []byte("b3"))
		m.wrote(tx, id, rec(recCreditSent), []byte("b4"))
		return nil
	}))
	require.Equal(t, recCreditSent, m.get(id).State)

	// A delete forgets it.
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		m.wrote(tx, id, nil, nil)
		return nil
	}))
	require.Nil(t, m.get(id))
}

func TestMemoIsBounded(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "switch.db"), store.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	m := &recMemo{recs: map[recID]memoEntry{}}
	require.NoError(t, db.Update(func(tx *store.Tx) error {
		for i := range memoCap + 10 {
			m.wrote(tx, recID{"L1", uint64(i)}, &liteRecord{Lrn: "L1", Counter: uint64(i)}, nil)
		}
		return nil
	}))
	require.Len(t, m.recs, memoCap)
}

// TestPayeeAcOfAnOlderFile: a record written before
// SwitchLiteRecord.payee_ac keeps the payee's account on its body; the
// credit and the remitter's record are made from it all the same.
func TestPayeeAcOfAnOlderFile(t *testing.T) {
	ac := &upiv1.Account{AcNum: "2000000002", Ifsc: "BBNK0000001"}
	old := &liteRecord{Lrn: "L1", Counter: 7, Record: &upiv1.LiteRecord{Lrn: "L1", Counter: 7, PayeeAc: ac}}
	require.Same(t, ac, payeeAc(old))
	require.Same(t, ac, creditPart(old).GetPayeeAc())
	require.Same(t, old.Record, withPayeeAc(old.Record, payeeAc(old)), "already on it: no copy")

	newer := &liteRecord{Lrn: "L1", Counter: 8, Record: &upiv1.LiteRecord{Lrn: "L1", Counter: 8}, PayeeAc: ac}
	require.Same(t, ac, payeeAc(newer))
	require.Same(t, ac, creditPart(newer).GetPayeeAc())
	require.Same(t, ac, withPayeeAc(newer.Record, payeeAc(newer)).GetPayeeAc())
	require.Nil(t, newer.Record.PayeeAc, "the body is not changed")
}
