package gateway

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// headerRunner stands for the Docker driver behind the real invocation service: it answers
// every call and keeps the request header the function would see.
type headerRunner struct {
	mu    sync.Mutex
	calls []http.Header
}

func (r *headerRunner) Run(_ context.Context, c *runner.Call) (*runner.Result, error) {
	r.mu.Lock()
	r.calls = append(r.calls, c.Header.Clone())
	r.mu.Unlock()
	res := &runner.Result{Status: http.StatusOK, Header: http.Header{}, Body: []byte("ran"), Ran: true}
	if c.Done != nil {
		c.Done(res, nil)
	}
	return res, nil
}
func (r *headerRunner) NetworkAllowed(string, string) error       { return nil }
func (r *headerRunner) EnsureImage(context.Context, string) error { return nil }
func (r *headerRunner) DrainRoute(string, string)                 {}
func (r *headerRunner) DrainApp(string)                           {}
func (r *headerRunner) HotContainers() int                        { return 0 }
func (r *headerRunner) HotRoutes() []runner.HotRoute              { return nil }

func (r *headerRunner) seen() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// TestARouteWithAuthTokenBehindAnAPI: the gateway decides a route's auth through the same
// admission as /r/, on the real invocation service: without a Gantry token the function
// never runs; with one it runs and never sees the token.
func TestARouteWithAuthTokenBehindAnAPI(t *testing.T) {
	fr := &headerRunner{}
	var authn *auth.Authenticator
	e := newEnv(t, func(e *env, o *Options) {
		authn = auth.NewAuthenticator(e.db, nil)
		o.Calls = invoke.New(e.db, fr, invoke.Options{})
		o.Auth = authn
		o.writeError = nil // the one mapping, as served
	})
	ctx := t.Context()
	if _, err := e.db.CreateRoute(ctx, store.Route{App: "shop", Path: "/private", Image: "img", Auth: store.AuthToken}, nil); err != nil {
		t.Fatal(err)
	}
	id := e.db.NewID()
	secret, hash := auth.NewSecret(id)
	if _, err := e.db.CreateToken(ctx, store.Token{ID: id, Name: "caller", User: "carol", Role: auth.RoleDeveloper, Hash: hash}); err != nil {
		t.Fatal(err)
	}
	e.create(newAPI("private", nil))

	for _, tt := range []struct {
		name   string
		header http.Header
		status int
	}{
		{"a call without credentials is refused", http.Header{}, http.StatusUnauthorized},
		{"a call with a wrong token is refused", http.Header{"Authorization": {"Bearer " + auth.TokenPrefix + "nope"}}, http.StatusUnauthorized},
		{"a call with a Gantry token runs", http.Header{"Authorization": {"Bearer " + secret}, "X-Trace": {"t1"}}, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(fr.seen())
			res := e.do("GET", "http://any.example/", tt.header)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", res.status, tt.status, res.body)
			}
			ran := len(fr.seen()) - before
			switch {
			case tt.status != http.StatusOK && ran != 0:
				t.Fatal("the function ran for a refused caller")
			case tt.status != http.StatusOK && !strings.Contains(res.body, `"error"`):
				t.Fatalf("body %q is not the error JSON", res.body)
			case tt.status == http.StatusOK && ran != 1:
				t.Fatalf("%d runs, want 1", ran)
			case tt.status == http.StatusOK:
				h := fr.seen()[len(fr.seen())-1]
				if h.Get("Authorization") != "" || h.Get("X-Trace") != "t1" {
					t.Fatalf("the function saw %v: want the token gone and the rest kept", h)
				}
			}
		})
	}
}
