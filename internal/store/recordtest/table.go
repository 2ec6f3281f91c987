// Package recordtest checks that a record keeps every field when it is
// stored through its store.Table (TableRoundTrip).
package recordtest

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/upisim/upisim/internal/store"
)

// TableRoundTrip fills every field of a record of table tb (recursively:
// nested messages, two elements of each list) with distinct values that
// are not zero, puts it through the table in a fresh store and gets it
// back, and requires the two to be equal.
func TableRoundTrip[T any, P interface {
	*T
	proto.Message
}](t *testing.T, tb store.Table[T, P]) {
	t.Helper()
	m := P(new(T))
	n := 0
	fillMessage(m.ProtoReflect(), &n)
	db, err := store.Open(filepath.Join(t.TempDir(), "records.db"), store.Options{NoSync: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	require.NoError(t, db.Update(func(tx *store.Tx) error { return tb.Put(tx, "k", m) }))
	require.NoError(t, db.View(func(tx *store.Tx) error {
		got, ok, err := tb.Get(tx, "k")
		require.NoError(t, err)
		require.True(t, ok)
		require.True(t, proto.Equal(m, got), "want %v\ngot  %v", m, got)
		return nil
	}))
}

func fillMessage(m protoreflect.Message, n *int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range 2 {
				if fd.Kind() == protoreflect.MessageKind {
					e := l.NewElement()
					fillMessage(e.Message(), n)
					l.Append(e)
				} else {
					l.Append(scalar(fd, n))
				}
			}
		case fd.IsMap():
			panic(fmt.Sprintf("recordtest: cannot fill map field %s", fd.FullName()))
		case fd.Kind() == protoreflect.MessageKind:
			fillMessage(m.Mutable(fd).Message(), n)
		default:
			m.Set(fd, scalar(fd, n))
		}
	}
}

func scalar(fd protoreflect.FieldDescriptor, n *int) protoreflect.Value {
	*n++
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(fmt.Sprintf("s%d", *n))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{byte(*n), 0, byte(*n)})
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(*n))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(*n))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(*n))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(*n))
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(fd.Enum().Values().Get(fd.Enum().Values().Len() - 1).Number())
	}
	panic(fmt.Sprintf("recordtest: cannot fill a %s field", fd.Kind()))
}
