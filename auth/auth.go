package auth

import (
	"errors"
	"fmt"
	"time"
)

// Roles. An admin may do everything; a developer works on the apps (and workflows) it
// owns; a user (an end user) may only run the workflows shared with it and follow its runs.
const (
	RoleAdmin     = "admin"
	RoleDeveloper = "developer"
	RoleUser      = "user"
)

// Kinds of credentials an Identity comes from.
const (
	KindToken = "token" // a Gantry API token
	KindOIDC  = "oidc"  // a token of the external identity source
	KindNone  = "none"  // authentication is off: everyone is an anonymous admin
)

// Identity is an authenticated caller.
type Identity struct {
	Name    string   // user or service account; owner of the apps it creates
	Role    string   // RoleAdmin, RoleDeveloper or RoleUser
	Kind    string   // KindToken, KindOIDC or KindNone
	Groups  []string // from the identity source's groups claim
	TokenID string   // the API token used, for KindToken
	// ExpiresAt is when the credential stops working (nil: never). A developer's new
	// tokens may not outlive it.
	ExpiresAt *time.Time
}

// IsAdmin tells whether the identity may do everything.
func (i Identity) IsAdmin() bool { return i.Role == RoleAdmin }

// Anonymous is the identity of every caller when authentication is off.
var Anonymous = Identity{Name: "anonymous", Role: RoleAdmin, Kind: KindNone}

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrUnauthenticated: the credentials are missing, malformed, unknown, expired, revoked,
	// or fail verification. The message says which, without echoing the credential.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: the identity is known but its role may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrUnavailable: the identity source cannot be reached to verify a token now.
	ErrUnavailable = errors.New("identity source unavailable")
)

// kindError reads as its message and matches its kind with errors.Is.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Unauthenticated returns an ErrUnauthenticated with a message for the caller.
func Unauthenticated(format string, args ...any) error {
	return errorf(ErrUnauthenticated, format, args...)
}

// Forbidden returns an ErrForbidden with a message for the caller.
func Forbidden(format string, args ...any) error { return errorf(ErrForbidden, format, args...) }
