package node

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// rawMessage is an already-marshalled protobuf message.
type rawMessage []byte

// rawCodec sends rawMessage bytes as they are and decodes replies with
// protobuf. It keeps the name "proto", so servers see ordinary protobuf.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case rawMessage:
		return mem.BufferSlice{mem.SliceBuffer(m)}, nil
	case proto.Message:
		b, err := proto.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}

// wireMessage is a network message a server decodes (Register's
// handlers) together with the bytes it came in. The message is embedded,
// so any protobuf codec decodes into it; ServerCodec also keeps the bytes
// in body, and Receive then takes them for the inbox's sha256 and the
// trace instead of marshalling the message again.
type wireMessage struct {
	proto.Message
	body []byte
}

// serverCodec is gRPC's protobuf codec, except that it keeps the bytes of
// a wireMessage it decodes.
type serverCodec struct{ encoding.CodecV2 }

// ServerCodec is the codec of a node's gRPC server (grpc.ForceServerCodecV2):
// gRPC's protobuf codec, named "proto" like it, which also hands Receive
// the bytes each network message came in, so that Receive does not
// marshal the message again for its inbox and trace (a pay flow received
// twelve). Without it a server works the same and Receive marshals.
func ServerCodec() encoding.CodecV2 {
	return serverCodec{encoding.GetCodecV2(protoenc.Name)}
}

func (c serverCodec) Unmarshal(data mem.BufferSlice, v any) error {
	w, ok := v.(*wireMessage)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	// Materialize copies: the body outlives the call (the trace keeps it,
	// and bbolt holds a value until the commit), while data's buffers go
	// back to gRPC's pool.
	w.body = data.Materialize()
	return proto.Unmarshal(w.body, w.Message)
}

// MaxBatchMsgBytes is the largest UPI Lite sync message a node takes: a
// batch of up to MaxLiteBatch records (about 200 bytes each) with room to
// spare. Every other message keeps the server's general limit.
const MaxBatchMsgBytes = 1 << 20

// MaxLiteBatch is the most records one UPI Lite sync batch carries
// (ReqLiteSync.records and the answers that list them).
const MaxLiteBatch = 1000

// batchMessages are the messages that may be larger than a server's
// general limit, up to MaxBatchMsgBytes: the ones that carry a Lite batch.
var batchMessages = map[string]bool{
	"upi.v1.ReqLiteSync":        true,
	"upi.v1.RespLiteSync":       true,
	"upi.v1.ReqTxnConfirmation": true,
	"upi.v1.Notification":       true,
	"upi.v1.SyncLiteRequest":    true,
}

// SizeInterceptor holds every request to limit bytes but a Lite batch's
// (batchMessages), which may have MaxBatchMsgBytes: serve it with
// grpc.MaxRecvMsgSize(MaxBatchMsgBytes). A request over its limit is
// answered RESOURCE_EXHAUSTED, as gRPC answers one over MaxRecvMsgSize.
func SizeInterceptor(limit int) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if m, ok := req.(proto.Message); ok && !batchMessages[string(m.ProtoReflect().Descriptor().FullName())] {
			if n := proto.Size(m); n > limit {
				return nil, status.Errorf(codes.ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", n, limit)
			}
		}
		return next(ctx, req)
	}
}
