package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/gateway"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// Response headers of every function call.
const (
	headerCallID    = "Gantry-Call-Id"
	headerRoute     = "Gantry-Route"
	headerTruncated = "Gantry-Output-Truncated"
)

// allowedCallMethods answer OPTIONS on a function's path.
const allowedCallMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

// invoke serves ANY /r/{app}/{route...}: it runs the function whose route matches and
// answers with its output. OPTIONS is answered without running the function; HEAD runs
// it as GET and drops the body. A GET without a body passes ?payload= as the input.
func (a *API) invoke(w http.ResponseWriter, r *http.Request) {
	appName, path := strings.TrimPrefix(r.URL.Path, "/r/"), "/"
	if i := strings.IndexByte(appName, '/'); i >= 0 {
		appName, path = appName[:i], appName[i:]
	}
	if appName == "" {
		a.WriteError(w, errInvalidField("app", "the URL must name an app: /r/{app}/{route}"))
		return
	}
	if a.functions == nil {
		writeError(w, errNoFunctions)
		return
	}
	if r.Method == http.MethodOptions {
		if _, _, err := a.store.MatchRoute(appName, path); err != nil {
			a.WriteError(w, err)
			return
		}
		w.Header().Set("Allow", allowedCallMethods)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	rawPath := "" // the client's escaping, when it is not the default one (the runner escapes Path)
	if r.URL.RawPath != "" {
		_, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.EscapedPath(), "/r/"), "/")
		rawPath = "/" + rest
	}
	a.serveCall(w, r, runner.Request{
		App: appName, Path: path, RawPath: rawPath, Query: r.URL.RawQuery, Header: r.Header,
		Admit: func(route store.Route) (http.Header, error) { return a.admitCall(r.Context(), r.Header, route) },
	}, callLimits{maxBody: a.maxCallBody, payloadQuery: true})
}

// callLimits are the bounds of one function call at the HTTP edge.
type callLimits struct {
	maxBody int64 // larger request bodies get 413; 0: no body allowed
	// timeout, when set, bounds the whole call: past it the caller gets 504 "Timed out".
	timeout time.Duration
	// payloadQuery lets ?payload= stand for an empty body (/r/ calls).
	payloadQuery bool
}

// ServeCall runs a gateway call: req names the route (req.Route) and what the function
// sees; the body may be at most maxBody bytes, and never more than the server's
// --max-call-body (413), the call at most timeout long (504; 0: the route's own timeout).
// A missing function is 502. As on /r/, Gantry's credentials never reach the function
// (the gateway removes the API's own) and a route with auth token needs one.
func (a *API) ServeCall(w http.ResponseWriter, r *http.Request, req runner.Request, maxBody int64, timeout time.Duration) {
	req.Admit = func(route store.Route) (http.Header, error) {
		return a.admitCall(r.Context(), req.Header, route)
	}
	a.serveCall(w, r, req, callLimits{maxBody: min(maxBody, a.maxCallBody), timeout: timeout})
}

