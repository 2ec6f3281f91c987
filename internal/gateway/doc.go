// Package gateway has the grpc-gateway wiring shared by every node's REST
// API: the ServeMux with upisim's JSON conventions and error mapping.
package gateway
