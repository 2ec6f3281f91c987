package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/cluster"
)

// adminToken is the admin token of the network in dataDir
// (DATA/admin.token, which the nodes write when they first start), or the
// error that says why there is none.
type adminToken struct {
	token string
	err   error
}

func readAdminToken(dataDir string) adminToken {
	tok, err := cluster.ReadAdminToken(dataDir)
	if errors.Is(err, os.ErrNotExist) {
		err = fmt.Errorf("no admin token in %s: the nodes write it when they first start (`upisim up --data %s`); admin calls need it",
			filepath.Join(dataDir, cluster.AdminTokenFile), dataDir)
	}
	return adminToken{token: tok, err: err}
}

// healthMethod is the one AdminService method that needs no token.
var healthMethod = upiv1.AdminService_Health_FullMethodName

// conn is cc with the token on every call, as gRPC metadata
// "authorization: Bearer TOKEN". Without a token, every call but Health
// fails with the reason, before anything is sent.
func (t adminToken) conn(cc grpc.ClientConnInterface) grpc.ClientConnInterface {
	return tokenConn{cc: cc, t: t}
}

type tokenConn struct {
	cc grpc.ClientConnInterface
	t  adminToken
}

func (c tokenConn) ctx(ctx context.Context, method string) (context.Context, error) {
	if c.t.err != nil {
		if method == healthMethod {
			return ctx, nil
		}
		return nil, c.t.err
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.t.token), nil
}

func (c tokenConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	ctx, err := c.ctx(ctx, method)
	if err != nil {
		return err
	}
	return c.cc.Invoke(ctx, method, args, reply, opts...)
}

func (c tokenConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ctx, err := c.ctx(ctx, method)
	if err != nil {
		return nil, err
	}
	return c.cc.NewStream(ctx, desc, method, opts...)
}
