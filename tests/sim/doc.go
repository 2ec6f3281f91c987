// Package sim is the seeded, randomized simulation of the whole network:
// many concurrent pays and collects over node.InmemTransport, with the
// fault layer dropping, delaying, duplicating and failing messages and
// with nodes restarting, all driven by one seed; then UPI Circle lanes of
// links and delegated payments of both modes, each step's outcome
// predicted by the plan (circle_plan_test.go). After every run the
// invariants of ARCHITECTURE.md ("Invariants") must hold. See sim_test.go for how to run it and
// how to reproduce a failure.
package sim
