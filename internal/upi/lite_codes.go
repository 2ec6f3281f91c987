package upi

// UPI Lite's codes (docs/FLOWS.md, "UPI Lite", "Codes of UPI Lite"). NPCI
// publishes none for these failures, so they are the simulator's own; a
// Lite payment over a limit or the balance uses NPCI's Z8 and Z9.
const (
	// CodeLiteCryptogram (LQ): the ARQC of an online payment, or an offline
	// record's signature, does not verify with the LRN's device key.
	CodeLiteCryptogram = "LQ"
	// CodeLiteUnknown (LR): no such LRN, or it is not ACTIVE (disabled, or
	// registered and never topped up).
	CodeLiteUnknown = "LR"
	// CodeLiteReplay (LC): the LRN's counter was used before with other
	// content, a double spend (reported as such), or an online payment's
	// counter is not above the last one.
	CodeLiteReplay = "LC"
	// CodeLiteDeadline (LD): an offline record synced after the network
	// file's lite sync_deadline (4 days by default); it is not posted.
	CodeLiteDeadline = "LD"
	// CodeLiteBalanceLimit (LB): a top-up would take the LRN's balance over
	// the balance limit in force.
	CodeLiteBalanceLimit = "LB"
	// CodeLiteOfflineCount (LN): the device made the offline payments it
	// may make before a sync.
	CodeLiteOfflineCount = "LN"
	// CodeLiteOffline (LO): the device is offline; only an offline (Lite X)
	// payment to a device works without the network.
	CodeLiteOffline = "LO"
	// CodeLiteNotZero (LZ): a zero-balance disable (purpose 50) of an LRN
	// whose balance is not zero.
	CodeLiteNotZero = "LZ"
	// CodeLiteUnsynced (LU): a disable of a device that holds records no
	// sync has answered; it must sync them first.
	CodeLiteUnsynced = "LU"
	// CodeLiteAutoTopUpCount (LA): a top-up under a Lite mandate (auto
	// top-up) beyond the network file's lite auto_topup_per_day in one IST
	// day (issue 12, auto top-up); nothing moves.
	CodeLiteAutoTopUpCount = "LA"
)
