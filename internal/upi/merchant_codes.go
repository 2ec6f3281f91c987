package upi

// The merchant layer's code (docs/FLOWS.md, "Merchant payments").
const (
	// CodePayeeNotPermitted (ZE, "transaction not permitted to the VPA by
	// the PSP"): the payee's PSP declines a payment to a merchant's order
	// that has a DEEMED attempt (RespAuthDetails FAILURE).
	CodePayeeNotPermitted = "ZE"
)
