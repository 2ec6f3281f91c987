package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/fault"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/upi"
)

// MaxNodeName is the longest allowed node name.
const MaxNodeName = 32

// Validate checks the network and returns every problem found, joined, each
// naming the offending node, user, merchant or setting; nil when valid.
func (n *Network) Validate() error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}

	if n.Name == "" {
		fail("network: missing name")
	}
	if len(n.Nodes) == 0 {
		fail("network has no nodes")
	}
	if n.HTTP.ListenAny && n.TLS == TLSOff {
		fail("http: listen_any needs tls on: nodes that listen on every interface must talk mutual TLS to each other")
	}
	switch n.TLS {
	case "", TLSOn, TLSOff:
	default:
		fail("tls: %q: want on or off", n.TLS)
	}

	names := map[string]bool{} // lowercased
	handles := map[string]string{}
	ifscs := map[string]string{}
	addrs := map[string]string{}
	roleCount := map[string]int{}
	for i := range n.Nodes {
		nd := &n.Nodes[i]
		label := fmt.Sprintf("node %q", nd.Name)
		if nd.Name == "" {
			label = fmt.Sprintf("node #%d", i+1)
		}
		if err := validNodeName(nd.Name); err != nil {
			fail("%s: %v", label, err)
		} else if key := strings.ToLower(nd.Name); names[key] {
			fail("%s: duplicate node name", label)
		} else {
			names[key] = true
		}
		switch nd.Role {
		case RoleTPAP, RolePSP, RoleSwitch, RoleBank:
			roleCount[nd.Role]++
		case "":
			fail("%s: missing role (want one of %s)", label, strings.Join(Roles, ", "))
		default:
			fail("%s: unknown role %q (want one of %s)", label, nd.Role, strings.Join(Roles, ", "))
		}
		if !ids.ValidPrefix(nd.Prefix) {
			fail("%s: invalid prefix %q: want three uppercase letters", label, nd.Prefix)
		}

		if nd.Role == RolePSP {
			if len(nd.Handles) == 0 {
				fail("%s: a PSP needs at least one handle", label)
			}
			for _, h := range nd.Handles {
				if err := ids.ValidateHandle(h); err != nil {
					fail("%s: %v", label, err)
					continue
				}
				key := strings.ToLower(h)
				if other, ok := handles[key]; ok {
					fail("%s: handle %q is already owned by node %q", label, h, other)
					continue
				}
				handles[key] = nd.Name
			}
		} else if len(nd.Handles) > 0 {
			fail("%s: only a PSP has handles", label)
		}

		if nd.Role == RoleBank {
			if err := ValidateIFSC(nd.IFSC); err != nil {
				fail("%s: %v", label, err)
			} else if other, ok := ifscs[nd.IFSC]; ok {
				fail("%s: IFSC %s is already used by node %q", label, nd.IFSC, other)
			} else {
				ifscs[nd.IFSC] = nd.Name
			}
		} else if nd.IFSC != "" {
			fail("%s: only a bank has an IFSC", label)
		}

		for _, a := range []struct{ field, addr string }{{"grpc_addr", nd.GRPCAddr}, {"http_addr", nd.HTTPAddr}} {
			if a.addr == "" {
				continue
			}
			port, err := validAddr(a.addr)
			if err != nil {
				fail("%s: %s: %v", label, a.field, err)
				continue
			}
			if !loopbackAddr(a.addr) {
				switch {
				case a.field == "http_addr" && !n.HTTP.ListenAny:
					fail("%s: http_addr %s is not a loopback address: the REST gateway is plain HTTP for the local user (PINs travel in it), so it listens on this machine only (use 127.0.0.1); to serve it inside a network you trust, as in Kubernetes, set http: listen_any: true with tls on", label, a.addr)
					continue
				case n.TLS == TLSOff:
					fail("%s: grpc_addr %s is not a loopback address, and tls is off: a plaintext node trusts whatever reaches its port, so nodes on other hosts need TLS", label, a.addr)
					continue
				}
			}
			if port == 0 {
				continue // OS-chosen: never a clash
			}
			if other, ok := addrs[a.addr]; ok {
				fail("%s: %s %s is already used by %s", label, a.field, a.addr, other)
				continue
			}
			addrs[a.addr] = fmt.Sprintf("node %q", nd.Name)
		}
	}
	for _, role := range []string{RoleSwitch, RoleTPAP} {
		if c := roleCount[role]; c != 1 {
			fail("network needs exactly one %s node, has %d", role, c)
		}
	}
	if len(n.Nodes) > 0 && roleCount[RolePSP] == 0 {
		fail("network needs at least one psp node")
	}
	if len(n.Nodes) > 0 && roleCount[RoleBank] == 0 {
		fail("network needs at least one bank node")
	}

	vpas := map[string]string{}     // normalized VPA → label
	accounts := map[string]string{} // bank + "/" + account → label
	party := func(label, vpa, name, bank, account string, balance int64) {
		if err := ids.ValidateVPA(vpa); err != nil {
			fail("%s: %v", label, err)
		} else {
			if h := ids.HandleOf(vpa); handles[h] == "" {
				fail("%s: no PSP owns handle @%s", label, h)
			}
			key := ids.NormalizeVPA(vpa)
			if other, ok := vpas[key]; ok {
				fail("%s: VPA already used by %s", label, other)
			} else {
				vpas[key] = label
			}
		}
		if strings.TrimSpace(name) == "" {
			fail("%s: missing name", label)
		}
		if bank == "" {
			fail("%s: missing bank", label)
		} else if nd, ok := n.NodeByName(bank); !ok {
			fail("%s: bank %q is not a node of the network", label, bank)
		} else if nd.Role != RoleBank {
			fail("%s: node %q is a %s, not a bank", label, bank, nd.Role)
		}
		if err := validAccount(account); err != nil {
			fail("%s: %v", label, err)
		} else if key := bank + "/" + account; accounts[key] != "" {
			fail("%s: account %s at %s is already held by %s", label, account, bank, accounts[key])
		} else {
			accounts[key] = label
		}
		if balance < 0 {
			fail("%s: balance %s is negative", label, upi.FormatPaise(balance))
		}
	}
	for i := range n.Users {
		u := &n.Users[i]
		label := entryLabel("user", i, u.VPA)
		party(label, u.VPA, u.Name, u.Bank, u.Account, u.Balance)
		if err := ids.ValidatePIN(u.PIN); err != nil {
			fail("%s: %v", label, err)
		}
		if len(u.PINReset) > 64 {
			fail("%s: pin_reset is longer than 64 characters", label)
		}
		if u.Mobile != "" && (len(u.Mobile) != 10 || !digits(u.Mobile)) {
			fail("%s: mobile %q must be 10 digits", label, u.Mobile)
		}
	}
	for i := range n.Merchants {
		m := &n.Merchants[i]
		label := entryLabel("merchant", i, m.VPA)
		party(label, m.VPA, m.Name, m.Bank, m.Account, m.Balance)
		if len(m.MCC) != 4 || !digits(m.MCC) {
			fail("%s: mcc %q must be 4 digits", label, m.MCC)
		}
		if m.APIKey != "" && (len(m.APIKey) < 16 || strings.ContainsAny(m.APIKey, " \t\r\n")) {
			fail("%s: api_key must be at least 16 characters with no spaces", label)
		}
		if m.WebhookSecret != "" && !validWebhookSecret(m.WebhookSecret) {
			fail("%s: webhook_secret must be whsec_ and the base64 of 24 to 64 bytes", label)
		}
		if m.WebhookURL != "" {
			if u, err := url.Parse(m.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				fail("%s: webhook_url %q must be an http or https URL", label, m.WebhookURL)
			}
		}
		if m.OrderExpiry <= 0 {
			fail("%s: order_expiry must be greater than zero", label)
		}
	}

	if n.Merchant.HoldCapture <= 0 {
		fail("merchant.hold_capture must be greater than zero")
	}
	for i, d := range n.Merchant.WebhookRetry {
		if d <= 0 {
			fail("merchant.webhook_retry[%d] must be greater than zero", i)
		}
	}
	for i, d := range n.Merchant.RefundRetry {
		if d <= 0 {
			fail("merchant.refund_retry[%d] must be greater than zero", i)
		}
	}

	if n.Limits.PerTxn <= 0 {
		fail("limits.per_txn must be greater than zero")
	}
	errs = append(errs, n.validateThrottle()...)
	for _, d := range []struct {
		field string
		v     int64
	}{
		{"timeouts.auth_details", int64(n.Timeouts.AuthDetails)},
		{"timeouts.debit", int64(n.Timeouts.Debit)},
		{"timeouts.credit", int64(n.Timeouts.Credit)},
		{"timeouts.check_status", int64(n.Timeouts.CheckStatus)},
		{"timeouts.reversal", int64(n.Timeouts.Reversal)},
		{"timeouts.val_add", int64(n.Timeouts.ValAdd)},
	} {
		if d.v <= 0 {
			fail("%s must be greater than zero", d.field)
		}
	}
	if n.Timeouts.CollectExpiryMax < 0 {
		fail("timeouts.collect_expiry_max must not be negative (0 means no cap)")
	}
	if n.Heartbeat < 0 {
		fail("heartbeat must not be negative (0 turns heartbeats off)")
	}
	validateCircle(n.Circle, n.Limits.PerTxn, fail)
	validateLite(n.Lite, fail)
	if n.PIN.MaxTries < 1 || n.PIN.MaxTries > MaxPINTries {
		fail("pin.max_tries %d: want 1 to %d", n.PIN.MaxTries, MaxPINTries)
	}
	if n.PIN.LockFor <= 0 {
		fail("pin.lock_for must be greater than zero")
	}
	a := n.PIN
	switch {
	case a.HashTime < 1 || a.HashTime > 64:
		fail("pin.argon2id.time %d: want 1 to 64", a.HashTime)
	case a.HashThreads < 1 || a.HashThreads > 64:
		fail("pin.argon2id.threads %d: want 1 to 64", a.HashThreads)
	case a.HashMemoryKiB < 8*a.HashThreads || a.HashMemoryKiB > 1<<20:
		fail("pin.argon2id.memory_kib %d: want 8×threads to 1048576 (1 GiB)", a.HashMemoryKiB)
	}
	errs = append(errs, n.validateRules(names)...)
	errs = append(errs, n.HTTP.validate()...)
	return errors.Join(errs...)
}

