package node

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// Route is what a role does with one network message: the one place a
// message is wired. A role's flow files each contribute their routes, and
// its constructor concatenates them into Routes.
//
// Method is a full gRPC method, e.g. upiv1.SwitchService_ReqPay_FullMethodName.
// A route whose Method the role serves (one of Routes.Services) takes that
// message; a route for a method the role sends only needs Refused or Acked.
// The route of Method PostMethod hears the answers to the role's HTTP
// posts (Ctx.PostWith): Refused those of every post refused, Acked those
// of Once posts acked.
type Route struct {
	Method string
	// From are the roles whose nodes may send Method to this node
	// (config.RolePSP, ...). A message from any other node is refused
	// before Validate, with nothing stored. Empty: any node of the network.
	From []string
	// Validate, if set, checks the message before anything is stored:
	// stateless rules only (fields, formats). A *Refusal refuses it.
	Validate func(in *Inbound) error
	// Handle is the step that applies the message (Handler.Handle's
	// contract). Nil for a method the role only sends.
	Handle func(c *Ctx, in *Inbound) error
	// Refused, if set, runs when a receiver refuses (Ack.err) a Method
	// message this node sent, in the step that removes it from the outbox
	// (RefusalHandler's contract).
	Refused func(c *Ctx, r Refused) error
	// Acked, if set, runs when a receiver acks without error a Method
	// message this node sent, in the step that removes it from the outbox
	// (AckHandler's contract).
	Acked func(c *Ctx, a Acked) error
}

// TimerKind is what a role does when one kind of its timers comes due:
// timers are named "<Prefix>:<rest>" (Ctx.SetTimer), and Fire has
// Handler.Fire's contract.
type TimerKind struct {
	Prefix string
	Fire   func(c *Ctx, t Timer) error
}

// Directory is who the network's nodes are, as a route's From needs it.
type Directory struct {
	// Network is the network's name, for refusals.
	Network string
	// Roles is each node's role by name.
	Roles map[string]string
	// Sole is the role the network has exactly one node of by design (the
	// switch): a route that takes a message only from that role names the
	// node in its refusal.
	Sole string
}

// Routes declares a role's network messages and timers. Build a Table
// from it with NewTable, once, in the role's constructor.
type Routes struct {
	// Who names the role in refusals: "switch", "PSP", "bank", "TPAP".
	Who string
	// Log hears of timers of no declared kind, which are dropped.
	Log *slog.Logger
	// Services are the gRPC services the role serves (Register).
	Services []*grpc.ServiceDesc
	Peers    Directory
	Routes   []Route
	Timers   []TimerKind
}

// route is a Route with what NewTable precomputed for it.
type route struct {
	Route
	from []string
	// only is the one node with a role in From, when there is one
	// (the switch): refusals name it.
	only, onlyRole string
}

// Table is a role's Handler built from its Routes: one lookup per message
// by full method, and one per timer by kind. It implements Handler,
// Validator, RefusalHandler and AckHandler; a role embeds it (and adds
// Preparer itself when it has slow work).
type Table struct {
	who      string
	peers    Directory
	services []*grpc.ServiceDesc
	served   map[string]bool // service names
	routes   map[string]*route
	timers   map[string]func(*Ctx, Timer) error
	log      *slog.Logger
}

