package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openTest(t testing.TB, dir string) *DB {
	t.Helper()
	s, err := Open(context.Background(), dir, Options{NoSync: true})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustApp(t testing.TB, s *DB, name string) {
	t.Helper()
	if _, err := s.CreateApp(context.Background(), App{Name: name}); err != nil {
		t.Fatalf("create app %s: %v", name, err)
	}
}

func TestAppLifecycle(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())

	created, err := s.CreateApp(ctx, App{Name: "shop", Config: map[string]string{"DB": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if created.CreatedAt.IsZero() || !created.CreatedAt.Equal(created.UpdatedAt) {
		t.Fatalf("timestamps not set: %+v", created)
	}
	if _, err := s.CreateApp(ctx, App{Name: "shop"}); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: got %v, want ErrExists", err)
	}
	got, err := s.GetApp(ctx, "shop")
	if err != nil || got.Config["DB"] != "x" {
		t.Fatalf("get: %+v %v", got, err)
	}

	updated, err := s.UpdateApp(ctx, "shop", func(a *App) error { a.Config["LOG"] = "debug"; return nil })
	if err != nil || updated.Config["LOG"] != "debug" || !updated.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("update: %+v %v", updated, err)
	}
	if _, err := s.UpdateApp(ctx, "shop", func(a *App) error { a.Name = "other"; return nil }); !errors.Is(err, ErrInvalid) {
		t.Fatalf("rename: got %v, want ErrInvalid", err)
	}

	replaced, wasCreated, err := s.PutApp(ctx, App{Name: "shop", Config: map[string]string{"ONLY": "1"}}, "", nil)
	if err != nil || wasCreated || !maps.Equal(replaced.Config, map[string]string{"ONLY": "1"}) || !replaced.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("put existing: %+v created=%v %v", replaced, wasCreated, err)
	}
	if _, wasCreated, err := s.PutApp(ctx, App{Name: "fresh"}, "", nil); err != nil || !wasCreated {
		t.Fatalf("put new: created=%v %v", wasCreated, err)
	}

	if _, err := s.CreateRoute(ctx, Route{App: "shop", Path: "/buy", Image: "img"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApp(ctx, "shop", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete app with routes: got %v, want ErrConflict", err)
	}
	if err := s.DeleteRoute(ctx, "shop", "/buy", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApp(ctx, "shop", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetApp(ctx, "shop"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get deleted: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteApp(ctx, "shop", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: got %v, want ErrNotFound", err)
	}
}

func TestRouteLifecycle(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	if _, err := s.CreateRoute(ctx, Route{App: "nope", Path: "/a", Image: "img"}, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("route of missing app: got %v, want ErrNotFound", err)
	}
	mustApp(t, s, "app")

	r, err := s.CreateRoute(ctx, Route{App: "app", Path: "/hello/world", Image: "hello:1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Route{App: "app", Path: "/hello/world", Image: "hello:1", Type: TypeSync, Format: FormatDefault,
		MemoryMiB: DefaultMemoryMiB, Timeout: DefaultTimeout, IdleTimeout: DefaultIdleTimeout, MaxConcurrency: DefaultMaxConcurrency, Network: NetworkBridge, Auth: AuthNone,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if fmt.Sprint(r) != fmt.Sprint(want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", r, want)
	}
	if _, err := s.CreateRoute(ctx, Route{App: "app", Path: "/hello/world", Image: "x"}, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: got %v, want ErrExists", err)
	}

	got, err := s.GetRoute(ctx, "app", "/hello/world")
	if err != nil || fmt.Sprint(got) != fmt.Sprint(r) {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.GetRoute(ctx, "app", "/missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}

	upd, err := s.UpdateRoute(ctx, "app", "/hello/world", func(r *Route) error { r.MemoryMiB = 256; return nil }, nil)
	if err != nil || upd.MemoryMiB != 256 || upd.Image != "hello:1" {
		t.Fatalf("update: %+v %v", upd, err)
	}
	if _, err := s.UpdateRoute(ctx, "app", "/hello/world", func(r *Route) error { r.MemoryMiB = 1 << 20; return nil }, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid update: got %v, want ErrInvalid", err)
	}
	if _, err := s.UpdateRoute(ctx, "app", "/hello/world", func(r *Route) error { r.Path = "/moved"; return nil }, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("move: got %v, want ErrInvalid", err)
	}

	put, created, err := s.PutRoute(ctx, Route{App: "app", Path: "/hello/world", Image: "hello:2"}, nil)
	if err != nil || created || put.MemoryMiB != DefaultMemoryMiB || !put.CreatedAt.Equal(r.CreatedAt) {
		t.Fatalf("put replaces every field: %+v created=%v %v", put, created, err)
	}
	if err := s.DeleteRoute(ctx, "app", "/hello/world", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRoute(ctx, "app", "/hello/world", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if _, _, err := s.MatchRoute("app", "/hello/world"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted route still matches: %v", err)
	}
}

func TestValidation(t *testing.T) {
	ok := Route{App: "a", Path: "/p", Image: "img"}
	tests := []struct {
		name  string
		edit  func(r *Route)
		field string
	}{
		{"bad app", func(r *Route) { r.App = "no spaces" }, "app"},
		{"no slash", func(r *Route) { r.Path = "p" }, "path"},
		{"empty segment", func(r *Route) { r.Path = "/a//b" }, "path"},
		{"trailing slash", func(r *Route) { r.Path = "/a/" }, "path"},
		{"unnamed param", func(r *Route) { r.Path = "/a/:" }, "path"},
		{"rest not last", func(r *Route) { r.Path = "/*all/x" }, "path"},
		{"duplicate param", func(r *Route) { r.Path = "/:id/:id" }, "path"},
		{"odd chars", func(r *Route) { r.Path = "/a b" }, "path"},
		{"dot", func(r *Route) { r.Path = "/." }, "path"},
		{"dot dot", func(r *Route) { r.Path = "/a/.." }, "path"},
		{"header value CRLF", func(r *Route) { r.Headers = map[string][]string{"X": {"a\r\nSet-Cookie: x"}} }, "headers"},
		{"config NUL", func(r *Route) { r.Config = map[string]string{"K": "a\x00b"} }, "config"},
		{"no image", func(r *Route) { r.Image = " " }, "image"},
		{"bad type", func(r *Route) { r.Type = "later" }, "type"},
		{"bad format", func(r *Route) { r.Format = "xml" }, "format"},
		{"memory low", func(r *Route) { r.MemoryMiB = 4 }, "memory"},
		{"memory high", func(r *Route) { r.MemoryMiB = MaxMemoryMiB + 1 }, "memory"},
		{"cpus", func(r *Route) { r.CPUs = -1 }, "cpus"},
		{"timeout", func(r *Route) { r.Timeout = MaxTimeout + 1 }, "timeout"},
		{"idle", func(r *Route) { r.IdleTimeout = -1 }, "idle_timeout"},
		{"concurrency", func(r *Route) { r.MaxConcurrency = MaxMaxConcurrency + 1 }, "max_concurrency"},
		{"header name", func(r *Route) { r.Headers = map[string][]string{"bad header": {"x"}} }, "headers"},
		{"max retries", func(r *Route) { r.MaxRetries = MaxMaxRetries + 1 }, "max_retries"},
		{"host network", func(r *Route) { r.Network = "host" }, "network"},
		{"bad network", func(r *Route) { r.Network = "a b" }, "network"},
		{"http without network", func(r *Route) { r.Network = NetworkNone; r.Format = FormatHTTP }, "network"},
		{"config key", func(r *Route) { r.Config = map[string]string{"1X": "y"} }, "config"},
		{"config over 32 KiB", func(r *Route) {
			r.Config = map[string]string{"A": strings.Repeat("v", MaxConfigBytes/2), "B": strings.Repeat("v", MaxConfigBytes/2)}
		}, "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.edit(&r)
			r.ApplyDefaults()
			err := r.Validate()
			var verr *ValidationError
			if !errors.As(err, &verr) || verr.Field != tt.field {
				t.Fatalf("got %v, want a ValidationError on %q", err, tt.field)
			}
		})
	}
	for _, p := range []string{"/", "/a", "/a/b/c", "/users/:id", "/files/*rest", "/v1.2/a_b-c~d"} {
		if err := ValidatePath(p); err != nil {
			t.Errorf("ValidatePath(%q) = %v, want nil", p, err)
		}
	}
}

func TestPagination(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	for i := 249; i >= 0; i-- { // created out of order on purpose
		mustApp(t, s, fmt.Sprintf("app-%03d", i))
	}
	var seen []string
	cursor, pages := "", 0
	for {
		apps, next, err := s.ListApps(ctx, AppFilter{}, Page{Cursor: cursor, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, a := range apps {
			seen = append(seen, a.Name)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if pages != 3 || len(seen) != 250 {
		t.Fatalf("got %d apps in %d pages, want 250 in 3", len(seen), pages)
	}
	for i, name := range seen {
		if want := fmt.Sprintf("app-%03d", i); name != want {
			t.Fatalf("item %d is %s, want %s (order, gap or duplicate)", i, name, want)
		}
	}
	if _, _, err := s.ListApps(ctx, AppFilter{}, Page{Cursor: "!!"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad cursor: got %v, want ErrInvalid", err)
	}

	// Routes of one app page within that app only.
	for _, app := range []string{"app-000", "app-001"} {
		for i := range 5 {
			if _, err := s.CreateRoute(ctx, Route{App: app, Path: fmt.Sprintf("/r%d", i), Image: "img"}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	first, next, err := s.ListRoutes(ctx, "app-000", Page{Limit: 3})
	if err != nil || len(first) != 3 || next == "" {
		t.Fatalf("first route page: %d routes, next=%q, %v", len(first), next, err)
	}
	second, next, err := s.ListRoutes(ctx, "app-000", Page{Cursor: next, Limit: 3})
	if err != nil || len(second) != 2 || next != "" || second[0].Path != "/r3" || second[1].App != "app-000" {
		t.Fatalf("second route page: %+v next=%q %v", second, next, err)
	}
	if _, _, err := s.ListRoutes(ctx, "nope", Page{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("routes of missing app: %v", err)
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustApp(t, s, "kept")
	if _, err := s.CreateRoute(ctx, Route{App: "kept", Path: "/users/:id", Image: "img"}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openTest(t, dir)
	if _, err := s.GetApp(ctx, "kept"); err != nil {
		t.Fatalf("app lost on reopen: %v", err)
	}
	r, params, err := s.MatchRoute("kept", "/users/42")
	if err != nil || r.Path != "/users/:id" || params["id"] != "42" {
		t.Fatalf("route index not rebuilt on reopen: %+v %v %v", r, params, err)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(keySchema)
		if len(v) != 8 || int(v[7]) != SchemaVersion() {
			return fmt.Errorf("schema version %v, want %d", v, SchemaVersion())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir)
	start := time.Now()
	_, err := Open(context.Background(), dir, Options{LockTimeout: 200 * time.Millisecond})
	if err == nil {
		t.Fatal("second open of a locked data dir succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("second open took %s, want it to fail fast", d)
	}
	if want := "in use by another gantry process"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

func TestMatchRoute(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	mustApp(t, s, "app")
	mustApp(t, s, "empty")
	for _, p := range []string{"/", "/users", "/users/me", "/users/:id", "/users/:id/posts/:post", "/files/*path", "/files/special", "/a/:x/c", "/a/b/:y"} {
		if _, err := s.CreateRoute(ctx, Route{App: "app", Path: p, Image: "img"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		path, route string
		params      Params
	}{
		{"/", "/", nil},
		{"/users", "/users", nil},
		{"/users/", "/users", nil},
		{"/users/me", "/users/me", nil},
		{"/users/42", "/users/:id", Params{"id": "42"}},
		{"/users/42/posts/7", "/users/:id/posts/:post", Params{"id": "42", "post": "7"}},
		{"/files/special", "/files/special", nil},
		{"/files/a/b/c.txt", "/files/*path", Params{"path": "a/b/c.txt"}},
		{"/a/b/c", "/a/b/:y", Params{"y": "c"}},
		{"/a/b/d", "/a/b/:y", Params{"y": "d"}},
		{"/a/z/c", "/a/:x/c", Params{"x": "z"}},
		{"/users/42/other", "", nil},
		{"/files", "", nil},
		{"/nothing", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r, params, err := s.MatchRoute("app", tt.path)
			if tt.route == "" {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("got %s %v, want ErrNotFound", r.Path, err)
				}
				return
			}
			if err != nil || r.Path != tt.route || !maps.Equal(params, tt.params) {
				t.Fatalf("got %q %v %v, want %q %v", r.Path, params, err, tt.route, tt.params)
			}
		})
	}
	if _, _, err := s.MatchRoute("empty", "/users"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("app without routes: %v", err)
	}
	if _, _, err := s.MatchRoute("ghost", "/"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing app: %v", err)
	}
	// Replacing a route updates the index in place.
	if _, _, err := s.PutRoute(ctx, Route{App: "app", Path: "/users/:id", Image: "img:2"}, nil); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := s.MatchRoute("app", "/users/9"); r.Image != "img:2" {
		t.Fatalf("index not updated by put: %+v", r)
	}
}