// validate checks the http section: each origin is scheme://host[:port]
// with scheme http or https and nothing else; each host a bare host name
// or IP address, without scheme or port.
func (h *HTTP) validate() []error {
	var errs []error
	for i, o := range h.AllowedOrigins {
		u, err := url.Parse(o)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("http.allowed_origins[%d]: %q: %v", i, o, err))
		case u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.User != nil,
			u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "", u.Opaque != "":
			errs = append(errs, fmt.Errorf("http.allowed_origins[%d]: %q is not an origin: want scheme://host[:port], e.g. http://localhost:3000", i, o))
		}
	}
	for i, host := range h.AllowedHosts {
		if net.ParseIP(host) != nil {
			continue
		}
		if len(host) == 0 || len(host) > 253 || strings.Trim(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") != "" ||
			strings.HasPrefix(host, ".") || strings.HasPrefix(host, "-") || strings.Contains(host, "..") {
			errs = append(errs, fmt.Errorf("http.allowed_hosts[%d]: %q is not a host name or IP address (no scheme or port)", i, host))
		}
	}
	return errs
}

// MaxPINTries is the largest pin.max_tries (simulations that try many
// wrong PINs on one account set it high).
const MaxPINTries = 1_000_000

// Bounds of a rule's faults.
const (
	// MaxRuleDelay is the longest delay a rule may set.
	MaxRuleDelay = time.Hour
	// MaxRuleCount is the most fail_sends or lose_acks a rule may set.
	MaxRuleCount = 100
)

