package store

import (
	"regexp"
	"strings"
	"time"
)

var userNameRE = regexp.MustCompile(`^[A-Za-z0-9_.@+:-]{1,255}$`)

// ValidateUserName is the one rule of user names, whatever their source: the user of an API
// token, the name an OIDC token maps to (its prefix included), the owner an admin gives an
// app or an API. A name that breaks it could own things yet never get a token of its own, or
// carry a path, a newline or a space into logs and URLs.
func ValidateUserName(name string) error {
	if !userNameRE.MatchString(name) {
		return Invalid("user", "user name %q must match %s", name, userNameRE)
	}
	return nil
}

// UserNameRule describes the rule of ValidateUserName, for messages.
func UserNameRule() string { return userNameRE.String() }

// Token is an API token. Only a hash of its secret is kept: the secret is shown once, when
// the token is made, and checked by hashing what a caller presents.
type Token struct {
	ID        string `json:"id"` // a ULID from NewID; also part of the secret
	Name      string `json:"name"`
	User      string `json:"user"` // the identity the token acts as
	Role      string `json:"role"`
	Hash      []byte `json:"hash"`
	CreatedBy string `json:"created_by,omitempty"`
	// ParentID is the token that made this one, if a token did: revoking it revokes this one.
	ParentID  string     `json:"parent_id,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Validate checks the token's fields; roles are the auth package's to check.
func (t *Token) Validate() error {
	if strings.TrimSpace(t.Name) == "" || len(t.Name) > 255 || strings.ContainsFunc(t.Name, isControl) {
		return Invalid("name", "name is required: 1 to 255 characters, without control characters")
	}
	if err := ValidateUserName(t.User); err != nil {
		return err
	}
	switch {
	case t.Role == "":
		return Invalid("role", "role is required")
	case len(t.Hash) == 0:
		return Invalid("hash", "a token needs the hash of its secret")
	}
	return nil
}

// TokenFilter narrows a list of tokens.
type TokenFilter struct {
	User string // only this user's tokens; "" for all
}
