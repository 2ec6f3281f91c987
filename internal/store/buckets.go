package store

import "slices"

// Bucket names a bbolt bucket. Every bucket any node uses is declared here, so
// the layout of a node's file can be read in one place.
type Bucket string

// The runtime's buckets (internal/node).
const (
	// Inbox: sender "\x00" msg_id → sha256(body) ‖ Ack. One entry per
	// network message received; the basis of de-duplication.
	Inbox Bucket = "inbox"
	// Outbox: seq (8 bytes) → outbox entry. Messages written by a handler and
	// not yet acked by their receiver.
	Outbox Bucket = "outbox"
	// Timers: due (8 bytes, unix nanos) ‖ name → payload.
	Timers Bucket = "timers"
	// TimerNames: name → its key in Timers, so a timer can be reset or
	// cancelled by name.
	TimerNames Bucket = "timer_names"
	// Trace: seq (8 bytes) → every message the node received or queued,
	// with its TraceRecord, method and body (the outbox points here for
	// the body). Keys only grow, so a commit appends to the last pages of
	// the bucket.
	Trace Bucket = "trace"
	// TraceByTxn: txn_id "\x00" seq (8 bytes) → 'I' for a message received,
	// 'O' ‖ msg_id ‖ 0 ‖ peer for one sent (empty in older files). The index of Trace by
	// transaction: small entries, so the transactions in flight share few
	// pages.
	TraceByTxn Bucket = "trace_by_txn"
	// TraceAcks: trace key → when the receiver acked the message of that
	// (outbound) trace entry: unix nanos (8 bytes) ‖ the ack's err. Kept
	// apart so that noting an ack appends a few bytes instead of rewriting
	// the entry.
	TraceAcks Bucket = "trace_acks"
	// Meta: counters and small settings (sequence numbers, seeded flag).
	Meta Bucket = "meta"
)

// The roles' buckets.
const (
	// Txns: txn_id → the node's record of a transaction (each role has its
	// own record type).
	Txns Bucket = "txns"
	// Accounts: ac_num → ledger account (banks).
	Accounts Bucket = "accounts"
	// AccountsByVPA: vpa → ac_num (banks).
	AccountsByVPA Bucket = "accounts_by_vpa"
	// Postings: ref → posting (banks). A ref is posted at most once.
	Postings Bucket = "postings"
	// Customers: ac_num → customer credentials and limits (banks).
	Customers Bucket = "customers"
	// VPAs: vpa → registered user or merchant (PSPs).
	VPAs Bucket = "vpas"
	// Pending: user vpa "\x00" txn_id → empty. Requests waiting for a user
	// (collect approvals at PSPs and TPAP).
	Pending Bucket = "pending"
	// Notifications: user vpa "\x00" seq → notification (TPAP).
	Notifications Bucket = "notifications"
	// IdempotencyKeys: an app request's Idempotency-Key → sha256 of the
	// request (32 bytes) ‖ the txn_id it started (TPAP).
	IdempotencyKeys Bucket = "idempotency_keys"
	// NodeKeys: node name → the public keys it registered
	// (recordsv1.SwitchNodeKey; the switch's key directory).
	NodeKeys Bucket = "node_keys"
	// KeyDir: node name → its public keys in the switch's key list this
	// node last took (recordsv1.CachedNodeKey; every node but the switch).
	KeyDir Bucket = "key_dir"
	// PINBlocks: block ts (16 hex digits of Unix ns) ‖ "/" ‖ hex SHA-256 of
	// a PIN block's data → empty: the blocks the remitter opened within
	// pin.Window, to refuse a replay (banks).
	PINBlocks Bucket = "pin_blocks"
	// Mandates: UMN → a UPI Circle mandate (recordsv1.PspMandate at PSPs,
	// recordsv1.BankMandate at banks, recordsv1.SwitchMandateState at the
	// switch: its mandate registry).
	Mandates Bucket = "mandates"
	// CircleLinks: UPI Circle links. PSPs: side ("P" or "S") "/" link_id →
	// recordsv1.PspCircleLink; the switch: link_id →
	// recordsv1.SwitchCircleLink (its registry, what CP and CS count).
	CircleLinks Bucket = "circle_links"

	// The merchant layer's (package merchant, at PSPs):
	// MerchantOrders: order id → recordsv1.MerchantOrder, with its
	// attempts and refunds.
	MerchantOrders Bucket = "merchant_orders"
	// MerchantIndex: "t/" txn id, "a/" attempt id, "r/" refund id or "c/"
	// status check txn id → the order id it belongs to.
	MerchantIndex Bucket = "merchant_index"
	// MerchantDeliveries: delivery id (the webhook-id) →
	// recordsv1.MerchantDelivery.
	MerchantDeliveries Bucket = "merchant_deliveries"
	// MerchantEndpoints: merchant VPA → recordsv1.MerchantEndpoint.
	MerchantEndpoints Bucket = "merchant_endpoints"
	// MerchantIdempotency: merchant VPA "\x00" method "\x00" key →
	// recordsv1.MerchantIdempotent.
	MerchantIdempotency Bucket = "merchant_idempotency"

	// RRNs: RRN (12 digits) → the txn id of the pay record it was issued
	// to (the switch; written in the step that issues it), for a PSP's
	// status check by RRN.
	RRNs Bucket = "rrns"
	// StatusChecks: the check's txn id → recordsv1.PspStatusCheck, a
	// status check a PSP sent the switch and not yet answered (PSPs).
	StatusChecks Bucket = "status_checks"

	// UPI Lite (docs/FLOWS.md, UPI Lite):
	// LiteAccounts: LRN → the switch's auth-engine account
	// (recordsv1.SwitchLiteAccount), or a bank's LRN balance in its Lite
	// pool (recordsv1.BankLiteAccount).
	LiteAccounts Bucket = "lite_accounts"
	// LiteRecords: lite.RecordKey(lrn, counter) → what the switch
	// (recordsv1.SwitchLiteRecord) or the remitter (recordsv1.BankLiteRecord)
	// knows of that counter: an online payment's, or an offline record's.
	LiteRecords Bucket = "lite_records"
	// LiteDevices: device id → recordsv1.TpapLiteDevice, a phone's wallet
	// with its unsynced records (the TPAP).
	LiteDevices Bucket = "lite_devices"
	// LiteSyncs: the batch's txn id → recordsv1.PspLiteSync, a device's
	// ReqLiteSync (or GetLite, zero-balance disable) a PSP sent; and
	// "credit/" lite.RecordKey → recordsv1.PspLiteCredit, a record a
	// LITE_SYNC confirmation credited to its user (PSPs).
	LiteSyncs Bucket = "lite_syncs"
	// LiteMandates (issue 12, auto top-up): a Lite mandate, by LRN at the
	// remitter (recordsv1.BankLiteMandate) and by device id at the TPAP
	// (recordsv1.TpapLiteMandate); at the switch a Lite top-up's mandate
	// part by its txn id (recordsv1.SwitchLiteMandate).
	LiteMandates Bucket = "lite_mandates"
	// LiteRecons: "recon/" txn id → recordsv1.SwitchLiteRecon, one
	// reconciliation of a remitter's LRNs, and "report/" LRN →
	// recordsv1.SwitchLiteReport, the device's last balance report (the
	// switch; switch/literecon.go).
	LiteRecons Bucket = "lite_recons"
)

