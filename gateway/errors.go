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
)

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

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("rate limit exceeded: retry in %s", e.RetryAfter.Round(time.Millisecond))
}
