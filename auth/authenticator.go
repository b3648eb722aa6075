package auth

import (
	"context"
	"crypto/subtle"
	"strings"
	"time"
)

// Authenticator turns the Authorization header of a request into an Identity.
type Authenticator struct {
	tokens TokenStore
	oidc   *OIDC // nil when no identity source is configured
	now    func() time.Time
	// compare compares a presented secret's hash with the stored one, in constant time.
	compare func(x, y []byte) int
}

// NewAuthenticator verifies Gantry API tokens against tokens and, when oidc is not nil,
// JWTs against the external identity source.
func NewAuthenticator(tokens TokenStore, oidc *OIDC) *Authenticator {
	return &Authenticator{tokens: tokens, oidc: oidc, now: time.Now, compare: subtle.ConstantTimeCompare}
}

// HasAPIToken tells whether an Authorization value carries a Gantry API token, wherever in it.
func HasAPIToken(authorization string) bool { return strings.Contains(authorization, TokenPrefix) }

// ParseBearer reads "Bearer <token>" (the scheme in any case): the token, and whether the
// value is of the Bearer scheme at all.
func ParseBearer(authorization string) (token string, isBearer bool) {
	scheme, token, ok := strings.Cut(authorization, " ")
	return strings.TrimSpace(token), ok && strings.EqualFold(scheme, "Bearer")
}

// Recognizes tells, without verifying it, whether an Authorization value holds a Gantry
// API token or a JWT that names the configured identity source as its issuer.
func (a *Authenticator) Recognizes(authorization string) bool {
	if HasAPIToken(authorization) {
		return true
	}
	token, _ := ParseBearer(authorization)
	return a.oidc != nil && a.oidc.Issues(token)
}

// Authenticate verifies "Bearer <token>". Bad credentials are ErrUnauthenticated with a
// reason for the caller that never repeats the credential.
func (a *Authenticator) Authenticate(ctx context.Context, authorization string) (Identity, error) {
	if authorization == "" {
		return Identity{}, Unauthenticated("credentials are required: send Authorization: Bearer <token>")
	}
	token, isBearer := ParseBearer(authorization)
	if !isBearer {
		return Identity{}, Unauthenticated("the Authorization header must be: Bearer <token>")
	}
	switch {
	case token == "":
		return Identity{}, Unauthenticated("the Authorization header has no token")
	case strings.HasPrefix(token, TokenPrefix):
		return verifyToken(ctx, a.tokens, token, a.now(), a.compare)
	case a.oidc != nil && strings.Count(token, ".") == 2:
		return a.oidc.Verify(ctx, token)
	default:
		return Identity{}, Unauthenticated("the token is neither a Gantry API token nor an OIDC token of this server's identity source")
	}
}