// runtime lists the runtime's buckets, which Open creates on every node.
var runtimeBuckets = []Bucket{Inbox, Outbox, Timers, TimerNames, Trace, TraceByTxn, TraceAcks, Meta}

// Roles' bucket sets: the buckets each node role keeps beside the
// runtime's (Options.Buckets). A bucket a role does not name is not
// created in its file, and a Tx that asks for it panics ("not created").
// Keys are the roles' names (config.RoleSwitch, ...).
var roleBuckets = map[string][]Bucket{
	"switch": {Txns, NodeKeys, CircleLinks, Mandates, RRNs, LiteAccounts, LiteRecords, LiteMandates, LiteRecons},
	"psp": {Txns, VPAs, Pending, KeyDir, Mandates, CircleLinks, StatusChecks,
		MerchantOrders, MerchantIndex, MerchantDeliveries, MerchantEndpoints, MerchantIdempotency, LiteSyncs},
	"bank": {Txns, Accounts, AccountsByVPA, Postings, Customers, KeyDir, PINBlocks, Mandates, LiteAccounts, LiteRecords, LiteMandates},
	"tpap": {Txns, Pending, Notifications, IdempotencyKeys, KeyDir, LiteDevices, LiteMandates},
}

// RoleBuckets is the bucket set of a node role, nil for an unknown role.
func RoleBuckets(role string) []Bucket { return roleBuckets[role] }

// AllBuckets is every role's bucket (for Options.Buckets in tests and tools
// that open a file of any role).
func AllBuckets() []Bucket {
	return []Bucket{Txns, Accounts, AccountsByVPA, Postings, Customers, VPAs, Pending, Notifications, IdempotencyKeys,
		NodeKeys, KeyDir, PINBlocks, Mandates, CircleLinks, RRNs, StatusChecks,
		MerchantOrders, MerchantIndex, MerchantDeliveries, MerchantEndpoints, MerchantIdempotency,
		LiteAccounts, LiteRecords, LiteDevices, LiteSyncs, LiteMandates, LiteRecons}
}

func declared(b Bucket) bool {
	return slices.Contains(runtimeBuckets, b) || slices.Contains(AllBuckets(), b)
}

// appendFill is the fill factor of buckets whose keys are appended at one or
// a few places (sequence numbers, ids that begin with the clock): a page
// that overflows is split full rather than half full (bbolt's default), so
// the bucket has about half as many pages and a commit writes about half as
// many new ones.
const appendFill = 1.0

// fillPercent lists the buckets that do not use bbolt's default fill factor.
//
// Txns and RRNs are keyed by ids that begin with the clock too (a txn_id's
// time after its PSP's prefix, an RRN's date and hour before its
// sequence), so they are appended at a few places; with the default they
// stayed about half full for good, which was the largest part of what
// remains of a pay flow on disk once retention has dropped its trace.
var fillPercent = map[Bucket]float64{
	Inbox:         appendFill,
	Outbox:        appendFill,
	Trace:         appendFill,
	TraceByTxn:    appendFill,
	TraceAcks:     appendFill,
	Postings:      appendFill,
	Notifications: appendFill,
	Txns:          appendFill,
	RRNs:          appendFill,
}
