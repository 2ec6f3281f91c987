package node

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// Credentials (upi.v1.Cred: PIN blocks, OTPs) are never kept where a
// message body is stored for the record: the trace keeps a copy of each
// message with every Cred's data emptied (Summarize says "creds
// redacted"), the inbox keeps only a sha256 of the body (which the PIN
// block's random nonce keeps from being brute-forced), and a message that
// carries credentials keeps its full body in its own outbox entry, which
// is deleted once the receiver acks it, rather than pointing at its trace
// entry.

var credDescriptor = (&upiv1.Cred{}).ProtoReflect().Descriptor()

// redactedBody returns the body to store for the record of m, whose wire
// form is body: body itself when m carries no credential data, else m
// marshalled with every Cred's data emptied, and true.
func redactedBody(m Message, body []byte) ([]byte, bool) {
	if !walkCreds(m.ProtoReflect(), false) {
		return body, false
	}
	c := proto.Clone(m)
	walkCreds(c.ProtoReflect(), true)
	out, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return nil, true // stores no body rather than the credentials
	}
	return out, true
}

// walkCreds reports whether m holds a Cred with data, anywhere; with
// clear, it empties the data of each.
func walkCreds(m protoreflect.Message, clear bool) bool {
	if m.Descriptor() == credDescriptor {
		d := m.Descriptor().Fields().ByName("data")
		if m.Get(d).String() == "" {
			return false
		}
		if clear {
			m.Clear(d)
		}
		return true
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				found = walkCreds(l.Get(i).Message(), clear) || found
			}
		case fd.IsMap():
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				if fd.MapValue().Message() != nil {
					found = walkCreds(mv.Message(), clear) || found
				}
				return true
			})
		default:
			found = walkCreds(v.Message(), clear) || found
		}
		return clear || !found // a search stops at the first
	})
	return found
}

// hasCreds reports whether p carries credentials (their data or, in a
// redacted copy, their type).
func hasCreds(p *upiv1.Party) bool { return len(p.GetCreds()) > 0 }
