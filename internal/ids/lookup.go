package ids

// LookupTxnID is the txn id of the payee look-up (ReqValAdd) that a
// delegated payment of id txnID starts with, and, given a look-up's id, the
// payment's: the same prefix and time (the first 16 hex digits), each of
// the last 16 (the random part) d replaced by 15−d. The look-up cannot
// carry the payment's own id: the switch keeps a ReqValAdd as the pay flow
// of its txn id, which the payment's ReqPay is to be. A derived id leads
// from the RespValAdd back to the payment with no record of its own, and
// lets `upisim trace` of the payment show its look-up. It is its own
// inverse; it differs from txnID in every digit it changes, so no id is its
// own look-up. An id not of ValidID's form is returned as it is.
func LookupTxnID(txnID string) string {
	if !ValidID(txnID) {
		return txnID
	}
	const hexDigits = "0123456789abcdef"
	b := []byte(txnID)
	for i := IDLen - 16; i < IDLen; i++ {
		c := b[i]
		v := c - '0'
		if c >= 'a' {
			v = c - 'a' + 10
		}
		b[i] = hexDigits[15-v]
	}
	return string(b)
}
