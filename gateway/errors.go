package gateway

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/gantry-dev/gantry/httperr"
)

// Sentinel errors of the gateway. Each carries its HTTP answer (httperr.Answerer): the one
// mapping (httperr) sits below the gateway and cannot name them.
var (
	// ErrNoAPI: no enabled API answers this host, method and path (404).
	ErrNoAPI error = &kindError{msg: "no API matches the request", status: http.StatusNotFound}
	// ErrHTTPSRequired: the API is served over HTTPS only (400).
	ErrHTTPSRequired error = &kindError{msg: "this API is served over HTTPS only", status: http.StatusBadRequest, hint: ": use https://"}
	// ErrFunctionMissing: the API's function (app and route) does not exist (502).
	ErrFunctionMissing error = &kindError{msg: "the API's function does not exist", status: http.StatusBadGateway}
	// ErrAPIUnavailable: the API that answers the request cannot be served as stored (an
	// unusable OIDC setting, a broken certificate); the details are in the server log only (503).
	ErrAPIUnavailable error = &kindError{msg: "this API is misconfigured; its owner has been told in the server log", status: http.StatusServiceUnavailable, retryAfter: 60}
	// ErrBadPath: the request path is not canonical; it is refused before any matching, so
	// that no spelling of a path reaches another API than the canonical one (400).
	ErrBadPath error = &kindError{msg: "the request path is not canonical: it has an empty, . or .. segment", status: http.StatusBadRequest, fields: "path"}
	// ErrMisdirected: the request's Host is not served on this TLS connection: the Host's API
	// has its own certificate that the connection's server name (SNI) did not select, or the
	// certificate it selected is another owner's than the Host's. The client should open a
	// connection for the Host (HTTP/2 clients do so on 421).
	ErrMisdirected error = &kindError{msg: "this host is not served on this TLS connection: connect with the host as the TLS server name (SNI)", status: http.StatusMisdirectedRequest}
)

// kindError is a sentinel error of the gateway with its answer.
type kindError struct {
	msg        string
	status     int
	fields     string // the part of the request at fault
	hint       string // what the answer adds to the message
	retryAfter int    // seconds; 0: no Retry-After
}

func (e *kindError) Error() string { return e.msg }

// Answer is the error's HTTP answer.
func (e *kindError) Answer() *httperr.Error {
	a := &httperr.Error{Status: e.status, Message: e.msg + e.hint, Fields: e.fields}
	if e.retryAfter > 0 {
		a.Header = httperr.RetryAfter(e.retryAfter)
	}
	return a
}

// maxRetryAfter caps the wait a RateLimitedError announces.
const maxRetryAfter = time.Hour

// ChallengeError is a failed authentication with the WWW-Authenticate challenge to send (401).
type ChallengeError struct {
	Challenge string // e.g. `Basic realm="shop"`
	Err       error  // wraps auth.ErrUnauthenticated
}

func (e *ChallengeError) Error() string { return e.Err.Error() }
func (e *ChallengeError) Unwrap() error { return e.Err }

// Answer is a 401 with the challenge.
func (e *ChallengeError) Answer() *httperr.Error {
	return &httperr.Error{Status: http.StatusUnauthorized, Message: e.Error(), Header: http.Header{"Www-Authenticate": {e.Challenge}}}
}

// RateLimitedError: the API's (or the client's) request budget is spent for now (429).
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

// Answer is a 429 with the wait in Retry-After, in whole seconds rounded up.
func (e *RateLimitedError) Answer() *httperr.Error {
	return &httperr.Error{Status: http.StatusTooManyRequests, Message: e.Error(), Header: httperr.RetryAfter(int(math.Ceil(e.RetryAfter.Seconds())))}
}
