package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/fault"
)

func TestDefault(t *testing.T) {
	n := Default()
	require.NoError(t, n.Validate())
	assert.Equal(t, "default", n.Name)

	var names []string
	for _, nd := range n.Nodes {
		names = append(names, nd.Name)
	}
	assert.Equal(t, []string{"tpap", "alphapsp", "betapsp", "npci", "abank", "bbank"}, names)

	assert.Equal(t, "tpap", n.TPAP().Name)
	assert.Equal(t, "TPA", n.TPAP().Prefix)
	assert.Equal(t, "npci", n.Switch().Name)
	assert.Equal(t, "NPC", n.Switch().Prefix)

	alpha, ok := n.PSPForHandle("alpha")
	require.True(t, ok)
	assert.Equal(t, "alphapsp", alpha.Name)
	assert.Equal(t, "ALP", alpha.Prefix)
	beta, ok := n.PSPForHandle("@BETA")
	require.True(t, ok)
	assert.Equal(t, "betapsp", beta.Name)
	_, ok = n.PSPForHandle("gamma")
	assert.False(t, ok)

	abank, ok := n.BankForIFSC("ABNK0000001")
	require.True(t, ok)
	assert.Equal(t, "abank", abank.Name)
	bbank, ok := n.BankForIFSC("bbnk0000001")
	require.True(t, ok)
	assert.Equal(t, "bbank", bbank.Name)

	require.Len(t, n.Users, 3+len(magicPayees)+len(circleUsers))
	for i, vpa := range magicPayees {
		assert.Equal(t, vpa, n.Users[3+i].VPA)
		assert.Equal(t, "bbank", n.Users[3+i].Bank)
		assert.Zero(t, n.Users[3+i].Balance)
	}
	for i, u := range circleUsers {
		got := n.Users[3+len(magicPayees)+i]
		assert.Equal(t, u.vpa, got.VPA)
		assert.Equal(t, u.bank, got.Bank)
		assert.Equal(t, "1234", got.PIN)
		assert.Zero(t, got.Balance)
	}
	alice := n.Users[0]
	assert.Equal(t, User{VPA: "alice@alpha", Name: "Alice", Bank: "abank", Account: "1000000001",
		Balance: 1_000_000, PIN: "1234", Mobile: "9800000001"}, alice)
	assert.EqualValues(t, 500_000, n.Users[1].Balance)
	assert.EqualValues(t, 100_000, n.Users[2].Balance)
	require.Len(t, n.Merchants, 3) // chai@beta and the magic deemedshop@beta, lostshop@beta
	assert.Equal(t, Merchant{VPA: "chai@beta", Name: "Chai Point", MCC: "5812", Bank: "bbank",
		Account: "2000000003", Balance: 0, APIKey: "sk_test_chai_4f9b2c7e1d8a",
		WebhookSecret: "whsec_YNAghTrVAgz/F3KkGjlLf+19MBSMKoD14ipegZP7ZTs=", AutoRetry: true, OrderExpiry: 15 * time.Minute,
		LiteDevices: []string{"chai-pos"}}, n.Merchants[0])
	assert.Equal(t, 120*time.Hour, n.Merchant.HoldCapture)
	assert.Equal(t, []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour,
		10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour}, n.Merchant.WebhookRetry)
	assert.Equal(t, []time.Duration{time.Second, 10 * time.Second, time.Minute, 10 * time.Minute, time.Hour}, n.Merchant.RefundRetry)

	assert.EqualValues(t, 10_000_000, n.Limits.PerTxn)
	assert.Equal(t, Timeouts{
		AuthDetails: 15 * time.Second, Debit: 15 * time.Second, Credit: 15 * time.Second, CheckStatus: 10 * time.Second,
		Reversal: 10 * time.Second, ValAdd: 10 * time.Second, CollectExpiryMax: 0,
	}, n.Timeouts)
	assert.Equal(t, 30*time.Second, n.Heartbeat)

	var rules []string
	for _, r := range n.Rules {
		rules = append(rules, r.Name)
	}
	assert.Equal(t, []string{"creditfail", "deemed", "lost", "slowdebit", "twice", "declines", "silent", "nomandate", "deemedshop", "lostshop"}, rules)
	assert.Equal(t, fault.Rule{
		Name: "creditfail", Node: "bbank", On: fault.OnReceive, Decline: "U31",
		Match: fault.Match{API: "ReqPay", Type: "CREDIT", Payee: "creditfail@beta"},
	}, n.Rules[0])
	assert.Equal(t, fault.Rule{
		Name: "slowdebit", On: fault.OnReceive, Fault: fault.Fault{Delay: 20 * time.Second},
		Match: fault.Match{API: "ReqPay", Type: "DEBIT", Payee: "slowdebit@beta"},
	}, n.Rules[3])
}

// magicPayees are the default network's users after alice, bob and carol.
var magicPayees = []string{"creditfail@beta", "deemed@beta", "lost@beta", "slowdebit@beta", "twice@beta"}

// circleUsers are the default network's magic users of UPI Circle, after
// the magic payees.
var circleUsers = []struct{ vpa, bank string }{{"declines@beta", "bbank"}, {"silent@beta", "bbank"}, {"nomandate@alpha", "abank"}}

func TestDefaultIsACopy(t *testing.T) {
	a := Default()
	a.Nodes[1].Handles[0] = "zzz"
	a.Users[0].Balance = 1
	a.AssignAddrs(7000)
	b := Default()
	assert.Equal(t, "alpha", b.Nodes[1].Handles[0])
	assert.EqualValues(t, 1_000_000, b.Users[0].Balance)
	assert.Empty(t, b.Nodes[0].HTTPAddr)
}

