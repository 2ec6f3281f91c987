// Package ids makes and checks the identifiers and values that travel in UPI
// messages: message and transaction IDs, RRNs, amounts, VPAs and simulated PIN
// blocks.
package ids
