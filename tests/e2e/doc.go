// Package e2e builds the upisim binary and runs networks as separate processes
// on 127.0.0.1, driving them with the binary's own subcommands.
package e2e