func TestLookups(t *testing.T) {
	n := Default()
	nd, ok := n.NodeByName("bbank")
	require.True(t, ok)
	assert.Equal(t, RoleBank, nd.Role)
	_, ok = n.NodeByName("nope")
	assert.False(t, ok)

	var psps []string
	for _, p := range n.NodesByRole(RolePSP) {
		psps = append(psps, p.Name)
	}
	assert.Equal(t, []string{"alphapsp", "betapsp"}, psps)
	assert.Empty(t, n.NodesByRole("nope"))

	vpas := func(us []*User) (out []string) {
		for _, u := range us {
			out = append(out, u.VPA)
		}
		return out
	}
	assert.Equal(t, []string{"alice@alpha", "nomandate@alpha"}, vpas(n.UsersOfPSP("alphapsp")))
	assert.Equal(t, append(append([]string{"bob@beta", "carol@beta"}, magicPayees...), "declines@beta", "silent@beta"), vpas(n.UsersOfPSP("betapsp")))
	assert.Empty(t, n.UsersOfPSP("npci"))
	ms := n.MerchantsOfPSP("betapsp")
	require.Len(t, ms, 3)
	assert.Equal(t, []string{"chai@beta", "deemedshop@beta", "lostshop@beta"}, []string{ms[0].VPA, ms[1].VPA, ms[2].VPA})
	assert.Empty(t, n.MerchantsOfPSP("alphapsp"))

	p, ok := n.PSPForVPA("Bob@Beta")
	require.True(t, ok)
	assert.Equal(t, "betapsp", p.Name)
	_, ok = n.PSPForVPA("bob")
	assert.False(t, ok)

	accs := n.AccountsOfBank("bbank")
	require.Len(t, accs, 3+len(magicPayees)+2+2) // and declines@beta, silent@beta, deemedshop@beta, lostshop@beta
	assert.Equal(t, Account{Bank: "bbank", IFSC: "BBNK0000001", Number: "2000000001", VPA: "bob@beta",
		Name: "Bob", Balance: 500_000, PIN: "1234"}, accs[0])
	assert.Equal(t, Account{Bank: "bbank", IFSC: "BBNK0000001", Number: "2000000003", VPA: "chai@beta",
		Name: "Chai Point", Merchant: true, MCC: "5812"}, accs[len(accs)-3])
	assert.Len(t, n.AccountsOfBank("abank"), 2) // alice@alpha, nomandate@alpha
	assert.Empty(t, n.AccountsOfBank("npci"))

	// Lookups return pointers into the network.
	n.UsersOfPSP("alphapsp")[0].Balance = 42
	assert.EqualValues(t, 42, n.Users[0].Balance)
}

func TestParseFillsDefaults(t *testing.T) {
	n, err := Parse([]byte(`
nodes:
  - {name: app, role: tpap}
  - {name: gpsp, role: psp, handles: [Gamma, delta]}
  - {name: sw, role: switch, prefix: NPC}
  - {name: cbank, role: bank, ifsc: cbnk0000001}
users:
  - {vpa: dan@gamma, name: Dan, bank: cbank, account: 1, balance: 100, pin: 123456}
timeouts:
  debit: 2s
  collect_expiry_max: 500ms
`))
	require.NoError(t, err)
	assert.Equal(t, "default", n.Name)
	assert.Equal(t, []string{"gamma", "delta"}, n.Nodes[1].Handles, "handles lowercased")
	assert.Equal(t, "CBNK0000001", n.Nodes[3].IFSC, "IFSC uppercased")
	assert.Equal(t, "GPS", n.Nodes[1].Prefix)
	assert.Equal(t, "NPC", n.Nodes[2].Prefix)
	assert.Equal(t, "1", n.Users[0].Account)
	assert.EqualValues(t, 10_000, n.Users[0].Balance)
	assert.Equal(t, "123456", n.Users[0].PIN)
	assert.Empty(t, n.Merchants)

	def := Default()
	assert.Equal(t, def.Limits, n.Limits)
	assert.Equal(t, def.Heartbeat, n.Heartbeat)
	assert.Equal(t, 2*time.Second, n.Timeouts.Debit)
	assert.Equal(t, 500*time.Millisecond, n.Timeouts.CollectExpiryMax)
	assert.Equal(t, def.Timeouts.Credit, n.Timeouts.Credit)
	assert.Equal(t, def.Timeouts.ValAdd, n.Timeouts.ValAdd)
}

func TestParseDurations(t *testing.T) {
	base := string(DefaultYAML())
	base = base[:strings.Index(base, "timeouts:")]
	tests := []struct {
		yaml string
		want Timeouts
		hb   time.Duration
		err  string
	}{
		{yaml: "timeouts: {auth_details: 3s, debit: 500ms, credit: 1m30s, check_status: 1h, reversal: 2s, val_add: 250us, collect_expiry_max: 0}\nheartbeat: 0s",
			want: Timeouts{AuthDetails: 3 * time.Second, Debit: 500 * time.Millisecond, Credit: 90 * time.Second, CheckStatus: time.Hour,
				Reversal: 2 * time.Second, ValAdd: 250 * time.Microsecond}},
		{yaml: "heartbeat: 15", err: `heartbeat: invalid duration "15" (want e.g. 15s or 500ms)`},
		{yaml: "timeouts: {debit: soon}", err: `timeouts.debit: invalid duration "soon"`},
		{yaml: "timeouts: {credit: 0s}", err: "timeouts.credit must be greater than zero"},
		{yaml: "timeouts: {reversal: -1s}", err: "timeouts.reversal must be greater than zero"},
		{yaml: "timeouts: {collect_expiry_max: -1s}", err: "timeouts.collect_expiry_max must not be negative"},
		{yaml: "heartbeat: -5s", err: "heartbeat must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			n, err := Parse([]byte(base + tt.yaml))
			if tt.err != "" {
				assert.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, n.Timeouts)
			assert.Equal(t, tt.hb, n.Heartbeat)
		})
	}
}

