// Package pin is how the network carries and banks keep UPI PINs: the PIN
// block a PSP puts in payer.creds (block.go), the salted argon2id hash a
// bank stores (hash.go), and the bounded, cached verification a bank runs
// outside its commit loop (verifier.go).
package pin
