package auth

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
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

// HasAPIToken tells whether a credential header value (Authorization, Proxy-Authorization)
// carries a Gantry API token in any form: see carries.
func HasAPIToken(value string) bool { return carries(value, isAPIToken) }

func isAPIToken(s string) bool { return strings.Contains(s, TokenPrefix) }

// carries tells whether a credential header value holds a string that is a credential, in
// whatever form a client may send it: the value itself and each of its words (any scheme
// followed by a token, a bare token, an auth-param, several credentials in one value), and
// the base64 decoding of each word, whole and split at ':' (Basic's user and password).
// It errs towards finding one: a word that only looks like one is still dropped.
func carries(value string, isCredential func(string) bool) bool {
	if isCredential(value) {
		return true
	}
	for _, word := range credentialWords(value) {
		if isCredential(word) {
			return true
		}
		decoded, ok := decodeBase64(word)
		if !ok {
			continue
		}
		if isCredential(decoded) {
			return true
		}
		for _, part := range credentialWords(decoded) {
			if isCredential(part) {
				return true
			}
		}
	}
	return false
}

// credentialWords splits a credential header value at spaces, commas, quotes, '=' (an
// auth-param's name, base64 padding) and ':' (a user from its password).
func credentialWords(value string) []string {
	return strings.FieldsFunc(value, func(r rune) bool {
		switch r {
		case ' ', '\t', ',', '"', '=', ':', ';':
			return true
		}
		return false
	})
}

// decodeBase64 decodes a word in standard or URL-safe base64, padded or not. The bytes
// need not be UTF-8 (a Basic user name in Latin-1 beside a token as the password).
func decodeBase64(word string) (string, bool) {
	word = strings.TrimRight(word, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(word); err == nil {
			return string(b), true
		}
	}
	return "", false
}

// ParseBearer reads "Bearer <token>" (the scheme in any case): the token, and whether the
// value is of the Bearer scheme at all.
func ParseBearer(authorization string) (token string, isBearer bool) {
	scheme, token, ok := strings.Cut(authorization, " ")
	return strings.TrimSpace(token), ok && strings.EqualFold(scheme, "Bearer")
}

// Recognizes tells, without verifying it, whether a credential header value holds a Gantry
// API token or a JWT that names the configured identity source as its issuer, in any form
// (see carries): a Gantry credential, which must never reach a function.
func (a *Authenticator) Recognizes(value string) bool {
	return carries(value, func(s string) bool { return isAPIToken(s) || (a.oidc != nil && a.oidc.Issues(s)) })
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