func TestParseErrors(t *testing.T) {
	withNodes := func(rest string) string {
		return "nodes:\n  - {name: tpap, role: tpap}\n  - {name: p, role: psp, handles: [h]}\n" +
			"  - {name: npci, role: switch}\n  - {name: b, role: bank, ifsc: ABNK0000001}\n" + rest
	}
	tests := []struct {
		name, yaml, err string
	}{
		{"empty file", "", "network has no nodes"},
		{"unknown field", "nodez: []", "field nodez not found"},
		{"unknown node field", "nodes: [{name: a, role: tpap, colour: red}]", "field colour not found"},
		{"not yaml", "nodes: [", "did not find expected"},
		{"bad user balance", withNodes("users: [{vpa: a@h, name: A, bank: b, account: '1', balance: lots, pin: '1234'}]"),
			`user "a@h": balance: amount is not a number: "lots"`},
		{"negative balance", withNodes("users: [{vpa: a@h, name: A, bank: b, account: '1', balance: '-1', pin: '1234'}]"),
			`user "a@h": balance: amount must not be negative`},
		{"missing balance", withNodes("merchants: [{vpa: m@h, name: M, mcc: '5812', bank: b, account: '1'}]"),
			`merchant "m@h": balance: missing amount`},
		{"three decimals", withNodes("merchants: [{vpa: m@h, name: M, mcc: '5812', bank: b, account: '1', balance: '1.001'}]"),
			`merchant "m@h": balance: amount has more than two decimal places`},
		{"zero limit", withNodes("limits: {per_txn: '0'}"), "limits.per_txn: amount must be greater than zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			assert.ErrorContains(t, err, tt.err)
		})
	}
	// A zero balance is fine.
	_, err := Parse([]byte(withNodes("users: [{vpa: a@h, name: A, bank: b, account: '1', balance: '0', pin: '1234'}]")))
	assert.NoError(t, err)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(n *Network)
		err    string
	}{
		{"no name", func(n *Network) { n.Name = "" }, "network: missing name"},
		{"no nodes", func(n *Network) { n.Nodes = nil; n.Users = nil; n.Merchants = nil }, "network has no nodes"},
		{"two switches", func(n *Network) { n.Nodes = append(n.Nodes, Node{Name: "npci2", Role: RoleSwitch, Prefix: "NPD"}) },
			"network needs exactly one switch node, has 2"},
		{"no switch", func(n *Network) { n.Nodes = deleteNode(n.Nodes, "npci") }, "network needs exactly one switch node, has 0"},
		{"two tpaps", func(n *Network) { n.Nodes = append(n.Nodes, Node{Name: "tpap2", Role: RoleTPAP, Prefix: "TPB"}) },
			"network needs exactly one tpap node, has 2"},
		{"no tpap", func(n *Network) { n.Nodes = deleteNode(n.Nodes, "tpap") }, "network needs exactly one tpap node, has 0"},
		{"duplicate node name", func(n *Network) { n.Nodes[5].Name = "ABank" }, `node "ABank": duplicate node name`},
		{"missing node name", func(n *Network) { n.Nodes[0].Name = "" }, "node #1: missing name"},
		{"bad node name", func(n *Network) { n.Nodes[0].Name = "my app" }, `node "my app": name may contain only`},
		{"long node name", func(n *Network) { n.Nodes[0].Name = strings.Repeat("a", 33) }, "name longer than 32"},
		{"unknown role", func(n *Network) { n.Nodes[0].Role = "wallet" }, `node "tpap": unknown role "wallet"`},
		{"missing role", func(n *Network) { n.Nodes[0].Role = "" }, `node "tpap": missing role`},
		{"bad prefix", func(n *Network) { n.Nodes[0].Prefix = "tp" }, `node "tpap": invalid prefix "tp"`},
		{"psp without handle", func(n *Network) { n.Nodes[1].Handles = nil }, `node "alphapsp": a PSP needs at least one handle`},
		{"duplicate handle", func(n *Network) { n.Nodes[2].Handles = append(n.Nodes[2].Handles, "Alpha") },
			`node "betapsp": handle "Alpha" is already owned by node "alphapsp"`},
		{"bad handle", func(n *Network) { n.Nodes[2].Handles = []string{"be.ta"} }, `node "betapsp": handle "be.ta" may contain only`},
		{"handle on bank", func(n *Network) { n.Nodes[4].Handles = []string{"abank"} }, `node "abank": only a PSP has handles`},
		{"bank without IFSC", func(n *Network) { n.Nodes[4].IFSC = "" }, `node "abank": missing ifsc`},
		{"short IFSC", func(n *Network) { n.Nodes[4].IFSC = "ABNK000001" }, `node "abank": invalid IFSC "ABNK000001"`},
		{"IFSC fifth not zero", func(n *Network) { n.Nodes[4].IFSC = "ABNK1000001" }, `invalid IFSC "ABNK1000001"`},
		{"IFSC digits in bank code", func(n *Network) { n.Nodes[4].IFSC = "AB1K0000001" }, `invalid IFSC "AB1K0000001"`},
		{"IFSC lowercase branch", func(n *Network) { n.Nodes[4].IFSC = "ABNK00000a1" }, `invalid IFSC`},
		{"duplicate IFSC", func(n *Network) { n.Nodes[5].IFSC = "ABNK0000001" }, `node "bbank": IFSC ABNK0000001 is already used by node "abank"`},
		{"IFSC on psp", func(n *Network) { n.Nodes[1].IFSC = "ABNK0000009" }, `node "alphapsp": only a bank has an IFSC`},
		{"no psp", func(n *Network) {
			n.Nodes = deleteNode(deleteNode(n.Nodes, "alphapsp"), "betapsp")
			n.Users, n.Merchants = nil, nil
		}, "network needs at least one psp node"},
		{"no bank", func(n *Network) {
			n.Nodes = deleteNode(deleteNode(n.Nodes, "abank"), "bbank")
			n.Users, n.Merchants = nil, nil
		}, "network needs at least one bank node"},
		{"bad addr", func(n *Network) { n.Nodes[0].HTTPAddr = "localhost" }, `node "tpap": http_addr: invalid address "localhost": want host:port`},
		{"bad port", func(n *Network) { n.Nodes[0].GRPCAddr = "127.0.0.1:99999" }, `node "tpap": grpc_addr: invalid address "127.0.0.1:99999": port`},
		{"no host", func(n *Network) { n.Nodes[0].GRPCAddr = ":8080" }, "missing host"},
		{"every interface", func(n *Network) { n.Nodes[0].HTTPAddr = "0.0.0.0:8080" },
			`node "tpap": http_addr 0.0.0.0:8080 is not a loopback address: the REST gateway is plain HTTP for the local user (PINs travel in it), so it listens on this machine only (use 127.0.0.1)`},
		{"every IPv6 interface, tls off", func(n *Network) { n.TLS = TLSOff; n.Nodes[0].GRPCAddr = "[::]:8080" }, `grpc_addr [::]:8080 is not a loopback address, and tls is off`},
		{"LAN address, tls off", func(n *Network) { n.TLS = TLSOff; n.Nodes[3].GRPCAddr = "192.168.1.20:8080" },
			`node "npci": grpc_addr 192.168.1.20:8080 is not a loopback address, and tls is off: a plaintext node trusts whatever reaches its port, so nodes on other hosts need TLS`},
		{"host name, tls off", func(n *Network) { n.TLS = TLSOff; n.Nodes[3].GRPCAddr = "switch.example:8080" }, `grpc_addr switch.example:8080 is not a loopback address, and tls is off`},
		{"LAN REST address", func(n *Network) { n.Nodes[3].HTTPAddr = "192.168.1.20:8080" }, `node "npci": http_addr 192.168.1.20:8080 is not a loopback address`},
		{"duplicate addr", func(n *Network) { n.Nodes[0].HTTPAddr = "127.0.0.1:7000"; n.Nodes[3].GRPCAddr = "127.0.0.1:7000" },
			`node "npci": grpc_addr 127.0.0.1:7000 is already used by node "tpap"`},
		{"invalid VPA", func(n *Network) { n.Users[1].VPA = "bob" }, `user "bob": invalid VPA "bob": want name@handle`},
		{"missing VPA", func(n *Network) { n.Users[1].VPA = "" }, "user #2: missing VPA"},
		{"unowned handle", func(n *Network) { n.Users[1].VPA = "bob@gamma" }, `user "bob@gamma": no PSP owns handle @gamma`},
		{"duplicate VPA", func(n *Network) { n.Users[2].VPA = "BOB@beta" }, `user "BOB@beta": VPA already used by user "bob@beta"`},
		{"merchant VPA taken by user", func(n *Network) { n.Merchants[0].VPA = "carol@beta" },
			`merchant "carol@beta": VPA already used by user "carol@beta"`},
		{"missing user name", func(n *Network) { n.Users[0].Name = " " }, `user "alice@alpha": missing name`},
		{"missing bank", func(n *Network) { n.Users[0].Bank = "" }, `user "alice@alpha": missing bank`},
		{"unknown bank", func(n *Network) { n.Users[0].Bank = "cbank" }, `user "alice@alpha": bank "cbank" is not a node of the network`},
		{"bank is not a bank", func(n *Network) { n.Merchants[0].Bank = "betapsp" }, `merchant "chai@beta": node "betapsp" is a psp, not a bank`},
		{"missing account", func(n *Network) { n.Users[0].Account = "" }, `user "alice@alpha": missing account`},
		{"bad account", func(n *Network) { n.Users[0].Account = "12-34" }, `account "12-34" may contain only letters and digits`},
		{"duplicate account", func(n *Network) { n.Merchants[0].Account = "2000000001" },
			`merchant "chai@beta": account 2000000001 at bbank is already held by user "bob@beta"`},
		{"negative balance", func(n *Network) { n.Users[0].Balance = -100 }, `user "alice@alpha": balance -1.00 is negative`},
		{"missing PIN", func(n *Network) { n.Users[0].PIN = "" }, `user "alice@alpha": missing PIN`},
		{"bad PIN", func(n *Network) { n.Users[0].PIN = "12345" }, `user "alice@alpha": PIN must be 4 or 6 digits`},
		{"bad mobile", func(n *Network) { n.Users[0].Mobile = "98000" }, `user "alice@alpha": mobile "98000" must be 10 digits`},
		{"bad MCC", func(n *Network) { n.Merchants[0].MCC = "58a2" }, `merchant "chai@beta": mcc "58a2" must be 4 digits`},
		{"missing MCC", func(n *Network) { n.Merchants[0].MCC = "" }, `merchant "chai@beta": mcc "" must be 4 digits`},
		{"zero per_txn", func(n *Network) { n.Limits.PerTxn = 0 }, "limits.per_txn must be greater than zero"},
		{"zero debit", func(n *Network) { n.Timeouts.Debit = 0 }, "timeouts.debit must be greater than zero"},
		{"zero check_status", func(n *Network) { n.Timeouts.CheckStatus = 0 }, "timeouts.check_status must be greater than zero"},
		{"zero val_add", func(n *Network) { n.Timeouts.ValAdd = 0 }, "timeouts.val_add must be greater than zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := Default()
			tt.mutate(n)
			assert.ErrorContains(t, n.Validate(), tt.err)
		})
	}
}

