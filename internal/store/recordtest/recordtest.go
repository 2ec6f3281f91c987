// Package recordtest checks that a record keeps every field when it is
// stored: a store.Record's Go struct through its hand codec (RoundTrip),
// and a proto record through its store.Table (TableRoundTrip).
package recordtest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/store"
)

// RoundTrip fills every exported field of a T (recursively: nested structs,
// pointers, two elements of each slice) with distinct values that are not
// zero, marshals it, decodes that into a fresh T, and requires the two to
// be equal: a field the binary form forgets fails it. It does the same
// through JSON, the form of older files.
func RoundTrip[T any, P interface {
	*T
	store.Record
}](t *testing.T) {
	t.Helper()
	var r T
	n := 0
	fill(reflect.ValueOf(&r).Elem(), &n)
	raw, err := P(&r).MarshalRecord()
	require.NoError(t, err)
	var got T
	require.NoError(t, store.DecodeRecord(raw, P(&got)))
	require.Equal(t, r, got)

	raw, err = json.Marshal(&r)
	require.NoError(t, err)
	var old T
	require.NoError(t, store.DecodeRecord(raw, P(&old)))
	require.Equal(t, r, old, "from JSON")
}

func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte{byte(*n), 0, byte(*n)})
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), n)
		}
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), n)
		v.Set(p)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, *n, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n)
			}
		}
	default:
		panic(fmt.Sprintf("recordtest: cannot fill a %s", v.Type()))
	}
}
