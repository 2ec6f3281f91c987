// Package fault is upisim's fault layer (README.md, "Reaching every branch"): rules that make a node
// decline, ignore, drop, delay or duplicate messages on purpose, so that
// every branch of a flow (decline, timeout, deemed, reversal, duplicate) can
// be reached. The network file's rules and the magic payees of the default
// network compile to a Set per node; the node runtime (internal/node)
// applies it, and tests may add their own faults beside it.
package fault