// apiNames are the methods of every upi.v1 network service (ReqPay,
// RespPay, ...), which a rule's match.api may name.
var apiNames = sync.OnceValue(func() map[string]bool {
	out := map[string]bool{}
	svcs := upiv1.File_upi_v1_network_proto.Services()
	for i := range svcs.Len() {
		ms := svcs.Get(i).Methods()
		for j := range ms.Len() {
			out[strings.ToLower(string(ms.Get(j).Name()))] = true
		}
	}
	return out
})

// validateRules checks every rule; names is the set of node names,
// lowercased.
func (n *Network) validateRules(names map[string]bool) []error {
	var errs []error
	seen := map[string]bool{}
	for i, r := range n.Rules {
		label := fmt.Sprintf("rule %q", r.Name)
		switch {
		case r.Name == "":
			label = fmt.Sprintf("rule #%d", i+1)
		case strings.HasPrefix(r.Name, "#"): // unnamed in the file
			label = "rule " + r.Name
		}
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf(label+": "+format, args...))
		}
		if r.Name != "" {
			if seen[r.Name] {
				fail("duplicate rule name")
			}
			seen[r.Name] = true
		}
		if r.Node != "" && !names[strings.ToLower(r.Node)] {
			fail("node %q is not in the network", r.Node)
		}
		m := r.Match
		// "POST" is an HTTP delivery (a webhook, node.Ctx.Post): a send
		// rule's, and its peer is the URL's host.
		post := strings.EqualFold(m.API, "POST")
		if post && r.On != fault.OnSend {
			fail("match.api POST (an HTTP delivery) needs on: send")
		}
		if m.API != "" && !post && !apiNames()[strings.ToLower(m.API)] {
			fail("match.api %q is not a network message (e.g. ReqPay, RespPay, ReqAuthDetails, ReqChkTxn)", m.API)
		}
		if m.Type != "" {
			if _, ok := upiv1.Txn_Type_value[m.Type]; !ok || m.Type == upiv1.Txn_TYPE_UNSPECIFIED.String() {
				fail("match.type %q is not a txn type (e.g. PAY, COLLECT, DEBIT, CREDIT, REVERSAL)", m.Type)
			}
		}
		for _, v := range []struct{ field, vpa string }{{"vpa", m.VPA}, {"payer", m.Payer}, {"payee", m.Payee}} {
			if v.vpa == "" {
				continue
			}
			if err := ids.ValidateVPA(v.vpa); err != nil {
				fail("match.%s: %v", v.field, err)
			}
		}
		if m.Peer != "" && !names[strings.ToLower(m.Peer)] && !(post && strings.ContainsAny(m.Peer, ".:")) {
			fail("match.peer %q is not in the network (nor, with match.api POST, a URL's host)", m.Peer)
		}
		if m.MinAmount > 0 && m.MaxAmount > 0 && m.MinAmount > m.MaxAmount {
			fail("match.min_amount %s is above match.max_amount %s", upi.FormatPaise(m.MinAmount), upi.FormatPaise(m.MaxAmount))
		}
		f := r.Fault
		switch {
		case f.Delay < 0 || f.Delay > MaxRuleDelay:
			fail("delay must be between 0 and %s", MaxRuleDelay)
		case f.FailSends < 0 || f.FailSends > MaxRuleCount:
			fail("fail_sends must be between 0 and %d", MaxRuleCount)
		case f.LoseAcks < 0 || f.LoseAcks > MaxRuleCount:
			fail("lose_acks must be between 0 and %d", MaxRuleCount)
		}
		switch r.On {
		case fault.OnReceive:
		case fault.OnSend:
			if r.Decline != "" || r.Ignore {
				fail("decline and ignore act on received messages: leave out on: send")
			}
		default:
			fail("on must be %q or %q, not %q", fault.OnReceive, fault.OnSend, r.On)
		}
		if r.Decline != "" {
			if !validCode(r.Decline) {
				fail("decline %q is not an NPCI code (2 or 3 uppercase letters or digits, e.g. U31)", r.Decline)
			}
			switch strings.ToLower(m.API) {
			case "reqpay", "reqauthdetails", "reqmandate", "reqdelegateadd":
			default:
				fail("decline needs match.api ReqPay (at a bank or the switch), ReqAuthDetails (at a PSP), ReqMandate (at a bank or the switch) or ReqDelegateAdd (an invite, at PSP(S))")
			}
		}
		if r.Ignore && (r.Decline != "" || !f.IsZero()) {
			fail("ignore leaves the message unprocessed: it takes no decline, drop, delay, fail_sends, lose_acks or duplicate")
		}
		if r.Decline == "" && !r.Ignore && f.IsZero() {
			fail("does nothing: give decline, ignore, drop, delay, fail_sends, lose_acks or duplicate")
		}
	}
	return errs
}

