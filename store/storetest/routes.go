package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

func routeCases() []testCase {
	return []testCase{
		{
			name:   "a route is created with defaults, read, updated, replaced and deleted",
			covers: []string{"CreateRoute", "GetRoute", "UpdateRoute", "PutRoute", "DeleteRoute", "MatchRoute"},
			run:    testRouteLifecycle,
		},
		{
			name:   "routes of an app are listed in path order, a page at a time, within that app only",
			covers: []string{"ListRoutes"},
			run:    testRoutePagination,
		},
		{
			name:   "a route with the shape of another route of its app is refused with ErrExists",
			covers: []string{"CreateRoute", "PutRoute", "DeleteRoute", "MatchRoute"},
			run:    testSameShapeRoutesConflict,
		},
	}
}

func testRouteLifecycle(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.CreateRoute(ctx, store.Route{App: "nope", Path: "/a", Image: "img"}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("route of missing app: got %v, want ErrNotFound", err)
	}
	if _, _, err := s.PutRoute(ctx, store.Route{App: "nope", Path: "/a", Image: "img"}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("put route of missing app: got %v, want ErrNotFound", err)
	}
	mustApp(t, s, "app", "")

	r, err := s.CreateRoute(ctx, store.Route{App: "app", Path: "/hello/world", Image: "hello:1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Route{App: "app", Path: "/hello/world", Image: "hello:1", Type: store.TypeSync, Format: store.FormatDefault,
		MemoryMiB: store.DefaultMemoryMiB, Timeout: store.DefaultTimeout, IdleTimeout: store.DefaultIdleTimeout, MaxConcurrency: store.DefaultMaxConcurrency,
		Network: store.NetworkBridge, Auth: store.AuthNone, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if fmt.Sprint(r) != fmt.Sprint(want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", r, want)
	}
	if r.CreatedAt.IsZero() || !r.CreatedAt.Equal(r.UpdatedAt) {
		t.Fatalf("timestamps not set: %+v", r)
	}
	if _, err := s.CreateRoute(ctx, store.Route{App: "app", Path: "/hello/world", Image: "x"}, nil); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate: got %v, want ErrExists", err)
	}
	if _, err := s.CreateRoute(ctx, store.Route{App: "app", Path: "/bad//path", Image: "x"}, nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("invalid path: got %v, want ErrInvalid", err)
	}

	got, err := s.GetRoute(ctx, "app", "/hello/world")
	if err != nil || fmt.Sprint(got) != fmt.Sprint(r) {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.GetRoute(ctx, "app", "/missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	if _, err := s.GetRoute(ctx, "ghost", "/hello/world"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get of a missing app: %v", err)
	}

	upd, err := s.UpdateRoute(ctx, "app", "/hello/world", func(r *store.Route) error { r.MemoryMiB = 256; return nil }, nil)
	if err != nil || upd.MemoryMiB != 256 || upd.Image != "hello:1" || !upd.CreatedAt.Equal(r.CreatedAt) {
		t.Fatalf("update: %+v %v", upd, err)
	}
	if _, err := s.UpdateRoute(ctx, "app", "/hello/world", func(r *store.Route) error { r.MemoryMiB = 1 << 20; return nil }, nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("invalid update: got %v, want ErrInvalid", err)
	}
	if _, err := s.UpdateRoute(ctx, "app", "/hello/world", func(r *store.Route) error { r.Path = "/moved"; return nil }, nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("move: got %v, want ErrInvalid", err)
	}
	if _, err := s.UpdateRoute(ctx, "app", "/missing", func(*store.Route) error { return nil }, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing route: got %v, want ErrNotFound", err)
	}
	if got, _ := s.GetRoute(ctx, "app", "/hello/world"); got.MemoryMiB != 256 {
		t.Fatalf("a refused update was stored: %+v", got)
	}

	put, created, err := s.PutRoute(ctx, store.Route{App: "app", Path: "/hello/world", Image: "hello:2"}, nil)
	if err != nil || created || put.MemoryMiB != store.DefaultMemoryMiB || !put.CreatedAt.Equal(r.CreatedAt) {
		t.Fatalf("put replaces every field: %+v created=%v %v", put, created, err)
	}
	if _, created, err := s.PutRoute(ctx, store.Route{App: "app", Path: "/new", Image: "img"}, nil); err != nil || !created {
		t.Fatalf("put of a new route: created=%v %v", created, err)
	}
	if err := s.DeleteRoute(ctx, "app", "/hello/world", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRoute(ctx, "app", "/hello/world", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if _, _, err := s.MatchRoute("app", "/hello/world"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted route still matches: %v", err)
	}
}

func testRoutePagination(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Routes of one app page within that app only.
	for _, app := range []string{"app-000", "app-001"} {
		mustApp(t, s, app, "")
		for i := range 5 {
			if _, err := s.CreateRoute(ctx, store.Route{App: app, Path: fmt.Sprintf("/r%d", i), Image: "img"}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	first, next, err := s.ListRoutes(ctx, "app-000", store.Page{Limit: 3})
	if err != nil || len(first) != 3 || next == "" {
		t.Fatalf("first route page: %d routes, next=%q, %v", len(first), next, err)
	}
	if first[0].Path != "/r0" || first[2].Path != "/r2" {
		t.Fatalf("first route page out of order: %+v", first)
	}
	second, next, err := s.ListRoutes(ctx, "app-000", store.Page{Cursor: next, Limit: 3})
	if err != nil || len(second) != 2 || next != "" || second[0].Path != "/r3" || second[1].App != "app-000" {
		t.Fatalf("second route page: %+v next=%q %v", second, next, err)
	}
	if _, _, err := s.ListRoutes(ctx, "nope", store.Page{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("routes of missing app: %v", err)
	}
	mustApp(t, s, "empty", "")
	if routes, next, err := s.ListRoutes(ctx, "empty", store.Page{}); err != nil || len(routes) != 0 || next != "" {
		t.Fatalf("routes of an app without any: %v %q %v", routes, next, err)
	}
	if _, _, err := s.ListRoutes(ctx, "app-000", store.Page{Cursor: "!!"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad cursor: got %v, want ErrInvalid", err)
	}
}

func testSameShapeRoutesConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustApp(t, s, "app", "")
	mustApp(t, s, "other", "")
	// The last one shares "/m/:" with "/m/:a/n/:b" but not its shape: no conflict.
	for _, p := range []string{"/x/:id", "/f/*a", "/:top", "/m/:a/n/:b", "/m/:q/o/:r"} {
		if _, err := s.CreateRoute(ctx, store.Route{App: "app", Path: p, Image: "img"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"/x/:name", "/f/*b", "/:other", "/m/:c/n/:d"} {
		if _, err := s.CreateRoute(ctx, store.Route{App: "app", Path: p, Image: "img"}, nil); !errors.Is(err, store.ErrExists) {
			t.Errorf("create %s beside a route of the same shape: got %v, want ErrExists", p, err)
		}
		if _, _, err := s.PutRoute(ctx, store.Route{App: "app", Path: p, Image: "img"}, nil); !errors.Is(err, store.ErrExists) {
			t.Errorf("put %s beside a route of the same shape: got %v, want ErrExists", p, err)
		}
		if _, err := s.CreateRoute(ctx, store.Route{App: "other", Path: p, Image: "img"}, nil); err != nil {
			t.Errorf("create %s in another app: %v", p, err)
		}
	}
	// Deleting a path that is not stored leaves the one of the same shape matchable.
	if err := s.DeleteRoute(ctx, "app", "/x/:name", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete a path never created: %v", err)
	}
	if r, params, err := s.MatchRoute("app", "/x/5"); err != nil || r.Path != "/x/:id" || params["id"] != "5" {
		t.Fatalf("match after delete of a same-shape path: %+v %v %v", r, params, err)
	}
	// Once the route is gone, its shape is free again.
	if err := s.DeleteRoute(ctx, "app", "/x/:id", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRoute(ctx, store.Route{App: "app", Path: "/x/:name", Image: "img"}, nil); err != nil {
		t.Fatalf("create after the same-shape route went: %v", err)
	}
	if r, params, err := s.MatchRoute("app", "/x/5"); err != nil || r.Path != "/x/:name" || params["name"] != "5" {
		t.Fatalf("match of the new route: %+v %v %v", r, params, err)
	}
}
