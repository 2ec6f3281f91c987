// Package keys is a node's own key material and the file that keeps it,
// DATA/NAME.keys, beside the node's store and never in it: a copy of the
// .db files alone carries no private key.
//
// A node has an ed25519 signing key (the switch signs its key list with it;
// mandates later), an X25519 key for HPKE (PIN blocks are sealed to a
// bank's), a pepper (a bank's PIN hashes are argon2id of an HMAC of the PIN
// under it) and a secret (the PSP's InitiatePay fingerprint key, which
// older data folders kept alone in NAME.key; LoadOrCreate folds that file
// in). The file is JSON, written once at the node's first start with mode
// 0600; a file that its group or others may read is refused, never
// silently used.
package keys
