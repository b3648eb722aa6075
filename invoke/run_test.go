package invoke

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// TestSyncCallsAreRecorded: a sync call runs at once and its execution records how it
// ended, whatever ended it.
func TestSyncCallsAreRecorded(t *testing.T) {
	code := func(n int) *int { return &n }
	tests := []struct {
		name       string
		res        *runner.Result
		err        error
		wantStatus string
		wantReason string
		wantCont   string
		wantErr    error
	}{
		{"a call that succeeds in a cold container is SUCCESS",
			&runner.Result{Status: 200, Header: http.Header{}, Body: []byte("hi"), Ran: true, ExitCode: code(0)}, nil,
			store.StatusSuccess, "", store.ContainerCold, nil},
		{"a call a hot container served is SUCCESS from a hot container",
			&runner.Result{Status: 201, Header: http.Header{}, Ran: true, Hot: true}, nil,
			store.StatusSuccess, "", store.ContainerHot, nil},
		{"a function that exits badly is FAILED bad_exit",
			&runner.Result{Header: http.Header{}, Ran: true, ExitCode: code(3), Log: []byte("boom")},
			&runner.FunctionError{Reason: runner.ReasonBadExit, ExitCode: code(3), Message: "function exited with code 3"},
			store.StatusFailed, store.ReasonBadExit, store.ContainerCold, &runner.FunctionError{}},
		{"a function killed out of memory is FAILED killed",
			&runner.Result{Header: http.Header{}, Ran: true, ExitCode: code(137)},
			&runner.FunctionError{Reason: runner.ReasonKilled, ExitCode: code(137), Message: "killed"},
			store.StatusFailed, store.ReasonKilled, store.ContainerCold, &runner.FunctionError{}},
		{"a function past its timeout is FAILED timeout",
			&runner.Result{Header: http.Header{}, Ran: true}, runner.ErrTimeout,
			store.StatusFailed, store.ReasonTimeout, store.ContainerCold, runner.ErrTimeout},
		{"a call Docker could not run is FAILED error, with no container",
			nil, runner.ErrDockerUnavailable,
			store.StatusFailed, store.ReasonError, "", runner.ErrDockerUnavailable},
		{"a call no hot container was free for is FAILED busy",
			nil, runner.ErrBusy,
			store.StatusFailed, store.ReasonBusy, "", runner.ErrBusy},
		{"a call whose caller went away is CANCELLED client_request",
			&runner.Result{Header: http.Header{}, Ran: true}, context.Canceled,
			store.StatusCancelled, store.ReasonClientRequest, store.ContainerCold, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.route("/fn", nil)
			e.fr.answer(tt.res, tt.err)
			resp, err := e.call("POST", "/fn", http.Header{}, "in")
			var fe *runner.FunctionError
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("call: %v", err)
			case errors.As(tt.wantErr, &fe) && !errors.As(err, &fe):
				t.Fatalf("call: %v, want a function error", err)
			case tt.wantErr != nil && fe == nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("call: %v, want %v", err, tt.wantErr)
			}
			if resp == nil || resp.CallID == "" || resp.Route.Path != "/fn" || resp.Accepted {
				t.Fatalf("response %+v, want the call's id and route", resp)
			}
			ex := e.execution(resp.CallID)
			if ex.Status != tt.wantStatus || ex.Reason != tt.wantReason || ex.Container != tt.wantCont || ex.Type != store.TypeSync ||
				ex.App != "shop" || ex.Route != "/fn" || ex.StartedAt.IsZero() || ex.CompletedAt.IsZero() {
				t.Fatalf("execution %+v, want %s %q from %q", ex, tt.wantStatus, tt.wantReason, tt.wantCont)
			}
			if (tt.err != nil) != (ex.Error != "") {
				t.Errorf("execution error %q for %v", ex.Error, tt.err)
			}
			if tt.res != nil && tt.res.ExitCode != nil && (ex.ExitCode == nil || *ex.ExitCode != *tt.res.ExitCode) {
				t.Errorf("exit code %v, want %d", ex.ExitCode, *tt.res.ExitCode)
			}
			if tt.res != nil && len(tt.res.Log) > 0 {
				log, err := e.db.GetExecutionLog(t.Context(), resp.CallID)
				if err != nil || string(log) != string(tt.res.Log) {
					t.Errorf("log %q %v, want %q", log, err, tt.res.Log)
				}
			}
		})
	}
}