// With mutual TLS (the default) a node's gRPC port may listen on another
// host's address: nodes on many hosts, with certificates from `upisim pki
// init --host`.
func TestValidateAcceptsOtherHostsWithTLS(t *testing.T) {
	for _, addr := range []string{"192.168.1.20:8080", "switch.example:8080", "[::]:8080"} {
		n := Default()
		n.Nodes[3].GRPCAddr = addr
		assert.NoError(t, n.Validate(), addr)
	}
}

// A REST gateway, and a node without TLS, may listen only on loopback
// addresses, in any of their spellings.
func TestValidateAcceptsLoopbackAddresses(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:8080", "127.3.4.5:8080", "[::1]:8080", "localhost:8080", "LocalHost:8080", "127.0.0.1:0"} {
		t.Run(addr, func(t *testing.T) {
			n := Default()
			n.Nodes[0].HTTPAddr = addr
			assert.NoError(t, n.Validate())
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	n := Default()
	n.Users[0].PIN = "1"
	n.Merchants[0].MCC = "x"
	err := n.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `user "alice@alpha": PIN must be 4 or 6 digits`)
	assert.Contains(t, err.Error(), `merchant "chai@beta": mcc "x" must be 4 digits`)
}

func deleteNode(nodes []Node, name string) []Node {
	var out []Node
	for _, nd := range nodes {
		if nd.Name != name {
			out = append(out, nd)
		}
	}
	return out
}

func TestAssignAddrs(t *testing.T) {
	n := Default()
	n.Nodes[4].HTTPAddr = "127.0.0.1:9999" // abank keeps its own HTTP address
	n.AssignAddrs(7000)
	want := map[string][2]string{
		"tpap":     {"127.0.0.1:7000", "127.0.0.1:7100"},
		"alphapsp": {"127.0.0.1:7001", "127.0.0.1:7101"},
		"betapsp":  {"127.0.0.1:7002", "127.0.0.1:7102"},
		"npci":     {"127.0.0.1:7003", "127.0.0.1:7103"},
		"abank":    {"127.0.0.1:9999", "127.0.0.1:7104"},
		"bbank":    {"127.0.0.1:7005", "127.0.0.1:7105"},
	}
	for _, nd := range n.Nodes {
		assert.Equal(t, want[nd.Name], [2]string{nd.HTTPAddr, nd.GRPCAddr}, nd.Name)
	}
	require.NoError(t, n.Validate())

	// Assigning again changes nothing.
	before := n.Clone()
	n.AssignAddrs(8000)
	assert.Equal(t, before, n)
}

func TestAssignAddrsTPAPFirst(t *testing.T) {
	n := Default()
	n.Nodes[0], n.Nodes[3] = n.Nodes[3], n.Nodes[0] // npci first, tpap fourth
	n.AssignAddrs(7000)
	tp := n.TPAP()
	assert.Equal(t, "127.0.0.1:7000", tp.HTTPAddr, "--port-base puts the TPAP REST API on N")
	assert.Equal(t, "127.0.0.1:7100", tp.GRPCAddr)
	sw := n.Switch()
	assert.Equal(t, "127.0.0.1:7001", sw.HTTPAddr)
	assert.Equal(t, "127.0.0.1:7101", sw.GRPCAddr)
}

func TestAssignAddrsOSChosen(t *testing.T) {
	n := Default()
	n.AssignAddrs(0)
	for _, nd := range n.Nodes {
		assert.Equal(t, "127.0.0.1:0", nd.HTTPAddr, nd.Name)
		assert.Equal(t, "127.0.0.1:0", nd.GRPCAddr, nd.Name)
	}
	require.NoError(t, n.Validate(), "port 0 is never a clash")
}

func TestMarshalRoundTrip(t *testing.T) {
	n := Default()
	n.Timeouts.CollectExpiryMax = 500 * time.Millisecond
	n.Users[0].Balance = 12_345
	n.AssignAddrs(7000)
	data, err := n.Marshal()
	require.NoError(t, err)
	got, err := Parse(data)
	require.NoError(t, err, string(data))
	assert.Equal(t, n, got)
	assert.Contains(t, string(data), `balance: "123.45"`)
	assert.Contains(t, string(data), "collect_expiry_max: 500ms")
}

func TestLoad(t *testing.T) {
	n, err := Load("")
	require.NoError(t, err)
	assert.Equal(t, Default(), n)

	dir := t.TempDir()
	path := filepath.Join(dir, "net.yaml")
	require.NoError(t, os.WriteFile(path, DefaultYAML(), 0o644))
	n, err = Load(path)
	require.NoError(t, err)
	assert.Equal(t, Default(), n)

	require.NoError(t, os.WriteFile(path, []byte("nodes: []\n"), 0o644))
	_, err = Load(path)
	assert.ErrorContains(t, err, "network file "+path+": network has no nodes")

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	assert.ErrorContains(t, err, "read network file")
}

func TestDirectoryRoundTrip(t *testing.T) {
	dir := t.TempDir()
	n := Default()
	n.AssignAddrs(7000)
	d := n.Directory()
	require.Len(t, d.Nodes, 6)
	assert.Equal(t, "default", d.Network)

	require.NoError(t, WriteDirectory(dir, d))
	got, err := ReadDirectory(dir)
	require.NoError(t, err)
	assert.Equal(t, d, *got)

	tp, ok := got.Node("tpap")
	require.True(t, ok)
	assert.Equal(t, "127.0.0.1:7000", tp.HTTPAddr)
	assert.Equal(t, "127.0.0.1:7100", tp.GRPCAddr)
	banks := got.ByRole(RoleBank)
	require.Len(t, banks, 2)
	assert.Equal(t, "ABNK0000001", banks[0].IFSC)
	_, ok = got.Node("nope")
	assert.False(t, ok)

	raw, err := os.ReadFile(filepath.Join(dir, DirectoryFile))
	require.NoError(t, err)
	for _, key := range []string{`"network"`, `"nodes"`, `"name"`, `"role"`, `"grpc_addr"`, `"http_addr"`, `"handles"`, `"ifsc"`} {
		assert.Contains(t, string(raw), key)
	}

	// Overwrite in place; no temporary files are left behind.
	d.Nodes[0].HTTPAddr = "127.0.0.1:7777"
	require.NoError(t, WriteDirectory(dir, d))
	got, err = ReadDirectory(dir)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:7777", got.Nodes[0].HTTPAddr)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, DirectoryFile, entries[0].Name())
}

func TestReadDirectoryErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadDirectory(dir)
	assert.EqualError(t, err, "no network.json in "+dir+": is `upisim up --data "+dir+"` running?")

	require.NoError(t, os.WriteFile(filepath.Join(dir, DirectoryFile), []byte("{"), 0o644))
	_, err = ReadDirectory(dir)
	assert.ErrorContains(t, err, DirectoryFile)

	require.NoError(t, os.WriteFile(filepath.Join(dir, DirectoryFile), []byte(`{"network":"x","nodes":[]}`), 0o644))
	_, err = ReadDirectory(dir)
	assert.ErrorContains(t, err, "no nodes")
}

func TestWriteDirectoryCreatesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "net")
	require.NoError(t, WriteDirectory(dir, Default().Directory()))
	_, err := ReadDirectory(dir)
	require.NoError(t, err)
}

func TestParseRules(t *testing.T) {
	nodes := "nodes:\n  - {name: tpap, role: tpap}\n  - {name: p, role: psp, handles: [h]}\n" +
		"  - {name: npci, role: switch}\n  - {name: b, role: bank, ifsc: ABNK0000001}\n"
	n, err := Parse([]byte(nodes))
	require.NoError(t, err)
	assert.Empty(t, n.Rules, "a network file does not take the default network's rules")

	n, err = Parse([]byte(nodes + `rules:
  - {name: slow, node: b, match: {api: ReqPay, type: debit, payee: x@h, min_amount: "1.00", max_amount: "2.50"}, delay: 3s}
  - {match: {api: RespPay, peer: npci}, on: send, lose_acks: 2, fail_sends: 1, duplicate: true}
  - {name: risk, node: npci, match: {api: ReqPay, vpa: y@h}, decline: U16}
  - {name: gone, match: {api: ReqAuthDetails}, ignore: true}
  - {name: mute, match: {api: ReqChkTxn}, drop: true}
  - {name: hooks, on: send, match: {api: POST, peer: "127.0.0.1:9000"}, duplicate: true}
`))
	require.NoError(t, err)
	assert.Equal(t, []fault.Rule{
		{Name: "slow", Node: "b", On: fault.OnReceive, Match: fault.Match{API: "ReqPay", Type: "DEBIT", Payee: "x@h", MinAmount: 100, MaxAmount: 250}, Fault: fault.Fault{Delay: 3 * time.Second}},
		{Name: "#2", On: fault.OnSend, Match: fault.Match{API: "RespPay", Peer: "npci"}, Fault: fault.Fault{LoseAcks: 2, FailSends: 1, Duplicate: true}},
		{Name: "risk", Node: "npci", On: fault.OnReceive, Match: fault.Match{API: "ReqPay", VPA: "y@h"}, Decline: "U16"},
		{Name: "gone", On: fault.OnReceive, Match: fault.Match{API: "ReqAuthDetails"}, Ignore: true},
		{Name: "mute", On: fault.OnReceive, Match: fault.Match{API: "ReqChkTxn"}, Fault: fault.Fault{Drop: true}},
		{Name: "hooks", On: fault.OnSend, Match: fault.Match{API: "POST", Peer: "127.0.0.1:9000"}, Fault: fault.Fault{Duplicate: true}},
	}, n.Rules)

	// Marshal writes them back.
	raw, err := n.Marshal()
	require.NoError(t, err)
	back, err := Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, n.Rules, back.Rules)

	for _, tt := range []struct{ name, rule, err string }{
		{"unknown field", "{match: {api: ReqPay}, drop: true, explode: true}", "field explode not found"},
		{"unknown match field", "{match: {colour: red}, drop: true}", "field colour not found"},
		{"bad delay", "{match: {api: ReqPay}, delay: soon}", `rule #1: delay: invalid duration "soon"`},
		{"bad amount", "{match: {api: ReqPay, min_amount: lots}, drop: true}", "rule #1: match.min_amount: amount is not a number"},
		{"unknown node", "{node: zbank, match: {api: ReqPay}, drop: true}", `rule #1: node "zbank" is not in the network`},
		{"unknown peer", "{match: {api: ReqPay, peer: zbank}, drop: true}", `match.peer "zbank" is not in the network`},
		{"unknown api", "{match: {api: ReqPayy}, drop: true}", `match.api "ReqPayy" is not a network message`},
		{"post received", "{match: {api: POST}, drop: true}", "match.api POST (an HTTP delivery) needs on: send"},
		{"post to a node name", "{on: send, match: {api: POST, peer: zbank}, drop: true}", `match.peer "zbank" is not in the network`},
		{"unknown type", "{match: {type: GIFT}, drop: true}", `match.type "GIFT" is not a txn type`},
		{"bad vpa", "{match: {payee: nobody}, drop: true}", "match.payee:"},
		{"min above max", `{match: {min_amount: "2.00", max_amount: "1.00"}, drop: true}`, "match.min_amount 2.00 is above match.max_amount 1.00"},
		{"negative delay", "{match: {api: ReqPay}, delay: -1s}", "delay must be between 0 and 1h0m0s"},
		{"too many acks lost", "{match: {api: ReqPay}, lose_acks: 101}", "lose_acks must be between 0 and 100"},
		{"bad on", "{on: sometimes, match: {api: ReqPay}, drop: true}", `on must be "receive" or "send", not "sometimes"`},
		{"decline on send", "{on: send, match: {api: ReqPay}, decline: U31}", "decline and ignore act on received messages"},
		{"bad code", "{match: {api: ReqPay}, decline: nope}", `decline "nope" is not an NPCI code`},
		{"decline of a response", "{match: {api: RespPay}, decline: U31}", "decline needs match.api ReqPay"},
		{"ignore and fault", "{match: {api: ReqPay}, ignore: true, delay: 1s}", "ignore leaves the message unprocessed"},
		{"does nothing", "{name: idle, match: {api: ReqPay}}", `rule "idle": does nothing`},
		{"duplicate name", "{name: a, match: {api: ReqPay}, drop: true}\n  - {name: a, match: {api: ReqPay}, drop: true}", `rule "a": duplicate rule name`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(nodes + "rules:\n  - " + tt.rule + "\n"))
			assert.ErrorContains(t, err, tt.err)
		})
	}
}

