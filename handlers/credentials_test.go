package handlers

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// seenRunner stands for the runner behind the real invocation service: it answers every
// call, and keeps the request header the function would see.
type seenRunner struct {
	mu sync.Mutex
	h  http.Header
}

func (f *seenRunner) Run(_ context.Context, call *runner.Call) (*runner.Result, error) {
	f.mu.Lock()
	f.h = http.Header(call.Header).Clone()
	f.mu.Unlock()
	res := &runner.Result{Status: 200, Header: http.Header{}}
	if call.Done != nil {
		call.Done(res, nil)
	}
	return res, nil
}

func (f *seenRunner) seen() http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.h
}

func (*seenRunner) EnsureImage(context.Context, string) error { return nil }
func (*seenRunner) NetworkAllowed(string, string) error       { return nil }
func (*seenRunner) DrainRoute(string, string)                 {}
func (*seenRunner) DrainApp(string)                           {}
func (*seenRunner) HotContainers() int                        { return 0 }
func (*seenRunner) HotRoutes() []runner.HotRoute              { return nil }

// TestGantryCredentialsNeverReachAFunction calls an open route and a route with auth token,
// with authentication on and off, sending Gantry API tokens in every form a credential
// header can carry one: the function never sees a header that holds one, while credentials
// of its own reach it untouched.
func TestGantryCredentialsNeverReachAFunction(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, authOn := range []bool{true, false} {
		s, err := bolt.Open(context.Background(), t.TempDir(), bolt.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		alice, _ := makeToken(t, s, "alice", auth.RoleDeveloper, nil)
		fns := &seenRunner{}
		deps := Deps{Store: s, Functions: invoke.New(s, fns, invoke.Options{})}
		mode := "with authentication off"
		if authOn {
			deps.Auth, mode = auth.NewAuthenticator(s, nil), "with authentication on"
		}
		h, err := New(deps).Handler()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateApp(context.Background(), store.App{Name: "a"}); err != nil {
			t.Fatal(err)
		}
		for _, r := range []store.Route{{App: "a", Path: "/open", Image: "img"}, {App: "a", Path: "/private", Image: "img", Auth: store.AuthToken}} {
			if _, err := s.CreateRoute(context.Background(), r, nil); err != nil {
				t.Fatal(err)
			}
		}
		own := "Basic " + b64("ann:open-sesame")
		tests := []struct {
			name      string
			route     string
			header    [][2]string // sent, in order
			wantAuth  []string    // the function's Authorization
			wantProxy []string    // the function's Proxy-Authorization
		}{
			{"a bearer token is removed", "open", [][2]string{{"Authorization", "Bearer " + alice}}, nil, nil},
			{"a bare token is removed", "open", [][2]string{{"Authorization", alice}}, nil, nil},
			{"a token under another scheme is removed", "open", [][2]string{{"Authorization", "Token " + alice}}, nil, nil},
			{"a token as the Basic password is removed", "open", [][2]string{{"Authorization", "Basic " + b64("x:"+alice)}}, nil, nil},
			{"a token as the Basic user is removed", "open", [][2]string{{"Authorization", "Basic " + b64(alice+":")}}, nil, nil},
			{"a token as the Basic user with a password is removed", "open", [][2]string{{"Authorization", "Basic " + b64(alice+":pw")}}, nil, nil},
			{"a token behind the function's own credential is removed with it", "open", [][2]string{{"Authorization", own}, {"Authorization", "Basic " + b64("x:"+alice)}}, nil, nil},
			{"a token in Proxy-Authorization is removed", "open", [][2]string{{"Authorization", own}, {"Proxy-Authorization", "Basic " + b64("x:"+alice)}}, []string{own}, nil},
			{"a bearer token in Proxy-Authorization is removed", "open", [][2]string{{"Proxy-Authorization", "Bearer " + alice}}, nil, nil},
			{"the function's own credentials reach it", "open", [][2]string{{"Authorization", own}, {"Proxy-Authorization", own}}, []string{own}, []string{own}},
			{"the token a private route takes is removed, and one in Proxy-Authorization", "private", [][2]string{{"Authorization", "Bearer " + alice}, {"Proxy-Authorization", "Basic " + b64(alice+":")}}, nil, nil},
		}
		for _, tt := range tests {
			if tt.route == "private" && !authOn { // routes' auth is not enforced with authentication off
				continue
			}
			t.Run(mode+": "+tt.name, func(t *testing.T) {
				req := httptest.NewRequest("POST", "/r/a/"+tt.route, strings.NewReader("in"))
				for _, kv := range tt.header {
					req.Header.Add(kv[0], kv[1])
				}
				res := serve(t, h, req)
				expect(t, res, http.StatusOK)
				seen := fns.seen()
				if got := seen.Values("Authorization"); !slices.Equal(got, tt.wantAuth) {
					t.Errorf("the function saw Authorization %q, want %q", got, tt.wantAuth)
				}
				if got := seen.Values("Proxy-Authorization"); !slices.Equal(got, tt.wantProxy) {
					t.Errorf("the function saw Proxy-Authorization %q, want %q", got, tt.wantProxy)
				}
			})
		}
	}
}
