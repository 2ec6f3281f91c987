// Package nodetest has test doubles for the node runtime: a Recorder transport
// that acks and keeps every message a node sends, and New, which makes a
// started node on a fresh store in t.TempDir().
package nodetest