func TestParseHTTP(t *testing.T) {
	base := string(DefaultYAML())
	n, err := Parse([]byte(base + "\nhttp: {allowed_origins: [\"http://localhost:3000\", \"https://app.example\"], allowed_hosts: [upisim.internal, 10.0.0.5]}\n"))
	require.NoError(t, err)
	assert.Equal(t, HTTP{AllowedOrigins: []string{"http://localhost:3000", "https://app.example"}, AllowedHosts: []string{"upisim.internal", "10.0.0.5"}}, n.HTTP)
	out, err := n.Marshal()
	require.NoError(t, err)
	back, err := Parse(out)
	require.NoError(t, err)
	assert.Equal(t, n.HTTP, back.HTTP, "Marshal keeps the http section:\n%s", out)
	c := n.Clone()
	c.HTTP.AllowedHosts[0] = "changed"
	assert.Equal(t, "upisim.internal", n.HTTP.AllowedHosts[0], "Clone copies the lists")

	for yaml, want := range map[string]string{
		`http: {allowed_origins: ["localhost:3000"]}`:         `http.allowed_origins[0]: "localhost:3000" is not an origin`,
		`http: {allowed_origins: ["ftp://x"]}`:                `http.allowed_origins[0]: "ftp://x" is not an origin`,
		`http: {allowed_origins: ["http://a.example/path"]}`:  `is not an origin`,
		`http: {allowed_origins: ["http://u@a.example"]}`:     `is not an origin`,
		`http: {allowed_hosts: [ok.example, "a.example:80"]}`: `http.allowed_hosts[1]: "a.example:80" is not a host name`,
		`http: {allowed_hosts: ["http://a.example"]}`:         `is not a host name`,
		`http: {allowed_hosts: [""]}`:                         `http.allowed_hosts[0]: "" is not a host name`,
		`http: {allowed_origin: ["http://localhost:3000"]}`:   `field allowed_origin not found`,
	} {
		t.Run(yaml, func(t *testing.T) {
			_, err := Parse([]byte(base + "\n" + yaml + "\n"))
			assert.ErrorContains(t, err, want)
		})
	}
}