// serveCall reads the request's body into req, runs the call through the one invocation
// path and writes its answer: the function's status, headers and output, with Gantry-Call-Id
// and Gantry-Route; HEAD runs as GET without a body; errors in the JSON model. It serves
// /r/ and the gateway alike; req carries the route to run, serveCall the method and body.
func (a *API) serveCall(w http.ResponseWriter, r *http.Request, req runner.Request, limits callLimits) {
	if a.functions == nil {
		writeError(w, errNoFunctions)
		return
	}
	if r.ContentLength > limits.maxBody {
		w.Header().Set("Connection", "close") // the unread body must not be taken for the next request
		writeError(w, errBodyTooLarge(limits.maxBody))
		return
	}
	body, err := readCallBody(w, r, limits.maxBody)
	if err != nil {
		w.Header().Set("Connection", "close")
		a.WriteError(w, readBodyError(err))
		return
	}
	if limits.payloadQuery && len(body) == 0 && r.URL.RawQuery != "" { // ?payload= stands for an empty body
		if query := r.URL.Query(); query.Has("payload") {
			body = []byte(query.Get("payload"))
		}
	}
	req.Method, req.Body = r.Method, body
	if req.Method == http.MethodHead {
		req.Method = http.MethodGet
	}
	ctx := r.Context()
	if limits.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, limits.timeout, runner.ErrTimeout)
		defer cancel()
	}
	resp, err := a.functions.Invoke(ctx, req)
	switch {
	case err == nil:
	case limits.timeout > 0 && errors.Is(context.Cause(ctx), runner.ErrTimeout):
		err = runner.ErrTimeout
	case req.Route != "" && resp == nil && errors.Is(err, store.ErrNotFound):
		// The gateway's callers are not told the names behind an API; its owner finds them in the log.
		a.log.Info("gateway call of a missing function", "app", req.App, "route", req.Route)
		err = gateway.ErrFunctionMissing
	}
	h := w.Header()
	if err == nil {
		for k, v := range resp.Header { // the function's own headers, cleaned by the runner
			h[k] = v
		}
		for k, v := range resp.Route.Headers {
			h[http.CanonicalHeaderKey(k)] = v
		}
	}
	if resp != nil { // Gantry's headers last: a function cannot change them
		h.Set(headerCallID, resp.CallID)
		h.Set(headerRoute, resp.Route.App+resp.Route.Path)
		h.Del(headerTruncated)
		if resp.OutputTruncated {
			h.Set(headerTruncated, "true")
		}
	}
	if err != nil {
		a.WriteError(w, err)
		return
	}
	if resp.Accepted { // async: stored, runs later
		h.Set("Location", "/v1/executions/"+resp.CallID)
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = fmt.Fprintf(w, "{\"call_id\":%q}\n", resp.CallID)
		return
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.Body))) // HEAD too: the length GET would send
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(resp.Body)
	}
}

// admitCall lets a call of a route with `auth: token` through only with valid credentials
// (any identity: the route's auth says who may call, not who owns; with authentication off,
// nothing is checked). It is the one place where Gantry's credentials are kept from a
// function, and from the async queue: the Authorization a route with auth token consumed,
// and on any route every credential header (Authorization, Proxy-Authorization) one of whose
// values holds an API token or a token of the server's identity source, in any form (Bearer,
// Basic user or password, another scheme, bare). Such a header goes whole: the function's
// own credentials in it go too, rather than risk a mangled one.
func (a *API) admitCall(ctx context.Context, header http.Header, route store.Route) (http.Header, error) {
	var drop []string
	if route.Auth == store.AuthToken && a.auth != nil {
		if _, err := a.auth.Authenticate(ctx, header.Get("Authorization")); err != nil {
			return nil, err
		}
		drop = append(drop, "Authorization")
	}
	for _, name := range []string{"Authorization", "Proxy-Authorization"} { // the headers that carry credentials
		if slices.ContainsFunc(header.Values(name), a.isGantryCredential) && !slices.Contains(drop, name) {
			drop = append(drop, name)
		}
	}
	if len(drop) == 0 {
		return header, nil
	}
	header = header.Clone()
	for _, name := range drop {
		header.Del(name)
	}
	return header, nil
}

// isGantryCredential tells whether a credential header value carries a Gantry API token,
// or a token of the server's own identity source.
func (a *API) isGantryCredential(v string) bool {
	if a.auth == nil { // authentication off: no identity source, but a token is still Gantry's
		return auth.HasAPIToken(v)
	}
	return a.auth.Recognizes(v)
}

// WriteError answers err with the one error mapping (handlers and the gateway alike).
func (a *API) WriteError(w http.ResponseWriter, err error) { writeError(w, toAPIError(a.log, err)) }

// readCallBody reads a call's body, at most max bytes: one read of the announced length
// (already checked against max; net/http ends the body there), or, for a chunked body,
// reads bounded by max.
func readCallBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	switch {
	case r.ContentLength == 0:
		return []byte{}, nil
	case r.ContentLength > 0:
		body := make([]byte, r.ContentLength)
		_, err := io.ReadFull(r.Body, body)
		return body, err
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, max))
}

// readBodyError classifies a failure to read a call's body: too large (413) or cut off.
func readBodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errBodyTooLarge(tooLarge.Limit)
	}
	return errInvalidField("body", "could not read the request body: "+err.Error())
}
