// Package cli implements upisim's subcommands as functions that take their
// options and an output stream, so tests call them directly; cmd/upisim only
// parses flags.
package cli
