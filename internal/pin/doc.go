// Package pin is how the network carries and banks keep UPI PINs: the PIN
// block v2 the TPAP seals with HPKE to the remitter bank's X25519 key and
// only that bank opens (block.go: Seal, Open, Digest), the salted argon2id
// hash a bank stores, peppered with a secret from its key file
// (hash.go: HashPeppered, Input, CheckHash), and the bounded, cached
// verification a bank runs outside its commit loop (verifier.go).
package pin