// NewTable builds the table of rs. It panics on a route declared twice, a
// served route without Handle, or a method no service of rs has, which are
// bugs of the role's declaration.
func NewTable(rs Routes) *Table {
	t := &Table{
		who: rs.Who, peers: rs.Peers, services: rs.Services, log: rs.Log,
		served: map[string]bool{}, routes: map[string]*route{}, timers: map[string]func(*Ctx, Timer) error{},
	}
	for _, sd := range rs.Services {
		t.served[sd.ServiceName] = true
	}
	for _, r := range rs.Routes {
		if _, dup := t.routes[r.Method]; dup {
			panic(fmt.Sprintf("node: route %s declared twice", r.Method))
		}
		if t.serves(r.Method) && r.Handle == nil {
			panic(fmt.Sprintf("node: route %s is served but has no Handle", r.Method))
		}
		rt := &route{Route: r, from: slices.Clone(r.From)}
		if len(r.From) == 1 && r.From[0] == rs.Peers.Sole {
			for name, role := range rs.Peers.Roles {
				if role == rs.Peers.Sole {
					rt.only, rt.onlyRole = name, role
				}
			}
		}
		t.routes[r.Method] = rt
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	for _, k := range rs.Timers {
		if _, dup := t.timers[k.Prefix]; dup {
			panic(fmt.Sprintf("node: timer kind %s declared twice", k.Prefix))
		}
		t.timers[k.Prefix] = k.Fire
	}
	return t
}

// serves reports whether method belongs to a service the role serves.
func (t *Table) serves(method string) bool {
	svc, _, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	return t.served[svc]
}

// Services are the gRPC services the table's role serves.
func (t *Table) Services() []*grpc.ServiceDesc { return t.services }

// Validate implements Validator: the method must have a route, the sender
// a role the route takes, and the message pass the route's Validate.
func (t *Table) Validate(in *Inbound) error {
	r := t.routes[in.Method]
	if r == nil || r.Handle == nil {
		if t.serves(in.Method) {
			return Refuse("%s is not supported by this %s yet", in.API, t.who)
		}
		return Refuse("this %s does not take %s: no method of the services it serves", t.who, in.Method)
	}
	if err := t.checkFrom(r, in); err != nil {
		return err
	}
	if r.Validate != nil {
		return r.Validate(in)
	}
	return nil
}

// checkFrom refuses a sender whose role r does not take.
func (t *Table) checkFrom(r *route, in *Inbound) error {
	if r.only != "" { // one node may send it: name it
		if in.From != r.only {
			return Refuse("%s from %q: this %s takes it only from the %s %s", in.API, in.From, t.who, r.onlyRole, r.only)
		}
		if in.Role != "" && in.Role != r.onlyRole {
			return Refuse("%s from %s: its certificate says role %s, not %s", in.API, in.From, in.Role, r.onlyRole)
		}
		return nil
	}
	role, ok := t.peers.Roles[in.From]
	if !ok {
		return Refuse("%s from %q: not a node of network %q", in.API, in.From, t.peers.Network)
	}
	if in.Role != "" && in.Role != role {
		return Refuse("%s from %s: its certificate says role %s, but %s is a %s in network %q", in.API, in.From, in.Role, in.From, role, t.peers.Network)
	}
	if len(r.from) > 0 && !slices.Contains(r.from, role) {
		return Refuse("%s from %s: only a %s node sends it to this %s, and %s is a %s", in.API, in.From, strings.Join(r.from, " or "), t.who, in.From, role)
	}
	return nil
}

// Handle implements Handler.
func (t *Table) Handle(c *Ctx, in *Inbound) error {
	r := t.routes[in.Method]
	if r == nil || r.Handle == nil {
		return Refuse("%s is not supported by this %s yet", in.API, t.who)
	}
	return r.Handle(c, in)
}

// Fire implements Handler: the timer's kind (its name up to ':') picks
// the step. A timer of no declared kind is logged and dropped.
func (t *Table) Fire(c *Ctx, tm Timer) error {
	kind, _, _ := strings.Cut(tm.Name, ":")
	f := t.timers[kind]
	if f == nil {
		t.log.Warn("unknown timer dropped", "timer", tm.Name)
		return nil
	}
	return f(c, tm)
}

// Refused implements RefusalHandler.
func (t *Table) Refused(c *Ctx, r Refused) error {
	if rt := t.routes[r.Method]; rt != nil && rt.Refused != nil {
		return rt.Refused(c, r)
	}
	return nil
}

// WantsAck implements AckHandler.
func (t *Table) WantsAck(method string) bool {
	rt := t.routes[method]
	return rt != nil && rt.Acked != nil
}

// Acked implements AckHandler.
func (t *Table) Acked(c *Ctx, a Acked) error {
	if rt := t.routes[a.Method]; rt != nil && rt.Acked != nil {
		return rt.Acked(c, a)
	}
	return nil
}

// Register registers every service of t on s: each unary method decodes
// into its input type and goes to n.Receive, whose Ack it returns. So no
// role writes a forwarder per method. The input types come from the
// generated file descriptors, looked up once here. n must be the node
// the role is attached to.
func Register(s *grpc.Server, t *Table, n *Node) {
	if n == nil {
		panic("node.Register: no node (call the role's Attach first)")
	}
	for _, sd := range t.services {
		s.RegisterService(serviceFor(sd, n), nil)
	}
}

// serviceFor is sd with every method's handler routed to n.Receive.
func serviceFor(sd *grpc.ServiceDesc, n *Node) *grpc.ServiceDesc {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(sd.ServiceName))
	if err != nil {
		panic(fmt.Sprintf("node: service %s: %v", sd.ServiceName, err))
	}
	psd := d.(protoreflect.ServiceDescriptor)
	out := &grpc.ServiceDesc{ServiceName: sd.ServiceName, HandlerType: (*any)(nil), Metadata: sd.Metadata}
	for _, md := range sd.Methods {
		pmd := psd.Methods().ByName(protoreflect.Name(md.MethodName))
		if pmd == nil {
			panic(fmt.Sprintf("node: %s/%s has no descriptor", sd.ServiceName, md.MethodName))
		}
		mt, err := protoregistry.GlobalTypes.FindMessageByName(pmd.Input().FullName())
		if err != nil {
			panic(fmt.Sprintf("node: %s/%s input: %v", sd.ServiceName, md.MethodName, err))
		}
		if _, ok := mt.New().Interface().(Message); !ok {
			panic(fmt.Sprintf("node: %s/%s: %s has no head and txn", sd.ServiceName, md.MethodName, pmd.Input().FullName()))
		}
		full := "/" + sd.ServiceName + "/" + md.MethodName
		info := &grpc.UnaryServerInfo{FullMethod: full}
		out.Methods = append(out.Methods, grpc.MethodDesc{
			MethodName: md.MethodName,
			Handler: func(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
				w := &wireMessage{Message: mt.New().Interface()}
				if err := dec(w); err != nil {
					return nil, err
				}
				m := w.Message.(Message)
				receive := func(ctx context.Context, req any) (any, error) {
					got := req.(Message)
					if got != m { // an interceptor gave another message: not these bytes
						return n.Receive(ctx, full, got)
					}
					return n.receiveWire(ctx, full, m, w.body)
				}
				if icpt == nil {
					return receive(ctx, m)
				}
				return icpt(ctx, m, info, receive)
			},
		})
	}
	return out
}