// validCode reports whether s looks like an NPCI response code.
func validCode(s string) bool {
	if len(s) < 2 || len(s) > 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// ValidateIFSC checks an IFSC: 11 characters, four letters A–Z, a '0', then
// six letters A–Z or digits.
func ValidateIFSC(ifsc string) error {
	if ifsc == "" {
		return errors.New("missing ifsc")
	}
	ok := len(ifsc) == 11 && ifsc[4] == '0'
	for i := 0; ok && i < 11; i++ {
		c := ifsc[i]
		upper := c >= 'A' && c <= 'Z'
		digit := c >= '0' && c <= '9'
		switch {
		case i < 4:
			ok = upper
		case i > 4:
			ok = upper || digit
		}
	}
	if !ok {
		return fmt.Errorf("invalid IFSC %q: want 4 letters, '0', then 6 letters or digits (e.g. ABNK0000001)", ifsc)
	}
	return nil
}

func validNodeName(name string) error {
	if name == "" {
		return errors.New("missing name")
	}
	if len(name) > MaxNodeName {
		return fmt.Errorf("name longer than %d characters", MaxNodeName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return errors.New("name may contain only letters, digits, '-' and '_'")
		}
	}
	return nil
}

func validAccount(account string) error {
	if account == "" {
		return errors.New("missing account")
	}
	if len(account) > 32 {
		return fmt.Errorf("account %q longer than 32 characters", account)
	}
	for i := 0; i < len(account); i++ {
		c := account[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return fmt.Errorf("account %q may contain only letters and digits", account)
		}
	}
	return nil
}

// validAddr checks host:port and returns the port.
func validAddr(addr string) (int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("invalid address %q: want host:port", addr)
	}
	if host == "" {
		return 0, fmt.Errorf("invalid address %q: missing host (use 127.0.0.1)", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("invalid address %q: port must be 0 to 65535", addr)
	}
	return p, nil
}

// loopbackAddr reports whether the host of addr (a valid host:port) is a
// loopback address: in 127.0.0.0/8, ::1, or the name localhost. A REST
// gateway, and a node without TLS, must not listen beyond this machine; a
// node's gRPC port with mutual TLS may (nodes on many hosts, `upisim pki`).
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// The bounds of limits.throttle.
const (
	MaxThrottleTPS   = 1_000_000
	MaxThrottleBurst = 1_000_000
)

// validateThrottle checks limits.throttle: each entry names a node that
// sends the switch requests (not a switch), with a rate above zero and a
// burst of at least one request.
func (n *Network) validateThrottle() []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	roles := n.RolesByName()
	for _, name := range slices.Sorted(maps.Keys(n.Limits.Throttle)) {
		th := n.Limits.Throttle[name]
		field := "limits.throttle." + name
		switch role, ok := roles[name]; {
		case !ok:
			fail("%s: no node %q in nodes", field, name)
		case role == RoleSwitch:
			fail("%s: %s is a switch; the switch throttles the nodes that send it requests", field, name)
		}
		if !(th.TPS > 0 && th.TPS <= MaxThrottleTPS) { // also NaN
			fail("%s.tps %v: want more than 0 and at most %d requests a second", field, th.TPS, MaxThrottleTPS)
		}
		if th.Burst < 1 || th.Burst > MaxThrottleBurst {
			fail("%s.burst %d: want 1 to %d requests", field, th.Burst, MaxThrottleBurst)
		}
	}
	return errs
}

