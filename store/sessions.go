package store

import (
	"context"
	"regexp"
	"strings"
	"time"
)

// Session is a signed-in browser of the web console. The browser holds a random secret in
// a cookie; the store keeps only the secret's hash (ID), so that a copy of the store opens
// no session. A session acts as the identity it was opened for: a token's, or the identity
// source's for an OIDC sign-in.
type Session struct {
	// ID is the hex SHA-256 of the cookie's secret (64 characters).
	ID     string   `json:"id"`
	Name   string   `json:"name"`             // the identity's name (owner of what it creates)
	Role   string   `json:"role"`             // its role (auth.RoleAdmin, ...)
	Kind   string   `json:"kind"`             // auth.KindToken or auth.KindOIDC
	Groups []string `json:"groups,omitempty"` // from the identity source
	// TokenID is the API token the session was opened with (Kind token): revoking the token
	// (DeleteToken, or deleting a token that made it) ends the session in the same write.
	TokenID string `json:"token_id,omitempty"`
	// CSRF is the session's anti-forgery secret, sent back by every state-changing request.
	CSRF      string    `json:"csrf"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is when the session ends: the token's or ID token's expiry, or a maximum.
	ExpiresAt time.Time `json:"expires_at"`
	// CredentialExpiresAt is when the credential the session was opened with expires (nil:
	// never): the session's identity carries it, as a Bearer request's would (a developer's
	// new tokens may not outlive it), whatever the session's own maximum.
	CredentialExpiresAt *time.Time `json:"credential_expires_at,omitempty"`
}

var sessionIDRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Validate checks the session's fields.
func (s *Session) Validate() error {
	switch {
	case !sessionIDRE.MatchString(s.ID):
		return Invalid("id", "a session ID is the hex SHA-256 of its secret")
	case strings.TrimSpace(s.Name) == "":
		return Invalid("name", "a session needs the name of its identity")
	case s.Role == "":
		return Invalid("role", "a session needs a role")
	case s.Kind == "":
		return Invalid("kind", "a session needs the kind of its credentials")
	case len(s.CSRF) < 16:
		return Invalid("csrf", "a session needs an anti-forgery secret")
	case s.ExpiresAt.IsZero():
		return Invalid("expires_at", "a session needs an expiry")
	}
	return nil
}

// Sessions are the web console's sessions. Every node sharing the store honours a session
// any of them opened, and ending one ends it everywhere.
type Sessions interface {
	// CreateSession stores a new session; ErrExists if the ID is taken, ErrInvalid when
	// Validate refuses it, ErrNotFound when TokenID names no token (revoked meanwhile: a
	// session never outlives its token, whatever the order of the two writes).
	CreateSession(ctx context.Context, s Session) error
	// GetSession reads a session; ErrNotFound when there is none or it expired at now.
	GetSession(ctx context.Context, id string, now time.Time) (Session, error)
	// DeleteSession ends a session; deleting one that is not there is not an error.
	DeleteSession(ctx context.Context, id string) error
	// DeleteExpiredSessions removes the sessions expired at now and tells how many.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
}
