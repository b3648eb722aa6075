package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// unreachableTokens is a token store whose database is down.
type unreachableTokens struct{}

func (unreachableTokens) GetToken(context.Context, string) (store.Token, error) {
	return store.Token{}, fmt.Errorf("get token: %w: dial tcp 10.0.0.5:5432: connection refused", store.ErrUnavailable)
}

// outageStore is a real store whose lists of apps and nodes fail as a database that is down.
type outageStore struct{ *bolt.DB }

func (outageStore) ListApps(context.Context, store.AppFilter, store.Page) ([]store.App, string, error) {
	return nil, "", fmt.Errorf("list apps: %w", store.ErrUnavailable)
}

func (outageStore) ListNodes(context.Context, time.Time) ([]store.NodeInfo, error) {
	return nil, fmt.Errorf("list nodes: %w", store.ErrUnavailable)
}

// TestAStoreOutageIsA503: while the store cannot be reached, requests get 503 with
// Retry-After and a message that says to try again, never a 500, and never a 401 that
// would tell a client its good token is bad.
func TestAStoreOutageIsA503(t *testing.T) {
	s, err := bolt.Open(context.Background(), t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	admin, _ := makeToken(t, s, "admin", auth.RoleAdmin, nil)
	if _, err := s.CreateApp(context.Background(), store.App{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRoute(context.Background(), store.Route{App: "a", Path: "/private", Image: "img", Auth: store.AuthToken}, nil); err != nil {
		t.Fatal(err)
	}
	fns := &seenRunner{}
	handler := func(st Store, tokens auth.TokenStore) http.Handler {
		h, err := New(Deps{Store: st, Functions: invoke.New(s, fns, invoke.Options{}), Auth: auth.NewAuthenticator(tokens, nil)}).Handler()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	tokensDown := handler(s, unreachableTokens{})
	listsDown := handler(outageStore{s}, s)
	for _, tt := range []struct {
		name   string
		h      http.Handler
		method string
		path   string
	}{
		{"a management request whose token cannot be looked up", tokensDown, "GET", "/v1/apps"},
		{"a call of a route with auth token whose token cannot be looked up", tokensDown, "POST", "/r/a/private"},
		{"a management request whose store read fails", listsDown, "GET", "/v1/apps"},
		{"a list of nodes whose store read fails", listsDown, "GET", "/v1/nodes"},
	} {
		t.Run(tt.name+" is a 503 to try again", func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(""))
			req.Header.Set("Authorization", "Bearer "+admin)
			res := serve(t, tt.h, req)
			expect(t, res, http.StatusServiceUnavailable)
			if msg := get(res.body, "error", "message"); msg != "the store is unavailable now; try again" {
				t.Errorf("message %q", msg)
			}
			if res.header.Get("Retry-After") == "" || res.header.Get("WWW-Authenticate") != "" {
				t.Errorf("Retry-After %q, WWW-Authenticate %q: want a wait and no challenge", res.header.Get("Retry-After"), res.header.Get("WWW-Authenticate"))
			}
			if strings.Contains(res.raw, "10.0.0.5") {
				t.Errorf("the answer names the database: %s", res.raw)
			}
		})
	}
	if fns.seen() != nil {
		t.Fatal("the function ran although its caller's token could not be checked")
	}
}