func TestParseTLS(t *testing.T) {
	base := string(DefaultYAML())
	n, err := Parse([]byte(base))
	require.NoError(t, err)
	assert.False(t, n.Insecure(), "TLS is on unless the file turns it off")
	d := n.Directory()
	assert.True(t, d.TLS)
	assert.Equal(t, DirectoryCAFile, d.CAFile)

	n, err = Parse([]byte(base + "\ntls: off\n"))
	require.NoError(t, err)
	assert.True(t, n.Insecure())
	assert.True(t, n.Clone().Insecure(), "Clone keeps tls")
	d = n.Directory()
	assert.False(t, d.TLS)
	assert.Empty(t, d.CAFile)
	out, err := n.Marshal()
	require.NoError(t, err)
	back, err := Parse(out)
	require.NoError(t, err)
	assert.Equal(t, TLSOff, back.TLS, "Marshal keeps tls:\n%s", out)

	_, err = Parse([]byte(base + "\ntls: maybe\n"))
	assert.ErrorContains(t, err, `tls: "maybe": want on or off`)
}

func TestParsePIN(t *testing.T) {
	const nodes = `
nodes:
  - {name: app, role: tpap}
  - {name: gpsp, role: psp, handles: [gamma]}
  - {name: sw, role: switch}
  - {name: cbank, role: bank, ifsc: CBNK0000001}
users:
  - {vpa: dan@gamma, name: Dan, bank: cbank, account: 1, balance: 100, pin: 1234, pin_reset: "2025-06-01"}
`
	def, err := Parse([]byte(nodes))
	require.NoError(t, err)
	assert.Equal(t, PINPolicy{MaxTries: 3, LockFor: 24 * time.Hour, HashTime: 2, HashMemoryKiB: 19456, HashThreads: 1}, def.PIN,
		"the default network's policy")
	assert.Equal(t, "2025-06-01", def.Users[0].PINReset)

	n, err := Parse([]byte(nodes + "pin: {max_tries: 5, lock_for: 1h, argon2id: {memory_kib: 64, time: 1}}\n"))
	require.NoError(t, err)
	assert.Equal(t, PINPolicy{MaxTries: 5, LockFor: time.Hour, HashTime: 1, HashMemoryKiB: 64, HashThreads: 1}, n.PIN)

	for in, want := range map[string]string{
		"pin: {max_tries: 0}":                     "pin.max_tries 0: want 1 to",
		"pin: {lock_for: 0s}":                     "pin.lock_for must be greater than zero",
		"pin: {lock_for: soon}":                   "pin.lock_for: invalid duration",
		"pin: {argon2id: {memory_kib: 4}}":        "pin.argon2id.memory_kib 4",
		"pin: {argon2id: {time: 0}}":              "pin.argon2id.time 0",
		"pin: {argon2id: {threads: 65}}":          "pin.argon2id.threads 65",
		"pin: {max_tries: 3, lockout: 1h}":        "field lockout not found",
		"pin: {argon2id: {memory_kib: 2000000}}":  "pin.argon2id.memory_kib 2000000",
		"pin: {max_tries: 3000000, lock_for: 1h}": "pin.max_tries 3000000",
	} {
		_, err := Parse([]byte(nodes + in + "\n"))
		assert.ErrorContains(t, err, want, in)
	}

	// Marshal keeps the policy and the reset label.
	n.Users[0].PINReset = "again"
	data, err := n.Marshal()
	require.NoError(t, err)
	got, err := Parse(data)
	require.NoError(t, err, string(data))
	assert.Equal(t, n.PIN, got.PIN)
	assert.Equal(t, "again", got.Users[0].PINReset)
}

