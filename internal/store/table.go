package store

import (
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Table is a bucket whose values are records of one generated message of
// proto/upisim/records/v1, one per key. A record is the message itself:
// there is no Go struct beside it and no codec to keep in step with it.
//
//	var accounts = store.NewTable[recordsv1.Account](store.Accounts)
//	a, ok, err := accounts.Get(tx, acNum)
//
// Values are the message's binary form. A value that begins with '{' is the
// JSON a file written before binary records kept (a Go struct whose JSON
// names were the message's field names, times as RFC 3339 text); Get and
// Scan still read it (DecodeProto), and the next Put rewrites it in binary.
// A Table is a value: declare it once, as a package variable, beside the
// code that owns the bucket.
type Table[T any, P interface {
	*T
	proto.Message
}] struct {
	Bucket Bucket
}

// NewTable is the table of T records in bucket b.
func NewTable[T any, P interface {
	*T
	proto.Message
}](b Bucket) Table[T, P] {
	return Table[T, P]{Bucket: b}
}

// Get returns the record at key and whether there is one. The record is
// the caller's: it shares nothing with the file.
func (t Table[T, P]) Get(tx *Tx, key string) (P, bool, error) {
	raw := tx.lookup(t.Bucket, []byte(key))
	if raw == nil {
		return nil, false, nil
	}
	m := P(new(T))
	if err := DecodeProto(raw, m); err != nil {
		return nil, true, fmt.Errorf("store: decode %s/%s: %w", t.Bucket, key, err)
	}
	return m, true, nil
}

// Has reports whether there is a record at key.
func (t Table[T, P]) Has(tx *Tx, key string) bool { return tx.Has(t.Bucket, []byte(key)) }

// Put stores m at key.
func (t Table[T, P]) Put(tx *Tx, key string, m P) error {
	raw, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("store: encode %s/%s: %w", t.Bucket, key, err)
	}
	return tx.Put(t.Bucket, []byte(key), raw)
}

// Delete removes the record at key, if any.
func (t Table[T, P]) Delete(tx *Tx, key string) error { return tx.Delete(t.Bucket, []byte(key)) }

// Scan calls fn with every record whose key has the prefix ("" for all),
// in key order, until fn returns false or an error. Each record is fn's to
// keep.
func (t Table[T, P]) Scan(tx *Tx, prefix string, fn func(key string, m P) (bool, error)) error {
	return tx.Scan(t.Bucket, []byte(prefix), func(k, v []byte) (bool, error) {
		m := P(new(T))
		if err := DecodeProto(v, m); err != nil {
			return false, fmt.Errorf("store: decode %s/%s: %w", t.Bucket, k, err)
		}
		return fn(string(k), m)
	})
}

// DecodeProto decodes a stored record into m: its binary form, or the JSON
// of older files (which begins with '{', as no binary record can: that byte
// would start a group).
func DecodeProto(raw []byte, m proto.Message) error {
	if len(raw) > 0 && raw[0] == '{' {
		return decodeLegacyJSON(raw, m.ProtoReflect())
	}
	return proto.Unmarshal(raw, m)
}

// decodeLegacyJSON reads the JSON an older file kept into m: each member
// named as a field of m (its proto name) sets that field; a time (RFC 3339
// text) in an integer field is its Unix nanoseconds (Nanos: 0 for the zero
// time); null and unknown members are skipped.
func decodeLegacyJSON(raw []byte, m protoreflect.Message) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return err
	}
	fields := m.Descriptor().Fields()
	for name, v := range obj {
		fd := fields.ByName(protoreflect.Name(name))
		if fd == nil || string(v) == "null" {
			continue
		}
		if fd.IsList() {
			var items []json.RawMessage
			if err := json.Unmarshal(v, &items); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			l := m.Mutable(fd).List()
			for _, it := range items {
				val, err := legacyValue(fd, it, l.NewElement)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				l.Append(val)
			}
			continue
		}
		if fd.IsMap() {
			continue // no record keeps a map
		}
		val, err := legacyValue(fd, v, func() protoreflect.Value { return m.NewField(fd) })
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		m.Set(fd, val)
	}
	return nil
}

func legacyValue(fd protoreflect.FieldDescriptor, v json.RawMessage, newMsg func() protoreflect.Value) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		var s string
		err := json.Unmarshal(v, &s)
		return protoreflect.ValueOfString(s), err
	case protoreflect.BoolKind:
		var b bool
		err := json.Unmarshal(v, &b)
		return protoreflect.ValueOfBool(b), err
	case protoreflect.BytesKind:
		var b []byte
		err := json.Unmarshal(v, &b)
		return protoreflect.ValueOfBytes(b), err
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := legacyInt(v)
		return protoreflect.ValueOfInt64(n), err
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := legacyInt(v)
		return protoreflect.ValueOfInt32(int32(n)), err
	case protoreflect.MessageKind:
		val := newMsg()
		if fd.Message().FullName() == "google.protobuf.Timestamp" {
			var t time.Time
			if err := json.Unmarshal(v, &t); err != nil {
				return val, err
			}
			proto.Merge(val.Message().Interface(), timestamppb.New(t))
			return val, nil
		}
		return val, decodeLegacyJSON(v, val.Message())
	}
	return protoreflect.Value{}, fmt.Errorf("store: no legacy JSON form for a %s field", fd.Kind())
}

// legacyInt is a JSON number, or a time's Nanos.
func legacyInt(v json.RawMessage) (int64, error) {
	if len(v) > 0 && v[0] == '"' {
		var t time.Time
		if err := json.Unmarshal(v, &t); err != nil {
			return 0, err
		}
		return Nanos(t), nil
	}
	var n int64
	err := json.Unmarshal(v, &n)
	return n, err
}
