package runner

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	neturl "net/url"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/store"
)

// Store is what the invocation path needs of persistence.
type Store interface {
	Target(app, path, route, owner string) (store.Target, error)
	NewID() string
	RecordExecution(ex store.Execution, log []byte)
	AppendExecutionLog(id string, tail []byte, truncated bool)
	GetExecution(ctx context.Context, id string) (store.Execution, error)
	CancelTask(ctx context.Context, id string) (owner string, err error)
	Queue
}

// Invoker is the one invocation path of Gantry: /r/ requests and the async workers call
// functions through it (the gateway, events and workflow steps will too). It also knows
// the calls running in this process, so that Cancel can stop them.
type Invoker struct {
	store  Store
	runner *Runner
	now    func() time.Time
	wake   chan struct{} // an accepted async call wakes an idle worker

	mu      sync.Mutex
	running map[string]context.CancelCauseFunc // calls running in this process, by execution id
	// cancelled are calls cancelled while one of this run's workers leased them but had not
	// started them yet: track stops them as they start.
	cancelled map[string]bool
	workers   string // the lease owner prefix of this run's workers ("" before StartWorkers)
}

// NewInvoker returns the invocation path over a store and a runner.
func NewInvoker(s Store, r *Runner) *Invoker {
	return &Invoker{store: s, runner: r, now: func() time.Time { return time.Now().UTC() }, wake: make(chan struct{}, 1),
		running: map[string]context.CancelCauseFunc{}, cancelled: map[string]bool{}}
}

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
	// Admit decides whether the matched route may be called with this request (the
	// route's auth), and returns the request header the function sees: the caller's, less
	// the credentials Gantry consumed (nil: Header). Its error ends the call before
	// anything runs or is stored. Without it, a route with auth token is refused.
	Admit func(route store.Route) (http.Header, error)
}

// Response is the outcome of a call, or, when Accepted, the receipt of an async call. It is
// returned with the error of a failed call too, as soon as the call had an execution, so
// that callers can name it (Gantry-Call-Id).
type Response struct {
	CallID   string
	Route    store.Route
	Accepted bool // an async call, stored to run later
	*Result
}

// Invoke resolves the route and runs the call: a sync call at once (recording its execution
// and how it ended), an async one later (stored durably first, answered as Accepted).
func (iv *Invoker) Invoke(ctx context.Context, req Request) (*Response, error) {
	tg, err := iv.store.Target(req.App, req.Path, req.Route, req.Owner)
	if err != nil {
		return nil, err
	}
	route, params := tg.Route, tg.Params
	if req.Route != "" { // a route named by its path: the caller bound its params
		params = req.Params
	}
	header := req.Header
	switch {
	case req.Admit != nil:
		h, err := req.Admit(route)
		if err != nil {
			return nil, err
		}
		if h != nil {
			header = h
		}
	case route.Auth == store.AuthToken: // fail closed: nobody checked the caller
		return nil, auth.Unauthenticated("this route takes only callers with a token")
	}
	if err := iv.runner.NetworkAllowed(tg.AppOwner, route.Network); err != nil { // the app may have changed hands
		return nil, err
	}
	url := functionPath(req)
	if req.Query != "" {
		url += "?" + req.Query
	}
	if route.Format == store.FormatDefault {
		if err := checkCallEnv(url, params, header); err != nil {
			return nil, err
		}
	}
	async, err := wantsAsync(route, req.Header)
	if err != nil {
		return nil, err
	}
	// The call as a task: what an async call stores, and what every call runs from.
	t := store.Task{ID: iv.store.NewID(), Route: route, AppConfig: tg.AppConfig, AppID: tg.AppID, AppVersion: tg.AppVersion, Params: params,
		Method: req.Method, URL: url, Header: header, Body: req.Body}
	if async {
		return iv.accept(ctx, t)
	}
	now := iv.now()
	ex := store.Execution{
		ID: t.ID, App: route.App, AppID: tg.AppID, Route: route.Path, Type: store.TypeSync,
		Status: store.StatusRunning, CreatedAt: now, StartedAt: now,
	}
	iv.store.RecordExecution(ex, nil)

	res, runErr := iv.run(ctx, t, now, func(res *Result, err error) {
		finish(&ex, res, err, iv.now())
		iv.store.RecordExecution(ex, res.Log)
	})
	if res == nil {
		res = &Result{Header: http.Header{}}
	}
	return &Response{CallID: t.ID, Route: route, Result: res}, runErr
}

// run runs task t as a call from now, for sync calls and async workers alike: tracked so
// that Cancel can stop it, its late log appended to its execution, and done told how it
// ended before its container serves anyone else. A call stopped by Cancel ends with
// ErrCancelled.
func (iv *Invoker) run(ctx context.Context, t store.Task, now time.Time, done func(*Result, error)) (*Result, error) {
	ctx, untrack := iv.track(ctx, t.ID)
	defer untrack()
	call := newCall(t, now)
	call.Done = done
	call.LateLog = func(tail []byte, truncated bool) { iv.store.AppendExecutionLog(t.ID, tail, truncated) }
	res, err := iv.runner.Run(ctx, call)
	if err != nil && errors.Is(context.Cause(ctx), ErrCancelled) {
		err = ErrCancelled
	}
	return res, err
}