// Acked is a message this node sent that its receiver acked without error.
//
// For an HTTP POST made with PostOptions.Once, To is the URL, Method and
// API are PostMethod, Msg is nil, Status is the answer's 2xx status and
// Tag the post's PostOptions.Tag.
type Acked struct {
	To, Method, API string
	Msg             Message
	// Ack is the receiver's ack.
	Ack *upiv1.Ack
	// Status and Tag: a Once HTTP POST's answer status and tag.
	Status int
	Tag    string
}

// AckHandler is implemented by handlers that act when a receiver acks a
// message they sent (a PSP that may tell its user only once the switch has
// taken its request). Acked runs in a step of its own, which also removes
// the message from the outbox, for each method WantsAck reports; an ack of
// any other method is recorded lazily as usual. If the step fails (Acked's
// error, a full disk) or the node crashes before it commits, the message
// is sent again, the receiver answers from its inbox with the same ack,
// and Acked runs again: it runs in exactly one committed step.
type AckHandler interface {
	WantsAck(method string) bool
	Acked(c *Ctx, a Acked) error
}

// Handles adapts a step over the method's own message type to
// Route.Handle: a message of another type (a bug of the caller of
// Receive) is refused.
func Handles[M Message](f func(c *Ctx, in *Inbound, m M) error) func(*Ctx, *Inbound) error {
	return func(c *Ctx, in *Inbound) error {
		m, ok := in.Msg.(M)
		if !ok {
			return wrongType[M](in)
		}
		return f(c, in, m)
	}
}

// Validates adapts a check over the method's own message type to
// Route.Validate: a message of another type is refused.
func Validates[M Message](f func(in *Inbound, m M) error) func(*Inbound) error {
	return func(in *Inbound) error {
		m, ok := in.Msg.(M)
		if !ok {
			return wrongType[M](in)
		}
		return f(in, m)
	}
}

func wrongType[M Message](in *Inbound) error {
	var want M
	return Refuse("%s carries %T, not %T", in.Method, in.Msg, want)
}
