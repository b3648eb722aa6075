package store

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
)

// memSource is an IndexSource over maps: the index's cache logic (what a change, a missed
// change and a reset do) is tested here without a backend; storetest checks it over each.
type memSource struct {
	mu     sync.Mutex
	apps   map[string]App
	routes map[string]map[string]Route
	fail   error // returned by every read when set
}

func newMemSource() *memSource {
	return &memSource{apps: map[string]App{}, routes: map[string]map[string]Route{}}
}

func (m *memSource) putApp(a App) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.apps[a.Name] = a
	if m.routes[a.Name] == nil {
		m.routes[a.Name] = map[string]Route{}
	}
}

func (m *memSource) putRoute(r Route) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.routes[r.App][r.Path] = r
}

func (m *memSource) deleteRoute(app, path string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.routes[app], path)
}

func (m *memSource) GetApp(_ context.Context, name string) (App, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return App{}, m.fail
	}
	a, ok := m.apps[name]
	if !ok {
		return App{}, NotFound("app", name)
	}
	return a, nil
}

func (m *memSource) GetRoute(_ context.Context, app, path string) (Route, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return Route{}, m.fail
	}
	r, ok := m.routes[app][path]
	if !ok {
		return Route{}, NotFound("route", path)
	}
	return r, nil
}

func (m *memSource) ListApps(_ context.Context, _ AppFilter, _ Page) ([]App, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, "", m.fail
	}
	var out []App
	for _, a := range m.apps {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, "", nil
}

func (m *memSource) ListRoutes(_ context.Context, app string, _ Page) ([]Route, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, "", m.fail
	}
	if _, ok := m.apps[app]; !ok {
		return nil, "", NotFound("app", app)
	}
	var out []Route
	for _, r := range m.routes[app] {
		out = append(out, r)
	}
	return out, "", nil
}

func route(app, path string) Route {
	r := Route{App: app, Path: path, Image: "img"}
	r.ApplyDefaults()
	return r
}

