package invoke

import (
	"context"
	"slices"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/store"
)

// Authenticator verifies the credentials a request carries (*auth.Authenticator).
type Authenticator interface {
	Authenticate(ctx context.Context, authorization string) (auth.Identity, error)
	// Recognizes tells, without verifying it, whether a credential header value holds one
	// of the credentials Authenticate takes, in any form.
	Recognizes(authorization string) bool
}

// Admitter is how Gantry's HTTP callers (handlers for /r/, the gateway for APIs) decide a
// call between Resolve and Run: the route's auth, with the server's authenticator.
type Admitter struct {
	auth Authenticator // nil: authentication off
}

// NewAdmitter admits calls with the server's authenticator; nil turns authentication off
// (a route's auth token is then not enforced).
func NewAdmitter(a Authenticator) *Admitter { return &Admitter{auth: a} }

// Admit lets a call of a route with `auth: token` through only with valid credentials
// (any identity but an end user's: the route's auth says who may call, not who owns; with
// authentication off, nothing is checked; an identity the console vouches for in ctx stands
// for credentials), and marks the call admitted. It is the one place where
// Gantry's credentials are kept from a function, and from the async queue: the
// Authorization a route with auth token consumed, and on any route every credential header
// (Authorization, Proxy-Authorization) one of whose values holds an API token or a token
// of the server's identity source, in any form (Bearer, Basic user or password, another
// scheme, bare). Such a header goes whole: the function's own credentials in it go too,
// rather than risk a mangled one.
func (a *Admitter) Admit(ctx context.Context, c *Call) error {
	header := c.Header()
	var drop []string
	if c.Route().Auth == store.AuthToken && a.auth != nil {
		id, vouched := auth.Vouched(ctx) // the console's Call panel, for a signed-in session
		if !vouched {
			var err error
			if id, err = a.auth.Authenticate(ctx, header.Get("Authorization")); err != nil {
				return err
			}
		}
		if id.Role == auth.RoleUser { // end users run the workflows shared with them, not functions
			return auth.Forbidden("an end user (role user) may run workflows shared with it, not call functions")
		}
		drop = append(drop, "Authorization")
	}
	for _, name := range []string{"Authorization", "Proxy-Authorization"} { // the headers that carry credentials
		if slices.ContainsFunc(header.Values(name), a.isGantryCredential) && !slices.Contains(drop, name) {
			drop = append(drop, name)
		}
	}
	if len(drop) > 0 {
		header = header.Clone()
		for _, name := range drop {
			header.Del(name)
		}
	}
	c.Admit(header)
	return nil
}

// isGantryCredential tells whether a credential header value carries a Gantry API token,
// or a token of the server's own identity source.
func (a *Admitter) isGantryCredential(v string) bool {
	if a.auth == nil { // authentication off: no identity source, but a token is still Gantry's
		return auth.HasAPIToken(v)
	}
	return a.auth.Recognizes(v)
}
