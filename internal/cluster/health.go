package cluster

import (
	"context"
	"maps"
	"slices"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// nodeHealth is a node's standard gRPC health service
// (grpc.health.v1.Health, which grpc-health-probe and load balancers ask):
// the overall status "" and one per service the node serves. Every status
// is NOT_SERVING until the node has started, SERVING while it runs, and
// NOT_SERVING again from the moment Close begins. Like AdminService it
// answers app clients (no client certificate); unlike it, it needs no
// admin token, since probes carry none.
type nodeHealth struct {
	*health.Server
	// services are the node's service names, without the health and
	// reflection services themselves.
	services []string
	drained  atomic.Bool
}

// beforeServing, if set (by tests), runs when the node has started, just
// before its statuses turn SERVING: the last moment they are NOT_SERVING.
var beforeServing func()

// registerHealth registers, on s, the health service and server reflection
// (grpc.reflection.v1 and v1alpha, for grpcurl and the like) beside the
// services s serves already, every status NOT_SERVING.
func registerHealth(s *grpc.Server) *nodeHealth {
	h := &nodeHealth{Server: health.NewServer(), services: slices.Sorted(maps.Keys(s.GetServiceInfo()))}
	for _, name := range h.names() {
		h.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	healthpb.RegisterHealthServer(s, h)
	reflection.Register(s)
	return h
}

// names are the services with a status: "" (the node) and each service.
func (h *nodeHealth) names() []string { return append([]string{""}, h.services...) }

// serving marks the node and its services SERVING: it has started.
func (h *nodeHealth) serving() {
	if beforeServing != nil {
		beforeServing()
	}
	for _, name := range h.names() {
		h.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
}

// draining marks the node and its services NOT_SERVING for good: it is
// closing. Each Watch hears it, and its stream then ends, so that watchers
// do not hold the server's graceful stop up.
func (h *nodeHealth) draining() {
	h.drained.Store(true)
	h.Shutdown()
}

// Watch is health.Server's, ended once it has sent a NOT_SERVING while the
// node drains.
func (h *nodeHealth) Watch(in *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	return h.Server.Watch(in, &drainingWatch{Health_WatchServer: stream, h: h, ctx: ctx, cancel: cancel})
}

// drainingWatch is a Watch stream whose context ends after it has sent
// NOT_SERVING during the drain.
type drainingWatch struct {
	healthpb.Health_WatchServer
	h      *nodeHealth
	ctx    context.Context
	cancel context.CancelFunc
}

func (w *drainingWatch) Context() context.Context { return w.ctx }

func (w *drainingWatch) Send(m *healthpb.HealthCheckResponse) error {
	err := w.Health_WatchServer.Send(m)
	if w.h.drained.Load() && m.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		w.cancel()
	}
	return err
}
