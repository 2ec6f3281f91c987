// Package upiswitch is the NPCI switch: it routes pay, collect, address
// look-up and heartbeat messages between PSPs and banks by VPA handle and
// IFSC, issues RRNs, and runs one durable state machine per transaction
// (docs/FLOWS.md). The directory is switch/; switch is a Go keyword.
package upiswitch