// functionPath is the path the function sees: RawPath, as the client escaped it (its
// callers take it from url.URL.EscapedPath, a valid escaping of Path), else Path escaped.
func functionPath(req Request) string {
	if req.RawPath != "" {
		return req.RawPath
	}
	return (&neturl.URL{Path: req.Path}).EscapedPath()
}

// newCall is the call that runs task t, its deadline counted from now.
func newCall(t store.Task, now time.Time) *Call {
	return &Call{
		ID: t.ID, Route: t.Route, AppConfig: t.AppConfig, AppVersion: t.AppVersion, Method: t.Method, URL: t.URL,
		Header: withoutGantryHeaders(t.Header), Params: t.Params, Body: t.Body,
		Deadline: now.Add(time.Duration(t.Route.Timeout) * time.Second),
	}
}

// track registers a running call so that Cancel can stop it; the returned func unregisters it.
func (iv *Invoker) track(ctx context.Context, id string) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	iv.mu.Lock()
	iv.running[id] = cancel
	if iv.cancelled[id] { // cancelled between its lease and now
		delete(iv.cancelled, id)
		cancel(ErrCancelled)
	}
	iv.mu.Unlock()
	return ctx, func() {
		iv.mu.Lock()
		delete(iv.running, id)
		iv.mu.Unlock()
		cancel(nil)
	}
}

// Cancel cancels a call and returns its execution. A queued call never runs (CANCELLED at
// once). A running call in this process is stopped (its container killed; it ends
// CANCELLED). An async call leased elsewhere is marked in the queue so that it is never
// run again (its holder's result is still recorded). A finished call is a store.ErrConflict.
func (iv *Invoker) Cancel(ctx context.Context, id string) (store.Execution, error) {
	owner, err := iv.store.CancelTask(ctx, id)
	switch {
	case err == nil:
		return iv.store.GetExecution(ctx, id)
	case !errors.Is(err, store.ErrTaskRunning) && !errors.Is(err, store.ErrNotFound):
		return store.Execution{}, err
	}
	iv.mu.Lock()
	cancel := iv.running[id]
	if cancel != nil {
		cancel(ErrCancelled)
	} else if iv.workers != "" && strings.HasPrefix(owner, iv.workers) {
		iv.cancelled[id] = true // leased by one of our workers, not started yet
	}
	iv.mu.Unlock()
	ex, gerr := iv.store.GetExecution(ctx, id)
	switch {
	case gerr != nil:
		return store.Execution{}, gerr
	case cancel != nil, errors.Is(err, store.ErrTaskRunning):
		return ex, nil
	case ex.Done():
		return ex, fmt.Errorf("%w: execution %q already finished (%s)", store.ErrConflict, id, ex.Status)
	}
	return ex, fmt.Errorf("%w: execution %q is not running in this server", store.ErrConflict, id)
}

// finish records the outcome of a call in its execution.
func finish(ex *store.Execution, res *Result, err error, now time.Time) {
	ex.CompletedAt = now
	ex.ExitCode = res.ExitCode
	ex.OutputTruncated, ex.LogTruncated = res.OutputTruncated, res.LogTruncated
	switch {
	case res.Ran && res.Hot:
		ex.Container = store.ContainerHot
	case res.Ran:
		ex.Container = store.ContainerCold
	}
	var fe *FunctionError
	switch {
	case err == nil:
		ex.Status = store.StatusSuccess
		return
	case errors.Is(err, ErrTimeout):
		ex.Status, ex.Reason = store.StatusFailed, store.ReasonTimeout
	case errors.As(err, &fe):
		ex.Status, ex.Reason = store.StatusFailed, fe.Reason
	case errors.Is(err, ErrBusy):
		ex.Status, ex.Reason = store.StatusFailed, store.ReasonBusy
	case errors.Is(err, context.Canceled), errors.Is(err, ErrCancelled):
		ex.Status, ex.Reason = store.StatusCancelled, store.ReasonClientRequest // cancelled, or the caller went away
	default:
		ex.Status, ex.Reason = store.StatusFailed, store.ReasonError
	}
	ex.Error = err.Error()
}

// EnsureImage checks that a route's image is on this host, pulling it if it can.
func (iv *Invoker) EnsureImage(ctx context.Context, ref string) error {
	return iv.runner.EnsureImage(ctx, ref)
}

// DrainRoute stops a route's hot containers after it changed or was deleted.
func (iv *Invoker) DrainRoute(app, path string) { iv.runner.DrainRoute(app, path) }

// NetworkAllowed reports whether an app of owner may run functions on the route network.
func (iv *Invoker) NetworkAllowed(owner, network string) error {
	return iv.runner.NetworkAllowed(owner, network)
}

// DrainApp stops the hot containers of every route of an app after the app changed.
func (iv *Invoker) DrainApp(app string) { iv.runner.DrainApp(app) }

// withoutGantryHeaders drops the request headers named Gantry-*: the function learns the
// call's id, deadline and params from Gantry alone, never from what a caller sent.
func withoutGantryHeaders(h map[string][]string) map[string][]string {
	var out map[string][]string
	for k := range h {
		if IsGantryHeader(k) {
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
func IsGantryHeader(name string) bool {
	return len(name) >= 7 && strings.EqualFold(name[:7], "Gantry-")
}

// forwardHeader is a copy of h fit to pass on to a function: without the headers of one
// connection (hop-by-hop) and without Gantry-* ones.
func forwardHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		if !IsGantryHeader(k) {
			out[k] = v
		}
	}
	for _, k := range hopHeaders {
		out.Del(k)
	}
	return out
}
