package invoke

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// The invocation service's tests need no Docker daemon: a fake runner stands for the
// runner (the narrow Runner interface the service declares), over a real bbolt store in
// t.TempDir().

// fakeRunner answers calls as the runner would: with run's outcome (by default a 200 "ok"
// from a cold container), handed to the call's Done before Run returns.
type fakeRunner struct {
	mu      sync.Mutex
	calls   []*runner.Call
	run     func(ctx context.Context, c *runner.Call) (*runner.Result, error)
	started chan *runner.Call // if set, gets each call as it starts
	netErr  error             // NetworkAllowed's answer
	drained []string
	hot     int               // HotContainers' answer
	hotBy   []runner.HotRoute // HotRoutes' answer
}

func (f *fakeRunner) Run(ctx context.Context, c *runner.Call) (*runner.Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	run := f.run
	f.mu.Unlock()
	if f.started != nil {
		f.started <- c
	}
	var (
		res *runner.Result
		err error
	)
	if run != nil {
		res, err = run(ctx, c)
	} else {
		res = &runner.Result{Status: http.StatusOK, Header: http.Header{}, Body: []byte("ok"), Ran: true, ExitCode: new(int)}
	}
	if res == nil {
		res = &runner.Result{Header: http.Header{}}
	}
	if c.Done != nil {
		c.Done(res, err)
	}
	return res, err
}

func (f *fakeRunner) NetworkAllowed(string, string) error       { return f.netErr }
func (f *fakeRunner) EnsureImage(context.Context, string) error { return nil }
func (f *fakeRunner) DrainRoute(app, path string)               { f.drain(app + path) }
func (f *fakeRunner) DrainApp(app string)                       { f.drain(app) }
func (f *fakeRunner) DrainSecret(ref string)                    { f.drain("secret " + ref) }

func (f *fakeRunner) HotContainers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hot
}

func (f *fakeRunner) HotRoutes() []runner.HotRoute {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hotBy
}

func (f *fakeRunner) drain(what string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drained = append(f.drained, what)
}

// ran is the calls the runner got so far.
func (f *fakeRunner) ran() []*runner.Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*runner.Call(nil), f.calls...)
}

// answer makes the runner answer every call with res and err.
func (f *fakeRunner) answer(res *runner.Result, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.run = func(context.Context, *runner.Call) (*runner.Result, error) { return res, err }
}

// blockUntilCancelled makes the runner hold every call until its context ends, as a
// function that runs long; the call then ends as the runner ends a cancelled one.
func (f *fakeRunner) blockUntilCancelled() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.run = func(ctx context.Context, _ *runner.Call) (*runner.Result, error) {
		<-ctx.Done()
		return &runner.Result{Header: http.Header{}, Ran: true}, ctx.Err()
	}
}

// env is a service over a real store, with app "shop" (owner ada, config A and B) and the
// routes a test makes.
type env struct {
	t   *testing.T
	db  *bolt.DB
	fr  *fakeRunner
	svc *Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, err := bolt.Open(t.Context(), t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.CreateApp(t.Context(), store.App{Name: "shop", Owner: "ada", Config: map[string]string{"A": "app", "B": "app"}}); err != nil {
		t.Fatal(err)
	}
	fr := &fakeRunner{}
	return &env{t: t, db: db, fr: fr, svc: New(db, fr, Options{Node: "node-a", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})}
}

// otherNode is a second node over the same store: another service, with a runner of its
// own, named node. bbolt serves one process, but two services that share its store and
// its feed are two nodes to each other.
func (e *env) otherNode(node string) *env {
	fr := &fakeRunner{}
	return &env{t: e.t, db: e.db, fr: fr, svc: New(e.db, fr, Options{Node: node, Log: e.svc.log})}
}

// route stores a route of app shop at path, with the defaults, changed by mod.
func (e *env) route(path string, mod func(*store.Route)) store.Route {
	e.t.Helper()
	r := store.Route{App: "shop", Path: path, Image: "img"}
	if mod != nil {
		mod(&r)
	}
	stored, err := e.db.CreateRoute(e.t.Context(), r, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return stored
}

// call resolves a request for path of shop, admits it, and runs it (for 10s at most: a
// test that goes wrong does not hang).
func (e *env) call(method, path string, header http.Header, body string) (*Response, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 10*time.Second)
	defer cancel()
	c, err := e.svc.Resolve(ctx, Request{App: "shop", Path: path, Method: method, Header: header, Body: []byte(body)})
	if err != nil {
		return nil, err
	}
	c.Admit(nil)
	return e.svc.Run(ctx, c)
}

// execution is the record of a call.
func (e *env) execution(id string) store.Execution {
	e.t.Helper()
	ex, err := e.db.GetExecution(e.t.Context(), id)
	if err != nil {
		e.t.Fatalf("execution %s: %v", id, err)
	}
	return ex
}

// executions are the records of every call of shop.
func (e *env) executions() []store.Execution {
	e.t.Helper()
	if err := e.db.FlushExecutions(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
	list, _, err := e.db.ListExecutions(e.t.Context(), store.ExecutionFilter{App: "shop"}, store.Page{Limit: store.MaxPageSize})
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

// serve answers a request for path of shop as Gantry's HTTP callers do: Prepare, Admit
// (the route's auth, with no authenticator unless admitter says otherwise), Serve.
func (e *env) serve(r *http.Request, path string, limits Limits, admitter *Admitter) *httptest.ResponseRecorder {
	e.t.Helper()
	w := httptest.NewRecorder()
	if admitter == nil {
		admitter = NewAdmitter(nil)
	}
	rawPath := ""
	if r.URL.RawPath != "" {
		rawPath = strings.TrimPrefix(r.URL.EscapedPath(), "/r/shop")
	}
	c, err := e.svc.Prepare(w, r, Request{App: "shop", Path: path, RawPath: rawPath, Query: r.URL.RawQuery, Header: r.Header}, limits)
	if err == nil {
		err = admitter.Admit(r.Context(), c)
	}
	if err != nil {
		httperr.WriteError(w, e.svc.log, err)
		return w
	}
	e.svc.Serve(w, r, c)
	return w
}

// eventually polls check until it passes or within is over.
func eventually(t *testing.T, within time.Duration, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startedCall waits for the runner to start a call (the runner's started must be set).
func (e *env) startedCall() *runner.Call {
	e.t.Helper()
	select {
	case c := <-e.fr.started:
		return c
	case <-time.After(5 * time.Second):
		e.t.Fatal("no call started within 5s")
		return nil
	}
}

// leased is an accepted async call that one of the service's workers leased and has not
// started.
type leased struct {
	w     *Workers
	owner string
	task  store.Task
}

// leasedByAWorker starts workers with opts, accepts a call of /fn (an async route the test
// made), and leases it as the workers' first would.
func (e *env) leasedByAWorker(opts WorkerOptions) leased {
	t := e.t
	t.Helper()
	w, err := e.svc.StartWorkers(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.call("POST", "/fn", http.Header{}, ""); err != nil {
		t.Fatal(err)
	}
	owner := w.run + "0"
	tasks, err := e.db.LeaseTasks(t.Context(), 1, owner, store.DefaultLease)
	if err != nil || len(tasks) != 1 {
		t.Fatal(tasks, err)
	}
	return leased{w: w, owner: owner, task: tasks[0]}
}
