package handlers

import (
	"math"
	"net/http"
	"strings"

	"github.com/gantry-dev/gantry/invoke"
)

// allowedCallMethods answer OPTIONS on a function's path.
const allowedCallMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

// invoke serves ANY /r/{app}/{route...}: it runs the function whose route matches and
// answers with its output, through the invocation service: the call is read and resolved,
// admitted here (the route's auth), then run and answered. OPTIONS is answered without
// running the function; HEAD runs it as GET and drops the body. A GET without a body
// passes ?payload= as the input.
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
		a.WriteError(w, errNoFunctions())
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
	rawPath := "" // the client's escaping, when it is not the default one (the service escapes Path)
	if r.URL.RawPath != "" {
		_, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.EscapedPath(), "/r/"), "/")
		rawPath = "/" + rest
	}
	call, err := a.functions.Prepare(w, r, invoke.Request{
		App: appName, Path: path, RawPath: rawPath, Query: r.URL.RawQuery, Header: r.Header,
	}, invoke.Limits{MaxBody: math.MaxInt64, PayloadQuery: true}) // /r/ has no bound of its own: the server's
	if err == nil {
		err = a.admit.Admit(r.Context(), call)
	}
	if err != nil {
		a.WriteError(w, err)
		return
	}
	a.functions.Serve(w, r, call)
}
