package invoke

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// ErrNotResolved: Run was given a Call that Resolve did not make (a bug in its caller: 500).
var ErrNotResolved = errors.New("invoke: the call was not resolved (Resolve makes calls)")

// ErrNotAdmitted: Run was given a call of an open route that its caller did not admit (a
// bug in the caller, 500: admission is also what keeps Gantry's credentials from the
// function). A route with auth token answers 401 instead.
var ErrNotAdmitted = errors.New("invoke: the call was not admitted (its caller decides the route's auth first)")

// Request is a call to the function that serves Path of App.
type Request struct {
	App  string
	Path string // the path under the app, "/hello/world", decoded: routes match it
	// RawPath is Path as the client escaped it (from url.URL.EscapedPath), which the
	// function sees; "": Path escaped.
	RawPath string
	Query   string // raw query, without "?"
	Method  string
	Header  http.Header // read, never modified
	Body    []byte
	// Route, when set, names the route to run by its registered path ("/users/:id"), with
	// Params bound by the caller (the gateway); Path is then only what the function sees.
	// Without it the route is the one of App that matches Path (/r/ calls).
	Route  string
	Params store.Params
	// Owner, when set, is who the route's app must belong to (the gateway's API owner):
	// checked where the route is resolved, so the app cannot change hands in between.
	Owner string
}

// Call is a request resolved to its function: the route and the app it runs, and what its
// caller decided about it. Only Resolve (or Prepare) makes a Call that Run takes, and Run
// refuses a call unless its caller admitted it (Admit): a call nobody checked never runs.
type Call struct {
	req      Request
	target   store.Target // the route, the params bound, the app as it was resolved
	header   http.Header  // the request header the function sees
	admitted bool
	resolved bool
	// deadline, when set (a call read over HTTP with a timeout), bounds the whole call:
	// past it the caller gets ErrTimeout.
	deadline time.Time
}

// Route is the route the call resolved to. Its Config and Headers maps are shared: read
// them, never write.
func (c *Call) Route() store.Route { return c.target.Route }

// Header is the request header the function will see: the caller's, unless Admit gave
// another. Read it, never modify it.
func (c *Call) Header() http.Header { return c.header }

// Admit marks the call admitted by its caller, who checked the route's auth: Run refuses a
// call without it. header, when not nil, is the request header
// the function sees instead of the caller's (less the credentials Gantry consumed).
func (c *Call) Admit(header http.Header) {
	if header != nil {
		c.header = header
	}
	c.admitted = true
}

// Response is the outcome of a call, or, when Accepted, the receipt of an async call. It is
// returned with the error of a failed call too, as soon as the call had an execution, so
// that callers can name it (Gantry-Call-Id).
type Response struct {
	CallID   string
	Route    store.Route
	Accepted bool // an async call, stored to run later
	*runner.Result
}

// Resolve finds the function a request calls: the route of App that matches Path, or the
// route named by Route (of an app of Owner, if set), with its app as it is now. Nothing
// runs and nothing is recorded: the caller admits the call, then runs it with Run.
func (s *Service) Resolve(_ context.Context, req Request) (*Call, error) {
	tg, err := s.store.Target(req.App, req.Path, req.Route, req.Owner)
	if err != nil {
		return nil, err
	}
	if req.Route != "" { // a route named by its path: the caller bound its params
		tg.Params = req.Params
	}
	return &Call{req: req, target: tg, header: req.Header, resolved: true}, nil
}
