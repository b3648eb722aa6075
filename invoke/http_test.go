package invoke

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// chunked is a request body of unknown length, as a chunked one is.
type chunked struct{ io.Reader }

// TestServe: a call served over HTTP answers with the function's status, headers and
// body, Gantry's headers, or an error in the API's model with its status.
func TestServe(t *testing.T) {
	const maxBody = 16
	fnErr := &runner.FunctionError{Reason: runner.ReasonBadExit, Message: "function exited with code 2"}
	tests := []struct {
		name      string
		route     func(*store.Route)
		res       *runner.Result
		err       error
		block     bool // the function runs until its context ends
		method    string
		target    string
		body      io.Reader
		length    int64 // announced Content-Length, when not the body's
		header    http.Header
		limits    *Limits // default: a bound of maxBody
		svcMax    int64   // the service's MaxCallBody, when set
		admitter  *Admitter
		status    int
		wantBody  string      // exact, when set
		wantHead  http.Header // each must be so ("": absent)
		wantCalls int         // runs of the function
		check     func(t *testing.T, e *env, w *httptest.ResponseRecorder)
	}{
		{name: "a function's answer comes with its status, headers and body, and Gantry's own headers",
			route: func(r *store.Route) { r.Headers = map[string][]string{"x-route": {"r"}} },
			res: &runner.Result{Status: 201, Body: []byte("hello"), Header: http.Header{"X-Fn": {"1"}, "Gantry-Call-Id": {"forged"},
				"Gantry-Route": {"forged"}, "Gantry-Output-Truncated": {"maybe"}}},
			status: 201, wantBody: "hello", wantCalls: 1,
			wantHead: http.Header{"X-Fn": {"1"}, "X-Route": {"r"}, "Gantry-Route": {"shop/fn"}, "Content-Length": {"5"}, "Gantry-Output-Truncated": {""}},
			check: func(t *testing.T, e *env, w *httptest.ResponseRecorder) {
				if id := w.Header().Get(HeaderCallID); id != e.fr.ran()[0].ID || e.execution(id).Status != store.StatusSuccess {
					t.Errorf("Gantry-Call-Id %q, want the call's execution %s", id, e.fr.ran()[0].ID)
				}
			}},
		{name: "a function's status of 0 is 200", res: &runner.Result{Header: http.Header{}, Body: []byte("x")},
			status: 200, wantBody: "x", wantCalls: 1},
		{name: "an output cut at its bound is flagged", res: &runner.Result{Status: 200, Header: http.Header{}, Body: []byte("abc"), OutputTruncated: true},
			status: 200, wantBody: "abc", wantCalls: 1, wantHead: http.Header{"Gantry-Output-Truncated": {"true"}}},
		{name: "HEAD runs as GET and answers the length without the body", method: "HEAD",
			res:    &runner.Result{Status: 200, Header: http.Header{}, Body: []byte("hello")},
			status: 200, wantBody: "", wantCalls: 1, wantHead: http.Header{"Content-Length": {"5"}},
			check: func(t *testing.T, e *env, _ *httptest.ResponseRecorder) {
				if m := e.fr.ran()[0].Method; m != "GET" {
					t.Errorf("the function got %s, want GET", m)
				}
			}},
		{name: "an async call is 202 with its id and where to find it", header: http.Header{HeaderInvokeType: {"async"}},
			status: 202, wantCalls: 0, wantHead: http.Header{"Content-Type": {"application/json"}},
			check: func(t *testing.T, e *env, w *httptest.ResponseRecorder) {
				id := w.Header().Get(HeaderCallID)
				if w.Body.String() != `{"call_id":"`+id+`"}`+"\n" || w.Header().Get("Location") != "/v1/executions/"+id || e.execution(id).Status != store.StatusQueued {
					t.Errorf("answer %q Location %q, want the queued call %s", w.Body, w.Header().Get("Location"), id)
				}
			}},
		{name: "a body announced over the bound is 413 before anything runs", body: strings.NewReader(strings.Repeat("b", maxBody+1)),
			status:   413,
			wantBody: `{"error":{"fields":"body","message":"request body is larger than 16 bytes"}}` + "\n",
			wantHead: http.Header{"Connection": {"close"}, "Content-Type": {"application/json"}, HeaderCallID: {""}}},
		{name: "a chunked body that grows over the bound is 413", body: chunked{strings.NewReader(strings.Repeat("b", maxBody+1))},
			status:   413,
			wantBody: `{"error":{"fields":"body","message":"request body is larger than 16 bytes"}}` + "\n",
			wantHead: http.Header{"Connection": {"close"}}},
		{name: "a chunked body within the bound reaches the function", body: chunked{strings.NewReader("small")},
			status: 200, wantCalls: 1,
			check: func(t *testing.T, e *env, _ *httptest.ResponseRecorder) {
				if b := string(e.fr.ran()[0].Body); b != "small" {
					t.Errorf("the function got %q", b)
				}
			}},
		{name: "the service's bound caps a caller's larger one", body: strings.NewReader("123456789"), svcMax: 8,
			limits: &Limits{MaxBody: 1 << 20}, status: 413,
			wantBody: `{"error":{"fields":"body","message":"request body is larger than 8 bytes"}}` + "\n"},
		{name: "a bound of 0 takes no body", body: strings.NewReader("x"), limits: &Limits{MaxBody: 0}, status: 413,
			wantBody: `{"error":{"fields":"body","message":"request body is larger than 0 bytes"}}` + "\n"},
		{name: "a body cut short is 400", body: strings.NewReader("abc"), length: 10, status: 400,
			wantBody: `{"error":{"fields":"body","message":"could not read the request body: unexpected EOF"}}` + "\n",
			wantHead: http.Header{"Connection": {"close"}}},
		{name: "a ?payload= stands for an empty body where the caller allows it", target: "/r/shop/fn?payload=hi",
			limits: &Limits{MaxBody: maxBody, PayloadQuery: true}, status: 200, wantCalls: 1,
			check: func(t *testing.T, e *env, _ *httptest.ResponseRecorder) {
				if c := e.fr.ran()[0]; string(c.Body) != "hi" || c.URL != "/fn?payload=hi" {
					t.Errorf("the function got %q at %s", c.Body, c.URL)
				}
			}},
		{name: "a ?payload= is only a query elsewhere", target: "/r/shop/fn?payload=hi", status: 200, wantCalls: 1,
			check: func(t *testing.T, e *env, _ *httptest.ResponseRecorder) {
				if b := e.fr.ran()[0].Body; len(b) != 0 {
					t.Errorf("the function got %q, want no body", b)
				}
			}},
		{name: "the client's escaping of the path reaches the function", target: "/r/shop/fn%2Fx", status: 200, wantCalls: 1,
			route: func(r *store.Route) { r.Path = "/fn/*rest" },
			check: func(t *testing.T, e *env, _ *httptest.ResponseRecorder) {
				if u := e.fr.ran()[0].URL; u != "/fn%2Fx" {
					t.Errorf("the function got %s", u)
				}
			}},
		{name: "a path no route matches is 404", target: "/r/shop/nothing", status: 404,
			wantBody: `{"error":{"message":"no route of app \"shop\" matches /nothing"}}` + "\n"},
		{name: "a function's failure is 502 and names its call", err: fnErr, res: &runner.Result{Header: http.Header{"X-Fn": {"1"}}, Body: []byte("partial")},
			status: 502, wantCalls: 1, wantBody: `{"error":{"message":"function exited with code 2"}}` + "\n",
			wantHead: http.Header{"X-Fn": {""}, "Gantry-Route": {"shop/fn"}},
			check: func(t *testing.T, e *env, w *httptest.ResponseRecorder) {
				if id := w.Header().Get(HeaderCallID); id == "" || e.execution(id).Status != store.StatusFailed {
					t.Errorf("Gantry-Call-Id %q, want the failed call's", id)
				}
			}},
		{name: "a function past its timeout is 504", err: runner.ErrTimeout, status: 504, wantCalls: 1,
			wantBody: `{"error":{"message":"Timed out"}}` + "\n"},
		{name: "a call past its caller's timeout is 504", block: true, limits: &Limits{MaxBody: maxBody, Timeout: 30 * time.Millisecond},
			status: 504, wantCalls: 1, wantBody: `{"error":{"message":"Timed out"}}` + "\n"},
		{name: "Docker unavailable is 503 with a time to try again", err: runner.ErrDockerUnavailable, status: 503, wantCalls: 1,
			wantHead: http.Header{"Retry-After": {"5"}},
			wantBody: `{"error":{"message":"functions cannot run now: the container runtime (Docker) is unavailable"}}` + "\n"},
		{name: "a Gantry-Invoke-Type that is neither is 400 naming the header", header: http.Header{HeaderInvokeType: {"later"}}, status: 400,
			wantBody: `{"error":{"fields":"Gantry-Invoke-Type","message":"Gantry-Invoke-Type must be \"sync\" or \"async\", not \"later\""}}` + "\n"},
		{name: "a route with auth token is 401 with a challenge to a caller without a token",
			route: func(r *store.Route) { r.Auth = store.AuthToken }, admitter: NewAdmitter(tokenAuth{}), status: 401,
			wantHead: http.Header{"Www-Authenticate": {`Bearer realm="gantry"`}}, wantBody: `{"error":{"message":"no valid token"}}` + "\n"},
		{name: "a route with auth token runs for a caller with a token",
			route: func(r *store.Route) { r.Auth = store.AuthToken }, admitter: NewAdmitter(tokenAuth{}),
			header: http.Header{"Authorization": {"Bearer good"}}, status: 200, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.svcMax > 0 {
				e.svc = New(e.db, e.fr, Options{MaxCallBody: tt.svcMax, Log: slog.New(slog.DiscardHandler)})
			}
			rt := e.route("/fn", tt.route)
			switch {
			case tt.block:
				e.fr.blockUntilCancelled()
			case tt.res != nil || tt.err != nil:
				e.fr.answer(tt.res, tt.err)
			}
			method, target := cmp.Or(tt.method, "POST"), cmp.Or(tt.target, "/r/shop"+rt.Path)
			if rt.Path == "/fn/*rest" && tt.target == "" {
				target = "/r/shop/fn/x"
			}
			r := httptest.NewRequestWithContext(context.Background(), method, target, tt.body)
			if _, ok := tt.body.(chunked); ok {
				r.ContentLength = -1
			}
			if tt.length > 0 {
				r.ContentLength = tt.length
			}
			for k, v := range tt.header {
				r.Header[k] = v
			}
			limits := Limits{MaxBody: maxBody}
			if tt.limits != nil {
				limits = *tt.limits
			}
			w := e.serve(r, strings.TrimPrefix(r.URL.Path, "/r/shop"), limits, tt.admitter)
			if w.Code != tt.status {
				t.Fatalf("status %d %s, want %d", w.Code, w.Body, tt.status)
			}
			if tt.wantBody != "" || tt.method == "HEAD" {
				if w.Body.String() != tt.wantBody {
					t.Errorf("body %q, want %q", w.Body, tt.wantBody)
				}
			}
			for k, v := range tt.wantHead {
				if got := w.Header().Get(k); got != v[0] {
					t.Errorf("%s: %q, want %q", k, got, v[0])
				}
			}
			if tt.status < 300 && w.Header().Get(HeaderCallID) == "" {
				t.Error("no Gantry-Call-Id")
			}
			if n := len(e.fr.ran()); n != tt.wantCalls {
				t.Errorf("%d calls ran, want %d", n, tt.wantCalls)
			}
			if tt.wantCalls == 0 && tt.status != 202 && len(e.executions()) != 0 {
				t.Error("a call refused before it ran was recorded")
			}
			if tt.check != nil {
				tt.check(t, e, w)
			}
		})
	}
}

