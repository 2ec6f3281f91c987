// Package sim is the seeded, randomized simulation of the whole network:
// many concurrent pays and collects over node.InmemTransport, with the
// fault layer dropping, delaying, duplicating and failing messages and
// with nodes restarting, all driven by one seed; then UPI Circle lanes of
// links and delegated payments of both modes, each step's outcome
// predicted by the plan (circle_plan_test.go); then merchant lanes of
// orders paid by intent and collect, late, twice, with the wrong amount or
// PIN, their HOLDs acted on and their payments refunded, with webhook
// endpoints that fail at random (merchant_plan_test.go), each order
// checked at the end against the status model; then UPI Lite lanes of
// wallets topped up, paying online and offline, devices going offline and
// online, and sync batches resent, split, reordered and merged, each
// offline record posted exactly once (lite_plan_test.go). After every run the
// invariants of ARCHITECTURE.md ("Invariants") must hold. See sim_test.go for how to run it and
// how to reproduce a failure.
package sim
