// Package nodetest has test doubles for the node runtime: a Recorder transport
// that acks and keeps every message a node sends; New, which makes a
// started node on a fresh store in t.TempDir(); Clock, a fake node.Clock a
// test moves; and Quiesce and Step, which wait until nodes have nothing
// left to do (and move the clock to their next timer).
package nodetest
