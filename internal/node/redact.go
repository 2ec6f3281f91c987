package node

import (
	"sync"

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
// marshalled with every Cred's data emptied, and true. It empties them in
// m itself for the marshalling and puts them back before it returns (no
// copy of the message), so m must not be in use elsewhere meanwhile: it
// is the message being received or sent, owned by this step.
func redactedBody(m Message, body []byte) ([]byte, bool) {
	var creds []protoreflect.Message
	findCreds(m.ProtoReflect(), &creds)
	if len(creds) == 0 {
		return body, false
	}
	data := credDescriptor.Fields().ByName("data")
	saved := make([]protoreflect.Value, len(creds))
	for i, c := range creds {
		saved[i] = c.Get(data)
		c.Clear(data)
	}
	out, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	for i, c := range creds {
		c.Set(data, saved[i])
	}
	if err != nil {
		return nil, true // stores no body rather than the credentials
	}
	return out, true
}

// findCreds appends to out every Cred with data in m, at any depth. It
// descends only into fields whose type can hold a Cred (mayHoldCreds), so
// most of a message is never looked at.
func findCreds(m protoreflect.Message, out *[]protoreflect.Message) {
	md := m.Descriptor()
	if md == credDescriptor {
		if m.Get(credDescriptor.Fields().ByName("data")).String() != "" {
			*out = append(*out, m)
		}
		return
	}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			if vd := fd.MapValue().Message(); vd != nil && mayHoldCreds(vd) && m.Has(fd) {
				m.Get(fd).Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					findCreds(mv.Message(), out)
					return true
				})
			}
		case fd.Message() == nil || !mayHoldCreds(fd.Message()) || !m.Has(fd):
		case fd.IsList():
			l := m.Get(fd).List()
			for i := 0; i < l.Len(); i++ {
				findCreds(l.Get(i).Message(), out)
			}
		default:
			findCreds(m.Get(fd).Message(), out)
		}
	}
}

// holdsCreds caches mayHoldCreds by message type.
var holdsCreds sync.Map // protoreflect.MessageDescriptor → bool

// mayHoldCreds reports whether a message of type md can contain a Cred.
func mayHoldCreds(md protoreflect.MessageDescriptor) bool {
	if v, ok := holdsCreds.Load(md); ok {
		return v.(bool)
	}
	v := reachesCred(md, map[protoreflect.FullName]bool{})
	holdsCreds.Store(md, v)
	return v
}

func reachesCred(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if md.FullName() == credDescriptor.FullName() {
		return true
	}
	if seen[md.FullName()] {
		return false
	}
	seen[md.FullName()] = true
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		sub := fd.Message()
		if fd.IsMap() {
			sub = fd.MapValue().Message()
		}
		if sub != nil && reachesCred(sub, seen) {
			return true
		}
	}
	return false
}

// hasCreds reports whether p carries credentials (their data or, in a
// redacted copy, their type).
func hasCreds(p *upiv1.Party) bool { return len(p.GetCreds()) > 0 }