// TestTheRunnerGetsTheFunctionOfTheRoute: the runner's call is assembled from the route,
// its app and the request, and nothing a caller sends as Gantry-* reaches the function.
func TestTheRunnerGetsTheFunctionOfTheRoute(t *testing.T) {
	e := newEnv(t)
	rt := e.route("/users/:id", func(r *store.Route) {
		r.Format, r.MemoryMiB, r.CPUs, r.Timeout, r.IdleTimeout, r.MaxConcurrency = store.FormatHTTP, 256, 0.5, 7, 90, 3
		r.Network, r.Config = "team", map[string]string{"B": "route", "C": "route"}
	})
	app, err := e.db.GetApp(t.Context(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	header := http.Header{"X-Mine": {"yes"}, "Gantry-Deadline": {"forged"}, "gantry-call-id": {"forged"}}
	if _, err := e.call("PUT", "/users/42", header, "body"); err != nil {
		t.Fatal(err)
	}
	calls := e.fr.ran()
	if len(calls) != 1 {
		t.Fatalf("%d calls ran, want 1", len(calls))
	}
	c := calls[0]
	want := runner.Function{App: "shop", Path: "/users/:id", Image: "img", Format: store.FormatHTTP, MemoryMiB: 256, CPUs: 0.5,
		Timeout: 7 * time.Second, IdleTimeout: 90 * time.Second, MaxConcurrency: 3, Network: "team",
		RouteVersion: rt.UpdatedAt, AppVersion: app.UpdatedAt}
	got := c.Function
	got.Env = nil
	if !got.RouteVersion.Equal(want.RouteVersion) || got.AppVersion.IsZero() {
		t.Errorf("versions %v %v, want the route's %v and the app's", got.RouteVersion, got.AppVersion, want.RouteVersion)
	}
	got.RouteVersion, got.AppVersion, want.RouteVersion, want.AppVersion = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("function %+v, want %+v", got, want)
	}
	if env := map[string]string{"A": "app", "B": "route", "C": "route", "FN_TYPE": store.TypeSync}; !maps.Equal(c.Function.Config(), env) {
		t.Errorf("env %v, want the app's config under the route's, and FN_TYPE: %v", c.Function.Env, env)
	}
	if c.Method != "PUT" || c.URL != "/users/42" || string(c.Body) != "body" || c.Params["id"] != "42" || c.ID == "" {
		t.Errorf("call %s %s %q params %v id %q", c.Method, c.URL, c.Body, c.Params, c.ID)
	}
	if h := http.Header(c.Header); h.Get("X-Mine") != "yes" || len(h) != 1 {
		t.Errorf("the function's header %v, want X-Mine only", h)
	}
	if c.Deadline.Before(before.Add(7*time.Second)) || c.Deadline.After(time.Now().Add(7*time.Second)) {
		t.Errorf("deadline %v, want the route's timeout from now", c.Deadline)
	}
}

// TestResolve: a request resolves to the route that matches its path, or to the route it
// names (with the params its caller bound), of an app of its owner when one is named.
func TestResolve(t *testing.T) {
	e := newEnv(t)
	e.route("/users/:id", nil)
	e.route("/users/me", nil)
	tests := []struct {
		name       string
		req        Request
		wantRoute  string
		wantParams store.Params
		wantErr    error
	}{
		{"the most specific route matches the path", Request{App: "shop", Path: "/users/me"}, "/users/me", nil, nil},
		{"a route with a placeholder binds its value", Request{App: "shop", Path: "/users/7"}, "/users/:id", store.Params{"id": "7"}, nil},
		{"a route named by its path takes the caller's params", Request{App: "shop", Path: "/x", Route: "/users/:id", Params: store.Params{"id": "9"}}, "/users/:id", store.Params{"id": "9"}, nil},
		{"a route named by its path is one of its owner's app", Request{App: "shop", Route: "/users/me", Owner: "ada"}, "/users/me", nil, nil},
		{"another owner's app is not found", Request{App: "shop", Route: "/users/me", Owner: "bob"}, "", nil, store.ErrNotFound},
		{"a path no route matches is not found", Request{App: "shop", Path: "/nothing"}, "", nil, store.ErrNotFound},
		{"an unknown app is not found", Request{App: "nobody", Path: "/users/me"}, "", nil, store.ErrNotFound},
		{"a route named that is not registered is not found", Request{App: "shop", Route: "/users/:name"}, "", nil, store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := e.svc.Resolve(t.Context(), tt.req)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Resolve: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if c.Route().Path != tt.wantRoute || !maps.Equal(c.target.Params, tt.wantParams) || c.admitted {
				t.Fatalf("resolved %s %v admitted=%v, want %s %v, not admitted", c.Route().Path, c.target.Params, c.admitted, tt.wantRoute, tt.wantParams)
			}
		})
	}
}

