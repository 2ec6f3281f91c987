package node

import (
	"context"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ErrAdminToken is the refusal of an admin call without the right token
// (AdminServer.Token).
var ErrAdminToken = status.Error(codes.Unauthenticated,
	"admin token required: pass `authorization: Bearer <token>`; `upisim up` wrote it to DATA/admin.token")

// inProcess marks the context of a LocalAdmin call: in process, so it is
// trusted as the code that holds the AdminServer.
type inProcess struct{}

// authorize checks the admin token of a call when a.Token is set.
func (a *AdminServer) authorize(ctx context.Context) error {
	if a.Token == "" || ctx.Value(inProcess{}) != nil || HasBearer(ctx, a.Token) {
		return nil
	}
	return ErrAdminToken
}

// HasBearer reports whether the call carries `authorization: Bearer
// token` (compared in constant time). Other services with the admin
// token (the merchant layer's admin API) check it so.
func HasBearer(ctx context.Context, token string) bool {
	for _, tok := range BearerTokens(ctx) {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(token)) == 1 {
			return true
		}
	}
	return false
}

// BearerTokens are the tokens of the call's `authorization: Bearer ...`
// metadata (a service that knows many, as the merchant API its merchants'
// keys, compares each itself).
func BearerTokens(ctx context.Context) []string {
	var out []string
	for _, v := range metadata.ValueFromIncomingContext(ctx, "authorization") {
		if scheme, tok, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") {
			out = append(out, strings.TrimSpace(tok))
		}
	}
	return out
}
