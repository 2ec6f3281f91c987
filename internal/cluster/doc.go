// Package cluster runs nodes: one node of any role from a network file
// (store, gRPC server, REST gateway, OpenAPI), or the whole network in one
// process with its network.json directory.
package cluster