// TestServeContentLength: the length Gantry announces is the body it sends.
func TestServeContentLength(t *testing.T) {
	e := newEnv(t)
	e.route("/fn", nil)
	body := bytes.Repeat([]byte("z"), 1000)
	e.fr.answer(&runner.Result{Status: 200, Header: http.Header{"Content-Length": {"3"}}, Body: body}, nil)
	w := e.serve(httptest.NewRequest("GET", "/r/shop/fn", nil), "/fn", Limits{MaxBody: 1}, nil)
	if w.Header().Get("Content-Length") != strconv.Itoa(len(body)) || w.Body.Len() != len(body) {
		t.Fatalf("Content-Length %s with %d bytes", w.Header().Get("Content-Length"), w.Body.Len())
	}
}

// TestServeDropsTheCallersGantryEventHeaders: a caller's ce-type under dev.gantry. or
// ce-source under /gantry/ (as the function reads them, percent-decoded) never reaches the
// function, sync or async: only Gantry sends a tick or a system event. Its other ce-*
// headers do.
func TestServeDropsTheCallersGantryEventHeaders(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		want   http.Header // each must be so ("": absent)
	}{
		{name: "a forged tick's type and source are dropped",
			header: http.Header{"Ce-Type": {"dev.gantry.schedule.tick"}, "Ce-Source": {"/gantry/schedules/nightly"}, "Ce-Id": {"x"}},
			want:   http.Header{"Ce-Type": {""}, "Ce-Source": {""}, "Ce-Id": {"x"}}},
		{name: "a percent-encoded forgery is dropped too",
			header: http.Header{"Ce-Type": {"dev%2Egantry.execution.finished"}, "Ce-Source": {"%2Fgantry/apps/shop"}},
			want:   http.Header{"Ce-Type": {""}, "Ce-Source": {""}}},
		{name: "a caller's own event type and source reach the function",
			header: http.Header{"Ce-Type": {"com.example.dev.gantry.x"}, "Ce-Source": {"/shop/gantry/"}},
			want:   http.Header{"Ce-Type": {"com.example.dev.gantry.x"}, "Ce-Source": {"/shop/gantry/"}}},
	}
	for _, tt := range tests {
		for _, async := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s (async %v)", tt.name, async), func(t *testing.T) {
				e := newEnv(t)
				e.route("/fn", nil)
				r := httptest.NewRequest("POST", "/r/shop/fn", nil)
				for k, v := range tt.header {
					r.Header[k] = v
				}
				if async {
					r.Header.Set(HeaderInvokeType, "async")
				}
				w := e.serve(r, "/fn", Limits{MaxBody: 16}, nil)
				var seen http.Header
				if async {
					tasks, err := e.db.LeaseTasks(t.Context(), 1, "reader", time.Minute)
					if err != nil || len(tasks) != 1 {
						t.Fatalf("status %d: tasks %v, %v; want the call queued", w.Code, tasks, err)
					}
					seen = tasks[0].Header
				} else {
					if w.Code != 200 || len(e.fr.ran()) != 1 {
						t.Fatalf("status %d, %d calls ran", w.Code, len(e.fr.ran()))
					}
					seen = e.fr.ran()[0].Header
				}
				for k, v := range tt.want {
					if got := seen.Get(k); got != v[0] {
						t.Errorf("the function sees %s %q, want %q", k, got, v[0])
					}
				}
				if r.Header.Get("Ce-Type") != tt.header.Get("Ce-Type") {
					t.Error("the request's own header was modified")
				}
			})
		}
	}
}
