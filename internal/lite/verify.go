package lite

import (
	"crypto/ed25519"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// Every Lite signature (an offline record, an online payment's ARQC, the
// switch's ARPC) is checked under the ZIP-215 rules: cofactored, with
// the encodings of A and R taken as they come. They are the rules under
// which checking many signatures at once (VerifyRecords) and checking
// each alone (VerifyRecord) always agree, which the RFC 8032 rules of
// crypto/ed25519 do not promise for batches. The signatures the devices
// and the switch make (crypto/ed25519.Sign) verify under both; a
// signature that is not the key's fails under both.
var zip215 = &voi.Options{Verify: voi.VerifyOptionsZIP_215}

// verify reports whether sig is pub's signature of msg (ZIP-215).
func verify(pub, msg, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && voi.VerifyWithOptions(voi.PublicKey(pub), msg, sig, zip215)
}

// VerifyRecord reports whether r's signature is the device key's.
func VerifyRecord(pub []byte, r *upiv1.LiteRecord) bool {
	return verify(pub, RecordBytes(r), r.GetSignature())
}

// VerifyRecords reports, for each record, whether its signature is
// keys[i]'s (a nil or malformed key: false), checking them as one batch:
// about a third of the CPU of checking each alone when all are good
// (docs/FLOWS.md, UPI Lite, sync). With a bad one among them it checks
// each alone, so the answer is per record either way.
func VerifyRecords(keys [][]byte, recs []*upiv1.LiteRecord) []bool {
	ok := make([]bool, len(recs))
	bv := voi.NewBatchVerifierWithCapacity(len(recs))
	idx := make([]int, 0, len(recs))
	// A device's records share its key: each distinct key is decompressed
	// once (an ExpandedPublicKey), not once per record.
	expanded := map[string]*voi.ExpandedPublicKey{}
	for i, r := range recs {
		if len(keys[i]) != ed25519.PublicKeySize {
			continue
		}
		k, seen := expanded[string(keys[i])]
		if !seen {
			k, _ = voi.NewExpandedPublicKey(voi.PublicKey(keys[i])) // nil: not a point
			expanded[string(keys[i])] = k
		}
		if k == nil {
			continue
		}
		bv.AddExpandedWithOptions(k, RecordBytes(r), r.GetSignature(), zip215)
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return ok
	}
	_, valid := bv.Verify(nil)
	for j, i := range idx {
		ok[i] = valid[j]
	}
	return ok
}
