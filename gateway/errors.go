package gateway

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors of the gateway; handlers maps them to HTTP statuses.
var (
	// ErrNoAPI: no enabled API answers this host, method and path.
	ErrNoAPI = errors.New("no API matches the request")
	// ErrHTTPSRequired: the API is served over HTTPS only.
	ErrHTTPSRequired = errors.New("this API is served over HTTPS only")
	// ErrFunctionMissing: the API's function (app and route) does not exist.
	ErrFunctionMissing = errors.New("the API's function does not exist")
	// ErrAPIUnavailable: the API that answers the request cannot be served as stored (an
	// unusable OIDC setting, a broken certificate); the details are in the server log only.
	ErrAPIUnavailable = errors.New("this API is misconfigured; its owner has been told in the server log")
	// ErrBadPath: the request path is not canonical; it is refused before any matching, so
	// that no spelling of a path reaches another API than the canonical one.
	ErrBadPath = errors.New("the request path is not canonical: it has an empty, . or .. segment")
	// ErrMisdirected: the request's Host is not served on this TLS connection: the Host's API
	// has its own certificate that the connection's server name (SNI) did not select, or the
	// certificate it selected is another owner's than the Host's. The client should open a
	// connection for the Host (HTTP/2 clients do so on 421).
	ErrMisdirected = errors.New("this host is not served on this TLS connection: connect with the host as the TLS server name (SNI)")
)

// maxRetryAfter caps the wait a RateLimitedError announces.
const maxRetryAfter = time.Hour

// ChallengeError is a failed authentication with the WWW-Authenticate challenge to send.
type ChallengeError struct {
	Challenge string // e.g. `Basic realm="shop"`
	Err       error  // wraps auth.ErrUnauthenticated
}

func (e *ChallengeError) Error() string { return e.Err.Error() }
func (e *ChallengeError) Unwrap() error { return e.Err }

// RateLimitedError: the API's (or the client's) request budget is spent for now.
type RateLimitedError struct {
	RetryAfter time.Duration
}

// rateLimited is a RateLimitedError announcing d, at most maxRetryAfter.
func rateLimited(d time.Duration) *RateLimitedError {
	return &RateLimitedError{RetryAfter: min(d, maxRetryAfter)}
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("rate limit exceeded: retry in %s", e.RetryAfter.Round(time.Millisecond))
}
