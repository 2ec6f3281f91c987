package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/upisim/upisim/internal/fault"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/upi"
)

// Node roles.
const (
	RoleTPAP   = "tpap"
	RolePSP    = "psp"
	RoleSwitch = "switch"
	RoleBank   = "bank"
)

// Roles lists every node role, in the order a network is usually described.
var Roles = []string{RoleTPAP, RolePSP, RoleSwitch, RoleBank}

// Network is a parsed network description: the nodes, the people and
// merchants seeded into them, and network-wide limits and timeouts.
// Amounts are int64 paise and durations time.Duration.
type Network struct {
	Name      string
	Nodes     []Node
	Users     []User
	Merchants []Merchant
	Limits    Limits
	Timeouts  Timeouts
	// PIN is how banks keep and check UPI PINs.
	PIN PINPolicy
	// Circle is UPI Circle's rules and limits (docs/FLOWS.md, UPI
	// Circle).
	Circle Circle
	// Merchant is the merchant APIs' rules (docs/FLOWS.md, Merchant
	// payments).
	Merchant MerchantSettings
	// Lite is UPI Lite's limits (docs/FLOWS.md, UPI Lite).
	Lite Lite
	// Heartbeat is the interval between ReqHbt messages; 0 turns them off.
	Heartbeat time.Duration
	// Rules make nodes decline, ignore, drop, delay or duplicate messages
	// on purpose (README.md, "Reaching every branch"; the magic payees of the default network are
	// rules too). A network file's rules are its own: they are not taken
	// from the default network.
	Rules []fault.Rule
	// HTTP says which requests the nodes' REST listeners answer besides
	// those addressed to them by loopback name or own address, from no web
	// page or from their own.
	HTTP HTTP
	// TLS is the network file's tls: "" or "on" for mutual TLS between
	// nodes (internal/pki), "off" for plaintext (insecure mode: nodes
	// trust the org_id a message claims; loopback only).
	TLS string
}

// TLS settings of a network file.
const (
	TLSOn  = "on"
	TLSOff = "off"
)

// Insecure reports whether the network's nodes talk plaintext (tls: off).
func (n *Network) Insecure() bool { return n.TLS == TLSOff }

// HTTP is the network file's http section.
type HTTP struct {
	// AllowedOrigins are web origins ("http://localhost:3000") whose pages
	// may call the nodes' REST APIs.
	AllowedOrigins []string
	// AllowedHosts are host names (without port) a request's Host header
	// may name besides localhost, 127.0.0.1, ::1 and the node's address,
	// e.g. a name the nodes are reached by in a container network.
	AllowedHosts []string
	// ListenAny (http: listen_any: true) makes every node listen on all of
	// its host's interfaces at the ports of its grpc_addr and http_addr
	// (Network.ListenAddr), and lets http_addr name a host that is not
	// loopback: for containers and Kubernetes, where a node's address is a
	// Service name the pod cannot bind (`upisim manifests`). Only with tls
	// on: the REST gateway is still plain HTTP, so it must stay inside a
	// network the operator trusts (docs/HOSTS.md).
	ListenAny bool
}

