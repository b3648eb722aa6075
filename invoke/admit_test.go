package invoke

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/store"
)

// tokenAuth stands for the server's authenticator: "Bearer good" is the one valid
// credential, and any value with "good" in it is one of its credentials.
type tokenAuth struct{}

func (tokenAuth) Authenticate(_ context.Context, authorization string) (auth.Identity, error) {
	switch authorization {
	case "Bearer good":
		return auth.Identity{Name: "ann", Role: auth.RoleDeveloper}, nil
	case "Bearer good-end-user":
		return auth.Identity{Name: "eve", Role: auth.RoleUser}, nil
	}
	return auth.Identity{}, auth.Unauthenticated("no valid token")
}

func (tokenAuth) Recognizes(v string) bool { return strings.Contains(v, "good") }

// TestAnUnadmittedCallOfAnAuthRouteNeverRuns: Run refuses a call of a route with auth
// token unless its caller admitted it, and a call Resolve did not make: nothing runs and
// nothing is recorded.
func TestAnUnadmittedCallOfAnAuthRouteNeverRuns(t *testing.T) {
	for _, async := range []bool{false, true} {
		mode := "sync"
		if async {
			mode = "async"
		}
		t.Run("an "+mode+" call nobody admitted is refused", func(t *testing.T) {
			e := newEnv(t)
			e.route("/private", func(r *store.Route) {
				r.Auth = store.AuthToken
				if async {
					r.Type = store.TypeAsync
				}
			})
			c, err := e.svc.Resolve(t.Context(), Request{App: "shop", Path: "/private", Method: "GET", Header: http.Header{}})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := e.svc.Run(t.Context(), c)
			if !errors.Is(err, auth.ErrUnauthenticated) || resp != nil {
				t.Fatalf("Run: %v %+v, want ErrUnauthenticated", err, resp)
			}
			if len(e.fr.ran()) != 0 || len(e.executions()) != 0 {
				t.Fatal("the refused call ran or was recorded")
			}
			c.Admit(nil)
			if _, err := e.svc.Run(t.Context(), c); err != nil {
				t.Fatalf("Run once admitted: %v", err)
			}
			if n := len(e.executions()); n != 1 {
				t.Fatalf("%d executions after the admitted call, want 1", n)
			}
		})
	}
	t.Run("a call of an open route that nobody admitted is refused as its caller's bug, and runs once admitted", func(t *testing.T) {
		e := newEnv(t)
		e.route("/open", nil)
		c, err := e.svc.Resolve(t.Context(), Request{App: "shop", Path: "/open", Method: "GET"})
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := e.svc.Run(t.Context(), c); !errors.Is(err, ErrNotAdmitted) || resp != nil || len(e.fr.ran()) != 0 || len(e.executions()) != 0 {
			t.Fatalf("Run: %v, %d calls, %d executions; want ErrNotAdmitted and nothing run or stored", err, len(e.fr.ran()), len(e.executions()))
		}
		c.Admit(nil)
		if _, err := e.svc.Run(t.Context(), c); err != nil || len(e.fr.ran()) != 1 {
			t.Fatalf("Run once admitted: %v, %d calls", err, len(e.fr.ran()))
		}
	})
	t.Run("a call Resolve did not make is refused, admitted or not", func(t *testing.T) {
		e := newEnv(t)
		forged := &Call{}
		forged.Admit(http.Header{})
		for _, c := range []*Call{nil, {}, forged} {
			if resp, err := e.svc.Run(t.Context(), c); !errors.Is(err, ErrNotResolved) || resp != nil {
				t.Fatalf("Run(%+v) = %v, want ErrNotResolved", c, err)
			}
		}
		if len(e.fr.ran()) != 0 {
			t.Fatal("a forged call ran")
		}
	})
}

// TestAdmitter: the admission of /r/ and the gateway checks a route's auth with the
// server's authenticator, and keeps Gantry's credentials from every function.
func TestAdmitter(t *testing.T) {
	apiToken, _ := auth.NewSecret("01TOKENID")
	tests := []struct {
		name      string
		authn     Authenticator
		routeAuth string
		header    http.Header
		wantErr   error
		wantAuth  []string // the function's Authorization
		wantProxy []string // the function's Proxy-Authorization
	}{
		{"a route with auth token takes a valid token, which the function never sees", tokenAuth{}, store.AuthToken,
			http.Header{"Authorization": {"Bearer good"}}, nil, nil, nil},
		{"a route with auth token refuses a bad token", tokenAuth{}, store.AuthToken,
			http.Header{"Authorization": {"Bearer bad"}}, auth.ErrUnauthenticated, nil, nil},
		{"a route with auth token refuses an end user's token: end users run workflows only", tokenAuth{}, store.AuthToken,
			http.Header{"Authorization": {"Bearer good-end-user"}}, auth.ErrForbidden, nil, nil},
		{"a route with auth token refuses a call without credentials", tokenAuth{}, store.AuthToken,
			http.Header{}, auth.ErrUnauthenticated, nil, nil},
		{"with authentication off a route with auth token is not enforced", nil, store.AuthToken,
			http.Header{"Authorization": {"Basic own"}}, nil, []string{"Basic own"}, nil},
		{"an open route passes the function's own credentials", tokenAuth{}, store.AuthNone,
			http.Header{"Authorization": {"Basic own"}, "Proxy-Authorization": {"Basic proxy"}}, nil, []string{"Basic own"}, []string{"Basic proxy"}},
		{"an open route drops a header holding one of the server's credentials", tokenAuth{}, store.AuthNone,
			http.Header{"Authorization": {"Basic own", "Bearer good"}, "Proxy-Authorization": {"x good"}}, nil, nil, nil},
		{"with authentication off an API token is still dropped", nil, store.AuthNone,
			http.Header{"Authorization": {"Bearer " + apiToken}, "Proxy-Authorization": {"Basic proxy"}}, nil, nil, []string{"Basic proxy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.route("/fn", func(r *store.Route) { r.Auth = tt.routeAuth })
			c, err := e.svc.Resolve(t.Context(), Request{App: "shop", Path: "/fn", Method: "GET", Header: tt.header})
			if err != nil {
				t.Fatal(err)
			}
			sent := tt.header.Clone()
			err = NewAdmitter(tt.authn).Admit(t.Context(), c)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Admit: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if c.admitted {
					t.Fatal("a refused call is marked admitted")
				}
				return
			}
			if !c.admitted {
				t.Fatal("an admitted call is not marked so")
			}
			if got := c.Header().Values("Authorization"); !slices.Equal(got, tt.wantAuth) {
				t.Errorf("the function's Authorization %q, want %q", got, tt.wantAuth)
			}
			if got := c.Header().Values("Proxy-Authorization"); !slices.Equal(got, tt.wantProxy) {
				t.Errorf("the function's Proxy-Authorization %q, want %q", got, tt.wantProxy)
			}
			for k, v := range sent {
				if !slices.Equal(tt.header[k], v) {
					t.Errorf("the caller's header %s changed: %q, was %q", k, tt.header[k], v)
				}
			}
			if _, err := e.svc.Run(t.Context(), c); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := http.Header(e.fr.ran()[0].Header).Values("Authorization"); !slices.Equal(got, tt.wantAuth) {
				t.Errorf("the runner got Authorization %q, want %q", got, tt.wantAuth)
			}
		})
	}
}
