package cluster

import (
	"log/slog"

	"google.golang.org/grpc"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	merchantv1 "github.com/upisim/upisim/gen/go/upisim/merchant/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/merchant"
	"github.com/upisim/upisim/psp"
)

// PSPNode is a PSP node's role: the PSP and, in the same process and
// node, its merchant layer (package merchant), whose hooks are in the
// PSP's configuration and whose API is served beside the PSP's.
type PSPNode struct {
	*psp.PSP
	Merchant *merchant.Layer
}

// newPSPNode builds the PSP of self with its merchant layer; edit, if
// set, changes the PSP's configuration after the layer set its hooks (a
// test's own hooks, NodeOptions.PSPConfig). The layer's hooks include
// OnLiteCredit: a posted offline Lite record pays the order it names.
func newPSPNode(n *config.Network, self *config.Node, log *slog.Logger, edit func(*psp.Config)) (*PSPNode, error) {
	m, err := merchant.New(merchant.Config{Network: n, Self: self, Logger: log})
	if err != nil {
		return nil, err
	}
	cfg := psp.Config{Network: n, Self: self, Logger: log}
	m.Hooks(&cfg)
	if edit != nil {
		edit(&cfg)
	}
	return &PSPNode{PSP: psp.New(cfg), Merchant: m}, nil
}

// Attach gives both the node.
func (p *PSPNode) Attach(n *node.Node) {
	p.PSP.Attach(n)
	p.Merchant.Bind(p.PSP, n)
}

// Register serves the PSP's services and the merchant API.
func (p *PSPNode) Register(s *grpc.Server) {
	p.PSP.Register(s)
	p.Merchant.Register(s)
}

// SetAdminToken is the token MerchantAdminService calls must carry.
func (p *PSPNode) SetAdminToken(t string) { p.Merchant.SetAdminToken(t) }

// PSPOf is the PSP of a PSP node's role (Node.Impl).
func PSPOf(impl Role) *psp.PSP {
	switch r := impl.(type) {
	case *PSPNode:
		return r.PSP
	case *psp.PSP:
		return r
	}
	return nil
}

// pspREST is what a PSP's HTTP port serves beside AdminService: the app
// API and the merchant API.
var pspREST = []gatewayReg{upiv1.RegisterPspAppServiceHandler, merchantv1.RegisterMerchantServiceHandler, merchantv1.RegisterMerchantAdminServiceHandler}
