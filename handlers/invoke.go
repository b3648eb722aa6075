package handlers

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

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
	appName, path, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/r/"), "/")
	path = "/" + path
	if appName == "" {
		writeError(w, toAPIError(a.log, errInvalidField("app", "the URL must name an app: /r/{app}/{route}")))
		return
	}
	if a.functions == nil {
		writeError(w, errNoFunctions)
		return
	}
	if r.Method == http.MethodOptions {
		if _, _, err := a.store.MatchRoute(appName, path); err != nil {
			writeError(w, toAPIError(a.log, err))
			return
		}
		w.Header().Set("Allow", allowedCallMethods)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxCallBody))
	if err != nil {
		writeError(w, toAPIError(a.log, readBodyError(err)))
		return
	}
	if len(body) == 0 && r.URL.RawQuery != "" { // ?payload= stands for an empty body
		if query := r.URL.Query(); query.Has("payload") {
			body = []byte(query.Get("payload"))
		}
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	resp, err := a.functions.Invoke(r.Context(), runner.Request{
		App: appName, Path: path, Query: r.URL.RawQuery, Method: method, Header: r.Header, Body: body,
		Admit: func(route store.Route) error { return a.admitCall(r, route) },
	})
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
		writeError(w, toAPIError(a.log, err))
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
	if r.Method != http.MethodHead {
		h.Set("Content-Length", fmt.Sprint(len(resp.Body)))
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(resp.Body)
	}
}

// admitCall lets a call of a route with `auth: token` through only with valid credentials
// (any identity: the route's auth says who may call, not who owns). With authentication
// off, nothing is checked.
func (a *API) admitCall(r *http.Request, route store.Route) error {
	if route.Auth != store.AuthToken || a.auth == nil {
		return nil
	}
	_, err := a.auth.Authenticate(r.Context(), r.Header.Get("Authorization"))
	return err
}

// readBodyError classifies a failure to read a call's body: too large (413) or cut off.
func readBodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errBodyTooLarge(tooLarge.Limit)
	}
	return errInvalidField("body", "could not read the request body: "+err.Error())
}