// ListenAddr is where the node whose address (grpc_addr or http_addr) is
// addr listens: addr itself, or every interface at its port when
// http.listen_any is on.
func (n *Network) ListenAddr(addr string) string {
	if !n.HTTP.ListenAny {
		return addr
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return net.JoinHostPort("", port)
}

// Node is one node of the network.
type Node struct {
	Name string
	Role string // RoleTPAP, RolePSP, RoleSwitch or RoleBank
	// Handles are the VPA handles a PSP owns (lowercase, without '@').
	Handles []string
	// IFSC is a bank's IFSC (uppercase).
	IFSC string
	// GRPCAddr and HTTPAddr are host:port; empty until AssignAddrs or the
	// network file sets them.
	GRPCAddr string
	HTTPAddr string
	// Prefix is the 3-letter prefix of the IDs the node makes; Parse sets
	// it to ids.PrefixFor(Name) when the file leaves it out.
	Prefix string
}

// User is a person with a VPA at a PSP and an account at a bank.
type User struct {
	VPA     string
	Name    string
	Bank    string // bank node name
	Account string
	Balance int64 // opening balance, paise
	PIN     string
	Mobile  string // optional, 10 digits
	// PINReset, when set and different from the value the bank last
	// applied, makes the bank take PIN again at its next start (a new hash)
	// and clears the account's wrong tries and lock. Any label will do,
	// e.g. a date; leaving it in the file does nothing more.
	PINReset string
}

// Merchant is a business with a VPA at a PSP and an account at a bank.
type Merchant struct {
	VPA     string
	Name    string
	MCC     string // 4-digit merchant category code
	Bank    string // bank node name
	Account string
	Balance int64 // opening balance, paise

	// The merchant API of its PSP (docs/FLOWS.md, "Merchant payments").
	// APIKey authenticates the merchant's calls ("" : no API); WebhookURL
	// is where its webhooks go at first ("" : nowhere until it sets one),
	// signed with WebhookSecret ("whsec_" + base64, Standard Webhooks).
	APIKey, WebhookURL, WebhookSecret string
	// AutoRefund and AutoRetry are the collections settings of seed 002:
	// an edge-case payment is refunded at once (or put on HOLD), and an
	// order takes more attempts after a failed one (or ends FAILED).
	AutoRefund, AutoRetry bool
	// OrderExpiry is how long an order takes payments unless it says.
	OrderExpiry time.Duration
	// LiteDevices are the merchant's devices (POS terminals) that take
	// offline UPI Lite (Lite X) payments: the TPAP seeds each as a
	// receive-only device of the merchant (docs/FLOWS.md, UPI Lite).
	LiteDevices []string
}

// DefaultOrderExpiry is how long an order takes payments when neither it
// nor its merchant says.
const DefaultOrderExpiry = 15 * time.Minute

// MerchantSettings are the network's rules for every merchant API.
type MerchantSettings struct {
	// HoldCapture is how long an attempt stays on HOLD before it is
	// captured without the merchant (Decentro: T+5 days).
	HoldCapture time.Duration
	// WebhookRetry is the wait before each retry of a webhook delivery
	// (the first attempt is at once); after the last, it is FAILED.
	WebhookRetry []time.Duration
	// RefundRetry is the wait before each new try of a refund the PSP
	// makes itself (a RELEASE, an auto-refund) after one failed; after the
	// last, the refund stays REFUND_FAILED (and `upisim audit` says so).
	RefundRetry []time.Duration
}

// Limits are network-wide transaction limits, in paise.
type Limits struct {
	// PerTxn is the largest P2P amount; the remitter bank declines more
	// with Z8.
	PerTxn int64
	// Throttle is the rate of requests the switch takes from each node
	// it names (limits.throttle): more are refused with RESOURCE_EXHAUSTED,
	// which the sender retries with backoff (docs/FLOWS.md,
	// "Throttling"). A node it does not name is not throttled; none is
	// by default.
	Throttle map[string]Throttle
}

// Throttle is one node's request rate at the switch: TPS requests a
// second on average, up to Burst at once.
type Throttle struct {
	TPS   float64
	Burst int
}

// PINPolicy is the network file's pin section: the lockout every remitter
// bank applies and the argon2id cost of the PIN hashes it stores.
type PINPolicy struct {
	// MaxTries wrong PINs in a row lock the account's PIN: debits are
	// declined Z6 for LockFor, even with the right PIN. A right PIN resets
	// the count.
	MaxTries int
	LockFor  time.Duration
	// Argon2id cost of new hashes (pin.Params): passes, memory in KiB,
	// threads.
	HashTime, HashMemoryKiB, HashThreads uint32
}

// Circle is the network file's circle section: UPI Circle's limits, with
// NPCI's defaults (OC-201 of 2024). Amounts are paise.
type Circle struct {
	// FullPerTxn is the most one payment under full delegation may be
	// (Z8); FullMonthly the most a full link's monthly limit may be, and
	// its default (the remitter declines a larger mandate QK).
	FullPerTxn, FullMonthly int64
	// Cooling is how long after linking CoolingLimit caps a link's
	// delegated payments in all (FP).
	Cooling      time.Duration
	CoolingLimit int64
	// Month is how a month's use is counted: CircleCalendar (the calendar
	// month in IST) or CircleRolling (the last 30 days).
	Month string
	// MaxSecondaries is how many secondaries a primary may have (the
	// switch: CP).
	MaxSecondaries int
	// InviteExpiry is how long a link waits for the secondary, and
	// ApprovalExpiry how long a partial payment waits for the primary
	// (U69).
	InviteExpiry, ApprovalExpiry time.Duration
}

// Lite is the network file's lite section: UPI Lite's limits as dated
// profiles (RBI raised them over time), and Lite X's offline rules.
// Amounts are paise.
type Lite struct {
	// Profiles are in From order; the one in force at a time is the last
	// whose From is not after it (or the one Pin names).
	Profiles []LiteProfile
	// Pin is a profile's From date ("2022-03-01") to apply whatever the
	// date; "" chooses by date.
	Pin string
	// OfflinePerTxn is the most one offline (Lite X) payment may be, and
	// never more than the profile's PerTxn.
	OfflinePerTxn int64
	// OfflineCount is how many offline payments a device may make before
	// it must sync (LN).
	OfflineCount int
	// SyncDeadline is how long after it was made an offline record may
	// still be posted (LD after).
	SyncDeadline time.Duration
	// AutoTopUpPerDay is the most automatic top-ups a Lite mandate makes
	// in a day.
	AutoTopUpPerDay int
	// SyncAnswer is how long the switch takes at most to answer a sync
	// batch: records not decided by then are answered PENDING and posted
	// later.
	SyncAnswer time.Duration
	// ReconEvery is how often the switch reconciles each remitter's LRNs
	// with it (switch/literecon.go); an admin call runs one at any time.
	ReconEvery time.Duration
}

// LiteProfile is one dated set of Lite limits.
type LiteProfile struct {
	// From is the day (UTC) the profile applies from.
	From time.Time
	// PerTxn is the most one Lite payment may be (Z8); Balance the most
	// an LRN may hold (a top-up beyond: LB).
	PerTxn, Balance int64
}

// LiteLimits are the limits in force at one time.
type LiteLimits struct {
	From                           time.Time
	PerTxn, Balance, OfflinePerTxn int64
	OfflineCount                   int
}

// At is the limits in force at t.
func (l Lite) At(t time.Time) LiteLimits {
	var p LiteProfile
	for _, q := range l.Profiles {
		if l.Pin != "" {
			if q.From.Format(time.DateOnly) == l.Pin {
				p = q
				break
			}
			continue
		}
		if !q.From.After(t) {
			p = q
		}
	}
	if p.From.IsZero() && len(l.Profiles) > 0 && l.Pin == "" {
		p = l.Profiles[0] // before every profile: the first
	}
	return LiteLimits{From: p.From, PerTxn: p.PerTxn, Balance: p.Balance,
		OfflinePerTxn: min(l.OfflinePerTxn, p.PerTxn), OfflineCount: l.OfflineCount}
}

// How Circle.Month counts a month.
const (
	CircleCalendar = "calendar"
	CircleRolling  = "rolling"
)

// Timeouts are the switch's and PSPs' timers.
type Timeouts struct {
	// AuthDetails is how long the switch waits for the payee's PSP to
	// answer the ReqAuthDetails of a PAY (FAILURE U09 after).
	AuthDetails time.Duration
	Debit       time.Duration
	Credit      time.Duration
	CheckStatus time.Duration
	Reversal    time.Duration
	ValAdd      time.Duration
	// CollectExpiryMax caps a collect request's expiry; 0 means no cap.
	CollectExpiryMax time.Duration
}

// The YAML shape of a network file. Amounts and durations are strings so a
// missing field can be told apart from zero and parse errors name the field.
type rawNetwork struct {
	Name      string              `yaml:"name,omitempty"`
	Nodes     []rawNode           `yaml:"nodes"`
	Users     []rawUser           `yaml:"users,omitempty"`
	Merchants []rawMerchant       `yaml:"merchants,omitempty"`
	Limits    rawLimits           `yaml:"limits"`
	Timeouts  rawTimeouts         `yaml:"timeouts"`
	PIN       rawPIN              `yaml:"pin,omitempty"`
	Circle    rawCircle           `yaml:"circle,omitempty"`
	Merchant  rawMerchantSettings `yaml:"merchant,omitempty"`
	Lite      rawLite             `yaml:"lite,omitempty"`
	Heartbeat string              `yaml:"heartbeat,omitempty"`
	Rules     []rawRule           `yaml:"rules,omitempty"`
	HTTP      rawHTTP             `yaml:"http,omitempty"`
	TLS       string              `yaml:"tls,omitempty"`
}

type rawHTTP struct {
	AllowedOrigins []string `yaml:"allowed_origins,omitempty,flow"`
	AllowedHosts   []string `yaml:"allowed_hosts,omitempty,flow"`
	ListenAny      bool     `yaml:"listen_any,omitempty"`
}

// rawRule is one entry of rules: see fault.Rule.
type rawRule struct {
	Name      string   `yaml:"name,omitempty"`
	Node      string   `yaml:"node,omitempty"`
	On        string   `yaml:"on,omitempty"`
	Match     rawMatch `yaml:"match,omitempty,flow"`
	Decline   string   `yaml:"decline,omitempty"`
	Ignore    bool     `yaml:"ignore,omitempty"`
	Drop      bool     `yaml:"drop,omitempty"`
	Delay     string   `yaml:"delay,omitempty"`
	FailSends int      `yaml:"fail_sends,omitempty"`
	LoseAcks  int      `yaml:"lose_acks,omitempty"`
	Duplicate bool     `yaml:"duplicate,omitempty"`
}

type rawMatch struct {
	API       string `yaml:"api,omitempty"`
	Type      string `yaml:"type,omitempty"`
	VPA       string `yaml:"vpa,omitempty"`
	Payer     string `yaml:"payer,omitempty"`
	Payee     string `yaml:"payee,omitempty"`
	Peer      string `yaml:"peer,omitempty"`
	MinAmount string `yaml:"min_amount,omitempty"`
	MaxAmount string `yaml:"max_amount,omitempty"`
}

type rawNode struct {
	Name     string   `yaml:"name"`
	Role     string   `yaml:"role"`
	Handles  []string `yaml:"handles,omitempty,flow"`
	IFSC     string   `yaml:"ifsc,omitempty"`
	GRPCAddr string   `yaml:"grpc_addr,omitempty"`
	HTTPAddr string   `yaml:"http_addr,omitempty"`
	Prefix   string   `yaml:"prefix,omitempty"`
}

type rawUser struct {
	VPA      string `yaml:"vpa"`
	Name     string `yaml:"name"`
	Bank     string `yaml:"bank"`
	Account  string `yaml:"account"`
	Balance  string `yaml:"balance"`
	PIN      string `yaml:"pin"`
	Mobile   string `yaml:"mobile,omitempty"`
	PINReset string `yaml:"pin_reset,omitempty"`
}

type rawMerchant struct {
	VPA           string   `yaml:"vpa"`
	Name          string   `yaml:"name"`
	MCC           string   `yaml:"mcc"`
	Bank          string   `yaml:"bank"`
	Account       string   `yaml:"account"`
	Balance       string   `yaml:"balance"`
	APIKey        string   `yaml:"api_key,omitempty"`
	WebhookURL    string   `yaml:"webhook_url,omitempty"`
	WebhookSecret string   `yaml:"webhook_secret,omitempty"`
	AutoRefund    bool     `yaml:"auto_refund,omitempty"`
	AutoRetry     bool     `yaml:"auto_retry,omitempty"`
	OrderExpiry   string   `yaml:"order_expiry,omitempty"`
	LiteDevices   []string `yaml:"lite_devices,omitempty,flow"`
}

type rawMerchantSettings struct {
	HoldCapture  string   `yaml:"hold_capture,omitempty"`
	WebhookRetry []string `yaml:"webhook_retry,omitempty,flow"`
	RefundRetry  []string `yaml:"refund_retry,omitempty,flow"`
}

type rawLimits struct {
	PerTxn   string                 `yaml:"per_txn,omitempty"`
	Throttle map[string]rawThrottle `yaml:"throttle,omitempty"`
}

type rawThrottle struct {
	TPS   *float64 `yaml:"tps,omitempty"`
	Burst *int     `yaml:"burst,omitempty"`
}

type rawCircle struct {
	Full           rawCircleFull `yaml:"full,omitempty,flow"`
	Cooling        string        `yaml:"cooling,omitempty"`
	CoolingLimit   string        `yaml:"cooling_limit,omitempty"`
	Month          string        `yaml:"month,omitempty"`
	MaxSecondaries *int          `yaml:"max_secondaries,omitempty"`
	InviteExpiry   string        `yaml:"invite_expiry,omitempty"`
	ApprovalExpiry string        `yaml:"approval_expiry,omitempty"`
}

type rawLite struct {
	Profiles        []rawLiteProfile `yaml:"profiles,omitempty"`
	Profile         string           `yaml:"profile,omitempty"`
	OfflinePerTxn   string           `yaml:"offline_per_txn,omitempty"`
	OfflineCount    *int             `yaml:"offline_count,omitempty"`
	SyncDeadline    string           `yaml:"sync_deadline,omitempty"`
	AutoTopUpPerDay *int             `yaml:"auto_topup_per_day,omitempty"`
	SyncAnswer      string           `yaml:"sync_answer,omitempty"`
	ReconEvery      string           `yaml:"recon_every,omitempty"`
}

type rawLiteProfile struct {
	From    string `yaml:"from"`
	PerTxn  string `yaml:"per_txn"`
	Balance string `yaml:"balance"`
}

type rawCircleFull struct {
	PerTxnLimit  string `yaml:"per_txn_limit,omitempty"`
	MonthlyLimit string `yaml:"monthly_limit,omitempty"`
}

type rawPIN struct {
	MaxTries *int        `yaml:"max_tries,omitempty"`
	LockFor  string      `yaml:"lock_for,omitempty"`
	Argon2id rawArgon2id `yaml:"argon2id,omitempty,flow"`
}

type rawArgon2id struct {
	Time      *uint32 `yaml:"time,omitempty"`
	MemoryKiB *uint32 `yaml:"memory_kib,omitempty"`
	Threads   *uint32 `yaml:"threads,omitempty"`
}

type rawTimeouts struct {
	AuthDetails      string `yaml:"auth_details,omitempty"`
	Debit            string `yaml:"debit,omitempty"`
	Credit           string `yaml:"credit,omitempty"`
	CheckStatus      string `yaml:"check_status,omitempty"`
	Reversal         string `yaml:"reversal,omitempty"`
	ValAdd           string `yaml:"val_add,omitempty"`
	CollectExpiryMax string `yaml:"collect_expiry_max,omitempty"`
}

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default network file.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

var defaultNetwork = sync.OnceValue(func() *Network {
	n, err := parse(defaultYAML, nil)
	if err != nil {
		panic("config: embedded default.yaml: " + err.Error())
	}
	return n
})

// Default returns the default network (README.md, "The default network"), parsed from the embedded
// default.yaml. Each call returns a fresh copy the caller may change.
func Default() *Network { return defaultNetwork().Clone() }

// Load reads and parses the network file at path; path "" means Default.
func Load(path string) (*Network, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read network file: %w", err)
	}
	n, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("network file %s: %w", path, err)
	}
	return n, nil
}

