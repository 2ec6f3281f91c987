// Command upisim runs a local, multi-node model of India's UPI network and
// drives it: `upisim up` starts the network, and `pay`, `trace`, `balance` and
// the other subcommands, each a thin wrapper over internal/cli, talk to it.
package main
