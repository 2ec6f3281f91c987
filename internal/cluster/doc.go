// Package cluster runs nodes: one node of any role from a network file
// (store, gRPC server, REST gateway, OpenAPI), or the whole network in one
// process with its network.json directory.
//
// Nodes talk mutual TLS 1.3 (tls.go): on first start the network's CA and
// every node's certificate are created in DATA/pki (internal/pki); each
// node serves with its certificate, takes a caller's verified certificate
// as the call's node.Peer, and dials peers with it, checking the server is
// the node dialled. The REST gateway and the CLI verify the node against
// ca.pem and present none, so they reach the app and admin services only.
// Insecure mode (the network file's tls: off, NodeOptions.Insecure) keeps
// plaintext, on loopback addresses only.
package cluster