// Parse parses and validates a network file. Unknown fields are errors.
// A missing name, limit, timeout or heartbeat takes its value from the
// default network; a missing node prefix is ids.PrefixFor(node name).
func Parse(data []byte) (*Network, error) {
	return parse(data, defaultNetwork())
}

// parse decodes data, fills missing settings from base (nil for the
// embedded default itself, which must then be complete) and validates.
func parse(data []byte, base *Network) (*Network, error) {
	var raw rawNetwork
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	n, err := raw.resolve(base)
	if err != nil {
		return nil, err
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	return n, nil
}

func (r *rawNetwork) resolve(base *Network) (*Network, error) {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	n := &Network{Name: r.Name, TLS: r.TLS}
	if n.Name == "" && base != nil {
		n.Name = base.Name
	}
	for _, rn := range r.Nodes {
		node := Node{
			Name:     rn.Name,
			Role:     rn.Role,
			IFSC:     strings.ToUpper(rn.IFSC),
			GRPCAddr: rn.GRPCAddr,
			HTTPAddr: rn.HTTPAddr,
			Prefix:   rn.Prefix,
		}
		for _, h := range rn.Handles {
			node.Handles = append(node.Handles, strings.ToLower(h))
		}
		if node.Prefix == "" {
			node.Prefix = ids.PrefixFor(node.Name)
		}
		n.Nodes = append(n.Nodes, node)
	}
	for i, ru := range r.Users {
		bal, err := upi.ParseRupeesAllowZero(ru.Balance)
		if err != nil {
			fail("%s: balance: %w", entryLabel("user", i, ru.VPA), err)
		}
		n.Users = append(n.Users, User{
			VPA: ru.VPA, Name: ru.Name, Bank: ru.Bank, Account: ru.Account,
			Balance: bal, PIN: ru.PIN, Mobile: ru.Mobile, PINReset: ru.PINReset,
		})
	}
	for i, rm := range r.Merchants {
		bal, err := upi.ParseRupeesAllowZero(rm.Balance)
		if err != nil {
			fail("%s: balance: %w", entryLabel("merchant", i, rm.VPA), err)
		}
		m := Merchant{
			VPA: rm.VPA, Name: rm.Name, MCC: rm.MCC, Bank: rm.Bank,
			Account: rm.Account, Balance: bal,
			APIKey: rm.APIKey, WebhookURL: rm.WebhookURL, WebhookSecret: rm.WebhookSecret,
			AutoRefund: rm.AutoRefund, AutoRetry: rm.AutoRetry, OrderExpiry: DefaultOrderExpiry,
			LiteDevices: slices.Clone(rm.LiteDevices),
		}
		if rm.OrderExpiry != "" {
			d, err := time.ParseDuration(rm.OrderExpiry)
			if err != nil {
				fail("%s: order_expiry: invalid duration %q (want e.g. 15m)", entryLabel("merchant", i, rm.VPA), rm.OrderExpiry)
			}
			m.OrderExpiry = d
		}
		n.Merchants = append(n.Merchants, m)
	}

	var def Network
	if base != nil {
		def = *base
	}
	amount := func(field, s string, fallback int64, dst *int64) {
		if s == "" {
			if base == nil {
				fail("%s: missing", field)
			}
			*dst = fallback
			return
		}
		v, err := upi.ParseRupees(s)
		if err != nil {
			fail("%s: %w", field, err)
		}
		*dst = v
	}
	duration := func(field, s string, fallback time.Duration, dst *time.Duration) {
		if s == "" {
			if base == nil {
				fail("%s: missing", field)
			}
			*dst = fallback
			return
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			fail("%s: invalid duration %q (want e.g. 15s or 500ms)", field, s)
		}
		*dst = v
	}
	amount("limits.per_txn", r.Limits.PerTxn, def.Limits.PerTxn, &n.Limits.PerTxn)
	if r.Limits.Throttle == nil {
		n.Limits.Throttle = maps.Clone(def.Limits.Throttle)
	}
	for name, rt := range r.Limits.Throttle {
		if rt.TPS == nil {
			fail("limits.throttle.%s.tps: missing (requests a second the switch takes from %s)", name, name)
			continue
		}
		th := Throttle{TPS: *rt.TPS, Burst: DefaultBurst(*rt.TPS)}
		if rt.Burst != nil {
			th.Burst = *rt.Burst
		}
		if n.Limits.Throttle == nil {
			n.Limits.Throttle = map[string]Throttle{}
		}
		n.Limits.Throttle[name] = th
	}
	t, dt := &r.Timeouts, def.Timeouts
	duration("timeouts.auth_details", t.AuthDetails, dt.AuthDetails, &n.Timeouts.AuthDetails)
	duration("timeouts.debit", t.Debit, dt.Debit, &n.Timeouts.Debit)
	duration("timeouts.credit", t.Credit, dt.Credit, &n.Timeouts.Credit)
	duration("timeouts.check_status", t.CheckStatus, dt.CheckStatus, &n.Timeouts.CheckStatus)
	duration("timeouts.reversal", t.Reversal, dt.Reversal, &n.Timeouts.Reversal)
	duration("timeouts.val_add", t.ValAdd, dt.ValAdd, &n.Timeouts.ValAdd)
	duration("timeouts.collect_expiry_max", t.CollectExpiryMax, dt.CollectExpiryMax, &n.Timeouts.CollectExpiryMax)
	duration("heartbeat", r.Heartbeat, def.Heartbeat, &n.Heartbeat)
	n.HTTP.ListenAny = r.HTTP.ListenAny
	if len(r.HTTP.AllowedOrigins) > 0 {
		n.HTTP.AllowedOrigins = slices.Clone(r.HTTP.AllowedOrigins)
	}
	if len(r.HTTP.AllowedHosts) > 0 {
		n.HTTP.AllowedHosts = slices.Clone(r.HTTP.AllowedHosts)
	}
	duration("pin.lock_for", r.PIN.LockFor, def.PIN.LockFor, &n.PIN.LockFor)
	number := func(field string, v *uint32, fallback uint32, dst *uint32) {
		switch {
		case v != nil:
			*dst = *v
		case base == nil:
			fail("%s: missing", field)
		default:
			*dst = fallback
		}
	}
	if r.PIN.MaxTries != nil {
		n.PIN.MaxTries = *r.PIN.MaxTries
	} else if base == nil {
		fail("pin.max_tries: missing")
	} else {
		n.PIN.MaxTries = def.PIN.MaxTries
	}
	c := r.Circle
	amount("circle.full.per_txn_limit", c.Full.PerTxnLimit, def.Circle.FullPerTxn, &n.Circle.FullPerTxn)
	amount("circle.full.monthly_limit", c.Full.MonthlyLimit, def.Circle.FullMonthly, &n.Circle.FullMonthly)
	duration("circle.cooling", c.Cooling, def.Circle.Cooling, &n.Circle.Cooling)
	amount("circle.cooling_limit", c.CoolingLimit, def.Circle.CoolingLimit, &n.Circle.CoolingLimit)
	duration("circle.invite_expiry", c.InviteExpiry, def.Circle.InviteExpiry, &n.Circle.InviteExpiry)
	duration("circle.approval_expiry", c.ApprovalExpiry, def.Circle.ApprovalExpiry, &n.Circle.ApprovalExpiry)
	switch {
	case c.Month != "":
		n.Circle.Month = strings.ToLower(c.Month)
	case base == nil:
		fail("circle.month: missing")
	default:
		n.Circle.Month = def.Circle.Month
	}
	switch {
	case c.MaxSecondaries != nil:
		n.Circle.MaxSecondaries = *c.MaxSecondaries
	case base == nil:
		fail("circle.max_secondaries: missing")
	default:
		n.Circle.MaxSecondaries = def.Circle.MaxSecondaries
	}
	lt := r.Lite
	switch {
	case len(lt.Profiles) > 0:
		for j, p := range lt.Profiles {
			from, err := time.Parse(time.DateOnly, p.From)
			if err != nil {
				fail("lite.profiles[%d].from: %q is not a date (want e.g. 2024-12-04)", j, p.From)
			}
			lp := LiteProfile{From: from}
			amount(fmt.Sprintf("lite.profiles[%d].per_txn", j), p.PerTxn, 0, &lp.PerTxn)
			amount(fmt.Sprintf("lite.profiles[%d].balance", j), p.Balance, 0, &lp.Balance)
			if p.PerTxn == "" || p.Balance == "" {
				fail("lite.profiles[%d]: per_txn and balance are both needed", j)
			}
			n.Lite.Profiles = append(n.Lite.Profiles, lp)
		}
	case base == nil:
		fail("lite.profiles: missing")
	default:
		n.Lite.Profiles = slices.Clone(def.Lite.Profiles)
	}
	n.Lite.Pin = lt.Profile
	if lt.Profile == "" && len(lt.Profiles) == 0 {
		n.Lite.Pin = def.Lite.Pin
	}
	amount("lite.offline_per_txn", lt.OfflinePerTxn, def.Lite.OfflinePerTxn, &n.Lite.OfflinePerTxn)
	duration("lite.sync_deadline", lt.SyncDeadline, def.Lite.SyncDeadline, &n.Lite.SyncDeadline)
	duration("lite.sync_answer", lt.SyncAnswer, def.Lite.SyncAnswer, &n.Lite.SyncAnswer)
	duration("lite.recon_every", lt.ReconEvery, def.Lite.ReconEvery, &n.Lite.ReconEvery)
	count := func(field string, v *int, fallback int, dst *int) {
		switch {
		case v != nil:
			*dst = *v
		case base == nil:
			fail("%s: missing", field)
		default:
			*dst = fallback
		}
	}
	count("lite.offline_count", lt.OfflineCount, def.Lite.OfflineCount, &n.Lite.OfflineCount)
	count("lite.auto_topup_per_day", lt.AutoTopUpPerDay, def.Lite.AutoTopUpPerDay, &n.Lite.AutoTopUpPerDay)
	duration("merchant.hold_capture", r.Merchant.HoldCapture, def.Merchant.HoldCapture, &n.Merchant.HoldCapture)
	durations := func(field string, raw []string, fallback []time.Duration, dst *[]time.Duration) {
		switch {
		case len(raw) > 0:
			for j, v := range raw {
				d, err := time.ParseDuration(v)
				if err != nil {
					fail("%s[%d]: invalid duration %q (want e.g. 5s or 5m)", field, j, v)
				}
				*dst = append(*dst, d)
			}
		case base == nil:
			fail("%s: missing", field)
		default:
			*dst = slices.Clone(fallback)
		}
	}
	durations("merchant.webhook_retry", r.Merchant.WebhookRetry, def.Merchant.WebhookRetry, &n.Merchant.WebhookRetry)
	durations("merchant.refund_retry", r.Merchant.RefundRetry, def.Merchant.RefundRetry, &n.Merchant.RefundRetry)
	a := r.PIN.Argon2id
	number("pin.argon2id.time", a.Time, def.PIN.HashTime, &n.PIN.HashTime)
	number("pin.argon2id.memory_kib", a.MemoryKiB, def.PIN.HashMemoryKiB, &n.PIN.HashMemoryKiB)
	number("pin.argon2id.threads", a.Threads, def.PIN.HashThreads, &n.PIN.HashThreads)
	for i, rr := range r.Rules {
		label := fmt.Sprintf("rule #%d", i+1)
		if rr.Name != "" {
			label = fmt.Sprintf("rule %q", rr.Name)
		}
		rule := fault.Rule{
			Name: rr.Name, Node: rr.Node, On: strings.ToLower(rr.On), Decline: rr.Decline, Ignore: rr.Ignore,
			Match: fault.Match{
				API: rr.Match.API, Type: strings.ToUpper(rr.Match.Type), VPA: rr.Match.VPA,
				Payer: rr.Match.Payer, Payee: rr.Match.Payee, Peer: rr.Match.Peer,
			},
			Fault: fault.Fault{Drop: rr.Drop, FailSends: rr.FailSends, LoseAcks: rr.LoseAcks, Duplicate: rr.Duplicate},
		}
		if rule.Name == "" { // "#1": what traces and errors call it
			rule.Name = fmt.Sprintf("#%d", i+1)
		}
		if rule.On == "" {
			rule.On = fault.OnReceive
		}
		for _, b := range []struct {
			field, s string
			dst      *int64
		}{{"min_amount", rr.Match.MinAmount, &rule.Match.MinAmount}, {"max_amount", rr.Match.MaxAmount, &rule.Match.MaxAmount}} {
			if b.s == "" {
				continue
			}
			v, err := upi.ParseRupees(b.s)
			if err != nil {
				fail("%s: match.%s: %w", label, b.field, err)
			}
			*b.dst = v
		}
		if rr.Delay != "" {
			v, err := time.ParseDuration(rr.Delay)
			if err != nil {
				fail("%s: delay: invalid duration %q (want e.g. 20s or 500ms)", label, rr.Delay)
			}
			rule.Fault.Delay = v
		}
		n.Rules = append(n.Rules, rule)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return n, nil
}

// entryLabel names a user or merchant entry in errors: by VPA when it has
// one, else by its position (1-based) in the file.
func entryLabel(kind string, i int, vpa string) string {
	if vpa != "" {
		return fmt.Sprintf("%s %q", kind, vpa)
	}
	return fmt.Sprintf("%s #%d", kind, i+1)
}

// Marshal returns n as a network file (YAML) that Parse reads back to an
// equal Network: every value resolved, including prefixes and any addresses.
func (n *Network) Marshal() ([]byte, error) {
	r := rawNetwork{
		TLS:       n.TLS,
		Name:      n.Name,
		Limits:    rawLimits{PerTxn: upi.FormatPaise(n.Limits.PerTxn)},
		Heartbeat: n.Heartbeat.String(),
		Timeouts: rawTimeouts{
			AuthDetails:      n.Timeouts.AuthDetails.String(),
			Debit:            n.Timeouts.Debit.String(),
			Credit:           n.Timeouts.Credit.String(),
			CheckStatus:      n.Timeouts.CheckStatus.String(),
			Reversal:         n.Timeouts.Reversal.String(),
			ValAdd:           n.Timeouts.ValAdd.String(),
			CollectExpiryMax: n.Timeouts.CollectExpiryMax.String(),
		},
		HTTP: rawHTTP{AllowedOrigins: n.HTTP.AllowedOrigins, AllowedHosts: n.HTTP.AllowedHosts, ListenAny: n.HTTP.ListenAny},
		Circle: rawCircle{
			Full:    rawCircleFull{PerTxnLimit: upi.FormatPaise(n.Circle.FullPerTxn), MonthlyLimit: upi.FormatPaise(n.Circle.FullMonthly)},
			Cooling: n.Circle.Cooling.String(), CoolingLimit: upi.FormatPaise(n.Circle.CoolingLimit), Month: n.Circle.Month,
			MaxSecondaries: &n.Circle.MaxSecondaries,
			InviteExpiry:   n.Circle.InviteExpiry.String(), ApprovalExpiry: n.Circle.ApprovalExpiry.String(),
		},
		Merchant: rawMerchantSettings{HoldCapture: n.Merchant.HoldCapture.String()},
		Lite: rawLite{
			Profile: n.Lite.Pin, OfflinePerTxn: upi.FormatPaise(n.Lite.OfflinePerTxn),
			OfflineCount: &n.Lite.OfflineCount, SyncDeadline: n.Lite.SyncDeadline.String(),
			AutoTopUpPerDay: &n.Lite.AutoTopUpPerDay, SyncAnswer: n.Lite.SyncAnswer.String(),
			ReconEvery: n.Lite.ReconEvery.String(),
		},
		PIN: rawPIN{
			MaxTries: &n.PIN.MaxTries, LockFor: n.PIN.LockFor.String(),
			Argon2id: rawArgon2id{Time: &n.PIN.HashTime, MemoryKiB: &n.PIN.HashMemoryKiB, Threads: &n.PIN.HashThreads},
		},
	}
	for _, p := range n.Lite.Profiles {
		r.Lite.Profiles = append(r.Lite.Profiles, rawLiteProfile{
			From: p.From.Format(time.DateOnly), PerTxn: upi.FormatPaise(p.PerTxn), Balance: upi.FormatPaise(p.Balance)})
	}
	for name, th := range n.Limits.Throttle {
		if r.Limits.Throttle == nil {
			r.Limits.Throttle = map[string]rawThrottle{}
		}
		r.Limits.Throttle[name] = rawThrottle{TPS: &th.TPS, Burst: &th.Burst}
	}
	for _, ru := range n.Rules {
		rr := rawRule{
			Name: ru.Name, Node: ru.Node, On: ru.On, Decline: ru.Decline, Ignore: ru.Ignore,
			Match: rawMatch{
				API: ru.Match.API, Type: ru.Match.Type, VPA: ru.Match.VPA,
				Payer: ru.Match.Payer, Payee: ru.Match.Payee, Peer: ru.Match.Peer,
			},
			Drop: ru.Fault.Drop, FailSends: ru.Fault.FailSends, LoseAcks: ru.Fault.LoseAcks, Duplicate: ru.Fault.Duplicate,
		}
		if ru.Match.MinAmount > 0 {
			rr.Match.MinAmount = upi.FormatPaise(ru.Match.MinAmount)
		}
		if ru.Match.MaxAmount > 0 {
			rr.Match.MaxAmount = upi.FormatPaise(ru.Match.MaxAmount)
		}
		if ru.Fault.Delay > 0 {
			rr.Delay = ru.Fault.Delay.String()
		}
		r.Rules = append(r.Rules, rr)
	}
	for _, nd := range n.Nodes {
		r.Nodes = append(r.Nodes, rawNode{
			Name: nd.Name, Role: nd.Role, Handles: nd.Handles, IFSC: nd.IFSC,
			GRPCAddr: nd.GRPCAddr, HTTPAddr: nd.HTTPAddr, Prefix: nd.Prefix,
		})
	}
	for _, u := range n.Users {
		r.Users = append(r.Users, rawUser{
			VPA: u.VPA, Name: u.Name, Bank: u.Bank, Account: u.Account,
			Balance: upi.FormatPaise(u.Balance), PIN: u.PIN, Mobile: u.Mobile, PINReset: u.PINReset,
		})
	}
	for _, m := range n.Merchants {
		r.Merchants = append(r.Merchants, rawMerchant{
			VPA: m.VPA, Name: m.Name, MCC: m.MCC, Bank: m.Bank,
			Account: m.Account, Balance: upi.FormatPaise(m.Balance),
			APIKey: m.APIKey, WebhookURL: m.WebhookURL, WebhookSecret: m.WebhookSecret,
			AutoRefund: m.AutoRefund, AutoRetry: m.AutoRetry, OrderExpiry: m.OrderExpiry.String(),
			LiteDevices: m.LiteDevices,
		})
	}
	for _, d := range n.Merchant.WebhookRetry {
		r.Merchant.WebhookRetry = append(r.Merchant.WebhookRetry, d.String())
	}
	for _, d := range n.Merchant.RefundRetry {
		r.Merchant.RefundRetry = append(r.Merchant.RefundRetry, d.String())
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&r); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Clone returns a deep copy of n.
func (n *Network) Clone() *Network {
	c := *n
	c.Nodes = slices.Clone(n.Nodes)
	for i := range c.Nodes {
		c.Nodes[i].Handles = slices.Clone(c.Nodes[i].Handles)
	}
	c.Users = slices.Clone(n.Users)
	c.Merchants = slices.Clone(n.Merchants)
	for i := range c.Merchants {
		c.Merchants[i].LiteDevices = slices.Clone(c.Merchants[i].LiteDevices)
	}
	c.Lite.Profiles = slices.Clone(n.Lite.Profiles)
	c.Merchant.WebhookRetry = slices.Clone(n.Merchant.WebhookRetry)
	c.Merchant.RefundRetry = slices.Clone(n.Merchant.RefundRetry)
	c.Rules = slices.Clone(n.Rules)
	c.Limits.Throttle = maps.Clone(n.Limits.Throttle)
	c.HTTP.AllowedOrigins = slices.Clone(n.HTTP.AllowedOrigins)
	c.HTTP.AllowedHosts = slices.Clone(n.HTTP.AllowedHosts)
	return &c
}

// RolesByName is each node's role by its name.
func (n *Network) RolesByName() map[string]string {
	m := make(map[string]string, len(n.Nodes))
	for _, nd := range n.Nodes {
		m[nd.Name] = nd.Role
	}
	return m
}

// DefaultBurst is a throttle's burst when the network file gives none:
// one second's requests (at least 1).
func DefaultBurst(tps float64) int {
	if tps < 1 || math.IsNaN(tps) {
		return 1
	}
	if tps > MaxThrottleTPS {
		return MaxThrottleTPS
	}
	return int(math.Ceil(tps))
}

// Limits are the limits of a delegated payment under a full link whose
// monthly limit (its mandate's amount) is monthly and that began at
// since: what PSP(S), PSP(P) and the remitter each check it against.
func (c Circle) Limits(monthly int64, since time.Time) upi.CircleLimits {
	return upi.CircleLimits{
		PerTxn: c.FullPerTxn, Monthly: monthly, CoolingLimit: c.CoolingLimit, Cooling: c.Cooling,
		Rolling: c.Month == CircleRolling, LinkedAt: since,
	}
}