func TestIndexFollowsChangesAndRecoversFromMissedOnesOnReset(t *testing.T) {
	ctx := context.Background()
	src := newMemSource()
	src.putApp(App{ID: "A1", Name: "shop", Owner: "ann", Config: map[string]string{"K": "1"}})
	src.putRoute(route("shop", "/items/:id"))
	ix := NewIndex(src)
	if err := ix.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if tg, err := ix.Target("shop", "/items/7", "", ""); err != nil || tg.Params["id"] != "7" || tg.AppOwner != "ann" || tg.AppConfig["K"] != "1" {
		t.Fatalf("loaded index: %+v, %v", tg, err)
	}

	t.Run("a change makes it read the route again", func(t *testing.T) {
		src.putRoute(route("shop", "/items/:id/reviews"))
		if err := ix.Apply(ctx, Change{Kind: ChangeRoute, App: "shop", Path: "/items/:id/reviews"}); err != nil {
			t.Fatal(err)
		}
		if r, _, err := ix.MatchRoute("shop", "/items/7/reviews"); err != nil || r.Path != "/items/:id/reviews" {
			t.Fatalf("got %q, %v", r.Path, err)
		}
	})
	t.Run("a change of a route that is gone removes it", func(t *testing.T) {
		src.deleteRoute("shop", "/items/:id/reviews")
		if err := ix.Apply(ctx, Change{Kind: ChangeRoute, App: "shop", Path: "/items/:id/reviews"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ix.MatchRoute("shop", "/items/7/reviews"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("want ErrNotFound, got %v", err)
		}
	})
	t.Run("a change delivered twice or late leaves it right", func(t *testing.T) {
		for range 2 {
			if err := ix.Apply(ctx, Change{Kind: ChangeRoute, App: "shop", Path: "/items/:id/reviews"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := ix.MatchRoute("shop", "/items/7/reviews"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("want ErrNotFound, got %v", err)
		}
	})
	t.Run("a missed change is invisible until a reset reloads everything", func(t *testing.T) {
		src.putApp(App{ID: "A2", Name: "blog", Owner: "bob"})
		src.putRoute(route("blog", "/"))
		src.putApp(App{ID: "A1", Name: "shop", Owner: "carl"}) // changed hands, no change delivered
		if owner, _ := ix.AppOwner("shop"); owner != "ann" {
			t.Fatalf("before the reset the index still says %q", owner)
		}
		if err := ix.Apply(ctx, Change{Kind: ChangeReset}); err != nil {
			t.Fatal(err)
		}
		if owner, err := ix.AppOwner("shop"); err != nil || owner != "carl" {
			t.Fatalf("after the reset: owner %q, %v", owner, err)
		}
		if _, err := ix.RouteByPath("blog", "/", "bob"); err != nil {
			t.Fatalf("after the reset the new app's route: %v", err)
		}
		if got := ix.AppsOwnedBy("bob"); got["blog"] != "A2" || len(got) != 1 {
			t.Fatalf("AppsOwnedBy(bob) = %v", got)
		}
	})
	t.Run("a route of an app it does not know yet brings the app in", func(t *testing.T) {
		src.putApp(App{ID: "A3", Name: "wiki", Owner: "dee"})
		src.putRoute(route("wiki", "/pages/*rest"))
		if err := ix.Apply(ctx, Change{Kind: ChangeRoute, App: "wiki", Path: "/pages/*rest"}); err != nil {
			t.Fatal(err)
		}
		if id, err := ix.AppID("wiki"); err != nil || id != "A3" {
			t.Fatalf("AppID(wiki) = %q, %v", id, err)
		}
	})
	t.Run("changes out of order leave every route of the app in the index", func(t *testing.T) {
		src.putApp(App{ID: "A4", Name: "docs", Owner: "eve"})
		src.putRoute(route("docs", "/x"))
		src.putRoute(route("docs", "/y"))
		// The second route's change comes first, then the app's, then the first route's.
		for _, c := range []Change{{Kind: ChangeRoute, App: "docs", Path: "/y"}, {Kind: ChangeApp, App: "docs"}, {Kind: ChangeRoute, App: "docs", Path: "/x"}} {
			if err := ix.Apply(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []string{"/x", "/y"} {
			if _, _, err := ix.MatchRoute("docs", p); err != nil {
				t.Errorf("route %s: %v", p, err)
			}
		}
	})
	t.Run("an app made again under its name, its route's change first, keeps the route", func(t *testing.T) {
		src.deleteRoute("docs", "/x")
		src.deleteRoute("docs", "/y")
		src.putApp(App{ID: "A5", Name: "docs", Owner: "fay"}) // deleted and made again
		src.putRoute(route("docs", "/z"))
		for _, c := range []Change{{Kind: ChangeRoute, App: "docs", Path: "/z"}, {Kind: ChangeApp, App: "docs"}} {
			if err := ix.Apply(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := ix.MatchRoute("docs", "/z"); err != nil {
			t.Errorf("route /z: %v", err)
		}
		if _, _, err := ix.MatchRoute("docs", "/x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("the old app's route /x: %v, want ErrNotFound", err)
		}
		if owner, _ := ix.AppOwner("docs"); owner != "fay" {
			t.Errorf("owner %q, want fay", owner)
		}
	})
	t.Run("a failed read is returned so that the caller reloads", func(t *testing.T) {
		src.fail = errors.New("database unreachable")
		defer func() { src.fail = nil }()
		if err := ix.Apply(ctx, Change{Kind: ChangeApp, App: "shop"}); err == nil {
			t.Fatal("Apply hid a failed read")
		}
		if err := ix.Apply(ctx, Change{Kind: ChangeReset}); err == nil {
			t.Fatal("a reset hid a failed read")
		}
		if owner, _ := ix.AppOwner("shop"); owner != "carl" {
			t.Fatalf("a failed reload replaced the index: owner %q", owner)
		}
	})
}
