// Package integration runs whole networks in one process (every node on its
// own loopback gRPC and HTTP port with its own bbolt file) and drives every
// flow through the same functions the CLI uses, and through REST.
package integration
