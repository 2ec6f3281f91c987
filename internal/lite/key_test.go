package lite

import (
	"bytes"
	"fmt"
	"math"
	"testing"
)

// A record key is the LRN, "/" and the counter as 16 hex digits: its
// counters sort in order, and ParseRecordKey gives back what made it.
func TestRecordKey(t *testing.T) {
	counters := []uint64{0, 1, 15, 16, 255, 1 << 32, math.MaxUint64 - 1, math.MaxUint64}
	var prev []byte
	for _, c := range counters {
		k := RecordKey("LRN-ab/1", c)
		if want := fmt.Sprintf("%s/%016x", "LRN-ab/1", c); string(k) != want {
			t.Fatalf("RecordKey(%d) = %q, want %q", c, k, want)
		}
		if s := RecordKeyString("LRN-ab/1", c); s != string(k) {
			t.Fatalf("RecordKeyString(%d) = %q, want %q", c, s, k)
		}
		lrn, got, err := ParseRecordKey(k)
		if err != nil || lrn != "LRN-ab/1" || got != c {
			t.Fatalf("ParseRecordKey(%q) = %q, %d, %v", k, lrn, got, err)
		}
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			t.Fatalf("%q does not sort before %q", prev, k)
		}
		prev = k
	}
}
