package config

import (
	"net"
	"strconv"
	"strings"

	"github.com/upisim/upisim/internal/ids"
)

// NodeByName returns the node called name.
func (n *Network) NodeByName(name string) (*Node, bool) {
	for i := range n.Nodes {
		if n.Nodes[i].Name == name {
			return &n.Nodes[i], true
		}
	}
	return nil, false
}

// PSPForHandle returns the PSP that owns handle (with or without a leading
// '@', any case).
func (n *Network) PSPForHandle(handle string) (*Node, bool) {
	handle = strings.ToLower(strings.TrimPrefix(handle, "@"))
	for i := range n.Nodes {
		nd := &n.Nodes[i]
		if nd.Role != RolePSP {
			continue
		}
		for _, h := range nd.Handles {
			if strings.ToLower(h) == handle {
				return nd, true
			}
		}
	}
	return nil, false
}

// PSPForVPA returns the PSP that owns the handle of vpa.
func (n *Network) PSPForVPA(vpa string) (*Node, bool) {
	h := ids.HandleOf(vpa)
	if h == "" {
		return nil, false
	}
	return n.PSPForHandle(h)
}

// BankForIFSC returns the bank whose IFSC is ifsc (any case).
func (n *Network) BankForIFSC(ifsc string) (*Node, bool) {
	for i := range n.Nodes {
		nd := &n.Nodes[i]
		if nd.Role == RoleBank && strings.EqualFold(nd.IFSC, ifsc) {
			return nd, true
		}
	}
	return nil, false
}

// Switch returns the NPCI switch node, or nil in an invalid network.
func (n *Network) Switch() *Node { return n.firstOfRole(RoleSwitch) }

// TPAP returns the TPAP (app) node, or nil in an invalid network.
func (n *Network) TPAP() *Node { return n.firstOfRole(RoleTPAP) }

func (n *Network) firstOfRole(role string) *Node {
	for i := range n.Nodes {
		if n.Nodes[i].Role == role {
			return &n.Nodes[i]
		}
	}
	return nil
}

// NodesByRole returns the nodes with role, in file order.
func (n *Network) NodesByRole(role string) []*Node {
	var out []*Node
	for i := range n.Nodes {
		if n.Nodes[i].Role == role {
			out = append(out, &n.Nodes[i])
		}
	}
	return out
}

// UsersOfPSP returns the users whose VPA handle belongs to the PSP called
// pspName, in file order.
func (n *Network) UsersOfPSP(pspName string) []*User {
	var out []*User
	for i := range n.Users {
		if p, ok := n.PSPForVPA(n.Users[i].VPA); ok && p.Name == pspName {
			out = append(out, &n.Users[i])
		}
	}
	return out
}

// MerchantsOfPSP returns the merchants whose VPA handle belongs to the PSP
// called pspName, in file order.
func (n *Network) MerchantsOfPSP(pspName string) []*Merchant {
	var out []*Merchant
	for i := range n.Merchants {
		if p, ok := n.PSPForVPA(n.Merchants[i].VPA); ok && p.Name == pspName {
			out = append(out, &n.Merchants[i])
		}
	}
	return out
}

// Account is an account a bank holds, for seeding its ledger: a user's or a
// merchant's.
type Account struct {
	Bank     string // bank node name
	IFSC     string
	Number   string
	VPA      string
	Name     string
	Balance  int64  // opening balance, paise
	PIN      string // users only
	PINReset string // users only: the pin_reset label
	Mobile   string // users only, optional
	Merchant bool
	MCC      string // merchants only
}

// AccountsOfBank returns the accounts held at the bank called bankName:
// users first, then merchants, each in file order.
func (n *Network) AccountsOfBank(bankName string) []Account {
	var ifsc string
	if b, ok := n.NodeByName(bankName); ok {
		ifsc = b.IFSC
	}
	var out []Account
	for _, u := range n.Users {
		if u.Bank == bankName {
			out = append(out, Account{
				Bank: bankName, IFSC: ifsc, Number: u.Account, VPA: u.VPA,
				Name: u.Name, Balance: u.Balance, PIN: u.PIN, PINReset: u.PINReset, Mobile: u.Mobile,
			})
		}
	}
	for _, m := range n.Merchants {
		if m.Bank == bankName {
			out = append(out, Account{
				Bank: bankName, IFSC: ifsc, Number: m.Account, VPA: m.VPA,
				Name: m.Name, Balance: m.Balance, Merchant: true, MCC: m.MCC,
			})
		}
	}
	return out
}

// LocalHost is the only host AssignAddrs uses.
const LocalHost = "127.0.0.1"

// AssignAddrs gives every node without an explicit address one on
// 127.0.0.1. Nodes are numbered with the TPAP node first (so its REST API
// is on portBase, as `upisim up --port-base N` promises) and the others in
// file order; node i gets http_addr portBase+i and grpc_addr
// portBase+100+i (portBase+len(Nodes)+i when there are more than 100
// nodes). portBase 0 gives 127.0.0.1:0 everywhere: the OS picks the ports
// and the caller records the real addresses once listening.
func (n *Network) AssignAddrs(portBase int) {
	order := make([]*Node, 0, len(n.Nodes))
	tpap := n.TPAP()
	if tpap != nil {
		order = append(order, tpap)
	}
	for i := range n.Nodes {
		if nd := &n.Nodes[i]; nd != tpap {
			order = append(order, nd)
		}
	}
	grpcOffset := max(100, len(n.Nodes))
	addr := func(port int) string {
		if portBase == 0 {
			port = 0
		}
		return net.JoinHostPort(LocalHost, strconv.Itoa(port))
	}
	for i, nd := range order {
		if nd.HTTPAddr == "" {
			nd.HTTPAddr = addr(portBase + i)
		}
		if nd.GRPCAddr == "" {
			nd.GRPCAddr = addr(portBase + grpcOffset + i)
		}
	}
}