// TestTheFunctionSeesThePathAsTheClientEscapedIt: the URL of the call is the client's
// escaping of the path when it gave one, else the path escaped, with the query.
func TestTheFunctionSeesThePathAsTheClientEscapedIt(t *testing.T) {
	e := newEnv(t)
	e.route("/files/*rest", nil)
	for _, tt := range []struct {
		name string
		req  Request
		url  string
	}{
		{"a path without its escaping is escaped", Request{Path: "/files/a b"}, "/files/a%20b"},
		{"the client's escaping is kept", Request{Path: "/files/a/b", RawPath: "/files/a%2Fb"}, "/files/a%2Fb"},
		{"the query follows the path", Request{Path: "/files/x", Query: "q=1&r"}, "/files/x?q=1&r"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.App, tt.req.Method = "shop", "GET"
			c, err := e.svc.Resolve(t.Context(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			c.Admit(nil)
			resp, err := e.svc.Run(t.Context(), c)
			if err != nil {
				t.Fatal(err)
			}
			calls := e.fr.ran()
			if got := calls[len(calls)-1]; got.URL != tt.url || got.ID != resp.CallID {
				t.Fatalf("URL %q (call %s), want %q", got.URL, got.ID, tt.url)
			}
		})
	}
}

// TestCallsRefusedBeforeAnythingRuns: a call whose function may not run as asked is
// refused before anything runs or is recorded.
func TestCallsRefusedBeforeAnythingRuns(t *testing.T) {
	bigHeader := http.Header{"X-Big": {strings.Repeat("h", runner.MaxHeaderEnvBytes)}}
	tests := []struct {
		name    string
		format  string
		netErr  error
		header  http.Header
		path    string
		wantErr error
	}{
		{"a network the app's owner may not use", store.FormatDefault, runner.ErrNetworkNotAllowed, nil, "/fn", runner.ErrNetworkNotAllowed},
		{"headers a default-format container cannot take", store.FormatDefault, nil, bigHeader, "/fn", runner.ErrHeadersTooLarge},
		{"a URL a default-format container cannot take", store.FormatDefault, nil, nil, "/fn/" + strings.Repeat("u", runner.MaxURLEnvBytes), runner.ErrURLTooLong},
		{"a Gantry-Invoke-Type that is neither sync nor async", store.FormatHTTP, nil, http.Header{HeaderInvokeType: {"later"}}, "/fn", store.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.route("/fn", func(r *store.Route) { r.Format = tt.format })
			e.route("/fn/*rest", func(r *store.Route) { r.Format = tt.format })
			e.fr.netErr = tt.netErr
			resp, err := e.call("GET", tt.path, tt.header, "")
			if !errors.Is(err, tt.wantErr) || resp != nil {
				t.Fatalf("call: %v %+v, want %v and no response", err, resp, tt.wantErr)
			}
			if n := len(e.fr.ran()); n != 0 {
				t.Errorf("%d calls ran", n)
			}
			if list := e.executions(); len(list) != 0 {
				t.Errorf("%d executions recorded", len(list))
			}
		})
	}
	t.Run("headers over a default-format bound still run in a hot format", func(t *testing.T) {
		e := newEnv(t)
		e.route("/fn", func(r *store.Route) { r.Format = store.FormatHTTP })
		if _, err := e.call("GET", "/fn", bigHeader, ""); err != nil {
			t.Fatal(err)
		}
	})
}