// MaxSecondaries is the largest circle.max_secondaries.
const MaxSecondaries = 100

// validateCircle checks the circle section: positive limits, a per-payment
// limit no larger than the month's or the network's per_txn, a month that
// is calendar or rolling, durations positive.
func validateCircle(c Circle, perTxn int64, fail func(string, ...any)) {
	if c.FullPerTxn <= 0 {
		fail("circle.full.per_txn_limit must be greater than zero")
	} else if c.FullPerTxn > c.FullMonthly {
		fail("circle.full.per_txn_limit %s is more than circle.full.monthly_limit %s", upi.FormatPaise(c.FullPerTxn), upi.FormatPaise(c.FullMonthly))
	} else if perTxn > 0 && c.FullPerTxn > perTxn {
		fail("circle.full.per_txn_limit %s is more than limits.per_txn %s", upi.FormatPaise(c.FullPerTxn), upi.FormatPaise(perTxn))
	}
	if c.FullMonthly <= 0 {
		fail("circle.full.monthly_limit must be greater than zero")
	}
	if c.CoolingLimit <= 0 {
		fail("circle.cooling_limit must be greater than zero")
	}
	if c.Cooling < 0 {
		fail("circle.cooling must not be negative (0: no cooling period)")
	}
	switch c.Month {
	case CircleCalendar, CircleRolling:
	default:
		fail("circle.month %q: want %s or %s", c.Month, CircleCalendar, CircleRolling)
	}
	if c.MaxSecondaries < 1 || c.MaxSecondaries > MaxSecondaries {
		fail("circle.max_secondaries %d: want 1 to %d", c.MaxSecondaries, MaxSecondaries)
	}
	if c.InviteExpiry <= 0 {
		fail("circle.invite_expiry must be greater than zero")
	}
	if c.ApprovalExpiry <= 0 {
		fail("circle.approval_expiry must be greater than zero")
	}
}

