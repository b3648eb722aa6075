package storetest

import (
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

func resolverCases() []testCase {
	return []testCase{
		{
			name:   "MatchRoute prefers a literal to a :param to a *rest segment, and backtracks from dead ends",
			covers: []string{"MatchRoute", "PutRoute"},
			run:    testMatchRoute,
		},
		{
			name:   "the params of a match take the names of the route that matched",
			covers: []string{"MatchRoute"},
			run:    testParamsUseTheMatchedRoutesNames,
		},
		{
			name:   "the resolver keeps its own copy of what a caller wrote",
			covers: []string{"MatchRoute", "AppConfig"},
			run:    testResolverIsNotSharedWithCallers,
		},
		{
			name:   "RouteByPath finds only the registered path, of the owner's app when one is named",
			covers: []string{"RouteByPath"},
			run:    testRouteByPathOfAnOwner,
		},
		{
			name:   "Target resolves a call with its route, its params and its app as it is now",
			covers: []string{"Target", "AppID", "AppConfig", "AppOwner"},
			run:    testTarget,
		},
		{
			name:   "AppConfig follows every write of the app",
			covers: []string{"AppConfig", "UpdateApp", "PutApp", "DeleteApp"},
			run:    testAppConfigFollowsWrites,
		},
		{
			name:   "after concurrent writes the resolver answers as an index read afresh from the store",
			covers: []string{"CreateRoute", "PutRoute", "DeleteRoute", "MatchRoute", "ListApps", "ListRoutes"},
			run:    testConcurrentWritesKeepResolverAndStoreInStep,
		},
	}
}

func testMatchRoute(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustApp(t, s, "app", "")
	mustApp(t, s, "empty", "")
	for _, p := range []string{"/", "/users", "/users/me", "/users/:id", "/users/:id/posts/:post", "/files/*path", "/files/special", "/a/:x/c", "/a/b/:y"} {
		if _, err := s.CreateRoute(ctx, store.Route{App: "app", Path: p, Image: "img"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		path, route string
		params      store.Params
	}{
		{"/", "/", nil},
		{"/users", "/users", nil},
		{"/users/", "/users", nil},
		{"/users/me", "/users/me", nil},
		{"/users/42", "/users/:id", store.Params{"id": "42"}},
		{"/users/42/posts/7", "/users/:id/posts/:post", store.Params{"id": "42", "post": "7"}},
		{"/files/special", "/files/special", nil},
		{"/files/a/b/c.txt", "/files/*path", store.Params{"path": "a/b/c.txt"}},
		{"/a/b/c", "/a/b/:y", store.Params{"y": "c"}},
		{"/a/b/d", "/a/b/:y", store.Params{"y": "d"}},
		{"/a/z/c", "/a/:x/c", store.Params{"x": "z"}},
		{"/users/42/other", "", nil},
		{"/files", "", nil},
		{"/nothing", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r, params, err := s.MatchRoute("app", tt.path)
			if tt.route == "" {
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("got %s %v, want ErrNotFound", r.Path, err)
				}
				return
			}
			if err != nil || r.Path != tt.route || !maps.Equal(params, tt.params) {
				t.Fatalf("got %q %v %v, want %q %v", r.Path, params, err, tt.route, tt.params)
			}
		})
	}
	if _, _, err := s.MatchRoute("empty", "/users"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("app without routes: %v", err)
	}
	if _, _, err := s.MatchRoute("ghost", "/"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing app: %v", err)
	}
	// Replacing a route updates the index in place.
	if _, _, err := s.PutRoute(ctx, store.Route{App: "app", Path: "/users/:id", Image: "img:2"}, nil); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := s.MatchRoute("app", "/users/9"); r.Image != "img:2" {
		t.Fatalf("index not updated by put: %+v", r)
	}
}

func testParamsUseTheMatchedRoutesNames(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustApp(t, s, "app", "")
	for _, p := range []string{"/u/:id", "/u/:uid/posts", "/files/:dir/*rest"} {
		if _, err := s.CreateRoute(ctx, store.Route{App: "app", Path: p, Image: "img"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for path, want := range map[string]store.Params{
		"/u/5":          {"id": "5"},
		"/u/5/posts":    {"uid": "5"},
		"/files/a/b/c":  {"dir": "a", "rest": "b/c"},
		"/files/a/b%2F": {"dir": "a", "rest": "b%2F"},
	} {
		if _, got, err := s.MatchRoute("app", path); err != nil || !maps.Equal(got, want) {
			t.Errorf("params of %s = %v (%v), want %v", path, got, err, want)
		}
	}
}

func testResolverIsNotSharedWithCallers(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustApp(t, s, "app", "")
	created, err := s.CreateRoute(ctx, store.Route{App: "app", Path: "/a", Image: "img", Config: map[string]string{"K": "v"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	created.Config["K"] = "changed"
	if r, _, _ := s.MatchRoute("app", "/a"); r.Config["K"] != "v" {
		t.Fatalf("a caller's change reached the index: %v", r.Config)
	}
	cfg := map[string]string{"K": "v"}
	if _, err := s.UpdateApp(ctx, "app", func(a *store.App) error { a.Config = cfg; return nil }); err != nil {
		t.Fatal(err)
	}
	cfg["K"] = "changed"
	if got, _ := s.AppConfig("app"); got["K"] != "v" {
		t.Fatalf("a caller's change of an app's config reached the index: %v", got)
	}
}

func testRouteByPathOfAnOwner(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.CreateApp(ctx, store.App{Name: "a", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRoute(ctx, store.Route{App: "a", Path: "/users/:id", Image: "i"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, owner string
		found       bool
	}{
		{"/users/:id", "", true},
		{"/users/:id", "alice", true},
		{"/users/:id", "bob", false}, // another owner's app is not found
		{"/users/:name", "", false},  // the same shape, but not the registered path
		{"/users/42", "", false},     // a request path, not a route's
	} {
		r, err := s.RouteByPath("a", c.path, c.owner)
		if (err == nil) != c.found || err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RouteByPath(a, %s, %q): %v, want found=%v", c.path, c.owner, err, c.found)
		}
		if c.found && r.Path != c.path {
			t.Errorf("RouteByPath(a, %s, %q) gave route %s", c.path, c.owner, r.Path)
		}
	}
	if _, err := s.RouteByPath("ghost", "/users/:id", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RouteByPath of a missing app: %v", err)
	}
}

func testTarget(t *testing.T, s store.Store) {
	ctx := t.Context()
	app, err := s.CreateApp(ctx, store.App{Name: "shop", Owner: "alice", Config: map[string]string{"K": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	mustRoute(t, s, "shop", "/users/:id")
	mustRoute(t, s, "shop", "/users/me")

	tg, err := s.Target("shop", "/users/42", "", "")
	if err != nil || tg.Route.Path != "/users/:id" || !maps.Equal(tg.Params, store.Params{"id": "42"}) {
		t.Fatalf("target of a request path: %+v %v", tg, err)
	}
	if tg.AppID != app.ID || tg.AppOwner != "alice" || !maps.Equal(tg.AppConfig, app.Config) || !tg.AppVersion.Equal(app.UpdatedAt) {
		t.Fatalf("the app of a target: %+v, want ID %s, owner alice, config %v, version %s", tg, app.ID, app.Config, app.UpdatedAt)
	}
	if id, err := s.AppID("shop"); err != nil || id != app.ID {
		t.Fatalf("AppID: %q %v, want %q", id, err, app.ID)
	}
	if tg, err := s.Target("shop", "/users/me", "", "alice"); err != nil || tg.Route.Path != "/users/me" || len(tg.Params) != 0 {
		t.Fatalf("the owner's target of a literal path: %+v %v", tg, err)
	}
	if tg, err := s.Target("shop", "", "/users/:id", ""); err != nil || tg.Route.Path != "/users/:id" || len(tg.Params) != 0 {
		t.Fatalf("target by a registered route (params left to the caller): %+v %v", tg, err)
	}
	for _, bad := range []struct{ name, app, path, route, owner string }{
		{"another owner's app", "shop", "/users/42", "", "bob"},
		{"a path no route matches", "shop", "/nothing", "", ""},
		{"a missing app", "ghost", "/users/42", "", ""},
		{"a route of the same shape that is not registered", "shop", "", "/users/:name", ""},
		{"a request path given as the route", "shop", "", "/users/42", ""},
	} {
		if _, err := s.Target(bad.app, bad.path, bad.route, bad.owner); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("target of %s: %v, want ErrNotFound", bad.name, err)
		}
	}

	updated, err := s.UpdateApp(ctx, "shop", func(a *store.App) error { a.Config["K"] = "2"; a.Owner = "bob"; return nil })
	if err != nil {
		t.Fatal(err)
	}
	tg, err = s.Target("shop", "/users/42", "", "bob")
	if err != nil || tg.AppConfig["K"] != "2" || tg.AppOwner != "bob" || !tg.AppVersion.Equal(updated.UpdatedAt) || tg.AppID != app.ID {
		t.Fatalf("target after the app changed: %+v %v", tg, err)
	}
	if owner, err := s.AppOwner("shop"); err != nil || owner != "bob" {
		t.Fatalf("AppOwner after a transfer: %q %v", owner, err)
	}
	if _, err := s.AppID("ghost"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("AppID of a missing app: %v", err)
	}
	if _, err := s.AppConfig("ghost"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("AppConfig of a missing app: %v", err)
	}
}

func testAppConfigFollowsWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.CreateApp(ctx, store.App{Name: "a", Config: map[string]string{"K": "1"}}); err != nil {
		t.Fatal(err)
	}
	if cfg, err := s.AppConfig("a"); err != nil || cfg["K"] != "1" {
		t.Fatalf("after create: %v %v", cfg, err)
	}
	if _, err := s.UpdateApp(ctx, "a", func(a *store.App) error { a.Config["K"] = "2"; return nil }); err != nil {
		t.Fatal(err)
	}
	if cfg, err := s.AppConfig("a"); err != nil || cfg["K"] != "2" {
		t.Fatalf("after update: %v %v", cfg, err)
	}
	if _, _, err := s.PutApp(ctx, store.App{Name: "a", Config: map[string]string{"P": "3"}}, "", nil); err != nil {
		t.Fatal(err)
	}
	if cfg, _ := s.AppConfig("a"); !maps.Equal(cfg, map[string]string{"P": "3"}) {
		t.Fatalf("after put: %v", cfg)
	}
	if err := s.DeleteApp(ctx, "a", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppConfig("a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted app: %v", err)
	}
}

// testConcurrentWritesKeepResolverAndStoreInStep races writers and readers, then checks that
// the live resolver resolves every path as an index loaded afresh from the store does.
func testConcurrentWritesKeepResolverAndStoreInStep(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustApp(t, s, "app", "")
	paths := []string{"/a", "/a/:id", "/a/b", "/c/*rest", "/c/d", "/:x/e"}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 60 {
				p := paths[(w+i)%len(paths)]
				switch i % 3 {
				case 0:
					_, _ = s.CreateRoute(ctx, store.Route{App: "app", Path: p, Image: fmt.Sprintf("img:%d", w)}, nil)
				case 1:
					_, _, _ = s.PutRoute(ctx, store.Route{App: "app", Path: p, Image: fmt.Sprintf("put:%d", w)}, nil)
				default:
					_ = s.DeleteRoute(ctx, "app", p, nil)
				}
				_, _, _ = s.MatchRoute("app", "/a/1")
			}
		})
	}
	wg.Wait()
	fresh := store.NewIndex(s)
	if err := fresh.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/a", "/a/1", "/a/b", "/c/x/y", "/c/d", "/z/e"} {
		lr, lp, lerr := s.MatchRoute("app", p)
		fr, fp, ferr := fresh.MatchRoute("app", p)
		if fmt.Sprint(lr) != fmt.Sprint(fr) || !maps.Equal(lp, fp) || (lerr == nil) != (ferr == nil) {
			t.Errorf("%s: live index gives %v %v %v, the store gives %v %v %v", p, lr, lp, lerr, fr, fp, ferr)
		}
	}
}
