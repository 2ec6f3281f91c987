// Package audit checks a network against the invariants of ARCHITECTURE.md:
// it reads every node through its AdminService (Source) and runs each
// registered Check over what it read (From).
package audit