// validWebhookSecret: "whsec_" and the standard base64 of 24 to 64 bytes
// (Standard Webhooks' symmetric secret).
func validWebhookSecret(s string) bool {
	b64, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return false
	}
	k, err := base64.StdEncoding.DecodeString(b64)
	return err == nil && len(k) >= 24 && len(k) <= 64
}

// validateLite checks the lite section: profiles in date order with
// positive limits (a payment at most the balance), a pinned profile that
// exists, and positive offline rules.
func validateLite(l Lite, fail func(string, ...any)) {
	for j, p := range l.Profiles {
		if p.PerTxn <= 0 || p.Balance <= 0 {
			fail("lite.profiles[%d]: per_txn and balance must be above zero", j)
		}
		if p.PerTxn > p.Balance {
			fail("lite.profiles[%d]: per_txn %s is above the balance %s", j, upi.FormatPaise(p.PerTxn), upi.FormatPaise(p.Balance))
		}
		if j > 0 && !p.From.After(l.Profiles[j-1].From) {
			fail("lite.profiles[%d]: from %s is not after the profile before it", j, p.From.Format(time.DateOnly))
		}
	}
	if l.Pin != "" && !slices.ContainsFunc(l.Profiles, func(p LiteProfile) bool { return p.From.Format(time.DateOnly) == l.Pin }) {
		fail("lite.profile %q: no profile has that from date", l.Pin)
	}
	if l.OfflinePerTxn <= 0 {
		fail("lite.offline_per_txn must be above zero")
	}
	if l.OfflineCount <= 0 {
		fail("lite.offline_count must be above zero")
	}
	if l.SyncDeadline <= 0 || l.SyncAnswer <= 0 {
		fail("lite.sync_deadline and lite.sync_answer must be above zero")
	}
	if l.ReconEvery < time.Minute {
		fail("lite.recon_every must be at least 1m, not %s", l.ReconEvery)
	}
	if l.AutoTopUpPerDay < 0 {
		fail("lite.auto_topup_per_day must not be negative")
	}
}
