package invoke

import (
	"context"
	"errors"
	"net/http"
	neturl "net/url"
	"time"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// Run runs a resolved call: a sync call at once (recording its execution and how it
// ended), an async one later (stored durably first, answered as Accepted). How it runs is
// the caller's Gantry-Invoke-Type header, else the route's type. A call its caller did not
// admit is refused before anything runs or is stored: 401 for a route with auth token,
// ErrNotAdmitted (a bug of the caller) otherwise.
func (s *Service) Run(ctx context.Context, c *Call) (*Response, error) {
	if c == nil || !c.resolved {
		return nil, ErrNotResolved
	}
	tg := c.target
	route := tg.Route
	switch { // fail closed: nobody checked the caller
	case !c.admitted && route.Auth == store.AuthToken:
		return nil, auth.Unauthenticated("this route takes only callers with a token")
	case !c.admitted:
		return nil, ErrNotAdmitted
	}
	if err := s.runner.NetworkAllowed(tg.AppOwner, route.Network); err != nil { // the app may have changed hands
		return nil, err
	}
	url := functionPath(c.req)
	if c.req.Query != "" {
		url += "?" + c.req.Query
	}
	if route.Format == store.FormatDefault {
		if err := runner.CheckCallEnv(url, tg.Params, c.header); err != nil {
			return nil, err
		}
	}
	async, err := wantsAsync(route, c.req.Header)
	if err != nil {
		return nil, err
	}
	// The call as a task: what an async call stores, and what every call runs from.
	t := store.Task{ID: s.store.NewID(), Route: route, AppConfig: tg.AppConfig, AppID: tg.AppID, AppVersion: tg.AppVersion, Params: tg.Params,
		Method: c.req.Method, URL: url, Header: c.header, Body: c.req.Body}
	if async {
		return s.accept(ctx, t)
	}
	now := s.now()
	ex := store.Execution{
		ID: t.ID, App: route.App, AppID: tg.AppID, Route: route.Path, Type: store.TypeSync, Node: s.node,
		Status: store.StatusRunning, CreatedAt: now, StartedAt: now,
	}
	s.store.RecordExecution(ex, nil)

	res, runErr := s.run(ctx, t, now, func(res *runner.Result, err error) {
		finish(&ex, res, err, s.now())
		ex.ImageDigest = ranImage(route, res)
		s.store.RecordExecution(ex, res.Log)
		s.tellFinished(ex, nil)
	})
	if res == nil {
		res = &runner.Result{Header: http.Header{}}
	}
	return &Response{CallID: t.ID, Route: route, Result: res}, runErr
}

// run runs task t as a call from now, for sync calls and async workers alike: tracked so
// that Cancel can stop it, its late log appended to its execution, and done told how it
// ended before its container serves anyone else. A call stopped by Cancel ends with
// runner.ErrCancelled. A call whose secrets cannot be had (one does not exist, or the
// service has no secret store) ends before anything runs, done told why, as does one whose
// route names an image ("@name") without a digest to run (resolveImage).
func (s *Service) run(ctx context.Context, t store.Task, now time.Time, done func(*runner.Result, error)) (*runner.Result, error) {
	ctx, untrack := s.track(ctx, t.ID)
	defer untrack()
	call := runnerCall(t, now)
	refs, version, err := s.secretsOf(t)
	if err == nil {
		err = s.resolveImage(ctx, t.Route, &call.Function)
	}
	if err != nil {
		res := &runner.Result{Header: http.Header{}}
		if done != nil {
			done(res, err)
		}
		return res, err
	}
	call.Done = done
	if call.Function.ImageName != "" && done != nil {
		call.Done = func(res *runner.Result, err error) {
			if res.Image == "" { // it did not run (it failed to start): the digest it was to run
				res.Image = call.Function.Image
			}
			done(res, err)
		}
	}
	call.Function.Secrets, call.Function.SecretsVersion = refs, version
	call.LateLog = func(tail []byte, truncated bool) { s.store.AppendExecutionLog(t.ID, tail, truncated) }
	res, err := s.runner.Run(ctx, call)
	if err != nil && errors.Is(context.Cause(ctx), runner.ErrCancelled) {
		err = runner.ErrCancelled
	}
	return res, err
}

// track registers a running call so that Cancel can stop it; the returned func unregisters it.
func (s *Service) track(ctx context.Context, id string) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	s.mu.Lock()
	s.running[id] = cancel
	if s.cancelled[id] { // cancelled between its lease and now
		delete(s.cancelled, id)
		cancel(runner.ErrCancelled)
	}
	s.mu.Unlock()
	return ctx, func() {
		s.mu.Lock()
		delete(s.running, id)
		s.mu.Unlock()
		cancel(nil)
	}
}

// runnerCall is the runner's call that runs task t, its deadline counted from now.
func runnerCall(t store.Task, now time.Time) *runner.Call {
	return &runner.Call{
		ID: t.ID, Function: function(t.Route, t.AppConfig, t.AppVersion), Method: t.Method, URL: t.URL,
		Header: withoutGantryHeaders(t.Header), Params: t.Params, Body: t.Body,
		Deadline: now.Add(time.Duration(t.Route.Timeout) * time.Second),
	}
}

// typeEnv is the last layer of a function's environment: its route's type. The maps are
// shared by every call and never written.
var typeEnv = map[string]map[string]string{
	store.TypeSync:  {"FN_TYPE": store.TypeSync},
	store.TypeAsync: {"FN_TYPE": store.TypeAsync},
}

// function is what the runner makes a route's containers from: the route's image and
// limits, and its environment, the app's config overridden by the route's, with the
// route's type (the runner adds the other FN_ variables). The layers are not merged here:
// a call to a hot container never needs them merged.
func function(rt store.Route, appConfig map[string]string, appVersion time.Time) runner.Function {
	env := []map[string]string{appConfig, rt.Config, typeEnv[rt.Type]}
	return runner.Function{
		App: rt.App, Path: rt.Path, Image: rt.Image, Format: rt.Format, MemoryMiB: rt.MemoryMiB, CPUs: rt.CPUs,
		Timeout:        time.Duration(rt.Timeout) * time.Second,
		IdleTimeout:    time.Duration(rt.IdleTimeout) * time.Second,
		MaxConcurrency: int(rt.MaxConcurrency),
		Network:        rt.Network,
		Env:            env,
		RouteVersion:   rt.UpdatedAt,
		AppVersion:     appVersion,
	}
}

// functionPath is the path the function sees: RawPath, as the client escaped it (its
// callers take it from url.URL.EscapedPath, a valid escaping of Path), else Path escaped.
func functionPath(req Request) string {
	if req.RawPath != "" {
		return req.RawPath
	}
	return (&neturl.URL{Path: req.Path}).EscapedPath()
}

// withoutGantryHeaders drops the request headers named Gantry-*: the function learns the
// call's id, deadline and params from Gantry alone, never from what a caller sent.
func withoutGantryHeaders(h map[string][]string) map[string][]string {
	var out map[string][]string
	for k := range h {
		if runner.IsGantryHeader(k) {
			if out == nil {
				out = http.Header(h).Clone()
			}
			delete(out, k)
		}
	}
	if out == nil {
		return h
	}
	return out
}

// IsGantryHeader tells whether a request header is one Gantry sets for a function
// (Gantry-*): a caller's own never reaches the function.
func IsGantryHeader(name string) bool { return runner.IsGantryHeader(name) }