// The circle section: NPCI's limits by default, each key overridable, and
// clear errors for values UPI Circle cannot work with.
func TestCircle(t *testing.T) {
	const nodes = `
nodes:
  - {name: app, role: tpap}
  - {name: gpsp, role: psp, handles: [gamma]}
  - {name: sw, role: switch}
  - {name: cbank, role: bank, ifsc: CBNK0000001}
`
	def, err := Parse([]byte(nodes))
	require.NoError(t, err)
	assert.Equal(t, Circle{
		FullPerTxn: 5_000_00, FullMonthly: 15_000_00, Cooling: 24 * time.Hour, CoolingLimit: 5_000_00,
		Month: CircleCalendar, MaxSecondaries: 5, InviteExpiry: 30 * time.Minute, ApprovalExpiry: 15 * time.Minute,
	}, def.Circle, "NPCI's, from the default network")

	n, err := Parse([]byte(nodes + `circle: {full: {monthly_limit: "20000.00"}, month: Rolling, max_secondaries: 2, cooling: 0s, approval_expiry: 2m}` + "\n"))
	require.NoError(t, err)
	assert.Equal(t, Circle{
		FullPerTxn: 5_000_00, FullMonthly: 20_000_00, Cooling: 0, CoolingLimit: 5_000_00,
		Month: CircleRolling, MaxSecondaries: 2, InviteExpiry: 30 * time.Minute, ApprovalExpiry: 2 * time.Minute,
	}, n.Circle)

	raw, err := n.Marshal()
	require.NoError(t, err)
	back, err := Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, n.Circle, back.Circle, "Marshal keeps the section")

	for in, want := range map[string]string{
		`circle: {full: {per_txn_limit: "0.00"}}`:                              "circle.full.per_txn_limit: amount must be greater than zero",
		`circle: {full: {per_txn_limit: "6000.00", monthly_limit: "5500.00"}}`: "circle.full.per_txn_limit 6000.00 is more than circle.full.monthly_limit 5500.00",
		`circle: {full: {monthly_limit: "lots"}}`:                              "circle.full.monthly_limit",
		`circle: {cooling_limit: "0.00"}`:                                      "circle.cooling_limit: amount must be greater than zero",
		`circle: {cooling: -1h}`:                                               "circle.cooling must not be negative",
		`circle: {month: lunar}`:                                               `circle.month "lunar": want calendar or rolling`,
		`circle: {max_secondaries: 0}`:                                         "circle.max_secondaries 0: want 1 to 100",
		`circle: {invite_expiry: 0s}`:                                          "circle.invite_expiry must be greater than zero",
		`circle: {approval_expiry: soon}`:                                      "circle.approval_expiry: invalid duration",
		`circle: {secondaries: 3}`:                                             "field secondaries not found",
	} {
		_, err := Parse([]byte(nodes + in + "\n"))
		assert.ErrorContains(t, err, want, in)
	}
}

// A merchant's API settings are checked where they are read.
func TestMerchantAPISettings(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{`api_key: short`, "api_key must be at least 16 characters"},
		{`webhook_secret: "sekrit"`, "webhook_secret must be whsec_"},
		{`webhook_secret: "whsec_c2hvcnQ="`, "webhook_secret must be whsec_"},
		{`webhook_url: "ftp://x"`, "webhook_url \"ftp://x\" must be an http or https URL"},
		{`order_expiry: soon`, "order_expiry: invalid duration"},
		{`order_expiry: -1m`, "order_expiry must be greater than zero"},
	} {
		y := strings.Replace(string(DefaultYAML()), "merchants:\n",
			"merchants:\n  - {vpa: shop@beta, name: Shop, mcc: \"5812\", bank: bbank, account: \"2000000999\", balance: \"0.00\", "+tc.line+"}\n", 1)
		_, err := Parse([]byte(y))
		require.Error(t, err, tc.line)
		assert.Contains(t, err.Error(), tc.want, tc.line)
	}
	settings := func(with string) string {
		y := string(DefaultYAML())
		i := strings.Index(y, "  hold_capture:")
		j := strings.Index(y, "\npin:") + 1
		return y[:i] + with + y[j:]
	}
	_, err := Parse([]byte(settings("  webhook_retry: [1s, later]\n")))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `merchant.webhook_retry[1]: invalid duration "later"`)

	_, err = Parse([]byte(settings("  refund_retry: [0s]\n")))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "merchant.refund_retry[0] must be greater than zero")
	n, err := Parse([]byte(settings("  hold_capture: 2s\n  webhook_retry: [10ms, 20ms]\n  refund_retry: [5ms]\n")))
	require.NoError(t, err)
	assert.Equal(t, 2*time.Second, n.Merchant.HoldCapture)
	assert.Equal(t, []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}, n.Merchant.WebhookRetry)
	assert.Equal(t, []time.Duration{5 * time.Millisecond}, n.Merchant.RefundRetry)
	// Marshal keeps them.
	b, err := n.Marshal()
	require.NoError(t, err)
	back, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, n.Merchant, back.Merchant)
	assert.Equal(t, n.Merchants, back.Merchants)
}
