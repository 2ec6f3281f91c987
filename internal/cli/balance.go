package cli

import (
	"context"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/upi"
)

// BalanceResult is what `upisim balance` prints.
type BalanceResult struct {
	VPA          string `json:"vpa"`
	BalancePaise int64  `json:"balance_paise"`
	Bank         string `json:"bank"`
	AcNum        string `json:"ac_num"`
	IFSC         string `json:"ifsc"`
}

// BalanceOptions are the options of `upisim balance`.
type BalanceOptions struct {
	DataDir string
	VPA     string
	Output  Output
}

// Balance asks the banks of the network for the account behind a VPA.
func Balance(ctx context.Context, w io.Writer, o BalanceOptions) (BalanceResult, error) {
	if err := ids.ValidateVPA(o.VPA); err != nil {
		return BalanceResult{}, err
	}
	c, err := Connect(o.DataDir)
	if err != nil {
		return BalanceResult{}, err
	}
	defer c.Close()
	for _, nd := range c.Dir.ByRole(config.RoleBank) {
		a, err := c.Admin(nd.Name)
		if err != nil {
			return BalanceResult{}, err
		}
		b, err := a.GetBalance(ctx, &upiv1.GetBalanceRequest{Vpa: o.VPA})
		if status.Code(err) == codes.NotFound {
			continue
		}
		if err != nil {
			return BalanceResult{}, fmt.Errorf("bank %s: %w", nd.Name, rpcError(err))
		}
		r := BalanceResult{VPA: o.VPA, BalancePaise: b.GetBalancePaise(), Bank: nd.Name, AcNum: b.GetAcNum(), IFSC: b.GetIfsc()}
		return r, o.Output.print(w, r, func(w io.Writer) error {
			return printFields(w, "vpa", r.VPA, "balance", upi.FormatRupeesIndian(r.BalancePaise), "bank", fmt.Sprintf("%s (%s, a/c %s)", r.Bank, r.IFSC, r.AcNum))
		})
	}
	return BalanceResult{}, fmt.Errorf("no bank of the network holds an account for %s", o.VPA)
}
