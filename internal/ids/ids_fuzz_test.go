package ids_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/upisim/upisim/internal/ids"
)

func FuzzValidateVPA(f *testing.F) {
	for _, s := range []string{
		"alice@alpha", "Bob.Smith-1_x@BETA", "a@b", "", "@", "alice", "alice@", "@alpha", "a@b@c",
		"alice@al pha", "alice@alpha.com", "álice@alpha", " alice@alpha", "alice@alpha\n",
		strings.Repeat("n", ids.MaxVPAPart) + "@" + strings.Repeat("h", ids.MaxVPAPart),
		strings.Repeat("n", ids.MaxVPAPart+1) + "@h",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := ids.ValidateVPA(s); err != nil {
			if err.Error() == "" {
				t.Fatalf("ValidateVPA(%q): empty error", s)
			}
			return
		}
		name, handle, ok := strings.Cut(s, "@")
		switch {
		case !ok || strings.Contains(handle, "@"):
			t.Fatalf("accepted %q: want exactly one '@'", s)
		case name == "" || len(name) > ids.MaxVPAPart || handle == "" || len(handle) > ids.MaxVPAPart:
			t.Fatalf("accepted %q: name or handle length out of 1..%d", s, ids.MaxVPAPart)
		case !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r > 0x7e || r <= ' ' }):
			t.Fatalf("accepted %q: not printable ASCII", s)
		case ids.HandleOf(s) != strings.ToLower(handle):
			t.Fatalf("HandleOf(%q) = %q, want %q", s, ids.HandleOf(s), strings.ToLower(handle))
		case ids.ValidateHandle(handle) != nil:
			t.Fatalf("accepted %q whose handle fails ValidateHandle: %v", s, ids.ValidateHandle(handle))
		}
		norm := ids.NormalizeVPA(s)
		if err := ids.ValidateVPA(norm); err != nil || ids.NormalizeVPA(norm) != norm {
			t.Fatalf("NormalizeVPA(%q) = %q: %v (or not idempotent)", s, norm, err)
		}
	})
}
