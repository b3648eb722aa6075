package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
)

func TestSameShapeRoutesConflict(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	mustApp(t, s, "app")
	for _, p := range []string{"/x/:id", "/f/*a"} {
		if _, err := s.CreateRoute(ctx, Route{App: "app", Path: p, Image: "img"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"/x/:name", "/f/*b"} {
		if _, err := s.CreateRoute(ctx, Route{App: "app", Path: p, Image: "img"}, nil); !errors.Is(err, ErrExists) {
			t.Errorf("create %s beside a route of the same shape: got %v, want ErrExists", p, err)
		}
		if _, _, err := s.PutRoute(ctx, Route{App: "app", Path: p, Image: "img"}, nil); !errors.Is(err, ErrExists) {
			t.Errorf("put %s beside a route of the same shape: got %v, want ErrExists", p, err)
		}
	}
	// Deleting a path that is not stored leaves the one of the same shape matchable.
	if err := s.DeleteRoute(ctx, "app", "/x/:name", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete a path never created: %v", err)
	}
	if r, params, err := s.MatchRoute("app", "/x/5"); err != nil || r.Path != "/x/:id" || params["id"] != "5" {
		t.Fatalf("match after delete of a same-shape path: %+v %v %v", r, params, err)
	}
}

func TestParamsUseTheMatchedRoutesNames(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	mustApp(t, s, "app")
	for _, p := range []string{"/u/:id", "/u/:uid/posts", "/files/:dir/*rest"} {
		if _, err := s.CreateRoute(ctx, Route{App: "app", Path: p, Image: "img"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for path, want := range map[string]Params{
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

func TestIndexIsNotSharedWithCallers(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	mustApp(t, s, "app")
	created, err := s.CreateRoute(ctx, Route{App: "app", Path: "/a", Image: "img", Config: map[string]string{"K": "v"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	created.Config["K"] = "changed"
	if r, _, _ := s.MatchRoute("app", "/a"); r.Config["K"] != "v" {
		t.Fatalf("a caller's change reached the index: %v", r.Config)
	}
}

func TestMatchVisitsOneNodePerSegment(t *testing.T) {
	var tree routeTree
	for i := range 10000 {
		tree.insert(Route{Path: fmt.Sprintf("/svc%d/users/:id", i)})
		tree.insert(Route{Path: fmt.Sprintf("/svc%d/users/:id/posts/*rest", i)})
	}
	for _, path := range []string{"/svc5000/users/42", "/svc9999/users/42/posts/a/b", "/svc1/nothing/here"} {
		var visits int
		tree.matchCounting(path, &visits)
		if segs := len(splitPath(path)); visits > 2*segs+1 {
			t.Errorf("match %s visited %d nodes among 20,000 routes; want at most %d (no scan)", path, visits, 2*segs+1)
		}
	}
}

// TestConcurrentWritesKeepIndexAndDBInStep races writers and readers, then checks that
// the live index resolves every path as an index rebuilt from the file does.
func TestConcurrentWritesKeepIndexAndDBInStep(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	mustApp(t, s, "app")
	paths := []string{"/a", "/a/:id", "/a/b", "/c/*rest", "/c/d", "/:x/e"}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				p := paths[(w+i)%len(paths)]
				switch i % 3 {
				case 0:
					_, _ = s.CreateRoute(ctx, Route{App: "app", Path: p, Image: fmt.Sprintf("img:%d", w)}, nil)
				case 1:
					_, _, _ = s.PutRoute(ctx, Route{App: "app", Path: p, Image: fmt.Sprintf("put:%d", w)}, nil)
				default:
					_ = s.DeleteRoute(ctx, "app", p, nil)
				}
				_, _, _ = s.MatchRoute("app", "/a/1")
			}
		}()
	}
	wg.Wait()
	live := s.trees["app"]
	if err := s.loadIndex(); err != nil {
		t.Fatal(err)
	}
	fresh := s.trees["app"]
	for _, p := range []string{"/a", "/a/1", "/a/b", "/c/x/y", "/c/d", "/z/e"} {
		lr, lp := live.match(p)
		fr, fp := fresh.match(p)
		if fmt.Sprint(lr) != fmt.Sprint(fr) || !maps.Equal(lp, fp) {
			t.Errorf("%s: live index gives %v %v, the file gives %v %v", p, lr, lp, fr, fp)
		}
	}
}

func TestAppConfigFollowsWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	if _, err := s.CreateApp(ctx, App{Name: "a", Config: map[string]string{"K": "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateApp(ctx, "a", func(a *App) error { a.Config["K"] = "2"; return nil }); err != nil {
		t.Fatal(err)
	}
	if cfg, err := s.AppConfig("a"); err != nil || cfg["K"] != "2" {
		t.Fatalf("after update: %v %v", cfg, err)
	}
	if _, _, err := s.PutApp(ctx, App{Name: "a", Config: map[string]string{"P": "3"}}, "", nil); err != nil {
		t.Fatal(err)
	}
	if cfg, _ := s.AppConfig("a"); !maps.Equal(cfg, map[string]string{"P": "3"}) {
		t.Fatalf("after put: %v", cfg)
	}
	s.Close()
	s = openTest(t, dir)
	if cfg, _ := s.AppConfig("a"); !maps.Equal(cfg, map[string]string{"P": "3"}) {
		t.Fatalf("after reopen: %v", cfg)
	}
	if err := s.DeleteApp(ctx, "a", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppConfig("a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted app: %v", err)
	}
}
