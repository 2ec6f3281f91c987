// Package node is the runtime every upisim node shares: a durable inbox
// with (sender, msg_id) de-duplication, handlers that change state and queue
// outbound messages in one transaction, a transactional outbox delivered with
// retry and backoff, durable timers, and a per-transaction trace of every
// message. A role (switch, PSP, bank, TPAP) is a Handler plugged into a Node.
package node
